//! Policies kept in Git: `awe policy diff|apply PATH` and `awe policy export DIR`.
//!
//! A file holds one policy in the API's own shape (`PolicyIn`), as YAML
//! (`.yaml`, `.yml`) or JSON (`.json`); a folder is every such file in it and
//! below it. Everything goes through the REST API with the token given, so the
//! service's validation, audit log and authorisation apply as for any admin.
//!
//! The plan compares each file with the newest version of its key: a new key
//! is created; a file that differs becomes a new version (or, when the newest
//! version is still a draft, that draft is edited); an equal file changes
//! nothing. With `--activate` the version the file describes is activated
//! unless it is already active. A second apply of the same files changes
//! nothing, and `export` writes files that `apply` takes back unchanged.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::domain::{Ids, PolicyIn, RuleKind};

/// A policy file as read.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    pub path: PathBuf,
    pub policy: PolicyIn,
}

/// What applying one file does.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The key does not exist: version 1.
    NewKey,
    /// The newest version `of` differs in `fields`: a new version.
    NewVersion { of: i32, fields: Vec<String> },
    /// The newest version is draft `version` and differs in `fields`: edited in place.
    EditDraft { version: i32, fields: Vec<String> },
    /// The newest version is `version`, equal to the file.
    Unchanged { version: i32 },
}

#[derive(Debug, Clone)]
pub struct Step {
    pub file: PathBuf,
    pub key: String,
    pub change: Change,
    /// The version the file describes is activated by this step.
    pub activate: bool,
    /// The key's active version before the step, if any.
    pub active: Option<i32>,
}

impl Step {
    pub fn changes_anything(&self) -> bool {
        self.activate || !matches!(self.change, Change::Unchanged { .. })
    }

