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

use crate::oauth::{self, ClientConfig, OAuthServer};
use crate::server::{Server, TokenValidator};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use filter::{CORE_USER, get_ci};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

// ---------------------------------------------------------------------------
// State

/// Shared, cheap-to-clone handle on the emulator's state for tests.
#[derive(Clone)]
pub struct ScimState {
    inner: Arc<Mutex<Inner>>,
    validator: TokenValidator,
    base_path: Arc<str>,
    read_scope: Arc<str>,
    write_scope: Arc<str>,
}

impl std::fmt::Debug for ScimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimState")
            .field("base_path", &self.base_path)
            .finish_non_exhaustive()
    }
}

struct Inner {
    users: Vec<Value>,
    style: ResponseStyle,
    default_count: u32,
    max_results: u32,
    writes_enabled: bool,
    rate_limit: Option<RateLimit>,
    windows: HashMap<String, (Instant, u32)>,
    throttles: VecDeque<u32>,
    failures: VecDeque<u16>,
    requests: Vec<RequestRecord>,
    next_user: usize,
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl ScimState {
    fn new(config: &Config) -> Self {
        let base_path: Arc<str> = config.base_path.trim_end_matches('/').into();
        let inner = Inner {
            users: seed::users(config.user_count, &base_path),
            style: config.style,
            default_count: config.default_count,
            max_results: config.max_results.max(1),
            writes_enabled: config.writes_enabled,
            rate_limit: config.rate_limit,
            windows: HashMap::new(),
            throttles: VecDeque::new(),
            failures: VecDeque::new(),
            requests: Vec::new(),
            next_user: 1_000_000,
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
            validator: config.validator.clone(),
            base_path,
            read_scope: config.read_scope.as_str().into(),
            write_scope: config.write_scope.as_str().into(),
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

    /// Answers the next `count` requests with `status` (a SCIM error), before
    /// any other check.
    pub fn fail_next(&self, count: usize, status: u16) {
        lock(&self.inner)
            .failures
            .extend(std::iter::repeat_n(status, count));
    }

    /// Changes how answers are spelled.
    pub fn set_style(&self, style: ResponseStyle) {
        lock(&self.inner).style = style;
    }

    /// Changes the most resources a page returns.
    pub fn set_max_results(&self, max_results: u32) {
        lock(&self.inner).max_results = max_results.max(1);
    }

    /// Serves writes or answers them 501.
    pub fn set_writes_enabled(&self, enabled: bool) {
        lock(&self.inner).writes_enabled = enabled;
    }

    /// Every user as stored (`meta.location` relative to the server), in
    /// creation order.
    pub fn users(&self) -> Vec<Value> {
        lock(&self.inner).users.clone()
    }

    /// One user as stored.
    pub fn user(&self, id: &str) -> Option<Value> {
        lock(&self.inner)
            .users
            .iter()
            .find(|u| u["id"] == id)
            .cloned()
    }

    /// Users matching a SCIM filter, in creation order (the filter must parse).
    pub fn users_matching(&self, text: &str) -> Vec<Value> {
        let parsed = filter::parse(text).unwrap_or_else(|e| panic!("bad filter {text}: {e}"));
        self.users()
            .into_iter()
            .filter(|u| filter::matches(&parsed, u).unwrap_or(false))
            .collect()
    }

    /// Changes a user as an edit in Fourth would: bumps `meta.version` and
    /// stamps `meta.lastModified` with the current time. Returns whether the
    /// user exists.
    pub fn update_user(&self, id: &str, change: impl FnOnce(&mut Map<String, Value>)) -> bool {
        let mut inner = lock(&self.inner);
        let Some(Value::Object(user)) = inner.users.iter_mut().find(|u| u["id"] == id) else {
            return false;
        };
        change(user);
        touch(user, now_secs());
        true
    }
}

/// Stamps `meta.lastModified` and bumps `meta.version`.
fn touch(user: &mut Map<String, Value>, now: i64) {
    let meta = user
        .entry("meta")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(meta) = meta {
        let version = meta
            .get("version")
            .and_then(Value::as_str)
            .and_then(|v| {
                v.trim_start_matches("W/")
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        meta.insert(
            "lastModified".into(),
            Value::String(seed::format_timestamp(now)),
        );
        meta.insert(
            "version".into(),
            Value::String(format!("W/\"{}\"", version + 1)),
        );
    }
}

// ---------------------------------------------------------------------------
// Answers

/// The client a handler served, for the request log.
#[derive(Clone)]
struct ServedClient(String);

/// A SCIM error (RFC 7644 §3.12) and its headers.
#[derive(Debug)]
struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    client_id: Option<String>,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            headers: Vec::new(),
            client_id: None,
        }
    }

    fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            None,
            format!("Resource {what} not found"),
        )
    }

    fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    fn for_client(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_string());
        self
    }

    fn render(self, style: &ResponseStyle) -> Response {
        let status = self.status.as_u16();
        let mut body = json!({
            "schemas": [ERROR],
            "status": if style.error_status_as_number { json!(status) } else { json!(status.to_string()) },
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut response = answer(style, self.status, body, self.headers);
        if let Some(client) = self.client_id {
            response.extensions_mut().insert(ServedClient(client));
        }
        response
    }
}

fn lowercase_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.to_lowercase(), lowercase_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(lowercase_keys).collect()),
        other => other,
    }
}

fn answer(
    style: &ResponseStyle,
    status: StatusCode,
    body: Value,
    headers: Vec<(HeaderName, HeaderValue)>,
) -> Response {
    let body = if style.lowercase_keys {
        lowercase_keys(body)
    } else {
        body
    };
    let content_type = match style.content_type {
        ContentType::Scim => "application/scim+json; charset=utf-8",
        ContentType::Json => "application/json; charset=utf-8",
    };
    let mut response = (
        status,
        [(header::CONTENT_TYPE, content_type)],
        body.to_string(),
    )
        .into_response();
    response.headers_mut().extend(headers);
    response
}

/// Who is calling, and the answer style at the time.
struct Caller {
    client_id: String,
    style: ResponseStyle,
}

impl Caller {
    fn ok(
        &self,
        status: StatusCode,
        body: Value,
        headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Response {
        let mut response = answer(&self.style, status, body, headers);
        response
            .extensions_mut()
            .insert(ServedClient(self.client_id.clone()));
        response
    }

    fn fail(&self, err: ScimError) -> Response {
        err.for_client(&self.client_id).render(&self.style)
    }

    fn answer(&self, result: Answer) -> Response {
        match result {
            Ok((status, body, headers)) => self.ok(status, body, headers),
            Err(err) => self.fail(err),
        }
    }
}

/// Authentication, rate limit, read-only mode and scope, in that order.
fn admit(state: &ScimState, headers: &HeaderMap, write: bool) -> Result<Caller, Box<Response>> {
    let style = lock(&state.inner).style;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let Some(token) = token else {
        return Err(ScimError::new(
            StatusCode::UNAUTHORIZED,
            None,
            "Authorization failure. The authorization header is missing or not a bearer token.",
        )
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"scim\""),
        )
        .render(&style)
        .into());
    };
    let Some(info) = (state.validator)(token) else {
        return Err(ScimError::new(
            StatusCode::UNAUTHORIZED,
            None,
            "Authorization failure. The access token is invalid or has expired.",
        )
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"scim\", error=\"invalid_token\""),
        )
        .render(&style)
        .into());
    };
    let client_id = info.client_id;
    let mut inner = lock(&state.inner);
    if let Some(retry_after) = inner.throttles.pop_front() {
        return Err(too_many_requests(retry_after, None)
            .for_client(&client_id)
            .render(&style)
            .into());
    }
    if let Some(limit) = inner.rate_limit {
        let now = Instant::now();
        let window = inner.windows.entry(client_id.clone()).or_insert((now, 0));
        if now.duration_since(window.0) >= limit.window {
            *window = (now, 0);
        }
        if window.1 >= limit.requests {
            let left = limit.window.saturating_sub(now.duration_since(window.0));
            let retry_after = (left.as_secs() as u32 + u32::from(left.subsec_nanos() > 0)).max(1);
            return Err(too_many_requests(retry_after, Some(limit))
                .for_client(&client_id)
                .render(&style)
                .into());
        }
        window.1 += 1;
    }
    if write && !inner.writes_enabled {
        return Err(ScimError::new(
            StatusCode::NOT_IMPLEMENTED,
            None,
            "This service provider is read-only: users cannot be created, changed or deleted.",
        )
        .for_client(&client_id)
        .render(&style)
        .into());
    }
    let needed: &[&str] = if write {
        &[&state.read_scope, &state.write_scope]
    } else {
        &[&state.read_scope]
    };
    if let Some(missing) = needed.iter().find(|s| !info.scopes.iter().any(|g| g == *s)) {
        let challenge =
            format!("Bearer realm=\"scim\", error=\"insufficient_scope\", scope=\"{missing}\"");
        let mut err = ScimError::new(
            StatusCode::FORBIDDEN,
            None,
            format!("The access token lacks the scope `{missing}` this request needs."),
        )
        .for_client(&client_id);
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            err = err.header(header::WWW_AUTHENTICATE, value);
        }
        return Err(err.render(&style).into());
    }
    Ok(Caller { client_id, style })
}

