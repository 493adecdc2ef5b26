//! The SLA scheduler role: publishes one `sla.tick` command per interval.
//! Every replica derives the same command id from the interval, so JetStream
//! (and the engine's processed-command record) keep exactly one tick. With a
//! retention for idempotency keys, it also retires the keys older than it.

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::adapters::bus::Bus;
use crate::contract::command::{Command, Envelope, ENVELOPE_VERSION};
use crate::domain::Actor;
use crate::machine::SLA_ACTOR;

/// Idempotency keys removed per statement; a pause between batches keeps the
/// removal from ever crowding the commands' writes.
const RETIRE_BATCH: i64 = 1000;
const RETIRE_PAUSE: Duration = Duration::from_millis(50);

const TICK_NAMESPACE: Uuid = Uuid::from_u128(0x736c_612d_7469_636b_2d6e_616d_6573_7061);

/// The tick of the interval `bucket`, the same from every replica.
pub fn tick(prefix: &str, bucket: i64) -> Envelope {
    Envelope {
        v: ENVELOPE_VERSION,
        id: Uuid::new_v5(&TICK_NAMESPACE, format!("{prefix}:{bucket}").as_bytes()),
        issued_at: Utc::now(),
        actor: Actor::system(SLA_ACTOR),
        reply_to: None,
        command: Command::SlaTick { bucket },
    }
}

pub async fn run(bus: Bus, prefix: String, interval: Duration, shutdown: CancellationToken) -> anyhow::Result<()> {
    let every = interval.as_millis().max(1) as i64;
    tracing::info!(?interval, "sla scheduler ticking");
    loop {
        let now = Utc::now().timestamp_millis();
        let bucket = now / every;
        // Wake at the start of the next interval.
        let wait = Duration::from_millis(((bucket + 1) * every - now).max(1) as u64);
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
        match bus.publish_command(&tick(&prefix, bucket + 1)).await {
            Ok(_) => crate::adapters::metrics::sla_tick_published(),
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "could not publish an SLA tick; the next interval will")
            }
        }
    }
}

/// Retires idempotency keys older than `retention`, once per `interval`, until
/// `shutdown`. Several schedulers may run it at once (they skip each other's rows).
pub async fn retire_idempotency_keys(
    pool: PgPool,
    retention: Duration,
    interval: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tracing::info!(retention_hours = retention.as_secs() / 3600, "retiring idempotency keys past their retention");
    loop {
        match retire_once(&pool, retention).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "idempotency keys past their retention removed"),
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "could not retire idempotency keys; the next interval will")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// One pass: every key older than `retention`, a batch at a time.
pub async fn retire_once(pool: &PgPool, retention: Duration) -> anyhow::Result<u64> {
    let cutoff = Utc::now() - chrono::Duration::from_std(retention)?;
    let mut total = 0;
    loop {
        let mut conn = pool.acquire().await?;
        let removed =
            crate::adapters::store::requests::retire_idempotency_keys(&mut conn, cutoff, RETIRE_BATCH).await?;
        drop(conn);
        crate::adapters::metrics::idempotency_keys_retired(removed);
        total += removed;
        if removed < RETIRE_BATCH as u64 {
            return Ok(total);
        }
        tokio::time::sleep(RETIRE_PAUSE).await;
    }
}
