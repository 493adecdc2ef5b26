//! JSONLogic, compiled once and evaluated against a request's frozen context.

use std::sync::{Arc, LazyLock};

use datalogic_rs::{Engine, Logic};
use serde_json::Value;

static ENGINE: LazyLock<Engine> = LazyLock::new(Engine::new);

/// A compiled expression, cheap to clone and share across threads.
pub type Compiled = Arc<Logic>;

/// The operators of the JSONLogic baseline that this build evaluates.
const OPERATORS: &[&str] = &[
    "var",
    "val",
    "missing",
    "missing_some",
    "==",
    "===",
    "!=",
    "!==",
    ">",
    ">=",
    "<",
    "<=",
    "!",
    "!!",
    "and",
    "or",
    "if",
    "?:",
    "+",
    "-",
    "*",
    "/",
    "%",
    "min",
    "max",
    "cat",
    "substr",
    "in",
    "map",
    "filter",
    "reduce",
    "merge",
    "all",
    "some",
    "none",
];

/// Compiles an expression, refusing unknown operators up front: the engine
/// would otherwise accept them and fail only when a request evaluates them.
pub fn compile(expr: &Value) -> Result<Compiled, String> {
    check_operators(expr)?;
    ENGINE.compile_arc(expr).map_err(|e| e.to_string())
}

fn check_operators(expr: &Value) -> Result<(), String> {
    match expr {
        Value::Object(map) if map.len() == 1 => {
            let (op, args) = map.iter().next().ok_or("empty operator")?;
            if !OPERATORS.contains(&op.as_str()) {
                return Err(format!("unknown operator `{op}`"));
            }
            check_operators(args)
        }
        Value::Object(map) if map.is_empty() => Ok(()),
        Value::Object(_) => Err("an operator object must have exactly one key".into()),
        Value::Array(items) => items.iter().try_for_each(check_operators),
        _ => Ok(()),
    }
}

pub fn evaluate(compiled: &Logic, context: &Value) -> Result<Value, String> {
    let mut session = ENGINE.session();
    session.eval_into::<Value, _>(compiled, context).map_err(|e| e.to_string())
}

/// JSONLogic truthiness: `[]`, `0`, `""`, `null` and `false` are false.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_expression_reads_the_context() {
        let compiled =
            compile(&json!({"if": [{"==": [{"var": "district"}, "D1"]}, ["alice", "bob"], []]})).expect("compiles");
        assert_eq!(evaluate(&compiled, &json!({"district": "D1"})).expect("evaluates"), json!(["alice", "bob"]));
        assert_eq!(evaluate(&compiled, &json!({"district": "D2"})).expect("evaluates"), json!([]));
    }

    #[test]
    fn an_unknown_operator_does_not_compile() {
        assert!(compile(&json!({"frobnicate": [1, 2]})).is_err());
    }

    #[test]
    fn truthiness_follows_jsonlogic() {
        assert!(!truthy(&json!([])) && !truthy(&json!(0)) && !truthy(&json!("")) && !truthy(&json!(null)));
        assert!(truthy(&json!([0])) && truthy(&json!("0")) && truthy(&json!({})));
    }
}
