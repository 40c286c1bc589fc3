//! Running a trigger: a poll, a webhook registration, reading a delivery.
//! The same steps as a card: the trigger looked up, its scope (its
//! declared permissions intersected with the connection's grant), a fresh
//! instance in the sandbox, and everything it returns treated as
//! untrusted: sizes capped, secrets scrubbed, ids and times checked, and
//! each payload validated against the trigger's event schema.

use super::{Record, card_error, guest_context, json, new_invocation_id};
use crate::bindings::triggers as wit;
use crate::broker::{Journal, RequestScope};
use crate::error::ErrorKind;
use crate::guest::GuestOutput;
use crate::host::{Cardhost, Connection};
use crate::invoke::InvokeError;
use crate::manifest::{SchemaViolation, TriggerSpec};
use crate::registry::LoadedConnector;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

/// Most events one poll or delivery may return.
pub const MAX_EVENTS_PER_CALL: usize = 1000;
/// Longest event id, in bytes.
pub const MAX_EVENT_ID_BYTES: usize = 200;
/// Largest cursor, in bytes.
pub const MAX_CURSOR_BYTES: usize = 4096;
/// Largest registration a `subscribe` may return, in bytes.
pub const MAX_REGISTRATION_BYTES: usize = 4096;

/// One event a trigger reported, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriggerEvent {
    /// The trigger's stable id for this occurrence.
    pub id: String,
    /// When it happened upstream, RFC 3339.
    pub occurred_at: String,
    /// The payload, valid against the trigger's event schema.
    pub payload: Value,
}

/// What a poll found, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Poll {
    /// Invocation id of the poll.
    pub id: String,
    /// New events, oldest first, each id once.
    pub events: Vec<TriggerEvent>,
    /// Where the next poll starts.
    pub cursor: String,
    /// Whether there is more to read at once.
    pub more: bool,
    /// Upstream requests and refusals.
    pub journal: Journal,
    /// What the guest logged.
    pub logs: GuestOutput,
    /// Wall time.
    pub duration_ms: u64,
}

/// A trigger call other than a poll (a registration, a delivery read),
/// with what history records of it.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerCall<T> {
    /// Invocation id.
    pub id: String,
    /// What the call answered.
    pub value: T,
    /// Upstream requests and refusals.
    pub journal: Journal,
    /// What the guest logged.
    pub logs: GuestOutput,
    /// Wall time.
    pub duration_ms: u64,
}

impl<T> TriggerCall<T> {
    fn of(ran: Ran<T>) -> Self {
        Self {
            id: ran.id,
            value: ran.value,
            journal: ran.record.journal,
            logs: ran.record.logs,
            duration_ms: ran.duration_ms,
        }
    }
}

/// What a trigger call is: a poll, a registration or a delivery.
enum Call {
    Poll {
        cursor: Option<String>,
    },
    Subscribe {
        target_url: String,
        token: String,
    },
    Unsubscribe {
        registration: String,
    },
    Parse {
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

/// A trigger call that ran and passed its checks.
struct Ran<T> {
    id: String,
    value: T,
    record: Record,
    duration_ms: u64,
}

enum Answer {
    Page(wit::PollPage),
    Registration(String),
    Done,
    Events(Vec<wit::Event>),
}

impl Call {
    fn name(&self) -> &'static str {
        match self {
            Call::Poll { .. } => "poll",
            Call::Subscribe { .. } => "subscribe",
            Call::Unsubscribe { .. } => "unsubscribe",
            Call::Parse { .. } => "parse-delivery",
        }
    }
}

static DATE_TIME: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&serde_json::json!({"type": "string", "format": "date-time"}))
        .expect("a fixed schema compiles")
});

fn violation(pointer: String, message: String) -> ErrorKind {
    ErrorKind::InvalidOutput {
        violations: vec![SchemaViolation { pointer, message }],
    }
}