fn too_many_requests(retry_after: u32, limit: Option<RateLimit>) -> ScimError {
    let detail = match limit {
        Some(l) => format!(
            "Too many requests: the limit is {} requests per {} seconds. Retry after {retry_after} seconds.",
            l.requests,
            l.window.as_secs()
        ),
        None => format!("Too many requests. Retry after {retry_after} seconds."),
    };
    ScimError::new(StatusCode::TOO_MANY_REQUESTS, None, detail)
        .header(header::RETRY_AFTER, HeaderValue::from(retry_after))
}

// ---------------------------------------------------------------------------
// Routes

fn router(state: ScimState) -> Router {
    let api = Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Users", get(list_users).post(create_user))
        .route(
            "/Users/{id}",
            get(read_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .fallback(
            |State(state): State<ScimState>, request: Request| async move {
                let style = lock(&state.inner).style;
                ScimError::new(
                    StatusCode::NOT_FOUND,
                    None,
                    format!(
                        "No endpoint at {} {}",
                        request.method(),
                        request.uri().path()
                    ),
                )
                .render(&style)
            },
        );
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
async fn record(State(state): State<ScimState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let body_text = (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned());
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    let (injected, style) = {
        let mut inner = lock(&state.inner);
        (inner.failures.pop_front(), inner.style)
    };
    let response = match injected {
        Some(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            ScimError::new(status, None, "injected failure").render(&style)
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
        content_type,
        body: body_text,
        client_id,
        status: response.status().as_u16(),
    });
    response
}

/// `http://host` of the request, for `meta.location`.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// A stored user as sent: `meta.location` made absolute.
fn render_user(user: &Value, origin: &str) -> Value {
    let mut user = user.clone();
    if let Some(location) = user["meta"]["location"].as_str()
        && location.starts_with('/')
    {
        user["meta"]["location"] = json!(format!("{origin}{location}"));
    }
    user
}

fn etag(user: &Value) -> Vec<(HeaderName, HeaderValue)> {
    user["meta"]["version"]
        .as_str()
        .and_then(|v| HeaderValue::from_str(v).ok())
        .map(|v| vec![(header::ETAG, v)])
        .unwrap_or_default()
}

fn query_map(raw: Option<String>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn integer(query: &BTreeMap<String, String>, name: &str) -> Result<Option<i64>, ScimError> {
    match query.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
            ScimError::bad(
                "invalidValue",
                format!("`{name}` must be an integer, not `{v}`"),
            )
        }),
    }
}

fn list_response(
    style: &ResponseStyle,
    resources: Vec<Value>,
    total: usize,
    start_index: usize,
) -> Value {
    let mut body = json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
    });
    if !(resources.is_empty() && style.omit_empty_resources) {
        body["Resources"] = Value::Array(resources);
    }
    body
}

type Answer = Result<(StatusCode, Value, Vec<(HeaderName, HeaderValue)>), ScimError>;

async fn list_users(
    State(state): State<ScimState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let caller = match admit(&state, &headers, false) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let origin = origin(&headers);
    let query = query_map(raw);
    let inner = lock(&state.inner);
    let result = (|| -> Answer {
        let start = integer(&query, "startIndex")?.unwrap_or(1).max(1) as usize;
        let count = integer(&query, "count")?
            .unwrap_or(i64::from(inner.default_count))
            .clamp(0, i64::from(inner.max_results)) as usize;
        let parsed = match query
            .get("filter")
            .map(|f| f.trim())
            .filter(|f| !f.is_empty())
        {
            Some(text) => Some(
                filter::parse(text)
                    .map_err(|e| ScimError::bad("invalidFilter", format!("{e}: {text}")))?,
            ),
            None => None,
        };
        let mut matched = Vec::new();
        for user in &inner.users {
            let keep = match &parsed {
                Some(f) => {
                    filter::matches(f, user).map_err(|e| ScimError::bad("invalidFilter", e))?
                }
                None => true,
            };
            if keep {
                matched.push(user);
            }
        }
        let page: Vec<Value> = matched
            .iter()
            .skip(start - 1)
            .take(count)
            .map(|u| render_user(u, &origin))
            .collect();
        Ok((
            StatusCode::OK,
            list_response(&caller.style, page, matched.len(), start),
            Vec::new(),
        ))
    })();
    caller.answer(result)
}

