//! The resolver role: consumes stage-resolution work from JetStream, resolves
//! the rules the engine cannot (a caller's HTTP resolver; Keycloak roles and
//! groups), and answers with a `stage.resolved` command. It reads PostgreSQL
//! but never writes workflow state.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, AckKind};
use chrono::Utc;
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::adapters::bus::Bus;
use crate::adapters::config::Config;
use crate::adapters::remote::Remote;
use crate::adapters::store::policies::{CompiledPolicy, PolicyCache};
use crate::adapters::store::{policies, reads};
use crate::contract::command::{Command, Envelope, ResolveJob, StageResult, ENVELOPE_VERSION};
use crate::domain::{Actor, RuleKind, RuleSpec};
use crate::machine::{Assignee, Resolution};

pub struct ResolverRole {
    pool: PgPool,
    bus: Bus,
    remote: Remote,
    policies: PolicyCache,
}

impl ResolverRole {
    pub fn new(pool: PgPool, bus: Bus, config: &Config) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self { pool, bus, remote: Remote::new(config)?, policies: PolicyCache::default() }))
    }

    pub async fn run(self: Arc<Self>, concurrency: usize, shutdown: CancellationToken) -> anyhow::Result<()> {
        let consumer = self.bus.resolver_consumer().await?;
        crate::adapters::consume::consume("resolver", consumer, concurrency, shutdown, move |message| {
            let role = self.clone();
            async move { role.process(message).await }
        })
        .await
    }

    async fn process(&self, message: jetstream::Message) {
        let ack = match serde_json::from_slice::<ResolveJob>(&message.payload) {
            Err(e) => {
                tracing::error!(error = %e, "dropping resolution work that is not a job");
                message.ack_with(AckKind::Term).await
            }
            Ok(job) => match self.handle(&job).await {
                Ok(()) => message.ack().await,
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), request = %job.request_id, "resolution will be retried");
                    message.ack_with(AckKind::Nak(Some(Duration::from_secs(2)))).await
                }
            },
        };
        if let Err(err) = ack {
            tracing::warn!(error = %err, "acknowledgement failed; the job will come again and be answered again");
        }
    }

    /// Resolves a job's stages and publishes the answer; the step tests drive.
    #[tracing::instrument(skip_all, fields(job = %job.id, request = %job.request_id), err)]
    pub async fn handle(&self, job: &ResolveJob) -> anyhow::Result<()> {
        crate::adapters::trace::set_request(job.request_id);
        let mut conn = self.pool.acquire().await?;
        let request = reads::request(&mut conn, job.request_id).await?.context("the request of a job vanished")?;
        let compiled = match self.policies.get(request.policy_id) {
            Some(c) => c,
            None => {
                let row = policies::row_by_id(&mut conn, request.policy_id).await?.context("pinned policy")?;
                let policy = policies::load(&mut conn, row).await?;
                self.policies.insert(CompiledPolicy::compile(policy).map_err(|e| anyhow::anyhow!(e))?)
            }
        };
        drop(conn);
        let mut results = Vec::with_capacity(job.stage_orders.len());
        for order in &job.stage_orders {
            let resolution = if job.escalation {
                self.resolve_escalation(&compiled, *order, &request.context).await
            } else {
                self.resolve_stage(&compiled, *order, &request.context).await
            };
            results.push(StageResult::from_resolution(*order, resolution));
        }
        let answer = Envelope {
            v: ENVELOPE_VERSION,
            id: Uuid::new_v5(&job.id, b"resolved"),
            issued_at: Utc::now(),
            actor: Actor::system("awe-resolver"),
            reply_to: None,
            command: Command::StageResolved {
                request_id: job.request_id,
                results,
                answer: job.answer.clone(),
                escalation: job.escalation,
            },
        };
        self.bus.publish_command(&answer).await?;
        Ok(())
    }

    /// A breached stage's escalation rules, as approvers.
    async fn resolve_escalation(&self, compiled: &CompiledPolicy, order: i32, context: &Value) -> Resolution {
        let Some(stage) = compiled.policy.def.stages.iter().find(|s| s.stage_order == order) else {
            return Resolution::Failed { reason: format!("stage {order} is not in the pinned policy") };
        };
        let mut approvers: Vec<Assignee> = Vec::new();
        for rule in &stage.escalation_rules {
            let users = match &rule.spec {
                RuleSpec::User { .. } | RuleSpec::Expression { .. } => compiled.resolve_rule(rule, context),
                _ => self.remote.resolve(rule, context, false).await,
            };
            match users {
                Ok(users) => {
                    for user in users {
                        if !approvers.iter().any(|a| a.user == user) {
                            approvers.push(Assignee { user, required: false, delegated_from: None });
                        }
                    }
                }
                Err(reason) => return Resolution::Failed { reason: format!("escalation rules: {reason}") },
            }
        }
        Resolution::Resolved { approvers, observers: Vec::new() }
    }

    async fn resolve_stage(&self, compiled: &CompiledPolicy, order: i32, context: &Value) -> Resolution {
        if matches!(compiled.skip_if(order, context), Some(Ok(true))) {
            return Resolution::Skip;
        }
        let Some(stage) = compiled.policy.def.stages.iter().find(|s| s.stage_order == order) else {
            return Resolution::Failed { reason: format!("stage {order} is not in the pinned policy") };
        };
        let (mut approvers, mut observers): (Vec<Assignee>, Vec<Assignee>) = (Vec::new(), Vec::new());
        for rule in &stage.rules {
            let users = match &rule.spec {
                RuleSpec::User { .. } | RuleSpec::Expression { .. } => compiled.resolve_rule(rule, context),
                _ => self.remote.resolve(rule, context, false).await,
            };
            let users = match users {
                Ok(users) => users,
                Err(reason) => return Resolution::Failed { reason },
            };
            let list = if rule.kind == RuleKind::Approver { &mut approvers } else { &mut observers };
            for user in users {
                match list.iter_mut().find(|a| a.user == user) {
                    Some(a) => a.required |= rule.required,
                    None => list.push(Assignee { user, required: rule.required, delegated_from: None }),
                }
            }
        }
        Resolution::Resolved { approvers, observers }
    }
}
