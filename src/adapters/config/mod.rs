//! One configuration struct, layered: built-in defaults, then an optional
//! TOML file, then the environment (`AWE__SECTION__KEY`, plus `DATABASE_URL`
//! and `NATS_URL`). Validated once at start-up; secrets never print.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod reference;

/// A value that must never reach a log line or the `/config` endpoint.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "***" })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// What loading said about settings of the reference implementation it
    /// translated or set aside; logged once telemetry is up.
    #[serde(skip)]
    pub notices: Vec<String>,
    pub service_id: String,
    pub api_version: String,
    pub module: String,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub nats: NatsConfig,
    pub engine: EngineConfig,
    pub webhook: WebhookConfig,
    pub resolver: ResolverConfig,
    pub sla: SlaConfig,
    pub idempotency: IdempotencyConfig,
    pub keycloak: KeycloakConfig,
    pub log: LogConfig,
    pub tracing: TracingConfig,
    pub health: HealthConfig,
    pub shutdown: ShutdownConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            notices: Vec::new(),
            service_id: "openg2p.awe".into(),
            api_version: "1.0".into(),
            module: "default".into(),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            nats: NatsConfig::default(),
            engine: EngineConfig::default(),
            webhook: WebhookConfig::default(),
            resolver: ResolverConfig::default(),
            sla: SlaConfig::default(),
            idempotency: IdempotencyConfig::default(),
            keycloak: KeycloakConfig::default(),
            log: LogConfig::default(),
            tracing: TracingConfig::default(),
            health: HealthConfig::default(),
            shutdown: ShutdownConfig::default(),
        }
    }
}

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
    fn validate(&self) -> anyhow::Result<()> {
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

impl Config {
    /// Defaults, then `file` (TOML) when given, then the process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_from(file, std::env::vars())
    }

    pub fn load_from(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let mut notices = Vec::new();
        let mut tree = serde_json::to_value(Config::default()).context("serialising defaults")?;
        // Secrets serialise masked; defaults carry the real database URL.
        tree["database"]["url"] = Value::String(Config::default().database.url.expose().into());
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
            let parsed: toml::Table = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            let parsed = serde_json::to_value(parsed)?;
            // Accept both a top-level `[awe]` table and bare sections.
            let mut parsed = match parsed.get("awe") {
                Some(inner) => inner.clone(),
                None => parsed,
            };
            set_aside_foreign(&mut parsed, &mut notices);
            known_keys(&tree, &parsed, "")?;
            merge(&mut tree, parsed);
        }
        let adapted = reference::adapt(env);
        notices.extend(adapted.notices);
        for (name, value) in adapted.env {
            let path: Vec<String> = match name.as_str() {
                "DATABASE_URL" => vec!["database".into(), "url".into()],
                "NATS_URL" => vec!["nats".into(), "url".into()],
                _ => match name.strip_prefix("AWE__") {
                    Some(rest) => rest.split("__").map(str::to_ascii_lowercase).collect(),
                    None => continue,
                },
            };
            set_from_env(&mut tree, &path, &value).with_context(|| format!("environment variable {name}"))?;
        }
        let mut config: Config = serde_json::from_value(tree).context("invalid configuration")?;
        config.validate()?;
        if let (Some(path), None) = (adapted.config_path, file) {
            if config.keycloak.dev_mode() {
                bail!(
                    "CONFIG_PATH names the reference implementation's YAML settings ({path}), which this service \
                     does not read; on the reference's chart the Keycloak issuer lives there, and without it tokens \
                     would go unverified. Set AWE__KEYCLOAK__ISSUER (and the other settings) in the environment, or \
                     in a TOML file given with --config or AWE_CONFIG_FILE"
                );
            }
            notices.push(format!("CONFIG_PATH ({path}) is the reference's YAML settings file; not read"));
        }
        config.notices = notices;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let prefix_ok = !self.nats.prefix.is_empty()
            && self.nats.prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !prefix_ok {
            bail!("nats.prefix must be letters, digits, '-' or '_' (got {:?})", self.nats.prefix);
        }
        if self.webhook.max_attempts == 0 {
            bail!("webhook.max_attempts must be at least 1");
        }
        if self.webhook.backoff_seconds.is_empty() {
            bail!("webhook.backoff_seconds needs at least one delay");
        }
        if let Some(unknown) =
            self.webhook.event_types.iter().find(|t| !crate::contract::event::event_types().any(|e| e == *t))
        {
            bail!(
                "webhook.event_types: `{unknown}` is not an event type; the types are {}",
                crate::contract::event::event_types().collect::<Vec<_>>().join(", ")
            );
        }
        if self.idempotency.retention_hours > 876_000 {
            bail!("idempotency.retention_hours must be at most 876000 (100 years); 0 keeps keys forever");
        }
        let otlp = &self.tracing.otlp_endpoint;
        if !(otlp.is_empty() || otlp.starts_with("http://") || otlp.starts_with("https://")) {
            bail!("tracing.otlp_endpoint must be an http(s) URL of an OTLP/HTTP receiver (http://collector:4318), or empty (off); got {otlp:?}");
        }
        if self.engine.concurrency == 0 {
            bail!("engine.concurrency must be at least 1");
        }
        if self.database.max_connections == 0 {
            bail!("database.max_connections must be at least 1");
        }
        if self.nats.max_deliver == 0 || self.nats.max_deliver < -1 {
            bail!("nats.max_deliver must be -1 (unbounded) or at least 1");
        }
        let key = self.webhook.secret_key.expose();
        if !key.is_empty() {
            use base64::Engine as _;
            let decoded = base64::engine::general_purpose::STANDARD.decode(key.trim());
            if decoded.map(|k| k.len()) != Ok(32) {
                bail!("webhook.secret_key must be the base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`)");
            }
        } else if !self.keycloak.dev_mode() {
            bail!("webhook.secret_key is required when tokens are verified (keycloak.issuer is set): set AWE__WEBHOOK__SECRET_KEY to the base64 of 32 random bytes");
        }
        let rate = self.http.rate_limit_per_second;
        if !(rate.is_finite() && rate >= 0.0) {
            bail!("http.rate_limit_per_second must be 0 (off) or a positive number");
        }
        if self.sla.check_interval_seconds == 0 {
            bail!("sla.check_interval_seconds must be at least 1");
        }
        if self.http.max_header_bytes < 1024 {
            bail!("http.max_header_bytes must be at least 1024 (a bearer token alone takes about 1 KiB)");
        }
        if self.http.reply_timeout_ms == 0 {
            bail!("http.reply_timeout_ms must be at least 1");
        }
        self.nats.validate()?;
        if !self.health.addr.is_empty() && self.health.addr.parse::<SocketAddr>().is_err() {
            bail!("health.addr must be host:port such as 0.0.0.0:9090 (got {:?})", self.health.addr);
        }
        Ok(())
    }

    /// The effective settings without secrets, for `/v1/awe/config` and logs.
    pub fn public_view(&self) -> Value {
        let mut view = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(db) = view.get_mut("database") {
            db["url"] = Value::String(redact_url(self.database.url.expose()));
        }
        view["nats"]["url"] = Value::String(redact_url(&self.nats.url));
        view
    }
}

