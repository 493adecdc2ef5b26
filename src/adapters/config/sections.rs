//! The sections of the configuration, each with its defaults.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use super::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub addr: SocketAddr,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Largest request target and headers together; beyond, 431.
    pub max_header_bytes: usize,
    /// Whole-request deadline; a slower request answers 408.
    pub request_timeout_seconds: u64,
    /// How long a write waits for the engine's outcome before answering 202.
    pub reply_timeout_ms: u64,
    /// Calls per second each client may make; 0 turns the limit off.
    pub rate_limit_per_second: f64,
    /// Calls a client may make at once before the rate applies.
    pub rate_limit_burst: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit_bytes: 1024 * 1024,
            max_header_bytes: 16 * 1024,
            request_timeout_seconds: 30,
            reply_timeout_ms: 5_000,
            rate_limit_per_second: 0.0,
            rate_limit_burst: 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: Secret,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: Secret::new("postgres://postgres@127.0.0.1:5432/awe"), max_connections: 32 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    pub url: String,
    /// First token of every subject and stream name; tests use their own.
    pub prefix: String,
    /// Deliveries of one command before the engine gives up on it.
    pub max_deliver: i64,
    pub ack_wait_seconds: u64,
    /// JetStream de-duplication window for `Nats-Msg-Id`.
    pub duplicate_window_seconds: u64,
    /// Replicas of each stream (3 on a JetStream cluster).
    pub replicas: usize,
    /// Where the streams keep their messages.
    pub storage: StreamStorage,
    /// Largest size of each stream in bytes, oldest messages dropped beyond; -1 unbounded.
    pub max_bytes: i64,
    /// How long commands stay in their stream (they are in PostgreSQL once applied).
    pub commands_max_age_hours: u64,
    /// How long events stay in their stream, for consumers and `awe replay`.
    pub events_max_age_hours: u64,
    /// Username; the password is `password`. A URL's `user:password@` works too.
    pub user: String,
    pub password: Secret,
    /// A server token (`authorization { token }`).
    pub token: Secret,
    /// An NKey seed (`SU…`) for a server that lists the user's public key.
    pub nkey_seed: Secret,
    /// A `.creds` file (user JWT and NKey seed) for decentralised auth.
    pub credentials_file: String,
    /// Refuse to talk to a server without TLS (also implied by a `tls://` URL).
    pub tls_required: bool,
    /// PEM file of the CAs that sign the server's certificate (else the system roots).
    pub tls_ca_file: String,
    /// PEM client certificate and key, for servers that verify clients.
    pub tls_cert_file: String,
    pub tls_key_file: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamStorage {
    File,
    Memory,
}

