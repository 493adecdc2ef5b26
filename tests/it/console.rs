//! What the operator console stands on: its own address segment, the
//! overview, and the added filters and paging of the lists it shows.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn the_console_lives_under_its_own_segment_and_no_page_of_it_shadows_an_api_path() {
    let app = spawn_app().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let front = http.get(app.url("/admin")).send().await.expect("front door");
    assert_eq!(front.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(front.headers()["location"], "/v1/awe/admin/-/");

    // A deep link of the app is the app's page (or, unbuilt, the page saying how to build it).
    let page = http.get(app.url("/admin/-/requests/0192a1b2")).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers()["cache-control"], "no-cache");
    let csp = page.headers()["content-security-policy"].to_str().expect("csp").to_owned();
    assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let missing = http.get(app.url("/admin/-/assets/index-missing.js")).send().await.expect("asset");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND, "a missing asset is never the page");

    // A built console's script goes out gzipped to a browser that takes gzip, plain to one that does not.
    let html = page.text().await.expect("html");
    if let Some(at) = html.find("/v1/awe/admin/-/assets/") {
        let script = &html[at..at + html[at..].find('"').expect("end of src")];
        let gz = http
            .get(format!("http://{}{script}", app.addr))
            .header("accept-encoding", "gzip, br")
            .send()
            .await
            .expect("gz");
        assert_eq!(
            (gz.status(), gz.headers().get("content-encoding").map(|v| v.to_str().unwrap_or(""))),
            (StatusCode::OK, Some("gzip"))
        );
        assert_eq!(gz.headers()["vary"], "accept-encoding");
        assert_eq!(gz.headers()["cache-control"], "public, max-age=31536000, immutable");
        let zipped = gz.bytes().await.expect("body");
        assert_eq!(&zipped[..2], b"\x1f\x8b", "a gzip stream");
        let plain = http.get(format!("http://{}{script}", app.addr)).send().await.expect("plain");
        assert!(plain.headers().get("content-encoding").is_none());
        assert!(plain.bytes().await.expect("body").len() > zipped.len());
    }

    // The admin API beside it keeps answering JSON.
    for path in ["/admin/audit", "/admin/deliveries", "/admin/callback-secrets"] {
        let (status, body) = app.get(path, &admin()).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.is_array(), "{path}: {body}");
    }
    // What the console signs in with, without a token.
    let (status, config) = app.get("/config", "").await;
    assert_eq!(status, StatusCode::OK);
    let console = &config["response"]["console"];
    assert_eq!(
        (console["auth_mode"].as_str(), console["client_id"].as_str()),
        (Some("dev"), Some("awe-admin-portal")),
        "{config}"
    );
    app.stop().await;
}

fn sla_options() -> Options {
    Options {
        sla_schedulers: 1,
        env: vec![("AWE__SLA__CHECK_INTERVAL_SECONDS".into(), "1".into())],
        ..Options::default()
    }
}

