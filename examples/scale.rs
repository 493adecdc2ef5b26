//! Measures the reads and the SLA scan on a database filled by
//! `scripts/scale` (200k requests, 1M open tasks): the inbox query, request
//! search by artifact, an SLA tick with nothing due and one that expires 10k
//! tasks, each through the engine's own code; then the query plans of the
//! same SQL (taken from the committed `.sqlx/` cache, so they are the queries
//! the service runs).
//!
//!   DATABASE_URL=… NATS_URL=… AWE__NATS__PREFIX=… scale ASSIGNEES REQUESTS DUE_REQUESTS
//!
//! Prints p50/p99 per read, the tick durations, and EXPLAIN (ANALYZE, BUFFERS).

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use awe::adapters::store::reads::{self, RequestFilter, TaskFilter};
use awe::roles::engine::{Engine, Handled};
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| samples[((p / 100.0) * (samples.len() - 1) as f64).round() as usize].as_secs_f64() * 1000.0;
    format!("n {}  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms", samples.len(), at(50.0), at(99.0), at(100.0))
}

/// A number spread over 0..n without a random-number crate.
fn spread(i: u64, n: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) % n
}

/// The SQL of a committed query, found by a fragment of its text.
fn cached_query(fragment: &str) -> anyhow::Result<String> {
    for entry in std::fs::read_dir(".sqlx").context("run from the project root (.sqlx/)")? {
        let text = std::fs::read_to_string(entry?.path())?;
        let doc: Value = serde_json::from_str(&text)?;
        if let Some(query) = doc["query"].as_str().filter(|q| q.contains(fragment)) {
            return Ok(query.to_owned());
        }
    }
    bail!("no cached query contains {fragment:?}")
}

async fn explain(pool: &PgPool, title: &str, sql: &str, binds: &[Value]) -> anyhow::Result<()> {
    let text = format!("EXPLAIN (ANALYZE, BUFFERS) {sql}");
    let mut query = sqlx::query_scalar::<_, String>(&text);
    for bind in binds {
        query = match bind {
            Value::Null => query.bind(None::<String>),
            Value::String(s) if s == "uuid:null" => query.bind(None::<uuid::Uuid>),
            Value::String(s) if s == "int:null" => query.bind(None::<i32>),
            Value::String(s) if s == "bigint:null" => query.bind(None::<i64>),
            Value::String(s) if s == "ts:null" => query.bind(None::<chrono::DateTime<chrono::Utc>>),
            Value::Bool(b) => query.bind(*b),
            Value::Number(n) => query.bind(n.as_i64()),
            Value::String(s) if s.starts_with("ts:") => {
                query.bind(chrono::DateTime::parse_from_rfc3339(&s[3..])?.with_timezone(&chrono::Utc))
            }
            other => query.bind(other.as_str().map(str::to_owned)),
        };
    }
    let plan = query.fetch_all(pool).await.with_context(|| format!("explaining {title}"))?;
    println!("\n### {title}\n```\n{}\n```", plan.join("\n"));
    Ok(())
}

async fn tick(engine: &Engine, bucket: i64) -> anyhow::Result<(Duration, Value)> {
    let envelope = awe::roles::sla_scheduler::tick(&format!("scale-{}", std::process::id()), bucket);
    let payload = serde_json::to_vec(&envelope)?;
    let started = Instant::now();
    match engine.handle(&payload, 1).await {
        Handled::Done(awe::contract::command::Outcome::Ok { body, .. }) => Ok((started.elapsed(), body)),
        other => bail!("the tick was not applied: {other:?}"),
    }
}

