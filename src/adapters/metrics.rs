//! Prometheus metrics of every role, in the text exposition format: the
//! ingress serves them at `/metrics` on its HTTP port, worker roles on
//! `health.addr`. Names follow Prometheus conventions (`awe_` prefix, base
//! units, `_total` counters, `_seconds` histograms); label values come from
//! bounded sets (route templates, command kinds, event types, outcomes),
//! never ids.
//!
//! Recorded through the `metrics` facade into its Prometheus exporter, one
//! registry per process whichever roles it runs. Every family is described
//! at start, so a scrape lists its HELP and TYPE before the first sample.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

use crate::contract::event::StoredEvent;

/// The content type of [`render`]'s answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets from 1 ms to about 16 s.
const SECONDS: [f64; 15] =
    [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder (once; later calls return the same one)
/// and describes every family.
pub fn init() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder =
            PrometheusBuilder::new().set_buckets(&SECONDS).expect("the buckets are not empty").build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only this one's");
        }
        // Histograms keep their samples until drained; drain them whether or not anyone scrapes.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            })
            .expect("starting the metrics upkeep thread");
        describe();
        handle
    })
}

fn describe() {
    gauge!("awe_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    describe_gauge!("awe_build_info", "The running build (always 1), by version");
    describe_counter!("awe_http_requests_total", "HTTP requests answered, by route template, method and status");
    describe_histogram!("awe_http_request_duration_seconds", Unit::Seconds, "Time to answer an HTTP request");
    describe_counter!(
        "awe_commands_applied_total",
        "Commands handled by the engine, by kind and outcome (ok, refused, failed, retry, poison)"
    );
    describe_histogram!(
        "awe_command_apply_duration_seconds",
        Unit::Seconds,
        "Time from a command's arrival at the engine to its commit and answer"
    );
    describe_counter!("awe_events_committed_total", "Timeline events committed, by type");
    describe_counter!("awe_events_published_total", "Events published to the event stream");
    describe_gauge!("awe_outbox_waiting", "Committed events not yet marked published (counted up to 100000)");
    describe_gauge!("awe_consumer_pending", "Messages of a role's durable consumer not yet delivered");
    describe_gauge!(
        "awe_consumer_ack_pending",
        "Messages of a role's durable consumer delivered, not yet acknowledged"
    );
    describe_gauge!(
        "awe_consumer_redelivered",
        "Messages of a role's durable consumer delivered more than once, not yet acknowledged"
    );
    describe_counter!(
        "awe_webhook_attempts_total",
        "Webhook delivery attempts, by outcome (delivered, failed, exhausted)"
    );
    describe_histogram!("awe_webhook_attempt_duration_seconds", Unit::Seconds, "Time of one webhook POST");
    describe_counter!("awe_webhook_deliveries_exhausted_total", "Deliveries that failed their last attempt");
    describe_counter!("awe_sla_ticks_total", "SLA ticks applied by the engine, by outcome (ok, failed)");
    describe_histogram!("awe_sla_tick_duration_seconds", Unit::Seconds, "Time to apply one SLA tick");
    describe_counter!("awe_sla_ticks_published_total", "SLA ticks published by the scheduler");
    describe_counter!("awe_sla_requests_expired_total", "Requests whose due tasks a tick expired");
    describe_counter!("awe_sla_tasks_expired_total", "Tasks expired past their due time");
    describe_counter!(
        "awe_resolutions_total",
        "Remote rule resolutions (resolver role, simulate), by rule type and outcome (resolved, failed)"
    );
    describe_counter!(
        "awe_keycloak_cache_total",
        "Keycloak lookups by cache result (hit, miss, stale: a cached answer served while Keycloak failed)"
    );
    describe_gauge!("awe_db_connections", "Database pool connections, by state (in_use, idle)");
    describe_counter!("awe_idempotency_keys_retired_total", "Idempotency keys removed after the retention period");
}

/// One command handled by the engine.
pub fn command(kind: &'static str, outcome: &'static str, took: Duration) {
    counter!("awe_commands_applied_total", "kind" => kind, "outcome" => outcome).increment(1);
    histogram!("awe_command_apply_duration_seconds", "kind" => kind).record(took.as_secs_f64());
}

/// One HTTP answer.
pub fn http(route: String, method: &'static str, status: u16, took: Duration) {
    counter!("awe_http_requests_total", "route" => route.clone(), "method" => method, "status" => status.to_string())
        .increment(1);
    histogram!("awe_http_request_duration_seconds", "route" => route, "method" => method).record(took.as_secs_f64());
}

/// Events committed (by type) and whether they reached the stream.
pub fn events(events: &[StoredEvent], published: bool) {
    for event in events {
        // The timeline's types are a fixed set: label with the static name, allocating nothing.
        let event_type = crate::contract::event::event_types().find(|t| *t == event.event_type).unwrap_or("other");
        counter!("awe_events_committed_total", "event_type" => event_type).increment(1);
    }
    if published {
        published_events(events.len() as u64);
    }
}

pub fn published_events(count: u64) {
    counter!("awe_events_published_total").increment(count);
}

pub fn outbox_waiting(rows: i64) {
    gauge!("awe_outbox_waiting").set(rows as f64);
}

/// A durable consumer's backlog, as JetStream reports it.
pub fn backlog(role: &'static str, pending: u64, ack_pending: usize, redelivered: usize) {
    gauge!("awe_consumer_pending", "consumer" => role).set(pending as f64);
    gauge!("awe_consumer_ack_pending", "consumer" => role).set(ack_pending as f64);
    gauge!("awe_consumer_redelivered", "consumer" => role).set(redelivered as f64);
}

pub fn webhook_attempt(outcome: &'static str, took: Duration) {
    counter!("awe_webhook_attempts_total", "outcome" => outcome).increment(1);
    histogram!("awe_webhook_attempt_duration_seconds").record(took.as_secs_f64());
    if outcome == "exhausted" {
        counter!("awe_webhook_deliveries_exhausted_total").increment(1);
    }
}

pub fn sla_tick(ok: bool, took: Duration) {
    counter!("awe_sla_ticks_total", "outcome" => if ok { "ok" } else { "failed" }).increment(1);
    histogram!("awe_sla_tick_duration_seconds").record(took.as_secs_f64());
}

pub fn sla_tick_published() {
    counter!("awe_sla_ticks_published_total").increment(1);
}

pub fn sla_expired(requests: u64, tasks: u64) {
    counter!("awe_sla_requests_expired_total").increment(requests);
    counter!("awe_sla_tasks_expired_total").increment(tasks);
}

pub fn resolution(rule_type: &'static str, resolved: bool) {
    let outcome = if resolved { "resolved" } else { "failed" };
    counter!("awe_resolutions_total", "rule_type" => rule_type, "outcome" => outcome).increment(1);
}

/// `hit`, `miss` or `stale`.
pub fn keycloak_cache(result: &'static str) {
    counter!("awe_keycloak_cache_total", "result" => result).increment(1);
}

pub fn idempotency_keys_retired(count: u64) {
    counter!("awe_idempotency_keys_retired_total").increment(count);
}

/// The `/metrics` answer of the ingress and of the workers' health address.
pub fn answer(pool: &PgPool) -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], render(Some(pool)))
}

/// The exposition: the pool's gauges read now, then every family.
pub fn render(pool: Option<&PgPool>) -> String {
    let handle = init();
    if let Some(pool) = pool {
        let idle = pool.num_idle() as f64;
        gauge!("awe_db_connections", "state" => "idle").set(idle);
        gauge!("awe_db_connections", "state" => "in_use").set(f64::from(pool.size()) - idle);
    }
    handle.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_describes_each_family_and_names_it_with_the_awe_prefix() {
        init();
        command("request.create", "ok", Duration::from_millis(3));
        let text = render(None);
        assert!(text.contains("# TYPE awe_commands_applied_total counter"), "{text}");
        assert!(text.contains("awe_commands_applied_total{kind=\"request.create\",outcome=\"ok\"}"), "{text}");
        assert!(text.contains("# TYPE awe_command_apply_duration_seconds histogram"), "{text}");
        assert!(
            text.contains("awe_command_apply_duration_seconds_bucket{kind=\"request.create\",le=\"0.004\"}"),
            "{text}"
        );
        assert!(text.contains("awe_build_info{version=\""), "{text}");
        for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            assert!(line.starts_with("awe_"), "{line}");
        }
    }
}
