//! Subscriptions to triggers and the events they produced.
//!
//! A subscription ties a connection and one of its connector's triggers to
//! a target (a feed the user pulls, or a webhook the host calls). The host
//! owns its schedule and cursor: [`Store::commit_poll`](crate::Store::commit_poll)
//! stores the events a poll produced and the cursor after them in one
//! transaction, so a crash leaves either both or neither, and an event id
//! already stored for the subscription is dropped, so overlapping polls (or
//! a vendor's retried webhook) never store an occurrence twice. Events are
//! numbered per subscription (`seq`, from 1, in the order stored); a feed
//! reader pages by that number.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a subscription's events go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    /// Kept for the user to pull (`GET /v1/subscriptions/{id}/events`).
    Feed,
    /// Posted to this HTTPS URL, signed with the subscription's secret.
    Webhook {
        /// The URL.
        url: String,
    },
}

/// How a subscription learns of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The host polls the trigger on a schedule.
    Polling,
    /// The vendor delivers to the host's hook URL.
    Webhook,
}

impl Mode {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Polling => "polling",
            Mode::Webhook => "webhook",
        }
    }

    /// The mode of a stored name.
    pub fn parse(s: &str) -> Self {
        match s {
            "webhook" => Mode::Webhook,
            _ => Mode::Polling,
        }
    }
}

/// Whether a subscription runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubscriptionState {
    /// Polled on its schedule / taking deliveries.
    Active,
    /// Paused by a user.
    Paused,
    /// Paused by the host: its connection needs reauthorization. It
    /// resumes when the connection is ready again.
    NeedsReauthorization,
}

impl SubscriptionState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::Active => "active",
            SubscriptionState::Paused => "paused",
            SubscriptionState::NeedsReauthorization => "needs-reauthorization",
        }
    }

    /// The state of a stored name.
    pub fn parse(s: &str) -> Self {
        match s {
            "paused" => SubscriptionState::Paused,
            "needs-reauthorization" => SubscriptionState::NeedsReauthorization,
            _ => SubscriptionState::Active,
        }
    }
}

/// A subscription to create.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    /// Connection id.
    pub connection_id: String,
    /// Trigger id.
    pub trigger: String,
    /// How events arrive.
    pub mode: Mode,
    /// Seconds between polls.
    pub interval_seconds: u32,
    /// Where events go.
    pub target: Target,
    /// When the first poll is due (Unix ms).
    pub first_poll_at_ms: i64,
    /// Secrets of the subscription by purpose ([`SIGNING_SECRET`],
    /// [`HOOK_SECRET`]), sealed in the transaction that creates it.
    pub secrets: Vec<(String, crate::Secret)>,
}

/// The secret a webhook target's deliveries are signed with.
pub const SIGNING_SECRET: &str = "signing";
/// The secret a vendor's deliveries to the host's hook URL must show.
pub const HOOK_SECRET: &str = "hook";

/// A stored subscription (never with its secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriptionRecord {
    /// `sub_…`.
    pub id: String,
    /// Connection id.
    pub connection_id: String,
    /// Trigger id.
    pub trigger: String,
    /// How events arrive.
    pub mode: Mode,
    /// Seconds between polls.
    pub interval_seconds: u32,
    /// Where events go.
    pub target: Target,
    /// Whether it runs.
    pub state: SubscriptionState,
    /// Why it is in that state, when the host put it there.
    pub state_message: Option<String>,
    /// Where the next poll starts (none before the first poll).
    pub cursor: Option<String>,
    /// Raised by every committed poll; a commit names the version it read,
    /// so two polls of one cursor never both commit.
    pub cursor_version: i64,
    /// When the next poll is due (Unix ms).
    pub next_poll_at_ms: i64,
    /// Polls that failed in a row.
    pub failures: u32,
    /// When it was last polled (Unix ms), successfully or not.
    pub last_poll_at_ms: Option<i64>,
    /// What the last poll's failure was, if it failed.
    pub last_error: Option<String>,
    /// What the host keeps of the subscription's webhook registration with
    /// the vendor (its own JSON; the host shows it in its own words).
    #[serde(skip_serializing)]
    pub registration: Option<String>,
    /// The last event delivered to a webhook target (`seq`); 0 for none.
    pub delivered_seq: i64,
    /// Failed attempts at the next delivery.
    pub delivery_attempts: u32,
    /// When the next delivery attempt is due (Unix ms), if one waits.
    pub next_delivery_at_ms: Option<i64>,
    /// The last event stored (`seq`); 0 for none.
    pub last_seq: i64,
    /// Why the last delivery attempt failed, while the next one waits.
    pub delivery_error: Option<String>,
    /// When the host last tried to deliver (Unix ms).
    pub last_delivery_at_ms: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// How one delivery attempt of a webhook target's next event ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The target took it (2xx).
    Delivered,
    /// It failed; the next attempt is due at `next_at_ms`.
    Retry {
        /// What went wrong.
        error: String,
        /// When to try again (Unix ms).
        next_at_ms: i64,
    },
    /// It failed too often: the event goes to the dead letters and the
    /// next one is delivered.
    Dead {
        /// What went wrong last.
        error: String,
    },
}

