//! A Keycloak stand-in speaking the real admin endpoints the resolver uses
//! (token, role and client-role members and groups, clients by clientId,
//! group by path, group members and children, with `first`/`max` paging and
//! 401/404 behaviour), and the role/group rules resolved through it. The
//! stand-in checks the service account's `realm-management` roles as
//! Keycloak's admin API does (`keycloak/README.md` lists which call needs
//! which), granting by default what `keycloak/realm-awe.json` grants.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

const SECRET: &str = "s3cret";

#[derive(Clone, Default)]
struct Realm {
    down: Arc<AtomicBool>,
    /// The service account's `realm-management` roles, composites expanded.
    granted: Arc<Vec<String>>,
    /// Group id → member usernames (and whether enabled).
    members: Arc<HashMap<String, Vec<(String, bool)>>>,
    children: Arc<HashMap<String, Vec<String>>>,
}

fn user(name: &str, enabled: bool) -> Value {
    json!({"id": format!("id-{name}"), "username": name, "enabled": enabled})
}

fn page(items: Vec<Value>, q: &HashMap<String, String>) -> Response {
    let first: usize = q.get("first").and_then(|v| v.parse().ok()).unwrap_or(0);
    let max: usize = q.get("max").and_then(|v| v.parse().ok()).unwrap_or(100);
    Json(items.into_iter().skip(first).take(max).collect::<Vec<_>>()).into_response()
}

fn guard(realm: &Realm, headers: &HeaderMap) -> Option<Response> {
    if realm.down.load(Ordering::SeqCst) {
        return Some(AxumStatus::SERVICE_UNAVAILABLE.into_response());
    }
    let bearer = headers.get("authorization").and_then(|h| h.to_str().ok());
    (bearer != Some("Bearer kc-admin-token")).then(|| AxumStatus::UNAUTHORIZED.into_response())
}

/// Keycloak's answer to an admin call the account's roles do not allow.
fn forbidden_unless(realm: &Realm, needs: &[&str]) -> Option<Response> {
    let missing = needs.iter().any(|n| !realm.granted.iter().any(|g| g == n));
    missing.then(|| (AxumStatus::FORBIDDEN, Json(json!({"error": "HTTP 403 Forbidden"}))).into_response())
}

/// The `realm-management` roles the realm export grants the resolver's service account.
fn exported_grant() -> Vec<String> {
    let realm: Value = serde_json::from_str(include_str!("../../keycloak/realm-awe.json")).expect("realm export");
    let users = realm["users"].as_array().expect("users");
    let account = users.iter().find(|u| u["serviceAccountClientId"] == "awe-admin-resolver").expect("account");
    let roles = account["clientRoles"]["realm-management"].as_array().expect("roles");
    roles.iter().filter_map(Value::as_str).map(str::to_owned).collect()
}

/// Keycloak's composite roles of `realm-management`.
fn expand(roles: Vec<String>) -> Vec<String> {
    let mut all = roles.clone();
    for role in &roles {
        let implied: &[&str] = match role.as_str() {
            "view-users" => &["query-users", "query-groups"],
            "view-clients" => &["query-clients"],
            _ => &[],
        };
        all.extend(implied.iter().map(|r| (*r).to_owned()));
    }
    all
}

async fn standin() -> (String, Realm) {
    standin_granting(exported_grant()).await
}

