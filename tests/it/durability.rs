//! No lost transition, no double effect: crashes, redeliveries, replays,
//! and commands from programs other than the ingress.

use std::process::Stdio;
use std::time::Duration;

use async_nats::HeaderMap;
use awe::contract::command::{Command, Envelope, Outcome};
use awe::domain::{Actor, DecisionAction};
use awe::roles::engine::Handled;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::*;

fn user(name: &str) -> Actor {
    Actor { sub: format!("sub-{name}"), assignee_id: name.into(), name: None, email: None, roles: vec![] }
}

/// Starts `awe run engine` as a separate process on the test's database and
/// bus, with `grace` seconds to finish in-flight work after SIGTERM.
fn engine_process(app: &TestApp, grace: u64) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_awe"))
        .args(["run", "engine"])
        .env("DATABASE_URL", app.config.database.url.expose())
        .env("NATS_URL", &app.config.nats.url)
        .env("AWE__NATS__PREFIX", &app.config.nats.prefix)
        .env("AWE__NATS__ACK_WAIT_SECONDS", "2")
        .env("AWE__SHUTDOWN__GRACE_SECONDS", grace.to_string())
        .env("AWE__LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("engine process")
}

/// An engine process stopped inside the transaction of alice's decision: the
/// test holds the request's row lock. Returns the lock, the process and the
/// decision call's status.
async fn engine_blocked_inside_a_decision(
    app: &mut TestApp,
    artifact: &str,
    grace: u64,
) -> (sqlx::Transaction<'static, sqlx::Postgres>, tokio::process::Child, StatusCode) {
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    let (_, created) = app.post("/requests", &service("registry"), new_request("registry.cr.v1", artifact)).await;
    let request_id: Uuid = created["request_id"].as_str().expect("id").parse().expect("uuid");
    let task = app.open_task_of("alice").await;
    app.stop_engine().await;
    let mut blocker = app.pool.begin().await.expect("tx");
    sqlx::query("SELECT 1 FROM approval_request WHERE id = $1 FOR UPDATE")
        .bind(request_id)
        .execute(&mut *blocker)
        .await
        .expect("lock");
    let engine = engine_process(app, grace);
    let path = format!("/tasks/{}/decision", task["id"].as_str().expect("id"));
    let (status, _) = app.post(&path, &token_for("alice"), json!({"action": "approve"})).await;
    app.eventually("the engine process waits on the row lock", || async {
        count(app, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'awe' AND wait_event_type = 'Lock'")
            .await
            > 0
    })
    .await;
    (blocker, engine, status)
}

#[tokio::test]
async fn an_engine_killed_between_publication_and_commit_loses_nothing_and_applies_nothing_twice() {
    let mut app = spawn_with(Options { reply_timeout_ms: 300, ack_wait_seconds: 2, ..Options::default() }).await;
    let (blocker, mut engine, status) = engine_blocked_inside_a_decision(&mut app, "cr-k", 20).await;
    assert_eq!(status, StatusCode::ACCEPTED, "the engine cannot commit while the row is locked");

    // Crash it mid-transaction, then let the row go.
    engine.kill().await.expect("kill -9");
    blocker.rollback().await.expect("release");
    assert_eq!(count(&app, "SELECT count(*) FROM approval_decision").await, 0, "nothing was committed");

    // A restarted engine gets the unacknowledged command again.
    let mut engine = engine_process(&app, 20);
    app.eventually("the redelivered decision is applied", || async {
        count(&app, "SELECT count(*) FROM approval_decision").await == 1
    })
    .await;
    app.eventually("director-x's task exists", || async {
        count(&app, "SELECT count(*) FROM approval_task WHERE assignee = 'director-x'").await == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await; // past another ack wait: no second application
    assert_eq!(count(&app, "SELECT count(*) FROM approval_decision").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM approval_event WHERE event_type = 'stage_completed'").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM approval_task WHERE assignee = 'director-x'").await, 1);
    engine.kill().await.expect("stop");
    app.stop().await;
}

#[tokio::test]
async fn the_same_command_published_twice_and_a_replay_of_the_stream_have_one_effect() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    app.post("/requests", &service("registry"), new_request("registry.cr.v1", "cr-r")).await;
    let task = app.open_task_of("alice").await;
    let envelope = Envelope {
        v: 1,
        id: Uuid::now_v7(),
        issued_at: chrono::Utc::now(),
        actor: user("alice"),
        reply_to: None,
        command: Command::TaskDecide {
            task_id: task["id"].as_str().expect("id").parse().expect("uuid"),
            decision_id: Uuid::new_v4(),
            action: DecisionAction::Approve,
            comment: None,
            attachments_ref: None,
        },
    };
    // Twice, without the de-duplication header: both land on the stream.
    let body = serde_json::to_vec(&envelope).expect("json");
    for _ in 0..2 {
        app.bus
            .js
            .publish(app.bus.command_subject("task.decide"), body.clone().into())
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    app.eventually("the decision is applied", || async {
        count(&app, "SELECT count(*) FROM processed_command WHERE command_type = 'task.decide'").await == 1
    })
    .await;
    let events_before = count(&app, "SELECT count(*) FROM approval_event").await;

    // Replay the whole command stream through a fresh engine step by step.
    let engine = app.engine();
    let stream = app.bus.js.get_stream(app.bus.commands_stream()).await.expect("stream");
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig { ..Default::default() })
        .await
        .expect("ordered consumer");
    let total = stream.get_info().await.expect("info").state.messages;
    let mut messages = consumer.messages().await.expect("messages");
    let mut replayed = 0;
    while replayed < total {
        let message = tokio::time::timeout(Duration::from_secs(5), messages.next())
            .await
            .expect("message in time")
            .expect("some")
            .expect("ok");
        assert!(matches!(engine.handle(&message.payload, 1).await, Handled::Done(_)));
        replayed += 1;
    }
    assert!(total >= 5, "create policy, activate, create request, and the decision twice");
    assert_eq!(count(&app, "SELECT count(*) FROM approval_decision").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM approval_request").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM approval_event").await, events_before);
    app.stop().await;
}

