//! Keycloak's admin API, for `role` and `group` rules: a service-account
//! token (client credentials, renewed before expiry), role members (realm and
//! client roles, also through groups that hold the role), group members by
//! path (subgroups included), every page followed, disabled users left out.
//! Answers are cached with a TTL; a stale entry serves while Keycloak is down.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::adapters::config::KeycloakConfig;
use crate::rules::RuleError;

const PAGE: usize = 100;
/// Subgroup depth followed below a group.
const MAX_DEPTH: usize = 8;

pub struct Keycloak {
    config: KeycloakConfig,
    http: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
    cache: Mutex<HashMap<String, (Vec<String>, Instant)>>,
    ttl: Duration,
}

#[derive(Deserialize)]
struct UserRep {
    #[serde(default)]
    id: String,
    #[serde(default)]
    username: String,
    #[serde(default = "enabled")]
    enabled: bool,
}

fn enabled() -> bool {
    true
}

#[derive(Deserialize)]
struct GroupRep {
    id: String,
    #[serde(default, rename = "subGroups")]
    sub_groups: Vec<GroupRep>,
}

fn transient(reason: String) -> RuleError {
    RuleError { reason, transient: true }
}

fn permanent(reason: String) -> RuleError {
    RuleError { reason, transient: false }
}

impl Keycloak {
    pub fn new(config: KeycloakConfig, http: reqwest::Client) -> Self {
        let ttl = Duration::from_secs(config.cache_ttl_seconds);
        Self { config, http, token: Mutex::new(None), cache: Mutex::new(HashMap::new()), ttl }
    }

    /// Members of a realm role, or of a client role when `client` is set.
    pub async fn role_members(&self, role: &str, client: Option<&str>, fresh: bool) -> Result<Vec<String>, RuleError> {
        let key = format!("role:{}:{role}", client.unwrap_or(""));
        self.cached(&key, fresh, || async {
            let base = match client {
                None => format!("roles/{}", enc(role)),
                Some(client_id) => {
                    let clients: Vec<Value> = self.get(&format!("clients?clientId={}", enc(client_id))).await?;
                    let id = clients.first().and_then(|c| c.get("id")).and_then(Value::as_str).ok_or_else(|| {
                        // Keycloak lists only the clients the account may view.
                        permanent(format!(
                            "Keycloak has no client `{client_id}`, or the service account lacks `view-clients` \
                                 on realm-management"
                        ))
                    })?;
                    format!("clients/{id}/roles/{}", enc(role))
                }
            };
            let mut users = self.users(&format!("{base}/users")).await?;
            // Holding the role through a group counts as holding it.
            for group in self.paged::<GroupRep>(&format!("{base}/groups")).await? {
                users.extend(self.group_users(&group.id, 0).await?);
            }
            Ok(dedup(users))
        })
        .await
    }

    /// Members of the group at `path` and of its subgroups.
    pub async fn group_members(&self, path: &str, fresh: bool) -> Result<Vec<String>, RuleError> {
        let key = format!("group:{path}");
        self.cached(&key, fresh, || async {
            let segments: Vec<String> = path.trim_start_matches('/').split('/').map(enc).collect();
            let group: GroupRep = self.get(&format!("group-by-path/{}", segments.join("/"))).await?;
            Ok(dedup(self.group_users(&group.id, 0).await?))
        })
        .await
    }

    async fn group_users(&self, id: &str, depth: usize) -> Result<Vec<String>, RuleError> {
        let mut users = self.users(&format!("groups/{id}/members")).await?;
        if depth < MAX_DEPTH {
            for child in self.children(id).await? {
                users.extend(Box::pin(self.group_users(&child, depth + 1)).await?);
            }
        }
        Ok(users)
    }

    /// Subgroups: `/children` (Keycloak 23+), else the group's `subGroups`.
    async fn children(&self, id: &str) -> Result<Vec<String>, RuleError> {
        match self.paged::<GroupRep>(&format!("groups/{id}/children")).await {
            Ok(children) => Ok(children.into_iter().map(|g| g.id).collect()),
            Err(_) => {
                let group: GroupRep = self.get(&format!("groups/{id}")).await?;
                Ok(group.sub_groups.into_iter().map(|g| g.id).collect())
            }
        }
    }

