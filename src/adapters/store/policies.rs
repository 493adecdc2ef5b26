//! Policy versions with their stages and rules, and the cache of their
//! compiled forms every role shares.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::contract::wire::{PolicyOut, PolicyVersionOut, RuleOut, StageOut};
use crate::domain::{
    parse_rule_value, OnBreach, OnEmpty, PolicyDef, PolicyStatus, RuleDef, RuleKind, RuleType, StageDef, StageMode,
};

#[derive(Debug, Clone)]
pub struct PolicyRow {
    pub id: Uuid,
    pub policy_key: String,
    pub version: i32,
    pub name: String,
    pub description: Option<String>,
    pub status: String,
    pub artifact_type: String,
    pub forbid_self_approval: bool,
    pub forbid_repeat_approvers: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The declared context (`ExpectedContext`), when there is one.
    pub expected_context: Option<Value>,
}

impl PolicyRow {
    pub fn status(&self) -> PolicyStatus {
        PolicyStatus::parse(&self.status).unwrap_or(PolicyStatus::Archived)
    }
}

/// A stored version: its row and its parsed content.
#[derive(Debug, Clone)]
pub struct Policy {
    pub row: PolicyRow,
    pub def: PolicyDef,
}

impl AsRef<PolicyDef> for Policy {
    fn as_ref(&self) -> &PolicyDef {
        &self.def
    }
}

/// A stored version with its JSONLogic compiled once (`rules`, in the core).
pub type CompiledPolicy = crate::rules::CompiledPolicy<Policy>;

/// Compiled policy versions by id. Only activated versions are cached: they
/// never change, so an entry never goes stale.
#[derive(Default, Clone)]
pub struct PolicyCache {
    inner: Arc<RwLock<HashMap<Uuid, Arc<CompiledPolicy>>>>,
}

impl PolicyCache {
    pub fn get(&self, id: Uuid) -> Option<Arc<CompiledPolicy>> {
        self.inner.read().ok()?.get(&id).cloned()
    }

    pub fn insert(&self, compiled: CompiledPolicy) -> Arc<CompiledPolicy> {
        let compiled = Arc::new(compiled);
        if compiled.policy.row.status() != PolicyStatus::Draft {
            if let Ok(mut map) = self.inner.write() {
                map.insert(compiled.policy.row.id, compiled.clone());
            }
        }
        compiled
    }
}

impl Policy {
    pub fn out(&self) -> PolicyOut {
        let r = &self.row;
        PolicyOut {
            id: r.id,
            policy_key: r.policy_key.clone(),
            version: r.version,
            name: r.name.clone(),
            description: r.description.clone(),
            status: r.status(),
            artifact_type: r.artifact_type.clone(),
            forbid_self_approval: r.forbid_self_approval,
            forbid_repeat_approvers: r.forbid_repeat_approvers,
            created_by: r.created_by.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            stages: self.def.stages.iter().map(stage_out).collect(),
            expected_context: self.def.expected_context.clone(),
            context_keys: self.def.context_keys(),
        }
    }
}

fn rule_out(id: String, rule: &RuleDef) -> RuleOut {
    RuleOut {
        id,
        rule_type: rule.spec.rule_type(),
        rule_value: rule.raw_value.clone(),
        kind: rule.kind,
        required: rule.required,
    }
}

fn stage_out(s: &StageDef) -> StageOut {
    StageOut {
        id: s.id,
        name: s.name.clone(),
        stage_order: s.stage_order,
        mode: s.mode.as_str().into(),
        mode_value: s.mode_value,
        sla_hours: s.sla_hours,
        skip_if: s.skip_if.clone(),
        on_empty: s.on_empty,
        parallel_group: s.parallel_group,
        on_breach: s.on_breach,
        escalation_rules: s
            .escalation_rules
            .iter()
            .enumerate()
            .map(|(i, r)| rule_out(format!("esc-{}-{i}", s.id), r))
            .collect(),
        rules: s.rules.iter().map(|r| rule_out(r.id.to_string(), r)).collect(),
    }
}

pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    def: &PolicyDef,
    version: i32,
    created_by: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO policy (id, policy_key, version, name, description, status, artifact_type,
                             forbid_self_approval, forbid_repeat_approvers, created_by, created_at, updated_at,
                             expected_context)
         VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $9, $10, $10, $11)",
        id,
        def.policy_key,
        version,
        def.name,
        def.description,
        def.artifact_type,
        def.forbid_self_approval,
        def.forbid_repeat_approvers,
        created_by,
        now,
        declared(def)
    )
    .execute(&mut *conn)
    .await?;
    insert_stages(conn, id, def).await
}

