//! Subscriptions to triggers: the host owns their schedule, cursor and
//! events.
//!
//! A subscription ties a stored connection and one of its connector's
//! triggers to a target. The scheduler ([`Subscriptions::run`]) polls each
//! active polling subscription on its interval, with jitter so many
//! subscriptions made at once do not poll in step. Each poll stores its
//! events and the cursor after them in one transaction
//! ([`Store::commit_poll`]): a crash before the commit repeats the poll from
//! the old cursor, and the events it finds again carry the ids they had, so
//! the store drops the copies. A poll that fails backs off exponentially; a
//! subscription whose connection needs reauthorization is paused with that
//! reason and resumes by itself once the connection is ready again.
//!
//! Many nodes may share one store: a node polls a subscription only while
//! it holds the subscription's work lease, and a commit names the cursor
//! version it read, so even two polls of one cursor never both commit.

mod delivery;
mod hooks;

pub use delivery::{
    DELIVERY_TIMEOUT, Delivered, MAX_DELIVERY_ATTEMPTS, SIGNATURE_HEADER, SIGNATURE_TOLERANCE,
    sign, verify_signature,
};
pub use hooks::{
    HookError, HookRegistration, HookStatus, HookView, REGISTRATION_CHECK, verify_delivery,
};

use crate::connections::{ConnectionError, Connections};
use crate::store::{
    ConnectionState, DeadLetter, EventRecord, HOOK_SECRET, Mode, NEVER_MS, NewEvent,
    NewSubscription, PollCommit, SIGNING_SECRET, Store, StoreError, SubscriptionRecord,
    SubscriptionState, Target,
};
use cardhost_runtime::credentials::Secret;
use cardhost_runtime::manifest::TriggerSpec;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

/// How long events are kept (and an event id is remembered, so a repeat of
/// it is dropped): 7 days. A webhook target's events stay until delivered.
pub const EVENT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest a failing subscription waits between polls.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Pages one poll reads at most before it waits for the next tick, so one
/// busy subscription cannot hold a poller forever.
pub const MAX_PAGES_PER_POLL: usize = 20;
/// Most events one feed request answers.
pub const MAX_FEED_PAGE: u32 = 1000;
/// How often the scheduler looks for due subscriptions.
const TICK: Duration = Duration::from_millis(500);
/// How long a work lease (a poll, a delivery turn) lasts unless renewed;
/// the node doing the work renews it every third of that, so a node that
/// died gives its work up within this long.
pub(crate) const LEASE_MS: i64 = 30 * 1000;
/// Polls running at once on one node.
const CONCURRENT_POLLS: usize = 16;
/// Webhook targets delivered to at once on one node.
const CONCURRENT_DELIVERIES: usize = 16;

/// A subscription to create, as the API and CLI take it.
#[derive(Debug, Clone)]
pub struct CreateSubscription {
    /// Connection id or name.
    pub connection: String,
    /// Trigger id.
    pub trigger: String,
    /// Seconds between polls; the trigger's default when not given.
    pub interval_seconds: Option<u32>,
    /// Where events go.
    pub target: Target,
}

/// A subscription as users see it.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionView {
    /// The stored subscription.
    #[serde(flatten)]
    pub record: SubscriptionRecord,
    /// The connector the trigger belongs to.
    pub connector: String,
    /// A webhook target's signing secret: in the answer that creates the
    /// subscription only, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    /// Events a webhook target never took (see `dead-letters`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letters: Option<usize>,
    /// Where the vendor delivers, for a subscription the vendor's webhooks
    /// feed: the hook URL, how deliveries are verified, the registration
    /// (and, in the answer that creates it only, the token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<HookView>,
}

/// A page of a subscription's feed.
#[derive(Debug, Clone, Serialize)]
pub struct FeedPage {
    /// Events after the cursor asked for, oldest first.
    pub events: Vec<FeedEvent>,
    /// The cursor to ask with next (the same when nothing was new).
    pub next: String,
}

