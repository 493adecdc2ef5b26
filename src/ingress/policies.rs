//! `/v1/awe/policies`: reads answer from PostgreSQL, writes go to the engine.

use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Caller;
use super::dispatch::Pending;
use super::extract::{Body, Path};
use super::AppState;
use crate::command::Command;
use crate::domain::{Ids, PolicyIn};
use crate::engine::Resolution;
use crate::error::{code, ApiError, Result};
use crate::resolver::CompiledPolicy;
use crate::store::policies;
use crate::wire::{PolicyOut, PolicyVersionOut};

fn pending(key: &str, id: Uuid) -> Pending {
    let _ = key;
    Pending { location: format!("/v1/awe/commands/{id}"), body: json!({"command_id": id, "status": "accepted"}) }
}

/// Parses at the edge so a bad document never reaches the bus.
fn check(doc: &PolicyIn) -> Result<()> {
    doc.parse(&mut Ids::new(Uuid::nil())).map(|_| ()).map_err(ApiError::bad_policy)
}

#[utoipa::path(get, path = "/v1/awe/policies", tag = "policies",
    responses((status = 200, description = "The newest version of every key", body = [PolicyOut])))]
pub async fn list(State(s): State<Arc<AppState>>, caller: Caller) -> Result<Json<Vec<PolicyOut>>> {
    caller.require_viewer()?;
    let mut conn = s.pool.acquire().await.context("database")?;
    let rows = policies::latest_rows(&mut conn).await.context("listing policies")?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(policies::load(&mut conn, row).await?.out());
    }
    Ok(Json(out))
}

#[utoipa::path(post, path = "/v1/awe/policies", tag = "policies", request_body = PolicyIn,
    responses((status = 201, body = PolicyOut), (status = 400, description = "AWE-010: the document names the offending field"),
              (status = 409, description = "AWE-002: the key exists")))]
pub async fn create(State(s): State<Arc<AppState>>, caller: Caller, body: Body<PolicyIn>) -> Result<Response> {
    let actor = caller.require_admin()?;
    check(&body.value)?;
    let id = Uuid::now_v7();
    let key = body.value.policy_key.clone();
    s.dispatch(id, actor, Command::PolicyCreate { policy: body.value }, pending(&key, id)).await
}

#[utoipa::path(get, path = "/v1/awe/policies/{policy_key}/versions", tag = "policies",
    params(("policy_key" = String, Path)),
    responses((status = 200, body = [PolicyVersionOut]), (status = 404, description = "AWE-001")))]
pub async fn versions(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(key): Path<String>,
) -> Result<Json<Vec<PolicyVersionOut>>> {
    caller.require_viewer()?;
    let mut conn = s.pool.acquire().await.context("database")?;
    let list = policies::versions(&mut conn, &key).await.context("listing versions")?;
    if list.is_empty() {
        return Err(ApiError::not_found(code::POLICY_NOT_FOUND, format!("Policy '{key}' not found")));
    }
    Ok(Json(list))
}

#[utoipa::path(get, path = "/v1/awe/policies/{policy_key}/versions/{version}", tag = "policies",
    params(("policy_key" = String, Path), ("version" = i32, Path)),
    responses((status = 200, body = PolicyOut), (status = 404, description = "AWE-001")))]
pub async fn get(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path((key, version)): Path<(String, i32)>,
) -> Result<Json<PolicyOut>> {
    caller.require_viewer()?;
    Ok(Json(load(&s, &key, version).await?.out()))
}

async fn load(s: &AppState, key: &str, version: i32) -> Result<policies::Policy> {
    let mut conn = s.pool.acquire().await.context("database")?;
    let row = policies::row(&mut conn, key, version).await.context("policy lookup")?.ok_or_else(|| {
        ApiError::not_found(code::POLICY_NOT_FOUND, format!("Policy '{key}' version {version} not found"))
    })?;
    Ok(policies::load(&mut conn, row).await?)
}

#[utoipa::path(put, path = "/v1/awe/policies/{policy_key}", tag = "policies", request_body = PolicyIn,
    params(("policy_key" = String, Path)),
    responses((status = 201, description = "A new draft version", body = PolicyOut), (status = 400, description = "AWE-010"), (status = 404, description = "AWE-001")))]
pub async fn add_version(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(key): Path<String>,
    body: Body<PolicyIn>,
) -> Result<Response> {
    let actor = caller.require_admin()?;
    same_key(&key, &body.value)?;
    check(&body.value)?;
    let id = Uuid::now_v7();
    s.dispatch(id, actor, Command::PolicyAddVersion { policy_key: key.clone(), policy: body.value }, pending(&key, id))
        .await
}

#[utoipa::path(patch, path = "/v1/awe/policies/{policy_key}/versions/{version}", tag = "policies", request_body = PolicyIn,
    params(("policy_key" = String, Path), ("version" = i32, Path)),
    responses((status = 200, body = PolicyOut), (status = 409, description = "AWE-007: not a draft")))]
