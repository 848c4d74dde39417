{{/* The container's environment, volume mounts and the pod's volumes. */}}
{{- define "ovserve.env" -}}
{{- if or .Values.storage.existingSecret .Values.storage.env }}
envFrom:
  - secretRef:
      name: {{ include "ovserve.storageSecretName" . }}
{{- end }}
{{- if or .Values.storage.gcs.existingSecret .Values.server.extraEnv }}
env:
  {{- if .Values.storage.gcs.existingSecret }}
  - name: GOOGLE_APPLICATION_CREDENTIALS
    value: /etc/ovserve/gcs/{{ .Values.storage.gcs.key }}
  {{- end }}
  {{- with .Values.server.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end }}

{{- define "ovserve.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.server.cacheDir }}
- name: cache
  mountPath: {{ .Values.server.cacheDir }}
{{- end }}
{{- if .Values.config.enabled }}
# the whole directory, not a subPath: only then does Kubernetes update the file in place
- name: config
  mountPath: /config
  readOnly: true
{{- end }}
{{- if .Values.modelRepository.volume }}
- name: models
  mountPath: {{ .Values.modelRepository.mountPath }}
  readOnly: true
{{- end }}
{{- if .Values.storage.gcs.existingSecret }}
- name: gcs-credentials
  mountPath: /etc/ovserve/gcs
  readOnly: true
{{- end }}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: {{ .Values.tls.mountPath }}
  readOnly: true
{{- end }}
{{- if .Values.apiKey.enabled }}
- name: api-key
  mountPath: {{ .Values.apiKey.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "ovserve.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmp.sizeLimit }}
    {{- with .Values.tmp.medium }}
    medium: {{ . }}
    {{- end }}
{{- if .Values.server.cacheDir }}
- name: cache
  emptyDir: {}
{{- end }}
{{- if .Values.config.enabled }}
- name: config
  configMap:
    name: {{ include "ovserve.configMapName" . }}
{{- end }}
{{- with .Values.modelRepository.volume }}
- name: models
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .Values.storage.gcs.existingSecret }}
- name: gcs-credentials
  secret:
    secretName: {{ .Values.storage.gcs.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ required "tls.secretName is required when tls.enabled is true" .Values.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- if .Values.apiKey.enabled }}
- name: api-key
  secret:
    secretName: {{ required "apiKey.secretName is required when apiKey.enabled is true" .Values.apiKey.secretName }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "ovserve.podAnnotations" -}}
{{- if .Values.server.metrics }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.ports.rest | quote }}
prometheus.io/path: /metrics
prometheus.io/scheme: {{ ternary "https" "http" .Values.tls.enabled }}
{{- end }}
{{- if .Values.storage.env }}
checksum/storage: {{ include (print $.Template.BasePath "/secret-storage.yaml") . | sha256sum }}
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}
