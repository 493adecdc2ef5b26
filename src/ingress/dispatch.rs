//! Turning a write into a command: publish it on JetStream, wait a bounded
//! time for the engine's outcome, answer 202 with a Location past that.

use std::time::Duration;

use anyhow::Context as _;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use futures_util::StreamExt;
use serde_json::{json, Value};
use uuid::Uuid;

use super::AppState;
use crate::command::{Command, Envelope, Outcome, ENVELOPE_VERSION};
use crate::domain::Actor;
use crate::error::{code, envelope_error, ApiError};
use crate::store::commands;

/// What to answer when the outcome is not back in time.
pub struct Pending {
    pub location: String,
    pub body: Value,
}

impl AppState {
    pub async fn dispatch(
        &self,
        id: Uuid,
        actor: &Actor,
        command: Command,
        pending: Pending,
    ) -> Result<Response, ApiError> {
        let envelope = Envelope {
            v: ENVELOPE_VERSION,
            id,
            issued_at: Utc::now(),
            actor: actor.clone(),
            command,
        };
        // Subscribe before publishing, so a fast engine cannot answer into the void.
        let mut replies = self
            .bus
            .client
            .subscribe(self.bus.reply_subject(id))
            .await
            .map_err(|e| bus_down(anyhow::Error::new(e)))?;
        let duplicate = self
            .bus
            .publish_command(&envelope)
            .await
            .map_err(bus_down)?;
        if duplicate {
            // Seen before: it may be done already.
            if let Some(outcome) = self.stored_outcome(id).await? {
                return Ok(respond(outcome));
            }
        }
        let wait = Duration::from_millis(self.config.http.reply_timeout_ms);
        let reply = tokio::time::timeout(wait, replies.next()).await;
        let _ = replies.unsubscribe().await;
        if let Ok(Some(message)) = reply {
            if let Ok(outcome) = serde_json::from_slice::<Outcome>(&message.payload) {
                return Ok(respond(outcome));
            }
        }
        if let Some(outcome) = self.stored_outcome(id).await? {
            return Ok(respond(outcome));
        }
        let mut response = (StatusCode::ACCEPTED, Json(pending.body)).into_response();
        if let Ok(value) = pending.location.parse() {
            response.headers_mut().insert(header::LOCATION, value);
        }
        Ok(response)
    }

    async fn stored_outcome(&self, id: Uuid) -> Result<Option<Outcome>, ApiError> {
        let mut conn = self.pool.acquire().await.context("database")?;
        Ok(commands::processed(&mut conn, id)
            .await
            .context("reading a command outcome")?)
    }
}

fn bus_down(err: anyhow::Error) -> ApiError {
    tracing::error!(error = format!("{err:#}"), "command bus unavailable");
    ApiError::unavailable(
        code::NOT_READY,
        "The command bus is unavailable; retry shortly",
    )
}

/// An engine outcome as the REST answer.
pub fn respond(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Ok { status, body } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            Json(body),
        )
            .into_response(),
        Outcome::Error {
            status,
            code,
            message,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = if code.is_empty() {
                json!({"detail": message})
            } else {
                envelope_error(&code, &message)
            };
            (status, Json(body)).into_response()
        }
    }
}
