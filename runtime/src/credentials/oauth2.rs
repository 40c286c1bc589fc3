//! OAuth2 tokens: client credentials and refresh, done right.
//!
//! - One token request at a time per connection (single flight): callers
//!   queue on the manager's lock and find the fresh token when they get it.
//! - Tokens are refreshed shortly before they expire, and once after a 401.
//! - A rotated refresh token is handed to the [`TokenSink`] (the store) and
//!   saved *before* the new access token is used, so a crash between the two
//!   never loses the connection.
//! - `invalid_grant` on refresh marks the connection as needing
//!   reauthorization and is not retried.

use super::CredentialError;
use crate::net::transport::Transport;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;
use url::Url;

/// Largest token or revocation response read, in bytes.
pub const MAX_TOKEN_RESPONSE: usize = 64 << 10;

/// Refresh this long before a token expires.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// In the form body.
    ClientSecretPost,
    /// HTTP Basic.
    ClientSecretBasic,
}

/// Everything needed to talk to a token endpoint, templates rendered.
#[derive(Clone)]
pub struct OAuthClient {
    /// Token endpoint.
    pub token_url: Url,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// Client authentication.
    pub auth: ClientAuthMethod,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("token_url", &self.token_url.origin().ascii_serialization())
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// The tokens of a connection.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    /// Current access token.
    pub access_token: Option<String>,
    /// When it expires (Unix seconds), if known.
    pub expires_at: Option<i64>,
    /// Refresh token, for the authorization-code grant.
    pub refresh_token: Option<String>,
    /// Granted scopes, as the server reported them.
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &self.access_token.as_ref().map(|_| "••••"))
            .field("expires_at", &self.expires_at)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "••••"),
            )
            .finish()
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl TokenSet {
    /// Whether the access token is usable for a while yet.
    pub fn is_fresh(&self) -> bool {
        match (&self.access_token, self.expires_at) {
            (Some(_), Some(exp)) => now_secs() + (EXPIRY_MARGIN.as_secs() as i64) < exp,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// Where a manager saves tokens: the store, for stored connections.
#[async_trait::async_trait]
pub trait TokenSink: Send + Sync {
    /// Saves a new token set durably. Called before the tokens are used.
    async fn save(&self, tokens: &TokenSet) -> Result<(), String>;
    /// Records that the connection must be reauthorized, and why.
    async fn needs_reauthorization(&self, reason: &str);
    /// The tokens as saved now. Another process sharing the store may have
    /// refreshed (and rotated the refresh token) since this manager loaded
    /// them; a manager reads them back before spending its refresh token.
    async fn load(&self) -> Option<TokenSet> {
        None
    }
    /// Takes the shared refresh lease for `holder` for `ttl`; `Ok(false)`
    /// while another holder's lease runs. A sink with nothing shared
    /// (a one-off connection) always has it.
    async fn take_lease(&self, _holder: &str, _ttl: Duration) -> Result<bool, String> {
        Ok(true)
    }
    /// Gives the lease back.
    async fn release_lease(&self, _holder: &str) {}
}

/// How long a refresh lease lasts: longer than a token request may take.
pub const LEASE_TTL: Duration = Duration::from_secs(60);
/// How long a refresh waits for another process's lease before giving up.
pub const LEASE_WAIT: Duration = Duration::from_secs(30);

/// A refresh lease taken from the sink. The renewal that took it gives it
/// back ([`LeaseGuard::release`]) or keeps it while new tokens wait to be
/// saved ([`LeaseGuard::keep`]); a renewal cancelled half-way (its caller
/// went away) gives it back from a task, so the next process need not wait
/// for it to expire.
struct LeaseGuard {
    sink: Arc<dyn TokenSink>,
    holder: String,
    armed: bool,
}

impl LeaseGuard {
    async fn release(mut self) {
        self.armed = false;
        self.sink.release_lease(&self.holder).await;
    }

    fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if self.armed
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let sink = self.sink.clone();
            let holder = std::mem::take(&mut self.holder);
            runtime.spawn(async move { sink.release_lease(&holder).await });
        }
    }
}

/// Which grant keeps the connection's token fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Client credentials: fetch a new token whenever needed.
    ClientCredentials,
    /// Authorization code: refresh with the refresh token.
    RefreshToken,
}

