//! What the ingress reads straight from PostgreSQL.

use sqlx::PgConnection;
use uuid::Uuid;

use super::requests::RequestRow;
use crate::contract::wire::{EventOut, TaskOut};

pub async fn request(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as!(RequestRow, "SELECT * FROM approval_request WHERE id = $1", id).fetch_optional(&mut *conn).await
}

#[derive(Debug, Default)]
pub struct RequestFilter<'a> {
    pub artifact_type: Option<&'a str>,
    pub artifact_id: Option<&'a str>,
    pub status: Option<&'a str>,
    /// Only requests this client created; `None` for viewers and admins.
    pub source_service: Option<&'a str>,
    pub policy_key: Option<&'a str>,
    pub requester: Option<&'a str>,
    /// Inclusive.
    pub created_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Exclusive.
    pub created_until: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: i64,
    pub offset: i64,
}

pub async fn search_requests(conn: &mut PgConnection, f: &RequestFilter<'_>) -> sqlx::Result<Vec<RequestRow>> {
    sqlx::query_as!(
        RequestRow,
        "SELECT * FROM approval_request
         WHERE ($1::text IS NULL OR artifact_type = $1)
           AND ($2::text IS NULL OR artifact_id = $2)
           AND ($3::text IS NULL OR status = $3)
           AND ($4::text IS NULL OR source_service = $4)
           AND ($5::text IS NULL OR policy_key = $5)
           AND ($6::text IS NULL OR requester = $6)
           AND ($7::timestamptz IS NULL OR created_at >= $7)
           AND ($8::timestamptz IS NULL OR created_at < $8)
         ORDER BY created_at DESC, id DESC
         LIMIT $9 OFFSET $10",
        f.artifact_type,
        f.artifact_id,
        f.status,
        f.source_service,
        f.policy_key,
        f.requester,
        f.created_since,
        f.created_until,
        f.limit,
        f.offset
    )
    .fetch_all(&mut *conn)
    .await
}

pub async fn events(conn: &mut PgConnection, request_id: Uuid) -> sqlx::Result<Vec<EventOut>> {
    sqlx::query_as!(
        EventOut,
        "SELECT id, request_id, event_type, payload, created_at, seq FROM approval_event
         WHERE request_id = $1 ORDER BY seq",
        request_id
    )
    .fetch_all(&mut *conn)
    .await
}

/// The contract's task filters, already resolved against the caller.
#[derive(Debug, Default)]
pub struct TaskFilter {
    pub assignee: Option<String>,
    /// `assignee=*` without a status: completed tasks, or open ones of this user.
    pub completed_or_open_for: Option<String>,
    pub status: Option<String>,
    pub request_id: Option<Uuid>,
    pub artifact_type: Option<String>,
    pub policy_key: Option<String>,
    /// An `ILIKE` pattern, already escaped.
    pub search: Option<String>,
    /// Open or claimed and past their due time.
    pub overdue: bool,
    pub stage_order: Option<i32>,
}

/// How many tasks match; the request is consulted only when a filter is on it,
/// so counting an inbox touches nothing but the inbox index.
/// How many tasks match, counted up to `cap` when given.
pub async fn count_tasks(conn: &mut PgConnection, f: &TaskFilter, cap: Option<i64>) -> sqlx::Result<i64> {
    let n = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM (SELECT 1 FROM approval_task t
           WHERE ($1::text IS NULL OR t.assignee = $1)
             AND ($2::text IS NULL OR t.status = 'completed' OR (t.status = 'open' AND t.assignee = $2))
             AND ($3::text IS NULL OR t.status = $3)
             AND ($4::uuid IS NULL OR t.request_id = $4)
             AND (NOT $8::bool OR (t.status IN ('open', 'claimed') AND t.due_at < now()))
             AND ($9::int IS NULL OR t.stage_order = $9)
             AND (($5::text IS NULL AND $6::text IS NULL AND $7::text IS NULL) OR EXISTS (
                   SELECT 1 FROM approval_request r
                   WHERE r.id = t.request_id
                     AND ($5::text IS NULL OR r.artifact_type = $5)
                     AND ($6::text IS NULL OR r.policy_key = $6)
                     AND ($7::text IS NULL OR t.search_text ILIKE $7 OR r.context::text ILIKE $7)))
           LIMIT $10) AS matching"#,
        f.assignee,
        f.completed_or_open_for,
        f.status,
        f.request_id,
        f.artifact_type,
        f.policy_key,
        f.search,
        f.overdue,
        f.stage_order,
        cap
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(n)
}

pub async fn tasks(conn: &mut PgConnection, f: &TaskFilter, limit: i64, offset: i64) -> sqlx::Result<Vec<TaskOut>> {
    sqlx::query_as!(
        TaskOut,
        r#"SELECT t.id, t.request_id, t.stage_id, t.stage_order, t.assignee, t.kind, t.delegated_from,
                  t.reassigned_from, t.status, t.claimed_at, t.completed_at, t.due_at, t.decision_id,
                  (SELECT d.action FROM approval_decision d WHERE d.id = t.decision_id) AS "decision_action?",
                  (SELECT d.comment FROM approval_decision d WHERE d.id = t.decision_id) AS "decision_comment?",
                  t.created_at,
                  r.context AS "context?", r.artifact_type AS "artifact_type?", r.artifact_id AS "artifact_id?",
                  r.policy_key AS "policy_key?", t.search_text
           FROM approval_task t
           JOIN approval_request r ON r.id = t.request_id
           WHERE ($1::text IS NULL OR t.assignee = $1)
             AND ($2::text IS NULL OR t.status = 'completed' OR (t.status = 'open' AND t.assignee = $2))
             AND ($3::text IS NULL OR t.status = $3)
             AND ($4::uuid IS NULL OR t.request_id = $4)
             AND ($5::text IS NULL OR r.artifact_type = $5)
             AND ($6::text IS NULL OR r.policy_key = $6)
             AND ($7::text IS NULL OR t.search_text ILIKE $7 OR r.context::text ILIKE $7)
             AND (NOT $10::bool OR (t.status IN ('open', 'claimed') AND t.due_at < now()))
             AND ($11::int IS NULL OR t.stage_order = $11)
           ORDER BY t.created_at DESC, t.id DESC
           LIMIT $8 OFFSET $9"#,
        f.assignee,
        f.completed_or_open_for,
        f.status,
        f.request_id,
        f.artifact_type,
        f.policy_key,
        f.search,
        limit,
        offset,
        f.overdue,
        f.stage_order
    )
    .fetch_all(&mut *conn)
    .await
}

/// `%text%` for `ILIKE`, with the caller's `%`, `_` and `\` taken literally.
pub fn contains_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
