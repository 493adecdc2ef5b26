//! Applying one command inside one transaction.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Engine;
use crate::command::{Command, Envelope, IdempotencyClaim, Outcome, SealedSecret};
use crate::domain::{Actor, Ids, OnBreach, PolicyIn, PolicyStatus};
use crate::engine::{Assignee, DecisionInput, Machine, Refusal, RequestState, Resolution, StageState, Step};
use crate::error::{code, ApiError, Result};
use crate::event::StoredEvent;
use crate::resolver::CompiledPolicy;
use crate::secrets::Sealed;
use crate::store::audit::{self, AuditEntry};
use crate::store::delegations::{self, NewDelegation};
use crate::store::policies::{self, Policy};
use crate::store::requests::{self, task_out, RequestRow};
use crate::store::step::{self, StepWrite};
use crate::store::{commands, is_unique_violation};
use crate::store::{secrets, webhooks};
use crate::wire::{CreateRequestIn, CreateRequestOut, DecisionOut, DelegationIn, SecretOut};

/// What a command did: its answer and the events it committed.
pub struct Applied {
    pub outcome: Outcome,
    pub events: Vec<StoredEvent>,
    /// The processed-command row was written with the change.
    pub recorded: bool,
    /// The command had been applied before; nothing was written now.
    pub duplicate: bool,
}

impl Applied {
    pub fn answer(status: StatusCode, body: impl serde::Serialize) -> Self {
        Self::of(Outcome::ok(status, body))
    }

    pub fn of(outcome: Outcome) -> Self {
        Self { outcome, events: Vec::new(), recorded: false, duplicate: false }
    }
}

