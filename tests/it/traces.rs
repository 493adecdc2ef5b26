//! One request, one trace: the caller's `traceparent` travels from the HTTP
//! call through the command, the engine, the events and the webhook role to
//! the caller's callback, and every step's span reaches an OTLP/HTTP receiver.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use axum::{Json, Router};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The headers and JSON bodies of the POSTs a listener took.
type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// Something that takes POSTs and keeps their headers and JSON bodies.
async fn listener(path: &'static str) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            path,
            post(|State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>| async move {
                seen.lock().expect("seen").push((headers, body));
                AxumStatus::OK
            }),
        )
        .with_state(seen.clone());
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", socket.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(socket, app).await });
    (base, seen)
}

/// The spans the collector received, flattened.
fn spans(batches: &[(HeaderMap, Value)]) -> Vec<Value> {
    batches
        .iter()
        .flat_map(|(_, body)| body["resourceSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|rs| rs["scopeSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|ss| ss["spans"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_callers_traceparent_reaches_the_webhook_and_every_step_is_a_span_of_that_trace() {
    let (collector, received) = listener("/v1/traces").await;
    awe::adapters::trace::start_export(&collector, "awe-test");
    let app = spawn_with(Options { webhook: true, ..Options::default() }).await;
    let (hook, calls) = listener("/hook").await;
    app.active_policy(two_stage_policy("traced.v1")).await;

    let mut body = new_request("traced.v1", "cr-traced");
    body["callback_url"] = json!(format!("{hook}/hook"));
    let res = app
        .http
        .post(app.url("/requests"))
        .bearer_auth(service("registry"))
        .header("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-01"))
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.expect("json");
    // A probe carrying the same trace is not work anyone traces.
    let probe =
        app.http.get(app.url("/health")).header("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-01")).send();
    assert_eq!(probe.await.expect("probe").status(), StatusCode::OK);
    let rid = created["request_id"].as_str().expect("id").to_owned();

    app.eventually("the callback received request_created and stage_started", || async {
        calls.lock().expect("calls").len() >= 2
    })
    .await;
    for (headers, event) in calls.lock().expect("calls").iter() {
        let parent = headers.get("traceparent").and_then(|v| v.to_str().ok()).expect("a traceparent on every delivery");
        let parsed = awe::adapters::trace::TraceContext::parse(parent).expect("a valid traceparent");
        assert_eq!(format!("{:032x}", parsed.trace_id), TRACE, "{} came in another trace", event["event_type"]);
        assert_ne!(format!("{:016x}", parsed.span_id), "00f067aa0ba902b7", "the delivery is a span of its own");
    }

    app.eventually("the collector holds the ingress, engine, webhook and delivery spans", || async {
        let spans = spans(&received.lock().expect("received"));
        let ours: Vec<&Value> = spans.iter().filter(|s| s["traceId"] == TRACE).collect();
        ["POST /v1/awe/requests", "engine cmd.request.create", "webhook evt.request_created", "webhook POST"]
            .iter()
            .all(|name| ours.iter().any(|s| s["name"] == *name))
    })
    .await;
    let spans = spans(&received.lock().expect("received"));
    assert!(!spans.iter().any(|s| s["name"] == "GET /v1/awe/health"), "the health probe was traced");
    let named = |name: &str| spans.iter().find(|s| s["traceId"] == TRACE && s["name"] == name).cloned().expect(name);
    let http = named("POST /v1/awe/requests");
    let engine = named("engine cmd.request.create");
    let webhook = named("webhook evt.request_created");
    assert_eq!(http["parentSpanId"], "00f067aa0ba902b7", "the HTTP span is a child of the caller's");
    assert_eq!(http["kind"], 2);
    assert_eq!(engine["parentSpanId"], http["spanId"], "the command was sent from the HTTP span");
    assert_eq!(webhook["parentSpanId"], engine["spanId"], "the event was published from the engine's span");
    let attribute = |span: &Value, key: &str| {
        span["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["key"] == key)
            .map(|a| a["value"]["stringValue"].clone())
    };
    for span in [&http, &engine, &webhook] {
        assert_eq!(attribute(span, "awe.request_id"), Some(json!(rid)), "{span}");
    }
    let service_name = &received.lock().expect("received")[0].1["resourceSpans"][0]["resource"]["attributes"][0];
    assert_eq!(service_name["value"]["stringValue"], "awe-test");
}

#[tokio::test]
async fn without_a_traceparent_the_http_call_starts_a_trace_that_the_callback_receives() {
    let app = spawn_with(Options { webhook: true, ..Options::default() }).await;
    let (hook, calls) = listener("/hook").await;
    app.active_policy(two_stage_policy("untraced.v1")).await;
    let mut body = new_request("untraced.v1", "cr-untraced");
    body["callback_url"] = json!(format!("{hook}/hook"));
    let (status, _) = app.post("/requests", &service("registry"), body).await;
    assert_eq!(status, StatusCode::CREATED);
    app.eventually("two deliveries", || async { calls.lock().expect("calls").len() >= 2 }).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let traces: Vec<u128> = calls
        .lock()
        .expect("calls")
        .iter()
        .map(|(h, _)| {
            let value = h.get("traceparent").and_then(|v| v.to_str().ok()).expect("a traceparent");
            awe::adapters::trace::TraceContext::parse(value).expect("valid").trace_id
        })
        .collect();
    assert!(traces.windows(2).all(|w| w[0] == w[1]), "the events of one call share its trace: {traces:x?}");
}
