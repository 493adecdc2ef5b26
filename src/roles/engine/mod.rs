//! The engine role: consumes commands from JetStream, applies each in one
//! PostgreSQL transaction, acknowledges only after commit, answers on the
//! command's reply subject, then publishes the committed events.

mod admin;
mod apply;
mod policies;
pub mod relay;
mod workflow;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, AckKind};
use axum::http::StatusCode;
use bytes::Bytes;
use chrono::{SubsecRound, Utc};
use futures_util::StreamExt as _;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use apply::{delegate, Applied};

use crate::adapters::bus::Bus;
use crate::adapters::config::Config;
use crate::adapters::store::policies::PolicyCache;
use crate::adapters::store::{commands, requests};
use crate::contract::command::{Command, Envelope, Outcome, PendingAnswer, ENVELOPE_VERSION};
use crate::contract::error::{code, ApiError};

/// Requests looked at per round of an SLA tick, and rounds per tick.
const TICK_BATCH: i64 = 500;
const MAX_TICK_ROUNDS: usize = 40;
/// Expiries of one tick committed together, and groups applied at the same time.
const TICK_GROUP: usize = 25;
const TICK_PARALLELISM: usize = 4;

pub struct Engine {
    pub pool: PgPool,
    pub bus: Bus,
    pub policies: PolicyCache,
    published: mpsc::Sender<Vec<Uuid>>,
    /// Event types that become webhook deliveries (listed `pending` from commit).
    webhook_types: Vec<String>,
    max_deliver: i64,
    /// How long a rotated callback secret keeps signing.
    rotation_overlap: Duration,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// Applied now, or earlier (a redelivery or replay), with this outcome.
    Done(Outcome),
    /// Failed for a reason that may pass; JetStream redelivers it.
    Retry(String),
    /// Can never be applied (not a command); dropped and logged.
    Poison(String),
}

impl Engine {
    /// Builds the engine and starts its background publication marker.
    pub fn new(pool: PgPool, bus: Bus, config: &Config, shutdown: CancellationToken) -> Arc<Self> {
        let (published, marks) = mpsc::channel(4096);
        tokio::spawn(relay::mark_published(pool.clone(), marks, shutdown));
        Arc::new(Self {
            pool,
            bus,
            policies: PolicyCache::default(),
            published,
            max_deliver: config.nats.max_deliver,
            webhook_types: config.webhook.event_types.clone(),
            rotation_overlap: Duration::from_secs(config.webhook.rotation_overlap_seconds),
        })
    }

    /// Consumes the command stream until `shutdown`, then drains in-flight work.
    pub async fn run(self: Arc<Self>, concurrency: usize, shutdown: CancellationToken) -> anyhow::Result<()> {
        let consumer = self.bus.engine_consumer().await?;
        crate::adapters::consume::consume("engine", consumer, concurrency, shutdown, move |message| {
            let engine = self.clone();
            async move { engine.process(message).await }
        })
        .await
    }

    async fn process(&self, message: jetstream::Message) {
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
        let handled = self.handle(&message.payload, delivered).await;
        let ack = match &handled {
            Handled::Done(_) => message.ack().await,
            Handled::Retry(reason) => {
                let delay =
                    Duration::from_millis((250 * 2u64.saturating_pow(delivered.clamp(1, 8) as u32 - 1)).min(30_000));
                tracing::warn!(reason, delivered, ?delay, "command failed; JetStream will redeliver it");
                message.ack_with(AckKind::Nak(Some(delay))).await
            }
            Handled::Poison(reason) => {
                tracing::error!(reason, "dropping a message that is not a command");
                message.ack_with(AckKind::Term).await
            }
        };
        if let Err(err) = ack {
            tracing::warn!(error = %err, "acknowledgement failed; the command will be redelivered and recognised");
        }
    }

    /// One step, for the consumer loop and for tests: parse, apply, commit,
    /// reply, publish; counted and timed by command kind and outcome.
    pub async fn handle(&self, payload: &[u8], delivered: i64) -> Handled {
        let started = std::time::Instant::now();
        let mut kind = "unknown";
        let handled = self.handle_as(payload, delivered, &mut kind).await;
        let outcome = match &handled {
            Handled::Done(Outcome::Ok { .. }) => "ok",
            Handled::Done(Outcome::Error { status, .. }) if *status >= 500 => "failed",
            Handled::Done(Outcome::Error { .. }) => "refused",
            Handled::Retry(_) => "retry",
            Handled::Poison(_) => "poison",
        };
        crate::adapters::metrics::command(kind, outcome, started.elapsed());
        handled
    }

