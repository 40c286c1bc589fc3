//! Running a card, as a short pipeline of named steps:
//!
//! 1. `look_up`: the connector, the connection's fit with it, the card in
//!    the [catalog](crate::catalog);
//! 2. `check_input`: the schema's defaults filled in, the input's size and
//!    its schema;
//! 3. scope: what the card may reach, with which credentials
//!    (`Cardhost::scope_for`);
//! 4. run: in the sandbox ([`crate::guest`]) for a connector's card, in the
//!    host for a host card;
//! 5. `decode_output` and `check_output`: size, a last scrub of secrets,
//!    JSON, the schema.
//!
//! Each step returns an [`ErrorKind`]; [`Cardhost::invoke`] turns the first
//! one into an [`InvokeError`] naming the connector and card, with what was
//! recorded before it.

pub mod custom_api_action;
mod error;
mod json;
pub mod trigger;

pub use crate::error::{CardFailure, ErrorKind};
pub use error::InvokeError;

use crate::bindings::types::{self as wit, ConnectorError};
use crate::broker::{Journal, RequestScope};
use crate::catalog::{CatalogCard, Runner};
use crate::config::Limits;
use crate::guest::{GuestOutput, sandbox};
use crate::host::{Cardhost, Connection};
use crate::manifest::{CardSpec, SchemaViolation, with_defaults};
use crate::registry::{LoadedConnector, Registry};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

/// A finished invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Invocation {
    /// Unique id.
    pub id: String,
    /// Connector id.
    pub connector: String,
    /// Connector version.
    pub connector_version: String,
    /// Card id.
    pub card: String,
    /// Connection id, if any.
    pub connection: Option<String>,
    /// The output (validated).
    pub output: Value,
    /// What the guest logged.
    pub logs: GuestOutput,
    /// Upstream requests and refusals.
    pub journal: Journal,
    /// Wall time.
    pub duration_ms: u64,
}

/// A fresh invocation id.
pub fn new_invocation_id() -> String {
    let bytes: [u8; 12] = rand::random();
    format!("inv_{}", hex::encode(bytes))
}

/// The tracing span of one invocation: `invocation.id` is the id the
/// invocation is answered and recorded with, so a trace (or a log line in the
/// span) leads to its history row. `outcome` is recorded when it ends.
fn invocation_span(
    id: &str,
    connector: &str,
    card: &str,
    connection: Option<&Connection>,
) -> tracing::Span {
    tracing::info_span!(
        "invocation",
        invocation.id = id,
        connector,
        card,
        connection.id = connection.and_then(|c| c.id.as_deref()),
        outcome = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}

/// What a call leaves for the record, whatever its outcome.
#[derive(Debug, Default)]
struct Record {
    logs: GuestOutput,
    journal: Journal,
}

impl Record {
    fn keep(&mut self, scope: &RequestScope, logs: GuestOutput) {
        self.journal = scope.journal_snapshot();
        self.logs = logs;
    }
}

/// Step 1: the connector, that the connection (if any) belongs to it, and
/// the card.
pub(crate) fn look_up(
    registry: &Registry,
    connector: &str,
    card: &str,
    connection: Option<&Connection>,
) -> Result<(Arc<LoadedConnector>, CatalogCard), ErrorKind> {
    let loaded = registry
        .get(connector)
        .cloned()
        .ok_or(ErrorKind::UnknownConnector)?;
    if let Some(c) = connection
        && c.connector != connector
    {
        return Err(ErrorKind::Connection {
            message: format!("the connection belongs to connector `{}`", c.connector),
        });
    }
    let Some(card) = loaded.catalog.get(card).cloned() else {
        let ids = loaded.catalog.iter().map(|c| c.spec.card.id.as_str());
        return Err(ErrorKind::UnknownCard {
            did_you_mean: crate::text::did_you_mean(card, ids).map(str::to_string),
        });
    };
    Ok((loaded, card))
}

/// Step 2: the input with the schema's top-level `default`s filled in (as
/// for connection fields), serialised once (its size is checked here, and
/// the text is what crosses into the guest), then checked against the
/// schema.
pub(crate) fn check_input<'a>(
    spec: &CardSpec,
    input: &'a Value,
    limits: &Limits,
) -> Result<(Cow<'a, Value>, String), ErrorKind> {
    let input = with_defaults(&spec.input_schema, input);
    let text = input.to_string();
    if text.len() > limits.max_input_bytes {
        return Err(ErrorKind::invalid_input(format!(
            "input is {} bytes, over the {}-byte limit",
            text.len(),
            limits.max_input_bytes
        )));
    }
    let violations = spec.check_input(&input);
    if !violations.is_empty() {
        return Err(ErrorKind::InvalidInput { violations });
    }
    Ok((input, text))
}

