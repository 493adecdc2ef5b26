//! Bearer tokens as Keycloak issues them (API.md §2).
//!
//! Dev mode (empty issuer): any well-formed three-part JWT is read without
//! checking its signature. Otherwise the signature is checked against the
//! issuer's JWKS (asymmetric algorithms only, so an HMAC token signed with a
//! public key is refused), with `iss`, `aud` (when configured), `exp` and
//! `nbf` checks; an unknown `kid` refreshes the keys, at most once per
//! configured interval.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::RwLock;

use super::AppState;
use crate::adapters::config::KeycloakConfig;
use crate::contract::error::ApiError;
use crate::domain::Actor;

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

pub struct Authenticator {
    config: KeycloakConfig,
    http: reqwest::Client,
    keys: RwLock<Keys>,
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, (DecodingKey, Vec<Algorithm>)>,
    fetched_at: Option<Instant>,
}

impl Authenticator {
    pub fn new(config: KeycloakConfig) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        Self { config, http, keys: RwLock::new(Keys::default()) }
    }

    pub async fn authenticate(&self, header: Option<&str>) -> Result<Actor, ApiError> {
        let token = header
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("Missing bearer token"))?;
        let claims =
            if self.config.dev_mode() { unverified_claims(token)? } else { self.verified_claims(token).await? };
        actor_from_claims(&claims, &self.config.portal_client_id)
    }

    async fn verified_claims(&self, token: &str) -> Result<Value, ApiError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| ApiError::unauthorized(format!("Invalid bearer token: {e}")))?;
        let kid = header.kid.clone().unwrap_or_default();
        let (key, algorithms) = match self.key(&kid).await {
            Some(found) => found,
            None => {
                self.refresh(false).await?;
                self.key(&kid).await.ok_or_else(|| {
                    ApiError::unauthorized(format!("Invalid bearer token: unknown signing key `{kid}`"))
                })?
            }
        };
        if !algorithms.contains(&header.alg) {
            return Err(ApiError::unauthorized(format!(
                "Invalid bearer token: algorithm {:?} is not allowed for key `{kid}`",
                header.alg
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = algorithms;
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        let mut issuers = vec![self.config.issuer.clone()];
        issuers.extend(self.config.additional_issuers.iter().cloned());
        validation.set_issuer(&issuers);
        // The library checks `iss` and `aud` only when a token has them: a
        // verified token must say who issued it, and for whom when we ask.
        if self.config.audience.is_empty() {
            validation.validate_aud = false;
            validation.set_required_spec_claims(&["exp", "iss"]);
        } else {
            validation.set_audience(&[self.config.audience.as_str()]);
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        }
        jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| ApiError::unauthorized(format!("Invalid bearer token: {e}")))
    }

    async fn key(&self, kid: &str) -> Option<(DecodingKey, Vec<Algorithm>)> {
        self.keys.read().await.by_kid.get(kid).cloned()
    }

    /// Fetches the JWKS, unless it was fetched within the minimum interval.
    async fn refresh(&self, force: bool) -> Result<(), ApiError> {
        let mut keys = self.keys.write().await;
        let min = Duration::from_secs(self.config.jwks_min_refresh_seconds);
        if !force && keys.fetched_at.is_some_and(|at| at.elapsed() < min) {
            return Ok(());
        }
        let url = self.config.effective_jwks_url();
        let unreachable = |e: String| ApiError::Detail {
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail: format!("Could not reach Keycloak JWKS at {url}: {e}"),
        };
        let set: JwkSet = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| unreachable(e.to_string()))?
            .json()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        keys.by_kid.clear();
        for jwk in &set.keys {
            let algorithms = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => vec![
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ],
                AlgorithmParameters::EllipticCurve(_) => vec![Algorithm::ES256, Algorithm::ES384],
                AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
                // Symmetric keys are never trusted for tokens.
                AlgorithmParameters::OctetKey(_) => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.by_kid.insert(jwk.common.key_id.clone().unwrap_or_default(), (key, algorithms));
            }
        }
        keys.fetched_at = Some(Instant::now());
        Ok(())
    }
}

/// Dev mode: the payload of any three-part token, unchecked.
fn unverified_claims(token: &str) -> Result<Value, ApiError> {
    let invalid = || ApiError::unauthorized("Invalid bearer token");
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| invalid())?;
    let claims: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if claims.is_object() {
        Ok(claims)
    } else {
        Err(invalid())
    }
}

