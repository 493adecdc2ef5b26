//! Turns a stage's rules into the users who get its tasks.
//!
//! `user` and `expression` rules resolve here, inline, against the request's
//! frozen context. `role`, `group` and `http` rules need the resolver role
//! (Keycloak, the caller's HTTP resolver); until it runs, a stage that uses
//! them reports a resolution failure and does not start, as the spec says
//! for a resolver that cannot answer.

use std::collections::HashMap;

use serde_json::Value;
use uuid::Uuid;

use crate::domain::{PolicyDef, RuleDef, RuleKind, RuleSpec};
use crate::logic::{self, Compiled};
use crate::machine::{Assignee, Resolution};

/// Why a rule named nobody: a failure worth another try (the other side may
/// come back) or not. The resolver role's Keycloak and HTTP rules report it.
#[derive(Debug)]
pub struct RuleError {
    pub reason: String,
    pub transient: bool,
}

/// A policy version with its JSONLogic compiled once. `P` is the version as
/// its owner holds it (the store's row and definition); the rules read only
/// its definition.
pub struct CompiledPolicy<P> {
    pub policy: P,
    /// By stage order.
    skip_if: HashMap<i32, Compiled>,
    /// By rule id.
    expressions: HashMap<Uuid, Compiled>,
}

impl<P: AsRef<PolicyDef>> CompiledPolicy<P> {
    pub fn compile(policy: P) -> Result<Self, String> {
        let mut skip_if = HashMap::new();
        let mut expressions = HashMap::new();
        for stage in &policy.as_ref().stages {
            if let Some(expr) = &stage.skip_if {
                skip_if.insert(stage.stage_order, logic::compile(expr)?);
            }
            for rule in stage.rules.iter().chain(&stage.escalation_rules) {
                if let RuleSpec::Expression { logic: expr } = &rule.spec {
                    expressions.insert(rule.id, logic::compile(expr)?);
                }
            }
        }
        Ok(Self { policy, skip_if, expressions })
    }

    /// Resolves one stage for a request's context.
    pub fn resolve_stage(&self, order: i32, context: &Value) -> Resolution {
        let Some(stage) = self.policy.as_ref().stages.iter().find(|s| s.stage_order == order) else {
            return Resolution::Failed { reason: format!("stage {order} is not in the pinned policy") };
        };
        if let Some(compiled) = self.skip_if.get(&order) {
            // An expression that fails to evaluate does not skip the stage.
            if logic::evaluate(compiled, context).is_ok_and(|v| logic::truthy(&v)) {
                return Resolution::Skip;
            }
        }
        let mut approvers: Vec<Assignee> = Vec::new();
        let mut observers: Vec<Assignee> = Vec::new();
        for rule in &stage.rules {
            let users = match self.resolve_rule(rule, context) {
                Ok(users) => users,
                Err(reason) => return Resolution::Failed { reason },
            };
            let list = match rule.kind {
                RuleKind::Approver => &mut approvers,
                RuleKind::Observer => &mut observers,
            };
            for user in users {
                match list.iter_mut().find(|a| a.user == user) {
                    Some(existing) => existing.required |= rule.required,
                    None => list.push(Assignee { user, required: rule.required, delegated_from: None }),
                }
            }
        }
        Resolution::Resolved { approvers, observers }
    }

    /// The users a stage's escalation rules name, for `on_breach: escalate`.
    pub fn resolve_escalation(&self, order: i32, context: &Value) -> Result<Vec<Assignee>, String> {
        let Some(stage) = self.policy.as_ref().stages.iter().find(|s| s.stage_order == order) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Assignee> = Vec::new();
        for rule in &stage.escalation_rules {
            for user in self.resolve_rule(rule, context)? {
                if !out.iter().any(|a| a.user == user) {
                    out.push(Assignee { user, required: false, delegated_from: None });
                }
            }
        }
        Ok(out)
    }

    /// Whether a stage's escalation rules need the resolver role.
    pub fn escalation_needs_remote(&self, order: i32) -> bool {
        self.policy.as_ref().stages.iter().find(|s| s.stage_order == order).is_some_and(|s| {
            s.escalation_rules
                .iter()
                .any(|r| matches!(r.spec, RuleSpec::Role { .. } | RuleSpec::Group { .. } | RuleSpec::Http { .. }))
        })
    }

    /// Whether a stage has rules only the resolver role can resolve.
    pub fn needs_remote(&self, order: i32) -> bool {
        self.policy.as_ref().stages.iter().find(|s| s.stage_order == order).is_some_and(|s| {
            s.rules
                .iter()
                .any(|r| matches!(r.spec, RuleSpec::Role { .. } | RuleSpec::Group { .. } | RuleSpec::Http { .. }))
        })
    }

    /// `skip_if` of a stage against a context: `None` when the stage has none.
    pub fn skip_if(&self, order: i32, context: &Value) -> Option<Result<bool, String>> {
        let compiled = self.skip_if.get(&order)?;
        Some(logic::evaluate(compiled, context).map(|v| logic::truthy(&v)))
    }

    /// The users one rule names for a context.
    pub fn resolve_rule(&self, rule: &RuleDef, context: &Value) -> Result<Vec<String>, String> {
        match &rule.spec {
            RuleSpec::User { user_id } => Ok(vec![user_id.clone()]),
            RuleSpec::Expression { .. } => {
                let compiled = self.expressions.get(&rule.id).ok_or("expression was not compiled")?;
                let value = logic::evaluate(compiled, context).map_err(|e| format!("expression failed: {e}"))?;
                users_of(&value)
            }
            other => Err(format!(
                "rule type `{}` needs the resolver role (Keycloak / HTTP), which this deployment does not run",
                other.rule_type().as_str()
            )),
        }
    }
}

/// An expression yields a user id, a list of them, or nothing.
fn users_of(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::Null | Value::Bool(false) => Ok(Vec::new()),
        Value::String(s) if s.trim().is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| match v {
                Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
                other => Err(format!("expression returned {other} where a user id was expected")),
            })
            .collect(),
        other => Err(format!("expression returned {other}; expected a user id or a list of user ids")),
    }
}

/// Applies delegation routes (user → chain ending at the delegate) to a list.
pub fn redirect(routes: &HashMap<String, Vec<String>>, list: Vec<Assignee>) -> Vec<Assignee> {
    let mut out: Vec<Assignee> = Vec::with_capacity(list.len());
    for a in list {
        let (user, from) = match routes.get(&a.user).and_then(|path| path.last()) {
            Some(last) => (last.clone(), Some(a.user.clone())),
            None => (a.user.clone(), None),
        };
        match out.iter_mut().find(|o| o.user == user) {
            Some(existing) => existing.required |= a.required,
            None => out.push(Assignee { user, required: a.required, delegated_from: from }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_expression_may_name_one_user_a_list_or_nobody() {
        assert_eq!(users_of(&json!("alice")), Ok(vec!["alice".to_owned()]));
        assert_eq!(users_of(&json!(["a", "b"])), Ok(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(users_of(&json!(null)), Ok(vec![]));
        assert!(users_of(&json!(42)).is_err());
        assert!(users_of(&json!([1])).is_err());
    }
}
