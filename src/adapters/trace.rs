//! One request, one trace: a W3C `traceparent` taken from the HTTP call (or
//! started there) travels in the `traceparent` header of every NATS message
//! the work leads to (the command, the events, the resolver's job, its answer)
//! and reaches the caller on each webhook delivery. Each unit of work (an HTTP
//! call, a command applied, a job resolved, a delivery attempt) is a span of
//! its own: a child of the span that sent it, with a `tracing` span around it
//! so that every log line carries `trace_id` (and `request_id` once known).
//! When `tracing.otlp_endpoint` is set, finished spans are sent in batches to
//! an OpenTelemetry collector over OTLP/HTTP (JSON encoding); otherwise
//! nothing is recorded beyond the logs.

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::Instrument as _;
use uuid::Uuid;

/// The header, in HTTP and in NATS messages.
pub const HEADER: &str = "traceparent";

/// A position in a trace: W3C Trace Context level 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: u128,
    pub span_id: u64,
    pub sampled: bool,
}

impl TraceContext {
    /// A new trace, sampled.
    pub fn root() -> Self {
        Self { trace_id: nonzero_u128(), span_id: nonzero_u64(), sampled: true }
    }

    /// A new span of the same trace.
    pub fn child(&self) -> Self {
        Self { span_id: nonzero_u64(), ..*self }
    }

    /// Reads a `traceparent` value; `None` for one W3C says to ignore (bad
    /// length or hex, version `ff`, an all-zero id). A later version is read
    /// by its first four fields, as the recommendation asks.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let mut parts = value.splitn(5, '-');
        let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let rest = parts.next();
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex(version, 2) || version == "ff" || !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
            return None;
        }
        // Version 00 has exactly four fields.
        if version == "00" && rest.is_some() {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok().filter(|&t| t != 0)?;
        let span_id = u64::from_str_radix(span, 16).ok().filter(|&s| s != 0)?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self { trace_id, span_id, sampled: flags & 1 == 1 })
    }

    pub fn header(&self) -> String {
        format!("00-{:032x}-{:016x}-{:02x}", self.trace_id, self.span_id, u8::from(self.sampled))
    }

    pub fn trace_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }
}

fn nonzero_u128() -> u128 {
    loop {
        let n = Uuid::new_v4().as_u128();
        if n != 0 {
            return n;
        }
    }
}

fn nonzero_u64() -> u64 {
    loop {
        let n = (Uuid::new_v4().as_u128() >> 64) as u64;
        if n != 0 {
            return n;
        }
    }
}

/// What kind of work a span is, as OTLP numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Server = 2,
    Client = 3,
    Consumer = 5,
}

/// The span the current task works in.
struct Current {
    context: TraceContext,
    parent: Option<u64>,
    name: String,
    kind: Kind,
    started: SystemTime,
    log_span: tracing::Span,
    request_id: Mutex<Option<Uuid>>,
    attributes: Mutex<Vec<(&'static str, String)>>,
    failed: Mutex<Option<String>>,
}

tokio::task_local! {
    static CURRENT: Arc<Current>;
}

/// The span the current task works in, to send on with a message.
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|c| c.context).ok()
}

/// The `traceparent` to put on a message sent from here.
pub fn current_header() -> Option<String> {
    current().map(|c| c.header())
}

/// Names the request this work is about: on the log lines and the span.
pub fn set_request(request_id: Uuid) {
    let _ = CURRENT.try_with(|c| {
        *c.request_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(request_id);
        c.log_span.record("request_id", tracing::field::display(request_id));
    });
}

/// Adds an attribute to the current span (OTLP only).
pub fn attribute(key: &'static str, value: impl ToString) {
    let _ = CURRENT.try_with(|c| {
        c.attributes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((key, value.to_string()));
    });
}

/// Marks the current span as failed (OTLP status ERROR).
pub fn fail(message: impl ToString) {
    let _ = CURRENT.try_with(|c| {
        *c.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(message.to_string());
    });
}

/// Runs `work` as a new span: a child of `parent` (a received `traceparent`)
/// or the root of a new trace. Its log lines carry `trace_id`; when it ends,
/// it is exported if an endpoint is configured.
pub async fn in_span<F: Future>(
    name: impl Into<String>,
    kind: Kind,
    parent: Option<TraceContext>,
    work: F,
) -> F::Output {
    let context = parent.map_or_else(TraceContext::root, |p| p.child());
    let name = name.into();
    let log_span =
        tracing::info_span!("work", span = %name, trace_id = %context.trace_hex(), request_id = tracing::field::Empty);
    let current = Arc::new(Current {
        context,
        parent: parent.map(|p| p.span_id),
        name,
        kind,
        started: SystemTime::now(),
        log_span: log_span.clone(),
        request_id: Mutex::new(None),
        attributes: Mutex::new(Vec::new()),
        failed: Mutex::new(None),
    });
    let output = CURRENT.scope(current.clone(), work.instrument(log_span)).await;
    export(&current);
    output
}

/// Sends an outgoing HTTP call (a webhook, a caller's resolver) as a client
/// span of the current trace, with its `traceparent` header, and records the
/// answer's status on the span. Outside any trace it is sent as it is.
pub async fn send(name: &str, request: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
    let Some(parent) = current() else { return request.send().await };
    let request_id =
        CURRENT.try_with(|c| *c.request_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).ok().flatten();
    in_span(name, Kind::Client, Some(parent), async move {
        if let Some(id) = request_id {
            set_request(id);
        }
        let request = match current_header() {
            Some(header) => request.header(HEADER, header),
            None => request,
        };
        let sent = request.send().await;
        match &sent {
            Ok(res) => {
                attribute("http.response.status_code", res.status().as_u16());
                if !res.status().is_success() {
                    fail(res.status());
                }
            }
            Err(err) => fail(err),
        }
        sent
    })
    .await
}

