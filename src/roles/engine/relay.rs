//! The outbox relay: publishes events a crash left unpublished, and marks
//! published ones in batches so the hot path pays one UPDATE per batch.

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::adapters::bus::Bus;
use crate::adapters::store::requests;

const MARK_BATCH: usize = 1000;

/// Collects ids of published events and marks them, a batch at a time.
pub async fn mark_published(pool: PgPool, mut ids: mpsc::Receiver<Vec<Uuid>>, shutdown: CancellationToken) {
    let mut batch: Vec<Uuid> = Vec::with_capacity(MARK_BATCH);
    loop {
        let more = tokio::select! {
            more = ids.recv() => more,
            _ = shutdown.cancelled() => None,
        };
        let done = more.is_none();
        match more {
            Some(first) => {
                batch.extend(first);
                while batch.len() < MARK_BATCH {
                    match ids.try_recv() {
                        Ok(next) => batch.extend(next),
                        Err(_) => break,
                    }
                }
            }
            None => {
                while let Ok(next) = ids.try_recv() {
                    batch.extend(next);
                }
            }
        }
        if !batch.is_empty() {
            let marked = async {
                let mut conn = pool.acquire().await?;
                requests::mark_published(&mut conn, &batch).await
            }
            .await;
            // Unmarked events are re-published by the relay; JetStream drops the duplicates.
            if let Err(err) = marked {
                tracing::warn!(error = %err, count = batch.len(), "could not mark events published");
            }
            batch.clear();
        }
        if done {
            return;
        }
        // Let a few more ids arrive so the next UPDATE covers many commands.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes events older than `grace` that are still unpublished; returns how many.
pub async fn relay_once(pool: &PgPool, bus: &Bus, grace: Duration) -> anyhow::Result<usize> {
    let cutoff = Utc::now() - chrono::Duration::from_std(grace)?;
    let mut total = 0;
    loop {
        let mut conn = pool.acquire().await?;
        let events = requests::unpublished(&mut conn, cutoff, 500).await?;
        if events.is_empty() {
            return Ok(total);
        }
        bus.publish_events(&events).await?;
        crate::adapters::metrics::published_events(events.len() as u64);
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        requests::mark_published(&mut conn, &ids).await?;
        total += events.len();
    }
}

pub async fn run(pool: PgPool, bus: Bus, interval: Duration, grace: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        match requests::outbox_waiting(&pool).await {
            Ok(n) => crate::adapters::metrics::outbox_waiting(n),
            Err(err) => tracing::debug!(error = %err, "could not count the outbox"),
        }
        match relay_once(&pool, &bus, grace).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "relay published events the engine had not"),
            Err(err) => tracing::warn!(error = format!("{err:#}"), "relay pass failed; next pass retries"),
        }
    }
}
