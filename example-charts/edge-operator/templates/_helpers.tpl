{{/* Name of the operator's objects: <release>-operator. */}}
{{- define "edge-operator.fullname" -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object of the chart carries. */}}
{{- define "edge-operator.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: edge
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Labels that select the operator's pods. */}}
{{- define "edge-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* The server URL, which the chart cannot work without. */}}
{{- define "edge-operator.serverUrl" -}}
{{- required "server.url is required: the URL of the control-plane server this cluster registers with" .Values.server.url -}}
{{- end -}}

{{/* A workflow's full path on the server. */}}
{{- define "edge-operator.workflow" -}}
{{- printf "%s/%s" (trimSuffix "/" .root) .name -}}
{{- end -}}
