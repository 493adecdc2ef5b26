//! Property tests of the machine over random policies and random decisions.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::domain::{PolicyIn, RuleSpec, StageMode};

const USERS: [&str; 5] = ["u0", "u1", "u2", "u3", "u4"];

#[derive(Debug, Clone)]
struct Case {
    policy: PolicyDef,
    requester: String,
    /// (user index, action, by an observer task?) as tried in order.
    decisions: Vec<(usize, DecisionAction)>,
}

fn stage_doc() -> impl Strategy<Value = Value> {
    let mode = prop_oneof![
        Just(json!({"mode": "all"})),
        (1..4i32).prop_map(|n| json!({"mode": "any-n", "mode_value": n})),
        (1..4i32).prop_map(|n| json!({"mode": "quorum", "mode_value": n})),
        (1..=100i32).prop_map(|p| json!({"mode": "percentage", "mode_value": p})),
    ];
    let approver = (0..USERS.len(), any::<bool>()).prop_map(
        |(u, required)| json!({"rule_type": "user", "rule_value": {"user_id": USERS[u]}, "required": required}),
    );
    let observer = (0..USERS.len())
        .prop_map(|u| json!({"rule_type": "user", "rule_value": {"user_id": USERS[u]}, "kind": "observer"}));
    (
        mode,
        proptest::collection::vec(approver, 1..4),
        proptest::option::of(observer),
        proptest::option::of(0..2i32),
        any::<bool>(),
    )
        .prop_map(|(mode, approvers, observer, group, skip_on_empty)| {
            let mut rules = approvers;
            rules.extend(observer);
            let mut stage = json!({"name": "s", "rules": rules, "parallel_group": group,
                                   "on_empty": if skip_on_empty { "skip" } else { "block" }});
            if let (Value::Object(s), Value::Object(m)) = (&mut stage, mode) {
                s.extend(m);
            }
            stage
        })
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(stage_doc(), 1..5),
        any::<bool>(),
        any::<bool>(),
        0..USERS.len() + 1,
        proptest::collection::vec(
            (
                0..USERS.len(),
                prop_oneof![Just(DecisionAction::Approve), Just(DecisionAction::Reject), Just(DecisionAction::Abstain)],
            ),
            0..24,
        ),
    )
        .prop_map(|(stages, forbid_self, forbid_repeat, requester, decisions)| {
            let stages: Vec<Value> = stages
                .into_iter()
                .enumerate()
                .map(|(i, mut s)| {
                    s["stage_order"] = json!(i as i32 + 1);
                    s
                })
                .collect();
            let doc: PolicyIn = serde_json::from_value(json!({
                "policy_key": "p", "name": "p", "artifact_type": "a", "stages": stages,
                "forbid_self_approval": forbid_self, "forbid_repeat_approvers": forbid_repeat,
            }))
            .expect("document");
            let policy = doc.parse(&mut Ids::new(Uuid::nil())).expect("valid");
            let requester = USERS.get(requester).map_or("svc".to_owned(), |u| (*u).to_owned());
            Case { policy, requester, decisions }
        })
}

fn resolve(policy: &PolicyDef, order: i32) -> Resolution {
    let stage = policy.stages.iter().find(|s| s.stage_order == order).expect("stage");
    let (mut approvers, mut observers): (Vec<Assignee>, Vec<Assignee>) = (Vec::new(), Vec::new());
    for rule in &stage.rules {
        let RuleSpec::User { user_id } = &rule.spec else { continue };
        let list = if rule.kind == RuleKind::Approver { &mut approvers } else { &mut observers };
        match list.iter_mut().find(|a| &a.user == user_id) {
            Some(a) => a.required |= rule.required,
            None => list.push(Assignee { user: user_id.clone(), required: rule.required, delegated_from: None }),
        }
    }
    Resolution::Resolved { approvers, observers }
}

fn actor(user: &str) -> Actor {
    Actor { sub: user.into(), assignee_id: user.into(), name: None, email: None, roles: vec![] }
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_770_000_000, 0).expect("time")
}

