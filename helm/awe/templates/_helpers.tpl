{{/* Names, labels and the wiring shared by every role. */}}

{{- define "awe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "awe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A dependency chart's full name, as those charts compute it. */}}
{{- define "awe.dependencyName" -}}
{{- $root := index . 0 -}}
{{- $chart := index . 1 -}}
{{- if contains $chart $root.Release.Name -}}
{{- $root.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" $root.Release.Name $chart | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "awe.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "awe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: awe
{{- end -}}

{{/* Selector labels of one role: (list $ "engine"). */}}
{{- define "awe.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "awe.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* The role's name on the command line: slaScheduler -> sla-scheduler. */}}
{{- define "awe.roleArg" -}}
{{- . | kebabcase -}}
{{- end -}}

{{- define "awe.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "awe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "awe.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "awe.secretName" -}}
{{- default (printf "%s-secrets" (include "awe.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{- define "awe.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "nats://%s:4222" (include "awe.dependencyName" (list . "nats")) -}}
{{- else -}}
{{- required "externalNats.url is required when nats.enabled is false" .Values.externalNats.url -}}
{{- end -}}
{{- end -}}

{{- define "awe.databaseUrl" -}}
{{- if .Values.postgresql.enabled -}}
{{- $auth := .Values.postgresql.auth -}}
{{- $password := required "postgresql.auth.password is required when postgresql.enabled" $auth.password -}}
{{- printf "postgres://%s:%s@%s:5432/%s" $auth.username (urlquery $password | replace "+" "%20") (include "awe.dependencyName" (list . "postgresql")) $auth.database -}}
{{- else -}}
{{- required "externalDatabase.url is required when postgresql.enabled is false" .Values.externalDatabase.url -}}
{{- end -}}
{{- end -}}

{{/*
Hook phases of the Jobs: before install and upgrade when PostgreSQL and NATS
are external; after install when this release brings them up itself.
*/}}
{{- define "awe.jobHook" -}}
{{- if or .Values.nats.enabled .Values.postgresql.enabled -}}
post-install,pre-upgrade
{{- else -}}
pre-install,pre-upgrade
{{- end -}}
{{- end -}}

{{/* Environment, volumes and mounts every AWE container shares. */}}
{{- define "awe.envFrom" -}}
- configMapRef:
    name: {{ include "awe.fullname" . }}-config
- secretRef:
    name: {{ include "awe.secretName" . }}
{{- end -}}

{{- define "awe.volumes" -}}
- name: tmp
  emptyDir: {}
{{- with .Values.externalNats.credentialsSecret }}
- name: nats-creds
  secret:
    secretName: {{ . }}
{{- end }}
{{- if .Values.externalNats.tls.enabled }}
- name: nats-tls
  secret:
    secretName: {{ required "externalNats.tls.secret is required when externalNats.tls.enabled" .Values.externalNats.tls.secret }}
{{- end }}
{{- with .Values.externalDatabase.caSecret }}
- name: postgres-ca
  secret:
    secretName: {{ . }}
{{- end }}
{{- end -}}

{{- define "awe.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.externalNats.credentialsSecret }}
- name: nats-creds
  mountPath: /etc/awe/nats-creds
  readOnly: true
{{- end }}
{{- if .Values.externalNats.tls.enabled }}
- name: nats-tls
  mountPath: /etc/awe/nats-tls
  readOnly: true
{{- end }}
{{- if .Values.externalDatabase.caSecret }}
- name: postgres-ca
  mountPath: /etc/awe/postgres-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "awe.podSecurity" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
serviceAccountName: {{ include "awe.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* The console's addresses (a JSON list) for the portal client's redirect URIs. */}}
{{- define "awe.consoleUrls" -}}
{{- $urls := .Values.keycloak.provision.consoleUrls -}}
{{- if and (not $urls) .Values.ingress.enabled -}}
{{- range .Values.ingress.hosts }}{{ $urls = append $urls (printf "https://%s" .host) }}{{ end -}}
{{- end -}}
{{- if not $urls -}}
{{- fail "keycloak.provision.consoleUrls is required without an ingress: where operators open the console (https://awe.example.org)" -}}
{{- end -}}
{{- toJson $urls -}}
{{- end -}}

{{/*
The resolver's client secret: keycloak.adminClientSecret; else, when the chart
provisions Keycloak, the one it generated before (read back from its Secret) or
a new one, generated once per render so that every Secret holds the same.
*/}}
{{- define "awe.resolverSecret" -}}
{{- $k := .Values.keycloak -}}
{{- if $k.adminClientSecret -}}
{{- $k.adminClientSecret -}}
{{- else if $k.provision.enabled -}}
{{- if not (hasKey $k "generatedAdminClientSecret") -}}
{{- $previous := "" -}}
{{- with lookup "v1" "Secret" .Release.Namespace (printf "%s-secrets" (include "awe.fullname" .)) -}}
{{- $previous = index (default dict .data) "AWE__KEYCLOAK__ADMIN_CLIENT_SECRET" | default "" | b64dec -}}
{{- end -}}
{{- $_ := set $k "generatedAdminClientSecret" (default (randAlphaNum 48) $previous) -}}
{{- end -}}
{{- $k.generatedAdminClientSecret -}}
{{- end -}}
{{- end -}}
