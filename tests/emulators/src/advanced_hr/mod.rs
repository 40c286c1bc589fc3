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

use crate::oauth::{self, ClientConfig, OAuthServer};
use crate::server::{Server, TokenValidator};
use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

// ---------------------------------------------------------------------------
// State

/// Shared, cheap-to-clone handle on the emulator's state for tests.
#[derive(Clone)]
pub struct AdvancedHrState {
    inner: Arc<Mutex<Inner>>,
    validator: TokenValidator,
    base_path: Arc<str>,
}

impl std::fmt::Debug for AdvancedHrState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdvancedHrState")
            .field("base_path", &self.base_path)
            .finish_non_exhaustive()
    }
}

struct Inner {
    groups: BTreeMap<String, SecurityGroup>,
    employees: Vec<Value>,
    departments: Vec<Value>,
    positions: Vec<Value>,
    default_page_size: u32,
    max_page_size: u32,
    rate_limit: Option<RateLimit>,
    windows: HashMap<String, (Instant, u32)>,
    throttles: VecDeque<u32>,
    failures: VecDeque<u16>,
    requests: Vec<RequestRecord>,
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl AdvancedHrState {
    fn new(config: &Config) -> Self {
        let seed = seed(config.employee_count);
        let inner = Inner {
            groups: config.groups.clone(),
            employees: seed.employees,
            departments: seed.departments,
            positions: seed.positions,
            default_page_size: config.default_page_size.max(1),
            max_page_size: config.max_page_size.max(1),
            rate_limit: config.rate_limit,
            windows: HashMap::new(),
            throttles: VecDeque::new(),
            failures: VecDeque::new(),
            requests: Vec::new(),
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
            validator: config.validator.clone(),
            base_path: config.base_path.trim_end_matches('/').into(),
        }
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner).requests.clone()
    }

    /// How many requests were answered.
    pub fn request_count(&self) -> usize {
        lock(&self.inner).requests.len()
    }

    /// Answers the next `count` authenticated requests with 429 and
    /// `Retry-After: retry_after_seconds`.
    pub fn throttle_next(&self, count: usize, retry_after_seconds: u32) {
        lock(&self.inner)
            .throttles
            .extend(std::iter::repeat_n(retry_after_seconds, count));
    }

    /// Answers the next `count` requests with `status` (a JSON error body),
    /// before any other check.
    pub fn fail_next(&self, count: usize, status: u16) {
        lock(&self.inner)
            .failures
            .extend(std::iter::repeat_n(status, count));
    }

    /// Binds `client_id` to `group` (replacing its group).
    pub fn set_group(&self, client_id: &str, group: SecurityGroup) {
        lock(&self.inner).groups.insert(client_id.into(), group);
    }

    /// Unbinds `client_id` from its group; its requests then get 403.
    pub fn remove_group(&self, client_id: &str) {
        lock(&self.inner).groups.remove(client_id);
    }

    /// Every employee with all fields, in id order.
    pub fn employees(&self) -> Vec<Value> {
        lock(&self.inner).employees.clone()
    }

    /// One employee with all fields.
    pub fn employee(&self, id: &str) -> Option<Value> {
        lock(&self.inner)
            .employees
            .iter()
            .find(|e| e["id"] == id)
            .cloned()
    }

    /// Changes an employee and stamps `updatedAt` with the current time, as
    /// an edit in Advanced HR would. Returns whether the employee exists.
    pub fn update_employee(&self, id: &str, change: impl FnOnce(&mut Map<String, Value>)) -> bool {
        let mut inner = lock(&self.inner);
        let Some(Value::Object(employee)) = inner.employees.iter_mut().find(|e| e["id"] == id)
        else {
            return false;
        };
        change(employee);
        employee.insert(
            "updatedAt".into(),
            Value::String(format_timestamp(now_secs())),
        );
        true
    }

    /// Adds an employee (an object with at least a string `id`), keeping id
    /// order.
    pub fn insert_employee(&self, employee: Value) {
        let mut inner = lock(&self.inner);
        let id = employee["id"].as_str().unwrap_or_default().to_string();
        inner.employees.retain(|e| e["id"] != id.as_str());
        inner.employees.push(employee);
        inner
            .employees
            .sort_by(|a, b| id_order(&a["id"]).cmp(&id_order(&b["id"])));
    }

    /// Every department.
    pub fn departments(&self) -> Vec<Value> {
        lock(&self.inner).departments.clone()
    }

    /// Every position.
    pub fn positions(&self) -> Vec<Value> {
        lock(&self.inner).positions.clone()
    }
}

/// Numeric ids sort numerically, others after them alphabetically.
fn id_order(id: &Value) -> (u64, String) {
    let text = id.as_str().unwrap_or_default();
    (text.parse().unwrap_or(u64::MAX), text.to_string())
}

