//! The webhook role: consumes the event stream through a durable consumer and
//! POSTs each event of a request that has a `callback_url`, with the
//! contract's headers. A failed attempt is recorded and left to JetStream's
//! redelivery after the configured delay; after the last attempt the delivery
//! is `exhausted`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, AckKind};
use chrono::{SubsecRound, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::adapters::bus::Bus;
use crate::adapters::config::WebhookConfig;
use crate::adapters::secrets::Vault;
use crate::adapters::store::secrets;
use crate::adapters::store::webhooks::{self, Attempt};

/// `sha256=<hex>` of HMAC-SHA256 over `timestamp + "." + body`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What to tell JetStream about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Done: delivered, nothing to deliver, or exhausted.
    Ack,
    /// Try again after this delay.
    Retry(Duration),
    /// Not an event; never deliverable.
    Drop(String),
}

#[derive(Deserialize)]
struct EventHead {
    event_id: Uuid,
    event_type: String,
    request_id: Uuid,
    seq: i32,
}

pub struct Webhooks {
    pool: PgPool,
    bus: Bus,
    http: reqwest::Client,
    config: WebhookConfig,
    vault: Vault,
    /// One delivery at a time per request, in stream order.
    in_flight: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl Webhooks {
    pub fn new(pool: PgPool, bus: Bus, config: WebhookConfig, vault: Vault) -> anyhow::Result<Arc<Self>> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_seconds))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("awe-webhook/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        Ok(Arc::new(Self { pool, bus, http, config, vault, in_flight: Mutex::new(HashMap::new()) }))
    }

    pub async fn run(self: Arc<Self>, concurrency: usize, shutdown: CancellationToken) -> anyhow::Result<()> {
        // Just over one attempt: a worker that dies mid-delivery hands the event back soon.
        let consumer =
            self.bus.webhook_consumer(crate::adapters::bus::webhook_ack_wait(self.config.timeout_seconds)).await?;
        crate::adapters::consume::consume("webhook", consumer, concurrency, shutdown, move |message| {
            let worker = self.clone();
            async move { worker.process(message).await }
        })
        .await
    }

    async fn process(&self, message: jetstream::Message) {
        let no_callback = message
            .headers
            .as_ref()
            .and_then(|h| h.get(crate::adapters::bus::CALLBACK_HEADER))
            .is_some_and(|v| v.as_str() == "no");
        let verdict = if no_callback { Ok(Verdict::Ack) } else { self.handle(&message.payload).await };
        let verdict = match verdict {
            Ok(v) => v,
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "webhook step failed; will retry");
                Verdict::Retry(Duration::from_secs(1))
            }
        };
        let acked = match verdict {
            Verdict::Ack => message.ack().await,
            Verdict::Retry(delay) => message.ack_with(AckKind::Nak(Some(delay))).await,
            Verdict::Drop(reason) => {
                tracing::error!(reason, "dropping a message that is not an event");
                message.ack_with(AckKind::Term).await
            }
        };
        if let Err(err) = acked {
            tracing::warn!(error = %err, "acknowledgement failed; the event will be seen again and recognised");
        }
    }

    /// One delivery attempt for one event message; the single step tests drive.
    pub async fn handle(&self, body: &[u8]) -> anyhow::Result<Verdict> {
        let head: EventHead = match serde_json::from_slice(body) {
            Ok(h) => h,
            Err(e) => return Ok(Verdict::Drop(format!("not an event: {e}"))),
        };
        // Event types the deployment does not send to callers (webhook.event_types).
        if !self.config.event_types.contains(&head.event_type) {
            return Ok(Verdict::Ack);
        }
        let lock = self.request_lock(head.request_id);
        let _turn = lock.lock().await;
        let verdict = self.deliver(&head, body).await;
        self.release(head.request_id, &lock);
        verdict
    }

    #[tracing::instrument(skip_all, fields(event = %head.event_id, request = %head.request_id), err)]
    async fn deliver(&self, head: &EventHead, body: &[u8]) -> anyhow::Result<Verdict> {
        crate::adapters::trace::set_request(head.request_id);
        let mut conn = self.pool.acquire().await.context("database")?;
        let Some(callback) = webhooks::callback(&mut conn, head.request_id).await? else { return Ok(Verdict::Ack) };
        let Some(url) = callback.url.filter(|u| !u.is_empty()) else { return Ok(Verdict::Ack) };
        let now = Utc::now();
        let mut keys = Vec::new();
        for (ciphertext, nonce) in secrets::signing_keys(&mut conn, &callback.caller, now).await? {
            keys.push(self.vault.open(&ciphertext, &nonce)?);
        }
        // Unsigned only when no secret is attached and the caller has none.
        let missing_secret = keys.is_empty() && callback.secret_id.is_some();
        let secret = keys.first().cloned();
        let previous = keys.get(1).cloned();
        // Delivered or exhausted before (a redelivery, a replay): nothing to send.
        let state = webhooks::state(&mut conn, head.event_id).await?;
        if state.as_ref().is_some_and(|d| d.status != "pending") {
            return Ok(Verdict::Ack);
        }
        drop(conn);
        let attempt = state.map_or(0, |d| d.attempt) + 1;
        let started_at = Utc::now().trunc_subsecs(6);
        let timestamp = started_at.timestamp();
        let mut request = self
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .header("X-Approval-Event-Id", head.event_id.to_string())
            .header("X-Approval-Timestamp", timestamp.to_string());
        if let Some(secret) = &secret {
            request = request.header("X-Approval-Signature", signature(secret, timestamp, body));
        }
        // During a rotation's overlap, the previous secret signs too.
        if let Some(previous) = &previous {
            request = request.header("X-Approval-Signature-Previous", signature(previous, timestamp, body));
        }
        let clock = Instant::now();
        let result = if missing_secret {
            Err(format!(
                "{}'s callback secret is revoked and no active one replaces it; nothing was sent",
                callback.caller
            ))
        } else {
            // The caller sees the request's trace as the `traceparent` header.
            crate::adapters::trace::send("webhook POST", request.body(body.to_vec())).await.map_err(|err| {
                if err.is_timeout() {
                    "timed out".to_owned()
                } else {
                    err.to_string()
                }
            })
        };
        let took = clock.elapsed();
        let duration_ms = i32::try_from(took.as_millis()).unwrap_or(i32::MAX);
        let (status_code, error) = match result {
            Ok(res) if res.status().is_success() => (Some(i32::from(res.status().as_u16())), None),
            Ok(res) => {
                let code = res.status().as_u16();
                let text: String = res.text().await.unwrap_or_default().chars().take(200).collect();
                (Some(i32::from(code)), Some(format!("HTTP {code}: {text}")))
            }
            Err(err) => (None, Some(err)),
        };
        let max = i32::try_from(self.config.max_attempts).unwrap_or(i32::MAX);
        let (status, verdict, next) = match (&error, attempt >= max) {
            (None, _) => ("delivered", Verdict::Ack, None),
            (Some(_), true) => ("exhausted", Verdict::Ack, None),
            (Some(_), false) => {
                let delay = self.backoff(attempt);
                let next = started_at + chrono::Duration::from_std(delay).unwrap_or_default();
                ("pending", Verdict::Retry(delay), Some(next))
            }
        };
        let mut conn = self.pool.acquire().await.context("database")?;
        webhooks::record(
            &mut conn,
            &Attempt {
                event_id: head.event_id,
                request_id: head.request_id,
                event_type: &head.event_type,
                seq: head.seq,
                url: &url,
                attempt,
                started_at,
                duration_ms,
                status_code,
                error: error.as_deref(),
                signed: secret.is_some(),
                status,
                next_attempt_at: next,
            },
        )
        .await?;
        // A failed attempt with attempts left leaves the delivery pending.
        crate::adapters::metrics::webhook_attempt(if status == "pending" { "failed" } else { status }, took);
        if status == "exhausted" {
            tracing::warn!(delivery = %head.event_id, url, attempt, "webhook delivery exhausted");
        }
        Ok(verdict)
    }

    /// The delay before attempt `attempt + 1`; the last entry repeats.
    fn backoff(&self, attempt: i32) -> Duration {
        let i = usize::try_from(attempt - 1).unwrap_or(0).min(self.config.backoff_seconds.len().saturating_sub(1));
        Duration::from_secs(self.config.backoff_seconds.get(i).copied().unwrap_or(60))
    }

    fn request_lock(&self, request_id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(request_id).or_default().clone()
    }

    fn release(&self, request_id: Uuid, lock: &Arc<tokio::sync::Mutex<()>>) {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        // Only the map and this caller hold it: nobody else waits for the request.
        if Arc::strong_count(lock) <= 2 {
            map.remove(&request_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Reference value computed independently: printf '1730000000.{}' | openssl dgst -sha256 -hmac secret
        let sig = signature(b"secret", 1_730_000_000, b"{}");
        assert_eq!(sig, "sha256=74860c02cf22ef8f09d43d0000ee21b3b2294eab0c6241cfa1bed330070cb47f");
    }
}
