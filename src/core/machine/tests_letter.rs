//! The spec's words on SLA breaches, escalation, segregation of duties on
//! every path, and how a request's stages end.

use chrono::Duration;
use serde_json::json;

use super::tests::*;
use super::*;

fn later(hours: i64) -> DateTime<Utc> {
    now() + Duration::hours(hours)
}

fn tick(p: &PolicyDef, req: &mut RequestState, at: DateTime<Utc>, escalate_to: &[&str], seed: u128) -> Step {
    let users = escalate_to.iter().map(|u| Assignee { user: (*u).into(), required: false, delegated_from: None });
    let escalations = [(1, users.collect())];
    Machine::new(p, at, Uuid::from_u128(seed)).expire_due(req, &escalations).expect("tick")
}

fn types(step: &Step) -> Vec<&'static str> {
    step.events.iter().map(|e| e.event_type).collect()
}

fn admin() -> Actor {
    Actor { sub: "ops".into(), assignee_id: "ops".into(), name: None, email: None, roles: vec![ROLE_ADMIN.into()] }
}

fn task_of(req: &RequestState, who: &str) -> Task {
    req.tasks.iter().rev().find(|t| t.assignee == who).cloned().expect("a task")
}

fn decide_at(p: &PolicyDef, req: &mut RequestState, who: &str, action: DecisionAction, seed: u128) -> Step {
    let task_id = open_task(req, who);
    let input =
        DecisionInput { task_id, decision_id: Uuid::from_u128(seed), action, comment: None, attachments_ref: None };
    let mut step = Machine::new(p, later(3), Uuid::from_u128(seed)).decide(req, input, &user(who)).expect("decides");
    // Every decision is in the timeline first; the tests look at what followed from it.
    assert_eq!(step.events.first().map(|e| e.event_type), Some("decision_submitted"));
    step.events.remove(0);
    step
}

fn reassign(p: &PolicyDef, req: &mut RequestState, from: &str, to: &str, seed: u128) -> Result<Uuid, Refusal> {
    let task = task_of(req, from);
    Machine::new(p, later(3), Uuid::from_u128(seed)).reassign(req, task.id, to, "ops", None).map(|(_, id)| id)
}

use crate::domain::ROLE_ADMIN;

#[test]
fn under_notify_a_later_decision_rejects_when_a_required_approver_expired() {
    let p = policy(json!([
        {"name": "s", "stage_order": 1, "mode": "any-n", "mode_value": 1, "sla_hours": 1, "on_breach": "notify", "rules": [
            {"rule_type": "user", "rule_value": {"user_id": "ann"}, "required": true},
            {"rule_type": "user", "rule_value": {"user_id": "bob"}}]}
    ]));
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    tick(&p, &mut req, later(2), &[], 5);
    assert_eq!(req.status, RequestStatus::InReview);
    // An operator revives bob's slot; bob's stand-in approves, but ann, required, has no open task.
    reassign(&p, &mut req, "bob", "carol", 6).expect("an expired task can be reassigned");
    let step = decide_at(&p, &mut req, "carol", DecisionAction::Approve, 7);
    assert_eq!(types(&step), vec!["stage_completed", "request_rejected"]);
    assert_eq!(req.status, RequestStatus::Rejected, "rejected, never expired");
    assert!(req.stage(1).and_then(|s| s.reason.clone()).unwrap_or_default().contains("required approver ann"));
}

#[test]
fn an_admin_revives_a_stalled_stage_by_reassigning_its_expired_tasks() {
    let p = sla_policy("notify", "all");
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    tick(&p, &mut req, later(2), &[], 5);
    assert!(req.stalled(&p.stages[0]).is_some());
    let carol = reassign(&p, &mut req, "ann", "carol", 6).expect("revives ann's slot");
    let revived = req.task(carol).expect("carol's task").clone();
    assert_eq!(revived.status, TaskStatus::Open);
    assert_eq!(revived.due_at, Some(later(4)), "a new due time from now");
    assert_eq!(task_of(&req, "ann").status, TaskStatus::Reassigned);
    reassign(&p, &mut req, "bob", "dave", 7).expect("revives bob's slot");
    assert!(req.stalled(&p.stages[0]).is_none());
    decide_at(&p, &mut req, "carol", DecisionAction::Approve, 8);
    let step = decide_at(&p, &mut req, "dave", DecisionAction::Approve, 9);
    assert_eq!(types(&step), vec!["stage_completed"]);
    assert_eq!(stage_status(&req, 1), StageStatus::Approved);
}

