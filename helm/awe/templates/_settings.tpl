{{/* The ConfigMap's data: every non-secret setting (checks first). */}}
{{- define "awe.configData" -}}
{{- $c := .Values.config -}}
{{- $k := .Values.keycloak -}}
{{- $n := .Values.externalNats -}}
{{- $issuer := required "keycloak.issuer is required: the chart never runs AWE with unverified (dev-mode) tokens" $k.issuer -}}
{{- if not (regexMatch "^https?://[^/]+" $issuer) -}}
{{- fail (printf "keycloak.issuer must be an http(s) URL such as https://keycloak.example.org/realms/staff (got %q)" $issuer) -}}
{{- end -}}
{{- range $name, $_ := .Values.extraEnv -}}
{{- if or (hasPrefix "AWE__KEYCLOAK__" $name) (eq $name "AWE_CONFIG_FILE") -}}
{{- fail (printf "extraEnv.%s is refused: Keycloak and token settings come from `keycloak`, so token verification cannot be turned off" $name) -}}
{{- end -}}
{{- end -}}
AWE__MODULE: {{ .Values.module | quote }}
AWE__HTTP__ADDR: "0.0.0.0:8080"
AWE__HTTP__BODY_LIMIT_BYTES: {{ $c.http.bodyLimitBytes | int64 | quote }}
AWE__HTTP__MAX_HEADER_BYTES: {{ $c.http.maxHeaderBytes | int64 | quote }}
AWE__HTTP__REQUEST_TIMEOUT_SECONDS: {{ $c.http.requestTimeoutSeconds | int64 | quote }}
AWE__HTTP__REPLY_TIMEOUT_MS: {{ $c.http.replyTimeoutMs | int64 | quote }}
AWE__HTTP__RATE_LIMIT_PER_SECOND: {{ $c.http.rateLimitPerSecond | quote }}
AWE__HTTP__RATE_LIMIT_BURST: {{ $c.http.rateLimitBurst | int64 | quote }}
AWE__DATABASE__MAX_CONNECTIONS: {{ $c.database.maxConnections | int64 | quote }}
NATS_URL: {{ include "awe.natsUrl" . | quote }}
AWE__NATS__PREFIX: {{ $c.nats.prefix | quote }}
AWE__NATS__MAX_DELIVER: {{ $c.nats.maxDeliver | int64 | quote }}
AWE__NATS__ACK_WAIT_SECONDS: {{ $c.nats.ackWaitSeconds | int64 | quote }}
AWE__NATS__DUPLICATE_WINDOW_SECONDS: {{ $c.nats.duplicateWindowSeconds | int64 | quote }}
AWE__NATS__REPLICAS: {{ $c.nats.replicas | int64 | quote }}
AWE__NATS__STORAGE: {{ $c.nats.storage | quote }}
AWE__NATS__MAX_BYTES: {{ $c.nats.maxBytes | int64 | quote }}
AWE__NATS__COMMANDS_MAX_AGE_HOURS: {{ $c.nats.commandsMaxAgeHours | int64 | quote }}
AWE__NATS__EVENTS_MAX_AGE_HOURS: {{ $c.nats.eventsMaxAgeHours | int64 | quote }}
{{- if and (not .Values.nats.enabled) $n.user }}
AWE__NATS__USER: {{ $n.user | quote }}
{{- end }}
{{- if and (not .Values.nats.enabled) $n.credentialsSecret }}
AWE__NATS__CREDENTIALS_FILE: /etc/awe/nats-creds/nats.creds
{{- end }}
{{- if and (not .Values.nats.enabled) $n.tls.enabled }}
AWE__NATS__TLS_REQUIRED: "true"
AWE__NATS__TLS_CA_FILE: /etc/awe/nats-tls/ca.crt
{{- if $n.tls.clientAuth }}
AWE__NATS__TLS_CERT_FILE: /etc/awe/nats-tls/tls.crt
AWE__NATS__TLS_KEY_FILE: /etc/awe/nats-tls/tls.key
{{- end }}
{{- end }}
{{- if not .Values.postgresql.enabled }}
PGSSLMODE: {{ .Values.externalDatabase.sslMode | quote }}
{{- if .Values.externalDatabase.caSecret }}
PGSSLROOTCERT: /etc/awe/postgres-ca/ca.crt
{{- end }}
{{- end }}
AWE__ENGINE__CONCURRENCY: {{ .Values.roles.engine.concurrency | int64 | quote }}
AWE__ENGINE__RELAY_GRACE_SECONDS: {{ $c.engine.relayGraceSeconds | int64 | quote }}
AWE__ENGINE__RELAY_INTERVAL_SECONDS: {{ $c.engine.relayIntervalSeconds | int64 | quote }}
AWE__WEBHOOK__BACKOFF_SECONDS: {{ $c.webhook.backoffSeconds | quote }}
AWE__WEBHOOK__MAX_ATTEMPTS: {{ $c.webhook.maxAttempts | int64 | quote }}
AWE__WEBHOOK__TIMEOUT_SECONDS: {{ $c.webhook.timeoutSeconds | int64 | quote }}
AWE__WEBHOOK__CONCURRENCY: {{ .Values.roles.webhook.concurrency | int64 | quote }}
AWE__WEBHOOK__ROTATION_OVERLAP_SECONDS: {{ $c.webhook.rotationOverlapSeconds | int64 | quote }}
AWE__WEBHOOK__EVENT_TYPES: {{ $c.webhook.eventTypes | quote }}
AWE__RESOLVER__HTTP_TIMEOUT_SECONDS: {{ $c.resolver.httpTimeoutSeconds | int64 | quote }}
AWE__RESOLVER__RETRIES: {{ $c.resolver.retries | int64 | quote }}
AWE__RESOLVER__CONCURRENCY: {{ .Values.roles.resolver.concurrency | int64 | quote }}
AWE__SLA__CHECK_INTERVAL_SECONDS: {{ $c.sla.checkIntervalSeconds | int64 | quote }}
AWE__IDEMPOTENCY__RETENTION_HOURS: {{ $c.idempotency.retentionHours | int64 | quote }}
AWE__SHUTDOWN__GRACE_SECONDS: {{ $c.shutdown.graceSeconds | int64 | quote }}
AWE__KEYCLOAK__ISSUER: {{ $issuer | quote }}
AWE__KEYCLOAK__ADDITIONAL_ISSUERS: {{ $k.additionalIssuers | quote }}
AWE__KEYCLOAK__JWKS_URL: {{ $k.jwksUrl | quote }}
AWE__KEYCLOAK__AUDIENCE: {{ $k.audience | quote }}
AWE__KEYCLOAK__PORTAL_CLIENT_ID: {{ $k.portalClientId | quote }}
AWE__KEYCLOAK__JWKS_MIN_REFRESH_SECONDS: {{ $k.jwksMinRefreshSeconds | int64 | quote }}
AWE__KEYCLOAK__BASE_URL: {{ $k.baseUrl | quote }}
AWE__KEYCLOAK__REALM: {{ $k.realm | quote }}
AWE__KEYCLOAK__ADMIN_CLIENT_ID: {{ $k.adminClientId | quote }}
AWE__KEYCLOAK__CACHE_TTL_SECONDS: {{ $k.cacheTtlSeconds | int64 | quote }}
AWE__LOG__FORMAT: {{ $c.log.format | quote }}
AWE__LOG__LEVEL: {{ $c.log.level | quote }}
AWE__TRACING__OTLP_ENDPOINT: {{ $c.tracing.otlpEndpoint | quote }}
AWE__TRACING__SERVICE_NAME: {{ $c.tracing.serviceName | quote }}
{{- range $name, $value := .Values.extraEnv }}
{{ $name }}: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* The Secret's data (checks first). */}}
{{- define "awe.secretData" -}}
{{- $n := .Values.externalNats -}}
{{- $key := required "webhookSecretKey is required: the base64 of 32 random bytes (openssl rand -base64 32)" .Values.webhookSecretKey -}}
{{- if ne (len (b64dec $key)) 32 -}}
{{- fail "webhookSecretKey must be the base64 of exactly 32 bytes (openssl rand -base64 32)" -}}
{{- end -}}
{{- $methods := 0 -}}
{{- range (list $n.user $n.token $n.nkeySeed $n.credentialsSecret) }}{{ if . }}{{ $methods = add1 $methods }}{{ end }}{{ end -}}
{{- if gt $methods 1 -}}
{{- fail "externalNats: set only one of user (with password), token, nkeySeed and credentialsSecret" -}}
{{- end -}}
DATABASE_URL: {{ include "awe.databaseUrl" . | quote }}
AWE__WEBHOOK__SECRET_KEY: {{ $key | quote }}
AWE__KEYCLOAK__ADMIN_CLIENT_SECRET: {{ include "awe.resolverSecret" . | quote }}
{{- if not .Values.nats.enabled }}
{{- with $n.password }}
AWE__NATS__PASSWORD: {{ . | quote }}
{{- end }}
{{- with $n.token }}
AWE__NATS__TOKEN: {{ . | quote }}
{{- end }}
{{- with $n.nkeySeed }}
AWE__NATS__NKEY_SEED: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}
