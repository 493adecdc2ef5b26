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
    /// The body exactly as it arrived: what the signature covers.
    raw: String,
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
                 raw: String| async move {
                    let body: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
                    let mut seen = seen.lock().expect("seen");
                    let earlier = seen.iter().filter(|r| r.body["event_id"] == body["event_id"]).count();
                    seen.push(Received { at: Instant::now(), headers, body, raw });
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

/// The request's deliveries once `count` of them are recorded as delivered: a receiver counts a
/// request when it arrives, and the webhook role records its answer a moment later.
async fn all_delivered(app: &TestApp, rid: &str, count: usize) -> Vec<Value> {
    let path = format!("/admin/deliveries?request_id={rid}");
    app.eventually("the deliveries recorded as delivered", || async {
        let (_, list) = app.get(&path, &viewer()).await;
        list.as_array().is_some_and(|l| l.len() == count && l.iter().all(|d| d["status"] == "delivered"))
    })
    .await;
    let (_, list) = app.get(&path, &viewer()).await;
    list.as_array().expect("deliveries").clone()
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
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in sequence order: {seqs:?}");
    let (_, events) = app.get(&format!("/requests/{rid}/events"), &service("registry")).await;
    // The timeline also holds the decisions; a webhook carries the spec's event types only, unasked.
    let spec: Vec<&Value> =
        events.as_array().expect("events").iter().filter(|e| e["event_type"] != "decision_submitted").collect();
    assert_eq!(spec.len(), 6, "{events}");
    for (received, event) in seen.iter().zip(spec) {
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
    let deliveries = all_delivered(&app, &rid, 6).await;
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
    // The receiver counts a request when it arrives; the role records the answer a moment later.
    let deliveries = Value::Array(all_delivered(&app, &rid, 2).await);
    let seen = hook.seen.lock().expect("seen").clone();
    let first = seen[0].body["event_id"].clone();
    let times: Vec<Instant> = seen.iter().filter(|r| r.body["event_id"] == first).map(|r| r.at).collect();
    assert_eq!(times.len(), 3, "two failures, then the success");
    let gaps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    assert!(gaps[0] >= 0.9 && gaps[0] < 4.0, "first delay ~1 s: {gaps:?}");
    assert!(gaps[1] >= 1.9 && gaps[1] < 5.0, "second delay ~2 s: {gaps:?}");
    assert!(deliveries.as_array().expect("list").iter().all(|d| d["attempt"] == 3), "{deliveries}");
    let attempts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_attempt").fetch_one(&app.pool).await.expect("count");
    assert_eq!(attempts, 6, "every attempt is recorded");

    // One delivery in detail: its attempts in order and the body it sent, byte for byte.
    let one = &deliveries[0];
    let (status, detail) = app.get(&format!("/admin/deliveries/{}", one["id"].as_str().expect("id")), &viewer()).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let codes: Vec<Value> =
        detail["attempts"].as_array().expect("attempts").iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, [json!(500), json!(500), json!(204)], "{detail}");
    assert!(detail["attempts"][0]["duration_ms"].as_i64().is_some_and(|ms| ms >= 0));
    let sent = seen.iter().find(|r| r.body["event_id"] == one["event_id"]).expect("received");
    assert_eq!(detail["body_raw"], sent.raw.as_str(), "the body shown is the body signed and sent");
    assert_eq!(detail["body"], sent.body);
    let (status, body) = app.get(&format!("/admin/deliveries/{}", uuid::Uuid::new_v4()), &viewer()).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::NOT_FOUND, Some("AWE-007")));
    let (_, by_type) =
        app.get(&format!("/admin/deliveries?request_id={rid}&event_type=request_created"), &viewer()).await;
    assert!(by_type
        .as_array()
        .is_some_and(|l| !l.is_empty() && l.iter().all(|d| d["event_type"] == "request_created")));
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

