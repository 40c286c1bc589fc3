//! # cardhost-emulators
//!
//! Real HTTP servers on loopback that behave like the upstream APIs cardhost's
//! first-party connectors talk to, as far as their vendors document them:
//! auth checks with the vendors' own error bodies, per-endpoint permissions,
//! paging, rate limits and writes that persist for the life of the server.
//! Seed data is deterministic. Tests start them in-process; the quickstart
//! starts them with the `cardhost-emulators` binary.

pub mod advanced_hr;
pub mod oauth;
pub mod server;

pub use server::{Server, TokenInfo, TokenValidator};
