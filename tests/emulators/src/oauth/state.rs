//! The server's state behind [`OAuthState`]: registered clients, issued
//! tokens and codes, counters and injected faults, and what tests may do
//! with them.

use super::{ClientConfig, Config, GrantType, IssuedToken, TokenKind, TokenRequestRecord};
use crate::faults::{Fault, FaultQueue};
use crate::server::{TokenInfo, TokenValidator};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Shared, cheap-to-clone handle on the server's state for tests.
#[derive(Clone)]
pub struct OAuthState {
    pub(super) inner: Arc<Mutex<Inner>>,
    pub(super) settings: Arc<Settings>,
    /// Delays for the next token requests, one each.
    pub(super) token_delays: FaultQueue,
    /// Faults for the next token requests, one each.
    pub(super) token_faults: FaultQueue,
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
pub(super) struct Settings {
    pub(super) token_path: String,
    pub(super) authorize_path: String,
    pub(super) revocation_path: String,
    pub(super) access_token_lifetime: Duration,
    pub(super) refresh_token_lifetime: Option<Duration>,
    pub(super) code_lifetime: Duration,
    pub(super) rotate_refresh_tokens: bool,
    pub(super) revoke_family_on_refresh_reuse: bool,
    pub(super) require_pkce: bool,
}

pub(super) struct AccessToken {
    pub(super) client_id: String,
    pub(super) scopes: Vec<String>,
    pub(super) grant: GrantType,
    pub(super) family: Option<u64>,
    pub(super) expires_at: Instant,
    pub(super) revoked: bool,
    pub(super) order: u64,
}

pub(super) struct RefreshToken {
    pub(super) client_id: String,
    pub(super) scopes: Vec<String>,
    pub(super) grant: GrantType,
    pub(super) family: u64,
    pub(super) expires_at: Option<Instant>,
    pub(super) spent: bool,
    pub(super) revoked: bool,
    pub(super) order: u64,
}

pub(super) struct AuthCode {
    pub(super) client_id: String,
    /// The `redirect_uri` parameter of the authorization request, if given:
    /// the token request must then repeat it exactly.
    pub(super) redirect_uri_param: Option<String>,
    pub(super) scopes: Vec<String>,
    pub(super) challenge: Option<String>,
    pub(super) expires_at: Instant,
    pub(super) used: bool,
    pub(super) family: u64,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) clients: BTreeMap<String, ClientConfig>,
    pub(super) access_tokens: HashMap<String, AccessToken>,
    pub(super) refresh_tokens: HashMap<String, RefreshToken>,
    pub(super) codes: HashMap<String, AuthCode>,
    pub(super) token_requests: Vec<TokenRequestRecord>,
    pub(super) revocation_requests: usize,
    pub(super) authorization_requests: usize,
    pub(super) auto_approve: bool,
    pub(super) next_family: u64,
    pub(super) next_order: u64,
}

impl Inner {
    pub(super) fn order(&mut self) -> u64 {
        self.next_order += 1;
        self.next_order
    }

    pub(super) fn family(&mut self) -> u64 {
        self.next_family += 1;
        self.next_family
    }

    /// Revokes every access and refresh token of a grant family.
    pub(super) fn revoke_family(&mut self, family: u64) {
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

pub(super) fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A test that panicked while holding the lock must not wedge the server.
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The OAuth2 error a failure with `status` usually carries.
pub(super) fn usual_error(status: u16) -> &'static str {
    match status {
        503 => "temporarily_unavailable",
        401 => "invalid_client",
        400..=499 => "invalid_request",
        _ => "server_error",
    }
}

pub(super) fn seconds_ceil(d: Duration) -> u64 {
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
            token_delays: FaultQueue::new(),
            token_faults: FaultQueue::new(),
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
        self.token_delays.push_n(count, Fault::delay(delay));
    }

    /// Makes the next `count` token requests fail with `status` and the
    /// usual error for it (`server_error` for 500, `temporarily_unavailable`
    /// for 503, `invalid_request` for other 4xx).
    pub fn fail_next_token_requests(&self, count: usize, status: u16) {
        self.fail_next_token_requests_with(count, status, usual_error(status));
    }

    /// Makes the next `count` token requests fail with `status` and OAuth2
    /// error code `error` (e.g. 400 `invalid_grant`).
    pub fn fail_next_token_requests_with(&self, count: usize, status: u16, error: &str) {
        self.token_faults
            .push_n(count, Fault::status(status).code(error));
    }

    /// The faults the token endpoint answers with, one per token request
    /// (after any delay [`delay_next_token_requests`] queued). A fault
    /// without a scripted body gets the RFC 6749 error body: its
    /// [`Fault::code`] as `error` (else the usual one for the status, as
    /// [`fail_next_token_requests`] picks it) and its message (else
    /// "injected failure") as `error_description`.
    ///
    /// [`delay_next_token_requests`]: OAuthState::delay_next_token_requests
    /// [`fail_next_token_requests`]: OAuthState::fail_next_token_requests
    pub fn token_faults(&self) -> FaultQueue {
        self.token_faults.clone()
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

pub(super) fn revoke_token(inner: &mut Inner, token: &str) -> bool {
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
