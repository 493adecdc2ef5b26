//! The ingress role: authenticates, validates, answers reads from
//! PostgreSQL and turns every write into a command. No workflow logic.

mod admin;
pub mod auth;
mod console;
mod contracts;
mod delegations;
mod directory;
mod dispatch;
pub mod extract;
mod limit;
mod openapi;
use openapi::CommonResponses;
mod ops;
mod overview;
mod policies;
mod progress;
mod redoc;
mod requests;
mod secrets;
mod tasks;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::adapters::bus::Bus;
use crate::adapters::config::Config;
use crate::adapters::store::policies::PolicyCache;

pub struct AppState {
    pub config: Config,
    pub pool: PgPool,
    pub bus: Bus,
    pub auth: auth::Authenticator,
    pub policies: PolicyCache,
    pub vault: crate::adapters::secrets::Vault,
    /// For simulate's live calls to Keycloak and callers' HTTP resolvers.
    pub remote: crate::adapters::remote::Remote,
    /// Each key's context contract, checked before a creation is published.
    pub contracts: contracts::Contracts,
    replies: Arc<dispatch::Replies>,
}

impl AppState {
    pub async fn new(config: Config, pool: PgPool, bus: Bus) -> anyhow::Result<Arc<Self>> {
        let auth = auth::Authenticator::new(config.keycloak.clone());
        let replies = dispatch::Replies::start(&bus).await?;
        let vault = crate::adapters::secrets::Vault::from_config(&config)?;
        let remote = crate::adapters::remote::Remote::new(&config)?;
        Ok(Arc::new(Self {
            config,
            pool,
            bus,
            auth,
            policies: PolicyCache::default(),
            vault,
            remote,
            contracts: contracts::Contracts::default(),
            replies,
        }))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "AWE — Approval Workflow Engine", description = "Versioned multi-stage approval policies, requests and tasks. Writes travel as commands through NATS JetStream to the engine."),
    paths(
        ops::health, ops::version, ops::config,
        policies::list, policies::create, policies::versions, policies::get, policies::add_version,
        policies::update, policies::activate, policies::deactivate, policies::simulate,
        requests::create, requests::search, requests::get, requests::cancel, requests::events,
        tasks::list, tasks::stats, tasks::claim, tasks::decide, tasks::comment, tasks::reassign,
        delegations::list, delegations::create, delegations::revoke,
        admin::audit_log, overview::overview, directory::users, directory::clients, directory::roles, directory::groups, admin::command_outcome, admin::deliveries, admin::delivery, admin::retry, admin::retry_bulk, admin::redrive,
        secrets::list, secrets::create, secrets::rotate, secrets::revoke,
    ),
    components(schemas(openapi::ErrorEnvelope, openapi::ErrorItem, openapi::Detail, openapi::ValidationError, crate::contract::error::ValidationItem)),
    modifiers(&BearerAuth, &CommonResponses),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

/// The OpenAPI document as served at `/v1/awe/openapi.json`, pretty-printed.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The routes, separate from serving so tests can drive them directly.
pub fn router(state: Arc<AppState>) -> Router {
    crate::adapters::metrics::init();
    let body_limit = state.config.http.body_limit_bytes;
    let max_header = state.config.http.max_header_bytes;
    let timeout = Duration::from_secs(state.config.http.request_timeout_seconds);
    let (rate, burst) = (state.config.http.rate_limit_per_second, state.config.http.rate_limit_burst);
    let api = Router::new()
        .route("/metrics", get(ops::metrics))
        .route("/v1/awe/health", get(ops::health))
        .route("/v1/awe/version", get(ops::version))
        .route("/v1/awe/config", get(ops::config))
        .route("/v1/awe/redoc", get(redoc::page))
        .route("/v1/awe/redoc/redoc.standalone.js", get(redoc::bundle))
        .route("/v1/awe/policies", get(policies::list).post(policies::create))
        .route("/v1/awe/policies/{policy_key}", put(policies::add_version))
        .route("/v1/awe/policies/{policy_key}/versions", get(policies::versions))
        .route("/v1/awe/policies/{policy_key}/versions/{version}", get(policies::get).patch(policies::update))
        .route("/v1/awe/policies/{policy_key}/versions/{version}/activate", post(policies::activate))
        .route("/v1/awe/policies/{policy_key}/versions/{version}/deactivate", post(policies::deactivate))
        .route("/v1/awe/policies/{policy_key}/versions/{version}/simulate", post(policies::simulate))
        .route("/v1/awe/requests", get(requests::search).post(requests::create))
        .route("/v1/awe/requests/{request_id}", get(requests::get))
        .route("/v1/awe/requests/{request_id}/cancel", post(requests::cancel))
        .route("/v1/awe/requests/{request_id}/events", get(requests::events))
        .route("/v1/awe/tasks", get(tasks::list))
        .route("/v1/awe/tasks/stats", get(tasks::stats))
        .route("/v1/awe/tasks/{task_id}/claim", post(tasks::claim))
        .route("/v1/awe/tasks/{task_id}/decision", post(tasks::decide))
        .route("/v1/awe/tasks/{task_id}/comments", post(tasks::comment))
        .route("/v1/awe/tasks/{task_id}/reassign", post(tasks::reassign))
        .route("/v1/awe/delegations", get(delegations::list).post(delegations::create))
        .route("/v1/awe/delegations/{delegation_id}", axum::routing::delete(delegations::revoke))
        .route("/v1/awe/admin/audit", get(admin::audit_log))
        .route("/v1/awe/admin/overview", get(overview::overview))
        .route("/v1/awe/admin/keycloak/users", get(directory::users))
        .route("/v1/awe/admin/keycloak/clients", get(directory::clients))
        .route("/v1/awe/admin/keycloak/roles", get(directory::roles))
        .route("/v1/awe/admin/keycloak/groups", get(directory::groups))
        .route("/v1/awe/admin/deliveries", get(admin::deliveries))
        .route("/v1/awe/admin/deliveries/retry", post(admin::retry_bulk))
        .route("/v1/awe/admin/requests/{request_id}/resolve", post(admin::redrive))
        .route("/v1/awe/admin/deliveries/{delivery_id}", get(admin::delivery))
        .route("/v1/awe/admin/deliveries/{delivery_id}/retry", post(admin::retry))
        .route("/v1/awe/admin/callback-secrets", get(secrets::list).post(secrets::create))
        .route("/v1/awe/admin/callback-secrets/{secret_id}/rotate", post(secrets::rotate))
        .route("/v1/awe/admin/callback-secrets/{secret_id}", axum::routing::delete(secrets::revoke))
        .route("/v1/awe/commands/{command_id}", get(admin::command_outcome))
        .route("/v1/awe/admin", get(console::front_door))
        .route("/v1/awe/admin/", get(console::front_door))
        .route("/v1/awe/admin/-/", get(console::root))
        .route("/v1/awe/admin/-/{*path}", get(console::file))
        .with_state(state);
    let router = Router::new()
        .merge(SwaggerUi::new("/v1/awe/docs").url("/v1/awe/openapi.json", ApiDoc::openapi()))
        .merge(api)
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"detail": "Not Found"}))) })
        .method_not_allowed_fallback(|| async {
            (StatusCode::METHOD_NOT_ALLOWED, Json(json!({"detail": "Method Not Allowed"}))).into_response()
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(max_header, limit::header_size))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout));
    let router = if rate > 0.0 {
        router.layer(axum::middleware::from_fn_with_state(limit::Limiter::new(rate, burst), limit::limit))
    } else {
        router
    };
    router.layer(axum::middleware::from_fn(ops::track))
}

/// Serves until `shutdown`, finishing in-flight requests.
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "ingress listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("serving HTTP")
}
