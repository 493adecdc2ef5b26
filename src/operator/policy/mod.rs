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

mod client;
mod files;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::domain::PolicyIn;

use client::segment;
pub use client::{token, Client};
pub use files::{canonical, read};
use files::{differences, lean};

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

pub(super) fn number(answer: &anyhow::Result<Value>, done: &[String]) -> anyhow::Result<i32> {
    match answer {
        Ok(body) => {
            body["version"].as_i64().map(|v| v as i32).ok_or_else(|| anyhow!("the answer names no version: {body}"))
        }
        Err(e) => Err(with_done(anyhow!("{e}"), done)),
    }
}

pub(super) fn with_done(err: anyhow::Error, done: &[String]) -> anyhow::Error {
    if done.is_empty() {
        anyhow!("{err}\nnothing was applied")
    } else {
        anyhow!("{err}\napplied before the refusal: {}", done.join(", "))
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