/// Step 5 for a guest's output text: within the size cap, scrubbed of every
/// secret of the connection whatever the guest learnt, and JSON.
pub(crate) fn decode_output(
    text: String,
    scope: &RequestScope,
    limits: &Limits,
) -> Result<Value, ErrorKind> {
    if text.len() > limits.max_output_bytes {
        return Err(ErrorKind::OutputTooLarge {
            size: text.len(),
            limit: limits.max_output_bytes,
        });
    }
    let text = match scope
        .redactor
        .lock()
        .ok()
        .and_then(|r| r.redact_bytes(text.as_bytes()))
    {
        Some(scrubbed) => String::from_utf8_lossy(&scrubbed).into_owned(),
        None => text,
    };
    json::parse_unique(&text).map_err(|e| ErrorKind::InvalidOutput {
        violations: vec![SchemaViolation {
            pointer: String::new(),
            // A data error is a key named twice; the rest is bad syntax.
            message: if e.is_data() {
                format!("the output is ambiguous: {e}")
            } else {
                format!("not JSON: {e}")
            },
        }],
    })
}

/// The host's parser of card output: one JSON value whose objects name no
/// key twice (exposed for the benchmark, which measures it against other
/// parsers).
pub fn parse_output(text: &str) -> Result<Value, String> {
    json::parse_unique(text).map_err(|e| e.to_string())
}

/// Step 5, for every card: the output against the card's output schema.
pub(crate) fn check_output(spec: &CardSpec, output: Value) -> Result<Value, ErrorKind> {
    let violations = spec.check_output(&output);
    if violations.is_empty() {
        Ok(output)
    } else {
        Err(ErrorKind::InvalidOutput { violations })
    }
}

/// The context a guest sees.
pub(crate) fn guest_context(
    invocation_id: &str,
    connection: Option<&str>,
    fields: &Value,
    scope: &RequestScope,
) -> wit::Context {
    wit::Context {
        invocation_id: invocation_id.to_string(),
        connection_id: connection.map(str::to_string),
        connection_fields: fields.to_string(),
        permissions: scope.usable.iter().map(|p| p.id.clone()).collect(),
        environment: scope
            .environment
            .as_ref()
            .map(|e| e.id.clone())
            .unwrap_or_default(),
        base_url: scope
            .environment
            .as_ref()
            .map(|e| e.base_url.to_string())
            .unwrap_or_default(),
    }
}

/// How a card's own error is reported: the host's cause when there is one
/// (a broker refusal during the call, or the deadline passing while a
/// request was in flight, when the guest only saw an HTTP error), else what
/// the card said, with the connection's secrets hidden.
pub(crate) fn card_error(
    error: ConnectorError,
    scope: &RequestScope,
    deadline_ms: u64,
) -> ErrorKind {
    if let Some(denial) = scope.last_denial() {
        return ErrorKind::Denied {
            kind: denial.kind,
            message: denial.message,
        };
    }
    if tokio::time::Instant::now() >= scope.deadline {
        return ErrorKind::DeadlineExceeded { deadline_ms };
    }
    ErrorKind::Card(CardFailure::from_wit(error, &|t| scope.guest_text(t)))
}

