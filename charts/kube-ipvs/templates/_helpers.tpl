{{/* Chart name, overridable. */}}
{{- define "kube-ipvs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified name of every object; the release name alone when it already contains the chart name. */}}
{{- define "kube-ipvs.fullname" -}}
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

{{- define "kube-ipvs.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "kube-ipvs.labels" -}}
helm.sh/chart: {{ include "kube-ipvs.chart" . }}
{{ include "kube-ipvs.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: service-proxy
app.kubernetes.io/part-of: kube-ipvs
{{- end }}

{{/* Selector labels: must never change between releases (a DaemonSet's selector is immutable). */}}
{{- define "kube-ipvs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-ipvs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kube-ipvs.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The health port, taken from healthzBindAddress ("0.0.0.0:10256", "[::]:10256"). */}}
{{- define "kube-ipvs.healthzPort" -}}
{{- splitList ":" .Values.healthzBindAddress | last }}
{{- end }}
