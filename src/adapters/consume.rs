//! The loop every worker role shares: pull messages from a durable consumer,
//! handle at most `concurrency` at once, stop fetching on shutdown and let the
//! in-flight ones finish (nothing is acknowledged before its work is done).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, Consumer};
use async_nats::jetstream::Message;
use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub async fn consume<F, Fut>(
    role: &'static str,
    consumer: Consumer<pull::Config>,
    concurrency: usize,
    shutdown: CancellationToken,
    handle: F,
) -> anyhow::Result<()>
where
    F: Fn(Message) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(watch_backlog(role, consumer.clone(), shutdown.clone()));
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(concurrency.clamp(1, 1000))
        .messages()
        .await
        .with_context(|| format!("{role}: subscribing to its consumer"))?;
    let permits = Arc::new(Semaphore::new(concurrency));
    tracing::info!(role, concurrency, "consuming");
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit.context("semaphore closed")?,
        };
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = messages.next() => next,
        };
        let Some(message) = next else { break };
        let message = match message {
            Ok(m) => m,
            Err(err) => {
                tracing::warn!(role, error = %err, "stream hiccup");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let parent = crate::adapters::trace::from_headers(message.headers.as_ref());
        let name = span_name(role, &message.subject);
        let work =
            crate::adapters::trace::in_span(name, crate::adapters::trace::Kind::Consumer, parent, handle(message));
        tokio::spawn(async move {
            work.await;
            drop(permit);
        });
    }
    let _ = permits.acquire_many(concurrency as u32).await;
    tracing::info!(role, "stopped");
    Ok(())
}

/// How often a role reads its consumer's backlog for the metrics.
const BACKLOG_INTERVAL: Duration = Duration::from_secs(10);

/// Keeps the consumer's backlog gauges (pending, ack-pending, redelivered)
/// current until `shutdown`, labelled with the role's consumer.
async fn watch_backlog(role: &'static str, mut consumer: Consumer<pull::Config>, shutdown: CancellationToken) {
    loop {
        match consumer.info().await {
            Ok(info) => {
                crate::adapters::metrics::backlog(role, info.num_pending, info.num_ack_pending, info.num_redelivered)
            }
            Err(err) => tracing::debug!(role, error = %err, "could not read the consumer's backlog"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(BACKLOG_INTERVAL) => {}
        }
    }
}

/// A span's name: the role and the subject without its prefix and ids
/// (`engine cmd.request.create`, `webhook evt.request_approved`), so that
/// names stay few.
fn span_name(role: &str, subject: &str) -> String {
    let kept: Vec<&str> = subject.split('.').skip(1).filter(|t| uuid::Uuid::parse_str(t).is_err()).collect();
    format!("{role} {}", kept.join("."))
}
