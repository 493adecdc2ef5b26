//! Bad input gets a clear 4xx in the contract's shape; nothing answers 500.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

async fn raw_post(app: &TestApp, path: &str, token: Option<&str>, body: &'static str) -> (StatusCode, Value) {
    let mut req = app.http.post(app.url(path)).header("content-type", "application/json").body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("sent");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn malformed_json_wrong_types_and_missing_fields_are_422_with_a_location() {
    let app = spawn_app().await;
    let t = service("registry");
    let (status, body) = raw_post(&app, "/requests", Some(&t), "{not json").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "json_invalid");

    let (status, body) =
        raw_post(&app, "/requests", Some(&t), r#"{"policy_key": 5, "artifact_type": "a", "artifact_id": "b"}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "policy_key"]));

    let (status, body) = raw_post(&app, "/requests", Some(&t), r#"{"policy_key": "k", "artifact_type": "a"}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "artifact_id"]));
    assert_eq!(body["detail"][0]["type"], "missing");

    let (status, body) = raw_post(
        &app,
        "/requests",
        Some(&t),
        r#"{"policy_key": "k", "artifact_type": "a", "artifact_id": "b", "context": [1]}"#,
    )
    .await;
    assert_eq!(
        (status, body["detail"][0]["loc"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "context"]))
    );

    let long = "x".repeat(300);
    let (status, _) =
        app.post("/requests", &t, json!({"policy_key": "k", "artifact_type": "a", "artifact_id": long})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, body) = app.post("/tasks/not-a-uuid/decision", &t, json!({"action": "approve"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) =
        app.post(&format!("/tasks/{}/decision", uuid::Uuid::new_v4()), &t, json!({"action": "maybe"})).await;
    assert_eq!(
        (status, body["detail"][0]["loc"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "action"]))
    );
    let (status, body) = app.get("/tasks?page_size=500", &t).await;
    assert_eq!(
        (status, body["detail"][0]["loc"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(["query", "page_size"]))
    );
    let (status, _) = app.get("/tasks?page=abc", &t).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = spawn_app().await;
    let big = "x".repeat(2 * 1024 * 1024);
    let res = app
        .http
        .post(app.url("/requests"))
        .bearer_auth(service("registry"))
        .header("content-type", "application/json")
        .body(format!(r#"{{"policy_key":"{big}"}}"#))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
}

#[tokio::test]
async fn headers_over_the_configured_size_are_431_and_a_normal_call_is_not() {
    let app =
        spawn_with(Options { env: vec![("AWE__HTTP__MAX_HEADER_BYTES".into(), "4096".into())], ..Options::default() })
            .await;
    let (status, _) = app.get("/requests?artifact_type=x&artifact_id=y", &admin()).await;
    assert_eq!(status, StatusCode::OK);
    let res = app
        .http
        .get(app.url("/requests"))
        .bearer_auth(admin())
        .header("x-padding", "p".repeat(5000))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["errors"][0]["errorCode"], "AWE-431", "{body}");
    let long_query = format!("/requests?artifact_type={}", "t".repeat(5000));
    assert_eq!(app.get(&long_query, &admin()).await.0, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    app.stop().await;
}

#[tokio::test]
async fn a_missing_or_broken_token_is_401_in_the_detail_shape() {
    let app = spawn_app().await;
    let (status, body) = raw_post(&app, "/requests", None, "{}").await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"detail": "Missing bearer token"})));
    let (status, body) = raw_post(&app, "/requests", Some("abc.def"), "{}").await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid bearer token"})));
    let (status, _) = app.get("/nope", &service("x")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn health_version_config_and_openapi_answer_without_a_token() {
    let app = spawn_app().await;
    for path in ["/health", "/version", "/config", "/openapi.json"] {
        let res = app.http.get(app.url(path)).send().await.expect("sent");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let body: Value = res.json().await.expect("json");
        if path == "/health" {
            assert_eq!(body["response"]["status"], "UP");
        }
        if path == "/config" {
            assert_eq!(body["response"]["webhook"]["backoff_seconds"], json!([60, 300, 900, 3600, 21600]));
            assert_eq!(body["response"]["effective"]["nats"]["prefix"], app.config.nats.prefix.as_str());
            assert_eq!(body["response"]["effective"]["keycloak"]["admin_client_secret"], "", "secrets are masked");
        }
        if path == "/openapi.json" {
            assert!(body["openapi"].as_str().expect("version").starts_with("3.1"));
            assert!(body["paths"]["/v1/awe/requests"].is_object());
        }
    }
    let res = app.http.get(app.url("/docs/")).send().await.expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.expect("html").contains("swagger"));
    // ReDoc, offline: the page loads its bundle from the service itself.
    let res = app.http.get(app.url("/redoc")).send().await.expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.expect("html");
    assert!(page.contains("spec-url=\"/v1/awe/openapi.json\"") && !page.contains("cdn."), "{page}");
    let res = app.http.get(app.url("/redoc/redoc.standalone.js")).send().await.expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().expect("type").starts_with("text/javascript"));
    assert!(res.bytes().await.expect("bundle").len() > 100_000);
    app.stop().await;
}

#[tokio::test]
async fn a_client_over_its_rate_limit_gets_429_with_retry_after() {
    let app = spawn_with(Options {
        env: vec![
            ("AWE__HTTP__RATE_LIMIT_PER_SECOND".into(), "0.5".into()),
            ("AWE__HTTP__RATE_LIMIT_BURST".into(), "2".into()),
        ],
        ..Options::default()
    })
    .await;
    let get = |token: String| {
        let app = &app;
        async move { app.http.get(app.url("/requests")).bearer_auth(token).send().await.expect("sent") }
    };
    assert_eq!(get(service("registry")).await.status(), StatusCode::OK);
    assert_eq!(get(service("registry")).await.status(), StatusCode::OK);
    let limited = get(service("registry")).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "2");
    assert_eq!(get(service("pbms")).await.status(), StatusCode::OK, "another client has its own budget");
    app.stop().await;
}

#[tokio::test]
async fn nul_characters_anywhere_are_refused_with_422_not_a_database_error() {
    let app = spawn_app().await;
    let t = admin();
    let (status, body) = app.get("/delegations?user_id=a%00b", &t).await;
    assert_eq!(
        (status, body["detail"][0]["loc"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(["query", "user_id"]))
    );
    let (status, _) = app.get("/admin/callback-secrets?caller_service=%00", &t).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = app
        .post(
            "/requests",
            &t,
            json!({"policy_key": "k", "artifact_type": "a", "artifact_id": "b", "context": {"note": "x\u{0}y"}}),
        )
        .await;
    assert_eq!(
        (status, body["detail"][0]["loc"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "context", "note"]))
    );
    let (status, _) = app.get("/policies/a%00b/versions", &t).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}
