//! The arithmetic of spec 002 "Stage modes" and "Required approvers".
//!
//! Only live approver slots count: a reassigned task hands its slot to its
//! replacement, observers never count, and an abstain fills its slot with no
//! vote. `all` falls to any reject; the other modes reject only once the
//! quorum can no longer be reached.

use crate::domain::{DecisionAction, StageMode};

/// One approver slot of a stage, as the math sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot<'a> {
    pub assignee: &'a str,
    pub required: bool,
    /// Still open or claimed.
    pub live: bool,
    pub decision: Option<DecisionAction>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pending { approvals: usize, needed: usize },
    Approved { approvals: usize, needed: usize, slots: usize },
    Rejected { reason: String },
}

/// Approvals a stage needs out of `slots` live approver slots.
pub fn needed(mode: StageMode, mode_value: Option<i32>, slots: usize) -> usize {
    match mode {
        StageMode::All => slots,
        StageMode::AnyN | StageMode::Quorum => mode_value.unwrap_or(1).max(1) as usize,
        StageMode::Percentage => {
            let percent = mode_value.unwrap_or(100).clamp(1, 100) as usize;
            (percent * slots).div_ceil(100)
        }
    }
}

/// Approvals a stage needs, as `needed`, except that an escalated stage never
/// needs more approvals than it has slots: its escalation approvers stand in
/// for the expired ones (spec 002, "SLA and escalation").
pub fn needed_now(mode: StageMode, mode_value: Option<i32>, slots: usize, escalated: bool) -> usize {
    let n = needed(mode, mode_value, slots);
    if escalated {
        n.min(slots.max(1))
    } else {
        n
    }
}

