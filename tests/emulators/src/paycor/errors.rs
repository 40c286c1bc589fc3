//! Why a request failed, rendered the way whoever refused it answers: the
//! API gateway, the token check, Data Access, or Paycor's own error body.

use super::Casing;
use super::render::camel_case;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Why a request failed, in the form whoever refused it answers.
pub(super) enum ApiError {
    /// The API gateway: `{"statusCode", "message"}`.
    Gateway {
        status: StatusCode,
        message: String,
        retry_after: Option<u32>,
    },
    /// A refused access token: 401, empty body.
    Unauthorized,
    /// A missing Data Access right or activation: 403, empty body.
    Forbidden,
    /// Paycor's own error body.
    Paycor {
        status: StatusCode,
        title: &'static str,
        detail: String,
        source: Option<Value>,
    },
}

impl ApiError {
    pub(super) fn bad_request(detail: impl Into<String>, source: Option<Value>) -> Self {
        ApiError::Paycor {
            status: StatusCode::BAD_REQUEST,
            title: "Validation Error",
            detail: detail.into(),
            source,
        }
    }

    pub(super) fn not_found(detail: impl Into<String>) -> Self {
        ApiError::Paycor {
            status: StatusCode::NOT_FOUND,
            title: "Not Found",
            detail: detail.into(),
            source: None,
        }
    }

    pub(super) fn gateway(status: StatusCode, message: &str) -> Self {
        ApiError::Gateway {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(super) fn rate_limited(seconds: u32) -> Self {
        ApiError::Gateway {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: rate_limit_message(seconds),
            retry_after: Some(seconds),
        }
    }

    pub(super) fn render(self, casing: Casing, correlation: String) -> Response {
        match self {
            ApiError::Gateway {
                status,
                message,
                retry_after,
            } => {
                let body = json!({"statusCode": status.as_u16(), "message": message});
                let mut response = (status, axum::Json(body)).into_response();
                if let Some(seconds) = retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                response
            }
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
            )
                .into_response(),
            ApiError::Forbidden => StatusCode::FORBIDDEN.into_response(),
            ApiError::Paycor {
                status,
                title,
                detail,
                source,
            } => {
                // `Source` is a dictionary: ASP.NET leaves its keys (field
                // paths) as they are in either casing.
                let name = |n: &str| match casing {
                    Casing::Pascal => n.to_string(),
                    Casing::Camel => camel_case(n),
                };
                let mut body = Map::new();
                body.insert(name("CorrelationId"), json!(correlation));
                body.insert(name("Title"), json!(title));
                body.insert(name("Detail"), json!(detail));
                body.insert(name("Source"), source.unwrap_or(Value::Null));
                (status, axum::Json(Value::Object(body))).into_response()
            }
        }
    }
}

/// APIM's message for a call over the rate limit.
pub(super) fn rate_limit_message(seconds: u32) -> String {
    format!("Rate limit is exceeded. Try again in {seconds} seconds.")
}

/// Marks a response with the app that was served, for the request log.
#[derive(Clone)]
pub(super) struct ServedApp(pub(super) String);
