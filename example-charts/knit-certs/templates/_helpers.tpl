{{- define "knit-certs.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: knitfab
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* A base64 value that must be set: `required` with a message saying how. */}}
{{- define "knit-certs.required" -}}
{{- required (printf "%s is required: base64 of the PEM file (base64 -w0 < file)" .name) .value -}}
{{- end -}}
