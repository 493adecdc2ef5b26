//! One configuration struct, layered: built-in defaults, then an optional
//! TOML file, then the environment (`AWE__SECTION__KEY`, plus `DATABASE_URL`
//! and `NATS_URL`). Validated once at start-up; secrets never print.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod layers;
mod reference;
mod sections;
#[cfg(test)]
mod tests;

pub use sections::*;

use layers::{known_keys, merge, redact_url, set_aside_foreign, set_from_env};

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