    async fn users(&self, path: &str) -> Result<Vec<String>, RuleError> {
        Ok(self
            .paged::<UserRep>(path)
            .await?
            .into_iter()
            .filter(|u| u.enabled)
            .map(|u| if u.username.is_empty() { u.id } else { u.username })
            .collect())
    }

    /// Every page of a list endpoint (`first`/`max`).
    async fn paged<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, RuleError> {
        let mut all = Vec::new();
        let sep = if path.contains('?') { '&' } else { '?' };
        for page in 0.. {
            let batch: Vec<T> = self.get(&format!("{path}{sep}first={}&max={PAGE}", page * PAGE)).await?;
            let done = batch.len() < PAGE;
            all.extend(batch);
            if done || page > 10_000 {
                break;
            }
        }
        Ok(all)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, RuleError> {
        let url = format!("{}/admin/realms/{}/{path}", self.config.base_url.trim_end_matches('/'), self.config.realm);
        for renewed in [false, true] {
            let token = self.token(renewed).await?;
            let response = self
                .http
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| transient(format!("Keycloak unreachable: {e}")))?;
            match response.status().as_u16() {
                200 => {
                    return response.json().await.map_err(|e| permanent(format!("Keycloak answered {path} oddly: {e}")))
                }
                401 if !renewed => continue,
                404 => return Err(permanent(format!("Keycloak has no {path}"))),
                code if code >= 500 || code == 429 => {
                    return Err(transient(format!("Keycloak answered HTTP {code} for {path}")))
                }
                code => return Err(permanent(format!("Keycloak answered HTTP {code} for {path}"))),
            }
        }
        Err(permanent("Keycloak refused the service account's token".into()))
    }

    /// The service-account token, renewed 30 s before it expires.
    async fn token(&self, renew: bool) -> Result<String, RuleError> {
        let mut slot = self.token.lock().await;
        if let Some((token, until)) = slot.as_ref() {
            if !renew && Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let url = format!(
            "{}/realms/{}/protocol/openid-connect/token",
            self.config.base_url.trim_end_matches('/'),
            self.config.realm
        );
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.config.admin_client_id.as_str()),
            ("client_secret", self.config.admin_client_secret.expose()),
        ];
        let response = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|e| transient(format!("Keycloak unreachable: {e}")))?;
        if !response.status().is_success() {
            let code = response.status().as_u16();
            return Err(RuleError {
                reason: format!("Keycloak refused the service account: HTTP {code}"),
                transient: code >= 500,
            });
        }
        let body: Value = response.json().await.map_err(|e| permanent(format!("odd token answer: {e}")))?;
        let token =
            body["access_token"].as_str().ok_or_else(|| permanent("no access_token in Keycloak's answer".into()))?;
        let lifetime = body["expires_in"].as_u64().unwrap_or(60).saturating_sub(30).max(1);
        *slot = Some((token.to_owned(), Instant::now() + Duration::from_secs(lifetime)));
        Ok(token.to_owned())
    }

    /// A cached answer within its TTL; past it, a fresh one, or the stale one
    /// when Keycloak cannot answer. `fresh` bypasses the cache (simulate).
    async fn cached<F, Fut>(&self, key: &str, fresh: bool, fetch: F) -> Result<Vec<String>, RuleError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<String>, RuleError>>,
    {
        let cache = crate::adapters::metrics::keycloak_cache;
        let entry = self.cache.lock().await.get(key).cloned();
        if let Some((users, at)) = &entry {
            if !fresh && at.elapsed() < self.ttl {
                cache("hit");
                return Ok(users.clone());
            }
        }
        cache("miss");
        match fetch().await {
            Ok(users) => {
                self.cache.lock().await.insert(key.to_owned(), (users.clone(), Instant::now()));
                Ok(users)
            }
            Err(err) if err.transient && !fresh => match entry {
                Some((users, _)) => {
                    cache("stale");
                    tracing::warn!(key, reason = err.reason, "Keycloak unavailable; serving the cached answer");
                    Ok(users)
                }
                None => Err(err),
            },
            Err(err) => Err(err),
        }
    }
}

fn dedup(users: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    users.into_iter().filter(|u| seen.insert(u.clone())).collect()
}

fn enc(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>().replace('+', "%20")
}

