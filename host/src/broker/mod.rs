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

pub mod allow;
pub mod permission;
mod retry;
pub mod ssrf;
pub mod transport;

use crate::bindings::http::{Denial, DenialKind, HttpError, Request, Response};
use crate::bindings::types::Method;
use crate::config::{Limits, NetworkPolicy};
use crate::credentials::{ConnectionCredentials, CredentialError};
use crate::manifest::ResolvedEnvironment;
use allow::AllowList;
use permission::CompiledPermission;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

pub use retry::RetryPolicy;
pub use transport::Transport;

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// Headers a guest may never set, in any letter case: credentials; what the
/// transport owns (`Host`, framing, hop-by-hop); and headers that change
/// what a request means to a proxy or framework in front of the upstream
/// (method overrides, URL rewrites, forwarding and client-address headers),
/// which would let a card reach what its permissions do not cover.
pub fn is_reserved_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("x-forwarded-")
        || name.starts_with("proxy-")
        || matches!(
            name.as_str(),
            "authorization"
                | "cookie"
                | "cookie2"
                | "host"
                | "content-length"
                | "transfer-encoding"
                | "connection"
                | "upgrade"
                | "te"
                | "trailer"
                | "trailers"
                | "keep-alive"
                | "expect"
                | "forwarded"
                | "via"
                | "x-real-ip"
                | "true-client-ip"
                | "x-client-ip"
                | "x-cluster-client-ip"
                | "cf-connecting-ip"
                | "fastly-client-ip"
                | "x-http-method-override"
                | "x-http-method"
                | "x-method-override"
                | "x-original-url"
                | "x-original-uri"
                | "x-rewrite-url"
                | "x-original-method"
                | "x-host"
                | "x-original-host"
        )
}

/// Percent-encodes one URL component (RFC 3986 unreserved characters kept).
pub fn encode_component(value: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// The method's name.
pub fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

fn to_reqwest(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Head => reqwest::Method::HEAD,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    }
}

/// What a secret is replaced with.
const MASK: &str = "••••";

/// Replaces every secret value in text with `••••`: raw, percent-encoded
/// (either hex case, `%20` or `+` for a space), JSON-escaped and base64
/// (standard and URL-safe, with or without padding, and at each of the three
/// alignments inside a longer base64 text).
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
    matcher: Option<aho_corasick::AhoCorasick>,
    /// Longest form matched, in bytes.
    longest: usize,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

