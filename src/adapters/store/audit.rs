//! The admin audit log: append-only rows of who changed shared configuration.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::contract::wire::{AuditActionOut, AuditQuery};
use crate::domain::Actor;

pub struct AuditEntry<'a> {
    pub actor: &'a Actor,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: String,
    pub summary: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub metadata: Option<Value>,
}

pub async fn record(conn: &mut PgConnection, id: Uuid, entry: AuditEntry<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO audit_action (id, actor, actor_email, action, resource_type, resource_id, summary, before, after, metadata)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        id,
        entry.actor.sub,
        entry.actor.email,
        entry.action,
        entry.resource_type,
        entry.resource_id,
        entry.summary,
        entry.before,
        entry.after,
        entry.metadata
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn list(
    conn: &mut PgConnection,
    q: &AuditQuery,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<AuditActionOut>> {
    let rows = sqlx::query!(
        r#"SELECT id, occurred_at, actor, actor_email, action, resource_type, resource_id, summary, before, after, metadata
           FROM audit_action
           WHERE ($1::text IS NULL OR actor = $1)
             AND ($2::text IS NULL OR action = $2)
             AND ($3::text IS NULL OR resource_type = $3)
             AND ($4::text IS NULL OR resource_id = $4)
             AND ($5::timestamptz IS NULL OR occurred_at >= $5)
             AND ($6::timestamptz IS NULL OR occurred_at < $6)
           ORDER BY occurred_at DESC, id DESC
           LIMIT $7 OFFSET $8"#,
        q.actor,
        q.action,
        q.resource_type,
        q.resource_id,
        q.since,
        q.until,
        limit,
        offset
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditActionOut {
            id: r.id,
            occurred_at: r.occurred_at,
            actor: r.actor,
            actor_email: r.actor_email,
            action: r.action,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            summary: r.summary,
            before: r.before,
            after: r.after,
            metadata_: r.metadata.clone(),
            metadata: r.metadata,
        })
        .collect())
}
