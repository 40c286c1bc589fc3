//! SmartHR emulator: the parts of SmartHR's REST API (`/api/v1`) that the
//! `connector-smarthr` connector uses, as SmartHR and its integrators
//! document them (`../shared/vendor/README.md`).
//!
//! - One tenant in one environment: requests must name
//!   `{tenant_id}.smarthr.jp` (production) or `{tenant_id}.daruma.space`
//!   (sandbox) in `Host`, as the host's network routes keep it; a loopback
//!   `Host` (direct access in tests) is taken as the tenant. Any other tenant
//!   gets 404.
//! - `Authorization: Bearer TOKEN`. Each [`Token`] has its own rights per
//!   resource and access (a token may be read-only); a missing or unknown
//!   token gets 401 `unauthorized_token`, a missing right 403 `forbidden`.
//! - Lists are bare JSON arrays, paged with `page` (from 1) and `per_page`
//!   (default 10, at most 100), with a `Link` header (`first`, `prev`,
//!   `next`, `last`) and `x-total-count`.
//! - Rate limits per token, `x-rate-limit-limit`, `-remaining` and `-reset`
//!   (seconds) on every authenticated answer, 429 `too_many_requests` past
//!   the limit. The limits are configurable (\[I\]: SmartHR's are unverified).
//! - Errors are `{"code", "type", "message", "errors"}` with SmartHR's codes:
//!   1 bad_request 400, 2 unauthorized_token 401, 3 forbidden 403,
//!   4 not_found 404, 5 internal_server_error 500, 6 too_many_requests 429,
//!   7 plan_limit_exceeded 403, 8 non_deletable_resource 400,
//!   9 service_maintenance 503.
//! - Crews can be created (201), updated (PATCH, 200) and deleted (204);
//!   writes persist for the life of the server.
//! - Webhooks (`/api/v1/webhooks`, rights on [`Resource::Webhooks`]): listed
//!   (paged like the other lists), created (201; `url` must be an http(s)
//!   URL; the flags default to false), read, updated (PATCH, 200; `id`,
//!   `disabled_at` and the times are read-only) and deleted (204), persisted
//!   for the life of the server. Creating, updating or deleting a crew sends
//!   `POST {url}` (`Content-Type: application/json`,
//!   `X-SmartHR-Token: {secret_token}`, left out while the webhook has no
//!   token (\[I\]), body `{"event", "triggered_at", "sender", "crew"}` with
//!   the crew as `GET /crews/{id}` answers it, as it was before a delete) to
//!   every enabled webhook with the event's flag, from a background task and
//!   in order per webhook, never holding up the API's answer. A failed delivery (non-2xx
//!   or no connection) is retried ([`Config::webhook_retry_delays`]); after
//!   [`Config::webhook_disable_after`] failed deliveries in a row the webhook
//!   is disabled (`disabled_at`) and what it had queued is dropped. Tests see
//!   every attempt ([`SmartHrState::webhook_deliveries`]) and re-enable a
//!   webhook as a user would ([`SmartHrState::enable_webhook`]). The
//!   `crew_imported` and `dependent_*` flags are kept but never fire: the
//!   emulator has no import or dependents.
//!
//! Seed data ([`seed`]): a fictional company with 4 business establishments,
//! 9 employment types, 12 job titles, by default 80 departments, 7 custom
//! field groups with 40 custom fields, 300 crews and their user accounts.

pub mod seed;

mod crews;
mod errors;
mod gate;
mod lists;
mod state;
mod webhooks;

use crate::server::Server;
use gate::router;
pub use seed::Counts;
pub use state::SmartHrState;
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

/// A SmartHR resource, as rights are given per resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// `/api/v1/users`.
    Users,
    /// `/api/v1/crews`.
    Crews,
    /// `/api/v1/biz_establishments`.
    BizEstablishments,
    /// `/api/v1/employment_types`.
    EmploymentTypes,
    /// `/api/v1/departments`.
    Departments,
    /// `/api/v1/job_titles`.
    JobTitles,
    /// `/api/v1/crew_custom_field_templates`.
    CrewCustomFieldTemplates,
    /// `/api/v1/crew_custom_field_template_groups`.
    CrewCustomFieldTemplateGroups,
    /// `/api/v1/webhooks`.
    Webhooks,
}

