//! SmartHR's error answers: `{"code", "type", "message", "errors"}` with
//! SmartHR's codes.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error answer: SmartHR's body and extra headers.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: u8,
    pub(super) kind: &'static str,
    pub(super) message: String,
    pub(super) errors: Value,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub(super) fn new(code: u8, message: impl Into<String>) -> Self {
        let (status, kind) = match code {
            1 => (StatusCode::BAD_REQUEST, "bad_request"),
            2 => (StatusCode::UNAUTHORIZED, "unauthorized_token"),
            3 => (StatusCode::FORBIDDEN, "forbidden"),
            4 => (StatusCode::NOT_FOUND, "not_found"),
            6 => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            7 => (StatusCode::FORBIDDEN, "plan_limit_exceeded"),
            8 => (StatusCode::BAD_REQUEST, "non_deletable_resource"),
            9 => (StatusCode::SERVICE_UNAVAILABLE, "service_maintenance"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal_server_error"),
        };
        Self {
            status,
            code,
            kind,
            message: message.into(),
            errors: Value::Null,
            headers: Vec::new(),
        }
    }

    /// The error SmartHR gives for `status`.
    pub(super) fn for_status(status: u16) -> Self {
        let code = match status {
            400 => 1,
            401 => 2,
            403 => 3,
            404 => 4,
            429 => 6,
            503 => 9,
            _ => 5,
        };
        let mut err = Self::new(code, default_message(code));
        if let Ok(s) = StatusCode::from_u16(status) {
            err.status = s;
        }
        err
    }

    /// 400 with one `{"message", "resource", "field"}` detail.
    pub(super) fn invalid(resource: &str, field: &str, message: impl Into<String>) -> Self {
        let mut err = Self::new(1, "Bad request");
        err.errors = json!([{"message": message.into(), "resource": resource, "field": field}]);
        err
    }

    pub(super) fn not_found() -> Self {
        Self::new(4, "Not found")
    }
}

pub(super) fn default_message(code: u8) -> &'static str {
    match code {
        1 => "Bad request",
        2 => "Unauthorized token",
        3 => "Forbidden",
        4 => "Not found",
        6 => "Too many requests",
        7 => "Plan limit exceeded",
        8 => "Non deletable resource",
        9 => "Service maintenance",
        _ => "Internal server error",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "type": self.kind,
            "message": self.message,
            "errors": self.errors,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}
