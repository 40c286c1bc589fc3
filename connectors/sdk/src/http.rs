//! Typed HTTP through the host's broker.
//!
//! Requests go to the host, which resolves relative paths against the
//! connection's base URL, enforces allowed hosts and the card's permissions
//! and adds the credentials. Non-2xx answers are ordinary [`Response`]s;
//! [`Response::error_for_status`] turns them into card errors.

use crate::error::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    /// Parses a method name, case-insensitively.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            _ => return None,
        })
    }

    /// The method's name in upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// A request to send through the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Path relative to the base URL, or an absolute URL on an allowed host.
    pub url: String,
    /// Query parameters (encoded by the host).
    pub query: Vec<(String, String)>,
    /// Headers. Credential headers are refused by the host.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A request with no query, headers or body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A GET.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A POST.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// A PUT.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }

    /// A PATCH.
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new(Method::Patch, url)
    }

    /// A DELETE.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds a query parameter when `value` is present.
    pub fn query_opt<V: ToString>(self, name: &str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json<T: Serialize + ?Sized>(self, body: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::Internal(format!("cannot encode request body: {e}")))?;
        Ok(self.body(bytes, "application/json"))
    }

    /// Sets a raw body and its content type.
    pub fn body(mut self, bytes: Vec<u8>, content_type: &str) -> Self {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        self.headers
            .push(("content-type".to_string(), content_type.to_string()));
        self.body = Some(bytes);
        self
    }

    /// Sends the request and returns the answer, whatever its status.
    pub fn send(self) -> Result<Response> {
        crate::transport::send(self)
    }

    /// Sends the request, fails on a non-2xx status and decodes the JSON body.
    pub fn send_json<T: DeserializeOwned>(self) -> Result<T> {
        self.send()?.error_for_status()?.json()
    }
}

/// The upstream's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Adds a header (for answers built in tests).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Decodes the body as JSON. An empty body decodes as `null`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|e| Error::Upstream {
            status: Some(self.status),
            message: format!("unexpected response body: {e}"),
        })
    }

    /// The body, unparsed, as the card's output ([`Passthrough`](crate::Passthrough)): for a
    /// card that answers with what the upstream sent. A body that is not
    /// JSON is an upstream error.
    pub fn passthrough<S>(self) -> Result<crate::Passthrough<S>> {
        let status = self.status;
        crate::Passthrough::from_bytes(self.body).map_err(|e| Error::Upstream {
            status: Some(status),
            message: format!("unexpected response body: {e}"),
        })
    }

    /// `Retry-After` in whole seconds, when given as a number.
    pub fn retry_after(&self) -> Option<u32> {
        self.header("retry-after")?.trim().parse().ok()
    }

    /// Turns a non-2xx answer into the matching [`Error`], with the message the
    /// upstream gave (see [`error_message`]).
    pub fn error_for_status(self) -> Result<Self> {
        if self.is_success() {
            return Ok(self);
        }
        Err(Error::from_status(
            self.status,
            error_message(&self),
            self.retry_after(),
        ))
    }
}

/// The most useful words in an error answer: a JSON `message`, `detail`,
/// `error_description`, `error` or `title` field of the body (any case);
/// else an error header (`X-Error-Message`, `X-Error`, `Error-Message`, or
/// the `error_description` / `error` of a `WWW-Authenticate` challenge);
/// else the start of the body; else the status.
pub fn error_message(response: &Response) -> String {
    if let Ok(serde_json::Value::Object(map)) =
        serde_json::from_slice::<serde_json::Value>(&response.body)
    {
        for key in ["message", "detail", "error_description", "error", "title"] {
            let found = map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .and_then(|(_, v)| v.as_str());
            if let Some(text) = found.filter(|t| !t.is_empty()) {
                return text.to_string();
            }
        }
    }
    if let Some(text) = header_message(response) {
        return text;
    }
    let text = response.text();
    let text = text.trim();
    if text.is_empty() {
        format!("HTTP {}", response.status)
    } else {
        text.chars().take(300).collect()
    }
}

/// An error message an upstream put in its headers.
fn header_message(response: &Response) -> Option<String> {
    for name in ["x-error-message", "x-error", "error-message"] {
        if let Some(text) = response
            .header(name)
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            return Some(text.chars().take(300).collect());
        }
    }
    let challenge = response.header("www-authenticate")?;
    ["error_description", "error"]
        .iter()
        .find_map(|param| challenge_param(challenge, param))
}

