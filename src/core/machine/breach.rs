//! SLA breaches: expiring due approver tasks and applying a stage's `on_breach`.

use serde_json::json;
use uuid::Uuid;

use super::*;

impl Machine<'_> {
    /// An SLA tick: expires every approver task due by `now` (`task_expired`
    /// each), then applies each touched stage's `on_breach` once. `escalations`
    /// holds the resolved escalation rules of the stages that escalate.
    pub fn expire_due(
        &mut self,
        req: &mut RequestState,
        escalations: &[(i32, Vec<Assignee>)],
    ) -> Result<Step, Refusal> {
        self.refuse_terminal(req)?;
        let now = self.now;
        let mut step = Step::default();
        let mut breached: Vec<i32> = Vec::new();
        let due: Vec<Uuid> = req
            .tasks
            .iter()
            .filter(|t| t.kind == RuleKind::Approver && t.status.is_live() && t.due_at.is_some_and(|d| d <= now))
            .map(|t| t.id)
            .collect();
        for id in &due {
            let Some(task) = req.task_mut(*id) else { continue };
            task.status = TaskStatus::Expired;
            task.completed_at = Some(now);
            let (order, assignee, due_at) = (task.stage_order, task.assignee.clone(), task.due_at);
            step.touch(*id);
            if !breached.contains(&order) {
                breached.push(order);
            }
            self.emit(
                req,
                &mut step,
                "task_expired",
                Some(order),
                json!({
                    "task_id": id, "assignee": assignee, "due_at": due_at, "actor": SLA_ACTOR,
                }),
            );
        }
        breached.sort_unstable();
        for order in breached {
            if req.status.is_terminal() {
                break;
            }
            self.breach(req, &mut step, order, &due, escalations);
        }
        if !req.status.is_terminal() {
            self.advance(req, &mut step, SLA_ACTOR);
        }
        Ok(step)
    }

    /// The stage's `on_breach`, once per stage per tick.
    fn breach(
        &mut self,
        req: &mut RequestState,
        step: &mut Step,
        order: i32,
        expired_now: &[Uuid],
        escalations: &[(i32, Vec<Assignee>)],
    ) {
        let Some(def) = self.policy.stages.iter().find(|s| s.stage_order == order) else { return };
        if req.stage(order).map(|s| s.status) != Some(StageStatus::Active) {
            return;
        }
        match def.on_breach.unwrap_or(OnBreach::Notify) {
            // Nothing further: the caller decides from the `task_expired` events.
            OnBreach::Notify => {}
            OnBreach::Escalate => {
                let users = escalations.iter().find(|(o, _)| *o == order).map(|(_, u)| u.clone());
                if let Some(users) = users {
                    self.escalate(req, step, order, users);
                }
            }
            action @ (OnBreach::AutoApprove | OnBreach::AutoReject) => {
                let verdict =
                    if action == OnBreach::AutoApprove { DecisionAction::Approve } else { DecisionAction::Reject };
                // The stage's approver slots that were live when the tick began: the
                // tasks that just expired and those still open.
                let slots: Vec<Uuid> = req
                    .tasks
                    .iter()
                    .filter(|t| t.stage_order == order && t.kind == RuleKind::Approver)
                    .filter(|t| t.status.is_live() || expired_now.contains(&t.id))
                    .map(|t| t.id)
                    .collect();
                for id in slots {
                    let decision_id = self.ids.next_id();
                    let Some(task) = req.task_mut(id) else { continue };
                    task.status = TaskStatus::Completed;
                    task.completed_at = Some(self.now);
                    task.decision = Some(verdict);
                    task.decision_id = Some(decision_id);
                    task.decided_by = Some(SLA_ACTOR.into());
                    step.touch(id);
                    step.decisions.push(NewDecision {
                        id: decision_id,
                        task_id: id,
                        stage_order: order,
                        actor: SLA_ACTOR.into(),
                        actor_name: None,
                        action: verdict,
                        comment: Some(format!(
                            "SLA breach {}",
                            if verdict == DecisionAction::Approve { "auto-approve" } else { "auto-reject" }
                        )),
                        attachments_ref: None,
                        created_at: self.now,
                    });
                }
                if verdict == DecisionAction::Reject {
                    // Auto-reject terminates the request, whatever the mode's math.
                    self.close_stage(req, step, order, StageStatus::Rejected, "auto-rejected after SLA breach".into());
                    self.close_live_tasks(req, step, None);
                    self.emit(
                        req,
                        step,
                        "stage_completed",
                        Some(order),
                        json!({"outcome": "rejected", "actor": SLA_ACTOR}),
                    );
                    self.finish(req, RequestStatus::Rejected);
                    self.emit(
                        req,
                        step,
                        "request_rejected",
                        Some(order),
                        json!({"actor": SLA_ACTOR, "reason": "sla_breach"}),
                    );
                } else {
                    self.evaluate_stage(req, step, order, SLA_ACTOR);
                }
            }
        }
    }

    /// The resolver role's answer for escalation rules it resolved after a
    /// breach: each stage escalates to its users (a failure is recorded as
    /// `stage_resolution_failed` and the stage waits, as with `notify`).
    pub fn escalation_resolved(
        &mut self,
        req: &mut RequestState,
        results: Vec<(i32, Result<Vec<Assignee>, String>)>,
    ) -> Result<Step, Refusal> {
        self.refuse_terminal(req)?;
        let mut step = Step::default();
        for (order, result) in results {
            match result {
                Ok(users) => self.escalate(req, &mut step, order, users),
                Err(reason) => self.emit(
                    req,
                    &mut step,
                    "stage_resolution_failed",
                    Some(order),
                    json!({"reason": reason, "escalation": true, "actor": SLA_ACTOR}),
                ),
            }
            if req.status.is_terminal() {
                return Ok(step);
            }
        }
        self.advance(req, &mut step, SLA_ACTOR);
        Ok(step)
    }

    /// `escalate`: adds the resolved escalation approvers as fresh approver
    /// tasks; the expired tasks stay expired and hand their slots to them.
    /// People segregation of duties excludes, people already on the stage and
    /// people escalated to before are left out, and `stage_escalated` says
    /// who and why. With nobody new the breach is a no-op: the stage waits,
    /// as with `notify`.
    pub fn escalate(&mut self, req: &mut RequestState, step: &mut Step, order: i32, users: Vec<Assignee>) {
        let Some(def) = self.policy.stages.iter().find(|s| s.stage_order == order) else { return };
        if req.status.is_terminal() || req.stage(order).map(|s| s.status) != Some(StageStatus::Active) {
            return;
        }
        let due_at = self.due_at(order);
        let earlier = self.earlier(req, order);
        let (mut added, mut left_out) = (Vec::new(), Vec::new());
        for a in users {
            if added.contains(&a.user) {
                continue;
            }
            let on_stage = |t: &Task| t.stage_order == order && t.assignee == a.user;
            let why = if req.tasks.iter().any(|t| on_stage(t) && t.escalated) {
                Some("already_escalated")
            } else if req.tasks.iter().any(|t| on_stage(t) && t.status.is_live()) {
                Some("already_on_stage")
            } else {
                self.excluded(req, order, &earlier, &a.user, a.delegated_from.as_deref()).map(Exclusion::as_str)
            };
            if let Some(why) = why {
                if !left_out.iter().any(|(u, _): &(String, &str)| *u == a.user) {
                    left_out.push((a.user, why));
                }
                continue;
            }
            let id = self.ids.next_id();
            req.tasks.push(Task {
                id,
                stage_id: def.id,
                stage_order: order,
                assignee: a.user.clone(),
                assignee_name: None,
                kind: RuleKind::Approver,
                required: false,
                delegated_from: a.delegated_from.clone(),
                reassigned_from: None,
                status: TaskStatus::Open,
                claimed_at: None,
                completed_at: None,
                due_at,
                decision: None,
                decision_id: None,
                decided_by: None,
                escalated: true,
                created_at: self.now,
            });
            step.created_tasks.push(id);
            added.push(a.user);
        }
        if added.is_empty() {
            return;
        }
        let left_out: Vec<_> = left_out.iter().map(|(u, why)| json!({"user": u, "reason": why})).collect();
        self.emit(
            req,
            step,
            "stage_escalated",
            Some(order),
            json!({"added_approvers": added, "left_out": left_out, "actor": SLA_ACTOR}),
        );
        // The expired slots have handed over: a stage whose remaining
        // approvals now suffice completes at once.
        if let Verdict::Approved { approvals, slots, .. } = req.verdict(def) {
            self.close_stage(req, step, order, StageStatus::Approved, format!("{approvals} of {slots} approved"));
            self.emit(req, step, "stage_completed", Some(order), json!({"outcome": "approved", "actor": SLA_ACTOR}));
        }
    }
}
