//! Settings of the reference implementation (OpenG2P/awe) that an existing
//! deployment carries. Each is translated to ours or set aside, and said so
//! in a notice the binary logs once telemetry is up; a setting of ours that
//! is misspelt still stops the service (with a did-you-mean).

/// The environment with the reference's variables translated, the notices,
/// and the reference's `CONFIG_PATH` (a YAML file this service does not read).
pub struct Adapted {
    pub env: Vec<(String, String)>,
    pub notices: Vec<String>,
    pub config_path: Option<String>,
}

/// Sections only the reference has, and what became of them here.
pub const FOREIGN_SECTIONS: [(&str, &str); 2] = [
    ("notifier", "AWE sends no email: approvers are notified by the caller from `stage_started` webhooks"),
    ("admin_ui", "the admin UI's mount is not configurable here"),
];

/// Keys only the reference has in sections we share.
pub const FOREIGN_KEYS: [(&str, &str); 1] = [("keycloak", "verify_ssl")];

pub fn adapt(env: impl IntoIterator<Item = (String, String)>) -> Adapted {
    let all: Vec<(String, String)> = env.into_iter().collect();
    let has = |name: &str| all.iter().any(|(n, _)| n == name);
    let get = |name: &str| lookup(&all, name);
    let mut out = Vec::with_capacity(all.len());
    let mut notices = Vec::new();
    let mut config_path = None;
    let mut db_parts = Vec::new();
    for (name, value) in &all {
        let section = name.strip_prefix("AWE__").and_then(|r| r.split("__").next()).map(str::to_ascii_lowercase);
        if let Some((_, why)) = FOREIGN_SECTIONS.iter().find(|(s, _)| Some(*s) == section.as_deref()) {
            notices.push(format!("{name} is a setting of the reference implementation; ignored: {why}"));
            continue;
        }
        match name.as_str() {
            "AWE__KEYCLOAK__VERIFY_SSL" => notices.push(if value.trim().eq_ignore_ascii_case("false") {
                format!(
                    "{name}=false is ignored: certificates are always verified, so a Keycloak with a self-signed \
                     certificate will be refused (its CA must be trusted by the system)"
                )
            } else {
                format!("{name} is ignored: certificates are always verified")
            }),
            "DATABASE_URL" => {
                let (url, changed) = sqlalchemy_url(value);
                if changed {
                    notices.push(
                        "DATABASE_URL was written for SQLAlchemy (postgresql+driver://, ssl=); translated to \
                         postgresql:// with sslmode="
                            .to_owned(),
                    );
                }
                out.push((name.clone(), url));
            }
            "DB_HOST" | "DB_PORT" | "DB_NAME" | "DB_USER" | "DB_PASSWORD" => db_parts.push(name.clone()),
            "DB_POOL_SIZE" | "DB_POOL_MAX_OVERFLOW" => {
                if name == "DB_POOL_SIZE" || !has("DB_POOL_SIZE") {
                    pool_size(&all, &mut out, &mut notices);
                }
            }
            "UVICORN_HOST" | "UVICORN_PORT" => {
                if name == "UVICORN_HOST" || !has("UVICORN_HOST") {
                    listen_addr(&all, &mut out, &mut notices);
                }
            }
            "UVICORN_LOG_LEVEL" => {
                if has("AWE__LOG__LEVEL") {
                    notices.push(format!("{name} is ignored: AWE__LOG__LEVEL is set"));
                } else {
                    let level = match value.trim().to_ascii_lowercase().as_str() {
                        "critical" | "error" => "error",
                        "warning" | "warn" => "warn",
                        "debug" => "debug",
                        "trace" => "trace",
                        _ => "info",
                    };
                    notices.push(format!("{name} translated to AWE__LOG__LEVEL={level}"));
                    out.push(("AWE__LOG__LEVEL".into(), level.into()));
                }
            }
            "DB_POOL_RECYCLE" => notices.push(format!("{name} is ignored: connections are recycled every 30 minutes")),
            "UVICORN_WORKERS" => notices.push(format!(
                "{name} is ignored: one process per role; scale with replicas and AWE__ENGINE__CONCURRENCY"
            )),
            "AWE_TEST_MODE" => {
                notices.push(format!("{name} is ignored: run only the roles you want instead (`awe run ingress`)"))
            }
            "CONFIG_PATH" => config_path = Some(value.clone()),
            n if n.starts_with("NOTIFICATION_") => notices.push(format!(
                "{n} is a setting of the reference's staff notifications; ignored: AWE sends none (consumers of \
                 awe.evt.* or the callers' webhooks can)"
            )),
            _ => out.push((name.clone(), value.clone())),
        }
    }
    if !db_parts.is_empty() {
        if has("DATABASE_URL") || has("AWE__DATABASE__URL") {
            notices.push(format!("{} ignored: DATABASE_URL is set and wins, as in the reference", db_parts.join(", ")));
        } else {
            let part = |n: &str, default: &str| get(n).unwrap_or(default).to_owned();
            let url = format!(
                "postgresql://{}:{}@{}:{}/{}",
                encode(&part("DB_USER", "postgres")),
                encode(&part("DB_PASSWORD", "postgres")),
                bracket(&part("DB_HOST", "localhost")),
                part("DB_PORT", "5432"),
                encode(&part("DB_NAME", "awe")),
            );
            notices.push(format!("{} translated to DATABASE_URL", db_parts.join(", ")));
            out.insert(0, ("DATABASE_URL".into(), url));
        }
    }
    Adapted { env: out, notices, config_path }
}

