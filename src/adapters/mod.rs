//! What the roles share to reach the world: NATS, PostgreSQL, the settings,
//! health and metrics, traces, Keycloak's admin API, the rules outside systems
//! resolve (`remote`) and the callback secrets.

pub mod bus;
pub mod config;
pub mod consume;
pub mod health;
pub mod keycloak;
pub mod metrics;
pub mod remote;
pub mod secrets;
pub mod store;
pub mod trace;
