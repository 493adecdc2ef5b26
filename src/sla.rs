//! The SLA scheduler role: publishes one `sla.tick` command per interval.
//! Every replica derives the same command id from the interval, so JetStream
//! (and the engine's processed-command record) keep exactly one tick.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::bus::Bus;
use crate::command::{Command, Envelope, ENVELOPE_VERSION};
use crate::domain::Actor;
use crate::engine::SLA_ACTOR;

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
            Ok(_) => crate::metrics::sla_tick_published(),
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "could not publish an SLA tick; the next interval will")
            }
        }
    }
}
