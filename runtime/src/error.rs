//! Why an invocation failed, as an [`ErrorKind`]: what every step of an
//! invocation and the sandbox report. [`InvokeError`](crate::InvokeError)
//! adds the connector, the card and what was recorded.

use crate::bindings::types::ConnectorError;
use crate::manifest::SchemaViolation;
use serde::Serialize;

/// Why an invocation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// No connector with this id is loaded.
    UnknownConnector,
    /// The connector has no such card.
    UnknownCard {
        /// A card with a close id, when there is one.
        did_you_mean: Option<String>,
    },
    /// The connector has no such trigger.
    UnknownTrigger {
        /// A trigger with a close id, when there is one.
        did_you_mean: Option<String>,
    },
    /// The input does not match the card's input schema.
    InvalidInput {
        /// Each violation with its JSON pointer.
        violations: Vec<SchemaViolation>,
    },
    /// The connection cannot be used (bad fields, missing credentials).
    Connection {
        /// What is wrong.
        message: String,
    },
    /// The broker refused a request the card made.
    Denied {
        /// Denial kind, kebab-case.
        kind: String,
        /// What was refused and why.
        message: String,
    },
    /// The card reported a failure.
    Card(CardFailure),
    /// The output does not match the card's output schema.
    InvalidOutput {
        /// Each violation.
        violations: Vec<SchemaViolation>,
    },
    /// The output is over the cap.
    OutputTooLarge {
        /// Size returned.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The deadline passed.
    DeadlineExceeded {
        /// The deadline.
        deadline_ms: u64,
    },
    /// The guest tried to grow memory past the cap.
    MemoryLimit {
        /// The cap.
        limit_bytes: usize,
    },
    /// The guest trapped (a panic, an unreachable, a bad memory access).
    Trap {
        /// The trap and the end of the guest's stderr.
        message: String,
    },
    /// The guest went over one of the runtime's limits (requests, bytes
    /// handed to the host, instances, memories or tables of a component).
    LimitExceeded {
        /// The limit, as named in the runtime configuration (`[limits]`).
        limit: String,
        /// What was over it.
        message: String,
    },
    /// No instance slot was free: the caller should retry shortly.
    Saturated {
        /// Which capacity was exhausted.
        message: String,
    },
    /// A fault in the host.
    Host {
        /// What went wrong.
        message: String,
    },
}

impl std::fmt::Display for ErrorKind {
    /// The cause alone, worded to follow `connector/card `;
    /// [`InvokeError`](crate::InvokeError) says it with them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorKind::UnknownConnector => write!(f, "no such connector is loaded"),
            ErrorKind::UnknownCard { did_you_mean } => {
                write!(f, "the connector has no such card")?;
                write_suggestion(f, did_you_mean)
            }
            ErrorKind::UnknownTrigger { did_you_mean } => {
                write!(f, "the connector has no such trigger")?;
                write_suggestion(f, did_you_mean)
            }
            ErrorKind::InvalidInput { violations } => {
                write!(f, "invalid input: {}", pointers(violations))
            }
            ErrorKind::Connection { message } => {
                write!(f, "the connection cannot be used: {message}")
            }
            ErrorKind::Denied { kind, message } => write!(f, "request refused ({kind}): {message}"),
            ErrorKind::Card(failure) => write!(f, "failed: {failure}"),
            ErrorKind::InvalidOutput { violations } => write!(
                f,
                "returned output that does not match its schema: {}",
                pointers(violations)
            ),
            ErrorKind::OutputTooLarge { size, limit } => {
                write!(
                    f,
                    "returned {size} bytes, over the {limit}-byte output limit"
                )
            }
            ErrorKind::DeadlineExceeded { deadline_ms } => {
                write!(f, "did not finish within its {deadline_ms} ms deadline")
            }
            ErrorKind::MemoryLimit { limit_bytes } => {
                write!(f, "exceeded its {limit_bytes}-byte memory limit")
            }
            ErrorKind::Trap { message } => write!(f, "crashed: {message}"),
            ErrorKind::LimitExceeded { limit, message } => {
                write!(f, "went over the `{limit}` limit: {message}")
            }
            ErrorKind::Saturated { message } => write!(f, "could not start: {message}"),
            ErrorKind::Host { message } => write!(f, "host error: {message}"),
        }
    }
}

