//! An OAuth2 authorization server on loopback: RFC 6749 (client credentials,
//! authorization code, refresh token), RFC 7636 (PKCE, S256 only) and
//! RFC 7009 (token revocation).
//!
//! Resource emulators (Advanced HR, Fourth SCIM) trust its access tokens
//! through [`OAuthState::validator`]; the host's own OAuth tests drive the
//! authorization-code flow against it. Paths default to Keycloak's
//! (`/auth/realms/{realm}/protocol/openid-connect/token`, `…/auth`,
//! `…/revoke`) as OneAdvanced Identity uses them; [`Config::fourth`] serves
//! IdentityServer-style `/oauth/connect/token` paths instead, and
//! [`Config::paycor`] Paycor's `/sts/v1/common/token` and
//! `/AppActivation/Authorize`.
//!
//! Behaviour a client must cope with, as real servers do it:
//! - client authentication by HTTP Basic (id and secret form-urlencoded first,
//!   RFC 6749 §2.3.1) or in the form body, never both; failures are
//!   `401 invalid_client`;
//! - requested scopes must be a subset of the client's (`invalid_scope`);
//! - codes are single use and short lived; redeeming one twice revokes the
//!   tokens it produced (RFC 6749 §4.1.2);
//! - rotated refresh tokens are spent: using one again is `invalid_grant` and,
//!   when configured, revokes the whole token family;
//! - every error is `{"error": …, "error_description": …}` with `no-store`.
//!
//! Tests steer it through [`OAuthState`]: counters, injected slowness and
//! failures, expiring every token at once.

use crate::server::{Server, TokenInfo, TokenValidator};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// An OAuth2 grant type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    /// `client_credentials` (RFC 6749 §4.4).
    ClientCredentials,
    /// `authorization_code` (RFC 6749 §4.1).
    AuthorizationCode,
    /// `refresh_token` (RFC 6749 §6).
    RefreshToken,
}

impl GrantType {
    /// The `grant_type` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "client_credentials" => GrantType::ClientCredentials,
            "authorization_code" => GrantType::AuthorizationCode,
            "refresh_token" => GrantType::RefreshToken,
            _ => return None,
        })
    }
}

/// How a client authenticates at the token and revocation endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAuthMethod {
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// HTTP Basic with the form-urlencoded id and secret.
    ClientSecretBasic,
}

impl ClientAuthMethod {
    /// The RFC 7591 name, e.g. `client_secret_basic`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
        }
    }
}

/// A registered confidential client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// Grants the client may use.
    pub grant_types: Vec<GrantType>,
    /// Scopes the client may be granted.
    pub scopes: Vec<String>,
    /// Scopes granted when a request names none.
    pub default_scopes: Vec<String>,
    /// Registered redirect URIs, compared exactly.
    pub redirect_uris: Vec<String>,
    /// Client authentication methods the client may use.
    pub auth_methods: Vec<ClientAuthMethod>,
}

impl ClientConfig {
    /// A client-credentials client with no scopes, accepting both client
    /// authentication methods.
    pub fn new(client_id: &str, client_secret: &str) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: Vec::new(),
            default_scopes: Vec::new(),
            redirect_uris: Vec::new(),
            auth_methods: vec![
                ClientAuthMethod::ClientSecretPost,
                ClientAuthMethod::ClientSecretBasic,
            ],
        }
    }

    /// An authorization-code client (with refresh tokens) redirecting to
    /// `redirect_uri`.
    pub fn authorization_code(client_id: &str, client_secret: &str, redirect_uri: &str) -> Self {
        Self::new(client_id, client_secret)
            .grant_types(&[GrantType::AuthorizationCode, GrantType::RefreshToken])
            .redirect_uri(redirect_uri)
    }

    /// Replaces the allowed grants.
    pub fn grant_types(mut self, grants: &[GrantType]) -> Self {
        self.grant_types = grants.to_vec();
        self
    }

    /// Sets the allowed scopes; they are also the default scopes.
    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.scopes = scopes.iter().map(|s| s.to_string()).collect();
        self.default_scopes = self.scopes.clone();
        self
    }

    /// Sets the scopes granted when a request names none.
    pub fn default_scopes(mut self, scopes: &[&str]) -> Self {
        self.default_scopes = scopes.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Registers a redirect URI.
    pub fn redirect_uri(mut self, uri: &str) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }

    /// Replaces the accepted client authentication methods.
    pub fn auth_methods(mut self, methods: &[ClientAuthMethod]) -> Self {
        self.auth_methods = methods.to_vec();
        self
    }
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Token endpoint path.
    pub token_path: String,
    /// Authorization endpoint path.
    pub authorize_path: String,
    /// Revocation endpoint path (RFC 7009).
    pub revocation_path: String,
    /// Registered clients.
    pub clients: Vec<ClientConfig>,
    /// How long access tokens live.
    pub access_token_lifetime: Duration,
    /// How long refresh tokens live; `None` for as long as the server runs.
    pub refresh_token_lifetime: Option<Duration>,
    /// How long an authorization code may wait to be redeemed.
    pub code_lifetime: Duration,
    /// Whether each refresh issues a new refresh token and spends the old.
    pub rotate_refresh_tokens: bool,
    /// Whether presenting a spent refresh token revokes every token of its
    /// grant (the reuse detection of Okta, Auth0 and Keycloak's "revoke
    /// refresh token" setting).
    pub revoke_family_on_refresh_reuse: bool,
    /// Whether authorization requests need a PKCE `code_challenge`.
    pub require_pkce: bool,
    /// Whether the authorize endpoint approves at once (302) instead of
    /// showing a consent page.
    pub auto_approve: bool,
}

