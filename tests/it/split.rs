//! The roles as separate processes, as a cluster deploys them: one ingress,
//! two engines, a resolver, a webhook worker and an SLA scheduler, each its own
//! `awe run <role>` process against the same PostgreSQL and NATS.

use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_happy_path_runs_on_roles_deployed_as_separate_processes() {
    // The harness only provides the database and the streams; no role runs in-process.
    let app = spawn_with(Options { engine: false, ..Options::default() }).await;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("addr").port()
    };
    let role = |name: &str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_awe"))
            .args(["run", name])
            .env("DATABASE_URL", app.config.database.url.expose())
            .env("NATS_URL", &app.config.nats.url)
            .env("AWE__NATS__PREFIX", &app.config.nats.prefix)
            .env("AWE__HTTP__ADDR", format!("127.0.0.1:{port}"))
            .env("AWE__DATABASE__MAX_CONNECTIONS", "4")
            .env("AWE__LOG__LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("a role process")
    };
    let mut processes =
        vec![role("engine"), role("engine"), role("resolver"), role("webhook"), role("sla-scheduler"), role("ingress")];
    let base = format!("http://127.0.0.1:{port}/v1/awe");
    let http = reqwest::Client::new();
    app.eventually("the ingress process answers", || async {
        http.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    let call = |method: reqwest::Method, path: &str, token: String, body: serde_json::Value| {
        let req = http.request(method, format!("{base}{path}")).bearer_auth(token).json(&body);
        async move {
            let res = req.send().await.expect("sent");
            let status = res.status();
            (status, res.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let post = reqwest::Method::POST;
    assert_eq!(call(post.clone(), "/policies", admin(), two_stage_policy("split")).await.0, StatusCode::CREATED);
    assert_eq!(call(post.clone(), "/policies/split/versions/1/activate", admin(), json!({})).await.0, StatusCode::OK);
    // Enough requests that both engines take some.
    let mut requests = Vec::new();
    for i in 0..20 {
        let (status, created) =
            call(post.clone(), "/requests", service("registry"), new_request("split", &format!("cr-s{i}"))).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        requests.push(created);
    }
    for created in &requests {
        for user in ["alice", "director-x"] {
            let request_id = created["request_id"].as_str().expect("id");
            let (_, tasks) = call(
                reqwest::Method::GET,
                &format!("/tasks?request_id={request_id}&status=open"),
                token_for(user),
                json!(null),
            )
            .await;
            let task = tasks["items"][0]["id"].as_str().expect("an open task").to_owned();
            let (status, _) =
                call(post.clone(), &format!("/tasks/{task}/decision"), token_for(user), json!({"action": "approve"}))
                    .await;
            assert_eq!(status, StatusCode::CREATED);
        }
    }
    let approved: i64 = sqlx::query_scalar("SELECT count(*) FROM approval_request WHERE status = 'approved'")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(approved, 20);
    for p in &mut processes {
        let _ = p.kill().await;
    }
    app.stop().await;
}
