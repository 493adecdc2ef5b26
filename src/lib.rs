//! AWE, the Approval Workflow Engine.
//!
//! `domain` and `engine` are pure; everything else adapts IO to them.

pub mod config;
pub mod domain;
pub mod engine;
pub mod logic;
pub mod bus;
pub mod command;
pub mod error;
pub mod event;
pub mod store;
pub mod wire;
pub mod resolver;
pub mod worker;
pub mod ingress;
pub mod app;
