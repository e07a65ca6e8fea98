{{- define "knit-app.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: knitfab
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Fails with a clear message unless the values of the four charts before are given. */}}
{{- define "knit-app.inputs" -}}
{{- range $key, $release := dict "storage" "knit-storage-nfs" "certs" "knit-certs" "database" "knit-db-postgres" "imageRegistry" "knit-image-registry" -}}
{{- if not (get $.Values $key) -}}
{{- fail (printf "%s values are missing: pass all values of the %s release as `%s` (weir: valuesFrom {component: %s, to: %s})" $key $release $key $release $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "knit-app.image" -}}
{{- printf "%s/%s:%s" .root.Values.imageRepository .name .root.Values.imageTag -}}
{{- end -}}

{{/* host:port of the database, from the database values. */}}
{{- define "knit-app.database" -}}
{{- printf "%s.%s.svc.%s:%v" .Values.database.service.name .Release.Namespace .Values.clusterTLD .Values.database.service.port -}}
{{- end -}}

{{/* host:port of the image registry inside the cluster. */}}
{{- define "knit-app.registry" -}}
{{- printf "%s.%s.svc.%s:%v" .Values.imageRegistry.service.name .Release.Namespace .Values.clusterTLD .Values.imageRegistry.port -}}
{{- end -}}

{{/* Database credentials as container env, from the Secret of the database chart. */}}
{{- define "knit-app.dbEnv" -}}
- name: KNIT_DB_HOST
  value: {{ include "knit-app.database" . | quote }}
- name: KNIT_DB_USER
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.credential.secretName }}
      key: username
- name: KNIT_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.credential.secretName }}
      key: password
- name: KNIT_DB_NAME
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.credential.secretName }}
      key: dbname
{{- end -}}