impl Resource {
    /// Every resource.
    pub const ALL: [Resource; 9] = [
        Resource::Users,
        Resource::Crews,
        Resource::BizEstablishments,
        Resource::EmploymentTypes,
        Resource::Departments,
        Resource::JobTitles,
        Resource::CrewCustomFieldTemplates,
        Resource::CrewCustomFieldTemplateGroups,
        Resource::Webhooks,
    ];

    /// The path segment after `/api/v1/`.
    pub fn segment(self) -> &'static str {
        match self {
            Resource::Users => "users",
            Resource::Crews => "crews",
            Resource::BizEstablishments => "biz_establishments",
            Resource::EmploymentTypes => "employment_types",
            Resource::Departments => "departments",
            Resource::JobTitles => "job_titles",
            Resource::CrewCustomFieldTemplates => "crew_custom_field_templates",
            Resource::CrewCustomFieldTemplateGroups => "crew_custom_field_template_groups",
            Resource::Webhooks => "webhooks",
        }
    }

    fn from_segment(segment: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.segment() == segment)
    }
}

/// Read (GET, HEAD) or write (POST, PUT, PATCH, DELETE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// GET and HEAD.
    Read,
    /// POST, PUT, PATCH and DELETE.
    Write,
}

/// An access token and the rights it was issued with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token itself.
    pub value: String,
    /// A name for the request log.
    pub name: String,
    /// The rights.
    pub rights: BTreeSet<(Resource, Access)>,
}

impl Token {
    /// A token with no rights yet.
    pub fn new(value: &str, name: &str) -> Self {
        Self {
            value: value.into(),
            name: name.into(),
            rights: BTreeSet::new(),
        }
    }

    /// A token that may read and write everything.
    pub fn full(value: &str, name: &str) -> Self {
        let mut token = Self::new(value, name);
        for r in Resource::ALL {
            token = token.grant(r, Access::Read).grant(r, Access::Write);
        }
        token
    }

    /// A token that may read everything and write nothing.
    pub fn read_only(value: &str, name: &str) -> Self {
        let mut token = Self::new(value, name);
        for r in Resource::ALL {
            token = token.grant(r, Access::Read);
        }
        token
    }

    /// Adds a right.
    pub fn grant(mut self, resource: Resource, access: Access) -> Self {
        self.rights.insert((resource, access));
        self
    }

    /// Whether the token has a right.
    pub fn allows(&self, resource: Resource, access: Access) -> bool {
        self.rights.contains(&(resource, access))
    }
}

/// Where the tenant lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// `{tenant_id}.smarthr.jp`.
    Production,
    /// `{tenant_id}.daruma.space`.
    Sandbox,
}

impl Environment {
    /// The domain under which tenants live.
    pub fn domain(self) -> &'static str {
        match self {
            Environment::Production => "smarthr.jp",
            Environment::Sandbox => "daruma.space",
        }
    }
}

/// A fixed-window request limit per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// Window length.
    pub window: Duration,
}

/// The emulator's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// The tenant's subdomain.
    pub tenant_id: String,
    /// Production or sandbox.
    pub environment: Environment,
    /// Accepted tokens.
    pub tokens: Vec<Token>,
    /// How much seed data.
    pub counts: Counts,
    /// `per_page` when none is given.
    pub default_per_page: u32,
    /// Largest `per_page` accepted.
    pub max_per_page: u32,
    /// Limits per token, checked in order; the first one's state is what the
    /// `x-rate-limit-*` headers report. Empty for none.
    pub rate_limits: Vec<RateLimit>,
    /// How long to wait before each retry of a failed webhook delivery: a
    /// delivery is tried once, then once more after each delay (\[I\]:
    /// SmartHR does not publish its retry schedule).
    pub webhook_retry_delays: Vec<Duration>,
    /// Failed deliveries in a row (each with all its retries failed) after
    /// which a webhook is disabled; 0 never disables (\[I\]: SmartHR does not
    /// publish when it disables a webhook).
    pub webhook_disable_after: u32,
    /// How long one delivery attempt may take, connecting included.
    pub webhook_timeout: Duration,
}