// ---------------------------------------------------------------------------
// HTTP

/// The client a handler served, for the request log.
#[derive(Clone)]
struct ServedClient(String);

/// An error answer: `{"status", "error", "message"}` and its headers.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    /// The authenticated client, when the error came after authentication.
    client_id: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
            client_id: None,
        }
    }

    fn bad_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", message)
    }

    fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    fn for_client(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_string());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "status": self.status.as_u16(),
            "error": self.code,
            "message": self.message,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().extend(self.headers);
        if let Some(client_id) = self.client_id {
            response.extensions_mut().insert(ServedClient(client_id));
        }
        response
    }
}

fn router(state: AdvancedHrState) -> Router {
    let api = Router::new()
        .route("/employees", get(list_employees))
        .route("/employees/search", get(search_employees))
        .route("/employees/{id}", get(read_employee))
        .route("/departments", get(list_departments))
        .route("/positions", get(list_positions))
        .fallback(|request: Request| async move {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!(
                    "no resource at {} {}",
                    request.method(),
                    request.uri().path()
                ),
            )
        });
    let api = api.layer(middleware::from_fn_with_state(state.clone(), record));
    let base = state.base_path.to_string();
    let router = if base.is_empty() {
        api
    } else {
        Router::new().nest(&base, api)
    };
    router.with_state(state)
}

/// Logs every request and answers injected failures before anything else.
async fn record(State(state): State<AdvancedHrState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let injected = lock(&state.inner).failures.pop_front();
    let response = match injected {
        Some(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            ApiError::new(status, "injected_failure", "injected failure").into_response()
        }
        None => next.run(request).await,
    };
    let client_id = response
        .extensions()
        .get::<ServedClient>()
        .map(|c| c.0.clone());
    lock(&state.inner).requests.push(RequestRecord {
        method,
        path,
        query,
        client_id,
        status: response.status().as_u16(),
    });
    response
}

/// Who is calling and what their group lets them see.
struct Caller {
    client_id: String,
    sensitive: bool,
}

impl Caller {
    /// The handler's answer, tagged with the client for the request log.
    fn answer(&self, result: Result<Value, ApiError>) -> Response {
        match result {
            Ok(body) => {
                let mut response = axum::Json(body).into_response();
                response
                    .extensions_mut()
                    .insert(ServedClient(self.client_id.clone()));
                response
            }
            Err(err) => err.for_client(&self.client_id).into_response(),
        }
    }
}

/// Authentication, rate limit and security group, in that order.
fn admit(state: &AdvancedHrState, headers: &HeaderMap, area: Area) -> Result<Caller, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let Some(token) = token else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "an access token is required: send Authorization: Bearer <token>",
        )
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"advanced-hr\""),
        ));
    };
    let Some(info) = (state.validator)(token) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the access token is invalid or has expired",
        )
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"advanced-hr\", error=\"invalid_token\""),
        ));
    };
    let client_id = info.client_id;
    let mut inner = lock(&state.inner);
    if let Some(retry_after) = inner.throttles.pop_front() {
        return Err(too_many_requests(retry_after, None).for_client(&client_id));
    }
    if let Some(limit) = inner.rate_limit {
        let now = Instant::now();
        let window = inner.windows.entry(client_id.clone()).or_insert((now, 0));
        if now.duration_since(window.0) >= limit.window {
            *window = (now, 0);
        }
        if window.1 >= limit.requests {
            let left = limit.window.saturating_sub(now.duration_since(window.0));
            let retry_after = left.as_secs() as u32 + u32::from(left.subsec_nanos() > 0);
            return Err(too_many_requests(retry_after.max(1), Some(limit)).for_client(&client_id));
        }
        window.1 += 1;
    }
    let Some(group) = inner.groups.get(&client_id) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("API client `{client_id}` is not bound to a security group"),
        )
        .for_client(&client_id));
    };
    if !group.allows(area) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "security group `{}` does not grant access to {}",
                group.name,
                area.noun()
            ),
        )
        .for_client(&client_id));
    }
    Ok(Caller {
        sensitive: group.allows(Area::SensitiveFields),
        client_id,
    })
}

fn too_many_requests(retry_after: u32, limit: Option<RateLimit>) -> ApiError {
    let message = match limit {
        Some(l) => format!(
            "rate limit of {} requests per {} seconds exceeded; retry after {retry_after} seconds",
            l.requests,
            l.window.as_secs()
        ),
        None => format!("too many requests; retry after {retry_after} seconds"),
    };
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
        .header(header::RETRY_AFTER, HeaderValue::from(retry_after))
}

