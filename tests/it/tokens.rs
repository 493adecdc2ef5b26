//! Verified tokens: signatures checked against the issuer's JWKS, with the
//! issuer, audience and time checks, and key rotation on an unknown `kid`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::keys;
use crate::support::*;

const AUDIENCE: &str = "awe";

struct Issuer {
    addr: SocketAddr,
    keys: Arc<Mutex<Vec<Value>>>,
}

impl Issuer {
    async fn start() -> Self {
        let keys = Arc::new(Mutex::new(vec![jwk("k1", keys::K1_N)]));
        let served = keys.clone();
        let app = Router::new().route(
            "/realms/staff/protocol/openid-connect/certs",
            get(move || {
                let served = served.clone();
                async move { Json(json!({"keys": served.lock().expect("keys").clone()})) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, keys }
    }

    fn url(&self) -> String {
        format!("http://{}/realms/staff", self.addr)
    }

    fn rotate_in(&self, kid: &str, n: &str) {
        self.keys.lock().expect("keys").push(jwk(kid, n));
    }
}

fn jwk(kid: &str, n: &str) -> Value {
    json!({"kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig", "n": n, "e": keys::E})
}

fn sign(kid: &str, der_b64: &str, claims: &Value) -> String {
    let der = base64::engine::general_purpose::STANDARD.decode(der_b64).expect("der");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&der)).expect("signed")
}

fn claims(issuer: &str, audience: &str, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": issuer, "aud": audience, "sub": "u-alice", "preferred_username": "alice",
           "iat": now, "nbf": now - 5, "exp": now + exp_offset})
}

async fn status_with(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.get("/tasks", token).await
}

#[tokio::test]
async fn tokens_are_verified_against_the_issuers_keys_with_every_check() {
    let issuer = Issuer::start().await;
    let app = spawn_with(Options {
        env: vec![
            ("AWE__KEYCLOAK__ISSUER".into(), issuer.url()),
            ("AWE__KEYCLOAK__AUDIENCE".into(), AUDIENCE.into()),
            ("AWE__KEYCLOAK__JWKS_MIN_REFRESH_SECONDS".into(), "0".into()),
            ("AWE__WEBHOOK__SECRET_KEY".into(), "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        ],
        ..Options::default()
    })
    .await;
    let iss = issuer.url();

    let valid = sign("k1", keys::K1_DER_B64, &claims(&iss, AUDIENCE, 300));
    assert_eq!(status_with(&app, &valid).await.0, StatusCode::OK, "a valid token");

    let expired = sign("k1", keys::K1_DER_B64, &claims(&iss, AUDIENCE, -300));
    let (status, body) = status_with(&app, &expired).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "expired");
    assert!(body["detail"].as_str().expect("detail").starts_with("Invalid bearer token"));

    let foreign = sign("k1", keys::K1_DER_B64, &claims("http://elsewhere/realms/staff", AUDIENCE, 300));
    assert_eq!(status_with(&app, &foreign).await.0, StatusCode::UNAUTHORIZED, "wrong issuer");

    let other_audience = sign("k1", keys::K1_DER_B64, &claims(&iss, "someone-else", 300));
    assert_eq!(status_with(&app, &other_audience).await.0, StatusCode::UNAUTHORIZED, "wrong audience");

    // alg none: a token that claims to need no signature.
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!("{}.{}.", b64(&json!({"alg": "none", "kid": "k1"})), b64(&claims(&iss, AUDIENCE, 300)));
    assert_eq!(status_with(&app, &none).await.0, StatusCode::UNAUTHORIZED, "alg none");

    // Key confusion: HS256 with the public key's bytes as the HMAC secret.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let confused =
        jsonwebtoken::encode(&header, &claims(&iss, AUDIENCE, 300), &EncodingKey::from_secret(keys::K1_N.as_bytes()))
            .expect("hmac token");
    assert_eq!(status_with(&app, &confused).await.0, StatusCode::UNAUTHORIZED, "HMAC with the public key");

    // A token signed by a key the issuer has not published yet, then after rotation.
    let rotated = sign("k2", keys::K2_DER_B64, &claims(&iss, AUDIENCE, 300));
    assert_eq!(status_with(&app, &rotated).await.0, StatusCode::UNAUTHORIZED, "unknown kid");
    issuer.rotate_in("k2", keys::K2_N);
    assert_eq!(status_with(&app, &rotated).await.0, StatusCode::OK, "the unknown kid refreshes the keys");

    // The dev-mode path is closed: an unsigned token of the right shape is refused.
    assert_eq!(status_with(&app, &token_for("alice")).await.0, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

async fn verifying_app(issuer: &Issuer, audience: &str) -> TestApp {
    spawn_with(Options {
        env: vec![
            ("AWE__KEYCLOAK__ISSUER".into(), issuer.url()),
            ("AWE__KEYCLOAK__AUDIENCE".into(), audience.into()),
            ("AWE__WEBHOOK__SECRET_KEY".into(), "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        ],
        ..Options::default()
    })
    .await
}

fn without(mut claims: Value, claim: &str) -> Value {
    claims.as_object_mut().expect("claims").remove(claim);
    claims
}

#[tokio::test]
async fn a_verified_token_without_an_iss_claim_is_unauthorized() {
    let issuer = Issuer::start().await;
    let app = verifying_app(&issuer, "").await;
    let token = sign("k1", keys::K1_DER_B64, &without(claims(&issuer.url(), AUDIENCE, 300), "iss"));
    let (status, body) = status_with(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let with_iss = sign("k1", keys::K1_DER_B64, &without(claims(&issuer.url(), AUDIENCE, 300), "aud"));
    assert_eq!(status_with(&app, &with_iss).await.0, StatusCode::OK, "no audience configured: aud may be absent");
    app.stop().await;
}

#[tokio::test]
async fn a_verified_token_without_an_aud_claim_is_unauthorized_when_an_audience_is_configured() {
    let issuer = Issuer::start().await;
    let app = verifying_app(&issuer, AUDIENCE).await;
    let token = sign("k1", keys::K1_DER_B64, &without(claims(&issuer.url(), AUDIENCE, 300), "aud"));
    let (status, body) = status_with(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    app.stop().await;
}
