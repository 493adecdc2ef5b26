//! Policies as they travel on the wire (`PolicyIn`) and as the engine sees
//! them once parsed (`PolicyDef`). Parsing names the offending field path.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::context::{self, ExpectedContext, Read};
use super::{FieldError, Ids};
use crate::logic;

pub const MAX_STAGES: usize = 100;
pub const MAX_RULES_PER_STAGE: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PolicyStatus {
    Draft,
    Active,
    Archived,
}

impl PolicyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(Self::Draft),
            "active" => Some(Self::Active),
            "archived" => Some(Self::Archived),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum StageMode {
    #[serde(rename = "all")]
    All,
    #[serde(rename = "any-n")]
    AnyN,
    #[serde(rename = "quorum")]
    Quorum,
    #[serde(rename = "percentage")]
    Percentage,
}

impl StageMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::AnyN => "any-n",
            Self::Quorum => "quorum",
            Self::Percentage => "percentage",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "all" => Some(Self::All),
            "any-n" => Some(Self::AnyN),
            "quorum" => Some(Self::Quorum),
            "percentage" => Some(Self::Percentage),
            _ => None,
        }
    }
}

/// The contract accepts the mode in any case and stores it lower-case.
impl<'de> Deserialize<'de> for StageMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        StageMode::parse(&raw).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown mode `{raw}`, expected one of `all`, `any-n`, `quorum`, `percentage`"
            ))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnEmpty {
    Skip,
    #[default]
    Block,
}

impl OnEmpty {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::Block => "block",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnBreach {
    Notify,
    AutoApprove,
    AutoReject,
    Escalate,
}

impl OnBreach {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notify => "notify",
            Self::AutoApprove => "auto_approve",
            Self::AutoReject => "auto_reject",
            Self::Escalate => "escalate",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleType {
    User,
    Role,
    Group,
    Expression,
    Http,
}

impl RuleType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Role => "role",
            Self::Group => "group",
            Self::Expression => "expression",
            Self::Http => "http",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    #[default]
    Approver,
    Observer,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approver => "approver",
            Self::Observer => "observer",
        }
    }
}

/// Body of `POST /policies`, `PUT /policies/{key}` and `PATCH .../versions/{v}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyIn {
    pub policy_key: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub artifact_type: String,
    #[serde(default)]
    pub forbid_self_approval: bool,
    #[serde(default)]
    pub forbid_repeat_approvers: bool,
    #[serde(default)]
    pub stages: Vec<StageIn>,
    /// Added: the context keys this policy needs, each with its JSON type
    /// (keys are JSONLogic paths such as `beneficiary.district`). When given,
    /// every key the policy's JSONLogic reads must be declared, and a
    /// creation whose context lacks a required key or has one of the wrong
    /// type is refused with 422. Absent: the context is not checked (spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_context: Option<ExpectedContext>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StageIn {
    pub name: String,
    pub stage_order: i32,
    #[serde(default = "default_mode")]
    pub mode: StageMode,
    #[serde(default)]
    pub mode_value: Option<i32>,
    /// Hours; decimals allowed (0.001 is 3.6 seconds).
    #[serde(default)]
    pub sla_hours: Option<f64>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub skip_if: Option<Value>,
    #[serde(default)]
    pub on_empty: OnEmpty,
    #[serde(default)]
    pub parallel_group: Option<i32>,
    #[serde(default)]
    pub on_breach: Option<OnBreach>,
    #[serde(default)]
    pub escalation_rules: Vec<RuleIn>,
    #[serde(default)]
    pub rules: Vec<RuleIn>,
}

fn default_mode() -> StageMode {
    StageMode::All
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuleIn {
    pub rule_type: RuleType,
    #[schema(value_type = Object)]
    pub rule_value: Value,
    #[serde(default)]
    pub kind: RuleKind,
    #[serde(default)]
    pub required: bool,
}

/// A rule's value, parsed according to its type.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleSpec {
    User { user_id: String },
    Role { role: String, client: Option<String> },
    Group { group: String },
    Expression { logic: Value },
    Http { url: String },
}