/// The raw token endpoint answer.
#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// An OAuth2 error answer.
#[derive(Debug, Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Keeps one connection's OAuth2 token fresh.
pub struct TokenManager {
    client: OAuthClient,
    grant: Grant,
    state: Mutex<TokenSet>,
    /// Bumped on every renewal.
    generation: AtomicU64,
    sink: Option<Arc<dyn TokenSink>>,
    /// Token values seen so far, for redaction (not behind the async lock).
    known: std::sync::Mutex<Vec<String>>,
    /// Who this manager is when it takes the store's refresh lease.
    holder: String,
    /// New tokens that could not be saved yet: kept in memory, saved again
    /// before anything else, and no refresh until they are.
    unsaved: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("client", &self.client)
            .field("grant", &self.grant)
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    /// A manager starting from `tokens` (possibly empty).
    pub fn new(
        client: OAuthClient,
        grant: Grant,
        tokens: TokenSet,
        sink: Option<Arc<dyn TokenSink>>,
    ) -> Self {
        let mut known = vec![client.client_secret.clone()];
        known.extend(tokens.access_token.clone());
        known.extend(tokens.refresh_token.clone());
        Self {
            client,
            grant,
            state: Mutex::new(tokens),
            generation: AtomicU64::new(0),
            sink,
            known: std::sync::Mutex::new(known),
            holder: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
            unsaved: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Tries again to save tokens whose save failed. `Err` while it still
    /// fails.
    async fn flush_unsaved(&self, state: &TokenSet) -> Result<(), CredentialError> {
        if !self.unsaved.load(Ordering::Acquire) {
            return Ok(());
        }
        let Some(sink) = &self.sink else {
            self.unsaved.store(false, Ordering::Release);
            return Ok(());
        };
        // Keep the lease while the only copy of the rotated token is here.
        let _ = sink.take_lease(&self.holder, LEASE_TTL).await;
        match sink.save(state).await {
            Ok(()) => {
                self.unsaved.store(false, Ordering::Release);
                sink.release_lease(&self.holder).await;
                tracing::info!("saved the renewed tokens that could not be saved before");
                Ok(())
            }
            Err(e) => Err(CredentialError::Token(format!(
                "the renewed tokens could not be saved ({e}); no further renewal until they are"
            ))),
        }
    }

    /// Takes the stored tokens when another process renewed them since
    /// these were loaded. Returns whether they changed.
    async fn adopt_stored(&self, state: &mut TokenSet) -> bool {
        let Some(sink) = &self.sink else {
            return false;
        };
        let Some(stored) = sink.load().await else {
            return false;
        };
        if stored.access_token.is_none()
            || (stored.access_token == state.access_token
                && stored.refresh_token == state.refresh_token)
        {
            return false;
        }
        *state = stored;
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut known) = self.known.lock() {
            known.extend(state.access_token.clone());
            known.extend(state.refresh_token.clone());
        }
        true
    }

    /// Secret values this manager knows (for redaction).
    pub fn known_values(&self) -> Vec<String> {
        self.known.lock().map(|k| k.clone()).unwrap_or_default()
    }

    /// The current tokens (for tests and the store).
    pub async fn tokens(&self) -> TokenSet {
        self.state.lock().await.clone()
    }

    /// A fresh access token, fetching or refreshing when needed.
    pub async fn access_token(&self, transport: &Transport) -> Result<String, CredentialError> {
        let mut state = self.state.lock().await;
        // A save that failed is retried first; the token stays usable.
        let _ = self.flush_unsaved(&state).await;
        if state.is_fresh()
            && let Some(token) = &state.access_token
        {
            return Ok(token.clone());
        }
        self.renew(&mut state, transport).await
    }

    /// How many times the tokens were renewed; a caller notes it before
    /// sending a request so that [`TokenManager::refresh_after_failure`]
    /// can tell whether someone renewed since.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// After the upstream refused the token of a request sent at
    /// `generation`: renew, unless another caller already renewed since
    /// (then its token is used) — so a burst of 401s costs one refresh.
    pub async fn refresh_after_failure(
        &self,
        transport: &Transport,
        generation: u64,
    ) -> Result<String, CredentialError> {
        let mut state = self.state.lock().await;
        if self.generation() != generation
            && state.is_fresh()
            && let Some(token) = &state.access_token
        {
            return Ok(token.clone());
        }
        // Force a renewal: the upstream says the token is no longer good.
        state.expires_at = Some(0);
        self.renew(&mut state, transport).await
    }

    async fn renew(
        &self,
        state: &mut TokenSet,
        transport: &Transport,
    ) -> Result<String, CredentialError> {
        let mut form: Vec<(&str, String)> = Vec::new();
        match self.grant {
            Grant::ClientCredentials => {
                form.push(("grant_type", "client_credentials".into()));
                if !self.client.scopes.is_empty() {
                    form.push(("scope", self.client.scopes.join(" ")));
                }
            }
            Grant::RefreshToken => {
                // The only copy of a rotated refresh token must be saved
                // before another one is spent.
                self.flush_unsaved(state).await?;
                if self.adopt_stored(state).await
                    && state.is_fresh()
                    && let Some(token) = &state.access_token
                {
                    return Ok(token.clone());
                }
            }
        }
        // Processes sharing the store take turns: only the lease holder
        // spends the refresh token; the others wait and use what it saved.
        let lease = match (&self.sink, self.grant) {
            (Some(sink), Grant::RefreshToken) => {
                let waited_since = tokio::time::Instant::now();
                loop {
                    match sink.take_lease(&self.holder, LEASE_TTL).await {
                        Ok(true) => break,
                        Ok(false) if waited_since.elapsed() < LEASE_WAIT => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            if self.adopt_stored(state).await
                                && state.is_fresh()
                                && let Some(token) = &state.access_token
                            {
                                return Ok(token.clone());
                            }
                        }
                        Ok(false) => {
                            return Err(CredentialError::Token(format!(
                                "another process has been renewing this connection's token for {} s",
                                LEASE_WAIT.as_secs()
                            )));
                        }
                        Err(e) => {
                            return Err(CredentialError::Token(format!(
                                "cannot take the refresh lease: {e}"
                            )));
                        }
                    }
                }
                Some(LeaseGuard {
                    sink: sink.clone(),
                    holder: self.holder.clone(),
                    armed: true,
                })
            }
            _ => None,
        };
        let renewed = self.spend_grant(state, transport, form).await;
        if let Some(lease) = lease {
            // Tokens that could not be saved keep the lease until they are.
            if self.unsaved.load(Ordering::Acquire) {
                lease.keep();
            } else {
                lease.release().await;
            }
        }
        renewed
    }

