//! The timeline tells the whole story (the Registry's artifact timeline):
//! claims, decisions with their comment, and comments by anyone holding a
//! task, in `GET /requests/{id}/events` and on the event stream.

use futures_util::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

fn with_observer(key: &str) -> Value {
    let mut doc = two_stage_policy(key);
    doc["stages"][0]["rules"]
        .as_array_mut()
        .expect("rules")
        .push(json!({"rule_type": "user", "rule_value": {"user_id": "legal"}, "kind": "observer"}));
    doc
}

#[tokio::test]
async fn claims_decisions_and_comments_appear_in_the_timeline_and_on_the_event_stream() {
    let app = spawn_app().await;
    app.active_policy(with_observer("tl")).await;
    let mut stream = app.bus.client.subscribe(app.bus.event_filter(None, None)).await.expect("subscribed");
    let (_, created) = app.post("/requests", &service("registry"), new_request("tl", "cr-tl")).await;
    let rid = created["request_id"].as_str().expect("id").to_owned();

    // The observer comments without closing the task.
    let legal = app.open_task_of("legal").await;
    let legal_id = legal["id"].as_str().expect("id");
    let (status, comment) = app
        .post(&format!("/tasks/{legal_id}/comments"), &token_for("legal"), json!({"comment": "no legal objection"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{comment}");
    assert_eq!(
        (comment["task_id"].as_str(), comment["comment"].as_str()),
        (Some(legal_id), Some("no legal objection"))
    );
    assert!(app.open_task_of("legal").await.is_object(), "the observer's task stays open");

    let alice = app.open_task_of("alice").await;
    let alice_id = alice["id"].as_str().expect("id");
    let (status, _) = app.post(&format!("/tasks/{alice_id}/claim"), &token_for("alice"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(
            &format!("/tasks/{alice_id}/decision"),
            &token_for("alice"),
            json!({"action": "approve", "comment": "documents check out"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (_, events) = app.get(&format!("/requests/{rid}/events"), &service("registry")).await;
    assert_eq!(
        event_types(&events),
        vec![
            "request_created",
            "stage_started",
            "comment_added",
            "task_claimed",
            "decision_submitted",
            "stage_completed",
            "stage_started",
        ]
    );
    let list = events.as_array().expect("events");
    let decision = &list[4]["payload"];
    assert_eq!((&decision["action"], &decision["comment"]), (&json!("approve"), &json!("documents check out")));
    assert_eq!(list[2]["payload"]["comment"], "no legal objection");

    // The same steps went out on the event stream.
    let mut seen = Vec::new();
    while seen.len() < 7 {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("events on the stream")
            .expect("a message");
        let body: Value = serde_json::from_slice(&message.payload).expect("json");
        if body["request_id"] == rid.as_str() {
            seen.push(body["event_type"].as_str().expect("type").to_owned());
        }
    }
    assert!(seen.contains(&"task_claimed".to_owned()) && seen.contains(&"comment_added".to_owned()), "{seen:?}");
    app.stop().await;
}

#[tokio::test]
async fn only_someone_holding_a_task_comments_and_only_while_the_request_is_live() {
    let app = spawn_app().await;
    app.active_policy(with_observer("tl2")).await;
    let (_, created) = app.post("/requests", &service("registry"), new_request("tl2", "cr-tl2")).await;
    let rid = created["request_id"].as_str().expect("id").to_owned();
    let legal = app.open_task_of("legal").await;
    let path = format!("/tasks/{}/comments", legal["id"].as_str().expect("id"));
    let (status, body) = app.post(&path, &token_for("mallory"), json!({"comment": "hello"})).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::FORBIDDEN, Some("AWE-008")), "{body}");
    let (status, body) = app.post(&path, &token_for("legal"), json!({"comment": "  "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "comment"]));
    app.post(&format!("/requests/{rid}/cancel"), &service("registry"), json!({})).await;
    let (status, body) = app.post(&path, &token_for("legal"), json!({"comment": "too late"})).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::CONFLICT, Some("AWE-007")), "{body}");
    let (_, req) = app.get(&format!("/requests/{rid}"), &service("registry")).await;
    let stages: Vec<&str> =
        req["stages"].as_array().expect("stages").iter().filter_map(|s| s["status"].as_str()).collect();
    assert_eq!(stages, vec!["cancelled", "cancelled"], "every stage ends with its request");
    app.stop().await;
}
