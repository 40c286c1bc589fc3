//! Advanced HR (OneAdvanced) emulator: the read-only REST contract the
//! `connector-advanced-hr` connector assumes, documented in
//! `connectors/advanced-hr/README.md`.
//!
//! Advanced HR's resource endpoints are not public, so the contract here is
//! the connector's own, built on what OneAdvanced does document: API clients
//! are confidential OAuth2 clients (client credentials against OneAdvanced
//! Identity, emulated by [`crate::oauth`]) and each client is bound to a
//! **security group** that decides which data it may read. So:
//!
//! - `GET {base}/employees` — paged (`page` from 1, `pageSize` ≤ 100), filters
//!   `status` (`Active`, `Leaver`, `Pending`), `departmentId`,
//!   `updatedSince` (ISO 8601 date or date-time);
//! - `GET {base}/employees/search?q=` — name, employee number or work email;
//! - `GET {base}/employees/{id}`;
//! - `GET {base}/departments`, `GET {base}/positions` (`departmentId` filter);
//! - pages are `{"data": [...], "page", "pageSize", "totalCount", "totalPages"}`;
//! - errors are `{"status", "error", "message"}`: 400 `invalid_parameter`,
//!   401 `unauthorized` (missing, unknown or expired bearer token), 403
//!   `forbidden` (the client's security group lacks the area), 404
//!   `not_found`, 429 `too_many_requests` with `Retry-After`;
//! - sensitive fields (`dateOfBirth`, `niNumber`, `salary`, `homeAddress`,
//!   `personalMobile`) are left out unless the group grants them.
//!
//! Seed data: a fictional UK employer (Hartwell Group) with 12 departments,
//! 50 positions and, by default, 200 employees, all pure functions of their
//! index. Phone numbers come from Ofcom's ranges reserved for drama.

mod dates;
mod errors;
mod routes;
mod seed;
mod state;

use crate::oauth::{self, ClientConfig, OAuthServer};
use crate::server::{Server, TokenValidator};
pub use dates::parse_timestamp;
pub use routes::SENSITIVE_FIELDS;
use routes::router;
pub use state::AdvancedHrState;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A data area a security group may grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    /// `/employees`, `/employees/search`, `/employees/{id}`.
    Employees,
    /// `/departments`.
    Departments,
    /// `/positions`.
    Positions,
    /// The sensitive employee fields (date of birth, NI number, salary, home
    /// address, personal mobile); without it they are left out.
    SensitiveFields,
}

impl Area {
    fn noun(self) -> &'static str {
        match self {
            Area::Employees => "employees",
            Area::Departments => "departments",
            Area::Positions => "positions",
            Area::SensitiveFields => "sensitive employee fields",
        }
    }
}

/// An Advanced HR security group: what the API clients bound to it may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    /// Display name, quoted in 403 messages.
    pub name: String,
    /// Granted areas.
    pub areas: BTreeSet<Area>,
}

impl SecurityGroup {
    /// A group granting `areas`.
    pub fn new(name: &str, areas: &[Area]) -> Self {
        Self {
            name: name.into(),
            areas: areas.iter().copied().collect(),
        }
    }

    /// Whether the group grants `area`.
    pub fn allows(&self, area: Area) -> bool {
        self.areas.contains(&area)
    }
}

/// A fixed-window request limit per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// Window length.
    pub window: Duration,
}

/// The emulator's configuration.
#[derive(Clone)]
pub struct Config {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Path prefix of every route, e.g. `/api/v1` (empty for none). The
    /// connection's `api_base_url` is the server URL plus this prefix.
    pub base_path: String,
    /// Checks bearer tokens (from [`OAuthServer::validator`]).
    pub validator: TokenValidator,
    /// Security group of each client id; clients not listed get 403.
    pub groups: BTreeMap<String, SecurityGroup>,
    /// How many employees to seed.
    pub employee_count: usize,
    /// `pageSize` when none is given.
    pub default_page_size: u32,
    /// Largest `pageSize` accepted.
    pub max_page_size: u32,
    /// Per-client request limit, if any.
    pub rate_limit: Option<RateLimit>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("port", &self.port)
            .field("base_path", &self.base_path)
            .field("groups", &self.groups)
            .field("employee_count", &self.employee_count)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults: base path `/api/v1`, the demo security groups
    /// ([`demo_groups`]), 200 employees, pages of 50 (max 100), no rate limit.
    pub fn new(validator: TokenValidator) -> Self {
        Self {
            port: 0,
            base_path: "/api/v1".into(),
            validator,
            groups: demo_groups(),
            employee_count: 200,
            default_page_size: 50,
            max_page_size: 100,
            rate_limit: None,
        }
    }

