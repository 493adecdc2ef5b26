//! `awe relay`: publishes, once, the outbox events a crash left unpublished
//! (the engine role does the same on its own every `engine.relay_interval_seconds`).
//! Safe to run twice: events carry `Nats-Msg-Id` = event id.

use std::time::Duration;

use anyhow::Context as _;

use crate::adapters::bus::Bus;
use crate::adapters::config::Config;
use crate::adapters::store;
use crate::roles::engine::relay;

pub async fn command(config: &Config) -> anyhow::Result<()> {
    let pool = store::connect(&config.database).await?;
    let bus = Bus::connect(&config.nats).await?;
    bus.ensure_streams().await?;
    let n = relay::relay_once(&pool, &bus, Duration::ZERO).await.context("relaying")?;
    println!("published {n} event(s)");
    Ok(())
}