/// An event a webhook target never took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// The event.
    #[serde(flatten)]
    pub event: EventRecord,
    /// When the host gave up on it (Unix ms).
    pub dead_at_ms: i64,
    /// The last attempt's error.
    pub reason: String,
}

/// One event a trigger produced, to store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewEvent {
    /// The trigger's stable id for the occurrence.
    pub id: String,
    /// When it happened upstream, RFC 3339.
    pub occurred_at: String,
    /// The payload.
    pub payload: Value,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    /// Its number in the subscription, from 1.
    pub seq: i64,
    /// The trigger's stable id for the occurrence.
    pub id: String,
    /// When it happened upstream, RFC 3339.
    pub occurred_at: String,
    /// The payload.
    pub payload: Value,
    /// When the host stored it (Unix ms).
    pub received_at_ms: i64,
}

/// What a poll leaves, committed in one transaction.
#[derive(Debug, Clone)]
pub struct PollCommit {
    /// The cursor version the poll started from; the commit is refused
    /// ([`StoreError::Conflict`](crate::StoreError::Conflict)) when another
    /// poll committed since.
    pub expected_version: i64,
    /// The cursor after these events.
    pub cursor: String,
    /// The events, oldest first.
    pub events: Vec<NewEvent>,
    /// When the next poll is due (Unix ms).
    pub next_poll_at_ms: i64,
}

/// What a commit stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// Events stored (the rest were already there).
    pub stored: usize,
    /// The subscription's last `seq` after the commit.
    pub last_seq: i64,
}

/// The "next poll" of a subscription that is never polled (its trigger is
/// delivered by webhook only): later than any clock will read.
pub const NEVER_MS: i64 = i64::MAX;

/// A fresh subscription id.
pub fn new_subscription_id() -> String {
    let bytes: [u8; 12] = rand::random();
    format!("sub_{}", hex::encode(bytes))
}

/// The columns of `subscriptions`, in the order [`subscription_row!`]
/// reads them.
pub(crate) const SUBSCRIPTION_COLUMNS: &str = "id, connection_id, trigger_id, mode, \
    interval_seconds, target_kind, target_url, state, state_message, cursor, cursor_version, \
    next_poll_at_ms, failures, last_poll_at_ms, last_error, registration, delivered_seq, \
    delivery_attempts, next_delivery_at_ms, last_seq, delivery_error, last_delivery_at_ms, \
    created_at, updated_at";

impl Target {
    /// The stored kind and URL.
    pub(crate) fn columns(&self) -> (&'static str, Option<&str>) {
        match self {
            Target::Feed => ("feed", None),
            Target::Webhook { url } => ("webhook", Some(url)),
        }
    }

    /// The target of stored columns.
    pub(crate) fn from_columns(kind: &str, url: Option<String>) -> Self {
        match (kind, url) {
            ("webhook", Some(url)) => Target::Webhook { url },
            _ => Target::Feed,
        }
    }
}