/// Checks what a trigger returned, in order, and drops a second event with
/// an id already seen in the same answer.
fn check_events(
    spec: &TriggerSpec,
    events: Vec<wit::Event>,
    scope: &RequestScope,
    limits: &crate::config::Limits,
) -> Result<Vec<TriggerEvent>, ErrorKind> {
    if events.len() > MAX_EVENTS_PER_CALL {
        return Err(violation(
            "/events".into(),
            format!(
                "{} events returned at once, over the limit of {MAX_EVENTS_PER_CALL}; return `more` and the rest next time",
                events.len()
            ),
        ));
    }
    let total: usize = events.iter().map(|e| e.payload.len()).sum();
    if total > limits.max_output_bytes {
        return Err(ErrorKind::OutputTooLarge {
            size: total,
            limit: limits.max_output_bytes,
        });
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(events.len());
    for (i, e) in events.into_iter().enumerate() {
        let at = format!("/events/{i}");
        if e.id.is_empty() || e.id.len() > MAX_EVENT_ID_BYTES || e.id.chars().any(char::is_control)
        {
            return Err(violation(
                format!("{at}/id"),
                format!("an event id must be 1 to {MAX_EVENT_ID_BYTES} bytes of printable text"),
            ));
        }
        if scope.guest_text(&e.id) != e.id {
            return Err(violation(
                format!("{at}/id"),
                "the event id contains a secret of the connection".into(),
            ));
        }
        if !DATE_TIME.is_valid(&Value::String(e.occurred_at.clone())) {
            return Err(violation(
                format!("{at}/occurred_at"),
                format!(
                    "`{}` is not an RFC 3339 date-time",
                    scope.guest_text(&e.occurred_at)
                ),
            ));
        }
        let text = scope.guest_text(&e.payload);
        let payload = json::parse_unique(&text).map_err(|err| {
            violation(
                format!("{at}/payload"),
                if err.is_data() {
                    format!("the payload is ambiguous: {err}")
                } else {
                    format!("the payload is not JSON: {err}")
                },
            )
        })?;
        let violations = spec.check_event(&payload);
        if !violations.is_empty() {
            return Err(ErrorKind::InvalidOutput {
                violations: violations
                    .into_iter()
                    .map(|v| SchemaViolation {
                        pointer: format!("{at}/payload{}", v.pointer),
                        message: v.message,
                    })
                    .collect(),
            });
        }
        if seen.insert(e.id.clone()) {
            out.push(TriggerEvent {
                id: e.id,
                occurred_at: e.occurred_at,
                payload,
            });
        }
    }
    Ok(out)
}

/// Checks a short text the host stores and hands back (a cursor, a
/// registration): within `limit` and free of the connection's secrets.
fn check_token(
    text: String,
    what: &str,
    limit: usize,
    scope: &RequestScope,
) -> Result<String, ErrorKind> {
    if text.len() > limit {
        return Err(violation(
            format!("/{what}"),
            format!(
                "the {what} is {} bytes, over the {limit}-byte limit",
                text.len()
            ),
        ));
    }
    if scope.guest_text(&text) != text {
        return Err(violation(
            format!("/{what}"),
            format!("the {what} contains a secret of the connection"),
        ));
    }
    Ok(text)
}

impl Cardhost {
    /// The trigger `trigger` of the connector `connection` belongs to.
    pub fn trigger_spec(
        &self,
        connector: &str,
        trigger: &str,
    ) -> Result<(Arc<LoadedConnector>, Arc<TriggerSpec>), ErrorKind> {
        let loaded = self
            .registry()
            .get(connector)
            .cloned()
            .ok_or(ErrorKind::UnknownConnector)?;
        let Some(spec) = loaded.manifest.trigger(trigger).cloned() else {
            let ids = loaded
                .manifest
                .triggers
                .iter()
                .map(|t| t.trigger.id.as_str());
            return Err(ErrorKind::UnknownTrigger {
                did_you_mean: crate::text::did_you_mean(trigger, ids).map(str::to_string),
            });
        };
        Ok((loaded, spec))
    }

    /// Polls `trigger` on `connection` from `cursor` (none for a new
    /// subscription).
    pub async fn poll(
        &self,
        connection: &Connection,
        trigger: &str,
        cursor: Option<&str>,
    ) -> Result<Poll, Box<InvokeError>> {
        let call = Call::Poll {
            cursor: cursor.map(str::to_string),
        };
        let limits = &self.config.limits;
        let ran = self
            .run_trigger(connection, trigger, call, |answer, spec, scope| {
                let Answer::Page(page) = answer else {
                    unreachable!("a poll answers a page")
                };
                let events = check_events(spec, page.events, scope, limits)?;
                let cursor = check_token(page.cursor, "cursor", MAX_CURSOR_BYTES, scope)?;
                Ok((events, cursor, page.more))
            })
            .await?;
        let (events, cursor, more) = ran.value;
        Ok(Poll {
            id: ran.id,
            events,
            cursor,
            more,
            journal: ran.record.journal,
            logs: ran.record.logs,
            duration_ms: ran.duration_ms,
        })
    }

    /// Registers `target_url` with the vendor for `trigger`; returns what
    /// [`Cardhost::unsubscribe`] needs.
    pub async fn subscribe(
        &self,
        connection: &Connection,
        trigger: &str,
        target_url: &str,
        token: &str,
    ) -> Result<TriggerCall<String>, Box<InvokeError>> {
        let call = Call::Subscribe {
            target_url: target_url.into(),
            token: token.into(),
        };
        let ran = self
            .run_trigger(connection, trigger, call, |answer, _, scope| {
                let Answer::Registration(r) = answer else {
                    unreachable!("subscribe answers a registration")
                };
                check_token(r, "registration", MAX_REGISTRATION_BYTES, scope)
            })
            .await?;
        Ok(TriggerCall::of(ran))
    }

    /// Removes a registration [`Cardhost::subscribe`] made.
    pub async fn unsubscribe(
        &self,
        connection: &Connection,
        trigger: &str,
        registration: &str,
    ) -> Result<TriggerCall<()>, Box<InvokeError>> {
        let call = Call::Unsubscribe {
            registration: registration.into(),
        };
        self.run_trigger(connection, trigger, call, |_, _, _| Ok(()))
            .await
            .map(TriggerCall::of)
    }

    /// Reads the events of a delivery the host has already verified.
    pub async fn parse_delivery(
        &self,
        connection: &Connection,
        trigger: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<TriggerCall<Vec<TriggerEvent>>, Box<InvokeError>> {
        let call = Call::Parse { headers, body };
        let limits = &self.config.limits;
        let ran = self
            .run_trigger(connection, trigger, call, |answer, spec, scope| {
                let Answer::Events(events) = answer else {
                    unreachable!("parse-delivery answers events")
                };
                check_events(spec, events, scope, limits)
            })
            .await?;
        Ok(TriggerCall::of(ran))
    }

    /// Runs one trigger call and checks its answer with `check`; a failure
    /// of either is an [`InvokeError`] with what the guest logged and
    /// requested.
    async fn run_trigger<T>(
        &self,
        connection: &Connection,
        trigger: &str,
        call: Call,
        check: impl FnOnce(Answer, &TriggerSpec, &RequestScope) -> Result<T, ErrorKind>,
    ) -> Result<Ran<T>, Box<InvokeError>> {
        let started = Instant::now();
        let id = new_invocation_id();
        let mut record = Record::default();
        let result = self
            .trigger_steps(&id, connection, trigger, call, &mut record)
            .await
            .and_then(|(answer, spec, scope)| check(answer, &spec, &scope));
        let duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(value) => Ok(Ran {
                id,
                value,
                record,
                duration_ms,
            }),
            Err(kind) => Err(Box::new(InvokeError {
                id,
                connector: connection.connector.clone(),
                card: trigger.into(),
                kind,
                logs: record.logs,
                journal: record.journal,
                duration_ms,
            })),
        }
    }

    async fn trigger_steps(
        &self,
        id: &str,
        connection: &Connection,
        trigger: &str,
        call: Call,
        record: &mut Record,
    ) -> Result<(Answer, Arc<TriggerSpec>, Arc<RequestScope>), ErrorKind> {
        let (loaded, spec) = self.trigger_spec(&connection.connector, trigger)?;
        match &call {
            Call::Poll { .. } if !spec.polls() => {
                return Err(ErrorKind::invalid_input(format!(
                    "trigger `{trigger}` cannot be polled; it is delivered by webhook"
                )));
            }
            Call::Subscribe { .. } | Call::Unsubscribe { .. } | Call::Parse { .. }
                if !spec.takes_webhooks() =>
            {
                return Err(ErrorKind::invalid_input(format!(
                    "trigger `{trigger}` takes no webhook deliveries; it is polled"
                )));
            }
            _ => {}
        }
        let scope_name = format!("{trigger}:{}", call.name());
        let scope = Arc::new(self.scope_for(
            &loaded,
            &scope_name,
            &spec.trigger.permissions,
            Some(connection),
        )?);
        let ctx = guest_context(id, connection.id.as_deref(), &connection.fields, &scope);
        let trigger_id = trigger.to_string();
        let result = self
            .run_guest(&loaded, scope.clone(), move |world, store| {
                Box::pin(async move {
                    Ok(match call {
                        Call::Poll { cursor } => world
                            .call_poll(store, &trigger_id, cursor.as_deref(), &ctx)
                            .await?
                            .map(Answer::Page),
                        Call::Subscribe { target_url, token } => world
                            .call_subscribe(store, &trigger_id, &target_url, &token, &ctx)
                            .await?
                            .map(Answer::Registration),
                        Call::Unsubscribe { registration } => world
                            .call_unsubscribe(store, &trigger_id, &registration, &ctx)
                            .await?
                            .map(|()| Answer::Done),
                        Call::Parse { headers, body } => world
                            .call_parse_delivery(store, &trigger_id, &headers, &body, &ctx)
                            .await?
                            .map(Answer::Events),
                    })
                })
            })
            .await;
        record.keep(&scope, result.output);
        let answer = result
            .result?
            .map_err(|e| card_error(e, &scope, self.config.limits.deadline_ms))?;
        Ok((answer, spec, scope))
    }
}