/// Query parameters, the last value of each winning.
fn query_map(raw: Option<String>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// `page` and `pageSize`, validated.
fn paging(inner: &Inner, query: &BTreeMap<String, String>) -> Result<(u32, u32), ApiError> {
    let number = |name: &str, default: u32, max: u32| -> Result<u32, ApiError> {
        match query.get(name).map(|v| v.trim()) {
            None | Some("") => Ok(default),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_parameter(format!(
                    "`{name}` must be an integer from 1 to {max}, not `{v}`"
                ))),
            },
        }
    };
    Ok((
        number("page", 1, u32::MAX)?,
        number(
            "pageSize",
            inner.default_page_size.min(inner.max_page_size),
            inner.max_page_size,
        )?,
    ))
}

fn page_of(items: Vec<Value>, page: u32, page_size: u32) -> Value {
    let total = items.len();
    let size = page_size as usize;
    let total_pages = total.div_ceil(size);
    let start = (page as usize - 1).saturating_mul(size);
    let data: Vec<Value> = items.into_iter().skip(start).take(size).collect();
    json!({
        "data": data,
        "page": page,
        "pageSize": page_size,
        "totalCount": total,
        "totalPages": total_pages,
    })
}

/// Sensitive fields, left out unless the security group grants them.
pub const SENSITIVE_FIELDS: [&str; 5] = [
    "dateOfBirth",
    "niNumber",
    "salary",
    "homeAddress",
    "personalMobile",
];

fn visible(employee: &Value, caller: &Caller) -> Value {
    let mut employee = employee.clone();
    if !caller.sensitive
        && let Value::Object(map) = &mut employee
    {
        for field in SENSITIVE_FIELDS {
            map.remove(field);
        }
    }
    employee
}

const STATUSES: [&str; 3] = ["Active", "Leaver", "Pending"];

/// The `status` filter in its canonical spelling.
fn status_filter(query: &BTreeMap<String, String>) -> Result<Option<&'static str>, ApiError> {
    match query.get("status").map(|s| s.trim()) {
        None | Some("") => Ok(None),
        Some(s) => STATUSES
            .iter()
            .find(|known| known.eq_ignore_ascii_case(s))
            .map(|known| Some(*known))
            .ok_or_else(|| {
                ApiError::bad_parameter(format!(
                    "`status` must be one of {}, not `{s}`",
                    STATUSES.join(", ")
                ))
            }),
    }
}

fn updated_since_filter(query: &BTreeMap<String, String>) -> Result<Option<i64>, ApiError> {
    match query.get("updatedSince").map(|s| s.trim()) {
        None | Some("") => Ok(None),
        Some(s) => parse_timestamp(s).map(Some).ok_or_else(|| {
            ApiError::bad_parameter(format!(
                "`updatedSince` must be an ISO 8601 date (2024-05-01) or date-time (2024-05-01T09:00:00Z), not `{s}`"
            ))
        }),
    }
}

fn employee_page(
    inner: &Inner,
    caller: &Caller,
    query: &BTreeMap<String, String>,
) -> Result<Value, ApiError> {
    let (page, page_size) = paging(inner, query)?;
    let status = status_filter(query)?;
    let updated_since = updated_since_filter(query)?;
    let department = query.get("departmentId").filter(|d| !d.is_empty());
    let items: Vec<Value> = inner
        .employees
        .iter()
        .filter(|e| status.is_none_or(|s| e["status"] == s))
        .filter(|e| department.is_none_or(|d| e["departmentId"] == d.as_str()))
        .filter(|e| {
            updated_since.is_none_or(|since| {
                e["updatedAt"]
                    .as_str()
                    .and_then(parse_timestamp)
                    .is_some_and(|t| t >= since)
            })
        })
        .map(|e| visible(e, caller))
        .collect();
    Ok(page_of(items, page, page_size))
}

fn search_page(
    inner: &Inner,
    caller: &Caller,
    query: &BTreeMap<String, String>,
) -> Result<Value, ApiError> {
    let (page, page_size) = paging(inner, query)?;
    let status = status_filter(query)?;
    let q = query.get("q").map(|q| q.trim()).unwrap_or("");
    if q.chars().count() < 2 {
        return Err(ApiError::bad_parameter(
            "`q` must have at least 2 characters",
        ));
    }
    let needle = q.to_lowercase();
    let items: Vec<Value> = inner
        .employees
        .iter()
        .filter(|e| status.is_none_or(|s| e["status"] == s))
        .filter(|e| matches_search(e, &needle))
        .map(|e| visible(e, caller))
        .collect();
    Ok(page_of(items, page, page_size))
}

/// Case-insensitive substring match on names, full name, employee number and
/// work email.
fn matches_search(employee: &Value, needle: &str) -> bool {
    let text = |field: &str| employee[field].as_str().unwrap_or("").to_lowercase();
    let full = format!("{} {}", text("firstName"), text("lastName"));
    let preferred = format!("{} {}", text("preferredName"), text("lastName"));
    [
        text("firstName"),
        text("lastName"),
        text("preferredName"),
        full,
        preferred,
        text("employeeNumber"),
        text("workEmail"),
    ]
    .iter()
    .any(|candidate| candidate.contains(needle))
}