/// One event of a feed.
#[derive(Debug, Clone, Serialize)]
pub struct FeedEvent {
    /// The trigger's stable id for the occurrence.
    pub id: String,
    /// When it happened upstream, RFC 3339.
    pub occurred_at: String,
    /// The payload, valid against the trigger's event schema.
    pub payload: Value,
    /// Its position in the subscription's feed.
    pub seq: i64,
}

impl From<EventRecord> for FeedEvent {
    fn from(e: EventRecord) -> Self {
        Self {
            id: e.id,
            occurred_at: e.occurred_at,
            payload: e.payload,
            seq: e.seq,
        }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// Committed; `stored` new events.
    Committed {
        /// Events stored.
        stored: usize,
    },
    /// Another node (or an earlier poll) committed this cursor first.
    Superseded,
    /// The poll failed and will be retried after a backoff.
    Failed,
    /// The connection cannot be used; the subscription waits for it.
    Paused,
}

/// The subscriptions of one host.
pub struct Subscriptions {
    conns: Arc<Connections>,
    store: Arc<dyn Store>,
    /// This node's name in work leases.
    node: String,
    /// The URL vendors reach this host at, for hook URLs; none when the
    /// host takes no vendor webhooks.
    public_url: Option<String>,
    /// Whether a round of webhook registration checks is running.
    checking_registrations: std::sync::atomic::AtomicBool,
    /// Work (`poll:{id}`, `deliver:{id}`, …) running on this node now.
    running: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

/// A piece of work marked as running on this node until dropped.
struct Running {
    set: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    work: String,
}

impl Running {
    /// Marks `work` running; none when it already is.
    fn claim(
        set: &Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
        work: &str,
    ) -> Option<Self> {
        let mut running = set.lock().unwrap_or_else(|p| p.into_inner());
        running.insert(work.to_string()).then(|| Self {
            set: set.clone(),
            work: work.to_string(),
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.work);
    }
}

impl Subscriptions {
    /// Subscriptions over `conns`' store.
    pub fn new(conns: Arc<Connections>) -> Self {
        let store = conns.store().clone();
        let bytes: [u8; 8] = rand::random();
        Self {
            conns,
            store,
            node: format!("node-{}", hex::encode(bytes)),
            public_url: None,
            checking_registrations: std::sync::atomic::AtomicBool::new(false),
            running: Arc::default(),
        }
    }

    /// Names this node `node` in work leases (see [`claim_node_name`]).
    pub fn with_node(mut self, node: impl Into<String>) -> Self {
        self.node = node.into();
        self
    }

    /// Holds work lease `work` while `job` runs, renewing it every third
    /// of [`LEASE_MS`], and releases it after; `None` when another node
    /// holds it. `job` is told, through the flag, when a renewal failed
    /// (the lease went to another node), so it can stop between steps.
    async fn leased<T>(
        self: &Arc<Self>,
        work: String,
        job: impl AsyncFnOnce(Arc<std::sync::atomic::AtomicBool>) -> T,
    ) -> Result<Option<T>, StoreError> {
        use std::sync::atomic::{AtomicBool, Ordering};
        // The store's lease keeps other nodes out; this node's own work in
        // flight is kept out here (its name would take the lease again).
        let Some(_running) = Running::claim(&self.running, &work) else {
            return Ok(None);
        };
        if !self
            .store
            .take_work_lease(&work, &self.node, LEASE_MS)
            .await?
        {
            return Ok(None);
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renew = {
            let (this, work, lost) = (self.clone(), work.clone(), lost.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(LEASE_MS as u64 / 3)).await;
                    match this
                        .store
                        .take_work_lease(&work, &this.node, LEASE_MS)
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(%work, "the work lease went to another node");
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        Err(e) => tracing::warn!(%work, "cannot renew the work lease: {e}"),
                    }
                }
            })
        };
        let out = job(lost).await;
        renew.abort();
        if let Err(e) = self.store.release_work_lease(&work, &self.node).await {
            tracing::warn!(%work, "cannot release the work lease: {e}");
        }
        Ok(Some(out))
    }

    /// Takes vendor webhooks at `{public_url}/v1/hooks/{subscription}`.
    pub fn with_public_url(mut self, public_url: impl Into<String>) -> Self {
        self.public_url = Some(public_url.into().trim_end_matches('/').to_string());
        self
    }

