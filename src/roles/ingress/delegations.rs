//! `/v1/awe/delegations`: out-of-office windows.

use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde_json::json;
use uuid::Uuid;

use super::auth::Caller;
use super::dispatch::Pending;
use super::extract::{Body, Path, Query};
use super::AppState;
use crate::adapters::store::delegations;
use crate::contract::checks::validate_delegation;
use crate::contract::command::Command;
use crate::contract::error::{ApiError, Result};
use crate::contract::wire::{DelegationIn, DelegationOut, DelegationQuery};

#[utoipa::path(get, path = "/v1/awe/delegations", tag = "delegations", params(DelegationQuery),
    responses((status = 200, description = "Active and future windows, latest start first", body = [DelegationOut])))]
pub async fn list(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<DelegationQuery>,
) -> Result<Json<Vec<DelegationOut>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid(&["query", "limit"], "must be between 1 and 500", json!(limit)));
    }
    // Viewers see everyone's; anyone else sees their own.
    let user = if caller.0.is_viewer() { q.user_id.clone() } else { Some(caller.0.assignee_id.clone()) };
    let mut conn = s.pool.acquire().await.context("database")?;
    Ok(Json(delegations::list(&mut conn, user.as_deref(), limit).await.context("listing delegations")?))
}

#[utoipa::path(post, path = "/v1/awe/delegations", tag = "delegations", request_body = DelegationIn,
    responses((status = 201, body = DelegationOut), (status = 403, description = "Delegating for someone else needs AWE_ADMIN"),
              (status = 422, description = "The window ends before it starts, or names the user as their own delegate")))]
pub async fn create(State(s): State<Arc<AppState>>, caller: Caller, body: Body<DelegationIn>) -> Result<Response> {
    validate_delegation(&body.value)?;
    if !caller.0.is_admin() && caller.0.assignee_id != body.value.user_id {
        return Err(ApiError::forbidden("Only an AWE_ADMIN may delegate for someone else"));
    }
    let command_id = Uuid::now_v7();
    let delegation_id = Uuid::new_v5(&command_id, b"delegation");
    let pending = Pending {
        location: format!("/v1/awe/commands/{command_id}"),
        body: json!({"command_id": command_id, "id": delegation_id, "status": "accepted"}),
    };
    s.dispatch(command_id, &caller.0, Command::DelegationCreate { delegation_id, delegation: body.value }, pending)
        .await
}

#[utoipa::path(delete, path = "/v1/awe/delegations/{delegation_id}", tag = "delegations",
    params(("delegation_id" = Uuid, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, description = "AWE-004: no such delegation")))]
pub async fn revoke(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(delegation_id): Path<Uuid>,
) -> Result<Response> {
    let command_id = Uuid::now_v7();
    let pending = Pending {
        location: format!("/v1/awe/commands/{command_id}"),
        body: json!({"command_id": command_id, "status": "accepted"}),
    };
    s.dispatch(command_id, &caller.0, Command::DelegationRevoke { delegation_id }, pending).await
}