async fn list_employees(
    State(state): State<AdvancedHrState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let caller = match admit(&state, &headers, Area::Employees) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let inner = lock(&state.inner);
    caller.answer(employee_page(&inner, &caller, &query_map(raw)))
}

async fn search_employees(
    State(state): State<AdvancedHrState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let caller = match admit(&state, &headers, Area::Employees) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let inner = lock(&state.inner);
    caller.answer(search_page(&inner, &caller, &query_map(raw)))
}

async fn read_employee(
    State(state): State<AdvancedHrState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match admit(&state, &headers, Area::Employees) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let inner = lock(&state.inner);
    let found = inner
        .employees
        .iter()
        .find(|e| e["id"] == id.as_str())
        .map(|e| visible(e, &caller))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no employee with id `{id}`"),
            )
        });
    caller.answer(found)
}

async fn list_departments(
    State(state): State<AdvancedHrState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let caller = match admit(&state, &headers, Area::Departments) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let inner = lock(&state.inner);
    let result = paging(&inner, &query_map(raw))
        .map(|(page, size)| page_of(inner.departments.clone(), page, size));
    caller.answer(result)
}

async fn list_positions(
    State(state): State<AdvancedHrState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let caller = match admit(&state, &headers, Area::Positions) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let query = query_map(raw);
    let inner = lock(&state.inner);
    let department = query.get("departmentId").filter(|d| !d.is_empty());
    let result = paging(&inner, &query).map(|(page, size)| {
        let items = inner
            .positions
            .iter()
            .filter(|p| department.is_none_or(|d| p["departmentId"] == d.as_str()))
            .cloned()
            .collect();
        page_of(items, page, size)
    });
    caller.answer(result)
}

// ---------------------------------------------------------------------------
// Dates (proleptic Gregorian, UTC)

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

