use super::*;
use crate::domain::{PolicyIn, RuleSpec};
use chrono::TimeZone;
use serde_json::json;

pub(super) fn policy(stages: Value) -> PolicyDef {
    let doc: PolicyIn = serde_json::from_value(json!({
        "policy_key": "registry.cr.v1", "name": "CR", "artifact_type": "registry.change_request", "stages": stages
    }))
    .expect("document");
    doc.parse(&mut Ids::new(Uuid::nil())).expect("valid policy")
}

pub(super) fn two_stage() -> PolicyDef {
    policy(json!([
        {"name": "District officers", "stage_order": 1, "mode": "any-n", "mode_value": 1, "rules": [
            {"rule_type": "user", "rule_value": {"user_id": "alice"}},
            {"rule_type": "user", "rule_value": {"user_id": "bob"}}]},
        {"name": "State directors", "stage_order": 2, "mode": "all", "rules": [
            {"rule_type": "user", "rule_value": {"user_id": "director-x"}}]}
    ]))
}

/// Resolves `user` rules the way the resolver does, without IO.
pub(super) fn resolve(policy: &PolicyDef, order: i32) -> Resolution {
    let stage = policy.stages.iter().find(|s| s.stage_order == order).expect("stage");
    let mut approvers = Vec::new();
    let mut observers = Vec::new();
    for rule in &stage.rules {
        if let RuleSpec::User { user_id } = &rule.spec {
            let a = Assignee { user: user_id.clone(), required: rule.required, delegated_from: None };
            match rule.kind {
                RuleKind::Approver => approvers.push(a),
                RuleKind::Observer => observers.push(a),
            }
        }
    }
    Resolution::Resolved { approvers, observers }
}

pub(super) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 23, 10, 0, 0).single().expect("time")
}

pub(super) fn user(name: &str) -> Actor {
    Actor { sub: format!("sub-{name}"), assignee_id: name.into(), name: None, email: None, roles: vec![] }
}

pub(super) fn new_request(policy: &PolicyDef) -> RequestState {
    RequestState::new(
        Uuid::from_u128(7),
        policy,
        1,
        "registry.change_request".into(),
        "cr-42".into(),
        "registry".into(),
    )
}

/// Applies a step's resolution requests until none is left.
pub(super) fn settle(policy: &PolicyDef, req: &mut RequestState, mut step: Step, seed: u128) -> Vec<&'static str> {
    let mut types: Vec<&'static str> = step.events.iter().map(|e| e.event_type).collect();
    let mut n = seed;
    while !step.resolve.is_empty() {
        n += 1;
        let results = step.resolve.iter().map(|o| (*o, resolve(policy, *o))).collect();
        step = Machine::new(policy, now(), Uuid::from_u128(n)).resolved(req, results).expect("resolves");
        types.extend(step.events.iter().map(|e| e.event_type));
    }
    types
}

pub(super) fn open_task(req: &RequestState, assignee: &str) -> Uuid {
    req.tasks.iter().find(|t| t.assignee == assignee && t.status.is_live()).expect("open task").id
}

pub(super) fn decide(
    policy: &PolicyDef,
    req: &mut RequestState,
    who: &str,
    action: DecisionAction,
    seed: u128,
) -> Vec<&'static str> {
    let task_id = open_task(req, who);
    let input =
        DecisionInput { task_id, decision_id: Uuid::from_u128(seed), action, comment: None, attachments_ref: None };
    let step = Machine::new(policy, now(), Uuid::from_u128(seed)).decide(req, input, &user(who)).expect("decides");
    let mut events = settle(policy, req, step, seed * 100);
    // Every decision is in the timeline first; the tests look at what followed from it.
    assert_eq!(events.first(), Some(&"decision_submitted"));
    events.remove(0);
    events
}

#[test]
fn the_two_stage_happy_path_of_spec_003_ends_approved() {
    let p = two_stage();
    let mut req = new_request(&p);
    let step = Machine::new(&p, now(), Uuid::from_u128(1)).start(&mut req, "registry");
    assert_eq!(step.resolve, vec![1]);
    let events = settle(&p, &mut req, step, 10);
    assert_eq!(events, vec!["request_created", "stage_started"]);
    assert_eq!(req.status, RequestStatus::InReview);
    assert_eq!(req.tasks.iter().map(|t| t.assignee.as_str()).collect::<Vec<_>>(), vec!["alice", "bob"]);

    let events = decide(&p, &mut req, "alice", DecisionAction::Approve, 2);
    assert_eq!(events, vec!["stage_completed", "stage_started"]);
    let bob = req.tasks.iter().find(|t| t.assignee == "bob").expect("bob");
    assert_eq!(bob.status, TaskStatus::Skipped);
    assert_eq!(req.current_stage_order, 2);

    let events = decide(&p, &mut req, "director-x", DecisionAction::Approve, 3);
    assert_eq!(events, vec!["stage_completed", "request_approved"]);
    assert_eq!(req.status, RequestStatus::Approved);
    assert_eq!(req.stage(1).and_then(|s| s.reason.clone()).as_deref(), Some("1 of 2 approved"));
}