    async fn handle_as(&self, payload: &[u8], delivered: i64, kind: &mut &'static str) -> Handled {
        let raw: serde_json::Value = match serde_json::from_slice(payload) {
            Ok(v) => v,
            Err(e) => return Handled::Poison(format!("not JSON: {e}")),
        };
        let Some(id) = raw.get("id").and_then(|v| v.as_str()).and_then(|s| Uuid::parse_str(s).ok()) else {
            return Handled::Poison("no command id".into());
        };
        if crate::contract::checks::nul_at(&raw).is_some() {
            return self.refuse(id, "invalid", "invalid command: text must not contain NUL characters").await;
        }
        let envelope = match serde_json::from_value::<Envelope>(raw) {
            Ok(env) if env.v == ENVELOPE_VERSION => env,
            Ok(env) => {
                return self
                    .refuse(
                        id,
                        "invalid",
                        &format!(
                            "envelope version {} is not supported; this engine reads version {ENVELOPE_VERSION}",
                            env.v
                        ),
                    )
                    .await
            }
            Err(e) => return self.refuse(id, "invalid", &format!("invalid command: {e}")).await,
        };
        *kind = envelope.command.kind();
        if let Command::SlaTick { .. } = envelope.command {
            return self.tick(&envelope).await;
        }
        match self.execute(&envelope).await {
            Ok(mut applied) => {
                if let Command::DeliveryRetry { .. } = envelope.command {
                    // Also after a redelivery of an applied retry: the triggers are idempotent.
                    if let Err(err) = self.trigger_redeliveries(id, &applied.outcome).await {
                        return Handled::Retry(format!("{err:#}"));
                    }
                }
                // A creation whose first stage goes to the resolver is answered
                // once the resolution is applied (the 201 then lists its tasks).
                let mut hold = false;
                if let (Command::RequestCreate { idempotency, .. }, Some(job)) =
                    (&envelope.command, applied.resolve.as_mut())
                {
                    job.answer = Some(PendingAnswer {
                        command_id: id,
                        reply_to: envelope.reply_to.clone(),
                        idempotency: idempotency.clone(),
                    });
                    hold = true;
                }
                if !self.publish_jobs(&applied).await {
                    hold = false;
                }
                if !hold {
                    self.reply(envelope.reply_to.as_deref(), id, &applied.outcome).await;
                }
                if let Some((answer, outcome)) = &applied.answers {
                    self.reply(answer.reply_to.as_deref(), answer.command_id, outcome).await;
                }
                self.publish(applied.events).await;
                Handled::Done(applied.outcome)
            }
            Err(err) if delivered >= self.max_deliver && self.max_deliver > 0 => {
                let reason = format!("{err:#}");
                tracing::error!(command = %id, reason, "command failed on its last delivery");
                let failed = Outcome::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    code::INTERNAL,
                    "The command could not be applied; it was logged for an operator".into(),
                );
                self.record(id, envelope.command.kind(), failed).await
            }
            Err(err) => Handled::Retry(format!("{err:#}")),
        }
    }

    /// Applies a command in one transaction. The processed-command row is
    /// written last, in the same transaction: a command applied before (a
    /// redelivery, a replay) either fails to apply again or collides on that
    /// row, and in both cases the stored outcome is the answer.
    #[tracing::instrument(skip_all, fields(command = %env.id, kind = env.command.kind()), err)]
    async fn execute(&self, env: &Envelope) -> anyhow::Result<Applied> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // PostgreSQL keeps microseconds; so does every answer.
        let now = Utc::now().trunc_subsecs(6);
        let kind = env.command.kind();
        match self.apply(&mut tx, env, now).await {
            Ok(applied) => {
                let fresh = if applied.recorded {
                    !applied.duplicate
                } else {
                    commands::mark_processed(&mut tx, env.id, kind, &applied.outcome).await?
                };
                if !fresh {
                    // Applied before (a redelivery or a replay): keep that result, drop ours.
                    drop(tx);
                    return self.stored(env.id).await;
                }
                tx.commit().await.context("committing")?;
                Ok(applied)
            }
            Err(err) => {
                drop(tx);
                let mut conn = self.pool.acquire().await?;
                let ApiError::Internal(err) = err else { return refused(&mut conn, env.id, kind, &err).await };
                if let Some(outcome) = commands::processed(&mut conn, env.id).await? {
                    return Ok(Applied::of(outcome));
                }
                Err(err)
            }
        }
    }

    /// Applies commands in order in one transaction, each with its own
    /// processed-command row and outcome (a refusal is recorded as that
    /// command's answer). `Err` when any of them fails or the commit does:
    /// then nothing of the group is written, and the caller applies each
    /// alone. The commands must not touch the same rows as a concurrent group
    /// in another order (an SLA tick's groups hold disjoint requests, in order).
    async fn execute_group(&self, envs: &[Envelope], now: chrono::DateTime<Utc>) -> anyhow::Result<Vec<Applied>> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        let mut applied = Vec::with_capacity(envs.len());
        for env in envs {
            let kind = env.command.kind();
            let one = match self.apply(&mut tx, env, now).await {
                // The statement wrote nothing for a command applied before.
                Ok(a) if a.recorded && a.duplicate => Applied::of(
                    commands::processed(&mut tx, env.id).await?.context("processed command without outcome")?,
                ),
                Ok(a) if a.recorded => a,
                Ok(a) => {
                    anyhow::ensure!(
                        commands::mark_processed(&mut tx, env.id, kind, &a.outcome).await?,
                        "command {} was applied before",
                        env.id
                    );
                    a
                }
                Err(ApiError::Internal(err)) => return Err(err),
                Err(refusal) => refused(&mut tx, env.id, kind, &refusal).await?,
            };
            applied.push(one);
        }
        tx.commit().await.context("committing")?;
        Ok(applied)
    }

    /// An SLA tick: every request with a due task gets its own `sla.expire`
    /// command, with an id derived from the tick, so a redelivered or
    /// duplicated tick expires nothing twice. Expiries are committed in groups
    /// of requests; a group that fails is applied again one request at a time.
    async fn tick(&self, tick: &Envelope) -> Handled {
        let started = std::time::Instant::now();
        let result = async {
            let mut conn = self.pool.acquire().await?;
            if let Some(outcome) = commands::processed(&mut conn, tick.id).await? {
                return anyhow::Ok(outcome);
            }
            let now = Utc::now().trunc_subsecs(6);
            let (mut requests, mut rounds) = (0usize, 0usize);
            // Bounded: a tick expires at most MAX_TICK_ROUNDS × TICK_BATCH requests.
            while rounds < MAX_TICK_ROUNDS {
                rounds += 1;
                let due = requests::with_due_tasks(&mut conn, now, TICK_BATCH).await?;
                if due.is_empty() {
                    break;
                }
                let expiries: Vec<Envelope> = due
                    .into_iter()
                    .map(|request_id| Envelope {
                        v: ENVELOPE_VERSION,
                        id: Uuid::new_v5(&tick.id, request_id.as_bytes()),
                        issued_at: now,
                        actor: tick.actor.clone(),
                        reply_to: None,
                        command: Command::SlaExpire { request_id },
                    })
                    .collect();
                // Requests are independent (and listed in id order): groups
                // of them run side by side, each group in one transaction.
                let groups: Vec<Vec<Envelope>> = expiries.chunks(TICK_GROUP).map(<[Envelope]>::to_vec).collect();
                let groups = futures_util::stream::iter(groups)
                    .map(|group| async move {
                        let applied = match self.execute_group(&group, now).await {
                            Ok(applied) => applied,
                            Err(err) => {
                                tracing::warn!(
                                    error = format!("{err:#}"),
                                    "a group of expiries failed; applying each alone"
                                );
                                let mut applied = Vec::with_capacity(group.len());
                                for expire in &group {
                                    applied.push(self.execute(expire).await?);
                                }
                                applied
                            }
                        };
                        for one in applied {
                            let tasks = one.events.iter().filter(|e| e.event_type == "task_expired").count();
                            crate::adapters::metrics::sla_expired(1, tasks as u64);
                            self.publish_jobs(&one).await;
                            self.publish(one.events).await;
                        }
                        anyhow::Ok(group.len())
                    })
                    .buffer_unordered(TICK_PARALLELISM)
                    .collect::<Vec<_>>()
                    .await;
                for group in groups {
                    requests += group?;
                }
            }
            let outcome = Outcome::ok(axum::http::StatusCode::OK, serde_json::json!({"requests": requests}));
            commands::mark_processed(&mut conn, tick.id, tick.command.kind(), &outcome).await?;
            Ok(outcome)
        }
        .await;
        crate::adapters::metrics::sla_tick(result.is_ok(), started.elapsed());
        match result {
            Ok(outcome) => Handled::Done(outcome),
            Err(err) => Handled::Retry(format!("{err:#}")),
        }
    }

    /// Publishes the resolver role's work a command left; `false` when NATS
    /// refused it (lost only then: an operator re-drives the request).
    async fn publish_jobs(&self, applied: &Applied) -> bool {
        let mut published = true;
        for job in applied.resolve.iter().chain(&applied.escalate) {
            if let Err(err) = self.bus.publish_resolve(job).await {
                tracing::error!(error = format!("{err:#}"), request = %job.request_id, "resolution work not published; re-drive the request");
                published = false;
            }
        }
        published
    }

    /// Tells the webhook role to send the retried deliveries again.
    async fn trigger_redeliveries(&self, command_id: Uuid, outcome: &Outcome) -> anyhow::Result<()> {
        let Outcome::Ok { body, .. } = outcome else { return Ok(()) };
        let ids: Vec<Uuid> = match body.get("delivery_ids").and_then(|v| v.as_array()) {
            Some(list) => list.iter().filter_map(|v| v.as_str()).filter_map(|s| Uuid::parse_str(s).ok()).collect(),
            None => body.get("id").and_then(|v| v.as_str()).and_then(|s| Uuid::parse_str(s).ok()).into_iter().collect(),
        };
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        for (delivery_id, event) in crate::adapters::store::webhooks::events_of(&mut conn, &ids).await? {
            self.bus.publish_redelivery(delivery_id, &format!("{command_id}:{delivery_id}"), &event).await?;
        }
        Ok(())
    }

    async fn stored(&self, id: Uuid) -> anyhow::Result<Applied> {
        let mut conn = self.pool.acquire().await?;
        let outcome = commands::processed(&mut conn, id).await?.context("processed command without outcome")?;
        Ok(Applied::of(outcome))
    }

    /// Records a refusal of a message that never became a command.
    async fn refuse(&self, id: Uuid, kind: &str, message: &str) -> Handled {
        let outcome = Outcome::invalid_body(message);
        self.record(id, kind, outcome).await
    }

    async fn record(&self, id: Uuid, kind: &str, outcome: Outcome) -> Handled {
        let stored = async {
            let mut conn = self.pool.acquire().await?;
            commands::mark_processed(&mut conn, id, kind, &outcome).await?;
            anyhow::Ok(commands::processed(&mut conn, id).await?.unwrap_or(outcome))
        }
        .await;
        match stored {
            Ok(outcome) => {
                self.reply(None, id, &outcome).await;
                Handled::Done(outcome)
            }
            Err(err) => Handled::Retry(format!("{err:#}")),
        }
    }

    /// Answers on the envelope's `reply_to`, or on `{prefix}.reply.{id}`.
    async fn reply(&self, reply_to: Option<&str>, id: Uuid, outcome: &Outcome) {
        let body = serde_json::to_vec(outcome).unwrap_or_default();
        let subject = reply_to.map_or_else(|| self.bus.reply_subject(id), str::to_owned);
        if let Err(err) = self.bus.client.publish(subject, Bytes::from(body)).await {
            tracing::debug!(error = %err, "no reply sent; the caller reads the stored outcome");
        }
    }

    async fn publish(&self, events: Vec<crate::contract::event::StoredEvent>) {
        if events.is_empty() {
            return;
        }
        let published = self.bus.publish_events(&events).await;
        crate::adapters::metrics::events(&events, published.is_ok());
        match published {
            Ok(()) => {
                let _ = self.published.send(events.iter().map(|e| e.id).collect()).await;
            }
            Err(err) => tracing::warn!(error = %err, "events left for the relay to publish"),
        }
    }
}

/// The answer to a refused command: the outcome recorded before (a
/// redelivery or a replay), or the refusal, recorded now.
async fn refused(conn: &mut sqlx::PgConnection, id: Uuid, kind: &str, refusal: &ApiError) -> anyhow::Result<Applied> {
    if let Some(stored) = commands::processed(conn, id).await? {
        return Ok(Applied::of(stored));
    }
    let outcome = Outcome::refused(refusal).context("refusal without outcome")?;
    if !commands::mark_processed(conn, id, kind, &outcome).await? {
        let stored = commands::processed(conn, id).await?.context("processed command without outcome")?;
        return Ok(Applied::of(stored));
    }
    Ok(Applied::of(outcome))
}
