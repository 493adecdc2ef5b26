//! Sealed callback secrets.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::adapters::secrets::Sealed;
use crate::contract::wire::SecretOut;

pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    caller: &str,
    sealed: &Sealed,
    created_by: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<SecretOut> {
    sqlx::query_as!(
        SecretOut,
        "INSERT INTO callback_secret (id, caller_service, ciphertext, nonce, fingerprint, status, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, 'active', $6, $7)
         RETURNING id, caller_service, fingerprint, status, created_by, created_at, rotated_at, valid_until, revoked_at",
        id,
        caller,
        &sealed.ciphertext,
        &sealed.nonce,
        sealed.fingerprint,
        created_by,
        now
    )
    .fetch_one(&mut *conn)
    .await
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<SecretOut>> {
    sqlx::query_as!(
        SecretOut,
        "SELECT id, caller_service, fingerprint, status, created_by, created_at, rotated_at, valid_until, revoked_at
         FROM callback_secret WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Retires a secret: `rotated` keeps signing until `valid_until`, `revoked` stops now.
pub async fn retire(
    conn: &mut PgConnection,
    id: Uuid,
    status: &str,
    now: DateTime<Utc>,
    valid_until: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE callback_secret
         SET status = $2,
             rotated_at = CASE WHEN $2 = 'rotated' THEN $3 ELSE rotated_at END,
             revoked_at = CASE WHEN $2 = 'revoked' THEN $3 ELSE revoked_at END,
             valid_until = $4
         WHERE id = $1",
        id,
        status,
        now,
        valid_until
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn list(conn: &mut PgConnection, caller: Option<&str>) -> sqlx::Result<Vec<SecretOut>> {
    sqlx::query_as!(
        SecretOut,
        "SELECT id, caller_service, fingerprint, status, created_by, created_at, rotated_at, valid_until, revoked_at
         FROM callback_secret WHERE ($1::text IS NULL OR caller_service = $1)
         ORDER BY created_at DESC LIMIT 500",
        caller
    )
    .fetch_all(&mut *conn)
    .await
}

/// The keys that sign a caller's deliveries at `at`: the active one first,
/// then rotated ones still in their overlap.
pub async fn signing_keys(
    conn: &mut PgConnection,
    caller: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let rows = sqlx::query!(
        "SELECT ciphertext, nonce FROM callback_secret
         WHERE caller_service = $1 AND (status = 'active' OR (status = 'rotated' AND valid_until > $2))
         ORDER BY (status = 'active') DESC, rotated_at DESC NULLS LAST",
        caller,
        at
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.ciphertext, r.nonce)).collect())
}
