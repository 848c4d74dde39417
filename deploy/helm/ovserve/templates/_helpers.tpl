{{/* Names and labels, as `helm create` makes them. */}}
{{- define "ovserve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ovserve.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ovserve.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ovserve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ovserve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ovserve.labels" -}}
helm.sh/chart: {{ include "ovserve.chart" . }}
{{ include "ovserve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ovserve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ovserve.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ovserve.configMapName" -}}
{{- default (printf "%s-config" (include "ovserve.fullname" .)) .Values.config.existingConfigMap }}
{{- end }}

{{- define "ovserve.storageSecretName" -}}
{{- default (printf "%s-storage" (include "ovserve.fullname" .)) .Values.storage.existingSecret }}
{{- end }}

{{/* The ports of both Services (the cluster one and the headless one). */}}
{{- define "ovserve.servicePorts" -}}
- name: grpc
  port: {{ .Values.ports.grpc }}
  targetPort: grpc
  protocol: TCP
  appProtocol: {{ .Values.service.grpcAppProtocol }}
- name: rest
  port: {{ .Values.ports.rest }}
  targetPort: rest
  protocol: TCP
  appProtocol: {{ ternary "https" "http" .Values.tls.enabled }}
{{- end }}

{{/* The server's command line: OVMS's flags. */}}
{{- define "ovserve.args" -}}
{{- if .Values.config.enabled }}
- --config_path=/config/config.json
{{- else }}
- --model_name={{ required "singleModel.name is required when config.enabled is false" .Values.singleModel.name }}
- --model_path={{ required "singleModel.path is required when config.enabled is false" .Values.singleModel.path }}
{{- end }}
- --port={{ .Values.ports.grpc }}
- --rest_port={{ .Values.ports.rest }}
- --log_level={{ .Values.server.logLevel }}
- --file_system_poll_wait_seconds={{ .Values.server.fileSystemPollWaitSeconds }}
- --shutdown_grace_seconds={{ .Values.server.shutdownGraceSeconds }}
{{- if .Values.server.cacheDir }}
- --cache_dir={{ .Values.server.cacheDir }}
{{- end }}
{{- if .Values.server.metrics }}
- --metrics_enable
{{- end }}
{{- if .Values.tls.enabled }}
- --tls_cert_path={{ .Values.tls.mountPath }}/tls.crt
- --tls_key_path={{ .Values.tls.mountPath }}/tls.key
{{- if .Values.tls.clientAuth }}
- --tls_client_ca_path={{ .Values.tls.mountPath }}/ca.crt
{{- end }}
{{- end }}
{{- if .Values.apiKey.enabled }}
- --api_key_file={{ .Values.apiKey.mountPath }}/{{ .Values.apiKey.key }}
{{- end }}
{{- range .Values.server.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* An HTTP probe of the REST API; with TLS it uses HTTPS, with client certificates a TCP check. */}}
{{- define "ovserve.httpProbe" -}}
{{- if and .root.Values.tls.enabled .root.Values.tls.clientAuth }}
tcpSocket:
  port: rest
{{- else }}
httpGet:
  path: {{ .path }}
  port: rest
  scheme: {{ ternary "HTTPS" "HTTP" .root.Values.tls.enabled }}
{{- end }}
{{- end }}
