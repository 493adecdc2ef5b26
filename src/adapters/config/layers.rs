//! How the layers combine: a TOML file or the environment over the defaults,
//! unknown keys refused with a suggestion, foreign sections set aside.

use anyhow::{bail, Context as _};
use serde_json::{Map, Value};

use super::reference;

/// `scheme://user:password@host/db` → `scheme://user:***@host/db`.
pub(super) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

pub(super) fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

/// Sets `path` in `tree`, reading `raw` as the type the default has there.
pub(super) fn set_from_env(tree: &mut Value, path: &[String], raw: &str) -> anyhow::Result<()> {
    let (last, parents) = path.split_last().context("empty key")?;
    let mut node = tree;
    for part in parents {
        let sections: Vec<String> = node.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        node = node.get_mut(part.as_str()).filter(|n| n.is_object()).with_context(|| {
            let foreign = reference::FOREIGN_SECTIONS.iter().map(|(s, _)| *s);
            let near = reference::did_you_mean(part, sections.iter().map(String::as_str).chain(foreign));
            format!("unknown setting section `{part}`{}", suggestion(near))
        })?;
    }
    let map: &mut Map<String, Value> = node.as_object_mut().context("not a section")?;
    let current = map.get(last.as_str()).with_context(|| {
        let section = parents.last().map(String::as_str).unwrap_or_default();
        let foreign = reference::FOREIGN_KEYS.iter().filter(|(s, _)| *s == section).map(|(_, k)| *k);
        let near = reference::did_you_mean(last, map.keys().map(String::as_str).chain(foreign));
        format!("unknown setting `{last}`{}", suggestion(near))
    })?;
    let parsed = match current {
        Value::Array(_) => {
            if raw.trim_start().starts_with('[') {
                serde_json::from_str(raw).context("expected a JSON list")?
            } else {
                Value::Array(raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(scalar).collect())
            }
        }
        Value::Bool(_) => Value::Bool(raw.trim().parse().context("expected true or false")?),
        Value::Number(_) => serde_json::from_str(raw.trim()).context("expected a number")?,
        _ => Value::String(raw.to_owned()),
    };
    map.insert(last.clone(), parsed);
    Ok(())
}

pub(super) fn suggestion(near: Option<&str>) -> String {
    near.map(|n| format!("; did you mean `{n}`?")).unwrap_or_default()
}

/// Drops the reference's own sections and keys from a settings file, saying so.
pub(super) fn set_aside_foreign(parsed: &mut Value, notices: &mut Vec<String>) {
    let Some(map) = parsed.as_object_mut() else { return };
    for (section, why) in reference::FOREIGN_SECTIONS {
        if map.remove(section).is_some() {
            notices.push(format!("[{section}] is a section of the reference implementation; ignored: {why}"));
        }
    }
    for (section, key) in reference::FOREIGN_KEYS {
        if let Some(inner) = map.get_mut(section).and_then(Value::as_object_mut) {
            if inner.remove(key).is_some() {
                notices.push(format!("{section}.{key} is ignored: certificates are always verified"));
            }
        }
    }
}

/// Refuses a file key we do not have, naming the closest one.
pub(super) fn known_keys(defaults: &Value, parsed: &Value, at: &str) -> anyhow::Result<()> {
    let (Some(defaults), Some(parsed)) = (defaults.as_object(), parsed.as_object()) else { return Ok(()) };
    for (key, value) in parsed {
        let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
        match defaults.get(key) {
            Some(default) => known_keys(default, value, &path)?,
            None => {
                let near = reference::did_you_mean(key, defaults.keys().map(String::as_str));
                bail!("unknown setting `{path}` in the settings file{}", suggestion(near));
            }
        }
    }
    Ok(())
}

pub(super) fn scalar(item: &str) -> Value {
    serde_json::from_str::<serde_json::Number>(item)
        .map(Value::Number)
        .unwrap_or_else(|_| Value::String(item.to_owned()))
}
