//! The verdict of a fault run (`scripts/chaos`): after the load and the kills,
//! every request is in the state its decisions imply, each timeline has every
//! event once, the receiver saw every event at least once with a valid
//! signature, and the event stream and the database agree.
//!
//!   DATABASE_URL=… NATS_URL=… AWE__NATS__PREFIX=… chaos_check DECIDED_FILE RECEIVER_LOG
//!
//! Prints the counts as `name value` lines and exits 1 when anything is lost,
//! doubled or unsigned.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use uuid::Uuid;

/// Events a request has at most once.
const ONCE: [&str; 4] = ["request_created", "request_approved", "request_rejected", "request_expired"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (decided_file, receiver_log) = match &args[..] {
        [d, r] => (d, r),
        _ => anyhow::bail!("usage: chaos_check DECIDED_FILE RECEIVER_LOG"),
    };
    let config = awe::adapters::config::Config::load(None)?;
    let pool = awe::adapters::store::connect(&config.database).await?;
    let bus = awe::adapters::bus::Bus::connect(&config.nats).await?;

    // Requests and what their decisions imply (one approval approves: any-n 1).
    let requests: Vec<(Uuid, String, i64, i32)> = sqlx::query_as(
        "SELECT r.id, r.status, (SELECT count(*) FROM approval_decision d WHERE d.request_id = r.id AND d.action = 'approve'),
                r.last_seq
         FROM approval_request r",
    )
    .fetch_all(&pool)
    .await?;
    let decided: HashSet<Uuid> = std::fs::read_to_string(decided_file)
        .context("the load generator's decisions")?
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let mut wrong_state = 0;
    let mut answered_but_missing = 0;
    for (id, status, approvals, _) in &requests {
        let expected = if *approvals > 0 { "approved" } else { "in_review" };
        if status != expected {
            wrong_state += 1;
            eprintln!("request {id}: {status}, but {approvals} approval(s) imply {expected}");
        }
        if decided.contains(id) && *approvals == 0 {
            answered_but_missing += 1;
            eprintln!("request {id}: its decision was answered 201 but is not recorded");
        }
    }
    let doubled_decisions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT task_id FROM approval_decision GROUP BY task_id HAVING count(*) > 1) d",
    )
    .fetch_one(&pool)
    .await?;

    // Timelines: seq 1..=last_seq, each once; once-only events once.
    let events: Vec<(Uuid, Uuid, i32, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, request_id, seq, event_type, created_at FROM approval_event ORDER BY request_id, seq",
    )
    .fetch_all(&pool)
    .await?;
    let last_seq: HashMap<Uuid, i32> = requests.iter().map(|(id, _, _, seq)| (*id, *seq)).collect();
    let mut per_request: HashMap<Uuid, Vec<(i32, &str)>> = HashMap::new();
    for (_, request, seq, kind, _) in &events {
        per_request.entry(*request).or_default().push((*seq, kind.as_str()));
    }
    let mut timeline_faults = 0;
    for (request, seqs) in &per_request {
        let contiguous = seqs.iter().enumerate().all(|(i, (seq, _))| *seq == i as i32 + 1);
        let complete = last_seq.get(request) == Some(&(seqs.len() as i32));
        let doubled = ONCE.iter().any(|once| seqs.iter().filter(|(_, k)| k == once).count() > 1);
        if !(contiguous && complete) || doubled {
            timeline_faults += 1;
            eprintln!("request {request}: timeline {seqs:?} (last_seq {:?})", last_seq.get(request));
        }
    }
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM event_outbox").fetch_one(&pool).await?;

    // The event stream: every committed event once, nothing else.
    let stream = bus.js.get_stream(bus.events_stream()).await.context("the event stream")?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: bus.event_filter(None, None),
            deliver_policy: DeliverPolicy::All,
            ..OrderedConfig::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let mut in_stream: HashMap<Uuid, usize> = HashMap::new();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(3), messages.next()).await {
        let message = message?;
        let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap_or_default();
        let id = body["event_id"].as_str().and_then(|s| s.parse::<Uuid>().ok()).unwrap_or_else(Uuid::nil);
        *in_stream.entry(id).or_default() += 1;
    }
    let db_ids: HashSet<Uuid> = events.iter().map(|e| e.0).collect();
    let missing_from_stream = db_ids.iter().filter(|id| !in_stream.contains_key(id)).count();
    let stream_only = in_stream.keys().filter(|id| !db_ids.contains(id)).count();
    let doubled_in_stream = in_stream.values().filter(|n| **n > 1).count();

    // The receiver: every event at least once, every signature valid.
    let mut received: HashMap<Uuid, i64> = HashMap::new();
    let mut bad_signatures = 0;
    for line in std::fs::read_to_string(receiver_log).context("the receiver's log")?.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.get(2) != Some(&"ok") {
            bad_signatures += 1;
            continue;
        }
        if let (Some(Ok(id)), Some(Ok(at))) = (parts.first().map(|p| p.parse()), parts.get(3).map(|p| p.parse::<i64>()))
        {
            received.entry(id).and_modify(|first: &mut i64| *first = (*first).min(at)).or_insert(at);
        }
    }
    // Webhooks carry the spec's event types (the default `webhook.event_types`).
    let webhooked = |kind: &str| awe::contract::event::SPEC_EVENT_TYPES.contains(&kind);
    let undelivered = events.iter().filter(|(id, _, _, kind, _)| webhooked(kind) && !received.contains_key(id)).count();
    let late = events
        .iter()
        .filter(|(_, _, _, kind, _)| webhooked(kind))
        .filter(|(id, _, _, _, at)| received.get(id).is_some_and(|got| got - at.timestamp_millis() > 30_000))
        .count();

    let approved = requests.iter().filter(|r| r.1 == "approved").count();
    println!("requests {}", requests.len());
    println!("flows_approved {approved}");
    println!("decisions_answered_201 {}", decided.len());
    println!("events {}", events.len());
    println!("wrong_state {wrong_state}");
    println!("lost_decisions {answered_but_missing}");
    println!("doubled_decisions {doubled_decisions}");
    println!("timeline_faults {timeline_faults}");
    println!("outbox_left {outbox}");
    println!("stream_missing {missing_from_stream}");
    println!("stream_unknown {stream_only}");
    println!("stream_doubled {doubled_in_stream}");
    println!("undelivered {undelivered}");
    println!("bad_signatures {bad_signatures}");
    println!("late_over_30s {late}");
    let lost = wrong_state + answered_but_missing + missing_from_stream + undelivered + outbox as usize;
    let doubled = doubled_decisions as usize + timeline_faults + doubled_in_stream + stream_only;
    println!("lost {lost}");
    println!("doubled {doubled}");
    std::process::exit(if lost + doubled + bad_signatures > 0 { 1 } else { 0 });
}
