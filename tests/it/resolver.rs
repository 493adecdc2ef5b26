//! Rules resolved by the resolver role: a caller's HTTP resolver.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use axum::routing::post;
use axum::{Json, Router};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

/// What the stand-in shares with its handler: the status to answer, the contexts it received.
type ResolverState = (Arc<AtomicU16>, Arc<Mutex<Vec<Value>>>);

/// A caller's resolver: answers `{"user_ids": ["carol", "dave"]}` with the status it is set to.
struct CallerResolver {
    url: String,
    status: Arc<AtomicU16>,
    contexts: Arc<Mutex<Vec<Value>>>,
}

async fn caller_resolver() -> CallerResolver {
    let status = Arc::new(AtomicU16::new(200));
    let contexts: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = Router::new()
        .route(
            "/resolve",
            post(|State((status, contexts)): State<ResolverState>, Json(body): Json<Value>| async move {
                contexts.lock().expect("contexts").push(body["context"].clone());
                let code = AxumStatus::from_u16(status.load(Ordering::SeqCst)).unwrap_or(AxumStatus::OK);
                (code, Json(json!({"user_ids": ["carol", "dave"]})))
            }),
        )
        .with_state((status.clone(), contexts.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/resolve", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    CallerResolver { url, status, contexts }
}

fn options() -> Options {
    Options { resolver: true, env: vec![("AWE__RESOLVER__RETRIES".into(), "1".into())], ..Options::default() }
}

async fn policy_with_http_rule(app: &TestApp, url: &str) {
    app.active_policy(json!({"policy_key": "http", "name": "http", "artifact_type": "registry.change_request", "stages": [
        {"name": "By the caller", "stage_order": 1, "mode": "any-n", "rules": [{"rule_type": "http", "rule_value": {"url": url}}]},
        {"name": "Director", "stage_order": 2, "rules": [{"rule_type": "user", "rule_value": {"user_id": "director-x"}}]}
    ]}))
    .await;
}

#[tokio::test]
async fn an_http_rule_is_resolved_by_the_resolver_role_with_the_frozen_context() {
    let app = spawn_with(options()).await;
    let resolver = caller_resolver().await;
    policy_with_http_rule(&app, &resolver.url).await;
    let (status, created) = app.post("/requests", &service("registry"), new_request("http", "cr-http")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // The answer waited for the resolver role: the 201 lists the stage's tasks.
    assert_eq!(created["status"], "in_review", "{created}");
    let mut assignees: Vec<&str> =
        created["tasks"].as_array().expect("tasks").iter().filter_map(|t| t["assignee"].as_str()).collect();
    assignees.sort_unstable();
    assert_eq!(assignees, vec!["carol", "dave"]);
    let rid = created["request_id"].as_str().expect("id").to_owned();
    assert!(app.open_task_of("carol").await.is_object());
    assert!(app.open_task_of("dave").await.is_object());
    assert_eq!(resolver.contexts.lock().expect("contexts")[0], json!({"district": "D1"}));
    let (_, req) = app.get(&format!("/requests/{rid}"), &service("registry")).await;
    assert_eq!(req["status"], "in_review");
    // The next stage (a user rule) resolves inline as before.
    let task = app.open_task_of("carol").await;
    app.post(
        &format!("/tasks/{}/decision", task["id"].as_str().expect("id")),
        &token_for("carol"),
        json!({"action": "approve"}),
    )
    .await;
    assert!(app.open_task_of("director-x").await.is_object());
    app.stop().await;
}

#[tokio::test]
async fn a_failing_http_resolver_leaves_the_stage_unstarted_until_an_operator_drives_it_again() {
    let app = spawn_with(options()).await;
    let resolver = caller_resolver().await;
    resolver.status.store(503, Ordering::SeqCst);
    policy_with_http_rule(&app, &resolver.url).await;
    let (status, created) = app.post("/requests", &service("registry"), new_request("http", "cr-down")).await;
    // Resolution failed within the resolver's retries: the 201 says so, without tasks.
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!((created["status"].as_str(), created["tasks"].as_array().map(Vec::len)), (Some("pending"), Some(0)));
    let rid = created["request_id"].as_str().expect("id").to_owned();
    let reason = app.resolution_failure(&rid).await;
    assert!(resolver.contexts.lock().expect("calls").len() >= 2, "a transient failure is retried");
    assert!(reason.contains("HTTP 503"), "{reason}");
    let (_, req) = app.get(&format!("/requests/{rid}"), &service("registry")).await;
    assert_eq!(req["status"], "pending");
    let shown = req["stages"][0]["reason"].as_str().unwrap_or_default();
    assert!(shown.contains("resolution failed") && shown.contains("HTTP 503"), "{req}");
    assert!(app.open_task_of("carol").await.is_null());

    // The caller's resolver is back; an operator drives the request again.
    resolver.status.store(200, Ordering::SeqCst);
    let (status, body) = app.post(&format!("/admin/requests/{rid}/resolve"), &service("registry"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app.post(&format!("/admin/requests/{rid}/resolve"), &admin(), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.eventually("carol's task after the re-drive", || async { app.open_task_of("carol").await.is_object() }).await;
    let (status, body) = app.post(&format!("/admin/requests/{rid}/resolve"), &admin(), json!({})).await;
    assert_eq!(
        (status, body["errors"][0]["errorCode"].as_str()),
        (StatusCode::CONFLICT, Some("AWE-007")),
        "nothing waits now"
    );
    app.stop().await;
}

#[tokio::test]
async fn simulate_asks_the_http_resolver_live() {
    let app = spawn_app().await;
    let resolver = caller_resolver().await;
    policy_with_http_rule(&app, &resolver.url).await;
    let (status, sim) =
        app.post("/policies/http/versions/1/simulate", &viewer(), json!({"context": {"district": "D9"}})).await;
    assert_eq!(status, StatusCode::OK, "{sim}");
    assert_eq!(sim["stages"][0]["approvers"], json!(["carol", "dave"]));
    assert_eq!(resolver.contexts.lock().expect("contexts")[0], json!({"district": "D9"}));
    app.stop().await;
}

#[tokio::test]
async fn a_request_create_published_on_nats_is_answered_once_its_first_stage_is_resolved() {
    let app = spawn_with(options()).await;
    let resolver = caller_resolver().await;
    policy_with_http_rule(&app, &resolver.url).await;
    let inbox = app.bus.client.new_inbox();
    let mut replies = app.bus.client.subscribe(inbox.clone()).await.expect("subscribed");
    let command_id = uuid::Uuid::now_v7();
    let envelope = json!({
        "v": 1, "id": command_id, "issued_at": chrono::Utc::now(), "reply_to": inbox,
        "actor": {"sub": "registry-module", "assignee_id": "registry-module"},
        "type": "request.create",
        "payload": {"request_id": uuid::Uuid::now_v7(), "request": new_request("http", "cr-nats")},
    });
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", command_id.to_string().as_str());
    app.bus
        .js
        .publish_with_headers(app.bus.command_subject("request.create"), headers, envelope.to_string().into())
        .await
        .expect("published")
        .await
        .expect("stored");
    let reply = tokio::time::timeout(std::time::Duration::from_secs(20), futures_util::StreamExt::next(&mut replies))
        .await
        .expect("an answer")
        .expect("a message");
    let outcome: Value = serde_json::from_slice(&reply.payload).expect("json");
    assert_eq!((outcome["result"].as_str(), outcome["status"].as_u64()), (Some("ok"), Some(201)), "{outcome}");
    assert_eq!(outcome["body"]["status"], "in_review", "{outcome}");
    assert_eq!(outcome["body"]["tasks"].as_array().map(Vec::len), Some(2), "{outcome}");
    // Exactly one answer on the reply subject.
    let more = tokio::time::timeout(std::time::Duration::from_millis(500), futures_util::StreamExt::next(&mut replies));
    assert!(more.await.is_err(), "a second answer");
    // The stored outcome is the final answer too.
    let (_, stored) = app.get(&format!("/commands/{command_id}"), &admin()).await;
    assert_eq!(stored["status"], "in_review", "{stored}");
    app.stop().await;
}
