//! Commands an operator runs beside the roles.
//!
//! * `policy`: policies kept in Git (`awe policy diff|apply|export`).
//! * `replay`: send events from the stream to their webhooks again.

pub mod policy;
pub mod replay;