/// The console's pickers (API.md §4.6, rows 29 to 32): who and what a policy
/// author can name in a rule, read through the resolver's service account.
pub mod directory {
    use serde::Deserialize;

    use super::{enc, Keycloak, RuleError};
    use crate::contract::wire::{KeycloakClientOut, KeycloakGroupOut, KeycloakRoleOut, KeycloakUserOut};

    #[derive(Deserialize)]
    struct User {
        #[serde(default)]
        id: String,
        #[serde(default)]
        username: String,
        email: Option<String>,
        #[serde(rename = "firstName")]
        first_name: Option<String>,
        #[serde(rename = "lastName")]
        last_name: Option<String>,
    }

    #[derive(Deserialize)]
    struct Client {
        #[serde(default)]
        id: String,
        #[serde(rename = "clientId")]
        client_id: String,
        name: Option<String>,
    }

    #[derive(Deserialize)]
    struct Role {
        name: String,
        description: Option<String>,
    }

    #[derive(Deserialize)]
    struct Group {
        name: String,
        #[serde(default)]
        path: String,
        #[serde(default, rename = "subGroups")]
        sub_groups: Vec<Group>,
    }

    fn search(q: Option<&str>) -> String {
        q.map(str::trim).filter(|q| !q.is_empty()).map(|q| format!("&search={}", enc(q))).unwrap_or_default()
    }

    impl Keycloak {
        /// Users by a search over username, name and email; `user_id` is the
        /// assignee id rules resolve to (the username).
        pub async fn find_users(&self, q: Option<&str>, limit: usize) -> Result<Vec<KeycloakUserOut>, RuleError> {
            let users: Vec<User> =
                self.get(&format!("users?briefRepresentation=true&max={limit}{}", search(q))).await?;
            Ok(users
                .into_iter()
                .map(|u| {
                    let name = [u.first_name, u.last_name].into_iter().flatten().collect::<Vec<_>>().join(" ");
                    let user_id = if u.username.is_empty() { u.id } else { u.username.clone() };
                    KeycloakUserOut {
                        user_id,
                        username: u.username,
                        email: u.email,
                        name: Some(name).filter(|n| !n.is_empty()),
                    }
                })
                .collect())
        }

        pub async fn find_clients(&self, limit: usize) -> Result<Vec<KeycloakClientOut>, RuleError> {
            let clients: Vec<Client> = self.get(&format!("clients?max={limit}")).await?;
            Ok(clients.into_iter().map(|c| KeycloakClientOut { client_id: c.client_id, name: c.name }).collect())
        }

        /// Realm roles, or the roles of the client with this `clientId`.
        pub async fn find_roles(
            &self,
            client: Option<&str>,
            q: Option<&str>,
        ) -> Result<Vec<KeycloakRoleOut>, RuleError> {
            let client = client.map(str::trim).filter(|c| !c.is_empty());
            let path = match client {
                None => format!("roles?max=500{}", search(q)),
                Some(client_id) => {
                    let found: Vec<Client> = self.get(&format!("clients?clientId={}", enc(client_id))).await?;
                    // No such client (or not one the account may view): nothing to pick.
                    let Some(id) = found.into_iter().next().map(|c| c.id) else { return Ok(Vec::new()) };
                    format!("clients/{id}/roles?max=500{}", search(q))
                }
            };
            let roles: Vec<Role> = self.get(&path).await?;
            Ok(roles
                .into_iter()
                .map(|r| KeycloakRoleOut {
                    name: r.name,
                    client: client.map(str::to_owned),
                    description: r.description,
                })
                .collect())
        }

        /// Groups matching the search, subgroups included, by path.
        pub async fn find_groups(&self, q: Option<&str>, limit: usize) -> Result<Vec<KeycloakGroupOut>, RuleError> {
            let groups: Vec<Group> = self.get(&format!("groups?max={limit}{}", search(q))).await?;
            let mut out = Vec::new();
            let mut stack: Vec<(Group, String)> = groups.into_iter().rev().map(|g| (g, String::new())).collect();
            while let Some((group, parent)) = stack.pop() {
                let path = if group.path.is_empty() { format!("{parent}/{}", group.name) } else { group.path.clone() };
                for child in group.sub_groups.into_iter().rev() {
                    stack.push((child, path.clone()));
                }
                out.push(KeycloakGroupOut { path, name: group.name });
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        }
    }
}
