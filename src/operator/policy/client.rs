//! The service's REST API as `awe policy` calls it, and the token it calls with.

use std::time::Duration;

use anyhow::{bail, Context as _};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::domain::PolicyIn;

/// Talks to the ingress's REST API.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// `base` is the service's address (`http://awe:8000`), without `/v1/awe`.
    pub fn new(base: &str, token: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned(), token })
    }

    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await.with_context(|| format!("{method} {url}"))?;
        let status = res.status();
        let location = res.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
        let text = res.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            bail!("{method} {url}: {status}: {} (the token needs AWE_ADMIN to write, AWE_VIEWER to read)", value);
        }
        // A write the engine had not applied within the ingress's wait:
        // its outcome is read from the command until there is one.
        if status == StatusCode::ACCEPTED && method != Method::GET {
            if let Some(location) = location.filter(|l| l.contains("/commands/")) {
                return self.outcome(&location).await;
            }
        }
        Ok((status, value))
    }

    async fn outcome(&self, location: &str) -> anyhow::Result<(StatusCode, Value)> {
        for _ in 0..120 {
            let (status, value) = Box::pin(self.call(Method::GET, location, None)).await?;
            if status != StatusCode::ACCEPTED {
                return Ok((status, value));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        bail!("{location}: not applied after 30 s; is the engine role running?")
    }

    pub(super) async fn versions(&self, key: &str) -> anyhow::Result<Option<Vec<Value>>> {
        match self.call(Method::GET, &format!("/v1/awe/policies/{}/versions", segment(key)), None).await? {
            (StatusCode::OK, Value::Array(v)) => Ok(Some(v)),
            (StatusCode::NOT_FOUND, _) => Ok(None),
            (status, body) => bail!("listing the versions of `{key}`: {status}: {body}"),
        }
    }

    pub(super) async fn version(&self, key: &str, version: i32) -> anyhow::Result<Value> {
        match self.call(Method::GET, &format!("/v1/awe/policies/{}/versions/{version}", segment(key)), None).await? {
            (StatusCode::OK, body) => Ok(body),
            (status, body) => bail!("reading `{key}` v{version}: {status}: {body}"),
        }
    }

    /// The newest version of a key (its number, status and document) and its
    /// active version's number.
    pub(super) async fn newest(&self, key: &str) -> anyhow::Result<Option<(i32, String, PolicyIn, Option<i32>)>> {
        let Some(versions) = self.versions(key).await? else { return Ok(None) };
        let number = |v: &Value| v["version"].as_i64().map(|n| n as i32);
        let active = versions.iter().find(|v| v["status"] == "active").and_then(number);
        let Some(newest) = versions.iter().filter_map(|v| Some((number(v)?, v))).max_by_key(|(n, _)| *n) else {
            return Ok(None);
        };
        let status = newest.1["status"].as_str().unwrap_or_default().to_owned();
        let stored: PolicyIn = serde_json::from_value(self.version(key, newest.0).await?)
            .with_context(|| format!("`{key}` v{} is not a policy document", newest.0))?;
        Ok(Some((newest.0, status, stored, active)))
    }

    pub(super) async fn write(&self, method: Method, path: &str, body: &Value, what: &str) -> anyhow::Result<Value> {
        let (status, answer) = self.call(method, path, Some(body)).await?;
        if status.is_success() {
            return Ok(answer);
        }
        bail!("{what}: refused with {status}:\n{}", refusal(&answer))
    }
}

/// A policy key as one path segment.
pub(super) fn segment(key: &str) -> String {
    form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>().replace('+', "%20")
}

/// The service's refusal as a person reads it: the AWE envelope's code and
/// message (AWE-010 names the field), or each 422 item with its location.
pub(super) fn refusal(body: &Value) -> String {
    if let Some(errors) = body["errors"].as_array() {
        return errors
            .iter()
            .map(|e| format!("  {}: {}", e["errorCode"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join("\n");
    }
    if let Some(items) = body["detail"].as_array() {
        return items
            .iter()
            .map(|i| {
                let loc: Vec<String> = i["loc"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| p.as_str().map_or(p.to_string(), str::to_owned))
                    .collect();
                format!("  {}: {}", loc.join("."), i["msg"].as_str().unwrap_or(""))
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    format!("  {body}")
}

/// The token to call the service with: `AWE_TOKEN` when set; else a client
/// credentials grant at the configured issuer with `AWE_CLIENT_ID` and
/// `AWE_CLIENT_SECRET` (a service account holding AWE_ADMIN); else, in dev
/// auth mode only (no issuer), an unsigned dev token holding AWE_ADMIN.
pub async fn token(issuer: &str) -> anyhow::Result<String> {
    if let Ok(token) = std::env::var("AWE_TOKEN") {
        return Ok(token);
    }
    match (std::env::var("AWE_CLIENT_ID"), std::env::var("AWE_CLIENT_SECRET")) {
        (Ok(id), Ok(secret)) if !issuer.is_empty() => {
            let url = format!("{}/protocol/openid-connect/token", issuer.trim_end_matches('/'));
            let res = reqwest::Client::new()
                .post(&url)
                .form(&[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)])
                .timeout(Duration::from_secs(15))
                .send()
                .await
                .with_context(|| format!("asking {url} for a token"))?;
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            match body["access_token"].as_str() {
                Some(t) if status.is_success() => Ok(t.to_owned()),
                _ => bail!("{url} refused client `{id}`: {status}: {body}"),
            }
        }
        _ if issuer.is_empty() => {
            use base64::Engine as _;
            let part = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            let claims = json!({"sub": "awe-policy", "preferred_username": "awe-policy",
                                "realm_access": {"roles": ["AWE_ADMIN"]}});
            Ok(format!("{}.{}.dev", part(json!({"alg": "none", "typ": "JWT"})), part(claims)))
        }
        _ => bail!(
            "no token: set AWE_TOKEN, or AWE_CLIENT_ID and AWE_CLIENT_SECRET of a service account holding AWE_ADMIN (keycloak.issuer is {issuer})"
        ),
    }
}