impl NatsConfig {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        let methods = [
            !self.user.is_empty(),
            !self.token.expose().is_empty(),
            !self.nkey_seed.expose().is_empty(),
            !self.credentials_file.is_empty(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            bail!("nats: set only one of user (with password), token, nkey_seed and credentials_file");
        }
        if !self.password.expose().is_empty() && self.user.is_empty() {
            bail!("nats.password needs nats.user");
        }
        if self.tls_cert_file.is_empty() != self.tls_key_file.is_empty() {
            bail!("nats.tls_cert_file and nats.tls_key_file go together");
        }
        if self.max_bytes == 0 || self.max_bytes < -1 {
            bail!("nats.max_bytes must be -1 (unbounded) or a positive size in bytes");
        }
        if self.commands_max_age_hours == 0 || self.events_max_age_hours == 0 {
            bail!("nats.commands_max_age_hours and nats.events_max_age_hours must be at least 1");
        }
        if !(1..=5).contains(&self.replicas) {
            bail!("nats.replicas must be 1 to 5 (JetStream's limit)");
        }
        Ok(())
    }
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            prefix: "awe".into(),
            max_deliver: 20,
            ack_wait_seconds: 30,
            duplicate_window_seconds: 600,
            replicas: 1,
            storage: StreamStorage::File,
            max_bytes: -1,
            commands_max_age_hours: 24 * 7,
            events_max_age_hours: 24 * 30,
            user: String::new(),
            password: Secret::default(),
            token: Secret::default(),
            nkey_seed: Secret::default(),
            credentials_file: String::new(),
            tls_required: false,
            tls_ca_file: String::new(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Commands one engine process applies at the same time.
    pub concurrency: usize,
    /// Age after which the relay re-publishes an event the engine did not.
    pub relay_grace_seconds: u64,
    pub relay_interval_seconds: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self { concurrency: 64, relay_grace_seconds: 5, relay_interval_seconds: 2 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Deliveries one webhook process makes at the same time.
    pub concurrency: usize,
    pub max_attempts: u32,
    pub backoff_seconds: Vec<u64>,
    pub timeout_seconds: u64,
    pub poll_interval_seconds: u64,
    pub batch_size: u32,
    /// Base64 of 32 bytes that encrypt callback secrets at rest. Empty in dev
    /// auth mode: a fixed development key is used, and said so in the log.
    pub secret_key: Secret,
    /// How long a rotated callback secret keeps signing beside its successor.
    pub rotation_overlap_seconds: u64,
    /// The event types a webhook carries: by default the ten of spec 002;
    /// a deployment may add `task_claimed`, `decision_submitted`,
    /// `comment_added`, `stage_resolution_failed` (every type is on the
    /// event stream and in the timeline whatever this says).
    pub event_types: Vec<String>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            max_attempts: 6,
            backoff_seconds: vec![60, 300, 900, 3600, 21600],
            timeout_seconds: 10,
            poll_interval_seconds: 2,
            batch_size: 20,
            secret_key: Secret::default(),
            rotation_overlap_seconds: 86_400,
            event_types: crate::contract::event::SPEC_EVENT_TYPES.iter().map(|t| (*t).to_owned()).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverConfig {
    pub http_timeout_seconds: u64,
    /// Further tries of a transient failure (unreachable, timeout, 5xx, 429).
    pub retries: usize,
    /// Jobs one resolver process works on at the same time.
    pub concurrency: usize,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self { http_timeout_seconds: 5, retries: 3, concurrency: 16 }
    }
}

impl ResolverConfig {
    /// The pause before the first retry of a remote rule; pauses double up to `RETRY_MAX_DELAY`.
    pub const RETRY_MIN_DELAY: Duration = Duration::from_millis(200);
    pub const RETRY_MAX_DELAY: Duration = Duration::from_secs(2);

    /// The longest a remote rule takes to resolve or fail: every try timing
    /// out, with the pauses between them. A creation waits this long for its
    /// first stage's resolution before it answers `pending`.
    pub fn bound(&self) -> Duration {
        let (mut pauses, mut pause) = (Duration::ZERO, Self::RETRY_MIN_DELAY);
        for _ in 0..self.retries {
            pauses += pause;
            pause = (pause * 2).min(Self::RETRY_MAX_DELAY);
        }
        Duration::from_secs(self.http_timeout_seconds) * (self.retries as u32 + 1) + pauses
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaConfig {
    pub check_interval_seconds: u64,
}

impl Default for SlaConfig {
    fn default() -> Self {
        Self { check_interval_seconds: 300 }
    }
}

/// How long an `Idempotency-Key` is remembered. The spec keeps keys forever
/// (the default, 0); with a retention set, the SLA scheduler removes older
/// keys in small batches, and a retry after that creates a new request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencyConfig {
    pub retention_hours: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeycloakConfig {
    pub base_url: String,
    pub realm: String,
    pub admin_client_id: String,
    pub admin_client_secret: Secret,
    /// Empty: dev mode, tokens are read without checking their signature.
    pub issuer: String,
    pub additional_issuers: Vec<String>,
    /// Defaults to the issuer's `/protocol/openid-connect/certs`.
    pub jwks_url: String,
    /// Checked when non-empty.
    pub audience: String,
    /// The client whose roles (`resource_access.<client>.roles`) grant
    /// `AWE_ADMIN` and `AWE_VIEWER`, besides the realm roles.
    pub portal_client_id: String,
    /// Shortest time between two JWKS fetches caused by unknown `kid`s.
    pub jwks_min_refresh_seconds: u64,
    /// How long a role's or group's members are reused before asking again.
    pub cache_ttl_seconds: u64,
}

impl Default for KeycloakConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            realm: "staff".into(),
            admin_client_id: "awe-admin-resolver".into(),
            admin_client_secret: Secret::default(),
            issuer: String::new(),
            additional_issuers: Vec::new(),
            jwks_url: String::new(),
            audience: String::new(),
            portal_client_id: "awe-admin-portal".into(),
            jwks_min_refresh_seconds: 30,
            cache_ttl_seconds: 300,
        }
    }
}

impl KeycloakConfig {
    pub fn dev_mode(&self) -> bool {
        self.issuer.trim().is_empty()
    }

    pub fn effective_jwks_url(&self) -> String {
        if self.jwks_url.is_empty() {
            format!("{}/protocol/openid-connect/certs", self.issuer.trim_end_matches('/'))
        } else {
            self.jwks_url.clone()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when stdout is not a terminal, readable otherwise.
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info,awe=debug`; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Auto, level: "info".into() }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Where worker roles answer `/healthz` and `/readyz` (e.g. `0.0.0.0:9090`); empty: not served.
    /// The ingress answers `/v1/awe/health` on its own address.
    pub addr: String,
}

/// Spans sent to an OpenTelemetry collector over OTLP/HTTP; off (empty) by
/// default. `traceparent` travels and log lines carry trace ids either way.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// `http://collector:4318` (or the full `/v1/traces` URL).
    pub otlp_endpoint: String,
    pub service_name: String,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self { otlp_endpoint: String::new(), service_name: "awe".into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// After SIGTERM, how long roles may finish in-flight work; what is still
    /// running then is left unacknowledged and JetStream redelivers it.
    pub grace_seconds: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self { grace_seconds: 20 }
    }
}
