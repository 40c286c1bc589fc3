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
            ErrorKind::UnknownTrigger { did_you_mean } => {
                write!(f, "connector `{connector}` has no trigger `{card}`")?;
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
            ErrorKind::Host { message } => {
                write!(f, "host error running {connector}/{card}: {message}")
            }
            // The rest read as the kind's own words after `connector/card`.
            kind => write!(f, "{connector}/{card} {kind}"),
        }
    }
}

impl std::error::Error for InvokeError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CardFailure;

    fn said(kind: ErrorKind) -> String {
        InvokeError::new("acme", "read-item", kind).to_string()
    }

    #[test]
    fn each_failure_names_the_connector_and_card() {
        assert_eq!(
            said(ErrorKind::MemoryLimit { limit_bytes: 64 }),
            "acme/read-item exceeded its 64-byte memory limit"
        );
        assert_eq!(
            said(ErrorKind::OutputTooLarge { size: 9, limit: 4 }),
            "acme/read-item returned 9 bytes, over the 4-byte output limit"
        );
        assert_eq!(
            said(ErrorKind::Card(CardFailure::NotFound {
                message: "no item 7".into()
            })),
            "acme/read-item failed: not found: no item 7"
        );
        assert_eq!(
            said(ErrorKind::UnknownCard {
                did_you_mean: Some("read-items".into())
            }),
            "connector `acme` has no card `read-item`; did you mean `read-items`?"
        );
        assert_eq!(
            said(ErrorKind::Host {
                message: "lost".into()
            }),
            "host error running acme/read-item: lost"
        );
    }
}
