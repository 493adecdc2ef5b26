//! The ingress's view of each policy key's context contract, so that a
//! creation whose context the active version refuses is answered 422 before
//! its command is published or anything is written.
//!
//! The engine checks again when it applies the creation, against the version
//! it pins the request to, and that check is the one that holds. This one only
//! keeps refused creations off the bus. Its answers are kept for a few seconds;
//! a refusal is confirmed against the database before it is given, so a stale
//! entry can let a creation through to the engine's check but never refuses
//! one that the active version accepts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;
use sqlx::PgPool;

use crate::adapters::store::policies;
use crate::contract::checks::check_context;
use crate::contract::error::Result;
use crate::domain::ExpectedContext;

/// How long a key's contract is taken as known.
const FRESH_FOR: Duration = Duration::from_secs(5);
/// Keys remembered at most; past that the memory starts over.
const MAX_KEYS: usize = 10_000;

/// The active version's declaration, or none (no active version, or one that
/// declares nothing: the engine answers those cases).
#[derive(Clone)]
struct Contract {
    version: i32,
    expected: Arc<ExpectedContext>,
}

#[derive(Default)]
pub struct Contracts {
    known: Mutex<HashMap<String, (Instant, Option<Contract>)>>,
}

impl Contracts {
    /// Refuses `context` when the active version of `policy_key` declares
    /// keys it lacks or holds with the wrong type.
    pub async fn check(&self, pool: &PgPool, policy_key: &str, context: &Value) -> Result<()> {
        let contract = match self.remembered(policy_key) {
            Some(contract) => contract,
            None => self.fetch(pool, policy_key).await?,
        };
        let Some(contract) = contract else { return Ok(()) };
        if check_context(&contract.expected, policy_key, contract.version, context).is_ok() {
            return Ok(());
        }
        // Confirm against the version active now before refusing.
        match self.fetch(pool, policy_key).await? {
            Some(now) => check_context(&now.expected, policy_key, now.version, context),
            None => Ok(()),
        }
    }

    fn remembered(&self, policy_key: &str) -> Option<Option<Contract>> {
        let known = self.known.lock().ok()?;
        let (at, contract) = known.get(policy_key)?;
        (at.elapsed() < FRESH_FOR).then(|| contract.clone())
    }

    async fn fetch(&self, pool: &PgPool, policy_key: &str) -> Result<Option<Contract>> {
        let mut conn = pool.acquire().await.context("database")?;
        let row = policies::active_contract(&mut conn, policy_key).await.context("active policy lookup")?;
        let contract = match row {
            Some((version, Some(declared))) => {
                let expected: ExpectedContext = serde_json::from_value(declared).context("stored expected_context")?;
                Some(Contract { version, expected: Arc::new(expected) })
            }
            _ => None,
        };
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= MAX_KEYS {
                known.clear();
            }
            known.insert(policy_key.to_owned(), (Instant::now(), contract.clone()));
        }
        Ok(contract)
    }
}
