//! Readiness of a process: PostgreSQL answers and NATS is connected. The
//! ingress reports it at `/v1/awe/health`; worker roles, which serve no API,
//! answer `/healthz` (the process runs) and `/readyz` (it can work) on
//! `health.addr` for container probes, beside `/metrics` (Prometheus).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::adapters::bus::Bus;

/// What is not ready, when something is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    Database,
    Nats,
}

pub async fn check(pool: &PgPool, bus: &Bus) -> Result<(), NotReady> {
    let ping = tokio::time::timeout(Duration::from_secs(2), sqlx::query("SELECT 1").execute(pool)).await;
    match ping {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "health: database unreachable");
            return Err(NotReady::Database);
        }
        Err(_) => {
            tracing::warn!("health: database did not answer within 2 s");
            return Err(NotReady::Database);
        }
    }
    if bus.client.connection_state() != async_nats::connection::State::Connected {
        return Err(NotReady::Nats);
    }
    Ok(())
}

#[derive(Clone)]
struct Probe {
    pool: PgPool,
    bus: Bus,
}

/// Serves the worker probes on `addr` until `shutdown`.
pub async fn serve(addr: SocketAddr, pool: PgPool, bus: Bus, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding health.addr {addr}"))?;
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(Probe { pool, bus });
    tracing::info!(%addr, "health probes listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("serving health probes")
}

async fn ready(State(probe): State<Probe>) -> (StatusCode, &'static str) {
    match check(&probe.pool, &probe.bus).await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(NotReady::Database) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
        Err(NotReady::Nats) => (StatusCode::SERVICE_UNAVAILABLE, "nats not connected"),
    }
}

async fn metrics(State(probe): State<Probe>) -> impl axum::response::IntoResponse {
    crate::adapters::metrics::answer(&probe.pool)
}
