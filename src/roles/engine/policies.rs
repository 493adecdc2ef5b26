//! Policy commands: versions, drafts, activation, with audit rows.

use anyhow::Context as _;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgConnection;

use super::apply::*;
use super::Engine;
use crate::adapters::store::audit::{self, AuditEntry};
use crate::adapters::store::is_unique_violation;
use crate::adapters::store::policies::CompiledPolicy;
use crate::adapters::store::policies::{self, Policy};
use crate::contract::error::{code, ApiError, Result};
use crate::domain::{Actor, Ids, PolicyIn, PolicyStatus};

impl Engine {
    pub(super) async fn policy_create(
        &self,
        conn: &mut PgConnection,
        doc: &PolicyIn,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        let def = doc.parse(ids).map_err(ApiError::bad_policy)?;
        if policies::max_version(conn, &def.policy_key).await.context("policy lookup")?.is_some() {
            return Err(policy_exists(&def.policy_key));
        }
        let id = ids.next_id();
        if let Err(err) = policies::insert(conn, id, &def, 1, &actor.sub, now).await {
            return Err(if is_unique_violation(&err, "policy_policy_key_version_key") {
                policy_exists(&def.policy_key)
            } else {
                ApiError::Internal(err.into())
            });
        }
        let out = self.policy(conn, &def.policy_key, 1).await?.out();
        self.audit(
            conn,
            ids,
            actor,
            "policy.create",
            &out.policy_key,
            out.version,
            None,
            Some(json!(out)),
            format!("Created {} v1", out.policy_key),
        )
        .await?;
        Ok(Applied::answer(StatusCode::CREATED, out))
    }

