//! What it costs a caller that the 201 waits for Keycloak: the latency of
//! `POST /v1/awe/requests` for a policy whose first stage is a `group` rule,
//! resolved by the resolver role against a Keycloak stand-in that speaks the
//! admin endpoints the resolver uses (token, group by path, members,
//! subgroups). For `scripts/bench`.
//!
//!   cargo run --release --example resolve_bench -- BASE_URL KEYCLOAK_PORT REQUESTS CONCURRENCY
//!
//! Start the resolver role with `AWE__KEYCLOAK__BASE_URL=http://127.0.0.1:KEYCLOAK_PORT`,
//! `AWE__KEYCLOAK__ADMIN_CLIENT_SECRET=bench` and `AWE__KEYCLOAK__CACHE_TTL_SECONDS=0`
//! (every creation asks Keycloak). Prints p50/p95/p99/max and how many 201s
//! listed their tasks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};

fn token(claims: Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.x", b64(&json!({"alg": "none"})), b64(&claims))
}

/// The admin endpoints of one realm with one group of ten members.
fn keycloak() -> Router {
    let members: Vec<Value> = (0..10)
        .map(|i| json!({"id": format!("id-{i}"), "username": format!("officer-{i}"), "enabled": true}))
        .collect();
    Router::new()
        .route(
            "/realms/staff/protocol/openid-connect/token",
            post(|| async { Json(json!({"access_token": "kc", "expires_in": 300, "token_type": "Bearer"})) }),
        )
        .route(
            "/admin/realms/staff/group-by-path/{*path}",
            get(|| async { Json(json!({"id": "g-d1", "name": "D1", "path": "/districts/D1"})) }),
        )
        .route(
            "/admin/realms/staff/groups/{id}/{what}",
            get(move |axum::extract::Path((_, what)): axum::extract::Path<(String, String)>| {
                let members = members.clone();
                async move { Json(if what == "members" { Value::Array(members) } else { json!([]) }) }
            }),
        )
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((p / 100.0) * (sorted.len().max(1) as f64 - 1.0)).round() as usize;
    sorted.get(i.min(sorted.len().saturating_sub(1))).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = args.first().cloned().unwrap_or_else(|| "http://127.0.0.1:8080/v1/awe".into());
    let port: u16 = args.get(1).map_or(Ok(18093), |s| s.parse())?;
    let total: usize = args.get(2).map_or(Ok(2000), |s| s.parse())?;
    let concurrency: usize = args.get(3).map_or(Ok(8), |s| s.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tokio::spawn(async move { axum::serve(listener, keycloak()).await });

    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency * 2).build()?;
    let admin = token(json!({"sub": "bench-admin", "realm_access": {"roles": ["AWE_ADMIN"]}}));
    let caller = token(json!({"sub": "bench-caller"}));
    let key = format!("bench.group.{}", std::process::id());
    let policy = json!({"policy_key": key, "name": "bench", "artifact_type": "bench.artifact", "stages": [
        {"name": "district", "stage_order": 1, "mode": "any-n", "mode_value": 1, "rules": [
            {"rule_type": "group", "rule_value": {"group": "/districts/D1"}}]}]});
    let status = http.post(format!("{base}/policies")).bearer_auth(&admin).json(&policy).send().await?.status();
    anyhow::ensure!(status.as_u16() == 201, "creating the policy answered {status}");
    let status =
        http.post(format!("{base}/policies/{key}/versions/1/activate")).bearer_auth(&admin).send().await?.status();
    anyhow::ensure!(status.is_success(), "activating the policy answered {status}");

    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, base, caller, key, next) =
                (http.clone(), base.clone(), caller.clone(), key.clone(), next.clone());
            tokio::spawn(async move {
                let (mut latencies, mut with_tasks, mut other) = (Vec::new(), 0usize, 0usize);
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= total {
                        return (latencies, with_tasks, other);
                    }
                    let body = json!({"policy_key": key, "artifact_type": "bench.artifact",
                                      "artifact_id": format!("a-{n}"), "context": {}});
                    let t = Instant::now();
                    let res = http.post(format!("{base}/requests")).bearer_auth(&caller).json(&body).send().await;
                    let answer: Option<Value> = match res {
                        Ok(r) if r.status().as_u16() == 201 => r.json().await.ok(),
                        _ => None,
                    };
                    latencies.push(t.elapsed());
                    match answer {
                        Some(a) if a["tasks"].as_array().is_some_and(|t| t.len() == 10) => with_tasks += 1,
                        _ => other += 1,
                    }
                }
            })
        })
        .collect();
    let (mut all, mut with_tasks, mut other) = (Vec::new(), 0, 0);
    for w in workers {
        let (l, t, o) = w.await?;
        all.extend(l);
        with_tasks += t;
        other += o;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    println!(
        "POST /requests, group rule via the resolver role, {concurrency} concurrent: {:.0} creations/s; \
         p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms; {with_tasks} answered 201 with their 10 tasks, \
         {other} otherwise",
        all.len() as f64 / elapsed,
        percentile(&all, 50.0),
        percentile(&all, 95.0),
        percentile(&all, 99.0),
        all.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    );
    Ok(())
}
