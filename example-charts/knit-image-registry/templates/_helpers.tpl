{{- define "knit-registry.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: knitfab
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Fails with a clear message unless the values of the charts before are given. */}}
{{- define "knit-registry.inputs" -}}
{{- $s := .Values.storage -}}
{{- if not (and $s $s.storageClass $s.nfs) -}}
{{- fail "storage values are missing: pass all values of the knit-storage-nfs release as `storage` (weir: valuesFrom {component: knit-storage-nfs, to: storage})" -}}
{{- end -}}
{{- if not (and .Values.certs .Values.certs.secrets) -}}
{{- fail "certs values are missing: pass all values of the knit-certs release as `certs` (weir: valuesFrom {component: knit-certs, to: certs})" -}}
{{- end -}}
{{- end -}}

{{- define "knit-registry.nfsServer" -}}
{{- $s := .Values.storage -}}
{{- if $s.nfs.external -}}
{{- $s.nfs.server -}}
{{- else -}}
{{- printf "%s.%s.svc.%s" $s.nfs.inCluster.serviceName .Release.Namespace (default "cluster.local" $s.clusterTLD) -}}
{{- end -}}
{{- end -}}