/// Reads a [`SubscriptionRecord`] from a row selected with
/// [`SUBSCRIPTION_COLUMNS`]; `?` after the row for a backend whose `get`
/// returns a `Result` (SQLite).
macro_rules! subscription_row {
    ($r:ident $($q:tt)?) => {
        $crate::subscriptions::SubscriptionRecord {
            id: $r.get(0)$($q)?,
            connection_id: $r.get(1)$($q)?,
            trigger: $r.get(2)$($q)?,
            mode: $crate::subscriptions::Mode::parse(&$r.get::<_, String>(3)$($q)?),
            interval_seconds: $r.get::<_, i64>(4)$($q)?.clamp(0, u32::MAX as i64) as u32,
            target: $crate::subscriptions::Target::from_columns(
                &$r.get::<_, String>(5)$($q)?,
                $r.get(6)$($q)?,
            ),
            state: $crate::subscriptions::SubscriptionState::parse(&$r.get::<_, String>(7)$($q)?),
            state_message: $r.get(8)$($q)?,
            cursor: $r.get(9)$($q)?,
            cursor_version: $r.get(10)$($q)?,
            next_poll_at_ms: $r.get(11)$($q)?,
            failures: $r.get::<_, i64>(12)$($q)?.clamp(0, u32::MAX as i64) as u32,
            last_poll_at_ms: $r.get(13)$($q)?,
            last_error: $r.get(14)$($q)?,
            registration: $r.get(15)$($q)?,
            delivered_seq: $r.get(16)$($q)?,
            delivery_attempts: $r.get::<_, i64>(17)$($q)?.clamp(0, u32::MAX as i64) as u32,
            next_delivery_at_ms: $r.get(18)$($q)?,
            last_seq: $r.get(19)$($q)?,
            delivery_error: $r.get(20)$($q)?,
            last_delivery_at_ms: $r.get(21)$($q)?,
            created_at: $r.get(22)$($q)?,
            updated_at: $r.get(23)$($q)?,
        }
    };
}
pub(crate) use subscription_row;

