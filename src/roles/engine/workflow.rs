//! Request and task commands (create, cancel, claim, decide, reassign), and
//! the SLA expiry of one request.

use anyhow::Context as _;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::apply::*;
use super::Engine;
use crate::adapters::store::audit::{self, AuditEntry};
use crate::adapters::store::commands;
use crate::adapters::store::policies::{self};
use crate::adapters::store::requests::{task_out, RequestRow};
use crate::adapters::store::secrets;
use crate::contract::checks::{check_context, idempotency_mismatch, validate_create, MAX_ID_LEN};
use crate::contract::command::{IdempotencyClaim, Outcome, PendingAnswer, ResolveJob, StageResult, ENVELOPE_VERSION};
use crate::contract::error::{code, ApiError, Result};
use crate::contract::wire::{CommentOut, CreateRequestIn, CreateRequestOut, DecisionOut};
use crate::domain::{Actor, OnBreach};
use crate::machine::{CommentInput, DecisionInput, Machine, RequestState, Resolution, StageStatus, Step};

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn request_create(
        &self,
        conn: &mut PgConnection,
        command_id: Uuid,
        request_id: Uuid,
        input: &CreateRequestIn,
        idempotency: Option<&IdempotencyClaim>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        if let Some(claim) = idempotency {
            if let Some(stored) =
                commands::idempotency(conn, &claim.client, &claim.key).await.context("idempotency lookup")?
            {
                return replay(stored, claim);
            }
        }
        validate_create(input)?;
        if let Some(secret_id) = input.callback_secret_id {
            let usable = secrets::get(conn, secret_id)
                .await
                .context("secret lookup")?
                .filter(|s| s.status != "revoked" && (s.caller_service == actor.sub || actor.is_admin()));
            if usable.is_none() {
                return Err(ApiError::invalid(
                    &["body", "callback_secret_id"],
                    "no usable callback secret of yours has this id (unknown, revoked, or another caller's)",
                    json!(secret_id),
                ));
            }
        }
        let row =
            policies::active_row(conn, &input.policy_key).await.context("active policy lookup")?.ok_or_else(|| {
                ApiError::not_found(code::POLICY_NOT_FOUND, format!("No active policy for '{}'", input.policy_key))
            })?;
        let compiled = self.compiled_policy(conn, row).await?;
        let policy = &compiled.policy;
        if let Some(expected) = &policy.def.expected_context {
            check_context(expected, &policy.row.policy_key, policy.row.version, &input.context)?;
        }
        let mut req = RequestRow {
            id: request_id,
            policy_id: policy.row.id,
            policy_key: policy.row.policy_key.clone(),
            policy_version: policy.row.version,
            artifact_type: input.artifact_type.clone(),
            artifact_id: input.artifact_id.clone(),
            source_service: actor.sub.clone(),
            requester: input.requester.clone().filter(|r| !r.trim().is_empty()).unwrap_or_else(|| actor.sub.clone()),
            context: input.context.clone(),
            status: "pending".into(),
            current_stage_order: 1,
            last_seq: 0,
            callback_url: input.callback_url.clone(),
            callback_secret_id: input.callback_secret_id,
            completed_at: None,
            created_at: now,
            updated_at: now,
        };
        let mut state = RequestState::new(
            req.id,
            &policy.def,
            policy.row.version,
            req.artifact_type.clone(),
            req.artifact_id.clone(),
            req.requester.clone(),
        );
        let mut machine = Machine::new(&policy.def, now, command_id);
        let step = machine.start(&mut state, &actor.sub);
        let (step, remote) = settle(conn, &mut machine, &compiled, &mut state, &req.context, step).await?;
        req.absorb(&state, now);
        let out = creation_out(&req, &state);
        let change = Change {
            remote,
            command_id,
            kind: "request.create",
            req: &req,
            created: true,
            before: &[],
            state: &state,
            step: &step,
            idempotency,
        };
        self.commit(conn, change, Outcome::ok(StatusCode::CREATED, &out)).await
    }

    pub(super) async fn request_cancel(
        &self,
        conn: &mut PgConnection,
        command_id: Uuid,
        request_id: Uuid,
        reason: Option<String>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let (mut req, compiled, mut state) = self.locked(conn, Target::Request(request_id)).await?;
        let before = state.stages.clone();
        if !(actor.is_admin() || actor.sub == req.source_service) {
            return Err(ApiError::forbidden("Only the service that created the request or an AWE_ADMIN may cancel it"));
        }
        let prior = req.status.clone();
        let mut machine = Machine::new(&compiled.policy.def, now, command_id);
        let step = machine.cancel(&mut state, &actor.sub, reason.clone()).map_err(refusal)?;
        req.absorb(&state, now);
        let entry = AuditEntry {
            actor,
            action: "request.cancel",
            resource_type: "request",
            resource_id: req.id.to_string(),
            summary: format!("Cancelled request {} for {}", req.id, req.artifact_id),
            before: Some(json!({"status": prior})),
            after: Some(json!({"status": "cancelled"})),
            metadata: Some(json!({"reason": reason, "artifact_id": req.artifact_id})),
        };
        let outcome = Outcome::ok(StatusCode::OK, req.out());
        let change = Change::update(command_id, "request.cancel", &req, &before, &state, &step, Vec::new());
        let applied = self.commit(conn, change, outcome).await?;
        if !applied.duplicate {
            audit::record(conn, machine.ids.next_id(), entry).await.context("writing audit row")?;
        }
        Ok(applied)
    }

    pub(super) async fn task_claim(
        &self,
        conn: &mut PgConnection,
        command_id: Uuid,
        task_id: Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let (mut req, compiled, mut state) = self.locked(conn, Target::Task(task_id)).await?;
        let before = state.stages.clone();
        let mut machine = Machine::new(&compiled.policy.def, now, command_id);
        let step = machine.claim(&mut state, task_id, actor).map_err(refusal)?;
        req.absorb(&state, now);
        let task = state.task(task_id).context("claimed task vanished")?;
        let outcome = Outcome::ok(StatusCode::OK, task_out(task, req.id));
        let change = Change::update(command_id, "task.claim", &req, &before, &state, &step, Vec::new());
        self.commit(conn, change, outcome).await
    }

    pub(super) async fn task_decide(
        &self,
        conn: &mut PgConnection,
        command_id: Uuid,
        input: DecisionInput,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let (mut req, compiled, mut state) = self.locked(conn, Target::Task(input.task_id)).await?;
        let before = state.stages.clone();
        let mut machine = Machine::new(&compiled.policy.def, now, command_id);
        let step = machine.decide(&mut state, input, actor).map_err(refusal)?;
        let (step, remote) = settle(conn, &mut machine, &compiled, &mut state, &req.context, step).await?;
        req.absorb(&state, now);
        let d = step.decisions.first().context("a decision step records its decision")?;
        let out = DecisionOut {
            id: d.id,
            request_id: req.id,
            task_id: d.task_id,
            stage_order: d.stage_order,
            actor: d.actor.clone(),
            action: d.action.as_str().into(),
            comment: d.comment.clone(),
            attachments_ref: d.attachments_ref.clone(),
            created_at: d.created_at,
        };
        let change = Change::update(command_id, "task.decide", &req, &before, &state, &step, remote);
        self.commit(conn, change, Outcome::ok(StatusCode::CREATED, out)).await
    }

    pub(super) async fn task_comment(
        &self,
        conn: &mut PgConnection,
        command_id: Uuid,
        input: CommentInput,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let (mut req, compiled, mut state) = self.locked(conn, Target::Task(input.task_id)).await?;
        let before = state.stages.clone();
        let mut machine = Machine::new(&compiled.policy.def, now, command_id);
        let step = machine.comment(&mut state, input.clone(), actor).map_err(refusal)?;
        req.absorb(&state, now);
        let stage_order = state.task(input.task_id).map_or(req.current_stage_order, |t| t.stage_order);
        let out = CommentOut {
            id: input.comment_id,
            request_id: req.id,
            task_id: input.task_id,
            stage_order,
            actor: actor.sub.clone(),
            comment: input.comment,
            attachments_ref: input.attachments_ref,
            created_at: now,
        };
        let change = Change::update(command_id, "task.comment", &req, &before, &state, &step, Vec::new());
        self.commit(conn, change, Outcome::ok(StatusCode::CREATED, out)).await
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn task_reassign(
        &self,
        conn: &mut PgConnection,
        command_id: Uuid,
        task_id: Uuid,
        to: &str,
        reason: Option<String>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        if to.trim().is_empty() || to.chars().count() > MAX_ID_LEN {
            return Err(ApiError::invalid(
                &["body", "new_assignee"],
                format!("must be 1 to {MAX_ID_LEN} characters"),
                json!(to),
            ));
        }
        let (mut req, compiled, mut state) = self.locked(conn, Target::Task(task_id)).await?;
        let before = state.stages.clone();
        let old = state
            .task(task_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(code::TASK_NOT_FOUND, format!("Task {task_id} not found")))?;
        let mut machine = Machine::new(&compiled.policy.def, now, command_id);
        let (step, new_id) = machine.reassign(&mut state, task_id, to, &actor.sub, reason.clone()).map_err(refusal)?;
        req.absorb(&state, now);
        let new_task = state.task(new_id).context("the new task")?;
        let outcome = Outcome::ok(StatusCode::OK, task_out(new_task, req.id));
        let entry = AuditEntry {
            actor,
            action: "task.reassign",
            resource_type: "task",
            resource_id: task_id.to_string(),
            summary: format!("Reassigned task {task_id} from {} to {to}", old.assignee),
            before: Some(json!({"assignee": old.assignee, "status": old.status.as_str()})),
            after: Some(json!({"assignee": to, "status": "open", "new_task_id": new_id})),
            metadata: Some(json!({"request_id": req.id, "reason": reason})),
        };
        let change = Change::update(command_id, "task.reassign", &req, &before, &state, &step, Vec::new());
        let applied = self.commit(conn, change, outcome).await?;
        if !applied.duplicate {
            audit::record(conn, machine.ids.next_id(), entry).await.context("writing audit row")?;
        }
        Ok(applied)
    }

    /// Expires a request's due tasks and applies `on_breach`.
    pub(super) async fn sla_expire(
        &self,
        conn: &mut PgConnection,
        command_id: Uuid,
        request_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let (mut req, compiled, mut state) = self.locked(conn, Target::Request(request_id)).await?;
        let before = state.stages.clone();
        // Resolve the escalation rules of the stages about to breach, and route them through delegations;
        // rules that need Keycloak or a caller's resolver go to the resolver role after commit.
        let mut escalations = Vec::new();
        let mut remote_escalations = Vec::new();
        for stage in compiled.policy.def.stages.iter().filter(|s| s.on_breach == Some(OnBreach::Escalate)) {
            let due = state.tasks.iter().any(|t| {
                t.stage_order == stage.stage_order && t.status.is_live() && t.due_at.is_some_and(|d| d <= now)
            });
            if due && compiled.escalation_needs_remote(stage.stage_order) {
                remote_escalations.push(stage.stage_order);
            } else if due {
                let users = compiled.resolve_escalation(stage.stage_order, &req.context).unwrap_or_else(|reason| {
                    tracing::warn!(reason, stage = stage.stage_order, "escalation rules could not be resolved");
                    Vec::new()
                });
                let resolved =
                    delegate(conn, Resolution::Resolved { approvers: users, observers: Vec::new() }, now).await?;
                if let Resolution::Resolved { approvers, .. } = resolved {
                    escalations.push((stage.stage_order, approvers));
                }
            }
        }
        let mut machine = Machine::new(&compiled.policy.def, now, command_id);
        let step = machine.expire_due(&mut state, &escalations).map_err(refusal)?;
        let (step, remote) = settle(conn, &mut machine, &compiled, &mut state, &req.context, step).await?;
        req.absorb(&state, now);
        let outcome = Outcome::ok(
            StatusCode::OK,
            json!({"request_id": req.id, "status": req.status, "events": step.events.len()}),
        );
        let change = Change::update(command_id, "sla.expire", &req, &before, &state, &step, remote);
        let mut applied = self.commit(conn, change, outcome).await?;
        if !applied.duplicate && !remote_escalations.is_empty() && !state.status.is_terminal() {
            applied.escalate = Some(ResolveJob {
                v: ENVELOPE_VERSION,
                id: Uuid::new_v5(&command_id, b"escalate"),
                request_id: req.id,
                stage_orders: remote_escalations,
                answer: None,
                escalation: true,
            });
        }
        Ok(applied)
    }

    /// The resolver role's answer for escalation rules: the breached stages
    /// escalate to the users, routed through delegations.
    pub(super) async fn escalation_resolved(
        &self,
        conn: &mut PgConnection,
        command_id: Uuid,
        request_id: Uuid,
        results: &[StageResult],
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let (mut req, compiled, mut state) = self.locked(conn, Target::Request(request_id)).await?;
        let before = state.stages.clone();
        let mut escalations = Vec::with_capacity(results.len());
        for result in results {
            let (order, resolution) = result.clone().into_resolution();
            escalations.push(match delegate(conn, resolution, now).await? {
                Resolution::Resolved { approvers, .. } => (order, Ok(approvers)),
                Resolution::Failed { reason } => (order, Err(reason)),
                Resolution::Skip => (order, Ok(Vec::new())),
            });
        }
        let mut machine = Machine::new(&compiled.policy.def, now, command_id);
        let step = machine.escalation_resolved(&mut state, escalations).map_err(refusal)?;
        let (step, remote) = settle(conn, &mut machine, &compiled, &mut state, &req.context, step).await?;
        req.absorb(&state, now);
        let outcome = Outcome::ok(StatusCode::OK, json!({"request_id": req.id, "status": req.status}));
        let change = Change::update(command_id, "stage.escalation_resolved", &req, &before, &state, &step, remote);
        self.commit(conn, change, outcome).await
    }

    /// The resolver role's answer. Only stages still waiting take it: a late or
    /// repeated answer changes nothing.
    pub(super) async fn stage_resolved(
        &self,
        conn: &mut PgConnection,
        command_id: Uuid,
        request_id: Uuid,
        results: &[StageResult],
        answer: Option<&PendingAnswer>,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let (mut req, compiled, mut state) = self.locked(conn, Target::Request(request_id)).await?;
        let before = state.stages.clone();
        let mut resolutions = Vec::new();
        for result in results {
            let (order, resolution) = result.clone().into_resolution();
            if state.stage(order).map(|s| s.status) == Some(StageStatus::Resolving) {
                resolutions.push((order, delegate(conn, resolution, now).await?));
            }
        }
        if resolutions.is_empty() {
            return Err(ApiError::conflict(
                code::INVALID_STATE,
                format!("No stage of request {request_id} waits for these results"),
            ));
        }
        let mut machine = Machine::new(&compiled.policy.def, now, command_id);
        let step = machine.resolved(&mut state, resolutions).map_err(refusal)?;
        let (step, remote) = settle(conn, &mut machine, &compiled, &mut state, &req.context, step).await?;
        req.absorb(&state, now);
        let outcome = Outcome::ok(
            StatusCode::OK,
            json!({"request_id": req.id, "status": req.status, "current_stage_order": req.current_stage_order}),
        );
        let change = Change::update(command_id, "stage.resolved", &req, &before, &state, &step, remote);
        let mut applied = self.commit(conn, change, outcome).await?;
        if let (Some(answer), false) = (answer, applied.duplicate) {
            match applied.resolve.as_mut() {
                // The next stages need the resolver too: the creation waits on.
                Some(job) => job.answer = Some(answer.clone()),
                None => {
                    let out = creation_out(&req, &state);
                    let outcome = Outcome::ok(StatusCode::CREATED, &out);
                    commands::settle_creation(conn, answer.command_id, &outcome).await.context("final answer")?;
                    if let (Some(claim), Outcome::Ok { body, .. }) = (&answer.idempotency, &outcome) {
                        commands::settle_idempotency(conn, &claim.client, &claim.key, body)
                            .await
                            .context("idempotency answer")?;
                    }
                    applied.answers = Some((answer.clone(), outcome));
                }
            }
        }
        Ok(applied)
    }

    /// Resolves again the stages of a request that are stuck waiting (a
    /// resolver was down, an answer was lost).
    pub(super) async fn stage_redrive(
        &self,
        conn: &mut PgConnection,
        command_id: Uuid,
        request_id: Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        let (mut req, compiled, mut state) = self.locked(conn, Target::Request(request_id)).await?;
        if req.status != "pending" && req.status != "in_review" {
            return Err(ApiError::conflict(code::INVALID_STATE, format!("Request {request_id} is {}", req.status)));
        }
        let before = state.stages.clone();
        let waiting: Vec<i32> =
            state.stages.iter().filter(|s| s.status == StageStatus::Resolving).map(|s| s.stage_order).collect();
        if waiting.is_empty() {
            return Err(ApiError::conflict(
                code::INVALID_STATE,
                format!("No stage of request {request_id} waits for resolution"),
            ));
        }
        let mut machine = Machine::new(&compiled.policy.def, now, command_id);
        let step = Step { resolve: waiting.clone(), ..Step::default() };
        let (step, remote) = settle(conn, &mut machine, &compiled, &mut state, &req.context, step).await?;
        req.absorb(&state, now);
        let entry = AuditEntry {
            actor,
            action: "request.redrive",
            resource_type: "request",
            resource_id: req.id.to_string(),
            summary: format!("Resolution of stages {waiting:?} driven again"),
            before: Some(json!({"resolving": waiting})),
            after: Some(json!({"status": req.status, "sent_to_resolver": remote})),
            metadata: None,
        };
        let outcome =
            Outcome::ok(StatusCode::OK, json!({"request_id": req.id, "stages": waiting, "status": req.status}));
        let change = Change::update(command_id, "stage.redrive", &req, &before, &state, &step, remote);
        let applied = self.commit(conn, change, outcome).await?;
        if !applied.duplicate {
            audit::record(conn, machine.ids.next_id(), entry).await.context("writing audit row")?;
        }
        Ok(applied)
    }
}

/// The 201 of a creation: the request and the tasks of its current stage.
fn creation_out(req: &RequestRow, state: &RequestState) -> CreateRequestOut {
    CreateRequestOut {
        request_id: req.id,
        status: req.status.clone(),
        current_stage_order: req.current_stage_order,
        tasks: state
            .tasks
            .iter()
            .filter(|t| t.stage_order == state.current_stage_order)
            .map(|t| task_out(t, req.id))
            .collect(),
    }
}

fn replay(stored: commands::StoredIdempotency, claim: &IdempotencyClaim) -> Result<Applied> {
    if stored.body_hash != claim.body_hash {
        return Err(idempotency_mismatch(&claim.key));
    }
    let status = StatusCode::from_u16(stored.status_code as u16).unwrap_or(StatusCode::CREATED);
    Ok(Applied::answer(status, stored.response))
}