/// The parent named by a message's headers, if any.
pub fn from_headers(headers: Option<&async_nats::HeaderMap>) -> Option<TraceContext> {
    headers.and_then(|h| h.get(HEADER)).and_then(|v| TraceContext::parse(v.as_str()))
}

// ---- export over OTLP/HTTP -------------------------------------------------

static EXPORTER: OnceLock<mpsc::Sender<Value>> = OnceLock::new();

/// Spans waiting to be sent; more are dropped (and counted in the log).
const QUEUE: usize = 8192;
const BATCH: usize = 512;
const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// Starts sending finished spans to `endpoint` (`http://collector:4318`, or
/// the full `/v1/traces` URL), as `service_name`. Once per process; a second
/// call keeps the first exporter.
pub fn start_export(endpoint: &str, service_name: &str) {
    if endpoint.is_empty() || EXPORTER.get().is_some() {
        return;
    }
    let url = if endpoint.trim_end_matches('/').ends_with("/v1/traces") {
        endpoint.to_owned()
    } else {
        format!("{}/v1/traces", endpoint.trim_end_matches('/'))
    };
    let (tx, rx) = mpsc::channel(QUEUE);
    if EXPORTER.set(tx).is_ok() {
        tokio::spawn(send_batches(url, service_name.to_owned(), rx));
    }
}

fn export(span: &Current) {
    let Some(exporter) = EXPORTER.get() else { return };
    if !span.context.sampled {
        return;
    }
    let nanos = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos().to_string();
    let lock =
        |m: &Mutex<Vec<(&'static str, String)>>| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let mut attributes: Vec<Value> =
        lock(&span.attributes).into_iter().map(|(k, v)| json!({"key": k, "value": {"stringValue": v}})).collect();
    if let Some(id) = *span.request_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner) {
        attributes.push(json!({"key": "awe.request_id", "value": {"stringValue": id.to_string()}}));
    }
    let status = match span.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone() {
        Some(message) => json!({"code": 2, "message": message}),
        None => json!({"code": 0}),
    };
    let mut record = json!({
        "traceId": span.context.trace_hex(),
        "spanId": format!("{:016x}", span.context.span_id),
        "name": span.name,
        "kind": span.kind as i32,
        "startTimeUnixNano": nanos(span.started),
        "endTimeUnixNano": nanos(SystemTime::now()),
        "attributes": attributes,
        "status": status,
    });
    if let Some(parent) = span.parent {
        record["parentSpanId"] = json!(format!("{parent:016x}"));
    }
    if exporter.try_send(record).is_err() {
        tracing::debug!("span export queue full; a span was dropped");
    }
}

async fn send_batches(url: String, service_name: String, mut rx: mpsc::Receiver<Value>) {
    let http = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(http) => http,
        Err(err) => {
            tracing::error!(error = %err, "no span export: the HTTP client did not build");
            return;
        }
    };
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let deadline = tokio::time::sleep(FLUSH_EVERY);
        tokio::pin!(deadline);
        let open = loop {
            tokio::select! {
                span = rx.recv() => match span {
                    Some(span) => {
                        batch.push(span);
                        if batch.len() >= BATCH { break true; }
                    }
                    None => break false,
                },
                () = &mut deadline => break true,
            }
        };
        if !batch.is_empty() {
            let body = json!({"resourceSpans": [{
                "resource": {"attributes": [
                    {"key": "service.name", "value": {"stringValue": service_name}},
                    {"key": "service.version", "value": {"stringValue": env!("CARGO_PKG_VERSION")}},
                ]},
                "scopeSpans": [{"scope": {"name": "awe", "version": env!("CARGO_PKG_VERSION")}, "spans": batch.split_off(0)}],
            }]});
            match http.post(&url).json(&body).send().await {
                Ok(res) if res.status().is_success() => {}
                Ok(res) => tracing::warn!(status = %res.status(), url, "the collector refused a batch of spans"),
                Err(err) => tracing::warn!(error = %err, url, "spans not exported"),
            }
        }
        if !open {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_reads_back_as_written_and_a_child_keeps_the_trace() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceContext::parse(header).expect("valid");
        assert_eq!(parsed.header(), header);
        assert!(parsed.sampled);
        let child = parsed.child();
        assert_eq!(child.trace_id, parsed.trace_id);
        assert_ne!(child.span_id, parsed.span_id);
        assert!(TraceContext::root().header().starts_with("00-"));
    }

    #[test]
    fn a_traceparent_w3c_says_to_ignore_is_not_read() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
        // A later version is read by its first four fields.
        let later = TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-next");
        assert_eq!(later.map(|t| t.sampled), Some(false));
    }

    #[tokio::test]
    async fn work_in_a_span_sends_on_its_own_span_of_the_same_trace() {
        let parent = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let inner = in_span("test", Kind::Consumer, parent, async { current() }).await.expect("a span");
        assert_eq!(inner.trace_id, parent.unwrap().trace_id);
        assert_ne!(inner.span_id, parent.unwrap().span_id);
        assert_eq!(current(), None, "outside the work there is no span");
        let nested = in_span("outer", Kind::Server, None, async {
            let outer = current().unwrap();
            let inner = in_span("inner", Kind::Client, Some(outer), async { current().unwrap() }).await;
            (outer, inner)
        })
        .await;
        assert_eq!(nested.0.trace_id, nested.1.trace_id);
        assert_ne!(nested.0.span_id, nested.1.span_id);
    }
}