/// `scheme://user:password@host/db` → `scheme://user:***@host/db`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

/// Sets `path` in `tree`, reading `raw` as the type the default has there.
fn set_from_env(tree: &mut Value, path: &[String], raw: &str) -> anyhow::Result<()> {
    let (last, parents) = path.split_last().context("empty key")?;
    let mut node = tree;
    for part in parents {
        let sections: Vec<String> = node.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        node = node.get_mut(part.as_str()).filter(|n| n.is_object()).with_context(|| {
            let foreign = reference::FOREIGN_SECTIONS.iter().map(|(s, _)| *s);
            let near = reference::did_you_mean(part, sections.iter().map(String::as_str).chain(foreign));
            format!("unknown setting section `{part}`{}", suggestion(near))
        })?;
    }
    let map: &mut Map<String, Value> = node.as_object_mut().context("not a section")?;
    let current = map.get(last.as_str()).with_context(|| {
        let section = parents.last().map(String::as_str).unwrap_or_default();
        let foreign = reference::FOREIGN_KEYS.iter().filter(|(s, _)| *s == section).map(|(_, k)| *k);
        let near = reference::did_you_mean(last, map.keys().map(String::as_str).chain(foreign));
        format!("unknown setting `{last}`{}", suggestion(near))
    })?;
    let parsed = match current {
        Value::Array(_) => {
            if raw.trim_start().starts_with('[') {
                serde_json::from_str(raw).context("expected a JSON list")?
            } else {
                Value::Array(raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(scalar).collect())
            }
        }
        Value::Bool(_) => Value::Bool(raw.trim().parse().context("expected true or false")?),
        Value::Number(_) => serde_json::from_str(raw.trim()).context("expected a number")?,
        _ => Value::String(raw.to_owned()),
    };
    map.insert(last.clone(), parsed);
    Ok(())
}

