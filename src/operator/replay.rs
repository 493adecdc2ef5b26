//! `awe replay`: sends events from the event stream to their webhooks again,
//! chosen by time or stream sequence and filtered by request or type. Safe to
//! run twice: receivers dedupe on `X-Approval-Event-Id`.

use std::time::Duration;

use anyhow::{bail, Context as _};
use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use uuid::Uuid;

use crate::adapters::bus::Bus;
use crate::adapters::config::Config;
use crate::contract::command::{Command, Envelope, Outcome, ENVELOPE_VERSION};
use crate::domain::Actor;

#[derive(Debug, Default, Clone)]
pub struct Selection {
    pub since: Option<DateTime<Utc>>,
    pub from_seq: Option<u64>,
    pub request_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub limit: usize,
}

impl Selection {
    /// Parses `--since T`, `--from-seq N`, `--request ID`, `--type T`, `--limit N`.
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut s = Self { limit: 10_000, ..Self::default() };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().with_context(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--since" => s.since = Some(value.parse().context("--since takes an RFC 3339 time")?),
                "--from-seq" => s.from_seq = Some(value.parse().context("--from-seq takes a number")?),
                "--request" => s.request_id = Some(value.parse().context("--request takes a request id")?),
                "--type" => s.event_type = Some(value.clone()),
                "--limit" => s.limit = value.parse().context("--limit takes a number")?,
                other => bail!("unknown option {other}"),
            }
        }
        if s.since.is_some() && s.from_seq.is_some() {
            bail!("give --since or --from-seq, not both");
        }
        Ok(s)
    }

    fn subject(&self, bus: &Bus) -> String {
        bus.event_filter(self.event_type.as_deref(), self.request_id)
    }
}

/// `awe replay [OPTIONS]`: parses the selection, sends, prints how many.
pub async fn command(config: &Config, args: &[String]) -> anyhow::Result<()> {
    let selection = Selection::parse(args)?;
    let bus = Bus::connect(&config.nats).await?;
    let n = replay(&bus, &selection).await?;
    println!("{n} delivery(ies) sent again");
    Ok(())
}

/// Reads the selected events and asks for their deliveries to be made again.
pub async fn replay(bus: &Bus, selection: &Selection) -> anyhow::Result<usize> {
    let stream = bus.js.get_stream(bus.events_stream()).await.context("the event stream")?;
    let deliver_policy = match (selection.since, selection.from_seq) {
        (Some(t), _) => DeliverPolicy::ByStartTime {
            start_time: time::OffsetDateTime::from_unix_timestamp_nanos(t.timestamp_nanos_opt().unwrap_or(0) as i128)?,
        },
        (_, Some(seq)) => DeliverPolicy::ByStartSequence { start_sequence: seq },
        _ => DeliverPolicy::All,
    };
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: selection.subject(bus),
            deliver_policy,
            ..OrderedConfig::default()
        })
        .await
        .context("reading the event stream")?;
    let mut messages = consumer.messages().await?;
    let mut event_ids = Vec::new();
    // Until the stream is read to its end, or the limit.
    while event_ids.len() < selection.limit {
        let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(2), messages.next()).await else { break };
        let message = message?;
        let pending = message.info().map(|i| i.pending).unwrap_or(0);
        if let Some(id) = serde_json::from_slice::<serde_json::Value>(&message.payload)
            .ok()
            .and_then(|v| v.get("event_id").and_then(|i| i.as_str()).and_then(|s| Uuid::parse_str(s).ok()))
        {
            event_ids.push(id);
        }
        if pending == 0 {
            break;
        }
    }
    if event_ids.is_empty() {
        return Ok(0);
    }
    let id = Uuid::now_v7();
    let mut replies = bus.client.subscribe(bus.reply_subject(id)).await?;
    let envelope = Envelope {
        v: ENVELOPE_VERSION,
        id,
        issued_at: Utc::now(),
        actor: Actor::system("awe-replay"),
        reply_to: None,
        command: Command::DeliveryRetry { delivery_id: None, request_id: None, since: None, until: None, event_ids },
    };
    bus.publish_command(&envelope).await?;
    let reply = tokio::time::timeout(Duration::from_secs(30), replies.next())
        .await
        .context("no answer from the engine in 30 s; the replay is queued and will run")?
        .context("reply subscription closed")?;
    match serde_json::from_slice::<Outcome>(&reply.payload)? {
        Outcome::Ok { body, .. } => Ok(body["retried"].as_u64().unwrap_or(0) as usize),
        Outcome::Error { message, .. } => bail!("the engine refused the replay: {message}"),
    }
}
