//! Commands: every write travels as one of these on `{prefix}.cmd.{type}`,
//! from the ingress or from any other program, and the engine answers with
//! an `Outcome` on `{prefix}.reply.{command_id}`. Documented, versioned, in
//! `nats/SUBJECTS.md`.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::contract::error::ApiError;
use crate::contract::wire::{CreateRequestIn, DelegationIn};
use crate::domain::{Actor, DecisionAction, PolicyIn};

pub const ENVELOPE_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// Envelope version; this build reads 1.
    pub v: u32,
    /// Unique per command; also its `Nats-Msg-Id`.
    pub id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub actor: Actor,
    /// Where the outcome goes; `{prefix}.reply.{id}` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(flatten)]
    pub command: Command,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", content = "payload")]
pub enum Command {
    #[serde(rename = "policy.create")]
    PolicyCreate { policy: PolicyIn },
    #[serde(rename = "policy.add_version")]
    PolicyAddVersion { policy_key: String, policy: PolicyIn },
    #[serde(rename = "policy.update")]
    PolicyUpdate { policy_key: String, version: i32, policy: PolicyIn },
    #[serde(rename = "policy.activate")]
    PolicyActivate { policy_key: String, version: i32 },
    #[serde(rename = "policy.deactivate")]
    PolicyDeactivate { policy_key: String, version: i32 },
    #[serde(rename = "request.create")]
    RequestCreate {
        request_id: Uuid,
        request: CreateRequestIn,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency: Option<IdempotencyClaim>,
    },
    #[serde(rename = "request.cancel")]
    RequestCancel {
        request_id: Uuid,
        #[serde(default)]
        reason: Option<String>,
    },
    #[serde(rename = "task.claim")]
    TaskClaim { task_id: Uuid },
    #[serde(rename = "task.decide")]
    TaskDecide {
        task_id: Uuid,
        decision_id: Uuid,
        action: DecisionAction,
        #[serde(default)]
        comment: Option<String>,
        #[serde(default)]
        attachments_ref: Option<String>,
    },
    /// A comment on a live request by someone holding a task on it; the task stays open.
    #[serde(rename = "task.comment")]
    TaskComment {
        task_id: Uuid,
        comment_id: Uuid,
        comment: String,
        #[serde(default)]
        attachments_ref: Option<String>,
    },
    #[serde(rename = "task.reassign")]
    TaskReassign {
        task_id: Uuid,
        new_assignee: String,
        #[serde(default)]
        reason: Option<String>,
    },
    #[serde(rename = "delegation.create")]
    DelegationCreate { delegation_id: Uuid, delegation: DelegationIn },
    #[serde(rename = "delegation.revoke")]
    DelegationRevoke { delegation_id: Uuid },
    #[serde(rename = "secret.create")]
    SecretCreate { secret_id: Uuid, caller_service: String, sealed: SealedSecret },
    /// Replaces the caller's active secret; the old one signs on through the overlap.
    #[serde(rename = "secret.rotate")]
    SecretRotate { secret_id: Uuid, new_secret_id: Uuid, sealed: SealedSecret },
    #[serde(rename = "secret.revoke")]
    SecretRevoke { secret_id: Uuid },
    /// Sends deliveries again: one by id, or the exhausted ones of a request or a time range.
    #[serde(rename = "delivery.retry")]
    DeliveryRetry {
        #[serde(default)]
        delivery_id: Option<Uuid>,
        #[serde(default)]
        request_id: Option<Uuid>,
        #[serde(default)]
        since: Option<DateTime<Utc>>,
        #[serde(default)]
        until: Option<DateTime<Utc>>,
        /// Replay: the deliveries of these events, whatever their status.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        event_ids: Vec<Uuid>,
    },
    /// The resolver role's answer for stages waiting on remote rules.
    #[serde(rename = "stage.resolved")]
    StageResolved {
        request_id: Uuid,
        results: Vec<StageResult>,
        /// The creation still waiting for this answer, from the job.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<PendingAnswer>,
        /// The results are of the stages' escalation rules, after an SLA breach.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        escalation: bool,
    },
    /// An operator asks for the stages of a stuck request to be resolved again.
    #[serde(rename = "stage.redrive")]
    StageRedrive { request_id: Uuid },
    /// One SLA check; the id of the tick of an interval is the same from every scheduler.
    #[serde(rename = "sla.tick")]
    SlaTick { bucket: i64 },
    /// The part of a tick that concerns one request.
    #[serde(rename = "sla.expire")]
    SlaExpire { request_id: Uuid },
}

