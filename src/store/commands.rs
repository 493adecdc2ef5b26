//! Processed command ids and `Idempotency-Key` rows: the two halves of
//! "no double effect".

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::command::Outcome;

pub async fn processed(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Outcome>> {
    let row = sqlx::query_scalar!("SELECT outcome FROM processed_command WHERE id = $1", id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.and_then(|v| serde_json::from_value(v).ok()))
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
