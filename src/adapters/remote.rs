//! Rules that outside systems resolve: `role` and `group` through Keycloak's
//! admin API, `http` through the caller's own resolver (POST with the
//! request's context, retried with backoff on a transient failure). The
//! resolver role answers stages with it; the ingress's simulate explains them.

use std::time::Duration;

use anyhow::Context as _;
use backon::{ExponentialBuilder, Retryable};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::adapters::config::{Config, ResolverConfig};
use crate::adapters::keycloak::Keycloak;
use crate::domain::{RuleDef, RuleSpec};
use crate::rules::RuleError;

/// What remote resolution needs: an HTTP client, the settings, and Keycloak
/// when `keycloak.base_url` is set.
pub struct Remote {
    pub http: reqwest::Client,
    pub config: ResolverConfig,
    pub keycloak: Option<Keycloak>,
}

impl Remote {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("awe-resolver/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        let keycloak =
            (!config.keycloak.base_url.trim().is_empty()).then(|| Keycloak::new(config.keycloak.clone(), http.clone()));
        Ok(Self { http, config: config.resolver.clone(), keycloak })
    }

    /// Resolves one remote rule against a context, retrying transient
    /// failures; `fresh` skips the Keycloak cache (simulate).
    pub async fn resolve(&self, rule: &RuleDef, context: &Value, fresh: bool) -> Result<Vec<String>, String> {
        let policy = ExponentialBuilder::default()
            .with_min_delay(ResolverConfig::RETRY_MIN_DELAY)
            .with_max_delay(ResolverConfig::RETRY_MAX_DELAY)
            .with_max_times(self.config.retries);
        let keycloak = || {
            self.keycloak.as_ref().ok_or_else(|| RuleError {
                reason: format!(
                    "rule type `{}` needs keycloak.base_url, which is not set",
                    rule.spec.rule_type().as_str()
                ),
                transient: false,
            })
        };
        let result = match &rule.spec {
            RuleSpec::Http { url } => {
                (|| http_resolver(&self.http, &self.config, url, context))
                    .retry(policy)
                    .when(|e: &RuleError| e.transient)
                    .await
            }
            RuleSpec::Role { role, client } => {
                (|| async { keycloak()?.role_members(role, client.as_deref(), fresh).await })
                    .retry(policy)
                    .when(|e: &RuleError| e.transient)
                    .await
            }
            RuleSpec::Group { group } => {
                (|| async { keycloak()?.group_members(group, fresh).await })
                    .retry(policy)
                    .when(|e: &RuleError| e.transient)
                    .await
            }
            _ => Err(RuleError { reason: "not a remote rule".into(), transient: false }),
        };
        crate::adapters::metrics::resolution(rule.spec.rule_type().as_str(), result.is_ok());
        result.map_err(|e| e.reason)
    }
}

#[derive(Deserialize)]
struct HttpAnswer {
    user_ids: Vec<Value>,
}

/// The contract of spec 002: POST `{"context": …}`, answer `{"user_ids": [...]}`.
async fn http_resolver(
    http: &reqwest::Client,
    config: &ResolverConfig,
    url: &str,
    context: &Value,
) -> Result<Vec<String>, RuleError> {
    let request =
        http.post(url).timeout(Duration::from_secs(config.http_timeout_seconds)).json(&json!({ "context": context }));
    // The caller's resolver sees the request's trace as the `traceparent` header.
    let response = crate::adapters::trace::send("resolver POST", request).await.map_err(|e| RuleError {
        reason: if e.is_timeout() { format!("{url} timed out") } else { format!("{url} unreachable: {e}") },
        transient: true,
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(RuleError {
            reason: format!("{url} answered HTTP {}", status.as_u16()),
            transient: status.is_server_error() || status.as_u16() == 429,
        });
    }
    let answer: HttpAnswer = response.json().await.map_err(|e| RuleError {
        reason: format!("{url} did not answer {{\"user_ids\": [...]}}: {e}"),
        transient: false,
    })?;
    answer
        .user_ids
        .into_iter()
        .map(|v| match v {
            Value::String(s) if !s.trim().is_empty() => Ok(s),
            other => Err(RuleError {
                reason: format!("{url} answered {other} where a user id was expected"),
                transient: false,
            }),
        })
        .collect()
}