impl Config {
    /// Keycloak paths for `realm`: `/auth/realms/{realm}/protocol/openid-connect/{token,auth,revoke}`.
    pub fn keycloak(realm: &str) -> Self {
        let base = format!("/auth/realms/{realm}/protocol/openid-connect");
        Self {
            port: 0,
            token_path: format!("{base}/token"),
            authorize_path: format!("{base}/auth"),
            revocation_path: format!("{base}/revoke"),
            clients: Vec::new(),
            access_token_lifetime: Duration::from_secs(300),
            refresh_token_lifetime: None,
            code_lifetime: Duration::from_secs(60),
            rotate_refresh_tokens: true,
            revoke_family_on_refresh_reuse: true,
            require_pkce: true,
            auto_approve: true,
        }
    }

    /// IdentityServer-style paths as Fourth uses them:
    /// `/oauth/connect/{token,authorize,revocation}`.
    pub fn fourth() -> Self {
        Self {
            token_path: "/oauth/connect/token".into(),
            authorize_path: "/oauth/connect/authorize".into(),
            revocation_path: "/oauth/connect/revocation".into(),
            ..Self::keycloak("fourth")
        }
    }

    /// Paycor's paths: the token endpoint `/sts/v1/common/token` (served on
    /// Paycor's API host, behind its API gateway) and the consent page
    /// `/AppActivation/Authorize` (on Paycor's HCM host); access tokens live
    /// 1,800 seconds and refresh tokens rotate. Paycor documents no
    /// revocation endpoint; `/sts/v1/common/revocation` stands in for one.
    /// The API gateway's subscription-key check is not part of this server:
    /// the Paycor emulator ([`crate::paycor`]) adds it in front.
    pub fn paycor() -> Self {
        Self {
            token_path: "/sts/v1/common/token".into(),
            authorize_path: "/AppActivation/Authorize".into(),
            revocation_path: "/sts/v1/common/revocation".into(),
            access_token_lifetime: Duration::from_secs(1800),
            ..Self::keycloak("paycor")
        }
    }

    /// Registers a client.
    pub fn client(mut self, client: ClientConfig) -> Self {
        self.clients.push(client);
        self
    }

    /// Sets the access token lifetime.
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.access_token_lifetime = lifetime;
        self
    }

    /// Sets the loopback port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
}

impl Default for Config {
    /// Keycloak paths for realm `cardhost`, no clients.
    fn default() -> Self {
        Self::keycloak("cardhost")
    }
}

/// Whether an issued token is an access or a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token.
    Access,
    /// A refresh token.
    Refresh,
}

/// A token the server issued, as tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// Access or refresh.
    pub kind: TokenKind,
    /// The token value.
    pub value: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The grant that produced it.
    pub grant: GrantType,
    /// Whether it would be accepted now (not expired, revoked or spent).
    pub active: bool,
}

/// One request to the token endpoint, as tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequestRecord {
    /// The `grant_type` parameter as sent, if any.
    pub grant_type: Option<String>,
    /// The client id presented, if any.
    pub client_id: Option<String>,
    /// How the client authenticated, if it tried.
    pub auth_method: Option<ClientAuthMethod>,
    /// The `scope` parameter as sent, if any.
    pub scope: Option<String>,
    /// The status answered.
    pub status: u16,
    /// The OAuth2 error code answered, if the request failed.
    pub error: Option<String>,
}

/// Shared, cheap-to-clone handle on the server's state for tests.
#[derive(Clone)]
pub struct OAuthState {
    inner: Arc<Mutex<Inner>>,
    settings: Arc<Settings>,
}

impl std::fmt::Debug for OAuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthState")
            .field("token_path", &self.settings.token_path)
            .finish_non_exhaustive()
    }
}

/// The fixed part of the configuration.
#[derive(Debug)]
struct Settings {
    token_path: String,
    authorize_path: String,
    revocation_path: String,
    access_token_lifetime: Duration,
    refresh_token_lifetime: Option<Duration>,
    code_lifetime: Duration,
    rotate_refresh_tokens: bool,
    revoke_family_on_refresh_reuse: bool,
    require_pkce: bool,
}

struct AccessToken {
    client_id: String,
    scopes: Vec<String>,
    grant: GrantType,
    family: Option<u64>,
    expires_at: Instant,
    revoked: bool,
    order: u64,
}

struct RefreshToken {
    client_id: String,
    scopes: Vec<String>,
    grant: GrantType,
    family: u64,
    expires_at: Option<Instant>,
    spent: bool,
    revoked: bool,
    order: u64,
}

struct AuthCode {
    client_id: String,
    /// The `redirect_uri` parameter of the authorization request, if given:
    /// the token request must then repeat it exactly.
    redirect_uri_param: Option<String>,
    scopes: Vec<String>,
    challenge: Option<String>,
    expires_at: Instant,
    used: bool,
    family: u64,
}

struct Fault {
    status: u16,
    error: String,
}

#[derive(Default)]
struct Inner {
    clients: BTreeMap<String, ClientConfig>,
    access_tokens: HashMap<String, AccessToken>,
    refresh_tokens: HashMap<String, RefreshToken>,
    codes: HashMap<String, AuthCode>,
    token_requests: Vec<TokenRequestRecord>,
    revocation_requests: usize,
    authorization_requests: usize,
    delays: VecDeque<Duration>,
    faults: VecDeque<Fault>,
    auto_approve: bool,
    next_family: u64,
    next_order: u64,
}

