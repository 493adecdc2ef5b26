//! The configuration's layering, validation and redaction.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn environment_overrides_defaults_with_typed_values() {
    let config = Config::load_from(
        None,
        env(&[
            ("AWE__WEBHOOK__BACKOFF_SECONDS", "1,2,4"),
            ("AWE__WEBHOOK__MAX_ATTEMPTS", "3"),
            ("AWE__KEYCLOAK__ISSUER", "http://kc/realms/staff"),
            ("AWE__WEBHOOK__SECRET_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
            ("AWE__HTTP__ADDR", "0.0.0.0:9000"),
            ("DATABASE_URL", "postgres://u:pw@db/awe"),
        ]),
    )
    .expect("valid config");
    assert_eq!(config.webhook.backoff_seconds, vec![1, 2, 4]);
    assert_eq!(config.webhook.max_attempts, 3);
    assert_eq!(config.keycloak.issuer, "http://kc/realms/staff");
    assert_eq!(config.http.addr.port(), 9000);
    assert_eq!(config.database.url.expose(), "postgres://u:pw@db/awe");
}

#[test]
fn verified_tokens_need_a_key_for_callback_secrets() {
    let err = Config::load_from(None, env(&[("AWE__KEYCLOAK__ISSUER", "http://kc/realms/staff")])).unwrap_err();
    assert!(format!("{err:#}").contains("webhook.secret_key is required"), "{err:#}");
    let short = Config::load_from(None, env(&[("AWE__WEBHOOK__SECRET_KEY", "c2hvcnQ=")])).unwrap_err();
    assert!(format!("{short:#}").contains("exactly 32 bytes"), "{short:#}");
}

/// Every setting's environment name, e.g. `AWE__WEBHOOK__MAX_ATTEMPTS`.
fn environment_names(tree: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Object(map) = tree {
        for (key, value) in map {
            let name = format!("{prefix}__{}", key.to_ascii_uppercase());
            if value.is_object() {
                environment_names(value, &name, out);
            } else {
                out.push(name);
            }
        }
    }
}

#[test]
fn webhooks_carry_the_spec_event_types_unless_asked_for_more_and_an_unknown_type_stops_the_service() {
    let default = Config::load_from(None, env(&[])).expect("defaults");
    assert_eq!(default.webhook.event_types, crate::contract::event::SPEC_EVENT_TYPES.map(str::to_owned).to_vec());
    let more = Config::load_from(None, env(&[("AWE__WEBHOOK__EVENT_TYPES", "request_approved, decision_submitted")]))
        .expect("a chosen list");
    assert_eq!(more.webhook.event_types, vec!["request_approved", "decision_submitted"]);
    let typo = Config::load_from(None, env(&[("AWE__WEBHOOK__EVENT_TYPES", "request_aproved")])).unwrap_err();
    assert!(format!("{typo:#}").contains("`request_aproved` is not an event type"), "{typo:#}");
}

#[test]
fn a_reference_deployments_settings_start_the_service_with_a_notice_for_each() {
    let config = Config::load_from(
        None,
        env(&[
            ("AWE__NOTIFIER__ENABLED", "false"),
            ("AWE__NOTIFIER__SMTP_PASSWORD", "hunter2"),
            ("AWE__ADMIN_UI__MOUNT_PATH", "/admin"),
            ("AWE__KEYCLOAK__VERIFY_SSL", "true"),
            ("DB_HOST", "db.internal"),
            ("DB_USER", "awe"),
            ("DB_PASSWORD", "p@ss word"),
            ("DB_POOL_SIZE", "10"),
            ("UVICORN_PORT", "8000"),
            ("UVICORN_LOG_LEVEL", "warning"),
            ("NOTIFICATION_PROVIDER_API_KEY", "k-123"),
            ("AWE__WEBHOOK__TIMEOUT_SECONDS", "7"),
        ]),
    )
    .expect("starts");
    assert_eq!(config.database.url.expose(), "postgresql://awe:p%40ss%20word@db.internal:5432/awe");
    assert_eq!(config.database.max_connections, 25);
    assert_eq!(config.http.addr.port(), 8000);
    assert_eq!(config.log.level, "warn");
    assert_eq!(config.webhook.timeout_seconds, 7, "shared names mean the same");
    let all = config.notices.join("\n");
    for name in [
        "AWE__NOTIFIER__ENABLED",
        "AWE__NOTIFIER__SMTP_PASSWORD",
        "AWE__ADMIN_UI__MOUNT_PATH",
        "AWE__KEYCLOAK__VERIFY_SSL",
        "DB_HOST",
        "DB_POOL_SIZE",
        "UVICORN_PORT",
        "UVICORN_LOG_LEVEL",
        "NOTIFICATION_PROVIDER_API_KEY",
    ] {
        assert!(all.contains(name), "{name} not named in {all}");
    }
    assert!(!all.contains("hunter2") && !all.contains("p@ss") && !all.contains("k-123"), "a secret printed: {all}");
}

#[test]
fn a_misspelt_setting_of_ours_still_stops_the_service_with_a_did_you_mean() {
    let err = Config::load_from(None, env(&[("AWE__WEBHOOK__TIMEOUT_SECOND", "5")])).unwrap_err();
    assert!(format!("{err:#}").contains("did you mean `timeout_seconds`?"), "{err:#}");
    let err = Config::load_from(None, env(&[("AWE__WEBHOK__TIMEOUT_SECONDS", "5")])).unwrap_err();
    assert!(format!("{err:#}").contains("did you mean `webhook`?"), "{err:#}");
    let err = Config::load_from(None, env(&[("AWE__NOTIFER__SMTP_HOST", "mail")])).unwrap_err();
    assert!(format!("{err:#}").contains("did you mean `notifier`?"), "{err:#}");
}

