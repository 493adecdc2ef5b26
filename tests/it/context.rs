//! The context contract: what a policy reads, what it declares it needs,
//! and creations refused for a context that falls short.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::*;

/// A policy that reads `amount` (skip_if), `district` (an expression) and
/// `beneficiary.age` (an escalation rule), and `tier` inside a filter's
/// element, which is no context key.
fn reading_policy(key: &str) -> Value {
    json!({
        "policy_key": key, "name": "Reads context", "artifact_type": "registry.change_request",
        "stages": [
            {"name": "Clerk", "stage_order": 1,
             "skip_if": {"and": [{"<": [{"var": "amount"}, 1000]},
                                 {"some": [{"var": ["flags", []]}, {"==": [{"var": "tier"}, "gold"]}]}]},
             "rules": [{"rule_type": "user", "rule_value": {"user_id": "clerk"}}]},
            {"name": "District", "stage_order": 2, "sla_hours": 24, "on_breach": "escalate",
             "rules": [{"rule_type": "expression", "rule_value": {"logic":
                 {"if": [{"==": [{"var": "district"}, "D1"]}, ["alice"], ["bob"]]}}}],
             "escalation_rules": [{"rule_type": "expression", "rule_value": {"logic":
                 {"if": [{">": [{"var": "beneficiary.age"}, 60]}, "senior-officer", "officer"]}}}]}
        ]
    })
}

fn declared(key: &str) -> Value {
    let mut doc = reading_policy(key);
    doc["expected_context"] = json!({
        "amount": {"type": "number", "description": "Disbursement amount in the programme's currency"},
        "district": {"type": "string"},
        "beneficiary": {"type": "object"},
        "flags": {"type": "array", "required": false}
    });
    doc
}

async fn command_stream_sequence(app: &TestApp) -> u64 {
    let mut stream = app.bus.js.get_stream(app.bus.commands_stream()).await.expect("stream");
    stream.info().await.expect("info").state.last_sequence
}