    pub fn describe(&self) -> String {
        let active = self.active.map_or_else(|| "none active".to_owned(), |v| format!("v{v} active"));
        let mut line = match &self.change {
            Change::NewKey => format!("+ {}: new key, v1", self.key),
            Change::NewVersion { of, fields } => {
                format!("~ {}: new version v{} ({active}), because {}", self.key, of + 1, fields.join("; "))
            }
            Change::EditDraft { version, fields } => {
                format!("~ {}: draft v{version} edited ({active}), because {}", self.key, fields.join("; "))
            }
            Change::Unchanged { version } => format!("= {}: unchanged, v{version} ({active})", self.key),
        };
        if self.activate {
            line.push_str(", then activated");
        }
        let _ = write!(line, "  [{}]", self.file.display());
        line
    }
}

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

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
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
fn parse(path: &Path, text: &str) -> anyhow::Result<PolicyIn> {
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
fn differences(old: &Value, new: &Value, at: &str, out: &mut Vec<String>) {
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

fn short(value: &Value) -> String {
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
fn lean(value: Value) -> Value {
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
fn whole(n: &serde_json::Number) -> Option<i64> {
    n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15).map(|f| f as i64)
}

/// Talks to the ingress's REST API.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// `base` is the service's address (`http://awe:8000`), without `/v1/awe`.
    pub fn new(base: &str, token: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned(), token })
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<(StatusCode, Value)> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await.with_context(|| format!("{method} {url}"))?;
        let status = res.status();
        let location = res.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
        let text = res.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            bail!("{method} {url}: {status}: {} (the token needs AWE_ADMIN to write, AWE_VIEWER to read)", value);
        }
        // A write the engine had not applied within the ingress's wait:
        // its outcome is read from the command until there is one.
        if status == StatusCode::ACCEPTED && method != Method::GET {
            if let Some(location) = location.filter(|l| l.contains("/commands/")) {
                return self.outcome(&location).await;
            }
        }
        Ok((status, value))
    }

    async fn outcome(&self, location: &str) -> anyhow::Result<(StatusCode, Value)> {
        for _ in 0..120 {
            let (status, value) = Box::pin(self.call(Method::GET, location, None)).await?;
            if status != StatusCode::ACCEPTED {
                return Ok((status, value));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        bail!("{location}: not applied after 30 s; is the engine role running?")
    }

    async fn versions(&self, key: &str) -> anyhow::Result<Option<Vec<Value>>> {
        match self.call(Method::GET, &format!("/v1/awe/policies/{}/versions", segment(key)), None).await? {
            (StatusCode::OK, Value::Array(v)) => Ok(Some(v)),
            (StatusCode::NOT_FOUND, _) => Ok(None),
            (status, body) => bail!("listing the versions of `{key}`: {status}: {body}"),
        }
    }

    async fn version(&self, key: &str, version: i32) -> anyhow::Result<Value> {
        match self.call(Method::GET, &format!("/v1/awe/policies/{}/versions/{version}", segment(key)), None).await? {
            (StatusCode::OK, body) => Ok(body),
            (status, body) => bail!("reading `{key}` v{version}: {status}: {body}"),
        }
    }

    /// The newest version of a key (its number, status and document) and its
    /// active version's number.
    async fn newest(&self, key: &str) -> anyhow::Result<Option<(i32, String, PolicyIn, Option<i32>)>> {
        let Some(versions) = self.versions(key).await? else { return Ok(None) };
        let number = |v: &Value| v["version"].as_i64().map(|n| n as i32);
        let active = versions.iter().find(|v| v["status"] == "active").and_then(number);
        let Some(newest) = versions.iter().filter_map(|v| Some((number(v)?, v))).max_by_key(|(n, _)| *n) else {
            return Ok(None);
        };
        let status = newest.1["status"].as_str().unwrap_or_default().to_owned();
        let stored: PolicyIn = serde_json::from_value(self.version(key, newest.0).await?)
            .with_context(|| format!("`{key}` v{} is not a policy document", newest.0))?;
        Ok(Some((newest.0, status, stored, active)))
    }

    async fn write(&self, method: Method, path: &str, body: &Value, what: &str) -> anyhow::Result<Value> {
        let (status, answer) = self.call(method, path, Some(body)).await?;
        if status.is_success() {
            return Ok(answer);
        }
        bail!("{what}: refused with {status}:\n{}", refusal(&answer))
    }
}

/// A policy key as one path segment.
fn segment(key: &str) -> String {
    form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>().replace('+', "%20")
}

/// The service's refusal as a person reads it: the AWE envelope's code and
/// message (AWE-010 names the field), or each 422 item with its location.
fn refusal(body: &Value) -> String {
    if let Some(errors) = body["errors"].as_array() {
        return errors
            .iter()
            .map(|e| format!("  {}: {}", e["errorCode"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join("\n");
    }
    if let Some(items) = body["detail"].as_array() {
        return items
            .iter()
            .map(|i| {
                let loc: Vec<String> = i["loc"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| p.as_str().map_or(p.to_string(), str::to_owned))
                    .collect();
                format!("  {}: {}", loc.join("."), i["msg"].as_str().unwrap_or(""))
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    format!("  {body}")
}

/// What applying `files` would do, without doing it.
pub async fn plan(client: &Client, files: &[PolicyFile], activate: bool) -> anyhow::Result<Vec<Step>> {
    let mut steps = Vec::with_capacity(files.len());
    for file in files {
        let key = file.policy.policy_key.clone();
        let wanted = canonical(&file.policy);
        let (change, active, wanted_active) = match client.newest(&key).await? {
            None => (Change::NewKey, None, false),
            Some((version, status, stored, active)) => {
                let mut fields = Vec::new();
                differences(&canonical(&stored), &wanted, "", &mut fields);
                let change = match (fields.is_empty(), status == "draft") {
                    (true, _) => Change::Unchanged { version },
                    (false, true) => Change::EditDraft { version, fields },
                    (false, false) => Change::NewVersion { of: version, fields },
                };
                let already = matches!(change, Change::Unchanged { .. }) && active == Some(version);
                (change, active, already)
            }
        };
        steps.push(Step { file: file.path.clone(), key, change, activate: activate && !wanted_active, active });
    }
    Ok(steps)
}

/// Applies a plan in order; stops at the first refusal, naming what was done.
pub async fn apply(client: &Client, files: &[PolicyFile], steps: &[Step]) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    for (file, step) in files.iter().zip(steps) {
        let body = serde_json::to_value(&file.policy)?;
        let key = segment(&step.key);
        let what = format!("{} ({})", step.key, file.path.display());
        let written = match &step.change {
            Change::Unchanged { version } => *version,
            Change::NewKey => number(&client.write(Method::POST, "/v1/awe/policies", &body, &what).await, &done)?,
            Change::NewVersion { .. } => {
                let path = format!("/v1/awe/policies/{key}");
                number(&client.write(Method::PUT, &path, &body, &what).await, &done)?
            }
            Change::EditDraft { version, .. } => {
                let path = format!("/v1/awe/policies/{key}/versions/{version}");
                number(&client.write(Method::PATCH, &path, &body, &what).await, &done)?
            }
        };
        if !matches!(step.change, Change::Unchanged { .. }) {
            done.push(format!("{} v{written} written", step.key));
        }
        if step.activate {
            let path = format!("/v1/awe/policies/{key}/versions/{written}/activate");
            client.write(Method::POST, &path, &json!({}), &what).await.map_err(|e| with_done(e, &done))?;
            done.push(format!("{} v{written} activated", step.key));
        }
    }
    Ok(done)
}

fn number(answer: &anyhow::Result<Value>, done: &[String]) -> anyhow::Result<i32> {
    match answer {
        Ok(body) => {
            body["version"].as_i64().map(|v| v as i32).ok_or_else(|| anyhow!("the answer names no version: {body}"))
        }
        Err(e) => Err(with_done(anyhow!("{e}"), done)),
    }
}

fn with_done(err: anyhow::Error, done: &[String]) -> anyhow::Error {
    if done.is_empty() {
        anyhow!("{err}\nnothing was applied")
    } else {
        anyhow!("{err}\napplied before the refusal: {}", done.join(", "))
    }
}

/// The token to call the service with: `AWE_TOKEN` when set; else a client
/// credentials grant at the configured issuer with `AWE_CLIENT_ID` and
/// `AWE_CLIENT_SECRET` (a service account holding AWE_ADMIN); else, in dev
/// auth mode only (no issuer), an unsigned dev token holding AWE_ADMIN.
pub async fn token(issuer: &str) -> anyhow::Result<String> {
    if let Ok(token) = std::env::var("AWE_TOKEN") {
        return Ok(token);
    }
    match (std::env::var("AWE_CLIENT_ID"), std::env::var("AWE_CLIENT_SECRET")) {
        (Ok(id), Ok(secret)) if !issuer.is_empty() => {
            let url = format!("{}/protocol/openid-connect/token", issuer.trim_end_matches('/'));
            let res = reqwest::Client::new()
                .post(&url)
                .form(&[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)])
                .timeout(Duration::from_secs(15))
                .send()
                .await
                .with_context(|| format!("asking {url} for a token"))?;
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            match body["access_token"].as_str() {
                Some(t) if status.is_success() => Ok(t.to_owned()),
                _ => bail!("{url} refused client `{id}`: {status}: {body}"),
            }
        }
        _ if issuer.is_empty() => {
            use base64::Engine as _;
            let part = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            let claims = json!({"sub": "awe-policy", "preferred_username": "awe-policy",
                                "realm_access": {"roles": ["AWE_ADMIN"]}});
            Ok(format!("{}.{}.dev", part(json!({"alg": "none", "typ": "JWT"})), part(claims)))
        }
        _ => bail!(
            "no token: set AWE_TOKEN, or AWE_CLIENT_ID and AWE_CLIENT_SECRET of a service account holding AWE_ADMIN (keycloak.issuer is {issuer})"
        ),
    }
}

/// Writes every key's active version to `dir` as `<key>.yaml`; returns the
/// files written. Keys without an active version are left out.
pub async fn export(client: &Client, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let (status, listed) = client.call(Method::GET, "/v1/awe/policies", None).await?;
    if status != StatusCode::OK {
        bail!("listing policies: {status}: {listed}");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = BTreeMap::new();
    for newest in listed.as_array().into_iter().flatten() {
        let Some(key) = newest["policy_key"].as_str() else { continue };
        let versions = client.versions(key).await?.unwrap_or_default();
        let Some(active) = versions.iter().find(|v| v["status"] == "active").and_then(|v| v["version"].as_i64()) else {
            continue;
        };
        let stored: PolicyIn = serde_json::from_value(client.version(key, active as i32).await?)
            .with_context(|| format!("`{key}` v{active} is not a policy document"))?;
        let yaml = serde_saphyr::to_string(&lean(canonical(&stored))).map_err(|e| anyhow!("`{key}` as YAML: {e}"))?;
        let name: String =
            key.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
        let path = dir.join(format!("{name}.yaml"));
        if written.insert(path.clone(), key.to_owned()).is_some() {
            bail!("two keys export to {}; rename one of them", path.display());
        }
        let header = format!("# {key} v{active}, exported from AWE; `awe policy apply` takes it back unchanged\n");
        std::fs::write(&path, header + &yaml).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(written.into_keys().collect())
}

/// `awe policy diff|apply|export`: policies kept in Git, through the REST API.
pub async fn command(config: &crate::adapters::config::Config, args: &[String]) -> anyhow::Result<()> {
    let mut args = args.to_vec();
    let mut take = |flag: &str| args.iter().position(|a| a == flag).map(|i| args.remove(i));
    let activate = take("--activate").is_some();
    let url_at = args.iter().position(|a| a == "--url");
    let url = match url_at {
        Some(i) if i + 1 < args.len() => {
            args.remove(i);
            args.remove(i)
        }
        Some(_) => bail!("--url needs the service's address, e.g. http://awe:8000"),
        None => std::env::var("AWE_URL").unwrap_or_else(|_| format!("http://127.0.0.1:{}", config.http.addr.port())),
    };
    let (verb, path) = match args.as_slice() {
        [verb, path] => (verb.as_str(), PathBuf::from(path)),
        _ => bail!("usage: awe policy <diff PATH | apply PATH [--activate] | export DIR> [--url URL]"),
    };
    if activate && verb == "export" {
        bail!("--activate goes with `awe policy apply` (or `diff`, to see what it would activate)");
    }
    let client = Client::new(&url, token(&config.keycloak.issuer).await?)?;
    match verb {
        "diff" | "apply" => {
            let files = read(&path)?;
            let steps = plan(&client, &files, activate).await?;
            for step in &steps {
                println!("{}", step.describe());
            }
            if !steps.iter().any(Step::changes_anything) {
                println!("nothing to change");
                return Ok(());
            }
            if verb == "apply" {
                let done = apply(&client, &files, &steps).await?;
                println!("applied: {}", done.join(", "));
            }
            Ok(())
        }
        "export" => {
            let written = export(&client, &path).await?;
            for file in &written {
                println!("{}", file.display());
            }
            println!("{} active version(s) exported", written.len());
            Ok(())
        }
        other => bail!("unknown policy command `{other}`: diff, apply or export"),
    }
}

#[cfg(test)]
mod tests {
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
}
