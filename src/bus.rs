//! NATS JetStream: the streams and consumers of `nats/`, applied idempotently
//! at start, and the subjects every role publishes on.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer, stream};
use async_nats::HeaderMap;
use bytes::Bytes;

use crate::command::Envelope;
use crate::config::NatsConfig;
use crate::event::StoredEvent;

/// On an event message: `no` when its request has no callback URL.
pub const CALLBACK_HEADER: &str = "Awe-Callback";

const COMMANDS_STREAM: &str = include_str!("../nats/streams/commands.json");
const EVENTS_STREAM: &str = include_str!("../nats/streams/events.json");
const ENGINE_CONSUMER: &str = include_str!("../nats/consumers/engine.json");
const WEBHOOK_CONSUMER: &str = include_str!("../nats/consumers/webhook.json");
const RESOLVE_STREAM: &str = include_str!("../nats/streams/resolve.json");
const RESOLVER_CONSUMER: &str = include_str!("../nats/consumers/resolver.json");

#[derive(Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    prefix: String,
    config: NatsConfig,
}

impl Bus {
    pub async fn connect(config: &NatsConfig) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name("awe")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(config.url.as_str())
            .await
            .with_context(|| format!("connecting to NATS at {}", config.url))?;
        let js = jetstream::new(client.clone());
        Ok(Self { client, js, prefix: config.prefix.clone(), config: config.clone() })
    }

    /// Creates or updates the streams; safe to run from every replica at every start.
    pub async fn ensure_streams(&self) -> anyhow::Result<()> {
        for template in [COMMANDS_STREAM, EVENTS_STREAM, RESOLVE_STREAM] {
            let mut cfg: stream::Config = self.definition(template)?;
            cfg.num_replicas = self.config.replicas;
            cfg.duplicate_window = Duration::from_secs(self.config.duplicate_window_seconds);
            let name = cfg.name.clone();
            self.js.create_or_update_stream(cfg).await.with_context(|| format!("applying stream {name}"))?;
        }
        Ok(())
    }

    /// The engine's durable pull consumer on the command stream.
    pub async fn engine_consumer(&self) -> anyhow::Result<consumer::Consumer<consumer::pull::Config>> {
        self.consumer(ENGINE_CONSUMER, |cfg| {
            cfg.max_deliver = self.config.max_deliver;
            cfg.ack_wait = Duration::from_secs(self.config.ack_wait_seconds);
        })
        .await
    }

    /// The webhook role's durable pull consumer on the event stream; `ack_wait`
    /// must outlast one delivery attempt.
    pub async fn webhook_consumer(
        &self,
        ack_wait: Duration,
    ) -> anyhow::Result<consumer::Consumer<consumer::pull::Config>> {
        self.consumer(WEBHOOK_CONSUMER, |cfg| cfg.ack_wait = ack_wait).await
    }

    /// The resolver role's durable pull consumer on the resolution stream.
    pub async fn resolver_consumer(&self) -> anyhow::Result<consumer::Consumer<consumer::pull::Config>> {
        self.consumer(RESOLVER_CONSUMER, |_| {}).await
    }

    /// Asks the resolver role to resolve stages of a request.
    pub async fn publish_resolve(&self, job: &crate::command::ResolveJob) -> anyhow::Result<()> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", job.id.to_string().as_str());
        self.js
            .publish_with_headers(
                format!("{}.resolve.{}", self.prefix, job.request_id),
                headers,
                Bytes::from(serde_json::to_vec(job)?),
            )
            .await
            .context("publishing resolution work")?
            .await
            .context("JetStream did not acknowledge resolution work")?;
        Ok(())
    }

    pub fn resolve_stream(&self) -> String {
        format!("{}_RESOLVE", self.stream_prefix())
    }

    async fn consumer(
        &self,
        template: &str,
        adjust: impl FnOnce(&mut consumer::pull::Config),
    ) -> anyhow::Result<consumer::Consumer<consumer::pull::Config>> {
        let raw: serde_json::Value = serde_json::from_str(&self.render(template)).context("consumer definition")?;
        let stream_name = raw.get("stream").and_then(|v| v.as_str()).context("a consumer names no stream")?.to_owned();
        let mut cfg: consumer::pull::Config = self.definition(template)?;
        adjust(&mut cfg);
        let name = cfg.durable_name.clone().unwrap_or_default();
        let stream = self.js.get_stream(&stream_name).await.with_context(|| format!("stream {stream_name}"))?;
        stream.create_consumer(cfg).await.with_context(|| format!("applying consumer {name}"))
    }

    fn render(&self, template: &str) -> String {
        template.replace("{{PREFIX}}", &self.stream_prefix()).replace("{{prefix}}", &self.prefix)
    }

    /// A definition from `nats/`, laid over the client's defaults for the
    /// fields it leaves out.
    fn definition<T: serde::de::DeserializeOwned + serde::Serialize + Default>(
        &self,
        template: &str,
    ) -> anyhow::Result<T> {
        let mut merged = serde_json::to_value(T::default())?;
        let file: serde_json::Value = serde_json::from_str(&self.render(template)).context("definition in nats/")?;
        if let (Some(base), serde_json::Value::Object(over)) = (merged.as_object_mut(), file) {
            base.extend(over);
        }
        serde_json::from_value(merged).context("definition in nats/")
    }

    fn stream_prefix(&self) -> String {
        self.prefix.to_ascii_uppercase().replace('-', "_")
    }

    pub fn commands_stream(&self) -> String {
        format!("{}_CMD", self.stream_prefix())
    }

    pub fn events_stream(&self) -> String {
        format!("{}_EVT", self.stream_prefix())
    }

    pub fn command_subject(&self, kind: &str) -> String {
        format!("{}.cmd.{kind}", self.prefix)
    }

    pub fn reply_subject(&self, command_id: uuid::Uuid) -> String {
        format!("{}.reply.{command_id}", self.prefix)
    }

    pub fn event_subject(&self, event_type: &str, request_id: uuid::Uuid) -> String {
        format!("{}.evt.{event_type}.{request_id}", self.prefix)
    }

    /// The event subjects of one type, of one request, of both, or all.
    pub fn event_filter(&self, event_type: Option<&str>, request_id: Option<uuid::Uuid>) -> String {
        let p = &self.prefix;
        match (event_type, request_id) {
            (Some(t), Some(r)) => format!("{p}.evt.{t}.{r}"),
            (Some(t), None) => format!("{p}.evt.{t}.*"),
            (None, Some(r)) => format!("{p}.evt.*.{r}"),
            (None, None) => format!("{p}.evt.>"),
        }
    }

    /// Publishes a command with `Nats-Msg-Id` = its id; `Ok(true)` when
    /// JetStream already had it (a duplicate within the window).
    pub async fn publish_command(&self, envelope: &Envelope) -> anyhow::Result<bool> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", envelope.id.to_string().as_str());
        let body = Bytes::from(serde_json::to_vec(envelope)?);
        let ack = self
            .js
            .publish_with_headers(self.command_subject(envelope.command.kind()), headers, body)
            .await
            .context("publishing a command")?
            .await
            .context("JetStream did not acknowledge the command")?;
        Ok(ack.duplicate)
    }

    /// Asks the webhook role to send an event again for a delivery an operator retried.
    pub async fn publish_redelivery(
        &self,
        delivery_id: uuid::Uuid,
        msg_id: &str,
        event: &StoredEvent,
    ) -> anyhow::Result<()> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id);
        headers.insert("Awe-Delivery-Id", delivery_id.to_string().as_str());
        self.js
            .publish_with_headers(format!("{}.hook.{delivery_id}", self.prefix), headers, Bytes::from(event.body()))
            .await
            .context("publishing a redelivery")?
            .await
            .context("JetStream did not acknowledge a redelivery")?;
        Ok(())
    }

    /// Publishes events (deduplicated by event id) and waits for every ack.
    pub async fn publish_events(&self, events: &[StoredEvent]) -> anyhow::Result<()> {
        let mut acks = Vec::with_capacity(events.len());
        for event in events {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.id.to_string().as_str());
            headers.insert("Awe-Event-Type", event.event_type.as_str());
            headers.insert("Awe-Request-Id", event.request_id.to_string().as_str());
            headers.insert("Awe-Seq", event.seq.to_string().as_str());
            if let Some(has) = event.has_callback {
                headers.insert(CALLBACK_HEADER, if has { "yes" } else { "no" });
            }
            let subject = self.event_subject(&event.event_type, event.request_id);
            acks.push(self.js.publish_with_headers(subject, headers, Bytes::from(event.body())).await?);
        }
        for ack in acks {
            ack.await.context("JetStream did not acknowledge an event")?;
        }
        Ok(())
    }
}
