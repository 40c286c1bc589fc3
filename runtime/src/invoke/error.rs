//! Why an invocation failed: one [`InvokeError`] naming the connector, the
//! card and the [`ErrorKind`], with what was recorded before it failed.

use crate::broker::Journal;
use crate::error::{ErrorKind, pointers, write_suggestion};
use crate::guest::GuestOutput;

/// A failed invocation: which connector and card, why ([`ErrorKind`]), and
/// what the guest logged and the broker recorded before it failed (empty
/// when it failed before the guest ran).
#[derive(Debug)]
pub struct InvokeError {
    /// Unique id of the invocation.
    pub id: String,
    /// Connector id.
    pub connector: String,
    /// Card id (`test-connection` for a connection test).
    pub card: String,
    /// Why it failed.
    pub kind: ErrorKind,
    /// What the guest logged.
    pub logs: GuestOutput,
    /// Upstream requests and refusals.
    pub journal: Journal,
    /// Wall time.
    pub duration_ms: u64,
}

impl InvokeError {
    /// A failure of `card` of `connector` with nothing recorded yet.
    pub fn new(connector: &str, card: &str, kind: ErrorKind) -> Self {
        Self {
            id: String::new(),
            connector: connector.into(),
            card: card.into(),
            kind,
            logs: GuestOutput::default(),
            journal: Journal::default(),
            duration_ms: 0,
        }
    }

    /// A short kebab-case name of the error class, for metrics and history.
    pub fn class(&self) -> &'static str {
        self.kind.class()
    }
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (connector, card) = (&self.connector, &self.card);
        match &self.kind {
            ErrorKind::UnknownConnector => write!(f, "no connector `{connector}` is loaded"),
            ErrorKind::UnknownCard { did_you_mean } => {
                write!(f, "connector `{connector}` has no card `{card}`")?;
                write_suggestion(f, did_you_mean)
            }
            ErrorKind::InvalidInput { violations } => write!(
                f,
                "invalid input for {connector}/{card}: {}",
                pointers(violations)
            ),
            ErrorKind::Connection { message } => {
                write!(f, "connection cannot be used with {connector}: {message}")
            }
            ErrorKind::Denied { kind, message } => {
                write!(f, "{connector}/{card}: request refused ({kind}): {message}")
            }
            ErrorKind::Card(failure) => write!(f, "{connector}/{card} failed: {failure}"),
            ErrorKind::InvalidOutput { violations } => write!(
                f,
                "{connector}/{card} returned output that does not match its schema: {}",
                pointers(violations)
            ),
            ErrorKind::OutputTooLarge { size, limit } => write!(
                f,
                "{connector}/{card} returned {size} bytes, over the {limit}-byte output limit"
            ),
            ErrorKind::DeadlineExceeded { deadline_ms } => write!(
                f,
                "{connector}/{card} did not finish within its {deadline_ms} ms deadline"
            ),
            ErrorKind::MemoryLimit { limit_bytes } => write!(
                f,
                "{connector}/{card} exceeded its {limit_bytes}-byte memory limit"
            ),
            ErrorKind::Trap { message } => write!(f, "{connector}/{card} crashed: {message}"),
            ErrorKind::LimitExceeded { limit, message } => write!(
                f,
                "{connector}/{card} went over the `{limit}` limit: {message}"
            ),
            ErrorKind::Saturated { message } => {
                write!(f, "{connector}/{card} could not start: {message}")
            }
            ErrorKind::Host { message } => {
                write!(f, "host error running {connector}/{card}: {message}")
            }
        }
    }
}

impl std::error::Error for InvokeError {}