#[tokio::test]
async fn a_command_published_on_nats_by_another_program_works_like_the_rest_call() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    let (_, created) = app.post("/requests", &service("registry"), new_request("registry.cr.v1", "cr-n")).await;
    let request_id: Uuid = created["request_id"].as_str().expect("id").parse().expect("uuid");

    let id = Uuid::now_v7();
    let mut replies = app.bus.client.subscribe(app.bus.reply_subject(id)).await.expect("subscribe");
    let raw = json!({
        "v": 1, "id": id, "issued_at": "2026-04-23T10:14:22Z",
        "actor": {"sub": "registry", "assignee_id": "registry"},
        "type": "request.cancel", "payload": {"request_id": request_id, "reason": "withdrawn upstream"}
    });
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", id.to_string().as_str());
    app.bus
        .js
        .publish_with_headers(
            app.bus.command_subject("request.cancel"),
            headers,
            serde_json::to_vec(&raw).expect("json").into(),
        )
        .await
        .expect("publish")
        .await
        .expect("ack");
    let reply =
        tokio::time::timeout(Duration::from_secs(10), replies.next()).await.expect("reply in time").expect("reply");
    let outcome: Outcome = serde_json::from_slice(&reply.payload).expect("outcome");
    let Outcome::Ok { status, body } = outcome else { panic!("refused: {outcome:?}") };
    assert_eq!((status, body["status"].as_str()), (200, Some("cancelled")));

    // A malformed command is refused and its refusal recorded, not retried forever.
    let bad = Uuid::now_v7();
    let mut replies = app.bus.client.subscribe(app.bus.reply_subject(bad)).await.expect("subscribe");
    let raw = json!({"v": 1, "id": bad, "issued_at": "2026-04-23T10:14:22Z", "actor": {"sub": "x", "assignee_id": "x"},
                     "type": "request.cancel", "payload": {"request_id": "not-a-uuid"}});
    app.bus
        .js
        .publish(app.bus.command_subject("request.cancel"), serde_json::to_vec(&raw).expect("json").into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    let reply =
        tokio::time::timeout(Duration::from_secs(10), replies.next()).await.expect("reply in time").expect("reply");
    let outcome: Outcome = serde_json::from_slice(&reply.payload).expect("outcome");
    assert!(matches!(outcome, Outcome::Error { status: 422, .. }), "{outcome:?}");
    app.stop().await;
}

