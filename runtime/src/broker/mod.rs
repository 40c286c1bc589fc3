//! The broker: the host side of every request a connector makes.
//!
//! In order, for each request: resolve the URL against the connection's base
//! URL → allow-list (scheme, host, port) → permission check (method and path
//! against the card's permissions ∩ the connection's grant) → refuse private
//! addresses (resolved here, pinned for the connection) → inject credentials
//! → send with timeouts and body caps → follow redirects only through the
//! same checks → retry what is safe to retry, within the deadline.
//!
//! Every refusal is an answer to the guest (`http-error::denied`) and is
//! recorded on the invocation, so the caller learns exactly what was refused.

mod retry;

use crate::bindings::http::{Denial, DenialKind, HttpError, Request, Response};
use crate::bindings::types::Method;
use crate::config::{Limits, NetworkPolicy};
use crate::credentials::redact::Redactor;
use crate::credentials::{ConnectionCredentials, CredentialError};
use crate::manifest::ResolvedEnvironment;
use crate::manifest::permission::CompiledPermission;
use crate::net::allow::AllowList;
use crate::net::transport::{self, Transport};
use crate::net::url::{
    is_reserved_header, method_name, permission_path, resolve_url, to_reqwest, within_base_path,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument as _;
use url::Url;

pub use retry::RetryPolicy;

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// One upstream request as the invocation history records it.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct UpstreamCall {
    /// Method.
    pub method: String,
    /// URL with credentials redacted.
    pub url: String,
    /// Final status, if an answer came.
    pub status: Option<u16>,
    /// Attempts made (1 = no retry).
    pub attempts: u32,
    /// Total time waited between attempts, in milliseconds.
    pub waited_ms: u64,
    /// Error, when no answer came (redacted).
    pub error: Option<String>,
}

/// What the broker recorded during one invocation.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Journal {
    /// Each upstream request.
    pub calls: Vec<UpstreamCall>,
    /// Each refusal, in order, up to `max_denials_per_invocation`.
    pub denials: Vec<DenialRecord>,
    /// Refusals beyond the cap: counted, not kept.
    #[serde(skip_serializing_if = "is_zero")]
    pub denials_dropped: usize,
    /// Token refreshes made for this invocation.
    pub refreshes: u32,
}

impl Journal {
    /// Upstream requests sent, retries included.
    pub fn upstream_requests(&self) -> u32 {
        self.calls.iter().map(|c| c.attempts).sum()
    }

