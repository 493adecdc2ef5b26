//! AWE's pure core. Nothing here does IO: no sockets, no files, no clock, no
//! randomness (ids and `now` come from the command being applied). The crate
//! depends on no IO crate, so the compiler holds that line.
//!
//! * `domain`: the policy model, request and task states, identities.
//! * `logic`: JSONLogic, compiled once per policy version.
//! * `rules`: the users a stage's `user` and `expression` rules name, inline,
//!   and where delegations send them.
//! * `machine`: the approval state machine (quorum, parallel groups, SLAs).

pub mod domain;
pub mod logic;
pub mod machine;
pub mod rules;
