//! PostgreSQL. Functions take `&mut PgConnection` so the caller owns the
//! transaction: a state change, its events, its outbox mark and its
//! idempotency record commit together. All SQL is checked at compile time.

pub mod audit;
pub mod commands;
pub mod delegations;
pub mod overview;
pub mod policies;
pub mod reads;
pub mod requests;
pub mod secrets;
pub mod step;
pub mod webhooks;

use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use crate::config::DatabaseConfig;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = config
        .url
        .expose()
        .parse::<PgConnectOptions>()
        .context("database.url is not a PostgreSQL URL")?
        .application_name("awe")
        // Plan every statement for its parameters. Pooled connections live for
        // hours; a generic plan made while a table was nearly empty (a
        // sequential scan) was kept as the table grew to millions of rows.
        .options([("plan_cache_mode", "force_custom_plan")])
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("applying migrations")
}

/// `true` when the error is a unique-constraint violation of `constraint`.
pub fn is_unique_violation(err: &sqlx::Error, constraint: &str) -> bool {
    match err {
        sqlx::Error::Database(db) => db.is_unique_violation() && db.constraint() == Some(constraint),
        _ => false,
    }
}
