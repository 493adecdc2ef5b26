//! `GET /v1/awe/admin/overview` (added): what an operator checks first, for
//! the console's front page.

use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, DurationRound as _, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auth::Caller;
use super::extract::Query;
use super::AppState;
use crate::adapters::store::{overview, reads};
use crate::contract::error::{ApiError, Result};
use crate::contract::wire::{OldestOpen, SeriesPoint};

/// Stall candidates examined per call, newest first; more are reported as
/// `stalled_exact: false` (the count is then a lower bound). Each costs a
/// request's state read, so this bounds the overview's time.
const STALL_SCAN: i64 = 50;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverviewQuery {
    /// `24h` (default, hourly buckets), `7d` or `30d` (daily buckets).
    pub range: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverviewCounts {
    pub requests_in_review: i64,
    pub requests_pending: i64,
    /// Active stages nobody left can complete (see `stalled`).
    pub stalled_stages: i64,
    /// Open or claimed tasks past their due time.
    pub tasks_overdue: i64,
    /// Pending deliveries that failed at least once.
    pub deliveries_failing: i64,
    pub deliveries_exhausted: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StalledStage {
    pub request_id: Uuid,
    pub policy_key: String,
    pub artifact_id: String,
    pub stage_order: i32,
    pub stage_name: String,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Series {
    /// `hour` or `day`.
    pub bucket: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub points: Vec<SeriesPoint>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverviewOut {
    pub counts: OverviewCounts,
    /// False when more requests could have stalled than were examined.
    pub stalled_exact: bool,
    pub oldest_open: Option<OldestOpen>,
    pub stalled: Vec<StalledStage>,
    pub series: Series,
}

#[utoipa::path(get, path = "/v1/awe/admin/overview", tag = "admin", params(OverviewQuery),
    responses((status = 200, body = OverviewOut)))]
pub async fn overview(
    State(s): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<OverviewQuery>,
) -> Result<Json<OverviewOut>> {
    caller.require_viewer()?;
    let (span, bucket, bucket_name) = match q.range.as_deref().unwrap_or("24h") {
        "24h" => (Duration::hours(24), Duration::hours(1), "hour"),
        "7d" => (Duration::days(7), Duration::days(1), "day"),
        "30d" => (Duration::days(30), Duration::days(1), "day"),
        other => return Err(ApiError::invalid(&["query", "range"], "must be 24h, 7d or 30d", json!(other))),
    };
    // Buckets on whole hours or days (UTC), the current one included.
    let to = Utc::now().duration_trunc(bucket).context("bucket")? + bucket;
    let from = to - span;
    let mut conn = s.pool.acquire().await.context("database")?;
    let counts = overview::counts(&mut conn).await.context("overview counts")?;
    let oldest = overview::oldest_open(&mut conn).await.context("oldest open request")?;
    let points = overview::series(&mut conn, from, to, bucket.num_seconds()).await.context("overview series")?;
    let candidates = overview::stall_candidates(&mut conn, STALL_SCAN + 1).await.context("stall candidates")?;
    let stalled_exact = candidates.len() as i64 <= STALL_SCAN;
    let mut stalled = Vec::new();
    for id in candidates.into_iter().take(STALL_SCAN as usize) {
        let Some(row) = reads::request(&mut conn, id).await.context("reading a request")? else { continue };
        for stage in super::progress::stages(&s, &mut conn, &row).await? {
            if stage.stalled {
                stalled.push(StalledStage {
                    request_id: row.id,
                    policy_key: row.policy_key.clone(),
                    artifact_id: row.artifact_id.clone(),
                    stage_order: stage.stage_order,
                    stage_name: stage.name,
                    reason: stage.stalled_reason,
                });
            }
        }
    }
    Ok(Json(OverviewOut {
        counts: OverviewCounts {
            requests_in_review: counts.requests_in_review,
            requests_pending: counts.requests_pending,
            stalled_stages: stalled.len() as i64,
            tasks_overdue: counts.tasks_overdue,
            deliveries_failing: counts.deliveries_failing,
            deliveries_exhausted: counts.deliveries_exhausted,
        },
        stalled_exact,
        oldest_open: oldest,
        stalled,
        series: Series { bucket: bucket_name.into(), from, to, points },
    }))
}
