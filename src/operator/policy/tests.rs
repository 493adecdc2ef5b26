//! The plan's comparisons and the files it reads.

use super::*;

fn doc(extra: Value) -> PolicyIn {
    let mut v = json!({"policy_key": "k", "name": "n", "artifact_type": "a", "stages": [
        {"name": "b", "stage_order": 2, "rules": [{"rule_type": "user", "rule_value": {"user_id": "y"}}]},
        {"name": "a", "stage_order": 1, "mode": "ANY-N", "rules": [
            {"rule_type": "user", "rule_value": {"user_id": "x"}, "kind": "observer", "required": true},
            {"rule_type": "user", "rule_value": {"user_id": "z"}}]}
    ]});
    if let (Value::Object(v), Value::Object(e)) = (&mut v, extra) {
        v.extend(e);
    }
    serde_json::from_value(v).expect("a policy")
}

#[test]
fn documents_the_service_stores_alike_compare_equal() {
    let mut sorted = doc(json!({}));
    sorted.stages.reverse();
    sorted.stages[0].rules[0].required = false;
    assert_eq!(canonical(&doc(json!({}))), canonical(&sorted));
}

#[test]
fn a_difference_is_named_by_its_path_with_both_values() {
    let mut out = Vec::new();
    differences(&canonical(&doc(json!({}))), &canonical(&doc(json!({"name": "m"}))), "", &mut out);
    assert_eq!(out, ["name: \"n\" → \"m\""]);
    let mut changed = doc(json!({}));
    changed.stages[1].rules.pop();
    let mut out = Vec::new();
    differences(&canonical(&doc(json!({}))), &canonical(&changed), "", &mut out);
    assert_eq!(out, ["stages[0].rules has 1 entries, was 2"]);
}

#[test]
fn yaml_and_json_files_read_alike_and_a_broken_one_names_its_field() {
    let dir = std::env::temp_dir().join(format!("awe-policy-read-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let yaml = "policy_key: y\nname: Y\nartifact_type: a\nstages:\n  - name: s\n    stage_order: 1\n    rules:\n      - rule_type: user\n        rule_value: {user_id: no}\n";
    std::fs::write(dir.join("y.yaml"), yaml).expect("write");
    let json = json!({"policy_key": "j", "name": "J", "artifact_type": "a", "stages": [
        {"name": "s", "stage_order": 1, "rules": [{"rule_type": "user", "rule_value": {"user_id": "no"}}]}]});
    std::fs::write(dir.join("j.json"), json.to_string()).expect("write");
    let files = read(&dir).expect("read");
    assert_eq!(files.iter().map(|f| f.policy.policy_key.as_str()).collect::<Vec<_>>(), ["j", "y"]);
    assert_eq!(canonical(&files[0].policy)["stages"], canonical(&files[1].policy)["stages"]);
    std::fs::write(dir.join("bad.yml"), yaml.replace("user_id: no", "user: no").replace("key: y", "key: b"))
        .expect("write");
    let err = read(&dir).expect_err("refused").to_string();
    assert!(err.contains("bad.yml") && err.contains("stages[0].rules[0].rule_value.user_id"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
