{{/* The release's full name: the release name, with "weir" added unless it has it. */}}
{{- define "weir.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "weir.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "weir.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: weir
{{- end -}}

{{/* Labels that select the agent's pods. */}}
{{- define "weir.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{/* The agent's ServiceAccount. */}}
{{- define "weir.serviceAccountName" -}}
{{- default (include "weir.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The image, pinned by digest when one is given. */}}
{{- define "weir.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
Checks what the values schema cannot: where the chart is installed. The
agent keeps its Leases and inventories in weir-system (the code's
inventory::NAMESPACE), so its own Role must be there.
*/}}
{{- define "weir.checks" -}}
{{- if ne .Release.Namespace "weir-system" -}}
{{- fail (printf "install weir into the namespace weir-system, not %s: the agent keeps its Leases and inventories there (helm upgrade --install %s charts/weir --namespace weir-system --create-namespace)" .Release.Namespace .Release.Name) -}}
{{- end -}}
{{- end -}}