fn lookup<'a>(all: &'a [(String, String)], name: &str) -> Option<&'a str> {
    all.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn pool_size(all: &[(String, String)], out: &mut Vec<(String, String)>, notices: &mut Vec<String>) {
    let get = |name: &str| lookup(all, name);
    if get("AWE__DATABASE__MAX_CONNECTIONS").is_some() {
        notices.push("DB_POOL_SIZE, DB_POOL_MAX_OVERFLOW ignored: AWE__DATABASE__MAX_CONNECTIONS is set".into());
        return;
    }
    let n = |name: &str, default: u32| get(name).and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(default);
    let total = n("DB_POOL_SIZE", 20) + n("DB_POOL_MAX_OVERFLOW", 15);
    notices.push(format!("DB_POOL_SIZE and DB_POOL_MAX_OVERFLOW translated to AWE__DATABASE__MAX_CONNECTIONS={total}"));
    out.push(("AWE__DATABASE__MAX_CONNECTIONS".into(), total.to_string()));
}

fn listen_addr(all: &[(String, String)], out: &mut Vec<(String, String)>, notices: &mut Vec<String>) {
    let get = |name: &str| lookup(all, name);
    if get("AWE__HTTP__ADDR").is_some() {
        notices.push("UVICORN_HOST, UVICORN_PORT ignored: AWE__HTTP__ADDR is set".into());
        return;
    }
    let host = get("UVICORN_HOST").unwrap_or("0.0.0.0");
    let addr = format!("{}:{}", bracket(host), get("UVICORN_PORT").unwrap_or("8000"));
    notices.push(format!("UVICORN_HOST, UVICORN_PORT translated to AWE__HTTP__ADDR={addr}"));
    out.push(("AWE__HTTP__ADDR".into(), addr));
}

/// `postgresql+asyncpg://…?ssl=require` as sqlx reads it; whether it changed.
fn sqlalchemy_url(url: &str) -> (String, bool) {
    let Some((scheme, rest)) = url.split_once("://") else { return (url.to_owned(), false) };
    let Some(("postgresql" | "postgres", _driver)) = scheme.split_once('+') else { return (url.to_owned(), false) };
    let rest = match rest.split_once('?') {
        Some((base, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|p| match p.strip_prefix("ssl=") {
                    Some(mode) => format!("sslmode={mode}"),
                    None => p.to_owned(),
                })
                .collect();
            format!("{base}?{}", query.join("&"))
        }
        None => rest.to_owned(),
    };
    (format!("postgresql://{rest}"), true)
}

fn encode(part: &str) -> String {
    form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>().replace('+', "%20")
}

fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The closest of `candidates` to a misspelt `name`, if close enough.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
