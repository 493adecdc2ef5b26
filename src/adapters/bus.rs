//! NATS JetStream: the streams and consumers of `nats/`, applied idempotently
//! at start, and the subjects every role publishes on.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer, stream};
use async_nats::HeaderMap;
use backon::{ExponentialBuilder, Retryable as _};
use bytes::Bytes;

use crate::adapters::config::{NatsConfig, StreamStorage};
use crate::contract::command::Envelope;
use crate::contract::event::StoredEvent;

/// On an event message: `no` when its request has no callback URL.
pub const CALLBACK_HEADER: &str = "Awe-Callback";

const COMMANDS_STREAM: &str = include_str!("../../nats/streams/commands.json");
const EVENTS_STREAM: &str = include_str!("../../nats/streams/events.json");
const ENGINE_CONSUMER: &str = include_str!("../../nats/consumers/engine.json");
const WEBHOOK_CONSUMER: &str = include_str!("../../nats/consumers/webhook.json");
const RESOLVE_STREAM: &str = include_str!("../../nats/streams/resolve.json");
const RESOLVER_CONSUMER: &str = include_str!("../../nats/consumers/resolver.json");

/// Whether a failed connection may succeed later: the server is not listening,
/// not resolvable or slow, rather than refusing our credentials or certificate.
fn server_not_up_yet(err: &anyhow::Error) -> bool {
    use async_nats::ConnectErrorKind::{Dns, Io, TimedOut};
    use std::io::ErrorKind as K;
    let Some(connect) = err.downcast_ref::<async_nats::ConnectError>() else { return false };
    match connect.kind() {
        Dns | TimedOut => true,
        // A TLS refusal (an unknown issuer, say) also arrives as an IO error, of kind InvalidData.
        Io => std::error::Error::source(connect).and_then(|e| e.downcast_ref::<std::io::Error>()).is_none_or(|io| {
            matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::NotConnected
                    | K::AddrNotAvailable
                    | K::TimedOut
                    | K::UnexpectedEof
                    | K::BrokenPipe
                    | K::HostUnreachable
                    | K::NetworkUnreachable
            )
        }),
        _ => false,
    }
}

/// Credentials and TLS for every role's connection: user and password, a
/// token, an NKey seed or a `.creds` file; a CA, a client certificate.
async fn connect_options(config: &NatsConfig) -> anyhow::Result<async_nats::ConnectOptions> {
    let mut options = async_nats::ConnectOptions::new();
    if !config.user.is_empty() {
        options = options.user_and_password(config.user.clone(), config.password.expose().to_owned());
    }
    if !config.token.expose().is_empty() {
        options = options.token(config.token.expose().to_owned());
    }
    if !config.nkey_seed.expose().is_empty() {
        options = options.nkey(config.nkey_seed.expose().to_owned());
    }
    if !config.credentials_file.is_empty() {
        options = options
            .credentials_file(&config.credentials_file)
            .await
            .with_context(|| format!("reading NATS credentials file {}", config.credentials_file))?;
    }
    if config.tls_required {
        options = options.require_tls(true);
    }
    if !config.tls_ca_file.is_empty() {
        options = options.add_root_certificates(PathBuf::from(&config.tls_ca_file));
    }
    if !config.tls_cert_file.is_empty() {
        options =
            options.add_client_certificate(PathBuf::from(&config.tls_cert_file), PathBuf::from(&config.tls_key_file));
    }
    Ok(options)
}

/// How long the webhook consumer waits for an acknowledgement: one attempt's
/// timeout and a margin for recording it.
pub fn webhook_ack_wait(timeout_seconds: u64) -> Duration {
    Duration::from_secs(timeout_seconds + 3)
}

#[derive(Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    prefix: String,
    config: NatsConfig,
}

impl Bus {
    pub async fn connect(config: &NatsConfig) -> anyhow::Result<Self> {
        // A server that is not up yet is waited for (about two minutes); a
        // refused credential or certificate fails at once, with its reason.
        let attempt = || async {
            let options = connect_options(config).await?;
            // One URL, or several separated by commas (the seed servers of a cluster).
            let servers: Vec<&str> = config.url.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            let client = options.name("awe").connection_timeout(Duration::from_secs(5)).connect(servers).await?;
            anyhow::Ok(client)
        };
        let client = attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(5))
                    .with_max_times(30),
            )
            .when(server_not_up_yet)
            .notify(|err, after| tracing::warn!(error = %err, retry_in = ?after, "NATS is not reachable yet"))
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
            cfg.max_bytes = self.config.max_bytes;
            cfg.storage = match self.config.storage {
                StreamStorage::File => stream::StorageType::File,
                StreamStorage::Memory => stream::StorageType::Memory,
            };
            let hours = if template == COMMANDS_STREAM {
                Some(self.config.commands_max_age_hours)
            } else if template == EVENTS_STREAM {
                Some(self.config.events_max_age_hours)
            } else {
                None
            };
            if let Some(hours) = hours {
                cfg.max_age = Duration::from_secs(hours * 3600);
            }
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

    /// Creates or updates every durable consumer, as each role does at its start.
    pub async fn ensure_consumers(&self, webhook_timeout_seconds: u64) -> anyhow::Result<()> {
        self.engine_consumer().await?;
        self.webhook_consumer(webhook_ack_wait(webhook_timeout_seconds)).await?;
        self.resolver_consumer().await?;
        Ok(())
    }

    /// The resolver role's durable pull consumer on the resolution stream.
    pub async fn resolver_consumer(&self) -> anyhow::Result<consumer::Consumer<consumer::pull::Config>> {
        self.consumer(RESOLVER_CONSUMER, |_| {}).await
    }

    /// Asks the resolver role to resolve stages of a request.
    pub async fn publish_resolve(&self, job: &crate::contract::command::ResolveJob) -> anyhow::Result<()> {
        let mut headers = traced();
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
        let mut headers = traced();
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
        let mut headers = traced();
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
            // An event keeps the trace of the work that committed it (also when relayed).
            let mut headers = with_trace(event.traceparent.clone().or_else(crate::adapters::trace::current_header));
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

/// Headers for a message sent from the current work: its `traceparent`, if any.
fn traced() -> HeaderMap {
    with_trace(crate::adapters::trace::current_header())
}

fn with_trace(traceparent: Option<String>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(parent) = traceparent {
        headers.insert(crate::adapters::trace::HEADER, parent.as_str());
    }
    headers
}
