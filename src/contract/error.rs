//! The contract's error bodies (API.md §1.1) and `AWE-xxx` codes, mapped to
//! responses in one place. Internal errors never leak their text.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::domain::FieldError;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The `AWE-xxx` catalogue.
pub mod code {
    pub const POLICY_NOT_FOUND: &str = "AWE-001";
    pub const POLICY_CONFLICT: &str = "AWE-002";
    pub const REQUEST_NOT_FOUND: &str = "AWE-003";
    pub const TASK_NOT_FOUND: &str = "AWE-004";
    pub const NOT_READY: &str = "AWE-005";
    pub const DATABASE_UNHEALTHY: &str = "AWE-006";
    pub const INVALID_STATE: &str = "AWE-007";
    pub const FORBIDDEN: &str = "AWE-008";
    pub const IDEMPOTENCY_MISMATCH: &str = "AWE-009";
    pub const BAD_POLICY: &str = "AWE-010";
    pub const KEYCLOAK_UNAVAILABLE: &str = "AWE-011";
    /// Not in the reference catalogue: a failure of ours, never the caller's.
    pub const INTERNAL: &str = "AWE-500";
}

pub const SERVICE_ID: &str = "openg2p.awe";

/// One item of a 422 body, shaped like FastAPI's so callers that parse it keep working.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ValidationItem {
    /// `value_error`, `missing`, `json_invalid`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Where: `["body", "stages", 0, "rules"]`, `["query", "page_size"]`, `["path"]`.
    pub loc: Vec<Value>,
    pub msg: String,
    /// The offending value, when there is one.
    pub input: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Rendered in the AWE envelope.
    #[error("{code}: {message}")]
    Awe { status: StatusCode, code: &'static str, message: String },
    /// `{"detail": "..."}`, as the reference answers authentication failures.
    #[error("{detail}")]
    Detail { status: StatusCode, detail: String },
    /// 422 with a FastAPI-style list.
    #[error("invalid input")]
    Validation(Vec<ValidationItem>),
    /// Anything of ours that went wrong; logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn awe(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Awe { status, code, message: message.into() }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::awe(StatusCode::NOT_FOUND, code, message)
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::awe(StatusCode::CONFLICT, code, message)
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::awe(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::Detail { status: StatusCode::UNAUTHORIZED, detail: detail.into() }
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Detail { status: StatusCode::FORBIDDEN, detail: detail.into() }
    }
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::awe(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }
    /// A 422 naming one field, e.g. `("query", "page_size")`.
    pub fn invalid(loc: &[&str], msg: impl Into<String>, input: Value) -> Self {
        Self::Validation(vec![ValidationItem {
            kind: "value_error".into(),
            loc: loc.iter().map(|s| Value::String((*s).to_owned())).collect(),
            msg: msg.into(),
            input,
        }])
    }
    /// A policy document that parsed but does not make sense.
    pub fn bad_policy(err: FieldError) -> Self {
        Self::bad_request(code::BAD_POLICY, err.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Awe { status, .. } | Self::Detail { status, .. } => *status,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response body.
    pub fn body(&self) -> Value {
        match self {
            Self::Awe { code, message, .. } => envelope_error(code, message),
            Self::Detail { detail, .. } => json!({ "detail": detail }),
            Self::Validation(items) => json!({ "detail": items }),
            Self::Internal(_) => envelope_error(code::INTERNAL, "Internal error; the failure was logged"),
        }
    }
}

/// `responsetime`: UTC, millisecond precision, literal `Z`.
pub fn response_time() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn envelope_error(code: &str, message: &str) -> Value {
    json!({
        "id": SERVICE_ID,
        "version": "1.0",
        "responsetime": response_time(),
        "response": null,
        "errors": [{ "errorCode": code, "message": message }],
    })
}

pub fn envelope_ok(response: Value) -> Value {
    json!({
        "id": SERVICE_ID,
        "version": "1.0",
        "responsetime": response_time(),
        "response": response,
        "errors": [],
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(err) = &self {
            tracing::error!(error = format!("{err:#}"), "internal error");
        }
        (self.status(), Json(self.body())).into_response()
    }
}
