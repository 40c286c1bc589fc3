//! Event cards: a trigger as one unit, like a [`Card`](crate::Card). Its id,
//! text, event type, permissions and how it is read (polling, webhooks or
//! both) sit in one `impl`; the event schema is derived from the type.
//!
//! The host owns the rest: subscriptions, the schedule, the cursor (stored
//! with the events a poll produced, in one transaction), deduplication by
//! event id, verifying webhook deliveries before a connector sees them, and
//! delivery. A trigger only answers "what changed since this cursor?" and
//! "what does this delivery contain?".
//!
//! ```
//! use cardhost_sdk::{Context, Event, JsonSchema, Page, Polling, Result, Trigger};
//! use serde::Serialize;
//!
//! /// A person who joined.
//! #[derive(Serialize, JsonSchema)]
//! pub struct Joined {
//!     /// Their id.
//!     pub id: String,
//! }
//!
//! pub struct PersonJoined;
//!
//! impl Trigger for PersonJoined {
//!     type Event = Joined;
//!     const ID: &'static str = "person-joined";
//!     const TITLE: &'static str = "Person Joined";
//!     const DESCRIPTION: &'static str = "A person was added.";
//!     const POLLING: Option<Polling> = Some(Polling::every(60));
//!
//!     fn poll(cursor: Option<&str>, _ctx: &Context) -> Result<Page<Joined>> {
//!         // A new subscription starts at the present: nothing yet.
//!         let Some(cursor) = cursor else {
//!             return Ok(Page::new(Vec::new(), "7"));
//!         };
//!         let last: u64 = cursor.parse().unwrap_or(0);
//!         let next = last + 1;
//!         let event = Event::new(
//!             next.to_string(),
//!             "2026-01-01T00:00:00Z",
//!             Joined { id: next.to_string() },
//!         );
//!         Ok(Page::new(vec![event], next.to_string()))
//!     }
//! }
//! ```

use crate::schema::output_schema;
use crate::{Context, Error, Result, Value};
use schemars::JsonSchema;
use serde::Serialize;

/// How a trigger may be polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polling {
    /// Seconds between polls when a subscription does not choose.
    pub default_interval_seconds: u32,
    /// The shortest interval a subscription may ask for.
    pub min_interval_seconds: u32,
}

impl Polling {
    /// Polls every `seconds` by default, and no more often than every 10 s.
    pub const fn every(seconds: u32) -> Self {
        Self {
            default_interval_seconds: seconds,
            min_interval_seconds: if seconds < 10 { seconds } else { 10 },
        }
    }

    /// Sets the shortest interval a subscription may ask for.
    pub const fn at_least(mut self, seconds: u32) -> Self {
        self.min_interval_seconds = seconds;
        self
    }
}

/// How a signature is written in an HMAC-signed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureEncoding {
    /// Lowercase or uppercase hex.
    Hex,
    /// Standard base64.
    Base64,
}

/// How the host checks that a webhook delivery comes from the vendor,
/// before the connector sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The named header carries the subscription's token, byte for byte
    /// (SmartHR's `X-SmartHR-Token`).
    SharedToken {
        /// The header.
        header: &'static str,
    },
    /// An HMAC-SHA256 of `{timestamp}.{body}` (or the body alone, without
    /// a timestamp header) under the subscription's token.
    HmacSha256 {
        /// The header carrying the signature.
        signature_header: &'static str,
        /// Text before the signature in that header, e.g. `sha256=`.
        prefix: &'static str,
        /// How the signature is written.
        encoding: SignatureEncoding,
        /// The header carrying the signed Unix time, if any.
        timestamp_header: Option<&'static str>,
        /// How far that time may be from the host's clock, in seconds.
        tolerance_seconds: u32,
    },
}

/// How a trigger receives webhook deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Webhook {
    /// How each delivery is verified.
    pub verification: Verification,
    /// Whether [`Trigger::subscribe`] registers the host's URL with the
    /// vendor. When false, or when the vendor refuses, the user is shown
    /// the URL and token to paste into the vendor's settings.
    pub registers: bool,
}

/// One occurrence upstream, with its payload typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<T> {
    /// Stable id: the same change always gets the same id, so the host can
    /// drop copies (`{user-id}@{last-modified}`).
    pub id: String,
    /// When it happened upstream, RFC 3339.
    pub occurred_at: String,
    /// The event.
    pub payload: T,
}

impl<T> Event<T> {
    /// An event.
    pub fn new(id: impl Into<String>, occurred_at: impl Into<String>, payload: T) -> Self {
        Self {
            id: id.into(),
            occurred_at: occurred_at.into(),
            payload,
        }
    }
}