#[tokio::test]
async fn the_overview_counts_what_an_operator_checks_first_and_names_the_stalled_stage() {
    let app = spawn_with(sla_options()).await;
    let rules = json!([{"rule_type": "user", "rule_value": {"user_id": "ann"}}, {"rule_type": "user", "rule_value": {"user_id": "bob"}}]);
    app.active_policy(json!({"policy_key": "ov", "name": "ov", "artifact_type": "registry.change_request", "stages": [
        {"name": "Review", "stage_order": 1, "mode": "all", "sla_hours": 0.0003, "on_breach": "notify", "rules": rules}]}))
        .await;
    app.active_policy(two_stage_policy("calm")).await;
    let (status, stuck) = app.post("/requests", &service("registry"), new_request("ov", "cr-stuck")).await;
    assert_eq!(status, StatusCode::CREATED, "{stuck}");
    let stuck = stuck["request_id"].as_str().expect("id").to_owned();
    for artifact in ["cr-1", "cr-2"] {
        let (status, body) = app.post("/requests", &service("registry"), new_request("calm", artifact)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    app.eventually("both of ann's and bob's tasks expired", || async {
        let (_, o) = app.get("/admin/overview", &viewer()).await;
        o["counts"]["stalled_stages"] == 1
    })
    .await;
    let (status, o) = app.get("/admin/overview?range=24h", &viewer()).await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(o["counts"]["requests_in_review"], 3, "{o}");
    assert_eq!(o["counts"]["requests_pending"], 0);
    assert_eq!(o["oldest_open"]["id"], stuck.as_str(), "the first request created is the oldest");
    assert_eq!(o["stalled"][0]["request_id"], stuck.as_str());
    assert_eq!(
        (o["stalled"][0]["stage_order"].as_i64(), o["stalled"][0]["stage_name"].as_str()),
        (Some(1), Some("Review"))
    );
    assert!(o["stalled"][0]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{o}");
    assert_eq!(o["stalled_exact"], true);
    let points = o["series"]["points"].as_array().expect("points");
    assert_eq!((o["series"]["bucket"].as_str(), points.len()), (Some("hour"), 24));
    let sum = |field: &str| points.iter().map(|p| p[field].as_i64().unwrap_or(0)).sum::<i64>();
    assert_eq!((sum("created"), sum("finished"), sum("breaches")), (3, 0, 2), "{o}");
    let (_, week) = app.get("/admin/overview?range=7d", &viewer()).await;
    assert_eq!(
        (week["series"]["bucket"].as_str(), week["series"]["points"].as_array().map(Vec::len)),
        (Some("day"), Some(7))
    );

    let (status, body) = app.get("/admin/overview?range=1y", &viewer()).await;
    assert_eq!(
        (status, body["detail"][0]["loc"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(["query", "range"]))
    );
    let (status, _) = app.get("/admin/overview", &service("registry")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await;
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().expect("list").iter().filter_map(|r| r["artifact_id"].as_str().map(str::to_owned)).collect()
}

#[tokio::test]
async fn requests_page_with_offset_and_filter_by_policy_requester_and_creation_time() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("pa")).await;
    app.active_policy(two_stage_policy("pb")).await;
    for (key, artifact, requester) in [("pa", "a1", "ann"), ("pa", "a2", "bob"), ("pb", "b1", "ann")] {
        let mut body = new_request(key, artifact);
        body["requester"] = json!(requester);
        let (status, created) = app.post("/requests", &service("registry"), body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }
    let (_, first) = app.get("/requests?limit=2", &viewer()).await;
    let (_, second) = app.get("/requests?limit=2&offset=2", &viewer()).await;
    assert_eq!((ids(&first), ids(&second)), (vec!["b1".to_owned(), "a2".to_owned()], vec!["a1".to_owned()]));
    let (_, of_pa) = app.get("/requests?policy_key=pa", &viewer()).await;
    assert_eq!(ids(&of_pa), ["a2", "a1"]);
    let (_, of_ann) = app.get("/requests?requester=ann", &viewer()).await;
    assert_eq!(ids(&of_ann), ["b1", "a1"]);
    let (_, none) = app.get("/requests?created_until=2020-01-01T00:00:00Z", &viewer()).await;
    assert_eq!(none, json!([]));
    let (_, all) = app.get("/requests?created_since=2020-01-01T00:00:00Z", &viewer()).await;
    assert_eq!(ids(&all).len(), 3);
    let (status, body) = app.get("/requests?offset=-1", &viewer()).await;
    assert_eq!(
        (status, body["detail"][0]["loc"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(["query", "offset"]))
    );

    // Tasks of one stage, and the audit log paged.
    let (_, stage1) = app.get("/tasks?assignee=&stage_order=1", &admin()).await;
    let (_, stage2) = app.get("/tasks?assignee=&stage_order=2", &admin()).await;
    assert_eq!((stage1["total"].as_i64(), stage2["total"].as_i64()), (Some(6), Some(0)), "{stage1}");
    let (_, overdue) = app.get("/tasks?assignee=&overdue=true", &admin()).await;
    assert_eq!(overdue["total"], 0, "no task has a due time");

    // A count capped by total_limit says so; one under the limit is exact and says nothing.
    let (_, capped) = app.get("/tasks?assignee=&status=open&page_size=2&total_limit=4", &admin()).await;
    assert_eq!(
        (capped["total"].clone(), capped["total_capped"].clone(), capped["pages"].clone()),
        (json!(4), json!(true), json!(2)),
        "{capped}"
    );
    assert_eq!(capped["items"].as_array().map(Vec::len), Some(2));
    let (_, exact) = app.get("/tasks?assignee=&status=open&total_limit=6", &admin()).await;
    assert_eq!((exact["total"].clone(), exact.get("total_capped")), (json!(6), None), "{exact}");
    let (status, refused) = app.get("/tasks?assignee=&total_limit=0", &admin()).await;
    assert_eq!(
        (status, refused["detail"][0]["loc"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(["query", "total_limit"]))
    );
    let (_, audit) = app.get("/admin/audit?limit=1&offset=1", &viewer()).await;
    assert_eq!(audit.as_array().map(Vec::len), Some(1), "{audit}");
    let (_, all_audit) = app.get("/admin/audit", &viewer()).await;
    assert_eq!(audit[0]["id"], all_audit[1]["id"]);
    app.stop().await;
}