impl RuleSpec {
    pub fn rule_type(&self) -> RuleType {
        match self {
            Self::User { .. } => RuleType::User,
            Self::Role { .. } => RuleType::Role,
            Self::Group { .. } => RuleType::Group,
            Self::Expression { .. } => RuleType::Expression,
            Self::Http { .. } => RuleType::Http,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    pub id: Uuid,
    pub spec: RuleSpec,
    /// The value exactly as the author wrote it, echoed back on reads.
    pub raw_value: Value,
    pub kind: RuleKind,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageDef {
    pub id: Uuid,
    pub name: String,
    pub stage_order: i32,
    pub mode: StageMode,
    pub mode_value: Option<i32>,
    pub sla_hours: Option<f64>,
    pub skip_if: Option<Value>,
    pub on_empty: OnEmpty,
    pub parallel_group: Option<i32>,
    pub on_breach: Option<OnBreach>,
    pub escalation_rules: Vec<RuleDef>,
    pub rules: Vec<RuleDef>,
}

/// A policy version's content once parsed: what the engine runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDef {
    pub policy_key: String,
    pub name: String,
    pub description: Option<String>,
    pub artifact_type: String,
    pub forbid_self_approval: bool,
    pub forbid_repeat_approvers: bool,
    /// Sorted by `stage_order`, which is unique.
    pub stages: Vec<StageDef>,
    pub expected_context: Option<ExpectedContext>,
}

impl PolicyDef {
    /// Every read of the request's context by the policy's JSONLogic:
    /// `skip_if`, and the expressions of rules and escalation rules.
    pub fn context_reads(&self) -> Vec<Read> {
        let mut out = Vec::new();
        for (i, stage) in self.stages.iter().enumerate() {
            if let Some(skip_if) = &stage.skip_if {
                out.extend(context::reads(skip_if, &format!("stages[{i}].skip_if")));
            }
            for (list, rules) in [("rules", &stage.rules), ("escalation_rules", &stage.escalation_rules)] {
                for (j, rule) in rules.iter().enumerate() {
                    if let RuleSpec::Expression { logic } = &rule.spec {
                        out.extend(context::reads(logic, &format!("stages[{i}].{list}[{j}].rule_value.logic")));
                    }
                }
            }
        }
        out
    }

    /// The distinct context keys the policy reads, sorted.
    pub fn context_keys(&self) -> Vec<String> {
        context::keys(&self.context_reads())
    }
}

impl PolicyIn {
    /// Parses the document, giving stages and rules fresh ids from `ids`.
    pub fn parse(&self, ids: &mut Ids) -> Result<PolicyDef, FieldError> {
        text("policy_key", &self.policy_key, 128)?;
        text("name", &self.name, 255)?;
        if let Some(d) = &self.description {
            if d.chars().count() > 1024 {
                return Err(FieldError::new("description", "must be at most 1024 characters"));
            }
        }
        text("artifact_type", &self.artifact_type, 128)?;
        if self.stages.len() > MAX_STAGES {
            return Err(FieldError::new("stages", format!("at most {MAX_STAGES} stages")));
        }
        let mut stages = Vec::with_capacity(self.stages.len());
        for (i, stage) in self.stages.iter().enumerate() {
            let at = format!("stages[{i}]");
            if let Some(j) = self.stages[..i].iter().position(|s| s.stage_order == stage.stage_order) {
                return Err(FieldError::new(
                    format!("{at}.stage_order"),
                    format!("{} is already used by stages[{j}]; stage_order must be unique", stage.stage_order),
                ));
            }
            stages.push(stage.parse(&at, ids)?);
        }
        let mut def = PolicyDef {
            policy_key: self.policy_key.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            artifact_type: self.artifact_type.clone(),
            forbid_self_approval: self.forbid_self_approval,
            forbid_repeat_approvers: self.forbid_repeat_approvers,
            stages,
            expected_context: self.expected_context.clone(),
        };
        // Paths name stages as the document orders them, before sorting.
        if let Some(expected) = &def.expected_context {
            context::check_declaration(expected, &def.context_reads())?;
        }
        def.stages.sort_by_key(|s| s.stage_order);
        Ok(def)
    }
}

impl StageIn {
    fn parse(&self, at: &str, ids: &mut Ids) -> Result<StageDef, FieldError> {
        text(&format!("{at}.name"), &self.name, 255)?;
        if self.stage_order < 1 {
            return Err(FieldError::new(format!("{at}.stage_order"), "must be at least 1"));
        }
        match (self.mode, self.mode_value) {
            (_, Some(v)) if v < 1 => {
                return Err(FieldError::new(format!("{at}.mode_value"), "must be at least 1"));
            }
            (StageMode::Percentage, Some(v)) if v > 100 => {
                return Err(FieldError::new(format!("{at}.mode_value"), "a percentage must be between 1 and 100"));
            }
            _ => {}
        }
        if let Some(h) = self.sla_hours {
            if !(h.is_finite() && h > 0.0 && h <= 24.0 * 366.0 * 10.0) {
                return Err(FieldError::new(format!("{at}.sla_hours"), "must be a positive number of hours"));
            }
        }
        if let Some(logic_value) = &self.skip_if {
            logic::compile(logic_value)
                .map_err(|e| FieldError::new(format!("{at}.skip_if"), format!("invalid JSONLogic: {e}")))?;
        }
        if self.rules.len() > MAX_RULES_PER_STAGE || self.escalation_rules.len() > MAX_RULES_PER_STAGE {
            return Err(FieldError::new(format!("{at}.rules"), format!("at most {MAX_RULES_PER_STAGE} rules")));
        }
        if !self.rules.iter().any(|r| r.kind == RuleKind::Approver) {
            return Err(FieldError::new(
                format!("{at}.rules"),
                "a stage needs at least one approver rule (observer rules alone cannot decide it)",
            ));
        }
        let rules = parse_rules(&format!("{at}.rules"), &self.rules, ids)?;
        let escalation_rules = parse_rules(&format!("{at}.escalation_rules"), &self.escalation_rules, ids)?;
        if self.on_breach == Some(OnBreach::Escalate) && escalation_rules.is_empty() {
            return Err(FieldError::new(
                format!("{at}.escalation_rules"),
                "on_breach `escalate` needs at least one escalation rule",
            ));
        }
        Ok(StageDef {
            id: ids.next_id(),
            name: self.name.clone(),
            stage_order: self.stage_order,
            mode: self.mode,
            mode_value: self.mode_value,
            sla_hours: self.sla_hours,
            skip_if: self.skip_if.clone(),
            on_empty: self.on_empty,
            parallel_group: self.parallel_group,
            on_breach: self.on_breach,
            escalation_rules,
            rules,
        })
    }
}

fn parse_rules(at: &str, rules: &[RuleIn], ids: &mut Ids) -> Result<Vec<RuleDef>, FieldError> {
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let at = format!("{at}[{i}].rule_value");
            Ok(RuleDef {
                id: ids.next_id(),
                spec: parse_rule_value(&at, rule.rule_type, &rule.rule_value)?,
                raw_value: rule.rule_value.clone(),
                kind: rule.kind,
                required: rule.required && rule.kind == RuleKind::Approver,
            })
        })
        .collect()
}

