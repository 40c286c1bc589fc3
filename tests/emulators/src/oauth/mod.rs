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

mod authorize;
mod protocol;
mod state;
mod token;

use crate::server::{Server, TokenValidator};
use authorize::{authorize_get, authorize_post, metadata};
use axum::Router;
use axum::routing::{get, post};
pub use state::OAuthState;
use std::time::Duration;
pub use token::pkce_challenge;
use token::{revocation_endpoint, token_endpoint};

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