    /// How many of those were retries.
    pub fn retries(&self) -> u32 {
        self.calls
            .iter()
            .map(|c| c.attempts.saturating_sub(1))
            .sum()
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A refusal as recorded.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct DenialRecord {
    /// Kind, kebab-case (`permission-missing`).
    pub kind: String,
    /// Message (redacted).
    pub message: String,
}

/// Everything the broker needs to know about one invocation.
#[derive(Debug)]
pub struct RequestScope {
    /// Connector id.
    pub connector: String,
    /// Connection id, if the invocation runs with one.
    pub connection: Option<String>,
    /// `connection:ID` or `connector:ID`: which pooled client and rate
    /// limiter its requests use.
    pub(crate) client_key: String,
    /// Card id (or `test-connection`).
    pub card: String,
    /// The connection's environment, if it has one.
    pub environment: Option<std::sync::Arc<ResolvedEnvironment>>,
    /// Allowed origins.
    pub allow: AllowList,
    /// Permissions usable now: the card's, intersected with the grant.
    pub usable: Vec<CompiledPermission>,
    /// The card's declared permissions, to explain refusals.
    pub declared: Vec<CompiledPermission>,
    /// Credentials of the connection, if any.
    pub credentials: Option<std::sync::Arc<ConnectionCredentials>>,
    /// The manifest's default headers, added where a request sets none of
    /// that name.
    pub default_headers: std::sync::Arc<[(HeaderName, HeaderValue)]>,
    /// When the invocation must end.
    pub deadline: Instant,
    /// Whether requests are allowed at all (not while reading a manifest).
    pub network: bool,
    /// What happened.
    pub journal: Mutex<Journal>,
    /// Secrets to keep out of everything recorded.
    pub redactor: Mutex<Redactor>,
    /// Requests the guest asked for, refused ones included.
    pub attempts: std::sync::atomic::AtomicU32,
    /// The token generation of the credentials the redactor knows the
    /// secrets of: it learns new ones only when this moves.
    pub redacted_generation: std::sync::atomic::AtomicU64,
    /// Refusals kept in the journal.
    pub max_denials: usize,
    /// Longest message kept from a guest or handed to one.
    pub max_message_bytes: usize,
}

impl RequestScope {
    /// A scope that refuses every request (used while reading manifests).
    pub fn offline(connector: &str, deadline: Instant) -> Self {
        Self {
            connector: connector.to_string(),
            connection: None,
            client_key: Self::client_key_for(connector, None),
            card: "manifest".into(),
            environment: None,
            allow: AllowList::default(),
            usable: Vec::new(),
            declared: Vec::new(),
            credentials: None,
            default_headers: std::sync::Arc::from(Vec::new()),
            deadline,
            network: false,
            journal: Mutex::new(Journal::default()),
            redactor: Mutex::new(Redactor::default()),
            attempts: Default::default(),
            redacted_generation: Default::default(),
            max_denials: 8,
            max_message_bytes: 4096,
        }
    }

    /// Key of the pooled client and rate limiter: one per connection.
    pub fn client_key(&self) -> &str {
        &self.client_key
    }

    /// The client key of a scope of `connector`, on `connection` if any.
    pub(crate) fn client_key_for(connector: &str, connection: Option<&str>) -> String {
        match connection {
            Some(id) => format!("connection:{id}"),
            None => format!("connector:{connector}"),
        }
    }

    /// Redacts text with the secrets known now.
    pub fn redact(&self, text: &str) -> String {
        self.redactor
            .lock()
            .map(|r| r.redact(text))
            .unwrap_or_default()
    }

    /// Text a guest produced (an error message, a report), cut to the
    /// message cap and redacted.
    pub fn guest_text(&self, text: &str) -> String {
        self.redactor
            .lock()
            .map(|r| r.redact_capped(text, self.max_message_bytes))
            .unwrap_or_default()
    }

    /// A response with the connection's secrets scrubbed from its headers
    /// and body, whatever the upstream echoed.
    pub fn scrub_response(&self, mut response: Response) -> Response {
        let Ok(r) = self.redactor.lock() else {
            return Response {
                status: response.status,
                headers: Vec::new(),
                body: Vec::new(),
            };
        };
        for (name, value) in &mut response.headers {
            *name = r.redact(name);
            *value = r.redact(value);
        }
        if let Some(body) = r.redact_bytes(&response.body) {
            response.body = body;
        }
        response
    }

    /// An error with the connection's secrets scrubbed from its words.
    pub fn scrub_error(&self, err: HttpError) -> HttpError {
        let cap = |m: &str| self.guest_text(m);
        match err {
            HttpError::Denied(Denial { kind, message }) => HttpError::Denied(Denial {
                kind,
                message: cap(&message),
            }),
            HttpError::InvalidRequest(m) => HttpError::InvalidRequest(cap(&m)),
            HttpError::Timeout(m) => HttpError::Timeout(cap(&m)),
            HttpError::Transport(m) => HttpError::Transport(cap(&m)),
            other => other,
        }
    }

    /// What was recorded so far.
    pub fn journal_snapshot(&self) -> Journal {
        self.journal.lock().map(|j| j.clone()).unwrap_or_default()
    }

    /// The last refusal recorded, if any.
    pub fn last_denial(&self) -> Option<DenialRecord> {
        self.journal
            .lock()
            .ok()
            .and_then(|j| j.denials.last().cloned())
    }

    /// Requests asked for so far in this invocation, refused ones included.
    pub fn attempted_requests(&self) -> u32 {
        self.attempts.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn deny(&self, kind: DenialKind, message: String) -> HttpError {
        let message = self.guest_text(&message);
        if let Ok(mut j) = self.journal.lock() {
            if j.denials.len() < self.max_denials {
                j.denials.push(DenialRecord {
                    kind: denial_kind_name(kind).into(),
                    message: message.clone(),
                });
            } else {
                j.denials_dropped += 1;
            }
        }
        HttpError::Denied(Denial { kind, message })
    }

    fn record(&self, call: UpstreamCall) {
        if let Ok(mut j) = self.journal.lock() {
            j.calls.push(call);
        }
    }
}

/// kebab-case name of a denial kind.
pub fn denial_kind_name(kind: DenialKind) -> &'static str {
    match kind {
        DenialKind::HostNotAllowed => "host-not-allowed",
        DenialKind::PermissionMissing => "permission-missing",
        DenialKind::PrivateAddress => "private-address",
        DenialKind::CredentialHeader => "credential-header",
        DenialKind::MalformedPath => "malformed-path",
        DenialKind::CredentialsUnavailable => "credentials-unavailable",
    }
}

/// Makes the W3C `traceparent` header of the current tracing span, if
/// there is a trace to continue (see [`Broker::set_traceparent`]).
pub type TraceParent = Box<dyn Fn() -> Option<HeaderValue> + Send + Sync>;

/// The header [`TraceParent`] sets.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The broker. One per runtime; cheap to share.
pub struct Broker {
    policy: NetworkPolicy,
    limits: Limits,
    transport: Transport,
    traceparent: std::sync::OnceLock<TraceParent>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("policy", &self.policy)
            .field("limits", &self.limits)
            .field("transport", &self.transport)
            .field("traceparent", &self.traceparent.get().is_some())
            .finish()
    }
}

/// A short name of why a request got no answer, for its span.
fn error_name(err: &HttpError) -> &'static str {
    match err {
        HttpError::Denied(_) => "denied",
        HttpError::InvalidRequest(_) => "invalid-request",
        HttpError::Timeout(_) => "timeout",
        HttpError::Transport(_) => "transport",
        HttpError::DeadlineExceeded => "deadline-exceeded",
        HttpError::RequestTooLarge(_) => "request-too-large",
        HttpError::ResponseTooLarge(_) => "response-too-large",
    }
}

