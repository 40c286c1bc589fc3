//! Fourth Account SCIM API emulator: a SCIM 2.0 service provider (RFC 7643
//! resources, RFC 7644 protocol) serving Fourth's user accounts, for the
//! `connector-fourth-scim` connector.
//!
//! What Fourth documents, and how it is emulated:
//! - OAuth2 client credentials with scope `scim` at
//!   `/oauth/connect/token` ([`crate::oauth::Config::fourth`]); every request
//!   needs a bearer token the OAuth2 emulator issued, with the read scope
//!   (`scim`) for reads and the write scope (`scim.write`, an emulator
//!   setting: Fourth's API is read-only for partners) for writes;
//! - the base URL is issued per customer: here the server URL plus
//!   [`Config::base_path`];
//! - users carry a Fourth Account ID (`id`), name, work location (the work
//!   address), job title (`title`, workforce-management users only),
//!   country, preferred language, timezone and a work email that may be
//!   absent; the enterprise extension adds employee number, organization,
//!   division and department.
//!
//! SCIM behaviour: `GET /Users` with filters (`eq ne co sw ew gt lt ge le pr`,
//! `and`, `or`, `not`, value paths, JSON-quoted strings, see [`filter`]),
//! `startIndex` from 1 and `count` capped at `filter.maxResults` (so a
//! client may get fewer than it asked for); ListResponse without `Resources`
//! when empty; `/ServiceProviderConfig`, `/Schemas`, `/ResourceTypes`;
//! errors in the `urn:ietf:params:scim:api:messages:2.0:Error` schema;
//! `POST`, `PUT`, `PATCH` (PatchOp) and `DELETE` on `/Users` with
//! uniqueness (409), `If-Match` (412) and read-only mode (501); 429 with
//! `Retry-After`.
//!
//! [`ResponseStyle`] switches the variations real SCIM servers show and a
//! client must survive: `application/json` instead of
//! `application/scim+json`, `status` as a number instead of a string,
//! `Resources: []` instead of leaving it out, and attribute names in another
//! case (SCIM names are case-insensitive).

pub mod filter;
pub mod seed;

mod auth;
mod discovery;
mod errors;
mod patch;
mod routes;
mod state;

use crate::oauth::{self, ClientConfig, OAuthServer};
use crate::server::{Server, TokenValidator};
use routes::router;
pub use state::ScimState;
use std::time::Duration;

/// The enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// ListResponse message schema.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// Error message schema.
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// PatchOp message schema.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SERVICE_PROVIDER_CONFIG: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// A fixed-window request limit per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// Window length.
    pub window: Duration,
}

/// The media type of answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// `application/scim+json` (RFC 7644 §3.1).
    Scim,
    /// `application/json`, as many servers answer.
    Json,
}

/// How answers are spelled; each field a variation seen in real servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseStyle {
    /// The media type of every answer.
    pub content_type: ContentType,
    /// Whether error `status` is a number (`404`) instead of the string
    /// RFC 7644 §3.12 shows (`"404"`).
    pub error_status_as_number: bool,
    /// Whether an empty ListResponse leaves `Resources` out (as Fourth does)
    /// instead of sending `[]`.
    pub omit_empty_resources: bool,
    /// Whether every attribute name is sent in lower case (`username`,
    /// `totalresults`, `resources`): SCIM names are case-insensitive.
    pub lowercase_keys: bool,
}

impl Default for ResponseStyle {
    fn default() -> Self {
        Self {
            content_type: ContentType::Scim,
            error_status_as_number: false,
            omit_empty_resources: true,
            lowercase_keys: false,
        }
    }
}