async fn read_user(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match admit(&state, &headers, false) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let origin = origin(&headers);
    let inner = lock(&state.inner);
    let result = inner
        .users
        .iter()
        .find(|u| u["id"] == id.as_str())
        .map(|u| (StatusCode::OK, render_user(u, &origin), etag(u)))
        .ok_or_else(|| ScimError::not_found(&id));
    caller.answer(result)
}

fn check_body_type(headers: &HeaderMap) -> Result<(), ScimError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/scim+json")
        || essence.eq_ignore_ascii_case("application/json")
    {
        Ok(())
    } else {
        Err(ScimError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            format!("The body must be application/scim+json, not `{content_type}`"),
        ))
    }
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ScimError> {
    check_body_type(headers)?;
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ScimError::bad("invalidSyntax", format!("The body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(ScimError::bad(
            "invalidSyntax",
            "The body must be a JSON object",
        ));
    }
    Ok(value)
}

fn has_schema(body: &Value, urn: &str) -> bool {
    get_ci(body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|v| v.as_str().is_some_and(|v| v.eq_ignore_ascii_case(urn)))
        })
}

/// Checks a full user representation and the uniqueness of its `userName`.
fn check_user(inner: &Inner, user: &Value, own_id: Option<&str>) -> Result<(), ScimError> {
    if !has_schema(user, CORE_USER) {
        return Err(ScimError::bad(
            "invalidSyntax",
            format!("`schemas` must include {CORE_USER}"),
        ));
    }
    let Some(user_name) = get_ci(user, "userName")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
    else {
        return Err(ScimError::bad("invalidValue", "`userName` is required"));
    };
    let taken = inner.users.iter().any(|u| {
        u["userName"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(user_name))
            && own_id.is_none_or(|id| u["id"] != id)
    });
    if taken {
        return Err(ScimError::new(
            StatusCode::CONFLICT,
            Some("uniqueness"),
            format!("userName `{user_name}` is already in use"),
        ));
    }
    if let Some(active) = get_ci(user, "active")
        && !active.is_boolean()
    {
        return Err(ScimError::bad("invalidValue", "`active` must be a boolean"));
    }
    Ok(())
}

/// Puts client-supplied attributes into canonical spelling where the stored
/// user has one, so the store stays consistent whatever case a client uses.
fn canonical_keys(user: Value) -> Value {
    const CANONICAL: [&str; 16] = [
        "schemas",
        "externalId",
        "userName",
        "name",
        "displayName",
        "nickName",
        "title",
        "emails",
        "phoneNumbers",
        "addresses",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "userType",
        ENTERPRISE_USER,
    ];
    match user {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = CANONICAL
                        .iter()
                        .find(|c| c.eq_ignore_ascii_case(&k))
                        .map(|c| c.to_string())
                        .unwrap_or(k);
                    (key, v)
                })
                .collect(),
        ),
        other => other,
    }
}

fn check_if_match(headers: &HeaderMap, user: &Value) -> Result<(), ScimError> {
    let Some(wanted) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let current = user["meta"]["version"].as_str().unwrap_or("");
    if wanted.trim() == "*" || wanted.split(',').any(|w| w.trim() == current) {
        Ok(())
    } else {
        Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            format!("The user's version is {current}, not {wanted}"),
        ))
    }
}

async fn create_user(State(state): State<ScimState>, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match admit(&state, &headers, true) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let origin = origin(&headers);
    let base = state.base_path.clone();
    let mut inner = lock(&state.inner);
    let result = (|| -> Answer {
        let mut user = canonical_keys(parse_body(&headers, &body)?);
        check_user(&inner, &user, None)?;
        let id = seed::account_id(inner.next_user);
        inner.next_user += 1;
        let now = seed::format_timestamp(now_secs());
        let map = user
            .as_object_mut()
            .ok_or_else(|| ScimError::bad("invalidSyntax", "not an object"))?;
        map.remove("meta");
        map.insert("id".into(), json!(id));
        map.entry("active").or_insert(json!(true));
        map.insert(
            "meta".into(),
            json!({
                "resourceType": "User",
                "created": now,
                "lastModified": now,
                "location": format!("{base}/Users/{id}"),
                "version": "W/\"1\"",
            }),
        );
        inner.users.push(user.clone());
        let shown = render_user(&user, &origin);
        let mut headers = etag(&user);
        if let Some(location) = shown["meta"]["location"].as_str()
            && let Ok(value) = HeaderValue::from_str(location)
        {
            headers.push((header::LOCATION, value));
        }
        Ok((StatusCode::CREATED, shown, headers))
    })();
    caller.answer(result)
}

