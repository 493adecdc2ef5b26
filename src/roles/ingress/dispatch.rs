//! Turning a write into a command: publish it on JetStream, wait a bounded
//! time for the engine's outcome, answer 202 with a Location past that.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::AppState;
use crate::adapters::bus::Bus;
use crate::adapters::store::commands;
use crate::contract::command::{Command, Envelope, Outcome, ENVELOPE_VERSION};
use crate::contract::error::{code, envelope_error, ApiError};
use crate::domain::Actor;

/// What to answer when the outcome is not back in time.
pub struct Pending {
    pub location: String,
    pub body: Value,
}

/// Routes outcomes to the requests waiting for them: one subscription per
/// ingress process (`{prefix}.reply.{instance}.*`), not one per request.
pub struct Replies {
    subject: String,
    waiting: Mutex<HashMap<Uuid, oneshot::Sender<Outcome>>>,
}

impl Replies {
    pub async fn start(bus: &Bus) -> anyhow::Result<Arc<Self>> {
        let subject = format!("{}.{}", bus.reply_subject(Uuid::now_v7()), "r");
        let replies = Arc::new(Self { subject, waiting: Mutex::new(HashMap::new()) });
        let mut sub = bus.client.subscribe(format!("{}.*", replies.subject)).await.context("subscribing to replies")?;
        let router = Arc::downgrade(&replies);
        tokio::spawn(async move {
            while let Some(message) = sub.next().await {
                let Some(replies) = router.upgrade() else { return };
                let id = message.subject.rsplit('.').next().and_then(|t| Uuid::parse_str(t).ok());
                let outcome = serde_json::from_slice::<Outcome>(&message.payload).ok();
                if let (Some(id), Some(outcome)) = (id, outcome) {
                    if let Some(waiter) = replies.take(id) {
                        let _ = waiter.send(outcome);
                    }
                }
            }
        });
        Ok(replies)
    }

    /// A reply subject of its own for one call (two calls may carry the same
    /// command, e.g. racing retries with one `Idempotency-Key`).
    fn register(&self) -> (Uuid, String, oneshot::Receiver<Outcome>) {
        let call = Uuid::new_v4();
        let (tx, rx) = oneshot::channel();
        if let Ok(mut map) = self.waiting.lock() {
            map.insert(call, tx);
        }
        (call, format!("{}.{call}", self.subject), rx)
    }

    fn take(&self, id: Uuid) -> Option<oneshot::Sender<Outcome>> {
        self.waiting.lock().ok()?.remove(&id)
    }
}

impl AppState {
    pub async fn dispatch(
        &self,
        id: Uuid,
        actor: &Actor,
        command: Command,
        pending: Pending,
    ) -> Result<Response, ApiError> {
        self.dispatch_with(id, actor, command, pending, |_| {}).await
    }

    /// A creation: as `dispatch`, and when the engine has created the request
    /// but its first stage waits for the resolver role, the answer waits too,
    /// within the resolver's own bound (timeout and retries). Past that, the
    /// 201 says `pending` with no tasks.
    pub async fn dispatch_creation(
        &self,
        id: Uuid,
        actor: &Actor,
        command: Command,
        pending: Pending,
    ) -> Result<Response, ApiError> {
        // Within the HTTP request's own timeout, which answers 408 past it.
        let http = Duration::from_secs(self.config.http.request_timeout_seconds)
            .saturating_sub(Duration::from_millis(self.config.http.reply_timeout_ms + 1_000));
        let settle = self.config.resolver.bound().min(http);
        self.send(id, actor, command, pending, Some(settle), |_| {}).await
    }

    /// As `dispatch`, letting the caller add to a successful answer, or to the
    /// 202 when the engine is late (a secret shown once is never part of the
    /// stored outcome, and is never lost).
    pub async fn dispatch_with(
        &self,
        id: Uuid,
        actor: &Actor,
        command: Command,
        pending: Pending,
        decorate: impl FnOnce(&mut Value),
    ) -> Result<Response, ApiError> {
        self.send(id, actor, command, pending, None, decorate).await
    }