impl Cardhost {
    /// Runs `card` of `connector` with `input`, on `connection` if given.
    pub async fn invoke(
        &self,
        connector: &str,
        card: &str,
        input: &Value,
        connection: Option<&Connection>,
    ) -> Result<Invocation, Box<InvokeError>> {
        use tracing::Instrument as _;
        let started = Instant::now();
        let id = new_invocation_id();
        let mut record = Record::default();
        let span = invocation_span(&id, connector, card, connection);
        let result = self
            .run_steps(&id, connector, card, input, connection, &mut record)
            .instrument(span.clone())
            .await;
        let duration_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(_) => span.record("outcome", "ok"),
            Err(kind) => span
                .record("outcome", kind.class())
                .record("otel.status_code", "error"),
        };
        match result {
            Ok((output, connector_version)) => Ok(Invocation {
                id,
                connector: connector.into(),
                connector_version,
                card: card.into(),
                connection: connection.and_then(|c| c.id.clone()),
                output,
                logs: record.logs,
                journal: record.journal,
                duration_ms,
            }),
            Err(kind) => Err(Box::new(InvokeError {
                id,
                connector: connector.into(),
                card: card.into(),
                kind,
                logs: record.logs,
                journal: record.journal,
                duration_ms,
            })),
        }
    }

    /// The pipeline; returns the output and the connector's version.
    async fn run_steps(
        &self,
        id: &str,
        connector: &str,
        card_id: &str,
        input: &Value,
        connection: Option<&Connection>,
        record: &mut Record,
    ) -> Result<(Value, String), ErrorKind> {
        let limits = &self.config.limits;
        let (loaded, card) = look_up(&self.registry(), connector, card_id, connection)?;
        let (input, input_text) = check_input(&card.spec, input, limits)?;
        let scope =
            Arc::new(self.scope_for(&loaded, card_id, &card.spec.card.permissions, connection)?);
        let output = match card.runner {
            Runner::CustomApiAction => {
                let result = custom_api_action::run(&self.broker, &scope, &input).await;
                record.keep(&scope, GuestOutput::default());
                result?
            }
            Runner::Guest => {
                let empty = Value::Object(Default::default());
                let fields = connection.map(|c| &c.fields).unwrap_or(&empty);
                let ctx =
                    guest_context(id, connection.and_then(|c| c.id.as_deref()), fields, &scope);
                let card_id = card_id.to_string();
                let call = self
                    .run_guest(&loaded, scope.clone(), move |world, store| {
                        Box::pin(async move {
                            world.call_invoke(store, &card_id, &input_text, &ctx).await
                        })
                    })
                    .await;
                record.keep(&scope, call.output);
                let text = call
                    .result?
                    .map_err(|e| card_error(e, &scope, limits.deadline_ms))?;
                decode_output(text, &scope, limits)?
            }
        };
        let output = check_output(&card.spec, output)?;
        Ok((output, loaded.manifest.raw.version.clone()))
    }

    /// Runs `call` on a fresh instance of `loaded` in the sandbox.
    async fn run_guest<T, F>(
        &self,
        loaded: &LoadedConnector,
        scope: Arc<RequestScope>,
        call: F,
    ) -> sandbox::CallResult<T>
    where
        F: for<'a> FnOnce(
                &'a crate::bindings::World,
                &'a mut wasmtime::Store<crate::guest::GuestState>,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = wasmtime::Result<T>> + Send + 'a>,
            > + Send
            + 'static,
        T: Send + 'static,
    {
        sandbox::run(
            self.runtime.engine(),
            &self.executor,
            &loaded.pre,
            scope,
            self.broker.clone(),
            self.call_limits(),
            call,
        )
        .await
    }

    /// Runs the connector's `test-connection` for `connection`, with every
    /// permission the connection was granted.
    pub async fn test_connection(
        &self,
        connection: &Connection,
    ) -> Result<wit::ConnectionReport, Box<InvokeError>> {
        const CARD: &str = "test-connection";
        let started = Instant::now();
        let id = new_invocation_id();
        let mut record = Record::default();
        let result = self.test_steps(&id, connection, &mut record).await;
        result.map_err(|kind| {
            Box::new(InvokeError {
                id,
                connector: connection.connector.clone(),
                card: CARD.into(),
                kind,
                logs: record.logs,
                journal: record.journal,
                duration_ms: started.elapsed().as_millis() as u64,
            })
        })
    }

    async fn test_steps(
        &self,
        id: &str,
        connection: &Connection,
        record: &mut Record,
    ) -> Result<wit::ConnectionReport, ErrorKind> {
        let registry = self.registry();
        let loaded = registry
            .get(&connection.connector)
            .cloned()
            .ok_or(ErrorKind::UnknownConnector)?;
        let all: Vec<String> = loaded.manifest.permissions.keys().cloned().collect();
        let scope = Arc::new(self.scope_for(&loaded, "test-connection", &all, Some(connection))?);
        let ctx = guest_context(id, connection.id.as_deref(), &connection.fields, &scope);
        let call = self
            .run_guest(&loaded, scope.clone(), move |world, store| {
                Box::pin(async move { world.call_test_connection(store, &ctx).await })
            })
            .await;
        record.keep(&scope, call.output);
        let mut report = call.result?;
        let max_checks = self.config.limits.max_report_checks;
        let dropped = report.checks.len().saturating_sub(max_checks);
        report.checks.truncate(max_checks);
        report.summary = scope.guest_text(&report.summary);
        if dropped > 0 {
            report
                .summary
                .push_str(&format!(" (and {dropped} more checks)"));
        }
        for check in &mut report.checks {
            check.name = scope.guest_text(&check.name);
            check.detail = scope.guest_text(&check.detail);
        }
        Ok(report)
    }

    /// Instantiates `connector` in a fresh store under the invocation limits
    /// and drops the instance without calling it: what every invocation pays
    /// before the card runs. Used by the benchmark to time instantiation
    /// alone, and to check a connector still instantiates.
    pub async fn instantiate(&self, connector: &str) -> Result<(), Box<InvokeError>> {
        const CARD: &str = "instantiate";
        let fail = |kind| Box::new(InvokeError::new(connector, CARD, kind));
        let registry = self.registry();
        let loaded = registry
            .get(connector)
            .ok_or_else(|| fail(ErrorKind::UnknownConnector))?;
        let scope = Arc::new(self.scope_for(loaded, CARD, &[], None).map_err(fail)?);
        self.run_guest(loaded, scope, |_, _| Box::pin(async { Ok(()) }))
            .await
            .result
            .map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::DenialRecord;
    use crate::credentials::redact::Redactor;
    use crate::manifest::Manifest;
    use serde_json::json;

    fn manifest() -> Manifest {
        let card = wit::Card {
            id: "greet".into(),
            title: "Greet".into(),
            description: String::new(),
            input_schema:
                json!({"type": "object", "required": ["name"], "additionalProperties": false,
                "properties": {"name": {"type": "string", "minLength": 1},
                    "polite": {"type": "boolean", "default": false}}})
                .to_string(),
            output_schema: json!({"type": "object", "required": ["greeting"]}).to_string(),
            permissions: Vec::new(),
        };
        Manifest::validate(wit::ConnectorManifest {
            id: "hello".into(),
            name: "Hello".into(),
            version: "1.0.0".into(),
            description: String::new(),
            connection_schema: json!({"type": "object"}).to_string(),
            auth_methods: Vec::new(),
            environments: Vec::new(),
            permissions: Vec::new(),
            cards: vec![card],
            default_headers: Vec::new(),
        })
        .expect("a valid manifest")
    }

    fn scope(secret: Option<&str>) -> RequestScope {
        let scope = RequestScope::offline(
            "hello",
            tokio::time::Instant::now() + std::time::Duration::from_secs(60),
        );
        if let Some(secret) = secret {
            *scope.redactor.lock().unwrap() = Redactor::new(vec![secret.to_string()]);
        }
        scope
    }

    #[test]
    fn input_is_checked_for_size_then_schema() {
        let m = manifest();
        let spec = &m.cards["greet"];
        let limits = Limits::default();
        assert_eq!(
            check_input(spec, &json!({"name": "Ada"}), &limits)
                .unwrap()
                .1,
            r#"{"name":"Ada","polite":false}"#
        );
        let given = json!({"name": "Ada", "polite": true});
        let (input, _) = check_input(spec, &given, &limits).unwrap();
        assert!(
            matches!(input, Cow::Borrowed(_)),
            "nothing to fill in, nothing copied"
        );
        match check_input(spec, &json!({"name": ""}), &limits) {
            Err(ErrorKind::InvalidInput { violations }) => {
                assert_eq!(violations[0].pointer, "/name")
            }
            other => panic!("{other:?}"),
        }
        let small = Limits {
            max_input_bytes: 8,
            ..Limits::default()
        };
        match check_input(spec, &json!({"name": "Ada Lovelace"}), &small) {
            Err(ErrorKind::InvalidInput { violations }) => {
                assert!(violations[0].message.contains("over the 8-byte limit"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn output_is_capped_scrubbed_parsed_and_checked() {
        let m = manifest();
        let spec = &m.cards["greet"];
        let limits = Limits::default();
        let s = scope(Some("s3cret-token"));
        let out = decode_output(r#"{"greeting":"hi s3cret-token"}"#.into(), &s, &limits).unwrap();
        assert_eq!(out["greeting"], "hi ••••");
        assert!(check_output(spec, out).is_ok());
        assert!(matches!(
            check_output(spec, json!({"other": 1})),
            Err(ErrorKind::InvalidOutput { .. })
        ));
        assert!(matches!(
            decode_output("not json".into(), &s, &limits),
            Err(ErrorKind::InvalidOutput { .. })
        ));
        let tiny = Limits {
            max_output_bytes: 4,
            ..Limits::default()
        };
        assert_eq!(
            decode_output(r#"{"greeting":"hi"}"#.into(), &s, &tiny),
            Err(ErrorKind::OutputTooLarge { size: 17, limit: 4 })
        );
    }

    #[test]
    fn a_card_error_prefers_the_host_cause() {
        let s = scope(Some("s3cret-token"));
        let said = ConnectorError::Internal("leaked s3cret-token".into());
        assert_eq!(
            card_error(said.clone(), &s, 1000),
            ErrorKind::Card(CardFailure::Internal {
                message: "leaked ••••".into()
            })
        );
        s.journal.lock().unwrap().denials.push(DenialRecord {
            kind: "permission-missing".into(),
            message: "no".into(),
        });
        assert_eq!(
            card_error(said.clone(), &s, 1000),
            ErrorKind::Denied {
                kind: "permission-missing".into(),
                message: "no".into()
            }
        );
        let late = RequestScope::offline("hello", tokio::time::Instant::now());
        assert_eq!(
            card_error(said, &late, 1000),
            ErrorKind::DeadlineExceeded { deadline_ms: 1000 }
        );
    }

    #[test]
    fn the_catalog_adds_the_custom_api_action_after_declared_cards() {
        let m = manifest();
        let catalog = crate::catalog::Catalog::of(&m);
        let ids: Vec<&str> = catalog.iter().map(|c| c.spec.card.id.as_str()).collect();
        assert_eq!(ids, ["greet", crate::CUSTOM_API_ACTION]);
        assert_eq!(
            catalog.get(crate::CUSTOM_API_ACTION).unwrap().runner,
            Runner::CustomApiAction
        );
        assert!(catalog.get("nope").is_none());
        let action = &catalog.get(crate::CUSTOM_API_ACTION).unwrap().spec;
        assert!(check_input(action, &json!({"method": "GET"}), &Limits::default()).is_err());
    }
}