async fn replace_user(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let caller = match admit(&state, &headers, true) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let origin = origin(&headers);
    let mut inner = lock(&state.inner);
    let result = (|| -> Answer {
        let position = inner
            .users
            .iter()
            .position(|u| u["id"] == id.as_str())
            .ok_or_else(|| ScimError::not_found(&id))?;
        check_if_match(&headers, &inner.users[position])?;
        let mut user = canonical_keys(parse_body(&headers, &body)?);
        if let Some(given) = get_ci(&user, "id").and_then(Value::as_str)
            && given != id
        {
            return Err(ScimError::bad("mutability", "`id` cannot be changed"));
        }
        check_user(&inner, &user, Some(&id))?;
        let meta = inner.users[position]["meta"].clone();
        let map = user
            .as_object_mut()
            .ok_or_else(|| ScimError::bad("invalidSyntax", "not an object"))?;
        map.insert("id".into(), json!(id));
        map.insert("meta".into(), meta);
        touch(map, now_secs());
        inner.users[position] = user.clone();
        Ok((StatusCode::OK, render_user(&user, &origin), etag(&user)))
    })();
    caller.answer(result)
}

async fn patch_user(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let caller = match admit(&state, &headers, true) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let origin = origin(&headers);
    let mut inner = lock(&state.inner);
    let result = (|| -> Answer {
        let position = inner
            .users
            .iter()
            .position(|u| u["id"] == id.as_str())
            .ok_or_else(|| ScimError::not_found(&id))?;
        check_if_match(&headers, &inner.users[position])?;
        let request = parse_body(&headers, &body)?;
        if !has_schema(&request, PATCH_OP) {
            return Err(ScimError::bad(
                "invalidSyntax",
                format!("`schemas` must be [\"{PATCH_OP}\"]"),
            ));
        }
        let operations = get_ci(&request, "Operations")
            .and_then(Value::as_array)
            .filter(|ops| !ops.is_empty())
            .ok_or_else(|| {
                ScimError::bad("invalidSyntax", "`Operations` must be a non-empty array")
            })?;
        let mut user = inner.users[position].clone();
        for op in operations {
            patch::apply(&mut user, op)?;
        }
        check_user(&inner, &user, Some(&id))?;
        if let Some(map) = user.as_object_mut() {
            touch(map, now_secs());
        }
        inner.users[position] = user.clone();
        Ok((StatusCode::OK, render_user(&user, &origin), etag(&user)))
    })();
    caller.answer(result)
}

async fn delete_user(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match admit(&state, &headers, true) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let mut inner = lock(&state.inner);
    let result = (|| -> Result<(), ScimError> {
        let position = inner
            .users
            .iter()
            .position(|u| u["id"] == id.as_str())
            .ok_or_else(|| ScimError::not_found(&id))?;
        check_if_match(&headers, &inner.users[position])?;
        inner.users.remove(position);
        Ok(())
    })();
    match result {
        Ok(()) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            response
                .extensions_mut()
                .insert(ServedClient(caller.client_id.clone()));
            response
        }
        Err(e) => caller.fail(e),
    }
}

/// RFC 7644 §3.5.2 PATCH operations on one user.
mod patch {
    use super::{ENTERPRISE_USER, ScimError};
    use crate::scim::filter::{self, CORE_USER, get_ci};
    use serde_json::{Map, Value};

    fn key_of(map: &Map<String, Value>, name: &str) -> String {
        map.keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned()
            .unwrap_or_else(|| name.to_string())
    }

    fn immutable(name: &str) -> bool {
        name.eq_ignore_ascii_case("id") || name.eq_ignore_ascii_case("meta")
    }

