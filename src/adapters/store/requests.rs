//! The engine's side of requests: lock, load the state, write the step.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::contract::event::StoredEvent;
use crate::contract::wire::{RequestOut, TaskOut};
use crate::domain::{DecisionAction, RequestStatus, RuleKind, TaskStatus};
use crate::machine::{RequestState, StageState, StageStatus, Task};

#[derive(Debug, Clone)]
pub struct RequestRow {
    pub id: Uuid,
    pub policy_id: Uuid,
    pub policy_key: String,
    pub policy_version: i32,
    pub artifact_type: String,
    pub artifact_id: String,
    pub source_service: String,
    pub requester: String,
    pub context: Value,
    pub status: String,
    pub current_stage_order: i32,
    pub last_seq: i32,
    pub callback_url: Option<String>,
    pub callback_secret_id: Option<Uuid>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RequestRow {
    pub fn out(&self) -> RequestOut {
        RequestOut {
            id: self.id,
            policy_id: self.policy_id,
            policy_key: self.policy_key.clone(),
            policy_version: self.policy_version,
            artifact_type: self.artifact_type.clone(),
            artifact_id: self.artifact_id.clone(),
            source_service: self.source_service.clone(),
            requester: self.requester.clone(),
            context: self.context.clone(),
            status: self.status.clone(),
            current_stage_order: self.current_stage_order,
            callback_url: self.callback_url.clone(),
            completed_at: self.completed_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            stages: None,
        }
    }

    /// Copies the machine's view of the request back onto the row.
    pub fn absorb(&mut self, state: &RequestState, now: DateTime<Utc>) {
        self.status = state.status.as_str().to_owned();
        self.current_stage_order = state.current_stage_order;
        self.completed_at = state.completed_at;
        self.last_seq = state.last_seq;
        self.updated_at = now;
    }
}

pub fn task_out(t: &Task, request_id: Uuid) -> TaskOut {
    TaskOut {
        id: t.id,
        request_id,
        stage_id: t.stage_id,
        stage_order: t.stage_order,
        assignee: t.assignee.clone(),
        kind: t.kind.as_str().into(),
        delegated_from: t.delegated_from.clone(),
        reassigned_from: t.reassigned_from.clone(),
        status: t.status.as_str().into(),
        claimed_at: t.claimed_at,
        completed_at: t.completed_at,
        due_at: t.due_at,
        decision_id: t.decision_id,
        decision_action: None,
        decision_comment: None,
        created_at: t.created_at,
        context: None,
        artifact_type: None,
        artifact_id: None,
        policy_key: None,
        search_text: None,
    }
}

/// Locks the request row: the engine's unit of serialisation.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as!(RequestRow, "SELECT * FROM approval_request WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *conn)
        .await
}

/// Locks the request a task belongs to.
pub async fn lock_by_task(conn: &mut PgConnection, task_id: Uuid) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as!(
        RequestRow,
        "SELECT * FROM approval_request WHERE id = (SELECT request_id FROM approval_task WHERE id = $1) FOR UPDATE",
        task_id
    )
    .fetch_optional(&mut *conn)
    .await
}

#[derive(Debug, serde::Deserialize)]
struct StageRow {
    stage_order: i32,
    stage_id: Uuid,
    status: String,
    reason: Option<String>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, serde::Deserialize)]
struct TaskRow {
    id: Uuid,
    stage_id: Uuid,
    stage_order: i32,
    assignee: String,
    assignee_name: Option<String>,
    kind: String,
    required: bool,
    delegated_from: Option<String>,
    reassigned_from: Option<String>,
    status: String,
    claimed_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    due_at: Option<DateTime<Utc>>,
    decision_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    #[serde(default)]
    escalated: bool,
    action: Option<String>,
    decided_by: Option<String>,
}

