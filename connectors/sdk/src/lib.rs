//! # cardhost-sdk
//!
//! Write a cardhost connector in Rust. A connector is a WebAssembly component
//! that declares a [`Manifest`] (its connection fields, auth, permissions and
//! cards) and runs cards when the host asks. Everything it sends goes through
//! the host's broker ([`http`]), which adds credentials the connector never
//! sees and refuses what the card was not allowed.
//!
//! A card is one unit: an `impl` of [`Card`] gives its id, text, typed input
//! and output, permissions and body. Its JSON Schemas are derived from the
//! types ([`schema`]), so the struct and the schema the host validates
//! against cannot disagree. The connector lists its cards once, in
//! [`Connector::CARDS`]; the manifest entries and the dispatch of
//! [`Connector::invoke`] (with a "did you mean" for an unknown id) are made
//! from that list.
//!
//! ```
//! use cardhost_sdk::http::{Request, encode_component};
//! use cardhost_sdk::{
//!     AuthMethod, Card, Cards, Connector, Context, Environment, JsonSchema, Manifest,
//!     Permission, Result, SecretField, cards, json, manifest,
//! };
//! use serde::{Deserialize, Serialize};
//!
//! pub struct Hello;
//!
//! /// Greet Person's input.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! pub struct PersonId {
//!     /// The person's id.
//!     #[schemars(length(min = 1, max = 64))]
//!     pub id: String,
//! }
//!
//! /// A greeting.
//! #[derive(Serialize, JsonSchema)]
//! pub struct Greeting {
//!     /// "Hello, Aiko!"
//!     pub greeting: String,
//! }
//!
//! pub struct GreetPerson;
//!
//! impl Card for GreetPerson {
//!     type Input = PersonId;
//!     type Output = Greeting;
//!     const ID: &'static str = "greet-person";
//!     const TITLE: &'static str = "Greet Person";
//!     const DESCRIPTION: &'static str = "Reads a person and greets them by name.";
//!     const PERMISSIONS: &'static [&'static str] = &["people-read"];
//!
//!     fn run(input: PersonId, _ctx: &Context) -> Result<Greeting> {
//!         #[derive(Deserialize)]
//!         struct Person {
//!             name: String,
//!         }
//!         let person: Person =
//!             Request::get(format!("/people/{}", encode_component(&input.id))).send_json()?;
//!         Ok(Greeting { greeting: format!("Hello, {}!", person.name) })
//!     }
//! }
//!
//! impl Connector for Hello {
//!     const CARDS: Cards = cards![GreetPerson];
//!
//!     fn manifest() -> Manifest {
//!         manifest!("hello", "Hello")
//!             .connection_schema(json!({
//!                 "type": "object",
//!                 "required": ["base_url"],
//!                 "properties": {"base_url": {"type": "string", "format": "uri"}}
//!             }))
//!             .auth(AuthMethod::bearer("token", "API token", SecretField::new("token", "API token")))
//!             .environment(Environment::new("default", "{base_url}"))
//!             .permission(Permission::new("people-read", "Read people").read("/people/*"))
//!             .cards(Self::CARDS)
//!     }
//!     // `invoke` runs `CARDS`; `test_connection` probes each granted permission.
//! }
//!
//! cardhost_sdk::export_connector!(Hello);
//!
//! // Natively, the card runs against a mock, as the host would run it.
//! use cardhost_sdk::testing::{check_manifest, invoke, json, mock_http};
//! check_manifest::<Hello>();
//! mock_http(|_| json(200, json!({"id": "7", "name": "Aiko"})));
//! let out = invoke::<Hello>("greet-person", json!({"id": "7"}), &Context::for_test(json!({})));
//! assert_eq!(out, Ok(json!({"greeting": "Hello, Aiko!"})));
//! // The host refuses what the schema does not allow, before the card runs.
//! assert!(invoke::<Hello>("greet-person", json!({"id": ""}), &Context::for_test(json!({}))).is_err());
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is the component to load. Native builds
//! (for unit tests) replace the host with [`testing`].
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

#![deny(missing_docs)]

// Lets generated code name this crate by its public path, from inside and out.
extern crate self as cardhost_sdk;

mod card;
mod context;
mod error;
pub mod http;
pub mod list;
pub mod log;
mod manifest;
pub mod paging;
pub mod probe;
pub mod schema;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
mod transport;
pub mod trigger;

pub use card::{Card, CardDef, Cards, did_you_mean, dispatch};
pub use cardhost_rules::time;
pub use context::{Check, ConnectionReport, Context};
pub use error::{Error, Result};
pub use list::{List, ListItem, Total};
pub use manifest::{
    Access, ApiKeyLocation, AuthMethod, AuthScheme, CardEntry, ClientAuth, Environment, Manifest,
    OAuth2, Permission, Rule, SecretField, secret,
};
pub use schema::{NoInput, Passthrough, Raw, Update};
pub use schemars::{self, JsonSchema};
pub use serde_json::{self, Value, json};
pub use trigger::{
    Delivery, Event, Page, Polling, SignatureEncoding, Trigger, TriggerDef, TriggerEntry, Triggers,
    Verification, Webhook,
};

