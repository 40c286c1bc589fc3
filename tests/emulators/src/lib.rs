//! # cardhost-emulators
//!
//! Real HTTP servers on loopback that behave like the upstream APIs cardhost's
//! first-party connectors talk to, as far as their vendors document them:
//! auth checks with the vendors' own error bodies, per-endpoint permissions,
//! paging, rate limits and writes that persist for the life of the server.
//! Seed data is deterministic. Tests and the quickstart
//! (`examples/quickstart`) start them in process.
//!
//! Tests make them fail on purpose through one mechanism, [`faults`]:
//! queues of scripted answers (status, body, headers, `Retry-After`, a
//! delay) that the next requests take one each, answered in the vendor's
//! own error body unless a body is scripted. Each emulator's state handle
//! offers its queue (`faults()`; the OAuth2 server's `token_faults()`)
//! besides its older `fail_next`/`throttle_next` shorthands.

pub mod advanced_hr;
pub mod faults;
pub mod oauth;
pub mod paycor;
pub mod scim;
pub mod server;
pub mod smarthr;

pub use server::{Server, TokenInfo, TokenValidator};
