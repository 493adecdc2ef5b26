//! `/v1/awe/admin/*` and the command status a 202 points at.

use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use uuid::Uuid;

use super::auth::Caller;
use super::dispatch::respond;
use super::extract::{Path, Query};
use super::AppState;
use crate::adapters::store::{audit, commands, webhooks};
use crate::contract::command::Command;
use crate::contract::error::{code, ApiError, Result};
use crate::contract::wire::{AuditActionOut, AuditQuery, BulkRetryIn, DeliveryDetailOut, DeliveryOut, DeliveryQuery};

#[utoipa::path(get, path = "/v1/awe/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, description = "Newest first", body = [AuditActionOut])))]
pub async fn audit_log(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditActionOut>>> {
    caller.require_viewer()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(&["query", "limit"], "must be between 1 and 1000", json!(limit)));
    }
    let offset = super::extract::offset(q.offset)?;
    let mut conn = s.pool.acquire().await.context("database")?;
    Ok(Json(audit::list(&mut conn, &q, limit, offset).await.context("reading the audit log")?))
}

/// The outcome of a command, once the engine has applied it; 202 until then.
#[utoipa::path(get, path = "/v1/awe/commands/{command_id}", tag = "admin", params(("command_id" = Uuid, Path)),
    responses((status = 200, description = "The command's answer, with the status the original call would have had"),
              (status = 202, description = "Not applied yet")))]
pub async fn command_outcome(
    State(s): State<Arc<AppState>>,
    _caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response> {
    let mut conn = s.pool.acquire().await.context("database")?;
    Ok(match commands::processed(&mut conn, id).await.context("reading a command outcome")? {
        Some(outcome) => respond(outcome),
        None => (StatusCode::ACCEPTED, Json(json!({"command_id": id, "status": "pending"}))).into_response(),
    })
}

#[utoipa::path(get, path = "/v1/awe/admin/deliveries", tag = "admin", params(DeliveryQuery),
    responses((status = 200, description = "Newest first", body = [DeliveryOut])))]
pub async fn deliveries(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<Vec<DeliveryOut>>> {
    caller.require_viewer()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid(&["query", "limit"], "must be between 1 and 500", json!(limit)));
    }
    if let Some(status) = &q.status {
        if !matches!(status.as_str(), "pending" | "delivered" | "exhausted") {
            return Err(ApiError::invalid(
                &["query", "status"],
                "must be pending, delivered or exhausted",
                json!(status),
            ));
        }
    }
    let filter = webhooks::DeliveryFilter {
        status: q.status.as_deref(),
        request_id: q.request_id,
        event_type: q.event_type.as_deref(),
        since: q.since,
        until: q.until,
        limit,
        offset: super::extract::offset(q.offset)?,
    };
    let mut conn = s.pool.acquire().await.context("database")?;
    Ok(Json(webhooks::list(&mut conn, &filter).await.context("listing deliveries")?))
}

/// Added: one delivery, the body it sends, and every attempt so far.
#[utoipa::path(get, path = "/v1/awe/admin/deliveries/{delivery_id}", tag = "admin",
    params(("delivery_id" = Uuid, Path)),
    responses((status = 200, body = DeliveryDetailOut), (status = 404, description = "AWE-007: no such delivery")))]
pub async fn delivery(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<DeliveryDetailOut>> {
    caller.require_viewer()?;
    let mut conn = s.pool.acquire().await.context("database")?;
    let delivery = webhooks::get(&mut conn, id)
        .await
        .context("reading a delivery")?
        .ok_or_else(|| ApiError::not_found(code::INVALID_STATE, format!("Delivery {id} not found")))?;
    let events = webhooks::events_of(&mut conn, &[id]).await.context("reading the delivered event")?;
    let body_raw = events.first().map(|(_, e)| String::from_utf8_lossy(&e.body()).into_owned()).unwrap_or_default();
    let body = serde_json::from_str(&body_raw).unwrap_or(serde_json::Value::Null);
    let attempts = webhooks::attempts(&mut conn, id).await.context("reading attempts")?;
    Ok(Json(DeliveryDetailOut { delivery, body, body_raw, attempts }))
}

fn pending(command_id: Uuid) -> super::dispatch::Pending {
    super::dispatch::Pending {
        location: format!("/v1/awe/commands/{command_id}"),
        body: json!({"command_id": command_id, "status": "accepted"}),
    }
}

#[utoipa::path(post, path = "/v1/awe/admin/deliveries/{delivery_id}/retry", tag = "admin",
    params(("delivery_id" = Uuid, Path)),
    responses((status = 200, description = "Pending again, attempt 0; sent again at once", body = DeliveryOut),
              (status = 404, description = "AWE-007: no such delivery"), (status = 409, description = "AWE-007: already delivered")))]
pub async fn retry(State(s): State<Arc<AppState>>, caller: Caller, Path(delivery_id): Path<Uuid>) -> Result<Response> {
    let actor = caller.require_admin()?;
    let id = Uuid::now_v7();
    let command = Command::DeliveryRetry {
        delivery_id: Some(delivery_id),
        request_id: None,
        since: None,
        until: None,
        event_ids: Vec::new(),
    };
    s.dispatch(id, actor, command, pending(id)).await
}

#[utoipa::path(post, path = "/v1/awe/admin/deliveries/retry", tag = "admin", request_body = BulkRetryIn,
    responses((status = 200, description = "`{retried, delivery_ids}`: the exhausted deliveries sent again"),
              (status = 422, description = "Neither a request nor a time range")))]
pub async fn retry_bulk(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    body: super::extract::Body<BulkRetryIn>,
) -> Result<Response> {
    let actor = caller.require_admin()?;
    let b = body.value;
    if b.request_id.is_none() && b.since.is_none() && b.until.is_none() {
        return Err(ApiError::invalid(&["body"], "name a request_id or a time range (since, until)", json!(null)));
    }
    let id = Uuid::now_v7();
    let command = Command::DeliveryRetry {
        delivery_id: None,
        request_id: b.request_id,
        since: b.since,
        until: b.until,
        event_ids: Vec::new(),
    };
    s.dispatch(id, actor, command, pending(id)).await
}

#[utoipa::path(post, path = "/v1/awe/admin/requests/{request_id}/resolve", tag = "admin",
    params(("request_id" = Uuid, Path)),
    responses((status = 200, description = "The stages waiting for resolution were sent to resolve again"),
              (status = 404, description = "AWE-003"), (status = 409, description = "AWE-007: nothing waits, or the request is finished")))]
pub async fn redrive(State(s): State<Arc<AppState>>, caller: Caller, Path(request_id): Path<Uuid>) -> Result<Response> {
    let actor = caller.require_admin()?;
    let id = Uuid::now_v7();
    s.dispatch(id, actor, Command::StageRedrive { request_id }, pending(id)).await
}
