//! The engine's side of requests: lock, load the state, write the step.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{DecisionAction, RequestStatus, RuleKind, TaskStatus};
use crate::engine::{NewDecision, NewEvent, RequestState, StageState, StageStatus, Task};
use crate::event::StoredEvent;
use crate::wire::{RequestOut, TaskOut};

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

pub async fn insert(conn: &mut PgConnection, r: &RequestRow) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO approval_request (id, policy_id, policy_key, policy_version, artifact_type, artifact_id,
             source_service, requester, context, status, current_stage_order, last_seq, callback_url,
             callback_secret_id, completed_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        r.id,
        r.policy_id,
        r.policy_key,
        r.policy_version,
        r.artifact_type,
        r.artifact_id,
        r.source_service,
        r.requester,
        r.context,
        r.status,
        r.current_stage_order,
        r.last_seq,
        r.callback_url,
        r.callback_secret_id,
        r.completed_at,
        r.created_at,
        r.updated_at
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
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

pub async fn update(conn: &mut PgConnection, r: &RequestRow) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE approval_request SET status = $2, current_stage_order = $3, completed_at = $4, updated_at = $5,
                last_seq = $6
         WHERE id = $1",
        r.id,
        r.status,
        r.current_stage_order,
        r.completed_at,
        r.updated_at,
        r.last_seq
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Everything the machine needs about a locked request.
pub async fn load_state(conn: &mut PgConnection, r: &RequestRow) -> anyhow::Result<RequestState> {
    let stages = sqlx::query!(
        "SELECT stage_order, stage_id, status, reason, started_at, completed_at
         FROM request_stage WHERE request_id = $1 ORDER BY stage_order",
        r.id
    )
    .fetch_all(&mut *conn)
    .await?;
    let tasks = sqlx::query!(
        r#"SELECT t.id, t.stage_id, t.stage_order, t.assignee, t.assignee_name, t.kind, t.required,
                  t.delegated_from, t.reassigned_from, t.status, t.claimed_at, t.completed_at, t.due_at,
                  t.decision_id, t.created_at, d.action AS "action?"
           FROM approval_task t LEFT JOIN approval_decision d ON d.id = t.decision_id
           WHERE t.request_id = $1 ORDER BY t.created_at, t.id"#,
        r.id
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut state_tasks = Vec::with_capacity(tasks.len());
    for t in tasks {
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
            created_at: t.created_at,
        });
    }
    let mut state_stages = Vec::with_capacity(stages.len());
    for s in stages {
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

pub async fn save_stages(conn: &mut PgConnection, request_id: Uuid, stages: &[&StageState]) -> sqlx::Result<()> {
    if stages.is_empty() {
        return Ok(());
    }
    let orders: Vec<i32> = stages.iter().map(|s| s.stage_order).collect();
    let ids: Vec<Uuid> = stages.iter().map(|s| s.stage_id).collect();
    let statuses: Vec<String> = stages.iter().map(|s| s.status.as_str().to_owned()).collect();
    let reasons: Vec<Option<String>> = stages.iter().map(|s| s.reason.clone()).collect();
    let started: Vec<Option<DateTime<Utc>>> = stages.iter().map(|s| s.started_at).collect();
    let completed: Vec<Option<DateTime<Utc>>> = stages.iter().map(|s| s.completed_at).collect();
    sqlx::query!(
        r#"INSERT INTO request_stage (request_id, stage_order, stage_id, status, reason, started_at, completed_at)
           SELECT $1, * FROM UNNEST($2::int4[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[])
           ON CONFLICT (request_id, stage_order) DO UPDATE
             SET status = EXCLUDED.status, reason = EXCLUDED.reason,
                 started_at = EXCLUDED.started_at, completed_at = EXCLUDED.completed_at
             WHERE (request_stage.status, request_stage.reason, request_stage.started_at, request_stage.completed_at)
                   IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.reason, EXCLUDED.started_at, EXCLUDED.completed_at)"#,
        request_id,
        &orders,
        &ids,
        &statuses,
        &reasons as &[Option<String>],
        &started as &[Option<DateTime<Utc>>],
        &completed as &[Option<DateTime<Utc>>]
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn insert_tasks(
    conn: &mut PgConnection,
    request_id: Uuid,
    tasks: &[&Task],
    search_text: &str,
) -> sqlx::Result<()> {
    if tasks.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = tasks.iter().map(|t| t.id).collect();
    let stage_ids: Vec<Uuid> = tasks.iter().map(|t| t.stage_id).collect();
    let orders: Vec<i32> = tasks.iter().map(|t| t.stage_order).collect();
    let assignees: Vec<String> = tasks.iter().map(|t| t.assignee.clone()).collect();
    let kinds: Vec<String> = tasks.iter().map(|t| t.kind.as_str().to_owned()).collect();
    let required: Vec<bool> = tasks.iter().map(|t| t.required).collect();
    let delegated: Vec<Option<String>> = tasks.iter().map(|t| t.delegated_from.clone()).collect();
    let reassigned: Vec<Option<String>> = tasks.iter().map(|t| t.reassigned_from.clone()).collect();
    let statuses: Vec<String> = tasks.iter().map(|t| t.status.as_str().to_owned()).collect();
    let due: Vec<Option<DateTime<Utc>>> = tasks.iter().map(|t| t.due_at).collect();
    let created: Vec<DateTime<Utc>> = tasks.iter().map(|t| t.created_at).collect();
    sqlx::query!(
        r#"INSERT INTO approval_task (id, stage_id, stage_order, assignee, kind, required, delegated_from,
                                      reassigned_from, status, due_at, created_at, request_id, search_text)
           SELECT *, $12, $13 FROM UNNEST($1::uuid[], $2::uuid[], $3::int4[], $4::text[], $5::text[], $6::bool[],
                                          $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[])"#,
        &ids,
        &stage_ids,
        &orders,
        &assignees,
        &kinds,
        &required,
        &delegated as &[Option<String>],
        &reassigned as &[Option<String>],
        &statuses,
        &due as &[Option<DateTime<Utc>>],
        &created,
        request_id,
        search_text
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn update_tasks(conn: &mut PgConnection, tasks: &[&Task]) -> sqlx::Result<()> {
    if tasks.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = tasks.iter().map(|t| t.id).collect();
    let statuses: Vec<String> = tasks.iter().map(|t| t.status.as_str().to_owned()).collect();
    let claimed: Vec<Option<DateTime<Utc>>> = tasks.iter().map(|t| t.claimed_at).collect();
    let completed: Vec<Option<DateTime<Utc>>> = tasks.iter().map(|t| t.completed_at).collect();
    let decisions: Vec<Option<Uuid>> = tasks.iter().map(|t| t.decision_id).collect();
    let names: Vec<Option<String>> = tasks.iter().map(|t| t.assignee_name.clone()).collect();
    sqlx::query!(
        r#"UPDATE approval_task t
           SET status = u.status, claimed_at = u.claimed_at, completed_at = u.completed_at,
               decision_id = u.decision_id, assignee_name = u.assignee_name
           FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::uuid[], $6::text[])
                AS u(id, status, claimed_at, completed_at, decision_id, assignee_name)
           WHERE t.id = u.id"#,
        &ids,
        &statuses,
        &claimed as &[Option<DateTime<Utc>>],
        &completed as &[Option<DateTime<Utc>>],
        &decisions as &[Option<Uuid>],
        &names as &[Option<String>]
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn insert_decision(conn: &mut PgConnection, request_id: Uuid, d: &NewDecision) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO approval_decision (id, request_id, task_id, stage_order, actor, actor_name, action, comment,
                                        attachments_ref, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        d.id,
        request_id,
        d.task_id,
        d.stage_order,
        d.actor,
        d.actor_name,
        d.action.as_str(),
        d.comment,
        d.attachments_ref,
        d.created_at
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Appends events to the timeline and to the outbox, in one statement.
pub async fn insert_events(
    conn: &mut PgConnection,
    request_id: Uuid,
    events: &[NewEvent],
) -> sqlx::Result<Vec<StoredEvent>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let seqs: Vec<i32> = events.iter().map(|e| e.seq).collect();
    let types: Vec<String> = events.iter().map(|e| e.event_type.to_owned()).collect();
    let payloads: Vec<Value> = events.iter().map(|e| e.payload.clone()).collect();
    let created: Vec<DateTime<Utc>> = events.iter().map(|e| e.created_at).collect();
    sqlx::query!(
        r#"WITH timeline AS (
               INSERT INTO approval_event (id, seq, event_type, payload, created_at, request_id)
               SELECT *, $6 FROM UNNEST($1::uuid[], $2::int4[], $3::text[], $4::jsonb[], $5::timestamptz[])
               RETURNING id, created_at)
           INSERT INTO event_outbox (event_id, created_at) SELECT id, created_at FROM timeline"#,
        &ids,
        &seqs,
        &types,
        &payloads,
        &created,
        request_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(events
        .iter()
        .map(|e| StoredEvent {
            id: e.id,
            request_id,
            seq: e.seq,
            event_type: e.event_type.to_owned(),
            payload: e.payload.clone(),
            created_at: e.created_at,
        })
        .collect())
}

/// Marks events as published on the event stream: their outbox rows go.
pub async fn mark_published(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<u64> {
    let done = sqlx::query!("DELETE FROM event_outbox WHERE event_id = ANY($1)", ids).execute(&mut *conn).await?;
    Ok(done.rows_affected())
}

/// Events a crash may have left unpublished, oldest first.
pub async fn unpublished(
    conn: &mut PgConnection,
    older_than: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<StoredEvent>> {
    let rows = sqlx::query!(
        "SELECT e.id, e.request_id, e.seq, e.event_type, e.payload, e.created_at
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
        })
        .collect())
}