#[test]
fn an_escalated_all_mode_stage_completes_when_the_escalation_approver_approves() {
    let p = sla_policy("escalate", "all");
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    let step = tick(&p, &mut req, later(2), &["boss"], 5);
    assert_eq!(types(&step), vec!["task_expired", "task_expired", "stage_escalated"]);
    assert_eq!(task_of(&req, "ann").status, TaskStatus::Expired, "expired tasks stay expired for audit");
    assert!(req.stalled(&p.stages[0]).is_none());
    let step = decide_at(&p, &mut req, "boss", DecisionAction::Approve, 6);
    assert_eq!(types(&step), vec!["stage_completed"]);
    assert_eq!(stage_status(&req, 1), StageStatus::Approved);
}

#[test]
fn a_later_breach_never_re_adds_people_escalated_to_before_and_is_then_a_no_op() {
    let p = sla_policy("escalate", "any-n");
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    tick(&p, &mut req, later(2), &["boss"], 5);
    let step = tick(&p, &mut req, later(4), &["boss"], 6);
    assert_eq!(types(&step), vec!["task_expired"], "boss expired; nobody new to add");
    assert_eq!(req.tasks.iter().filter(|t| t.assignee == "boss").count(), 1);
    assert_eq!(req.status, RequestStatus::InReview);
}

#[test]
fn escalation_leaves_out_whom_segregation_of_duties_excludes_and_says_so() {
    let mut p = sla_policy("escalate", "any-n");
    p.forbid_self_approval = true;
    let mut req = new_request(&p);
    req.requester = "boss".into();
    start_all(&p, &mut req);
    let step = tick(&p, &mut req, later(2), &["boss", "legal", "chief"], 5);
    let escalated = step.events.iter().find(|e| e.event_type == "stage_escalated").expect("escalated");
    assert_eq!(escalated.payload["added_approvers"], json!(["chief"]));
    assert_eq!(
        escalated.payload["left_out"],
        json!([{"user": "boss", "reason": "forbid_self_approval"}, {"user": "legal", "reason": "already_on_stage"}])
    );
}

#[test]
fn reassignment_to_the_requester_or_to_a_second_vote_is_refused_naming_the_rule() {
    let mut p = policy(json!([
        {"name": "s", "stage_order": 1, "mode": "any-n", "mode_value": 2, "rules": [
            {"rule_type": "user", "rule_value": {"user_id": "ann"}},
            {"rule_type": "user", "rule_value": {"user_id": "bob"}},
            {"rule_type": "user", "rule_value": {"user_id": "cy"}}]}
    ]));
    p.forbid_self_approval = true;
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    let before = req.clone();
    let self_approval = reassign(&p, &mut req, "ann", "registry", 5);
    assert!(matches!(self_approval, Err(Refusal::Ineligible(ref m)) if m.contains("forbid_self_approval")));
    let second_vote = reassign(&p, &mut req, "ann", "bob", 6);
    assert!(matches!(second_vote, Err(Refusal::Ineligible(ref m)) if m.contains("already holds an open task")));
    assert_eq!(before, req, "a refused reassignment changes nothing");
    decide_at(&p, &mut req, "bob", DecisionAction::Approve, 7);
    let decided = reassign(&p, &mut req, "cy", "bob", 8);
    assert!(matches!(decided, Err(Refusal::Ineligible(ref m)) if m.contains("one vote")), "{decided:?}");
}

