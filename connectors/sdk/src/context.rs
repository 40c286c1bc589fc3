//! What an invocation is told: ids, connection fields and permissions.

use serde_json::Value;

/// The context of one invocation. It never holds a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// Unique id of this invocation.
    pub invocation_id: String,
    /// The connection the card runs with, if any.
    pub connection_id: Option<String>,
    /// The connection's non-secret fields.
    pub fields: Value,
    /// Permissions usable in this invocation (card's ∩ connection's grant).
    pub permissions: Vec<String>,
    /// Id of the environment the connection's fields selected (`sandbox`);
    /// empty without a connection.
    pub environment: String,
    /// The base URL relative request paths resolve against; empty without
    /// a connection.
    pub base_url: String,
}

impl Context {
    /// A context for native unit tests.
    pub fn for_test(fields: Value) -> Self {
        Self {
            invocation_id: "test".into(),
            connection_id: None,
            fields,
            permissions: Vec::new(),
            environment: String::new(),
            base_url: String::new(),
        }
    }

    /// A connection field as text, if present and a string.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// Whether permission `id` may be used in this invocation.
    pub fn has_permission(&self, id: &str) -> bool {
        self.permissions.iter().any(|p| p == id)
    }
}

/// One line of a connection test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was tried.
    pub name: String,
    /// Whether it worked.
    pub ok: bool,
    /// What happened.
    pub detail: String,
}

impl Check {
    /// A check named `name`.
    pub fn new(name: &str, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ok,
            detail: detail.into(),
        }
    }
}

/// The outcome of a connection test.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionReport {
    /// Whether the connection works.
    pub ok: bool,
    /// One-sentence summary.
    pub summary: String,
    /// Each check.
    pub checks: Vec<Check>,
}

impl ConnectionReport {
    /// Adds a check.
    pub fn check(mut self, name: &str, ok: bool, detail: impl Into<String>) -> Self {
        self.checks.push(Check::new(name, ok, detail));
        self
    }

    /// Sets `ok` from the checks (all passed, at least one ran) and the summary.
    pub fn finish(mut self, summary_ok: &str) -> Self {
        self.ok = !self.checks.is_empty() && self.checks.iter().all(|c| c.ok);
        self.summary = if self.ok {
            summary_ok.to_string()
        } else {
            let failed: Vec<&str> = self
                .checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| c.name.as_str())
                .collect();
            format!("failed: {}", failed.join(", "))
        };
        self
    }
}