/// What a receiver computes: HMAC-SHA256 over `timestamp + "." + raw body`.
fn hmac_hex(secret: &str, headers: &HeaderMap, raw: &str) -> String {
    use hmac::{Hmac, Mac};
    let ts = headers["x-approval-timestamp"].to_str().expect("ts");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{ts}.{raw}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn new_secret(app: &TestApp, caller: &str) -> Value {
    let (status, secret) = app.post("/admin/callback-secrets", &admin(), json!({"caller_service": caller})).await;
    assert_eq!(status, StatusCode::CREATED, "{secret}");
    secret
}

#[tokio::test]
async fn deliveries_are_signed_with_the_callers_secret_which_is_shown_once() {
    let app = spawn_with(webhook_options("1", 3)).await;
    let hook = receiver(0).await;
    let secret = new_secret(&app, "registry").await;
    let raw = secret["secret"].as_str().expect("the secret, once").to_owned();
    let (_, listed) = app.get("/admin/callback-secrets?caller_service=registry", &viewer()).await;
    assert!(listed[0]["secret"].is_null() && !listed.to_string().contains(&raw), "never listed: {listed}");
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM callback_secret WHERE position($1::bytea in ciphertext) > 0")
            .bind(raw.as_bytes())
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(stored, 0, "kept sealed");

    app.active_policy(
        json!({"policy_key": "none", "name": "n", "artifact_type": "registry.change_request", "stages": []}),
    )
    .await;
    let rid = create_with_callback(&app, "none", "cr-sig", &hook.url).await;
    app.eventually("two deliveries", || async { hook.seen.lock().expect("seen").len() >= 2 }).await;
    for received in hook.seen.lock().expect("seen").iter() {
        let signature = received.headers["x-approval-signature"].to_str().expect("signed");
        assert_eq!(signature, hmac_hex(&raw, &received.headers, &received.raw));
        assert!(received.headers.get("x-approval-signature-previous").is_none());
    }
    let (_, deliveries) = app.get(&format!("/admin/deliveries?request_id={rid}"), &viewer()).await;
    assert!(deliveries.as_array().expect("list").iter().all(|d| d["signed"] == true));
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_its_successor_until_the_overlap_ends() {
    let mut options = webhook_options("1", 3);
    options.env.push(("AWE__WEBHOOK__ROTATION_OVERLAP_SECONDS".into(), "3".into()));
    let app = spawn_with(options).await;
    let hook = receiver(0).await;
    let old = new_secret(&app, "registry").await;
    let (status, new) = app
        .post(&format!("/admin/callback-secrets/{}/rotate", old["id"].as_str().expect("id")), &admin(), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{new}");
    let (old_raw, new_raw) = (old["secret"].as_str().expect("old"), new["secret"].as_str().expect("new"));
    app.active_policy(
        json!({"policy_key": "none", "name": "n", "artifact_type": "registry.change_request", "stages": []}),
    )
    .await;

    create_with_callback(&app, "none", "cr-rot1", &hook.url).await;
    app.eventually("deliveries during the overlap", || async { hook.seen.lock().expect("seen").len() >= 2 }).await;
    let during = hook.seen.lock().expect("seen")[0].clone();
    assert_eq!(
        during.headers["x-approval-signature"].to_str().expect("new"),
        hmac_hex(new_raw, &during.headers, &during.raw)
    );
    assert_eq!(
        during.headers["x-approval-signature-previous"].to_str().expect("old"),
        hmac_hex(old_raw, &during.headers, &during.raw)
    );

    tokio::time::sleep(Duration::from_secs(4)).await;
    create_with_callback(&app, "none", "cr-rot2", &hook.url).await;
    app.eventually("deliveries after the overlap", || async { hook.seen.lock().expect("seen").len() >= 4 }).await;
    let after = hook.seen.lock().expect("seen")[3].clone();
    assert_eq!(
        after.headers["x-approval-signature"].to_str().expect("new"),
        hmac_hex(new_raw, &after.headers, &after.raw)
    );
    assert!(after.headers.get("x-approval-signature-previous").is_none(), "the old secret no longer signs");
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_or_foreign_callback_secret_is_refused_at_creation_naming_the_field() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    let theirs = new_secret(&app, "pbms").await;
    for secret_id in [json!(uuid::Uuid::new_v4()), theirs["id"].clone()] {
        let mut body = new_request("registry.cr.v1", "cr-sec");
        body["callback_secret_id"] = secret_id;
        let (status, answer) = app.post("/requests", &service("registry"), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        // The same 422 list the edge answers with, naming the field.
        assert_eq!(answer["detail"][0]["loc"], json!(["body", "callback_secret_id"]), "{answer}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_exhausted_delivery_is_delivered_after_a_manual_retry() {
    let app = spawn_with(webhook_options("1", 2)).await;
    // Fails twice per event: exhausted after the two allowed attempts, then succeeds.
    let hook = receiver(2).await;
    app.active_policy(
        json!({"policy_key": "none", "name": "n", "artifact_type": "registry.change_request", "stages": []}),
    )
    .await;
    let rid = create_with_callback(&app, "none", "cr-retry", &hook.url).await;
    let exhausted = format!("/admin/deliveries?request_id={rid}&status=exhausted");
    app.eventually("exhausted", || async {
        app.get(&exhausted, &viewer()).await.1.as_array().map(Vec::len) == Some(2)
    })
    .await;
    let (_, list) = app.get(&exhausted, &viewer()).await;
    let one = list[0]["id"].as_str().expect("id").to_owned();

    let (status, body) = app.post(&format!("/admin/deliveries/{one}/retry"), &viewer(), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, reset) = app.post(&format!("/admin/deliveries/{one}/retry"), &admin(), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!((reset["status"].as_str(), reset["attempt"].as_i64()), (Some("pending"), Some(0)));
    let delivered = format!("/admin/deliveries?request_id={rid}&status=delivered");
    app.eventually("delivered after the retry", || async {
        app.get(&delivered, &viewer()).await.1.as_array().map(Vec::len) == Some(1)
    })
    .await;
    let (status, body) = app.post(&format!("/admin/deliveries/{one}/retry"), &admin(), json!({})).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::CONFLICT, Some("AWE-007")));
    let (status, body) =
        app.post(&format!("/admin/deliveries/{}/retry", uuid::Uuid::new_v4()), &admin(), json!({})).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::NOT_FOUND, Some("AWE-007")));

    // The other one, in bulk by request.
    let (status, bulk) = app.post("/admin/deliveries/retry", &admin(), json!({"request_id": rid})).await;
    assert_eq!((status, bulk["retried"].as_i64()), (StatusCode::OK, Some(1)), "{bulk}");
    app.eventually("both delivered", || async {
        app.get(&delivered, &viewer()).await.1.as_array().map(Vec::len) == Some(2)
    })
    .await;
    let (_, audit) = app.get("/admin/audit?action=delivery.retry", &viewer()).await;
    assert_eq!(audit.as_array().map(Vec::len), Some(2));
    assert_eq!(audit[1]["before"]["status"], "exhausted");
    app.stop().await;
}

#[tokio::test]
async fn killing_the_webhook_role_mid_delivery_loses_nothing() {
    use std::process::Stdio;
    let app = spawn_app().await;
    // A receiver that takes its time, so the kill lands while a POST is in flight.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let slow = Router::new().route(
        "/hook",
        post(move |raw: String| {
            let log = log.clone();
            async move {
                let body: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
                log.lock().expect("log").push(body["event_id"].as_str().unwrap_or_default().to_owned());
                tokio::time::sleep(Duration::from_millis(1500)).await;
                AxumStatus::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, slow).await });
    let webhook_process = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_awe"))
            .args(["run", "webhook"])
            .env("DATABASE_URL", app.config.database.url.expose())
            .env("NATS_URL", &app.config.nats.url)
            .env("AWE__NATS__PREFIX", &app.config.nats.prefix)
            .env("AWE__WEBHOOK__BACKOFF_SECONDS", "1")
            .env("AWE__WEBHOOK__TIMEOUT_SECONDS", "2")
            .env("AWE__LOG__LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("webhook process")
    };
    app.active_policy(
        json!({"policy_key": "none", "name": "n", "artifact_type": "registry.change_request", "stages": []}),
    )
    .await;
    let mut worker = webhook_process();
    let rid = create_with_callback(&app, "none", "cr-kill", &url).await;
    app.eventually("a delivery in flight", || async { !seen.lock().expect("log").is_empty() }).await;
    worker.kill().await.expect("kill -9");
    let mut worker = webhook_process();
    let delivered = format!("/admin/deliveries?request_id={rid}&status=delivered");
    app.eventually("both events delivered after the restart", || async {
        app.get(&delivered, &viewer()).await.1.as_array().map(Vec::len) == Some(2)
    })
    .await;
    let ids = seen.lock().expect("log").clone();
    let (_, events) = app.get(&format!("/requests/{rid}/events"), &service("registry")).await;
    for event in events.as_array().expect("events") {
        assert!(
            ids.iter().any(|i| i == event["id"].as_str().expect("id")),
            "event {} reached the receiver",
            event["id"]
        );
    }
    worker.kill().await.expect("stop");
    app.stop().await;
}

#[tokio::test]
async fn replaying_the_stream_sends_the_chosen_events_to_the_webhook_again() {
    let app = spawn_with(webhook_options("1", 3)).await;
    let hook = receiver(0).await;
    app.active_policy(
        json!({"policy_key": "none", "name": "n", "artifact_type": "registry.change_request", "stages": []}),
    )
    .await;
    let rid = create_with_callback(&app, "none", "cr-replay", &hook.url).await;
    let other = create_with_callback(&app, "none", "cr-other", &hook.url).await;
    app.eventually("four first deliveries", || async { hook.seen.lock().expect("seen").len() >= 4 }).await;

    let by_request = awe::operator::replay::Selection::parse(&["--request".into(), rid.clone()]).expect("options");
    assert_eq!(awe::operator::replay::replay(&app.bus, &by_request).await.expect("replay"), 2);
    app.eventually("both events of the request again", || async { hook.seen.lock().expect("seen").len() >= 6 }).await;
    let by_type = awe::operator::replay::Selection::parse(&[
        "--type".into(),
        "request_approved".into(),
        "--from-seq".into(),
        "1".into(),
    ])
    .expect("options");
    assert_eq!(awe::operator::replay::replay(&app.bus, &by_type).await.expect("replay twice is fine"), 2);
    app.eventually("the approvals of both requests again", || async { hook.seen.lock().expect("seen").len() >= 8 })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = hook.seen.lock().expect("seen").clone();
    let count =
        |rid: &str, t: &str| seen.iter().filter(|r| r.body["request_id"] == rid && r.body["event_type"] == t).count();
    assert_eq!((count(&rid, "request_created"), count(&rid, "request_approved")), (2, 3));
    assert_eq!((count(&other, "request_created"), count(&other, "request_approved")), (1, 2));
    app.stop().await;
}

#[tokio::test]
async fn a_secret_created_while_the_engine_is_late_is_still_shown_once_in_the_202() {
    let mut app = spawn_with(Options { engine: false, reply_timeout_ms: 200, ..Options::default() }).await;
    let (status, accepted) = app.post("/admin/callback-secrets", &admin(), json!({"caller_service": "registry"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let secret = accepted["secret"].as_str().expect("the secret, shown this once");
    assert!(secret.len() >= 32, "{accepted}");
    let id = accepted["id"].as_str().expect("the secret's id").to_owned();
    app.start_engine();
    app.eventually("the secret is in force", || async {
        let (_, list) = app.get("/admin/callback-secrets?caller_service=registry", &admin()).await;
        list.as_array().is_some_and(|l| l.iter().any(|s| s["id"] == id.as_str() && s["status"] == "active"))
    })
    .await;
    let (_, list) = app.get("/admin/callback-secrets", &admin()).await;
    assert!(!list.to_string().contains(secret), "never shown again");
    app.stop().await;
}

#[tokio::test]
async fn deliveries_are_listed_pending_from_the_commit_of_their_event_while_the_webhook_role_is_down() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    let rid = create_with_callback(&app, "registry.cr.v1", "cr-pending", "http://127.0.0.1:9/hook").await;
    let (status, deliveries) = app.get(&format!("/admin/deliveries?request_id={rid}"), &viewer()).await;
    assert_eq!(status, StatusCode::OK);
    let list = deliveries.as_array().expect("deliveries");
    let types: Vec<&str> = list.iter().filter_map(|d| d["event_type"].as_str()).collect();
    assert_eq!(types, vec!["stage_started", "request_created"], "newest first: {deliveries}");
    assert!(list.iter().all(|d| d["status"] == "pending" && d["attempt"] == 0));
    // A request without a callback has none.
    let (_, plain) = app.post("/requests", &service("registry"), new_request("registry.cr.v1", "cr-none")).await;
    let path = format!("/admin/deliveries?request_id={}", plain["request_id"].as_str().expect("id"));
    assert_eq!(app.get(&path, &viewer()).await.1, json!([]));
    app.stop().await;
}

#[tokio::test]
async fn a_caller_that_asks_for_decisions_receives_them_with_their_comment() {
    let mut options = webhook_options("1", 3);
    options.env.push(("AWE__WEBHOOK__EVENT_TYPES".into(), "stage_completed,decision_submitted".into()));
    let app = spawn_with(options).await;
    let hook = receiver(0).await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    create_with_callback(&app, "registry.cr.v1", "cr-d", &hook.url).await;
    let task = app.open_task_of("alice").await;
    app.post(
        &format!("/tasks/{}/decision", task["id"].as_str().expect("id")),
        &token_for("alice"),
        json!({"action": "approve", "comment": "fine by me"}),
    )
    .await;
    app.eventually("two deliveries", || async { hook.seen.lock().expect("seen").len() >= 2 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = hook.seen.lock().expect("seen").clone();
    let types: Vec<&str> = seen.iter().filter_map(|r| r.body["event_type"].as_str()).collect();
    assert_eq!(types, vec!["decision_submitted", "stage_completed"], "only the chosen types");
    assert_eq!(seen[0].body["payload"]["comment"], "fine by me");
    assert_eq!(seen[0].body["actor"], "sub-alice");
    app.stop().await;
}
