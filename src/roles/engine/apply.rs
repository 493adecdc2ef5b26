//! Applying one command inside one transaction.

use std::sync::Arc;

use anyhow::Context as _;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Engine;
use crate::adapters::store::delegations::{self};
use crate::adapters::store::policies::CompiledPolicy;
use crate::adapters::store::policies::{self};
use crate::adapters::store::requests::{self, RequestRow};
use crate::adapters::store::step::{self, StepWrite};
use crate::contract::command::{
    Command, Envelope, IdempotencyClaim, Outcome, PendingAnswer, ResolveJob, ENVELOPE_VERSION,
};
use crate::contract::error::{code, ApiError, Result};
use crate::contract::event::StoredEvent;
use crate::domain::{Actor, Ids};
use crate::machine::{CommentInput, DecisionInput, Machine, Refusal, RequestState, Resolution, StageState, Step};
use crate::rules::redirect;

/// What a command did: its answer and the events it committed.
pub struct Applied {
    pub outcome: Outcome,
    pub events: Vec<StoredEvent>,
    /// The processed-command row was written with the change.
    pub recorded: bool,
    /// The command had been applied before; nothing was written now.
    pub duplicate: bool,
    /// Stages left for the resolver role, to publish after commit.
    pub resolve: Option<ResolveJob>,
    /// A waiting creation this command answers, with its final answer.
    pub answers: Option<(PendingAnswer, Outcome)>,
    /// Escalation rules left for the resolver role, to publish after commit.
    pub escalate: Option<ResolveJob>,
}

impl Applied {
    pub fn answer(status: StatusCode, body: impl serde::Serialize) -> Self {
        Self::of(Outcome::ok(status, body))
    }

    pub fn of(outcome: Outcome) -> Self {
        Self {
            outcome,
            events: Vec::new(),
            recorded: false,
            duplicate: false,
            resolve: None,
            answers: None,
            escalate: None,
        }
    }
}

/// What a request command changed, ready to be written in one statement.
pub(super) struct Change<'a> {
    pub(super) command_id: Uuid,
    pub(super) kind: &'static str,
    pub(super) req: &'a RequestRow,
    pub(super) created: bool,
    pub(super) before: &'a [StageState],
    pub(super) state: &'a RequestState,
    pub(super) step: &'a Step,
    pub(super) idempotency: Option<&'a IdempotencyClaim>,
    /// Stages waiting for the resolver role.
    pub(super) remote: Vec<i32>,
}

impl Engine {
    pub(super) async fn apply(&self, conn: &mut PgConnection, env: &Envelope, now: DateTime<Utc>) -> Result<Applied> {
        let actor = &env.actor;
        let mut ids = Ids::new(env.id);
        match &env.command {
            Command::PolicyCreate { policy } => self.policy_create(conn, policy, actor, &mut ids, now).await,
            Command::PolicyAddVersion { policy_key, policy } => {
                self.policy_add_version(conn, policy_key, policy, actor, &mut ids, now).await
            }
            Command::PolicyUpdate { policy_key, version, policy } => {
                self.policy_update(conn, policy_key, *version, policy, actor, &mut ids, now).await
            }
            Command::PolicyActivate { policy_key, version } => {
                self.policy_activate(conn, policy_key, *version, actor, &mut ids, now).await
            }
            Command::PolicyDeactivate { policy_key, version } => {
                self.policy_deactivate(conn, policy_key, *version, actor, &mut ids, now).await
            }
            Command::RequestCreate { request_id, request, idempotency } => {
                self.request_create(conn, env.id, *request_id, request, idempotency.as_ref(), actor, now).await
            }
            Command::RequestCancel { request_id, reason } => {
                self.request_cancel(conn, env.id, *request_id, reason.clone(), actor, now).await
            }
            Command::TaskClaim { task_id } => self.task_claim(conn, env.id, *task_id, actor, now).await,
            Command::TaskDecide { task_id, decision_id, action, comment, attachments_ref } => {
                let input = DecisionInput {
                    task_id: *task_id,
                    decision_id: *decision_id,
                    action: *action,
                    comment: comment.clone(),
                    attachments_ref: attachments_ref.clone(),
                };
                self.task_decide(conn, env.id, input, actor, now).await
            }
            Command::TaskComment { task_id, comment_id, comment, attachments_ref } => {
                let input = CommentInput {
                    task_id: *task_id,
                    comment_id: *comment_id,
                    comment: comment.clone(),
                    attachments_ref: attachments_ref.clone(),
                };
                self.task_comment(conn, env.id, input, actor, now).await
            }
            Command::TaskReassign { task_id, new_assignee, reason } => {
                self.task_reassign(conn, env.id, *task_id, new_assignee, reason.clone(), actor, now).await
            }
            Command::DelegationCreate { delegation_id, delegation } => {
                self.delegation_create(conn, *delegation_id, delegation, actor, &mut ids, now).await
            }
            Command::DelegationRevoke { delegation_id } => {
                self.delegation_revoke(conn, *delegation_id, actor, &mut ids, now).await
            }
            Command::SecretCreate { secret_id, caller_service, sealed } => {
                self.secret_create(conn, *secret_id, caller_service, sealed, actor, &mut ids, now).await
            }
            Command::SecretRotate { secret_id, new_secret_id, sealed } => {
                self.secret_rotate(conn, *secret_id, *new_secret_id, sealed, actor, &mut ids, now).await
            }
            Command::SecretRevoke { secret_id } => self.secret_revoke(conn, *secret_id, actor, &mut ids, now).await,
            Command::DeliveryRetry { event_ids, .. } if !event_ids.is_empty() => {
                self.delivery_replay(conn, event_ids, actor, &mut ids).await
            }
            Command::DeliveryRetry { delivery_id, request_id, since, until, .. } => {
                self.delivery_retry(conn, *delivery_id, *request_id, *since, *until, actor, &mut ids).await
            }
            Command::StageResolved { request_id, results, escalation: true, .. } => {
                self.escalation_resolved(conn, env.id, *request_id, results, now).await
            }
            Command::StageResolved { request_id, results, answer, .. } => {
                self.stage_resolved(conn, env.id, *request_id, results, answer.as_ref(), now).await
            }
            Command::StageRedrive { request_id } => self.stage_redrive(conn, env.id, *request_id, actor, now).await,
            Command::SlaExpire { request_id } => self.sla_expire(conn, env.id, *request_id, now).await,
            Command::SlaTick { .. } => {
                Err(ApiError::Internal(anyhow::anyhow!("a tick is not applied in one transaction")))
            }
        }
    }

