//! The approval state machine. Pure: given the pinned policy, the request's
//! state, one input and `now`, it changes the state and reports what it did
//! (events to append, tasks created or touched, stages awaiting approver
//! resolution). No IO, no clock, no randomness: ids come from the command.

mod breach;
pub mod quorum;
mod state;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::domain::{Actor, DecisionAction, Ids, OnBreach, PolicyDef, RequestStatus, RuleKind, StageDef, TaskStatus};
pub use quorum::Verdict;
pub use state::*;

/// The actor of everything the SLA monitor does.
pub const SLA_ACTOR: &str = "sla-monitor";

/// What an input did, for the adapter to persist.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Step {
    pub events: Vec<NewEvent>,
    /// Ids of tasks created by this step.
    pub created_tasks: Vec<Uuid>,
    /// Ids of existing tasks whose status changed.
    pub updated_tasks: Vec<Uuid>,
    /// Decisions recorded: the caller's, or those the SLA monitor synthesised.
    pub decisions: Vec<NewDecision>,
    /// Stages now waiting for their approvers to be resolved.
    pub resolve: Vec<i32>,
}

impl Step {
    /// Adds what a later step did to this one.
    pub fn absorb(&mut self, other: Step) {
        self.events.extend(other.events);
        self.created_tasks.extend(other.created_tasks);
        for id in other.updated_tasks {
            self.touch(id);
        }
        self.decisions.extend(other.decisions);
        self.resolve.extend(other.resolve);
    }