/// The operator console's list pages as the browser asks for them: the
/// ingress served in this process, each answer timed end to end over HTTP.
async fn console_pages(config: &awe::adapters::config::Config, pool: &PgPool) -> anyhow::Result<()> {
    let bus = awe::adapters::bus::Bus::connect(&config.nats).await?;
    let state = awe::roles::ingress::AppState::new(config.clone(), pool.clone(), bus).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/v1/awe", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    tokio::spawn(awe::roles::ingress::serve(state, listener, shutdown.clone()));
    use base64::Engine as _;
    let claims = serde_json::json!({"sub": "scale", "realm_access": {"roles": ["AWE_VIEWER"]}});
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!("{}.{}.x", b64(&serde_json::json!({"alg": "RS256"})), b64(&claims));
    let http = reqwest::Client::new();
    let pages = [
        ("overview (24h)", "/admin/overview?range=24h".to_owned()),
        ("overview (30d)", "/admin/overview?range=30d".to_owned()),
        ("requests in review, page 1", "/requests?status=in_review&limit=50".to_owned()),
        ("requests in review, page 41", "/requests?status=in_review&limit=50&offset=2000".to_owned()),
        ("requests of one policy", "/requests?policy_key=scale.cr&limit=50".to_owned()),
        ("tasks of everyone, open", "/tasks?assignee=&status=open&page_size=50".to_owned()),
        (
            "tasks of everyone, open, as the console asks (total_limit)",
            "/tasks?assignee=&status=open&page_size=25&total_limit=10000".to_owned(),
        ),
        ("tasks of everyone, overdue", "/tasks?assignee=&overdue=true&page_size=50".to_owned()),
        ("deliveries, exhausted", "/admin/deliveries?status=exhausted&limit=50".to_owned()),
        ("audit log", "/admin/audit?limit=50".to_owned()),
        ("delegations", "/delegations?limit=50".to_owned()),
    ];
    for (title, path) in pages {
        let mut samples = Vec::new();
        for _ in 0..50 {
            let started = Instant::now();
            let response = http.get(format!("{base}{path}")).bearer_auth(&token).send().await?;
            let status = response.status();
            response.bytes().await?;
            samples.push(started.elapsed());
            if !status.is_success() {
                bail!("{title}: HTTP {status}");
            }
        }
        println!("console: {title:<58} {}", percentiles(samples));
    }
    shutdown.cancel();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let (assignees, requests, due_requests) = match args[..] {
        [a, r, d] => (a, r, d),
        _ => bail!("usage: scale ASSIGNEES REQUESTS DUE_REQUESTS"),
    };
    let config = awe::adapters::config::Config::load(None)?;
    let pool = awe::adapters::store::connect(&config.database).await?;
    let bus = awe::adapters::bus::Bus::connect(&config.nats).await?;
    bus.ensure_streams().await?;
    let engine = Engine::new(pool.clone(), bus, &config, CancellationToken::new());

    // The inbox: GET /tasks?status=open for one person (the count and the first page).
    let mut inbox = Vec::new();
    for i in 0..2000u64 {
        let filter = TaskFilter {
            assignee: Some(format!("officer-{}", spread(i, assignees))),
            status: Some("open".into()),
            ..TaskFilter::default()
        };
        let mut conn = pool.acquire().await?;
        let started = Instant::now();
        let total = reads::count_tasks(&mut conn, &filter, None).await?;
        let page = reads::tasks(&mut conn, &filter, 25, 0).await?;
        inbox.push(started.elapsed());
        if total > 0 && page.is_empty() {
            bail!("a non-empty inbox returned no page");
        }
    }
    println!("inbox (count + first page of 25)      {}", percentiles(inbox));

    // Search by artifact: GET /requests?artifact_type=…&artifact_id=…
    let mut search = Vec::new();
    for i in 0..2000u64 {
        let artifact = format!("cr-{}", 1 + spread(i, requests));
        let filter = RequestFilter {
            artifact_type: Some("registry.change_request"),
            artifact_id: Some(&artifact),
            status: None,
            limit: 20,
            ..RequestFilter::default()
        };
        let mut conn = pool.acquire().await?;
        let started = Instant::now();
        let found = reads::search_requests(&mut conn, &filter).await?;
        search.push(started.elapsed());
        if found.is_empty() {
            bail!("{artifact} was not found");
        }
    }
    println!("search by artifact                    {}", percentiles(search));

    let mut idle = Vec::new();
    for bucket in 0..20 {
        let (took, body) = tick(&engine, bucket).await?;
        if body["requests"] != 0 {
            bail!("an idle tick expired something: {body}");
        }
        idle.push(took);
    }
    println!("SLA tick, nothing due                 {}", percentiles(idle));

    console_pages(&config, &pool).await?;

    let due: i64 = sqlx::query_scalar(
        "WITH chosen AS (SELECT id FROM approval_request WHERE status = 'in_review' ORDER BY id LIMIT $1)
         , moved AS (UPDATE approval_task SET due_at = now() - interval '1 minute'
                     WHERE status = 'open' AND request_id IN (SELECT id FROM chosen) RETURNING 1)
         SELECT count(*) FROM moved",
    )
    .bind(due_requests as i64)
    .fetch_one(&pool)
    .await?;
    let (took, body) = tick(&engine, 1000).await?;
    let expired: i64 =
        sqlx::query_scalar("SELECT count(*) FROM approval_task WHERE status = 'expired'").fetch_one(&pool).await?;
    println!(
        "SLA tick expiring {due} tasks of {} requests: {:.0} ms ({expired} tasks now expired)",
        body["requests"],
        took.as_secs_f64() * 1000.0
    );

    let inbox_count = cached_query(r#"SELECT count(*) AS "n!" FROM (SELECT 1 FROM approval_task t"#)?;
    let inbox_page = cached_query("LIMIT $8 OFFSET $9")?;
    let search_sql = cached_query("SELECT * FROM approval_request\n         WHERE ($1::text IS NULL OR artifact_type")?;
    let due_sql = cached_query("SELECT DISTINCT request_id FROM approval_task")?;
    let someone = Value::String(format!("officer-{}", spread(7, assignees)));
    let open = Value::String("open".into());
    let null = Value::Null;
    let (n, s) = (null.clone(), Value::String("registry.change_request".into()));
    let no_uuid = Value::String("uuid:null".into());
    explain(
        &pool,
        "inbox: count",
        &inbox_count,
        &[
            someone.clone(),
            n.clone(),
            open.clone(),
            no_uuid.clone(),
            n.clone(),
            n.clone(),
            n.clone(),
            Value::Bool(false),
            Value::String("int:null".into()),
            Value::String("bigint:null".into()),
        ],
    )
    .await?;
    explain(
        &pool,
        "inbox: first page",
        &inbox_page,
        &[
            someone,
            n.clone(),
            open,
            no_uuid,
            n.clone(),
            n.clone(),
            n.clone(),
            Value::from(25),
            Value::from(0),
            Value::Bool(false),
            Value::String("int:null".into()),
        ],
    )
    .await?;
    explain(
        &pool,
        "search by artifact",
        &search_sql,
        &[
            s,
            Value::String("cr-4242".into()),
            n.clone(),
            n.clone(),
            n.clone(),
            n,
            Value::String("ts:null".into()),
            Value::String("ts:null".into()),
            Value::from(20),
            Value::from(0),
        ],
    )
    .await?;
    let now = format!("ts:{}", chrono::Utc::now().to_rfc3339());
    explain(&pool, "SLA scan", &due_sql, &[Value::String(now), Value::from(500)]).await?;
    Ok(())
}