impl Inner {
    fn order(&mut self) -> u64 {
        self.next_order += 1;
        self.next_order
    }

    fn family(&mut self) -> u64 {
        self.next_family += 1;
        self.next_family
    }

    /// Revokes every access and refresh token of a grant family.
    fn revoke_family(&mut self, family: u64) {
        for token in self.access_tokens.values_mut() {
            if token.family == Some(family) {
                token.revoked = true;
            }
        }
        for token in self.refresh_tokens.values_mut() {
            if token.family == family {
                token.revoked = true;
            }
        }
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A test that panicked while holding the lock must not wedge the server.
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn seconds_ceil(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl OAuthState {
    /// State for a server with this configuration.
    pub fn new(config: &Config) -> Self {
        let inner = Inner {
            clients: config
                .clients
                .iter()
                .map(|c| (c.client_id.clone(), c.clone()))
                .collect(),
            auto_approve: config.auto_approve,
            ..Inner::default()
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
            settings: Arc::new(Settings {
                token_path: config.token_path.clone(),
                authorize_path: config.authorize_path.clone(),
                revocation_path: config.revocation_path.clone(),
                access_token_lifetime: config.access_token_lifetime,
                refresh_token_lifetime: config.refresh_token_lifetime,
                code_lifetime: config.code_lifetime,
                rotate_refresh_tokens: config.rotate_refresh_tokens,
                revoke_family_on_refresh_reuse: config.revoke_family_on_refresh_reuse,
                require_pkce: config.require_pkce,
            }),
        }
    }

    /// Registers a client, replacing one with the same id.
    pub fn add_client(&self, client: ClientConfig) {
        lock(&self.inner)
            .clients
            .insert(client.client_id.clone(), client);
    }

    /// Deletes a client and revokes every token issued to it, as deleting an
    /// API client in an admin console does. Returns whether it existed.
    pub fn remove_client(&self, client_id: &str) -> bool {
        let mut inner = lock(&self.inner);
        for token in inner.access_tokens.values_mut() {
            if token.client_id == client_id {
                token.revoked = true;
            }
        }
        for token in inner.refresh_tokens.values_mut() {
            if token.client_id == client_id {
                token.revoked = true;
            }
        }
        inner.clients.remove(client_id).is_some()
    }

    /// Switches between approving authorization requests at once and showing
    /// the consent page.
    pub fn set_auto_approve(&self, auto_approve: bool) {
        lock(&self.inner).auto_approve = auto_approve;
    }

    /// What `token` stands for, when it is an access token valid now.
    pub fn validate(&self, token: &str) -> Option<TokenInfo> {
        let inner = lock(&self.inner);
        let t = inner.access_tokens.get(token)?;
        (!t.revoked && Instant::now() < t.expires_at).then(|| TokenInfo {
            client_id: t.client_id.clone(),
            scopes: t.scopes.clone(),
        })
    }

    /// A validator for resource emulators: accepts access tokens that are
    /// valid now (issued here, not expired, not revoked).
    pub fn validator(&self) -> TokenValidator {
        let state = self.clone();
        Arc::new(move |token: &str| state.validate(token))
    }

    /// How many token requests named `grant` as their `grant_type`,
    /// whatever the outcome.
    pub fn token_request_count(&self, grant: GrantType) -> usize {
        lock(&self.inner)
            .token_requests
            .iter()
            .filter(|r| r.grant_type.as_deref() == Some(grant.as_str()))
            .count()
    }

    /// Every token request so far, oldest first.
    pub fn token_requests(&self) -> Vec<TokenRequestRecord> {
        lock(&self.inner).token_requests.clone()
    }

    /// How many revocation requests arrived.
    pub fn revocation_count(&self) -> usize {
        lock(&self.inner).revocation_requests
    }

    /// How many authorization requests arrived (GET and consent POSTs).
    pub fn authorization_count(&self) -> usize {
        lock(&self.inner).authorization_requests
    }

    /// Every token issued so far, oldest first.
    pub fn issued_tokens(&self) -> Vec<IssuedToken> {
        let inner = lock(&self.inner);
        let now = Instant::now();
        let mut tokens: Vec<(u64, IssuedToken)> = inner
            .access_tokens
            .iter()
            .map(|(value, t)| {
                (
                    t.order,
                    IssuedToken {
                        kind: TokenKind::Access,
                        value: value.clone(),
                        client_id: t.client_id.clone(),
                        scopes: t.scopes.clone(),
                        grant: t.grant,
                        active: !t.revoked && now < t.expires_at,
                    },
                )
            })
            .chain(inner.refresh_tokens.iter().map(|(value, t)| {
                (
                    t.order,
                    IssuedToken {
                        kind: TokenKind::Refresh,
                        value: value.clone(),
                        client_id: t.client_id.clone(),
                        scopes: t.scopes.clone(),
                        grant: t.grant,
                        active: !t.revoked && !t.spent && t.expires_at.is_none_or(|e| now < e),
                    },
                )
            }))
            .collect();
        tokens.sort_by_key(|(order, _)| *order);
        tokens.into_iter().map(|(_, t)| t).collect()
    }

    /// Makes the next `count` token requests wait `delay` before they are
    /// handled (to test timeouts and single-flight refreshes).
    pub fn delay_next_token_requests(&self, count: usize, delay: Duration) {
        let mut inner = lock(&self.inner);
        inner.delays.extend(std::iter::repeat_n(delay, count));
    }

    /// Makes the next `count` token requests fail with `status` and the
    /// usual error for it (`server_error` for 500, `temporarily_unavailable`
    /// for 503, `invalid_request` for other 4xx).
    pub fn fail_next_token_requests(&self, count: usize, status: u16) {
        let error = match status {
            503 => "temporarily_unavailable",
            401 => "invalid_client",
            400..=499 => "invalid_request",
            _ => "server_error",
        };
        self.fail_next_token_requests_with(count, status, error);
    }

    /// Makes the next `count` token requests fail with `status` and OAuth2
    /// error code `error` (e.g. 400 `invalid_grant`).
    pub fn fail_next_token_requests_with(&self, count: usize, status: u16, error: &str) {
        let mut inner = lock(&self.inner);
        for _ in 0..count {
            inner.faults.push_back(Fault {
                status,
                error: error.into(),
            });
        }
    }

    /// Expires every access token now. Refresh tokens and codes stay usable.
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for token in lock(&self.inner).access_tokens.values_mut() {
            token.expires_at = token.expires_at.min(now);
        }
    }

    /// Expires every access token, refresh token and authorization code now.
    pub fn expire_all_tokens(&self) {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        for token in inner.access_tokens.values_mut() {
            token.expires_at = token.expires_at.min(now);
        }
        for token in inner.refresh_tokens.values_mut() {
            token.expires_at = Some(token.expires_at.map_or(now, |e| e.min(now)));
        }
        for code in inner.codes.values_mut() {
            code.expires_at = code.expires_at.min(now);
        }
    }

    /// Revokes a token as the revocation endpoint would (a refresh token
    /// takes its whole grant family with it). Returns whether it was known.
    pub fn revoke(&self, token: &str) -> bool {
        let mut inner = lock(&self.inner);
        revoke_token(&mut inner, token)
    }
}

fn revoke_token(inner: &mut Inner, token: &str) -> bool {
    if let Some(family) = inner.refresh_tokens.get(token).map(|t| t.family) {
        inner.revoke_family(family);
        return true;
    }
    if let Some(t) = inner.access_tokens.get_mut(token) {
        t.revoked = true;
        return true;
    }
    false
}

/// A running OAuth2 server.
#[derive(Debug)]
pub struct OAuthServer {
    server: Server,
    state: OAuthState,
}

impl OAuthServer {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The token endpoint's absolute URL.
    pub fn token_url(&self) -> String {
        format!("{}{}", self.url(), self.state.settings.token_path)
    }

    /// The authorization endpoint's absolute URL.
    pub fn authorize_url(&self) -> String {
        format!("{}{}", self.url(), self.state.settings.authorize_path)
    }

    /// The revocation endpoint's absolute URL.
    pub fn revocation_url(&self) -> String {
        format!("{}{}", self.url(), self.state.settings.revocation_path)
    }

    /// The state handle.
    pub fn state(&self) -> OAuthState {
        self.state.clone()
    }

    /// A validator for resource emulators (see [`OAuthState::validator`]).
    pub fn validator(&self) -> TokenValidator {
        self.state.validator()
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Starts the server on 127.0.0.1.
pub async fn start(config: Config) -> std::io::Result<OAuthServer> {
    let state = OAuthState::new(&config);
    let server = Server::spawn(router(state.clone()), config.port).await?;
    Ok(OAuthServer { server, state })
}

/// The server's routes, for emulators that serve OAuth2 on their own origin:
/// token, authorize (GET and the consent POST), revocation and RFC 8414
/// metadata at `/.well-known/oauth-authorization-server`.
pub fn router(state: OAuthState) -> Router {
    let settings = state.settings.clone();
    Router::new()
        .route(&settings.token_path, post(token_endpoint))
        .route(
            &settings.authorize_path,
            get(authorize_get).post(authorize_post),
        )
        .route(&settings.revocation_path, post(revocation_endpoint))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .with_state(state)
}

// ---------------------------------------------------------------------------
// Errors and form parsing

/// An RFC 6749 §5.2 error answer.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: String,
    description: String,
    /// Set when the client tried HTTP Basic and failed: RFC 6749 §5.2 wants a
    /// `WWW-Authenticate` challenge then.
    basic_challenge: bool,
}

impl OAuthError {
    fn new(status: StatusCode, error: &str, description: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            description: description.into(),
            basic_challenge: false,
        }
    }

    fn bad_request(error: &str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }

    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::bad_request("invalid_grant", description)
    }

    fn invalid_client(description: impl Into<String>, basic: bool) -> Self {
        Self {
            basic_challenge: basic,
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, no_store(), axum::Json(body)).into_response();
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oauth\""),
            );
        }
        response
    }
}

fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// Parsed form or query parameters; each may appear once (RFC 6749 §3.1).
#[derive(Debug, Default)]
struct Params(BTreeMap<String, String>);

impl Params {
    fn parse(raw: &[u8]) -> Result<Self, OAuthError> {
        let mut map = BTreeMap::new();
        for (key, value) in url::form_urlencoded::parse(raw) {
            if map.insert(key.to_string(), value.to_string()).is_some() {
                return Err(OAuthError::bad_request(
                    "invalid_request",
                    format!("parameter `{key}` is repeated"),
                ));
            }
        }
        Ok(Self(map))
    }

    /// A parameter, treating an empty value as absent (RFC 6749 §3.1).
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::bad_request("invalid_request", format!("parameter `{name}` is missing"))
        })
    }
}

fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/x-www-form-urlencoded" {
        return Err(OAuthError::bad_request(
            "invalid_request",
            format!("the body must be application/x-www-form-urlencoded, not `{content_type}`"),
        ));
    }
    Params::parse(body)
}

/// Splits a space-delimited scope parameter (RFC 6749 §3.3).
fn parse_scope(raw: Option<&str>) -> Result<Option<Vec<String>>, OAuthError> {
    let Some(raw) = raw else { return Ok(None) };
    let mut scopes = Vec::new();
    for token in raw.split(' ').filter(|t| !t.is_empty()) {
        let valid = token
            .chars()
            .all(|c| c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c));
        if !valid {
            return Err(OAuthError::bad_request(
                "invalid_scope",
                format!("scope `{token}` has characters RFC 6749 does not allow"),
            ));
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_string());
        }
    }
    Ok(Some(scopes))
}

