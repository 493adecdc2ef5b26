//! The vocabulary of the engine: parsed policies, request and task states,
//! identities. Everything here is plain data.

pub mod context;
#[cfg(test)]
mod context_properties;
pub mod policy;

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use context::{ExpectedContext, ExpectedKey, JsonType, JsonTypes};
pub use policy::*;

/// A field that failed validation, named by its path in the document
/// (`stages[1].rules[0].rule_value.user_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Ids derived from a seed (the command id), so that applying one command
/// twice produces the same rows, and the pure engine needs no randomness.
#[derive(Debug, Clone)]
pub struct Ids {
    seed: Uuid,
    counter: u32,
}

impl Ids {
    pub fn new(seed: Uuid) -> Self {
        Self { seed, counter: 0 }
    }

    pub fn next_id(&mut self) -> Uuid {
        self.counter += 1;
        Uuid::new_v5(&self.seed, &self.counter.to_be_bytes())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    InReview,
    Approved,
    Rejected,
    Cancelled,
    Expired,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InReview => "in_review",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "in_review" => Self::InReview,
            "approved" => Self::Approved,
            "rejected" => Self::Rejected,
            "cancelled" => Self::Cancelled,
            "expired" => Self::Expired,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Pending | Self::InReview)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Claimed,
    Completed,
    Skipped,
    Expired,
    Reassigned,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Claimed => "claimed",
            Self::Completed => "completed",
            Self::Skipped => "skipped",
            Self::Expired => "expired",
            Self::Reassigned => "reassigned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => Self::Open,
            "claimed" => Self::Claimed,
            "completed" => Self::Completed,
            "skipped" => Self::Skipped,
            "expired" => Self::Expired,
            "reassigned" => Self::Reassigned,
            _ => return None,
        })
    }

    /// Still waiting for its assignee.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Open | Self::Claimed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecisionAction {
    Approve,
    Reject,
    Abstain,
}

impl DecisionAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::Abstain => "abstain",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "approve" => Self::Approve,
            "reject" => Self::Reject,
            "abstain" => Self::Abstain,
            _ => return None,
        })
    }
}

pub const ROLE_ADMIN: &str = "AWE_ADMIN";
pub const ROLE_VIEWER: &str = "AWE_VIEWER";

/// Who is calling, as read from a bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `sub`: the caller's stable identity (source service, audit actor).
    pub sub: String,
    /// `preferred_username` → `username` → `sub`: matched against task assignees.
    pub assignee_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Actor {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(ROLE_ADMIN)
    }

    /// Admin implies viewer.
    pub fn is_viewer(&self) -> bool {
        self.is_admin() || self.has_role(ROLE_VIEWER)
    }

    /// An identity for work the service does by itself.
    pub fn system(name: &str) -> Self {
        Self { sub: name.into(), assignee_id: name.into(), name: None, email: None, roles: vec![ROLE_ADMIN.into()] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_the_same_seed_repeat_and_differ_from_each_other() {
        let seed = Uuid::new_v4();
        let (mut a, mut b) = (Ids::new(seed), Ids::new(seed));
        let first = a.next_id();
        assert_eq!(first, b.next_id());
        assert_ne!(first, a.next_id());
    }
}