#[tokio::test]
async fn committed_events_reach_the_event_stream_once_each_and_the_relay_publishes_leftovers() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    let (_, created) = app.post("/requests", &service("registry"), new_request("registry.cr.v1", "cr-e")).await;
    let request_id = created["request_id"].as_str().expect("id").to_owned();
    app.eventually("events marked published", || async { count(&app, "SELECT count(*) FROM event_outbox").await == 0 })
        .await;

    // Pretend a crash lost the publication: the relay publishes again, JetStream drops the duplicates.
    sqlx::query("INSERT INTO event_outbox SELECT id, created_at FROM approval_event")
        .execute(&app.pool)
        .await
        .expect("reset");
    let n = awe::roles::engine::relay::relay_once(&app.pool, &app.bus, Duration::ZERO).await.expect("relay");
    assert_eq!(n, 2);
    let stream = app.bus.js.get_stream(app.bus.events_stream()).await.expect("stream");
    let mut info = stream.clone();
    assert_eq!(info.info().await.expect("info").state.messages, 2, "request_created and stage_started, once each");
    let message = stream
        .get_last_raw_message_by_subject(&app.bus.event_subject("stage_started", request_id.parse().expect("uuid")))
        .await
        .expect("event");
    let body: serde_json::Value = serde_json::from_slice(&message.payload).expect("json");
    assert_eq!(body["event_type"], "stage_started");
    assert_eq!(body["request_id"], request_id.as_str());
    assert_eq!(body["seq"], 2);
    app.stop().await;
}

#[tokio::test]
async fn sigterm_lets_the_engine_finish_its_in_flight_command_before_it_exits() {
    let mut app = spawn_with(Options { reply_timeout_ms: 300, ..Options::default() }).await;
    let (blocker, mut engine, _) = engine_blocked_inside_a_decision(&mut app, "cr-term", 20).await;

    let pid = engine.id().expect("pid").to_string();
    let sent = tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill");
    assert!(sent.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(engine.try_wait().expect("status").is_none(), "the engine waits for its in-flight command");
    blocker.rollback().await.expect("release");
    let status =
        tokio::time::timeout(Duration::from_secs(10), engine.wait()).await.expect("exits in time").expect("status");
    assert!(status.success(), "{status}");
    assert_eq!(count(&app, "SELECT count(*) FROM approval_decision").await, 1, "the command was finished, not dropped");
    assert_eq!(count(&app, "SELECT count(*) FROM processed_command WHERE command_type = 'task.decide'").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn sigterm_hands_back_work_still_running_when_the_grace_period_ends() {
    let mut app = spawn_with(Options { reply_timeout_ms: 300, ack_wait_seconds: 2, ..Options::default() }).await;
    let (blocker, mut engine, _) = engine_blocked_inside_a_decision(&mut app, "cr-grace", 1).await;

    let pid = engine.id().expect("pid").to_string();
    let started = std::time::Instant::now();
    let sent = tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill");
    assert!(sent.success());
    // The decision is still blocked: the process leaves at the end of its grace.
    let status =
        tokio::time::timeout(Duration::from_secs(10), engine.wait()).await.expect("exits in time").expect("status");
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(5), "left after {:?}, with a 1 s grace", started.elapsed());
    blocker.rollback().await.expect("release");
    assert_eq!(count(&app, "SELECT count(*) FROM approval_decision").await, 0, "nothing half-applied");

    // Unacknowledged, the command comes back to the next engine, once.
    app.start_engine();
    app.eventually("the handed-back decision is applied", || async {
        count(&app, "SELECT count(*) FROM approval_decision").await == 1
    })
    .await;
    assert_eq!(count(&app, "SELECT count(*) FROM processed_command WHERE command_type = 'task.decide'").await, 1);
    app.stop().await;
}
