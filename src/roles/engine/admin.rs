//! Operator commands: webhook deliveries, callback secrets, delegations.

use anyhow::Context as _;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::apply::*;
use super::Engine;
use crate::adapters::secrets::Sealed;
use crate::adapters::store::audit::{self, AuditEntry};
use crate::adapters::store::delegations::{self, NewDelegation};
use crate::adapters::store::is_unique_violation;
use crate::adapters::store::{secrets, webhooks};
use crate::contract::checks::{validate_delegation, MAX_ID_LEN};
use crate::contract::command::SealedSecret;
use crate::contract::error::{code, ApiError, Result};
use crate::contract::wire::{DelegationIn, SecretOut};
use crate::domain::{Actor, Ids};

impl Engine {
    // ------------------------------------------------------------ webhook deliveries

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn delivery_retry(
        &self,
        conn: &mut PgConnection,
        delivery_id: Option<Uuid>,
        request_id: Option<Uuid>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        actor: &Actor,
        ids: &mut Ids,
    ) -> Result<Applied> {
        require_admin(actor)?;
        if let Some(id) = delivery_id {
            let before = webhooks::get(conn, id)
                .await
                .context("delivery lookup")?
                .ok_or_else(|| ApiError::not_found(code::INVALID_STATE, format!("Delivery {id} not found")))?;
            if before.status == "delivered" {
                return Err(ApiError::conflict(
                    code::INVALID_STATE,
                    format!("Delivery {id} was delivered; nothing to retry"),
                ));
            }
            let after = webhooks::reset(conn, &[id]).await.context("resetting the delivery")?;
            let after = after.into_iter().next().context("the reset delivery")?;
            let entry = AuditEntry {
                actor,
                action: "delivery.retry",
                resource_type: "delivery",
                resource_id: id.to_string(),
                summary: format!(
                    "Retried the {} delivery of {} to {}",
                    before.event_type, before.request_id, before.url
                ),
                before: Some(json!({"status": before.status, "attempt": before.attempt,
                                    "last_status_code": before.last_status_code, "last_error": before.last_error})),
                after: Some(json!({"status": "pending", "attempt": 0})),
                metadata: Some(json!({"request_id": before.request_id})),
            };
            audit::record(conn, ids.next_id(), entry).await.context("writing audit row")?;
            return Ok(Applied::answer(StatusCode::OK, after));
        }
        if request_id.is_none() && since.is_none() && until.is_none() {
            return Err(ApiError::invalid(&["body"], "name a request_id or a time range (since, until)", Value::Null));
        }
        let targets = webhooks::exhausted(conn, request_id, since, until, 1000).await.context("finding deliveries")?;
        webhooks::reset(conn, &targets).await.context("resetting deliveries")?;
        let entry = AuditEntry {
            actor,
            action: "delivery.retry",
            resource_type: "delivery",
            resource_id: request_id.map_or_else(|| "bulk".to_owned(), |r| r.to_string()),
            summary: format!("Retried {} exhausted deliveries", targets.len()),
            before: Some(json!({"status": "exhausted"})),
            after: Some(json!({"status": "pending", "attempt": 0})),
            metadata: Some(json!({"request_id": request_id, "since": since, "until": until, "delivery_ids": targets})),
        };
        audit::record(conn, ids.next_id(), entry).await.context("writing audit row")?;
        Ok(Applied::answer(StatusCode::OK, json!({"retried": targets.len(), "delivery_ids": targets})))
    }

    /// Sends events to their webhooks again, delivered or not (`awe replay`).
    pub(super) async fn delivery_replay(
        &self,
        conn: &mut PgConnection,
        event_ids: &[Uuid],
        actor: &Actor,
        ids: &mut Ids,
    ) -> Result<Applied> {
        require_admin(actor)?;
        let targets = webhooks::of_events(conn, event_ids).await.context("finding deliveries")?;
        webhooks::reset(conn, &targets).await.context("resetting deliveries")?;
        let entry = AuditEntry {
            actor,
            action: "delivery.retry",
            resource_type: "delivery",
            resource_id: "replay".to_owned(),
            summary: format!("Replayed {} deliveries of {} events", targets.len(), event_ids.len()),
            before: None,
            after: Some(json!({"status": "pending", "attempt": 0})),
            metadata: Some(json!({"replay": true, "events": event_ids.len(), "delivery_ids": targets})),
        };
        audit::record(conn, ids.next_id(), entry).await.context("writing audit row")?;
        Ok(Applied::answer(StatusCode::OK, json!({"retried": targets.len(), "delivery_ids": targets})))
    }

