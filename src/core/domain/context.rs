//! The context contract between a policy's author and its caller (spec 002,
//! "Who decides what context to send?"): which keys of a request's `context`
//! a policy reads, derived from every `var` of its JSONLogic, and which keys
//! it declares it needs (`expected_context`), checked against a creation's
//! context before anything is written.
//!
//! Keys are JSONLogic paths: `amount`, or `beneficiary.district` for a nested
//! one. A read inside `map`, `filter`, `reduce`, `all`, `some` or `none` reads
//! the element being visited, not the context, and is no key of the context.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::FieldError;

/// Most keys a declaration may name.
pub const MAX_EXPECTED_KEYS: usize = 200;

/// One read of the context by a policy's JSONLogic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// The path read: `amount`, `beneficiary.district`.
    pub key: String,
    /// Where in the policy: `stages[0].skip_if`.
    pub at: String,
    /// The read copes with an absent key: a `var` with a default, `missing`.
    pub defaulted: bool,
}

/// Operators whose later arguments run once per element of their first,
/// with the element (or `{current, accumulator}`) as their data.
const ITERATING: &[&str] = &["map", "filter", "reduce", "all", "some", "none"];

/// Every read of the context in `expr`, tagged with `at`, in document order.
pub fn reads(expr: &Value, at: &str) -> Vec<Read> {
    let mut out = Vec::new();
    walk(expr, 0, at, &mut out);
    out
}

/// `depth` counts the iterations around `expr`: at 0 the data is the context.
fn walk(expr: &Value, depth: usize, at: &str, out: &mut Vec<Read>) {
    match expr {
        Value::Array(items) => items.iter().for_each(|e| walk(e, depth, at, out)),
        Value::Object(map) if map.len() == 1 => {
            let Some((op, args)) = map.iter().next() else { return };
            let list: &[Value] = match args {
                Value::Array(items) => items,
                single => std::slice::from_ref(single),
            };
            match op.as_str() {
                "var" => var(list, depth, at, out),
                "val" => val(list, depth, at, out),
                "missing" => {
                    // `{"missing": ["a", "b"]}` or `{"missing": [["a", "b"]]}`.
                    let keys = match list.first() {
                        Some(Value::Array(inner)) if list.len() == 1 => inner.as_slice(),
                        _ => list,
                    };
                    presence(keys, depth, at, out);
                }
                "missing_some" => {
                    list.iter().take(1).for_each(|e| walk(e, depth, at, out));
                    match list.get(1) {
                        Some(Value::Array(keys)) => presence(keys, depth, at, out),
                        Some(other) => walk(other, depth, at, out),
                        None => {}
                    }
                }
                iterating if ITERATING.contains(&iterating) => {
                    for (i, arg) in list.iter().enumerate() {
                        // The source and reduce's initial value read the
                        // surrounding data; the body reads each element.
                        let inner = if i == 1 { depth + 1 } else { depth };
                        walk(arg, inner, at, out);
                    }
                }
                _ => list.iter().for_each(|e| walk(e, depth, at, out)),
            }
        }
        Value::Object(map) => map.values().for_each(|e| walk(e, depth, at, out)),
        _ => {}
    }
}

/// `{"var": path}`, `{"var": [path, default]}`.
fn var(args: &[Value], depth: usize, at: &str, out: &mut Vec<Read>) {
    let Some(path) = args.first() else { return };
    let defaulted = args.len() > 1;
    if depth == 0 {
        if let Some(key) = literal_path(path) {
            out.push(Read { key, at: at.to_owned(), defaulted });
        }
    }
    // A computed path or a default is itself evaluated against the data.
    if !matches!(path, Value::String(_) | Value::Number(_) | Value::Null) {
        walk(path, depth, at, out);
    }
    args.iter().skip(1).for_each(|e| walk(e, depth, at, out));
}