async fn standin_granting(granted: Vec<String>) -> (String, Realm) {
    let mut members = HashMap::new();
    members.insert("g-d1".to_owned(), (0..150).map(|i| (format!("d1-{i:03}"), true)).collect());
    members.insert("g-d1-north".to_owned(), vec![("n1".to_owned(), true)]);
    members.insert("g-managers".to_owned(), vec![("gm1".to_owned(), true)]);
    let mut children = HashMap::new();
    children.insert("g-d1".to_owned(), vec!["g-d1-north".to_owned()]);
    let realm = Realm {
        down: Arc::default(),
        granted: Arc::new(expand(granted)),
        members: Arc::new(members),
        children: Arc::new(children),
    };
    let app = Router::new()
        .route(
            "/realms/staff/protocol/openid-connect/token",
            post(|State(r): State<Realm>, body: String| async move {
                let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
                if r.down.load(Ordering::SeqCst) {
                    return AxumStatus::SERVICE_UNAVAILABLE.into_response();
                }
                let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
                    && form.get("client_id").map(String::as_str) == Some("awe-admin-resolver")
                    && form.get("client_secret").map(String::as_str) == Some(SECRET);
                if ok {
                    Json(json!({"access_token": "kc-admin-token", "expires_in": 300, "token_type": "Bearer"}))
                        .into_response()
                } else {
                    (AxumStatus::UNAUTHORIZED, Json(json!({"error": "unauthorized_client"}))).into_response()
                }
            }),
        )
        .route(
            "/admin/realms/staff/roles/{role}/{what}",
            get(
                |State(r): State<Realm>,
                 headers: HeaderMap,
                 Path((role, what)): Path<(String, String)>,
                 Query(q): Query<HashMap<String, String>>| async move {
                    if let Some(refused) = guard(&r, &headers) {
                        return refused;
                    }
                    // The role's container (the realm), and for members the users.
                    let needs: &[&str] = if what == "users" { &["view-realm", "query-users"] } else { &["view-realm"] };
                    if let Some(refused) = forbidden_unless(&r, needs) {
                        return refused;
                    }
                    match (role.as_str(), what.as_str()) {
                        ("PROGRAM_MANAGER", "users") => page(vec![user("pm1", true), user("pm2", false)], &q),
                        ("PROGRAM_MANAGER", "groups") => {
                            page(vec![json!({"id": "g-managers", "name": "managers", "path": "/managers"})], &q)
                        }
                        // What Keycloak answers when a role's container is not the account's to view.
                        ("RESTRICTED", _) => {
                            (AxumStatus::FORBIDDEN, Json(json!({"error": "HTTP 403 Forbidden"}))).into_response()
                        }
                        _ => (AxumStatus::NOT_FOUND, Json(json!({"error": "Could not find role"}))).into_response(),
                    }
                },
            ),
        )
        .route(
            "/admin/realms/staff/clients",
            get(|State(r): State<Realm>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>| async move {
                if let Some(refused) = guard(&r, &headers) {
                    return refused;
                }
                // Keycloak lists only the clients the account may view: without `view-clients`, none.
                let visible = r.granted.iter().any(|g| g == "view-clients");
                let all = [
                    ("c-1", "registry-staff-portal", "Registry staff portal"),
                    ("c-2", "awe-admin-portal", "AWE console"),
                ];
                let wanted = q.get("clientId");
                let found: Vec<Value> = all
                    .iter()
                    .filter(|(_, client_id, _)| visible && wanted.is_none_or(|w| w == client_id))
                    .map(|(id, client_id, name)| json!({"id": id, "clientId": client_id, "name": name}))
                    .collect();
                page(found, &q)
            }),
        )
        .route(
            "/admin/realms/staff/users",
            get(|State(r): State<Realm>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>| async move {
                if let Some(refused) = guard(&r, &headers).or_else(|| forbidden_unless(&r, &["query-users"])) {
                    return refused;
                }
                let search = q.get("search").cloned().unwrap_or_default();
                let people = [("alice", "Alice", "Ng"), ("alan", "Alan", "Ortiz"), ("bob", "Bob", "Kim")];
                let found = people
                    .iter()
                    .filter(|(u, ..)| u.contains(search.as_str()))
                    .map(|(u, first, last)| {
                        json!({"id": format!("id-{u}"), "username": u, "email": format!("{u}@example.org"),
                               "firstName": first, "lastName": last, "enabled": true})
                    })
                    .collect();
                page(found, &q)
            }),
        )
        .route(
            "/admin/realms/staff/roles",
            get(|State(r): State<Realm>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>| async move {
                if let Some(refused) = guard(&r, &headers).or_else(|| forbidden_unless(&r, &["view-realm"])) {
                    return refused;
                }
                let search = q.get("search").cloned().unwrap_or_default();
                let found = ["PROGRAM_MANAGER", "offline_access"]
                    .iter()
                    .filter(|n| n.contains(search.as_str()))
                    .map(|n| json!({"id": format!("r-{n}"), "name": n, "description": format!("{n} of the realm")}))
                    .collect();
                page(found, &q)
            }),
        )
        .route(
            "/admin/realms/staff/clients/{id}/roles",
            get(
                |State(r): State<Realm>,
                 headers: HeaderMap,
                 Path(id): Path<String>,
                 Query(q): Query<HashMap<String, String>>| async move {
                    if let Some(refused) = guard(&r, &headers).or_else(|| forbidden_unless(&r, &["view-clients"])) {
                        return refused;
                    }
                    match id.as_str() {
                        "c-1" => {
                            page(vec![json!({"id": "cr-1", "name": "APPROVER", "description": "Approves changes"})], &q)
                        }
                        _ => AxumStatus::NOT_FOUND.into_response(),
                    }
                },
            ),
        )
        .route(
            "/admin/realms/staff/groups",
            get(|State(r): State<Realm>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>| async move {
                if let Some(refused) = guard(&r, &headers).or_else(|| forbidden_unless(&r, &["query-groups"])) {
                    return refused;
                }
                let tree = json!([
                    {"id": "g-districts", "name": "districts", "path": "/districts", "subGroups": [
                        {"id": "g-d1", "name": "D1", "path": "/districts/D1", "subGroups": [
                            {"id": "g-d1-north", "name": "north", "path": "/districts/D1/north", "subGroups": []}]}]},
                    {"id": "g-managers", "name": "managers", "path": "/managers", "subGroups": []}
                ]);
                page(tree.as_array().cloned().unwrap_or_default(), &q)
            }),
        )
        .route(
            "/admin/realms/staff/clients/{id}/roles/{role}/{what}",
            get(
                |State(r): State<Realm>,
                 headers: HeaderMap,
                 Path((id, role, what)): Path<(String, String, String)>,
                 Query(q): Query<HashMap<String, String>>| async move {
                    if let Some(refused) = guard(&r, &headers) {
                        return refused;
                    }
                    let needs: &[&str] =
                        if what == "users" { &["view-clients", "view-users"] } else { &["view-clients"] };
                    if let Some(refused) = forbidden_unless(&r, needs) {
                        return refused;
                    }
                    match (id.as_str(), role.as_str(), what.as_str()) {
                        ("c-1", "APPROVER", "users") => page(vec![user("ca1", true)], &q),
                        ("c-1", "APPROVER", "groups") => page(vec![], &q),
                        _ => AxumStatus::NOT_FOUND.into_response(),
                    }
                },
            ),
        )
        .route(
            "/admin/realms/staff/group-by-path/{*path}",
            get(|State(r): State<Realm>, headers: HeaderMap, Path(path): Path<String>| async move {
                if let Some(refused) = guard(&r, &headers) {
                    return refused;
                }
                let known = path.trim_start_matches('/') == "districts/D1";
                // An unknown path is 404 before any permission check.
                if let Some(refused) = forbidden_unless(&r, &["view-users"]).filter(|_| known) {
                    return refused;
                }
                match path.trim_start_matches('/') {
                    "districts/D1" => {
                        Json(json!({"id": "g-d1", "name": "D1", "path": "/districts/D1"})).into_response()
                    }
                    _ => (AxumStatus::NOT_FOUND, Json(json!({"error": "Group path does not exist"}))).into_response(),
                }
            }),
        )
        .route(
            "/admin/realms/staff/groups/{id}/{what}",
            get(
                |State(r): State<Realm>,
                 headers: HeaderMap,
                 Path((id, what)): Path<(String, String)>,
                 Query(q): Query<HashMap<String, String>>| async move {
                    if let Some(refused) = guard(&r, &headers) {
                        return refused;
                    }
                    if let Some(refused) = forbidden_unless(&r, &["view-users"]) {
                        return refused;
                    }
                    match what.as_str() {
                        "members" => match r.members.get(&id) {
                            Some(list) => page(list.iter().map(|(u, e)| user(u, *e)).collect(), &q),
                            None => AxumStatus::NOT_FOUND.into_response(),
                        },
                        "children" => {
                            let kids = r.children.get(&id).cloned().unwrap_or_default();
                            page(kids.iter().map(|k| json!({"id": k, "name": k})).collect(), &q)
                        }
                        _ => AxumStatus::NOT_FOUND.into_response(),
                    }
                },
            ),
        )
        .with_state(realm.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, realm)
}

