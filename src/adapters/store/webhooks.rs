//! Webhook deliveries and their attempts.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::contract::wire::DeliveryOut;

/// Where a request's events go, and whose secrets sign them.
pub struct Callback {
    pub url: Option<String>,
    pub secret_id: Option<Uuid>,
    /// The caller service of the attached secret, or the request's creator.
    pub caller: String,
}

pub async fn callback(conn: &mut PgConnection, request_id: Uuid) -> sqlx::Result<Option<Callback>> {
    sqlx::query_as!(
        Callback,
        r#"SELECT r.callback_url AS url, r.callback_secret_id AS secret_id,
                  coalesce(s.caller_service, r.source_service) AS "caller!"
           FROM approval_request r LEFT JOIN callback_secret s ON s.id = r.callback_secret_id
           WHERE r.id = $1"#,
        request_id
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Where the delivery of an event stands before an attempt: `None` when no
/// attempt was recorded yet (the row is written with the first attempt).
pub struct DeliveryState {
    pub status: String,
    pub attempt: i32,
}

pub async fn state(conn: &mut PgConnection, event_id: Uuid) -> sqlx::Result<Option<DeliveryState>> {
    sqlx::query_as!(DeliveryState, "SELECT status, attempt FROM webhook_delivery WHERE event_id = $1", event_id)
        .fetch_optional(&mut *conn)
        .await
}

/// One attempt at delivering an event, and the delivery's state after it.
pub struct Attempt<'a> {
    pub event_id: Uuid,
    pub request_id: Uuid,
    pub event_type: &'a str,
    pub seq: i32,
    pub url: &'a str,
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<&'a str>,
    pub signed: bool,
    /// `delivered`, `pending` (another attempt follows) or `exhausted`.
    pub status: &'a str,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Records an attempt and the delivery's new state in one statement (one
/// commit per attempt): the delivery (id = event id) is created by its first
/// attempt and updated by each later one; an attempt recorded before (a
/// redelivery racing the first) is kept.
pub async fn record(conn: &mut PgConnection, a: &Attempt<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        r#"WITH delivery AS (
               INSERT INTO webhook_delivery (id, event_id, request_id, event_type, seq, url, status, signed, attempt,
                                             last_attempt_at, last_status_code, last_error, next_attempt_at)
               VALUES ($1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
               ON CONFLICT (event_id) DO UPDATE
               SET attempt = EXCLUDED.attempt, status = EXCLUDED.status, last_attempt_at = EXCLUDED.last_attempt_at,
                   last_status_code = EXCLUDED.last_status_code, last_error = EXCLUDED.last_error,
                   next_attempt_at = EXCLUDED.next_attempt_at, signed = EXCLUDED.signed, updated_at = now()
           )
           INSERT INTO webhook_attempt (id, delivery_id, attempt, started_at, duration_ms, status_code, error, signed)
           VALUES ($13, $1, $8, $9, $14, $10, $11, $7)
           ON CONFLICT (delivery_id, attempt) DO NOTHING"#,
        a.event_id,
        a.request_id,
        a.event_type,
        a.seq,
        a.url,
        a.status,
        a.signed,
        a.attempt,
        a.started_at,
        a.status_code,
        a.error,
        a.next_attempt_at,
        Uuid::new_v5(&a.event_id, &a.attempt.to_be_bytes()),
        a.duration_ms
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The admin list's filters (API.md §4.6, with the added ones).
#[derive(Debug, Default)]
pub struct DeliveryFilter<'a> {
    pub status: Option<&'a str>,
    pub request_id: Option<Uuid>,
    pub event_type: Option<&'a str>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: i64,
    pub offset: i64,
}

pub async fn list(conn: &mut PgConnection, f: &DeliveryFilter<'_>) -> sqlx::Result<Vec<DeliveryOut>> {
    sqlx::query_as!(
        DeliveryOut,
        r#"SELECT id, event_id, request_id, event_type, seq, url, status, attempt, signed, next_attempt_at,
                  last_attempt_at, last_status_code, last_error, created_at, updated_at
           FROM webhook_delivery
           WHERE ($1::text IS NULL OR status = $1) AND ($2::uuid IS NULL OR request_id = $2)
             AND ($3::text IS NULL OR event_type = $3)
             AND ($4::timestamptz IS NULL OR created_at >= $4)
             AND ($5::timestamptz IS NULL OR created_at < $5)
           ORDER BY created_at DESC, seq DESC LIMIT $6 OFFSET $7"#,
        f.status,
        f.request_id,
        f.event_type,
        f.since,
        f.until,
        f.limit,
        f.offset
    )
    .fetch_all(&mut *conn)
    .await
}

/// Every attempt of one delivery, oldest first.
pub async fn attempts(
    conn: &mut PgConnection,
    delivery_id: Uuid,
) -> sqlx::Result<Vec<crate::contract::wire::AttemptOut>> {
    sqlx::query_as!(
        crate::contract::wire::AttemptOut,
        "SELECT attempt, started_at, duration_ms, status_code, error, signed
         FROM webhook_attempt WHERE delivery_id = $1 ORDER BY attempt",
        delivery_id
    )
    .fetch_all(&mut *conn)
    .await
}

/// Sets deliveries back to pending for another round of attempts; returns them.
pub async fn reset(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Vec<DeliveryOut>> {
    sqlx::query_as!(
        DeliveryOut,
        r#"UPDATE webhook_delivery
           SET status = 'pending', attempt = 0, next_attempt_at = now(), last_error = NULL, last_status_code = NULL,
               updated_at = now()
           WHERE id = ANY($1)
           RETURNING id, event_id, request_id, event_type, seq, url, status, attempt, signed, next_attempt_at,
                     last_attempt_at, last_status_code, last_error, created_at, updated_at"#,
        ids
    )
    .fetch_all(&mut *conn)
    .await
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<DeliveryOut>> {
    sqlx::query_as!(
        DeliveryOut,
        r#"SELECT id, event_id, request_id, event_type, seq, url, status, attempt, signed, next_attempt_at,
                  last_attempt_at, last_status_code, last_error, created_at, updated_at
           FROM webhook_delivery WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Exhausted deliveries of a request and/or a time range, oldest first.
pub async fn exhausted(
    conn: &mut PgConnection,
    request_id: Option<Uuid>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT id FROM webhook_delivery
         WHERE status = 'exhausted' AND ($1::uuid IS NULL OR request_id = $1)
           AND ($2::timestamptz IS NULL OR created_at >= $2) AND ($3::timestamptz IS NULL OR created_at < $3)
         ORDER BY created_at, seq LIMIT $4 FOR UPDATE",
        request_id,
        since,
        until,
        limit
    )
    .fetch_all(&mut *conn)
    .await
}

/// The events behind deliveries, to send again.
pub async fn events_of(
    conn: &mut PgConnection,
    delivery_ids: &[Uuid],
) -> sqlx::Result<Vec<(Uuid, crate::contract::event::StoredEvent)>> {
    let rows = sqlx::query!(
        "SELECT d.id AS delivery_id, e.id, e.request_id, e.seq, e.event_type, e.payload, e.created_at
         FROM webhook_delivery d JOIN approval_event e ON e.id = d.event_id
         WHERE d.id = ANY($1) ORDER BY e.request_id, e.seq",
        delivery_ids
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let event = crate::contract::event::StoredEvent {
                id: r.id,
                request_id: r.request_id,
                seq: r.seq,
                event_type: r.event_type,
                payload: r.payload,
                created_at: r.created_at,
                has_callback: Some(true),
                // Sent again in the trace of whoever asked for the retry.
                traceparent: None,
            };
            (r.delivery_id, event)
        })
        .collect())
}

/// The deliveries of these events, whatever their status (a replay).
pub async fn of_events(conn: &mut PgConnection, event_ids: &[Uuid]) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT id FROM webhook_delivery WHERE event_id = ANY($1) ORDER BY request_id, seq FOR UPDATE",
        event_ids
    )
    .fetch_all(&mut *conn)
    .await
}