    /// Sends the token request of a renewal (under the lease, for a refresh
    /// token) and saves what it brings.
    async fn spend_grant(
        &self,
        state: &mut TokenSet,
        transport: &Transport,
        mut form: Vec<(&str, String)>,
    ) -> Result<String, CredentialError> {
        if self.grant == Grant::RefreshToken {
            // Under the lease the stored tokens are the truth.
            if self.adopt_stored(state).await
                && state.is_fresh()
                && let Some(token) = &state.access_token
            {
                return Ok(token.clone());
            }
            let Some(refresh) = state.refresh_token.clone() else {
                let reason = "no refresh token is stored: authorize the connection again";
                if let Some(sink) = &self.sink {
                    sink.needs_reauthorization(reason).await;
                }
                return Err(CredentialError::Unavailable(format!(
                    "connection needs reauthorization: {reason}"
                )));
            };
            form.push(("grant_type", "refresh_token".into()));
            form.push(("refresh_token", refresh));
        }
        let fetched = self.request_token(transport, form).await;
        let response = match fetched {
            Ok(r) => r,
            Err(TokenFailure::InvalidGrant(detail)) => {
                // A refresh token another process rotated since: use theirs.
                if self.adopt_stored(state).await
                    && state.is_fresh()
                    && let Some(token) = &state.access_token
                {
                    return Ok(token.clone());
                }
                let reason =
                    format!("the provider refused the stored grant (invalid_grant: {detail})");
                if let Some(sink) = &self.sink {
                    sink.needs_reauthorization(&reason).await;
                }
                state.access_token = None;
                return Err(CredentialError::Unavailable(format!(
                    "connection needs reauthorization: {reason}"
                )));
            }
            Err(TokenFailure::Other(message)) => return Err(CredentialError::Token(message)),
        };
        let expires_in = response.expires_in.as_ref().and_then(|v| match v {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        });
        let new = TokenSet {
            access_token: Some(response.access_token.clone()),
            expires_at: expires_in.map(|s| now_secs() + s),
            // Servers that do not rotate keep the old refresh token valid.
            refresh_token: response
                .refresh_token
                .clone()
                .or_else(|| state.refresh_token.clone()),
            scope: response.scope.clone().or_else(|| state.scope.clone()),
        };
        if let Ok(mut known) = self.known.lock() {
            known.push(response.access_token.clone());
            known.extend(response.refresh_token.clone());
        }
        // Persist first: a rotated refresh token that is used but not saved
        // would lose the connection on a crash. If the save fails, the new
        // tokens are all there is (the old refresh token may be spent):
        // keep them in memory, keep the lease, and save them again before
        // any further renewal.
        if let Some(sink) = &self.sink
            && let Err(e) = sink.save(&new).await
        {
            tracing::error!(error = %e, "could not save renewed tokens; keeping them in memory and retrying");
            self.unsaved.store(true, Ordering::Release);
        }
        *state = new;
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(response.access_token)
    }

