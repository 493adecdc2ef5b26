//! The two examples of spec 003, driven over HTTP exactly as a caller would.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_two_stage_happy_path_of_spec_003_ends_approved_with_an_ordered_timeline() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;

    // Registry posts the approval request: 201, in review, tasks for alice and bob.
    let (status, created) = app.post("/requests", &service("registry"), new_request("registry.cr.v1", "cr-42")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "in_review");
    assert_eq!(created["current_stage_order"], 1);
    let assignees: Vec<&str> =
        created["tasks"].as_array().expect("tasks").iter().map(|t| t["assignee"].as_str().expect("assignee")).collect();
    assert_eq!(assignees, vec!["alice", "bob"]);
    let request_id = created["request_id"].as_str().expect("id").to_owned();

    // Alice's inbox shows her task; she approves.
    let task = app.open_task_of("alice").await;
    assert_eq!(task["request_id"], request_id.as_str());
    assert_eq!(task["artifact_id"], "cr-42");
    let (status, decision) = app
        .post(
            &format!("/tasks/{}/decision", task["id"].as_str().expect("id")),
            &token_for("alice"),
            json!({"action": "approve", "comment": "looks right"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{decision}");
    assert_eq!(decision["action"], "approve");
    assert_eq!(decision["actor"], "sub-alice", "the decision's actor is the token's sub");

    // Bob's task was skipped; director-x has one.
    let (_, bobs) = app.get(&format!("/tasks?assignee=bob&request_id={request_id}"), &token_for("bob")).await;
    assert_eq!(bobs["items"][0]["status"], "skipped");
    let (_, request) = app.get(&format!("/requests/{request_id}"), &service("registry")).await;
    assert_eq!((request["status"].as_str(), request["current_stage_order"].as_i64()), (Some("in_review"), Some(2)));

    let dx = app.open_task_of("director-x").await;
    let (status, _) = app
        .post(
            &format!("/tasks/{}/decision", dx["id"].as_str().expect("id")),
            &token_for("director-x"),
            json!({"action": "approve"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (_, request) = app.get(&format!("/requests/{request_id}"), &service("registry")).await;
    assert_eq!(request["status"], "approved");
    assert!(request["completed_at"].is_string());
    assert_eq!(request["stages"][0]["reason"], "1 of 2 approved");

    let (status, events) = app.get(&format!("/requests/{request_id}/events"), &service("registry")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        event_types(&events),
        vec![
            "request_created",
            "stage_started",
            "decision_submitted",
            "stage_completed",
            "stage_started",
            "decision_submitted",
            "stage_completed",
            "request_approved"
        ]
    );
    let seqs: Vec<i64> = events.as_array().expect("events").iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(events[7]["payload"]["actor"], "sub-director-x", "the decider approved the request");
    assert_eq!(events[1]["payload"]["approvers"], json!(["alice", "bob"]));
    app.stop().await;
}

#[tokio::test]
async fn the_creating_service_cancels_a_request_and_its_open_tasks_are_skipped() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    let (_, created) = app.post("/requests", &service("registry"), new_request("registry.cr.v1", "cr-7")).await;
    let request_id = created["request_id"].as_str().expect("id").to_owned();

    // Another service may not cancel it.
    let (status, body) =
        app.post(&format!("/requests/{request_id}/cancel"), &service("pbms"), json!({"reason": "mine now"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["detail"].is_string());

    let (status, cancelled) =
        app.post(&format!("/requests/{request_id}/cancel"), &service("registry"), json!({"reason": "withdrawn"})).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["completed_at"].is_string());

    let (_, tasks) = app.get(&format!("/tasks?assignee=&request_id={request_id}"), &service("registry")).await;
    assert!(tasks["items"].as_array().expect("items").iter().all(|t| t["status"] == "skipped"), "{tasks}");
    let (_, events) = app.get(&format!("/requests/{request_id}/events"), &service("registry")).await;
    let last = events.as_array().expect("events").last().expect("an event").clone();
    assert_eq!(last["event_type"], "request_cancelled");
    assert_eq!(last["payload"]["reason"], "withdrawn");
    assert_eq!(last["payload"]["actor"], "registry");

    // Terminal is final.
    let (status, body) = app.post(&format!("/requests/{request_id}/cancel"), &admin(), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["errors"][0]["errorCode"], "AWE-007");

    // The cancellation is in the audit log.
    let (_, audit) = app.get(&format!("/admin/audit?action=request.cancel&resource_id={request_id}"), &viewer()).await;
    assert_eq!(audit.as_array().map(Vec::len), Some(1), "{audit}");
    assert_eq!(audit[0]["before"], json!({"status": "in_review"}));
    assert_eq!(audit[0]["metadata"]["reason"], "withdrawn");
    app.stop().await;
}

#[tokio::test]
async fn a_decision_by_someone_other_than_the_assignee_is_refused() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    app.post("/requests", &service("registry"), new_request("registry.cr.v1", "cr-1")).await;
    let task = app.open_task_of("alice").await;
    let (status, body) = app
        .post(
            &format!("/tasks/{}/decision", task["id"].as_str().expect("id")),
            &token_for("mallory"),
            json!({"action": "approve"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["errors"][0]["errorCode"], "AWE-008");
    let (status, body) =
        app.post(&format!("/tasks/{}/claim", task["id"].as_str().expect("id")), &token_for("mallory"), json!({})).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::FORBIDDEN, Some("AWE-008")));
    app.stop().await;
}

#[tokio::test]
async fn a_decision_on_a_closed_task_is_refused_and_records_nothing() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    app.post("/requests", &service("registry"), new_request("registry.cr.v1", "cr-2")).await;
    let alice = app.open_task_of("alice").await;
    let bob = app.open_task_of("bob").await;
    app.post(
        &format!("/tasks/{}/decision", alice["id"].as_str().expect("id")),
        &token_for("alice"),
        json!({"action": "approve"}),
    )
    .await;

    // Bob's task was skipped when the stage completed.
    let (status, body) = app
        .post(
            &format!("/tasks/{}/decision", bob["id"].as_str().expect("id")),
            &token_for("bob"),
            json!({"action": "reject"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["errors"][0]["errorCode"], "AWE-007");
    let decisions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM approval_decision").fetch_one(&app.pool).await.expect("count");
    assert_eq!(decisions, 1, "the refused decision left no row");
    app.stop().await;
}

#[tokio::test]
async fn claiming_an_open_task_marks_it_claimed_and_a_second_claim_conflicts() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    app.post("/requests", &service("registry"), new_request("registry.cr.v1", "cr-3")).await;
    let task = app.open_task_of("alice").await;
    let path = format!("/tasks/{}/claim", task["id"].as_str().expect("id"));
    let (status, claimed) = app.post(&path, &token_for("alice"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    assert_eq!(claimed["status"], "claimed");
    assert!(claimed["claimed_at"].is_string());
    let (status, body) = app.post(&path, &token_for("alice"), json!({})).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::CONFLICT, Some("AWE-007")));
    // A claimed task can still be decided.
    let (status, _) = app
        .post(
            &format!("/tasks/{}/decision", task["id"].as_str().expect("id")),
            &token_for("alice"),
            json!({"action": "abstain"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.stop().await;
}
