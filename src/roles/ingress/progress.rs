//! Where each stage of a request stands, for `GET /requests/{id}`.

use std::sync::Arc;

use anyhow::Context as _;
use sqlx::PgConnection;

use super::AppState;
use crate::adapters::store::policies;
use crate::adapters::store::policies::CompiledPolicy;
use crate::adapters::store::requests::{self, RequestRow};
use crate::contract::error::Result;
use crate::contract::wire::StageProgress;
use crate::domain::{DecisionAction, TaskStatus};
use crate::machine::quorum;

pub async fn stages(s: &AppState, conn: &mut PgConnection, row: &RequestRow) -> Result<Vec<StageProgress>> {
    let compiled = match s.policies.get(row.policy_id) {
        Some(c) => c,
        None => {
            let prow = policies::row_by_id(conn, row.policy_id)
                .await
                .context("pinned policy")?
                .context("pinned policy missing")?;
            let policy = policies::load(conn, prow).await?;
            let compiled =
                CompiledPolicy::compile(policy).map_err(|e| anyhow::anyhow!("stored policy does not compile: {e}"))?;
            s.policies.insert(compiled)
        }
    };
    let state = requests::load_state(conn, row).await?;
    Ok(progress(&compiled, &state))
}

fn progress(compiled: &Arc<CompiledPolicy>, state: &crate::machine::RequestState) -> Vec<StageProgress> {
    compiled
        .policy
        .def
        .stages
        .iter()
        .map(|def| {
            let st = state.stage(def.stage_order);
            let slots = state.slots(def.stage_order);
            let tasks: Vec<_> = state.tasks.iter().filter(|t| t.stage_order == def.stage_order).collect();
            let escalated = state.escalated(def.stage_order);
            let stalled = state.stalled(def);
            StageProgress {
                stage_order: def.stage_order,
                name: def.name.clone(),
                status: st.map_or("waiting", |s| s.status.as_str()).into(),
                approvals: slots.iter().filter(|s| s.decision == Some(DecisionAction::Approve)).count(),
                approvals_needed: quorum::needed_now(def.mode, def.mode_value, slots.len(), escalated),
                required_missing: slots
                    .iter()
                    .filter(|s| s.required && s.decision != Some(DecisionAction::Approve))
                    .map(|s| s.assignee.to_owned())
                    .collect(),
                open_tasks: tasks.iter().filter(|t| t.status.is_live()).count(),
                closed_tasks: tasks
                    .iter()
                    .filter(|t| !matches!(t.status, TaskStatus::Open | TaskStatus::Claimed))
                    .count(),
                reason: st.and_then(|s| s.reason.clone()),
                stalled: stalled.is_some(),
                stalled_reason: stalled,
                escalated,
                started_at: st.and_then(|s| s.started_at),
                completed_at: st.and_then(|s| s.completed_at),
            }
        })
        .collect()
}
