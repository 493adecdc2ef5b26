//! `awe`: every role of the Approval Workflow Engine in one binary.
//!
//!   awe run [ROLES]        run roles (`all`, or e.g. `ingress,engine`) until SIGTERM
//!   awe migrate            apply database migrations
//!   awe relay              publish outbox events a crash left unpublished, once
//!   awe replay [--since T | --from-seq N] [--request ID] [--type T] [--limit N]
//!                          send events from the stream to their webhooks again
//!   awe streams apply      create or update the streams and consumers of `nats/`
//!   awe streams delete --yes   delete this prefix's streams (tests, benchmarks)
//!   awe probe [URL]        exit 0 when the ingress answers healthy (container health checks)
//!   awe openapi            print the OpenAPI document (the console's API types are generated from it)
//!   awe policy diff PATH   what `apply` would do with a policy file or a folder of them (YAML or JSON)
//!   awe policy apply PATH [--activate]
//!                          create new keys, new versions of changed ones (edit a newest draft), activate
//!   awe policy export DIR  write every active version to DIR as <key>.yaml
//!                          (policy commands: --url URL or AWE_URL, default this config's http.addr;
//!                          AWE_TOKEN, or AWE_CLIENT_ID/AWE_CLIENT_SECRET at keycloak.issuer)
//!
//! Options: `--config FILE` (TOML), then the environment (`AWE__SECTION__KEY`,
//! `DATABASE_URL`, `NATS_URL`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use awe::adapters::config::Config;
use tokio_util::sync::CancellationToken;

const USAGE: &str = "usage: awe [--config FILE] <run [ROLES] | migrate | relay | replay [OPTIONS] | probe [URL] | openapi | streams apply | streams delete --yes | policy diff PATH | policy apply PATH [--activate] | policy export DIR>\n  ROLES: all (default) or a comma list of ingress, engine, webhook, sla-scheduler, resolver\n  replay OPTIONS: --since RFC3339 | --from-seq N, --request ID, --type EVENT_TYPE, --limit N";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut config_file: Option<PathBuf> = std::env::var_os("AWE_CONFIG_FILE").map(PathBuf::from);
    if let Some(i) = args.iter().position(|a| a == "--config") {
        args.remove(i);
        if i >= args.len() {
            bail!("--config needs a file\n{USAGE}");
        }
        config_file = Some(PathBuf::from(args.remove(i)));
    }
    if args.first().map(String::as_str) == Some("openapi") {
        println!("{}", awe::roles::ingress::openapi_json());
        return Ok(());
    }
    let config = Config::load(config_file.as_deref())?;
    awe::app::init_telemetry(&config);
    for notice in &config.notices {
        tracing::warn!("{notice}");
    }
    match args.first().map(String::as_str) {
        Some("run") => {
            let roles = awe::app::parse_roles(args.get(1).map_or("all", String::as_str))?;
            let shutdown = CancellationToken::new();
            awe::app::cancel_on_signals(shutdown.clone());
            awe::app::run(config, &roles, shutdown).await
        }
        Some("migrate") => awe::operator::migrate::command(&config).await,
        Some("relay") => awe::operator::relay::command(&config).await,
        Some("replay") => awe::operator::replay::command(&config, &args[1..]).await,
        Some("probe") => {
            let url = args
                .get(1)
                .cloned()
                .unwrap_or_else(|| format!("http://127.0.0.1:{}/v1/awe/health", config.http.addr.port()));
            let healthy = reqwest::Client::new()
                .get(&url)
                .timeout(Duration::from_secs(3))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if healthy {
                Ok(())
            } else {
                bail!("{url} is not healthy")
            }
        }
        Some("streams") => awe::operator::streams::command(&config, &args[1..]).await,
        Some("policy") => awe::operator::policy::command(&config, &args[1..]).await,
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n{USAGE}"),
    }
}
