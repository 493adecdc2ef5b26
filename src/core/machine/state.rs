//! A request's state as the machine sees it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::quorum::{self, Slot, Verdict};
use crate::domain::{DecisionAction, PolicyDef, RequestStatus, RuleKind, StageDef, TaskStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageStatus {
    Waiting,
    Resolving,
    Active,
    Approved,
    Rejected,
    Skipped,
    /// The request was cancelled before this stage finished.
    Cancelled,
}

impl StageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Resolving => "resolving",
            Self::Active => "active",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Approved | Self::Rejected | Self::Skipped | Self::Cancelled)
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "waiting" => Self::Waiting,
            "resolving" => Self::Resolving,
            "active" => Self::Active,
            "approved" => Self::Approved,
            "rejected" => Self::Rejected,
            "skipped" => Self::Skipped,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageState {
    pub stage_order: i32,
    pub stage_id: Uuid,
    pub status: StageStatus,
    /// Why a finished stage ended ("2 of 2 approved", "skipped: skip_if true").
    pub reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: Uuid,
    pub stage_id: Uuid,
    pub stage_order: i32,
    pub assignee: String,
    pub assignee_name: Option<String>,
    pub kind: RuleKind,
    pub required: bool,
    pub delegated_from: Option<String>,
    pub reassigned_from: Option<String>,
    pub status: TaskStatus,
    pub claimed_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub decision: Option<DecisionAction>,
    pub decision_id: Option<Uuid>,
    /// Who recorded the decision: the assignee (or an admin), or `sla-monitor`.
    pub decided_by: Option<String>,
    /// Added by an SLA escalation.
    pub escalated: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RequestState {
    pub id: Uuid,
    pub policy_version: i32,
    pub artifact_type: String,
    pub artifact_id: String,
    pub requester: String,
    pub status: RequestStatus,
    pub current_stage_order: i32,
    pub completed_at: Option<DateTime<Utc>>,
    pub stages: Vec<StageState>,
    pub tasks: Vec<Task>,
    /// Sequence number of the request's last event.
    pub last_seq: i32,
}

impl RequestState {
    /// A request that has not started: every stage waiting.
    pub fn new(
        id: Uuid,
        policy: &PolicyDef,
        policy_version: i32,
        artifact_type: String,
        artifact_id: String,
        requester: String,
    ) -> Self {
        Self {
            id,
            policy_version,
            artifact_type,
            artifact_id,
            requester,
            status: RequestStatus::Pending,
            current_stage_order: policy.stages.first().map_or(1, |s| s.stage_order),
            completed_at: None,
            stages: policy
                .stages
                .iter()
                .map(|s| StageState {
                    stage_order: s.stage_order,
                    stage_id: s.id,
                    status: StageStatus::Waiting,
                    reason: None,
                    started_at: None,
                    completed_at: None,
                })
                .collect(),
            tasks: Vec::new(),
            last_seq: 0,
        }
    }

    pub fn stage(&self, order: i32) -> Option<&StageState> {
        self.stages.iter().find(|s| s.stage_order == order)
    }

    pub fn stage_mut(&mut self, order: i32) -> Option<&mut StageState> {
        self.stages.iter_mut().find(|s| s.stage_order == order)
    }

    pub fn task(&self, id: Uuid) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id == id)
    }

    pub fn task_mut(&mut self, id: Uuid) -> Option<&mut Task> {
        self.tasks.iter_mut().find(|t| t.id == id)
    }

    /// Whether an SLA escalation added approvers to a stage.
    pub fn escalated(&self, order: i32) -> bool {
        self.tasks.iter().any(|t| t.stage_order == order && t.escalated)
    }

    /// The approver slots of a stage: a reassigned task's slot belongs to its
    /// replacement, observers have none, and once a stage has been escalated
    /// its expired tasks have handed their slots to the escalation approvers.
    pub fn slots(&self, order: i32) -> Vec<Slot<'_>> {
        let escalated = self.escalated(order);
        self.tasks
            .iter()
            .filter(|t| t.stage_order == order && t.kind == RuleKind::Approver && t.status != TaskStatus::Reassigned)
            .filter(|t| !(escalated && t.status == TaskStatus::Expired))
            .map(|t| Slot {
                assignee: &t.assignee,
                required: t.required,
                live: t.status.is_live(),
                decision: t.decision,
            })
            .collect()
    }

    /// The quorum verdict of a stage as its tasks stand now.
    pub fn verdict(&self, def: &StageDef) -> Verdict {
        let slots = self.slots(def.stage_order);
        quorum::evaluate(def.mode, def.mode_value, &slots, self.escalated(def.stage_order))
    }

    /// Why an active stage can no longer complete without someone acting (a
    /// reassignment, a cancel): `None` while it still can.
    pub fn stalled(&self, def: &StageDef) -> Option<String> {
        if self.stage(def.stage_order).map(|s| s.status) != Some(StageStatus::Active) {
            return None;
        }
        match self.verdict(def) {
            Verdict::Rejected { reason } => Some(reason),
            Verdict::Pending { .. } | Verdict::Approved { .. } => None,
        }
    }

    /// Users who approved, in person, a stage of an earlier group than
    /// `order`'s (segregation of duties: `forbid_repeat_approvers`).
    pub fn earlier_approvers(&self, policy: &PolicyDef, order: i32) -> Vec<&str> {
        let rank = group_rank(policy, order);
        self.tasks
            .iter()
            .filter(|t| t.kind == RuleKind::Approver && t.decision == Some(DecisionAction::Approve))
            .filter(|t| t.decided_by.as_deref() != Some(super::SLA_ACTOR))
            .filter(|t| group_rank(policy, t.stage_order) < rank)
            .flat_map(|t| std::iter::once(t.assignee.as_str()).chain(t.delegated_from.as_deref()))
            .collect()
    }
}

/// The rank of a stage's group: the smallest `stage_order` in it (spec 002,
/// "Parallel stages"); a stage without a group is a group of one.
pub fn group_rank(policy: &PolicyDef, order: i32) -> i32 {
    let group = policy.stages.iter().find(|s| s.stage_order == order).and_then(|s| s.parallel_group);
    match group {
        None => order,
        Some(g) => {
            policy.stages.iter().filter(|s| s.parallel_group == Some(g)).map(|s| s.stage_order).min().unwrap_or(order)
        }
    }
}