fn suggestion(near: Option<&str>) -> String {
    near.map(|n| format!("; did you mean `{n}`?")).unwrap_or_default()
}

/// Drops the reference's own sections and keys from a settings file, saying so.
fn set_aside_foreign(parsed: &mut Value, notices: &mut Vec<String>) {
    let Some(map) = parsed.as_object_mut() else { return };
    for (section, why) in reference::FOREIGN_SECTIONS {
        if map.remove(section).is_some() {
            notices.push(format!("[{section}] is a section of the reference implementation; ignored: {why}"));
        }
    }
    for (section, key) in reference::FOREIGN_KEYS {
        if let Some(inner) = map.get_mut(section).and_then(Value::as_object_mut) {
            if inner.remove(key).is_some() {
                notices.push(format!("{section}.{key} is ignored: certificates are always verified"));
            }
        }
    }
}

/// Refuses a file key we do not have, naming the closest one.
fn known_keys(defaults: &Value, parsed: &Value, at: &str) -> anyhow::Result<()> {
    let (Some(defaults), Some(parsed)) = (defaults.as_object(), parsed.as_object()) else { return Ok(()) };
    for (key, value) in parsed {
        let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
        match defaults.get(key) {
            Some(default) => known_keys(default, value, &path)?,
            None => {
                let near = reference::did_you_mean(key, defaults.keys().map(String::as_str));
                bail!("unknown setting `{path}` in the settings file{}", suggestion(near));
            }
        }
    }
    Ok(())
}