#[test]
fn cancelling_skips_open_tasks_and_ends_the_request() {
    let p = two_stage();
    let mut req = new_request(&p);
    let step = Machine::new(&p, now(), Uuid::from_u128(1)).start(&mut req, "registry");
    settle(&p, &mut req, step, 10);
    let step = Machine::new(&p, now(), Uuid::from_u128(5))
        .cancel(&mut req, "registry", Some("withdrawn".into()))
        .expect("cancels");
    assert_eq!(step.events.iter().map(|e| e.event_type).collect::<Vec<_>>(), vec!["request_cancelled"]);
    assert_eq!(step.events[0].payload["reason"], "withdrawn");
    assert_eq!(req.status, RequestStatus::Cancelled);
    assert!(req.tasks.iter().all(|t| t.status == TaskStatus::Skipped));
    let again = Machine::new(&p, now(), Uuid::from_u128(6)).cancel(&mut req, "registry", None);
    assert_eq!(again, Err(Refusal::RequestTerminal("cancelled")));
}

#[test]
fn a_reject_in_all_mode_rejects_the_request() {
    let p = two_stage();
    let mut req = new_request(&p);
    let step = Machine::new(&p, now(), Uuid::from_u128(1)).start(&mut req, "registry");
    settle(&p, &mut req, step, 10);
    decide(&p, &mut req, "alice", DecisionAction::Approve, 2);
    let events = decide(&p, &mut req, "director-x", DecisionAction::Reject, 3);
    assert_eq!(events, vec!["stage_completed", "request_rejected"]);
    assert_eq!(req.status, RequestStatus::Rejected);
}

#[test]
fn a_reject_in_any_n_mode_waits_for_the_other_approver() {
    let p = two_stage();
    let mut req = new_request(&p);
    let step = Machine::new(&p, now(), Uuid::from_u128(1)).start(&mut req, "registry");
    settle(&p, &mut req, step, 10);
    let events = decide(&p, &mut req, "alice", DecisionAction::Reject, 2);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(req.status, RequestStatus::InReview);
    let events = decide(&p, &mut req, "bob", DecisionAction::Reject, 3);
    assert_eq!(events, vec!["stage_completed", "request_rejected"]);
}

#[test]
fn a_decision_by_someone_else_or_on_a_closed_task_is_refused() {
    let p = two_stage();
    let mut req = new_request(&p);
    let step = Machine::new(&p, now(), Uuid::from_u128(1)).start(&mut req, "registry");
    settle(&p, &mut req, step, 10);
    let alice_task = open_task(&req, "alice");
    let input = |n| DecisionInput {
        task_id: alice_task,
        decision_id: Uuid::from_u128(n),
        action: DecisionAction::Approve,
        comment: None,
        attachments_ref: None,
    };
    let mut m = Machine::new(&p, now(), Uuid::from_u128(2));
    assert_eq!(m.decide(&mut req, input(2), &user("bob")), Err(Refusal::NotAssignee));
    m.decide(&mut req, input(3), &user("alice")).expect("alice decides");
    assert_eq!(m.decide(&mut req, input(4), &user("alice")), Err(Refusal::TaskClosed("completed")));
}

#[test]
fn an_observer_decision_never_moves_the_stage() {
    let p = policy(json!([{"name": "s", "stage_order": 1, "rules": [
        {"rule_type": "user", "rule_value": {"user_id": "alice"}},
        {"rule_type": "user", "rule_value": {"user_id": "legal"}, "kind": "observer"}]}]));
    let mut req = new_request(&p);
    let step = Machine::new(&p, now(), Uuid::from_u128(1)).start(&mut req, "registry");
    settle(&p, &mut req, step, 10);
    let legal = req.tasks.iter().find(|t| t.assignee == "legal").expect("observer task");
    assert_eq!((legal.kind, legal.due_at), (RuleKind::Observer, None));
    let events = decide(&p, &mut req, "legal", DecisionAction::Reject, 2);
    assert!(events.is_empty());
    assert_eq!(req.status, RequestStatus::InReview);
}