/// Everything the machine needs about a locked request, in one round trip.
/// Call it after taking the row lock: it reads with a fresh snapshot. Each
/// task's decision is looked up by primary key, never joined: with statistics
/// that lag a growing table, a join was planned as a hash of every decision.
pub async fn load_state(conn: &mut PgConnection, r: &RequestRow) -> anyhow::Result<RequestState> {
    let row = sqlx::query!(
        r#"SELECT
             (SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.stage_order), '[]')
              FROM request_stage s WHERE s.request_id = $1) AS "stages!: sqlx::types::Json<Vec<StageRow>>",
             (SELECT coalesce(jsonb_agg(to_jsonb(t) || coalesce(
                        (SELECT jsonb_build_object('action', d.action, 'decided_by', d.actor)
                         FROM approval_decision d WHERE d.id = t.decision_id), '{}')
                      ORDER BY t.created_at, t.id), '[]')
              FROM approval_task t
              WHERE t.request_id = $1) AS "tasks!: sqlx::types::Json<Vec<TaskRow>>""#,
        r.id
    )
    .fetch_one(&mut *conn)
    .await?;
    let mut state_tasks = Vec::with_capacity(row.tasks.0.len());
    for t in row.tasks.0 {
        state_tasks.push(Task {
            id: t.id,
            stage_id: t.stage_id,
            stage_order: t.stage_order,
            assignee: t.assignee,
            assignee_name: t.assignee_name,
            kind: if t.kind == "observer" { RuleKind::Observer } else { RuleKind::Approver },
            required: t.required,
            delegated_from: t.delegated_from,
            reassigned_from: t.reassigned_from,
            status: TaskStatus::parse(&t.status).context("stored task status")?,
            claimed_at: t.claimed_at,
            completed_at: t.completed_at,
            due_at: t.due_at,
            decision: t.action.as_deref().and_then(DecisionAction::parse),
            decision_id: t.decision_id,
            decided_by: t.decided_by,
            escalated: t.escalated,
            created_at: t.created_at,
        });
    }
    let mut state_stages = Vec::with_capacity(row.stages.0.len());
    for s in row.stages.0 {
        state_stages.push(StageState {
            stage_order: s.stage_order,
            stage_id: s.stage_id,
            status: StageStatus::parse(&s.status).context("stored stage status")?,
            reason: s.reason,
            started_at: s.started_at,
            completed_at: s.completed_at,
        });
    }
    Ok(RequestState {
        id: r.id,
        policy_version: r.policy_version,
        artifact_type: r.artifact_type.clone(),
        artifact_id: r.artifact_id.clone(),
        requester: r.requester.clone(),
        status: RequestStatus::parse(&r.status).context("stored request status")?,
        current_stage_order: r.current_stage_order,
        completed_at: r.completed_at,
        stages: state_stages,
        tasks: state_tasks,
        last_seq: r.last_seq,
    })
}

/// Marks events as published on the event stream: their outbox rows go.
pub async fn mark_published(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<u64> {
    let done = sqlx::query!("DELETE FROM event_outbox WHERE event_id = ANY($1)", ids).execute(&mut *conn).await?;
    Ok(done.rows_affected())
}

/// Committed events not yet marked published, counted up to 100 000.
pub async fn outbox_waiting(pool: &sqlx::PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM (SELECT 1 FROM event_outbox LIMIT 100000) AS waiting"#)
        .fetch_one(pool)
        .await
}

/// Events a crash may have left unpublished, oldest first.
pub async fn unpublished(
    conn: &mut PgConnection,
    older_than: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<StoredEvent>> {
    let rows = sqlx::query!(
        "SELECT e.id, e.request_id, e.seq, e.event_type, e.payload, e.created_at, o.traceparent
         FROM event_outbox o JOIN approval_event e ON e.id = o.event_id
         WHERE o.created_at < $1 ORDER BY o.created_at, e.request_id, e.seq LIMIT $2",
        older_than,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| StoredEvent {
            id: r.id,
            request_id: r.request_id,
            seq: r.seq,
            event_type: r.event_type,
            payload: r.payload,
            created_at: r.created_at,
            has_callback: None,
            traceparent: r.traceparent,
        })
        .collect())
}

/// Requests with an approver task due by `at` (the SLA scan).
pub async fn with_due_tasks(conn: &mut PgConnection, at: DateTime<Utc>, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT DISTINCT request_id FROM approval_task
         WHERE status IN ('open', 'claimed') AND due_at IS NOT NULL AND due_at <= $1
         ORDER BY request_id LIMIT $2",
        at,
        limit
    )
    .fetch_all(&mut *conn)
    .await
}

/// Removes up to `limit` idempotency keys created before `cutoff`, oldest
/// first, skipping rows another remover holds; returns how many went.
pub async fn retire_idempotency_keys(conn: &mut PgConnection, cutoff: DateTime<Utc>, limit: i64) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "DELETE FROM idempotency_key WHERE (client, key) IN (
             SELECT client, key FROM idempotency_key WHERE created_at < $1
             ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
        cutoff,
        limit
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