/// A request that passed every check, ready to send.
struct Checked {
    url: Url,
    permission: String,
}

impl Broker {
    /// A broker with this policy and these limits.
    pub fn new(policy: NetworkPolicy, limits: Limits) -> anyhow::Result<Self> {
        let transport = Transport::new(&policy)?;
        Ok(Self {
            policy,
            limits,
            transport,
            traceparent: std::sync::OnceLock::new(),
        })
    }

    /// Has every upstream request carry a W3C `traceparent` header made by
    /// `make`, called in the request's own span, so the upstream can continue
    /// the trace. The header is the host's: it is set after the card's headers
    /// are checked and replaces one the card set. Only `traceparent` can be
    /// set this way, never another header. Set once; later calls are
    /// ignored and return `false`.
    pub fn set_traceparent(&self, make: TraceParent) -> bool {
        self.traceparent.set(make).is_ok()
    }

    /// The transport (shared with the OAuth2 client).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The network policy.
    pub fn policy(&self) -> &NetworkPolicy {
        &self.policy
    }

    /// The invocation limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn check(&self, scope: &RequestScope, method: Method, url: &Url) -> Result<Checked, HttpError> {
        if url.scheme() == "http" && !self.policy.allow_http {
            return Err(scope.deny(
                DenialKind::HostNotAllowed,
                format!(
                    "card `{}` may not use plain http (`{}`); only https is allowed",
                    scope.card,
                    url.origin().ascii_serialization()
                ),
            ));
        }
        if !scope.allow.allows(url) {
            return Err(scope.deny(
                DenialKind::HostNotAllowed,
                format!(
                    "card `{}` may not reach `{}`: allowed are {}",
                    scope.card,
                    url.origin().ascii_serialization(),
                    if scope.allow.describe().is_empty() {
                        "none".to_string()
                    } else {
                        scope.allow.describe()
                    }
                ),
            ));
        }
        let base = scope.environment.as_ref().map(|e| &e.base_url);
        within_base_path(base, url).map_err(|e| {
            scope.deny(
                DenialKind::MalformedPath,
                format!("card `{}`: {e}", scope.card),
            )
        })?;
        let path = permission_path(base, url);
        let segments = crate::manifest::permission::normalise(&path).map_err(|e| {
            scope.deny(
                DenialKind::MalformedPath,
                format!("card `{}`: {e}", scope.card),
            )
        })?;
        let usable: Vec<&CompiledPermission> = scope.usable.iter().collect();
        let declared: Vec<&CompiledPermission> = scope.declared.iter().collect();
        let access = crate::manifest::permission::access_of(method);
        match crate::manifest::permission::check(access, &segments, &usable, &declared) {
            Ok(permission) => Ok(Checked {
                url: url.clone(),
                permission,
            }),
            Err(refusal) => {
                let why = if refusal.ungranted.is_empty() {
                    "no permission the card declares allows it".to_string()
                } else {
                    format!(
                        "missing permission `{}` (declared by the card, not granted to this connection)",
                        refusal.ungranted.join("` or `")
                    )
                };
                Err(scope.deny(
                    DenialKind::PermissionMissing,
                    format!(
                        "card `{}` may not {} {}: {why}",
                        scope.card,
                        method_name(method),
                        crate::text::truncate(&path, 256)
                    ),
                ))
            }
        }
    }

    fn guest_headers(
        &self,
        scope: &RequestScope,
        headers: &[(String, String)],
    ) -> Result<HeaderMap, HttpError> {
        if headers.len() > self.limits.max_request_headers {
            return Err(HttpError::InvalidRequest(format!(
                "the request sets {} headers, over the limit of {}",
                headers.len(),
                self.limits.max_request_headers
            )));
        }
        let owned: Vec<String> = scope
            .credentials
            .as_ref()
            .map(|c| c.owned_headers())
            .unwrap_or_default();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let shown = crate::text::truncate(name, 128);
            if name.len() + value.len() > self.limits.max_request_header_bytes {
                return Err(HttpError::InvalidRequest(format!(
                    "header `{shown}` is over the {}-byte limit",
                    self.limits.max_request_header_bytes
                )));
            }
            let lower = name.to_ascii_lowercase();
            if owned.iter().any(|o| o.eq_ignore_ascii_case(&lower)) {
                return Err(scope.deny(
                    DenialKind::CredentialHeader,
                    format!(
                        "card `{}` may not set the `{shown}` header: cardhost sets credentials itself",
                        scope.card
                    ),
                ));
            }
            if is_reserved_header(&lower) {
                return Err(scope.deny(
                    DenialKind::CredentialHeader,
                    format!(
                        "card `{}` may not set the `{shown}` header: credentials, transport, \
                         forwarding and method-override or URL-rewrite headers are cardhost's",
                        scope.card
                    ),
                ));
            }
            let header = HeaderName::from_bytes(lower.as_bytes())
                .map_err(|_| HttpError::InvalidRequest(format!("invalid header name `{shown}`")))?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                HttpError::InvalidRequest(format!("invalid value for header `{shown}`"))
            })?;
            map.append(header, value);
        }
        for (name, value) in scope.default_headers.iter() {
            if !map.contains_key(name) {
                map.insert(name.clone(), value.clone());
            }
        }
        Ok(map)
    }

    /// Sends one guest request through every check.
    pub async fn send(
        &self,
        scope: &RequestScope,
        request: Request,
    ) -> Result<Response, HttpError> {
        let attempt = scope
            .attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !scope.network {
            return Err(scope.deny(
                DenialKind::HostNotAllowed,
                format!(
                    "connector `{}` may not make requests while declaring its manifest",
                    scope.connector
                ),
            ));
        }
        if attempt >= self.limits.max_requests_per_invocation {
            return Err(HttpError::InvalidRequest(format!(
                "this invocation has asked for {} requests, the limit",
                self.limits.max_requests_per_invocation
            )));
        }
        if let Some(body) = &request.body
            && body.len() > self.limits.max_request_body_bytes
        {
            return Err(HttpError::RequestTooLarge(
                self.limits.max_request_body_bytes as u64,
            ));
        }
        let asked = request.url.len()
            + request
                .query
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>();
        if asked > self.limits.max_url_bytes {
            return Err(scope.deny(
                DenialKind::MalformedPath,
                format!(
                    "card `{}`: the URL is {asked} bytes with its query, over the {}-byte limit (limits.max_url_bytes)",
                    scope.card, self.limits.max_url_bytes
                ),
            ));
        }
        let base = scope.environment.as_ref().map(|e| &e.base_url);
        let url = resolve_url(base, &request.url, &request.query).map_err(|e| {
            scope.deny(
                DenialKind::MalformedPath,
                format!("card `{}`: {e}", scope.card),
            )
        })?;
        if url.as_str().len() > self.limits.max_url_bytes {
            return Err(scope.deny(
                DenialKind::MalformedPath,
                format!(
                    "card `{}`: the URL is {} bytes encoded, over the {}-byte limit (limits.max_url_bytes)",
                    scope.card,
                    url.as_str().len(),
                    self.limits.max_url_bytes
                ),
            ));
        }
        let checked = self.check(scope, request.method, &url)?;
        let headers = self.guest_headers(scope, &request.headers)?;
        tracing::debug!(card = %scope.card, permission = %checked.permission, "request allowed");
        self.send_checked(scope, request.method, checked.url, headers, request.body)
            .await
    }

    async fn send_checked(
        &self,
        scope: &RequestScope,
        method: Method,
        mut url: Url,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<Response, HttpError> {
        let retry = RetryPolicy::from(&self.policy);
        // Credentials go to the base URL's origin and the origins the
        // manifest marks as credentialed only: never to another allowed
        // origin, whether the card named it or a redirect did.
        let mut redirects = 0;
        loop {
            let with_credentials = scope
                .environment
                .as_ref()
                .is_some_and(|e| e.is_credentialed(&url));
            let outcome = self
                .attempt_with_retries(
                    scope,
                    &retry,
                    method,
                    &url,
                    &headers,
                    body.as_deref(),
                    with_credentials,
                )
                .await?;
            let is_redirect = matches!(outcome.status, 301 | 302 | 303 | 307 | 308)
                && matches!(method, Method::Get | Method::Head);
            let location = outcome
                .headers
                .iter()
                .find(|(k, _)| k == "location")
                .map(|(_, v)| v.clone());
            match (is_redirect, location) {
                (true, Some(location)) if redirects < MAX_REDIRECTS => {
                    redirects += 1;
                    let next = url.join(&location).map_err(|e| {
                        HttpError::InvalidRequest(format!("bad redirect `{location}`: {e}"))
                    })?;
                    // Every hop passes the same checks as the first request.
                    self.check(scope, method, &next)?;
                    url = next;
                }
                _ => return Ok(outcome),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempt_with_retries(
        &self,
        scope: &RequestScope,
        retry: &RetryPolicy,
        method: Method,
        url: &Url,
        headers: &HeaderMap,
        body: Option<&[u8]>,
        with_credentials: bool,
    ) -> Result<Response, HttpError> {
        let mut attempts = 0u32;
        let mut waited = Duration::ZERO;
        let mut refreshed = false;
        let shown_url = scope.redact(url.as_str());
        loop {
            attempts += 1;
            if let Some(limiter) = self.transport.rate_limiter(scope.client_key()) {
                let wait = limiter.reserve();
                if Instant::now() + wait >= scope.deadline {
                    return Err(HttpError::DeadlineExceeded);
                }
                tokio::time::sleep(wait).await;
                waited += wait;
            }
            let generation = scope
                .credentials
                .as_ref()
                .map_or(0, |c| c.token_generation());
            // Numbers as i64: an OpenTelemetry exporter keeps those as
            // integers (a u64 field becomes text).
            let span = tracing::info_span!(
                "upstream request",
                otel.kind = "client",
                http.request.method = method_name(method),
                server.address = url.host_str().unwrap_or_default(),
                attempt = i64::from(attempts),
                http.response.status_code = tracing::field::Empty,
                error = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            );
            let result = self
                .attempt(scope, method, url, headers, body, with_credentials)
                .instrument(span.clone())
                .await;
            match &result {
                Ok(response) => {
                    span.record("http.response.status_code", i64::from(response.status));
                    if response.status >= 500 {
                        span.record("otel.status_code", "error");
                    }
                }
                Err(err) => {
                    span.record("error", error_name(err))
                        .record("otel.status_code", "error");
                }
            }
            let (status, wait) = match &result {
                Ok(response) => {
                    let status = response.status;
                    if with_credentials
                        && !refreshed
                        && let Some(creds) = &scope.credentials
                        && creds.is_auth_failure(status)
                    {
                        refreshed = true;
                        match creds
                            .refresh_after_failure(&self.transport, generation)
                            .await
                        {
                            Ok(true) => {
                                if let Ok(mut j) = scope.journal.lock() {
                                    j.refreshes += 1;
                                }
                                if let Ok(mut r) = scope.redactor.lock() {
                                    r.extend(creds.secret_values());
                                }
                                continue;
                            }
                            Ok(false) => {}
                            // The token cannot be renewed (e.g. the grant was
                            // refused): that, not the 401, is the answer.
                            Err(err) => {
                                let message = scope.redact(&err.to_string());
                                tracing::warn!(error = %message, "refresh after an auth failure failed");
                                return Err(scope.deny(DenialKind::CredentialsUnavailable, message));
                            }
                        }
                    }
                    (
                        Some(status),
                        retry.wait_for_response(method, status, &response.headers, attempts),
                    )
                }
                Err(err) => (None, retry.wait_for_error(method, err, attempts)),
            };
            let fits = wait.is_some_and(|w| Instant::now() + w < scope.deadline);
            match (wait, fits) {
                (Some(wait), true) => {
                    tracing::info!(url = %shown_url, ?status, attempt = attempts, wait_ms = wait.as_millis() as u64, "retrying upstream request");
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
                _ => {
                    scope.record(UpstreamCall {
                        method: method_name(method).into(),
                        url: shown_url.clone(),
                        status,
                        attempts,
                        waited_ms: waited.as_millis() as u64,
                        error: result
                            .as_ref()
                            .err()
                            .map(|e| scope.redact(&format!("{e:?}"))),
                    });
                    return result;
                }
            }
        }
    }

    async fn attempt(
        &self,
        scope: &RequestScope,
        method: Method,
        url: &Url,
        guest_headers: &HeaderMap,
        body: Option<&[u8]>,
        with_credentials: bool,
    ) -> Result<Response, HttpError> {
        let mut url = url.clone();
        let mut headers = guest_headers.clone();
        if with_credentials && let Some(creds) = &scope.credentials {
            creds
                .apply(&mut headers, &mut url, &self.transport)
                .await
                .map_err(|e| match e {
                    CredentialError::Unavailable(m) => {
                        scope.deny(DenialKind::CredentialsUnavailable, m)
                    }
                    other => scope.deny(DenialKind::CredentialsUnavailable, other.to_string()),
                })?;
            // A token fetched or renewed since the scope began is learnt by
            // the redactor; the same token is not learnt again per request.
            let generation = creds.token_generation();
            let known = scope
                .redacted_generation
                .swap(generation, std::sync::atomic::Ordering::AcqRel);
            if known != generation
                && let Ok(mut r) = scope.redactor.lock()
            {
                r.extend(creds.secret_values());
            }
        }
        let remaining = scope.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(HttpError::DeadlineExceeded);
        }
        // After every check of the guest's headers: the host's own trace
        // context, for this attempt's span, replacing any the card set.
        if let Some(traceparent) = self.traceparent.get().and_then(|make| make()) {
            headers.insert(TRACEPARENT, traceparent);
        }
        let sent = self
            .transport
            .send(
                scope.client_key(),
                to_reqwest(method),
                url,
                headers,
                body.map(<[u8]>::to_vec),
                self.limits.max_response_body_bytes,
                remaining,
            )
            .await;
        match sent {
            Err(transport::SendError::Refused(message)) => {
                Err(scope.deny(DenialKind::PrivateAddress, message))
            }
            Err(transport::SendError::Http(e)) => Err(e),
            Ok(r) => Ok(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_join_the_base_path() {
        let base = Url::parse("https://scim.example.com/v2").unwrap();
        let u = resolve_url(
            Some(&base),
            "/Users?x=1",
            &[("filter".into(), "userName eq \"a b\"".into())],
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "https://scim.example.com/v2/Users?x=1&filter=userName%20eq%20%22a%20b%22"
        );
        assert_eq!(permission_path(Some(&base), &u), "/Users");
        assert!(resolve_url(Some(&base), "//evil.com/x", &[]).is_err());
        assert!(resolve_url(Some(&base), "Users", &[]).is_err());
        assert!(resolve_url(Some(&base), "https://u:p@scim.example.com/", &[]).is_err());
        assert!(resolve_url(None, "/x", &[]).is_err());
    }

    #[test]
    fn redactor_hides_raw_and_encoded_secrets() {
        let r = Redactor::new(vec!["s3cr3t&key".to_string(), "ab".to_string()]);
        assert_eq!(
            r.redact("token=s3cr3t%26key and s3cr3t&key ab"),
            "token=•••• and •••• ab"
        );
    }

    #[test]
    fn reserved_headers() {
        for h in [
            "Authorization",
            "COOKIE",
            "proxy-authorization",
            "Host",
            "Content-Length",
        ] {
            assert!(is_reserved_header(h), "{h}");
        }
        assert!(!is_reserved_header("accept"));
    }
}
