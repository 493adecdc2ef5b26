//! Policies from Git: `awe policy diff | apply | export` against the running
//! service, through its REST API, as an operator's pipeline runs them.

use std::path::{Path, PathBuf};

use awe::operator::policy::{self, Change, Client};
use serde_json::json;

use crate::support::*;

const CLERK: &str = "\
# The registry's change requests: one clerk, then a district officer.
policy_key: git.change
name: Change request
artifact_type: registry.change_request
stages:
  - name: Clerk
    stage_order: 1
    rules:
      - rule_type: user
        rule_value: {user_id: clerk}
  - name: District
    stage_order: 2
    sla_hours: 24
    rules:
      - rule_type: role
        rule_value: {role: DISTRICT_OFFICER}
";

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("awe-policy-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a folder");
    dir
}

fn write_policies(dir: &Path, clerk: &str) {
    std::fs::write(dir.join("change.yaml"), clerk).expect("write");
    let payment = json!({"policy_key": "git.payment", "name": "Disbursement", "artifact_type": "payment.batch",
        "stages": [{"name": "Finance", "stage_order": 1, "mode": "ALL",
                    "rules": [{"rule_type": "user", "rule_value": {"user_id": "cfo"}, "required": true},
                              {"rule_type": "user", "rule_value": {"user_id": "controller"}}]}]});
    std::fs::write(dir.join("payment.json"), serde_json::to_string_pretty(&payment).expect("json")).expect("write");
}

async fn versions(app: &TestApp, key: &str) -> Vec<(i64, String)> {
    let (_, body) = app.get(&format!("/policies/{key}/versions"), &admin()).await;
    body.as_array()
        .expect("versions")
        .iter()
        .map(|v| (v["version"].as_i64().expect("n"), v["status"].as_str().expect("s").to_owned()))
        .collect()
}

fn client(app: &TestApp) -> Client {
    Client::new(&format!("http://{}", app.addr), admin()).expect("a client")
}

/// The two policies written to a new folder and applied with `--activate`.
async fn applied_and_activated(app: &TestApp, name: &str) -> (PathBuf, Client) {
    let dir = folder(name);
    write_policies(&dir, CLERK);
    let client = client(app);
    let files = policy::read(&dir).expect("files");
    let plan = policy::plan(&client, &files, true).await.expect("a plan");
    policy::apply(&client, &files, &plan).await.expect("applied");
    (dir, client)
}

