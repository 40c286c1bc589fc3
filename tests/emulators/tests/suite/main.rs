//! The vendor emulators over real HTTP, one module per emulator, in one test
//! binary. Run one with a filter, e.g.
//! `cargo test -p cardhost-emulators --test suite paycor::`.

mod advanced_hr;
mod faults;
mod oauth;
mod paycor;
mod scim;
mod smarthr;
mod smarthr_webhooks;