/// What a connector implements. All functions are associated: a fresh instance
/// of the component runs each invocation, so there is no state to keep.
pub trait Connector {
    /// The connector's typed cards, listed once with [`cards!`]. The
    /// manifest adds their entries with [`Manifest::cards`]`(Self::CARDS)`
    /// and the default [`invoke`](Connector::invoke) runs them.
    const CARDS: Cards = &[];

    /// The connector's event cards, listed once with [`triggers!`]. The
    /// host reads their declarations at load and runs them by id.
    const TRIGGERS: Triggers = &[];

    /// Declares the connector. Called once when the host loads it. Start
    /// with [`manifest!`] and end with `.cards(Self::CARDS)`.
    fn manifest() -> Manifest;

    /// Runs card `card` with an input the host validated against the card's
    /// input schema; the host validates the output against its output schema.
    ///
    /// The default runs the card of [`CARDS`](Connector::CARDS) with that
    /// id, and answers an unknown id with an invalid-input error naming the
    /// nearest one. Implement it by hand only for cards that are not typed
    /// [`Card`]s: in the component, a card of `CARDS` runs without this
    /// function, from its input text to its output text with no `Value` in
    /// between, and only the other ids reach it.
    fn invoke(card: &str, input: Value, context: &Context) -> Result<Value> {
        dispatch(Self::CARDS, card, input, context)
    }

    /// Checks each credential and right of the connection with cheap
    /// requests. The default ([`probe::test_permissions`]) reads one fixed
    /// path of every permission the connection is granted; the helpers of
    /// [`probe`] make a test of one's own short.
    fn test_connection(context: &Context) -> ConnectionReport {
        probe::test_permissions(&Self::manifest(), context)
    }
}

/// [`Manifest::new`] with the version of the connector crate's
/// `Cargo.toml`: `manifest!("smarthr", "SmartHR")`.
#[macro_export]
macro_rules! manifest {
    ($id:expr, $name:expr $(,)?) => {
        $crate::Manifest::new($id, $name, ::core::env!("CARGO_PKG_VERSION"))
    };
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
/// `cardhost:connector/connector` and `cardhost:connector/triggers`
/// interfaces. Call it once, at the crate root.
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

        impl $crate::bindings::exports::cardhost::connector::triggers::Guest for __CardhostExport {
            fn triggers() -> ::std::vec::Vec<
                $crate::bindings::exports::cardhost::connector::triggers::Trigger,
            > {
                $crate::__private::triggers::<$connector>()
            }

            fn poll(
                trigger: ::std::string::String,
                cursor: ::std::option::Option<::std::string::String>,
                context: $crate::bindings::cardhost::connector::types::Context,
            ) -> ::std::result::Result<
                $crate::bindings::exports::cardhost::connector::triggers::PollPage,
                $crate::bindings::cardhost::connector::types::ConnectorError,
            > {
                $crate::__private::poll::<$connector>(trigger, cursor, context)
            }

            fn subscribe(
                trigger: ::std::string::String,
                target_url: ::std::string::String,
                token: ::std::string::String,
                context: $crate::bindings::cardhost::connector::types::Context,
            ) -> ::std::result::Result<
                ::std::string::String,
                $crate::bindings::cardhost::connector::types::ConnectorError,
            > {
                $crate::__private::subscribe::<$connector>(trigger, target_url, token, context)
            }

            fn unsubscribe(
                trigger: ::std::string::String,
                registration: ::std::string::String,
                context: $crate::bindings::cardhost::connector::types::Context,
            ) -> ::std::result::Result<(), $crate::bindings::cardhost::connector::types::ConnectorError>
            {
                $crate::__private::unsubscribe::<$connector>(trigger, registration, context)
            }

            fn parse_delivery(
                trigger: ::std::string::String,
                headers: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                body: ::std::vec::Vec<u8>,
                context: $crate::bindings::cardhost::connector::types::Context,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::bindings::exports::cardhost::connector::triggers::Event>,
                $crate::bindings::cardhost::connector::types::ConnectorError,
            > {
                $crate::__private::parse_delivery::<$connector>(trigger, headers, body, context)
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
        path: "wit/v0.3.0",
        world: "cardhost:connector/connector-world",
        pub_export_macro: true,
        default_bindings_module: "::cardhost_sdk::bindings",
        runtime_path: "::cardhost_sdk::__private::wit_bindgen::rt",
        generate_all,
    });
}

#[doc(hidden)]
#[allow(missing_docs)]
pub mod __private;
