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
//!   the limit. The limits are configurable ([I]: SmartHR's are unverified).
//! - Errors are `{"code", "type", "message", "errors"}` with SmartHR's codes:
//!   1 bad_request 400, 2 unauthorized_token 401, 3 forbidden 403,
//!   4 not_found 404, 5 internal_server_error 500, 6 too_many_requests 429,
//!   7 plan_limit_exceeded 403, 8 non_deletable_resource 400,
//!   9 service_maintenance 503.
//! - Crews can be created (201), updated (PATCH, 200) and deleted (204);
//!   writes persist for the life of the server.
//!
//! Seed data ([`seed`]): a fictional company with 4 business establishments,
//! 9 employment types, 12 job titles, by default 80 departments, 7 custom
//! field groups with 40 custom fields, 300 crews and their user accounts.

pub mod seed;

use crate::server::Server;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use seed::Counts;

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
}

impl Resource {
    /// Every resource.
    pub const ALL: [Resource; 8] = [
        Resource::Users,
        Resource::Crews,
        Resource::BizEstablishments,
        Resource::EmploymentTypes,
        Resource::Departments,
        Resource::JobTitles,
        Resource::CrewCustomFieldTemplates,
        Resource::CrewCustomFieldTemplateGroups,
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
}

impl Config {
    /// Defaults: the demo tokens ([`demo_tokens`]), 300 crews, 80
    /// departments, 40 custom fields, pages of 10 (at most 100), and the
    /// limits integrators report (5,000 an hour and 10 a second per token).
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

/// Demo tokens as `(value, name)`: `full` reads and writes everything,
/// `read-only` reads everything, `crews-only` reads and writes crews only.
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

// ---------------------------------------------------------------------------
// State

/// Shared, cheap-to-clone handle on the emulator's state for tests.
#[derive(Clone)]
pub struct SmartHrState {
    inner: Arc<Mutex<Inner>>,
    host: Arc<str>,
}

impl std::fmt::Debug for SmartHrState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmartHrState")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

struct Inner {
    tokens: BTreeMap<String, Token>,
    data: BTreeMap<Resource, Vec<Value>>,
    default_per_page: u32,
    max_per_page: u32,
    rate_limits: Vec<RateLimit>,
    /// (token, limit index) → (window start, requests in it).
    windows: HashMap<(String, usize), (Instant, u32)>,
    throttles: VecDeque<u32>,
    failures: VecDeque<u16>,
    requests: Vec<RequestRecord>,
    next_serial: usize,
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl SmartHrState {
    fn new(config: &Config) -> Self {
        let s = seed::seed(config.counts);
        let data = BTreeMap::from([
            (Resource::Users, s.users),
            (Resource::Crews, s.crews),
            (Resource::BizEstablishments, s.biz_establishments),
            (Resource::EmploymentTypes, s.employment_types),
            (Resource::Departments, s.departments),
            (Resource::JobTitles, s.job_titles),
            (Resource::CrewCustomFieldTemplates, s.templates),
            (Resource::CrewCustomFieldTemplateGroups, s.template_groups),
        ]);
        let inner = Inner {
            tokens: config
                .tokens
                .iter()
                .map(|t| (t.value.clone(), t.clone()))
                .collect(),
            data,
            default_per_page: config.default_per_page.max(1),
            max_per_page: config.max_per_page.max(1),
            rate_limits: config.rate_limits.clone(),
            windows: HashMap::new(),
            throttles: VecDeque::new(),
            failures: VecDeque::new(),
            requests: Vec::new(),
            next_serial: 0,
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
            host: format!(
                "{}.{}",
                config.tenant_id.to_ascii_lowercase(),
                config.environment.domain()
            )
            .into(),
        }
    }

    /// The tenant's host name, e.g. `acme.smarthr.jp`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner).requests.clone()
    }

    /// How many requests were answered.
    pub fn request_count(&self) -> usize {
        lock(&self.inner).requests.len()
    }

    /// Requests answered since the `from`-th, with this method and path.
    pub fn requests_to(&self, from: usize, method: &str, path: &str) -> Vec<RequestRecord> {
        lock(&self.inner)
            .requests
            .iter()
            .skip(from)
            .filter(|r| r.method == method && r.path == path)
            .cloned()
            .collect()
    }

    /// Answers the next `count` authenticated requests with 429 and
    /// `x-rate-limit-reset: reset_seconds`.
    pub fn throttle_next(&self, count: usize, reset_seconds: u32) {
        lock(&self.inner)
            .throttles
            .extend(std::iter::repeat_n(reset_seconds, count));
    }

    /// Answers the next `count` requests for the tenant with `status` and
    /// SmartHR's error body for it, before the token is even looked at.
    pub fn fail_next(&self, count: usize, status: u16) {
        lock(&self.inner)
            .failures
            .extend(std::iter::repeat_n(status, count));
    }