pub fn evaluate(mode: StageMode, mode_value: Option<i32>, slots: &[Slot<'_>], escalated: bool) -> Verdict {
    let needed = needed_now(mode, mode_value, slots.len(), escalated);
    let approvals = slots.iter().filter(|s| s.decision == Some(DecisionAction::Approve)).count();
    let live = slots.iter().filter(|s| s.live).count();
    let rejecter = slots.iter().find(|s| s.decision == Some(DecisionAction::Reject));

    if mode == StageMode::All {
        if let Some(r) = rejecter {
            return Verdict::Rejected { reason: format!("rejected by {}", r.assignee) };
        }
    }
    if let Some(missing) = slots.iter().find(|s| s.required && !s.live && s.decision != Some(DecisionAction::Approve)) {
        let what = match missing.decision {
            Some(DecisionAction::Reject) => "rejected",
            Some(DecisionAction::Abstain) => "abstained",
            _ => "has no open task left",
        };
        return Verdict::Rejected { reason: format!("required approver {} {what}", missing.assignee) };
    }
    let required_pending = slots.iter().any(|s| s.required && s.decision != Some(DecisionAction::Approve));
    if approvals >= needed && !required_pending {
        return Verdict::Approved { approvals, needed, slots: slots.len() };
    }
    if approvals + live < needed {
        let after = match slots.iter().rev().find(|s| !s.live && s.decision != Some(DecisionAction::Approve)) {
            Some(s) => match s.decision {
                Some(DecisionAction::Reject) => format!(" after {} rejected", s.assignee),
                Some(DecisionAction::Abstain) => format!(" after {} abstained", s.assignee),
                _ => format!(" after {}'s task closed", s.assignee),
            },
            None => format!(": {} approver(s) resolved, {needed} needed", slots.len()),
        };
        return Verdict::Rejected { reason: format!("quorum unreachable{after}") };
    }
    Verdict::Pending { approvals, needed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use DecisionAction::*;

    fn slot(decision: Option<DecisionAction>) -> Slot<'static> {
        Slot { assignee: "u", required: false, live: decision.is_none(), decision }
    }

    fn slots(decisions: &[Option<DecisionAction>]) -> Vec<Slot<'static>> {
        decisions.iter().map(|d| slot(*d)).collect()
    }

    #[test]
    fn percentage_rounds_up() {
        assert_eq!(needed(StageMode::Percentage, Some(50), 3), 2);
        assert_eq!(needed(StageMode::Percentage, Some(34), 3), 2);
        assert_eq!(needed(StageMode::Percentage, Some(33), 3), 1);
        assert_eq!(needed(StageMode::Percentage, Some(1), 1), 1);
        assert_eq!(needed(StageMode::Percentage, None, 4), 4);
        assert_eq!(needed(StageMode::Percentage, Some(67), 3), 3);
    }

    #[test]
    fn any_n_defaults_to_one_and_quorum_is_its_alias() {
        assert_eq!(needed(StageMode::AnyN, None, 5), 1);
        assert_eq!(needed(StageMode::Quorum, Some(3), 5), 3);
    }

    #[test]
    fn in_all_mode_one_reject_rejects_at_once() {
        let v = evaluate(StageMode::All, None, &slots(&[Some(Approve), Some(Reject), None]), false);
        assert!(matches!(v, Verdict::Rejected { .. }), "{v:?}");
    }

    #[test]
    fn in_any_n_mode_a_reject_waits_while_the_quorum_is_reachable() {
        let v = evaluate(StageMode::AnyN, Some(2), &slots(&[Some(Reject), None, None]), false);
        assert_eq!(v, Verdict::Pending { approvals: 0, needed: 2 });
        let v = evaluate(StageMode::AnyN, Some(2), &slots(&[Some(Reject), Some(Reject), None]), false);
        assert!(matches!(v, Verdict::Rejected { ref reason } if reason.contains("quorum unreachable")), "{v:?}");
    }

    #[test]
    fn the_first_n_approvals_complete_an_any_n_stage() {
        let v = evaluate(StageMode::AnyN, Some(1), &slots(&[Some(Approve), None]), false);
        assert_eq!(v, Verdict::Approved { approvals: 1, needed: 1, slots: 2 });
    }

    #[test]
    fn an_abstain_fills_a_slot_without_a_vote() {
        // all-mode: the abstainer can no longer approve, so the stage cannot complete.
        let v = evaluate(StageMode::All, None, &slots(&[Some(Abstain), None]), false);
        assert!(matches!(v, Verdict::Rejected { ref reason } if reason.contains("abstained")), "{v:?}");
        // any-1: the other approver can still carry it.
        let v = evaluate(StageMode::AnyN, None, &slots(&[Some(Abstain), None]), false);
        assert_eq!(v, Verdict::Pending { approvals: 0, needed: 1 });
    }

    #[test]
    fn percentage_rejects_only_when_unreachable() {
        // 50% of 4 = 2 needed.
        let v = evaluate(StageMode::Percentage, Some(50), &slots(&[Some(Reject), Some(Reject), None, None]), false);
        assert_eq!(v, Verdict::Pending { approvals: 0, needed: 2 });
        let v =
            evaluate(StageMode::Percentage, Some(50), &slots(&[Some(Reject), Some(Reject), Some(Reject), None]), false);
        assert!(matches!(v, Verdict::Rejected { .. }));
    }

    #[test]
    fn a_required_approver_gates_a_met_quorum() {
        let mut s = slots(&[Some(Approve), Some(Approve), None]);
        s[2].required = true;
        assert_eq!(evaluate(StageMode::AnyN, Some(2), &s, false), Verdict::Pending { approvals: 2, needed: 2 });
        s[2] = Slot { assignee: "boss", required: true, live: false, decision: Some(Abstain) };
        assert!(matches!(evaluate(StageMode::AnyN, Some(2), &s, false), Verdict::Rejected { .. }));
    }

    fn decision() -> impl Strategy<Value = Option<DecisionAction>> {
        prop_oneof![Just(None), Just(Some(Approve)), Just(Some(Reject)), Just(Some(Abstain))]
    }

    fn mode() -> impl Strategy<Value = (StageMode, Option<i32>)> {
        prop_oneof![
            Just((StageMode::All, None)),
            (1..6i32).prop_map(|n| (StageMode::AnyN, Some(n))),
            (1..6i32).prop_map(|n| (StageMode::Quorum, Some(n))),
            (1..=100i32).prop_map(|p| (StageMode::Percentage, Some(p))),
        ]
    }

    proptest! {
        #[test]
        fn a_stage_never_approves_below_its_quorum(
            (m, v) in mode(),
            ds in proptest::collection::vec(decision(), 1..8),
        ) {
            let s = slots(&ds);
            if let Verdict::Approved { approvals, needed, .. } = evaluate(m, v, &s, false) {
                prop_assert!(approvals >= needed);
                prop_assert!(approvals >= 1);
            }
        }

        #[test]
        fn a_verdict_of_pending_means_the_quorum_is_still_reachable(
            (m, v) in mode(),
            ds in proptest::collection::vec(decision(), 1..8),
        ) {
            let s = slots(&ds);
            if let Verdict::Pending { approvals, needed } = evaluate(m, v, &s, false) {
                let live = s.iter().filter(|x| x.live).count();
                prop_assert!(approvals + live >= needed);
                prop_assert!(live > 0);
            }
        }

        #[test]
        fn more_approvals_never_turn_an_approval_into_a_rejection(
            (m, v) in mode(),
            ds in proptest::collection::vec(decision(), 1..8),
            flip in 0usize..8,
        ) {
            let before = evaluate(m, v, &slots(&ds), false);
            let mut more = ds.clone();
            let i = flip % more.len();
            if more[i].is_none() {
                more[i] = Some(Approve);
                let after = evaluate(m, v, &slots(&more), false);
                if matches!(before, Verdict::Approved { .. }) {
                    prop_assert!(matches!(after, Verdict::Approved { .. }), "approval lost: {:?}", after);
                }
                if matches!(after, Verdict::Rejected { .. }) {
                    prop_assert!(matches!(before, Verdict::Rejected { .. }), "new rejection: {:?}", before);
                }
            }
        }
    }
}
