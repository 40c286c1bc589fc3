//! Host-side bindings of the `cardhost:connector` WIT world.

wasmtime::component::bindgen!({
    path: "../connectors/sdk/wit/v0.1.0",
    world: "cardhost:connector/connector-world",
    imports: {
        "cardhost:connector/http.send": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    additional_derives: [serde::Serialize],
});

pub use self::cardhost::connector::types;
pub use self::cardhost::connector::{http, log};

/// The WIT package this host implements; connectors built against another
/// major (or, before 1.0, another minor) are refused at load.
pub const WIT_PACKAGE: &str = "cardhost:connector";
/// Version of [`WIT_PACKAGE`] this host implements.
pub const WIT_VERSION: &str = "0.1.0";