/// The caller's identity and roles. Roles count from the realm
/// (`realm_access.roles`) and from the portal client only
/// (`resource_access.<portal_client>.roles`, spec 002 "Authentication"):
/// `AWE_ADMIN` held on another client of the realm grants nothing here.
pub fn actor_from_claims(claims: &Value, portal_client: &str) -> Result<Actor, ApiError> {
    let text = |name: &str| {
        claims.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
    };
    let sub = text("sub").ok_or_else(|| ApiError::unauthorized("Token missing `sub` claim"))?;
    let assignee_id = text("preferred_username").or_else(|| text("username")).unwrap_or_else(|| sub.clone());
    let mut roles: Vec<String> = Vec::new();
    let mut add = |list: Option<&Value>| {
        for role in list.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !roles.iter().any(|r| r == role) {
                roles.push(role.to_owned());
            }
        }
    };
    add(claims.pointer("/realm_access/roles"));
    add(claims.get("resource_access").and_then(|r| r.get(portal_client)).and_then(|c| c.get("roles")));
    Ok(Actor { sub, assignee_id, name: text("name"), email: text("email"), roles })
}

/// The authenticated caller of a handler.
pub struct Caller(pub Actor);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok());
        state.auth.authenticate(header).await.map(Caller)
    }
}

impl Caller {
    pub fn require_viewer(&self) -> Result<&Actor, ApiError> {
        if self.0.is_viewer() {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden("One of ['AWE_ADMIN', 'AWE_VIEWER'] required"))
        }
    }

    pub fn require_admin(&self) -> Result<&Actor, ApiError> {
        if self.0.is_admin() {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden("Role `AWE_ADMIN` required"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(claims: Value) -> String {
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.sig", b64(&json!({"alg": "none"})), b64(&claims))
    }

    #[tokio::test]
    async fn roles_count_from_the_realm_and_the_portal_client_only() {
        let auth = Authenticator::new(KeycloakConfig::default());
        let t = token(json!({
            "sub": "s-1", "preferred_username": "alice", "name": " Alice ", "email": "a@x",
            "realm_access": {"roles": ["offline_access"]},
            "resource_access": {"awe-admin-portal": {"roles": ["AWE_VIEWER"]}, "other": {"roles": ["AWE_ADMIN"]}}
        }));
        let actor = auth.authenticate(Some(&format!("Bearer {t}"))).await.expect("accepted");
        assert_eq!(
            (actor.sub.as_str(), actor.assignee_id.as_str(), actor.name.as_deref()),
            ("s-1", "alice", Some("Alice"))
        );
        assert!(actor.is_viewer());
        assert!(!actor.is_admin(), "AWE_ADMIN on another client grants nothing");
        let realm =
            actor_from_claims(&json!({"sub": "s", "realm_access": {"roles": ["AWE_ADMIN"]}}), "awe-admin-portal")
                .expect("actor");
        assert!(realm.is_admin(), "a realm role counts");
        let elsewhere = json!({"sub": "s", "resource_access": {"ops-portal": {"roles": ["AWE_ADMIN"]}}});
        assert!(actor_from_claims(&elsewhere, "ops-portal").expect("actor").is_admin(), "the client is a setting");
    }

    #[tokio::test]
    async fn a_missing_or_malformed_token_is_unauthorized() {
        let auth = Authenticator::new(KeycloakConfig::default());
        for header in [None, Some("Bearer "), Some("Bearer not-a-jwt"), Some("Basic abc")] {
            let err = auth.authenticate(header).await.unwrap_err();
            assert_eq!(err.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        }
        let err = auth.authenticate(Some(&format!("Bearer {}", token(json!({"name": "x"}))))).await.unwrap_err();
        assert_eq!(err.body()["detail"], "Token missing `sub` claim");
    }

    #[test]
    fn the_assignee_id_falls_back_from_preferred_username_to_username_to_sub() {
        let a = actor_from_claims(&json!({"sub": "s", "username": "u"}), "awe-admin-portal").expect("actor");
        assert_eq!(a.assignee_id, "u");
        let a = actor_from_claims(&json!({"sub": "s", "preferred_username": "  "}), "awe-admin-portal").expect("actor");
        assert_eq!(a.assignee_id, "s");
    }
}
