//! The protocol's common ground: RFC 6749 error answers, form and query
//! parameters, scopes and client authentication.

use super::state::Inner;
use super::{ClientAuthMethod, ClientConfig};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// An RFC 6749 §5.2 error answer.
#[derive(Debug)]
pub(super) struct OAuthError {
    pub(super) status: StatusCode,
    pub(super) error: String,
    pub(super) description: String,
    /// Set when the client tried HTTP Basic and failed: RFC 6749 §5.2 wants a
    /// `WWW-Authenticate` challenge then.
    pub(super) basic_challenge: bool,
}

impl OAuthError {
    pub(super) fn new(status: StatusCode, error: &str, description: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            description: description.into(),
            basic_challenge: false,
        }
    }

    pub(super) fn bad_request(error: &str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }

    pub(super) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::bad_request("invalid_grant", description)
    }

    pub(super) fn invalid_client(description: impl Into<String>, basic: bool) -> Self {
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

pub(super) fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// Parsed form or query parameters; each may appear once (RFC 6749 §3.1).
#[derive(Debug, Default)]
pub(super) struct Params(pub(super) BTreeMap<String, String>);

impl Params {
    pub(super) fn parse(raw: &[u8]) -> Result<Self, OAuthError> {
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
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub(super) fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::bad_request("invalid_request", format!("parameter `{name}` is missing"))
        })
    }
}

pub(super) fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
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
pub(super) fn parse_scope(raw: Option<&str>) -> Result<Option<Vec<String>>, OAuthError> {
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
pub(super) fn grant_scopes(
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
pub(super) fn form_decode(value: &str) -> String {
    let plus_as_space = value.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

/// A presented client credential, before it is checked.
pub(super) struct Presented {
    pub(super) client_id: String,
    pub(super) secret: String,
    pub(super) method: ClientAuthMethod,
}

/// Reads the client credential from the `Authorization` header or the form
/// body; using both is an error (RFC 6749 §2.3).
pub(super) fn presented_client(
    headers: &HeaderMap,
    params: &Params,
) -> Result<Option<Presented>, OAuthError> {
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
pub(super) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Authenticates the client of a token or revocation request.
pub(super) fn authenticate(
    inner: &Inner,
    presented: Option<&Presented>,
) -> Result<ClientConfig, OAuthError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
