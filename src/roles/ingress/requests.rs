//! `/v1/awe/requests`.

use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::auth::Caller;
use super::dispatch::Pending;
use super::extract::{Body, Path, Query};
use super::AppState;
use crate::adapters::store::{commands, reads};
use crate::contract::checks::{idempotency_mismatch, validate_create};
use crate::contract::command::{Command, IdempotencyClaim, Outcome};
use crate::contract::error::{code, ApiError, Result};
use crate::contract::wire::{CancelIn, CreateRequestIn, CreateRequestOut, EventOut, RequestOut, RequestQuery};
use crate::domain::RequestStatus;

/// Namespace of command ids derived from an `Idempotency-Key`.
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x6177_652d_6964_656d_706f_7465_6e63_7931);

#[utoipa::path(post, path = "/v1/awe/requests", tag = "requests", request_body = CreateRequestIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response; scoped to the calling client")),
    responses((status = 201, body = CreateRequestOut), (status = 202, description = "Accepted; the outcome follows by webhook"),
              (status = 404, description = "AWE-001: no active policy"), (status = 409, description = "AWE-009: key reused with another body"),
              (status = 422, description = "The body is invalid, or its context lacks a key the active version's expected_context requires or holds one of the wrong type: one item per key, located at [\"body\", \"context\", <key>...]")))]
pub async fn create(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    body: Body<CreateRequestIn>,
) -> Result<Response> {
    let actor = &caller.0;
    validate_create(&body.value)?;
    let claim = match headers.get("idempotency-key") {
        None => None,
        Some(value) => {
            let key =
                value.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= 255).ok_or_else(|| {
                    ApiError::invalid(
                        &["header", "Idempotency-Key"],
                        "must be 1 to 255 visible ASCII characters",
                        json!(null),
                    )
                })?;
            let body_hash = hex::encode(Sha256::digest(serde_json::to_vec(&body.raw).unwrap_or_default()));
            Some(IdempotencyClaim { client: actor.sub.clone(), key: key.to_owned(), body_hash })
        }
    };
    let (command_id, request_id) = match &claim {
        Some(claim) => {
            let mut conn = s.pool.acquire().await.context("database")?;
            if let Some(stored) =
                commands::idempotency(&mut conn, &claim.client, &claim.key).await.context("idempotency lookup")?
            {
                if stored.body_hash != claim.body_hash {
                    return Err(idempotency_mismatch(&claim.key));
                }
                let status = StatusCode::from_u16(stored.status_code as u16).unwrap_or(StatusCode::CREATED);
                return Ok((status, Json(stored.response)).into_response());
            }
            let command_id = idempotent_command_id(&mut conn, claim).await?;
            (command_id, Uuid::new_v5(&command_id, b"request"))
        }
        None => (Uuid::now_v7(), Uuid::now_v7()),
    };
    crate::adapters::trace::set_request(request_id);
    s.contracts.check(&s.pool, &body.value.policy_key, &body.value.context).await?;
    let pending = Pending {
        location: format!("/v1/awe/requests/{request_id}"),
        body: json!({"request_id": request_id, "status": "pending", "current_stage_order": 1, "tasks": []}),
    };
    let command = Command::RequestCreate { request_id, request: body.value, idempotency: claim };
    s.dispatch_creation(command_id, actor, command, pending).await
}

/// Refused attempts a key can have before its retries stop collapsing.
const MAX_REFUSED_ATTEMPTS: u32 = 64;

/// The command id of a creation with an `Idempotency-Key`. The same client,
/// key and body make the same command, so racing duplicates collapse into one
/// message and one request. A refusal is never what a later retry gets back
/// (spec 002 stores the response "on first success"): once an attempt's
/// command was refused, the next attempt is a command of its own, derived in
/// turn, so every retry after the same refusal is still the same command.
/// The same holds after a key retired (`idempotency.retention_hours`): its
/// success is still recorded, but with the key gone a retry creates anew.
async fn idempotent_command_id(conn: &mut sqlx::PgConnection, claim: &IdempotencyClaim) -> Result<Uuid> {
    let seed = format!("{}\u{0}{}\u{0}{}", claim.client, claim.key, claim.body_hash);
    let first = Uuid::new_v5(&IDEMPOTENCY_NAMESPACE, seed.as_bytes());
    let mut id = first;
    for attempt in 1..=MAX_REFUSED_ATTEMPTS {
        let next = Uuid::new_v5(&first, &attempt.to_be_bytes());
        match commands::processed(conn, id).await.context("reading a command outcome")? {
            Some(Outcome::Error { .. }) => id = next,
            // A success writes its key in the same statement, so a success
            // without its key is one whose key retired.
            Some(Outcome::Ok { .. })
                if commands::idempotency(conn, &claim.client, &claim.key)
                    .await
                    .context("idempotency lookup")?
                    .is_none() =>
            {
                id = next
            }
            _ => return Ok(id),
        }
    }
    Ok(Uuid::now_v7())
}