    /// The triggers of a connection's connector.
    pub async fn triggers(&self, connection: &str) -> Result<Vec<Value>, ConnectionError> {
        let record = self.conns.show(connection).await?.record;
        let loaded = self
            .conns
            .host()
            .registry()
            .get(&record.connector)
            .cloned()
            .ok_or_else(|| ConnectionError::UnknownConnector(record.connector.clone()))?;
        Ok(loaded
            .manifest
            .triggers
            .iter()
            .map(|t| trigger_entry(t))
            .collect())
    }

    /// Creates a subscription; its first poll runs at once and sets the
    /// cursor at the present, so it reports what happens from now on.
    pub async fn create(
        &self,
        req: CreateSubscription,
    ) -> Result<SubscriptionView, ConnectionError> {
        let record = self.conns.show(&req.connection).await?.record;
        let (_, spec) = self
            .conns
            .host()
            .trigger_spec(&record.connector, &req.trigger)
            .map_err(|kind| ConnectionError::Invalid(kind.to_string()))?;
        // The vendor's webhooks when the trigger has them and the host can
        // be reached; polling otherwise (and beside them, as a safety net,
        // when the trigger can be polled too).
        let webhook = spec
            .trigger
            .webhook
            .clone()
            .filter(|_| self.public_url.is_some());
        let polling = spec.trigger.polling;
        if webhook.is_none() && polling.is_none() {
            return Err(ConnectionError::Invalid(format!(
                "trigger `{}` is delivered by the vendor's webhooks, and this host has no public \
                 URL the vendor could reach: set `server.public_url` (or `--public-url`) to it",
                req.trigger
            )));
        }
        let interval = match polling {
            Some(polling) => {
                let interval = req
                    .interval_seconds
                    .unwrap_or(polling.default_interval_seconds);
                let max = cardhost_runtime::manifest::triggers::MAX_POLL_INTERVAL_SECONDS;
                if interval < polling.min_interval_seconds || interval > max {
                    return Err(ConnectionError::Invalid(format!(
                        "interval_seconds must be between {} and {max} for trigger `{}`, not {interval}",
                        polling.min_interval_seconds, req.trigger
                    )));
                }
                interval
            }
            None if req.interval_seconds.is_some() => {
                return Err(ConnectionError::Invalid(format!(
                    "trigger `{}` is delivered by webhook only; it takes no interval_seconds",
                    req.trigger
                )));
            }
            None => 0,
        };
        let mut secrets = Vec::new();
        let mut signing_secret = None;
        if let Target::Webhook { url } = &req.target {
            self.check_target(url)?;
            let bytes: [u8; 32] = rand::random();
            let secret = format!("whsec_{}", hex::encode(bytes));
            secrets.push((SIGNING_SECRET.to_string(), Secret::new(secret.clone())));
            signing_secret = Some(secret);
        }
        let hook_token = webhook.as_ref().map(|_| hooks::new_token());
        if let Some(token) = &hook_token {
            secrets.push((HOOK_SECRET.to_string(), Secret::new(token.clone())));
        }
        let mut created = self
            .store
            .create_subscription(NewSubscription {
                connection_id: record.id.clone(),
                trigger: req.trigger,
                mode: if webhook.is_some() {
                    Mode::Webhook
                } else {
                    Mode::Polling
                },
                interval_seconds: interval,
                target: req.target,
                first_poll_at_ms: if polling.is_some() {
                    crate::store::now_ms()
                } else {
                    NEVER_MS
                },
                secrets,
            })
            .await?;
        let mut hook = None;
        if let (Some(w), Some(token)) = (&webhook, hook_token) {
            match self.register(&created, w.registers, &token).await {
                Ok(_) => {}
                Err(e) => {
                    // The subscription stands (it may be polled, and the user
                    // can paste the hook); the view says what failed.
                    tracing::warn!(subscription = %created.id, "webhook registration: {e}");
                    let failing = HookRegistration {
                        status: HookStatus::Failing,
                        registration: None,
                        message: Some(e.to_string()),
                        checked_at_ms: Some(crate::store::now_ms()),
                    };
                    let text = serde_json::to_string(&failing).expect("serializes");
                    self.store
                        .set_registration(&created.id, Some(&text))
                        .await?;
                }
            }
            created = self.store.subscription(&created.id).await?;
            hook = self.hook_view(&created, Some(&w.verification), Some(token));
        }
        Ok(SubscriptionView {
            record: created,
            connector: record.connector,
            signing_secret,
            dead_letters: None,
            hook,
        })
    }

