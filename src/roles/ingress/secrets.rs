//! `/v1/awe/admin/callback-secrets`: the secrets that sign a caller's webhooks.

use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;
use uuid::Uuid;

use super::auth::Caller;
use super::dispatch::Pending;
use super::extract::{Body, Path, Query};
use super::AppState;
use crate::adapters::secrets::Vault;
use crate::adapters::store::secrets;
use crate::contract::command::{Command, SealedSecret};
use crate::contract::error::{ApiError, Result};
use crate::contract::wire::{SecretIn, SecretOut};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SecretQuery {
    pub caller_service: Option<String>,
}

fn seal(s: &AppState) -> Result<(String, SealedSecret)> {
    let raw = Vault::generate();
    let sealed = s.vault.seal(&raw)?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    Ok((
        raw,
        SealedSecret {
            ciphertext: b64(&sealed.ciphertext),
            nonce: b64(&sealed.nonce),
            fingerprint: sealed.fingerprint,
        },
    ))
}

fn pending(command_id: Uuid) -> Pending {
    Pending {
        location: format!("/v1/awe/commands/{command_id}"),
        body: json!({"command_id": command_id, "status": "accepted"}),
    }
}

/// A late engine's 202 for a new secret: the secret is shown all the same,
/// and is in force once `GET /v1/awe/commands/{command_id}` reports success.
fn pending_secret(command_id: Uuid, secret_id: Uuid) -> Pending {
    Pending {
        location: format!("/v1/awe/commands/{command_id}"),
        body: json!({
            "command_id": command_id, "status": "accepted", "id": secret_id,
            "note": "the secret below signs once this command has succeeded; see the Location",
        }),
    }
}

/// The secret goes to the caller once, in this answer (201, or 202 when the
/// engine is late), and nowhere else.
fn reveal(raw: String) -> impl FnOnce(&mut Value) {
    move |body| body["secret"] = Value::String(raw)
}

#[utoipa::path(get, path = "/v1/awe/admin/callback-secrets", tag = "admin", params(SecretQuery),
    responses((status = 200, description = "Newest first; never the secrets themselves", body = [SecretOut])))]
pub async fn list(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<SecretQuery>,
) -> Result<Json<Vec<SecretOut>>> {
    caller.require_viewer()?;
    let mut conn = s.pool.acquire().await.context("database")?;
    Ok(Json(secrets::list(&mut conn, q.caller_service.as_deref()).await.context("listing secrets")?))
}

#[utoipa::path(post, path = "/v1/awe/admin/callback-secrets", tag = "admin", request_body = SecretIn,
    responses((status = 201, description = "The new secret, with `secret` shown this once", body = SecretOut),
              (status = 202, description = "The engine is late: `command_id`, the secret's `id` and `secret`, shown this once, in force once `GET /v1/awe/commands/{command_id}` reports success"),
              (status = 409, description = "AWE-007: the caller has an active secret; rotate it")))]
pub async fn create(State(s): State<Arc<AppState>>, caller: Caller, body: Body<SecretIn>) -> Result<Response> {
    let actor = caller.require_admin()?;
    let caller_service = body.value.caller_service;
    if caller_service.trim().is_empty() || caller_service.chars().count() > 255 {
        return Err(ApiError::invalid(
            &["body", "caller_service"],
            "must be 1 to 255 characters",
            json!(caller_service),
        ));
    }
    let (raw, sealed) = seal(&s)?;
    let id = Uuid::now_v7();
    let secret_id = Uuid::new_v5(&id, b"secret");
    let command = Command::SecretCreate { secret_id, caller_service, sealed };
    s.dispatch_with(id, actor, command, pending_secret(id, secret_id), reveal(raw)).await
}

#[utoipa::path(post, path = "/v1/awe/admin/callback-secrets/{secret_id}/rotate", tag = "admin",
    params(("secret_id" = Uuid, Path)),
    responses((status = 201, description = "The successor, with `secret` shown this once; the old one signs on through the overlap", body = SecretOut),
              (status = 202, description = "The engine is late: `command_id`, the successor's `id` and `secret`, shown this once"),
              (status = 404, description = "AWE-004"), (status = 409, description = "AWE-007: not the active secret")))]
pub async fn rotate(State(s): State<Arc<AppState>>, caller: Caller, Path(secret_id): Path<Uuid>) -> Result<Response> {
    let actor = caller.require_admin()?;
    let (raw, sealed) = seal(&s)?;
    let id = Uuid::now_v7();
    let new_secret_id = Uuid::new_v5(&id, b"secret");
    let command = Command::SecretRotate { secret_id, new_secret_id, sealed };
    s.dispatch_with(id, actor, command, pending_secret(id, new_secret_id), reveal(raw)).await
}

#[utoipa::path(delete, path = "/v1/awe/admin/callback-secrets/{secret_id}", tag = "admin",
    params(("secret_id" = Uuid, Path)),
    responses((status = 204, description = "Revoked: it signs nothing from now on"), (status = 404, description = "AWE-004"),
        (status = 409, description = "AWE-007: already revoked")))]
pub async fn revoke(State(s): State<Arc<AppState>>, caller: Caller, Path(secret_id): Path<Uuid>) -> Result<Response> {
    let actor = caller.require_admin()?;
    let id = Uuid::now_v7();
    s.dispatch(id, actor, Command::SecretRevoke { secret_id }, pending(id)).await
}