/// The value of `param` in a `WWW-Authenticate` challenge
/// (`Bearer error="invalid_token", error_description="expired"`).
fn challenge_param(challenge: &str, param: &str) -> Option<String> {
    let mut rest = challenge;
    while let Some(at) = rest.find(param) {
        let before = rest[..at].chars().last();
        let after = rest[at + param.len()..].trim_start();
        rest = &rest[at + param.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        let text = match value.strip_prefix('"') {
            Some(quoted) => quoted.split('"').next().unwrap_or_default(),
            None => value.split([',', ' ']).next().unwrap_or_default(),
        };
        if !text.is_empty() {
            return Some(text.chars().take(300).collect());
        }
    }
    None
}

/// Why the host sent no request or got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host refused it (allow-list, permission, private address ...).
    Denied(String),
    /// The request is malformed.
    InvalidRequest(String),
    /// The body is over the host's cap.
    RequestTooLarge(u64),
    /// The answer is over the host's cap.
    ResponseTooLarge(u64),
    /// Connect or read timeout.
    Timeout(String),
    /// The invocation deadline passed.
    DeadlineExceeded,
    /// The connection failed.
    Transport(String),
}

impl From<HttpError> for Error {
    fn from(err: HttpError) -> Self {
        match err {
            HttpError::Denied(m) => Error::Forbidden(format!("refused by cardhost: {m}")),
            HttpError::InvalidRequest(m) => Error::Internal(format!("invalid request: {m}")),
            HttpError::RequestTooLarge(cap) => {
                Error::InvalidInput(format!("request body is over the {cap}-byte limit"))
            }
            HttpError::ResponseTooLarge(cap) => Error::Upstream {
                status: None,
                message: format!("response is over the {cap}-byte limit"),
            },
            HttpError::Timeout(m) => Error::upstream(format!("timed out: {m}")),
            HttpError::DeadlineExceeded => Error::upstream("the invocation deadline passed"),
            HttpError::Transport(m) => Error::upstream(format!("connection failed: {m}")),
        }
    }
}

/// Builds a query string (`a=1&b=x%20y`) with the same encoding the host uses,
/// for URLs a connector hands to users or follows itself.
pub fn encode_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes one query or path component (RFC 3986 unreserved kept).
pub fn encode_component(value: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(value, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("retry-after".into(), "7".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn error_message_reads_headers_when_the_body_has_none() {
        let with = |name: &str, value: &str| Response {
            status: 401,
            headers: vec![(name.into(), value.into())],
            body: Vec::new(),
        };
        assert_eq!(
            error_message(&with(
                "www-authenticate",
                r#"Bearer realm="api", error="invalid_token", error_description="The token expired""#
            )),
            "The token expired"
        );
        assert_eq!(
            error_message(&with("www-authenticate", "Bearer error=invalid_token")),
            "invalid_token"
        );
        assert_eq!(
            error_message(&with("x-error-message", "Tenant is suspended")),
            "Tenant is suspended"
        );
        assert_eq!(
            error_message(&with("www-authenticate", "Basic realm=\"x\"")),
            "HTTP 401"
        );
    }

    #[test]
    fn error_message_prefers_json_fields_in_any_case() {
        let r = response(403, r#"{"Message":"scope lacks View Employee"}"#);
        assert_eq!(error_message(&r), "scope lacks View Employee");
        let r = response(401, "");
        assert_eq!(error_message(&r), "HTTP 401");
    }

    #[test]
    fn error_for_status_maps_statuses_and_retry_after() {
        let err = response(429, "{}").error_for_status().unwrap_err();
        assert_eq!(
            err,
            Error::RateLimited {
                message: "{}".into(),
                retry_after_seconds: Some(7)
            }
        );
        assert!(matches!(
            response(404, "gone").error_for_status(),
            Err(Error::NotFound(m)) if m == "gone"
        ));
        assert!(response(204, "").error_for_status().is_ok());
    }

    #[test]
    fn query_encoding_escapes_reserved_characters() {
        let q = encode_query(&[("filter".into(), "userName eq \"a b\"&x".into())]);
        assert_eq!(q, "filter=userName%20eq%20%22a%20b%22%26x");
    }

    #[test]
    fn json_body_replaces_content_type() {
        let r = Request::post("/x")
            .header("Content-Type", "text/plain")
            .json(&serde_json::json!({"a": 1}))
            .unwrap();
        assert_eq!(
            r.headers,
            vec![("content-type".into(), "application/json".into())]
        );
        assert_eq!(r.body.as_deref(), Some(&br#"{"a":1}"#[..]));
    }
}
