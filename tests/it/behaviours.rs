//! Every policy behaviour of spec 002, end to end over HTTP.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::*;

fn user_rule(u: &str) -> Value {
    json!({"rule_type": "user", "rule_value": {"user_id": u}})
}

fn policy(key: &str, stages: Value) -> Value {
    json!({"policy_key": key, "name": key, "artifact_type": "registry.change_request", "stages": stages})
}

async fn create(app: &TestApp, key: &str, artifact: &str) -> Value {
    let (status, body) = app.post("/requests", &service("registry"), new_request(key, artifact)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn decide(app: &TestApp, user: &str, action: &str) -> (StatusCode, Value) {
    let task = app.open_task_of(user).await;
    let id = task["id"].as_str().unwrap_or_else(|| panic!("{user} has no open task"));
    app.post(&format!("/tasks/{id}/decision"), &token_for(user), json!({"action": action})).await
}

async fn request(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/requests/{id}"), &service("registry")).await.1
}

async fn events(app: &TestApp, id: &str) -> Vec<String> {
    event_types(&app.get(&format!("/requests/{id}/events"), &service("registry")).await.1)
}

fn id(v: &Value) -> String {
    v["request_id"].as_str().expect("request id").to_owned()
}

#[tokio::test]
async fn parallel_stages_start_together_and_the_next_group_waits_for_both() {
    let app = spawn_app().await;
    app.active_policy(policy(
        "par",
        json!([
            {"name": "Legal", "stage_order": 1, "parallel_group": 1, "rules": [user_rule("legal")]},
            {"name": "Director", "stage_order": 3, "rules": [user_rule("director")]},
            {"name": "Finance", "stage_order": 2, "parallel_group": 1, "rules": [user_rule("finance")]}
        ]),
    ))
    .await;
    let created = create(&app, "par", "cr-p").await;
    let rid = id(&created);
    // Both stages of the group have tasks; the create answer lists the current stage's.
    assert_eq!(app.open_task_of("legal").await["stage_order"], 1);
    assert_eq!(app.open_task_of("finance").await["stage_order"], 2);
    decide(&app, "legal", "approve").await;
    assert!(app.open_task_of("director").await.is_null(), "stage 3 waits for finance");
    assert_eq!(request(&app, &rid).await["current_stage_order"], 2);
    decide(&app, "finance", "approve").await;
    assert_eq!(app.open_task_of("director").await["stage_order"], 3);
    decide(&app, "director", "approve").await;
    assert_eq!(request(&app, &rid).await["status"], "approved");
    app.stop().await;
}

#[tokio::test]
async fn any_stage_of_a_parallel_group_rejecting_ends_the_request() {
    let app = spawn_app().await;
    app.active_policy(policy(
        "par-r",
        json!([
            {"name": "Legal", "stage_order": 1, "parallel_group": 7, "rules": [user_rule("legal")]},
            {"name": "Finance", "stage_order": 2, "parallel_group": 7, "rules": [user_rule("finance")]}
        ]),
    ))
    .await;
    let rid = id(&create(&app, "par-r", "cr-pr").await);
    decide(&app, "finance", "reject").await;
    let req = request(&app, &rid).await;
    assert_eq!(req["status"], "rejected");
    assert!(app.open_task_of("legal").await.is_null(), "legal's open task was skipped");
    app.stop().await;
}

#[tokio::test]
async fn a_required_approver_must_approve_on_top_of_the_quorum() {
    let app = spawn_app().await;
    let mut boss = user_rule("boss");
    boss["required"] = json!(true);
    app.active_policy(policy(
        "req",
        json!([
            {"name": "Two of three, boss included", "stage_order": 1, "mode": "any-n", "mode_value": 2,
             "rules": [user_rule("ann"), user_rule("ben"), boss]}
        ]),
    ))
    .await;
    let rid = id(&create(&app, "req", "cr-r1").await);
    decide(&app, "ann", "approve").await;
    decide(&app, "ben", "approve").await;
    let req = request(&app, &rid).await;
    assert_eq!(req["status"], "in_review", "quorum met, boss missing");
    assert_eq!(req["stages"][0]["required_missing"], json!(["boss"]));
    decide(&app, "boss", "approve").await;
    assert_eq!(request(&app, &rid).await["status"], "approved");

    // When the required approver rejects, the stage rejects even with the quorum met.
    let rid = id(&create(&app, "req", "cr-r2").await);
    decide(&app, "ann", "approve").await;
    decide(&app, "ben", "approve").await;
    decide(&app, "boss", "reject").await;
    let req = request(&app, &rid).await;
    assert_eq!(req["status"], "rejected");
    assert_eq!(req["stages"][0]["reason"], "required approver boss rejected");
    app.stop().await;
}

#[tokio::test]
async fn observers_get_tasks_without_a_due_time_and_never_decide_a_stage() {
    let app = spawn_app().await;
    let mut legal = user_rule("legal");
    legal["kind"] = json!("observer");
    app.active_policy(policy(
        "obs",
        json!([
            {"name": "Review", "stage_order": 1, "sla_hours": 24, "rules": [user_rule("ann"), legal]}
        ]),
    ))
    .await;
    let rid = id(&create(&app, "obs", "cr-o").await);
    let observer = app.open_task_of("legal").await;
    assert_eq!((observer["kind"].as_str(), observer["due_at"].is_null()), (Some("observer"), true));
    assert!(app.open_task_of("ann").await["due_at"].is_string(), "approvers get the SLA");
    let (status, _) = decide(&app, "legal", "reject").await;
    assert_eq!(status, StatusCode::CREATED, "an observer can comment");
    assert_eq!(request(&app, &rid).await["status"], "in_review");
    decide(&app, "ann", "approve").await;
    assert_eq!(request(&app, &rid).await["status"], "approved");
    app.stop().await;
}

#[tokio::test]
async fn a_true_skip_if_skips_the_stage_without_tasks() {
    let app = spawn_app().await;
    app.active_policy(policy("skip", json!([
        {"name": "Small amounts", "stage_order": 1, "skip_if": {"==": [{"var": "district"}, "D1"]}, "rules": [user_rule("clerk")]},
        {"name": "Always", "stage_order": 2, "rules": [user_rule("ann")]}
    ])))
    .await;
    let created = create(&app, "skip", "cr-s").await;
    assert_eq!(created["current_stage_order"], 2);
    assert!(app.open_task_of("clerk").await.is_null());
    let rid = id(&created);
    assert_eq!(events(&app, &rid).await, vec!["request_created", "stage_skipped", "stage_started"]);
    assert_eq!(request(&app, &rid).await["stages"][0]["reason"], "skipped: skip_if true");
    app.stop().await;
}

#[tokio::test]
async fn nobody_resolved_skips_with_on_empty_skip_and_rejects_by_default() {
    let app = spawn_app().await;
    let nobody = json!({"rule_type": "expression", "rule_value": {"logic": {"var": "nobody"}}});
    app.active_policy(policy(
        "empty",
        json!([
            {"name": "Optional", "stage_order": 1, "on_empty": "skip", "rules": [nobody.clone()]},
            {"name": "Blocking", "stage_order": 2, "rules": [nobody]}
        ]),
    ))
    .await;
    let created = create(&app, "empty", "cr-e").await;
    assert_eq!(created["status"], "rejected");
    let rid = id(&created);
    assert_eq!(events(&app, &rid).await, vec!["request_created", "stage_skipped", "request_rejected"]);
    let (_, timeline) = app.get(&format!("/requests/{rid}/events"), &service("registry")).await;
    assert_eq!(timeline[1]["payload"]["reason"], "no_approvers");
    assert_eq!(timeline[2]["payload"]["reason"], "no_approvers_resolved");
    app.stop().await;
}

#[tokio::test]
async fn segregation_of_duties_removes_the_requester_and_earlier_approvers() {
    let app = spawn_app().await;
    let mut doc = policy(
        "sod",
        json!([
            {"name": "First", "stage_order": 1, "rules": [user_rule("ann")]},
            {"name": "Second", "stage_order": 2, "mode": "any-n", "rules": [user_rule("ann"), user_rule("ben")]},
            {"name": "Third", "stage_order": 3, "on_empty": "skip", "rules": [user_rule("ben")]}
        ]),
    );
    doc["forbid_self_approval"] = json!(true);
    doc["forbid_repeat_approvers"] = json!(true);
    app.active_policy(doc).await;
    // ben asks: he can approve nothing of his own request.
    let mut body = new_request("sod", "cr-sod");
    body["requester"] = json!("ben");
    let (_, created) = app.post("/requests", &service("registry"), body).await;
    let rid = id(&created);
    decide(&app, "ann", "approve").await;
    // Stage 2: ann approved stage 1, ben is the requester: nobody left, on_empty block.
    let req = request(&app, &rid).await;
    assert_eq!(req["status"], "rejected", "{req}");
    assert!(req["stages"][1]["reason"].as_str().expect("reason").contains("segregation of duties"));
    let (_, tasks) = app.get(&format!("/tasks?assignee=&request_id={rid}"), &service("registry")).await;
    assert_eq!(tasks["total"], 1, "only ann's first task was ever created: {tasks}");
    app.stop().await;
}

#[tokio::test]
async fn a_delegation_redirects_new_tasks_and_never_moves_existing_ones() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    let before = create(&app, "registry.cr.v1", "cr-d0").await;
    let window = |user: &str, to: &str| json!({"user_id": user, "delegate_to": to, "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z", "reason": "leave"});
    let (status, first) = app.post("/delegations", &admin(), window("alice", "carol")).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    // The newest overlapping window wins; a chain is followed.
    app.post("/delegations", &admin(), window("alice", "dave")).await;
    app.post("/delegations", &token_for("dave"), window("dave", "erin")).await;

    let created = create(&app, "registry.cr.v1", "cr-d1").await;
    let assignees: Vec<(&str, &str)> = created["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| (t["assignee"].as_str().expect("a"), t["delegated_from"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(assignees, vec![("erin", "alice"), ("bob", "")]);
    // The request created before keeps alice's task.
    assert_eq!(before["tasks"][0]["assignee"], "alice");
    let (_, alice_tasks) = app.get(&format!("/tasks?assignee=alice&request_id={}", id(&before)), &admin()).await;
    assert_eq!(alice_tasks["total"], 1);

    // Who may do what.
    let (status, body) = app.post("/delegations", &token_for("mallory"), window("alice", "mallory")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app.post("/delegations", &admin(), window("alice", "alice")).await;
    assert_eq!(
        (status, body["detail"][0]["loc"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "delegate_to"]))
    );
    let mut backwards = window("alice", "bob");
    backwards["ends_at"] = json!("2019-01-01T00:00:00Z");
    assert_eq!(app.post("/delegations", &admin(), backwards).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, listed) = app.get("/delegations?user_id=alice", &viewer()).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2));

    // Revoked, a window stops redirecting.
    let first_id = first["id"].as_str().expect("id");
    let (status, _) = app.call(Method::DELETE, &format!("/delegations/{first_id}"), &admin(), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.call(Method::DELETE, &format!("/delegations/{first_id}"), &admin(), None).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::NOT_FOUND, Some("AWE-004")));
    let (_, audit) = app.get("/admin/audit?resource_type=delegation", &viewer()).await;
    assert_eq!(audit.as_array().map(Vec::len), Some(4), "three creations and a revocation");
    app.stop().await;
}

