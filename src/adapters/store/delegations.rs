//! Delegations: stored windows, and who a task goes to at a given time.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::contract::wire::DelegationOut;

/// Longest chain of delegations followed (a → b → c ...).
pub const MAX_CHAIN: usize = 8;

pub struct NewDelegation<'a> {
    pub id: Uuid,
    pub user_id: &'a str,
    pub delegate_to: &'a str,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: Option<&'a str>,
    pub created_by: &'a str,
    pub now: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, d: &NewDelegation<'_>) -> sqlx::Result<DelegationOut> {
    sqlx::query_as!(
        DelegationOut,
        "INSERT INTO user_delegation (id, user_id, delegate_to, starts_at, ends_at, reason, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
         RETURNING id, user_id, delegate_to, starts_at, ends_at, reason, created_by, created_at, updated_at",
        d.id,
        d.user_id,
        d.delegate_to,
        d.starts_at,
        d.ends_at,
        d.reason,
        d.created_by,
        d.now
    )
    .fetch_one(&mut *conn)
    .await
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<DelegationOut>> {
    sqlx::query_as!(
        DelegationOut,
        "SELECT id, user_id, delegate_to, starts_at, ends_at, reason, created_by, created_at, updated_at
         FROM user_delegation WHERE id = $1 AND revoked_at IS NULL FOR UPDATE",
        id
    )
    .fetch_optional(&mut *conn)
    .await
}

pub async fn revoke(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query!("UPDATE user_delegation SET revoked_at = $2, updated_at = $2 WHERE id = $1", id, now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn list(conn: &mut PgConnection, user_id: Option<&str>, limit: i64) -> sqlx::Result<Vec<DelegationOut>> {
    sqlx::query_as!(
        DelegationOut,
        "SELECT id, user_id, delegate_to, starts_at, ends_at, reason, created_by, created_at, updated_at
         FROM user_delegation
         WHERE revoked_at IS NULL AND ($1::text IS NULL OR user_id = $1)
         ORDER BY starts_at DESC, created_at DESC LIMIT $2",
        user_id,
        limit
    )
    .fetch_all(&mut *conn)
    .await
}

/// For each of `users` with a window covering `at`, the delegate of the
/// newest such window.
async fn direct(conn: &mut PgConnection, users: &[String], at: DateTime<Utc>) -> sqlx::Result<HashMap<String, String>> {
    let rows = sqlx::query!(
        "SELECT DISTINCT ON (user_id) user_id, delegate_to FROM user_delegation
         WHERE user_id = ANY($1) AND revoked_at IS NULL AND starts_at <= $2 AND ends_at > $2
         ORDER BY user_id, created_at DESC",
        users,
        at
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.user_id, r.delegate_to)).collect())
}

/// Where a task for each user goes at `at`: the chain of delegations each
/// user starts, followed until it ends or would come back to someone already
/// on it (a cycle stops at the last user before the loop).
pub async fn routes(
    conn: &mut PgConnection,
    users: &[String],
    at: DateTime<Utc>,
) -> sqlx::Result<HashMap<String, Vec<String>>> {
    let mut edges: HashMap<String, String> = HashMap::new();
    let mut asked: HashSet<String> = HashSet::new();
    let mut frontier: Vec<String> = users.to_vec();
    for _ in 0..MAX_CHAIN {
        frontier.retain(|u| asked.insert(u.clone()));
        if frontier.is_empty() {
            break;
        }
        let found = direct(conn, &frontier, at).await?;
        frontier = found.values().cloned().collect();
        edges.extend(found);
    }
    let mut routes = HashMap::new();
    for user in users {
        let mut path = vec![user.clone()];
        while let Some(next) = edges.get(path.last().map_or("", String::as_str)) {
            if path.contains(next) || path.len() > MAX_CHAIN {
                break;
            }
            path.push(next.clone());
        }
        if path.len() > 1 {
            routes.insert(user.clone(), path);
        }
    }
    Ok(routes)
}