/// The scopes to grant: the requested ones when all are within `allowed`,
/// else `invalid_scope`; `default` when none were requested.
fn grant_scopes(
    requested: Option<Vec<String>>,
    allowed: &[String],
    default: &[String],
) -> Result<Vec<String>, OAuthError> {
    match requested {
        None => Ok(default.to_vec()),
        Some(requested) => {
            let refused: Vec<&str> = requested
                .iter()
                .filter(|s| !allowed.contains(s))
                .map(String::as_str)
                .collect();
            if refused.is_empty() {
                Ok(requested)
            } else {
                Err(OAuthError::bad_request(
                    "invalid_scope",
                    format!("scope not allowed for this client: {}", refused.join(" ")),
                ))
            }
        }
    }
}

/// Decodes one half of an HTTP Basic credential, which RFC 6749 §2.3.1
/// form-urlencodes before base64.
fn form_decode(value: &str) -> String {
    let plus_as_space = value.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

/// A presented client credential, before it is checked.
struct Presented {
    client_id: String,
    secret: String,
    method: ClientAuthMethod,
}

/// Reads the client credential from the `Authorization` header or the form
/// body; using both is an error (RFC 6749 §2.3).
fn presented_client(headers: &HeaderMap, params: &Params) -> Result<Option<Presented>, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value.to_str().unwrap_or("");
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::invalid_client(
                    format!("unsupported client authentication scheme `{scheme}`"),
                    true,
                ));
            }
            let decoded = STANDARD
                .decode(rest.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    OAuthError::invalid_client("the Basic credential is not valid base64", true)
                })?;
            let (id, secret) = decoded.split_once(':').ok_or_else(|| {
                OAuthError::invalid_client("the Basic credential has no `:`", true)
            })?;
            Some(Presented {
                client_id: form_decode(id),
                secret: form_decode(secret),
                method: ClientAuthMethod::ClientSecretBasic,
            })
        }
    };
    if let Some(basic) = basic {
        if params.get("client_secret").is_some() {
            return Err(OAuthError::bad_request(
                "invalid_request",
                "the client authenticated with both HTTP Basic and client_secret in the body",
            ));
        }
        if let Some(body_id) = params.get("client_id")
            && body_id != basic.client_id
        {
            return Err(OAuthError::invalid_client(
                "client_id in the body differs from the Basic credential",
                true,
            ));
        }
        return Ok(Some(basic));
    }
    match (params.get("client_id"), params.get("client_secret")) {
        (Some(id), Some(secret)) => Ok(Some(Presented {
            client_id: id.into(),
            secret: secret.into(),
            method: ClientAuthMethod::ClientSecretPost,
        })),
        _ => Ok(None),
    }
}

/// Compares without stopping at the first difference.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Authenticates the client of a token or revocation request.
fn authenticate(inner: &Inner, presented: Option<&Presented>) -> Result<ClientConfig, OAuthError> {
    let Some(p) = presented else {
        return Err(OAuthError::invalid_client(
            "client authentication is required (HTTP Basic or client_id and client_secret in the body)",
            true,
        ));
    };
    let basic = p.method == ClientAuthMethod::ClientSecretBasic;
    let client = inner.clients.get(&p.client_id).ok_or_else(|| {
        OAuthError::invalid_client(format!("unknown client `{}`", p.client_id), basic)
    })?;
    if !client.auth_methods.contains(&p.method) {
        return Err(OAuthError::invalid_client(
            format!(
                "client `{}` may not authenticate with {}",
                p.client_id,
                p.method.as_str()
            ),
            basic,
        ));
    }
    if !same_secret(&p.secret, &client.client_secret) {
        return Err(OAuthError::invalid_client(
            "invalid client credentials",
            basic,
        ));
    }
    Ok(client.clone())
}

// ---------------------------------------------------------------------------
// Token endpoint

async fn token_endpoint(
    State(state): State<OAuthState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Best-effort look at the request for the log, before any validation.
    let loose = Params::parse(&body).unwrap_or_default();
    let mut record = TokenRequestRecord {
        grant_type: loose.get("grant_type").map(str::to_string),
        client_id: None,
        auth_method: None,
        scope: loose.get("scope").map(str::to_string),
        status: 200,
        error: None,
    };
    if let Ok(Some(p)) = presented_client(&headers, &loose) {
        record.client_id = Some(p.client_id);
        record.auth_method = Some(p.method);
    } else if let Some(id) = loose.get("client_id") {
        record.client_id = Some(id.to_string());
    }

    let delay = lock(&state.inner).delays.pop_front();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }

    let mut inner = lock(&state.inner);
    let result = match inner.faults.pop_front() {
        Some(fault) => Err(OAuthError::new(
            StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &fault.error,
            "injected failure",
        )),
        None => handle_token(&state.settings, &mut inner, &headers, &body),
    };
    let response = match result {
        Ok(body) => (StatusCode::OK, no_store(), axum::Json(body)).into_response(),
        Err(err) => {
            record.status = err.status.as_u16();
            record.error = Some(err.error.clone());
            err.into_response()
        }
    };
    inner.token_requests.push(record);
    response
}

