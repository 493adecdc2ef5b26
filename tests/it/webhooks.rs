//! The webhook role against a local receiver.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use axum::Router;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

#[derive(Clone, Debug)]
struct Received {
    at: Instant,
    headers: HeaderMap,
    body: Value,
}

/// A caller's callback handler that fails the first `failures` attempts of every event.
#[derive(Clone)]
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Received>>>,
}

async fn receiver(failures: usize) -> Receiver {
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let state = (seen.clone(), failures);
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State((seen, failures)): State<(Arc<Mutex<Vec<Received>>>, usize)>,
                 headers: HeaderMap,
                 body: String| async move {
                    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let mut seen = seen.lock().expect("seen");
                    let earlier = seen.iter().filter(|r| r.body["event_id"] == body["event_id"]).count();
                    seen.push(Received { at: Instant::now(), headers, body });
                    if earlier < failures {
                        AxumStatus::INTERNAL_SERVER_ERROR
                    } else {
                        AxumStatus::NO_CONTENT
                    }
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, seen }
}

fn webhook_options(backoff: &str, attempts: u32) -> Options {
    Options {
        webhook: true,
        env: vec![
            ("AWE__WEBHOOK__BACKOFF_SECONDS".into(), backoff.into()),
            ("AWE__WEBHOOK__MAX_ATTEMPTS".into(), attempts.to_string()),
            ("AWE__WEBHOOK__TIMEOUT_SECONDS".into(), "2".into()),
        ],
        ..Options::default()
    }
}

async fn create_with_callback(app: &TestApp, key: &str, artifact: &str, url: &str) -> String {
    let mut body = new_request(key, artifact);
    body["callback_url"] = json!(url);
    let (status, created) = app.post("/requests", &service("registry"), body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["request_id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn the_receiver_gets_every_event_of_a_flow_once_in_sequence_order() {
    let app = spawn_with(webhook_options("1", 3)).await;
    let hook = receiver(0).await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    let rid = create_with_callback(&app, "registry.cr.v1", "cr-w", &hook.url).await;
    for user in ["alice", "director-x"] {
        let task = app.open_task_of(user).await;
        app.post(
            &format!("/tasks/{}/decision", task["id"].as_str().expect("id")),
            &token_for(user),
            json!({"action": "approve"}),
        )
        .await;
    }
    app.eventually("six deliveries", || async { hook.seen.lock().expect("seen").len() >= 6 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = hook.seen.lock().expect("seen").clone();
    assert_eq!(seen.len(), 6, "each event once");
    let seqs: Vec<i64> = seen.iter().map(|r| r.body["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6], "in sequence order");
    let (_, events) = app.get(&format!("/requests/{rid}/events"), &service("registry")).await;
    for (received, event) in seen.iter().zip(events.as_array().expect("events")) {
        assert_eq!(received.body["event_id"], event["id"]);
        assert_eq!(received.body["event_type"], event["event_type"]);
        assert_eq!(
            received.headers["x-approval-event-id"].to_str().expect("header"),
            event["id"].as_str().expect("id")
        );
        let ts: i64 = received.headers["x-approval-timestamp"].to_str().expect("ts").parse().expect("number");
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
    }
    assert_eq!(seen.last().expect("last").body["status"], "approved");
    let (_, deliveries) = app.get(&format!("/admin/deliveries?request_id={rid}"), &viewer()).await;
    let deliveries = deliveries.as_array().expect("deliveries").clone();
    assert_eq!(deliveries.len(), 6);
    assert!(deliveries.iter().all(|d| d["status"] == "delivered" && d["attempt"] == 1 && d["signed"] == false));
    app.stop().await;
}

#[tokio::test]
async fn a_failing_receiver_gets_the_event_again_after_each_configured_delay() {
    let app = spawn_with(webhook_options("1,2", 4)).await;
    let hook = receiver(2).await;
    app.active_policy(
        json!({"policy_key": "none", "name": "n", "artifact_type": "registry.change_request", "stages": []}),
    )
    .await;
    let rid = create_with_callback(&app, "none", "cr-f", &hook.url).await;
    app.eventually("third attempts", || async { hook.seen.lock().expect("seen").len() >= 6 }).await;
    let seen = hook.seen.lock().expect("seen").clone();
    let first = seen[0].body["event_id"].clone();
    let times: Vec<Instant> = seen.iter().filter(|r| r.body["event_id"] == first).map(|r| r.at).collect();
    assert_eq!(times.len(), 3, "two failures, then the success");
    let gaps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    assert!(gaps[0] >= 0.9 && gaps[0] < 4.0, "first delay ~1 s: {gaps:?}");
    assert!(gaps[1] >= 1.9 && gaps[1] < 5.0, "second delay ~2 s: {gaps:?}");
    let (_, deliveries) = app.get(&format!("/admin/deliveries?request_id={rid}"), &viewer()).await;
    assert!(
        deliveries.as_array().expect("list").iter().all(|d| d["status"] == "delivered" && d["attempt"] == 3),
        "{deliveries}"
    );
    let attempts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_attempt").fetch_one(&app.pool).await.expect("count");
    assert_eq!(attempts, 6, "every attempt is recorded");
    app.stop().await;
}

#[tokio::test]
async fn a_receiver_that_always_fails_ends_exhausted_after_the_last_attempt() {
    let app = spawn_with(webhook_options("1", 2)).await;
    let hook = receiver(usize::MAX).await;
    app.active_policy(
        json!({"policy_key": "none", "name": "n", "artifact_type": "registry.change_request", "stages": []}),
    )
    .await;
    let rid = create_with_callback(&app, "none", "cr-x", &hook.url).await;
    let path = format!("/admin/deliveries?request_id={rid}&status=exhausted");
    app.eventually("both deliveries exhausted", || async {
        app.get(&path, &viewer()).await.1.as_array().map(Vec::len) == Some(2)
    })
    .await;
    let (_, exhausted) = app.get(&path, &viewer()).await;
    assert_eq!(exhausted[0]["attempt"], 2);
    assert_eq!(exhausted[0]["last_status_code"], 500);
    assert!(exhausted[0]["last_error"].as_str().expect("error").starts_with("HTTP 500"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook.seen.lock().expect("seen").len(), 4, "no attempt after the last");
    app.stop().await;
}
