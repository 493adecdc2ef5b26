//! `/v1/awe/admin/keycloak/{users,clients,roles,groups}` (API.md rows 29 to
//! 32): the console's pickers, read through the resolver's Keycloak client.
//! Keycloak down, refusing, or not configured: 503 AWE-011.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::json;

use super::auth::Caller;
use super::extract::Query;
use super::AppState;
use crate::adapters::keycloak::Keycloak;
use crate::contract::error::{code, ApiError, Result};
use crate::contract::wire::{KeycloakClientOut, KeycloakGroupOut, KeycloakQuery, KeycloakRoleOut, KeycloakUserOut};
use crate::rules::RuleError;

fn keycloak<'a>(s: &'a AppState, caller: &Caller) -> Result<&'a Keycloak> {
    caller.require_viewer()?;
    s.remote.keycloak.as_ref().ok_or_else(|| {
        ApiError::unavailable(
            code::KEYCLOAK_UNAVAILABLE,
            "Keycloak admin API is not configured (keycloak.base_url is empty)",
        )
    })
}

fn limit(q: &KeycloakQuery, default: i64, max: i64) -> Result<usize> {
    let limit = q.limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::invalid(&["query", "limit"], format!("must be between 1 and {max}"), json!(limit)));
    }
    Ok(limit as usize)
}

fn unavailable(e: RuleError) -> ApiError {
    ApiError::unavailable(code::KEYCLOAK_UNAVAILABLE, format!("Keycloak admin API failed: {}", e.reason))
}

#[utoipa::path(get, path = "/v1/awe/admin/keycloak/users", tag = "admin", params(KeycloakQuery),
    responses((status = 200, body = [KeycloakUserOut]), (status = 503, description = "AWE-011: Keycloak admin API failed")))]
pub async fn users(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<KeycloakQuery>,
) -> Result<Json<Vec<KeycloakUserOut>>> {
    let kc = keycloak(&s, &caller)?;
    let limit = limit(&q, 100, 200)?;
    Ok(Json(kc.find_users(q.q.as_deref(), limit).await.map_err(unavailable)?))
}

#[utoipa::path(get, path = "/v1/awe/admin/keycloak/clients", tag = "admin", params(KeycloakQuery),
    responses((status = 200, body = [KeycloakClientOut]), (status = 503, description = "AWE-011: Keycloak admin API failed")))]
pub async fn clients(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<KeycloakQuery>,
) -> Result<Json<Vec<KeycloakClientOut>>> {
    let kc = keycloak(&s, &caller)?;
    let limit = limit(&q, 200, 500)?;
    Ok(Json(kc.find_clients(limit).await.map_err(unavailable)?))
}

#[utoipa::path(get, path = "/v1/awe/admin/keycloak/roles", tag = "admin", params(KeycloakQuery),
    responses((status = 200, body = [KeycloakRoleOut]), (status = 503, description = "AWE-011: Keycloak admin API failed")))]
pub async fn roles(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<KeycloakQuery>,
) -> Result<Json<Vec<KeycloakRoleOut>>> {
    let kc = keycloak(&s, &caller)?;
    Ok(Json(kc.find_roles(q.client.as_deref(), q.q.as_deref()).await.map_err(unavailable)?))
}

#[utoipa::path(get, path = "/v1/awe/admin/keycloak/groups", tag = "admin", params(KeycloakQuery),
    responses((status = 200, body = [KeycloakGroupOut]), (status = 503, description = "AWE-011: Keycloak admin API failed")))]
pub async fn groups(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<KeycloakQuery>,
) -> Result<Json<Vec<KeycloakGroupOut>>> {
    let kc = keycloak(&s, &caller)?;
    let limit = limit(&q, 100, 200)?;
    Ok(Json(kc.find_groups(q.q.as_deref(), limit).await.map_err(unavailable)?))
}
