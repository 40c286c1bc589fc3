//! # cardhost-runtime
//!
//! The connector runtime of cardhost, on the WebAssembly component model.
//! It loads connectors (components built with `cardhost-sdk`), validates
//! every card input and output against the card's JSON Schemas, and brokers
//! every outbound request and every secret: a connector never sees a
//! credential and reaches nothing the host did not allow.
//!
//! It has no CLI, HTTP server or database: the `cardhost` crate adds those,
//! and `cardhost-store` keeps connections and secrets. Embed it with
//! [`Cardhost`]:
//!
//! ```no_run
//! # async fn run(component: Vec<u8>) -> anyhow::Result<()> {
//! use cardhost_runtime::{Cardhost, RuntimeConfig, Source};
//!
//! let host = Cardhost::new(RuntimeConfig::default()).await?;
//! let registry = host
//!     .load_sources(vec![(Source::File("hello.wasm".into()), component)])
//!     .await;
//! host.set_registry(registry);
//! let done = host
//!     .invoke("hello", "greet", &serde_json::json!({"name": "Ada"}), None)
//!     .await?;
//! println!("{}", done.output);
//! # Ok(()) }
//! ```
//!
//! How the parts fit, from the bottom up (each module uses only those above
//! it in this list; a test in `tests/layers.rs` keeps it so):
//! - [`text`], [`config`], [`engine`], [`executor`]: text caps, settings, the
//!   one wasmtime engine with its epoch ticks and component cache, and where
//!   guest code runs.
//! - [`error`]: [`ErrorKind`], why an invocation failed.
//! - [`net`]: URL and header rules, the allow-list, the private-address
//!   guard and the HTTP transport.
//! - [`manifest`]: what a connector declares, validated, with its
//!   permissions compiled.
//! - [`credentials`]: secrets, OAuth2 tokens, where each secret goes, and
//!   redaction.
//! - [`broker`]: every request a card makes, checked and sent.
//! - [`guest`]: the sandbox a card runs in, and the host side of each WIT
//!   import.
//! - [`registry`] and [`catalog`]: loaded connectors and the cards each offers.
//! - [`invoke`]: an invocation as a pipeline of named steps; one
//!   [`InvokeError`] (connector, card, [`ErrorKind`], what was recorded)
//!   when it fails.
//! - [`host`]: [`Cardhost`], which ties them together.

#![deny(missing_docs)]

#[allow(missing_docs)]
mod bindings;
pub mod broker;
pub mod catalog;
pub mod config;
pub mod credentials;
pub mod engine;
pub mod error;
pub mod executor;
pub mod guest;
pub mod host;
pub mod invoke;
pub mod manifest;
pub mod net;
pub mod registry;
pub mod text;

pub use bindings::triggers as wit_triggers;
pub use bindings::types as wit;
pub use bindings::{WIT_PACKAGE, WIT_VERSION, WIT_VERSIONS, WitVersion};
pub use catalog::CUSTOM_API_ACTION;
pub use config::{Limits, NetworkPolicy, Route, RuntimeConfig};
pub use credentials::{ConnectionCredentials, Secret};
pub use host::{Cardhost, Connection};
pub use invoke::trigger::{Poll, TriggerCall, TriggerEvent};
pub use invoke::{CardFailure, ErrorKind, Invocation, InvokeError};
pub use registry::{LoadError, LoadedConnector, Registry, Source};