    /// Refuses a webhook target URL the host would not post to: the same
    /// rules as every request the host makes (https unless plain http is
    /// allowed, no user info, no internal address unless allowed).
    fn check_target(&self, url: &str) -> Result<(), ConnectionError> {
        let invalid = |why: String| ConnectionError::Invalid(format!("target.url: {why}"));
        let parsed =
            url::Url::parse(url).map_err(|e| invalid(format!("`{url}` is not a URL: {e}")))?;
        let transport = self.conns.host().broker().transport();
        cardhost_runtime::net::transport::check_host_url(
            &parsed,
            self.conns.host().config().network.allow_http,
        )
        .map_err(invalid)?;
        let (routed, _) = transport.route(&parsed);
        transport.check_literal(&routed).map_err(invalid)?;
        Ok(())
    }

    /// Every subscription, or one connection's.
    pub async fn list(
        &self,
        connection: Option<&str>,
    ) -> Result<Vec<SubscriptionView>, ConnectionError> {
        let connection_id = match connection {
            Some(c) => Some(self.conns.show(c).await?.record.id),
            None => None,
        };
        let records = self.store.subscriptions(connection_id.as_deref()).await?;
        let connections = self.store.list_connections().await?;
        Ok(records
            .into_iter()
            .map(|record| {
                let connector = connections
                    .iter()
                    .find(|c| c.id == record.connection_id)
                    .map(|c| c.connector.clone())
                    .unwrap_or_default();
                let verification = self.verification_of(&connector, &record);
                let hook = self.hook_view(&record, verification.as_ref(), None);
                SubscriptionView {
                    record,
                    connector,
                    signing_secret: None,
                    dead_letters: None,
                    hook,
                }
            })
            .collect())
    }

    /// One subscription.
    pub async fn show(&self, id: &str) -> Result<SubscriptionView, ConnectionError> {
        let record = self.store.subscription(id).await?;
        let connector = self
            .store
            .connection(&record.connection_id)
            .await?
            .connector;
        let dead_letters = match record.target {
            Target::Webhook { .. } => Some(self.store.dead_letters(id, MAX_FEED_PAGE).await?.len()),
            Target::Feed => None,
        };
        let verification = self.verification_of(&connector, &record);
        let hook = self.hook_view(&record, verification.as_ref(), None);
        Ok(SubscriptionView {
            record,
            connector,
            signing_secret: None,
            dead_letters,
            hook,
        })
    }

    /// How the trigger of `sub` verifies vendor deliveries, if it takes
    /// them.
    fn verification_of(
        &self,
        connector: &str,
        sub: &SubscriptionRecord,
    ) -> Option<cardhost_runtime::wit_triggers::DeliveryVerification> {
        let (_, spec) = self
            .conns
            .host()
            .trigger_spec(connector, &sub.trigger)
            .ok()?;
        spec.trigger
            .webhook
            .as_ref()
            .map(|w| w.verification.clone())
    }

    /// A webhook target's dead letters, oldest first.
    pub async fn dead_letters(&self, id: &str) -> Result<Vec<DeadLetter>, ConnectionError> {
        Ok(self.store.dead_letters(id, MAX_FEED_PAGE).await?)
    }

    /// Delivers a webhook target's events again from `from_seq`, or from
    /// its oldest dead letter; returns how many now wait.
    pub async fn redeliver(&self, id: &str, from_seq: Option<i64>) -> Result<i64, ConnectionError> {
        let sub = self.store.subscription(id).await?;
        if !matches!(sub.target, Target::Webhook { .. }) {
            return Err(ConnectionError::Invalid(format!(
                "subscription `{id}` has a feed target: read its events again with \
                 GET /v1/subscriptions/{id}/events?after=…; redelivery is for webhook targets"
            )));
        }
        if let Some(from) = from_seq
            && (from < 1 || from > sub.last_seq)
        {
            return Err(ConnectionError::Invalid(format!(
                "from_seq must be between 1 and {} (the last event), not {from}",
                sub.last_seq
            )));
        }
        Ok(self.store.redeliver(id, from_seq).await?)
    }

