//! Running roles: each alone, or several in one process.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context as _};
use backon::Retryable as _;
use tokio_util::sync::CancellationToken;

use crate::adapters::bus::Bus;
use crate::adapters::config::{Config, LogFormat};
use crate::adapters::store;
use crate::roles::{engine, ingress};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// REST in, commands out.
    Ingress,
    /// Applies commands; also runs the outbox relay.
    Engine,
    /// POSTs events to callers' callback URLs.
    Webhook,
    /// Publishes one SLA tick per interval, however many replicas run.
    SlaScheduler,
    /// Resolves rules the engine cannot (callers' HTTP resolvers).
    Resolver,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Ingress, Role::Engine, Role::Webhook, Role::SlaScheduler, Role::Resolver];
}

impl FromStr for Role {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s.trim() {
            "ingress" => Ok(Self::Ingress),
            "engine" => Ok(Self::Engine),
            "webhook" => Ok(Self::Webhook),
            "sla-scheduler" => Ok(Self::SlaScheduler),
            "resolver" => Ok(Self::Resolver),
            other => bail!("unknown role `{other}`; expected ingress, engine, webhook, sla-scheduler, resolver or all"),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ingress => "ingress",
            Self::Engine => "engine",
            Self::Webhook => "webhook",
            Self::SlaScheduler => "sla-scheduler",
            Self::Resolver => "resolver",
        })
    }
}

/// Parses `ingress,engine` or `all`.
pub fn parse_roles(spec: &str) -> anyhow::Result<Vec<Role>> {
    if spec.trim() == "all" {
        return Ok(Role::ALL.to_vec());
    }
    let roles =
        spec.split(',').filter(|s| !s.trim().is_empty()).map(Role::from_str).collect::<anyhow::Result<Vec<_>>>()?;
    if roles.is_empty() {
        bail!("no role given");
    }
    Ok(roles)
}

pub fn init_telemetry(config: &Config) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let json = match config.log.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// Starts `roles` and runs them until `shutdown` is cancelled or one fails.
pub async fn run(config: Config, roles: &[Role], shutdown: CancellationToken) -> anyhow::Result<()> {
    crate::adapters::metrics::init();
    crate::adapters::trace::start_export(&config.tracing.otlp_endpoint, &config.tracing.service_name);
    let pool = store::connect(&config.database).await?;
    store::migrate(&pool).await?;
    let bus = Bus::connect(&config.nats).await?;
    // A JetStream cluster that is still electing its leaders (a fresh install,
    // a rolling restart) times stream requests out for a while: wait for it.
    (|| bus.ensure_streams())
        .retry(
            backon::ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(500))
                .with_max_delay(Duration::from_secs(5))
                .with_max_times(12),
        )
        .notify(|err, after| tracing::warn!(error = format!("{err:#}"), retry_in = ?after, "JetStream streams not applied yet"))
        .await?;
    let mut tasks = tokio::task::JoinSet::new();
    for role in roles {
        match role {
            Role::Ingress => {
                let listener = tokio::net::TcpListener::bind(config.http.addr)
                    .await
                    .with_context(|| format!("binding {}", config.http.addr))?;
                let state = ingress::AppState::new(config.clone(), pool.clone(), bus.clone()).await?;
                tasks.spawn(ingress::serve(state, listener, shutdown.clone()));
            }
            Role::Engine => {
                let engine = engine::Engine::new(pool.clone(), bus.clone(), &config, shutdown.clone());
                tasks.spawn(engine.run(config.engine.concurrency, shutdown.clone()));
                let relay = engine::relay::run(
                    pool.clone(),
                    bus.clone(),
                    Duration::from_secs(config.engine.relay_interval_seconds),
                    Duration::from_secs(config.engine.relay_grace_seconds),
                    shutdown.clone(),
                );
                tasks.spawn(async move {
                    relay.await;
                    Ok(())
                });
            }
            Role::Webhook => {
                let vault = crate::adapters::secrets::Vault::from_config(&config)?;
                let webhooks =
                    crate::roles::webhook::Webhooks::new(pool.clone(), bus.clone(), config.webhook.clone(), vault)?;
                tasks.spawn(webhooks.run(config.webhook.concurrency, shutdown.clone()));
            }
            Role::Resolver => {
                let role = crate::roles::resolver::ResolverRole::new(pool.clone(), bus.clone(), &config)?;
                tasks.spawn(role.run(config.resolver.concurrency, shutdown.clone()));
            }
            Role::SlaScheduler => {
                let interval = Duration::from_secs(config.sla.check_interval_seconds);
                tasks.spawn(crate::roles::sla_scheduler::run(
                    bus.clone(),
                    config.nats.prefix.clone(),
                    interval,
                    shutdown.clone(),
                ));
                if config.idempotency.retention_hours > 0 {
                    let retention = Duration::from_secs(config.idempotency.retention_hours.saturating_mul(3600));
                    tasks.spawn(crate::roles::sla_scheduler::retire_idempotency_keys(
                        pool.clone(),
                        retention,
                        interval,
                        shutdown.clone(),
                    ));
                }
            }
        }
        tracing::info!(%role, "role started");
    }
    if !config.health.addr.is_empty() {
        let addr = config.health.addr.parse().context("health.addr")?;
        tasks.spawn(crate::adapters::health::serve(addr, pool.clone(), bus.clone(), shutdown.clone()));
    }
    let grace = Duration::from_secs(config.shutdown.grace_seconds);
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut result = Ok(());
    loop {
        let done = match deadline {
            None => tokio::select! {
                done = tasks.join_next() => done,
                _ = shutdown.cancelled() => {
                    deadline = Some(tokio::time::Instant::now() + grace);
                    continue;
                }
            },
            Some(at) => match tokio::time::timeout_at(at, tasks.join_next()).await {
                Ok(done) => done,
                Err(_) => {
                    // Unacknowledged work goes back to JetStream when the
                    // process exits; nothing was acknowledged before it was done.
                    tracing::warn!(grace_seconds = grace.as_secs(), "grace period over; handing back in-flight work");
                    tasks.abort_all();
                    break;
                }
            },
        };
        let Some(done) = done else { break };
        let outcome = done.context("a role panicked").and_then(|r| r);
        if let Err(err) = outcome {
            tracing::error!(error = format!("{err:#}"), "a role stopped; shutting down");
            shutdown.cancel();
            result = Err(err);
        } else if !shutdown.is_cancelled() {
            tracing::warn!("a role ended on its own; shutting down");
            shutdown.cancel();
        }
    }
    result
}

/// Cancels `token` on SIGINT or SIGTERM.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        token.cancel();
    });
}