fn handle_token(
    settings: &Settings,
    inner: &mut Inner,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, OAuthError> {
    let params = parse_form(headers, body)?;
    let presented = presented_client(headers, &params)?;
    let client = authenticate(inner, presented.as_ref())?;
    let grant_name = params.require("grant_type")?;
    let grant = GrantType::parse(grant_name).ok_or_else(|| {
        OAuthError::bad_request(
            "unsupported_grant_type",
            format!("grant type `{grant_name}` is not supported"),
        )
    })?;
    if !client.grant_types.contains(&grant) {
        return Err(OAuthError::bad_request(
            "unauthorized_client",
            format!(
                "client `{}` may not use the {} grant",
                client.client_id,
                grant.as_str()
            ),
        ));
    }
    match grant {
        GrantType::ClientCredentials => {
            let scopes = grant_scopes(
                parse_scope(params.get("scope"))?,
                &client.scopes,
                &client.default_scopes,
            )?;
            Ok(issue(settings, inner, &client, scopes, grant, None))
        }
        GrantType::AuthorizationCode => redeem_code(settings, inner, &client, &params),
        GrantType::RefreshToken => refresh(settings, inner, &client, &params),
    }
}

/// Issues an access token, and a refresh token when `family` is given and
/// the client may refresh.
fn issue(
    settings: &Settings,
    inner: &mut Inner,
    client: &ClientConfig,
    scopes: Vec<String>,
    grant: GrantType,
    family: Option<u64>,
) -> Value {
    let access = random_token();
    let order = inner.order();
    inner.access_tokens.insert(
        access.clone(),
        AccessToken {
            client_id: client.client_id.clone(),
            scopes: scopes.clone(),
            grant,
            family,
            expires_at: Instant::now() + settings.access_token_lifetime,
            revoked: false,
            order,
        },
    );
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": seconds_ceil(settings.access_token_lifetime),
    });
    if !scopes.is_empty() {
        body["scope"] = Value::String(scopes.join(" "));
    }
    if let Some(family) = family
        && client.grant_types.contains(&GrantType::RefreshToken)
    {
        let refresh = new_refresh_token(settings, inner, client, scopes, grant, family);
        body["refresh_token"] = Value::String(refresh);
        if let Some(lifetime) = settings.refresh_token_lifetime {
            body["refresh_expires_in"] = json!(seconds_ceil(lifetime));
        }
    }
    body
}

fn new_refresh_token(
    settings: &Settings,
    inner: &mut Inner,
    client: &ClientConfig,
    scopes: Vec<String>,
    grant: GrantType,
    family: u64,
) -> String {
    let value = random_token();
    let order = inner.order();
    inner.refresh_tokens.insert(
        value.clone(),
        RefreshToken {
            client_id: client.client_id.clone(),
            scopes,
            grant,
            family,
            expires_at: settings.refresh_token_lifetime.map(|l| Instant::now() + l),
            spent: false,
            revoked: false,
            order,
        },
    );
    value
}

fn redeem_code(
    settings: &Settings,
    inner: &mut Inner,
    client: &ClientConfig,
    params: &Params,
) -> Result<Value, OAuthError> {
    let code_value = params.require("code")?;
    let Some(code) = inner.codes.get_mut(code_value) else {
        return Err(OAuthError::invalid_grant("unknown authorization code"));
    };
    if code.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if code.used {
        let family = code.family;
        inner.revoke_family(family);
        return Err(OAuthError::invalid_grant(
            "the authorization code was already used; tokens issued for it are revoked",
        ));
    }
    // Spent on the first redemption attempt, successful or not, so a wrong
    // verifier cannot be retried against the same code.
    code.used = true;
    if Instant::now() >= code.expires_at {
        return Err(OAuthError::invalid_grant("the authorization code expired"));
    }
    if let Some(expected) = &code.redirect_uri_param
        && params.get("redirect_uri") != Some(expected.as_str())
    {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the one in the authorization request",
        ));
    }
    match (&code.challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !valid_verifier(verifier) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]",
                ));
            }
            if &s256(verifier) != challenge {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier is required: the authorization request used PKCE",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuthError::bad_request(
                "invalid_request",
                "code_verifier given but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    let scopes = code.scopes.clone();
    let family = code.family;
    Ok(issue(
        settings,
        inner,
        client,
        scopes,
        GrantType::AuthorizationCode,
        Some(family),
    ))
}

