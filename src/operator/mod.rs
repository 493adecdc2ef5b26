//! Commands an operator runs beside the roles.
//!
//! * `policy`: policies kept in Git (`awe policy diff|apply|export`).

pub mod policy;