/// The emulator's configuration.
#[derive(Clone)]
pub struct Config {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Path prefix of every route, e.g. `/scim/v2` (empty for none). The
    /// connection's base URL is the server URL plus this prefix.
    pub base_path: String,
    /// Checks bearer tokens (from [`OAuthServer::validator`]).
    pub validator: TokenValidator,
    /// Scope every request needs.
    pub read_scope: String,
    /// Scope writes need besides the read scope.
    pub write_scope: String,
    /// How many seed users.
    pub user_count: usize,
    /// `count` when none is given.
    pub default_count: u32,
    /// Most resources one page returns (`filter.maxResults`); a larger
    /// `count` gets this many.
    pub max_results: u32,
    /// Whether writes are served; when not, they answer 501 as a read-only
    /// provider does.
    pub writes_enabled: bool,
    /// Per-client request limit, if any.
    pub rate_limit: Option<RateLimit>,
    /// How answers are spelled.
    pub style: ResponseStyle,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("port", &self.port)
            .field("base_path", &self.base_path)
            .field("user_count", &self.user_count)
            .field("max_results", &self.max_results)
            .field("writes_enabled", &self.writes_enabled)
            .field("style", &self.style)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults: base path `/scim/v2`, scopes `scim` and `scim.write`, 320
    /// users, pages of 100 at most, writes served, no rate limit, RFC style.
    pub fn new(validator: TokenValidator) -> Self {
        Self {
            port: 0,
            base_path: "/scim/v2".into(),
            validator,
            read_scope: "scim".into(),
            write_scope: "scim.write".into(),
            user_count: 320,
            default_count: 100,
            max_results: 100,
            writes_enabled: true,
            rate_limit: None,
            style: ResponseStyle::default(),
        }
    }
}

/// Demo OAuth2 clients as `(client_id, client_secret, scopes)`: a partner
/// with Fourth's read scope, a provisioner that may also write, and a
/// client of another Fourth API without the SCIM scope.
pub const DEMO_CLIENTS: [(&str, &str, &[&str]); 3] = [
    ("harbourvine-partner", "partner-secret-7c1f0b", &["scim"]),
    (
        "harbourvine-provisioner",
        "provisioner-secret-2a9e44",
        &["scim", "scim.write"],
    ),
    ("harbourvine-payroll", "payroll-secret-4d3b8a", &["payroll"]),
];

/// The demo clients, registered for client credentials with their scopes.
pub fn demo_clients() -> Vec<ClientConfig> {
    DEMO_CLIENTS
        .iter()
        .map(|(id, secret, scopes)| ClientConfig::new(id, secret).scopes(scopes))
        .collect()
}

/// One request the emulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path below the base path, e.g. `/Users/2819c223-…`.
    pub path: String,
    /// Raw query string, exactly as sent.
    pub query: Option<String>,
    /// The request's `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The request body, if any (as text).
    pub body: Option<String>,
    /// The client whose token was presented, when it was valid.
    pub client_id: Option<String>,
    /// Status answered.
    pub status: u16,
}

/// A running emulator.
#[derive(Debug)]
pub struct Scim {
    server: Server,
    state: ScimState,
}

impl Scim {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The SCIM base URL, as Fourth issues it to a customer: the server URL
    /// plus the base path.
    pub fn base_url(&self) -> String {
        format!("{}{}", self.url(), self.state.base_path)
    }

    /// The state handle.
    pub fn state(&self) -> ScimState {
        self.state.clone()
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Starts the emulator on 127.0.0.1.
pub async fn start(config: Config) -> std::io::Result<Scim> {
    let state = ScimState::new(&config);
    let server = Server::spawn(router(state.clone()), config.port).await?;
    Ok(Scim { server, state })
}

/// The demo setup: Fourth's OAuth2 server with the [`demo_clients`] and the
/// SCIM API trusting its tokens.
#[derive(Debug)]
pub struct Demo {
    /// The OAuth2 server; its `token_url()` is the connection's `token_url`.
    pub identity: OAuthServer,
    /// The SCIM API; its `base_url()` is the connection's `base_url`.
    pub api: Scim,
}

/// Starts the demo setup on the given ports (0 picks free ones).
pub async fn start_demo(identity_port: u16, api_port: u16) -> std::io::Result<Demo> {
    let mut identity_config = oauth::Config::fourth().port(identity_port);
    identity_config.clients = demo_clients();
    let identity = oauth::start(identity_config).await?;
    let mut config = Config::new(identity.validator());
    config.port = api_port;
    let api = start(config).await?;
    Ok(Demo { identity, api })
}
