//! What a connector declares about its triggers (WIT 0.3 `triggers`),
//! checked and compiled at load like its cards.

use super::{CompiledPermission, SchemaViolation, compile_schema, violations};
use crate::bindings::triggers as wit;
use cardhost_rules::names::is_kebab_id;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// The shortest polling interval any trigger may declare or a subscription
/// ask for, in seconds.
pub const MIN_POLL_INTERVAL_SECONDS: u32 = 1;
/// The longest polling interval, in seconds (a day).
pub const MAX_POLL_INTERVAL_SECONDS: u32 = 86_400;
/// Most triggers one connector may declare.
pub const MAX_TRIGGERS: usize = 64;

/// One trigger, with its event schema compiled.
#[derive(Debug)]
pub struct TriggerSpec {
    /// As declared.
    pub trigger: wit::Trigger,
    /// The event schema.
    pub event_schema: Value,
    event_validator: jsonschema::Validator,
}

impl TriggerSpec {
    /// Validates one event's payload.
    pub fn check_event(&self, payload: &Value) -> Vec<SchemaViolation> {
        violations(&self.event_validator, payload)
    }

    /// Whether it can be polled.
    pub fn polls(&self) -> bool {
        self.trigger.polling.is_some()
    }

    /// Whether the vendor can deliver it by webhook.
    pub fn takes_webhooks(&self) -> bool {
        self.trigger.webhook.is_some()
    }
}

fn check_header_name(what: &str, name: &str, problems: &mut Vec<String>) {
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        problems.push(format!("{what}: `{name}` is not a header name"));
    }
}

/// Checks `raw` against the manifest's permissions and compiles each
/// trigger's event schema; every problem goes to `problems`.
pub(super) fn validate(
    raw: &[wit::Trigger],
    permissions: &BTreeMap<String, CompiledPermission>,
    card_ids: &HashSet<&str>,
    problems: &mut Vec<String>,
) -> Vec<Arc<TriggerSpec>> {
    let mut out = Vec::new();
    if raw.len() > MAX_TRIGGERS {
        problems.push(format!(
            "{} triggers are declared, over the limit of {MAX_TRIGGERS}",
            raw.len()
        ));
        return out;
    }
    let mut ids = HashSet::new();
    for t in raw {
        let what = format!("trigger `{}`", t.id);
        if !ids.insert(t.id.as_str()) {
            problems.push(format!("trigger id `{}` is declared twice", t.id));
        }
        if !is_kebab_id(&t.id) {
            problems.push(format!(
                "trigger id `{}` must be lowercase kebab-case",
                t.id
            ));
        }
        if card_ids.contains(t.id.as_str()) {
            problems.push(format!(
                "trigger id `{}` is also a card id; give the trigger its own",
                t.id
            ));
        }
        if t.title.trim().is_empty() || t.title.len() > 100 {
            problems.push(format!("{what} needs a title of 1 to 100 characters"));
        }
        if t.description.len() > 2000 {
            problems.push(format!("{what}: the description is over 2000 characters"));
        }
        for perm in &t.permissions {
            if !permissions.contains_key(perm) {
                problems.push(format!(
                    "{what} needs permission `{perm}`, which the manifest does not declare{}",
                    crate::text::suggestion(perm, permissions.keys().map(String::as_str))
                ));
            }
        }
        if t.polling.is_none() && t.webhook.is_none() {
            problems.push(format!(
                "{what} can be neither polled nor delivered by webhook; declare `polling`, `webhook` or both"
            ));
        }
        if let Some(p) = &t.polling {
            let range = MIN_POLL_INTERVAL_SECONDS..=MAX_POLL_INTERVAL_SECONDS;
            if !range.contains(&p.default_interval_seconds)
                || !range.contains(&p.min_interval_seconds)
            {
                problems.push(format!(
                    "{what}: polling intervals must be {MIN_POLL_INTERVAL_SECONDS} to {MAX_POLL_INTERVAL_SECONDS} seconds"
                ));
            }
            if p.min_interval_seconds > p.default_interval_seconds {
                problems.push(format!(
                    "{what}: the shortest polling interval ({} s) is longer than the default ({} s)",
                    p.min_interval_seconds, p.default_interval_seconds
                ));
            }
        }
        if let Some(w) = &t.webhook {
            match &w.verification {
                wit::DeliveryVerification::SharedToken(header) => {
                    check_header_name(&what, header, problems)
                }
                wit::DeliveryVerification::HmacSha256(h) => {
                    check_header_name(&what, &h.signature_header, problems);
                    if let Some(ts) = &h.timestamp_header {
                        check_header_name(&what, ts, problems);
                        if h.tolerance_seconds == 0 || h.tolerance_seconds > 3600 {
                            problems.push(format!(
                                "{what}: the signature's time tolerance must be 1 to 3600 seconds"
                            ));
                        }
                    }
                    if h.prefix.len() > 32 {
                        problems.push(format!("{what}: the signature prefix is over 32 bytes"));
                    }
                }
            }
        }
        let schema = compile_schema(&t.event_schema, &format!("{what} event schema"), problems);
        if let Some((event_schema, event_validator)) = schema {
            out.push(Arc::new(TriggerSpec {
                trigger: t.clone(),
                event_schema,
                event_validator,
            }));
        }
    }
    out
}