    // ------------------------------------------------------------ callback secrets

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn secret_create(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        caller: &str,
        sealed: &SealedSecret,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        if caller.trim().is_empty() || caller.chars().count() > MAX_ID_LEN {
            return Err(ApiError::invalid(
                &["body", "caller_service"],
                format!("must be 1 to {MAX_ID_LEN} characters"),
                json!(caller),
            ));
        }
        let sealed = unwire(sealed)?;
        let out = match secrets::insert(conn, id, caller, &sealed, &actor.sub, now).await {
            Ok(out) => out,
            Err(e) if is_unique_violation(&e, "callback_secret_one_active") => {
                return Err(ApiError::conflict(
                    code::INVALID_STATE,
                    format!("{caller} already has an active secret; rotate it instead"),
                ));
            }
            Err(e) => return Err(ApiError::Internal(e.into())),
        };
        self.audit_secret(
            conn,
            ids,
            actor,
            "callback_secret.create",
            &out,
            None,
            format!("Created a callback secret for {caller}"),
        )
        .await?;
        Ok(Applied::answer(StatusCode::CREATED, out))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn secret_rotate(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        new_id: Uuid,
        sealed: &SealedSecret,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        let old = self.secret(conn, id).await?;
        if old.status != "active" {
            return Err(ApiError::conflict(
                code::INVALID_STATE,
                format!("Secret {id} is {}; only the active secret rotates", old.status),
            ));
        }
        let valid_until =
            now + chrono::Duration::seconds(i64::try_from(self.rotation_overlap.as_secs()).unwrap_or(i64::MAX / 2));
        secrets::retire(conn, id, "rotated", now, Some(valid_until)).await.context("retiring the secret")?;
        let out = secrets::insert(conn, new_id, &old.caller_service, &unwire(sealed)?, &actor.sub, now)
            .await
            .context("inserting the secret")?;
        let summary =
            format!("Rotated the callback secret of {}; the old one signs until {valid_until}", old.caller_service);
        self.audit_secret(conn, ids, actor, "callback_secret.rotate", &out, Some(json!(old)), summary).await?;
        Ok(Applied::answer(StatusCode::CREATED, out))
    }

    pub(super) async fn secret_revoke(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        require_admin(actor)?;
        let old = self.secret(conn, id).await?;
        if old.status == "revoked" {
            return Err(ApiError::conflict(code::INVALID_STATE, format!("Secret {id} is already revoked")));
        }
        secrets::retire(conn, id, "revoked", now, None).await.context("revoking the secret")?;
        let after = self.secret(conn, id).await?;
        self.audit_secret(
            conn,
            ids,
            actor,
            "callback_secret.revoke",
            &after,
            Some(json!(old)),
            format!("Revoked secret {id}"),
        )
        .await?;
        Ok(Applied::answer(StatusCode::NO_CONTENT, Value::Null))
    }

    pub(super) async fn secret(&self, conn: &mut PgConnection, id: Uuid) -> Result<SecretOut> {
        secrets::get(conn, id)
            .await
            .context("secret lookup")?
            .ok_or_else(|| ApiError::not_found(code::TASK_NOT_FOUND, format!("Callback secret {id} not found")))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn audit_secret(
        &self,
        conn: &mut PgConnection,
        ids: &mut Ids,
        actor: &Actor,
        action: &str,
        after: &SecretOut,
        before: Option<Value>,
        summary: String,
    ) -> Result<()> {
        let entry = AuditEntry {
            actor,
            action,
            resource_type: "callback_secret",
            resource_id: after.id.to_string(),
            summary,
            before,
            after: Some(json!(after)),
            metadata: Some(json!({"caller_service": after.caller_service})),
        };
        audit::record(conn, ids.next_id(), entry).await.context("writing audit row")?;
        Ok(())
    }

    // ------------------------------------------------------------ delegations

    pub(super) async fn delegation_create(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        d: &DelegationIn,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        validate_delegation(d)?;
        if !actor.is_admin() && actor.assignee_id != d.user_id {
            return Err(ApiError::forbidden("Only an AWE_ADMIN may delegate for someone else"));
        }
        let new = NewDelegation {
            id,
            user_id: &d.user_id,
            delegate_to: &d.delegate_to,
            starts_at: d.starts_at,
            ends_at: d.ends_at,
            reason: d.reason.as_deref(),
            created_by: &actor.sub,
            now,
        };
        let out = delegations::insert(conn, &new).await.context("inserting delegation")?;
        let entry = AuditEntry {
            actor,
            action: "delegation.create",
            resource_type: "delegation",
            resource_id: id.to_string(),
            summary: format!("{} delegates to {} from {} until {}", d.user_id, d.delegate_to, d.starts_at, d.ends_at),
            before: None,
            after: Some(json!(out)),
            metadata: None,
        };
        audit::record(conn, ids.next_id(), entry).await.context("writing audit row")?;
        Ok(Applied::answer(StatusCode::CREATED, out))
    }

    pub(super) async fn delegation_revoke(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        actor: &Actor,
        ids: &mut Ids,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let existing = delegations::get(conn, id)
            .await
            .context("delegation lookup")?
            .ok_or_else(|| ApiError::not_found(code::TASK_NOT_FOUND, format!("Delegation {id} not found")))?;
        if !actor.is_admin() && actor.assignee_id != existing.user_id {
            return Err(ApiError::forbidden("Only an AWE_ADMIN may revoke someone else's delegation"));
        }
        delegations::revoke(conn, id, now).await.context("revoking delegation")?;
        let entry = AuditEntry {
            actor,
            action: "delegation.delete",
            resource_type: "delegation",
            resource_id: id.to_string(),
            summary: format!("Revoked the delegation of {} to {}", existing.user_id, existing.delegate_to),
            before: Some(json!(existing)),
            after: None,
            metadata: None,
        };
        audit::record(conn, ids.next_id(), entry).await.context("writing audit row")?;
        Ok(Applied::answer(StatusCode::NO_CONTENT, Value::Null))
    }
}

fn unwire(sealed: &SealedSecret) -> Result<Sealed> {
    use base64::Engine as _;
    let decode = |field: &str, v: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(v)
            .map_err(|_| ApiError::invalid(&["payload", "sealed", field], "must be base64", Value::Null))
    };
    Ok(Sealed {
        ciphertext: decode("ciphertext", &sealed.ciphertext)?,
        nonce: decode("nonce", &sealed.nonce)?,
        fingerprint: sealed.fingerprint.clone(),
    })
}