#[tokio::test]
async fn a_delegation_cycle_stops_before_it_loops() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("registry.cr.v1")).await;
    for (from, to) in [("alice", "carol"), ("carol", "alice")] {
        let (status, _) = app
            .post("/delegations", &admin(), json!({"user_id": from, "delegate_to": to, "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let created = create(&app, "registry.cr.v1", "cr-cyc").await;
    assert_eq!(created["tasks"][0]["assignee"], "carol");
    assert_eq!(created["tasks"][0]["delegated_from"], "alice");
    app.stop().await;
}

#[tokio::test]
async fn reassignment_closes_the_task_and_opens_one_for_the_new_user_with_the_same_due_time() {
    let app = spawn_app().await;
    app.active_policy(policy(
        "re",
        json!([
            {"name": "Review", "stage_order": 1, "sla_hours": 48, "rules": [user_rule("ann")]}
        ]),
    ))
    .await;
    let rid = id(&create(&app, "re", "cr-re").await);
    let old = app.open_task_of("ann").await;
    let path = format!("/tasks/{}/reassign", old["id"].as_str().expect("id"));
    let (status, _) = app.post(&path, &token_for("ann"), json!({"new_assignee": "zed"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "admins only");
    let (status, body) = app.post(&path, &admin(), json!({"new_assignee": "ann"})).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::CONFLICT, Some("AWE-007")));
    let (status, new) = app.post(&path, &admin(), json!({"new_assignee": "zed", "reason": "ann left"})).await;
    assert_eq!(status, StatusCode::OK, "{new}");
    assert_eq!((new["assignee"].as_str(), new["reassigned_from"].as_str()), (Some("zed"), Some("ann")));
    assert_eq!(new["due_at"], old["due_at"]);
    let (_, was) = app.get(&format!("/tasks?assignee=ann&request_id={rid}"), &admin()).await;
    assert_eq!(was["items"][0]["status"], "reassigned");
    assert_eq!(events(&app, &rid).await.last().map(String::as_str), Some("task_reassigned"));
    let (_, audit) = app.get("/admin/audit?action=task.reassign", &viewer()).await;
    assert_eq!(audit[0]["metadata"]["reason"], "ann left");
    decide(&app, "zed", "approve").await;
    assert_eq!(request(&app, &rid).await["status"], "approved", "the replacement holds the slot");
    app.stop().await;
}

#[tokio::test]
async fn in_flight_requests_keep_their_pinned_version_after_a_new_activation() {
    let app = spawn_app().await;
    app.active_policy(two_stage_policy("pin")).await;
    let rid = id(&create(&app, "pin", "cr-pin").await);
    let mut v2 = two_stage_policy("pin");
    v2["stages"][1]["rules"][0]["rule_value"]["user_id"] = json!("director-y");
    app.call(Method::PUT, "/policies/pin", &admin(), Some(v2)).await;
    app.post("/policies/pin/versions/2/activate", &admin(), json!({})).await;
    decide(&app, "alice", "approve").await;
    assert!(app.open_task_of("director-x").await.is_object(), "stage 2 resolved under v1");
    assert!(app.open_task_of("director-y").await.is_null());
    assert_eq!(request(&app, &rid).await["policy_version"], 1);
    let newer = create(&app, "pin", "cr-pin2").await;
    assert_eq!(request(&app, &id(&newer)).await["policy_version"], 2);
    app.stop().await;
}

#[tokio::test]
async fn a_stage_that_cannot_reach_its_quorum_says_why_it_ended() {
    let app = spawn_app().await;
    app.active_policy(policy("why", json!([
        {"name": "Two of two-ish", "stage_order": 1, "mode": "any-n", "mode_value": 2, "rules": [user_rule("ann"), user_rule("bob")]}
    ])))
    .await;
    let rid = id(&create(&app, "why", "cr-why").await);
    decide(&app, "bob", "reject").await;
    let req = request(&app, &rid).await;
    assert_eq!(req["status"], "rejected");
    assert_eq!(req["stages"][0]["reason"], "quorum unreachable after bob rejected");
    app.stop().await;
}

#[tokio::test]
async fn simulate_explains_the_whole_path_of_a_request() {
    let app = spawn_app().await;
    let mut boss = user_rule("boss");
    boss["required"] = json!(true);
    let mut legal = user_rule("legal");
    legal["kind"] = json!("observer");
    let mut doc = policy(
        "sim-all",
        json!([
            {"name": "Skip small", "stage_order": 1, "skip_if": {"<": [{"var": "amount"}, 100]}, "rules": [user_rule("clerk")]},
            {"name": "District", "stage_order": 2, "parallel_group": 1, "mode": "any-n", "mode_value": 1,
             "rules": [{"rule_type": "expression", "rule_value": {"logic": {"if": [{"==": [{"var": "district"}, "D1"]}, ["alice", "bob"], ["carol"]]}}}, legal]},
            {"name": "Finance", "stage_order": 3, "parallel_group": 1, "mode": "percentage", "mode_value": 50, "rules": [user_rule("fin1"), user_rule("requester-x")]},
            {"name": "Board", "stage_order": 4, "on_empty": "skip", "rules": [boss]}
        ]),
    );
    doc["forbid_self_approval"] = json!(true);
    doc["forbid_repeat_approvers"] = json!(true);
    app.post("/policies", &admin(), doc).await;
    app.post("/delegations", &admin(), json!({"user_id": "boss", "delegate_to": "deputy", "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"})).await;
    let (status, sim) = app
        .post(
            "/policies/sim-all/versions/1/simulate",
            &viewer(),
            json!({"context": {"amount": 50, "district": "D1"}, "requester": "requester-x"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sim}");
    assert_eq!(sim["groups"], json!([[1], [2, 3], [4]]));
    let s = &sim["stages"];
    assert_eq!((s[0]["skipped"].as_bool(), s[0]["skip_reason"].as_str()), (Some(true), Some("skip_if")));
    assert_eq!(s[1]["approvers"], json!(["alice", "bob"]));
    assert_eq!(s[1]["observers"], json!(["legal"]));
    assert_eq!(s[2]["removed"][0]["user"], "requester-x");
    assert_eq!(s[2]["approvers"], json!(["fin1"]));
    assert_eq!(s[3]["delegated"][0], json!({"from": "boss", "to": "deputy", "chain": ["boss", "deputy"]}));
    assert_eq!(s[3]["approvers"], json!(["deputy"]));
    assert_eq!(s[3]["required_approvers"], json!(["deputy"]));
    assert!(sim["notes"][0].as_str().expect("note").starts_with("forbid_repeat_approvers"));
    // Printed for the README's example.
    println!("{}", serde_json::to_string_pretty(&sim).expect("json"));
    app.stop().await;
}
