//! Processed command ids and `Idempotency-Key` rows: the two halves of
//! "no double effect".

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::contract::command::Outcome;

pub async fn processed(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Outcome>> {
    let row = sqlx::query_scalar!("SELECT outcome FROM processed_command WHERE id = $1", id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.and_then(|v| serde_json::from_value(v).ok()))
}

/// A creation answered once its first stage was resolved: its stored outcome
/// becomes the final answer (`GET /commands/{id}` and late readers see it).
pub async fn settle_creation(conn: &mut PgConnection, id: Uuid, outcome: &Outcome) -> sqlx::Result<()> {
    let outcome = serde_json::to_value(outcome).unwrap_or(Value::Null);
    sqlx::query!("UPDATE processed_command SET outcome = $2 WHERE id = $1", id, outcome).execute(&mut *conn).await?;
    Ok(())
}

/// The stored response of an `Idempotency-Key` becomes the creation's final
/// answer, so a retry replays what the waiting caller was given.
pub async fn settle_idempotency(conn: &mut PgConnection, client: &str, key: &str, body: &Value) -> sqlx::Result<()> {
    sqlx::query!("UPDATE idempotency_key SET response = $3 WHERE client = $1 AND key = $2", client, key, body)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records a command as applied; `false` when another worker got there first.
pub async fn mark_processed(conn: &mut PgConnection, id: Uuid, kind: &str, outcome: &Outcome) -> sqlx::Result<bool> {
    let outcome_json = serde_json::to_value(outcome).unwrap_or(Value::Null);
    let done = sqlx::query!(
        "INSERT INTO processed_command (id, command_type, status_code, outcome) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO NOTHING",
        id,
        kind,
        i32::from(outcome.status()),
        outcome_json
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub struct StoredIdempotency {
    pub body_hash: String,
    pub request_id: Uuid,
    pub status_code: i32,
    pub response: Value,
}

pub async fn idempotency(conn: &mut PgConnection, client: &str, key: &str) -> sqlx::Result<Option<StoredIdempotency>> {
    sqlx::query_as!(
        StoredIdempotency,
        "SELECT body_hash, request_id, status_code, response FROM idempotency_key WHERE client = $1 AND key = $2",
        client,
        key
    )
    .fetch_optional(&mut *conn)
    .await
}