/// `{"val": "a"}`, `{"val": ["a", "b"]}` (segments), `{"val": [[level], ...]}`
/// (a frame further out). A level jump is taken to reach the context: that
/// may name a key the policy does not read, never miss one it does.
fn val(args: &[Value], depth: usize, at: &str, out: &mut Vec<Read>) {
    let (segments, reaches_root) = match args.first() {
        Some(Value::Array(level)) if level.len() == 1 && level[0].is_number() => (&args[1..], true),
        _ => (args, depth == 0),
    };
    let literal: Option<Vec<String>> = segments
        .iter()
        .map(|s| match s {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    match literal {
        Some(parts) if reaches_root && !parts.is_empty() && parts.iter().all(|p| !p.is_empty()) => {
            out.push(Read { key: parts.join("."), at: at.to_owned(), defaulted: false });
        }
        Some(_) => {}
        None => segments.iter().for_each(|e| walk(e, depth, at, out)),
    }
}

/// Keys named by `missing`: read only to see whether they are there.
fn presence(keys: &[Value], depth: usize, at: &str, out: &mut Vec<Read>) {
    for key in keys {
        match literal_path(key) {
            Some(key) if depth == 0 => out.push(Read { key, at: at.to_owned(), defaulted: true }),
            Some(_) => {}
            None => walk(key, depth, at, out),
        }
    }
}

/// A path written literally; `""` and `null` read the whole data, no key.
fn literal_path(path: &Value) -> Option<String> {
    match path {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The distinct keys of `reads`, sorted.
pub fn keys(reads: &[Read]) -> Vec<String> {
    let mut keys: Vec<String> = reads.iter().map(|r| r.key.clone()).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// A JSON type, as JSON Schema names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
    Null,
}

impl JsonType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::Array => "array",
            Self::Null => "null",
        }
    }

    pub fn admits(self, value: &Value) -> bool {
        match self {
            Self::String => value.is_string(),
            Self::Number => value.is_number(),
            Self::Integer => {
                value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0 && f.is_finite())
            }
            Self::Boolean => value.is_boolean(),
            Self::Object => value.is_object(),
            Self::Array => value.is_array(),
            Self::Null => value.is_null(),
        }
    }

    /// The validation error's `type`, named as the contract's 422s name them.
    fn error_kind(self) -> &'static str {
        match self {
            Self::String => "string_type",
            Self::Number => "float_type",
            Self::Integer => "int_type",
            Self::Boolean => "bool_type",
            Self::Object => "dict_type",
            Self::Array => "list_type",
            Self::Null => "none_required",
        }
    }
}

/// One type or several (`"number"`, `["string", "null"]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum JsonTypes {
    One(JsonType),
    Any(Vec<JsonType>),
}

impl JsonTypes {
    pub fn list(&self) -> &[JsonType] {
        match self {
            Self::One(t) => std::slice::from_ref(t),
            Self::Any(ts) => ts,
        }
    }

    pub fn admits(&self, value: &Value) -> bool {
        self.list().iter().any(|t| t.admits(value))
    }

    fn may_hold_keys(&self) -> bool {
        self.list().iter().any(|t| matches!(t, JsonType::Object | JsonType::Array))
    }

    fn describe(&self) -> String {
        self.list().iter().map(|t| t.as_str()).collect::<Vec<_>>().join(" or ")
    }
}

/// What a policy declares about one context key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedKey {
    /// The JSON type, or a list of them.
    #[serde(rename = "type")]
    pub kind: JsonTypes,
    /// A creation without the key is refused; an optional key may be absent
    /// or `null`, and is checked only when it has a value.
    #[serde(default = "required_by_default")]
    pub required: bool,
    /// For the caller's authors: what the key means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn required_by_default() -> bool {
    true
}

/// A policy's declared context: keys (JSONLogic paths such as
/// `beneficiary.district`) and what each must be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct ExpectedContext(pub BTreeMap<String, ExpectedKey>);

impl std::ops::Deref for ExpectedContext {
    type Target = BTreeMap<String, ExpectedKey>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// What is wrong with a context, one key at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Path segments of the key (`["beneficiary", "district"]`).
    pub path: Vec<String>,
    /// `missing`, or the type error's name (`float_type`, …).
    pub kind: &'static str,
    pub message: String,
    /// The value found, or for a missing key the object it is missing from.
    pub input: Value,
}

