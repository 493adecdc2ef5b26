//! Webhook throughput for `scripts/bench`: a local receiver, N requests whose
//! events all go to it, and the deliveries per second the webhook role makes.
//!
//!   cargo run --release --example webhook_bench -- BASE_URL REQUESTS CONCURRENCY
//!
//! `WEBHOOK_BENCH_READY=FILE`: once every request is created, write FILE and
//! wait for the deliveries; `scripts/bench` starts the webhook role only then,
//! so the figure is the role draining a backlog, not the pace of creation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};

fn token(claims: Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.x", b64(&json!({"alg": "none"})), b64(&claims))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = args.first().cloned().unwrap_or_else(|| "http://127.0.0.1:8080/v1/awe".into());
    let requests: usize = args.get(1).map_or(Ok(2000), |s| s.parse())?;
    let concurrency: usize = args.get(2).map_or(Ok(32), |s| s.parse())?;

    // The receiver: records when each delivery arrived.
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let log = arrivals.clone();
    let app = Router::new().route(
        "/hook",
        post(move || {
            let log = log.clone();
            async move {
                log.lock().map(|mut l| l.push(Instant::now())).ok();
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::new();
    let admin = token(json!({"sub": "bench-admin", "realm_access": {"roles": ["AWE_ADMIN"]}}));
    let caller = token(json!({"sub": "bench-webhooks"}));
    let key = format!("bench.webhooks.{}", std::process::id());
    let policy = json!({"policy_key": key, "name": "bench", "artifact_type": "bench.artifact", "stages": []});
    http.post(format!("{base}/policies")).bearer_auth(&admin).json(&policy).send().await?.error_for_status()?;
    http.post(format!("{base}/policies/{key}/versions/1/activate"))
        .bearer_auth(&admin)
        .send()
        .await?
        .error_for_status()?;

    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, base, caller, key, hook, next) =
            (http.clone(), base.clone(), caller.clone(), key.clone(), hook.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= requests {
                    return;
                }
                let body = json!({"policy_key": key, "artifact_type": "bench.artifact", "artifact_id": format!("w-{n}"), "callback_url": hook});
                let _ = http.post(format!("{base}/requests")).bearer_auth(&caller).json(&body).send().await;
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let created = started.elapsed();
    if let Ok(ready) = std::env::var("WEBHOOK_BENCH_READY") {
        std::fs::write(&ready, format!("{requests}\n"))?;
    }
    let expected = requests * 2;
    let deadline = Instant::now() + Duration::from_secs(120);
    while arrivals.lock().map(|l| l.len()).unwrap_or(0) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let arrived = arrivals.lock().map(|l| l.clone()).unwrap_or_default();
    let (Some(first), Some(last)) = (arrived.first(), arrived.last()) else { anyhow::bail!("no delivery arrived") };
    let span = (*last - *first).as_secs_f64().max(0.001);
    println!(
        "webhooks: {requests} requests created in {:.1} s, {} of {expected} deliveries received",
        created.as_secs_f64(),
        arrived.len()
    );
    println!(
        "  {:.0} deliveries/s (first to last arrival, {span:.1} s){}",
        arrived.len() as f64 / span,
        if std::env::var_os("WEBHOOK_BENCH_READY").is_some() {
            ", the webhook role alone draining the backlog"
        } else {
            ", the webhook role running beside ingress and engine"
        }
    );
    Ok(())
}