    async fn send(
        &self,
        id: Uuid,
        actor: &Actor,
        command: Command,
        pending: Pending,
        settle: Option<Duration>,
        decorate: impl FnOnce(&mut Value),
    ) -> Result<Response, ApiError> {
        let (call, reply_to, mut reply) = self.replies.register();
        let envelope = Envelope {
            v: ENVELOPE_VERSION,
            id,
            issued_at: Utc::now(),
            actor: actor.clone(),
            reply_to: Some(reply_to),
            command,
        };
        let published = self.bus.publish_command(&envelope).await;
        let wait = Duration::from_millis(self.config.http.reply_timeout_ms);
        let outcome = match published {
            Err(err) => {
                self.replies.take(call);
                return Err(bus_down(err));
            }
            // Seen before, from another call: its answer went elsewhere, so read it.
            Ok(true) => {
                self.replies.take(call);
                let outcome = self.poll_outcome(id, wait, false).await?;
                match (outcome, settle) {
                    (Some(o), Some(extra)) if o.awaits_resolution() => {
                        Some(self.poll_outcome(id, extra, true).await?.unwrap_or(o))
                    }
                    (outcome, _) => outcome,
                }
            }
            Ok(false) => match tokio::time::timeout(wait, &mut reply).await {
                Ok(Ok(outcome)) => Some(outcome),
                _ => match (self.stored_outcome(id).await?, settle) {
                    // Created, its first stage still resolving: the final answer follows on the same subject.
                    (Some(interim), Some(extra)) if interim.awaits_resolution() => {
                        match tokio::time::timeout(extra, &mut reply).await {
                            Ok(Ok(outcome)) => Some(outcome),
                            _ => {
                                self.replies.take(call);
                                Some(self.stored_outcome(id).await?.unwrap_or(interim))
                            }
                        }
                    }
                    (stored, _) => {
                        self.replies.take(call);
                        stored
                    }
                },
            },
        };
        if let Some(mut outcome) = outcome {
            if let Outcome::Ok { body, .. } = &mut outcome {
                decorate(body);
            }
            return Ok(respond(outcome));
        }
        let mut body = pending.body;
        decorate(&mut body);
        let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
        if let Ok(value) = pending.location.parse() {
            response.headers_mut().insert(header::LOCATION, value);
        }
        Ok(response)
    }

    /// Reads a command's stored outcome until there is one (or, with
    /// `settled`, one that no longer waits for resolution) or `wait` ends.
    async fn poll_outcome(&self, id: Uuid, wait: Duration, settled: bool) -> Result<Option<Outcome>, ApiError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(outcome) = self.stored_outcome(id).await? {
                if !(settled && outcome.awaits_resolution()) {
                    return Ok(Some(outcome));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Ok(Some(outcome));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn stored_outcome(&self, id: Uuid) -> Result<Option<Outcome>, ApiError> {
        let mut conn = self.pool.acquire().await.context("database")?;
        Ok(commands::processed(&mut conn, id).await.context("reading a command outcome")?)
    }
}

fn bus_down(err: anyhow::Error) -> ApiError {
    tracing::error!(error = format!("{err:#}"), "command bus unavailable");
    ApiError::unavailable(code::NOT_READY, "The command bus is unavailable; retry shortly")
}

/// An engine outcome as the REST answer.
pub fn respond(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Ok { status: 204, .. } => StatusCode::NO_CONTENT.into_response(),
        Outcome::Ok { status, body } => {
            (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), Json(body)).into_response()
        }
        Outcome::Error { status, code, message, detail } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = if !detail.is_empty() {
                json!({ "detail": detail })
            } else if code.is_empty() {
                json!({ "detail": message })
            } else {
                envelope_error(&code, &message)
            };
            (status, Json(body)).into_response()
        }
    }
}