    /// Replaces the rate limits (and forgets the windows counted so far).
    pub fn set_rate_limits(&self, limits: Vec<RateLimit>) {
        let mut inner = lock(&self.inner);
        inner.rate_limits = limits;
        inner.windows.clear();
    }

    /// Adds or replaces a token.
    pub fn add_token(&self, token: Token) {
        lock(&self.inner).tokens.insert(token.value.clone(), token);
    }

    /// Revokes a token: it gets 401 from now on.
    pub fn revoke_token(&self, value: &str) {
        lock(&self.inner).tokens.remove(value);
    }

    /// Every record of a resource, in list order.
    pub fn all(&self, resource: Resource) -> Vec<Value> {
        lock(&self.inner).data[&resource].clone()
    }

    /// Every crew.
    pub fn crews(&self) -> Vec<Value> {
        self.all(Resource::Crews)
    }

    /// One crew by id.
    pub fn crew(&self, id: &str) -> Option<Value> {
        lock(&self.inner).data[&Resource::Crews]
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
    }

    /// One crew by employee code.
    pub fn crew_by_emp_code(&self, code: &str) -> Option<Value> {
        lock(&self.inner).data[&Resource::Crews]
            .iter()
            .find(|c| c["emp_code"] == code)
            .cloned()
    }
}

// ---------------------------------------------------------------------------
// Errors

/// An error answer: SmartHR's body and extra headers.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: u8,
    kind: &'static str,
    message: String,
    errors: Value,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    fn new(code: u8, message: impl Into<String>) -> Self {
        let (status, kind) = match code {
            1 => (StatusCode::BAD_REQUEST, "bad_request"),
            2 => (StatusCode::UNAUTHORIZED, "unauthorized_token"),
            3 => (StatusCode::FORBIDDEN, "forbidden"),
            4 => (StatusCode::NOT_FOUND, "not_found"),
            6 => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            7 => (StatusCode::FORBIDDEN, "plan_limit_exceeded"),
            8 => (StatusCode::BAD_REQUEST, "non_deletable_resource"),
            9 => (StatusCode::SERVICE_UNAVAILABLE, "service_maintenance"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal_server_error"),
        };
        Self {
            status,
            code,
            kind,
            message: message.into(),
            errors: Value::Null,
            headers: Vec::new(),
        }
    }

    /// The error SmartHR gives for `status`.
    fn for_status(status: u16) -> Self {
        let code = match status {
            400 => 1,
            401 => 2,
            403 => 3,
            404 => 4,
            429 => 6,
            503 => 9,
            _ => 5,
        };
        let mut err = Self::new(code, default_message(code));
        if let Ok(s) = StatusCode::from_u16(status) {
            err.status = s;
        }
        err
    }

    /// 400 with one `{"message", "resource", "field"}` detail.
    fn invalid(resource: &str, field: &str, message: impl Into<String>) -> Self {
        let mut err = Self::new(1, "Bad request");
        err.errors = json!([{"message": message.into(), "resource": resource, "field": field}]);
        err
    }

    fn not_found() -> Self {
        Self::new(4, "Not found")
    }
}

fn default_message(code: u8) -> &'static str {
    match code {
        1 => "Bad request",
        2 => "Unauthorized token",
        3 => "Forbidden",
        4 => "Not found",
        6 => "Too many requests",
        7 => "Plan limit exceeded",
        8 => "Non deletable resource",
        9 => "Service maintenance",
        _ => "Internal server error",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "type": self.kind,
            "message": self.message,
            "errors": self.errors,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}

// ---------------------------------------------------------------------------
// HTTP

fn router(state: SmartHrState) -> Router {
    // A known path with a method SmartHR does not offer there is a 404 with
    // SmartHR's body, not axum's bare 405.
    let not_found = || async { ApiError::not_found() };
    let api = Router::new()
        .route(
            "/crews",
            get(list_crews).post(create_crew).fallback(not_found),
        )
        .route(
            "/crews/{id}",
            get(read_crew)
                .patch(update_crew)
                .delete(delete_crew)
                .fallback(not_found),
        )
        .route("/users", get(list_users).fallback(not_found))
        .route("/users/{id}", get(read_user).fallback(not_found))
        .route(
            "/crew_custom_field_templates",
            get(list_templates_handler).fallback(not_found),
        )
        .route(
            "/crew_custom_field_template_groups",
            get(list_groups_handler).fallback(not_found),
        )
        .route("/{resource}", get(list_plain).fallback(not_found))
        .route("/{resource}/{id}", get(read_plain).fallback(not_found))
        .fallback(not_found);
    Router::new()
        .nest("/api/v1", api)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

/// The request's host name without port, lowercased.
fn host_name(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    Some(name.to_ascii_lowercase())
}

fn is_loopback_name(name: &str) -> bool {
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok()
}

/// What a request under `/api/v1` touches: the resource and the access.
fn classify(method: &Method, path: &str) -> Option<(Resource, Access)> {
    let rest = path.strip_prefix("/api/v1/")?;
    let segment = rest.split('/').next()?;
    let resource = Resource::from_segment(segment)?;
    let access = if method == Method::GET || method == Method::HEAD {
        Access::Read
    } else {
        Access::Write
    };
    Some((resource, access))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The `x-rate-limit-*` headers: limit, remaining and seconds to reset.
fn rate_headers(limit: u32, remaining: u32, reset: u64) -> Vec<(HeaderName, HeaderValue)> {
    vec![
        (
            HeaderName::from_static("x-rate-limit-limit"),
            HeaderValue::from(limit),
        ),
        (
            HeaderName::from_static("x-rate-limit-remaining"),
            HeaderValue::from(remaining),
        ),
        (
            HeaderName::from_static("x-rate-limit-reset"),
            HeaderValue::from(reset),
        ),
    ]
}

fn seconds_left(window: Duration, started: Instant, now: Instant) -> u64 {
    let left = window.saturating_sub(now.duration_since(started));
    left.as_secs() + u64::from(left.subsec_nanos() > 0)
}

/// Counts a request against the token's limits. Returns the headers to send
/// and, when a limit is exceeded, the 429 to answer instead.
fn count_request(inner: &mut Inner, token: &str) -> (Vec<(HeaderName, HeaderValue)>, bool) {
    let now = Instant::now();
    let mut headers = Vec::new();
    let mut exceeded = false;
    for (index, limit) in inner.rate_limits.clone().iter().enumerate() {
        let window = inner
            .windows
            .entry((token.to_string(), index))
            .or_insert((now, 0));
        if now.duration_since(window.0) >= limit.window {
            *window = (now, 0);
        }
        let over = window.1 >= limit.requests;
        if !over {
            window.1 += 1;
        }
        let reset = seconds_left(limit.window, window.0, now);
        if index == 0 || over {
            headers = rate_headers(
                limit.requests,
                limit.requests.saturating_sub(window.1),
                reset,
            );
        }
        if over {
            exceeded = true;
            break;
        }
    }
    (headers, exceeded)
}

/// Every request passes here: tenant, injected failures, token, rate
/// limits and rights, in that order; then the handler; then the log.
async fn gate(State(state): State<SmartHrState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let (response, token) = admit_and_run(&state, request, next).await;
    lock(&state.inner).requests.push(RequestRecord {
        method: method.to_string(),
        path,
        query,
        host,
        token,
        status: response.status().as_u16(),
    });
    response
}

async fn admit_and_run(
    state: &SmartHrState,
    request: Request,
    next: Next,
) -> (Response, Option<String>) {
    let headers = request.headers().clone();
    let name = host_name(&headers).unwrap_or_default();
    if name != *state.host && !is_loopback_name(&name) {
        let tenant = name.split('.').next().unwrap_or_default().to_string();
        return (
            ApiError::new(4, format!("Tenant `{tenant}` not found")).into_response(),
            None,
        );
    }
    if let Some(status) = lock(&state.inner).failures.pop_front() {
        return (ApiError::for_status(status).into_response(), None);
    }
    let Some((resource, access)) = classify(request.method(), request.uri().path()) else {
        // Unknown paths are 404 whoever asks.
        return (next.run(request).await, None);
    };
    let token = bearer(&headers).unwrap_or_default();
    let (name, rate, throttled, allowed) = {
        let mut inner = lock(&state.inner);
        let Some(found) = inner.tokens.get(&token).cloned() else {
            drop(inner);
            return (ApiError::new(2, "Unauthorized token").into_response(), None);
        };
        if let Some(reset) = inner.throttles.pop_front() {
            let limit = inner.rate_limits.first().map_or(5000, |l| l.requests);
            let mut err = ApiError::new(6, "Too many requests");
            err.headers = rate_headers(limit, 0, u64::from(reset));
            return (err.into_response(), Some(found.name));
        }
        let (rate, exceeded) = count_request(&mut inner, &token);
        (
            found.name.clone(),
            rate,
            exceeded,
            found.allows(resource, access),
        )
    };
    let mut response = if throttled {
        ApiError::new(6, "Too many requests").into_response()
    } else if !allowed {
        let verb = match access {
            Access::Read => "read",
            Access::Write => "write",
        };
        ApiError::new(
            3,
            format!(
                "Forbidden: the access token may not {verb} {}",
                resource.segment()
            ),
        )
        .into_response()
    } else {
        next.run(request).await
    };
    response.headers_mut().extend(rate);
    (response, Some(name))
}

/// Query parameters, the last value of each winning.
fn query_map(raw: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// `page` and `per_page`, validated.
fn paging(inner: &Inner, query: &BTreeMap<String, String>) -> Result<(u32, u32), ApiError> {
    let number = |name: &str, default: u32, max: u32| -> Result<u32, ApiError> {
        match query.get(name).map(|v| v.trim()) {
            None | Some("") => Ok(default),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid(
                    "pagination",
                    name,
                    format!("must be an integer from 1 to {max}"),
                )),
            },
        }
    };
    Ok((
        number("page", 1, u32::MAX)?,
        number(
            "per_page",
            inner.default_per_page.min(inner.max_per_page),
            inner.max_per_page,
        )?,
    ))
}

/// One page of `items` with SmartHR's `Link` and `x-total-count` headers.
/// Link URLs keep the request's other parameters, on the tenant's origin.
/// One page of `items` (cloned, so a long list is never copied whole), keeping
/// only the `fields` given, with SmartHR's `Link` and `x-total-count` headers.
fn page_response<T: std::borrow::Borrow<Value>>(
    items: Vec<T>,
    fields: Option<&String>,
    page: u32,
    per_page: u32,
    headers: &HeaderMap,
    path: &str,
    query: &BTreeMap<String, String>,
) -> Response {
    let total = items.len();
    let size = per_page as usize;
    let last = total.div_ceil(size).max(1) as u32;
    let start = (page as usize - 1).saturating_mul(size);
    let data: Vec<Value> = items
        .into_iter()
        .skip(start)
        .take(size)
        .map(|item| item.borrow().clone())
        .collect();
    let data = project(data, fields);
    let name = host_name(headers).unwrap_or_default();
    let authority = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let scheme = if is_loopback_name(&name) {
        "http"
    } else {
        "https"
    };
    let link = |p: u32, rel: &str| {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in query {
            if k != "page" && k != "per_page" {
                pairs.append_pair(k, v);
            }
        }
        pairs.append_pair("page", &p.to_string());
        pairs.append_pair("per_page", &per_page.to_string());
        format!(
            "<{scheme}://{authority}/api/v1{path}?{}>; rel=\"{rel}\"",
            pairs.finish()
        )
    };
    let mut links = vec![link(1, "first")];
    if page > 1 {
        links.push(link((page - 1).min(last), "prev"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
    }
    links.push(link(last, "last"));
    let mut response = axum::Json(Value::Array(data)).into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
        h.insert(header::LINK, v);
    }
    h.insert(
        HeaderName::from_static("x-total-count"),
        HeaderValue::from(total),
    );
    response
}

/// Keeps only `fields` of each record, when the parameter is given.
fn project(items: Vec<Value>, fields: Option<&String>) -> Vec<Value> {
    let Some(fields) = fields.filter(|f| !f.trim().is_empty()) else {
        return items;
    };
    let wanted: Vec<&str> = fields.split(',').map(str::trim).collect();
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .filter(|(k, _)| wanted.contains(&k.as_str()))
                    .collect(),
            ),
            other => other,
        })
        .collect()
}

/// A list of `resource` with no filters.
async fn list_plain(
    State(state): State<SmartHrState>,
    Path(segment): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resource = Resource::from_segment(&segment).ok_or_else(ApiError::not_found)?;
    let query = query_map(raw.as_deref());
    let inner = lock(&state.inner);
    let (page, per_page) = paging(&inner, &query)?;
    let items: Vec<&Value> = inner.data[&resource].iter().collect();
    Ok(page_response(
        items,
        None,
        page,
        per_page,
        &headers,
        &format!("/{segment}"),
        &query,
    ))
}

/// One record of `resource`.
async fn read_plain(
    State(state): State<SmartHrState>,
    Path((segment, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let resource = Resource::from_segment(&segment).ok_or_else(ApiError::not_found)?;
    let inner = lock(&state.inner);
    inner.data[&resource]
        .iter()
        .find(|r| r["id"] == id.as_str())
        .map(|r| axum::Json(r.clone()).into_response())
        .ok_or_else(ApiError::not_found)
}

/// `embed` must be absent or one of `allowed`.
fn embed(query: &BTreeMap<String, String>, allowed: &str) -> Result<bool, ApiError> {
    match query.get("embed").map(|e| e.trim()) {
        None | Some("") => Ok(false),
        Some(e) if e == allowed => Ok(true),
        Some(e) => Err(ApiError::invalid(
            "embed",
            "embed",
            format!("`{e}` cannot be embedded; use `{allowed}`"),
        )),
    }
}

async fn list_templates_handler(
    State(state): State<SmartHrState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = query_map(raw.as_deref());
    let inner = lock(&state.inner);
    let (page, per_page) = paging(&inner, &query)?;
    let with_group = embed(&query, "group")?;
    let groups = &inner.data[&Resource::CrewCustomFieldTemplateGroups];
    let items: Vec<Value> = inner.data[&Resource::CrewCustomFieldTemplates]
        .iter()
        .map(|t| {
            let mut t = t.clone();
            if with_group && let Value::Object(map) = &mut t {
                let group = map
                    .remove("group_id")
                    .and_then(|id| groups.iter().find(|g| g["id"] == id).cloned())
                    .unwrap_or(Value::Null);
                map.insert("group".into(), group);
            }
            t
        })
        .collect();
    Ok(page_response(
        items,
        None,
        page,
        per_page,
        &headers,
        "/crew_custom_field_templates",
        &query,
    ))
}

async fn list_groups_handler(
    State(state): State<SmartHrState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = query_map(raw.as_deref());
    let inner = lock(&state.inner);
    let (page, per_page) = paging(&inner, &query)?;
    let with_templates = embed(&query, "templates")?;
    let templates = &inner.data[&Resource::CrewCustomFieldTemplates];
    let items: Vec<Value> = inner.data[&Resource::CrewCustomFieldTemplateGroups]
        .iter()
        .map(|g| {
            let mut g = g.clone();
            if with_templates {
                let members: Vec<Value> = templates
                    .iter()
                    .filter(|t| t["group_id"] == g["id"])
                    .cloned()
                    .collect();
                g["templates"] = Value::Array(members);
            }
            g
        })
        .collect();
    Ok(page_response(
        items,
        None,
        page,
        per_page,
        &headers,
        "/crew_custom_field_template_groups",
        &query,
    ))
}

/// A user as listed: with `crew` instead of `crew_id` when embedded.
fn user_view(user: &Value, crews: &[Value], with_crew: bool) -> Value {
    let mut user = user.clone();
    if with_crew && let Value::Object(map) = &mut user {
        let crew = map
            .remove("crew_id")
            .and_then(|id| crews.iter().find(|c| c["id"] == id).cloned())
            .unwrap_or(Value::Null);
        map.insert("crew".into(), crew);
    }
    user
}

async fn list_users(
    State(state): State<SmartHrState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = query_map(raw.as_deref());
    let inner = lock(&state.inner);
    let (page, per_page) = paging(&inner, &query)?;
    let with_crew = embed(&query, "crew")?;
    let crews = &inner.data[&Resource::Crews];
    let items: Vec<Value> = inner.data[&Resource::Users]
        .iter()
        .map(|u| user_view(u, crews, with_crew))
        .collect();
    Ok(page_response(
        items, None, page, per_page, &headers, "/users", &query,
    ))
}

async fn read_user(
    State(state): State<SmartHrState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = query_map(raw.as_deref());
    let with_crew = embed(&query, "crew")?;
    let inner = lock(&state.inner);
    let crews = &inner.data[&Resource::Crews];
    inner.data[&Resource::Users]
        .iter()
        .find(|u| u["id"] == id.as_str())
        .map(|u| axum::Json(user_view(u, crews, with_crew)).into_response())
        .ok_or_else(ApiError::not_found)
}

// ---------------------------------------------------------------------------
// Crews

const EMP_STATUSES: [&str; 3] = ["employed", "absent", "retired"];
const GENDERS: [&str; 2] = ["male", "female"];
const PRESETS: [&str; 7] = [
    "board_member",
    "full_timer",
    "contract_worker",
    "permatemp",
    "part_timer",
    "outsourcing_contractor",
    "etc",
];

/// Fields `sort` accepts.
const SORTABLE: [&str; 12] = [
    "emp_code",
    "emp_status",
    "entered_at",
    "resigned_at",
    "birth_at",
    "created_at",
    "updated_at",
    "last_name",
    "first_name",
    "last_name_yomi",
    "first_name_yomi",
    "gender",
];

fn one_of(
    query: &BTreeMap<String, String>,
    name: &str,
    allowed: &[&str],
) -> Result<Option<String>, ApiError> {
    match query.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) if allowed.contains(&v) => Ok(Some(v.to_string())),
        Some(_) => Err(ApiError::invalid(
            "crew",
            name,
            format!("must be one of {}", allowed.join(", ")),
        )),
    }
}

fn date_param(query: &BTreeMap<String, String>, name: &str) -> Result<Option<String>, ApiError> {
    match query.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) if seed::valid_date(v) => Ok(Some(v.to_string())),
        Some(_) => Err(ApiError::invalid(
            "crew",
            name,
            "must be a date (YYYY-MM-DD)",
        )),
    }
}