pub fn parse_rule_value(at: &str, rule_type: RuleType, value: &Value) -> Result<RuleSpec, FieldError> {
    let Some(obj) = value.as_object() else {
        return Err(FieldError::new(at, "must be an object"));
    };
    let field = |name: &str| -> Result<String, FieldError> {
        match obj.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 255 => Ok(s.clone()),
            Some(Value::String(_)) => Err(FieldError::new(format!("{at}.{name}"), "must be 1 to 255 characters")),
            Some(_) => Err(FieldError::new(format!("{at}.{name}"), "must be a string")),
            None => Err(FieldError::new(format!("{at}.{name}"), "is required")),
        }
    };
    let spec = match rule_type {
        RuleType::User => RuleSpec::User { user_id: field("user_id")? },
        RuleType::Role => RuleSpec::Role {
            role: field("role")?,
            client: match obj.get("client") {
                None | Some(Value::Null) => None,
                Some(_) => Some(field("client")?),
            },
        },
        RuleType::Group => {
            let group = field("group")?;
            if !group.starts_with('/') {
                return Err(FieldError::new(format!("{at}.group"), "must be a group path starting with `/`"));
            }
            RuleSpec::Group { group }
        }
        RuleType::Expression => {
            let logic_value = obj.get("logic").ok_or_else(|| FieldError::new(format!("{at}.logic"), "is required"))?;
            logic::compile(logic_value)
                .map_err(|e| FieldError::new(format!("{at}.logic"), format!("invalid JSONLogic: {e}")))?;
            RuleSpec::Expression { logic: logic_value.clone() }
        }
        RuleType::Http => {
            let url = field("url")?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(FieldError::new(format!("{at}.url"), "must be an http:// or https:// URL"));
            }
            RuleSpec::Http { url }
        }
    };
    Ok(spec)
}

