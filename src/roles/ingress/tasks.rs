//! `/v1/awe/tasks`.

use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auth::Caller;
use super::dispatch::Pending;
use super::extract::{Body, Path, Query};
use super::AppState;
use crate::adapters::store::reads::{self, TaskFilter};
use crate::contract::command::Command;
use crate::contract::error::{ApiError, Result};
use crate::contract::wire::{
    CommentIn, CommentOut, DecisionIn, DecisionOut, PagedTasksOut, ReassignIn, TaskOut, TaskQuery,
};
use crate::domain::TaskStatus;

#[utoipa::path(get, path = "/v1/awe/tasks", tag = "tasks", params(TaskQuery),
    responses((status = 200, description = "Newest first, paginated", body = PagedTasksOut)))]
pub async fn list(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<TaskQuery>,
) -> Result<Json<PagedTasksOut>> {
    let page = q.page.unwrap_or(1);
    let page_size = q.page_size.unwrap_or(25);
    if !(1..=1_000_000).contains(&page) {
        return Err(ApiError::invalid(&["query", "page"], "must be at least 1", json!(page)));
    }
    if !(1..=100).contains(&page_size) {
        return Err(ApiError::invalid(&["query", "page_size"], "must be between 1 and 100", json!(page_size)));
    }
    if let Some(limit) = q.total_limit {
        if !(1..=1_000_000).contains(&limit) {
            return Err(ApiError::invalid(&["query", "total_limit"], "must be between 1 and 1000000", json!(limit)));
        }
    }
    if let Some(status) = &q.status {
        if TaskStatus::parse(status).is_none() {
            return Err(ApiError::invalid(
                &["query", "status"],
                "must be one of open, claimed, completed, skipped, expired, reassigned",
                json!(status),
            ));
        }
    }
    let me = caller.0.assignee_id.clone();
    let mut filter = TaskFilter {
        status: q.status.clone(),
        request_id: q.request_id,
        artifact_type: q.artifact_type.clone(),
        policy_key: q.policy_key.clone(),
        search: q.search_text.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(reads::contains_pattern),
        overdue: q.overdue.unwrap_or(false),
        stage_order: q.stage_order,
        ..TaskFilter::default()
    };
    match q.assignee.as_deref().unwrap_or("me") {
        "me" => filter.assignee = Some(me),
        "*" if q.status.is_none() => filter.completed_or_open_for = Some(me),
        "*" | "" => {}
        other => filter.assignee = Some(other.to_owned()),
    }
    let mut conn = s.pool.acquire().await.context("database")?;
    // One past the limit tells a capped count from an exact one.
    let counted =
        reads::count_tasks(&mut conn, &filter, q.total_limit.map(|l| l + 1)).await.context("counting tasks")?;
    let total_capped = q.total_limit.is_some_and(|limit| counted > limit);
    let total = q.total_limit.map_or(counted, |limit| counted.min(limit));
    let items = reads::tasks(&mut conn, &filter, page_size, (page - 1) * page_size).await.context("listing tasks")?;
    let pages = if total == 0 { 1 } else { (total + page_size - 1) / page_size };
    Ok(Json(PagedTasksOut { items, total, page, page_size, pages, total_capped }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    pub status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskStatsOut {
    pub total: i64,
    pub change_request_count: i64,
    pub intake_form_count: i64,
}

#[utoipa::path(get, path = "/v1/awe/tasks/stats", tag = "tasks", params(StatsQuery),
    responses((status = 200, description = "The caller's tasks by artifact type", body = TaskStatsOut)))]
pub async fn stats(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<StatsQuery>,
) -> Result<Json<TaskStatsOut>> {
    let mut conn = s.pool.acquire().await.context("database")?;
    let row = sqlx::query!(
        r#"SELECT count(*) AS "total!",
                  count(*) FILTER (WHERE r.artifact_type = 'registry.change_request') AS "cr!",
                  count(*) FILTER (WHERE r.artifact_type = 'registry.intake_form') AS "intake!"
           FROM approval_task t JOIN approval_request r ON r.id = t.request_id
           WHERE t.assignee = $1 AND ($2::text IS NULL OR t.status = $2)"#,
        caller.0.assignee_id,
        q.status
    )
    .fetch_one(&mut *conn)
    .await
    .context("counting tasks")?;
    Ok(Json(TaskStatsOut { total: row.total, change_request_count: row.cr, intake_form_count: row.intake }))
}

fn pending(task_id: Uuid, command_id: Uuid) -> Pending {
    Pending {
        location: format!("/v1/awe/commands/{command_id}"),
        body: json!({"command_id": command_id, "task_id": task_id, "status": "accepted"}),
    }
}

#[utoipa::path(post, path = "/v1/awe/tasks/{task_id}/claim", tag = "tasks", params(("task_id" = Uuid, Path)),
    responses((status = 200, body = TaskOut), (status = 403, description = "AWE-008: not your task"),
              (status = 404, description = "AWE-004"), (status = 409, description = "AWE-007: not open")))]