    pub(super) async fn policy_add_version(
        &self,
        conn: &mut PgConnection,
        key: &str,
        doc: &PolicyIn,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        same_key(key, doc)?;
        let def = doc.parse(ids).map_err(ApiError::bad_policy)?;
        let versions = policies::lock_key(conn, key).await.context("locking policy versions")?;
        let Some(newest) = versions.first() else {
            return Err(ApiError::not_found(code::POLICY_NOT_FOUND, format!("Policy '{key}' not found")));
        };
        let version = newest.version + 1;
        policies::insert(conn, ids.next_id(), &def, version, &actor.sub, now).await.context("inserting version")?;
        let out = self.policy(conn, key, version).await?.out();
        self.audit(
            conn,
            ids,
            actor,
            "policy.add_version",
            key,
            version,
            None,
            Some(json!(out)),
            format!("Added {key} v{version}"),
        )
        .await?;
        Ok(Applied::answer(StatusCode::CREATED, out))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn policy_update(
        &self,
        conn: &mut PgConnection,
        key: &str,
        version: i32,
        doc: &PolicyIn,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        same_key(key, doc)?;
        let def = doc.parse(ids).map_err(ApiError::bad_policy)?;
        policies::lock_key(conn, key).await.context("locking policy versions")?;
        let before = self.policy(conn, key, version).await?;
        if before.row.status() != PolicyStatus::Draft {
            return Err(ApiError::conflict(
                code::INVALID_STATE,
                format!(
                    "{key} v{version} is {}; only a draft can be edited. Add a new version with PUT /policies/{key}",
                    before.row.status
                ),
            ));
        }
        policies::replace_draft(conn, before.row.id, &def, &actor.sub, now).await.context("replacing draft")?;
        let after = self.policy(conn, key, version).await?.out();
        self.audit(
            conn,
            ids,
            actor,
            "policy.update",
            key,
            version,
            Some(json!(before.out())),
            Some(json!(after)),
            format!("Updated {key} v{version}"),
        )
        .await?;
        Ok(Applied::answer(StatusCode::OK, after))
    }

    pub(super) async fn policy_activate(
        &self,
        conn: &mut PgConnection,
        key: &str,
        version: i32,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        let (versions, target) = lock_version(conn, key, version).await?;
        let target = &target;
        let prior = versions.iter().find(|v| v.status() == PolicyStatus::Active);
        // Refuse to activate what the engine could not run.
        let candidate = policies::load(conn, target.clone()).await?;
        CompiledPolicy::compile(candidate)
            .map_err(|e| ApiError::bad_request(code::BAD_POLICY, format!("cannot activate: {e}")))?;
        let before = prior.map(|p| json!({"status": p.status, "version": p.version}));
        if let Some(prior) = prior.filter(|p| p.id != target.id) {
            policies::set_status(conn, prior.id, PolicyStatus::Archived, now).await.context("archiving")?;
        }
        if target.status() != PolicyStatus::Active {
            policies::set_status(conn, target.id, PolicyStatus::Active, now).await.context("activating")?;
        }
        let out = self.policy(conn, key, version).await?.out();
        let after = json!({"status": "active", "version": version});
        self.audit(
            conn,
            ids,
            actor,
            "policy.activate",
            key,
            version,
            before,
            Some(after),
            format!("Activated {key} v{version}"),
        )
        .await?;
        Ok(Applied::answer(StatusCode::OK, out))
    }

    pub(super) async fn policy_deactivate(
        &self,
        conn: &mut PgConnection,
        key: &str,
        version: i32,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        let (_, target) = lock_version(conn, key, version).await?;
        if target.status() != PolicyStatus::Active {
            return Err(ApiError::conflict(
                code::INVALID_STATE,
                format!("{key} v{version} is {}, not active", target.status),
            ));
        }
        policies::set_status(conn, target.id, PolicyStatus::Archived, now).await.context("archiving")?;
        let out = self.policy(conn, key, version).await?.out();
        self.audit(
            conn,
            ids,
            actor,
            "policy.deactivate",
            key,
            version,
            Some(json!({"status": "active"})),
            Some(json!({"status": "archived"})),
            format!("Deactivated {key} v{version}"),
        )
        .await?;
        Ok(Applied::answer(StatusCode::OK, out))
    }

    pub(super) async fn policy(&self, conn: &mut PgConnection, key: &str, version: i32) -> Result<Policy> {
        let row = policies::row(conn, key, version)
            .await
            .context("policy lookup")?
            .ok_or_else(|| version_not_found(key, version))?;
        Ok(policies::load(conn, row).await?)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn audit(
        &self,
        conn: &mut PgConnection,
        ids: &mut Ids,
        actor: &Actor,
        action: &str,
        key: &str,
        version: i32,
        before: Option<Value>,
        after: Option<Value>,
        summary: String,
    ) -> Result<()> {
        let entry = AuditEntry {
            actor,
            action,
            resource_type: "policy",
            resource_id: format!("{key}:v{version}"),
            summary,
            before,
            after,
            metadata: None,
        };
        audit::record(conn, ids.next_id(), entry).await.context("writing audit row")?;
        Ok(())
    }
}

fn same_key(key: &str, doc: &PolicyIn) -> Result<()> {
    if doc.policy_key == key {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            code::BAD_POLICY,
            format!("policy_key: the body names '{}' but the path names '{key}'", doc.policy_key),
        ))
    }
}
fn policy_exists(key: &str) -> ApiError {
    ApiError::conflict(
        code::POLICY_CONFLICT,
        format!("Policy '{key}' already exists; add a version with PUT /policies/{key}"),
    )
}
/// Locks every version of a key (so activations serialise) and picks one.
async fn lock_version(
    conn: &mut PgConnection,
    key: &str,
    version: i32,
) -> Result<(Vec<policies::PolicyRow>, policies::PolicyRow)> {
    let versions = policies::lock_key(conn, key).await.context("locking policy versions")?;
    let target =
        versions.iter().find(|v| v.version == version).cloned().ok_or_else(|| version_not_found(key, version))?;
    Ok((versions, target))
}

fn version_not_found(key: &str, version: i32) -> ApiError {
    ApiError::not_found(code::POLICY_NOT_FOUND, format!("Policy '{key}' version {version} not found"))
}