    /// Locks a request and loads its pinned policy and state.
    pub(super) async fn locked(
        &self,
        conn: &mut PgConnection,
        target: Target,
    ) -> Result<(RequestRow, Arc<CompiledPolicy>, RequestState)> {
        let req = match target {
            Target::Request(id) => requests::lock(conn, id)
                .await
                .context("locking request")?
                .ok_or_else(|| ApiError::not_found(code::REQUEST_NOT_FOUND, format!("Request {id} not found")))?,
            Target::Task(id) => requests::lock_by_task(conn, id)
                .await
                .context("locking request")?
                .ok_or_else(|| ApiError::not_found(code::TASK_NOT_FOUND, format!("Task {id} not found")))?,
        };
        let compiled = match self.policies.get(req.policy_id) {
            Some(c) => c,
            None => {
                let row = policies::row_by_id(conn, req.policy_id)
                    .await
                    .context("pinned policy")?
                    .context("pinned policy is missing")?;
                self.compiled_policy(conn, row).await?
            }
        };
        let state = requests::load_state(conn, &req).await?;
        Ok((req, compiled, state))
    }

    pub(super) async fn compiled_policy(
        &self,
        conn: &mut PgConnection,
        row: policies::PolicyRow,
    ) -> Result<Arc<CompiledPolicy>> {
        if let Some(c) = self.policies.get(row.id) {
            return Ok(c);
        }
        let policy = policies::load(conn, row).await?;
        let compiled =
            CompiledPolicy::compile(policy).map_err(|e| anyhow::anyhow!("stored policy does not compile: {e}"))?;
        Ok(self.policies.insert(compiled))
    }

