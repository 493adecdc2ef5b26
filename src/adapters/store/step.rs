//! Writing what one command did to a request in a single statement: the
//! processed-command row first, and every other write only if that row was
//! new. A command applied before changes nothing and says so.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::requests::RequestRow;
use crate::machine::{NewDecision, NewEvent, StageState, Task};

pub struct StepWrite<'a> {
    pub command_id: Uuid,
    pub command_type: &'a str,
    pub status_code: i32,
    pub outcome: Value,
    pub request: &'a RequestRow,
    /// Insert the request row (creation) rather than update it.
    pub insert_request: bool,
    pub update_request: bool,
    pub stages: Vec<&'a StageState>,
    pub new_tasks: Vec<&'a Task>,
    pub search_text: String,
    pub updated_tasks: Vec<&'a Task>,
    pub decisions: &'a [NewDecision],
    pub events: &'a [NewEvent],
    /// `(client, key, body_hash)` of an `Idempotency-Key`, stored with the response.
    pub idempotency: Option<(&'a str, &'a str, &'a str)>,
    pub response: Value,
    /// Event types whose events become webhook deliveries, listed `pending`
    /// from this commit when the request has a callback URL.
    pub delivery_types: &'a [String],
    /// Kept with the outbox rows, so that the relay sends events on in their trace.
    pub traceparent: Option<String>,
}

