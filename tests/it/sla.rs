//! SLAs in seconds: expiry, every `on_breach`, and replicated schedulers.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

/// About 1.1 seconds.
const SLA: f64 = 0.0003;

fn options(schedulers: usize) -> Options {
    Options {
        sla_schedulers: schedulers,
        env: vec![("AWE__SLA__CHECK_INTERVAL_SECONDS".into(), "1".into())],
        ..Options::default()
    }
}

fn stage(on_breach: &str, mode: &str, users: &[&str]) -> Value {
    let rules: Vec<Value> = users.iter().map(|u| json!({"rule_type": "user", "rule_value": {"user_id": u}})).collect();
    json!({"name": "Review", "stage_order": 1, "mode": mode, "sla_hours": SLA, "on_breach": on_breach, "rules": rules})
}

async fn setup(app: &TestApp, stages: Value) -> String {
    app.active_policy(
        json!({"policy_key": "sla", "name": "sla", "artifact_type": "registry.change_request", "stages": stages}),
    )
    .await;
    let (status, created) = app.post("/requests", &service("registry"), new_request("sla", "cr-sla")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["request_id"].as_str().expect("id").to_owned()
}

async fn timeline(app: &TestApp, rid: &str) -> Vec<String> {
    event_types(&app.get(&format!("/requests/{rid}/events"), &service("registry")).await.1)
}

async fn wait_status(app: &TestApp, rid: &str, status: &str) {
    app.eventually(&format!("request {status}"), || async {
        app.get(&format!("/requests/{rid}"), &service("registry")).await.1["status"] == status
    })
    .await;
}

async fn expired_count(app: &TestApp, rid: &str) -> usize {
    timeline(app, rid).await.iter().filter(|e| *e == "task_expired").count()
}

#[tokio::test]
async fn with_notify_due_tasks_expire_the_request_stays_in_review_and_an_admin_revives_the_stalled_stage() {
    let app = spawn_with(options(1)).await;
    let mut s = stage("notify", "all", &["ann", "bob"]);
    s["rules"]
        .as_array_mut()
        .expect("rules")
        .push(json!({"rule_type": "user", "rule_value": {"user_id": "legal"}, "kind": "observer"}));
    let rid = setup(&app, json!([s])).await;
    app.eventually("both tasks expired", || async { expired_count(&app, &rid).await == 2 }).await;
    // Another tick or two: still nothing decided by the SLA monitor.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, req) = app.get(&format!("/requests/{rid}"), &service("registry")).await;
    assert_eq!(req["status"], "in_review", "notify takes no decision: {req}");
    let events = timeline(&app, &rid).await;
    assert!(!events.iter().any(|e| e == "request_expired" || e == "stage_completed"), "{events:?}");
    let stage = &req["stages"][0];
    assert_eq!((stage["status"].as_str(), stage["stalled"].as_bool()), (Some("active"), Some(true)), "{stage}");
    assert!(stage["stalled_reason"].as_str().is_some_and(|r| !r.is_empty()));
    let (_, tasks) = app.get(&format!("/tasks?assignee=&request_id={rid}"), &admin()).await;
    let of = |who: &str| {
        tasks["items"].as_array().expect("items").iter().find(|t| t["assignee"] == who).cloned().expect("task")
    };
    assert_eq!(of("legal")["status"], "open", "observers have no due time");
    assert_eq!(of("ann")["status"], "expired");

    // An admin revives both slots: fresh tasks with a due time from now, audited.
    for (from, to) in [("ann", "carol"), ("bob", "dave")] {
        let (status, task) = app
            .post(
                &format!("/tasks/{}/reassign", of(from)["id"].as_str().expect("id")),
                &admin(),
                json!({"new_assignee": to}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{task}");
        assert_eq!((task["status"].as_str(), task["reassigned_from"].as_str()), (Some("open"), Some(from)));
    }
    let (_, audit) = app.get("/admin/audit?action=task.reassign", &admin()).await;
    assert_eq!(audit.as_array().map(Vec::len), Some(2), "{audit}");
    let (_, req) = app.get(&format!("/requests/{rid}"), &service("registry")).await;
    assert_eq!(req["stages"][0]["stalled"], false, "{req}");
    app.stop().await;
}

#[tokio::test]
async fn escalation_adds_tasks_for_the_escalation_rules_and_the_stage_goes_on() {
    let app = spawn_with(options(1)).await;
    let mut s = stage("escalate", "any-n", &["ann"]);
    s["escalation_rules"] = json!([{"rule_type": "user", "rule_value": {"user_id": "boss"}}]);
    s["sla_hours"] = json!(SLA);
    let rid = setup(&app, json!([s])).await;
    app.eventually("boss has a task", || async { app.open_task_of("boss").await.is_object() }).await;
    let events = timeline(&app, &rid).await;
    assert!(events.contains(&"stage_escalated".to_owned()), "{events:?}");
    let task = app.open_task_of("boss").await;
    let (status, _) = app
        .post(
            &format!("/tasks/{}/decision", task["id"].as_str().expect("id")),
            &token_for("boss"),
            json!({"action": "approve"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    wait_status(&app, &rid, "approved").await;
    app.stop().await;
}

#[tokio::test]
async fn auto_approve_decides_the_stage_even_when_every_task_expired_together() {
    let app = spawn_with(options(1)).await;
    let second = json!({"name": "Director", "stage_order": 2, "rules": [{"rule_type": "user", "rule_value": {"user_id": "director-x"}}]});
    let rid = setup(&app, json!([stage("auto_approve", "all", &["ann", "bob"]), second])).await;
    app.eventually("the director's task", || async { app.open_task_of("director-x").await.is_object() }).await;
    let decisions: Vec<(String, String)> = sqlx::query_as("SELECT actor, action FROM approval_decision ORDER BY actor")
        .fetch_all(&app.pool)
        .await
        .expect("rows");
    assert_eq!(decisions, vec![("sla-monitor".into(), "approve".into()), ("sla-monitor".into(), "approve".into())]);
    let events = timeline(&app, &rid).await;
    assert_eq!(events.iter().filter(|e| *e == "task_expired").count(), 2);
    assert_eq!(events.iter().filter(|e| *e == "stage_completed").count(), 1, "decided once: {events:?}");
    app.stop().await;
}

#[tokio::test]
async fn auto_reject_ends_the_request() {
    let app = spawn_with(options(1)).await;
    let rid = setup(&app, json!([stage("auto_reject", "any-n", &["ann", "bob"])])).await;
    wait_status(&app, &rid, "rejected").await;
    let events = timeline(&app, &rid).await;
    assert_eq!(events.last().map(String::as_str), Some("request_rejected"));
    app.stop().await;
}

#[tokio::test]
async fn two_scheduler_replicas_expire_each_task_once() {
    let app = spawn_with(options(2)).await;
    let mut s = stage("notify", "any-n", &["ann", "bob"]);
    s["mode_value"] = json!(1);
    let rid = setup(&app, json!([s])).await;
    app.eventually("both tasks expired", || async { expired_count(&app, &rid).await == 2 }).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let expired: i64 = sqlx::query_scalar("SELECT count(*) FROM approval_event WHERE event_type = 'task_expired'")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(expired, 2);
    let ticks: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_command WHERE command_type = 'sla.tick'")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    // Both replicas published every interval's tick; JetStream kept one of each.
    let stream = app.bus.js.get_stream(app.bus.commands_stream()).await.expect("stream");
    let subject = app.bus.command_subject("sla.tick");
    let mut subjects = stream.info_with_subjects(&subject).await.expect("info");
    let mut published = 0;
    while let Some(Ok((_, n))) = futures_util::StreamExt::next(&mut subjects).await {
        published += n as i64;
    }
    assert!(ticks >= 2, "the schedulers ticked: {ticks}");
    assert!(
        published <= ticks + 1,
        "one tick per interval, not one per replica: {published} published, {ticks} applied"
    );
    app.stop().await;
}
