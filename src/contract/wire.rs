//! The wire shapes of the contract (API.md §4), shared by the ingress (reads)
//! and the engine (outcomes of writes). Field names never change; new fields
//! are only ever added.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::{ExpectedContext, OnBreach, OnEmpty, PolicyStatus, RuleKind, RuleType};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RuleOut {
    /// A rule's id; escalation rules carry `esc-<stage_id>-<index>`.
    pub id: String,
    pub rule_type: RuleType,
    #[schema(value_type = Object)]
    pub rule_value: Value,
    pub kind: RuleKind,
    pub required: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StageOut {
    pub id: Uuid,
    pub name: String,
    pub stage_order: i32,
    pub mode: String,
    pub mode_value: Option<i32>,
    #[serde(serialize_with = "hours")]
    pub sla_hours: Option<f64>,
    #[schema(value_type = Option<Object>)]
    pub skip_if: Option<Value>,
    pub on_empty: OnEmpty,
    pub parallel_group: Option<i32>,
    pub on_breach: Option<OnBreach>,
    pub escalation_rules: Vec<RuleOut>,
    pub rules: Vec<RuleOut>,
}

/// Whole hours print as integers, as the reference stores them.
fn hours<S: serde::Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(h) if h.fract() == 0.0 && h.abs() < 1e15 => s.serialize_i64(*h as i64),
        Some(h) => s.serialize_f64(*h),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PolicyOut {
    pub id: Uuid,
    pub policy_key: String,
    pub version: i32,
    pub name: String,
    pub description: Option<String>,
    pub status: PolicyStatus,
    pub artifact_type: String,
    pub forbid_self_approval: bool,
    pub forbid_repeat_approvers: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub stages: Vec<StageOut>,
    /// Added: the context the version declares it needs; null when it
    /// declares none (the context is then not checked).
    #[serde(default)]
    pub expected_context: Option<ExpectedContext>,
    /// Added: every context key the version's JSONLogic reads (`skip_if`,
    /// expression rules, escalation rules), as JSONLogic paths, sorted.
    #[serde(default)]
    pub context_keys: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PolicyVersionOut {
    pub id: Uuid,
    pub policy_key: String,
    pub version: i32,
    pub status: PolicyStatus,
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /requests`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CreateRequestIn {
    pub policy_key: String,
    pub artifact_type: String,
    pub artifact_id: String,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub context: Value,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub callback_secret_id: Option<Uuid>,
    /// Defaults to the token's `sub`.
    #[serde(default)]
    pub requester: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CreateRequestOut {
    pub request_id: Uuid,
    pub status: String,
    pub current_stage_order: i32,
    pub tasks: Vec<TaskOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RequestOut {
    pub id: Uuid,
    pub policy_id: Uuid,
    pub policy_key: String,
    pub policy_version: i32,
    pub artifact_type: String,
    pub artifact_id: String,
    pub source_service: String,
    pub requester: String,
    #[schema(value_type = Object)]
    pub context: Value,
    pub status: String,
    pub current_stage_order: i32,
    pub callback_url: Option<String>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Added: each stage's state and, once finished, why it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<StageProgress>>,
}

/// Added to `RequestOut`: where each stage stands.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StageProgress {
    pub stage_order: i32,
    pub name: String,
    pub status: String,
    pub approvals: usize,
    pub approvals_needed: usize,
    pub required_missing: Vec<String>,
    pub open_tasks: usize,
    pub closed_tasks: usize,
    pub reason: Option<String>,
    /// An active stage that can no longer complete without someone acting
    /// (an admin reassigning an expired task, the caller cancelling).
    pub stalled: bool,
    /// Why it is stalled ("quorum unreachable after bob's task closed").
    pub stalled_reason: Option<String>,
    /// An SLA escalation added approvers to this stage.
    pub escalated: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CancelIn {
    #[serde(default)]
    pub reason: Option<String>,
    /// Ignored: the token's `sub` is the actor.
    #[serde(default)]
    pub actor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct EventOut {
    pub id: Uuid,
    pub request_id: Uuid,
    pub event_type: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    /// Added: the event's position in the request's timeline, from 1.
    pub seq: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TaskOut {
    pub id: Uuid,
    pub request_id: Uuid,
    pub stage_id: Uuid,
    pub stage_order: i32,
    pub assignee: String,
    pub kind: String,
    pub delegated_from: Option<String>,
    pub reassigned_from: Option<String>,
    pub status: String,
    pub claimed_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub decision_id: Option<Uuid>,
    pub decision_action: Option<String>,
    pub decision_comment: Option<String>,
    pub created_at: DateTime<Utc>,
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    pub artifact_type: Option<String>,
    pub artifact_id: Option<String>,
    pub policy_key: Option<String>,
    pub search_text: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PagedTasksOut {
    pub items: Vec<TaskOut>,
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
    pub pages: i64,
    /// Added: present (true) when `total_limit` cut the count: at least `total` match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub total_capped: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DecisionIn {
    pub action: crate::domain::DecisionAction,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub attachments_ref: Option<String>,
}

/// A comment on a request, by someone holding a task on it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CommentIn {
    /// 1 to 4096 characters.
    pub comment: String,
    #[serde(default)]
    pub attachments_ref: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CommentOut {
    pub id: Uuid,
    pub request_id: Uuid,
    pub task_id: Uuid,
    pub stage_order: i32,
    pub actor: String,
    pub comment: String,
    pub attachments_ref: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DecisionOut {
    pub id: Uuid,
    pub request_id: Uuid,
    pub task_id: Uuid,
    pub stage_order: i32,
    pub actor: String,
    pub action: String,
    pub comment: Option<String>,
    pub attachments_ref: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AuditActionOut {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub actor_email: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub summary: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    /// Both spellings: the reference most likely emits `metadata_`.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub metadata_: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// Inclusive.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive.
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
    /// Added: rows to skip, for paging (0–100000).
    pub offset: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct RequestQuery {
    pub artifact_type: Option<String>,
    pub artifact_id: Option<String>,
    pub status: Option<String>,
    /// Added: exact policy key.
    pub policy_key: Option<String>,
    /// Added: exact requester.
    pub requester: Option<String>,
    /// Added: created at or after (inclusive).
    pub created_since: Option<DateTime<Utc>>,
    /// Added: created before (exclusive).
    pub created_until: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
    /// Added: rows to skip, for paging (0–100000).
    pub offset: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// `me` (default), `*`, empty for everyone, or an exact assignee id.
    pub assignee: Option<String>,
    pub request_id: Option<Uuid>,
    pub status: Option<String>,
    pub artifact_type: Option<String>,
    pub policy_key: Option<String>,
    pub search_text: Option<String>,
    /// Added: only open or claimed tasks past their due time.
    pub overdue: Option<bool>,
    /// Added: exact stage.
    pub stage_order: Option<i32>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
    /// Added: count matching tasks only up to this many (1 to 1 000 000); a
    /// larger set answers `total` = the limit and `total_capped: true`. Counting
    /// a million open tasks takes a while; a console that shows "10 000+" need not.
    pub total_limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DelegationIn {
    pub user_id: String,
    pub delegate_to: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DelegationOut {
    pub id: Uuid,
    pub user_id: String,
    pub delegate_to: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReassignIn {
    pub new_assignee: String,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct DelegationQuery {
    pub user_id: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DeliveryOut {
    pub id: Uuid,
    pub event_id: Uuid,
    pub request_id: Uuid,
    pub event_type: String,
    /// Added: the event's position in its request's timeline.
    pub seq: i32,
    pub url: String,
    pub status: String,
    pub attempt: i32,
    /// Added: false when the request had no callback secret.
    pub signed: bool,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    pub status: Option<String>,
    pub request_id: Option<Uuid>,
    /// Added: exact event type.
    pub event_type: Option<String>,
    /// Added: created at or after (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Added: created before (exclusive).
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
    /// Added: rows to skip, for paging (0–100000).
    pub offset: Option<i64>,
}

/// The oldest request still open, on the console's overview.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OldestOpen {
    pub id: Uuid,
    pub policy_key: String,
    pub artifact_type: String,
    pub artifact_id: String,
    pub created_at: DateTime<Utc>,
}

/// One bucket of the overview's activity.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SeriesPoint {
    /// Start of the bucket.
    pub at: DateTime<Utc>,
    pub created: i64,
    pub finished: i64,
    /// Tasks expired at their due time (SLA breaches).
    pub breaches: i64,
}

/// A Keycloak user for the console's picker (API.md §4.6).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct KeycloakUserOut {
    /// The assignee id a `user` rule names.
    pub user_id: String,
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct KeycloakClientOut {
    pub client_id: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct KeycloakRoleOut {
    pub name: String,
    /// The client's `clientId`; `null` for a realm role.
    pub client: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct KeycloakGroupOut {
    pub path: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeycloakQuery {
    /// Search text (users, roles, groups).
    pub q: Option<String>,
    /// Roles of this client (`clientId`); realm roles when omitted.
    pub client: Option<String>,
    pub limit: Option<i64>,
}

/// One attempt of a delivery (added: `GET /admin/deliveries/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AttemptOut {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub signed: bool,
}

/// A delivery with what was sent and every attempt (added).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DeliveryDetailOut {
    pub delivery: DeliveryOut,
    /// The JSON body the webhook role signs and sends for this event.
    #[schema(value_type = Object)]
    pub body: Value,
    /// The same body as the exact bytes that are signed and sent.
    pub body_raw: String,
    pub attempts: Vec<AttemptOut>,
}

/// A callback secret as listed: never the secret itself.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SecretOut {
    pub id: Uuid,
    pub caller_service: String,
    /// SHA-256 of the secret, hex: tells secrets apart without revealing them.
    pub fingerprint: String,
    pub status: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SecretIn {
    /// The `sub` of the caller service whose deliveries this secret signs.
    pub caller_service: String,
}

/// Body of a bulk retry: the exhausted deliveries of a request, of a time range, or both.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct BulkRetryIn {
    #[serde(default)]
    pub request_id: Option<Uuid>,
    /// Inclusive, on the delivery's creation time.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// Exclusive.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
}
