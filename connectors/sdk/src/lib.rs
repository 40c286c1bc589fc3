//! # cardhost-sdk
//!
//! Write a cardhost connector in Rust. A connector is a WebAssembly component
//! that declares a [`Manifest`] (its connection fields, auth, permissions and
//! cards) and runs cards when the host asks. Everything it sends goes through
//! the host's broker ([`http`]), which adds credentials the connector never
//! sees and refuses what the card was not allowed.
//!
//! ```ignore
//! use cardhost_sdk::{Card, Connector, ConnectionReport, Context, Manifest, Result, Value};
//!
//! struct Hello;
//!
//! impl Connector for Hello {
//!     fn manifest() -> Manifest {
//!         Manifest::new("hello", "Hello", "0.1.0").card(Card::new("greet", "Greet"))
//!     }
//!     fn invoke(card: &str, input: Value, _ctx: &Context) -> Result<Value> {
//!         Ok(serde_json::json!({ "card": card, "echo": input }))
//!     }
//!     fn test_connection(_ctx: &Context) -> ConnectionReport {
//!         ConnectionReport::default().check("nothing to test", true, "").finish("ok")
//!     }
//! }
//!
//! cardhost_sdk::export_connector!(Hello);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is the component to load. Native builds
//! (for unit tests) replace the host with [`testing::mock_http`].
//!
//! Link with 4 MiB of initial memory, in `.cargo/config.toml`:
//!
//! ```toml
//! [target.wasm32-wasip2]
//! rustflags = ["-C", "link-arg=--initial-memory=4194304"]
//! ```
//!
//! Each `memory.grow` costs the host two `mprotect` calls and a TLB
//! shootdown across its cores; with this, a typical card never grows. Pages
//! the card does not touch cost nothing.

// Lets generated code name this crate by its public path, from inside and out.
extern crate self as cardhost_sdk;

mod context;
mod error;
pub mod http;
pub mod log;
mod manifest;
pub mod paging;
mod transport;

pub use context::{Check, ConnectionReport, Context};
pub use error::{Error, Result};
pub use manifest::{
    Access, ApiKeyLocation, AuthMethod, AuthScheme, Card, ClientAuth, Environment, Manifest,
    OAuth2, Permission, Rule, SecretField,
};
pub use serde_json::{self, Value, json};

/// Helpers for testing connectors natively (not on wasm).
#[cfg(not(target_arch = "wasm32"))]
pub mod testing {
    pub use crate::transport::{mock_http, take_logs};
}

/// What a connector implements. All functions are associated: a fresh instance
/// of the component runs each invocation, so there is no state to keep.
pub trait Connector {
    /// Declares the connector. Called once when the host loads it.
    fn manifest() -> Manifest;

    /// Runs card `card` with an input the host validated against the card's
    /// input schema. The output is validated against its output schema.
    fn invoke(card: &str, input: Value, context: &Context) -> Result<Value>;

    /// Checks each credential and right of the connection with cheap requests.
    fn test_connection(context: &Context) -> ConnectionReport;
}

/// Decodes a card input into a typed struct, naming the offending field when it
/// does not fit.
pub fn parse_input<T: serde::de::DeserializeOwned>(input: Value) -> Result<T> {
    serde_json::from_value(input).map_err(|e| Error::InvalidInput(e.to_string()))
}

/// Encodes a card output.
pub fn to_output<T: serde::Serialize>(output: &T) -> Result<Value> {
    serde_json::to_value(output).map_err(|e| Error::Internal(format!("cannot encode output: {e}")))
}

/// Exports a type implementing [`Connector`] as the component's
/// `cardhost:connector/connector` interface. Call it once, at the crate root.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        #[doc(hidden)]
        pub struct __CardhostExport;

        impl $crate::bindings::exports::cardhost::connector::connector::Guest for __CardhostExport {
            fn manifest() -> $crate::bindings::cardhost::connector::types::ConnectorManifest {
                $crate::__private::manifest::<$connector>()
            }

            fn invoke(
                card: ::std::string::String,
                input: ::std::string::String,
                context: $crate::bindings::cardhost::connector::types::Context,
            ) -> ::std::result::Result<
                ::std::string::String,
                $crate::bindings::cardhost::connector::types::ConnectorError,
            > {
                $crate::__private::invoke::<$connector>(card, input, context)
            }

            fn test_connection(
                context: $crate::bindings::cardhost::connector::types::Context,
            ) -> $crate::bindings::cardhost::connector::types::ConnectionReport {
                $crate::__private::test_connection::<$connector>(context)
            }
        }

        // Export symbols only exist in the component; on a native target
        // (unit tests of a connector crate) they would break the linker's
        // version script, and nothing could call them anyway.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!(__CardhostExport with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/v0.1.0",
        world: "cardhost:connector/connector-world",
        pub_export_macro: true,
        default_bindings_module: "::cardhost_sdk::bindings",
        runtime_path: "::cardhost_sdk::__private::wit_bindgen::rt",
        generate_all,
    });
}

#[doc(hidden)]
pub mod __private;