fn format_timestamp(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        format_date(days),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses an ISO 8601 date (`2024-05-01`, midnight UTC) or date-time
/// (`2024-05-01T09:30:00Z`, `…T09:30+01:00`, fractions allowed; no offset
/// means UTC) into Unix seconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year = digits(0..4)?;
    let month = u32::try_from(digits(5..7)?).ok()?;
    let day = u32::try_from(digits(8..10)?).ok()?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let date = days_from_civil(year, month, day) * 86_400;
    if bytes.len() == 10 {
        return Some(date);
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') || bytes.len() < 16 || bytes[13] != b':' {
        return None;
    }
    let hour = digits(11..13)?;
    let minute = digits(14..16)?;
    let mut pos = 16;
    let mut second = 0;
    if bytes.get(pos) == Some(&b':') {
        second = digits(pos + 1..pos + 3)?;
        pos += 3;
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            let start = pos;
            while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
                pos += 1;
            }
            if pos == start {
                return None;
            }
        }
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let offset = match &text[pos..] {
        "" | "Z" | "z" => 0,
        zone => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let rest = &zone[1..];
            let (h, m) = match rest.len() {
                5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
                4 => (&rest[..2], &rest[2..]),
                2 => (rest, "00"),
                _ => return None,
            };
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 || !rest.bytes().all(|b| b.is_ascii_digit() || b == b':') {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    Some(date + hour * 3600 + minute * 60 + second - offset)
}

// ---------------------------------------------------------------------------
// Seed data

/// splitmix64 of an index and a salt: each field of each record is a pure
/// function of its index, so record 17 is the same whatever the count.
fn mix(index: usize, salt: u64) -> u64 {
    let mut z = (index as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<T: Copy>(items: &[T], index: usize, salt: u64) -> T {
    items[(mix(index, salt) % items.len() as u64) as usize]
}

/// `(code, name, parent code, office)`; the first is the root.
const DEPARTMENTS: [(&str, &str, Option<&str>, &str); 12] = [
    ("EXEC", "Executive Office", None, "London"),
    ("FIN", "Finance", Some("EXEC"), "London"),
    ("PAY", "Payroll", Some("FIN"), "Leeds"),
    ("HR", "People & HR", Some("EXEC"), "Manchester"),
    ("IT", "Technology", Some("EXEC"), "Manchester"),
    ("OPS", "Operations", Some("EXEC"), "Birmingham"),
    ("LOG", "Logistics", Some("OPS"), "Birmingham"),
    ("CS", "Customer Services", Some("OPS"), "Glasgow"),
    ("SAL", "Sales", Some("EXEC"), "London"),
    ("MKT", "Marketing", Some("SAL"), "Bristol"),
    ("LEG", "Legal & Compliance", Some("EXEC"), "London"),
    ("FAC", "Facilities", Some("OPS"), "Cardiff"),
];

/// Relative sizes of departments when staff are assigned.
const DEPARTMENT_WEIGHTS: [u64; 12] = [1, 4, 3, 4, 8, 10, 12, 12, 8, 4, 2, 3];

/// `(department code, title, grade, active)`; each department's first
/// position is its head.
const POSITIONS: [(&str, &str, u8, bool); 50] = [
    ("EXEC", "Chief Executive Officer", 10, true),
    ("EXEC", "Executive Assistant", 4, true),
    ("EXEC", "Chief Operating Officer", 10, true),
    ("FIN", "Finance Director", 9, true),
    ("FIN", "Management Accountant", 6, true),
    ("FIN", "Financial Analyst", 5, true),
    ("FIN", "Accounts Payable Clerk", 3, true),
    ("FIN", "Credit Controller", 3, true),
    ("PAY", "Payroll Manager", 7, true),
    ("PAY", "Payroll Officer", 4, true),
    ("PAY", "Pensions Administrator", 4, true),
    ("HR", "HR Director", 9, true),
    ("HR", "HR Business Partner", 6, true),
    ("HR", "HR Advisor", 4, true),
    ("HR", "Recruitment Coordinator", 3, true),
    ("HR", "Learning & Development Lead", 6, true),
    ("IT", "Head of Technology", 9, true),
    ("IT", "Software Engineer", 6, true),
    ("IT", "Senior Software Engineer", 7, true),
    ("IT", "IT Service Desk Analyst", 3, true),
    ("IT", "Infrastructure Engineer", 6, true),
    ("IT", "Data Analyst", 5, true),
    ("OPS", "Operations Director", 9, true),
    ("OPS", "Operations Manager", 7, true),
    ("OPS", "Shift Supervisor", 4, true),
    ("OPS", "Production Operative", 2, true),
    ("OPS", "Data Entry Clerk", 2, false),
    ("LOG", "Logistics Manager", 7, true),
    ("LOG", "Warehouse Operative", 2, true),
    ("LOG", "HGV Driver", 3, true),
    ("LOG", "Transport Planner", 4, true),
    ("CS", "Customer Services Manager", 7, true),
    ("CS", "Customer Service Advisor", 2, true),
    ("CS", "Complaints Specialist", 3, true),
    ("CS", "Team Leader", 4, true),
    ("SAL", "Sales Director", 9, true),
    ("SAL", "Account Manager", 5, true),
    ("SAL", "Business Development Executive", 5, true),
    ("SAL", "Sales Coordinator", 3, true),
    ("MKT", "Marketing Manager", 7, true),
    ("MKT", "Marketing Executive", 4, true),
    ("MKT", "Content Designer", 5, true),
    ("LEG", "General Counsel", 9, true),
    ("LEG", "Compliance Officer", 6, true),
    ("LEG", "Paralegal", 4, true),
    ("LEG", "Company Secretary", 7, false),
    ("FAC", "Facilities Manager", 6, true),
    ("FAC", "Maintenance Technician", 3, true),
    ("FAC", "Receptionist", 2, true),
    ("FAC", "Cleaner", 2, true),
];

/// `(first name, feminine, preferred name)`.
const FIRST_NAMES: [(&str, bool, Option<&str>); 48] = [
    ("Oliver", false, Some("Ollie")),
    ("George", false, None),
    ("Harry", false, None),
    ("Jack", false, None),
    ("Thomas", false, Some("Tom")),
    ("William", false, Some("Will")),
    ("James", false, Some("Jim")),
    ("Mohammed", false, None),
    ("Arjun", false, None),
    ("Daniel", false, Some("Dan")),
    ("Samuel", false, Some("Sam")),
    ("Joseph", false, Some("Joe")),
    ("Ryan", false, None),
    ("Liam", false, None),
    ("Callum", false, None),
    ("Rhys", false, None),
    ("Kwame", false, None),
    ("Christopher", false, Some("Chris")),
    ("Robert", false, Some("Rob")),
    ("Alexander", false, Some("Alex")),
    ("Michael", false, Some("Mike")),
    ("Stephen", false, None),
    ("Tomasz", false, None),
    ("Declan", false, None),
    ("Olivia", true, None),
    ("Amelia", true, Some("Millie")),
    ("Isla", true, None),
    ("Emily", true, None),
    ("Sophie", true, None),
    ("Charlotte", true, Some("Lottie")),
    ("Priya", true, None),
    ("Aisha", true, None),
    ("Grace", true, None),
    ("Chloe", true, None),
    ("Hannah", true, None),
    ("Rebecca", true, Some("Becky")),
    ("Elizabeth", true, Some("Beth")),
    ("Katherine", true, Some("Kate")),
    ("Megan", true, None),
    ("Siobhan", true, None),
    ("Eilidh", true, None),
    ("Niamh", true, None),
    ("Zainab", true, None),
    ("Margaret", true, Some("Maggie")),
    ("Joanne", true, Some("Jo")),
    ("Agnieszka", true, None),
    ("Folake", true, None),
    ("Sarah", true, None),
];

#[rustfmt::skip]
const LAST_NAMES: [&str; 64] = [
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "Khan",
    "Scott",
    "Begum",
    "Singh",
    "Ali",
    "Hussain",
    "Campbell",
    "Macdonald",
    "Stewart",
    "O'Brien",
    "Murphy",
    "Kowalski",
    "Nowak",
    "Okafor",
    "Mensah",
    "Chowdhury",
    "Kaur",
    "Fitzgerald",
    "Price",
    "Griffiths",
    "Llewellyn",
    "Ferguson",
    "Byrne",
    "Ahmed",
];

/// `(office, work phone prefix inside Ofcom's drama range, home postcode districts)`.
const OFFICES: [(&str, &str, &[&str]); 8] = [
    (
        "London",
        "+44 20 7946 0",
        &["SE15", "N7", "E17", "SW11", "W5"],
    ),
    ("Manchester", "+44 161 496 0", &["M14", "M20", "SK4", "M21"]),
    ("Leeds", "+44 113 496 0", &["LS6", "LS8", "LS17"]),
    ("Birmingham", "+44 121 496 0", &["B13", "B29", "B17"]),
    ("Bristol", "+44 117 496 0", &["BS6", "BS3", "BS7"]),
    ("Glasgow", "+44 141 496 0", &["G12", "G41", "G31"]),
    ("Cardiff", "+44 29 2018 0", &["CF14", "CF24", "CF5"]),
    ("Belfast", "+44 28 9649 6", &["BT7", "BT9", "BT4"]),
];

const STREETS: [&str; 12] = [
    "Station Road",
    "Church Street",
    "Victoria Road",
    "Park Avenue",
    "Mill Lane",
    "Queen's Road",
    "High Street",
    "Albert Terrace",
    "Elm Grove",
    "Kingsway",
    "Chapel Lane",
    "Windsor Close",
];

/// Valid National Insurance prefixes (no D, F, I, Q, U, V; no O second).
const NI_PREFIXES: [&str; 12] = [
    "AB", "CE", "GH", "JK", "LM", "NP", "PR", "ST", "WX", "YZ", "HJ", "RW",
];

/// Annual full-time salary band in pounds per grade (2 to 10).
fn salary_band(grade: u8) -> (u64, u64) {
    match grade {
        2 => (22_000, 26_000),
        3 => (25_000, 31_000),
        4 => (29_000, 36_000),
        5 => (34_000, 44_000),
        6 => (42_000, 55_000),
        7 => (52_000, 68_000),
        9 => (85_000, 120_000),
        _ => (140_000, 190_000),
    }
}

struct Seed {
    departments: Vec<Value>,
    positions: Vec<Value>,
    employees: Vec<Value>,
}

fn department_id(index: usize) -> String {
    format!("DEP{:03}", index + 1)
}

fn position_id(index: usize) -> String {
    format!("POS{:03}", index + 1)
}

fn employee_id(index: usize) -> String {
    (10_001 + index).to_string()
}

fn department_index(code: &str) -> usize {
    DEPARTMENTS
        .iter()
        .position(|d| d.0 == code)
        .unwrap_or_default()
}

fn seed(count: usize) -> Seed {
    let head_count = DEPARTMENTS.len().min(count);
    let positions: Vec<Value> = POSITIONS
        .iter()
        .enumerate()
        .map(|(i, (dept, title, grade, active))| {
            let code: String = title
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(|w| w[..1].to_ascii_uppercase())
                .collect();
            json!({
                "id": position_id(i),
                "code": format!("{dept}-{code}"),
                "title": title,
                "departmentId": department_id(department_index(dept)),
                "grade": format!("G{grade}"),
                "isActive": active,
            })
        })
        .collect();

    let mut used_emails = HashSet::new();
    let mut employees = Vec::with_capacity(count);
    for i in 0..count {
        // The first twelve employees head the departments, in order.
        let heads = DEPARTMENTS.get(i).filter(|_| i < head_count);
        let (dept, position) = if let Some((code, ..)) = heads {
            let head = POSITIONS.iter().position(|p| p.0 == *code).unwrap_or(0);
            (i, head)
        } else {
            let total: u64 = DEPARTMENT_WEIGHTS.iter().sum();
            let mut roll = mix(i, 1) % total;
            let mut dept = 0;
            for (d, weight) in DEPARTMENT_WEIGHTS.iter().enumerate() {
                if roll < *weight {
                    dept = d;
                    break;
                }
                roll -= weight;
            }
            let code = DEPARTMENTS[dept].0;
            let candidates: Vec<usize> = POSITIONS
                .iter()
                .enumerate()
                .filter(|(_, p)| p.0 == code && p.3)
                .map(|(p, _)| p)
                .skip(1)
                .collect();
            (dept, pick(&candidates, i, 2))
        };
        let head_of = |d: usize| (d < head_count).then(|| employee_id(d));
        let manager = if i < head_count {
            DEPARTMENTS[dept]
                .2
                .and_then(|parent| head_of(department_index(parent)))
        } else {
            head_of(dept)
        };
        employees.push(employee(i, dept, position, manager, &mut used_emails));
    }

    let departments = DEPARTMENTS
        .iter()
        .enumerate()
        .map(|(i, (code, name, parent, office))| {
            json!({
                "id": department_id(i),
                "code": code,
                "name": name,
                "parentId": parent.map(|p| department_id(department_index(p))),
                "costCentre": format!("CC{}", 1000 + 10 * (i + 1)),
                "managerId": (i < head_count).then(|| employee_id(i)),
                "location": office,
                "isActive": true,
            })
        })
        .collect();
    Seed {
        departments,
        positions,
        employees,
    }
}

fn employee(
    i: usize,
    dept: usize,
    position: usize,
    manager: Option<String>,
    used_emails: &mut HashSet<String>,
) -> Value {
    let head = i < DEPARTMENTS.len();
    let (first, feminine, nickname) = pick(&FIRST_NAMES, i, 3);
    let last = pick(&LAST_NAMES, i, 4);
    let preferred = nickname.filter(|_| mix(i, 5) % 10 < 4);
    let title = match (feminine, mix(i, 6) % 20) {
        (_, 0) => "Dr",
        (_, 1) => "Mx",
        (true, 2..=8) => "Mrs",
        (true, 9..=10) => "Miss",
        (true, _) => "Ms",
        (false, _) => "Mr",
    };

    let local = |s: &str| -> String {
        s.to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect()
    };
    let base = format!("{}.{}", local(first), local(last));
    let mut email = format!("{base}@hartwell-group.example");
    let mut n = 2;
    while !used_emails.insert(email.clone()) {
        email = format!("{base}{n}@hartwell-group.example");
        n += 1;
    }

    let (_, _, _, dept_office) = DEPARTMENTS[dept];
    // Most people sit in their department's office; some elsewhere.
    let office = if mix(i, 7).is_multiple_of(4) {
        pick(&OFFICES, i, 8)
    } else {
        *OFFICES
            .iter()
            .find(|o| o.0 == dept_office)
            .unwrap_or(&OFFICES[0])
    };
    let (office_name, phone_prefix, districts) = office;

    // Dates: anchored on 2025-09-30, the seed's "today".
    let today = days_from_civil(2025, 9, 30);
    let status_roll = mix(i, 33) % 100;
    let status = if head || status_roll < 83 {
        "Active"
    } else if status_roll < 94 {
        "Leaver"
    } else {
        "Pending"
    };
    let start = match status {
        "Pending" => today + 14 + (mix(i, 10) % 90) as i64,
        _ if head => days_from_civil(2008, 1, 7) + (mix(i, 10) % 3650) as i64,
        _ => {
            let first = days_from_civil(2010, 1, 4);
            first + (mix(i, 10) % (today - 30 - first) as u64) as i64
        }
    };
    let leave = (status == "Leaver").then(|| {
        let span = (today - start).max(2) as u64;
        start + 1 + (mix(i, 11) % (span - 1)) as i64
    });
    let updated_floor = leave
        .unwrap_or(start)
        .clamp(days_from_civil(2024, 1, 1), today);
    let updated_day = updated_floor + (mix(i, 12) % ((today - updated_floor + 1) as u64)) as i64;
    let updated_at = updated_day * 86_400 + 7 * 3600 + (mix(i, 13) % (11 * 3600)) as i64;
    let (start_year, _, _) = civil_from_days(start);
    let birth = days_from_civil(start_year - 19 - (mix(i, 14) % 30) as i64, 1, 1)
        + (mix(i, 15) % 365) as i64;

    let (_, _, grade, _) = POSITIONS[position];
    let zero_hours = grade <= 3 && !head && mix(i, 16).is_multiple_of(10);
    let fixed_term = !zero_hours && !head && mix(i, 16) % 10 == 1;
    let contract = if zero_hours {
        "Zero Hours"
    } else if fixed_term {
        "Fixed Term"
    } else {
        "Permanent"
    };
    let weekly_hours: f64 = if zero_hours {
        0.0
    } else if head || !mix(i, 17).is_multiple_of(5) {
        37.5
    } else {
        pick(&[22.5, 30.0, 18.75], i, 18)
    };
    let pattern = if zero_hours {
        "Variable"
    } else if weekly_hours >= 37.5 {
        "Full Time"
    } else {
        "Part Time"
    };
    let fte = (weekly_hours / 37.5 * 100.0).round() / 100.0;
    let salary = if zero_hours {
        let pence = 1221 + mix(i, 19) % 300;
        json!({"amount": pence as f64 / 100.0, "currency": "GBP", "frequency": "Hourly"})
    } else {
        let (low, high) = salary_band(grade);
        let full_time = low + (mix(i, 19) % (high - low)) / 250 * 250;
        let amount = (full_time as f64 * fte).round();
        json!({"amount": amount, "currency": "GBP", "frequency": "Annual"})
    };

    let ni = format!(
        "{}{:06}{}",
        pick(&NI_PREFIXES, i, 20),
        mix(i, 21) % 1_000_000,
        pick(&['A', 'B', 'C', 'D'], i, 22)
    );
    const POSTCODE_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
    let letter = |salt: u64| {
        POSTCODE_LETTERS[(mix(i, salt) % POSTCODE_LETTERS.len() as u64) as usize] as char
    };
    let postcode = format!(
        "{} {}{}{}",
        pick(districts, i, 23),
        1 + mix(i, 24) % 9,
        letter(25),
        letter(26)
    );
    let line2 = (mix(i, 27).is_multiple_of(4)).then(|| format!("Flat {}", 1 + mix(i, 28) % 12));

    json!({
        "id": employee_id(i),
        "employeeNumber": format!("ADV{:05}", i + 1),
        "title": title,
        "firstName": first,
        "lastName": last,
        "preferredName": preferred,
        "displayName": format!("{} {}", preferred.unwrap_or(first), last),
        "workEmail": email,
        "workPhone": format!("{phone_prefix}{:03}", mix(i, 29) % 1000),
        "status": status,
        "startDate": format_date(start),
        "leaveDate": leave.map(format_date),
        "departmentId": department_id(dept),
        "departmentName": DEPARTMENTS[dept].1,
        "positionId": position_id(position),
        "jobTitle": POSITIONS[position].1,
        "managerId": manager,
        "location": office_name,
        "contractType": contract,
        "workingPattern": pattern,
        "weeklyHours": weekly_hours,
        "fte": fte,
        "updatedAt": format_timestamp(updated_at),
        "dateOfBirth": format_date(birth),
        "niNumber": ni,
        "salary": salary,
        "homeAddress": {
            "line1": format!("{} {}", 1 + mix(i, 30) % 180, pick(&STREETS, i, 31)),
            "line2": line2,
            "town": office_name,
            "postcode": postcode,
            "country": "United Kingdom",
        },
        "personalMobile": format!("+44 7700 900{:03}", mix(i, 32) % 1000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1, 0, 59, 10_957, 19_358, 20_361] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn timestamps_parse_iso_8601_forms() {
        assert_eq!(parse_timestamp("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_timestamp("2023-11-14T23:13:20.250+01:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_timestamp("2023-11-14T22:13Z"), Some(1_699_999_980));
        assert_eq!(parse_timestamp("2023-11-14"), Some(1_699_920_000));
        for bad in [
            "2023-02-29",
            "2023-13-01",
            "yesterday",
            "2023-11-14T25:00:00Z",
            "2023-11-14T10:00:00+1",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn seed_is_deterministic_and_consistent() {
        let a = seed(200);
        let b = seed(200);
        assert_eq!(a.employees, b.employees);
        assert_eq!(a.employees.len(), 200);
        assert_eq!(seed(20).employees[..20], a.employees[..20]);
        let emails: HashSet<_> = a.employees.iter().map(|e| e["workEmail"].clone()).collect();
        assert_eq!(emails.len(), 200, "work emails are unique");
        for e in &a.employees {
            let position = a
                .positions
                .iter()
                .find(|p| p["id"] == e["positionId"])
                .unwrap();
            assert_eq!(position["departmentId"], e["departmentId"]);
            assert_eq!(position["title"], e["jobTitle"]);
            assert!(position["isActive"].as_bool().unwrap());
            if let Some(manager) = e["managerId"].as_str() {
                assert!(a.employees.iter().any(|m| m["id"] == manager));
            }
            let ni = e["niNumber"].as_str().unwrap();
            assert_eq!(ni.len(), 9);
            assert!(parse_timestamp(e["updatedAt"].as_str().unwrap()).is_some());
            if let Some(leave) = e["leaveDate"].as_str() {
                assert!(leave > e["startDate"].as_str().unwrap());
            }
        }
        let statuses: HashSet<_> = a.employees.iter().map(|e| e["status"].clone()).collect();
        assert_eq!(statuses.len(), 3, "all statuses occur");
    }
}