    /// Deletes a subscription and its events, and removes its webhook
    /// registration with the vendor, if the connector made one.
    pub async fn delete(&self, id: &str) -> Result<(), ConnectionError> {
        let sub = self.store.subscription(id).await?;
        self.unregister(&sub).await;
        if self.store.delete_subscription(id).await? {
            Ok(())
        } else {
            Err(StoreError::NoSubscription(id.to_string()).into())
        }
    }

    /// Pauses a subscription: it is not polled until resumed.
    pub async fn pause(&self, id: &str) -> Result<SubscriptionView, ConnectionError> {
        self.store
            .set_subscription_state(id, SubscriptionState::Paused, None, None)
            .await?;
        self.show(id).await
    }

    /// Resumes a subscription: it polls at once (if its trigger can be
    /// polled), and a webhook the trigger registers is registered afresh.
    pub async fn resume(&self, id: &str) -> Result<SubscriptionView, ConnectionError> {
        let sub = self.store.subscription(id).await?;
        self.store
            .set_subscription_state(
                id,
                SubscriptionState::Active,
                None,
                Some(self.first_poll(&sub).await),
            )
            .await?;
        self.reregister(&sub).await?;
        self.show(id).await
    }

    /// The declaration of `sub`'s trigger, as its connection's connector
    /// makes it now; none when the connection or trigger is gone.
    async fn spec_of(&self, sub: &SubscriptionRecord) -> Option<Arc<TriggerSpec>> {
        let connection = self.store.connection(&sub.connection_id).await.ok()?;
        let (_, spec) = self
            .conns
            .host()
            .trigger_spec(&connection.connector, &sub.trigger)
            .ok()?;
        Some(spec)
    }

    /// When a subscription resumed now next polls: at once, or never for a
    /// trigger delivered by webhook only.
    async fn first_poll(&self, sub: &SubscriptionRecord) -> i64 {
        let polls = self.spec_of(sub).await.is_none_or(|spec| spec.polls());
        if polls {
            crate::store::now_ms()
        } else {
            NEVER_MS
        }
    }

