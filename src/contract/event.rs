//! An event as callers receive it: the webhook body, which is also the
//! message body on `{prefix}.evt.{event_type}.{request_id}`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// The event types of spec 002's table: what a webhook carries unless the
/// deployment asks for more (`webhook.event_types`).
pub const SPEC_EVENT_TYPES: [&str; 10] = [
    "request_created",
    "stage_started",
    "stage_completed",
    "stage_skipped",
    "stage_escalated",
    "request_approved",
    "request_rejected",
    "request_cancelled",
    "task_expired",
    "task_reassigned",
];

/// The timeline's other event types: the steps between the spec's that the
/// Registry's timeline shows (a claim, a decision with its comment, a
/// comment), and a resolution that failed.
pub const MORE_EVENT_TYPES: [&str; 4] =
    ["task_claimed", "decision_submitted", "comment_added", "stage_resolution_failed"];

/// Every event type the timeline holds.
pub fn event_types() -> impl Iterator<Item = &'static str> {
    SPEC_EVENT_TYPES.into_iter().chain(MORE_EVENT_TYPES)
}

/// A committed timeline event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: Uuid,
    pub request_id: Uuid,
    pub seq: i32,
    pub event_type: String,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    /// Whether the request has a callback URL, when the publisher knows: a
    /// hint that lets the webhook role skip events nobody receives.
    pub has_callback: Option<bool>,
    /// The `traceparent` of the work that committed it, sent on with it.
    pub traceparent: Option<String>,
}

/// Keys in the contract's order (API.md §7); `seq` and `payload` are added.
#[derive(Serialize)]
struct Body<'a> {
    event_id: Uuid,
    event_type: &'a str,
    request_id: Uuid,
    artifact_type: &'a Value,
    artifact_id: &'a Value,
    status: &'a Value,
    stage_order: &'a Value,
    actor: &'a Value,
    occurred_at: DateTime<Utc>,
    seq: i32,
    payload: &'a Value,
}

impl StoredEvent {
    /// Compact JSON, exactly the bytes a webhook signs and sends.
    pub fn body(&self) -> Vec<u8> {
        let field = |name: &str| self.payload.get(name).unwrap_or(&Value::Null);
        let body = Body {
            event_id: self.id,
            event_type: &self.event_type,
            request_id: self.request_id,
            artifact_type: field("artifact_type"),
            artifact_id: field("artifact_id"),
            status: field("status"),
            stage_order: field("stage_order"),
            actor: field("actor"),
            occurred_at: self.created_at,
            seq: self.seq,
            payload: &self.payload,
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_body_lists_the_contract_keys_first_and_in_order() {
        let event = StoredEvent {
            id: Uuid::nil(),
            request_id: Uuid::nil(),
            seq: 3,
            event_type: "request_approved".into(),
            payload: json!({"artifact_type": "t", "artifact_id": "cr-42", "status": "approved", "stage_order": 2, "actor": "dx"}),
            created_at: DateTime::from_timestamp(1_730_000_000, 0).expect("time"),
            has_callback: None,
            traceparent: None,
        };
        let text = String::from_utf8(event.body()).expect("utf-8");
        let keys = [
            "event_id",
            "event_type",
            "request_id",
            "artifact_type",
            "artifact_id",
            "status",
            "stage_order",
            "actor",
            "occurred_at",
            "seq",
            "payload",
        ];
        let positions: Vec<usize> =
            keys.iter().map(|k| text.find(&format!("\"{k}\":")).expect("key present")).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(!text.contains(' '), "compact: {text}");
    }
}
