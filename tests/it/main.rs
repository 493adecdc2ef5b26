//! End-to-end tests: the real roles against real PostgreSQL and NATS.

mod durability;
mod flows;
mod input;
mod policies;
mod requests;
mod support;
