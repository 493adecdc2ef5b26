//! `awe streams apply`: creates or updates the streams and consumers of
//! `nats/` with the configured prefix, replicas, storage and limits (the Helm
//! chart's streams Job; every role also applies them at start).
//! `awe streams delete --yes`: deletes the command and event streams of
//! `nats.prefix` (tests, benchmarks).

use anyhow::bail;

use crate::adapters::bus::Bus;
use crate::adapters::config::Config;

pub async fn command(config: &Config, args: &[String]) -> anyhow::Result<()> {
    let bus = || Bus::connect(&config.nats);
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["apply"] => {
            let bus = bus().await?;
            bus.ensure_streams().await?;
            bus.ensure_consumers(config.webhook.timeout_seconds).await?;
            println!("streams and consumers of nats.prefix `{}` applied", config.nats.prefix);
        }
        ["delete", "--yes"] => {
            let bus = bus().await?;
            for stream in [bus.commands_stream(), bus.events_stream()] {
                match bus.js.delete_stream(&stream).await {
                    Ok(_) => println!("deleted {stream}"),
                    Err(err) => println!("{stream}: {err}"),
                }
            }
        }
        _ => bail!(
            "`awe streams apply` creates or updates the streams and consumers; `awe streams delete --yes` deletes \
             the command and event streams of nats.prefix `{}`",
            config.nats.prefix
        ),
    }
    Ok(())
}
