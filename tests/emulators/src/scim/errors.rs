//! Answers: SCIM errors (RFC 7644 §3.12) and successful bodies, spelled in
//! the configured [`ResponseStyle`].

use super::{ContentType, ERROR, ResponseStyle};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

// Answers

/// The client a handler served, for the request log.
#[derive(Clone)]
pub(super) struct ServedClient(pub(super) String);

/// A SCIM error (RFC 7644 §3.12) and its headers.
#[derive(Debug)]
pub(super) struct ScimError {
    pub(super) status: StatusCode,
    pub(super) scim_type: Option<&'static str>,
    pub(super) detail: String,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
    pub(super) client_id: Option<String>,
}

impl ScimError {
    pub(super) fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            headers: Vec::new(),
            client_id: None,
        }
    }

    pub(super) fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub(super) fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            None,
            format!("Resource {what} not found"),
        )
    }

    pub(super) fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub(super) fn for_client(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_string());
        self
    }

    pub(super) fn render(self, style: &ResponseStyle) -> Response {
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

pub(super) fn lowercase_keys(value: Value) -> Value {
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

pub(super) fn answer(
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