impl ErrorKind {
    /// A short kebab-case name of the error class, for metrics and history.
    pub fn class(&self) -> &'static str {
        match self {
            ErrorKind::UnknownConnector => "unknown-connector",
            ErrorKind::UnknownCard { .. } => "unknown-card",
            ErrorKind::UnknownTrigger { .. } => "unknown-trigger",
            ErrorKind::InvalidInput { .. } => "invalid-input",
            ErrorKind::Connection { .. } => "connection",
            ErrorKind::Denied { .. } => "denied",
            ErrorKind::Card(failure) => match failure {
                CardFailure::InvalidInput { .. } => "card-invalid-input",
                CardFailure::Unauthorized { .. } => "unauthorized",
                CardFailure::Forbidden { .. } => "forbidden",
                CardFailure::NotFound { .. } => "not-found",
                CardFailure::RateLimited { .. } => "rate-limited",
                CardFailure::Upstream { .. } => "upstream",
                CardFailure::Internal { .. } => "connector-internal",
            },
            ErrorKind::InvalidOutput { .. } => "invalid-output",
            ErrorKind::OutputTooLarge { .. } => "output-too-large",
            ErrorKind::DeadlineExceeded { .. } => "deadline-exceeded",
            ErrorKind::MemoryLimit { .. } => "memory-limit",
            ErrorKind::Trap { .. } => "trap",
            ErrorKind::LimitExceeded { .. } => "limit-exceeded",
            ErrorKind::Saturated { .. } => "saturated",
            ErrorKind::Host { .. } => "host",
        }
    }

    /// One violation at the document's root.
    pub(crate) fn invalid_input(message: String) -> Self {
        ErrorKind::InvalidInput {
            violations: vec![SchemaViolation {
                pointer: String::new(),
                message,
            }],
        }
    }
}

/// How a connector's card failed, as the connector said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CardFailure {
    /// The input was refused by the connector.
    InvalidInput {
        /// Why.
        message: String,
    },
    /// The upstream refused the credentials.
    Unauthorized {
        /// Why.
        message: String,
    },
    /// The credentials lack a right upstream.
    Forbidden {
        /// Why.
        message: String,
    },
    /// Not found upstream.
    NotFound {
        /// What.
        message: String,
    },
    /// Rate limited upstream.
    RateLimited {
        /// What the upstream said.
        message: String,
        /// Seconds to wait.
        retry_after_seconds: Option<u32>,
    },
    /// Upstream failure.
    Upstream {
        /// HTTP status, if any.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// A fault in the connector.
    Internal {
        /// What went wrong.
        message: String,
    },
}

impl std::fmt::Display for CardFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CardFailure::InvalidInput { message } => write!(f, "invalid input: {message}"),
            CardFailure::Unauthorized { message } => write!(f, "unauthorized upstream: {message}"),
            CardFailure::Forbidden { message } => write!(f, "forbidden upstream: {message}"),
            CardFailure::NotFound { message } => write!(f, "not found: {message}"),
            CardFailure::RateLimited {
                message,
                retry_after_seconds,
            } => match retry_after_seconds {
                Some(s) => write!(f, "rate limited upstream (retry after {s}s): {message}"),
                None => write!(f, "rate limited upstream: {message}"),
            },
            CardFailure::Upstream {
                status: Some(s),
                message,
            } => write!(f, "upstream error {s}: {message}"),
            CardFailure::Upstream {
                status: None,
                message,
            } => write!(f, "upstream error: {message}"),
            CardFailure::Internal { message } => write!(f, "connector error: {message}"),
        }
    }
}

impl CardFailure {
    pub(crate) fn from_wit(e: ConnectorError, redact: &dyn Fn(&str) -> String) -> Self {
        match e {
            ConnectorError::InvalidInput(m) => CardFailure::InvalidInput {
                message: redact(&m),
            },
            ConnectorError::Unauthorized(m) => CardFailure::Unauthorized {
                message: redact(&m),
            },
            ConnectorError::Forbidden(m) => CardFailure::Forbidden {
                message: redact(&m),
            },
            ConnectorError::NotFound(m) => CardFailure::NotFound {
                message: redact(&m),
            },
            ConnectorError::RateLimited(r) => CardFailure::RateLimited {
                message: redact(&r.message),
                retry_after_seconds: r.retry_after_seconds,
            },
            ConnectorError::Upstream(u) => CardFailure::Upstream {
                status: u.status,
                message: redact(&u.message),
            },
            ConnectorError::Internal(m) => CardFailure::Internal {
                message: redact(&m),
            },
        }
    }
}

pub(crate) fn pointers(v: &[SchemaViolation]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `; did you mean `x`?` after a message, when there is a close name.
pub(crate) fn write_suggestion(
    f: &mut std::fmt::Formatter<'_>,
    did_you_mean: &Option<String>,
) -> std::fmt::Result {
    match did_you_mean {
        Some(name) => write!(f, "; did you mean `{name}`?"),
        None => Ok(()),
    }
}
