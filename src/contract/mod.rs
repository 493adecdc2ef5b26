//! What crosses the wire, versioned and only ever added to: the HTTP bodies of
//! API.md (`wire`), the commands on `{prefix}.cmd.*` (`command`), the events on
//! `{prefix}.evt.*` that are also the webhook bodies (`event`), and the error
//! shape with its `AWE-xxx` codes (`error`).

pub mod checks;
pub mod command;
pub mod error;
pub mod event;
pub mod wire;