impl Config {
    /// Defaults: the demo tokens ([`demo_tokens`]), 300 crews, 80
    /// departments, 40 custom fields, pages of 10 (at most 100), the limits
    /// integrators report (5,000 an hour and 10 a second per token), and
    /// webhook deliveries retried after 1, 2 and 4 seconds, 5 seconds per
    /// attempt, a webhook disabled after 3 failed deliveries in a row.
    pub fn new(tenant_id: &str, environment: Environment) -> Self {
        Self {
            port: 0,
            tenant_id: tenant_id.into(),
            environment,
            tokens: demo_tokens(),
            counts: Counts {
                crews: 300,
                departments: 80,
                custom_fields: 40,
            },
            default_per_page: 10,
            max_per_page: 100,
            rate_limits: vec![
                RateLimit {
                    requests: 5000,
                    window: Duration::from_secs(3600),
                },
                RateLimit {
                    requests: 10,
                    window: Duration::from_secs(1),
                },
            ],
            webhook_retry_delays: vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(4),
            ],
            webhook_disable_after: 3,
            webhook_timeout: Duration::from_secs(5),
        }
    }

    /// Adds a token.
    pub fn token(mut self, token: Token) -> Self {
        self.tokens.push(token);
        self
    }
}

/// Tenant of the demo setup.
pub const DEMO_TENANT: &str = "cardhost-demo";

/// Demo tokens as `(value, name)`: `full` reads and writes everything
/// (webhooks included), `read-only` reads everything, `crews-only` reads
/// and writes crews only (so it may not register webhooks).
pub const DEMO_TOKENS: [(&str, &str); 3] = [
    ("shr_demo_full_4b1e9c7a2f", "full"),
    ("shr_demo_readonly_83d0e6", "read-only"),
    ("shr_demo_crews_only_5a27", "crews-only"),
];

/// The demo tokens with their rights.
pub fn demo_tokens() -> Vec<Token> {
    let (full, read_only, crews) = (DEMO_TOKENS[0], DEMO_TOKENS[1], DEMO_TOKENS[2]);
    vec![
        Token::full(full.0, full.1),
        Token::read_only(read_only.0, read_only.1),
        Token::new(crews.0, crews.1)
            .grant(Resource::Crews, Access::Read)
            .grant(Resource::Crews, Access::Write),
    ]
}

/// One request the emulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path, e.g. `/api/v1/crews`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// The `Host` header.
    pub host: Option<String>,
    /// Name of the token presented, when it was valid.
    pub token: Option<String>,
    /// Status answered.
    pub status: u16,
}

impl RequestRecord {
    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// What one webhook delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver answered with this status.
    Status(u16),
    /// No answer: the connection failed or the attempt timed out.
    Error(String),
}

impl DeliveryOutcome {
    /// Whether the attempt counts as delivered (a 2xx answer).
    pub fn succeeded(&self) -> bool {
        matches!(self, DeliveryOutcome::Status(s) if (200..300).contains(s))
    }
}

/// One webhook delivery attempt the emulator made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The webhook's `id`.
    pub webhook_id: String,
    /// The URL posted to.
    pub url: String,
    /// `crew_created`, `crew_updated` or `crew_deleted`.
    pub event: String,
    /// The crew's `id`.
    pub crew_id: String,
    /// Serial number of the delivery (one event for one webhook); its
    /// retries share it.
    pub delivery: u64,
    /// 1 for the first try, 2 for the first retry, and so on.
    pub attempt: u32,
    /// The receiver's status, or why there was none.
    pub outcome: DeliveryOutcome,
    /// When the attempt finished.
    pub at: SystemTime,
}

/// A running emulator.
#[derive(Debug)]
pub struct SmartHr {
    server: Server,
    state: SmartHrState,
}

impl SmartHr {
    /// `http://127.0.0.1:PORT`, the address to route the tenant's host to.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The tenant's public origin, e.g. `https://acme.smarthr.jp`.
    pub fn origin(&self) -> String {
        format!("https://{}", self.state.host)
    }

    /// The state handle.
    pub fn state(&self) -> SmartHrState {
        self.state.clone()
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Starts the emulator on 127.0.0.1.
pub async fn start(config: Config) -> std::io::Result<SmartHr> {
    let state = SmartHrState::new(&config);
    let server = Server::spawn(router(state.clone()), config.port).await?;
    Ok(SmartHr { server, state })
}

/// The demo tenant [`DEMO_TENANT`] in production, with the demo tokens.
pub async fn start_demo(port: u16) -> std::io::Result<SmartHr> {
    let mut config = Config::new(DEMO_TENANT, Environment::Production);
    config.port = port;
    start(config).await
}
