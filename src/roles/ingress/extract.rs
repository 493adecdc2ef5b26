//! Extractors that answer bad input the way the contract does: a 422 with a
//! FastAPI-style list naming the location, or a 413 for an oversized body.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::contract::checks::nul_at;
use crate::contract::error::{ApiError, ValidationItem};

/// A JSON body, parsed with the path of the first offending field.
pub struct Body<T> {
    pub value: T,
    /// The body as parsed JSON, for hashing (`Idempotency-Key`).
    pub raw: Value,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::awe(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    crate::contract::error::code::INVALID_STATE,
                    "Request body is too large",
                )
            } else {
                ApiError::invalid(&["body"], rejection.body_text(), Value::Null)
            }
        })?;
        parse_body(&bytes)
    }
}

pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<Body<T>, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::Validation(vec![item("missing", vec!["body".into()], "Field required", Value::Null)]));
    }
    let raw: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::Validation(vec![item(
            "json_invalid",
            vec!["body".into(), e.column().into()],
            &format!("JSON decode error: {e}"),
            Value::Null,
        )])
    })?;
    if let Some(mut at) = nul_at(&raw) {
        at.insert(0, "body".into());
        return Err(ApiError::Validation(vec![item("string_nul", at, NUL_MESSAGE, Value::Null)]));
    }
    let value = serde_path_to_error::deserialize::<_, T>(&raw).map_err(|e| {
        let mut loc: Vec<Value> = vec!["body".into()];
        for segment in e.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => loc.push((*index).into()),
                serde_path_to_error::Segment::Map { key } => loc.push(key.clone().into()),
                serde_path_to_error::Segment::Enum { variant } => loc.push(variant.clone().into()),
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        let message = e.inner().to_string();
        let kind = if message.starts_with("missing field") { "missing" } else { "value_error" };
        // A missing field is reported at the field, as FastAPI does.
        if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            loc.push(field.into());
        }
        let input = input_at(&raw, &loc[1..]);
        ApiError::Validation(vec![item(kind, loc, &message, input)])
    })?;
    Ok(Body { value, raw })
}

const NUL_MESSAGE: &str = "text must not contain NUL (\\u0000) characters";

fn input_at(raw: &Value, loc: &[Value]) -> Value {
    let mut node = raw;
    for key in loc {
        let next = match key {
            Value::String(k) => node.get(k.as_str()),
            Value::Number(n) => n.as_u64().and_then(|i| node.get(i as usize)),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return Value::Null,
        }
    }
    node.clone()
}

fn item(kind: &str, loc: Vec<Value>, msg: &str, input: Value) -> ValidationItem {
    ValidationItem { kind: kind.into(), loc, msg: msg.into(), input }
}

/// Query parameters; a malformed one is a 422 naming it.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some((name, _)) =
            form_urlencoded::parse(query.as_bytes()).find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError::invalid(&["query", &name.replace('\0', "\\u0000")], NUL_MESSAGE, Value::Null));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|e| {
            let field = e.path().to_string();
            ApiError::invalid(&["query", &field], e.inner().to_string(), Value::Null)
        })
    }
}

/// Path parameters; a malformed one (e.g. not a UUID) is a 422.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if percent_decoded_has_nul(parts.uri.path()) {
            return Err(ApiError::invalid(&["path"], NUL_MESSAGE, Value::Null));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::invalid(&["path"], e.body_text(), Value::Null))
    }
}

fn percent_decoded_has_nul(path: &str) -> bool {
    path.contains("%00") || path.contains('\0')
}

/// The added `offset` of the list endpoints: 0 by default, at most 100,000
/// (deeper pages are better reached by narrowing the filter or the time range).
pub fn offset(offset: Option<i64>) -> Result<i64, ApiError> {
    let offset = offset.unwrap_or(0);
    if !(0..=100_000).contains(&offset) {
        return Err(ApiError::invalid(&["query", "offset"], "must be between 0 and 100000", serde_json::json!(offset)));
    }
    Ok(offset)
}