/// A callback secret sealed by the ingress: the plain secret never travels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SealedSecret {
    /// Base64.
    pub ciphertext: String,
    /// Base64.
    pub nonce: String,
    pub fingerprint: String,
}

/// Work for the resolver role: stages of a request whose rules need Keycloak
/// or a caller's HTTP resolver. Published on `{prefix}.resolve.{request_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResolveJob {
    pub v: u32,
    pub id: Uuid,
    pub request_id: Uuid,
    pub stage_orders: Vec<i32>,
    /// Set when the request's creation is answered once these stages are
    /// resolved; the resolver hands it back in `stage.resolved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<PendingAnswer>,
    /// Resolve the stages' escalation rules (an SLA breach with `on_breach:
    /// escalate` whose rules need Keycloak or a caller's resolver).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub escalation: bool,
}

/// A creation whose answer waits for its first stage's resolution: the
/// engine answers it, on its original reply subject, when the resolver's
/// result has been applied (the 201 then lists the stage's tasks).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingAnswer {
    /// The `request.create` command.
    pub command_id: Uuid,
    /// Its reply subject; `{prefix}.reply.{command_id}` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Its `Idempotency-Key`, whose stored response becomes the final answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<IdempotencyClaim>,
}

/// How one stage resolved.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum StageResult {
    /// `skip_if` was truthy.
    Skip {
        stage_order: i32,
    },
    Resolved {
        stage_order: i32,
        approvers: Vec<ResolvedUser>,
        observers: Vec<String>,
    },
    /// A resolver failed after its retries; the stage does not start.
    Failed {
        stage_order: i32,
        reason: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResolvedUser {
    pub user: String,
    #[serde(default)]
    pub required: bool,
}

impl StageResult {
    pub fn from_resolution(stage_order: i32, r: crate::machine::Resolution) -> Self {
        use crate::machine::Resolution;
        match r {
            Resolution::Skip => Self::Skip { stage_order },
            Resolution::Failed { reason } => Self::Failed { stage_order, reason },
            Resolution::Resolved { approvers, observers } => Self::Resolved {
                stage_order,
                approvers: approvers.into_iter().map(|a| ResolvedUser { user: a.user, required: a.required }).collect(),
                observers: observers.into_iter().map(|o| o.user).collect(),
            },
        }
    }

    pub fn into_resolution(self) -> (i32, crate::machine::Resolution) {
        use crate::machine::{Assignee, Resolution};
        match self {
            Self::Skip { stage_order } => (stage_order, Resolution::Skip),
            Self::Failed { stage_order, reason } => (stage_order, Resolution::Failed { reason }),
            Self::Resolved { stage_order, approvers, observers } => (
                stage_order,
                Resolution::Resolved {
                    approvers: approvers
                        .into_iter()
                        .map(|a| Assignee { user: a.user, required: a.required, delegated_from: None })
                        .collect(),
                    observers: observers
                        .into_iter()
                        .map(|user| Assignee { user, required: false, delegated_from: None })
                        .collect(),
                },
            ),
        }
    }
}

/// An `Idempotency-Key`, scoped to the client that sent it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IdempotencyClaim {
    pub client: String,
    pub key: String,
    /// SHA-256 of the request body as the client sent it, hex.
    pub body_hash: String,
}