    /// Events of a subscription's feed after `after` (a `next` an earlier
    /// page gave; none for the oldest kept).
    pub async fn events(
        &self,
        id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<FeedPage, ConnectionError> {
        let after_seq = match after {
            None | Some("") => 0,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    ConnectionError::Invalid(format!(
                        "`after` must be a cursor a page of this feed gave (`next`), not `{text}`"
                    ))
                })?,
        };
        if !(1..=MAX_FEED_PAGE).contains(&limit) {
            return Err(ConnectionError::Invalid(format!(
                "`limit` must be between 1 and {MAX_FEED_PAGE}, not {limit}"
            )));
        }
        let events = self.store.events(id, after_seq, limit).await?;
        let next = events.last().map_or(after_seq, |e| e.seq).to_string();
        Ok(FeedPage {
            events: events.into_iter().map(FeedEvent::from).collect(),
            next,
        })
    }

    /// Polls one subscription now: reads pages while the trigger says there
    /// is more (up to [`MAX_PAGES_PER_POLL`]), committing each with its
    /// cursor.
    pub async fn poll(&self, sub: &SubscriptionRecord) -> Result<Polled, ConnectionError> {
        let connection = match self.conns.open(&sub.connection_id).await {
            Ok(c) => c,
            Err(ConnectionError::NotReady { state, message, .. }) => {
                let why = format!("the connection is {state}: {message}");
                self.store
                    .set_subscription_state(
                        &sub.id,
                        SubscriptionState::NeedsReauthorization,
                        Some(&why),
                        None,
                    )
                    .await?;
                tracing::warn!(subscription = %sub.id, "{why}; polling waits for it");
                return Ok(Polled::Paused);
            }
            Err(e) => {
                self.failed(sub, &e.to_string()).await?;
                return Ok(Polled::Failed);
            }
        };
        let mut cursor = sub.cursor.clone();
        let mut stored = 0;
        for version in (sub.cursor_version..).take(MAX_PAGES_PER_POLL) {
            let started_at_ms = crate::store::now_ms();
            let result = self
                .conns
                .host()
                .poll(&connection, &sub.trigger, cursor.as_deref())
                .await;
            self.conns
                .record_trigger_call(&connection, &sub.trigger, started_at_ms, &result)
                .await;
            let page = match result {
                Ok(page) => page,
                Err(e) => {
                    self.failed(sub, &e.to_string()).await?;
                    return Ok(Polled::Failed);
                }
            };
            let commit = PollCommit {
                expected_version: version,
                cursor: page.cursor.clone(),
                events: page
                    .events
                    .into_iter()
                    .map(|e| NewEvent {
                        id: e.id,
                        occurred_at: e.occurred_at,
                        payload: e.payload,
                    })
                    .collect(),
                next_poll_at_ms: next_poll_at(sub.interval_seconds),
            };
            match self.store.commit_poll(&sub.id, &commit).await {
                Ok(done) => stored += done.stored,
                Err(StoreError::Conflict(_)) => return Ok(Polled::Superseded),
                Err(e) => return Err(e.into()),
            }
            cursor = Some(page.cursor);
            if !page.more {
                break;
            }
        }
        Ok(Polled::Committed { stored })
    }

    async fn failed(&self, sub: &SubscriptionRecord, error: &str) -> Result<(), ConnectionError> {
        let backoff = backoff(sub.interval_seconds, sub.failures + 1);
        tracing::warn!(
            subscription = %sub.id,
            failures = sub.failures + 1,
            retry_in_s = backoff.as_secs(),
            "poll failed: {error}"
        );
        self.store
            .record_poll_failure(
                &sub.id,
                error,
                crate::store::now_ms() + backoff.as_millis() as i64,
            )
            .await?;
        Ok(())
    }

    /// Resumes the subscriptions paused for a connection that is ready
    /// again.
    async fn wake_reauthorized(&self) -> Result<(), StoreError> {
        let waiting: Vec<_> = self
            .store
            .subscriptions(None)
            .await?
            .into_iter()
            .filter(|s| s.state == SubscriptionState::NeedsReauthorization)
            .collect();
        for sub in waiting {
            let ready = matches!(
                self.store.connection(&sub.connection_id).await,
                Ok(c) if c.state == ConnectionState::Ready
            );
            if ready {
                let next = self.first_poll(&sub).await;
                self.store
                    .set_subscription_state(&sub.id, SubscriptionState::Active, None, Some(next))
                    .await?;
                tracing::info!(subscription = %sub.id, "the connection is ready again; polling resumes");
            }
        }
        Ok(())
    }

    /// Polls due subscriptions until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(CONCURRENT_POLLS));
        let senders = Arc::new(Semaphore::new(CONCURRENT_DELIVERIES));
        // A poll or delivery that finishes frees its slot: the scheduler
        // looks for due work at once rather than at the next tick, so a
        // node's throughput is its slots' and not one batch per tick.
        let freed = Arc::new(tokio::sync::Notify::new());
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks = 0u64;
        let mut timed = true;
        loop {
            if *stop.borrow() {
                return;
            }
            if timed && let Err(e) = self.housekeeping(ticks).await {
                tracing::warn!("the trigger scheduler could not read the store: {e}");
            }
            if let Err(e) = self.start_polls(&slots, &freed).await {
                tracing::warn!("the trigger scheduler could not read the store: {e}");
            }
            if let Err(e) = self.deliver_due(&senders, &freed).await {
                tracing::warn!("webhook delivery could not read the store: {e}");
            }
            tokio::select! {
                _ = ticker.tick() => {
                    ticks += 1;
                    timed = true;
                }
                () = freed.notified() => timed = false,
                _ = stop.changed() => {}
            }
        }
    }

    /// What the scheduler does on its ticks besides polling: every 30 s,
    /// subscriptions paused for reauthorization; every minute, webhook
    /// registrations due a check (in a task of their own, as they call the
    /// vendor); every hour, events past their retention.
    async fn housekeeping(self: &Arc<Self>, tick: u64) -> Result<(), StoreError> {
        if tick.is_multiple_of(60) {
            self.wake_reauthorized().await?;
        }
        if tick.is_multiple_of(120)
            && !self
                .checking_registrations
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(e) = this.check_registrations().await {
                    tracing::warn!("webhook registration checks could not read the store: {e}");
                }
                this.checking_registrations
                    .store(false, std::sync::atomic::Ordering::SeqCst);
            });
        }
        if tick.is_multiple_of(7200) {
            let before = crate::store::now_ms() - EVENT_RETENTION.as_millis() as i64;
            let pruned = self.store.prune_events(before).await?;
            if pruned > 0 {
                tracing::info!(pruned, "pruned events past their retention");
            }
        }
        Ok(())
    }

    /// Starts a poll of each due subscription, as far as free slots allow.
    async fn start_polls(
        self: &Arc<Self>,
        slots: &Arc<Semaphore>,
        freed: &Arc<tokio::sync::Notify>,
    ) -> Result<(), StoreError> {
        let free = slots.available_permits();
        if free == 0 {
            return Ok(());
        }
        let due = self
            .store
            .due_subscriptions(crate::store::now_ms(), free as u32)
            .await?;
        for sub in due {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return Ok(());
            };
            let (this, freed) = (self.clone(), freed.clone());
            tokio::spawn(async move {
                let work = format!("poll:{}", sub.id);
                let result = this
                    .leased(work, async |_| {
                        // Read again under the lease: another node may have
                        // polled it between the listing and the lease.
                        match this.store.subscription(&sub.id).await {
                            Ok(fresh)
                                if fresh.state == SubscriptionState::Active
                                    && fresh.next_poll_at_ms <= crate::store::now_ms() =>
                            {
                                this.poll(&fresh).await.map(Some)
                            }
                            Ok(_) => Ok(None),
                            Err(e) => Err(e.into()),
                        }
                    })
                    .await;
                match &result {
                    Ok(Some(Err(e))) => tracing::warn!(subscription = %sub.id, "poll: {e}"),
                    Err(e) => tracing::warn!(subscription = %sub.id, "poll lease: {e}"),
                    _ => {}
                }
                drop(permit);
                // Only work done frees a slot worth looking again for: a
                // lease another node holds would find the same work due.
                if matches!(result, Ok(Some(_))) {
                    freed.notify_one();
                }
            });
        }
        Ok(())
    }
}

