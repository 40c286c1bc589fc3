//! How a card fails: the SDK side of the WIT `connector-error`.

use std::fmt;

/// A card's failure, in words a flow builder can act on. Each variant maps to
/// one case of the WIT `connector-error`, and the host maps each to an HTTP
/// status for API callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input is not acceptable even though it matched the schema.
    InvalidInput(String),
    /// The upstream refused the credentials (401).
    Unauthorized(String),
    /// The credentials lack a right (403).
    Forbidden(String),
    /// The thing asked for does not exist (404).
    NotFound(String),
    /// The upstream is rate limiting (429).
    RateLimited {
        /// What the upstream said.
        message: String,
        /// Seconds to wait, when known.
        retry_after_seconds: Option<u32>,
    },
    /// The upstream failed or answered something unusable.
    Upstream {
        /// HTTP status, when there was an answer.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// A fault in the connector.
    Internal(String),
}

/// Result of a card.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An upstream failure without a status.
    pub fn upstream(message: impl Into<String>) -> Self {
        Error::Upstream {
            status: None,
            message: message.into(),
        }
    }

    /// Maps an upstream status and the message extracted from its body to the
    /// matching error case. 2xx and 3xx never reach here from the helpers.
    pub fn from_status(status: u16, message: impl Into<String>, retry_after: Option<u32>) -> Self {
        let message = message.into();
        match status {
            400 | 422 => Error::InvalidInput(message),
            401 => Error::Unauthorized(message),
            403 => Error::Forbidden(message),
            404 | 410 => Error::NotFound(message),
            429 => Error::RateLimited {
                message,
                retry_after_seconds: retry_after,
            },
            _ => Error::Upstream {
                status: Some(status),
                message,
            },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Error::Unauthorized(m) => write!(f, "unauthorized: {m}"),
            Error::Forbidden(m) => write!(f, "forbidden: {m}"),
            Error::NotFound(m) => write!(f, "not found: {m}"),
            Error::RateLimited { message, .. } => write!(f, "rate limited: {message}"),
            Error::Upstream {
                status: Some(s),
                message,
            } => write!(f, "upstream error {s}: {message}"),
            Error::Upstream {
                status: None,
                message,
            } => write!(f, "upstream error: {message}"),
            Error::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::upstream(format!("unexpected JSON from upstream: {err}"))
    }
}
