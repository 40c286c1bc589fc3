//! Employee Created, Employee Updated and Employee Deleted: SmartHR's crew
//! webhooks, with a polling fallback on `created_at` / `updated_at` for the
//! first two.
//!
//! # Webhooks
//!
//! SmartHR posts `{"event", "triggered_at", "sender", "crew"}` to a
//! registered URL with the webhook's secret in `X-SmartHR-Token`, which the
//! host checks before a delivery reaches [`Trigger::parse_delivery`].
//! [`Trigger::subscribe`] registers the host's URL through `/webhooks` when
//! the connection is granted [`WEBHOOKS_MANAGE`] (otherwise the broker
//! refuses, and the host shows the URL and token to paste into SmartHR's
//! settings). The host calls it again every few minutes and on resume, so
//! it is idempotent: a webhook already at the URL is updated, not doubled.
//! SmartHR disables a webhook after repeated failed deliveries
//! (`disabled_at`); `subscribe` then fails with a message saying so.
//!
//! A webhook may be set to send only the changed record's ids ("変更された
//! データのIDのみ送信する"). A body whose crew lacks what the event needs is
//! completed by reading `GET /crews/{id}`, so the event is always the crew
//! as Read Employee returns it.
//!
//! # Polling
//!
//! The host polls beside the webhook as a safety net and drops the copies,
//! so a change has one event id whichever way it came:
//! `{crew_id}@created` and `{crew_id}@{updated_at}` (normalised to UTC).
//!
//! `/crews` has no "changed since" filter, only `sort`. A poll walks it in
//! **descending** order (`sort=-created_at` / `sort=-updated_at`) from the
//! first page and stops at the first page holding a crew older than the
//! watermark `since`, so a quiet tenant costs one request per poll whatever
//! its size. Ascending order would have to read every crew every time (the
//! walk cannot start at the watermark), and would be unsafe besides: a crew
//! changed mid-walk moves to the end, shifting unread crews back onto pages
//! already read, where the walk never sees them. Descending, a crew created
//! or changed mid-walk moves to the top, onto pages already read; the crews
//! behind it shift forward and show up twice (dropped by id), never
//! skipped, and the moved crew itself is read by the next poll, because the
//! next `since` is never later than the walk's start less
//! [`CLOCK_MARGIN_SECONDS`]. Only a deletion shifts crews back; the walk sees
//! it as `x-total-count` falling and steps back as many pages as crews went
//! missing, so the shifted ones are read again.
//!
//! The watermark compares "at or after": a crew stamped in the watermark's
//! own second is read again next time, and its unchanged id makes it a copy
//! the host drops, while another crew changed in that same second is
//! reported. `since` moves only when a walk is finished; a walk longer than
//! [`PAGES_PER_POLL`] pages goes on in the next poll (`more`), from the page
//! it reached.
//!
//! Deletions cannot be polled: `/crews` does not list deleted crews, so
//! Employee Deleted comes by webhook only.

use crate::api::{self, MAX_PER_PAGE, Paging, Resource};
use crate::records::Crew;
use cardhost_sdk::http::{Request, encode_component};
use cardhost_sdk::trigger::{now_unix, rfc3339_utc};
use cardhost_sdk::{
    Context, Delivery, Error, Event, JsonSchema, Page, Polling, Raw, Result, Trigger, Value,
    Verification, Webhook, serde_json,
};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The permission that lists, registers, updates and removes webhooks.
pub const WEBHOOKS_MANAGE: &str = "webhooks-manage";
/// The permission that reads crews (the poll, and completing an ids-only
/// delivery).
pub const CREWS_READ: &str = "crews-read";
/// SmartHR's webhooks collection.
pub const WEBHOOKS_PATH: &str = "/api/v1/webhooks";
/// The header SmartHR puts a webhook's `secret_token` in.
pub const TOKEN_HEADER: &str = "X-SmartHR-Token";
pub use cardhost_sdk::trigger::CLOCK_MARGIN_SECONDS;
/// Most pages one poll reads (each of [`MAX_PER_PAGE`] crews); the rest of
/// the walk follows at once (`more`).
pub const PAGES_PER_POLL: u32 = 5;

/// Every event flag of a SmartHR webhook. A registration sets its own
/// trigger's flag and clears the rest.
pub const WEBHOOK_FLAGS: [&str; 8] = [
    "crew_created",
    "crew_updated",
    "crew_deleted",
    "crew_imported",
    "dependent_created",
    "dependent_updated",
    "dependent_deleted",
    "dependent_imported",
];

const SMARTHR_WEBHOOK: Option<Webhook> = Some(Webhook {
    verification: Verification::SharedToken {
        header: TOKEN_HEADER,
    },
    registers: true,
});

// ---------------------------------------------------------------------------
// Instants

pub use cardhost_sdk::time::Instant;

/// Parses an RFC 3339 date-time as SmartHR writes them
/// (`2025-03-14T09:30:00+09:00`, `2025-03-14T00:30:00.123Z`; a space for
/// the `T` is accepted): seconds and an offset are required. Anything
/// else, or a date that does not exist, is `None`.
pub fn parse_instant(text: &str) -> Option<Instant> {
    let t = text.trim();
    let b = t.as_bytes();
    let zoned = t.ends_with(['Z', 'z']) || (t.len() > 6 && matches!(b[t.len() - 6], b'+' | b'-'));
    if b.len() < 20 || b.get(16) != Some(&b':') || !zoned {
        return None;
    }
    Instant::parse(t)
}

// ---------------------------------------------------------------------------
// Events

/// Which of a crew's timestamps a trigger follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// `created_at`: Employee Created.
    Created,
    /// `updated_at`: Employee Updated.
    Updated,
}

impl Watched {
    /// The crew field.
    pub fn field(self) -> &'static str {
        match self {
            Watched::Created => "created_at",
            Watched::Updated => "updated_at",
        }
    }

    /// `/crews` sorted newest first on the field.
    pub fn sort(self) -> &'static str {
        match self {
            Watched::Created => "-created_at",
            Watched::Updated => "-updated_at",
        }
    }

    /// The webhook event (and flag) that reports it.
    pub fn event(self) -> &'static str {
        match self {
            Watched::Created => "crew_created",
            Watched::Updated => "crew_updated",
        }
    }

    /// The event id: `{crew_id}@created` or `{crew_id}@{updated_at}`.
    pub fn event_id(self, crew_id: &str, at: Instant) -> String {
        match self {
            Watched::Created => format!("{crew_id}@created"),
            Watched::Updated => format!("{crew_id}@{}", at.rfc3339()),
        }
    }
}

/// The crew's id, a non-empty string.
fn crew_id(crew: &Value) -> Option<&str> {
    crew.get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
}

/// The crew's `field` as an instant.
fn stamp(crew: &Value, field: &str) -> Option<Instant> {
    crew.get(field)
        .and_then(Value::as_str)
        .and_then(parse_instant)
}

/// The event of one crew, with the instant it is ordered by. A crew
/// without an id or the watched timestamp is an upstream error: SmartHR
/// always sends both.
pub fn crew_event(watched: Watched, crew: Value) -> Result<(Instant, Event<Raw<Crew>>)> {
    let Some(id) = crew_id(&crew) else {
        return Err(Error::upstream(format!(
            "SmartHR sent a crew without an `id`: {}",
            excerpt(&crew)
        )));
    };
    let field = watched.field();
    let Some(at) = stamp(&crew, field) else {
        return Err(Error::upstream(format!(
            "SmartHR sent crew `{id}` without an RFC 3339 `{field}` (it has {})",
            crew.get(field)
                .map_or_else(|| "none".to_string(), Value::to_string)
        )));
    };
    let event = Event::new(watched.event_id(id, at), at.rfc3339(), Raw::new(crew));
    Ok((at, event))
}

