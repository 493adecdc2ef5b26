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

use crate::adapters::config::DatabaseConfig;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = config
        .url
        .expose()
        .parse::<PgConnectOptions>()
        .context("database.url is not a PostgreSQL URL")?
        .application_name("awe")
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(1)
        // Statements keep PostgreSQL's generic plans: planning the per-command
        // statement at every execution was 40 % of the database's CPU. A plan
        // made while a table was small is replanned when autovacuum analyses
        // the table, and, where autovacuum is off, with the connection: none
        // lives longer than this, and a new one plans for the table's size.
        .max_lifetime(Duration::from_secs(600))
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
