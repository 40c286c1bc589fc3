//! # cardhost-emulators
//!
//! Real HTTP servers on loopback that behave like the upstream APIs cardhost's
//! first-party connectors talk to, as far as their vendors document them:
//! auth checks with the vendors' own error bodies, per-endpoint permissions,
//! paging, rate limits and writes that persist for the life of the server.
//! Seed data is deterministic. Tests and the quickstart
//! (`examples/quickstart`) start them in process.

pub mod advanced_hr;
pub mod oauth;
pub mod paycor;
pub mod scim;
pub mod server;
pub mod smarthr;

pub use server::{Server, TokenInfo, TokenValidator};
