//! # cardhost
//!
//! The `cardhost` command and the library behind it: the CLI ([`cli`]), the
//! HTTP server ([`server`]), the connections service that joins the runtime
//! to the store ([`connections`]), the file configuration ([`config`]), logs
//! and traces ([`telemetry`]) and the first-party connectors built into the
//! binary ([`builtin_connectors`]).
//!
//! The runtime itself is the `cardhost-runtime` crate and the store is
//! `cardhost-store`; this crate re-exports the runtime types its own API
//! speaks in, and the store as [`store`].

#![deny(missing_docs)]
// The OpenAPI document is one `json!` literal, deeper than the default limit.
#![recursion_limit = "256"]

pub mod cli;
pub mod config;
pub mod connections;
pub mod server;
pub mod subscriptions;
pub mod telemetry;

pub use cardhost_runtime::{
    CUSTOM_API_ACTION, CardFailure, Cardhost, Connection, ConnectionCredentials, ErrorKind,
    Invocation, InvokeError, Limits, LoadedConnector, NetworkPolicy, Registry, Route,
    RuntimeConfig, Secret, Source, WIT_PACKAGE, WIT_VERSION, WIT_VERSIONS, WitVersion, wit,
};
pub use cardhost_store as store;

/// The first-party connectors compiled into this binary (SmartHR, Paycor,
/// Advanced HR, Fourth Account SCIM).
pub fn builtin_connectors() -> Vec<(Source, Vec<u8>)> {
    builtins::ALL
        .iter()
        .map(|(name, bytes)| (Source::Builtin((*name).to_string()), bytes.to_vec()))
        .collect()
}

/// A runtime with this crate's built-in connectors, loaded with the
/// connectors directory of `config`.
pub async fn start_runtime(config: RuntimeConfig) -> anyhow::Result<Cardhost> {
    Cardhost::with_builtins(config, builtin_connectors()).await
}

mod builtins {
    include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
}