fn options(base_url: &str, secret: &str, ttl: u64) -> Options {
    Options {
        resolver: true,
        env: vec![
            ("AWE__KEYCLOAK__BASE_URL".into(), base_url.into()),
            ("AWE__KEYCLOAK__ADMIN_CLIENT_SECRET".into(), secret.into()),
            ("AWE__KEYCLOAK__CACHE_TTL_SECONDS".into(), ttl.to_string()),
            ("AWE__RESOLVER__RETRIES".into(), "1".into()),
        ],
        ..Options::default()
    }
}

async fn policy(app: &TestApp, key: &str, rules: Value) {
    app.active_policy(json!({"policy_key": key, "name": key, "artifact_type": "registry.change_request", "stages": [
        {"name": "Keycloak", "stage_order": 1, "mode": "any-n", "rules": rules}]}))
        .await;
}

async fn create(app: &TestApp, key: &str, artifact: &str) -> String {
    let (status, created) = app.post("/requests", &service("registry"), new_request(key, artifact)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["request_id"].as_str().expect("id").to_owned()
}

async fn assignees(app: &TestApp, rid: &str) -> Vec<String> {
    let (_, tasks) = app.get(&format!("/tasks?assignee=&request_id={rid}&page_size=100"), &admin()).await;
    let mut names: Vec<String> = tasks["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["assignee"].as_str().expect("a").to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn realm_and_client_roles_resolve_through_keycloak_with_group_holders_and_without_disabled_users() {
    let (url, _realm) = standin().await;
    let app = spawn_with(options(&url, SECRET, 300)).await;
    policy(
        &app,
        "roles",
        json!([
            {"rule_type": "role", "rule_value": {"role": "PROGRAM_MANAGER"}},
            {"rule_type": "role", "rule_value": {"role": "APPROVER", "client": "registry-staff-portal"}}
        ]),
    )
    .await;
    let rid = create(&app, "roles", "cr-roles").await;
    app.eventually("tasks from Keycloak", || async { !assignees(&app, &rid).await.is_empty() }).await;
    assert_eq!(
        assignees(&app, &rid).await,
        vec!["ca1", "gm1", "pm1"],
        "pm2 is disabled; gm1 holds the role through a group"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_group_rule_takes_every_page_of_members_and_its_subgroups() {
    let (url, _realm) = standin().await;
    let app = spawn_with(options(&url, SECRET, 300)).await;
    policy(&app, "group", json!([{"rule_type": "group", "rule_value": {"group": "/districts/D1"}}])).await;
    let rid = create(&app, "group", "cr-group").await;
    app.eventually("tasks from Keycloak", || async { !assignees(&app, &rid).await.is_empty() }).await;
    let (_, tasks) = app.get(&format!("/tasks?assignee=&request_id={rid}"), &admin()).await;
    assert_eq!(tasks["total"], 151, "150 members over two pages, and n1 of the subgroup");
    let (_, sim) = app.post("/policies/group/versions/1/simulate", &viewer(), json!({"context": {}})).await;
    let approvers = sim["stages"][0]["approvers"].as_array().expect("approvers");
    assert!(approvers.contains(&json!("d1-149")) && approvers.contains(&json!("n1")));
    app.stop().await;
}

#[tokio::test]
async fn unknown_roles_clients_groups_and_a_refused_service_account_are_resolution_errors() {
    let (url, _realm) = standin().await;
    let app = spawn_with(options(&url, SECRET, 300)).await;
    policy(&app, "no-role", json!([{"rule_type": "role", "rule_value": {"role": "NOPE"}}])).await;
    policy(&app, "no-client", json!([{"rule_type": "role", "rule_value": {"role": "APPROVER", "client": "nobody"}}]))
        .await;
    policy(&app, "no-group", json!([{"rule_type": "group", "rule_value": {"group": "/nowhere"}}])).await;
    policy(&app, "forbidden", json!([{"rule_type": "role", "rule_value": {"role": "RESTRICTED"}}])).await;
    let forbidden = app.resolution_failure(&create(&app, "forbidden", "cr-0").await).await;
    assert!(forbidden.contains("HTTP 403"), "{forbidden}");
    assert!(app.resolution_failure(&create(&app, "no-role", "cr-1").await).await.contains("roles/NOPE"));
    assert!(app.resolution_failure(&create(&app, "no-client", "cr-2").await).await.contains("no client `nobody`"));
    assert!(app.resolution_failure(&create(&app, "no-group", "cr-3").await).await.contains("group-by-path/nowhere"));
    app.stop().await;

    let app = spawn_with(options(&url, "wrong", 300)).await;
    policy(&app, "roles", json!([{"rule_type": "role", "rule_value": {"role": "PROGRAM_MANAGER"}}])).await;
    assert!(app.resolution_failure(&create(&app, "roles", "cr-4").await).await.contains("refused the service account"));
    app.stop().await;
}

#[tokio::test]
async fn while_keycloak_is_down_a_cached_role_still_resolves_and_an_uncached_group_fails() {
    let (url, realm) = standin().await;
    // A TTL of zero: every answer is stale at once, so the fallback is what serves.
    let app = spawn_with(options(&url, SECRET, 0)).await;
    policy(&app, "roles", json!([{"rule_type": "role", "rule_value": {"role": "PROGRAM_MANAGER"}}])).await;
    policy(&app, "group", json!([{"rule_type": "group", "rule_value": {"group": "/districts/D1"}}])).await;
    let first = create(&app, "roles", "cr-c1").await;
    app.eventually("tasks", || async { !assignees(&app, &first).await.is_empty() }).await;

    realm.down.store(true, Ordering::SeqCst);
    let second = create(&app, "roles", "cr-c2").await;
    app.eventually("tasks from the cache", || async { !assignees(&app, &second).await.is_empty() }).await;
    assert_eq!(assignees(&app, &second).await, vec!["gm1", "pm1"]);
    let third = create(&app, "group", "cr-c3").await;
    assert!(app.resolution_failure(&third).await.contains("HTTP 503"));
    app.stop().await;
}

#[test]
fn the_realm_export_declares_the_clients_roles_and_users_the_spec_names() {
    let realm: Value =
        serde_json::from_str(include_str!("../../keycloak/realm-awe.json")).expect("a realm export is JSON");
    assert_eq!(realm["realm"], "staff");
    let roles = &realm["roles"]["client"]["awe-admin-portal"];
    let names: Vec<&str> = roles.as_array().expect("roles").iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, vec!["AWE_ADMIN", "AWE_VIEWER"]);
    let clients: Vec<&Value> = realm["clients"].as_array().expect("clients").iter().collect();
    let resolver = clients.iter().find(|c| c["clientId"] == "awe-admin-resolver").expect("resolver client");
    assert_eq!(
        (resolver["serviceAccountsEnabled"].as_bool(), resolver["publicClient"].as_bool()),
        (Some(true), Some(false))
    );
    let users = realm["users"].as_array().expect("users");
    let account = users.iter().find(|u| u["serviceAccountClientId"] == "awe-admin-resolver").expect("service account");
    assert_eq!(account["clientRoles"]["realm-management"], json!(["view-realm", "view-clients", "view-users"]));
    for name in ["alice", "bob", "director-x"] {
        assert!(users.iter().any(|u| u["username"] == name), "{name}");
    }
    assert!(users.iter().filter(|u| u["groups"] == json!(["/districts/D1"])).count() == 2);
}

#[tokio::test]
async fn without_view_realm_and_view_clients_role_rules_fail_as_keycloak_fails_them() {
    // The grant an earlier realm export had: enough for groups, not for roles.
    let (url, _realm) = standin_granting(vec!["view-users".into(), "query-groups".into()]).await;
    let app = spawn_with(options(&url, SECRET, 300)).await;
    policy(&app, "realm-role", json!([{"rule_type": "role", "rule_value": {"role": "PROGRAM_MANAGER"}}])).await;
    policy(
        &app,
        "client-role",
        json!([{"rule_type": "role", "rule_value": {"role": "APPROVER", "client": "registry-staff-portal"}}]),
    )
    .await;
    policy(&app, "group", json!([{"rule_type": "group", "rule_value": {"group": "/districts/D1"}}])).await;
    let realm_role = app.resolution_failure(&create(&app, "realm-role", "cr-p1").await).await;
    assert!(realm_role.contains("HTTP 403"), "{realm_role}");
    let client_role = app.resolution_failure(&create(&app, "client-role", "cr-p2").await).await;
    assert!(client_role.contains("registry-staff-portal"), "{client_role}");
    let rid = create(&app, "group", "cr-p3").await;
    app.eventually("group members", || async { !assignees(&app, &rid).await.is_empty() }).await;
    app.stop().await;
}

#[tokio::test]
async fn escalation_rules_of_a_role_resolve_through_the_resolver_role_after_a_breach() {
    let (url, _realm) = standin().await;
    let mut options = options(&url, SECRET, 300);
    options.sla_schedulers = 1;
    options.env.push(("AWE__SLA__CHECK_INTERVAL_SECONDS".into(), "1".into()));
    let app = spawn_with(options).await;
    app.active_policy(
        json!({"policy_key": "esc", "name": "esc", "artifact_type": "registry.change_request", "stages": [
        {"name": "Officer", "stage_order": 1, "sla_hours": 0.0003, "on_breach": "escalate",
         "rules": [{"rule_type": "user", "rule_value": {"user_id": "ann"}}],
         "escalation_rules": [{"rule_type": "role", "rule_value": {"role": "PROGRAM_MANAGER"}}]}]}),
    )
    .await;
    let rid = create(&app, "esc", "cr-esc").await;
    app.eventually("escalation tasks from Keycloak", || async { assignees(&app, &rid).await.len() == 3 }).await;
    assert_eq!(assignees(&app, &rid).await, vec!["ann", "gm1", "pm1"]);
    let (_, events) = app.get(&format!("/requests/{rid}/events"), &service("registry")).await;
    let escalated = events.as_array().expect("events").iter().find(|e| e["event_type"] == "stage_escalated").cloned();
    let escalated = escalated.expect("stage_escalated");
    assert_eq!(escalated["payload"]["added_approvers"], json!(["pm1", "gm1"]));
    app.stop().await;
}

#[tokio::test]
async fn the_pickers_list_keycloak_users_clients_roles_and_groups_for_policy_authors() {
    let (url, realm) = standin().await;
    let app = spawn_with(options(&url, SECRET, 60)).await;
    let (status, users) = app.get("/admin/keycloak/users?q=al&limit=10", &viewer()).await;
    assert_eq!(status, StatusCode::OK, "{users}");
    assert_eq!(
        users,
        json!([{"user_id": "alice", "username": "alice", "email": "alice@example.org", "name": "Alice Ng"},
               {"user_id": "alan", "username": "alan", "email": "alan@example.org", "name": "Alan Ortiz"}])
    );
    let (_, clients) = app.get("/admin/keycloak/clients", &admin()).await;
    assert_eq!(clients[0], json!({"client_id": "registry-staff-portal", "name": "Registry staff portal"}), "{clients}");
    let (_, roles) = app.get("/admin/keycloak/roles?q=PROGRAM", &viewer()).await;
    assert_eq!(
        roles,
        json!([{"name": "PROGRAM_MANAGER", "client": null, "description": "PROGRAM_MANAGER of the realm"}])
    );
    let (_, roles) = app.get("/admin/keycloak/roles?client=registry-staff-portal", &viewer()).await;
    assert_eq!(
        roles,
        json!([{"name": "APPROVER", "client": "registry-staff-portal", "description": "Approves changes"}])
    );
    let (status, none) = app.get("/admin/keycloak/roles?client=no-such-client", &viewer()).await;
    assert_eq!((status, none), (StatusCode::OK, json!([])), "an unknown client has no roles to pick");
    let (_, groups) = app.get("/admin/keycloak/groups", &viewer()).await;
    let paths: Vec<&str> = groups.as_array().expect("groups").iter().filter_map(|g| g["path"].as_str()).collect();
    assert_eq!(paths, ["/districts", "/districts/D1", "/districts/D1/north", "/managers"]);

    let (status, body) = app.get("/admin/keycloak/users?limit=0", &viewer()).await;
    assert_eq!(
        (status, body["detail"][0]["loc"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(["query", "limit"]))
    );
    let (status, _) = app.get("/admin/keycloak/users", &service("registry")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a caller service is not a policy author");
    realm.down.store(true, Ordering::SeqCst);
    let (status, body) = app.get("/admin/keycloak/groups?q=x", &viewer()).await;
    assert_eq!(
        (status, body["errors"][0]["errorCode"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("AWE-011")),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn without_keycloak_configured_the_pickers_say_so_with_awe_011() {
    let app = spawn_app().await;
    let (status, body) = app.get("/admin/keycloak/users", &viewer()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("keycloak.base_url"), "{message}");
    app.stop().await;
}