/// What a request command changed, ready to be written in one statement.
struct Change<'a> {
    command_id: Uuid,
    kind: &'static str,
    req: &'a RequestRow,
    created: bool,
    before: &'a [StageState],
    state: &'a RequestState,
    step: &'a Step,
    idempotency: Option<&'a IdempotencyClaim>,
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
            Command::SlaExpire { request_id } => self.sla_expire(conn, env.id, *request_id, now).await,
            Command::SlaTick { .. } => {
                Err(ApiError::Internal(anyhow::anyhow!("a tick is not applied in one transaction")))
            }
        }
    }

    // ------------------------------------------------------------ policies

    async fn policy_create(
        &self,
        conn: &mut PgConnection,
        doc: &PolicyIn,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        let def = doc.parse(ids).map_err(ApiError::bad_policy)?;
        if policies::max_version(conn, &def.policy_key).await.context("policy lookup")?.is_some() {
            return Err(policy_exists(&def.policy_key));
        }
        let id = ids.next_id();
        if let Err(err) = policies::insert(conn, id, &def, 1, &actor.sub, now).await {
            return Err(if is_unique_violation(&err, "policy_policy_key_version_key") {
                policy_exists(&def.policy_key)
            } else {
                ApiError::Internal(err.into())
            });
        }
        let out = self.policy(conn, &def.policy_key, 1).await?.out();
        self.audit(
            conn,
            ids,
            actor,
            "policy.create",
            &out.policy_key,
            out.version,
            None,
            Some(json!(out)),
            format!("Created {} v1", out.policy_key),
        )
        .await?;
        Ok(Applied::answer(StatusCode::CREATED, out))
    }

    async fn policy_add_version(
        &self,
        conn: &mut PgConnection,
        key: &str,
        doc: &PolicyIn,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        same_key(key, doc)?;
        let def = doc.parse(ids).map_err(ApiError::bad_policy)?;
        let versions = policies::lock_key(conn, key).await.context("locking policy versions")?;
        let Some(newest) = versions.first() else {
            return Err(ApiError::not_found(code::POLICY_NOT_FOUND, format!("Policy '{key}' not found")));
        };
        let version = newest.version + 1;
        policies::insert(conn, ids.next_id(), &def, version, &actor.sub, now).await.context("inserting version")?;
        let out = self.policy(conn, key, version).await?.out();
        self.audit(
            conn,
            ids,
            actor,
            "policy.add_version",
            key,
            version,
            None,
            Some(json!(out)),
            format!("Added {key} v{version}"),
        )
        .await?;
        Ok(Applied::answer(StatusCode::CREATED, out))
    }

    #[allow(clippy::too_many_arguments)]
    async fn policy_update(
        &self,
        conn: &mut PgConnection,
        key: &str,
        version: i32,
        doc: &PolicyIn,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        same_key(key, doc)?;
        let def = doc.parse(ids).map_err(ApiError::bad_policy)?;
        policies::lock_key(conn, key).await.context("locking policy versions")?;
        let before = self.policy(conn, key, version).await?;
        if before.row.status() != PolicyStatus::Draft {
            return Err(ApiError::conflict(
                code::INVALID_STATE,
                format!(
                    "{key} v{version} is {}; only a draft can be edited. Add a new version with PUT /policies/{key}",
                    before.row.status
                ),
            ));
        }
        policies::replace_draft(conn, before.row.id, &def, &actor.sub, now).await.context("replacing draft")?;
        let after = self.policy(conn, key, version).await?.out();
        self.audit(
            conn,
            ids,
            actor,
            "policy.update",
            key,
            version,
            Some(json!(before.out())),
            Some(json!(after)),
            format!("Updated {key} v{version}"),
        )
        .await?;
        Ok(Applied::answer(StatusCode::OK, after))
    }

    async fn policy_activate(
        &self,
        conn: &mut PgConnection,
        key: &str,
        version: i32,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        let versions = policies::lock_key(conn, key).await.context("locking policy versions")?;
        let target = versions.iter().find(|v| v.version == version).ok_or_else(|| version_not_found(key, version))?;
        let prior = versions.iter().find(|v| v.status() == PolicyStatus::Active);
        // Refuse to activate what the engine could not run.
        let candidate = policies::load(conn, target.clone()).await?;
        CompiledPolicy::compile(candidate)
            .map_err(|e| ApiError::bad_request(code::BAD_POLICY, format!("cannot activate: {e}")))?;
        let before = prior.map(|p| json!({"status": p.status, "version": p.version}));
        if let Some(prior) = prior.filter(|p| p.id != target.id) {
            policies::set_status(conn, prior.id, PolicyStatus::Archived, now).await.context("archiving")?;
        }
        if target.status() != PolicyStatus::Active {
            policies::set_status(conn, target.id, PolicyStatus::Active, now).await.context("activating")?;
        }
        let out = self.policy(conn, key, version).await?.out();
        let after = json!({"status": "active", "version": version});
        self.audit(
            conn,
            ids,
            actor,
            "policy.activate",
            key,
            version,
            before,
            Some(after),
            format!("Activated {key} v{version}"),
        )
        .await?;
        Ok(Applied::answer(StatusCode::OK, out))
    }

    async fn policy_deactivate(
        &self,
        conn: &mut PgConnection,
        key: &str,
        version: i32,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        let versions = policies::lock_key(conn, key).await.context("locking policy versions")?;
        let target = versions.iter().find(|v| v.version == version).ok_or_else(|| version_not_found(key, version))?;
        if target.status() != PolicyStatus::Active {
            return Err(ApiError::conflict(
                code::INVALID_STATE,
                format!("{key} v{version} is {}, not active", target.status),
            ));
        }
        policies::set_status(conn, target.id, PolicyStatus::Archived, now).await.context("archiving")?;
        let out = self.policy(conn, key, version).await?.out();
        self.audit(
            conn,
            ids,
            actor,
            "policy.deactivate",
            key,
            version,
            Some(json!({"status": "active"})),
            Some(json!({"status": "archived"})),
            format!("Deactivated {key} v{version}"),
        )
        .await?;
        Ok(Applied::answer(StatusCode::OK, out))
    }

    async fn policy(&self, conn: &mut PgConnection, key: &str, version: i32) -> Result<Policy> {
        let row = policies::row(conn, key, version)
            .await
            .context("policy lookup")?
            .ok_or_else(|| version_not_found(key, version))?;
        Ok(policies::load(conn, row).await?)
    }

    #[allow(clippy::too_many_arguments)]
    async fn audit(
        &self,
        conn: &mut PgConnection,
        ids: &mut Ids,
        actor: &Actor,
        action: &str,
        key: &str,
        version: i32,
        before: Option<Value>,
        after: Option<Value>,
        summary: String,
    ) -> Result<()> {
        let entry = AuditEntry {
            actor,
            action,
            resource_type: "policy",
            resource_id: format!("{key}:v{version}"),
            summary,
            before,
            after,
            metadata: None,
        };
        audit::record(conn, ids.next_id(), entry).await.context("writing audit row")?;
        Ok(())
    }

    // ------------------------------------------------------------ requests

    #[allow(clippy::too_many_arguments)]
    async fn request_create(
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
        let step = settle(conn, &mut machine, &compiled, &mut state, &req.context, step).await?;
        req.absorb(&state, now);
        let out = CreateRequestOut {
            request_id: req.id,
            status: req.status.clone(),
            current_stage_order: req.current_stage_order,
            tasks: state
                .tasks
                .iter()
                .filter(|t| t.stage_order == state.current_stage_order)
                .map(|t| task_out(t, req.id))
                .collect(),
        };
        let change = Change {
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

    async fn request_cancel(
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
        let change = Change {
            command_id,
            kind: "request.cancel",
            req: &req,
            created: false,
            before: &before,
            state: &state,
            step: &step,
            idempotency: None,
        };
        let applied = self.commit(conn, change, outcome).await?;
        if !applied.duplicate {
            audit::record(conn, machine.ids.next_id(), entry).await.context("writing audit row")?;
        }
        Ok(applied)
    }

    async fn task_claim(
        &self,
        conn: &mut PgConnection,
        command_id: Uuid,
        task_id: Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let (req, compiled, mut state) = self.locked(conn, Target::Task(task_id)).await?;
        let before = state.stages.clone();
        let mut machine = Machine::new(&compiled.policy.def, now, command_id);
        let step = machine.claim(&mut state, task_id, actor).map_err(refusal)?;
        let task = state.task(task_id).context("claimed task vanished")?;
        let outcome = Outcome::ok(StatusCode::OK, task_out(task, req.id));
        let change = Change {
            command_id,
            kind: "task.claim",
            req: &req,
            created: false,
            before: &before,
            state: &state,
            step: &step,
            idempotency: None,
        };
        self.commit(conn, change, outcome).await
    }

    async fn task_decide(
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
        let step = settle(conn, &mut machine, &compiled, &mut state, &req.context, step).await?;
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
        let change = Change {
            command_id,
            kind: "task.decide",
            req: &req,
            created: false,
            before: &before,
            state: &state,
            step: &step,
            idempotency: None,
        };
        self.commit(conn, change, Outcome::ok(StatusCode::CREATED, out)).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn task_reassign(
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
        let change = Change {
            command_id,
            kind: "task.reassign",
            req: &req,
            created: false,
            before: &before,
            state: &state,
            step: &step,
            idempotency: None,
        };
        let applied = self.commit(conn, change, outcome).await?;
        if !applied.duplicate {
            audit::record(conn, machine.ids.next_id(), entry).await.context("writing audit row")?;
        }
        Ok(applied)
    }

    /// Expires a request's due tasks and applies `on_breach`.
    async fn sla_expire(
        &self,
        conn: &mut PgConnection,
        command_id: Uuid,
        request_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let (mut req, compiled, mut state) = self.locked(conn, Target::Request(request_id)).await?;
        let before = state.stages.clone();
        // Resolve the escalation rules of the stages about to breach, and route them through delegations.
        let mut escalations = Vec::new();
        for stage in compiled.policy.def.stages.iter().filter(|s| s.on_breach == Some(OnBreach::Escalate)) {
            let due = state.tasks.iter().any(|t| {
                t.stage_order == stage.stage_order && t.status.is_live() && t.due_at.is_some_and(|d| d <= now)
            });
            if due {
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
        let step = settle(conn, &mut machine, &compiled, &mut state, &req.context, step).await?;
        req.absorb(&state, now);
        let outcome = Outcome::ok(
            StatusCode::OK,
            json!({"request_id": req.id, "status": req.status, "events": step.events.len()}),
        );
        let change = Change {
            command_id,
            kind: "sla.expire",
            req: &req,
            created: false,
            before: &before,
            state: &state,
            step: &step,
            idempotency: None,
        };
        self.commit(conn, change, outcome).await
    }

    // ------------------------------------------------------------ webhook deliveries

    #[allow(clippy::too_many_arguments)]
    async fn delivery_retry(
        &self,
        conn: &mut PgConnection,
        delivery_id: Option<Uuid>,
        request_id: Option<Uuid>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        actor: &Actor,
        ids: &mut Ids,
    ) -> Result<Applied> {
        require_admin(actor)?;
        if let Some(id) = delivery_id {
            let before = webhooks::get(conn, id)
                .await
                .context("delivery lookup")?
                .ok_or_else(|| ApiError::not_found(code::INVALID_STATE, format!("Delivery {id} not found")))?;
            if before.status == "delivered" {
                return Err(ApiError::conflict(
                    code::INVALID_STATE,
                    format!("Delivery {id} was delivered; nothing to retry"),
                ));
            }
            let after = webhooks::reset(conn, &[id]).await.context("resetting the delivery")?;
            let after = after.into_iter().next().context("the reset delivery")?;
            let entry = AuditEntry {
                actor,
                action: "delivery.retry",
                resource_type: "delivery",
                resource_id: id.to_string(),
                summary: format!(
                    "Retried the {} delivery of {} to {}",
                    before.event_type, before.request_id, before.url
                ),
                before: Some(json!({"status": before.status, "attempt": before.attempt,
                                    "last_status_code": before.last_status_code, "last_error": before.last_error})),
                after: Some(json!({"status": "pending", "attempt": 0})),
                metadata: Some(json!({"request_id": before.request_id})),
            };
            audit::record(conn, ids.next_id(), entry).await.context("writing audit row")?;
            return Ok(Applied::answer(StatusCode::OK, after));
        }
        if request_id.is_none() && since.is_none() && until.is_none() {
            return Err(ApiError::invalid(&["body"], "name a request_id or a time range (since, until)", Value::Null));
        }
        let targets = webhooks::exhausted(conn, request_id, since, until, 1000).await.context("finding deliveries")?;
        webhooks::reset(conn, &targets).await.context("resetting deliveries")?;
        let entry = AuditEntry {
            actor,
            action: "delivery.retry",
            resource_type: "delivery",
            resource_id: request_id.map_or_else(|| "bulk".to_owned(), |r| r.to_string()),
            summary: format!("Retried {} exhausted deliveries", targets.len()),
            before: Some(json!({"status": "exhausted"})),
            after: Some(json!({"status": "pending", "attempt": 0})),
            metadata: Some(json!({"request_id": request_id, "since": since, "until": until, "delivery_ids": targets})),
        };
        audit::record(conn, ids.next_id(), entry).await.context("writing audit row")?;
        Ok(Applied::answer(StatusCode::OK, json!({"retried": targets.len(), "delivery_ids": targets})))
    }

    /// Sends events to their webhooks again, delivered or not (`awe replay`).
    async fn delivery_replay(
        &self,
        conn: &mut PgConnection,
        event_ids: &[Uuid],
        actor: &Actor,
        ids: &mut Ids,
    ) -> Result<Applied> {
        require_admin(actor)?;
        let targets = webhooks::of_events(conn, event_ids).await.context("finding deliveries")?;
        webhooks::reset(conn, &targets).await.context("resetting deliveries")?;
        let entry = AuditEntry {
            actor,
            action: "delivery.retry",
            resource_type: "delivery",
            resource_id: "replay".to_owned(),
            summary: format!("Replayed {} deliveries of {} events", targets.len(), event_ids.len()),
            before: None,
            after: Some(json!({"status": "pending", "attempt": 0})),
            metadata: Some(json!({"replay": true, "events": event_ids.len(), "delivery_ids": targets})),
        };
        audit::record(conn, ids.next_id(), entry).await.context("writing audit row")?;
        Ok(Applied::answer(StatusCode::OK, json!({"retried": targets.len(), "delivery_ids": targets})))
    }

    // ------------------------------------------------------------ callback secrets

    #[allow(clippy::too_many_arguments)]
    async fn secret_create(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        caller: &str,
        sealed: &SealedSecret,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        if caller.trim().is_empty() || caller.chars().count() > MAX_ID_LEN {
            return Err(ApiError::invalid(
                &["body", "caller_service"],
                format!("must be 1 to {MAX_ID_LEN} characters"),
                json!(caller),
            ));
        }
        let sealed = unwire(sealed)?;
        let out = match secrets::insert(conn, id, caller, &sealed, &actor.sub, now).await {
            Ok(out) => out,
            Err(e) if is_unique_violation(&e, "callback_secret_one_active") => {
                return Err(ApiError::conflict(
                    code::INVALID_STATE,
                    format!("{caller} already has an active secret; rotate it instead"),
                ));
            }
            Err(e) => return Err(ApiError::Internal(e.into())),
        };
        self.audit_secret(
            conn,
            ids,
            actor,
            "callback_secret.create",
            &out,
            None,
            format!("Created a callback secret for {caller}"),
        )
        .await?;
        Ok(Applied::answer(StatusCode::CREATED, out))
    }

    #[allow(clippy::too_many_arguments)]
    async fn secret_rotate(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        new_id: Uuid,
        sealed: &SealedSecret,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        let old = self.secret(conn, id).await?;
        if old.status != "active" {
            return Err(ApiError::conflict(
                code::INVALID_STATE,
                format!("Secret {id} is {}; only the active secret rotates", old.status),
            ));
        }
        let valid_until =
            now + chrono::Duration::seconds(i64::try_from(self.rotation_overlap.as_secs()).unwrap_or(i64::MAX / 2));
        secrets::retire(conn, id, "rotated", now, Some(valid_until)).await.context("retiring the secret")?;
        let out = secrets::insert(conn, new_id, &old.caller_service, &unwire(sealed)?, &actor.sub, now)
            .await
            .context("inserting the secret")?;
        let summary =
            format!("Rotated the callback secret of {}; the old one signs until {valid_until}", old.caller_service);
        self.audit_secret(conn, ids, actor, "callback_secret.rotate", &out, Some(json!(old)), summary).await?;
        Ok(Applied::answer(StatusCode::CREATED, out))
    }

    async fn secret_revoke(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        let old = self.secret(conn, id).await?;
        if old.status == "revoked" {
            return Err(ApiError::conflict(code::INVALID_STATE, format!("Secret {id} is already revoked")));
        }
        secrets::retire(conn, id, "revoked", now, None).await.context("revoking the secret")?;
        let after = self.secret(conn, id).await?;
        self.audit_secret(
            conn,
            ids,
            actor,
            "callback_secret.revoke",
            &after,
            Some(json!(old)),
            format!("Revoked secret {id}"),
        )
        .await?;
        Ok(Applied::answer(StatusCode::NO_CONTENT, Value::Null))
    }

    async fn secret(&self, conn: &mut PgConnection, id: Uuid) -> Result<SecretOut> {
        secrets::get(conn, id)
            .await
            .context("secret lookup")?
            .ok_or_else(|| ApiError::not_found(code::TASK_NOT_FOUND, format!("Callback secret {id} not found")))
    }

    #[allow(clippy::too_many_arguments)]
    async fn audit_secret(
        &self,
        conn: &mut PgConnection,
        ids: &mut Ids,
        actor: &Actor,
        action: &str,
        after: &SecretOut,
        before: Option<Value>,
        summary: String,
    ) -> Result<()> {
        let entry = AuditEntry {
            actor,
            action,
            resource_type: "callback_secret",
            resource_id: after.id.to_string(),
            summary,
            before,
            after: Some(json!(after)),
            metadata: Some(json!({"caller_service": after.caller_service})),
        };
        audit::record(conn, ids.next_id(), entry).await.context("writing audit row")?;
        Ok(())
    }

    // ------------------------------------------------------------ delegations

    async fn delegation_create(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        d: &DelegationIn,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        validate_delegation(d)?;
        if !actor.is_admin() && actor.assignee_id != d.user_id {
            return Err(ApiError::forbidden("Only an AWE_ADMIN may delegate for someone else"));
        }
        let new = NewDelegation {
            id,
            user_id: &d.user_id,
            delegate_to: &d.delegate_to,
            starts_at: d.starts_at,
            ends_at: d.ends_at,
            reason: d.reason.as_deref(),
            created_by: &actor.sub,
            now,
        };
        let out = delegations::insert(conn, &new).await.context("inserting delegation")?;
        let entry = AuditEntry {
            actor,
            action: "delegation.create",
            resource_type: "delegation",
            resource_id: id.to_string(),
            summary: format!("{} delegates to {} from {} until {}", d.user_id, d.delegate_to, d.starts_at, d.ends_at),
            before: None,
            after: Some(json!(out)),
            metadata: None,
        };
        audit::record(conn, ids.next_id(), entry).await.context("writing audit row")?;
        Ok(Applied::answer(StatusCode::CREATED, out))
    }

    async fn delegation_revoke(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let existing = delegations::get(conn, id)
            .await
            .context("delegation lookup")?
            .ok_or_else(|| ApiError::not_found(code::TASK_NOT_FOUND, format!("Delegation {id} not found")))?;
        if !actor.is_admin() && actor.assignee_id != existing.user_id {
            return Err(ApiError::forbidden("Only an AWE_ADMIN may revoke someone else's delegation"));
        }
        delegations::revoke(conn, id, now).await.context("revoking delegation")?;
        let entry = AuditEntry {
            actor,
            action: "delegation.delete",
            resource_type: "delegation",
            resource_id: id.to_string(),
            summary: format!("Revoked the delegation of {} to {}", existing.user_id, existing.delegate_to),
            before: Some(json!(existing)),
            after: None,
            metadata: None,
        };
        audit::record(conn, ids.next_id(), entry).await.context("writing audit row")?;
        Ok(Applied::answer(StatusCode::NO_CONTENT, Value::Null))
    }

    /// Locks a request and loads its pinned policy and state.
    async fn locked(
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

    async fn compiled_policy(&self, conn: &mut PgConnection, row: policies::PolicyRow) -> Result<Arc<CompiledPolicy>> {
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
    async fn commit(&self, conn: &mut PgConnection, c: Change<'_>, outcome: Outcome) -> Result<Applied> {
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
        };
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
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Applied { outcome, events, recorded: true, duplicate: !applied })
    }
}

/// Which row to lock: a request by its id, or the request a task belongs to.
enum Target {
    Request(Uuid),
    Task(Uuid),
}

/// Resolves inline whatever stages the machine asks for, until it asks for none.
async fn settle(
    conn: &mut PgConnection,
    machine: &mut Machine<'_>,
    compiled: &CompiledPolicy,
    state: &mut RequestState,
    context: &Value,
    mut step: Step,
) -> Result<Step> {
    // Every round starts at least one stage or ends the request; bounded by the stage count.
    for _ in 0..=compiled.policy.def.stages.len() {
        if step.resolve.is_empty() {
            return Ok(step);
        }
        let mut results = Vec::with_capacity(step.resolve.len());
        for order in &step.resolve {
            let resolution = compiled.resolve_stage(*order, context);
            results.push((*order, delegate(conn, resolution, machine.now).await?));
        }
        let next = machine.resolved(state, results).map_err(refusal)?;
        step.resolve.clear();
        step.absorb(next);
    }
    Ok(step)
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

/// Applies delegation routes (user → chain ending at the delegate) to a list.
pub fn redirect(routes: &HashMap<String, Vec<String>>, list: Vec<Assignee>) -> Vec<Assignee> {
    let mut out: Vec<Assignee> = Vec::with_capacity(list.len());
    for a in list {
        let (user, from) = match routes.get(&a.user).and_then(|path| path.last()) {
            Some(last) => (last.clone(), Some(a.user.clone())),
            None => (a.user.clone(), None),
        };
        match out.iter_mut().find(|o| o.user == user) {
            Some(existing) => existing.required |= a.required,
            None => out.push(Assignee { user, required: a.required, delegated_from: from }),
        }
    }
    out
}

fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::TaskNotFound(_) => ApiError::not_found(code::TASK_NOT_FOUND, r.to_string()),
        Refusal::NotAssignee => ApiError::awe(StatusCode::FORBIDDEN, code::FORBIDDEN, r.to_string()),
        Refusal::TaskNotOpen(_)
        | Refusal::TaskClosed(_)
        | Refusal::RequestTerminal(_)
        | Refusal::StageNotResolving(_)
        | Refusal::SameAssignee => ApiError::conflict(code::INVALID_STATE, r.to_string()),
    }
}

fn replay(stored: commands::StoredIdempotency, claim: &IdempotencyClaim) -> Result<Applied> {
    if stored.body_hash != claim.body_hash {
        return Err(idempotency_mismatch(&claim.key));
    }
    let status = StatusCode::from_u16(stored.status_code as u16).unwrap_or(StatusCode::CREATED);
    Ok(Applied::answer(status, stored.response))
}

pub fn idempotency_mismatch(key: &str) -> ApiError {
    ApiError::conflict(
        code::IDEMPOTENCY_MISMATCH,
        format!("Idempotency-Key '{key}' was already used with a different request body"),
    )
}

fn require_admin(actor: &Actor) -> Result<()> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden("Role `AWE_ADMIN` required"))
    }
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

fn policy_exists(key: &str) -> ApiError {
    ApiError::conflict(
        code::POLICY_CONFLICT,
        format!("Policy '{key}' already exists; add a version with PUT /policies/{key}"),
    )
}

fn version_not_found(key: &str, version: i32) -> ApiError {
    ApiError::not_found(code::POLICY_NOT_FOUND, format!("Policy '{key}' version {version} not found"))
}

pub const MAX_ID_LEN: usize = 255;
pub const MAX_URL_LEN: usize = 2048;

fn unwire(sealed: &SealedSecret) -> Result<Sealed> {
    use base64::Engine as _;
    let decode = |field: &str, v: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(v)
            .map_err(|_| ApiError::invalid(&["payload", "sealed", field], "must be base64", Value::Null))
    };
    Ok(Sealed {
        ciphertext: decode("ciphertext", &sealed.ciphertext)?,
        nonce: decode("nonce", &sealed.nonce)?,
        fingerprint: sealed.fingerprint.clone(),
    })
}