/// Checks a declaration on its own and against what the policy reads.
pub fn check_declaration(expected: &ExpectedContext, reads: &[Read]) -> Result<(), FieldError> {
    if expected.len() > MAX_EXPECTED_KEYS {
        return Err(FieldError::new("expected_context", format!("at most {MAX_EXPECTED_KEYS} keys")));
    }
    for (key, spec) in expected.iter() {
        let at = format!("expected_context.{key}");
        if key.is_empty() || key.chars().count() > 255 || key.split('.').any(str::is_empty) {
            return Err(FieldError::new(
                at,
                "a key is a path of 1 to 255 characters whose parts are separated by single dots",
            ));
        }
        if spec.kind.list().is_empty() {
            return Err(FieldError::new(format!("{at}.type"), "names no type"));
        }
        if spec.description.as_ref().is_some_and(|d| d.chars().count() > 1024) {
            return Err(FieldError::new(format!("{at}.description"), "must be at most 1024 characters"));
        }
    }
    for read in reads {
        if !covers(expected, &read.key) {
            return Err(FieldError::new(
                "expected_context",
                format!(
                    "{} reads `{}`, which expected_context does not declare; declare it (optional if it may be absent) or stop reading it",
                    read.at, read.key
                ),
            ));
        }
    }
    Ok(())
}

/// A key is covered when it is declared, or lies inside a declared object
/// or array (`beneficiary` of type object covers `beneficiary.district`).
fn covers(expected: &ExpectedContext, key: &str) -> bool {
    if expected.contains_key(key) {
        return true;
    }
    key.char_indices()
        .filter(|(_, c)| *c == '.')
        .any(|(i, _)| expected.get(&key[..i]).is_some_and(|spec| spec.kind.may_hold_keys()))
}

/// The value at a JSONLogic path: object keys, and array indexes by number.
pub fn lookup<'a>(context: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(context, |value, part| match value {
        Value::Object(map) => map.get(part),
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Every way `context` falls short of `expected`, in key order.
pub fn check_context(expected: &ExpectedContext, context: &Value, policy: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (key, spec) in expected.iter() {
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        match lookup(context, key) {
            None | Some(Value::Null) if !spec.required => {}
            None => {
                let parent = key.rsplit_once('.').and_then(|(p, _)| lookup(context, p)).unwrap_or(context);
                problems.push(Problem {
                    path,
                    kind: "missing",
                    message: format!(
                        "Field required: {policy} expects `{key}` ({}) in the context",
                        spec.kind.describe()
                    ),
                    input: parent.clone(),
                });
            }
            Some(value) if !spec.kind.admits(value) => problems.push(Problem {
                path,
                kind: spec.kind.list()[0].error_kind(),
                message: format!(
                    "Input should be {}: {policy} declares `{key}` as {}, the context has {}",
                    article(&spec.kind.describe()),
                    spec.kind.describe(),
                    type_of(value)
                ),
                input: value.clone(),
            }),
            Some(_) => {}
        }
    }
    problems
}

