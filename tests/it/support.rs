//! The test harness: every test gets its own database and its own NATS
//! subject/stream prefix, and runs the real roles on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use awe::adapters::bus::Bus;
use awe::adapters::config::Config;
use awe::adapters::store;
use awe::roles::{engine, ingress};
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub fn admin_url() -> String {
    std::env::var("AWE_TEST_ADMIN_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub config: Config,
    pub pool: PgPool,
    pub bus: Bus,
    pub http: reqwest::Client,
    db_name: String,
    ingress_stop: CancellationToken,
    engine_stop: Option<CancellationToken>,
    engine_task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub struct Options {
    pub engine: bool,
    pub reply_timeout_ms: u64,
    pub ack_wait_seconds: u64,
    /// More settings, as environment variables (`AWE__KEYCLOAK__ISSUER`, ...).
    pub env: Vec<(String, String)>,
    /// Run the webhook role too.
    pub webhook: bool,
    /// SLA scheduler replicas to run.
    pub sla_schedulers: usize,
    /// Run the resolver role too.
    pub resolver: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            engine: true,
            reply_timeout_ms: 10_000,
            ack_wait_seconds: 30,
            env: Vec::new(),
            webhook: false,
            sla_schedulers: 0,
            resolver: false,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Options::default()).await
}

pub async fn spawn_with(options: Options) -> TestApp {
    let id = Uuid::new_v4().simple().to_string();
    let db_name = format!("awe_t_{}", &id[..16]);
    let mut admin = PgConnection::connect(&admin_url()).await.expect("admin connection");
    sqlx::query(&format!("CREATE DATABASE {db_name}")).execute(&mut admin).await.expect("create test database");
    let base = admin_url();
    let db_url = format!("{}/{db_name}", base.rsplit_once('/').map_or(base.as_str(), |(head, _)| head));
    let mut settings = vec![
        ("DATABASE_URL".to_owned(), db_url),
        ("AWE__NATS__PREFIX".to_owned(), format!("t{}", &id[..12])),
        ("AWE__HTTP__REPLY_TIMEOUT_MS".to_owned(), options.reply_timeout_ms.to_string()),
        ("AWE__NATS__ACK_WAIT_SECONDS".to_owned(), options.ack_wait_seconds.to_string()),
        ("AWE__DATABASE__MAX_CONNECTIONS".to_owned(), "8".to_owned()),
        ("AWE__ENGINE__CONCURRENCY".to_owned(), "16".to_owned()),
    ];
    settings.extend(options.env.iter().cloned());
    let mut config = Config::load_from(None, settings).expect("test config");
    if let Ok(url) = std::env::var("NATS_URL") {
        config.nats.url = url;
    }
    let pool = store::connect(&config.database).await.expect("pool");
    store::migrate(&pool).await.expect("migrations");
    let bus = Bus::connect(&config.nats).await.expect("nats");
    bus.ensure_streams().await.expect("streams");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let ingress_stop = CancellationToken::new();
    let state = ingress::AppState::new(config.clone(), pool.clone(), bus.clone()).await.expect("ingress state");
    tokio::spawn(ingress::serve(state, listener, ingress_stop.clone()));
    let mut app = TestApp {
        addr,
        config,
        pool,
        bus,
        http: reqwest::Client::new(),
        db_name,
        ingress_stop,
        engine_stop: None,
        engine_task: None,
    };
    if options.engine {
        app.start_engine();
    }
    for _ in 0..options.sla_schedulers {
        let interval = Duration::from_secs(app.config.sla.check_interval_seconds);
        tokio::spawn(awe::roles::sla_scheduler::run(
            app.bus.clone(),
            app.config.nats.prefix.clone(),
            interval,
            app.ingress_stop.clone(),
        ));
    }
    if options.resolver {
        let role =
            awe::roles::resolver::ResolverRole::new(app.pool.clone(), app.bus.clone(), &app.config).expect("resolver");
        tokio::spawn(role.run(4, app.ingress_stop.clone()));
    }
    if options.webhook {
        let vault = awe::adapters::secrets::Vault::from_config(&app.config).expect("vault");
        let webhooks =
            awe::roles::webhook::Webhooks::new(app.pool.clone(), app.bus.clone(), app.config.webhook.clone(), vault)
                .expect("webhooks");
        tokio::spawn(webhooks.run(8, app.ingress_stop.clone()));
    }
    app
}

impl TestApp {
    pub fn start_engine(&mut self) {
        let stop = CancellationToken::new();
        let engine = engine::Engine::new(self.pool.clone(), self.bus.clone(), &self.config, stop.clone());
        self.engine_task = Some(tokio::spawn(engine.run(self.config.engine.concurrency, stop.clone())));
        self.engine_stop = Some(stop);
    }

    pub async fn stop_engine(&mut self) {
        if let Some(stop) = self.engine_stop.take() {
            stop.cancel();
        }
        if let Some(task) = self.engine_task.take() {
            let _ = task.await;
        }
    }

    /// An engine over the same database and bus, for stepping by hand.
    pub fn engine(&self) -> Arc<engine::Engine> {
        engine::Engine::new(self.pool.clone(), self.bus.clone(), &self.config, CancellationToken::new())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/v1/awe{path}", self.addr)
    }

    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Creates and activates a policy, asserting each step.
    pub async fn active_policy(&self, doc: Value) -> Value {
        let key = doc["policy_key"].as_str().expect("key").to_owned();
        let (status, body) = self.post("/policies", &admin(), doc).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = self.post(&format!("/policies/{key}/versions/1/activate"), &admin(), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn open_task_of(&self, user: &str) -> Value {
        let (status, body) = self.get("/tasks?status=open", &token_for(user)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"][0].clone()
    }

    /// Waits (bounded) until `check` holds; for work that finishes in the background.
    pub async fn eventually<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..300 {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for: {what}");
    }

    /// The reason of a request's first `stage_resolution_failed`, once there is one.
    pub async fn resolution_failure(&self, rid: &str) -> String {
        let path = format!("/requests/{rid}/events");
        self.eventually("a resolution failure on the timeline", || async {
            event_types(&self.get(&path, &service("registry")).await.1).contains(&"stage_resolution_failed".to_owned())
        })
        .await;
        let (_, events) = self.get(&path, &service("registry")).await;
        let failed =
            events.as_array().expect("events").iter().find(|e| e["event_type"] == "stage_resolution_failed").cloned();
        failed.expect("a failure")["payload"]["reason"].as_str().expect("reason").to_owned()
    }

    pub async fn stop(mut self) {
        self.stop_engine().await;
        self.ingress_stop.cancel();
        for stream in [self.bus.commands_stream(), self.bus.events_stream(), self.bus.resolve_stream()] {
            let _ = self.bus.js.delete_stream(&stream).await;
        }
        self.pool.close().await;
        if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db_name))
                .execute(&mut admin)
                .await;
        }
    }
}

/// A Keycloak-shaped token, unsigned (the tests run in dev auth mode).
pub fn token(claims: Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.x", b64(&json!({"alg": "RS256", "typ": "JWT"})), b64(&claims))
}

pub fn admin() -> String {
    token(json!({"sub": "ops-admin", "preferred_username": "ops", "email": "ops@example.org",
                 "resource_access": {"awe-admin-portal": {"roles": ["AWE_ADMIN"]}}}))
}

pub fn viewer() -> String {
    token(json!({"sub": "auditor", "realm_access": {"roles": ["AWE_VIEWER"]}}))
}

/// A caller service's token (client credentials: no email, no roles).
pub fn service(name: &str) -> String {
    token(json!({"sub": name, "preferred_username": format!("service-account-{name}")}))
}

pub fn token_for(user: &str) -> String {
    token(json!({"sub": format!("sub-{user}"), "preferred_username": user, "name": user}))
}

/// The policy of spec 003's example, with the group as two `user` rules.
pub fn two_stage_policy(key: &str) -> Value {
    json!({
        "policy_key": key, "name": "Change requests", "artifact_type": "registry.change_request",
        "stages": [
            {"name": "District officers", "stage_order": 1, "mode": "any-n", "mode_value": 1, "rules": [
                {"rule_type": "user", "rule_value": {"user_id": "alice"}},
                {"rule_type": "user", "rule_value": {"user_id": "bob"}}]},
            {"name": "State directors", "stage_order": 2, "mode": "all", "rules": [
                {"rule_type": "user", "rule_value": {"user_id": "director-x"}}]}
        ]
    })
}

pub fn new_request(key: &str, artifact: &str) -> Value {
    json!({"policy_key": key, "artifact_type": "registry.change_request", "artifact_id": artifact,
           "context": {"district": "D1"}})
}

pub fn event_types(events: &Value) -> Vec<String> {
    events.as_array().expect("events").iter().map(|e| e["event_type"].as_str().expect("type").to_owned()).collect()
}

/// `POST /requests` with an `Idempotency-Key`.
pub async fn create_with_key(app: &TestApp, caller: &str, key: &str, body: Value) -> (StatusCode, Value) {
    let res = app
        .http
        .post(app.url("/requests"))
        .bearer_auth(service(caller))
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = res.status();
    (status, res.json().await.expect("json"))
}

/// A count read straight from the database.
pub async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.pool).await.expect("count")
}
