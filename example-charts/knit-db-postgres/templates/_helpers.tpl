{{- define "knit-db.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: knitfab
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The storage values, which this chart cannot work without. */}}
{{- define "knit-db.storage" -}}
{{- $s := .Values.storage -}}
{{- if not (and $s $s.storageClass $s.nfs) -}}
{{- fail "storage values are missing: pass all values of the knit-storage-nfs release as `storage` (helm: --set-json storage=...; weir: valuesFrom {component: knit-storage-nfs, to: storage})" -}}
{{- end -}}
{{- end -}}

{{/* Address of the NFS server, from the storage values. */}}
{{- define "knit-db.nfsServer" -}}
{{- $s := .Values.storage -}}
{{- if $s.nfs.external -}}
{{- $s.nfs.server -}}
{{- else -}}
{{- printf "%s.%s.svc.%s" $s.nfs.inCluster.serviceName .Release.Namespace (default "cluster.local" $s.clusterTLD) -}}
{{- end -}}
{{- end -}}