/// The start of `value` as JSON, for messages.
fn excerpt(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

// ---------------------------------------------------------------------------
// Polling

/// Where the next poll starts. Opaque to the host and the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Crews created (or changed) at or after this instant are read; RFC
    /// 3339, UTC.
    pub since: String,
    /// A walk in progress, when the last poll did not finish one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walk: Option<Walk>,
}

/// A walk of `/crews`, newest first, that one poll did not finish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Walk {
    /// The next page to read.
    pub page: u32,
    /// The newest timestamp seen so far, normalised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
    /// When the walk began, Unix seconds by the host's clock.
    pub began: i64,
    /// `x-total-count` at the last page read: when it falls, crews were
    /// deleted and the later ones shifted back onto pages already read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

pub use cardhost_sdk::trigger::next_since;

/// Which page comes after page `page` of a walk.
fn after_page(page: u32, shrunk_by: u64, older_seen: bool, has_next: bool) -> Option<u32> {
    if shrunk_by > 0 && page > 1 {
        // Up to `shrunk_by` crews moved back from this page onto the ones
        // before it: read those again (the copies are dropped by id).
        let back = u32::try_from(shrunk_by.div_ceil(u64::from(MAX_PER_PAGE))).unwrap_or(u32::MAX);
        return Some(page.saturating_sub(back).max(1));
    }
    if older_seen || !has_next {
        None
    } else {
        Some(page + 1)
    }
}

/// One poll of `/crews` for `watched`.
pub fn poll_crews(watched: Watched, cursor: Option<&str>) -> Result<Page<Raw<Crew>>> {
    let now = now_unix();
    let Some(cursor) = cursor else {
        // A new subscription reports what happens from now on.
        let start = Cursor {
            since: rfc3339_utc(now - CLOCK_MARGIN_SECONDS),
            walk: None,
        };
        return Ok(Page::new(Vec::new(), encode(&start)?));
    };
    let cursor: Cursor = serde_json::from_str(cursor)
        .map_err(|e| Error::Internal(format!("the cursor is not one this connector wrote: {e}")))?;
    let since = parse_instant(&cursor.since).ok_or_else(|| {
        Error::Internal(format!(
            "the cursor's `since` `{}` is no instant",
            cursor.since
        ))
    })?;
    let walk = cursor.walk.clone().unwrap_or(Walk {
        page: 1,
        newest: None,
        began: now,
        total: None,
    });
    let query = vec![("sort".to_string(), watched.sort().to_string())];
    let mut newest = walk.newest.as_deref().and_then(parse_instant);
    let mut total = walk.total;
    let mut found: Vec<(Instant, Event<Raw<Crew>>)> = Vec::new();
    let mut ids = HashSet::new();
    let mut page = walk.page.max(1);
    let mut read = 0;
    let next_page = loop {
        let paging = Paging::One {
            page,
            per_page: MAX_PER_PAGE,
        };
        let listing = api::list(Resource::Crews.path(), &query, paging)?;
        read += 1;
        let empty = listing.items.is_empty();
        let mut older_seen = false;
        for crew in listing.items {
            let (at, event) = crew_event(watched, crew)?;
            if at < since {
                // Newest first: everything after it is older too.
                older_seen = true;
                continue;
            }
            newest = newest.max(Some(at));
            // Pages that shift under the walk show a crew twice.
            if ids.insert(event.id.clone()) {
                found.push((at, event));
            }
        }
        let shrunk_by = match (total, listing.total_count) {
            (Some(before), Some(now)) => before.saturating_sub(now),
            _ => 0,
        };
        total = listing.total_count.or(total);
        let has_next = listing.has_more && !empty;
        match after_page(page, shrunk_by, older_seen, has_next) {
            None => break None,
            Some(next) if read >= PAGES_PER_POLL => break Some(next),
            Some(next) => page = next,
        }
    };
    // Oldest first, as the host stores them.
    found.sort_by_key(|(at, _)| *at);
    let events = found.into_iter().map(|(_, e)| e).collect();
    let next = match next_page {
        Some(page) => Cursor {
            since: cursor.since.clone(),
            walk: Some(Walk {
                page,
                newest: newest.map(Instant::rfc3339),
                began: walk.began,
                total,
            }),
        },
        None => Cursor {
            since: next_since(since, newest, walk.began).rfc3339(),
            walk: None,
        },
    };
    let more = next.walk.is_some();
    Ok(Page::new(events, encode(&next)?).more(more))
}

fn encode(cursor: &Cursor) -> Result<String> {
    serde_json::to_string(cursor)
        .map_err(|e| Error::Internal(format!("cannot write the cursor: {e}")))
}

// ---------------------------------------------------------------------------
// Webhook registration

/// The path of one webhook, its id encoded as one segment.
pub fn webhook_path(id: &str) -> String {
    format!("{WEBHOOKS_PATH}/{}", encode_component(id))
}

/// A webhook's id, as text (SmartHR's are strings; a number is taken too).
fn webhook_id(hook: &Value) -> Option<String> {
    match hook.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `{"secret_token": token, <event>: true, <every other flag>: false}`.
fn registration_body(event: &str, token: &str) -> serde_json::Map<String, Value> {
    let mut body = serde_json::Map::new();
    body.insert("secret_token".into(), Value::String(token.into()));
    for flag in WEBHOOK_FLAGS {
        body.insert(flag.into(), Value::Bool(flag == event));
    }
    body
}

/// Every webhook of the tenant, all pages.
fn list_webhooks() -> Result<Vec<Value>> {
    let paging = Paging::All {
        per_page: MAX_PER_PAGE,
        limit: 10_000,
    };
    Ok(api::list(WEBHOOKS_PATH, &[], paging)?.items)
}

/// The message for a webhook SmartHR disabled.
fn disabled_message(id: &str, disabled_at: &str) -> String {
    format!(
        "SmartHR disabled this webhook (id `{id}`) at {disabled_at}. SmartHR does this after \
         repeated failed deliveries, and sends nothing more to a disabled webhook. Resuming the \
         subscription registers it again."
    )
}

/// Registers `target_url` for `event`, idempotently: a webhook already at
/// the URL gets the token and the flags; none, a new one. Returns its id.
pub fn register(event: &str, title: &str, target_url: &str, token: &str) -> Result<String> {
    let hooks = list_webhooks()?;
    let at_url: Vec<&Value> = hooks
        .iter()
        .filter(|h| h.get("url").and_then(Value::as_str) == Some(target_url))
        .collect();
    let disabled_at = |h: &Value| {
        h.get("disabled_at")
            .filter(|d| !d.is_null() && d.as_str() != Some(""))
            .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_string))
    };
    let body = registration_body(event, token);
    if let Some(active) = at_url.iter().find(|h| disabled_at(h).is_none()) {
        let id = webhook_id(active).ok_or_else(|| {
            Error::upstream(format!(
                "SmartHR listed a webhook at this URL without an id: {}",
                excerpt(active)
            ))
        })?;
        match api::send(Request::patch(webhook_path(&id)).json(&body)?) {
            Ok(_) => return Ok(id),
            // Removed since it was listed: register it anew.
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    } else if let Some(disabled) = at_url.first() {
        let id = webhook_id(disabled).unwrap_or_else(|| "?".into());
        let when = disabled_at(disabled).unwrap_or_default();
        return Err(Error::Upstream {
            status: None,
            message: disabled_message(&id, &when),
        });
    }
    let mut body = body;
    body.insert("url".into(), Value::String(target_url.into()));
    body.insert(
        "description".into(),
        Value::String(format!("cardhost: {title}")),
    );
    let created: Value = api::send(Request::post(WEBHOOKS_PATH).json(&body)?)?.json()?;
    webhook_id(&created).ok_or_else(|| {
        Error::upstream(format!(
            "SmartHR created the webhook but answered without its id: {}",
            excerpt(&created)
        ))
    })
}