/// What one poll found.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// New events, oldest first.
    pub events: Vec<Event<T>>,
    /// Where the next poll starts; the host stores it with these events.
    pub cursor: String,
    /// True when there is more to read at once.
    pub more: bool,
}

impl<T> Page<T> {
    /// A page with nothing more to read now.
    pub fn new(events: Vec<Event<T>>, cursor: impl Into<String>) -> Self {
        Self {
            events,
            cursor: cursor.into(),
            more: false,
        }
    }

    /// Says there is more to read at once.
    pub fn more(mut self, more: bool) -> Self {
        self.more = more;
        self
    }
}

/// A webhook delivery the host has verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its headers, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: Vec<u8>,
}

impl Delivery {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::InvalidInput(format!("the delivery is not the JSON expected: {e}")))
    }
}

/// One event card of a connector.
pub trait Trigger {
    /// One event's payload. Its schema is the trigger's event schema, and
    /// the host checks every payload against it.
    type Event: Serialize + JsonSchema;
    /// Stable kebab-case id (`employee-created`).
    const ID: &'static str;
    /// Catalog title (`Employee Created`).
    const TITLE: &'static str;
    /// What the trigger reports, in a sentence or two.
    const DESCRIPTION: &'static str;
    /// Ids of the manifest permissions its requests use.
    const PERMISSIONS: &'static [&'static str] = &[];
    /// Set when the trigger can be polled ([`poll`](Trigger::poll)).
    const POLLING: Option<Polling> = None;
    /// Set when the vendor delivers it by webhook
    /// ([`parse_delivery`](Trigger::parse_delivery)).
    const WEBHOOK: Option<Webhook> = None;

    /// What changed since `cursor`. With no cursor (a new subscription),
    /// no events and a cursor at the present.
    fn poll(cursor: Option<&str>, ctx: &Context) -> Result<Page<Self::Event>> {
        let _ = (cursor, ctx);
        Err(Error::Internal(format!(
            "trigger `{}` cannot be polled",
            Self::ID
        )))
    }

    /// Registers `target_url` with the vendor, so deliveries carry `token`;
    /// returns what [`unsubscribe`](Trigger::unsubscribe) needs.
    fn subscribe(target_url: &str, token: &str, ctx: &Context) -> Result<String> {
        let _ = (target_url, token, ctx);
        Err(Error::Internal(format!(
            "trigger `{}` does not register webhooks",
            Self::ID
        )))
    }

    /// Removes what [`subscribe`](Trigger::subscribe) registered.
    fn unsubscribe(registration: &str, ctx: &Context) -> Result<()> {
        let _ = (registration, ctx);
        Ok(())
    }

    /// The events in one verified delivery.
    fn parse_delivery(delivery: &Delivery, ctx: &Context) -> Result<Vec<Event<Self::Event>>> {
        let _ = (delivery, ctx);
        Err(Error::Internal(format!(
            "trigger `{}` takes no webhook deliveries",
            Self::ID
        )))
    }
}

/// A trigger's declaration, as the host reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerEntry {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// JSON Schema of one event's payload.
    pub event_schema: Value,
    /// Permission ids.
    pub permissions: Vec<String>,
    /// Polling, if it can be polled.
    pub polling: Option<Polling>,
    /// Webhook, if the vendor delivers it.
    pub webhook: Option<Webhook>,
}

/// An event with its payload as JSON text, as it crosses to the host.
pub type RawEvent = Event<String>;

/// A [`Trigger`] with its types erased, listed with
/// [`triggers!`](crate::triggers) in
/// [`Connector::TRIGGERS`](crate::Connector::TRIGGERS).
#[derive(Clone, Copy)]
pub struct TriggerDef {
    /// The trigger's id.
    pub id: &'static str,
    entry: fn() -> TriggerEntry,
    poll: fn(Option<&str>, &Context) -> Result<Page<String>>,
    subscribe: fn(&str, &str, &Context) -> Result<String>,
    unsubscribe: fn(&str, &Context) -> Result<()>,
    parse_delivery: fn(&Delivery, &Context) -> Result<Vec<RawEvent>>,
}

impl std::fmt::Debug for TriggerDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TriggerDef").field("id", &self.id).finish()
    }
}

/// A connector's triggers, in catalog order.
pub type Triggers = &'static [TriggerDef];