    fn touch(&mut self, id: Uuid) {
        if !self.created_tasks.contains(&id) && !self.updated_tasks.contains(&id) {
            self.updated_tasks.push(id);
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: Uuid,
    pub seq: i32,
    pub event_type: &'static str,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewDecision {
    pub id: Uuid,
    pub task_id: Uuid,
    pub stage_order: i32,
    pub actor: String,
    pub actor_name: Option<String>,
    pub action: DecisionAction,
    pub comment: Option<String>,
    pub attachments_ref: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Who a stage resolved to, after `skip_if`; supplied by the resolver.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// `skip_if` was truthy.
    Skip,
    Resolved {
        approvers: Vec<Assignee>,
        observers: Vec<Assignee>,
    },
    /// The rules could not be resolved (a resolver failed); the stage does not start.
    Failed {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignee {
    pub user: String,
    /// Set when a required rule resolved this user.
    pub required: bool,
    /// The user a delegation redirected this task from.
    pub delegated_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Task {0} not found")]
    TaskNotFound(Uuid),
    #[error("Task is not assigned to you")]
    NotAssignee,
    #[error("Task is {0}, not open")]
    TaskNotOpen(&'static str),
    #[error("Task is {0}; only open or claimed tasks can be decided")]
    TaskClosed(&'static str),
    #[error("Request is {0}; no further transitions")]
    RequestTerminal(&'static str),
    #[error("Stage {0} is not waiting for resolution")]
    StageNotResolving(i32),
    #[error("The task is already assigned to that user")]
    SameAssignee,
    /// A segregation-of-duties rule or a second vote forbids the new assignee.
    #[error("{0}")]
    Ineligible(String),
}

/// The machine, bound to one request's pinned policy, the clock reading and
/// the id source of the command being applied.
pub struct Machine<'a> {
    pub policy: &'a PolicyDef,
    pub now: DateTime<Utc>,
    pub ids: Ids,
    /// Whose act drives this command: the actor of what follows from it
    /// (a stage completed, a request approved after later stages skipped).
    driver: String,
}

impl<'a> Machine<'a> {
    pub fn new(policy: &'a PolicyDef, now: DateTime<Utc>, command_id: Uuid) -> Self {
        Self { policy, now, ids: Ids::new(command_id), driver: "system".into() }
    }

    /// A new request: `request_created`, then the first group is activated.
    pub fn start(&mut self, req: &mut RequestState, actor: &str) -> Step {
        let mut step = Step::default();
        self.emit(
            req,
            &mut step,
            "request_created",
            Some(1),
            json!({
                "policy_key": self.policy.policy_key,
                "policy_version": req.policy_version,
                "actor": actor,
            }),
        );
        self.advance(req, &mut step, actor);
        step
    }

    /// Approvers for stages in `resolving` state have been resolved.
    pub fn resolved(&mut self, req: &mut RequestState, results: Vec<(i32, Resolution)>) -> Result<Step, Refusal> {
        self.refuse_terminal(req)?;
        for (order, _) in &results {
            if req.stage(*order).map(|s| s.status) != Some(StageStatus::Resolving) {
                return Err(Refusal::StageNotResolving(*order));
            }
        }
        let mut step = Step::default();
        for (order, resolution) in results {
            self.apply_resolution(req, &mut step, order, resolution);
            if req.status.is_terminal() {
                return Ok(step);
            }
        }
        // A freshly started stage may already be decided (e.g. its quorum
        // exceeds the approvers resolved).
        let active: Vec<i32> =
            req.stages.iter().filter(|s| s.status == StageStatus::Active).map(|s| s.stage_order).collect();
        let driver = self.driver.clone();
        for order in active {
            self.evaluate_stage(req, &mut step, order, &driver);
            if req.status.is_terminal() {
                return Ok(step);
            }
        }
        self.advance(req, &mut step, &driver);
        Ok(step)
    }

    pub fn claim(&mut self, req: &mut RequestState, task_id: Uuid, actor: &Actor) -> Result<Step, Refusal> {
        let task = req.task_mut(task_id).ok_or(Refusal::TaskNotFound(task_id))?;
        if task.assignee != actor.assignee_id && !actor.is_admin() {
            return Err(Refusal::NotAssignee);
        }
        if task.status != TaskStatus::Open {
            return Err(Refusal::TaskNotOpen(task.status.as_str()));
        }
        task.status = TaskStatus::Claimed;
        task.claimed_at = Some(self.now);
        let (order, assignee) = (task.stage_order, task.assignee.clone());
        let mut step = Step::default();
        step.touch(task_id);
        self.emit(
            req,
            &mut step,
            "task_claimed",
            Some(order),
            json!({"task_id": task_id, "assignee": assignee, "actor": actor.sub}),
        );
        Ok(step)
    }

    /// A comment by someone holding a task on the live request (an observer
    /// or an approver, whatever the task's status), or by an admin; the task
    /// stays as it is (spec 002 "Observers").
    pub fn comment(&mut self, req: &mut RequestState, input: CommentInput, actor: &Actor) -> Result<Step, Refusal> {
        let task = req.task(input.task_id).ok_or(Refusal::TaskNotFound(input.task_id))?;
        if task.assignee != actor.assignee_id && !actor.is_admin() {
            return Err(Refusal::NotAssignee);
        }
        self.refuse_terminal(req)?;
        let (order, kind, assignee) = (task.stage_order, task.kind, task.assignee.clone());
        let mut step = Step::default();
        self.emit(
            req,
            &mut step,
            "comment_added",
            Some(order),
            json!({
                "comment_id": input.comment_id, "task_id": input.task_id, "kind": kind.as_str(),
                "assignee": assignee, "actor": actor.sub, "actor_name": actor.name,
                "comment": input.comment, "attachments_ref": input.attachments_ref,
            }),
        );
        Ok(step)
    }

    pub fn decide(&mut self, req: &mut RequestState, decision: DecisionInput, actor: &Actor) -> Result<Step, Refusal> {
        let now = self.now;
        let task = req.task(decision.task_id).ok_or(Refusal::TaskNotFound(decision.task_id))?;
        if task.assignee != actor.assignee_id && !actor.is_admin() {
            return Err(Refusal::NotAssignee);
        }
        if !task.status.is_live() {
            return Err(Refusal::TaskClosed(task.status.as_str()));
        }
        self.refuse_terminal(req)?;
        let (stage_order, kind, assignee) = (task.stage_order, task.kind, task.assignee.clone());
        let mut step = Step::default();
        let task = req.task_mut(decision.task_id).ok_or(Refusal::TaskNotFound(decision.task_id))?;
        task.status = TaskStatus::Completed;
        task.completed_at = Some(now);
        task.decision = Some(decision.action);
        task.decision_id = Some(decision.decision_id);
        task.decided_by = Some(actor.sub.clone());
        task.assignee_name = actor.name.clone();
        self.driver = actor.sub.clone();
        step.touch(decision.task_id);
        step.decisions.push(NewDecision {
            id: decision.decision_id,
            task_id: decision.task_id,
            stage_order,
            actor: actor.sub.clone(),
            actor_name: actor.name.clone(),
            action: decision.action,
            comment: decision.comment.clone(),
            attachments_ref: decision.attachments_ref.clone(),
            created_at: now,
        });
        self.emit(
            req,
            &mut step,
            "decision_submitted",
            Some(stage_order),
            json!({
                "task_id": decision.task_id, "decision_id": decision.decision_id, "kind": kind.as_str(),
                "assignee": assignee, "action": decision.action.as_str(), "actor": actor.sub,
                "actor_name": actor.name, "comment": decision.comment, "attachments_ref": decision.attachments_ref,
            }),
        );
        // Observers comment; they never move a stage.
        if kind == RuleKind::Approver {
            self.evaluate_stage(req, &mut step, stage_order, &actor.sub);
            if !req.status.is_terminal() {
                self.advance(req, &mut step, &actor.sub);
            }
        }
        Ok(step)
    }

    /// Moves a task to another user: the old task closes as `reassigned`, a
    /// new one keeps its stage, kind and required flag. A live task's due time
    /// is kept; an expired approver task of a live stage is revived with a
    /// due time from now (spec 002 "Reassignment"; an operator's way out of a
    /// stalled stage). Decisions never move, and the new assignee must be one
    /// the policy's segregation of duties allows, holding no other vote on
    /// the stage.
    pub fn reassign(
        &mut self,
        req: &mut RequestState,
        task_id: Uuid,
        to: &str,
        actor: &str,
        reason: Option<String>,
    ) -> Result<(Step, Uuid), Refusal> {
        let task = req.task(task_id).ok_or(Refusal::TaskNotFound(task_id))?;
        self.refuse_terminal(req)?;
        let revive = task.status == TaskStatus::Expired
            && task.kind == RuleKind::Approver
            && req.stage(task.stage_order).map(|s| s.status) == Some(StageStatus::Active);
        if !task.status.is_live() && !revive {
            return Err(Refusal::TaskNotOpen(task.status.as_str()));
        }
        if task.assignee == to {
            return Err(Refusal::SameAssignee);
        }
        if task.kind == RuleKind::Approver {
            self.eligible(req, task.stage_order, to)?;
        }
        if req.tasks.iter().any(|t| t.stage_order == task.stage_order && t.assignee == to && t.status.is_live()) {
            return Err(Refusal::Ineligible(format!("{to} already holds an open task on stage {}", task.stage_order)));
        }
        let mut replacement = task.clone();
        let from = task.assignee.clone();
        let new_id = self.ids.next_id();
        replacement.id = new_id;
        replacement.assignee = to.to_owned();
        replacement.assignee_name = None;
        replacement.delegated_from = None;
        replacement.reassigned_from = Some(from.clone());
        replacement.status = TaskStatus::Open;
        replacement.claimed_at = None;
        replacement.completed_at = None;
        replacement.decided_by = None;
        replacement.created_at = self.now;
        if revive {
            replacement.due_at = self.due_at(replacement.stage_order);
        }
        let order = replacement.stage_order;
        let mut step = Step::default();
        if let Some(old) = req.task_mut(task_id) {
            old.status = TaskStatus::Reassigned;
            if !revive {
                old.completed_at = Some(self.now);
            }
        }
        step.touch(task_id);
        req.tasks.push(replacement);
        step.created_tasks.push(new_id);
        let mut payload = json!({
            "task_id": task_id, "new_task_id": new_id, "from": from, "to": to, "actor": actor, "reason": reason,
        });
        if revive {
            payload["revived_expired_task"] = json!(true);
        }
        self.emit(req, &mut step, "task_reassigned", Some(order), payload);
        Ok((step, new_id))
    }

    /// Refuses a new approver on a stage whom segregation of duties excludes,
    /// or who already decided on it (a second vote).
    fn eligible(&self, req: &RequestState, order: i32, user: &str) -> Result<(), Refusal> {
        let earlier = self.earlier(req, order);
        let Some(rule) = self.excluded(req, order, &earlier, user, None) else { return Ok(()) };
        Err(Refusal::Ineligible(match rule {
            Exclusion::SelfApproval => {
                format!("forbid_self_approval: {user} is the requester and may not approve this request")
            }
            Exclusion::RepeatApprover => {
                format!("forbid_repeat_approvers: {user} approved an earlier stage of this request")
            }
            Exclusion::AlreadyDecided => format!("{user} already decided on stage {order}; one person has one vote"),
        }))
    }

    /// Who approved an earlier group, when `forbid_repeat_approvers` asks;
    /// read once per step, then asked of each candidate.
    fn earlier(&self, req: &RequestState, order: i32) -> Vec<String> {
        if !self.policy.forbid_repeat_approvers {
            return Vec::new();
        }
        req.earlier_approvers(self.policy, order).into_iter().map(str::to_owned).collect()
    }

    /// What keeps `user` (a task delegated from `from`) off the approvers of a
    /// stage, if anything: the policy's two toggles, or a decision already
    /// recorded on the stage. `earlier` is `self.earlier(req, order)`.
    fn excluded(
        &self,
        req: &RequestState,
        order: i32,
        earlier: &[String],
        user: &str,
        from: Option<&str>,
    ) -> Option<Exclusion> {
        let own = |u: &str| u == user || from == Some(u);
        if self.policy.forbid_self_approval && own(&req.requester) {
            return Some(Exclusion::SelfApproval);
        }
        if earlier.iter().any(|u| own(u)) {
            return Some(Exclusion::RepeatApprover);
        }
        let decided = req.tasks.iter().any(|t| {
            t.stage_order == order && t.kind == RuleKind::Approver && t.decision.is_some() && own(&t.assignee)
        });
        decided.then_some(Exclusion::AlreadyDecided)
    }

    /// A new approver task's due time on a stage with an SLA.
    fn due_at(&self, order: i32) -> Option<DateTime<Utc>> {
        let def = self.policy.stages.iter().find(|s| s.stage_order == order)?;
        def.sla_hours.map(|h| self.now + Duration::milliseconds((h * 3_600_000.0).round() as i64))
    }

    pub fn cancel(&mut self, req: &mut RequestState, actor: &str, reason: Option<String>) -> Result<Step, Refusal> {
        self.refuse_terminal(req)?;
        let mut step = Step::default();
        self.close_live_tasks(req, &mut step, None);
        self.finish(req, RequestStatus::Cancelled);
        let order = req.current_stage_order;
        self.emit(req, &mut step, "request_cancelled", Some(order), json!({"actor": actor, "reason": reason}));
        Ok(step)
    }

    fn refuse_terminal(&self, req: &RequestState) -> Result<(), Refusal> {
        if req.status.is_terminal() {
            Err(Refusal::RequestTerminal(req.status.as_str()))
        } else {
            Ok(())
        }
    }

    /// Moves the request forward while nothing waits on people or resolvers:
    /// when the current group is done, the next group starts resolving; when
    /// no group is left, the request is approved.
    fn advance(&mut self, req: &mut RequestState, step: &mut Step, actor: &str) {
        if req.status.is_terminal() {
            return;
        }
        let busy = req.stages.iter().any(|s| matches!(s.status, StageStatus::Active | StageStatus::Resolving));
        if busy {
            self.refresh_current(req);
            return;
        }
        match next_group(self.policy, req) {
            Some(group) => {
                for order in &group {
                    if let Some(stage) = req.stage_mut(*order) {
                        stage.status = StageStatus::Resolving;
                    }
                    step.resolve.push(*order);
                }
                self.refresh_current(req);
            }
            None => {
                let all_skipped = req.stages.iter().all(|s| s.status == StageStatus::Skipped);
                self.finish(req, RequestStatus::Approved);
                let order = req.current_stage_order;
                let mut extra = json!({"actor": actor});
                if all_skipped {
                    extra["reason"] = json!("all_stages_skipped");
                }
                self.emit(req, step, "request_approved", Some(order), extra);
            }
        }
    }

    fn apply_resolution(&mut self, req: &mut RequestState, step: &mut Step, order: i32, resolution: Resolution) {
        let Some(def) = self.policy.stages.iter().find(|s| s.stage_order == order) else {
            return;
        };
        match resolution {
            Resolution::Failed { reason } => {
                // The stage does not start; it waits for a re-drive or a cancel.
                if let Some(stage) = req.stage_mut(order) {
                    stage.reason = Some(format!("resolution failed: {reason}"));
                }
                self.emit(req, step, "stage_resolution_failed", Some(order), json!({"reason": reason}));
            }
            Resolution::Skip => self.skip_stage(req, step, order, "skip_if", "skipped: skip_if true"),
            Resolution::Resolved { approvers, observers } => {
                let (approvers, filtered) = self.segregate(req, order, approvers);
                if approvers.is_empty() {
                    let why = if filtered.is_empty() {
                        "no approvers resolved".to_owned()
                    } else {
                        format!("no approvers left after segregation of duties removed {}", filtered.join(", "))
                    };
                    match def.on_empty {
                        crate::domain::OnEmpty::Skip => {
                            self.skip_stage(req, step, order, "no_approvers", &format!("skipped: {why}"));
                        }
                        crate::domain::OnEmpty::Block => {
                            if let Some(stage) = req.stage_mut(order) {
                                stage.status = StageStatus::Rejected;
                                stage.reason = Some(format!("blocked: {why}"));
                                stage.completed_at = Some(self.now);
                            }
                            self.close_live_tasks(req, step, None);
                            self.finish(req, RequestStatus::Rejected);
                            self.emit(
                                req,
                                step,
                                "request_rejected",
                                Some(order),
                                json!({
                                    "reason": "no_approvers_resolved", "actor": null,
                                }),
                            );
                        }
                    }
                    return;
                }
                self.start_stage(req, step, def, approvers, observers);
            }
        }
    }

    /// Segregation of duties: drops the requester and earlier approvers as
    /// the policy asks. Returns the kept approvers and the removed users.
    fn segregate(&self, req: &RequestState, order: i32, approvers: Vec<Assignee>) -> (Vec<Assignee>, Vec<String>) {
        let mut kept = Vec::with_capacity(approvers.len());
        let mut removed = Vec::new();
        let earlier = self.earlier(req, order);
        for a in approvers {
            if self.excluded(req, order, &earlier, &a.user, a.delegated_from.as_deref()).is_some() {
                removed.push(a.user);
            } else if !kept.iter().any(|k: &Assignee| k.user == a.user) {
                kept.push(a);
            }
        }
        (kept, removed)
    }

    fn start_stage(
        &mut self,
        req: &mut RequestState,
        step: &mut Step,
        def: &StageDef,
        approvers: Vec<Assignee>,
        observers: Vec<Assignee>,
    ) {
        let due_at = self.due_at(def.stage_order);
        let observers: Vec<Assignee> =
            observers.into_iter().filter(|o| !approvers.iter().any(|a| a.user == o.user)).collect();
        for (a, kind) in
            approvers.iter().map(|a| (a, RuleKind::Approver)).chain(observers.iter().map(|o| (o, RuleKind::Observer)))
        {
            let id = self.ids.next_id();
            req.tasks.push(Task {
                id,
                stage_id: def.id,
                stage_order: def.stage_order,
                assignee: a.user.clone(),
                assignee_name: None,
                kind,
                required: a.required && kind == RuleKind::Approver,
                delegated_from: a.delegated_from.clone(),
                reassigned_from: None,
                status: TaskStatus::Open,
                claimed_at: None,
                completed_at: None,
                due_at: if kind == RuleKind::Approver { due_at } else { None },
                decision: None,
                decision_id: None,
                decided_by: None,
                escalated: false,
                created_at: self.now,
            });
            step.created_tasks.push(id);
        }
        if let Some(stage) = req.stage_mut(def.stage_order) {
            stage.status = StageStatus::Active;
            stage.started_at = Some(self.now);
        }
        let names = |list: &[Assignee]| list.iter().map(|a| a.user.clone()).collect::<Vec<_>>();
        let required: Vec<String> = approvers.iter().filter(|a| a.required).map(|a| a.user.clone()).collect();
        self.emit(
            req,
            step,
            "stage_started",
            Some(def.stage_order),
            json!({
                "name": def.name,
                "mode": def.mode.as_str(),
                "mode_value": def.mode_value,
                "approvers": names(&approvers),
                "observers": names(&observers),
                "required_approvers": required,
            }),
        );
    }

    fn skip_stage(&mut self, req: &mut RequestState, step: &mut Step, order: i32, reason: &str, why: &str) {
        if let Some(stage) = req.stage_mut(order) {
            stage.status = StageStatus::Skipped;
            stage.reason = Some(why.to_owned());
            stage.completed_at = Some(self.now);
        }
        self.emit(req, step, "stage_skipped", Some(order), json!({"reason": reason}));
    }

    /// Applies the stage's mode to its approver slots and closes it when decided.
    fn evaluate_stage(&mut self, req: &mut RequestState, step: &mut Step, order: i32, actor: &str) {
        let Some(def) = self.policy.stages.iter().find(|s| s.stage_order == order) else {
            return;
        };
        if req.stage(order).map(|s| s.status) != Some(StageStatus::Active) {
            return;
        }
        match req.verdict(def) {
            Verdict::Pending { .. } => {}
            Verdict::Approved { approvals, slots, .. } => {
                self.close_stage(req, step, order, StageStatus::Approved, format!("{approvals} of {slots} approved"));
                self.emit(req, step, "stage_completed", Some(order), json!({"outcome": "approved", "actor": actor}));
            }
            Verdict::Rejected { reason } => {
                self.close_stage(req, step, order, StageStatus::Rejected, reason);
                self.close_live_tasks(req, step, None);
                self.emit(req, step, "stage_completed", Some(order), json!({"outcome": "rejected", "actor": actor}));
                self.finish(req, RequestStatus::Rejected);
                self.emit(req, step, "request_rejected", Some(order), json!({"actor": actor}));
            }
        }
    }

    fn close_stage(
        &mut self,
        req: &mut RequestState,
        step: &mut Step,
        order: i32,
        status: StageStatus,
        reason: String,
    ) {
        if let Some(stage) = req.stage_mut(order) {
            stage.status = status;
            stage.reason = Some(reason);
            stage.completed_at = Some(self.now);
        }
        self.close_live_tasks(req, step, Some(order));
    }

    /// Flips open and claimed tasks (of one stage, or of the whole request) to `skipped`.
    fn close_live_tasks(&mut self, req: &mut RequestState, step: &mut Step, only_stage: Option<i32>) {
        for task in req.tasks.iter_mut() {
            if task.status.is_live() && only_stage.is_none_or(|o| o == task.stage_order) {
                task.status = TaskStatus::Skipped;
                task.completed_at = Some(self.now);
                step.touch(task.id);
            }
        }
    }

    /// Ends the request. Every stage still open ends with it: `cancelled` on a
    /// cancel, `skipped` after a rejection (a parallel sibling, later stages).
    fn finish(&mut self, req: &mut RequestState, status: RequestStatus) {
        req.status = status;
        req.completed_at = Some(self.now);
        let (stage_status, why) = match status {
            RequestStatus::Cancelled => (StageStatus::Cancelled, "request cancelled"),
            _ => (StageStatus::Skipped, "not needed: the request was rejected"),
        };
        for stage in req.stages.iter_mut().filter(|s| !s.status.is_terminal()) {
            stage.status = stage_status;
            stage.reason = Some(why.to_owned());
            stage.completed_at = Some(self.now);
        }
    }

    /// `current_stage_order` is the lowest stage that is running.
    fn refresh_current(&mut self, req: &mut RequestState) {
        if let Some(order) = req
            .stages
            .iter()
            .filter(|s| matches!(s.status, StageStatus::Active | StageStatus::Resolving))
            .map(|s| s.stage_order)
            .min()
        {
            req.current_stage_order = order;
        }
        if req.status == RequestStatus::Pending && req.stages.iter().any(|s| s.status == StageStatus::Active) {
            req.status = RequestStatus::InReview;
        }
    }

    fn emit(
        &mut self,
        req: &mut RequestState,
        step: &mut Step,
        event_type: &'static str,
        stage_order: Option<i32>,
        extra: Value,
    ) {
        let mut payload = Map::new();
        payload.insert("request_id".into(), json!(req.id));
        payload.insert("artifact_type".into(), json!(req.artifact_type));
        payload.insert("artifact_id".into(), json!(req.artifact_id));
        payload.insert("status".into(), json!(req.status.as_str()));
        payload.insert("stage_order".into(), json!(stage_order.unwrap_or(req.current_stage_order)));
        if let Value::Object(extra) = extra {
            payload.extend(extra);
        }
        req.last_seq += 1;
        step.events.push(NewEvent {
            id: self.ids.next_id(),
            seq: req.last_seq,
            event_type,
            payload: Value::Object(payload),
            created_at: self.now,
        });
    }
}

/// Why a user may not take an approver slot on a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exclusion {
    SelfApproval,
    RepeatApprover,
    AlreadyDecided,
}

impl Exclusion {
    /// As `stage_escalated.left_out[].reason` names it.
    fn as_str(self) -> &'static str {
        match self {
            Self::SelfApproval => "forbid_self_approval",
            Self::RepeatApprover => "forbid_repeat_approvers",
            Self::AlreadyDecided => "already_decided",
        }
    }
}

/// A comment as its author wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommentInput {
    pub task_id: Uuid,
    pub comment_id: Uuid,
    pub comment: String,
    pub attachments_ref: Option<String>,
}

/// A decision as the caller asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionInput {
    pub task_id: Uuid,
    pub decision_id: Uuid,
    pub action: DecisionAction,
    pub comment: Option<String>,
    pub attachments_ref: Option<String>,
}

/// The next group of stages to run: stages sharing a `parallel_group` run
/// together, a null group is a group of one, and groups run in the order of
/// the smallest `stage_order` in them.
pub fn next_group(policy: &PolicyDef, req: &RequestState) -> Option<Vec<i32>> {
    let first =
        policy.stages.iter().find(|s| req.stage(s.stage_order).map(|st| st.status) == Some(StageStatus::Waiting))?;
    Some(match first.parallel_group {
        None => vec![first.stage_order],
        Some(g) => policy
            .stages
            .iter()
            .filter(|s| s.parallel_group == Some(g))
            .filter(|s| req.stage(s.stage_order).map(|st| st.status) == Some(StageStatus::Waiting))
            .map(|s| s.stage_order)
            .collect(),
    })
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_letter;
