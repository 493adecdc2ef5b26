//! The checks on input that the ingress runs for an early answer and the
//! engine runs again for commands that come straight from NATS: one place, so
//! both refuse the same input with the same `AWE-xxx` or 422 answer.

use serde_json::{json, Value};

use crate::contract::error::{code, ApiError, Result, ValidationItem};
use crate::contract::wire::{CreateRequestIn, DelegationIn};
use crate::domain::context::{self, ExpectedContext};

/// The longest id (policy key, artifact type and id, user) the service takes.
pub const MAX_ID_LEN: usize = 255;
/// The longest `callback_url`.
pub const MAX_URL_LEN: usize = 2048;

/// The 409 for an `Idempotency-Key` used before with another body.
pub fn idempotency_mismatch(key: &str) -> ApiError {
    ApiError::conflict(
        code::IDEMPOTENCY_MISMATCH,
        format!("Idempotency-Key '{key}' was already used with a different request body"),
    )
}

/// Refuses a context that the active version's `expected_context` does not
/// accept: 422 in the contract's list shape, one item per key
/// (`["body", "context", "amount"]`).
pub fn check_context(expected: &ExpectedContext, policy_key: &str, version: i32, context: &Value) -> Result<()> {
    let problems = context::check_context(expected, context, &format!("policy '{policy_key}' v{version}"));
    if problems.is_empty() {
        return Ok(());
    }
    Err(ApiError::Validation(
        problems
            .into_iter()
            .map(|p| ValidationItem {
                kind: p.kind.to_owned(),
                loc: ["body", "context"].into_iter().map(String::from).chain(p.path).map(Value::String).collect(),
                msg: p.message,
                input: p.input,
            })
            .collect(),
    ))
}

/// The checks every creation passes, from REST or straight from NATS.
pub fn validate_create(input: &CreateRequestIn) -> Result<()> {
    let text = |field: &str, value: &str| -> Result<()> {
        if value.trim().is_empty() || value.chars().count() > MAX_ID_LEN {
            return Err(ApiError::invalid(
                &["body", field],
                format!("must be 1 to {MAX_ID_LEN} characters"),
                json!(value),
            ));
        }
        Ok(())
    };
    text("policy_key", &input.policy_key)?;
    text("artifact_type", &input.artifact_type)?;
    text("artifact_id", &input.artifact_id)?;
    if let Some(r) = &input.requester {
        if r.chars().count() > MAX_ID_LEN {
            return Err(ApiError::invalid(
                &["body", "requester"],
                format!("must be at most {MAX_ID_LEN} characters"),
                json!(r),
            ));
        }
    }
    if !input.context.is_object() {
        return Err(ApiError::invalid(&["body", "context"], "must be a JSON object", input.context.clone()));
    }
    if let Some(url) = &input.callback_url {
        let ok = (url.starts_with("http://") || url.starts_with("https://"))
            && url.len() <= MAX_URL_LEN
            && !url.contains(char::is_whitespace);
        if !ok {
            return Err(ApiError::invalid(
                &["body", "callback_url"],
                "must be an http:// or https:// URL of at most 2048 characters",
                json!(url),
            ));
        }
    }
    Ok(())
}

/// A window must end after it starts and name someone else.
pub fn validate_delegation(d: &DelegationIn) -> Result<()> {
    for (field, value) in [("user_id", &d.user_id), ("delegate_to", &d.delegate_to)] {
        if value.trim().is_empty() || value.chars().count() > MAX_ID_LEN {
            return Err(ApiError::invalid(
                &["body", field],
                format!("must be 1 to {MAX_ID_LEN} characters"),
                json!(value),
            ));
        }
    }
    if d.delegate_to == d.user_id {
        return Err(ApiError::invalid(
            &["body", "delegate_to"],
            "a user cannot delegate to themself",
            json!(d.delegate_to),
        ));
    }
    if d.ends_at <= d.starts_at {
        return Err(ApiError::invalid(&["body", "ends_at"], "must be after starts_at", json!(d.ends_at)));
    }
    if d.reason.as_ref().is_some_and(|r| r.chars().count() > 1024) {
        return Err(ApiError::invalid(&["body", "reason"], "must be at most 1024 characters", Value::Null));
    }
    Ok(())
}

/// Where a NUL character sits in a JSON document (PostgreSQL's text and jsonb
/// cannot hold one), as a location path.
pub fn nul_at(value: &Value) -> Option<Vec<Value>> {
    match value {
        Value::String(s) if s.contains('\0') => Some(Vec::new()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            nul_at(v).map(|mut at| {
                at.insert(0, i.into());
                at
            })
        }),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(vec![Value::String(k.replace('\0', "\\u0000"))]);
            }
            nul_at(v).map(|mut at| {
                at.insert(0, k.clone().into());
                at
            })
        }),
        _ => None,
    }
}