fn encode<T: Serialize>(event: Event<T>) -> Result<RawEvent> {
    let payload = serde_json::to_string(&event.payload)
        .map_err(|e| Error::Internal(format!("cannot encode event `{}`: {e}", event.id)))?;
    Ok(Event {
        id: event.id,
        occurred_at: event.occurred_at,
        payload,
    })
}

fn entry_of<T: Trigger>() -> TriggerEntry {
    TriggerEntry {
        id: T::ID.into(),
        title: T::TITLE.into(),
        description: T::DESCRIPTION.into(),
        event_schema: output_schema::<T::Event>(),
        permissions: T::PERMISSIONS.iter().map(|p| p.to_string()).collect(),
        polling: T::POLLING,
        webhook: T::WEBHOOK,
    }
}

fn poll_erased<T: Trigger>(cursor: Option<&str>, ctx: &Context) -> Result<Page<String>> {
    let page = T::poll(cursor, ctx)?;
    Ok(Page {
        events: page.events.into_iter().map(encode).collect::<Result<_>>()?,
        cursor: page.cursor,
        more: page.more,
    })
}

fn parse_erased<T: Trigger>(delivery: &Delivery, ctx: &Context) -> Result<Vec<RawEvent>> {
    T::parse_delivery(delivery, ctx)?
        .into_iter()
        .map(encode)
        .collect()
}

impl TriggerDef {
    /// Erases trigger `T`.
    pub const fn of<T: Trigger>() -> Self {
        Self {
            id: T::ID,
            entry: entry_of::<T>,
            poll: poll_erased::<T>,
            subscribe: T::subscribe,
            unsubscribe: T::unsubscribe,
            parse_delivery: parse_erased::<T>,
        }
    }

    /// The trigger's declaration.
    pub fn entry(&self) -> TriggerEntry {
        (self.entry)()
    }

    /// Polls it; payloads as JSON text.
    pub fn poll(&self, cursor: Option<&str>, ctx: &Context) -> Result<Page<String>> {
        (self.poll)(cursor, ctx)
    }

    /// Registers a webhook target.
    pub fn subscribe(&self, target_url: &str, token: &str, ctx: &Context) -> Result<String> {
        (self.subscribe)(target_url, token, ctx)
    }

    /// Removes a registration.
    pub fn unsubscribe(&self, registration: &str, ctx: &Context) -> Result<()> {
        (self.unsubscribe)(registration, ctx)
    }

    /// Reads a verified delivery; payloads as JSON text.
    pub fn parse_delivery(&self, delivery: &Delivery, ctx: &Context) -> Result<Vec<RawEvent>> {
        (self.parse_delivery)(delivery, ctx)
    }
}

/// Lists a connector's triggers for
/// [`Connector::TRIGGERS`](crate::Connector::TRIGGERS):
/// `triggers![EmployeeCreated, EmployeeUpdated]`.
#[macro_export]
macro_rules! triggers {
    ($($trigger:ty),* $(,)?) => {
        &[$($crate::TriggerDef::of::<$trigger>()),*]
    };
}

/// The trigger of `triggers` named `id`, or an error naming the nearest.
pub fn find_trigger(triggers: Triggers, id: &str) -> Result<&'static TriggerDef> {
    triggers.iter().find(|t| t.id == id).ok_or_else(|| {
        Error::InvalidInput(format!(
            "unknown trigger `{id}`{}",
            crate::did_you_mean(id, triggers.iter().map(|t| t.id))
        ))
    })
}

/// How far a connector's "changed since" watermark stays behind the start
/// of the walk that moved it, in seconds: a change the vendor stamped a
/// little before a walk began, but made visible only after the walk read
/// past it (clock skew, replication lag), is read again next time. The
/// copies carry the ids they had, and the host drops them.
pub const CLOCK_MARGIN_SECONDS: i64 = 120;

/// The watermark after a finished walk: the newest change the walk saw,
/// but never later than the walk's start (`began`, Unix seconds) less
/// [`CLOCK_MARGIN_SECONDS`], and never earlier than the old `since`.
pub fn next_since(
    since: crate::time::Instant,
    newest: Option<crate::time::Instant>,
    began: i64,
) -> crate::time::Instant {
    let Some(newest) = newest else {
        return since;
    };
    newest
        .min(crate::time::Instant::at(began - CLOCK_MARGIN_SECONDS))
        .max(since)
}

/// Seconds since the Unix epoch by the host's clock.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `secs` since the Unix epoch as an RFC 3339 date-time in UTC, to the
/// second (`2026-03-01T09:30:00Z`).
pub fn rfc3339_utc(secs: i64) -> String {
    cardhost_rules::time::rfc3339_utc(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
    }
}