impl Subscriptions {
    /// Starts a delivery turn for each webhook target with events due, as
    /// far as free senders and work leases allow.
    async fn deliver_due(
        self: &Arc<Self>,
        senders: &Arc<Semaphore>,
        freed: &Arc<tokio::sync::Notify>,
    ) -> Result<(), StoreError> {
        let free = senders.available_permits();
        if free == 0 {
            return Ok(());
        }
        let due = self
            .store
            .due_deliveries(crate::store::now_ms(), free as u32)
            .await?;
        for sub in due {
            let Ok(permit) = senders.clone().acquire_owned().await else {
                return Ok(());
            };
            let (this, freed) = (self.clone(), freed.clone());
            tokio::spawn(async move {
                let work = format!("deliver:{}", sub.id);
                let result = this
                    .leased(work, async |lost| {
                        // Read again under the lease: another node may have
                        // delivered between the listing and the lease.
                        match this.store.subscription(&sub.id).await {
                            Ok(fresh) if fresh.delivered_seq < fresh.last_seq => {
                                this.deliver_while(&fresh, &lost).await.map(Some)
                            }
                            Ok(_) => Ok(None),
                            Err(e) => Err(e.into()),
                        }
                    })
                    .await;
                let worked = matches!(result, Ok(Some(_)));
                match result {
                    Ok(Some(Ok(Some(done)))) if done.delivered > 0 => {
                        tracing::debug!(subscription = %sub.id, delivered = done.delivered, "delivered");
                    }
                    Ok(Some(Err(e))) => tracing::warn!(subscription = %sub.id, "delivery: {e}"),
                    Err(e) => tracing::warn!(subscription = %sub.id, "delivery lease: {e}"),
                    _ => {}
                }
                drop(permit);
                if worked {
                    freed.notify_one();
                }
            });
        }
        Ok(())
    }
}

