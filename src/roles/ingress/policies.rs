//! `/v1/awe/policies`: reads answer from PostgreSQL, writes go to the engine.

use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Caller;
use super::dispatch::Pending;
use super::extract::{Body, Path};
use super::AppState;
use crate::adapters::store::policies::CompiledPolicy;
use crate::adapters::store::{delegations, policies};
use crate::contract::command::Command;
use crate::contract::error::{code, ApiError, Result};
use crate::contract::wire::{PolicyOut, PolicyVersionOut};
use crate::domain::{Ids, PolicyIn};
use crate::domain::{OnEmpty, RuleKind};
use crate::machine::{quorum, Assignee};

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
    responses((status = 200, body = PolicyOut), (status = 400, description = "AWE-010: the document names the offending field"),
        (status = 404, description = "AWE-001"), (status = 409, description = "AWE-007: not a draft")))]
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
    responses((status = 200, body = PolicyOut), (status = 404, description = "AWE-001"), (status = 409, description = "AWE-007: not active")))]
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
    /// Added: who would ask, so `forbid_self_approval` can be shown.
    #[serde(default)]
    pub requester: Option<String>,
    /// Added: when the request would be made (delegation windows); now by default.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

fn empty() -> Value {
    json!({})
}

/// One rule's share of a stage.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimulatedRule {
    pub rule_id: String,
    pub rule_type: String,
    pub kind: String,
    pub required: bool,
    pub users: Vec<String>,
}

