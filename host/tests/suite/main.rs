//! The `cardhost` integration tests, one module per area. They are one test
//! binary, not one per file: each binary links the whole host (wasmtime and
//! cranelift among it, about 100 MB), so one binary saves gigabytes of disk and
//! a link per file. Run one area with a filter, e.g.
//! `cargo test -p cardhost --test suite new_connector::`.

mod cli;
mod common;
mod connections;
mod console;
mod console_browser;
mod crash_triggers;
mod fleet;
mod new_connector;
mod oauth_provider;
mod server;
mod telemetry;
mod terminal;
