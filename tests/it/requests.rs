//! Request creation: idempotency, the bounded wait, search.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

async fn request_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM approval_request").fetch_one(&app.pool).await.expect("count")
}

#[tokio::test]
async fn the_same_idempotency_key_twice_replays_the_first_response_and_makes_one_request() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    let body = new_request("registry.cr.v1", "cr-9");
    let (s1, first) = create_with_key(&app, "registry", "cr-9:attempt", body.clone()).await;
    let (s2, second) = create_with_key(&app, "registry", "cr-9:attempt", body).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first, second);
    assert_eq!(request_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_key_past_its_retention_is_retired_and_a_retry_with_it_creates_a_new_request() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    let body = new_request("registry.cr.v1", "cr-old");
    let (_, first) = create_with_key(&app, "registry", "cr-old:1", body.clone()).await;
    let (_, young) = create_with_key(&app, "registry", "cr-young:1", new_request("registry.cr.v1", "cr-young")).await;
    // The first key is three days old; the retention is two days.
    sqlx::query("UPDATE idempotency_key SET created_at = now() - interval '3 days' WHERE key = 'cr-old:1'")
        .execute(&app.pool)
        .await
        .expect("aged");
    let removed = awe::roles::sla_scheduler::retire_once(&app.pool, std::time::Duration::from_secs(48 * 3600))
        .await
        .expect("retired");
    assert_eq!(removed, 1, "only the key past the retention goes");
    let (status, again) = create_with_key(&app, "registry", "cr-old:1", body).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_ne!(again["request_id"], first["request_id"], "the retired key no longer replays: a new request");
    let (_, replayed) =
        create_with_key(&app, "registry", "cr-young:1", new_request("registry.cr.v1", "cr-young")).await;
    assert_eq!(replayed["request_id"], young["request_id"], "a key within the retention still replays");
    assert_eq!(request_count(&app).await, 3);
    app.stop().await;
}

#[tokio::test]
async fn a_refused_creation_is_not_remembered_and_a_retry_after_the_fix_creates_the_request() {
    let app = spawn_app().await;
    let body = new_request("registry.cr.v1", "cr-late");
    let (status, refused) = create_with_key(&app, "registry", "cr-late:1", body.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
    assert_eq!(refused["errors"][0]["errorCode"], "AWE-001");
    let (again, _) = create_with_key(&app, "registry", "cr-late:1", body.clone()).await;
    assert_eq!(again, StatusCode::NOT_FOUND, "the cause is still there");
    // The policy author fixes the cause; the caller retries with the same key and body.
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    let (status, created) = create_with_key(&app, "registry", "cr-late:1", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, replayed) = create_with_key(&app, "registry", "cr-late:1", body).await;
    assert_eq!((status, &replayed), (StatusCode::CREATED, &created), "a success replays");
    assert_eq!(request_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_creates_with_one_idempotency_key_make_one_request() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    let body = new_request("registry.cr.v1", "cr-10");
    let calls = (0..12).map(|_| create_with_key(&app, "registry", "same-key", body.clone()));
    let results = futures_util::future::join_all(calls).await;
    let ids: std::collections::HashSet<String> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::CREATED, "{body}");
            body["request_id"].as_str().expect("id").to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(request_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_refused() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    create_with_key(&app, "registry", "k-1", new_request("registry.cr.v1", "cr-11")).await;
    let (status, body) = create_with_key(&app, "registry", "k-1", new_request("registry.cr.v1", "cr-12")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["errors"][0]["errorCode"], "AWE-009");
    assert_eq!(request_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_calling_client() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    let body = new_request("registry.cr.v1", "cr-13");
    let (_, a) = create_with_key(&app, "registry", "shared", body.clone()).await;
    let (_, b) = create_with_key(&app, "pbms", "shared", body).await;
    assert_ne!(a["request_id"], b["request_id"]);
    assert_eq!(request_count(&app).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn without_an_engine_in_time_a_create_answers_202_and_completes_later() {
    let mut app = spawn_with(Options { engine: false, reply_timeout_ms: 200, ..Options::default() }).await;
    let res = app
        .http
        .post(app.url("/requests"))
        .bearer_auth(service("registry"))
        .json(&new_request("registry.cr.v1", "cr-14"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let location = res.headers().get("location").and_then(|l| l.to_str().ok()).expect("Location").to_owned();
    let body: Value = res.json().await.expect("json");
    let id = body["request_id"].as_str().expect("request id").to_owned();
    assert_eq!(location, format!("/v1/awe/requests/{id}"));

    // The engine comes up; the command was kept: no active policy → refused, recorded.
    app.start_engine();
    app.eventually("the queued command is applied", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM processed_command").fetch_one(&app.pool).await.unwrap_or(0)
            == 1
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_caller_service_searches_its_own_requests_by_artifact() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    app.post("/requests", &service("registry"), new_request("registry.cr.v1", "cr-20")).await;
    app.post("/requests", &service("registry"), new_request("registry.cr.v1", "cr-21")).await;
    app.post("/requests", &service("pbms"), new_request("registry.cr.v1", "cr-20")).await;
    let (status, found) =
        app.get("/requests?artifact_type=registry.change_request&artifact_id=cr-20", &service("registry")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    let (_, all) = app.get("/requests?artifact_id=cr-20", &viewer()).await;
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    let (_, in_review) = app.get("/requests?status=in_review&limit=1", &viewer()).await;
    assert_eq!(in_review.as_array().map(Vec::len), Some(1));
    app.stop().await;
}

#[tokio::test]
async fn the_events_of_an_unknown_request_are_an_empty_list_and_the_request_a_404() {
    let app = spawn_app().await;
    let id = uuid::Uuid::new_v4();
    let (status, events) = app.get(&format!("/requests/{id}/events"), &service("registry")).await;
    assert_eq!((status, events), (StatusCode::OK, json!([])));
    let (status, body) = app.get(&format!("/requests/{id}"), &service("registry")).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::NOT_FOUND, Some("AWE-003")));
    app.stop().await;
}

#[tokio::test]
async fn the_inbox_pages_newest_first() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    for i in 0..5 {
        app.post("/requests", &service("registry"), new_request("registry.cr.v1", &format!("cr-p{i}"))).await;
    }
    let (status, page) = app.get("/tasks?page=2&page_size=2", &token_for("alice")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((page["total"].as_i64(), page["pages"].as_i64(), page["page"].as_i64()), (Some(5), Some(3), Some(2)));
    assert_eq!(page["items"][0]["artifact_id"], "cr-p2");
    let (_, found) = app.get("/tasks?search_text=cr-p4", &token_for("alice")).await;
    assert_eq!(found["total"], 1);
    let (_, none) = app.get("/tasks?search_text=%25", &token_for("alice")).await;
    assert_eq!(none["total"], 0, "a literal % matches nothing");
    app.stop().await;
}