fn scalar(item: &str) -> Value {
    serde_json::from_str::<serde_json::Number>(item)
        .map(Value::Number)
        .unwrap_or_else(|_| Value::String(item.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn environment_overrides_defaults_with_typed_values() {
        let config = Config::load_from(
            None,
            env(&[
                ("AWE__WEBHOOK__BACKOFF_SECONDS", "1,2,4"),
                ("AWE__WEBHOOK__MAX_ATTEMPTS", "3"),
                ("AWE__KEYCLOAK__ISSUER", "http://kc/realms/staff"),
                ("AWE__WEBHOOK__SECRET_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
                ("AWE__HTTP__ADDR", "0.0.0.0:9000"),
                ("DATABASE_URL", "postgres://u:pw@db/awe"),
            ]),
        )
        .expect("valid config");
        assert_eq!(config.webhook.backoff_seconds, vec![1, 2, 4]);
        assert_eq!(config.webhook.max_attempts, 3);
        assert_eq!(config.keycloak.issuer, "http://kc/realms/staff");
        assert_eq!(config.http.addr.port(), 9000);
        assert_eq!(config.database.url.expose(), "postgres://u:pw@db/awe");
    }

    #[test]
    fn verified_tokens_need_a_key_for_callback_secrets() {
        let err = Config::load_from(None, env(&[("AWE__KEYCLOAK__ISSUER", "http://kc/realms/staff")])).unwrap_err();
        assert!(format!("{err:#}").contains("webhook.secret_key is required"), "{err:#}");
        let short = Config::load_from(None, env(&[("AWE__WEBHOOK__SECRET_KEY", "c2hvcnQ=")])).unwrap_err();
        assert!(format!("{short:#}").contains("exactly 32 bytes"), "{short:#}");
    }

    /// Every setting's environment name, e.g. `AWE__WEBHOOK__MAX_ATTEMPTS`.
    fn environment_names(tree: &Value, prefix: &str, out: &mut Vec<String>) {
        if let Value::Object(map) = tree {
            for (key, value) in map {
                let name = format!("{prefix}__{}", key.to_ascii_uppercase());
                if value.is_object() {
                    environment_names(value, &name, out);
                } else {
                    out.push(name);
                }
            }
        }
    }

    #[test]
    fn webhooks_carry_the_spec_event_types_unless_asked_for_more_and_an_unknown_type_stops_the_service() {
        let default = Config::load_from(None, env(&[])).expect("defaults");
        assert_eq!(default.webhook.event_types, crate::contract::event::SPEC_EVENT_TYPES.map(str::to_owned).to_vec());
        let more =
            Config::load_from(None, env(&[("AWE__WEBHOOK__EVENT_TYPES", "request_approved, decision_submitted")]))
                .expect("a chosen list");
        assert_eq!(more.webhook.event_types, vec!["request_approved", "decision_submitted"]);
        let typo = Config::load_from(None, env(&[("AWE__WEBHOOK__EVENT_TYPES", "request_aproved")])).unwrap_err();
        assert!(format!("{typo:#}").contains("`request_aproved` is not an event type"), "{typo:#}");
    }

    #[test]
    fn a_reference_deployments_settings_start_the_service_with_a_notice_for_each() {
        let config = Config::load_from(
            None,
            env(&[
                ("AWE__NOTIFIER__ENABLED", "false"),
                ("AWE__NOTIFIER__SMTP_PASSWORD", "hunter2"),
                ("AWE__ADMIN_UI__MOUNT_PATH", "/admin"),
                ("AWE__KEYCLOAK__VERIFY_SSL", "true"),
                ("DB_HOST", "db.internal"),
                ("DB_USER", "awe"),
                ("DB_PASSWORD", "p@ss word"),
                ("DB_POOL_SIZE", "10"),
                ("UVICORN_PORT", "8000"),
                ("UVICORN_LOG_LEVEL", "warning"),
                ("NOTIFICATION_PROVIDER_API_KEY", "k-123"),
                ("AWE__WEBHOOK__TIMEOUT_SECONDS", "7"),
            ]),
        )
        .expect("starts");
        assert_eq!(config.database.url.expose(), "postgresql://awe:p%40ss%20word@db.internal:5432/awe");
        assert_eq!(config.database.max_connections, 25);
        assert_eq!(config.http.addr.port(), 8000);
        assert_eq!(config.log.level, "warn");
        assert_eq!(config.webhook.timeout_seconds, 7, "shared names mean the same");
        let all = config.notices.join("\n");
        for name in [
            "AWE__NOTIFIER__ENABLED",
            "AWE__NOTIFIER__SMTP_PASSWORD",
            "AWE__ADMIN_UI__MOUNT_PATH",
            "AWE__KEYCLOAK__VERIFY_SSL",
            "DB_HOST",
            "DB_POOL_SIZE",
            "UVICORN_PORT",
            "UVICORN_LOG_LEVEL",
            "NOTIFICATION_PROVIDER_API_KEY",
        ] {
            assert!(all.contains(name), "{name} not named in {all}");
        }
        assert!(!all.contains("hunter2") && !all.contains("p@ss") && !all.contains("k-123"), "a secret printed: {all}");
    }

    #[test]
    fn a_misspelt_setting_of_ours_still_stops_the_service_with_a_did_you_mean() {
        let err = Config::load_from(None, env(&[("AWE__WEBHOOK__TIMEOUT_SECOND", "5")])).unwrap_err();
        assert!(format!("{err:#}").contains("did you mean `timeout_seconds`?"), "{err:#}");
        let err = Config::load_from(None, env(&[("AWE__WEBHOK__TIMEOUT_SECONDS", "5")])).unwrap_err();
        assert!(format!("{err:#}").contains("did you mean `webhook`?"), "{err:#}");
        let err = Config::load_from(None, env(&[("AWE__NOTIFER__SMTP_HOST", "mail")])).unwrap_err();
        assert!(format!("{err:#}").contains("did you mean `notifier`?"), "{err:#}");
    }

    #[test]
    fn the_references_yaml_settings_file_stops_a_service_that_would_otherwise_skip_token_checks() {
        let err = Config::load_from(None, env(&[("CONFIG_PATH", "/app/config/default.yaml")])).unwrap_err();
        assert!(format!("{err:#}").contains("AWE__KEYCLOAK__ISSUER"), "{err:#}");
        let verified = Config::load_from(
            None,
            env(&[
                ("CONFIG_PATH", "/app/config/default.yaml"),
                ("AWE__KEYCLOAK__ISSUER", "https://kc/realms/staff"),
                ("AWE__WEBHOOK__SECRET_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
            ]),
        )
        .expect("starts with the issuer set");
        assert!(verified.notices.iter().any(|n| n.contains("CONFIG_PATH")));
    }

    #[test]
    fn a_sqlalchemy_database_url_is_read_as_postgresql_with_its_ssl_mode() {
        let config =
            Config::load_from(None, env(&[("DATABASE_URL", "postgresql+asyncpg://u:pw@db:5432/awe?ssl=require")]))
                .expect("starts");
        assert_eq!(config.database.url.expose(), "postgresql://u:pw@db:5432/awe?sslmode=require");
        assert_eq!(config.notices.len(), 1);
    }

    #[test]
    fn every_setting_is_in_the_readme_configuration_reference() {
        let readme = include_str!("../../../README.md");
        let reference = readme.split("## Configuration").nth(1).expect("a Configuration section");
        let mut names = Vec::new();
        environment_names(&serde_json::to_value(Config::default()).expect("defaults"), "AWE", &mut names);
        let missing: Vec<&String> = names
            .iter()
            .filter(|n| !reference.contains(n.as_str()))
            .filter(|n| !(n.as_str() == "AWE__DATABASE__URL" && reference.contains("DATABASE_URL")))
            .filter(|n| !(n.as_str() == "AWE__NATS__URL" && reference.contains("NATS_URL")))
            .collect();
        assert!(missing.is_empty(), "settings missing from the README's configuration reference: {missing:?}");
    }

    #[test]
    fn nats_credentials_are_one_method_and_tls_client_files_come_in_pairs() {
        let two = Config::load_from(None, env(&[("AWE__NATS__USER", "awe"), ("AWE__NATS__TOKEN", "t")])).unwrap_err();
        assert!(format!("{two:#}").contains("only one of"), "{two:#}");
        let orphan = Config::load_from(None, env(&[("AWE__NATS__PASSWORD", "pw")])).unwrap_err();
        assert!(format!("{orphan:#}").contains("needs nats.user"), "{orphan:#}");
        let half = Config::load_from(None, env(&[("AWE__NATS__TLS_CERT_FILE", "/c.pem")])).unwrap_err();
        assert!(format!("{half:#}").contains("go together"), "{half:#}");
        let storage = Config::load_from(None, env(&[("AWE__NATS__STORAGE", "disk")]));
        assert!(storage.is_err());
        let fine = Config::load_from(
            None,
            env(&[("AWE__NATS__USER", "awe"), ("AWE__NATS__PASSWORD", "pw"), ("AWE__NATS__STORAGE", "memory")]),
        )
        .expect("valid");
        assert_eq!(fine.nats.storage, StreamStorage::Memory);
        assert!(!fine.public_view().to_string().contains("\"pw\""));
    }

    #[test]
    fn an_unknown_setting_is_refused_at_start() {
        let err = Config::load_from(None, env(&[("AWE__WEBHOOK__RETRIES", "3")])).unwrap_err();
        assert!(format!("{err:#}").contains("unknown setting `retries`"), "{err:#}");
    }

    #[test]
    fn a_badly_typed_value_is_refused_at_start() {
        assert!(Config::load_from(None, env(&[("AWE__WEBHOOK__MAX_ATTEMPTS", "six")])).is_err());
        assert!(Config::load_from(None, env(&[("AWE__HTTP__ADDR", "nowhere")])).is_err());
    }

    #[test]
    fn secrets_never_appear_in_the_public_view() {
        let config = Config::load_from(
            None,
            env(&[("DATABASE_URL", "postgres://u:hunter2@db/awe"), ("AWE__KEYCLOAK__ADMIN_CLIENT_SECRET", "s3cr3t")]),
        )
        .expect("valid config");
        let text = config.public_view().to_string();
        assert!(!text.contains("hunter2") && !text.contains("s3cr3t"), "{text}");
        assert!(!format!("{config:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_file_layer_sits_between_defaults_and_environment() {
        let dir = std::env::temp_dir().join(format!("awe-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("awe.toml");
        std::fs::write(&path, "[awe.sla]\ncheck_interval_seconds = 60\n[awe.webhook]\ntimeout_seconds = 3\n")
            .expect("write");
        let config =
            Config::load_from(Some(&path), env(&[("AWE__SLA__CHECK_INTERVAL_SECONDS", "10")])).expect("valid config");
        assert_eq!(config.sla.check_interval_seconds, 10);
        assert_eq!(config.webhook.timeout_seconds, 3);
    }
}