/// Statements both backends run as written (`?N` and `$N` are both
/// numbered parameters; SQLite reads `$N` too).
pub(crate) mod sql {
    /// Inserts one event unless the subscription holds its id.
    pub(crate) const INSERT_EVENT: &str = "INSERT INTO events \
        (subscription_id, seq, event_id, occurred_at, payload, received_at_ms) \
        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subscription_id, event_id) DO NOTHING";
    /// Moves the cursor of a subscription whose cursor version is `$2`,
    /// returning its last `seq`.
    pub(crate) const ADVANCE_CURSOR: &str = "UPDATE subscriptions SET cursor = $3, \
        cursor_version = cursor_version + 1, next_poll_at_ms = $4, last_poll_at_ms = $5, \
        failures = 0, last_error = NULL, updated_at = $6 \
        WHERE id = $1 AND cursor_version = $2 RETURNING last_seq";
    /// Records how far a subscription's events go.
    pub(crate) const SET_LAST_SEQ: &str = "UPDATE subscriptions SET last_seq = $2 WHERE id = $1";
    /// The last `seq` of a subscription, locking it for the transaction
    /// where the backend can.
    pub(crate) const LAST_SEQ: &str = "SELECT last_seq FROM subscriptions WHERE id = $1";
    /// Deletes events older than `$1` that nobody still waits for: a feed's
    /// events once the retention passed, a webhook target's once delivered.
    pub(crate) const PRUNE_EVENTS: &str = "DELETE FROM events WHERE received_at_ms < $1 \
        AND seq <= (SELECT CASE WHEN s.target_kind = 'webhook' THEN s.delivered_seq \
        ELSE s.last_seq END FROM subscriptions s WHERE s.id = events.subscription_id)";
    /// Records a failed poll.
    pub(crate) const POLL_FAILED: &str = "UPDATE subscriptions SET failures = failures + 1, \
        last_error = $2, next_poll_at_ms = $3, last_poll_at_ms = $4, updated_at = $5 \
        WHERE id = $1";
    /// Sets the state of a subscription, and its next poll when `$4` is not null.
    pub(crate) const SET_STATE: &str = "UPDATE subscriptions SET state = $2, \
        state_message = $3, next_poll_at_ms = COALESCE($4, next_poll_at_ms), updated_at = $5 \
        WHERE id = $1";
    /// Active subscriptions whose next poll is due at `$1` (one that is
    /// never polled has its next poll at [`NEVER_MS`](super::NEVER_MS)).
    pub(crate) const DUE: &str = "WHERE state = 'active' \
        AND next_poll_at_ms <= $1 ORDER BY next_poll_at_ms, id LIMIT $2";
    /// Sets what the host knows of a subscription's webhook registration.
    pub(crate) const SET_REGISTRATION: &str =
        "UPDATE subscriptions SET registration = $2, updated_at = $3 WHERE id = $1";
    /// Webhook-target subscriptions not paused by a user with an event to deliver whose
    /// next attempt is due at `$1`.
    pub(crate) const DUE_DELIVERIES: &str = "WHERE target_kind = 'webhook' AND state <> 'paused' \
        AND delivered_seq < last_seq AND COALESCE(next_delivery_at_ms, 0) <= $1 \
        ORDER BY COALESCE(next_delivery_at_ms, 0), id LIMIT $2";
    /// Records that the target took event `$2`.
    pub(crate) const DELIVERED: &str = "UPDATE subscriptions SET delivered_seq = $2, \
        delivery_attempts = 0, next_delivery_at_ms = NULL, delivery_error = NULL, \
        last_delivery_at_ms = $3, updated_at = $4 WHERE id = $1 AND delivered_seq < $2";
    /// Records a failed attempt and when the next is due.
    pub(crate) const DELIVERY_FAILED: &str = "UPDATE subscriptions SET \
        delivery_attempts = delivery_attempts + 1, delivery_error = $2, \
        next_delivery_at_ms = $3, last_delivery_at_ms = $4, updated_at = $5 WHERE id = $1";
    /// Marks event `$2` dead with the reason `$4`.
    pub(crate) const DEAD_LETTER: &str = "UPDATE events SET dead_at_ms = $3, dead_reason = $4 \
        WHERE subscription_id = $1 AND seq = $2";
    /// The dead letters of a subscription, oldest first.
    pub(crate) const DEAD_LETTERS: &str = "SELECT seq, event_id, occurred_at, payload, \
        received_at_ms, dead_at_ms, dead_reason FROM events \
        WHERE subscription_id = $1 AND dead_at_ms IS NOT NULL ORDER BY seq LIMIT $2";
    /// The oldest dead letter's `seq`.
    pub(crate) const OLDEST_DEAD: &str =
        "SELECT MIN(seq) FROM events WHERE subscription_id = $1 AND dead_at_ms IS NOT NULL";
    /// Clears the dead marks from `seq` `$2` on.
    pub(crate) const REVIVE: &str = "UPDATE events SET dead_at_ms = NULL, dead_reason = NULL \
        WHERE subscription_id = $1 AND seq >= $2";
    /// Moves delivery back to just before `$2`, returning the last `seq`
    /// and where delivery now stands.
    pub(crate) const REWIND: &str = "UPDATE subscriptions SET delivered_seq = \
        CASE WHEN delivered_seq >= $2 THEN $2 - 1 ELSE delivered_seq END, \
        delivery_attempts = 0, next_delivery_at_ms = NULL, delivery_error = NULL, \
        updated_at = $3 WHERE id = $1 RETURNING last_seq, delivered_seq";
    /// Stores a sealed secret of a subscription.
    pub(crate) const INSERT_SECRET: &str = "INSERT INTO subscription_secrets \
        (subscription_id, purpose, key_id, sealed) VALUES ($1, $2, $3, $4)";
    /// A sealed secret of a subscription.
    pub(crate) const SECRET: &str = "SELECT key_id, sealed FROM subscription_secrets \
        WHERE subscription_id = $1 AND purpose = $2";
    /// Inserts a subscription.
    pub(crate) const INSERT: &str = "INSERT INTO subscriptions (id, connection_id, trigger_id, \
        mode, interval_seconds, target_kind, target_url, state, cursor_version, next_poll_at_ms, \
        failures, delivered_seq, delivery_attempts, last_seq, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', 0, $8, 0, 0, 0, 0, $9, $9)";
}

/// What a subscription secret is sealed to: its subscription and purpose.
pub(crate) fn secret_context(id: &str, purpose: &str) -> String {
    format!("subscription-secret:{id}:{purpose}")
}

/// An [`EventRecord`] from its stored columns.
pub(crate) fn event_record(
    seq: i64,
    id: String,
    occurred_at: String,
    payload: &str,
    received_at_ms: i64,
) -> Result<EventRecord, crate::StoreError> {
    let payload = serde_json::from_str(payload).map_err(|e| {
        crate::StoreError::Backend(format!("event {seq} of a subscription is not JSON: {e}"))
    })?;
    Ok(EventRecord {
        seq,
        id,
        occurred_at,
        payload,
        received_at_ms,
    })
}
