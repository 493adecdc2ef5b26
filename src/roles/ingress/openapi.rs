//! What the published OpenAPI document says about errors: the three error
//! bodies of the contract (API.md §1.1) as schemas, and the answers every
//! operation can give besides its own (authentication, validation, limits,
//! availability), so a client generated from the document knows them all.

use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};
use utoipa::ToSchema;

/// The AWE envelope of an error.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorEnvelope {
    #[schema(example = "openg2p.awe")]
    id: String,
    #[schema(example = "1.0")]
    version: String,
    /// UTC, millisecond precision.
    responsetime: String,
    /// Always null on an error.
    #[schema(value_type = Option<Object>)]
    response: Option<()>,
    errors: Vec<ErrorItem>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorItem {
    /// `AWE-001` … `AWE-011`, `AWE-429`, `AWE-431`, `AWE-500`.
    #[schema(rename = "errorCode", example = "AWE-007")]
    error_code: String,
    message: String,
}

/// How authentication and role failures answer, as the reference does.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Detail {
    detail: String,
}

/// A 422: every invalid path, query or body value, FastAPI-style.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ValidationError {
    detail: Vec<crate::contract::error::ValidationItem>,
}

fn json_response(description: &str, schema: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build())
        .build()
}

fn one_of_response(description: &str, schemas: &[&str]) -> Response {
    let mut one_of = utoipa::openapi::schema::OneOfBuilder::new();
    for name in schemas {
        one_of = one_of.item(Ref::from_schema_name(*name));
    }
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(one_of)).build())
        .build()
}

/// The body an error status answers with.
fn error_body(status: &str, description: &str) -> Response {
    let description = if description.is_empty() { "Error" } else { description };
    match status {
        "401" => json_response(description, "Detail"),
        "403" => one_of_response(description, &["Detail", "ErrorEnvelope"]),
        "422" => json_response(description, "ValidationError"),
        _ => json_response(description, "ErrorEnvelope"),
    }
}

pub struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = ["/v1/awe/health", "/v1/awe/version", "/v1/awe/config"].contains(&path.as_str());
            let operations =
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head];
            for operation in operations.into_iter().flatten() {
                qualify_operation_id(operation);
                if public {
                    operation.security = Some(Vec::new());
                } else {
                    complete(operation);
                }
            }
        }
    }
}

/// utoipa names an operation after its handler, and handlers of different
/// tags share names (`list`, `create`, `get`); OpenAPI requires the ids to be
/// unique, and generated clients (the console's types) key on them.
fn qualify_operation_id(operation: &mut Operation) {
    let tag = operation.tags.as_ref().and_then(|t| t.first()).cloned();
    if let (Some(tag), Some(id)) = (tag, operation.operation_id.as_mut()) {
        if !id.starts_with(&format!("{tag}_")) {
            *id = format!("{tag}_{id}");
        }
    }
}

fn complete(operation: &mut Operation) {
    let has_input = operation.request_body.is_some() || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut add = vec![
        ("401", "Missing, malformed, expired or unverifiable bearer token"),
        ("403", "The token lacks the role or the ownership this operation needs"),
        ("408", "Not answered within http.request_timeout_seconds"),
        ("429", "The client's rate limit (when configured); Retry-After gives the seconds to wait"),
        ("431", "Target and headers larger than http.max_header_bytes"),
        ("503", "AWE-005: NATS unavailable; AWE-006: PostgreSQL unavailable"),
    ];
    if has_input {
        add.push(("422", "An invalid path, query or body value, each named by `loc`"));
    }
    if operation.request_body.is_some() {
        add.push(("413", "Body larger than http.body_limit_bytes"));
    }
    let responses = &mut operation.responses.responses;
    for (status, description) in add {
        responses.entry(status.to_owned()).or_insert_with(|| RefOr::T(error_body(status, description)));
    }
    // Error answers the operation documents itself get their body's schema.
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(existing) = response {
            if status.starts_with(['4', '5']) && existing.content.is_empty() {
                *existing = error_body(status, &existing.description);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    #[test]
    fn every_operation_of_the_document_has_an_id_of_its_own() {
        let doc: serde_json::Value = serde_json::from_str(&super::super::openapi_json()).expect("document");
        let mut seen = HashSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
                assert!(seen.insert(id.to_owned()), "{method} {path}: operationId {id} is used twice");
            }
        }
        assert!(seen.contains("requests_create") && seen.contains("policies_create"), "{seen:?}");
    }
}