    /// Revokes the connection's refresh token (or else its access token) at
    /// the provider's RFC 7009 endpoint. Returns whether there was a token
    /// to revoke.
    pub async fn revoke(&self, transport: &Transport, endpoint: &Url) -> Result<bool, String> {
        let state = self.state.lock().await.clone();
        let (token, hint) = match (&state.refresh_token, &state.access_token) {
            (Some(r), _) => (r.clone(), "refresh_token"),
            (None, Some(a)) => (a.clone(), "access_token"),
            (None, None) => return Ok(false),
        };
        let form = vec![("token", token), ("token_type_hint", hint.to_string())];
        let request = self.form_request(transport, endpoint, form)?;
        let response = transport.send_host_request(request).await?;
        let status = response.status();
        // The body is read (capped) only to let the connection be reused.
        let _ = crate::net::transport::read_capped(response, MAX_TOKEN_RESPONSE).await;
        if status.is_success() {
            Ok(true)
        } else {
            Err(format!("the revocation endpoint answered {status}"))
        }
    }

    /// A form POST to a token-family endpoint, authenticated as the client.
    fn form_request(
        &self,
        transport: &Transport,
        endpoint: &Url,
        mut form: Vec<(&str, String)>,
    ) -> Result<reqwest::RequestBuilder, String> {
        let mut request = transport
            .host_request(reqwest::Method::POST, endpoint)?
            .header(reqwest::header::ACCEPT, "application/json");
        match self.client.auth {
            ClientAuthMethod::ClientSecretBasic => {
                request = request.basic_auth(
                    crate::net::url::encode_component(&self.client.client_id),
                    Some(crate::net::url::encode_component(
                        &self.client.client_secret,
                    )),
                );
            }
            ClientAuthMethod::ClientSecretPost => {
                form.push(("client_id", self.client.client_id.clone()));
                form.push(("client_secret", self.client.client_secret.clone()));
            }
        }
        let body = form
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    crate::net::url::encode_component(k),
                    crate::net::url::encode_component(v)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let request = request
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .timeout(Duration::from_secs(30));
        Ok(request)
    }