impl Command {
    /// The type name, also the subject's last tokens.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PolicyCreate { .. } => "policy.create",
            Self::PolicyAddVersion { .. } => "policy.add_version",
            Self::PolicyUpdate { .. } => "policy.update",
            Self::PolicyActivate { .. } => "policy.activate",
            Self::PolicyDeactivate { .. } => "policy.deactivate",
            Self::RequestCreate { .. } => "request.create",
            Self::RequestCancel { .. } => "request.cancel",
            Self::TaskClaim { .. } => "task.claim",
            Self::TaskDecide { .. } => "task.decide",
            Self::TaskComment { .. } => "task.comment",
            Self::TaskReassign { .. } => "task.reassign",
            Self::DelegationCreate { .. } => "delegation.create",
            Self::DelegationRevoke { .. } => "delegation.revoke",
            Self::SecretCreate { .. } => "secret.create",
            Self::SecretRotate { .. } => "secret.rotate",
            Self::SecretRevoke { .. } => "secret.revoke",
            Self::DeliveryRetry { .. } => "delivery.retry",
            Self::StageResolved { .. } => "stage.resolved",
            Self::StageRedrive { .. } => "stage.redrive",
            Self::SlaTick { .. } => "sla.tick",
            Self::SlaExpire { .. } => "sla.expire",
        }
    }
}

/// What a command came to, as the engine answers it and stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Outcome {
    /// `status` and `body` are what the REST call answers.
    Ok { status: u16, body: Value },
    /// Refused; `code` is the contract's `AWE-xxx`; `detail` lists what was
    /// invalid when the input was (a 422 answers with it, as the edge does).
    Error {
        status: u16,
        code: String,
        message: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        detail: Vec<crate::contract::error::ValidationItem>,
    },
}

impl Outcome {
    pub fn ok(status: StatusCode, body: impl Serialize) -> Self {
        Self::Ok { status: status.as_u16(), body: serde_json::to_value(body).unwrap_or(Value::Null) }
    }

    /// A 422 for a message whose body is not a valid command.
    pub fn invalid_body(message: &str) -> Self {
        let item = crate::contract::error::ValidationItem {
            kind: "value_error".into(),
            loc: vec![Value::String("body".into())],
            msg: message.to_owned(),
            input: Value::Null,
        };
        Self::Error { status: 422, code: String::new(), message: message.to_owned(), detail: vec![item] }
    }

    /// A refusal without a list of invalid fields.
    pub fn error(status: StatusCode, code: &str, message: String) -> Self {
        Self::Error { status: status.as_u16(), code: code.to_owned(), message, detail: Vec::new() }
    }

    /// A creation's answer given before its first stage was resolved: `201`
    /// with `status: pending`. The final answer may still follow.
    pub fn awaits_resolution(&self) -> bool {
        matches!(self, Self::Ok { status: 201, body } if body.get("status").and_then(Value::as_str) == Some("pending"))
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::Ok { status, .. } | Self::Error { status, .. } => *status,
        }
    }

    /// Only refusals of the engine's own (envelope errors) are outcomes;
    /// internal failures are retried, never stored.
    pub fn refused(err: &ApiError) -> Option<Self> {
        match err {
            ApiError::Awe { status, code, message } => Some(Self::error(*status, code, message.clone())),
            ApiError::Detail { status, detail } => Some(Self::error(*status, "", detail.clone())),
            ApiError::Validation(items) => Some(Self::Error {
                status: 422,
                code: String::new(),
                message: items.iter().map(|i| i.msg.clone()).collect::<Vec<_>>().join("; "),
                detail: items.clone(),
            }),
            ApiError::Internal(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_envelope_reads_as_documented_in_nats_subjects() {
        let raw = json!({
            "v": 1,
            "id": "8f1c2a8e-9b8f-4a53-8a43-1f0b5b7e6d01",
            "issued_at": "2026-04-23T10:14:22Z",
            "actor": {"sub": "registry", "assignee_id": "registry"},
            "type": "request.cancel",
            "payload": {"request_id": "0b8f2a52-54c5-4b9c-a6e8-2ef5d8f3f6a4", "reason": "withdrawn"}
        });
        let env: Envelope = serde_json::from_value(raw).expect("documented shape");
        assert_eq!(env.command.kind(), "request.cancel");
        assert!(env.actor.roles.is_empty());
    }

    #[test]
    fn an_unknown_command_type_does_not_parse() {
        let raw = json!({"v": 1, "id": Uuid::nil(), "issued_at": "2026-04-23T10:14:22Z",
            "actor": {"sub": "x", "assignee_id": "x"}, "type": "request.explode", "payload": {}});
        assert!(serde_json::from_value::<Envelope>(raw).is_err());
    }
}