#[utoipa::path(get, path = "/v1/awe/requests", tag = "requests", params(RequestQuery),
    responses((status = 200, description = "Newest first", body = [RequestOut])))]
pub async fn search(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<RequestQuery>,
) -> Result<Json<Vec<RequestOut>>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(&["query", "limit"], "must be between 1 and 100", json!(limit)));
    }
    if let Some(status) = &q.status {
        if RequestStatus::parse(status).is_none() {
            return Err(ApiError::invalid(
                &["query", "status"],
                "must be one of pending, in_review, approved, rejected, cancelled, expired",
                json!(status),
            ));
        }
    }
    // A caller service sees its own requests; viewers and admins see all.
    let owner = (!caller.0.is_viewer()).then_some(caller.0.sub.as_str());
    let filter = reads::RequestFilter {
        artifact_type: q.artifact_type.as_deref(),
        artifact_id: q.artifact_id.as_deref(),
        status: q.status.as_deref(),
        source_service: owner,
        policy_key: q.policy_key.as_deref(),
        requester: q.requester.as_deref(),
        created_since: q.created_since,
        created_until: q.created_until,
        limit,
        offset: super::extract::offset(q.offset)?,
    };
    let mut conn = s.pool.acquire().await.context("database")?;
    let rows = reads::search_requests(&mut conn, &filter).await.context("searching requests")?;
    Ok(Json(rows.iter().map(|r| r.out()).collect()))
}

#[utoipa::path(get, path = "/v1/awe/requests/{request_id}", tag = "requests", params(("request_id" = Uuid, Path)),
    responses((status = 200, body = RequestOut), (status = 404, description = "AWE-003")))]
pub async fn get(State(s): State<Arc<AppState>>, _caller: Caller, Path(id): Path<Uuid>) -> Result<Json<RequestOut>> {
    let mut conn = s.pool.acquire().await.context("database")?;
    let row = reads::request(&mut conn, id)
        .await
        .context("reading request")?
        .ok_or_else(|| ApiError::not_found(code::REQUEST_NOT_FOUND, format!("Request {id} not found")))?;
    let mut out = row.out();
    out.stages = Some(super::progress::stages(&s, &mut conn, &row).await?);
    Ok(Json(out))
}

#[utoipa::path(post, path = "/v1/awe/requests/{request_id}/cancel", tag = "requests", request_body = CancelIn,
    params(("request_id" = Uuid, Path)),
    responses((status = 200, body = RequestOut), (status = 403, description = "Neither the creating service nor an admin"),
              (status = 404, description = "AWE-003"), (status = 409, description = "AWE-007: already terminal")))]
pub async fn cancel(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
    body: Body<CancelIn>,
) -> Result<Response> {
    if let Some(reason) = &body.value.reason {
        if reason.chars().count() > 1024 {
            return Err(ApiError::invalid(&["body", "reason"], "must be at most 1024 characters", json!(null)));
        }
    }
    let command_id = Uuid::now_v7();
    let pending = Pending {
        location: format!("/v1/awe/commands/{command_id}"),
        body: json!({"command_id": command_id, "status": "accepted"}),
    };
    s.dispatch(command_id, &caller.0, Command::RequestCancel { request_id: id, reason: body.value.reason }, pending)
        .await
}

#[utoipa::path(get, path = "/v1/awe/requests/{request_id}/events", tag = "requests", params(("request_id" = Uuid, Path)),
    responses((status = 200, description = "Oldest first; [] for an unknown request", body = [EventOut])))]
pub async fn events(
    State(s): State<Arc<AppState>>,
    _caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<EventOut>>> {
    let mut conn = s.pool.acquire().await.context("database")?;
    Ok(Json(reads::events(&mut conn, id).await.context("reading events")?))
}