#[test]
fn forbid_repeat_approvers_counts_earlier_groups_and_own_decisions_only() {
    let mut p = policy(json!([
        {"name": "a", "stage_order": 1, "parallel_group": 1, "sla_hours": 1, "on_breach": "auto_approve",
         "rules": [{"rule_type": "user", "rule_value": {"user_id": "ann"}}]},
        {"name": "b", "stage_order": 2, "parallel_group": 1, "mode": "any-n", "mode_value": 1,
         "rules": [{"rule_type": "user", "rule_value": {"user_id": "ann"}}, {"rule_type": "user", "rule_value": {"user_id": "bob"}}]},
        {"name": "c", "stage_order": 3,
         "rules": [{"rule_type": "user", "rule_value": {"user_id": "ann"}}, {"rule_type": "user", "rule_value": {"user_id": "bob"}}]}
    ]));
    p.forbid_repeat_approvers = true;
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    // Both stages of group 1 started together: ann holds a task on each.
    assert_eq!(req.tasks.iter().filter(|t| t.assignee == "ann").count(), 2);
    // The SLA monitor approves stage 1 for ann: not ann's own decision.
    let step = tick(&p, &mut req, later(2), &[], 5);
    settle(&p, &mut req, step, 50);
    assert_eq!(stage_status(&req, 1), StageStatus::Approved);
    let step = decide_at(&p, &mut req, "bob", DecisionAction::Approve, 6);
    settle(&p, &mut req, step, 60);
    let stage3: Vec<&str> = req.tasks.iter().filter(|t| t.stage_order == 3).map(|t| t.assignee.as_str()).collect();
    assert_eq!(stage3, vec!["ann"], "bob approved an earlier group in person; ann's approval was synthesised");
}

#[test]
fn a_cancel_ends_every_stage_and_a_rejection_ends_the_parallel_siblings() {
    let p = policy(json!([
        {"name": "legal", "stage_order": 1, "parallel_group": 1, "rules": [{"rule_type": "user", "rule_value": {"user_id": "ann"}}]},
        {"name": "finance", "stage_order": 2, "parallel_group": 1, "rules": [{"rule_type": "user", "rule_value": {"user_id": "bob"}}]},
        {"name": "director", "stage_order": 3, "rules": [{"rule_type": "user", "rule_value": {"user_id": "cy"}}]}
    ]));
    let mut cancelled = new_request(&p);
    start_all(&p, &mut cancelled);
    Machine::new(&p, now(), Uuid::from_u128(5)).cancel(&mut cancelled, "registry", None).expect("cancels");
    assert!(cancelled.stages.iter().all(|s| s.status == StageStatus::Cancelled), "{:?}", cancelled.stages);

    let mut rejected = new_request(&p);
    start_all(&p, &mut rejected);
    decide_at(&p, &mut rejected, "ann", DecisionAction::Reject, 6);
    let statuses: Vec<StageStatus> = rejected.stages.iter().map(|s| s.status).collect();
    assert_eq!(statuses, vec![StageStatus::Rejected, StageStatus::Skipped, StageStatus::Skipped]);
    assert!(rejected.stages.iter().all(|s| s.completed_at.is_some()));
}

#[test]
fn request_approved_names_the_decider_when_the_stages_after_were_skipped() {
    let p = policy(json!([
        {"name": "s", "stage_order": 1, "rules": [{"rule_type": "user", "rule_value": {"user_id": "ann"}}]},
        {"name": "t", "stage_order": 2, "on_empty": "skip", "rules": [{"rule_type": "role", "rule_value": {"role": "NOBODY"}}]}
    ]));
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    let task_id = open_task(&req, "ann");
    let input = DecisionInput {
        task_id,
        decision_id: Uuid::from_u128(9),
        action: DecisionAction::Approve,
        comment: None,
        attachments_ref: None,
    };
    let mut machine = Machine::new(&p, now(), Uuid::from_u128(9));
    let step = machine.decide(&mut req, input, &user("ann")).expect("decides");
    assert_eq!(step.resolve, vec![2]);
    let results = vec![(2, Resolution::Resolved { approvers: vec![], observers: vec![] })];
    let step = machine.resolved(&mut req, results).expect("resolves");
    let approved = step.events.iter().find(|e| e.event_type == "request_approved").expect("approved");
    assert_eq!(approved.payload["actor"], "sub-ann");
}