#[test]
fn a_stage_with_nobody_resolved_blocks_by_default() {
    let p = two_stage();
    let mut req = new_request(&p);
    let step = Machine::new(&p, now(), Uuid::from_u128(1)).start(&mut req, "registry");
    let empty = Resolution::Resolved { approvers: vec![], observers: vec![] };
    let step2 =
        Machine::new(&p, now(), Uuid::from_u128(2)).resolved(&mut req, vec![(step.resolve[0], empty)]).expect("ok");
    assert_eq!(step2.events.iter().map(|e| e.event_type).collect::<Vec<_>>(), vec!["request_rejected"]);
    assert_eq!(step2.events[0].payload["reason"], "no_approvers_resolved");
    assert_eq!(req.status, RequestStatus::Rejected);
}

#[test]
fn a_failed_resolution_leaves_the_stage_unstarted() {
    let p = two_stage();
    let mut req = new_request(&p);
    Machine::new(&p, now(), Uuid::from_u128(1)).start(&mut req, "registry");
    let failed = Resolution::Failed { reason: "resolver down".into() };
    let step = Machine::new(&p, now(), Uuid::from_u128(2)).resolved(&mut req, vec![(1, failed)]).expect("ok");
    assert_eq!(step.events.iter().map(|e| e.event_type).collect::<Vec<_>>(), vec!["stage_resolution_failed"]);
    assert_eq!(req.status, RequestStatus::Pending);
    assert_eq!(req.stage(1).map(|s| s.status), Some(StageStatus::Resolving));
    assert!(step.resolve.is_empty());
}

#[test]
fn the_same_inputs_give_the_same_events() {
    let run = || {
        let p = two_stage();
        let mut req = new_request(&p);
        let step = Machine::new(&p, now(), Uuid::from_u128(1)).start(&mut req, "registry");
        settle(&p, &mut req, step, 10);
        decide(&p, &mut req, "alice", DecisionAction::Approve, 2);
        req
    };
    assert_eq!(run(), run());
}

#[test]
fn event_sequence_numbers_count_up_per_request() {
    let p = two_stage();
    let mut req = new_request(&p);
    let step = Machine::new(&p, now(), Uuid::from_u128(1)).start(&mut req, "registry");
    assert_eq!(step.events[0].seq, 1);
    settle(&p, &mut req, step, 10);
    assert_eq!(req.last_seq, 2);
}

#[test]
fn a_policy_without_stages_approves_at_once() {
    let p = policy(json!([]));
    let mut req = new_request(&p);
    let step = Machine::new(&p, now(), Uuid::from_u128(1)).start(&mut req, "registry");
    assert_eq!(
        step.events.iter().map(|e| e.event_type).collect::<Vec<_>>(),
        vec!["request_created", "request_approved"]
    );
    assert_eq!(req.status, RequestStatus::Approved);
}

pub(super) fn start_all(p: &PolicyDef, req: &mut RequestState) -> Vec<&'static str> {
    let step = Machine::new(p, now(), Uuid::from_u128(1)).start(req, "registry");
    settle(p, req, step, 10)
}

pub(super) fn stage_status(req: &RequestState, order: i32) -> StageStatus {
    req.stage(order).map(|s| s.status).expect("stage")
}

#[test]
fn groups_run_by_their_smallest_stage_order_even_when_not_adjacent() {
    let p = policy(json!([
        {"name": "a", "stage_order": 1, "parallel_group": 5, "rules": [{"rule_type": "user", "rule_value": {"user_id": "a"}}]},
        {"name": "b", "stage_order": 2, "rules": [{"rule_type": "user", "rule_value": {"user_id": "b"}}]},
        {"name": "c", "stage_order": 3, "parallel_group": 5, "rules": [{"rule_type": "user", "rule_value": {"user_id": "c"}}]}
    ]));
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    assert_eq!((stage_status(&req, 1), stage_status(&req, 3)), (StageStatus::Active, StageStatus::Active));
    assert_eq!(stage_status(&req, 2), StageStatus::Waiting);
    decide(&p, &mut req, "a", DecisionAction::Approve, 2);
    assert_eq!(stage_status(&req, 2), StageStatus::Waiting, "the group waits for c");
    decide(&p, &mut req, "c", DecisionAction::Approve, 3);
    assert_eq!(stage_status(&req, 2), StageStatus::Active);
}