#[test]
fn the_references_yaml_settings_file_stops_a_service_that_would_otherwise_skip_token_checks() {
    let err = Config::load_from(None, env(&[("CONFIG_PATH", "/app/config/default.yaml")])).unwrap_err();
    assert!(format!("{err:#}").contains("AWE__KEYCLOAK__ISSUER"), "{err:#}");
    let verified = Config::load_from(
        None,
        env(&[
            ("CONFIG_PATH", "/app/config/default.yaml"),
            ("AWE__KEYCLOAK__ISSUER", "https://kc/realms/staff"),
            ("AWE__WEBHOOK__SECRET_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        ]),
    )
    .expect("starts with the issuer set");
    assert!(verified.notices.iter().any(|n| n.contains("CONFIG_PATH")));
}

#[test]
fn a_sqlalchemy_database_url_is_read_as_postgresql_with_its_ssl_mode() {
    let config = Config::load_from(None, env(&[("DATABASE_URL", "postgresql+asyncpg://u:pw@db:5432/awe?ssl=require")]))
        .expect("starts");
    assert_eq!(config.database.url.expose(), "postgresql://u:pw@db:5432/awe?sslmode=require");
    assert_eq!(config.notices.len(), 1);
}

#[test]
fn every_setting_is_in_the_readme_configuration_reference() {
    let readme = include_str!("../../../README.md");
    let reference = readme.split("## Configuration").nth(1).expect("a Configuration section");
    let mut names = Vec::new();
    environment_names(&serde_json::to_value(Config::default()).expect("defaults"), "AWE", &mut names);
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !reference.contains(n.as_str()))
        .filter(|n| !(n.as_str() == "AWE__DATABASE__URL" && reference.contains("DATABASE_URL")))
        .filter(|n| !(n.as_str() == "AWE__NATS__URL" && reference.contains("NATS_URL")))
        .collect();
    assert!(missing.is_empty(), "settings missing from the README's configuration reference: {missing:?}");
}

#[test]
fn nats_credentials_are_one_method_and_tls_client_files_come_in_pairs() {
    let two = Config::load_from(None, env(&[("AWE__NATS__USER", "awe"), ("AWE__NATS__TOKEN", "t")])).unwrap_err();
    assert!(format!("{two:#}").contains("only one of"), "{two:#}");
    let orphan = Config::load_from(None, env(&[("AWE__NATS__PASSWORD", "pw")])).unwrap_err();
    assert!(format!("{orphan:#}").contains("needs nats.user"), "{orphan:#}");
    let half = Config::load_from(None, env(&[("AWE__NATS__TLS_CERT_FILE", "/c.pem")])).unwrap_err();
    assert!(format!("{half:#}").contains("go together"), "{half:#}");
    let storage = Config::load_from(None, env(&[("AWE__NATS__STORAGE", "disk")]));
    assert!(storage.is_err());
    let fine = Config::load_from(
        None,
        env(&[("AWE__NATS__USER", "awe"), ("AWE__NATS__PASSWORD", "pw"), ("AWE__NATS__STORAGE", "memory")]),
    )
    .expect("valid");
    assert_eq!(fine.nats.storage, StreamStorage::Memory);
    assert!(!fine.public_view().to_string().contains("\"pw\""));
}

#[test]
fn an_unknown_setting_is_refused_at_start() {
    let err = Config::load_from(None, env(&[("AWE__WEBHOOK__RETRIES", "3")])).unwrap_err();
    assert!(format!("{err:#}").contains("unknown setting `retries`"), "{err:#}");
}

#[test]
fn a_badly_typed_value_is_refused_at_start() {
    assert!(Config::load_from(None, env(&[("AWE__WEBHOOK__MAX_ATTEMPTS", "six")])).is_err());
    assert!(Config::load_from(None, env(&[("AWE__HTTP__ADDR", "nowhere")])).is_err());
}

#[test]
fn secrets_never_appear_in_the_public_view() {
    let config = Config::load_from(
        None,
        env(&[("DATABASE_URL", "postgres://u:hunter2@db/awe"), ("AWE__KEYCLOAK__ADMIN_CLIENT_SECRET", "s3cr3t")]),
    )
    .expect("valid config");
    let text = config.public_view().to_string();
    assert!(!text.contains("hunter2") && !text.contains("s3cr3t"), "{text}");
    assert!(!format!("{config:?}").contains("s3cr3t"));
}

#[test]
fn a_file_layer_sits_between_defaults_and_environment() {
    let dir = std::env::temp_dir().join(format!("awe-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("awe.toml");
    std::fs::write(&path, "[awe.sla]\ncheck_interval_seconds = 60\n[awe.webhook]\ntimeout_seconds = 3\n")
        .expect("write");
    let config =
        Config::load_from(Some(&path), env(&[("AWE__SLA__CHECK_INTERVAL_SECONDS", "10")])).expect("valid config");
    assert_eq!(config.sla.check_interval_seconds, 10);
    assert_eq!(config.webhook.timeout_seconds, 3);
}