#[test]
fn an_admin_decision_stays_possible_on_a_stage_an_escalation_revived() {
    let p = sla_policy("escalate", "all");
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    tick(&p, &mut req, later(2), &["boss"], 5);
    let boss = task_of(&req, "boss");
    let input = DecisionInput {
        task_id: boss.id,
        decision_id: Uuid::from_u128(6),
        action: DecisionAction::Approve,
        comment: None,
        attachments_ref: None,
    };
    Machine::new(&p, later(3), Uuid::from_u128(6)).decide(&mut req, input, &admin()).expect("an admin decides");
    assert_eq!(stage_status(&req, 1), StageStatus::Approved);
}

#[test]
fn claims_decisions_with_their_comment_and_comments_are_in_the_timeline() {
    let p = policy(json!([{"name": "s", "stage_order": 1, "mode": "all", "rules": [
        {"rule_type": "user", "rule_value": {"user_id": "ann"}},
        {"rule_type": "user", "rule_value": {"user_id": "bob"}},
        {"rule_type": "user", "rule_value": {"user_id": "legal"}, "kind": "observer"}]}]));
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    let ann = open_task(&req, "ann");
    let step = Machine::new(&p, now(), Uuid::from_u128(5)).claim(&mut req, ann, &user("ann")).expect("claims");
    assert_eq!(types(&step), vec!["task_claimed"]);
    assert_eq!(step.events[0].payload["actor"], "sub-ann");

    let input = DecisionInput {
        task_id: ann,
        decision_id: Uuid::from_u128(6),
        action: DecisionAction::Approve,
        comment: Some("documents check out".into()),
        attachments_ref: None,
    };
    let step = Machine::new(&p, now(), Uuid::from_u128(6)).decide(&mut req, input, &user("ann")).expect("decides");
    let submitted = &step.events[0];
    assert_eq!(submitted.event_type, "decision_submitted");
    assert_eq!(
        (&submitted.payload["action"], &submitted.payload["comment"], &submitted.payload["actor"]),
        (&json!("approve"), &json!("documents check out"), &json!("sub-ann"))
    );

    // An observer comments; the observer's task stays open and the stage does not move.
    let legal = open_task(&req, "legal");
    let note = CommentInput {
        task_id: legal,
        comment_id: Uuid::from_u128(70),
        comment: "legal has no objection".into(),
        attachments_ref: None,
    };
    let step =
        Machine::new(&p, now(), Uuid::from_u128(7)).comment(&mut req, note.clone(), &user("legal")).expect("comments");
    assert_eq!(types(&step), vec!["comment_added"]);
    assert_eq!(step.events[0].payload["comment"], "legal has no objection");
    assert!(step.updated_tasks.is_empty() && step.decisions.is_empty());
    assert_eq!(req.task(legal).map(|t| t.status), Some(TaskStatus::Open));
    // A decided approver still holds a task and may comment; someone without one may not.
    let later_note = CommentInput { task_id: ann, ..note.clone() };
    Machine::new(&p, now(), Uuid::from_u128(8)).comment(&mut req, later_note, &user("ann")).expect("ann comments");
    let stranger = Machine::new(&p, now(), Uuid::from_u128(9)).comment(&mut req, note.clone(), &user("mallory"));
    assert_eq!(stranger, Err(Refusal::NotAssignee));
    // Not once the request has ended.
    Machine::new(&p, now(), Uuid::from_u128(10)).cancel(&mut req, "registry", None).expect("cancels");
    let late = Machine::new(&p, now(), Uuid::from_u128(11)).comment(&mut req, note, &user("legal"));
    assert_eq!(late, Err(Refusal::RequestTerminal("cancelled")));
}