/// A window must end after it starts and name someone else.
pub fn validate_delegation(d: &DelegationIn) -> Result<()> {
    for (field, value) in [("user_id", &d.user_id), ("delegate_to", &d.delegate_to)] {
        if value.trim().is_empty() || value.chars().count() > MAX_ID_LEN {
            return Err(ApiError::invalid(
                &["body", field],
                format!("must be 1 to {MAX_ID_LEN} characters"),
                json!(value),
            ));
        }
    }
    if d.delegate_to == d.user_id {
        return Err(ApiError::invalid(
            &["body", "delegate_to"],
            "a user cannot delegate to themself",
            json!(d.delegate_to),
        ));
    }
    if d.ends_at <= d.starts_at {
        return Err(ApiError::invalid(&["body", "ends_at"], "must be after starts_at", json!(d.ends_at)));
    }
    if d.reason.as_ref().is_some_and(|r| r.chars().count() > 1024) {
        return Err(ApiError::invalid(&["body", "reason"], "must be at most 1024 characters", Value::Null));
    }
    Ok(())
}

/// The checks every creation passes, from REST or straight from NATS.
pub fn validate_create(input: &CreateRequestIn) -> Result<()> {
    let text = |field: &str, value: &str| -> Result<()> {
        if value.trim().is_empty() || value.chars().count() > MAX_ID_LEN {
            return Err(ApiError::invalid(
                &["body", field],
                format!("must be 1 to {MAX_ID_LEN} characters"),
                json!(value),
            ));
        }
        Ok(())
    };
    text("policy_key", &input.policy_key)?;
    text("artifact_type", &input.artifact_type)?;
    text("artifact_id", &input.artifact_id)?;
    if let Some(r) = &input.requester {
        if r.chars().count() > MAX_ID_LEN {
            return Err(ApiError::invalid(
                &["body", "requester"],
                format!("must be at most {MAX_ID_LEN} characters"),
                json!(r),
            ));
        }
    }
    if !input.context.is_object() {
        return Err(ApiError::invalid(&["body", "context"], "must be a JSON object", input.context.clone()));
    }
    if let Some(url) = &input.callback_url {
        let ok = (url.starts_with("http://") || url.starts_with("https://"))
            && url.len() <= MAX_URL_LEN
            && !url.contains(char::is_whitespace);
        if !ok {
            return Err(ApiError::invalid(
                &["body", "callback_url"],
                "must be an http:// or https:// URL of at most 2048 characters",
                json!(url),
            ));
        }
    }
    Ok(())
}
