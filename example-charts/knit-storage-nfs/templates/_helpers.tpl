{{/* Labels of every object of the chart. */}}
{{- define "knit-storage.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: knitfab
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The NFS server's address: the external host, or the in-cluster Service. */}}
{{- define "knit-storage.server" -}}
{{- if .Values.nfs.external -}}
{{- required "nfs.server is required when nfs.external is true: the hostname of your NFS server" .Values.nfs.server -}}
{{- else -}}
{{- printf "%s.%s.svc.%s" .Values.nfs.inCluster.serviceName .Release.Namespace .Values.clusterTLD -}}
{{- end -}}
{{- end -}}