/// A user a delegation sends the task on to.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimulatedDelegation {
    pub from: String,
    pub to: String,
    /// The whole chain, `from` first.
    pub chain: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimulatedRemoval {
    pub user: String,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimulatedStage {
    pub stage_order: i32,
    pub name: String,
    pub mode: String,
    pub mode_value: Option<i32>,
    /// Every rule's users, approvers and observers mixed, before delegation and
    /// segregation of duties (the contract's field).
    pub resolved_approvers: Vec<String>,
    pub skipped: bool,
    pub skip_reason: Option<String>,
    /// Added from here on: the whole path, explained.
    pub parallel_group: Option<i32>,
    /// Position of the stage's group in the run order, from 1.
    pub group_position: usize,
    /// `skip_if` and what it gave: true, false, an error, or no rule.
    pub skip_if: String,
    pub rules: Vec<SimulatedRule>,
    pub delegated: Vec<SimulatedDelegation>,
    pub removed: Vec<SimulatedRemoval>,
    /// Who would get an approver task, after delegation and segregation of duties.
    pub approvers: Vec<String>,
    pub observers: Vec<String>,
    pub required_approvers: Vec<String>,
    pub approvals_needed: usize,
    pub on_empty: String,
    /// What happens when the stage becomes current.
    pub outcome: String,
}

/// A key the policy reads or declares that the sample context falls short on.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContextWarning {
    /// The key, as a JSONLogic path (`beneficiary.district`).
    pub key: String,
    /// `missing` (read but absent), or a declaration's refusal: `missing`
    /// for a required key, the type error's name (`float_type`, …) otherwise.
    pub kind: String,
    /// Where the policy reads it (`stages[0].skip_if`); empty for a key that
    /// is only declared.
    pub read_by: Vec<String>,
    /// Whether `POST /requests` with this context would be refused for it
    /// (the version declares the key in `expected_context`).
    pub refused_on_create: bool,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimulateOut {
    pub policy_id: Uuid,
    pub policy_version: i32,
    pub stages: Vec<SimulatedStage>,
    /// Added: the order groups run in, as lists of stage orders.
    pub groups: Vec<Vec<i32>>,
    /// Added: what the simulation cannot know in advance.
    pub notes: Vec<String>,
    /// Added: every context key the version's JSONLogic reads, sorted.
    pub context_keys: Vec<String>,
    /// Added: keys read or declared that the sample context lacks or holds
    /// with the wrong type, declared or not.
    pub context_warnings: Vec<ContextWarning>,
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
    let input = body.value;
    if !input.context.is_object() {
        return Err(ApiError::invalid(&["body", "context"], "must be a JSON object", input.context.clone()));
    }
    let policy = load(&s, &key, version).await?;
    let (policy_id, policy_version) = (policy.row.id, policy.row.version);
    let compiled =
        CompiledPolicy::compile(policy).map_err(|e| anyhow::anyhow!("stored policy does not compile: {e}"))?;
    let def = &compiled.policy.def;
    let at = input.at.unwrap_or_else(Utc::now);
    let groups = group_order(def);
    let mut conn = s.pool.acquire().await.context("database")?;
    let mut stages = Vec::new();
    for stage in &def.stages {
        let group_position = groups.iter().position(|g| g.contains(&stage.stage_order)).map_or(0, |i| i + 1);
        let skip = compiled.skip_if(stage.stage_order, &input.context);
        let skip_if = match &skip {
            None => "none".to_owned(),
            Some(Ok(true)) => "true: the stage is skipped".to_owned(),
            Some(Ok(false)) => "false".to_owned(),
            Some(Err(e)) => format!("error ({e}): counts as false"),
        };
        let mut rules = Vec::new();
        let mut resolved_approvers: Vec<String> = Vec::new();
        let mut approvers: Vec<Assignee> = Vec::new();
        let mut observers: Vec<Assignee> = Vec::new();
        for rule in &stage.rules {
            let users = match &rule.spec {
                crate::domain::RuleSpec::User { .. } | crate::domain::RuleSpec::Expression { .. } => {
                    compiled.resolve_rule(rule, &input.context)
                }
                // Remote rules are asked now, live: simulate never uses a cache.
                _ => s.remote.resolve(rule, &input.context, true).await,
            }
            .map_err(|e| ApiError::unavailable(code::INVALID_STATE, format!("Resolver failed: {e}")))?;
            for u in &users {
                if !resolved_approvers.contains(u) {
                    resolved_approvers.push(u.clone());
                }
                let list = if rule.kind == RuleKind::Approver { &mut approvers } else { &mut observers };
                match list.iter_mut().find(|a| &a.user == u) {
                    Some(a) => a.required |= rule.required,
                    None => list.push(Assignee { user: u.clone(), required: rule.required, delegated_from: None }),
                }
            }
            rules.push(SimulatedRule {
                rule_id: rule.id.to_string(),
                rule_type: rule.spec.rule_type().as_str().into(),
                kind: rule.kind.as_str().into(),
                required: rule.required,
                users,
            });
        }
        let mut seen = std::collections::HashSet::new();
        let users: Vec<String> =
            approvers.iter().chain(&observers).map(|a| a.user.clone()).filter(|u| seen.insert(u.clone())).collect();
        let routes = delegations::routes(&mut conn, &users, at).await.context("looking up delegations")?;
        let delegated: Vec<SimulatedDelegation> = users
            .iter()
            .filter_map(|u| routes.get(u))
            .map(|chain| SimulatedDelegation {
                from: chain[0].clone(),
                to: chain.last().cloned().unwrap_or_default(),
                chain: chain.clone(),
            })
            .collect();
        let approvers = crate::rules::redirect(&routes, approvers);
        let observers = crate::rules::redirect(&routes, observers);
        let mut removed = Vec::new();
        let mut kept: Vec<Assignee> = Vec::new();
        for a in approvers {
            let own = |u: &str| a.user == u || a.delegated_from.as_deref() == Some(u);
            match &input.requester {
                Some(r) if def.forbid_self_approval && own(r) => removed.push(SimulatedRemoval {
                    user: a.user.clone(),
                    reason: "forbid_self_approval: the requester may not approve their own request".into(),
                }),
                _ => kept.push(a),
            }
        }
        let observers: Vec<String> =
            observers.into_iter().map(|o| o.user).filter(|o| !kept.iter().any(|a| &a.user == o)).collect();
        let approvals_needed = quorum::needed(stage.mode, stage.mode_value, kept.len());
        let outcome = if matches!(skip, Some(Ok(true))) {
            "skipped (skip_if is true); no tasks".to_owned()
        } else if kept.is_empty() {
            match stage.on_empty {
                OnEmpty::Skip => "no approvers: skipped (on_empty = skip)".to_owned(),
                OnEmpty::Block => {
                    "no approvers: the request is rejected with reason no_approvers_resolved (on_empty = block)"
                        .to_owned()
                }
            }
        } else if approvals_needed > kept.len() {
            format!(
                "tasks for {} approver(s), but {} approvals are needed: the stage would reject at once",
                kept.len(),
                approvals_needed
            )
        } else {
            format!(
                "tasks for {} approver(s) and {} observer(s); {} approval(s) complete the stage",
                kept.len(),
                observers.len(),
                approvals_needed
            )
        };
        let skipped = matches!(skip, Some(Ok(true)));
        stages.push(SimulatedStage {
            stage_order: stage.stage_order,
            name: stage.name.clone(),
            mode: stage.mode.as_str().into(),
            mode_value: stage.mode_value,
            resolved_approvers: if skipped { Vec::new() } else { resolved_approvers },
            skipped,
            skip_reason: skipped.then(|| "skip_if".to_owned()),
            parallel_group: stage.parallel_group,
            group_position,
            skip_if,
            rules,
            delegated,
            removed,
            required_approvers: kept.iter().filter(|a| a.required).map(|a| a.user.clone()).collect(),
            approvers: kept.into_iter().map(|a| a.user).collect(),
            observers,
            approvals_needed,
            on_empty: stage.on_empty.as_str().into(),
            outcome,
        });
    }
    let mut notes = Vec::new();
    if def.forbid_repeat_approvers {
        notes.push("forbid_repeat_approvers: whoever approves a stage will be removed from the approvers of every later stage; that depends on decisions not yet made".to_owned());
    }
    if def.forbid_self_approval && input.requester.is_none() {
        notes.push("forbid_self_approval: give `requester` to see who it would remove".to_owned());
    }
    let context_keys = def.context_keys();
    let context_warnings = context_warnings(def, &input.context, &key, policy_version);
    Ok(Json(SimulateOut { policy_id, policy_version, stages, groups, notes, context_keys, context_warnings }))
}

/// What the sample context lacks: every read key that is absent (with where it
/// is read and whether a default covers it), and whatever the declaration
/// would refuse on create.
fn context_warnings(def: &crate::domain::PolicyDef, sample: &Value, key: &str, version: i32) -> Vec<ContextWarning> {
    use crate::domain::context;
    let reads = def.context_reads();
    let declared = def.expected_context.as_ref();
    let refusals =
        declared.map(|e| context::check_context(e, sample, &format!("policy '{key}' v{version}"))).unwrap_or_default();
    let mut warnings = Vec::new();
    for read_key in context::keys(&reads) {
        let sites: Vec<&context::Read> = reads.iter().filter(|r| r.key == read_key).collect();
        let read_by: Vec<String> = sites.iter().map(|r| r.at.clone()).collect();
        if let Some(p) = refusals.iter().find(|p| p.path.join(".") == read_key) {
            warnings.push(ContextWarning {
                key: read_key,
                kind: p.kind.into(),
                read_by,
                refused_on_create: true,
                message: p.message.clone(),
            });
        } else if context::lookup(sample, &read_key).is_none() {
            let message = if sites.iter().all(|r| r.defaulted) {
                format!("`{read_key}` is not in the context; every read of it has a default or checks for it")
            } else {
                format!("`{read_key}` is not in the context; {} reads it as null", read_by.join(", "))
            };
            warnings.push(ContextWarning {
                key: read_key,
                kind: "missing".into(),
                read_by,
                refused_on_create: false,
                message,
            });
        }
    }
    for p in refusals {
        let k = p.path.join(".");
        if !warnings.iter().any(|w| w.key == k) {
            warnings.push(ContextWarning {
                key: k,
                kind: p.kind.into(),
                read_by: Vec::new(),
                refused_on_create: true,
                message: p.message,
            });
        }
    }
    warnings
}

/// Groups in run order: stages sharing a `parallel_group` run together, a
/// null group is a group of one, groups run by their smallest stage order.
fn group_order(def: &crate::domain::PolicyDef) -> Vec<Vec<i32>> {
    let mut groups: Vec<(Option<i32>, Vec<i32>)> = Vec::new();
    for stage in &def.stages {
        match stage.parallel_group.and_then(|g| groups.iter_mut().find(|(k, _)| *k == Some(g))) {
            Some((_, members)) => members.push(stage.stage_order),
            None => groups.push((stage.parallel_group, vec![stage.stage_order])),
        }
    }
    groups.into_iter().map(|(_, members)| members).collect()
}