fn text(at: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(at, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(FieldError::new(at, format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(at, "must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(doc: Value) -> Result<PolicyDef, FieldError> {
        let input: PolicyIn = serde_json::from_value(doc).expect("well-typed document");
        input.parse(&mut Ids::new(Uuid::nil()))
    }

    fn doc(stages: Value) -> Value {
        json!({"policy_key": "k", "name": "n", "artifact_type": "a", "stages": stages})
    }

    #[test]
    fn a_duplicate_stage_order_is_refused_with_its_path() {
        let err = parse(doc(json!([
            {"name": "a", "stage_order": 1, "rules": [{"rule_type": "user", "rule_value": {"user_id": "x"}}]},
            {"name": "b", "stage_order": 1, "rules": [{"rule_type": "user", "rule_value": {"user_id": "y"}}]}
        ])))
        .unwrap_err();
        assert_eq!(err.path, "stages[1].stage_order");
    }

    #[test]
    fn a_broken_expression_is_refused_at_save() {
        let err = parse(doc(json!([{"name": "a", "stage_order": 1, "rules": [
            {"rule_type": "expression", "rule_value": {"logic": {"no_such_operator": [1]}}}
        ]}])))
        .unwrap_err();
        assert_eq!(err.path, "stages[0].rules[0].rule_value.logic");
    }

    #[test]
    fn a_rule_value_of_the_wrong_shape_names_the_missing_field() {
        let err = parse(doc(json!([{"name": "a", "stage_order": 1, "rules": [
            {"rule_type": "user", "rule_value": {"user": "x"}}
        ]}])))
        .unwrap_err();
        assert_eq!(err.path, "stages[0].rules[0].rule_value.user_id");
    }

    #[test]
    fn a_stage_without_an_approver_rule_is_refused() {
        let err = parse(doc(json!([{"name": "a", "stage_order": 1, "rules": [
            {"rule_type": "user", "rule_value": {"user_id": "x"}, "kind": "observer"}
        ]}])))
        .unwrap_err();
        assert_eq!(err.path, "stages[0].rules");
    }

    #[test]
    fn a_percentage_above_one_hundred_is_refused() {
        let err = parse(doc(json!([{"name": "a", "stage_order": 1, "mode": "PERCENTAGE", "mode_value": 101,
            "rules": [{"rule_type": "user", "rule_value": {"user_id": "x"}}]}])))
        .unwrap_err();
        assert_eq!(err.path, "stages[0].mode_value");
    }

    #[test]
    fn stages_come_out_sorted_with_modes_lower_cased() {
        let def = parse(doc(json!([
            {"name": "b", "stage_order": 2, "mode": "ANY-N", "rules": [{"rule_type": "user", "rule_value": {"user_id": "y"}}]},
            {"name": "a", "stage_order": 1, "rules": [{"rule_type": "user", "rule_value": {"user_id": "x"}}]}
        ])))
        .expect("valid");
        assert_eq!(def.stages.iter().map(|s| s.stage_order).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(def.stages[1].mode, StageMode::AnyN);
    }
}