/// Every form in which `secret` may come back from an upstream.
fn secret_forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut forms = vec![secret.to_string()];
    let encoded = encode_component(secret);
    forms.push(encoded.to_ascii_lowercase());
    forms.push(encoded);
    forms.push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    if let Ok(json) = serde_json::to_string(secret) {
        forms.push(json.trim_matches('"').to_string());
    }
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        forms.push(engine.encode(secret));
    }
    // Inside a longer base64 text the secret starts at one of three byte
    // alignments; the characters that depend on its bytes alone are the
    // same whatever surrounds it.
    let bytes = secret.as_bytes();
    for shift in 0..3usize {
        let mut shifted = vec![0u8; shift];
        shifted.extend_from_slice(bytes);
        let encoded = STANDARD_NO_PAD.encode(&shifted);
        let start = (shift * 8).div_ceil(6);
        let end = (shifted.len() * 8) / 6;
        if end > start && end - start >= 8 {
            let middle = &encoded[start..end];
            forms.push(middle.to_string());
            forms.push(middle.replace('+', "-").replace('/', "_"));
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

impl Redactor {
    /// A redactor for these values (short values are ignored: redacting a
    /// two-letter secret would shred every message and protect nothing).
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = values.into_iter().filter(|v| v.len() >= 4).collect();
        secrets.sort();
        secrets.dedup();
        let forms: Vec<String> = secrets.iter().flat_map(|s| secret_forms(s)).collect();
        let longest = forms.iter().map(String::len).max().unwrap_or(0);
        let matcher = if forms.is_empty() {
            None
        } else {
            aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(&forms)
                .ok()
        };
        Self {
            secrets,
            matcher,
            longest,
        }
    }

    /// Adds values learnt later (a refreshed access token).
    pub fn extend(&mut self, values: impl IntoIterator<Item = String>) {
        let before = self.secrets.len();
        let mut all = std::mem::take(&mut self.secrets);
        all.extend(values);
        all.sort();
        all.dedup();
        if all.len() == before {
            self.secrets = all;
            return;
        }
        *self = Self::new(all);
    }

    /// The text with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        match &self.matcher {
            Some(m) if m.is_match(text) => {
                let masks = vec![MASK; m.patterns_len()];
                m.replace_all(text, &masks)
            }
            _ => text.to_string(),
        }
    }

    /// Bytes with every secret replaced (`None` when there was none).
    pub fn redact_bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let m = self.matcher.as_ref()?;
        if !m.is_match(bytes) {
            return None;
        }
        let masks = vec![MASK.as_bytes(); m.patterns_len()];
        Some(m.replace_all_bytes(bytes, &masks))
    }

    /// At most `max` bytes of `text`, redacted. The cut comes first, so a
    /// huge text costs no more than the cap, but with room for a secret
    /// that straddles the cut, which is then hidden whole.
    pub fn redact_capped(&self, text: &str, max: usize) -> String {
        let window = crate::invoke::truncate(text, max.saturating_add(self.longest));
        let redacted = self.redact(&window);
        crate::invoke::truncate(&redacted, max).into_owned()
    }
}

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
    /// Card id (or `test-connection`).
    pub card: String,
    /// The connection's environment, if it has one.
    pub environment: Option<ResolvedEnvironment>,
    /// Allowed origins.
    pub allow: AllowList,
    /// Permissions usable now: the card's, intersected with the grant.
    pub usable: Vec<CompiledPermission>,
    /// The card's declared permissions, to explain refusals.
    pub declared: Vec<CompiledPermission>,
    /// Credentials of the connection, if any.
    pub credentials: Option<std::sync::Arc<ConnectionCredentials>>,
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
            card: "manifest".into(),
            environment: None,
            allow: AllowList::default(),
            usable: Vec::new(),
            declared: Vec::new(),
            credentials: None,
            deadline,
            network: false,
            journal: Mutex::new(Journal::default()),
            redactor: Mutex::new(Redactor::default()),
            attempts: Default::default(),
            max_denials: 8,
            max_message_bytes: 4096,
        }
    }

    /// Key of the pooled client and rate limiter: one per connection.
    pub fn client_key(&self) -> String {
        match &self.connection {
            Some(id) => format!("connection:{id}"),
            None => format!("connector:{}", self.connector),
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

/// Refuses a path, still as the guest wrote it, with a segment that any
/// server could take for `.` or `..`: also with parameters (`..;`, `.;x`,
/// which Java servers treat as `..`) and percent-encoded (`%2e%2e`,
/// `..%3b`). The URL parser would quietly resolve plain dot segments away;
/// this names them instead.
pub fn check_raw_path(path: &str) -> Result<(), String> {
    for raw in path.split('/') {
        let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
        let bare = decoded.split(';').next().unwrap_or_default();
        if bare == "." || bare == ".." {
            return Err(format!(
                "path `{}` has a dot segment `{raw}`; paths must be in normal form",
                crate::invoke::truncate(path, 256)
            ));
        }
    }
    Ok(())
}

/// The path part of an absolute URL as written (before the parser
/// normalises it).
fn raw_path_of(target: &str) -> &str {
    let after_scheme = target.find("://").map_or(0, |i| i + 3);
    let rest = &target[after_scheme..];
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    path.split(['?', '#']).next().unwrap_or_default()
}

/// Resolves a guest URL (relative path or absolute URL) and its extra query.
pub fn resolve_url(
    base: Option<&Url>,
    target: &str,
    query: &[(String, String)],
) -> Result<Url, String> {
    let mut url = if target.starts_with('/') && !target.starts_with("//") {
        let base = base.ok_or("this connection has no base URL, so paths cannot be relative")?;
        let mut joined = base.clone();
        let (path, rest) = match target.find(['?', '#']) {
            Some(i) => (&target[..i], &target[i..]),
            None => (target, ""),
        };
        if rest.starts_with('#') {
            return Err("the URL has a fragment".into());
        }
        check_raw_path(path)?;
        let prefix = base.path().trim_end_matches('/');
        joined.set_path(&format!("{prefix}{path}"));
        joined.set_query(rest.strip_prefix('?'));
        joined
    } else if target.starts_with("http://") || target.starts_with("https://") {
        check_raw_path(raw_path_of(target))?;
        Url::parse(target).map_err(|e| format!("not a valid URL: {e}"))?
    } else {
        return Err(format!(
            "`{}` must be a path starting with `/` or an absolute http(s) URL",
            crate::invoke::truncate(target, 256)
        ));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URLs may not carry user info".into());
    }
    url.set_fragment(None);
    for (k, v) in query {
        append_query(&mut url, k, v);
    }
    Ok(url)
}

/// Whether `url` stays under the base URL's path: a same-origin URL must be
/// the base path itself or below it, so a card cannot climb out of
/// `https://host/api/v1` into `https://host/admin`.
fn within_base_path(base: Option<&Url>, url: &Url) -> Result<(), String> {
    let Some(base) = base else { return Ok(()) };
    let prefix = base.path().trim_end_matches('/');
    if prefix.is_empty() || base.origin() != url.origin() {
        return Ok(());
    }
    match url.path().strip_prefix(prefix) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => Ok(()),
        _ => Err(format!(
            "path `{}` leaves the base URL's path `{prefix}`",
            crate::invoke::truncate(url.path(), 256)
        )),
    }
}

/// Appends `k=v` to the query, each percent-encoded per RFC 3986 (a space is
/// `%20`, never `+`, which strict servers read as a plus sign).
pub fn append_query(url: &mut Url, k: &str, v: &str) {
    let pair = format!("{}={}", encode_component(k), encode_component(v));
    let query = match url.query() {
        Some(q) if !q.is_empty() => format!("{q}&{pair}"),
        _ => pair,
    };
    url.set_query(Some(&query));
}

/// The path permissions are matched against: relative to the base URL's path
/// when the URL is under it, else the whole path.
fn permission_path(base: Option<&Url>, url: &Url) -> String {
    if let Some(base) = base {
        let prefix = base.path().trim_end_matches('/');
        let same_origin = base.origin() == url.origin();
        if same_origin
            && !prefix.is_empty()
            && let Some(rest) = url.path().strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return if rest.is_empty() {
                "/".into()
            } else {
                rest.into()
            };
        }
    }
    url.path().to_string()
}