fn refresh(
    settings: &Settings,
    inner: &mut Inner,
    client: &ClientConfig,
    params: &Params,
) -> Result<Value, OAuthError> {
    let value = params.require("refresh_token")?;
    let Some(token) = inner.refresh_tokens.get(value) else {
        return Err(OAuthError::invalid_grant("unknown refresh token"));
    };
    if token.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if token.revoked {
        return Err(OAuthError::invalid_grant("the refresh token was revoked"));
    }
    if token.spent {
        let family = token.family;
        if settings.revoke_family_on_refresh_reuse {
            inner.revoke_family(family);
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of this grant is revoked",
            ));
        }
        return Err(OAuthError::invalid_grant(
            "the refresh token was already used",
        ));
    }
    if token.expires_at.is_some_and(|e| Instant::now() >= e) {
        return Err(OAuthError::invalid_grant("the refresh token expired"));
    }
    let original = token.scopes.clone();
    let family = token.family;
    let grant = token.grant;
    // RFC 6749 §6: a refresh may narrow the scope, never widen it.
    let scopes = grant_scopes(parse_scope(params.get("scope"))?, &original, &original)?;

    let access = random_token();
    let order = inner.order();
    inner.access_tokens.insert(
        access.clone(),
        AccessToken {
            client_id: client.client_id.clone(),
            scopes: scopes.clone(),
            grant: GrantType::RefreshToken,
            family: Some(family),
            expires_at: Instant::now() + settings.access_token_lifetime,
            revoked: false,
            order,
        },
    );
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": seconds_ceil(settings.access_token_lifetime),
    });
    if !scopes.is_empty() {
        body["scope"] = Value::String(scopes.join(" "));
    }
    if settings.rotate_refresh_tokens {
        if let Some(old) = inner.refresh_tokens.get_mut(value) {
            old.spent = true;
        }
        // The new refresh token keeps the original grant's scopes, so a
        // narrowed refresh does not shrink later ones.
        let next = new_refresh_token(settings, inner, client, original, grant, family);
        body["refresh_token"] = Value::String(next);
        if let Some(lifetime) = settings.refresh_token_lifetime {
            body["refresh_expires_in"] = json!(seconds_ceil(lifetime));
        }
    }
    Ok(body)
}

/// The S256 `code_challenge` of a PKCE `code_verifier` (RFC 7636 §4.2), for
/// tests that drive the authorization endpoint themselves.
pub fn pkce_challenge(verifier: &str) -> String {
    s256(verifier)
}

/// BASE64URL(SHA256(verifier)), RFC 7636 §4.2.
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43–128 unreserved characters.
fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

// ---------------------------------------------------------------------------
// Revocation endpoint (RFC 7009)

async fn revocation_endpoint(
    State(state): State<OAuthState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = lock(&state.inner);
    inner.revocation_requests += 1;
    match handle_revocation(&mut inner, &headers, &body) {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(err) => err.into_response(),
    }
}

fn handle_revocation(
    inner: &mut Inner,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), OAuthError> {
    let params = parse_form(headers, body)?;
    let presented = presented_client(headers, &params)?;
    let client = authenticate(inner, presented.as_ref())?;
    let token = params.require("token")?;
    let owner = inner
        .refresh_tokens
        .get(token)
        .map(|t| t.client_id.clone())
        .or_else(|| inner.access_tokens.get(token).map(|t| t.client_id.clone()));
    match owner {
        // RFC 7009 §2.2: an unknown or already invalid token is not an error.
        None => Ok(()),
        Some(owner) if owner != client.client_id => Err(OAuthError::bad_request(
            "unauthorized_client",
            "the token was issued to another client",
        )),
        Some(_) => {
            revoke_token(inner, token);
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------
// Authorization endpoint

/// A validated authorization request.
struct AuthorizeRequest {
    client_id: String,
    redirect_uri: String,
    redirect_uri_param: Option<String>,
    scopes: Vec<String>,
    state: Option<String>,
    challenge: Option<String>,
}

/// Why an authorization request failed: some errors may not be sent to the
/// redirect URI (an unknown client or redirect URI could be an attacker's).
enum AuthorizeError {
    /// Shown to the user as a page.
    Page(String),
    /// Sent to the (validated) redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

fn check_authorize(
    settings: &Settings,
    inner: &Inner,
    params: &Params,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let client_id = params
        .get("client_id")
        .ok_or_else(|| AuthorizeError::Page("client_id is missing".into()))?;
    let client = inner
        .clients
        .get(client_id)
        .ok_or_else(|| AuthorizeError::Page(format!("unknown client `{client_id}`")))?;
    let redirect_uri_param = params.get("redirect_uri").map(str::to_string);
    let redirect_uri = match &redirect_uri_param {
        Some(uri) if client.redirect_uris.contains(uri) => uri.clone(),
        Some(uri) => {
            return Err(AuthorizeError::Page(format!(
                "redirect_uri `{uri}` is not registered for client `{client_id}`"
            )));
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return Err(AuthorizeError::Page(
                "redirect_uri is required: the client has no single registered redirect URI".into(),
            ));
        }
    };
    let state = params.get("state").map(str::to_string);
    let fail = |error: &'static str, description: String| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description,
    };
    match params.get("response_type") {
        Some("code") => {}
        Some(other) => {
            return Err(fail(
                "unsupported_response_type",
                format!("response_type `{other}` is not supported; use `code`"),
            ));
        }
        None => {
            return Err(fail("invalid_request", "response_type is missing".into()));
        }
    }
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(fail(
            "unauthorized_client",
            format!("client `{client_id}` may not use the authorization_code grant"),
        ));
    }
    let scopes = grant_scopes(
        parse_scope(params.get("scope")).map_err(|e| fail("invalid_scope", e.description))?,
        &client.scopes,
        &client.default_scopes,
    )
    .map_err(|e| fail("invalid_scope", e.description))?;
    let challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, _) if settings.require_pkce => {
            return Err(fail(
                "invalid_request",
                "code_challenge is required (PKCE with S256)".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method given without code_challenge".into(),
            ));
        }
        (None, None) => None,
        (Some(challenge), Some("S256")) => {
            let well_formed = challenge.len() == 43
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !well_formed {
                return Err(fail(
                    "invalid_request",
                    "code_challenge must be a base64url SHA-256 digest (43 characters)".into(),
                ));
            }
            Some(challenge.to_string())
        }
        // RFC 7636 §4.3: a missing method means `plain`.
        (Some(_), method) => {
            return Err(fail(
                "invalid_request",
                format!(
                    "code_challenge_method `{}` is not allowed; use S256",
                    method.unwrap_or("plain")
                ),
            ));
        }
    };
    Ok(AuthorizeRequest {
        client_id: client_id.to_string(),
        redirect_uri,
        redirect_uri_param,
        scopes,
        state,
        challenge,
    })
}

fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let location = match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in pairs {
                    query.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => {
            return error_page(&format!("redirect URI `{redirect_uri}` is not a URL"));
        }
    };
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
    )
        .into_response()
}

fn error_redirect(err: AuthorizeError) -> Response {
    match err {
        AuthorizeError::Page(message) => error_page(&message),
        AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
            description,
        } => {
            let mut pairs = vec![
                ("error", error),
                ("error_description", description.as_str()),
            ];
            if let Some(state) = &state {
                pairs.push(("state", state));
            }
            redirect_with(&redirect_uri, &pairs)
        }
    }
}

fn grant_code(settings: &Settings, inner: &mut Inner, request: &AuthorizeRequest) -> Response {
    let code = random_token();
    let family = inner.family();
    inner.codes.insert(
        code.clone(),
        AuthCode {
            client_id: request.client_id.clone(),
            redirect_uri_param: request.redirect_uri_param.clone(),
            scopes: request.scopes.clone(),
            challenge: request.challenge.clone(),
            expires_at: Instant::now() + settings.code_lifetime,
            used: false,
            family,
        },
    );
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    redirect_with(&request.redirect_uri, &pairs)
}

async fn authorize_get(State(state): State<OAuthState>, RawQuery(query): RawQuery) -> Response {
    let mut inner = lock(&state.inner);
    inner.authorization_requests += 1;
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return error_page(&e.description),
    };
    let request = match check_authorize(&state.settings, &inner, &params) {
        Ok(r) => r,
        Err(e) => return error_redirect(e),
    };
    if inner.auto_approve {
        return grant_code(&state.settings, &mut inner, &request);
    }
    consent_page(&state.settings.authorize_path, &params, &request)
}

async fn authorize_post(
    State(state): State<OAuthState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = lock(&state.inner);
    inner.authorization_requests += 1;
    let params = match parse_form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return error_page(&e.description),
    };
    let request = match check_authorize(&state.settings, &inner, &params) {
        Ok(r) => r,
        Err(e) => return error_redirect(e),
    };
    match params.get("decision") {
        Some("approve") => grant_code(&state.settings, &mut inner, &request),
        Some("deny") => error_redirect(AuthorizeError::Redirect {
            redirect_uri: request.redirect_uri,
            state: request.state,
            error: "access_denied",
            description: "the user denied the request".into(),
        }),
        _ => error_page("decision must be `approve` or `deny`"),
    }
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n<h1>{}</h1>\n{}\n</body></html>\n",
        html_escape(title),
        html_escape(title),
        body
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response()
}

fn error_page(message: &str) -> Response {
    html(
        StatusCode::BAD_REQUEST,
        "Authorization failed",
        &format!("<p>{}</p>", html_escape(message)),
    )
}

fn consent_page(action: &str, params: &Params, request: &AuthorizeRequest) -> Response {
    let hidden: String = params
        .0
        .iter()
        .filter(|(k, _)| k.as_str() != "decision")
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                html_escape(k),
                html_escape(v)
            )
        })
        .collect();
    let scopes = if request.scopes.is_empty() {
        "no particular scope".to_string()
    } else {
        request.scopes.join(", ")
    };
    let body = format!(
        "<p>Application <strong>{}</strong> asks for access: {}.</p>\n<form method=\"post\" action=\"{}\">\n{}<button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\n<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\n</form>",
        html_escape(&request.client_id),
        html_escape(&scopes),
        html_escape(action),
        hidden
    );
    html(StatusCode::OK, "Authorize access", &body)
}

// ---------------------------------------------------------------------------
// Metadata (RFC 8414)

async fn metadata(State(state): State<OAuthState>, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let origin = format!("http://{host}");
    let s = &state.settings;
    axum::Json(json!({
        "issuer": origin,
        "authorization_endpoint": format!("{origin}{}", s.authorize_path),
        "token_endpoint": format!("{origin}{}", s.token_path),
        "revocation_endpoint": format!("{origin}{}", s.revocation_path),
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn scope_parsing_rejects_bad_characters_and_dedupes() {
        assert_eq!(
            parse_scope(Some("a  b a")).unwrap(),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert!(parse_scope(Some("a\"b")).is_err());
        assert_eq!(parse_scope(None).unwrap(), None);
    }

    #[test]
    fn granted_scopes_must_be_allowed() {
        let allowed = vec!["read".to_string(), "write".to_string()];
        assert_eq!(
            grant_scopes(Some(vec!["read".into()]), &allowed, &[]).unwrap(),
            vec!["read".to_string()]
        );
        let err = grant_scopes(Some(vec!["admin".into()]), &allowed, &[]).unwrap_err();
        assert_eq!(err.error, "invalid_scope");
        assert_eq!(grant_scopes(None, &allowed, &allowed).unwrap(), allowed);
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c"), "a:b c");
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let err = Params::parse(b"a=1&a=2").unwrap_err();
        assert_eq!(err.error, "invalid_request");
    }
}