    /// Binds `client_id` to `group`.
    pub fn group(mut self, client_id: &str, group: SecurityGroup) -> Self {
        self.groups.insert(client_id.into(), group);
        self
    }
}

/// OneAdvanced Identity realm of the demo setup.
pub const DEMO_REALM: &str = "hartwell";

/// Demo API clients, as `(client_id, client_secret, security group)`; the
/// ids follow OneAdvanced's rule (lowercase letters and hyphens only).
pub const DEMO_CLIENTS: [(&str, &str, &str); 4] = [
    (
        "cardhost-hr-full",
        "full-access-secret-4f9c2a",
        "HR Integration",
    ),
    (
        "cardhost-directory",
        "directory-secret-81d7e3",
        "Staff Directory",
    ),
    (
        "cardhost-org-structure",
        "org-structure-secret-5b02c6",
        "Org Structure",
    ),
    ("cardhost-unassigned", "unassigned-secret-c3a991", ""),
];

/// The demo clients' security groups: `cardhost-hr-full` reads everything
/// including sensitive fields, `cardhost-directory` everything but sensitive
/// fields, `cardhost-org-structure` departments and positions only;
/// `cardhost-unassigned` has no group (403 everywhere).
pub fn demo_groups() -> BTreeMap<String, SecurityGroup> {
    use Area::*;
    let groups = [
        SecurityGroup::new(
            "HR Integration",
            &[Employees, Departments, Positions, SensitiveFields],
        ),
        SecurityGroup::new("Staff Directory", &[Employees, Departments, Positions]),
        SecurityGroup::new("Org Structure", &[Departments, Positions]),
    ];
    DEMO_CLIENTS
        .iter()
        .filter_map(|(id, _, group)| {
            let group = groups.iter().find(|g| g.name == *group)?;
            Some((id.to_string(), group.clone()))
        })
        .collect()
}

/// The demo clients registered for the client-credentials grant.
pub fn demo_clients() -> Vec<ClientConfig> {
    DEMO_CLIENTS
        .iter()
        .map(|(id, secret, _)| ClientConfig::new(id, secret))
        .collect()
}

/// One request the emulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path below the base path, e.g. `/employees/10001`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// The client whose token was presented, when it was valid.
    pub client_id: Option<String>,
    /// Status answered.
    pub status: u16,
}

/// A running emulator.
#[derive(Debug)]
pub struct AdvancedHr {
    server: Server,
    state: AdvancedHrState,
}

impl AdvancedHr {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The API root to use as a connection's `api_base_url`: the URL plus the
    /// base path.
    pub fn api_url(&self) -> String {
        format!("{}{}", self.url(), self.state.base_path)
    }

    /// The state handle.
    pub fn state(&self) -> AdvancedHrState {
        self.state.clone()
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Starts the emulator on 127.0.0.1.
pub async fn start(config: Config) -> std::io::Result<AdvancedHr> {
    let state = AdvancedHrState::new(&config);
    let server = Server::spawn(router(state.clone()), config.port).await?;
    Ok(AdvancedHr { server, state })
}

/// The demo setup: OneAdvanced Identity (realm [`DEMO_REALM`], the
/// [`demo_clients`]) and the API trusting its tokens.
#[derive(Debug)]
pub struct Demo {
    /// The OAuth2 server; its `token_url()` is the connection's `token_url`.
    pub identity: OAuthServer,
    /// The API; its `api_url()` is the connection's `api_base_url`.
    pub api: AdvancedHr,
}

/// Starts the demo setup on the given ports (0 picks free ones).
pub async fn start_demo(identity_port: u16, api_port: u16) -> std::io::Result<Demo> {
    let mut identity_config = oauth::Config::keycloak(DEMO_REALM).port(identity_port);
    identity_config.clients = demo_clients();
    let identity = oauth::start(identity_config).await?;
    let mut config = Config::new(identity.validator());
    config.port = api_port;
    let api = start(config).await?;
    Ok(Demo { identity, api })
}
