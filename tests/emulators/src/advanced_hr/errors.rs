//! Error answers: `{"status", "error", "message"}` with their headers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::borrow::Cow;

/// The client a handler served, for the request log.
#[derive(Clone)]
pub(super) struct ServedClient(pub(super) String);

/// An error answer: `{"status", "error", "message"}` and its headers.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: Cow<'static, str>,
    pub(super) message: String,
    pub(super) headers: Vec<(header::HeaderName, HeaderValue)>,
    /// The authenticated client, when the error came after authentication.
    pub(super) client_id: Option<String>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: Cow::Borrowed(code),
            message: message.into(),
            headers: Vec::new(),
            client_id: None,
        }
    }

    /// Replaces the error code.
    pub(super) fn with_code(mut self, code: String) -> Self {
        self.code = Cow::Owned(code);
        self
    }

    pub(super) fn bad_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", message)
    }

    pub(super) fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub(super) fn for_client(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_string());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "status": self.status.as_u16(),
            "error": self.code,
            "message": self.message,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().extend(self.headers);
        if let Some(client_id) = self.client_id {
            response.extensions_mut().insert(ServedClient(client_id));
        }
        response
    }
}
