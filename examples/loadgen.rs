//! Load generator for `scripts/bench`: N concurrent full flows over HTTP
//! (create a request → the approver decides → approved), for a fixed time.
//!
//!   cargo run --release --example loadgen -- BASE_URL CONCURRENCY SECONDS [POLICY_KEY]
//!
//! Prints flows/s and p50/p95/p99/max per call, then one JSON line.
//! `LOADGEN_RATE`: at most this many flows per second in all (a soak at a set
//! load); `LOADGEN_CALLBACK_URL`: requests carry it as their callback, signed
//! with a callback secret created for the caller and written to
//! `LOADGEN_SECRET_FILE`; `LOADGEN_DECIDED_FILE`: the id of every request whose
//! decision was answered 201, one per line (for the fault checks).

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use serde_json::{json, Value};

fn token(claims: Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.x", b64(&json!({"alg": "none"})), b64(&claims))
}

#[derive(Default)]
struct Sample {
    create: Vec<Duration>,
    decide: Vec<Duration>,
    flows: u64,
    errors: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn summary(name: &str, mut d: Vec<Duration>) -> Value {
    d.sort();
    let s = json!({
        "calls": d.len(),
        "p50_ms": percentile(&d, 50.0),
        "p95_ms": percentile(&d, 95.0),
        "p99_ms": percentile(&d, 99.0),
        "max_ms": d.last().map_or(0.0, |m| m.as_secs_f64() * 1000.0),
    });
    println!(
        "  {name:<28} calls {:>7}  p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        s["calls"],
        s["p50_ms"].as_f64().unwrap_or(0.0),
        s["p95_ms"].as_f64().unwrap_or(0.0),
        s["p99_ms"].as_f64().unwrap_or(0.0),
        s["max_ms"].as_f64().unwrap_or(0.0)
    );
    s
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = args.first().cloned().unwrap_or_else(|| "http://127.0.0.1:8080/v1/awe".into());
    let concurrency: usize = args.get(1).map_or(Ok(32), |s| s.parse())?;
    let seconds: u64 = args.get(2).map_or(Ok(20), |s| s.parse())?;
    let key = args.get(3).cloned().unwrap_or_else(|| format!("bench.flow.{}", std::process::id()));
    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency * 2).build()?;
    let admin = token(json!({"sub": "bench-admin", "realm_access": {"roles": ["AWE_ADMIN"]}}));
    let caller = token(json!({"sub": "bench-caller"}));
    let alice = token(json!({"sub": "sub-alice", "preferred_username": "alice"}));

    // One-stage policy: two approvers, any one approves.
    let policy = json!({"policy_key": key, "name": "bench", "artifact_type": "bench.artifact", "stages": [
        {"name": "review", "stage_order": 1, "mode": "any-n", "mode_value": 1, "rules": [
            {"rule_type": "user", "rule_value": {"user_id": "alice"}},
            {"rule_type": "user", "rule_value": {"user_id": "bob"}}]}]});
    let created = http.post(format!("{base}/policies")).bearer_auth(&admin).json(&policy).send().await?.status();
    if created.as_u16() != 201 && created.as_u16() != 409 {
        anyhow::bail!("creating the bench policy answered {created}");
    }
    http.post(format!("{base}/policies/{key}/versions/1/activate"))
        .bearer_auth(&admin)
        .send()
        .await?
        .error_for_status()?;

    let callback = std::env::var("LOADGEN_CALLBACK_URL").ok().filter(|u| !u.is_empty());
    if callback.is_some() {
        let created: Value = http
            .post(format!("{base}/admin/callback-secrets"))
            .bearer_auth(&admin)
            .json(&json!({"caller_service": "bench-caller"}))
            .send()
            .await?
            .json()
            .await?;
        let secret = created["secret"].as_str().context("the callback secret is shown once at creation")?;
        if let Ok(path) = std::env::var("LOADGEN_SECRET_FILE") {
            std::fs::write(path, secret)?;
        }
    }
    let decided_log = match std::env::var("LOADGEN_DECIDED_FILE") {
        Ok(path) => Some(Arc::new(std::sync::Mutex::new(std::fs::File::create(path)?))),
        Err(_) => None,
    };
    // A pacer: one permit per flow, added at the configured rate.
    let rate: f64 = std::env::var("LOADGEN_RATE").ok().and_then(|r| r.parse().ok()).unwrap_or(0.0);
    let pacer = (rate > 0.0).then(|| {
        let permits = Arc::new(tokio::sync::Semaphore::new(0));
        let feed = permits.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                every.tick().await;
                if feed.available_permits() < 64 {
                    feed.add_permits(1);
                }
            }
        });
        permits
    });

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let shared = Arc::new((http, base, caller, alice, key, callback));
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let shared = shared.clone();
        let pacer = pacer.clone();
        let decided_log = decided_log.clone();
        workers.push(tokio::spawn(async move {
            let (http, base, caller, alice, key, callback) = &*shared;
            let mut sample = Sample::default();
            let mut n = 0u64;
            while Instant::now() < deadline {
                if let Some(pacer) = &pacer {
                    match tokio::time::timeout_at(deadline.into(), pacer.acquire()).await {
                        Ok(Ok(permit)) => permit.forget(),
                        _ => break,
                    }
                }
                n += 1;
                let mut body = json!({"policy_key": key, "artifact_type": "bench.artifact",
                                  "artifact_id": format!("a-{}-{w}-{n}", std::process::id()), "context": {"amount": n}});
                if let Some(url) = callback {
                    body["callback_url"] = json!(url);
                }
                let t0 = Instant::now();
                let res = match http.post(format!("{base}/requests")).bearer_auth(caller).json(&body).send().await {
                    Ok(r) => r,
                    Err(_) => {
                        // The ingress is down (a fault test): try again shortly.
                        sample.errors += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if res.status().as_u16() != 201 {
                    sample.errors += 1;
                    continue;
                }
                let created: Value = res.json().await.unwrap_or(Value::Null);
                sample.create.push(t0.elapsed());
                let Some(task) = created["tasks"].as_array().and_then(|t| t.iter().find(|t| t["assignee"] == "alice")) else {
                    sample.errors += 1;
                    continue;
                };
                let t1 = Instant::now();
                let url = format!("{base}/tasks/{}/decision", task["id"].as_str().unwrap_or_default());
                match http.post(url).bearer_auth(alice).json(&json!({"action": "approve"})).send().await {
                    Ok(r) if r.status().as_u16() == 201 => {
                        sample.decide.push(t1.elapsed());
                        sample.flows += 1;
                        if let Some(log) = &decided_log {
                            if let Ok(mut file) = log.lock() {
                                let _ = writeln!(file, "{}", created["request_id"].as_str().unwrap_or_default());
                            }
                        }
                    }
                    _ => sample.errors += 1,
                }
            }
            sample
        }));
    }
    let mut all = Sample::default();
    for w in workers {
        let s = w.await?;
        all.create.extend(s.create);
        all.decide.extend(s.decide);
        all.flows += s.flows;
        all.errors += s.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = all.flows as f64 / elapsed;
    println!("loadgen: {concurrency} concurrent flows for {elapsed:.1} s against {}", shared.1);
    println!("  flows completed {}  errors {}  => {rate:.0} flows/s", all.flows, all.errors);
    let create = summary("POST /requests", all.create);
    let decide = summary("POST /tasks/{id}/decision", all.decide);
    println!(
        "{}",
        json!({"concurrency": concurrency, "seconds": elapsed, "flows": all.flows, "errors": all.errors,
               "flows_per_second": rate, "create": create, "decide": decide, "policy_key": shared.4})
    );
    Ok(())
}