#[tokio::test]
async fn applying_a_folder_twice_creates_then_activates_then_changes_nothing() {
    let app = spawn_app().await;
    let dir = folder("apply");
    write_policies(&dir, CLERK);
    let files = policy::read(&dir).expect("files");
    let client = client(&app);

    let plan = policy::plan(&client, &files, true).await.expect("a plan");
    assert_eq!(
        plan.iter().map(|s| (s.key.as_str(), &s.change)).collect::<Vec<_>>(),
        [("git.change", &Change::NewKey), ("git.payment", &Change::NewKey)]
    );
    assert!(plan.iter().all(|s| s.activate), "{plan:?}");
    assert_eq!(app.get("/policies/git.change/versions", &admin()).await.0, 404, "the plan alone wrote nothing");

    let done = policy::apply(&client, &files, &plan).await.expect("applied");
    assert_eq!(
        done,
        ["git.change v1 written", "git.change v1 activated", "git.payment v1 written", "git.payment v1 activated"]
    );
    assert_eq!(versions(&app, "git.change").await, [(1, "active".to_owned())]);

    let again = policy::plan(&client, &files, true).await.expect("a plan");
    assert!(again.iter().all(|s| !s.changes_anything()), "{again:?}");
    assert_eq!(again[0].change, Change::Unchanged { version: 1 });
    assert!(policy::apply(&client, &files, &again).await.expect("applied").is_empty());
    assert_eq!(versions(&app, "git.payment").await, [(1, "active".to_owned())]);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_changed_field_becomes_a_new_version_named_by_its_path() {
    let app = spawn_app().await;
    let (dir, client) = applied_and_activated(&app, "change").await;

    write_policies(&dir, &CLERK.replace("sla_hours: 24", "sla_hours: 48"));
    let files = policy::read(&dir).expect("files");
    let plan = policy::plan(&client, &files, false).await.expect("a plan");
    assert_eq!(plan[0].change, Change::NewVersion { of: 1, fields: vec!["stages[1].sla_hours: 24 → 48".to_owned()] });
    assert!(
        plan[0].describe().contains("new version v2 (v1 active), because stages[1].sla_hours: 24 → 48"),
        "{}",
        plan[0].describe()
    );
    assert_eq!(plan[1].change, Change::Unchanged { version: 1 });
    policy::apply(&client, &files, &plan).await.expect("applied");
    assert_eq!(
        versions(&app, "git.change").await,
        [(2, "draft".to_owned()), (1, "active".to_owned())],
        "without --activate the new version waits as a draft"
    );

    // The next change edits that draft in place rather than piling up versions.
    write_policies(&dir, &CLERK.replace("sla_hours: 24", "sla_hours: 72"));
    let files = policy::read(&dir).expect("files");
    let plan = policy::plan(&client, &files, true).await.expect("a plan");
    assert_eq!(
        plan[0].change,
        Change::EditDraft { version: 2, fields: vec!["stages[1].sla_hours: 48 → 72".to_owned()] }
    );
    policy::apply(&client, &files, &plan).await.expect("applied");
    let listed = versions(&app, "git.change").await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.contains(&(2, "active".to_owned())), "{listed:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_policy_file_that_is_wrong_stops_before_anything_is_applied_naming_its_field() {
    let app = spawn_app().await;
    let dir = folder("broken");
    write_policies(&dir, &CLERK.replace("stage_order: 2", "stage_order: two"));
    let err = policy::read(&dir).expect_err("refused").to_string();
    assert!(err.contains("change.yaml") && err.contains("stages[1].stage_order"), "{err}");
    assert_eq!(app.get("/policies/git.payment/versions", &admin()).await.0, 404, "nothing was applied");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_policy_the_server_refuses_stops_the_apply_with_its_field_errors_and_says_what_was_applied() {
    let app = spawn_app().await;
    let dir = folder("refused");
    write_policies(&dir, CLERK);
    let client = client(&app);
    let mut files = policy::read(&dir).expect("files");
    // Sent as it is, without the local check (as an older `awe` would):
    // it declares `amount` but its skip_if reads `district` too.
    files[1].policy = serde_json::from_value(json!({
        "policy_key": "git.payment", "name": "Disbursement", "artifact_type": "payment.batch",
        "expected_context": {"amount": {"type": "number"}},
        "stages": [{"name": "Finance", "stage_order": 1,
                    "skip_if": {"and": [{"<": [{"var": "amount"}, 10]}, {"==": [{"var": "district"}, "D1"]}]},
                    "rules": [{"rule_type": "user", "rule_value": {"user_id": "cfo"}}]}]}))
    .expect("a document");
    let plan = policy::plan(&client, &files, true).await.expect("a plan");

    let err = policy::apply(&client, &files, &plan).await.expect_err("refused").to_string();
    assert!(err.contains("git.payment") && err.contains("payment.json"), "{err}");
    assert!(err.contains("district"), "the server's field error is shown: {err}");
    assert!(err.contains("applied before the refusal: git.change v1 written, git.change v1 activated"), "{err}");
    assert_eq!(app.get("/policies/git.payment/versions", &admin()).await.0, 404, "the refused one was not written");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn exported_active_versions_apply_back_unchanged() {
    let app = spawn_app().await;
    let (dir, client) = applied_and_activated(&app, "source").await;

    let out = folder("export");
    let written = policy::export(&client, &out).await.expect("exported");
    assert_eq!(written.len(), 2, "{written:?}");
    let text = std::fs::read_to_string(out.join("git.change.yaml")).expect("a file");
    assert!(text.starts_with("# git.change v1"), "{text}");
    let exported = policy::read(&out).expect("the export reads back");
    let plan = policy::plan(&client, &exported, true).await.expect("a plan");
    assert!(plan.iter().all(|s| !s.changes_anything()), "{plan:?}");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&out).ok();
}