    async fn request_token(
        &self,
        transport: &Transport,
        form: Vec<(&str, String)>,
    ) -> Result<TokenResponse, TokenFailure> {
        let request = self
            .form_request(transport, &self.client.token_url, form)
            .map_err(TokenFailure::Other)?;
        let response = transport
            .send_host_request(request)
            .await
            .map_err(TokenFailure::Other)?;
        let status = response.status();
        let bytes = crate::net::transport::read_capped(response, MAX_TOKEN_RESPONSE)
            .await
            .map_err(|e| TokenFailure::Other(format!("reading the token response: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                TokenFailure::Other(format!(
                    "token endpoint answered {status} with an unusable body: {e}"
                ))
            });
        }
        match serde_json::from_slice::<ErrorResponse>(&bytes) {
            Ok(e) if e.error == "invalid_grant" => Err(TokenFailure::InvalidGrant(
                e.error_description
                    .unwrap_or_else(|| "no description".into()),
            )),
            Ok(e) => Err(TokenFailure::Other(format!(
                "token endpoint answered {status}: {}{}",
                e.error,
                e.error_description
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ))),
            Err(_) => Err(TokenFailure::Other(format!(
                "token endpoint answered {status}{}",
                non_oauth_error_words(&bytes)
                    .map(|w| format!(": {w}"))
                    .unwrap_or_default()
            ))),
        }
    }

    /// Exchanges an authorization code (with its PKCE verifier) for tokens and
    /// saves them.
    pub async fn exchange_code(
        &self,
        transport: &Transport,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenSet, CredentialError> {
        let form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("code_verifier", verifier.to_string()),
            ("redirect_uri", redirect_uri.to_string()),
        ];
        let response = self
            .request_token(transport, form)
            .await
            .map_err(|e| match e {
                TokenFailure::InvalidGrant(d) => {
                    CredentialError::Unavailable(format!("the authorization code was refused: {d}"))
                }
                TokenFailure::Other(m) => CredentialError::Token(m),
            })?;
        let expires_in = response
            .expires_in
            .as_ref()
            .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()));
        let tokens = TokenSet {
            access_token: Some(response.access_token),
            expires_at: expires_in.map(|s| now_secs() + s),
            refresh_token: response.refresh_token,
            scope: response.scope,
        };
        if let Some(sink) = &self.sink {
            sink.save(&tokens)
                .await
                .map_err(|e| CredentialError::Token(format!("could not save the tokens: {e}")))?;
        }
        *self.state.lock().await = tokens.clone();
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(tokens)
    }
}

enum TokenFailure {
    InvalidGrant(String),
    Other(String),
}

/// The words of a token endpoint error that is not an OAuth2 error body,
/// such as an API gateway's `{"statusCode": 401, "message": "Access denied
/// due to invalid subscription key. …"}` in front of Paycor's token
/// endpoint: a JSON `message` (any case), else the start of a plain-text
/// body. Capped and stripped of control characters; the caller's redactor
/// still hides any secret in it.
fn non_oauth_error_words(body: &[u8]) -> Option<String> {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("message"))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)?,
        Ok(_) => return None,
        Err(_) => {
            let text = std::str::from_utf8(body).ok()?;
            // An HTML error page says nothing useful in one line.
            if text.trim_start().starts_with('<') {
                return None;
            }
            text.to_string()
        }
    };
    let words: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    let words = words.trim();
    (!words.is_empty()).then(|| words.to_string())
}

#[cfg(test)]
mod tests {
    use super::non_oauth_error_words;

    #[test]
    fn gateway_error_words_are_kept_short_and_clean() {
        assert_eq!(
            non_oauth_error_words(
                br#"{ "statusCode": 401, "message": "Access denied due to invalid subscription key." }"#
            )
            .as_deref(),
            Some("Access denied due to invalid subscription key.")
        );
        assert_eq!(
            non_oauth_error_words(b"upstream\nconnect error").as_deref(),
            Some("upstream connect error")
        );
        assert_eq!(
            non_oauth_error_words(b"<html><body>502</body></html>"),
            None
        );
        assert_eq!(non_oauth_error_words(b""), None);
        assert_eq!(non_oauth_error_words(b"[1]"), None);
        assert_eq!(non_oauth_error_words(&[b'x'; 500]).unwrap().len(), 200);
    }
}