    /// Merges `value` into `target`: objects key by key (complex attributes
    /// and extensions), arrays appended (`add`) or replaced.
    fn merge(target: &mut Map<String, Value>, key: &str, value: Value, add: bool) {
        let key = key_of(target, key);
        match (target.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                for (k, v) in incoming {
                    merge(existing, &k, v, add);
                }
            }
            (Some(Value::Array(existing)), Value::Array(incoming)) if add => {
                for item in incoming {
                    if !existing.contains(&item) {
                        existing.push(item);
                    }
                }
            }
            (_, value) => {
                target.insert(key, value);
            }
        }
    }

    fn root<'a>(
        user: &'a mut Value,
        urn: Option<&str>,
        create: bool,
    ) -> Result<Option<&'a mut Map<String, Value>>, ScimError> {
        let map = user
            .as_object_mut()
            .ok_or_else(|| ScimError::bad("invalidSyntax", "the user is not an object"))?;
        match urn {
            None => Ok(Some(map)),
            Some(u) if u.eq_ignore_ascii_case(CORE_USER) => Ok(Some(map)),
            Some(u) if u.eq_ignore_ascii_case(ENTERPRISE_USER) => {
                let key = key_of(map, ENTERPRISE_USER);
                if create {
                    let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
                    Ok(entry.as_object_mut())
                } else {
                    Ok(map.get_mut(&key).and_then(Value::as_object_mut))
                }
            }
            Some(u) => Err(ScimError::bad(
                "invalidPath",
                format!("unknown schema `{u}`"),
            )),
        }
    }

    /// Splits `attr[filter].sub` into its parts.
    fn split_value_path(path: &str) -> Result<(String, Option<String>, Option<String>), ScimError> {
        let Some(open) = path.find('[') else {
            return Ok((path.to_string(), None, None));
        };
        let close = path
            .rfind(']')
            .filter(|c| *c > open)
            .ok_or_else(|| ScimError::bad("invalidPath", format!("`{path}` has no closing `]`")))?;
        let sub = path[close + 1..].strip_prefix('.').map(str::to_string);
        if sub.is_none() && close + 1 != path.len() {
            return Err(ScimError::bad(
                "invalidPath",
                format!("`{path}` is not a path"),
            ));
        }
        Ok((
            path[..open].to_string(),
            Some(path[open + 1..close].to_string()),
            sub,
        ))
    }

    /// Applies one operation.
    pub fn apply(user: &mut Value, op: &Value) -> Result<(), ScimError> {
        let kind = get_ci(op, "op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| ScimError::bad("invalidSyntax", "each operation needs an `op`"))?;
        if !matches!(kind.as_str(), "add" | "replace" | "remove") {
            return Err(ScimError::bad(
                "invalidSyntax",
                format!("`op` must be add, replace or remove, not `{kind}`"),
            ));
        }
        let value = get_ci(op, "value").cloned();
        let path = get_ci(op, "path").and_then(Value::as_str).map(str::trim);
        let Some(path) = path.filter(|p| !p.is_empty()) else {
            if kind == "remove" {
                return Err(ScimError::bad("noTarget", "`remove` needs a `path`"));
            }
            let Some(Value::Object(values)) = value else {
                return Err(ScimError::bad(
                    "invalidValue",
                    "without a `path`, `value` must be an object of attributes",
                ));
            };
            let map = user
                .as_object_mut()
                .ok_or_else(|| ScimError::bad("invalidSyntax", "not an object"))?;
            for (k, v) in values {
                if immutable(&k) {
                    return Err(ScimError::bad(
                        "mutability",
                        format!("`{k}` cannot be changed"),
                    ));
                }
                merge(map, &k, v, kind == "add");
            }
            return Ok(());
        };
        let (attr_text, value_filter, sub_after) = split_value_path(path)?;
        let parsed =
            filter::parse_path(&attr_text).map_err(|e| ScimError::bad("invalidPath", e))?;
        if parsed.urn.is_none() && immutable(&parsed.attr) {
            return Err(ScimError::bad(
                "mutability",
                format!("`{}` cannot be changed", parsed.attr),
            ));
        }
        let needs_value = kind != "remove";
        if needs_value && value.is_none() {
            return Err(ScimError::bad(
                "invalidValue",
                format!("`{kind}` needs a `value`"),
            ));
        }
        let Some(container) = root(user, parsed.urn.as_deref(), needs_value)? else {
            return Err(ScimError::bad("noTarget", format!("nothing at `{path}`")));
        };
        let key = key_of(container, &parsed.attr);
        if let Some(filter_text) = value_filter {
            let condition =
                filter::parse(&filter_text).map_err(|e| ScimError::bad("invalidFilter", e))?;
            let Some(Value::Array(items)) = container.get_mut(&key) else {
                return Err(ScimError::bad(
                    "noTarget",
                    format!("`{}` has no values", parsed.attr),
                ));
            };
            let mut hit = false;
            let mut kept = Vec::new();
            for mut item in std::mem::take(items) {
                if !filter::matches(&condition, &item)
                    .map_err(|e| ScimError::bad("invalidFilter", e))?
                {
                    kept.push(item);
                    continue;
                }
                hit = true;
                match (&kind[..], &sub_after) {
                    ("remove", None) => continue,
                    (_, None) => item = value.clone().unwrap_or(Value::Null),
                    ("remove", Some(sub)) => {
                        if let Some(obj) = item.as_object_mut() {
                            let k = key_of(obj, sub);
                            obj.remove(&k);
                        }
                    }
                    (_, Some(sub)) => {
                        if let Some(obj) = item.as_object_mut() {
                            let k = key_of(obj, sub);
                            obj.insert(k, value.clone().unwrap_or(Value::Null));
                        }
                    }
                }
                kept.push(item);
            }
            *items = kept;
            if !hit && kind != "add" {
                return Err(ScimError::bad(
                    "noTarget",
                    format!("no value of `{path}` matches"),
                ));
            }
            return Ok(());
        }
        match (&kind[..], parsed.sub) {
            ("remove", None) => {
                container.remove(&key);
            }
            ("remove", Some(sub)) => {
                if let Some(Value::Object(obj)) = container.get_mut(&key) {
                    let k = key_of(obj, &sub);
                    obj.remove(&k);
                }
            }
            (_, None) => merge(
                container,
                &parsed.attr,
                value.unwrap_or(Value::Null),
                kind == "add",
            ),
            (_, Some(sub)) => {
                let entry = container
                    .entry(key)
                    .or_insert_with(|| Value::Object(Map::new()));
                let obj = entry.as_object_mut().ok_or_else(|| {
                    ScimError::bad("invalidPath", format!("`{}` is not complex", parsed.attr))
                })?;
                merge(obj, &sub, value.unwrap_or(Value::Null), kind == "add");
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Discovery

async fn service_provider_config(State(state): State<ScimState>, headers: HeaderMap) -> Response {
    let caller = match admit(&state, &headers, false) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let base = format!("{}{}", origin(&headers), state.base_path);
    let inner = lock(&state.inner);
    let body = json!({
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "documentationUri": "https://developer.fourth.com/en-gb/docs/fourth-account-scim-api/guide",
        "patch": {"supported": inner.writes_enabled},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": inner.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "OAuth2 client credentials with the `scim` scope",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    });
    caller.ok(StatusCode::OK, body, Vec::new())
}

fn attribute(name: &str, kind: &str, description: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    })
}

fn complex(name: &str, multi: bool, description: &str, subs: Vec<Value>) -> Value {
    let mut a = attribute(name, "complex", description);
    a["multiValued"] = json!(multi);
    a["subAttributes"] = Value::Array(subs);
    a
}

fn schema_resources(base: &str) -> Vec<Value> {
    let mut user_name = attribute(
        "userName",
        "string",
        "Unique identifier the user signs in with; an email address when the user has one.",
    );
    user_name["required"] = json!(true);
    user_name["uniqueness"] = json!("server");
    let user = json!({
        "schemas": [SCHEMA],
        "id": CORE_USER,
        "name": "User",
        "description": "Fourth user account",
        "attributes": [
            user_name,
            complex("name", false, "The user's name.", vec![
                attribute("formatted", "string", "Full name."),
                attribute("familyName", "string", "Last name."),
                attribute("givenName", "string", "First name."),
            ]),
            attribute("displayName", "string", "Name shown in Fourth."),
            attribute("title", "string", "Job title (workforce management users only)."),
            complex("emails", true, "Work email, absent for users who have none.", vec![
                attribute("value", "string", "Email address."),
                attribute("type", "string", "`work`."),
                attribute("primary", "boolean", "Whether it is the primary address."),
            ]),
            complex("addresses", true, "Work location.", vec![
                attribute("type", "string", "`work`."),
                attribute("formatted", "string", "Name of the site the user works at."),
                attribute("locality", "string", "Town or city."),
                attribute("country", "string", "ISO 3166-1 alpha-2 country code."),
                attribute("primary", "boolean", "Whether it is the primary location."),
            ]),
            attribute("preferredLanguage", "string", "Preferred language, e.g. en-GB."),
            attribute("locale", "string", "Locale of the user's site."),
            attribute("timezone", "string", "IANA timezone, e.g. Europe/London."),
            attribute("active", "boolean", "Whether the account is active."),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{CORE_USER}")},
    });
    let enterprise = json!({
        "schemas": [SCHEMA],
        "id": ENTERPRISE_USER,
        "name": "EnterpriseUser",
        "description": "Enterprise user",
        "attributes": [
            attribute("employeeNumber", "string", "Employee number in Fourth workforce management."),
            attribute("organization", "string", "Customer organisation."),
            attribute("division", "string", "Job division."),
            attribute("department", "string", "Department."),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{ENTERPRISE_USER}")},
    });
    vec![user, enterprise]
}

async fn schemas(State(state): State<ScimState>, headers: HeaderMap) -> Response {
    let caller = match admit(&state, &headers, false) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let resources = schema_resources(&format!("{}{}", origin(&headers), state.base_path));
    let total = resources.len();
    caller.ok(
        StatusCode::OK,
        list_response(&caller.style, resources, total, 1),
        Vec::new(),
    )
}

async fn schema(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match admit(&state, &headers, false) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let found = schema_resources(&format!("{}{}", origin(&headers), state.base_path))
        .into_iter()
        .find(|s| {
            s["id"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(&id))
        })
        .map(|s| (StatusCode::OK, s, Vec::new()))
        .ok_or_else(|| ScimError::not_found(&id));
    caller.answer(found)
}

fn resource_type_resources(base: &str) -> Vec<Value> {
    vec![json!({
        "schemas": [RESOURCE_TYPE],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "Fourth user account",
        "schema": CORE_USER,
        "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": false}],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
    })]
}

async fn resource_types(State(state): State<ScimState>, headers: HeaderMap) -> Response {
    let caller = match admit(&state, &headers, false) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let resources = resource_type_resources(&format!("{}{}", origin(&headers), state.base_path));
    let total = resources.len();
    caller.ok(
        StatusCode::OK,
        list_response(&caller.style, resources, total, 1),
        Vec::new(),
    )
}

async fn resource_type(
    State(state): State<ScimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match admit(&state, &headers, false) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let found = resource_type_resources(&format!("{}{}", origin(&headers), state.base_path))
        .into_iter()
        .find(|r| {
            r["id"]
                .as_str()
                .is_some_and(|r| r.eq_ignore_ascii_case(&id))
        })
        .map(|r| (StatusCode::OK, r, Vec::new()))
        .ok_or_else(|| ScimError::not_found(&id));
    caller.answer(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [CORE_USER],
            "id": "u1",
            "userName": "a",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"value": "a@x.example", "type": "work"}, {"value": "a@home.example", "type": "home"}],
            "meta": {"version": "W/\"1\""}
        })
    }

    fn op(value: Value) -> Result<Value, u16> {
        let mut u = user();
        patch::apply(&mut u, &value)
            .map(|_| u)
            .map_err(|e| e.status.as_u16())
    }

    #[test]
    fn patch_operations() {
        let u = op(json!({"op": "Replace", "path": "active", "value": false})).unwrap();
        assert_eq!(u["active"], false);
        let u = op(json!({"op": "replace", "path": "name.givenName", "value": "Anne"})).unwrap();
        assert_eq!(u["name"], json!({"givenName": "Anne", "familyName": "Lee"}));
        let u = op(
            json!({"op": "add", "path": format!("{ENTERPRISE_USER}:department"), "value": "Bar"}),
        )
        .unwrap();
        assert_eq!(u[ENTERPRISE_USER]["department"], "Bar");
        let u = op(json!({"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@x.example"})).unwrap();
        assert_eq!(u["emails"][0]["value"], "b@x.example");
        assert_eq!(u["emails"][1]["value"], "a@home.example");
        let u = op(json!({"op": "remove", "path": "emails[type eq \"home\"]"})).unwrap();
        assert_eq!(u["emails"].as_array().unwrap().len(), 1);
        let u =
            op(json!({"op": "add", "value": {"title": "Host", "name": {"formatted": "Ann Lee"}}}))
                .unwrap();
        assert_eq!(u["title"], "Host");
        assert_eq!(u["name"]["givenName"], "Ann");
        assert_eq!(u["name"]["formatted"], "Ann Lee");
        let u = op(json!({"op": "remove", "path": "name"})).unwrap();
        assert!(u.get("name").is_none());
        assert_eq!(
            op(json!({"op": "replace", "path": "id", "value": "x"})),
            Err(400)
        );
        assert_eq!(op(json!({"op": "move", "path": "title"})), Err(400));
        assert_eq!(
            op(json!({"op": "replace", "path": "emails[type eq \"fax\"].value", "value": "x"})),
            Err(400)
        );
        assert_eq!(op(json!({"op": "replace", "path": "title"})), Err(400));
    }

    #[test]
    fn touch_bumps_version_and_time() {
        let mut u = user();
        touch(u.as_object_mut().unwrap(), 1_700_000_000);
        assert_eq!(u["meta"]["version"], "W/\"2\"");
        assert_eq!(u["meta"]["lastModified"], "2023-11-14T22:13:20Z");
    }

    #[test]
    fn lowercasing_reaches_every_level() {
        let v =
            lowercase_keys(json!({"Resources": [{"userName": "x", "name": {"givenName": "y"}}]}));
        assert_eq!(
            v,
            json!({"resources": [{"username": "x", "name": {"givenname": "y"}}]})
        );
    }
}
