//! Credentials: what the host adds to a connection's requests, and the OAuth2
//! tokens it keeps fresh. Connectors only declare auth methods; nothing here
//! ever crosses into a guest.

pub mod destinations;
pub mod oauth2;
pub mod redact;

use crate::bindings::types::{ApiKeyLocation, AuthMethod, AuthScheme};
use crate::net::transport::Transport;
use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use url::Url;

pub use destinations::CredentialPin;
pub use oauth2::{OAuthClient, TokenManager, TokenSet, TokenSink};

/// A secret value. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the few places that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(••••)")
    }
}

/// Why credentials could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The connection cannot authenticate now (missing secret, needs
    /// reauthorization).
    #[error("{0}")]
    Unavailable(String),
    /// The token endpoint failed in a way that may pass.
    #[error("token request failed: {0}")]
    Token(String),
}

/// The credentials of one connection, ready to apply to requests.
pub struct ConnectionCredentials {
    method: AuthMethod,
    secrets: BTreeMap<String, Secret>,
    tokens: Option<Arc<TokenManager>>,
    /// What every request carries besides an OAuth2 token, rendered once
    /// from the method's templates; or why it cannot be.
    rendered: Result<Rendered, CredentialError>,
    /// The redactor for the values known when it was built: building one is
    /// the costly part, so invocations share it until a token changes.
    redactor: std::sync::Mutex<Option<(Vec<String>, crate::credentials::redact::Redactor)>>,
}

/// The method's credential templates, rendered for one connection.
#[derive(Default)]
struct Rendered {
    /// Headers, values marked sensitive.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// An API key in the query: name and value.
    query: Option<(String, String)>,
    /// Values composed from secrets that an upstream could echo in a form
    /// the secrets' own do not cover: the Basic `user:password` pair.
    composed: Vec<String>,
}

impl Rendered {
    fn of(
        method: &AuthMethod,
        secrets: &BTreeMap<String, Secret>,
        fields: &Value,
        env_vars: &[(String, String)],
    ) -> Result<Self, CredentialError> {
        let lookup = |name: &str| secrets.get(name).map(|s| s.expose().to_string());
        let render = |template: &str| {
            crate::manifest::render_credential(template, fields, env_vars, &lookup)
                .map_err(|e| CredentialError::Unavailable(format!("{e} on this connection")))
        };
        let header =
            |name: &str, value: String| -> Result<(HeaderName, HeaderValue), CredentialError> {
                let name =
                    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| {
                        CredentialError::Unavailable(format!("invalid header name `{name}`"))
                    })?;
                let mut value = HeaderValue::from_str(&value).map_err(|_| {
                    CredentialError::Unavailable(format!(
                        "the `{name}` header would hold characters not allowed in a header"
                    ))
                })?;
                value.set_sensitive(true);
                Ok((name, value))
            };
        let mut out = Self::default();
        match &method.scheme {
            AuthScheme::Bearer(t) => {
                out.headers.push(header(
                    AUTHORIZATION.as_str(),
                    format!("Bearer {}", render(t)?),
                )?);
            }
            AuthScheme::Basic(b) => {
                let pair = format!("{}:{}", render(&b.username)?, render(&b.password)?);
                let encoded = base64::engine::general_purpose::STANDARD.encode(&pair);
                out.headers
                    .push(header(AUTHORIZATION.as_str(), format!("Basic {encoded}"))?);
                out.composed.push(pair);
            }
            AuthScheme::ApiKey(k) => {
                let key = render(&k.value)?;
                match &k.location {
                    ApiKeyLocation::Header(h) => out.headers.push(header(h, key)?),
                    ApiKeyLocation::Query(q) => out.query = Some((q.clone(), key)),
                }
            }
            AuthScheme::None
            | AuthScheme::Oauth2ClientCredentials(_)
            | AuthScheme::Oauth2AuthorizationCode(_) => {}
        }
        for h in &method.headers {
            let value = render(&h.value)?;
            out.headers.push(header(&h.name, value)?);
        }
        Ok(out)
    }
}

impl fmt::Debug for ConnectionCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionCredentials")
            .field("method", &self.method.id)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A secret's value, or a connection field's when the manifest allows a
/// field there (e.g. an OAuth2 client id that users must see and that is
/// validated by the connection schema).
pub fn secret_or_field(
    secrets: &BTreeMap<String, Secret>,
    fields: &Value,
    name: &str,
) -> Option<String> {
    secrets
        .get(name)
        .map(|s| s.expose().to_string())
        .or_else(|| crate::manifest::field_text(fields, name))
}