/// The broker. One per runtime; cheap to share.
#[derive(Debug)]
pub struct Broker {
    policy: NetworkPolicy,
    limits: Limits,
    transport: Transport,
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
        })
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
        let segments = permission::normalise(&path).map_err(|e| {
            scope.deny(
                DenialKind::MalformedPath,
                format!("card `{}`: {e}", scope.card),
            )
        })?;
        let usable: Vec<&CompiledPermission> = scope.usable.iter().collect();
        let declared: Vec<&CompiledPermission> = scope.declared.iter().collect();
        let access = permission::access_of(method);
        match permission::check(access, &segments, &usable, &declared) {
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
                        crate::invoke::truncate(&path, 256)
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
            let shown = crate::invoke::truncate(name, 128);
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
        // Credentials go to the base URL's origin only: never to another
        // allowed origin, whether the card named it or a redirect did.
        let credentialed = scope.environment.as_ref().map(|e| e.base_url.origin());
        let mut redirects = 0;
        loop {
            let with_credentials = credentialed.as_ref() == Some(&url.origin());
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
            if let Some(limiter) = self.transport.rate_limiter(scope) {
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
            let result = self
                .attempt(scope, method, url, headers, body, with_credentials)
                .await;
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
            if let Ok(mut r) = scope.redactor.lock() {
                r.extend(creds.secret_values());
            }
        }
        let remaining = scope.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(HttpError::DeadlineExceeded);
        }
        let sent = self
            .transport
            .send(
                scope,
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
