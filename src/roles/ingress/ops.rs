//! Health, version, effective configuration.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;
use crate::adapters::health::NotReady;
use crate::contract::error::{code, envelope_ok, ApiError};

#[utoipa::path(get, path = "/v1/awe/health", tag = "ops",
    responses((status = 200, description = "PostgreSQL and NATS reachable"), (status = 503, description = "AWE-006 database down, AWE-005 NATS down")))]
pub async fn health(State(s): State<Arc<AppState>>) -> Response {
    match crate::adapters::health::check(&s.pool, &s.bus).await {
        Ok(()) => {
            Json(envelope_ok(json!({"status": "UP", "checks": {"database": "UP", "nats": "UP"}}))).into_response()
        }
        Err(NotReady::Database) => {
            ApiError::unavailable(code::DATABASE_UNHEALTHY, "Database health check failed").into_response()
        }
        Err(NotReady::Nats) => {
            ApiError::unavailable(code::NOT_READY, "NATS health check failed: not connected").into_response()
        }
    }
}

#[utoipa::path(get, path = "/v1/awe/version", tag = "ops", responses((status = 200)))]
pub async fn version() -> Response {
    let from_env = |name: &str, built: Option<&str>| {
        std::env::var(name).ok().or(built.map(str::to_owned)).unwrap_or_else(|| "dev".into())
    };
    Json(envelope_ok(json!({
        "service_version": env!("CARGO_PKG_VERSION"),
        "build_time": from_env("BUILD_TIME", option_env!("BUILD_TIME")),
        "git_commit": from_env("GIT_COMMIT", option_env!("GIT_COMMIT")),
    })))
    .into_response()
}

#[utoipa::path(get, path = "/v1/awe/config", tag = "ops", responses((status = 200, description = "Effective non-secret settings")))]
pub async fn config(State(s): State<Arc<AppState>>) -> Response {
    let c = &s.config;
    let mut view = json!({
        "service_id": c.service_id,
        "api_version": c.api_version,
        "module": c.module,
        "webhook": {
            "max_attempts": c.webhook.max_attempts,
            "backoff_seconds": c.webhook.backoff_seconds,
            "timeout_seconds": c.webhook.timeout_seconds,
        },
        "sla": {"check_interval_seconds": c.sla.check_interval_seconds},
        // Added: what the operator console needs to sign in, so one build serves every deployment.
        "console": {
            "auth_mode": if c.keycloak.dev_mode() { "dev" } else { "oidc" },
            "issuer": c.keycloak.issuer.trim(),
            "client_id": c.keycloak.portal_client_id,
            "service_version": env!("CARGO_PKG_VERSION"),
            "embedded": super::console::embedded(),
        },
    });
    view["effective"] = c.public_view();
    (StatusCode::OK, Json(envelope_ok(view))).into_response()
}

/// Prometheus metrics of this process (every role it runs), unauthenticated
/// like the health probe: scrape it from inside the cluster.
pub async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    crate::adapters::metrics::answer(&s.pool).into_response()
}

/// Counts and times every answer by its route template (never the path
/// itself, which holds ids); paths that match no route count as `unmatched`.
pub async fn track(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = match *request.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::PATCH => "PATCH",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    // The caller's trace, or a new one: the commands this call sends carry it on.
    let parent = request
        .headers()
        .get(crate::adapters::trace::HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::adapters::trace::TraceContext::parse);
    let started = std::time::Instant::now();
    // Probes and scrapes every few seconds are not work anyone traces.
    let response = if route == "/metrics" || route == "/v1/awe/health" {
        next.run(request).await
    } else {
        crate::adapters::trace::in_span(
            format!("{method} {route}"),
            crate::adapters::trace::Kind::Server,
            parent,
            async {
                let response = next.run(request).await;
                crate::adapters::trace::attribute("http.response.status_code", response.status().as_u16());
                if response.status().is_server_error() {
                    crate::adapters::trace::fail(response.status());
                }
                response
            },
        )
        .await
    };
    crate::adapters::metrics::http(route, method, response.status().as_u16(), started.elapsed());
    response
}
