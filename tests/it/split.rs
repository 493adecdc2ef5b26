//! The roles as separate processes, as a cluster deploys them: one ingress,
//! two engines, a resolver, a webhook worker and an SLA scheduler, each its own
//! `awe run <role>` process against the same PostgreSQL and NATS.

use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_happy_path_runs_on_roles_deployed_as_separate_processes() {
    // The harness only provides the database and the streams; no role runs in-process.
    let app = spawn_with(Options { engine: false, ..Options::default() }).await;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("addr").port()
    };
    let role = |name: &str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_awe"))
            .args(["run", name])
            .env("DATABASE_URL", app.config.database.url.expose())
            .env("NATS_URL", &app.config.nats.url)
            .env("AWE__NATS__PREFIX", &app.config.nats.prefix)
            .env("AWE__HTTP__ADDR", format!("127.0.0.1:{port}"))
            .env("AWE__DATABASE__MAX_CONNECTIONS", "4")
            .env("AWE__LOG__LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("a role process")
    };
    let mut processes =
        vec![role("engine"), role("engine"), role("resolver"), role("webhook"), role("sla-scheduler"), role("ingress")];
    let base = format!("http://127.0.0.1:{port}/v1/awe");
    let http = reqwest::Client::new();
    app.eventually("the ingress process answers", || async {
        http.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    let call = |method: reqwest::Method, path: &str, token: String, body: serde_json::Value| {
        let req = http.request(method, format!("{base}{path}")).bearer_auth(token).json(&body);
        async move {
            let res = req.send().await.expect("sent");
            let status = res.status();
            (status, res.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let post = reqwest::Method::POST;
    assert_eq!(call(post.clone(), "/policies", admin(), two_stage_policy("split")).await.0, StatusCode::CREATED);
    assert_eq!(call(post.clone(), "/policies/split/versions/1/activate", admin(), json!({})).await.0, StatusCode::OK);
    // Enough requests that both engines take some.
    let mut requests = Vec::new();
    for i in 0..20 {
        let (status, created) =
            call(post.clone(), "/requests", service("registry"), new_request("split", &format!("cr-s{i}"))).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        requests.push(created);
    }
    for created in &requests {
        for user in ["alice", "director-x"] {
            let request_id = created["request_id"].as_str().expect("id");
            let (_, tasks) = call(
                reqwest::Method::GET,
                &format!("/tasks?request_id={request_id}&status=open"),
                token_for(user),
                json!(null),
            )
            .await;
            let task = tasks["items"][0]["id"].as_str().expect("an open task").to_owned();
            let (status, _) =
                call(post.clone(), &format!("/tasks/{task}/decision"), token_for(user), json!({"action": "approve"}))
                    .await;
            assert_eq!(status, StatusCode::CREATED);
        }
    }
    let approved: i64 = sqlx::query_scalar("SELECT count(*) FROM approval_request WHERE status = 'approved'")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(approved, 20);
    for p in &mut processes {
        let _ = p.kill().await;
    }
    app.stop().await;
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    probe.local_addr().expect("addr").port()
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let status = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// nats-server with the `nats.conf` written in `dir`, stopped when dropped.
fn nats_server(dir: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new("nats-server")
        .args(["-c", "nats.conf"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nats-server")
}

/// Runs a one-shot `awe` command to its end (30 s at most): success and stderr.
async fn finished(mut command: tokio::process::Command) -> (bool, String) {
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), command.output())
        .await
        .expect("the command ends")
        .expect("the command runs");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The first DNS name a certificate is for.
fn certificate_dns_name(pem: &str) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-in", pem, "-noout", "-ext", "subjectAltName"])
        .output()
        .expect("openssl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let name =
        text.split("DNS:").nth(1).map(|rest| rest.split([',', '\n']).next().unwrap_or_default().trim().to_owned());
    name.filter(|n| !n.is_empty()).unwrap_or_else(|| panic!("{pem} names no DNS host: {text}"))
}

/// The server side of the test: nats-server demanding a password over TLS.
fn nats_with_password_over_tls(dir: &std::path::Path, port: u16) -> tokio::process::Child {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=awe-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").expect("ext file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
    let conf = format!(
        "listen: 127.0.0.1:{port}\njetstream {{ store_dir: \"{store}\" }}\ntls {{ cert_file: \"{cert}\", key_file: \"{key}\" }}\nauthorization {{ user: awe, password: \"s3cret\" }}\n",
        store = dir.join("js").display(),
        cert = dir.join("server.pem").display(),
        key = dir.join("server.key").display(),
    );
    std::fs::write(dir.join("nats.conf"), conf).expect("nats config");
    nats_server(dir)
}

#[tokio::test]
async fn roles_reach_nats_with_a_password_over_tls_and_postgresql_over_verified_tls() {
    // PostgreSQL's own certificate (Debian's snakeoil, self-signed for the
    // name it carries); `verify-full` connects only over TLS to a server holding it.
    let pg_ca = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    let pg_name = certificate_dns_name(pg_ca);
    let app = spawn_with(Options { engine: false, ..Options::default() }).await;
    let dir = std::env::temp_dir().join(format!("awe-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let nats_port = free_port();
    let _nats = nats_with_password_over_tls(&dir, nats_port);
    let nats_ca = dir.join("ca.pem").display().to_string();
    let db_url = app.config.database.url.expose().replacen("127.0.0.1", &pg_name, 1);
    let verified_db = |ca: &str| format!("{db_url}?sslmode=verify-full&sslrootcert={ca}");
    let awe = |args: &[&str], env: &[(&str, String)]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_awe"));
        command
            .args(args)
            .env("NATS_URL", format!("tls://127.0.0.1:{nats_port}"))
            .env("AWE__NATS__PREFIX", &app.config.nats.prefix)
            .env("AWE__NATS__USER", "awe")
            .env("AWE__NATS__PASSWORD", "s3cret")
            .env("AWE__NATS__TLS_CA_FILE", &nats_ca)
            .env("DATABASE_URL", verified_db(pg_ca))
            .env("AWE__DATABASE__MAX_CONNECTIONS", "4")
            .env("AWE__LOG__LEVEL", "off")
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        command
    };
    app.eventually("the TLS NATS server listens", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", nats_port)).await.is_ok()
    })
    .await;
    let output = |args: &'static [&'static str], env: Vec<(&'static str, String)>| finished(awe(args, &env));
    // A wrong password, a server certificate from another CA, a database
    // certificate not signed by the given CA: each refused, with its reason.
    let (ok, err) = output(&["streams", "apply"], vec![("AWE__NATS__PASSWORD", "wrong".into())]).await;
    assert!(!ok && err.contains("authorization violation"), "{err}");
    let (ok, err) = output(&["streams", "apply"], vec![("AWE__NATS__TLS_CA_FILE", pg_ca.into())]).await;
    assert!(!ok && err.contains("connecting to NATS"), "{err}");
    let (ok, err) = output(&["migrate"], vec![("DATABASE_URL", verified_db(&nats_ca))]).await;
    assert!(!ok && err.contains("PostgreSQL"), "{err}");
    let (ok, err) = output(&["streams", "apply"], vec![]).await;
    assert!(ok, "{err}");

    // All roles, with the worker probes, on the secured connections.
    let (http_port, health_port) = (free_port(), free_port());
    let mut roles = awe(
        &["run", "all"],
        &[
            ("AWE__HTTP__ADDR", format!("127.0.0.1:{http_port}")),
            ("AWE__HEALTH__ADDR", format!("127.0.0.1:{health_port}")),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("awe run all");
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{http_port}/v1/awe");
    app.eventually("the roles answer healthy", || async {
        let ingress = http.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status() == StatusCode::OK);
        let ready = http.get(format!("http://127.0.0.1:{health_port}/readyz")).send().await;
        ingress && ready.is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    let post = |path: &str, token: String, body: serde_json::Value| {
        let req = http.post(format!("{base}{path}")).bearer_auth(token).json(&body);
        async move { req.send().await.expect("sent").status() }
    };
    assert_eq!(post("/policies", admin(), two_stage_policy("tls")).await, StatusCode::CREATED);
    assert_eq!(post("/policies/tls/versions/1/activate", admin(), json!({})).await, StatusCode::OK);
    assert_eq!(post("/requests", service("registry"), new_request("tls", "cr-tls")).await, StatusCode::CREATED);
    let _ = roles.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    app.stop().await;
}

#[tokio::test]
async fn roles_authenticate_to_nats_with_an_nkey_seed_and_a_foreign_seed_is_refused() {
    let app = spawn_with(Options { engine: false, ..Options::default() }).await;
    let dir = std::env::temp_dir().join(format!("awe-nkey-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let user = nkeys::KeyPair::new_user();
    let port = free_port();
    let conf = format!(
        "listen: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\nauthorization {{ users = [ {{ nkey: {} }} ] }}\n",
        dir.join("js").display(),
        user.public_key()
    );
    std::fs::write(dir.join("nats.conf"), conf).expect("nats config");
    let _nats = nats_server(&dir);
    app.eventually("the NKey NATS server listens", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;
    let apply = |seed: String| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_awe"));
        command
            .args(["streams", "apply"])
            .env("NATS_URL", format!("nats://127.0.0.1:{port}"))
            .env("AWE__NATS__PREFIX", &app.config.nats.prefix)
            .env("AWE__NATS__NKEY_SEED", seed)
            .env("AWE__LOG__LEVEL", "off")
            .env("RUST_BACKTRACE", "0")
            .kill_on_drop(true);
        async move { finished(command).await }
    };
    let (ok, err) = apply(user.seed().expect("seed")).await;
    assert!(ok, "{err}");
    let (ok, err) = apply(nkeys::KeyPair::new_user().seed().expect("seed")).await;
    assert!(!ok && err.contains("authorization violation"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    app.stop().await;
}
