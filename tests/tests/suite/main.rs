//! The end-to-end tests: the real host, the first-party connectors and the
//! hostile fixtures against the vendor emulators, one module per area. They
//! are one test binary, not one per file: each binary links the whole host,
//! about 100 MB. Run one area with a filter, e.g.
//! `cargo test -p cardhost-e2e --test suite smarthr::`.

mod advanced_hr;
mod broker;
mod common;
mod fourth_scim;
mod hostile;
mod legacy;
mod manifest_v0_2;
mod paycor;
mod sandbox;
mod smarthr;
mod transform;
mod triggers;
mod triggers_hr;
mod triggers_smarthr;