/// Whether a crew matches free text `q`: names (legal, katakana, business,
/// full name with or without a space), employee code or email.
fn matches_q(crew: &Value, q: &str) -> bool {
    let needle = q.to_lowercase();
    let field = |name: &str| crew[name].as_str().unwrap_or_default().to_lowercase();
    let last = field("last_name");
    let first = field("first_name");
    [
        last.clone(),
        first.clone(),
        format!("{last}{first}"),
        format!("{last} {first}"),
        format!("{last}\u{3000}{first}"),
        field("last_name_yomi"),
        field("first_name_yomi"),
        format!("{}{}", field("last_name_yomi"), field("first_name_yomi")),
        field("business_last_name"),
        field("business_first_name"),
        field("emp_code"),
        field("email"),
    ]
    .iter()
    .any(|text| !text.is_empty() && text.contains(&needle))
}

/// Sort keys of `sort`, e.g. `emp_status,-updated_at`.
fn sort_keys(sort: Option<&String>) -> Result<Vec<(String, bool)>, ApiError> {
    let Some(sort) = sort.filter(|s| !s.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    sort.split(',')
        .map(|key| {
            let key = key.trim();
            let (name, descending) = match key.strip_prefix('-') {
                Some(name) => (name, true),
                None => (key, false),
            };
            if SORTABLE.contains(&name) {
                Ok((name.to_string(), descending))
            } else {
                Err(ApiError::invalid(
                    "crew",
                    "sort",
                    format!("`{name}` cannot be sorted by"),
                ))
            }
        })
        .collect()
}

fn compare(a: &Value, b: &Value, keys: &[(String, bool)]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for (key, descending) in keys {
        let order = match (a[key].as_str(), b[key].as_str()) {
            (Some(x), Some(y)) => x.cmp(y),
            // Nulls last, whatever the direction.
            (Some(_), None) => return Ordering::Less,
            (None, Some(_)) => return Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        let order = if *descending { order.reverse() } else { order };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

async fn list_crews(
    State(state): State<SmartHrState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = query_map(raw.as_deref());
    let inner = lock(&state.inner);
    let (page, per_page) = paging(&inner, &query)?;
    let emp_status = one_of(&query, "emp_status", &EMP_STATUSES)?;
    let gender = one_of(&query, "gender", &GENDERS)?;
    let emp_type = one_of(&query, "emp_type", &PRESETS)?;
    let from = date_param(&query, "entered_at_from")?;
    let to = date_param(&query, "entered_at_to")?;
    let keys = sort_keys(query.get("sort"))?;
    let emp_code = query.get("emp_code").filter(|c| !c.is_empty());
    let q = query.get("q").map(|q| q.trim()).filter(|q| !q.is_empty());
    let mut crews: Vec<&Value> = inner.data[&Resource::Crews]
        .iter()
        .filter(|c| emp_code.is_none_or(|code| c["emp_code"] == code.as_str()))
        .filter(|c| emp_status.as_deref().is_none_or(|s| c["emp_status"] == s))
        .filter(|c| gender.as_deref().is_none_or(|g| c["gender"] == g))
        .filter(|c| {
            emp_type
                .as_deref()
                .is_none_or(|t| c["employment_type"]["preset_type"] == t)
        })
        .filter(|c| {
            let entered = c["entered_at"].as_str();
            from.as_deref()
                .is_none_or(|f| entered.is_some_and(|e| e >= f))
                && to
                    .as_deref()
                    .is_none_or(|t| entered.is_some_and(|e| e <= t))
        })
        .filter(|c| q.is_none_or(|q| matches_q(c, q)))
        .collect();
    if !keys.is_empty() {
        crews.sort_by(|a, b| compare(a, b, &keys));
    }
    // Only crews honour `fields`.
    Ok(page_response(
        crews,
        query.get("fields"),
        page,
        per_page,
        &headers,
        "/crews",
        &query,
    ))
}

async fn read_crew(
    State(state): State<SmartHrState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = query_map(raw.as_deref());
    let inner = lock(&state.inner);
    let crew = inner.data[&Resource::Crews]
        .iter()
        .find(|c| c["id"] == id.as_str())
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    let crew = project(vec![crew], query.get("fields")).remove(0);
    Ok(axum::Json(crew).into_response())
}

/// Writable crew fields that hold text.
const TEXT_FIELDS: [&str; 13] = [
    "emp_code",
    "last_name",
    "first_name",
    "last_name_yomi",
    "first_name_yomi",
    "business_last_name",
    "business_first_name",
    "business_last_name_yomi",
    "business_first_name_yomi",
    "tel_number",
    "position",
    "occupation",
    "resigned_reason",
];

const DATE_FIELDS: [&str; 3] = ["birth_at", "entered_at", "resigned_at"];

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid("crew", "body", "must be a JSON object")),
        Err(e) => Err(ApiError::invalid(
            "crew",
            "body",
            format!("is not valid JSON: {e}"),
        )),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Checks a custom field value against its template's type; returns the
/// value to store (an enum choice is stored by id).
fn custom_value(template: &Value, value: &Value) -> Result<Value, String> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err("must be text or a number".into()),
    };
    match template["type"].as_str().unwrap_or_default() {
        "string" | "text" => Ok(Value::String(text)),
        "decimal" => text
            .trim()
            .parse::<f64>()
            .map(|_| Value::String(text.trim().to_string()))
            .map_err(|_| "must be a number".to_string()),
        "date" if seed::valid_date(&text) => Ok(Value::String(text)),
        "date" => Err("must be a date (YYYY-MM-DD)".into()),
        "enum" => template["elements"]
            .as_array()
            .and_then(|elements| {
                elements
                    .iter()
                    .find(|e| e["id"] == text.as_str() || e["physical_name"] == text.as_str())
            })
            .map(|e| e["id"].clone())
            .ok_or_else(|| "is not one of the field's choices".to_string()),
        "file" => Err("file fields cannot be set through this endpoint".into()),
        other => Err(format!("has an unknown type `{other}`")),
    }
}

/// Applies a write body to `crew` (a new crew's defaults, or the stored
/// one), checking every field as SmartHR would. Unknown keys are ignored.
fn apply_write(
    inner: &Inner,
    crew: &mut Map<String, Value>,
    body: &Map<String, Value>,
    creating: bool,
) -> Result<(), ApiError> {
    let invalid = |field: &str, message: &str| ApiError::invalid("crew", field, message);
    for field in TEXT_FIELDS {
        match body.get(field) {
            None => {}
            Some(Value::Null) => {
                crew.insert(field.into(), Value::Null);
            }
            Some(Value::String(s)) => {
                crew.insert(field.into(), Value::String(s.clone()));
            }
            Some(_) => return Err(invalid(field, "must be text")),
        }
    }
    for field in ["last_name", "first_name"] {
        let blank = crew
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(|s| s.trim().is_empty());
        if blank && (creating || body.contains_key(field)) {
            return Err(invalid(field, "can't be blank"));
        }
    }
    for field in DATE_FIELDS {
        match body.get(field) {
            None => {}
            Some(Value::Null) => {
                crew.insert(field.into(), Value::Null);
            }
            Some(Value::String(s)) if seed::valid_date(s) => {
                crew.insert(field.into(), Value::String(s.clone()));
            }
            Some(_) => return Err(invalid(field, "must be a date (YYYY-MM-DD)")),
        }
    }
    if let (Some(entered), Some(resigned)) = (
        crew.get("entered_at").and_then(Value::as_str),
        crew.get("resigned_at").and_then(Value::as_str),
    ) && resigned < entered
    {
        return Err(invalid("resigned_at", "must be on or after entered_at"));
    }
    match body.get("emp_status") {
        None => {}
        Some(Value::String(s)) if EMP_STATUSES.contains(&s.as_str()) => {
            crew.insert("emp_status".into(), Value::String(s.clone()));
        }
        Some(_) => {
            return Err(invalid(
                "emp_status",
                "must be one of employed, absent, retired",
            ));
        }
    }
    match body.get("gender") {
        None => {}
        Some(Value::Null) => {
            crew.insert("gender".into(), Value::Null);
        }
        Some(Value::String(s)) if GENDERS.contains(&s.as_str()) => {
            crew.insert("gender".into(), Value::String(s.clone()));
        }
        Some(_) => return Err(invalid("gender", "must be male or female")),
    }
    match body.get("email") {
        None => {}
        Some(Value::Null) => {
            crew.insert("email".into(), Value::Null);
        }
        Some(Value::String(s))
            if s.split_once('@')
                .is_some_and(|(a, b)| !a.is_empty() && b.contains('.')) =>
        {
            crew.insert("email".into(), Value::String(s.clone()));
        }
        Some(_) => return Err(invalid("email", "is invalid")),
    }
    if let Some(code) = crew.get("emp_code").and_then(Value::as_str) {
        let id = crew.get("id").cloned().unwrap_or(Value::Null);
        let taken = inner.data[&Resource::Crews]
            .iter()
            .any(|c| c["emp_code"] == code && c["id"] != id);
        if taken && body.contains_key("emp_code") {
            return Err(invalid("emp_code", "has already been taken"));
        }
    }
    match body.get("employment_type_id") {
        None => {}
        Some(Value::Null) => {
            crew.insert("employment_type".into(), Value::Null);
            crew.insert("emp_type".into(), Value::Null);
        }
        Some(id) => {
            let found = inner.data[&Resource::EmploymentTypes]
                .iter()
                .find(|t| t["id"] == *id)
                .ok_or_else(|| invalid("employment_type_id", "does not exist"))?;
            crew.insert("employment_type".into(), found.clone());
            crew.insert("emp_type".into(), found["preset_type"].clone());
        }
    }
    match body.get("biz_establishment_id") {
        None => {}
        Some(Value::Null) => {
            crew.insert("biz_establishment_id".into(), Value::Null);
        }
        Some(id) => {
            if !inner.data[&Resource::BizEstablishments]
                .iter()
                .any(|b| b["id"] == *id)
            {
                return Err(invalid("biz_establishment_id", "does not exist"));
            }
            crew.insert("biz_establishment_id".into(), id.clone());
        }
    }
    match body.get("department_ids") {
        None => {}
        Some(Value::Array(ids)) => {
            let mut departments = Vec::new();
            for id in ids {
                let d = inner.data[&Resource::Departments]
                    .iter()
                    .find(|d| d["id"] == *id)
                    .ok_or_else(|| {
                        invalid(
                            "department_ids",
                            "contains a department that does not exist",
                        )
                    })?;
                departments.push(json!({
                    "id": d["id"], "name": d["name"], "code": d["code"], "position": d["position"],
                }));
            }
            crew.insert(
                "department".into(),
                departments
                    .first()
                    .map(|d| d["name"].clone())
                    .unwrap_or(Value::Null),
            );
            crew.insert("departments".into(), Value::Array(departments));
        }
        Some(_) => return Err(invalid("department_ids", "must be a list of ids")),
    }
    match body.get("custom_fields") {
        None => {}
        Some(Value::Array(entries)) => {
            let mut current: Vec<Value> = crew
                .get("custom_fields")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for entry in entries {
                let template_id = entry["template_id"].clone();
                let template = inner.data[&Resource::CrewCustomFieldTemplates]
                    .iter()
                    .find(|t| t["id"] == template_id)
                    .ok_or_else(|| {
                        invalid("custom_fields", "refers to a template that does not exist")
                    })?;
                let value = custom_value(template, &entry["value"]).map_err(|m| {
                    ApiError::invalid(
                        "crew",
                        &format!("custom_fields.{}", template["name"].as_str().unwrap_or("?")),
                        &m,
                    )
                })?;
                current.retain(|f| f["template"]["id"] != template_id);
                if !value.is_null() {
                    current.push(seed::custom_field_entry(template, value));
                }
            }
            crew.insert("custom_fields".into(), Value::Array(current));
        }
        Some(_) => return Err(invalid("custom_fields", "must be a list")),
    }
    Ok(())
}

async fn create_crew(State(state): State<SmartHrState>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let mut inner = lock(&state.inner);
    let serial = inner.next_serial;
    let now = seed::format_time(now_secs());
    let mut crew = Map::new();
    for (key, value) in [
        ("id", json!(seed::uuid(seed::SALT_NEW_CREW, serial))),
        ("user_id", Value::Null),
        ("biz_establishment_id", Value::Null),
        ("emp_code", Value::Null),
        ("emp_type", Value::Null),
        ("employment_type", Value::Null),
        ("emp_status", json!("employed")),
        ("gender", Value::Null),
        ("email", Value::Null),
        ("department", Value::Null),
        ("departments", json!([])),
        ("custom_fields", json!([])),
    ] {
        crew.insert(key.into(), value);
    }
    for field in TEXT_FIELDS.iter().chain(DATE_FIELDS.iter()) {
        crew.entry(field.to_string()).or_insert(Value::Null);
    }
    apply_write(&inner, &mut crew, &body, true)?;
    crew.insert("created_at".into(), json!(now));
    crew.insert("updated_at".into(), json!(now));
    inner.next_serial += 1;
    let crew = Value::Object(crew);
    inner
        .data
        .get_mut(&Resource::Crews)
        .expect("crews are seeded")
        .push(crew.clone());
    Ok((StatusCode::CREATED, axum::Json(crew)).into_response())
}

async fn update_crew(
    State(state): State<SmartHrState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let mut inner = lock(&state.inner);
    let index = inner.data[&Resource::Crews]
        .iter()
        .position(|c| c["id"] == id.as_str())
        .ok_or_else(ApiError::not_found)?;
    let Value::Object(mut crew) = inner.data[&Resource::Crews][index].clone() else {
        return Err(ApiError::new(5, "Internal server error"));
    };
    apply_write(&inner, &mut crew, &body, false)?;
    crew.insert("updated_at".into(), json!(seed::format_time(now_secs())));
    let crew = Value::Object(crew);
    inner
        .data
        .get_mut(&Resource::Crews)
        .expect("crews are seeded")[index] = crew.clone();
    Ok(axum::Json(crew).into_response())
}

async fn delete_crew(
    State(state): State<SmartHrState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut inner = lock(&state.inner);
    let index = inner.data[&Resource::Crews]
        .iter()
        .position(|c| c["id"] == id.as_str())
        .ok_or_else(ApiError::not_found)?;
    // An administrator's own crew record cannot be deleted ([I]).
    let admin = inner.data[&Resource::Users]
        .iter()
        .any(|u| u["crew_id"] == id.as_str() && u["admin"] == true);
    if admin {
        return Err(ApiError::new(
            8,
            "The crew is linked to an administrator and cannot be deleted",
        ));
    }
    inner
        .data
        .get_mut(&Resource::Crews)
        .expect("crews are seeded")
        .remove(index);
    for user in inner
        .data
        .get_mut(&Resource::Users)
        .expect("users are seeded")
        .iter_mut()
    {
        if user["crew_id"] == id.as_str() {
            user["crew_id"] = Value::Null;
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
