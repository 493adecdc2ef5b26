//! AWE, the Approval Workflow Engine.
//!
//! `domain` and `engine` are pure; everything else adapts IO to them.

pub mod config;
pub mod domain;
pub mod engine;
pub mod logic;
