//! AWE, the Approval Workflow Engine. The folders are the architecture:
//!
//! * `core/`: the pure core, a crate of its own (`awe-core`) that depends on
//!   no IO crate: the policy model (`domain`), JSONLogic (`logic`), inline
//!   rule resolution (`rules`) and the approval state machine (`machine`).
//! * `roles/`: one folder per role of the one binary, holding that role and
//!   nothing else: `ingress`, `engine`, `resolver`, `webhook`, `sla_scheduler`.
//! * `adapters/`: what every role shares to reach the world: `bus` (NATS
//!   JetStream), `store` (PostgreSQL), `config`, `health`, `consume` (the
//!   consumer loop), `trace`, `metrics`, `keycloak`, `remote` (rules that
//!   Keycloak or a caller's HTTP resolver resolve), `secrets`.
//! * `contract/`: what crosses the wire: HTTP bodies (`wire`), `command`s,
//!   `event`s, the `error` shape with its `AWE-xxx` codes, and the `checks`
//!   on input that the ingress and the engine both run.
//!
//! Roles never import each other; what two of them need lives in the core,
//! an adapter or the contract.
//! * `operator/`: the commands an operator runs beside the roles.
//! * `app`: which roles run in this process, and their shared start-up.
//!
//! Where a request goes, in order:
//!
//! 1. `roles/ingress` authenticates and validates `POST /v1/awe/requests` and
//!    publishes a `request.create` command (`contract/command`) on `bus`.
//! 2. `roles/engine` consumes it, applies it with `core/machine` in one
//!    `store` transaction (inline `user` and `expression` rules through
//!    `core/rules`), acknowledges after commit, answers the ingress and
//!    publishes the committed events (`contract/event`).
//! 3. `roles/resolver` resolves the stages whose rules need Keycloak or the
//!    caller's HTTP resolver and answers with a `stage.resolved` command.
//! 4. Approvers decide through `roles/ingress`; each decision is a command the
//!    engine applies the same way, until the request is finished.
//! 5. `roles/webhook` POSTs each event to the caller's `callback_url`, signed;
//!    `roles/sla_scheduler` ticks so the engine finds overdue stages.

pub use awe_core::{domain, logic, machine, rules};

pub mod adapters;
pub mod app;
pub mod contract;
pub mod operator;
pub mod roles;