impl ConnectionCredentials {
    /// Credentials for `method` from these secrets, with `tokens` for the
    /// OAuth2 schemes; `fields` and `env_vars` fill the templates' other
    /// placeholders.
    pub fn new(
        method: AuthMethod,
        secrets: BTreeMap<String, Secret>,
        tokens: Option<Arc<TokenManager>>,
        fields: &Value,
        env_vars: &[(String, String)],
    ) -> Self {
        let rendered = Rendered::of(&method, &secrets, fields, env_vars);
        Self {
            method,
            secrets,
            tokens,
            rendered,
            redactor: std::sync::Mutex::new(None),
        }
    }

    /// The auth method.
    pub fn method(&self) -> &AuthMethod {
        &self.method
    }

    /// The token manager, for OAuth2 schemes.
    pub fn tokens(&self) -> Option<&Arc<TokenManager>> {
        self.tokens.as_ref()
    }

    /// Header names the host sets for this method; guests may not set them.
    pub fn owned_headers(&self) -> Vec<String> {
        let mut owned: Vec<String> = self
            .method
            .headers
            .iter()
            .map(|h| h.name.to_ascii_lowercase())
            .collect();
        if let AuthScheme::ApiKey(k) = &self.method.scheme
            && let ApiKeyLocation::Header(h) = &k.location
        {
            owned.push(h.to_ascii_lowercase());
        }
        owned
    }

    /// Query parameter names that carry secrets (redacted wherever shown).
    pub fn secret_query_names(&self) -> Vec<String> {
        match &self.method.scheme {
            AuthScheme::ApiKey(k) => match &k.location {
                ApiKeyLocation::Query(q) => vec![q.clone()],
                ApiKeyLocation::Header(_) => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// A redactor for every secret value known now (built once, and again
    /// only when the values change).
    pub fn redactor(&self) -> crate::credentials::redact::Redactor {
        let values = self.secret_values();
        let mut cached = self.redactor.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((known, redactor)) = cached.as_ref()
            && *known == values
        {
            return redactor.clone();
        }
        let redactor = crate::credentials::redact::Redactor::new(values.clone());
        *cached = Some((values, redactor.clone()));
        redactor
    }

    /// Every secret value known now, for redaction: each secret but an
    /// OAuth2 client id (an identifier every authorize URL shows, not a
    /// credential), what the method composes from secrets (the
    /// `user:password` pair a Basic header encodes) and every token.
    pub fn secret_values(&self) -> Vec<String> {
        let client_id = match &self.method.scheme {
            AuthScheme::Oauth2ClientCredentials(o) => Some(o.client_id_secret.as_str()),
            AuthScheme::Oauth2AuthorizationCode(a) => Some(a.oauth2.client_id_secret.as_str()),
            _ => None,
        };
        let mut values: Vec<String> = self
            .secrets
            .iter()
            .filter(|(name, _)| Some(name.as_str()) != client_id)
            .map(|(_, s)| s.expose().to_string())
            .collect();
        if let Ok(rendered) = &self.rendered {
            values.extend(rendered.composed.iter().cloned());
        }
        if let Some(t) = &self.tokens {
            values.extend(t.known_values());
        }
        values
    }

    /// Whether `status` means the credentials went bad.
    pub fn is_auth_failure(&self, status: u16) -> bool {
        self.tokens.is_some()
            && (status == 401 || self.method.auth_failure_statuses.contains(&status))
    }

    /// The token generation to note before sending a request (see
    /// [`TokenManager::generation`]).
    pub fn token_generation(&self) -> u64 {
        self.tokens.as_ref().map_or(0, |t| t.generation())
    }

    /// After an auth failure of a request sent at `generation`: refresh
    /// once (or take a token renewed since). `Ok(true)` means try again.
    pub async fn refresh_after_failure(
        &self,
        transport: &Transport,
        generation: u64,
    ) -> Result<bool, CredentialError> {
        match &self.tokens {
            Some(t) => t
                .refresh_after_failure(transport, generation)
                .await
                .map(|_| true),
            None => Ok(false),
        }
    }

    /// Adds the credentials to a request that passed every other check.
    pub async fn apply(
        &self,
        headers: &mut HeaderMap,
        url: &mut Url,
        transport: &Transport,
    ) -> Result<(), CredentialError> {
        let rendered = self.rendered.as_ref().map_err(Clone::clone)?;
        if matches!(
            self.method.scheme,
            AuthScheme::Oauth2ClientCredentials(_) | AuthScheme::Oauth2AuthorizationCode(_)
        ) {
            let tokens = self.tokens.as_ref().ok_or_else(|| {
                CredentialError::Unavailable("this connection has no OAuth2 token yet".into())
            })?;
            let token = tokens.access_token(transport).await?;
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                CredentialError::Unavailable(
                    "the access token holds characters not allowed in a header".into(),
                )
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        for (name, value) in &rendered.headers {
            headers.insert(name.clone(), value.clone());
        }
        if let Some((name, value)) = &rendered.query {
            crate::net::url::append_query(url, name, value);
        }
        Ok(())
    }
}