/// Replaces a draft's content in place.
pub async fn replace_draft(
    conn: &mut PgConnection,
    id: Uuid,
    def: &PolicyDef,
    created_by: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE policy SET name = $2, description = $3, artifact_type = $4, forbid_self_approval = $5,
                forbid_repeat_approvers = $6, created_by = $7, updated_at = $8, expected_context = $9
         WHERE id = $1 AND status = 'draft'",
        id,
        def.name,
        def.description,
        def.artifact_type,
        def.forbid_self_approval,
        def.forbid_repeat_approvers,
        created_by,
        now,
        declared(def)
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("DELETE FROM policy_stage WHERE policy_id = $1", id).execute(&mut *conn).await?;
    insert_stages(conn, id, def).await
}

fn declared(def: &PolicyDef) -> Option<Value> {
    def.expected_context.as_ref().map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
}

async fn insert_stages(conn: &mut PgConnection, policy_id: Uuid, def: &PolicyDef) -> sqlx::Result<()> {
    for s in &def.stages {
        let escalation: Vec<Value> = s
            .escalation_rules
            .iter()
            .map(|r| {
                serde_json::json!({
                    "rule_type": r.spec.rule_type(), "rule_value": r.raw_value, "kind": r.kind, "required": r.required,
                })
            })
            .collect();
        sqlx::query!(
            "INSERT INTO policy_stage (id, policy_id, stage_order, name, mode, mode_value, sla_hours, skip_if,
                                       on_empty, parallel_group, on_breach, escalation_rules)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            s.id,
            policy_id,
            s.stage_order,
            s.name,
            s.mode.as_str(),
            s.mode_value,
            s.sla_hours,
            s.skip_if,
            s.on_empty.as_str(),
            s.parallel_group,
            s.on_breach.map(OnBreach::as_str),
            Value::Array(escalation)
        )
        .execute(&mut *conn)
        .await?;
        for (position, r) in s.rules.iter().enumerate() {
            sqlx::query!(
                "INSERT INTO policy_rule (id, stage_id, position, rule_type, rule_value, kind, required)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                r.id,
                s.id,
                position as i32,
                r.spec.rule_type().as_str(),
                r.raw_value,
                r.kind.as_str(),
                r.required
            )
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

pub async fn row(conn: &mut PgConnection, key: &str, version: i32) -> sqlx::Result<Option<PolicyRow>> {
    sqlx::query_as!(PolicyRow, "SELECT * FROM policy WHERE policy_key = $1 AND version = $2", key, version)
        .fetch_optional(&mut *conn)
        .await
}

pub async fn row_by_id(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<PolicyRow>> {
    sqlx::query_as!(PolicyRow, "SELECT * FROM policy WHERE id = $1", id).fetch_optional(&mut *conn).await
}

pub async fn active_row(conn: &mut PgConnection, key: &str) -> sqlx::Result<Option<PolicyRow>> {
    sqlx::query_as!(PolicyRow, "SELECT * FROM policy WHERE policy_key = $1 AND status = 'active'", key)
        .fetch_optional(&mut *conn)
        .await
}

/// Locks every version of a key, so concurrent activations serialise.
/// What a creation's context must hold under the key's active version:
/// its version and declaration, `None` without an active version.
pub async fn active_contract(conn: &mut PgConnection, key: &str) -> sqlx::Result<Option<(i32, Option<Value>)>> {
    let row =
        sqlx::query!("SELECT version, expected_context FROM policy WHERE policy_key = $1 AND status = 'active'", key)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|r| (r.version, r.expected_context)))
}

pub async fn lock_key(conn: &mut PgConnection, key: &str) -> sqlx::Result<Vec<PolicyRow>> {
    sqlx::query_as!(PolicyRow, "SELECT * FROM policy WHERE policy_key = $1 ORDER BY version DESC FOR UPDATE", key)
        .fetch_all(&mut *conn)
        .await
}

pub async fn set_status(
    conn: &mut PgConnection,
    id: Uuid,
    status: PolicyStatus,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!("UPDATE policy SET status = $2, updated_at = $3 WHERE id = $1", id, status.as_str(), now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Loads a version's stages and rules, parsed.
pub async fn load(conn: &mut PgConnection, row: PolicyRow) -> anyhow::Result<Policy> {
    let stages = sqlx::query!(
        "SELECT id, stage_order, name, mode, mode_value, sla_hours, skip_if, on_empty, parallel_group, on_breach,
                escalation_rules
         FROM policy_stage WHERE policy_id = $1 ORDER BY stage_order",
        row.id
    )
    .fetch_all(&mut *conn)
    .await?;
    let rules = sqlx::query!(
        "SELECT r.id, r.stage_id, r.rule_type, r.rule_value, r.kind, r.required
         FROM policy_rule r JOIN policy_stage s ON s.id = r.stage_id
         WHERE s.policy_id = $1 ORDER BY s.stage_order, r.position",
        row.id
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut defs = Vec::with_capacity(stages.len());
    for s in stages {
        let mut stage_rules = Vec::new();
        for r in rules.iter().filter(|r| r.stage_id == s.id) {
            stage_rules.push(stored_rule(r.id, &r.rule_type, &r.rule_value, &r.kind, r.required)?);
        }
        let mut escalation_rules = Vec::new();
        for (i, e) in s.escalation_rules.as_array().into_iter().flatten().enumerate() {
            let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            let value = e.get("rule_value").cloned().unwrap_or(Value::Null);
            let required = e.get("required").and_then(Value::as_bool).unwrap_or(false);
            let id = Uuid::new_v5(&s.id, format!("esc-{i}").as_bytes());
            escalation_rules.push(stored_rule(id, &field("rule_type"), &value, &field("kind"), required)?);
        }
        defs.push(StageDef {
            id: s.id,
            name: s.name,
            stage_order: s.stage_order,
            mode: StageMode::parse(&s.mode).context("stored stage mode")?,
            mode_value: s.mode_value,
            sla_hours: s.sla_hours,
            skip_if: s.skip_if,
            on_empty: if s.on_empty == "skip" { OnEmpty::Skip } else { OnEmpty::Block },
            parallel_group: s.parallel_group,
            on_breach: s.on_breach.as_deref().and_then(|b| serde_json::from_value(Value::String(b.into())).ok()),
            escalation_rules,
            rules: stage_rules,
        });
    }
    let def = PolicyDef {
        policy_key: row.policy_key.clone(),
        name: row.name.clone(),
        description: row.description.clone(),
        artifact_type: row.artifact_type.clone(),
        forbid_self_approval: row.forbid_self_approval,
        forbid_repeat_approvers: row.forbid_repeat_approvers,
        stages: defs,
        expected_context: match &row.expected_context {
            Some(v) => Some(serde_json::from_value(v.clone()).context("stored expected_context")?),
            None => None,
        },
    };
    Ok(Policy { row, def })
}

fn stored_rule(id: Uuid, rule_type: &str, value: &Value, kind: &str, required: bool) -> anyhow::Result<RuleDef> {
    let rule_type: RuleType = serde_json::from_value(Value::String(rule_type.into())).context("stored rule type")?;
    let spec = parse_rule_value("rule_value", rule_type, value).map_err(|e| anyhow::anyhow!("stored rule: {e}"))?;
    Ok(RuleDef {
        id,
        spec,
        raw_value: value.clone(),
        kind: if kind == "observer" { RuleKind::Observer } else { RuleKind::Approver },
        required,
    })
}

pub async fn max_version(conn: &mut PgConnection, key: &str) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!("SELECT max(version) FROM policy WHERE policy_key = $1", key).fetch_one(&mut *conn).await
}

/// The newest version of every key, ordered by key.
pub async fn latest_rows(conn: &mut PgConnection) -> sqlx::Result<Vec<PolicyRow>> {
    sqlx::query_as!(
        PolicyRow,
        r#"SELECT DISTINCT ON (policy_key) id AS "id!", policy_key AS "policy_key!", version AS "version!",
                  name AS "name!", description, status AS "status!", artifact_type AS "artifact_type!",
                  forbid_self_approval AS "forbid_self_approval!", forbid_repeat_approvers AS "forbid_repeat_approvers!",
                  created_by AS "created_by!", created_at AS "created_at!", updated_at AS "updated_at!",
                  expected_context
           FROM policy ORDER BY policy_key, version DESC"#
    )
    .fetch_all(&mut *conn)
    .await
}

pub async fn versions(conn: &mut PgConnection, key: &str) -> sqlx::Result<Vec<PolicyVersionOut>> {
    let rows = sqlx::query!(
        "SELECT id, policy_key, version, status, created_at FROM policy WHERE policy_key = $1 ORDER BY version DESC",
        key
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PolicyVersionOut {
            id: r.id,
            policy_key: r.policy_key,
            version: r.version,
            status: PolicyStatus::parse(&r.status).unwrap_or(PolicyStatus::Archived),
            created_at: r.created_at,
        })
        .collect())
}