/// Users who approved in person a stage of an earlier group than `order`'s
/// (groups ranked by their smallest stage order; parallel siblings are not earlier).
fn earlier_approvers(policy: &PolicyDef, req: &RequestState, order: i32) -> Vec<String> {
    let rank = |o: i32| {
        let group = policy.stages.iter().find(|s| s.stage_order == o).and_then(|s| s.parallel_group);
        policy
            .stages
            .iter()
            .filter(|s| s.stage_order == o || (group.is_some() && s.parallel_group == group))
            .map(|s| s.stage_order)
            .min()
            .unwrap_or(o)
    };
    req.tasks
        .iter()
        .filter(|t| {
            rank(t.stage_order) < rank(order)
                && t.kind == RuleKind::Approver
                && t.decision == Some(DecisionAction::Approve)
                && t.decided_by.as_deref() != Some(SLA_ACTOR)
        })
        .map(|t| t.assignee.clone())
        .collect()
}

/// Checks the invariants of a step just applied; `before` is the state before it.
fn check_step(
    policy: &PolicyDef,
    before: &RequestState,
    after: &RequestState,
    step: &Step,
) -> Result<(), TestCaseError> {
    for id in &step.created_tasks {
        let task = after.task(*id).expect("created task");
        if task.kind == RuleKind::Approver {
            prop_assert!(
                !(policy.forbid_self_approval && task.assignee == after.requester),
                "a task for the requester"
            );
            if policy.forbid_repeat_approvers {
                prop_assert!(
                    !earlier_approvers(policy, before, task.stage_order).contains(&task.assignee),
                    "a task for an earlier approver"
                );
            }
        }
    }
    for stage in &after.stages {
        let was = before.stage(stage.stage_order).map(|s| s.status);
        if stage.status == StageStatus::Approved && was != Some(StageStatus::Approved) {
            let def = policy.stages.iter().find(|s| s.stage_order == stage.stage_order).expect("def");
            let slots = after.slots(stage.stage_order);
            let approvals = slots.iter().filter(|s| s.decision == Some(DecisionAction::Approve)).count();
            let mut needed = match def.mode {
                StageMode::All => slots.len(),
                StageMode::AnyN | StageMode::Quorum => def.mode_value.unwrap_or(1) as usize,
                StageMode::Percentage => (def.mode_value.unwrap_or(100) as usize * slots.len()).div_ceil(100),
            };
            if after.escalated(stage.stage_order) {
                needed = needed.min(slots.len());
            }
            prop_assert!(
                approvals >= needed && approvals >= 1,
                "stage {} approved with {approvals} of {needed}",
                stage.stage_order
            );
            prop_assert!(
                slots.iter().filter(|s| s.required).all(|s| s.decision == Some(DecisionAction::Approve)),
                "stage {} approved without a required approver",
                stage.stage_order
            );
        }
    }
    Ok(())
}

/// Runs a case; returns the final state and the events, checking invariants
/// as it goes. `skip_observers` drops decisions that land on observer tasks.
fn run(case: &Case, skip_observers: bool) -> Result<(RequestState, Vec<NewEvent>), TestCaseError> {
    let p = &case.policy;
    let mut req = RequestState::new(Uuid::from_u128(1), p, 1, "a".into(), "x".into(), case.requester.clone());
    let mut events = Vec::new();
    let mut seed = 10u128;
    let mut settle =
        |req: &mut RequestState, mut step: Step, events: &mut Vec<NewEvent>| -> Result<(), TestCaseError> {
            loop {
                events.extend(step.events.clone());
                if step.resolve.is_empty() {
                    return Ok(());
                }
                seed += 1;
                let before = req.clone();
                let results = step.resolve.iter().map(|o| (*o, resolve(p, *o))).collect();
                step = Machine::new(p, now(), Uuid::from_u128(seed)).resolved(req, results).expect("resolves");
                check_step(p, &before, req, &step)?;
            }
        };
    let step = Machine::new(p, now(), Uuid::from_u128(2)).start(&mut req, "svc");
    settle(&mut req, step, &mut events)?;
    for (i, (user, action)) in case.decisions.iter().enumerate() {
        let who = USERS[*user];
        // A user's approver tasks come first, so both runs decide the same approver tasks.
        let live =
            |kind: RuleKind| req.tasks.iter().find(|t| t.assignee == who && t.kind == kind && t.status.is_live());
        let Some(task) = live(RuleKind::Approver).or_else(|| live(RuleKind::Observer)).cloned() else { continue };
        if skip_observers && task.kind == RuleKind::Observer {
            continue;
        }
        let before = req.clone();
        let input = DecisionInput {
            task_id: task.id,
            decision_id: Uuid::from_u128(1000 + i as u128),
            action: *action,
            comment: None,
            attachments_ref: None,
        };
        let step = Machine::new(p, now(), Uuid::from_u128(5000 + i as u128)).decide(&mut req, input, &actor(who));
        match step {
            Ok(step) => {
                prop_assert!(!before.status.is_terminal(), "a terminal request changed");
                check_step(p, &before, &req, &step)?;
                settle(&mut req, step, &mut events)?;
            }
            Err(_) => prop_assert_eq!(&before, &req, "a refused decision changed the state"),
        }
    }
    if req.status.is_terminal() {
        let frozen = req.clone();
        let again = Machine::new(p, now(), Uuid::from_u128(99)).cancel(&mut req, "svc", None);
        prop_assert!(again.is_err());
        prop_assert_eq!(&frozen, &req, "a terminal request never changes");
    }
    Ok((req, events))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_policies_and_decisions_keep_every_invariant(case in case()) {
        let (first, events) = run(&case, false)?;
        // The same inputs always give the same events.
        let (second, events_again) = run(&case, false)?;
        prop_assert_eq!(&first, &second);
        prop_assert_eq!(events, events_again);
        // Observers never change an outcome.
        let (without_observers, _) = run(&case, true)?;
        prop_assert_eq!(first.status, without_observers.status);
        let stages = |r: &RequestState| r.stages.iter().map(|s| s.status).collect::<Vec<_>>();
        prop_assert_eq!(stages(&first), stages(&without_observers));
    }
}

