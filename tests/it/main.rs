//! End-to-end tests: the real roles against real PostgreSQL and NATS.

mod behaviours;
mod console;
mod context;
mod durability;
mod flows;
mod input;
mod keycloak;
mod keys;
mod policies;
mod policy_files;
mod races;
mod requests;
mod resolver;
mod sla;
mod split;
mod support;
mod timeline;
mod tokens;
mod traces;
mod webhooks;