/// A trigger as the catalog shows it.
pub fn trigger_entry(t: &TriggerSpec) -> Value {
    let kind = match (t.polls(), t.takes_webhooks()) {
        (true, true) => "polling+webhook",
        (true, false) => "polling",
        _ => "webhook",
    };
    json!({
        "id": t.trigger.id,
        "title": t.trigger.title,
        "description": t.trigger.description,
        "kind": kind,
        "permissions": t.trigger.permissions,
        "event_schema": t.event_schema,
        "default_interval_seconds": t.trigger.polling.as_ref().map(|p| p.default_interval_seconds),
        "min_interval_seconds": t.trigger.polling.as_ref().map(|p| p.min_interval_seconds),
    })
}

/// When the next poll after one now is due: the interval, give or take a
/// tenth of it, so subscriptions made together spread out.
fn next_poll_at(interval_seconds: u32) -> i64 {
    let interval = i64::from(interval_seconds.max(1)) * 1000;
    let spread = interval / 10;
    let jitter = if spread > 0 {
        rand::random_range(-spread..=spread)
    } else {
        0
    };
    crate::store::now_ms() + interval + jitter
}

/// How long to wait after `failures` failed polls in a row: the interval,
/// doubled per failure, at most [`MAX_BACKOFF`].
fn backoff(interval_seconds: u32, failures: u32) -> Duration {
    let base = Duration::from_secs(u64::from(interval_seconds.max(1)));
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(MAX_BACKOFF)
}

/// This node's name in work leases, kept in `node-id` in `data_dir` and
/// locked while the returned file is open: a node restarted on its data
/// directory after a crash has its old name, so it takes back at once the
/// work it held. A second live process on the same directory cannot lock
/// the file and gets a fresh name (two live nodes never share one).
pub fn claim_node_name(
    data_dir: &std::path::Path,
) -> std::io::Result<(String, Option<std::fs::File>)> {
    use std::io::{Read as _, Seek as _, Write as _};
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join("node-id");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let bytes: [u8; 8] = rand::random();
            return Ok((format!("node-{}", hex::encode(bytes)), None));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    }
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let name = text.trim();
    let valid = name.starts_with("node-")
        && name.len() <= 64
        && name[5..].chars().all(|c| c.is_ascii_alphanumeric());
    if valid {
        return Ok((name.to_string(), Some(file)));
    }
    let bytes: [u8; 8] = rand::random();
    let name = format!("node-{}", hex::encode(bytes));
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{name}")?;
    file.sync_all()?;
    Ok((name, Some(file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_directory_keeps_its_node_name_for_one_process_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let (first, lock) = claim_node_name(dir.path()).unwrap();
        assert!(first.starts_with("node-") && lock.is_some(), "{first}");
        // A second live process on the directory gets a name of its own.
        let (other, none) = claim_node_name(dir.path()).unwrap();
        assert!(none.is_none());
        assert_ne!(other, first);
        // Restarted (the lock released), the directory's name comes back.
        drop(lock);
        let (again, _lock) = claim_node_name(dir.path()).unwrap();
        assert_eq!(again, first);
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(60, 1), Duration::from_secs(60));
        assert_eq!(backoff(60, 2), Duration::from_secs(120));
        assert_eq!(backoff(60, 4), Duration::from_secs(480));
        assert_eq!(backoff(60, 30), MAX_BACKOFF);
        assert_eq!(backoff(0, 1), Duration::from_secs(1));
    }

    #[test]
    fn the_next_poll_is_the_interval_give_or_take_a_tenth() {
        for _ in 0..100 {
            let at = next_poll_at(60) - crate::store::now_ms();
            assert!((53_900..=66_100).contains(&at), "{at}");
        }
    }
}