/// One thing that happens to a single-stage request under SLA.
#[derive(Debug, Clone)]
enum Happening {
    /// The tasks of these users fall due, and a tick escalates to these users.
    Breach { due: Vec<usize>, escalate_to: Vec<usize> },
    /// A user approves their live approver task, if they have one.
    Approve(usize),
    /// An admin moves a user's approver task (live or expired) to another user.
    Reassign(usize, usize),
}

fn happening() -> impl Strategy<Value = Happening> {
    prop_oneof![
        (proptest::collection::vec(0..USERS.len(), 0..4), proptest::collection::vec(0..USERS.len() + 3, 0..3))
            .prop_map(|(due, escalate_to)| Happening::Breach { due, escalate_to }),
        (0..USERS.len() + 3).prop_map(Happening::Approve),
        (0..USERS.len() + 3, 0..USERS.len() + 3).prop_map(|(from, to)| Happening::Reassign(from, to)),
    ]
}

/// Users u0..u4 of the policy and e0..e2, people only escalation rules name.
fn person(i: usize) -> String {
    USERS.get(i).map_or_else(|| format!("e{}", i - USERS.len()), |u| (*u).to_owned())
}

fn breach_case() -> impl Strategy<Value = (PolicyDef, Vec<Happening>)> {
    let on_breach = prop_oneof![Just("escalate"), Just("escalate"), Just("notify")];
    (stage_doc(), any::<bool>(), any::<bool>(), proptest::collection::vec(happening(), 1..10), on_breach).prop_map(
        |(mut stage, forbid_self, forbid_repeat, happenings, on_breach)| {
            stage["stage_order"] = json!(1);
            stage["sla_hours"] = json!(1);
            stage["on_breach"] = json!(on_breach);
            stage["escalation_rules"] = json!([{"rule_type": "user", "rule_value": {"user_id": "e0"}}]);
            let doc: PolicyIn = serde_json::from_value(json!({
                "policy_key": "p", "name": "p", "artifact_type": "a", "stages": [stage],
                "forbid_self_approval": forbid_self, "forbid_repeat_approvers": forbid_repeat,
            }))
            .expect("document");
            (doc.parse(&mut Ids::new(Uuid::nil())).expect("valid"), happenings)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Spec 002, "SLA and escalation": a tick never decides for `notify` or
    /// `escalate` (no synthesised decision; `notify` changes no stage and no
    /// request status), and once a stage has been escalated, an approval by
    /// everyone still able to act completes it.
    #[test]
    fn no_sequence_of_expiries_and_escalations_leaves_a_stage_everyone_able_to_act_cannot_complete(
        (p, happenings) in breach_case(),
    ) {
        let mut req = RequestState::new(Uuid::from_u128(1), &p, 1, "a".into(), "x".into(), "u0".into());
        let step = Machine::new(&p, now(), Uuid::from_u128(2)).start(&mut req, "svc");
        let results = step.resolve.iter().map(|o| (*o, resolve(&p, *o))).collect();
        Machine::new(&p, now(), Uuid::from_u128(3)).resolved(&mut req, results).expect("resolves");
        let mut clock = now();
        for (i, h) in happenings.iter().enumerate() {
            if req.status.is_terminal() {
                break;
            }
            clock += chrono::Duration::minutes(1);
            let seed = 100 + i as u128;
            match h {
                Happening::Breach { due, escalate_to } => {
                    for t in req.tasks.iter_mut().filter(|t| t.status.is_live() && t.due_at.is_some()) {
                        if due.iter().any(|u| person(*u) == t.assignee) {
                            t.due_at = Some(clock);
                        }
                    }
                    let users = escalate_to
                        .iter()
                        .map(|u| Assignee { user: person(*u), required: false, delegated_from: None })
                        .collect();
                    let before = req.clone();
                    let step = Machine::new(&p, clock, Uuid::from_u128(seed)).expire_due(&mut req, &[(1, users)]).expect("tick");
                    prop_assert!(step.decisions.is_empty(), "a tick synthesised decisions");
                    if p.stages[0].on_breach == Some(OnBreach::Notify) {
                        // notify: nothing further; the caller decides.
                        prop_assert!(step.created_tasks.is_empty(), "notify added tasks");
                        prop_assert_eq!(req.status, before.status, "notify changed the request");
                        prop_assert_eq!(&req.stages, &before.stages, "notify moved a stage");
                    }
                    // Only the approvals people gave can end it, when escalation approvers stand in for the expired.
                    prop_assert!(
                        matches!(req.status, RequestStatus::InReview | RequestStatus::Approved),
                        "a tick decided the request: {:?}", req.status
                    );
                    check_step(&p, &before, &req, &step)?;
                }
                Happening::Reassign(from, to) => {
                    let (from, to) = (person(*from), person(*to));
                    let Some(task) = req.tasks.iter().rev().find(|t| t.assignee == from && t.kind == RuleKind::Approver).cloned() else { continue };
                    let before = req.clone();
                    match Machine::new(&p, clock, Uuid::from_u128(seed)).reassign(&mut req, task.id, &to, "ops", None) {
                        Ok(_) => {
                            // Segregation of duties and one vote per person hold on this path too.
                            prop_assert!(!(p.forbid_self_approval && to == req.requester), "reassigned to the requester");
                            let votes = req.tasks.iter().filter(|t| {
                                t.stage_order == task.stage_order && t.kind == RuleKind::Approver && t.assignee == to
                                    && (t.status.is_live() || t.decision.is_some())
                            });
                            prop_assert_eq!(votes.count(), 1, "{} holds two votes on the stage", to);
                        }
                        Err(_) => prop_assert_eq!(&before, &req, "a refused reassignment changed the state"),
                    }
                }
                Happening::Approve(u) => {
                    let who = person(*u);
                    let Some(task) = req.tasks.iter().find(|t| t.assignee == who && t.kind == RuleKind::Approver && t.status.is_live()).cloned() else { continue };
                    let input = DecisionInput { task_id: task.id, decision_id: Uuid::from_u128(seed), action: DecisionAction::Approve, comment: None, attachments_ref: None };
                    let before = req.clone();
                    let step = Machine::new(&p, clock, Uuid::from_u128(seed)).decide(&mut req, input, &actor(&who)).expect("decides");
                    check_step(&p, &before, &req, &step)?;
                }
            }
        }
        if req.status.is_terminal() || !req.escalated(1) {
            return Ok(());
        }
        let live: Vec<Task> = req.tasks.iter().filter(|t| t.kind == RuleKind::Approver && t.status.is_live()).cloned().collect();
        prop_assume!(!live.is_empty());
        for (i, task) in live.iter().enumerate() {
            if req.status.is_terminal() {
                break;
            }
            let input = DecisionInput { task_id: task.id, decision_id: Uuid::from_u128(900 + i as u128), action: DecisionAction::Approve, comment: None, attachments_ref: None };
            Machine::new(&p, clock, Uuid::from_u128(900 + i as u128)).decide(&mut req, input, &actor(&task.assignee)).expect("decides");
        }
        prop_assert_eq!(req.status, RequestStatus::Approved, "stages: {:?}", req.stages);
    }
}
