//! The operator console's overview: counts an operator checks first and
//! activity per hour or day, each answered from a (partial) index.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::contract::wire::{OldestOpen, SeriesPoint};

pub struct Counts {
    pub requests_in_review: i64,
    pub requests_pending: i64,
    pub tasks_overdue: i64,
    pub deliveries_failing: i64,
    pub deliveries_exhausted: i64,
}

pub async fn counts(conn: &mut PgConnection) -> sqlx::Result<Counts> {
    let r = sqlx::query!(
        r#"SELECT
             (SELECT count(*) FROM approval_request WHERE status = 'in_review') AS "in_review!",
             (SELECT count(*) FROM approval_request WHERE status = 'pending') AS "pending!",
             (SELECT count(*) FROM approval_task
               WHERE status IN ('open', 'claimed') AND due_at IS NOT NULL AND due_at < now()) AS "overdue!",
             (SELECT count(*) FROM webhook_delivery WHERE status = 'pending' AND attempt > 0) AS "failing!",
             (SELECT count(*) FROM webhook_delivery WHERE status = 'exhausted') AS "exhausted!""#
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Counts {
        requests_in_review: r.in_review,
        requests_pending: r.pending,
        tasks_overdue: r.overdue,
        deliveries_failing: r.failing,
        deliveries_exhausted: r.exhausted,
    })
}

pub async fn oldest_open(conn: &mut PgConnection) -> sqlx::Result<Option<OldestOpen>> {
    sqlx::query_as!(
        OldestOpen,
        "SELECT id, policy_key, artifact_type, artifact_id, created_at FROM approval_request
         WHERE status IN ('pending', 'in_review') ORDER BY created_at LIMIT 1"
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Requests in review where an approver's task expired or someone decided
/// other than approve: the only ones whose active stage can have stalled.
/// Both happened after the oldest open request was created, which bounds the
/// indexes read. Newest first.
pub async fn stall_candidates(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"SELECT r.id AS "id!" FROM approval_request r
           WHERE r.status = 'in_review'
             AND r.id IN (SELECT t.request_id FROM approval_task t
                           WHERE t.kind = 'approver' AND t.status = 'expired' AND t.created_at >= (
                             SELECT coalesce(min(created_at), now()) FROM approval_request
                             WHERE status IN ('pending', 'in_review'))
                          UNION
                          SELECT d.request_id FROM approval_decision d
                           WHERE d.action <> 'approve' AND d.created_at >= (
                             SELECT coalesce(min(created_at), now()) FROM approval_request
                             WHERE status IN ('pending', 'in_review')))
           ORDER BY r.created_at DESC
           LIMIT $1"#,
        limit
    )
    .fetch_all(&mut *conn)
    .await
}

/// Requests created, requests finished and tasks expired per bucket of
/// `bucket_seconds` in `[from, to)`; every bucket present, zeros included.
pub async fn series(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket_seconds: i64,
) -> sqlx::Result<Vec<SeriesPoint>> {
    sqlx::query_as!(
        SeriesPoint,
        r#"WITH buckets AS (
             SELECT generate_series($1::timestamptz, $2::timestamptz - make_interval(secs => 1), make_interval(secs => $3::bigint)) AS at
           ),
           created AS (
             SELECT date_bin(make_interval(secs => $3::bigint), created_at, $1) AS at, count(*) AS n
             FROM approval_request WHERE created_at >= $1 AND created_at < $2 GROUP BY 1
           ),
           finished AS (
             SELECT date_bin(make_interval(secs => $3::bigint), completed_at, $1) AS at, count(*) AS n
             FROM approval_request WHERE completed_at IS NOT NULL AND completed_at >= $1 AND completed_at < $2 GROUP BY 1
           ),
           breaches AS (
             SELECT date_bin(make_interval(secs => $3::bigint), created_at, $1) AS at, count(*) AS n
             FROM approval_event WHERE event_type = 'task_expired' AND created_at >= $1 AND created_at < $2 GROUP BY 1
           )
           SELECT b.at AS "at!", coalesce(c.n, 0) AS "created!", coalesce(f.n, 0) AS "finished!", coalesce(x.n, 0) AS "breaches!"
           FROM buckets b
           LEFT JOIN created c ON c.at = b.at
           LEFT JOIN finished f ON f.at = b.at
           LEFT JOIN breaches x ON x.at = b.at
           ORDER BY b.at"#,
        from,
        to,
        bucket_seconds
    )
    .fetch_all(&mut *conn)
    .await
}