fn article(types: &str) -> String {
    match types.chars().next() {
        Some('a' | 'i' | 'o') => format!("an {types}"),
        _ => format!("a {types}"),
    }
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys_of(expr: Value) -> Vec<String> {
        keys(&reads(&expr, "x"))
    }

    #[test]
    fn a_var_names_its_path_and_a_default_marks_the_read() {
        let r = reads(&json!({"and": [{"var": "a.b"}, {"var": ["c", 0]}, {"var": 3}]}), "here");
        assert_eq!(
            r.iter().map(|r| (r.key.as_str(), r.defaulted)).collect::<Vec<_>>(),
            [("a.b", false), ("c", true), ("3", false)]
        );
        assert!(r.iter().all(|r| r.at == "here"));
    }

    #[test]
    fn reads_inside_an_iteration_are_of_the_element_not_the_context() {
        let expr = json!({"some": [{"var": "items"}, {">": [{"var": "amount"}, {"var": "limit"}]}]});
        assert_eq!(keys_of(expr), ["items"]);
        let reduce =
            json!({"reduce": [{"var": "xs"}, {"+": [{"var": "current"}, {"var": "accumulator"}]}, {"var": "start"}]});
        assert_eq!(keys_of(reduce), ["start", "xs"]);
    }

    #[test]
    fn missing_names_the_keys_it_checks() {
        assert_eq!(keys_of(json!({"missing": ["a", "b"]})), ["a", "b"]);
        assert_eq!(keys_of(json!({"missing_some": [1, ["c", "d"]]})), ["c", "d"]);
        assert!(reads(&json!({"missing": "a"}), "x")[0].defaulted);
    }

    #[test]
    fn the_whole_data_and_computed_paths_are_no_literal_key() {
        assert!(keys_of(json!({"var": ""})).is_empty());
        assert_eq!(keys_of(json!({"var": {"cat": ["x", {"var": "suffix"}]}})), ["suffix"]);
    }

    #[test]
    fn val_takes_path_segments() {
        assert_eq!(keys_of(json!({"val": ["beneficiary", "district"]})), ["beneficiary.district"]);
        assert_eq!(keys_of(json!({"map": [{"var": "xs"}, {"val": [[-1], "rate"]}]})), ["rate", "xs"]);
    }

    fn declared(doc: Value) -> ExpectedContext {
        serde_json::from_value(doc).expect("a declaration")
    }

    #[test]
    fn a_declaration_must_cover_every_read() {
        let expected = declared(json!({"amount": {"type": "number"}, "beneficiary": {"type": "object"}}));
        let ok = reads(&json!({"and": [{"var": "amount"}, {"var": "beneficiary.district"}]}), "stages[0].skip_if");
        assert!(check_declaration(&expected, &ok).is_ok());
        let bad = reads(&json!({"var": "district"}), "stages[1].rules[0].rule_value.logic");
        let err = check_declaration(&expected, &bad).unwrap_err();
        assert_eq!(err.path, "expected_context");
        assert!(err.message.contains("`district`") && err.message.contains("stages[1].rules[0]"), "{err}");
    }

    #[test]
    fn a_scalar_declaration_does_not_cover_a_path_below_it() {
        let expected = declared(json!({"amount": {"type": "number"}}));
        assert!(check_declaration(&expected, &reads(&json!({"var": "amount.cents"}), "x")).is_err());
    }

    #[test]
    fn a_context_is_checked_key_by_key() {
        let expected = declared(json!({
            "amount": {"type": "number"},
            "beneficiary.district": {"type": "string"},
            "count": {"type": "integer"},
            "note": {"type": "string", "required": false},
            "tags": {"type": ["array", "null"]}
        }));
        let ok = json!({"amount": 5.5, "beneficiary": {"district": "D1"}, "count": 2, "note": null, "tags": null});
        assert!(check_context(&expected, &ok, "policy 'p' v1").is_empty());
        let bad = json!({"amount": "5", "beneficiary": {}, "count": 2.5, "note": 3});
        let problems = check_context(&expected, &bad, "policy 'p' v1");
        let got: Vec<(String, &str)> = problems.iter().map(|p| (p.path.join("."), p.kind)).collect();
        assert_eq!(
            got,
            [
                ("amount".to_owned(), "float_type"),
                ("beneficiary.district".to_owned(), "missing"),
                ("count".to_owned(), "int_type"),
                ("note".to_owned(), "string_type"),
                ("tags".to_owned(), "missing"),
            ]
        );
        assert_eq!(problems[1].input, json!({}));
    }

    #[test]
    fn an_unknown_type_or_field_is_refused_when_parsed() {
        assert!(serde_json::from_value::<ExpectedContext>(json!({"a": {"type": "decimal"}})).is_err());
        assert!(serde_json::from_value::<ExpectedContext>(json!({"a": {"type": "string", "requird": true}})).is_err());
    }
}