/// Removes webhook `registration`; one already gone counts as removed.
pub fn unregister(registration: &str) -> Result<()> {
    if registration.is_empty() {
        return Err(Error::InvalidInput(
            "the registration is empty: this connector never returned an empty webhook id".into(),
        ));
    }
    match api::send(Request::delete(webhook_path(registration))) {
        Ok(_) | Err(Error::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------
// Deliveries

/// A delivery's body, as far as every trigger reads it.
struct Body {
    event: String,
    fields: serde_json::Map<String, Value>,
}

/// The body as a JSON object with an `event` string.
fn read_body(delivery: &Delivery) -> Result<Body> {
    let value: Value = delivery.json()?;
    let Value::Object(fields) = value else {
        return Err(Error::InvalidInput(format!(
            "the delivery is not a JSON object but {}",
            excerpt(&value)
        )));
    };
    let Some(event) = fields.get("event").and_then(Value::as_str) else {
        return Err(Error::InvalidInput(
            "the delivery has no `event` string (`crew_created`, `crew_updated`, `crew_deleted`)"
                .into(),
        ));
    };
    Ok(Body {
        event: event.to_string(),
        fields,
    })
}

/// The body's `crew`, an object with an id.
fn delivered_crew(body: &Body) -> Result<(String, Value)> {
    let event = &body.event;
    let Some(crew @ Value::Object(_)) = body.fields.get("crew") else {
        return Err(Error::InvalidInput(format!(
            "the `{event}` delivery has no `crew` object"
        )));
    };
    let Some(id) = crew_id(crew) else {
        return Err(Error::InvalidInput(format!(
            "the `{event}` delivery's `crew` has no `id` string"
        )));
    };
    Ok((id.to_string(), crew.clone()))
}

/// Whether a delivered crew is the whole record: the watched timestamp and
/// the names, which every full crew carries (the "ids only" option sends
/// the id and few else).
pub fn is_whole_crew(watched: Watched, crew: &Value) -> bool {
    crew_id(crew).is_some()
        && stamp(crew, watched.field()).is_some()
        && ["last_name", "first_name"]
            .iter()
            .all(|f| crew.get(f).is_some())
}

/// The events of a `crew_created` / `crew_updated` delivery.
pub fn crew_delivery(watched: Watched, delivery: &Delivery) -> Result<Vec<Event<Raw<Crew>>>> {
    let body = read_body(delivery)?;
    if body.event != watched.event() {
        return Ok(Vec::new());
    }
    let (id, crew) = delivered_crew(&body)?;
    let crew = if is_whole_crew(watched, &crew) {
        crew
    } else {
        match api::send(Request::get(api::crew_path(&id))).and_then(|r| r.json::<Value>()) {
            Ok(read) => read,
            // Deleted since: nothing to report as created or changed.
            Err(Error::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
    };
    let (_, event) = crew_event(watched, crew)?;
    Ok(vec![event])
}

/// An employee SmartHR deleted, from the `crew_deleted` delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeletedEmployee {
    /// SmartHR's id of the deleted crew (a UUID).
    pub id: String,
    /// Employee code (社員番号), when the delivery carried it (not with
    /// SmartHR's "ids only" option).
    pub emp_code: Option<String>,
    /// Family name (legal), when the delivery carried it.
    pub last_name: Option<String>,
    /// Given name (legal), when the delivery carried it.
    pub first_name: Option<String>,
    /// When SmartHR deleted it: the delivery's `triggered_at`, RFC 3339 in
    /// UTC.
    #[schemars(extend("format" = "date-time"))]
    pub deleted_at: String,
}

/// The events of a `crew_deleted` delivery.
pub fn deleted_delivery(delivery: &Delivery) -> Result<Vec<Event<DeletedEmployee>>> {
    let body = read_body(delivery)?;
    if body.event != "crew_deleted" {
        return Ok(Vec::new());
    }
    let (id, crew) = delivered_crew(&body)?;
    let triggered = body.fields.get("triggered_at");
    let Some(at) = triggered.and_then(Value::as_str).and_then(parse_instant) else {
        return Err(Error::InvalidInput(format!(
            "the `crew_deleted` delivery has no RFC 3339 `triggered_at` (it has {})",
            triggered.map_or_else(|| "none".to_string(), Value::to_string)
        )));
    };
    let text = |field: &str| crew.get(field).and_then(Value::as_str).map(str::to_string);
    let deleted_at = at.rfc3339();
    let payload = DeletedEmployee {
        emp_code: text("emp_code"),
        last_name: text("last_name"),
        first_name: text("first_name"),
        deleted_at: deleted_at.clone(),
        id: id.clone(),
    };
    Ok(vec![Event::new(
        format!("{id}@deleted"),
        deleted_at,
        payload,
    )])
}

// ---------------------------------------------------------------------------
// The triggers

/// Employee Created.
pub struct EmployeeCreated;

impl Trigger for EmployeeCreated {
    type Event = Raw<Crew>;
    const ID: &'static str = "employee-created";
    const TITLE: &'static str = "Employee Created";
    const DESCRIPTION: &'static str = "An employee (crew) was added in SmartHR. Delivered by \
         SmartHR's crew_created webhook, and polled on created_at as a safety net (which also \
         sees crews imported from a file). The event is the crew as Read Employee returns it.";
    const PERMISSIONS: &'static [&'static str] = &[CREWS_READ, WEBHOOKS_MANAGE];
    const POLLING: Option<Polling> = Some(Polling::every(300).at_least(60));
    const WEBHOOK: Option<Webhook> = SMARTHR_WEBHOOK;

    fn poll(cursor: Option<&str>, _ctx: &Context) -> Result<Page<Raw<Crew>>> {
        poll_crews(Watched::Created, cursor)
    }

    fn subscribe(target_url: &str, token: &str, _ctx: &Context) -> Result<String> {
        register(Watched::Created.event(), Self::TITLE, target_url, token)
    }

    fn unsubscribe(registration: &str, _ctx: &Context) -> Result<()> {
        unregister(registration)
    }

    fn parse_delivery(delivery: &Delivery, _ctx: &Context) -> Result<Vec<Event<Raw<Crew>>>> {
        crew_delivery(Watched::Created, delivery)
    }
}

/// Employee Updated.
pub struct EmployeeUpdated;

impl Trigger for EmployeeUpdated {
    type Event = Raw<Crew>;
    const ID: &'static str = "employee-updated";
    const TITLE: &'static str = "Employee Updated";
    const DESCRIPTION: &'static str = "An employee (crew) was changed in SmartHR (its updated_at \
         moved). Delivered by SmartHR's crew_updated webhook, and polled on updated_at as a \
         safety net. The event is the crew after the change, as Read Employee returns it.";
    const PERMISSIONS: &'static [&'static str] = &[CREWS_READ, WEBHOOKS_MANAGE];
    const POLLING: Option<Polling> = Some(Polling::every(300).at_least(60));
    const WEBHOOK: Option<Webhook> = SMARTHR_WEBHOOK;

    fn poll(cursor: Option<&str>, _ctx: &Context) -> Result<Page<Raw<Crew>>> {
        poll_crews(Watched::Updated, cursor)
    }

    fn subscribe(target_url: &str, token: &str, _ctx: &Context) -> Result<String> {
        register(Watched::Updated.event(), Self::TITLE, target_url, token)
    }

    fn unsubscribe(registration: &str, _ctx: &Context) -> Result<()> {
        unregister(registration)
    }

    fn parse_delivery(delivery: &Delivery, _ctx: &Context) -> Result<Vec<Event<Raw<Crew>>>> {
        crew_delivery(Watched::Updated, delivery)
    }
}

/// Employee Deleted.
pub struct EmployeeDeleted;

impl Trigger for EmployeeDeleted {
    type Event = DeletedEmployee;
    const ID: &'static str = "employee-deleted";
    const TITLE: &'static str = "Employee Deleted";
    const DESCRIPTION: &'static str = "An employee (crew) was deleted in SmartHR. Delivered by \
         SmartHR's crew_deleted webhook only: SmartHR's employee list does not show deleted \
         crews, so this cannot be polled.";
    const PERMISSIONS: &'static [&'static str] = &[WEBHOOKS_MANAGE];
    const WEBHOOK: Option<Webhook> = SMARTHR_WEBHOOK;

    fn subscribe(target_url: &str, token: &str, _ctx: &Context) -> Result<String> {
        register("crew_deleted", Self::TITLE, target_url, token)
    }

    fn unsubscribe(registration: &str, _ctx: &Context) -> Result<()> {
        unregister(registration)
    }

    fn parse_delivery(delivery: &Delivery, _ctx: &Context) -> Result<Vec<Event<DeletedEmployee>>> {
        deleted_delivery(delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SmartHr;
    use cardhost_sdk::http::{HttpError, Method, Response};
    use cardhost_sdk::testing::{json as answer, mock_http, parse_delivery, poll};
    use cardhost_sdk::{Access, Connector, json};
    use std::cell::RefCell;
    use std::rc::Rc;

    fn ctx() -> Context {
        Context::for_test(json!({"account_type": "production", "tenant_id": "acme"}))
    }

    fn query(req: &Request, name: &str) -> Option<String> {
        req.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn at(text: &str) -> Instant {
        parse_instant(text).unwrap()
    }

    /// A full crew as `/crews` returns it.
    fn crew(n: usize, created_at: &str, updated_at: &str) -> Value {
        json!({
            "id": format!("c{n:04}"), "emp_code": format!("{n:05}"), "emp_status": "employed",
            "last_name": "山田", "first_name": format!("花子{n}"),
            "departments": [{"id": "d1", "name": "総務", "code": null}],
            "created_at": created_at, "updated_at": updated_at
        })
    }

    /// A crew created and last changed at `updated` Unix seconds.
    fn crew_at(n: usize, updated: i64) -> Value {
        let t = rfc3339_utc(updated);
        crew(n, &t, &t)
    }

    type Before = Box<dyn FnMut(usize, &mut Vec<Value>)>;
    type Shared<T> = Rc<RefCell<Vec<T>>>;

    /// Serves `crews` as SmartHR does: `/crews` sorted by `sort` (one
    /// field, `-` for descending, ties in list order), paged with `Link`
    /// and `x-total-count`; `/crews/{id}` one crew. `before(n, crews)` runs
    /// before the n-th request (from 0), to change the tenant mid-walk.
    fn serve(crews: Shared<Value>, seen: Shared<Request>, mut before: Before) {
        mock_http(move |req| {
            let n = seen.borrow().len();
            seen.borrow_mut().push(req.clone());
            before(n, &mut crews.borrow_mut());
            let all = crews.borrow();
            if let Some(id) = req.url.strip_prefix("/api/v1/crews/") {
                return match all.iter().find(|c| c["id"] == id) {
                    Some(c) => answer(200, c.clone()),
                    None => answer(
                        404,
                        json!({"code": 4, "type": "not_found", "message": "Not found", "errors": null}),
                    ),
                };
            }
            assert_eq!(req.url, "/api/v1/crews");
            assert_eq!(req.method, Method::Get);
            let sort = query(req, "sort").expect("a poll sorts");
            let (descending, field) = match sort.strip_prefix('-') {
                Some(f) => (true, f.to_string()),
                None => (false, sort.clone()),
            };
            let mut sorted: Vec<Value> = all.clone();
            sorted.sort_by_key(|c| at(c[&field].as_str().unwrap()));
            if descending {
                // Stable: ties stay in list order.
                sorted.reverse();
                let mut groups: Vec<Vec<Value>> = Vec::new();
                for c in sorted {
                    match groups.last_mut() {
                        Some(g) if g[0][&field] == c[&field] => g.push(c),
                        _ => groups.push(vec![c]),
                    }
                }
                sorted = groups
                    .into_iter()
                    .flat_map(|mut g| {
                        g.reverse();
                        g
                    })
                    .collect();
            }
            let page: usize = query(req, "page").unwrap().parse().unwrap();
            let per_page: usize = query(req, "per_page").unwrap().parse().unwrap();
            let last = sorted.len().div_ceil(per_page).max(1);
            let items: Vec<Value> = sorted
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .cloned()
                .collect();
            let link = |p: usize, rel: &str| {
                format!(
                    "<https://acme.smarthr.jp/api/v1/crews?page={p}&per_page={per_page}>; rel=\"{rel}\""
                )
            };
            let mut links = vec![link(1, "first")];
            if page < last {
                links.push(link(page + 1, "next"));
            }
            links.push(link(last, "last"));
            Ok(answer(200, Value::Array(items))?
                .with_header("link", links.join(", "))
                .with_header("x-total-count", sorted.len().to_string()))
        });
    }

    fn tenant(crews: Vec<Value>) -> (Shared<Value>, Shared<Request>) {
        let crews = Rc::new(RefCell::new(crews));
        let seen = Rc::new(RefCell::new(Vec::new()));
        serve(crews.clone(), seen.clone(), Box::new(|_, _| {}));
        (crews, seen)
    }

    fn cursor_of(page: &Page<Value>) -> Cursor {
        serde_json::from_str(&page.cursor).unwrap()
    }

    fn since(text: &str) -> String {
        encode(&Cursor {
            since: text.into(),
            walk: None,
        })
        .unwrap()
    }

    fn ids(page: &Page<Value>) -> Vec<&str> {
        page.events.iter().map(|e| e.id.as_str()).collect()
    }

    const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    #[test]
    fn instants_parse_smarthrs_forms_and_normalise() {
        let t = |s: &str| parse_instant(s).map(Instant::rfc3339);
        assert_eq!(
            t("2026-01-01T09:00:00+09:00").as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            t("2026-01-01T00:00:00.000Z").as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            t("2025-12-31T19:00:00.250-05:00").as_deref(),
            Some("2026-01-01T00:00:00.25Z")
        );
        assert_eq!(
            t("2026-01-01 00:00:00Z").as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        for bad in [
            "",
            "2026-01-01",
            "2026-02-29T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00+0900",
            "2026-01-01T00:00:00.Z",
            "yesterday at noon, roughly",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
        assert!(at("2026-01-01T00:00:00Z") < at("2026-01-01T00:00:00.001Z"));
        assert_eq!(at("2024-02-29T12:00:00Z").secs, 1_709_208_000);
    }

    #[test]
    fn since_never_passes_the_walk_start_less_the_margin() {
        let began = T0;
        let old = Instant::at(T0 - 86_400);
        assert_eq!(next_since(old, None, began), old);
        let seen = Instant::at(T0 - 3600);
        assert_eq!(next_since(old, Some(seen), began), seen);
        // A change within the margin of the walk's start, or after it.
        for newest in [T0 - 30, T0, T0 + 600] {
            assert_eq!(
                next_since(old, Some(Instant::at(newest)), began),
                Instant::at(T0 - CLOCK_MARGIN_SECONDS)
            );
        }
        // Never backwards.
        let later = Instant::at(T0 + 86_400);
        assert_eq!(next_since(later, Some(seen), began), later);
    }

    #[test]
    fn a_new_subscription_starts_at_the_present_without_a_request() {
        mock_http(|_| panic!("no request for a new subscription"));
        for trigger in ["employee-created", "employee-updated"] {
            let before = now_unix();
            let page = poll::<SmartHr>(trigger, None, &ctx()).unwrap();
            assert!(page.events.is_empty());
            assert!(!page.more);
            let since = at(&cursor_of(&page).since).secs;
            assert!(
                since >= before - CLOCK_MARGIN_SECONDS
                    && since <= now_unix() - CLOCK_MARGIN_SECONDS
            );
        }
    }

    #[test]
    fn a_poll_reads_newest_first_and_stops_at_the_watermark() {
        // 150 crews long ago, 3 since the watermark.
        let mut crews: Vec<Value> = (0..150)
            .map(|i| crew_at(i, T0 - 86_400 + i as i64))
            .collect();
        crews.push(crew_at(150, T0 + 10));
        crews.push(crew_at(151, T0 + 20));
        crews.push(crew_at(152, T0));
        let (_, seen) = tenant(crews);
        let mut grant = ctx();
        grant.permissions = vec![CREWS_READ.into()];
        let page =
            poll::<SmartHr>("employee-updated", Some(&since(&rfc3339_utc(T0))), &grant).unwrap();
        assert_eq!(
            ids(&page),
            [
                "c0152@2026-01-01T00:00:00Z",
                "c0150@2026-01-01T00:00:10Z",
                "c0151@2026-01-01T00:00:20Z"
            ],
            "oldest first, the watermark's own second included"
        );
        assert_eq!(page.events[2].occurred_at, "2026-01-01T00:00:20Z");
        assert_eq!(page.events[2].payload["first_name"], "花子151");
        assert!(!page.more);
        assert_eq!(cursor_of(&page).since, "2026-01-01T00:00:20Z");
        let seen = seen.borrow();
        assert_eq!(seen.len(), 1, "the first page already reached older crews");
        assert_eq!(query(&seen[0], "sort").as_deref(), Some("-updated_at"));
        assert_eq!(query(&seen[0], "per_page").as_deref(), Some("100"));
        assert_eq!(query(&seen[0], "page").as_deref(), Some("1"));
    }

    #[test]
    fn the_watermark_never_moves_past_the_walk_start() {
        // Crews changed just now: since stops at the walk's start less the
        // margin, so they are read again (as copies) next time.
        let now = now_unix();
        let (_, _) = tenant(vec![crew_at(1, now - 5), crew_at(2, now)]);
        let start = since(&rfc3339_utc(now - 3600));
        let before = now_unix();
        let page = poll::<SmartHr>("employee-updated", Some(&start), &ctx()).unwrap();
        let after = now_unix();
        assert_eq!(page.events.len(), 2);
        let next = at(&cursor_of(&page).since).secs;
        assert!(next >= before - CLOCK_MARGIN_SECONDS && next <= after - CLOCK_MARGIN_SECONDS);
        let again = poll::<SmartHr>("employee-updated", Some(&page.cursor), &ctx()).unwrap();
        assert_eq!(
            ids(&again),
            ids(&page),
            "the same ids: copies the host drops"
        );
    }

    #[test]
    fn same_second_changes_are_all_reported() {
        let t = T0 + 5;
        let (crews, _) = tenant(vec![crew_at(0, T0 - 60), crew_at(1, t), crew_at(2, t)]);
        let start = since(&rfc3339_utc(T0));
        let page = poll::<SmartHr>("employee-updated", Some(&start), &ctx()).unwrap();
        assert_eq!(
            ids(&page),
            ["c0001@2026-01-01T00:00:05Z", "c0002@2026-01-01T00:00:05Z"]
        );
        assert_eq!(cursor_of(&page).since, "2026-01-01T00:00:05Z");
        // Another crew changes in that very second after the poll: the next
        // poll reports it, and the two already reported come again under
        // the same ids, which the host drops.
        crews.borrow_mut().push(crew_at(3, t));
        let again = poll::<SmartHr>("employee-updated", Some(&page.cursor), &ctx()).unwrap();
        let mut got = ids(&again);
        got.sort();
        assert_eq!(
            got,
            [
                "c0001@2026-01-01T00:00:05Z",
                "c0002@2026-01-01T00:00:05Z",
                "c0003@2026-01-01T00:00:05Z"
            ]
        );
        // The same crew changed again later: a new id.
        crews.borrow_mut()[1]["updated_at"] = json!(rfc3339_utc(t + 1));
        let third = poll::<SmartHr>("employee-updated", Some(&again.cursor), &ctx()).unwrap();
        assert!(ids(&third).contains(&"c0001@2026-01-01T00:00:06Z"));
    }

    #[test]
    fn a_page_budget_yields_more_and_the_walk_goes_on_from_its_page() {
        let total = PAGES_PER_POLL as usize * 100 + 230;
        let crews: Vec<Value> = (0..total).map(|i| crew_at(i, T0 + i as i64)).collect();
        let (_, seen) = tenant(crews);
        let start = since(&rfc3339_utc(T0 - 60));
        let first = poll::<SmartHr>("employee-created", Some(&start), &ctx()).unwrap();
        assert_eq!(first.events.len(), 500);
        assert!(first.more);
        let cursor = cursor_of(&first);
        assert_eq!(cursor.since, rfc3339_utc(T0 - 60), "unmoved mid-walk");
        let walk = cursor.walk.unwrap();
        assert_eq!(walk.page, PAGES_PER_POLL + 1);
        assert_eq!(walk.total, Some(total as u64));
        assert_eq!(
            walk.newest.as_deref(),
            Some(&*rfc3339_utc(T0 + total as i64 - 1))
        );
        assert_eq!(seen.borrow().len(), PAGES_PER_POLL as usize);
        assert!(first.events.iter().all(|e| e.id.ends_with("@created")));

        let second = poll::<SmartHr>("employee-created", Some(&first.cursor), &ctx()).unwrap();
        assert_eq!(second.events.len(), 230);
        assert!(!second.more);
        assert_eq!(
            query(&seen.borrow()[PAGES_PER_POLL as usize], "page").as_deref(),
            Some("6"),
            "the second poll starts where the first stopped"
        );
        assert_eq!(
            query(&seen.borrow()[0], "sort").as_deref(),
            Some("-created_at")
        );
        // Every crew once over the two polls.
        let all: HashSet<&str> = ids(&first).into_iter().chain(ids(&second)).collect();
        assert_eq!(all.len(), total);
        // The newest is long past: since moves to it.
        assert_eq!(cursor_of(&second).since, rfc3339_utc(T0 + total as i64 - 1));
    }

    #[test]
    fn a_deletion_mid_walk_steps_back_so_no_crew_is_skipped() {
        let crews: Vec<Value> = (0..250).map(|i| crew_at(i, T0 + i as i64)).collect();
        let crews = Rc::new(RefCell::new(crews));
        let seen = Rc::new(RefCell::new(Vec::new()));
        // After page 1 is read, its newest crew is deleted: every later crew
        // shifts back one place, the first of page 2 onto page 1.
        serve(
            crews.clone(),
            seen.clone(),
            Box::new(|n, crews| {
                if n == 1 {
                    crews.retain(|c| c["id"] != "c0249");
                }
            }),
        );
        let start = since(&rfc3339_utc(T0 - 60));
        let page = poll::<SmartHr>("employee-created", Some(&start), &ctx()).unwrap();
        let got: HashSet<&str> = ids(&page).into_iter().collect();
        assert!(
            got.contains("c0149@created"),
            "the crew shifted onto page 1 is read again"
        );
        assert_eq!(got.len(), 250, "and nothing is reported twice");
        assert!(!page.more);
        let pages: Vec<String> = seen
            .borrow()
            .iter()
            .map(|r| query(r, "page").unwrap())
            .collect();
        assert_eq!(pages, ["1", "2", "1", "2", "3"]);
    }

    #[test]
    fn a_crew_changed_mid_walk_is_read_by_the_next_poll() {
        let crews: Vec<Value> = (0..250).map(|i| crew_at(i, T0 + i as i64)).collect();
        let crews = Rc::new(RefCell::new(crews));
        let seen = Rc::new(RefCell::new(Vec::new()));
        let now = now_unix();
        // After page 1, the oldest crew (on page 3) is changed: it moves to
        // the top, which was already read, and the rest shift forward.
        serve(
            crews.clone(),
            seen.clone(),
            Box::new(move |n, crews| {
                if n == 1 {
                    crews[0]["updated_at"] = json!(rfc3339_utc(now));
                }
            }),
        );
        let start = since(&rfc3339_utc(T0 - 60));
        let page = poll::<SmartHr>("employee-updated", Some(&start), &ctx()).unwrap();
        assert_eq!(page.events.len(), 249, "shifted copies are dropped");
        assert!(!ids(&page).iter().any(|id| id.starts_with("c0000@")));
        let next = poll::<SmartHr>("employee-updated", Some(&page.cursor), &ctx()).unwrap();
        assert!(
            ids(&next).contains(&format!("c0000@{}", rfc3339_utc(now)).as_str()),
            "{:?}",
            ids(&next)
        );
    }

    #[test]
    fn errors_keep_the_cursor_and_bad_cursors_are_named() {
        mock_http(|_| {
            answer(
                403,
                json!({"code": 3, "type": "forbidden", "message": "Forbidden", "errors": null}),
            )
        });
        let start = since("2026-01-01T00:00:00Z");
        let err = poll::<SmartHr>("employee-updated", Some(&start), &ctx());
        assert!(matches!(err, Err(Error::Forbidden(m)) if m.contains("Forbidden")));
        let err = poll::<SmartHr>("employee-updated", Some("7"), &ctx());
        assert!(matches!(err, Err(Error::Internal(m)) if m.contains("cursor")));
        let (_, _) = tenant(vec![json!({"id": "c1", "updated_at": "soon"})]);
        let err = poll::<SmartHr>("employee-updated", Some(&start), &ctx());
        assert!(
            matches!(&err, Err(Error::Upstream { message, .. }) if message.contains("`c1`") && message.contains("updated_at")),
            "{err:?}"
        );
    }

    // -- Deliveries ------------------------------------------------------

    fn delivery(body: Value) -> Delivery {
        Delivery {
            headers: vec![("x-smarthr-token".into(), "s3cret".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn sent(event: &str, crew: Value) -> Delivery {
        delivery(json!({
            "event": event, "triggered_at": "2026-01-01T09:00:30+09:00",
            "sender": {"id": "admin-crew", "last_name": "管理"}, "crew": crew
        }))
    }

    #[test]
    fn a_delivery_and_a_poll_name_one_change_alike() {
        let state = crew(7, "2025-04-01T10:00:00+09:00", "2026-01-01T09:00:00+09:00");
        let (_, seen) = tenant(vec![state.clone()]);
        let start = since("2025-12-31T23:00:00Z");
        for (trigger, event) in [
            ("employee-updated", "crew_updated"),
            ("employee-created", "crew_created"),
        ] {
            let start = if event == "crew_created" {
                since("2025-04-01T00:00:00Z")
            } else {
                start.clone()
            };
            let polled = poll::<SmartHr>(trigger, Some(&start), &ctx()).unwrap();
            let delivered =
                parse_delivery::<SmartHr>(trigger, &sent(event, state.clone()), &ctx()).unwrap();
            assert_eq!(delivered.len(), 1);
            assert_eq!(
                polled.events, delivered,
                "{trigger}: same id, time and payload"
            );
            assert_eq!(delivered[0].payload, state);
        }
        let delivered = parse_delivery::<SmartHr>(
            "employee-updated",
            &sent("crew_updated", state.clone()),
            &ctx(),
        )
        .unwrap();
        assert_eq!(delivered[0].id, "c0007@2026-01-01T00:00:00Z");
        assert_eq!(delivered[0].occurred_at, "2026-01-01T00:00:00Z");
        let created =
            parse_delivery::<SmartHr>("employee-created", &sent("crew_created", state), &ctx())
                .unwrap();
        assert_eq!(created[0].id, "c0007@created");
        assert_eq!(created[0].occurred_at, "2025-04-01T01:00:00Z");
        // Only the two polls asked SmartHR anything: whole bodies are used
        // as they came.
        assert_eq!(seen.borrow().len(), 2);
    }

    #[test]
    fn another_event_is_no_event() {
        mock_http(|_| panic!("nothing to fetch"));
        let whole = crew(1, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z");
        for (trigger, events) in [
            (
                "employee-created",
                [
                    "crew_updated",
                    "crew_deleted",
                    "crew_imported",
                    "dependent_created",
                ],
            ),
            (
                "employee-updated",
                [
                    "crew_created",
                    "crew_deleted",
                    "crew_imported",
                    "dependent_updated",
                ],
            ),
            (
                "employee-deleted",
                [
                    "crew_created",
                    "crew_updated",
                    "crew_imported",
                    "dependent_deleted",
                ],
            ),
        ] {
            for event in events {
                let out = parse_delivery::<SmartHr>(trigger, &sent(event, whole.clone()), &ctx());
                assert_eq!(out, Ok(Vec::new()), "{trigger} {event}");
            }
            // A dependent's event has no crew at all: still just not ours.
            let dependent =
                delivery(json!({"event": "dependent_created", "dependent": {"id": "x"}}));
            assert_eq!(
                parse_delivery::<SmartHr>(trigger, &dependent, &ctx()),
                Ok(Vec::new())
            );
        }
    }

    #[test]
    fn an_ids_only_delivery_reads_the_crew() {
        let stored = crew(9, "2026-01-01T00:00:00Z", "2026-01-02T03:04:05Z");
        let (_, seen) = tenant(vec![stored.clone()]);
        let mut grant = ctx();
        grant.permissions = vec![CREWS_READ.into()];
        for (trigger, event, id) in [
            (
                "employee-updated",
                "crew_updated",
                "c0009@2026-01-02T03:04:05Z",
            ),
            ("employee-created", "crew_created", "c0009@created"),
        ] {
            for body in [
                json!({"id": "c0009"}),
                json!({"id": "c0009", "updated_at": "2026-01-02T03:04:05Z", "created_at": "2026-01-01T00:00:00Z"}),
            ] {
                let out = parse_delivery::<SmartHr>(trigger, &sent(event, body), &grant).unwrap();
                assert_eq!(out.len(), 1);
                assert_eq!(out[0].id, id);
                assert_eq!(
                    out[0].payload, stored,
                    "the whole crew, as Read Employee returns it"
                );
            }
        }
        {
            let seen = seen.borrow();
            assert_eq!(seen.len(), 4);
            assert!(
                seen.iter()
                    .all(|r| r.url == "/api/v1/crews/c0009" && r.method == Method::Get)
            );
        }

        // The crew is gone by the time the delivery is read: no event.
        let out = parse_delivery::<SmartHr>(
            "employee-updated",
            &sent("crew_updated", json!({"id": "c0404"})),
            &grant,
        );
        assert_eq!(out, Ok(Vec::new()));
        // Other failures are errors, so the host retries the delivery.
        mock_http(|_| {
            answer(
                503,
                json!({"code": 9, "type": "service_maintenance", "message": "m", "errors": null}),
            )
        });
        let out = parse_delivery::<SmartHr>(
            "employee-created",
            &sent("crew_created", json!({"id": "c0009"})),
            &grant,
        );
        assert!(matches!(
            out,
            Err(Error::Upstream {
                status: Some(503),
                ..
            })
        ));
    }

    #[test]
    fn malformed_deliveries_say_what_is_wrong() {
        mock_http(|_| panic!("nothing to fetch"));
        let bad = |trigger: &str, body: &[u8]| {
            let d = Delivery {
                headers: Vec::new(),
                body: body.to_vec(),
            };
            match parse_delivery::<SmartHr>(trigger, &d, &ctx()) {
                Err(Error::InvalidInput(m)) => m,
                other => panic!("{trigger} {}: {other:?}", String::from_utf8_lossy(body)),
            }
        };
        for trigger in ["employee-created", "employee-updated", "employee-deleted"] {
            assert!(bad(trigger, b"{oops").contains("not the JSON expected"));
            assert!(bad(trigger, b"[1]").contains("not a JSON object"));
            assert!(bad(trigger, br#"{"crew": {"id": "c1"}}"#).contains("`event`"));
            assert!(bad(trigger, br#"{"event": 7}"#).contains("`event`"));
        }
        let m = bad("employee-updated", br#"{"event": "crew_updated"}"#);
        assert!(
            m.contains("`crew_updated` delivery has no `crew` object"),
            "{m}"
        );
        let m = bad(
            "employee-created",
            br#"{"event": "crew_created", "crew": "c1"}"#,
        );
        assert!(m.contains("no `crew` object"), "{m}");
        let m = bad(
            "employee-created",
            br#"{"event": "crew_created", "crew": {"id": ""}}"#,
        );
        assert!(m.contains("no `id`"), "{m}");
        let m = bad(
            "employee-deleted",
            br#"{"event": "crew_deleted", "crew": {"id": "c1"}}"#,
        );
        assert!(m.contains("`triggered_at`"), "{m}");
        let m = bad(
            "employee-deleted",
            br#"{"event": "crew_deleted", "triggered_at": "yesterday", "crew": {"id": "c1"}}"#,
        );
        assert!(m.contains("\"yesterday\""), "{m}");
    }

    #[test]
    fn a_deletion_is_reported_from_the_delivery_alone() {
        mock_http(|_| panic!("a deleted crew cannot be read"));
        let mut grant = ctx();
        grant.permissions = vec![WEBHOOKS_MANAGE.into()];
        let whole = crew(3, "2025-01-01T00:00:00Z", "2025-06-01T00:00:00Z");
        let out =
            parse_delivery::<SmartHr>("employee-deleted", &sent("crew_deleted", whole), &grant)
                .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, "c0003@deleted");
        assert_eq!(out[0].occurred_at, "2026-01-01T00:00:30Z");
        assert_eq!(
            out[0].payload,
            json!({"id": "c0003", "emp_code": "00003", "last_name": "山田",
                   "first_name": "花子3", "deleted_at": "2026-01-01T00:00:30Z"})
        );
        // Ids only: the rest is null.
        let out = parse_delivery::<SmartHr>(
            "employee-deleted",
            &sent("crew_deleted", json!({"id": "c0004"})),
            &grant,
        )
        .unwrap();
        assert_eq!(
            out[0].payload,
            json!({"id": "c0004", "emp_code": null, "last_name": null,
                   "first_name": null, "deleted_at": "2026-01-01T00:00:30Z"})
        );
    }

    // -- Registration ----------------------------------------------------

    /// Whether `permission` allows `method path` as the broker matches
    /// (`*` one segment).
    fn permits(permission: &cardhost_sdk::Permission, method: Method, path: &str) -> bool {
        let access = match method {
            Method::Get | Method::Head => Access::Read,
            _ => Access::Write,
        };
        permission.rules.iter().any(|r| {
            let want: Vec<&str> = r.path.split('/').collect();
            let got: Vec<&str> = path.split('/').collect();
            r.access.contains(&access)
                && want.len() == got.len()
                && want
                    .iter()
                    .zip(&got)
                    .all(|(w, g)| *w == "*" && !g.is_empty() || w == g)
        })
    }

    struct Hooks {
        hooks: Shared<Value>,
        seen: Shared<Request>,
    }

    impl Hooks {
        fn bodies(&self, method: Method) -> Vec<(String, Value)> {
            self.seen
                .borrow()
                .iter()
                .filter(|r| r.method == method)
                .map(|r| {
                    let body = r
                        .body
                        .as_ref()
                        .map(|b| serde_json::from_slice(b).unwrap())
                        .unwrap_or(Value::Null);
                    (r.url.clone(), body)
                })
                .collect()
        }
    }

    /// Serves SmartHR's `/webhooks`, paged by 100 like every list, and
    /// checks each request is within `webhooks-manage`.
    fn serve_hooks(hooks: Vec<Value>) -> Hooks {
        let manage = SmartHr::manifest()
            .permissions
            .into_iter()
            .find(|p| p.id == WEBHOOKS_MANAGE)
            .unwrap();
        let hooks = Rc::new(RefCell::new(hooks));
        let seen = Rc::new(RefCell::new(Vec::new()));
        let (store, log) = (hooks.clone(), seen.clone());
        mock_http(move |req| {
            log.borrow_mut().push(req.clone());
            assert!(
                permits(&manage, req.method, &req.url),
                "{:?} {} is outside webhooks-manage",
                req.method,
                req.url
            );
            let mut all = store.borrow_mut();
            let not_found = || {
                answer(
                    404,
                    json!({"code": 4, "type": "not_found", "message": "Not found", "errors": null}),
                )
            };
            match (req.method, req.url.strip_prefix("/api/v1/webhooks")) {
                (Method::Get, Some("")) => {
                    let page: usize = query(req, "page").unwrap().parse().unwrap();
                    let per: usize = query(req, "per_page").unwrap().parse().unwrap();
                    let items: Vec<Value> = all
                        .iter()
                        .skip((page - 1) * per)
                        .take(per)
                        .cloned()
                        .collect();
                    Ok(answer(200, Value::Array(items))?
                        .with_header("x-total-count", all.len().to_string()))
                }
                (Method::Post, Some("")) => {
                    let mut body: Value =
                        serde_json::from_slice(req.body.as_ref().unwrap()).unwrap();
                    body["id"] = json!(format!("wh-{}", all.len() + 1));
                    body["disabled_at"] = Value::Null;
                    all.push(body.clone());
                    answer(201, body)
                }
                (Method::Patch, Some(rest)) => {
                    let id = rest.trim_start_matches('/');
                    let Some(hook) = all.iter_mut().find(|h| h["id"] == id) else {
                        return not_found();
                    };
                    let body: Value = serde_json::from_slice(req.body.as_ref().unwrap()).unwrap();
                    for (k, v) in body.as_object().unwrap() {
                        hook[k] = v.clone();
                    }
                    answer(200, hook.clone())
                }
                (Method::Delete, Some(rest)) => {
                    let id = rest.trim_start_matches('/');
                    let before = all.len();
                    all.retain(|h| h["id"] != id);
                    if all.len() == before {
                        not_found()
                    } else {
                        Ok(Response {
                            status: 204,
                            headers: Vec::new(),
                            body: Vec::new(),
                        })
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        });
        Hooks { hooks, seen }
    }

    fn def(id: &str) -> &'static cardhost_sdk::TriggerDef {
        SmartHr::TRIGGERS.iter().find(|t| t.id == id).unwrap()
    }

    const TARGET: &str = "https://cardhost.example/v1/hooks/sub_123";

    fn other_hook(n: usize) -> Value {
        json!({"id": format!("other-{n}"), "url": format!("https://elsewhere.example/{n}"),
               "description": "payroll", "crew_created": true, "crew_updated": true,
               "crew_deleted": false, "disabled_at": null})
    }

    #[test]
    fn subscribe_creates_a_webhook_when_there_is_none() {
        let hooks = serve_hooks((0..3).map(other_hook).collect());
        let id = def("employee-created")
            .subscribe(TARGET, "tok-1", &ctx())
            .unwrap();
        assert_eq!(id, "wh-4");
        let posted = hooks.bodies(Method::Post);
        assert_eq!(posted.len(), 1);
        assert_eq!(posted[0].0, "/api/v1/webhooks");
        assert_eq!(
            posted[0].1,
            json!({
                "url": TARGET, "description": "cardhost: Employee Created", "secret_token": "tok-1",
                "crew_created": true, "crew_updated": false, "crew_deleted": false,
                "crew_imported": false, "dependent_created": false, "dependent_updated": false,
                "dependent_deleted": false, "dependent_imported": false
            })
        );
        // Called again (the host's periodic check): the same webhook,
        // updated, not a second one.
        let again = def("employee-created")
            .subscribe(TARGET, "tok-1", &ctx())
            .unwrap();
        assert_eq!(again, "wh-4");
        assert_eq!(hooks.hooks.borrow().len(), 4);
        assert_eq!(hooks.bodies(Method::Post).len(), 1);

        // Each trigger sets its own flag.
        for (trigger, flag) in [
            ("employee-updated", "crew_updated"),
            ("employee-deleted", "crew_deleted"),
        ] {
            let url = format!("{TARGET}-{flag}");
            let id = def(trigger).subscribe(&url, "tok-2", &ctx()).unwrap();
            let stored = hooks.hooks.borrow();
            let hook = stored.iter().find(|h| h["id"] == id).unwrap();
            for f in WEBHOOK_FLAGS {
                assert_eq!(hook[f], json!(f == flag), "{trigger} {f}");
            }
            assert!(
                hook["description"]
                    .as_str()
                    .unwrap()
                    .starts_with("cardhost: Employee ")
            );
        }
    }

    #[test]
    fn subscribe_updates_the_webhook_already_at_the_url() {
        // 150 other webhooks, so the one at the URL is on page 2.
        let mut existing: Vec<Value> = (0..150).map(other_hook).collect();
        existing.push(
            json!({"id": "pasted", "url": TARGET, "description": "pasted by hand",
            "secret_token": "old", "crew_created": true, "crew_updated": true,
            "crew_deleted": true, "dependent_created": true, "disabled_at": null}),
        );
        let hooks = serve_hooks(existing);
        let id = def("employee-updated")
            .subscribe(TARGET, "tok-new", &ctx())
            .unwrap();
        assert_eq!(id, "pasted");
        assert!(hooks.bodies(Method::Post).is_empty());
        let patched = hooks.bodies(Method::Patch);
        assert_eq!(patched.len(), 1);
        assert_eq!(patched[0].0, "/api/v1/webhooks/pasted");
        let body = &patched[0].1;
        assert_eq!(body["secret_token"], "tok-new");
        for f in WEBHOOK_FLAGS {
            assert_eq!(body[f], json!(f == "crew_updated"), "{f}");
        }
        assert!(body.get("url").is_none() && body.get("description").is_none());
        let pages: Vec<String> = hooks
            .seen
            .borrow()
            .iter()
            .filter(|r| r.method == Method::Get)
            .map(|r| query(r, "page").unwrap())
            .collect();
        assert_eq!(pages, ["1", "2"], "every page is read");
    }

    #[test]
    fn subscribe_refuses_clearly_when_smarthr_disabled_the_webhook() {
        let hooks = serve_hooks(vec![
            other_hook(0),
            json!({"id": "wh-9", "url": TARGET, "crew_created": true,
                   "disabled_at": "2026-01-03T04:05:06+09:00"}),
        ]);
        let err = def("employee-created").subscribe(TARGET, "tok", &ctx());
        let Err(Error::Upstream {
            status: None,
            message,
        }) = err
        else {
            panic!("{err:?}");
        };
        assert!(
            message.starts_with("SmartHR disabled this webhook"),
            "{message}"
        );
        assert!(message.contains("2026-01-03T04:05:06+09:00"), "{message}");
        assert!(message.contains("repeated failed deliveries"), "{message}");
        assert!(
            message.contains("Resuming the subscription registers it again"),
            "{message}"
        );
        assert!(hooks.bodies(Method::Patch).is_empty() && hooks.bodies(Method::Post).is_empty());

        // Beside an active one at the same URL, the active one is used.
        let hooks = serve_hooks(vec![
            json!({"id": "wh-9", "url": TARGET, "disabled_at": "2026-01-03T04:05:06+09:00"}),
            json!({"id": "wh-10", "url": TARGET, "disabled_at": null}),
        ]);
        assert_eq!(
            def("employee-created").subscribe(TARGET, "tok", &ctx()),
            Ok("wh-10".to_string())
        );
        assert_eq!(hooks.bodies(Method::Patch)[0].0, "/api/v1/webhooks/wh-10");
    }

    #[test]
    fn subscribe_propagates_refusals() {
        // The broker refuses without `webhooks-manage`: the host then shows
        // the URL and token to paste.
        mock_http(|req| {
            Err(HttpError::Denied(format!(
                "{} {}: missing permission `webhooks-manage`",
                req.method.as_str(),
                req.url
            ))
            .into())
        });
        let err = def("employee-deleted").subscribe(TARGET, "tok", &ctx());
        assert!(matches!(err, Err(Error::Forbidden(m)) if m.contains("webhooks-manage")));
        // SmartHR itself refuses (a token without the right).
        mock_http(|_| {
            answer(
                403,
                json!({"code": 3, "type": "forbidden", "message": "Forbidden", "errors": null}),
            )
        });
        let err = def("employee-created").subscribe(TARGET, "tok", &ctx());
        assert!(matches!(err, Err(Error::Forbidden(_))));
    }

    #[test]
    fn unsubscribe_deletes_and_a_missing_webhook_counts_as_done() {
        let hooks = serve_hooks(vec![
            json!({"id": "wh-1", "url": TARGET, "disabled_at": null}),
            other_hook(1),
        ]);
        assert_eq!(def("employee-updated").unsubscribe("wh-1", &ctx()), Ok(()));
        assert_eq!(hooks.hooks.borrow().len(), 1);
        assert_eq!(
            def("employee-updated").unsubscribe("wh-1", &ctx()),
            Ok(()),
            "404: done"
        );
        let deletes: Vec<String> = hooks
            .bodies(Method::Delete)
            .into_iter()
            .map(|(url, _)| url)
            .collect();
        assert_eq!(deletes, ["/api/v1/webhooks/wh-1", "/api/v1/webhooks/wh-1"]);
        // An id is one segment.
        assert_eq!(webhook_path("a/../b"), "/api/v1/webhooks/a%2F..%2Fb");
        assert!(matches!(
            def("employee-updated").unsubscribe("", &ctx()),
            Err(Error::InvalidInput(_))
        ));
        mock_http(|_| {
            answer(
                500,
                json!({"code": 5, "type": "internal_server_error", "message": "boom", "errors": null}),
            )
        });
        assert!(matches!(
            def("employee-deleted").unsubscribe("wh-2", &ctx()),
            Err(Error::Upstream {
                status: Some(500),
                ..
            })
        ));
    }

    // -- Declarations ----------------------------------------------------

    #[test]
    fn the_triggers_are_declared_as_the_host_checks_them() {
        let m = SmartHr::manifest();
        let ids: Vec<&str> = SmartHr::TRIGGERS.iter().map(|t| t.id).collect();
        assert_eq!(
            ids,
            ["employee-created", "employee-updated", "employee-deleted"]
        );
        let card_output = &m
            .cards
            .iter()
            .find(|c| c.id == "read-employee")
            .unwrap()
            .output_schema;
        for def in SmartHr::TRIGGERS {
            let e = def.entry();
            assert!(
                !m.cards.iter().any(|c| c.id == e.id),
                "{} is a card id",
                e.id
            );
            assert!(!e.title.is_empty() && e.title.len() <= 100);
            assert!(e.description.len() <= 2000);
            for p in &e.permissions {
                assert!(
                    m.permissions.iter().any(|d| &d.id == p),
                    "{}: permission `{p}` is not in the manifest",
                    e.id
                );
            }
            assert!(e.permissions.iter().any(|p| p == WEBHOOKS_MANAGE));
            assert_eq!(
                e.webhook,
                Some(Webhook {
                    verification: Verification::SharedToken {
                        header: "X-SmartHR-Token"
                    },
                    registers: true
                })
            );
            if e.id == "employee-deleted" {
                assert_eq!(e.polling, None, "deletions cannot be polled");
                assert_eq!(e.permissions, [WEBHOOKS_MANAGE]);
                assert_eq!(e.event_schema["required"], json!(["id", "deleted_at"]));
                assert!(e.event_schema["properties"]["deleted_at"]["description"].is_string());
            } else {
                let polling = e.polling.unwrap();
                assert_eq!(polling.default_interval_seconds, 300);
                assert!(polling.min_interval_seconds <= polling.default_interval_seconds);
                assert_eq!(
                    &e.event_schema, card_output,
                    "{}: the event is the crew Read Employee returns",
                    e.id
                );
                assert!(e.permissions.iter().any(|p| p == CREWS_READ));
            }
        }
    }
}