pub async fn claim(State(s): State<Arc<AppState>>, caller: Caller, Path(task_id): Path<Uuid>) -> Result<Response> {
    let id = Uuid::now_v7();
    s.dispatch(id, &caller.0, Command::TaskClaim { task_id }, pending(task_id, id)).await
}

#[utoipa::path(post, path = "/v1/awe/tasks/{task_id}/decision", tag = "tasks", request_body = DecisionIn,
    params(("task_id" = Uuid, Path)),
    responses((status = 201, body = DecisionOut), (status = 403, description = "AWE-008: not your task"),
              (status = 404, description = "AWE-004"), (status = 409, description = "AWE-007: task closed or request finished")))]
pub async fn decide(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(task_id): Path<Uuid>,
    body: Body<DecisionIn>,
) -> Result<Response> {
    let d = body.value;
    for (field, value) in [("comment", &d.comment), ("attachments_ref", &d.attachments_ref)] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 4096) {
            return Err(ApiError::invalid(&["body", field], "must be at most 4096 characters", json!(null)));
        }
    }
    let id = Uuid::now_v7();
    let command = Command::TaskDecide {
        task_id,
        decision_id: Uuid::new_v5(&id, b"decision"),
        action: d.action,
        comment: d.comment,
        attachments_ref: d.attachments_ref,
    };
    s.dispatch(id, &caller.0, command, pending(task_id, id)).await
}

#[utoipa::path(post, path = "/v1/awe/tasks/{task_id}/comments", tag = "tasks", request_body = CommentIn,
    params(("task_id" = Uuid, Path)),
    responses((status = 201, description = "The comment, now in the request's timeline (`comment_added`); the task stays as it was", body = CommentOut),
              (status = 403, description = "AWE-008: not your task"), (status = 404, description = "AWE-004"),
              (status = 409, description = "AWE-007: the request is finished")))]
pub async fn comment(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(task_id): Path<Uuid>,
    body: Body<CommentIn>,
) -> Result<Response> {
    let c = body.value;
    if c.comment.trim().is_empty() || c.comment.chars().count() > 4096 {
        return Err(ApiError::invalid(&["body", "comment"], "must be 1 to 4096 characters", json!(null)));
    }
    if c.attachments_ref.as_ref().is_some_and(|v| v.chars().count() > 4096) {
        return Err(ApiError::invalid(&["body", "attachments_ref"], "must be at most 4096 characters", json!(null)));
    }
    let id = Uuid::now_v7();
    let command = Command::TaskComment {
        task_id,
        comment_id: Uuid::new_v5(&id, b"comment"),
        comment: c.comment,
        attachments_ref: c.attachments_ref,
    };
    s.dispatch(id, &caller.0, command, pending(task_id, id)).await
}

#[utoipa::path(post, path = "/v1/awe/tasks/{task_id}/reassign", tag = "tasks", request_body = ReassignIn,
    params(("task_id" = Uuid, Path)),
    responses((status = 200, description = "The new task", body = TaskOut), (status = 404, description = "AWE-004"),
              (status = 409, description = "AWE-007: task closed, request finished, or the same assignee")))]
pub async fn reassign(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Path(task_id): Path<Uuid>,
    body: Body<ReassignIn>,
) -> Result<Response> {
    let actor = caller.require_admin()?;
    let r = body.value;
    if r.new_assignee.trim().is_empty() || r.new_assignee.chars().count() > 255 {
        return Err(ApiError::invalid(&["body", "new_assignee"], "must be 1 to 255 characters", json!(r.new_assignee)));
    }
    let id = Uuid::now_v7();
    let command = Command::TaskReassign { task_id, new_assignee: r.new_assignee, reason: r.reason };
    s.dispatch(id, actor, command, pending(task_id, id)).await
}