pub async fn update(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path((key, version)): Path<(String, i32)>,
    body: Body<PolicyIn>,
) -> Result<Response> {
    let actor = caller.require_admin()?;
    same_key(&key, &body.value)?;
    check(&body.value)?;
    let id = Uuid::now_v7();
    s.dispatch(
        id,
        actor,
        Command::PolicyUpdate { policy_key: key.clone(), version, policy: body.value },
        pending(&key, id),
    )
    .await
}

#[utoipa::path(post, path = "/v1/awe/policies/{policy_key}/versions/{version}/activate", tag = "policies",
    params(("policy_key" = String, Path), ("version" = i32, Path)),
    responses((status = 200, body = PolicyOut), (status = 404, description = "AWE-001")))]
pub async fn activate(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path((key, version)): Path<(String, i32)>,
) -> Result<Response> {
    let actor = caller.require_admin()?;
    let id = Uuid::now_v7();
    s.dispatch(id, actor, Command::PolicyActivate { policy_key: key.clone(), version }, pending(&key, id)).await
}

#[utoipa::path(post, path = "/v1/awe/policies/{policy_key}/versions/{version}/deactivate", tag = "policies",
    params(("policy_key" = String, Path), ("version" = i32, Path)),
    responses((status = 200, body = PolicyOut), (status = 409, description = "AWE-007: not active")))]
pub async fn deactivate(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path((key, version)): Path<(String, i32)>,
) -> Result<Response> {
    let actor = caller.require_admin()?;
    let id = Uuid::now_v7();
    s.dispatch(id, actor, Command::PolicyDeactivate { policy_key: key.clone(), version }, pending(&key, id)).await
}

fn same_key(key: &str, doc: &PolicyIn) -> Result<()> {
    if doc.policy_key == key {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            code::BAD_POLICY,
            format!("policy_key: the body names '{}' but the path names '{key}'", doc.policy_key),
        ))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SimulateIn {
    #[serde(default = "empty")]
    #[schema(value_type = Object)]
    pub context: Value,
}

fn empty() -> Value {
    json!({})
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimulatedStage {
    pub stage_order: i32,
    pub name: String,
    pub mode: String,
    pub mode_value: Option<i32>,
    pub resolved_approvers: Vec<String>,
    pub skipped: bool,
    pub skip_reason: Option<String>,
    /// Added: approvers and observers apart, and who is required.
    pub approvers: Vec<String>,
    pub observers: Vec<String>,
    pub required_approvers: Vec<String>,
    pub parallel_group: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimulateOut {
    pub policy_id: Uuid,
    pub policy_version: i32,
    pub stages: Vec<SimulatedStage>,
}

#[utoipa::path(post, path = "/v1/awe/policies/{policy_key}/versions/{version}/simulate", tag = "policies",
    request_body = SimulateIn, params(("policy_key" = String, Path), ("version" = i32, Path)),
    responses((status = 200, body = SimulateOut), (status = 404, description = "AWE-001"), (status = 503, description = "AWE-007: a resolver failed")))]
pub async fn simulate(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path((key, version)): Path<(String, i32)>,
    body: Body<SimulateIn>,
) -> Result<Json<SimulateOut>> {
    caller.require_viewer()?;
    if !body.value.context.is_object() {
        return Err(ApiError::invalid(&["body", "context"], "must be a JSON object", body.value.context.clone()));
    }
    let policy = load(&s, &key, version).await?;
    let (policy_id, policy_version) = (policy.row.id, policy.row.version);
    let compiled =
        CompiledPolicy::compile(policy).map_err(|e| anyhow::anyhow!("stored policy does not compile: {e}"))?;
    let mut stages = Vec::new();
    for stage in &compiled.policy.def.stages {
        let base = SimulatedStage {
            stage_order: stage.stage_order,
            name: stage.name.clone(),
            mode: stage.mode.as_str().into(),
            mode_value: stage.mode_value,
            resolved_approvers: Vec::new(),
            skipped: false,
            skip_reason: None,
            approvers: Vec::new(),
            observers: Vec::new(),
            required_approvers: Vec::new(),
            parallel_group: stage.parallel_group,
        };
        stages.push(match compiled.resolve_stage(stage.stage_order, &body.value.context) {
            Resolution::Skip => SimulatedStage { skipped: true, skip_reason: Some("skip_if".into()), ..base },
            Resolution::Failed { reason } => {
                return Err(ApiError::unavailable(code::INVALID_STATE, format!("Resolver failed: {reason}")));
            }
            Resolution::Resolved { approvers, observers } => {
                let mut all: Vec<String> = approvers.iter().map(|a| a.user.clone()).collect();
                for o in &observers {
                    if !all.contains(&o.user) {
                        all.push(o.user.clone());
                    }
                }
                SimulatedStage {
                    resolved_approvers: all,
                    required_approvers: approvers.iter().filter(|a| a.required).map(|a| a.user.clone()).collect(),
                    approvers: approvers.into_iter().map(|a| a.user).collect(),
                    observers: observers.into_iter().map(|o| o.user).collect(),
                    ..base
                }
            }
        });
    }
    Ok(Json(SimulateOut { policy_id, policy_version, stages }))
}