/// `Ok(false)` when the command had already been applied: nothing was written.
pub async fn write(conn: &mut PgConnection, w: &StepWrite<'_>) -> sqlx::Result<bool> {
    let r = w.request;
    let stage_orders: Vec<i32> = w.stages.iter().map(|s| s.stage_order).collect();
    let stage_ids: Vec<Uuid> = w.stages.iter().map(|s| s.stage_id).collect();
    let stage_status: Vec<String> = w.stages.iter().map(|s| s.status.as_str().to_owned()).collect();
    let stage_reason: Vec<Option<String>> = w.stages.iter().map(|s| s.reason.clone()).collect();
    let stage_started: Vec<Option<DateTime<Utc>>> = w.stages.iter().map(|s| s.started_at).collect();
    let stage_completed: Vec<Option<DateTime<Utc>>> = w.stages.iter().map(|s| s.completed_at).collect();

    let t = &w.new_tasks;
    let task_ids: Vec<Uuid> = t.iter().map(|t| t.id).collect();
    let task_stage_ids: Vec<Uuid> = t.iter().map(|t| t.stage_id).collect();
    let task_orders: Vec<i32> = t.iter().map(|t| t.stage_order).collect();
    let task_assignees: Vec<String> = t.iter().map(|t| t.assignee.clone()).collect();
    let task_kinds: Vec<String> = t.iter().map(|t| t.kind.as_str().to_owned()).collect();
    let task_required: Vec<bool> = t.iter().map(|t| t.required).collect();
    let task_delegated: Vec<Option<String>> = t.iter().map(|t| t.delegated_from.clone()).collect();
    let task_reassigned: Vec<Option<String>> = t.iter().map(|t| t.reassigned_from.clone()).collect();
    let task_status: Vec<String> = t.iter().map(|t| t.status.as_str().to_owned()).collect();
    let task_due: Vec<Option<DateTime<Utc>>> = t.iter().map(|t| t.due_at).collect();
    let task_created: Vec<DateTime<Utc>> = t.iter().map(|t| t.created_at).collect();
    let task_escalated: Vec<bool> = t.iter().map(|t| t.escalated).collect();

    let u = &w.updated_tasks;
    let upd_ids: Vec<Uuid> = u.iter().map(|t| t.id).collect();
    let upd_status: Vec<String> = u.iter().map(|t| t.status.as_str().to_owned()).collect();
    let upd_claimed: Vec<Option<DateTime<Utc>>> = u.iter().map(|t| t.claimed_at).collect();
    let upd_completed: Vec<Option<DateTime<Utc>>> = u.iter().map(|t| t.completed_at).collect();
    let upd_decision: Vec<Option<Uuid>> = u.iter().map(|t| t.decision_id).collect();
    let upd_name: Vec<Option<String>> = u.iter().map(|t| t.assignee_name.clone()).collect();

    let d = w.decisions;
    let d_ids: Vec<Uuid> = d.iter().map(|d| d.id).collect();
    let d_tasks: Vec<Uuid> = d.iter().map(|d| d.task_id).collect();
    let d_orders: Vec<i32> = d.iter().map(|d| d.stage_order).collect();
    let d_actors: Vec<String> = d.iter().map(|d| d.actor.clone()).collect();
    let d_names: Vec<Option<String>> = d.iter().map(|d| d.actor_name.clone()).collect();
    let d_actions: Vec<String> = d.iter().map(|d| d.action.as_str().to_owned()).collect();
    let d_comments: Vec<Option<String>> = d.iter().map(|d| d.comment.clone()).collect();
    let d_attachments: Vec<Option<String>> = d.iter().map(|d| d.attachments_ref.clone()).collect();
    let d_created: Vec<DateTime<Utc>> = d.iter().map(|d| d.created_at).collect();

    let e = w.events;
    let e_ids: Vec<Uuid> = e.iter().map(|e| e.id).collect();
    let e_seqs: Vec<i32> = e.iter().map(|e| e.seq).collect();
    let e_types: Vec<String> = e.iter().map(|e| e.event_type.to_owned()).collect();
    let e_payloads: Vec<Value> = e.iter().map(|e| e.payload.clone()).collect();
    let e_created: Vec<DateTime<Utc>> = e.iter().map(|e| e.created_at).collect();

    let (idem_client, idem_key, idem_hash) = match w.idempotency {
        Some((c, k, h)) => (Some(c), Some(k), Some(h)),
        None => (None, None, None),
    };

    let applied = sqlx::query_scalar!(
        r#"WITH p AS (
               INSERT INTO processed_command (id, command_type, status_code, outcome)
               VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING RETURNING id
           ), ri AS (
               INSERT INTO approval_request (id, policy_id, policy_key, policy_version, artifact_type, artifact_id,
                   source_service, requester, context, status, current_stage_order, last_seq, callback_url,
                   callback_secret_id, completed_at, created_at, updated_at)
               SELECT $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21
               FROM p WHERE $22::bool
           ), ru AS (
               UPDATE approval_request
               SET status = $14, current_stage_order = $15, last_seq = $16, completed_at = $19, updated_at = $21
               WHERE id = $5 AND $23::bool AND EXISTS (SELECT 1 FROM p)
           ), st AS (
               INSERT INTO request_stage (request_id, stage_order, stage_id, status, reason, started_at, completed_at)
               SELECT $5, u.* FROM UNNEST($24::int4[], $25::uuid[], $26::text[], $27::text[], $28::timestamptz[],
                                          $29::timestamptz[]) AS u
               WHERE EXISTS (SELECT 1 FROM p)
               ON CONFLICT (request_id, stage_order) DO UPDATE
                 SET status = EXCLUDED.status, reason = EXCLUDED.reason,
                     started_at = EXCLUDED.started_at, completed_at = EXCLUDED.completed_at
           ), ti AS (
               INSERT INTO approval_task (id, stage_id, stage_order, assignee, kind, required, delegated_from,
                                          reassigned_from, status, due_at, created_at, escalated, request_id,
                                          search_text)
               SELECT u.*, $5, $41 FROM UNNEST($30::uuid[], $31::uuid[], $32::int4[], $33::text[], $34::text[],
                   $35::bool[], $36::text[], $37::text[], $38::text[], $39::timestamptz[], $40::timestamptz[],
                   $66::bool[]) AS u
               WHERE EXISTS (SELECT 1 FROM p)
           ), tu AS (
               UPDATE approval_task t
               SET status = u.status, claimed_at = u.claimed_at, completed_at = u.completed_at,
                   decision_id = u.decision_id, assignee_name = u.assignee_name
               FROM UNNEST($42::uuid[], $43::text[], $44::timestamptz[], $45::timestamptz[], $46::uuid[], $47::text[])
                    AS u(id, status, claimed_at, completed_at, decision_id, assignee_name)
               WHERE t.id = u.id AND EXISTS (SELECT 1 FROM p)
           ), d AS (
               INSERT INTO approval_decision (id, task_id, stage_order, actor, actor_name, action, comment,
                                              attachments_ref, created_at, request_id)
               SELECT u.*, $5 FROM UNNEST($48::uuid[], $49::uuid[], $50::int4[], $51::text[], $52::text[],
                   $53::text[], $54::text[], $55::text[], $56::timestamptz[]) AS u
               WHERE EXISTS (SELECT 1 FROM p)
           ), e AS (
               INSERT INTO approval_event (id, seq, event_type, payload, created_at, request_id)
               SELECT u.*, $5 FROM UNNEST($57::uuid[], $58::int4[], $59::text[], $60::jsonb[], $61::timestamptz[]) AS u
               WHERE EXISTS (SELECT 1 FROM p)
               RETURNING id, created_at
           ), o AS (
               INSERT INTO event_outbox (event_id, created_at, traceparent) SELECT id, created_at, $68 FROM e
           ), wd AS (
               INSERT INTO webhook_delivery (id, event_id, request_id, event_type, seq, url, status)
               SELECT u.id, u.id, $5, u.event_type, u.seq, $17, 'pending'
               FROM UNNEST($57::uuid[], $58::int4[], $59::text[]) AS u(id, seq, event_type)
               WHERE $17::text <> '' AND u.event_type = ANY($67::text[]) AND EXISTS (SELECT 1 FROM p)
               ON CONFLICT (event_id) DO NOTHING
           ), ik AS (
               INSERT INTO idempotency_key (client, key, body_hash, request_id, status_code, response)
               SELECT $62, $63, $64, $5, $3, $65 FROM p WHERE $62::text IS NOT NULL
           )
           SELECT EXISTS (SELECT 1 FROM p) AS "applied!""#,
        w.command_id,
        w.command_type,
        w.status_code,
        w.outcome,
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
        r.updated_at,
        w.insert_request,
        w.update_request,
        &stage_orders,
        &stage_ids,
        &stage_status,
        &stage_reason as &[Option<String>],
        &stage_started as &[Option<DateTime<Utc>>],
        &stage_completed as &[Option<DateTime<Utc>>],
        &task_ids,
        &task_stage_ids,
        &task_orders,
        &task_assignees,
        &task_kinds,
        &task_required,
        &task_delegated as &[Option<String>],
        &task_reassigned as &[Option<String>],
        &task_status,
        &task_due as &[Option<DateTime<Utc>>],
        &task_created,
        w.search_text,
        &upd_ids,
        &upd_status,
        &upd_claimed as &[Option<DateTime<Utc>>],
        &upd_completed as &[Option<DateTime<Utc>>],
        &upd_decision as &[Option<Uuid>],
        &upd_name as &[Option<String>],
        &d_ids,
        &d_tasks,
        &d_orders,
        &d_actors,
        &d_names as &[Option<String>],
        &d_actions,
        &d_comments as &[Option<String>],
        &d_attachments as &[Option<String>],
        &d_created,
        &e_ids,
        &e_seqs,
        &e_types,
        &e_payloads,
        &e_created,
        idem_client,
        idem_key,
        idem_hash,
        w.response,
        &task_escalated,
        w.delivery_types,
        w.traceparent
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(applied)
}
