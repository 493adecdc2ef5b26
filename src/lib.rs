//! AWE, the Approval Workflow Engine.
//!
//! `domain` and `engine` are pure; everything else adapts IO to them.

pub mod app;
pub mod bus;
pub mod command;
pub mod config;
pub mod consume;
pub mod domain;
pub mod engine;
pub mod error;
pub mod event;
pub mod health;
pub mod ingress;
pub mod keycloak;
pub mod logic;
pub mod metrics;
pub mod operator;
pub mod replay;
pub mod resolution;
pub mod resolver;
pub mod secrets;
pub mod sla;
pub mod store;
pub mod trace;
pub mod webhook;
pub mod wire;
pub mod worker;