#[test]
fn a_required_approver_whose_task_was_reassigned_passes_the_gate_to_the_replacement() {
    let p = policy(json!([{"name": "s", "stage_order": 1, "mode": "any-n", "mode_value": 1, "rules": [
        {"rule_type": "user", "rule_value": {"user_id": "ann"}},
        {"rule_type": "user", "rule_value": {"user_id": "boss"}, "required": true}]}]));
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    let boss = open_task(&req, "boss");
    let (step, new_id) = Machine::new(&p, now(), Uuid::from_u128(4))
        .reassign(&mut req, boss, "deputy", "ops", Some("away".into()))
        .expect("reassigned");
    assert_eq!(step.events[0].event_type, "task_reassigned");
    let replacement = req.task(new_id).expect("new task");
    assert!(replacement.required && replacement.reassigned_from.as_deref() == Some("boss"));
    decide(&p, &mut req, "ann", DecisionAction::Approve, 5);
    assert_eq!(req.status, RequestStatus::InReview, "the required slot is still open");
    decide(&p, &mut req, "deputy", DecisionAction::Approve, 6);
    assert_eq!(req.status, RequestStatus::Approved);
}

#[test]
fn reassigning_to_the_same_user_or_a_closed_task_is_refused() {
    let p = two_stage();
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    let alice = open_task(&req, "alice");
    let mut m = Machine::new(&p, now(), Uuid::from_u128(4));
    assert_eq!(m.reassign(&mut req, alice, "alice", "ops", None).map(|_| ()), Err(Refusal::SameAssignee));
    decide(&p, &mut req, "alice", DecisionAction::Approve, 5);
    let mut m = Machine::new(&p, now(), Uuid::from_u128(6));
    assert!(matches!(m.reassign(&mut req, alice, "zed", "ops", None), Err(Refusal::TaskNotOpen("completed"))));
}

#[test]
fn segregation_of_duties_filters_approvers_but_never_observers() {
    let doc: PolicyIn = serde_json::from_value(json!({
        "policy_key": "k", "name": "n", "artifact_type": "a", "forbid_self_approval": true, "forbid_repeat_approvers": true,
        "stages": [
            {"name": "one", "stage_order": 1, "rules": [{"rule_type": "user", "rule_value": {"user_id": "ann"}}]},
            {"name": "two", "stage_order": 2, "mode": "any-n", "rules": [
                {"rule_type": "user", "rule_value": {"user_id": "ann"}},
                {"rule_type": "user", "rule_value": {"user_id": "registry"}},
                {"rule_type": "user", "rule_value": {"user_id": "cid"}},
                {"rule_type": "user", "rule_value": {"user_id": "registry"}, "kind": "observer"}]}
        ]
    }))
    .expect("doc");
    let p = doc.parse(&mut Ids::new(Uuid::nil())).expect("valid");
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    decide(&p, &mut req, "ann", DecisionAction::Approve, 2);
    let stage_two: Vec<(&str, RuleKind)> =
        req.tasks.iter().filter(|t| t.stage_order == 2).map(|t| (t.assignee.as_str(), t.kind)).collect();
    assert_eq!(stage_two, vec![("cid", RuleKind::Approver), ("registry", RuleKind::Observer)]);
}

#[test]
fn a_skipped_stage_creates_no_tasks_and_the_next_one_starts() {
    let p = two_stage();
    let mut req = new_request(&p);
    let step = Machine::new(&p, now(), Uuid::from_u128(1)).start(&mut req, "registry");
    let step = Machine::new(&p, now(), Uuid::from_u128(2))
        .resolved(&mut req, vec![(step.resolve[0], Resolution::Skip)])
        .expect("ok");
    assert_eq!(step.events.iter().map(|e| e.event_type).collect::<Vec<_>>(), vec!["stage_skipped"]);
    assert_eq!(step.resolve, vec![2]);
    assert!(req.tasks.is_empty());
    assert_eq!(req.stage(1).and_then(|s| s.reason.clone()).as_deref(), Some("skipped: skip_if true"));
}

#[test]
fn a_delegated_task_records_whom_it_came_from() {
    let p = two_stage();
    let mut req = new_request(&p);
    let step = Machine::new(&p, now(), Uuid::from_u128(1)).start(&mut req, "registry");
    let delegated = Resolution::Resolved {
        approvers: vec![Assignee { user: "carol".into(), required: false, delegated_from: Some("alice".into()) }],
        observers: vec![],
    };
    Machine::new(&p, now(), Uuid::from_u128(2)).resolved(&mut req, vec![(step.resolve[0], delegated)]).expect("ok");
    assert_eq!(req.tasks[0].assignee, "carol");
    assert_eq!(req.tasks[0].delegated_from.as_deref(), Some("alice"));
}