#[tokio::test]
async fn a_version_reports_the_context_keys_its_jsonlogic_reads_and_without_a_declaration_takes_any_context() {
    let app = spawn_app().await;
    let created = app.active_policy(reading_policy("reads")).await;
    assert_eq!(created["context_keys"], json!(["amount", "beneficiary.age", "district", "flags"]));
    assert_eq!(created["expected_context"], json!(null));
    let (_, got) = app.get("/policies/reads/versions/1", &viewer()).await;
    assert_eq!(got["context_keys"], created["context_keys"]);

    // No declaration: the spec's default, nothing is checked.
    let mut request = new_request("reads", "cr-free");
    request["context"] = json!({"amount": "not a number"});
    let (status, body) = app.post("/requests", &service("registry"), request).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_declaration_that_leaves_out_a_key_the_policy_reads_is_refused_naming_the_key() {
    let app = spawn_app().await;
    let mut doc = declared("leaves.out");
    doc["expected_context"].as_object_mut().expect("object").remove("district");
    let (status, body) = app.post("/policies", &admin(), doc).await;
    assert_eq!((status, body["errors"][0]["errorCode"].as_str()), (StatusCode::BAD_REQUEST, Some("AWE-010")), "{body}");
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("`district`") && message.contains("stages[1].rules[0].rule_value.logic"), "{message}");

    // A scalar does not cover a path below it; an unknown type is a 422 at its place.
    let mut doc = declared("scalar");
    doc["expected_context"]["beneficiary"] = json!({"type": "string"});
    let (status, body) = app.post("/policies", &admin(), doc).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"][0]["message"].as_str().expect("message").contains("`beneficiary.age`"), "{body}");
    let mut doc = declared("typo");
    doc["expected_context"]["amount"] = json!({"type": "money"});
    let (status, body) = app.post("/policies", &admin(), doc).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"][1], "expected_context", "{body}");

    // A draft edited to read an undeclared key is refused too.
    let created = app.active_policy(declared("edited")).await;
    assert_eq!(created["expected_context"]["amount"]["type"], "number");
    let mut v2 = declared("edited");
    app.call(Method::PUT, "/policies/edited", &admin(), Some(v2.clone())).await;
    v2["stages"][0]["skip_if"] = json!({"<": [{"var": "score"}, 3]});
    let (status, body) = app.call(Method::PATCH, "/policies/edited/versions/2", &admin(), Some(v2)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["errors"][0]["message"].as_str().expect("message").contains("`score`"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_creation_whose_context_falls_short_of_the_declaration_is_refused_before_anything_is_written_or_published() {
    let app = spawn_app().await;
    app.active_policy(declared("needs")).await;
    let before = command_stream_sequence(&app).await;
    let mut request = new_request("needs", "cr-short");
    request["context"] = json!({"amount": "1200", "beneficiary": {"age": 70}, "flags": null});
    let (status, body) = app.post("/requests", &service("registry"), request.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let items = body["detail"].as_array().expect("the contract's list shape");
    let located: Vec<(&Value, &str)> = items.iter().map(|i| (&i["loc"], i["type"].as_str().expect("type"))).collect();
    assert_eq!(
        located,
        vec![
            (&json!(["body", "context", "amount"]), "float_type"),
            (&json!(["body", "context", "district"]), "missing"),
        ]
    );
    assert!(items[1]["msg"].as_str().expect("msg").contains("policy 'needs' v1"), "{body}");
    assert_eq!(count(&app, "SELECT count(*) FROM approval_request").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM processed_command WHERE command_type = 'request.create'").await, 0);
    assert_eq!(command_stream_sequence(&app).await, before, "nothing was published");

    // With a key the refusal is not remembered: the corrected body is a new request.
    let (status, _) = create_with_key(&app, "registry", "cr-short-1", request.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    request["context"] = json!({"amount": 1200, "district": "D1", "beneficiary": {"age": 70}});
    let (status, body) = create_with_key(&app, "registry", "cr-short-1", request).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::CREATED, Some("in_review")), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_creation_published_on_nats_with_a_short_context_is_answered_422_naming_each_key() {
    let app = spawn_app().await;
    app.active_policy(declared("nats.needs")).await;
    let inbox = app.bus.client.new_inbox();
    let mut replies = app.bus.client.subscribe(inbox.clone()).await.expect("subscribed");
    let command_id = uuid::Uuid::now_v7();
    let mut request = new_request("nats.needs", "cr-nats");
    request["context"] = json!({"amount": 5, "district": "D1", "beneficiary": []});
    let envelope = json!({
        "v": 1, "id": command_id, "issued_at": chrono::Utc::now(), "reply_to": inbox,
        "actor": {"sub": "registry-module", "assignee_id": "registry-module"},
        "type": "request.create",
        "payload": {"request_id": uuid::Uuid::now_v7(), "request": request},
    });
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", command_id.to_string().as_str());
    app.bus
        .js
        .publish_with_headers(app.bus.command_subject("request.create"), headers, envelope.to_string().into())
        .await
        .expect("published")
        .await
        .expect("stored");
    let reply = tokio::time::timeout(Duration::from_secs(20), futures_util::StreamExt::next(&mut replies))
        .await
        .expect("an answer")
        .expect("a message");
    let outcome: Value = serde_json::from_slice(&reply.payload).expect("json");
    assert_eq!((outcome["result"].as_str(), outcome["status"].as_u64()), (Some("error"), Some(422)), "{outcome}");
    assert_eq!(outcome["detail"][0]["loc"], json!(["body", "context", "beneficiary"]), "{outcome}");
    assert_eq!(outcome["detail"][0]["type"], "dict_type", "{outcome}");
    assert_eq!(count(&app, "SELECT count(*) FROM approval_request").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_creation_is_not_refused_by_a_declaration_the_key_no_longer_has_active() {
    let app = spawn_app().await;
    app.active_policy(declared("relaxed")).await;
    let mut request = new_request("relaxed", "cr-relaxed");
    request["context"] = json!({});
    let (status, _) = app.post("/requests", &service("registry"), request.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the ingress now remembers v1's declaration");

    // v2 declares nothing; activated, it takes the same context at once.
    app.call(Method::PUT, "/policies/relaxed", &admin(), Some(reading_policy("relaxed"))).await;
    let (status, _) = app.post("/policies/relaxed/versions/2/activate", &admin(), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.post("/requests", &service("registry"), request).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn simulate_warns_about_each_key_the_sample_context_lacks_declared_or_not() {
    let app = spawn_app().await;
    app.post("/policies", &admin(), declared("sim.declared")).await;
    app.post("/policies", &admin(), reading_policy("sim.free")).await;
    let sample = json!({"context": {"amount": "12", "beneficiary": {"age": 30}}});

    let (status, body) = app.post("/policies/sim.free/versions/1/simulate", &viewer(), sample.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["context_keys"], json!(["amount", "beneficiary.age", "district", "flags"]));
    let warned: Vec<(&str, bool)> = body["context_warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| (w["key"].as_str().expect("key"), w["refused_on_create"].as_bool().expect("flag")))
        .collect();
    assert_eq!(warned, vec![("district", false), ("flags", false)]);
    let district = &body["context_warnings"][0];
    assert_eq!(district["read_by"], json!(["stages[1].rules[0].rule_value.logic"]));
    assert!(body["context_warnings"][1]["message"].as_str().expect("msg").contains("default"), "{body}");

    let (_, body) = app.post("/policies/sim.declared/versions/1/simulate", &viewer(), sample).await;
    let warned: Vec<(&str, &str, bool)> = body["context_warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| {
            (
                w["key"].as_str().expect("key"),
                w["kind"].as_str().expect("kind"),
                w["refused_on_create"].as_bool().expect("flag"),
            )
        })
        .collect();
    assert_eq!(
        warned,
        vec![("amount", "float_type", true), ("district", "missing", true), ("flags", "missing", false)]
    );
    app.stop().await;
}
