//! Races: many callers at once on one request, one task.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn a_hundred_concurrent_decisions_on_one_any_n_stage_give_exactly_the_quorum() {
    let app = spawn_app().await;
    let users: Vec<String> = (0..100).map(|i| format!("u{i:03}")).collect();
    let rules: Vec<Value> = users.iter().map(|u| json!({"rule_type": "user", "rule_value": {"user_id": u}})).collect();
    app.active_policy(
        json!({"policy_key": "race", "name": "race", "artifact_type": "registry.change_request", "stages": [
        {"name": "Fifty of a hundred", "stage_order": 1, "mode": "any-n", "mode_value": 50, "rules": rules}]}),
    )
    .await;
    let (_, created) = app.post("/requests", &service("registry"), new_request("race", "cr-race")).await;
    let rid = created["request_id"].as_str().expect("id").to_owned();
    let tasks: Vec<(String, String)> = created["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| (t["id"].as_str().expect("id").to_owned(), t["assignee"].as_str().expect("a").to_owned()))
        .collect();
    assert_eq!(tasks.len(), 100);
    let calls =
        tasks.iter().map(|(task, user)| {
            let app = &app;
            async move {
                app.post(&format!("/tasks/{task}/decision"), &token_for(user), json!({"action": "approve"})).await.0
            }
        });
    let statuses = futures_util::future::join_all(calls).await;
    let accepted = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((accepted, refused), (50, 50), "{statuses:?}");
    let (_, request) = app.get(&format!("/requests/{rid}"), &service("registry")).await;
    assert_eq!(request["status"], "approved");
    assert_eq!(request["stages"][0]["reason"], "50 of 100 approved");
    let completed: i64 = sqlx::query_scalar("SELECT count(*) FROM approval_event WHERE event_type = 'stage_completed'")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(completed, 1);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_claims_of_one_task_have_one_winner() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    app.post("/requests", &service("registry"), new_request("registry.cr.v1", "cr-claim")).await;
    let task = app.open_task_of("alice").await;
    let path = format!("/tasks/{}/claim", task["id"].as_str().expect("id"));
    let calls = (0..10).map(|_| {
        let (app, path) = (&app, path.clone());
        async move { app.post(&path, &token_for("alice"), json!({})).await.0 }
    });
    let statuses = futures_util::future::join_all(calls).await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 9, "{statuses:?}");
    app.stop().await;
}
