//! A request's state as the machine sees it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::quorum::Slot;
use crate::domain::{DecisionAction, PolicyDef, RequestStatus, RuleKind, TaskStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageStatus {
    Waiting,
    Resolving,
    Active,
    Approved,
    Rejected,
    Skipped,
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
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "waiting" => Self::Waiting,
            "resolving" => Self::Resolving,
            "active" => Self::Active,
            "approved" => Self::Approved,
            "rejected" => Self::Rejected,
            "skipped" => Self::Skipped,
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

    /// The approver slots of a stage: a reassigned task's slot belongs to its
    /// replacement, observers have none.
    pub fn slots(&self, order: i32) -> Vec<Slot<'_>> {
        self.tasks
            .iter()
            .filter(|t| t.stage_order == order && t.kind == RuleKind::Approver && t.status != TaskStatus::Reassigned)
            .map(|t| Slot {
                assignee: &t.assignee,
                required: t.required,
                live: t.status.is_live(),
                decision: t.decision,
            })
            .collect()
    }
}