pub(super) fn sla_policy(on_breach: &str, mode: &str) -> PolicyDef {
    policy(json!([
        {"name": "s", "stage_order": 1, "mode": mode, "sla_hours": 1, "on_breach": on_breach,
         "escalation_rules": [{"rule_type": "user", "rule_value": {"user_id": "boss"}}],
         "rules": [
            {"rule_type": "user", "rule_value": {"user_id": "ann"}},
            {"rule_type": "user", "rule_value": {"user_id": "bob"}},
            {"rule_type": "user", "rule_value": {"user_id": "legal"}, "kind": "observer"}]},
        {"name": "t", "stage_order": 2, "rules": [{"rule_type": "user", "rule_value": {"user_id": "director-x"}}]}
    ]))
}

pub(super) fn after_breach(
    p: &PolicyDef,
    req: &mut RequestState,
    escalations: &[(i32, Vec<Assignee>)],
) -> Vec<&'static str> {
    let later = now() + Duration::hours(2);
    let step = Machine::new(p, later, Uuid::from_u128(77)).expire_due(req, escalations).expect("tick");
    let mut types: Vec<&'static str> = step.events.iter().map(|e| e.event_type).collect();
    let mut step = step;
    let mut n = 900;
    while !step.resolve.is_empty() {
        n += 1;
        let results = step.resolve.iter().map(|o| (*o, resolve(p, *o))).collect();
        step = Machine::new(p, later, Uuid::from_u128(n)).resolved(req, results).expect("resolves");
        types.extend(step.events.iter().map(|e| e.event_type));
    }
    types
}

#[test]
fn a_tick_before_the_due_time_changes_nothing() {
    let p = sla_policy("notify", "any-n");
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    let before = req.clone();
    let step = Machine::new(&p, now(), Uuid::from_u128(5)).expire_due(&mut req, &[]).expect("tick");
    assert!(step.events.is_empty() && step.updated_tasks.is_empty());
    assert_eq!(before, req);
}

#[test]
fn notify_expires_approver_tasks_only_and_takes_no_decision() {
    let p = sla_policy("notify", "any-n");
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    let events = after_breach(&p, &mut req, &[]);
    assert_eq!(events, vec!["task_expired", "task_expired"]);
    assert_eq!(req.status, RequestStatus::InReview, "the caller decides, not the tick");
    assert_eq!(stage_status(&req, 1), StageStatus::Active);
    let legal = req.tasks.iter().find(|t| t.assignee == "legal").expect("observer");
    assert_eq!(legal.status, TaskStatus::Open, "observers have no due time");
    let def = &p.stages[0];
    assert!(req.stalled(def).is_some(), "nobody left who can complete the stage");
}

#[test]
fn escalation_adds_approvers_once_and_waits() {
    let p = sla_policy("escalate", "any-n");
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    let boss = vec![Assignee { user: "boss".into(), required: false, delegated_from: None }];
    let events = after_breach(&p, &mut req, &[(1, boss)]);
    assert_eq!(events, vec!["task_expired", "task_expired", "stage_escalated"]);
    let task = req.tasks.iter().find(|t| t.assignee == "boss").expect("boss's task");
    assert_eq!(task.due_at, Some(now() + Duration::hours(3)), "a fresh SLA from the tick");
    assert_eq!(req.status, RequestStatus::InReview);
}

#[test]
fn auto_approve_approves_a_stage_whose_tasks_all_just_expired() {
    let p = sla_policy("auto_approve", "all");
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    let events = after_breach(&p, &mut req, &[]);
    assert_eq!(events, vec!["task_expired", "task_expired", "stage_completed", "stage_started"]);
    assert_eq!(stage_status(&req, 1), StageStatus::Approved);
    assert!(req
        .tasks
        .iter()
        .filter(|t| t.stage_order == 1 && t.kind == RuleKind::Approver)
        .all(|t| t.decision == Some(DecisionAction::Approve)));
}

#[test]
fn auto_reject_rejects_whatever_the_mode() {
    let p = sla_policy("auto_reject", "any-n");
    let mut req = new_request(&p);
    start_all(&p, &mut req);
    let events = after_breach(&p, &mut req, &[]);
    assert_eq!(events.last(), Some(&"request_rejected"));
    assert_eq!(req.status, RequestStatus::Rejected);
}
