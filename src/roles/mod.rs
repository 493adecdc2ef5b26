//! The roles of the one binary (`awe run ROLES`), one folder each. A role
//! reaches the world only through `adapters` and decides nothing the core's
//! `machine` does not.

pub mod engine;
pub mod ingress;
pub mod resolver;
pub mod sla_scheduler;
pub mod webhook;
