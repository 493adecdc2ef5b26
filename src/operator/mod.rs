//! Commands an operator runs beside the roles (`awe <command>`):
//!
//! * `migrate`: apply the database migrations.
//! * `streams`: create, update or delete the streams and consumers of `nats/`.
//! * `relay`: publish outbox events a crash left unpublished, once.
//! * `replay`: send events from the stream to their webhooks again.
//! * `policy`: policies kept in Git (`awe policy diff|apply|export`).

pub mod migrate;
pub mod policy;
pub mod relay;
pub mod replay;
pub mod streams;