    /// Writes a request command's change, its outcome and its events in one
    /// statement.
    pub(super) async fn commit(&self, conn: &mut PgConnection, c: Change<'_>, outcome: Outcome) -> Result<Applied> {
        let (status_code, response) = match &outcome {
            Outcome::Ok { status, body } => (i32::from(*status), body.clone()),
            Outcome::Error { status, .. } => (i32::from(*status), Value::Null),
        };
        let write = StepWrite {
            command_id: c.command_id,
            command_type: c.kind,
            status_code,
            outcome: serde_json::to_value(&outcome).context("serialising the outcome")?,
            request: c.req,
            insert_request: c.created,
            update_request: !c.created && (!c.step.decisions.is_empty() || !c.step.events.is_empty()),
            stages: c.state.stages.iter().filter(|s| !c.before.contains(s)).collect(),
            new_tasks: c.state.tasks.iter().filter(|t| c.step.created_tasks.contains(&t.id)).collect(),
            search_text: format!("{} {} {}", c.req.artifact_type, c.req.artifact_id, c.req.policy_key),
            updated_tasks: c.state.tasks.iter().filter(|t| c.step.updated_tasks.contains(&t.id)).collect(),
            decisions: &c.step.decisions,
            events: &c.step.events,
            idempotency: c.idempotency.map(|i| (i.client.as_str(), i.key.as_str(), i.body_hash.as_str())),
            response,
            delivery_types: &self.webhook_types,
            traceparent: crate::adapters::trace::current_header(),
        };
        crate::adapters::trace::set_request(c.req.id);
        let applied = step::write(conn, &write).await.context("writing the step")?;
        let events = if applied {
            c.step
                .events
                .iter()
                .map(|e| StoredEvent {
                    id: e.id,
                    request_id: c.req.id,
                    seq: e.seq,
                    event_type: e.event_type.to_owned(),
                    payload: e.payload.clone(),
                    created_at: e.created_at,
                    has_callback: Some(c.req.callback_url.is_some()),
                    traceparent: write.traceparent.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        let resolve = (applied && !c.remote.is_empty()).then(|| ResolveJob {
            v: ENVELOPE_VERSION,
            id: Uuid::new_v5(&c.command_id, b"resolve"),
            request_id: c.req.id,
            stage_orders: c.remote.clone(),
            answer: None,
            escalation: false,
        });
        Ok(Applied { outcome, events, recorded: true, duplicate: !applied, resolve, answers: None, escalate: None })
    }
}

impl<'a> Change<'a> {
    /// A command's change to an existing request.
    pub(super) fn update(
        command_id: Uuid,
        kind: &'static str,
        req: &'a RequestRow,
        before: &'a [StageState],
        state: &'a RequestState,
        step: &'a Step,
        remote: Vec<i32>,
    ) -> Self {
        Self { command_id, kind, req, created: false, before, state, step, idempotency: None, remote }
    }
}

/// Which row to lock: a request by its id, or the request a task belongs to.
pub(super) enum Target {
    Request(Uuid),
    Task(Uuid),
}

/// Resolves inline whatever stages the machine asks for, until it asks for none.
pub(super) async fn settle(
    conn: &mut PgConnection,
    machine: &mut Machine<'_>,
    compiled: &CompiledPolicy,
    state: &mut RequestState,
    context: &Value,
    mut step: Step,
) -> Result<(Step, Vec<i32>)> {
    let mut remote = Vec::new();
    // Every round starts at least one stage or ends the request; bounded by the stage count.
    for _ in 0..=compiled.policy.def.stages.len() {
        let mut results = Vec::with_capacity(step.resolve.len());
        for order in std::mem::take(&mut step.resolve) {
            let skipped = matches!(compiled.skip_if(order, context), Some(Ok(true)));
            if compiled.needs_remote(order) && !skipped {
                remote.push(order);
                continue;
            }
            let resolution = compiled.resolve_stage(order, context);
            results.push((order, delegate(conn, resolution, machine.now).await?));
        }
        if results.is_empty() {
            break;
        }
        let next = machine.resolved(state, results).map_err(refusal)?;
        step.absorb(next);
    }
    Ok((step, remote))
}

/// Redirects resolved users who are away to their delegates (following
/// chains), recording whom each task was delegated from.
pub async fn delegate(conn: &mut PgConnection, resolution: Resolution, at: DateTime<Utc>) -> Result<Resolution> {
    let Resolution::Resolved { approvers, observers } = resolution else { return Ok(resolution) };
    let users: Vec<String> = approvers.iter().chain(&observers).map(|a| a.user.clone()).collect();
    if users.is_empty() {
        return Ok(Resolution::Resolved { approvers, observers });
    }
    let routes = delegations::routes(conn, &users, at).await.context("looking up delegations")?;
    Ok(Resolution::Resolved { approvers: redirect(&routes, approvers), observers: redirect(&routes, observers) })
}

pub(super) fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::TaskNotFound(_) => ApiError::not_found(code::TASK_NOT_FOUND, r.to_string()),
        Refusal::NotAssignee => ApiError::awe(StatusCode::FORBIDDEN, code::FORBIDDEN, r.to_string()),
        Refusal::TaskNotOpen(_)
        | Refusal::TaskClosed(_)
        | Refusal::RequestTerminal(_)
        | Refusal::StageNotResolving(_)
        | Refusal::SameAssignee
        | Refusal::Ineligible(_) => ApiError::conflict(code::INVALID_STATE, r.to_string()),
    }
}

pub(super) fn require_admin(actor: &Actor) -> Result<()> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden("Role `AWE_ADMIN` required"))
    }
}
