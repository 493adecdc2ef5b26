//! Policy files: read from a file or a folder, checked by the service's own
//! parser, compared in the canonical form the service stores, and written
//! back lean (defaults left out) by `export`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Value};

use crate::domain::{Ids, PolicyIn, RuleKind};

use super::PolicyFile;

/// Reads a file, or every `.yaml`, `.yml` and `.json` file under a folder, in
/// path order. Each must be one valid policy document, and no key twice.
pub fn read(path: &Path) -> anyhow::Result<Vec<PolicyFile>> {
    let mut paths = Vec::new();
    if path.is_dir() {
        collect(path, &mut paths)?;
        if paths.is_empty() {
            bail!("{} holds no .yaml, .yml or .json file", path.display());
        }
    } else {
        paths.push(path.to_owned());
    }
    paths.sort();
    let mut files: Vec<PolicyFile> = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let policy = parse(&path, &text)?;
        if let Some(other) = files.iter().find(|f| f.policy.policy_key == policy.policy_key) {
            bail!("{} and {} both hold policy `{}`", other.path.display(), path.display(), policy.policy_key);
        }
        files.push(PolicyFile { path, policy });
    }
    Ok(files)
}

pub(super) fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            collect(&path, out)?;
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
            out.push(path);
        }
    }
    Ok(())
}

/// One document, checked by the same parser the service runs, so that a
/// broken file stops the plan before anything is applied.
pub(super) fn parse(path: &Path, text: &str) -> anyhow::Result<PolicyIn> {
    let at = path.display();
    let value: Value = if path.extension().and_then(|e| e.to_str()) == Some("json") {
        serde_json::from_str(text).with_context(|| format!("{at}: not JSON"))?
    } else {
        // YAML 1.2's booleans only: `name: Y` or `user_id: no` stay strings.
        let options = serde_saphyr::options! { strict_booleans: true };
        serde_saphyr::from_str_with_options(text, options).map_err(|e| anyhow!("{at}: not YAML: {e}"))?
    };
    let policy: PolicyIn =
        serde_path_to_error::deserialize(&value).map_err(|e| anyhow!("{at}: {}: {}", e.path(), e.inner()))?;
    policy.parse(&mut Ids::new(uuid::Uuid::nil())).map_err(|e| anyhow!("{at}: {e}"))?;
    Ok(policy)
}

/// The document as the service would store it, for comparison: defaults
/// filled in, stages in their order, `required` only on approvers.
pub fn canonical(policy: &PolicyIn) -> Value {
    let mut p = policy.clone();
    p.stages.sort_by_key(|s| s.stage_order);
    for stage in &mut p.stages {
        for rule in stage.rules.iter_mut().chain(stage.escalation_rules.iter_mut()) {
            rule.required &= rule.kind == RuleKind::Approver;
        }
    }
    serde_json::to_value(&p).unwrap_or(Value::Null)
}

/// The paths where two canonical documents differ, with both values.
pub(super) fn differences(old: &Value, new: &Value, at: &str, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                differences(a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null), &path, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{at}[{i}]"), out);
            }
        }
        (Value::Array(a), Value::Array(b)) => out.push(format!("{at} has {} entries, was {}", b.len(), a.len())),
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        _ if old == new => {}
        _ => out.push(format!("{at}: {} → {}", short(old), short(new))),
    }
}

pub(super) fn short(value: &Value) -> String {
    // `sla_hours: 24` reads back as 24.0; show it as written.
    let text = match value {
        Value::Number(n) => whole(n).map_or_else(|| value.to_string(), |i| i.to_string()),
        _ => value.to_string(),
    };
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(59).collect::<String>())
    } else {
        text
    }
}

/// A stored document as a person would write it: no nulls, no empty lists,
/// no flags left at false, no `kind: approver`, `mode: all` or `on_empty:
/// block` (the defaults), whole hours as integers. JSONLogic is kept as is.
pub(super) fn lean(value: Value) -> Value {
    fn default(key: &str, value: &Value) -> bool {
        match value {
            Value::Null | Value::Bool(false) => true,
            Value::Array(items) => items.is_empty() && key != "rules" && key != "stages",
            Value::String(s) => {
                matches!((key, s.as_str()), ("kind", "approver") | ("mode", "all") | ("on_empty", "block"))
            }
            _ => false,
        }
    }
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, v)| !default(k, v))
                .map(|(k, v)| {
                    let keep = matches!(k.as_str(), "skip_if" | "logic" | "expected_context" | "rule_value");
                    let v = if keep { v } else { lean(v) };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(lean).collect()),
        Value::Number(n) => whole(&n).map_or(Value::Number(n), |i| json!(i)),
        other => other,
    }
}

/// A float that is a whole number (`24.0`), as that integer.
pub(super) fn whole(n: &serde_json::Number) -> Option<i64> {
    n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15).map(|f| f as i64)
}
