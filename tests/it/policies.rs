//! The policy API: versions, drafts, activation, validation, audit.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_policy_goes_from_draft_to_active_and_a_new_version_archives_the_old() {
    let app = spawn_app().await;
    let key = "pbms.disbursement";
    app.active_policy(two_stage_policy(key)).await;

    let (status, body) = app.post("/policies", &admin(), two_stage_policy(key)).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::CONFLICT, Some("AWE-002")));

    let mut v2 = two_stage_policy(key);
    v2["name"] = json!("Second");
    let (status, body) = app.call(Method::PUT, &format!("/policies/{key}"), &admin(), Some(v2.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!((body["version"].as_i64(), body["status"].as_str()), (Some(2), Some("draft")));

    // Drafts are edited in place; activated versions are not.
    v2["description"] = json!("edited");
    let (status, body) =
        app.call(Method::PATCH, &format!("/policies/{key}/versions/2"), &admin(), Some(v2.clone())).await;
    assert_eq!((status, body["description"].as_str()), (StatusCode::OK, Some("edited")));
    let (status, body) =
        app.call(Method::PATCH, &format!("/policies/{key}/versions/1"), &admin(), Some(v2.clone())).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::CONFLICT, Some("AWE-007")));

    let (status, _) = app.post(&format!("/policies/{key}/versions/2/activate"), &admin(), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, versions) = app.get(&format!("/policies/{key}/versions"), &viewer()).await;
    assert_eq!(versions[0]["status"], "active");
    assert_eq!(versions[1]["status"], "archived");

    let (status, body) = app.post(&format!("/policies/{key}/versions/1/deactivate"), &admin(), json!({})).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::CONFLICT, Some("AWE-007")));
    let (status, body) = app.post(&format!("/policies/{key}/versions/2/deactivate"), &admin(), json!({})).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("archived")));

    // New requests need an active version.
    let (status, body) = app.post("/requests", &service("pbms"), new_request(key, "d-1")).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::NOT_FOUND, Some("AWE-001")));

    let (_, audit) = app.get("/admin/audit?resource_type=policy&limit=50", &viewer()).await;
    let actions: Vec<&str> =
        audit.as_array().expect("rows").iter().map(|r| r["action"].as_str().expect("action")).collect();
    assert_eq!(
        actions,
        vec![
            "policy.deactivate",
            "policy.activate",
            "policy.update",
            "policy.add_version",
            "policy.activate",
            "policy.create"
        ]
    );
    let update = &audit[2];
    assert_eq!(update["before"]["description"], json!(null));
    assert_eq!(update["after"]["description"], "edited");
    assert_eq!(update["actor"], "ops-admin");
    assert_eq!(update["actor_email"], "ops@example.org");
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_policy_is_refused_with_the_path_of_the_offending_field() {
    let app = spawn_app().await;
    let mut doc = two_stage_policy("bad.one");
    doc["stages"][1]["rules"][0]["rule_value"] = json!({"logic": {"nonsense_op": [1]}});
    doc["stages"][1]["rules"][0]["rule_type"] = json!("expression");
    let (status, body) = app.post("/policies", &admin(), doc).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["errorCode"], "AWE-010");
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(message.starts_with("stages[1].rules[0].rule_value.logic"), "{message}");

    let mut doc = two_stage_policy("bad.two");
    doc["stages"][1]["stage_order"] = json!(1);
    let (status, body) = app.post("/policies", &admin(), doc).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"][0]["message"].as_str().expect("message").contains("stages[1].stage_order"));

    let mut doc = two_stage_policy("bad.three");
    doc["stages"][0]["mode"] = json!("most");
    let (status, body) = app.post("/policies", &admin(), doc).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "stages", 0, "mode"]));

    let (status, body) =
        app.call(Method::PUT, "/policies/other.key", &admin(), Some(two_stage_policy("bad.four"))).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::BAD_REQUEST, Some("AWE-010")));
    app.stop().await;
}

#[tokio::test]
async fn policy_writes_need_the_admin_role_and_reads_the_viewer_role() {
    let app = spawn_app().await;
    let (status, body) = app.post("/policies", &viewer(), two_stage_policy("k")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["detail"], "Role `AWE_ADMIN` required");
    let (status, body) = app.get("/policies", &service("registry")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["detail"], "One of ['AWE_ADMIN', 'AWE_VIEWER'] required");
    let (status, _) = app.get("/policies", &admin()).await;
    assert_eq!(status, StatusCode::OK, "admin implies viewer");
    let (status, _) = app.get("/policies/none/versions/1", &viewer()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_activations_leave_exactly_one_active_version() {
    let app = spawn_app().await;
    let key = "race.key";
    app.active_policy(two_stage_policy(key)).await;
    for _ in 0..3 {
        let (status, _) =
            app.call(Method::PUT, &format!("/policies/{key}"), &admin(), Some(two_stage_policy(key))).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let calls = (1..=4).map(|v| {
        let app = &app;
        async move { app.post(&format!("/policies/{key}/versions/{v}/activate"), &admin(), json!({})).await.0 }
    });
    let statuses = futures_util::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
    let (_, versions) = app.get(&format!("/policies/{key}/versions"), &viewer()).await;
    let active = versions.as_array().expect("versions").iter().filter(|v| v["status"] == "active").count();
    assert_eq!(active, 1, "{versions}");
    app.stop().await;
}

#[tokio::test]
async fn simulate_resolves_each_stage_without_writing_anything() {
    let app = spawn_app().await;
    let doc = json!({
        "policy_key": "sim", "name": "Sim", "artifact_type": "x",
        "stages": [
            {"name": "Small amounts skip", "stage_order": 1, "skip_if": {"<": [{"var": "amount"}, 1000]},
             "rules": [{"rule_type": "user", "rule_value": {"user_id": "clerk"}}]},
            {"name": "By district", "stage_order": 2, "rules": [
                {"rule_type": "expression", "rule_value": {"logic": {"if": [{"==": [{"var": "district"}, "D1"]}, ["alice", "bob"], ["carol"]]}}},
                {"rule_type": "user", "rule_value": {"user_id": "legal"}, "kind": "observer"}]}
        ]
    });
    app.post("/policies", &admin(), doc).await;
    let (status, body) = app
        .post("/policies/sim/versions/1/simulate", &viewer(), json!({"context": {"amount": 10, "district": "D1"}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stages"][0]["skipped"], true);
    assert_eq!(body["stages"][0]["skip_reason"], "skip_if");
    assert_eq!(body["stages"][1]["resolved_approvers"], json!(["alice", "bob", "legal"]));
    assert_eq!(body["stages"][1]["observers"], json!(["legal"]));
    let requests: i64 =
        sqlx::query_scalar("SELECT count(*) FROM approval_request").fetch_one(&app.pool).await.expect("count");
    assert_eq!(requests, 0);
    app.stop().await;
}
