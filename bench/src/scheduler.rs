//! The scheduler case: many subscriptions to Fourth SCIM's `user-changed`
//! on one node, polled by the host's scheduler (`Subscriptions::run`)
//! against the SCIM emulator, and the same schedule kept natively: one tokio
//! task per subscription, the same request, the JSON parsed, the cursor and
//! the events committed to SQLite in one transaction.
//!
//! Both sides are watched the same way: their subscription rows are read
//! every few seconds, and a poll is a rise of a row's cursor version; its lag
//! is when it committed (`last_poll_at_ms`) less when it was due (the
//! `next_poll_at_ms` the row had before). CPU per poll is this process's CPU
//! time over the window divided by the polls committed in it.

use crate::Plan;
use crate::stats::{Latency, process_cpu};
use crate::upstream::Addresses;
use anyhow::{Context as _, bail, ensure};
use cardhost::connections::{Connections, CreateConnection};
use cardhost::store::{
    HistoryFilter, Mode, NewSubscription, Store, SubscriptionState, Target, now_ms,
};
use cardhost::subscriptions::{CreateSubscription, Subscriptions};
use cardhost::{Cardhost, Secret};
use cardhost_e2e::guests;
use cardhost_emulators::scim::DEMO_CLIENTS;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};

/// The connector and trigger polled.
pub const CONNECTOR: &str = "fourth-scim";
pub const TRIGGER: &str = "user-changed";
/// Users changed in the emulator before the subscriptions are made: every
/// poll reads them (the trigger's watermark stays at or before their
/// change), and each subscription stores them once.
pub const TOUCHED: usize = 5;
/// Polls one node runs at once (the host's `CONCURRENT_POLLS`); the native
/// side takes as many slots.
pub const SLOTS: usize = 16;
/// The OAuth client the connection uses (Fourth's read scope).
const PARTNER: &str = "harbourvine-partner";
/// How far the trigger's watermark stays behind a walk's start (the
/// connector's `CLOCK_MARGIN_SECONDS`).
const CLOCK_MARGIN_SECONDS: i64 = 120;
/// The connector's page size and most events per poll.
const PAGE_SIZE: u32 = 100;
const EVENTS_PER_POLL: usize = 500;
/// What the connector accepts.
const ACCEPT: &str = "application/scim+json, application/json;q=0.9";

/// One side's figures over the measurement window.
#[derive(Debug, Clone)]
pub struct SchedulerSide {
    /// From the scheduler's start until every subscription had polled once
    /// (the first polls, all due at once, set the cursor without a request).
    pub first_round: Duration,
    pub window: Duration,
    /// Polls committed in the window.
    pub polls: u64,
    /// User + system CPU time of this process in the window.
    pub cpu: Duration,
    /// Commit less due time of the polls committed in the window.
    pub lag: Latency,
    /// Median lag of the polls committed in each interval of the window.
    pub lag_by_interval: Vec<Duration>,
    /// Wall time of one poll in the window: the trigger's invocation as the
    /// history records it (whole ms), or the native request and parse.
    pub poll_time: Latency,
    /// Polls in the window whose due time was not seen (two polls of one
    /// subscription between readings; none expected).
    pub unattributed: u64,
}

impl SchedulerSide {
    /// Polls committed per second.
    pub fn per_second(&self) -> f64 {
        self.polls as f64 / self.window.as_secs_f64()
    }

    /// CPU time per committed poll, in µs.
    pub fn cpu_per_poll_us(&self) -> Option<f64> {
        (self.polls > 0).then(|| self.cpu.as_secs_f64() * 1e6 / self.polls as f64)
    }
}

#[derive(Debug)]
pub struct Scheduler {
    pub subscriptions: usize,
    pub interval_seconds: u32,
    /// The trigger's own minimum interval.
    pub min_interval_seconds: u32,
    /// Made through `Subscriptions::create` (false: straight in the store,
    /// for an interval below the trigger's minimum in a quick run).
    pub through_api: bool,
    pub warmup: Duration,
    pub cardhost: SchedulerSide,
    pub native: SchedulerSide,
}

impl Scheduler {
    /// Polls a second the schedule asks for.
    pub fn scheduled_per_second(&self) -> f64 {
        self.subscriptions as f64 / f64::from(self.interval_seconds)
    }
}

/// Both sides, cardhost first.
pub async fn scheduler(plan: &Plan, addresses: &Addresses) -> anyhow::Result<Scheduler> {
    let control = Control::new(addresses)?;
    let (cardhost, interval, min, through_api) = cardhost_side(plan, addresses, &control).await?;
    let cardhost_query = control.users_requests().await?.last_query;
    let native = native_side(plan, addresses, &control, interval).await?;
    let native_query = control.users_requests().await?.last_query;
    // The native side sent the request the connector sends, but for the
    // watermark in its filter.
    let (a, b) = (
        cardhost_query.as_deref().map(mask_instants),
        native_query.as_deref().map(mask_instants),
    );
    ensure!(
        a.is_some() && a == b,
        "the sides sent different requests: cardhost `{}`, native `{}`",
        cardhost_query.unwrap_or_default(),
        native_query.unwrap_or_default()
    );
    Ok(Scheduler {
        subscriptions: plan.scheduler_subscriptions,
        interval_seconds: interval,
        min_interval_seconds: min,
        through_api,
        warmup: interval_span(interval, plan.scheduler_warmup_intervals),
        cardhost,
        native,
    })
}

fn interval_span(interval_seconds: u32, intervals: f64) -> Duration {
    Duration::from_secs_f64(f64::from(interval_seconds) * intervals)
}

/// A query with every quoted value (`%22…%22`) replaced by `…`.
fn mask_instants(query: &str) -> String {
    let mut out = String::new();
    let mut rest = query;
    while let Some(open) = rest.find("%22") {
        out.push_str(&rest[..open + 3]);
        let after = &rest[open + 3..];
        let Some(close) = after.find("%22") else {
            out.push_str(after);
            return out;
        };
        out.push_str("…%22");
        rest = &after[close + 3..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------
// The upstream's control routes

struct Control {
    http: reqwest::Client,
    hold: String,
}

struct UsersRequests {
    count: u64,
    failed: u64,
    last_query: Option<String>,
}

impl Control {
    fn new(addresses: &Addresses) -> anyhow::Result<Self> {
        ensure!(
            !addresses.scim.is_empty(),
            "the upstream process serves no SCIM API"
        );
        Ok(Self {
            http: reqwest::Client::builder().no_proxy().build()?,
            hold: addresses.hold.clone(),
        })
    }

    /// Changes the first `n` users; their ids.
    async fn touch(&self, n: usize) -> anyhow::Result<Vec<String>> {
        let ids: Vec<String> = self
            .http
            .post(format!("{}/scim/touch/{n}", self.hold))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        ensure!(ids.len() == n, "touched {} users, not {n}", ids.len());
        Ok(ids)
    }

    async fn users_requests(&self) -> anyhow::Result<UsersRequests> {
        let body: Value = self
            .http
            .get(format!("{}/scim/users-requests", self.hold))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(UsersRequests {
            count: body["count"].as_u64().context("a count")?,
            failed: body["failed"].as_u64().context("a failed count")?,
            last_query: body["last_query"].as_str().map(str::to_string),
        })
    }
}

// ---------------------------------------------------------------------------
// Watching a side

/// What the watcher reads of one subscription.
#[derive(Debug, Clone, Copy)]
struct Row {
    version: i64,
    next_ms: i64,
    last_ms: i64,
}

type Rows = HashMap<String, Row>;

struct Observed {
    first_round: Duration,
    window: Duration,
    window_ms: (i64, i64),
    polls: u64,
    cpu: Duration,
    /// (commit time, lag) of each poll committed in the window.
    lags: Vec<(i64, Duration)>,
    unattributed: u64,
}

/// Waits for every subscription's first poll, lets the schedule settle for
/// the warm-up, then reads the rows every 0.4 interval (less than the
/// shortest gap between two polls of one subscription) over the window.
async fn observe<R>(
    plan: &Plan,
    interval_seconds: u32,
    started: Instant,
    read: R,
) -> anyhow::Result<Observed>
where
    R: AsyncFn() -> anyhow::Result<Rows>,
{
    let n = plan.scheduler_subscriptions;
    let limit = Duration::from_secs(60) + Duration::from_millis(100) * n as u32;
    loop {
        let rows = read().await?;
        let polled = rows.values().filter(|r| r.version >= 1).count();
        if rows.len() == n && polled == n {
            break;
        }
        ensure!(
            started.elapsed() < limit,
            "only {polled} of {n} subscriptions polled once within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_round = started.elapsed();
    tokio::time::sleep(interval_span(
        interval_seconds,
        plan.scheduler_warmup_intervals,
    ))
    .await;

    let measure = interval_span(interval_seconds, plan.scheduler_measure_intervals);
    let period = interval_span(interval_seconds, 0.4);
    let cpu_before = process_cpu("self")?;
    let (t0, w0) = (Instant::now(), now_ms());
    let end = t0 + measure;
    let mut before = read().await?;
    let mut observed = Observed {
        first_round,
        window: measure,
        window_ms: (w0, w0),
        polls: 0,
        cpu: Duration::ZERO,
        lags: Vec::new(),
        unattributed: 0,
    };
    loop {
        tokio::time::sleep_until((Instant::now() + period).min(end).into()).await;
        let last = Instant::now() >= end;
        if last {
            observed.cpu = process_cpu("self")?.saturating_sub(cpu_before);
            observed.window = t0.elapsed();
            observed.window_ms.1 = now_ms();
        }
        let now = read().await?;
        for (id, row) in &now {
            let Some(was) = before.get(id) else {
                bail!("subscription {id} appeared during the window");
            };
            let polls = row.version - was.version;
            ensure!(polls >= 0, "subscription {id}'s cursor version went back");
            observed.polls += polls as u64;
            match polls {
                0 => {}
                1 => observed.lags.push((
                    row.last_ms,
                    Duration::from_millis((row.last_ms - was.next_ms).max(0) as u64),
                )),
                more => observed.unattributed += more as u64,
            }
        }
        before = now;
        if last {
            return Ok(observed);
        }
    }
}

impl Observed {
    fn side(
        self,
        interval_seconds: u32,
        poll_times: Vec<Duration>,
    ) -> anyhow::Result<SchedulerSide> {
        ensure!(!self.lags.is_empty(), "no poll was committed in the window");
        ensure!(!poll_times.is_empty(), "no poll was timed in the window");
        let interval_ms = i64::from(interval_seconds) * 1000;
        // Whole intervals (the window overruns its end by a reading).
        let buckets = (self.window.as_secs_f64() * 1000.0 / interval_ms as f64)
            .round()
            .max(1.0) as usize;
        let mut by_interval = vec![Vec::new(); buckets];
        for (at, lag) in &self.lags {
            let i = ((at - self.window_ms.0).max(0) / interval_ms) as usize;
            by_interval[i.min(buckets - 1)].push(*lag);
        }
        let lag_by_interval = by_interval
            .into_iter()
            .filter(|lags| !lags.is_empty())
            .map(|lags| Latency::of(lags).p50)
            .collect();
        Ok(SchedulerSide {
            first_round: self.first_round,
            window: self.window,
            polls: self.polls,
            cpu: self.cpu,
            lag: Latency::of(self.lags.into_iter().map(|(_, lag)| lag).collect()),
            lag_by_interval,
            poll_time: Latency::of(poll_times),
            unattributed: self.unattributed,
        })
    }
}

/// Reads until the sum of cursor versions stops moving: the polls that were
/// running when the scheduler stopped have committed.
async fn settle<R>(read: R) -> anyhow::Result<Rows>
where
    R: AsyncFn() -> anyhow::Result<Rows>,
{
    let since = Instant::now();
    let sum = |rows: &Rows| rows.values().map(|r| r.version).sum::<i64>();
    let mut rows = read().await?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let again = read().await?;
        if sum(&again) == sum(&rows) {
            return Ok(again);
        }
        ensure!(
            since.elapsed() < Duration::from_secs(30),
            "polls still committing 30 s after the scheduler stopped"
        );
        rows = again;
    }
}

/// Every poll sent one `GET /Users` but the first of each subscription,
/// which only sets the cursor; none failed.
fn check_requests(
    side: &str,
    n: usize,
    rows: &Rows,
    before: &UsersRequests,
    after: &UsersRequests,
) -> anyhow::Result<()> {
    let polls: i64 = rows.values().map(|r| r.version).sum();
    let sent = after.count - before.count;
    ensure!(
        after.failed == before.failed,
        "{side}: the SCIM API failed {} requests",
        after.failed - before.failed
    );
    ensure!(
        sent as i64 == polls - n as i64,
        "{side}: {polls} polls of {n} subscriptions sent {sent} requests, not {}",
        polls - n as i64
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// cardhost

async fn cardhost_side(
    plan: &Plan,
    addresses: &Addresses,
    control: &Control,
) -> anyhow::Result<(SchedulerSide, u32, u32, bool)> {
    let n = plan.scheduler_subscriptions;
    let dir = tempfile::tempdir()?;
    let host = crate::cases::host(&[guests::FOURTH_SCIM], addresses, 2 * SLOTS as u32).await?;
    let min = trigger_minimum(&host)?;
    let (interval, through_api) = match plan.scheduler_interval {
        Some(i) => (i, i >= min),
        None => (min, true),
    };
    let (store, _) = cardhost::store::open_in(&dir.path().join("data"))
        .await
        .map_err(anyhow::Error::msg)?;
    let store: Arc<dyn Store> = Arc::new(store);
    let conns = Arc::new(Connections::new(host.clone(), store.clone()));
    drop(host);
    let secret = DEMO_CLIENTS
        .iter()
        .find(|(id, _, _)| *id == PARTNER)
        .map(|(_, s, _)| *s)
        .context("the partner client")?;
    let connection = conns
        .create(CreateConnection {
            connector: CONNECTOR.into(),
            name: "fourth".into(),
            fields: json!({
                "base_url": addresses.scim,
                "token_url": addresses.scim_token,
                "client_id": PARTNER,
                "scope": "scim",
            }),
            secrets: BTreeMap::from([("client_secret".to_string(), Secret::new(secret))]),
            grant: None,
            auth_method: None,
        })
        .await
        .map_err(|e| anyhow::anyhow!("creating the connection: {e}"))?;
    let subs = Arc::new(Subscriptions::new(conns));
    control.touch(TOUCHED).await?;
    for _ in 0..n {
        if through_api {
            subs.create(CreateSubscription {
                connection: "fourth".into(),
                trigger: TRIGGER.into(),
                interval_seconds: Some(interval),
                target: Target::Feed,
            })
            .await
            .map_err(|e| anyhow::anyhow!("creating a subscription: {e}"))?;
        } else {
            // Below the trigger's minimum, which `create` refuses: a quick
            // run cannot wait 30 s between polls.
            store
                .create_subscription(NewSubscription {
                    connection_id: connection.id.clone(),
                    trigger: TRIGGER.into(),
                    mode: Mode::Polling,
                    interval_seconds: interval,
                    target: Target::Feed,
                    first_poll_at_ms: now_ms(),
                    secrets: Vec::new(),
                })
                .await?;
        }
    }
    let read = async || -> anyhow::Result<Rows> {
        Ok(store
            .subscriptions(None)
            .await?
            .into_iter()
            .map(|s| {
                let row = Row {
                    version: s.cursor_version,
                    next_ms: s.next_poll_at_ms,
                    last_ms: s.last_poll_at_ms.unwrap_or(0),
                };
                (s.id, row)
            })
            .collect())
    };

    let requests_before = control.users_requests().await?;
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let scheduler = tokio::spawn(subs.clone().run(stopped));
    let observed = observe(plan, interval, started, read).await;
    stop.send(true)?;
    tokio::time::timeout(Duration::from_secs(30), scheduler)
        .await
        .context("the scheduler did not stop")??;
    let observed = observed?;
    let rows = settle(read).await?;
    check_requests(
        "cardhost",
        n,
        &rows,
        &requests_before,
        &control.users_requests().await?,
    )?;
    for s in store.subscriptions(None).await? {
        ensure!(
            s.state == SubscriptionState::Active && s.failures == 0 && s.last_error.is_none(),
            "subscription {} ended {:?} after {} failures: {}",
            s.id,
            s.state,
            s.failures,
            s.last_error.unwrap_or_default()
        );
        ensure!(
            s.last_seq == TOUCHED as i64,
            "subscription {} stored {} events, not the {TOUCHED} changed users once",
            s.id,
            s.last_seq
        );
    }
    // Every poll is in the history, and ended well.
    let history = store
        .history(&HistoryFilter {
            card: Some(format!("trigger:{TRIGGER}")),
            limit: Some(u32::MAX),
            ..Default::default()
        })
        .await?;
    let polls: i64 = rows.values().map(|r| r.version).sum();
    ensure!(
        history.len() as i64 == polls,
        "{polls} polls committed, {} in the history",
        history.len()
    );
    if let Some(bad) = history.iter().find(|h| h.outcome != "ok") {
        bail!(
            "a poll ended `{}`: {}",
            bad.outcome,
            bad.error.clone().unwrap_or_default()
        );
    }
    let (w0, w1) = observed.window_ms;
    let times = history
        .iter()
        .filter(|h| (w0..w1).contains(&h.started_at_ms))
        .map(|h| Duration::from_millis(h.duration_ms))
        .collect();
    Ok((observed.side(interval, times)?, interval, min, through_api))
}

fn trigger_minimum(host: &Cardhost) -> anyhow::Result<u32> {
    let (_, spec) = host
        .trigger_spec(CONNECTOR, TRIGGER)
        .map_err(|kind| anyhow::anyhow!("{CONNECTOR}/{TRIGGER}: {kind}"))?;
    Ok(spec
        .trigger
        .polling
        .as_ref()
        .context("user-changed is polled")?
        .min_interval_seconds)
}

// ---------------------------------------------------------------------------
// Native

/// The native scheduler's state: one SQLite connection as the host's store
/// has (WAL, `synchronous = FULL`), one pooled HTTP client, the OAuth token.
struct Native {
    db: std::sync::Mutex<rusqlite::Connection>,
    http: reqwest::Client,
    base: String,
    token_url: String,
    secret: String,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
    slots: Semaphore,
    /// (start, wall time) of each poll's request and parse.
    times: std::sync::Mutex<Vec<(i64, Duration)>>,
}

/// Where the next poll starts, as the connector keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    since: String,
}

/// One event: id, occurred_at, payload.
type NativeEvent = (String, String, Value);

impl Native {
    fn open(path: &std::path::Path, addresses: &Addresses, secret: &str) -> anyhow::Result<Self> {
        let db = rusqlite::Connection::open(path)?;
        db.busy_timeout(Duration::from_secs(10))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(
            "CREATE TABLE subscriptions (
                 id              TEXT PRIMARY KEY,
                 cursor          TEXT,
                 cursor_version  INTEGER NOT NULL,
                 next_poll_at_ms INTEGER NOT NULL,
                 last_poll_at_ms INTEGER,
                 last_seq        INTEGER NOT NULL
             );
             CREATE TABLE events (
                 subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
                 seq             INTEGER NOT NULL,
                 event_id        TEXT NOT NULL,
                 occurred_at     TEXT NOT NULL,
                 payload         TEXT NOT NULL,
                 received_at_ms  INTEGER NOT NULL,
                 PRIMARY KEY (subscription_id, seq),
                 UNIQUE (subscription_id, event_id)
             );",
        )?;
        Ok(Self {
            db: std::sync::Mutex::new(db),
            http: reqwest::Client::builder().no_proxy().build()?,
            base: addresses.scim.clone(),
            token_url: addresses.scim_token.clone(),
            secret: secret.to_string(),
            token: tokio::sync::Mutex::new(None),
            slots: Semaphore::new(SLOTS),
            times: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A client-credentials token, fetched again a minute before it expires.
    async fn token(&self) -> anyhow::Result<String> {
        let mut token = self.token.lock().await;
        if let Some((value, until)) = token.as_ref()
            && Instant::now() < *until
        {
            return Ok(value.clone());
        }
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope=scim",
            encode_component(PARTNER),
            encode_component(&self.secret)
        );
        let body: Value = self
            .http
            .post(&self.token_url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let value = body["access_token"]
            .as_str()
            .context("an access token")?
            .to_string();
        let lifetime = body["expires_in"].as_u64().unwrap_or(300);
        let until = Instant::now() + Duration::from_secs(lifetime.saturating_sub(60).max(1));
        *token = Some((value.clone(), until));
        Ok(value)
    }

    /// One poll as the connector makes it: the users changed at or after
    /// the watermark, every page, flattened into events; the next cursor.
    async fn poll(&self, cursor: Option<&Cursor>) -> anyhow::Result<(Cursor, Vec<NativeEvent>)> {
        let now = now_ms() / 1000;
        let Some(cursor) = cursor else {
            let since = cardhost_rules::time::rfc3339_utc(now - CLOCK_MARGIN_SECONDS);
            return Ok((Cursor { since }, Vec::new()));
        };
        let (started_ms, t) = (now_ms(), Instant::now());
        let filter = format!("meta.lastModified ge \"{}\"", cursor.since);
        let token = self.token().await?;
        let mut users = Vec::new();
        let mut start = 1u64;
        loop {
            let url = format!(
                "{}/Users?filter={}&startIndex={start}&count={PAGE_SIZE}",
                self.base,
                encode_component(&filter)
            );
            let response = self
                .http
                .get(url)
                .bearer_auth(&token)
                .header(reqwest::header::ACCEPT, ACCEPT)
                .send()
                .await?;
            let status = response.status();
            ensure!(status.is_success(), "the SCIM API answered {status}");
            let json = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.contains("json"));
            ensure!(json, "the SCIM API answered no JSON");
            let body: Value = serde_json::from_slice(&response.bytes().await?)?;
            let page = match body.get("Resources") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items.clone(),
                Some(_) => bail!("`Resources` is not an array"),
            };
            let returned = page.len();
            users.extend(page);
            let total = body["totalResults"].as_u64();
            let next = start + returned as u64;
            if returned == 0 || total.is_some_and(|t| next > t) || users.len() >= EVENTS_PER_POLL {
                break;
            }
            start = next;
        }
        let newest = users
            .iter()
            .filter_map(|u| u["meta"]["lastModified"].as_str())
            .max()
            .map(str::to_string);
        let events = users.iter().map(event).collect();
        let since = next_since(&cursor.since, newest.as_deref(), now);
        self.times
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((started_ms, t.elapsed()));
        Ok((Cursor { since }, events))
    }

    /// The cursor and the events in one transaction, if the cursor is still
    /// at `version`.
    fn commit(
        &self,
        id: &str,
        version: i64,
        cursor: &Cursor,
        events: &[NativeEvent],
        next_poll_at_ms: i64,
    ) -> anyhow::Result<()> {
        let cursor = serde_json::to_string(cursor)?;
        let mut db = self.db();
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_ms();
        let last_seq: i64 = tx.query_row(
            "UPDATE subscriptions SET cursor = ?3, cursor_version = cursor_version + 1, \
             next_poll_at_ms = ?4, last_poll_at_ms = ?5 \
             WHERE id = ?1 AND cursor_version = ?2 RETURNING last_seq",
            rusqlite::params![id, version, cursor, next_poll_at_ms, now],
            |r| r.get(0),
        )?;
        let mut next = last_seq;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (subscription_id, seq, event_id, occurred_at, payload, \
                 received_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (subscription_id, event_id) DO NOTHING",
            )?;
            for (event_id, occurred_at, payload) in events {
                next += insert.execute(rusqlite::params![
                    id,
                    next + 1,
                    event_id,
                    occurred_at,
                    payload.to_string(),
                    now
                ])? as i64;
            }
        }
        if next != last_seq {
            tx.execute(
                "UPDATE subscriptions SET last_seq = ?2 WHERE id = ?1",
                rusqlite::params![id, next],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn rows(&self) -> anyhow::Result<Rows> {
        let db = self.db();
        let mut stmt = db.prepare_cached(
            "SELECT id, cursor_version, next_poll_at_ms, COALESCE(last_poll_at_ms, 0) \
             FROM subscriptions",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Row {
                    version: r.get(1)?,
                    next_ms: r.get(2)?,
                    last_ms: r.get(3)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// One subscription's schedule: due at once, then the interval (give or
/// take a tenth) after each commit, as the host's scheduler does it.
async fn subscription(
    native: Arc<Native>,
    id: String,
    interval_seconds: u32,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut due = now_ms();
    let mut cursor = None;
    let mut version = 0;
    loop {
        let wait = Duration::from_millis((due - now_ms()).max(0) as u64);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return Ok(()),
        }
        if *stop.borrow() {
            return Ok(());
        }
        let _slot = native.slots.acquire().await?;
        let (next_cursor, events) = native.poll(cursor.as_ref()).await?;
        let next = next_poll_at(interval_seconds);
        tokio::task::block_in_place(|| native.commit(&id, version, &next_cursor, &events, next))?;
        version += 1;
        cursor = Some(next_cursor);
        due = next;
    }
}

async fn native_side(
    plan: &Plan,
    addresses: &Addresses,
    control: &Control,
    interval: u32,
) -> anyhow::Result<SchedulerSide> {
    let n = plan.scheduler_subscriptions;
    let dir = tempfile::tempdir()?;
    let secret = DEMO_CLIENTS
        .iter()
        .find(|(id, _, _)| *id == PARTNER)
        .map(|(_, s, _)| *s)
        .context("the partner client")?;
    let native = Arc::new(Native::open(
        &dir.path().join("native.db"),
        addresses,
        secret,
    )?);
    control.touch(TOUCHED).await?;
    let ids: Vec<String> = (0..n).map(|i| format!("sub_{i:05}")).collect();
    {
        let db = native.db();
        for id in &ids {
            db.execute(
                "INSERT INTO subscriptions (id, cursor_version, next_poll_at_ms, last_seq) \
                 VALUES (?1, 0, ?2, 0)",
                rusqlite::params![id, now_ms()],
            )?;
        }
    }
    let read = async || tokio::task::block_in_place(|| native.rows());

    let requests_before = control.users_requests().await?;
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            tokio::spawn(subscription(
                native.clone(),
                id.clone(),
                interval,
                stopped.clone(),
            ))
        })
        .collect();
    let observed = observe(plan, interval, started, read).await;
    stop.send(true)?;
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .context("a native subscription did not stop")???;
    }
    let observed = observed?;
    let rows = read().await?;
    check_requests(
        "native",
        n,
        &rows,
        &requests_before,
        &control.users_requests().await?,
    )?;
    let wrong: i64 = native.db().query_row(
        "SELECT COUNT(*) FROM subscriptions WHERE last_seq <> ?1",
        [TOUCHED as i64],
        |r| r.get(0),
    )?;
    ensure!(
        wrong == 0,
        "{wrong} native subscriptions did not store the {TOUCHED} changed users once"
    );
    let (w0, w1) = observed.window_ms;
    let times = native
        .times
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|(at, _)| (w0..w1).contains(at))
        .map(|(_, d)| *d)
        .collect();
    observed.side(interval, times)
}

/// The event of one changed user, as the connector makes it: the user
/// flattened beside the SCIM resource, named `{id}@{lastModified}`.
fn event(user: &Value) -> NativeEvent {
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let of_type = |attr: &str| -> Value {
        let items = user[attr].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .find(|e| e["type"] == "work")
            .or_else(|| items.iter().find(|e| e["primary"] == true))
            .or_else(|| items.first())
            .cloned()
            .unwrap_or(Value::Null)
    };
    let name = &user["name"];
    let (first, last) = (text(&name["givenName"]), text(&name["familyName"]));
    let display = text(&user["displayName"])
        .or_else(|| text(&name["formatted"]))
        .or_else(|| {
            let joined = [first.clone(), last.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            (!joined.is_empty()).then_some(joined)
        });
    let (email, address) = (of_type("emails"), of_type("addresses"));
    let locale = text(&user["locale"]);
    let country = text(&address["country"]).or_else(|| {
        locale
            .as_deref()
            .and_then(|l| l.split(['-', '_']).nth(1))
            .filter(|r| r.len() == 2)
            .map(str::to_ascii_uppercase)
    });
    let enterprise = &user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    let meta = &user["meta"];
    let id = text(&user["id"]).unwrap_or_default();
    let modified = text(&meta["lastModified"]);
    let stamp = modified
        .clone()
        .or_else(|| text(&meta["version"]))
        .unwrap_or_default();
    let occurred_at = modified
        .clone()
        .unwrap_or_else(|| cardhost_rules::time::rfc3339_utc(now_ms() / 1000));
    let payload = json!({
        "fourth_account_id": id,
        "user_name": text(&user["userName"]),
        "external_id": text(&user["externalId"]),
        "first_name": first,
        "last_name": last,
        "display_name": display,
        "work_email": text(&email["value"]),
        "job_title": text(&user["title"]),
        "work_location": text(&address["formatted"]).or_else(|| text(&address["locality"])),
        "country": country,
        "preferred_language": text(&user["preferredLanguage"]),
        "locale": locale,
        "timezone": text(&user["timezone"]),
        "employee_number": text(&enterprise["employeeNumber"]),
        "division": text(&enterprise["division"]),
        "department": text(&enterprise["department"]),
        "active": user["active"].as_bool(),
        "created": text(&meta["created"]),
        "last_modified": modified,
        "version": text(&meta["version"]),
        "resource": user,
    });
    (format!("{id}@{stamp}"), occurred_at, payload)
}

/// The watermark after a walk: the newest change seen, but never later than
/// the walk's start less the clock margin, nor earlier than the old one
/// (the connector's `next_since`; these instants all read alike, so they
/// compare as text).
fn next_since(since: &str, newest: Option<&str>, began: i64) -> String {
    let Some(newest) = newest else {
        return since.to_string();
    };
    let cap = cardhost_rules::time::rfc3339_utc(began - CLOCK_MARGIN_SECONDS);
    let bounded = if newest > cap.as_str() {
        cap
    } else {
        newest.to_string()
    };
    if bounded.as_str() > since {
        bounded
    } else {
        since.to_string()
    }
}

/// The interval after now, give or take a tenth of it (the host's
/// `next_poll_at`).
fn next_poll_at(interval_seconds: u32) -> i64 {
    let interval = i64::from(interval_seconds.max(1)) * 1000;
    let spread = interval / 10;
    let jitter = if spread > 0 {
        (random() % (2 * spread as u64 + 1)) as i64 - spread
    } else {
        0
    };
    now_ms() + interval + jitter
}

/// SplitMix64 over a counter seeded from the clock.
fn random() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x5eed, |d| d.as_nanos() as u64)
    });
    let mut z = seed.wrapping_add(
        COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Percent-encodes one query component as the connector does (all but
/// ASCII letters, digits and `-._~`).
fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_masked() {
        assert_eq!(
            mask_instants(
                "filter=meta.lastModified%20ge%20%222026-01-01T00%3A00%3A00Z%22&startIndex=1&count=100"
            ),
            "filter=meta.lastModified%20ge%20%22…%22&startIndex=1&count=100"
        );
        assert_eq!(mask_instants("a=1"), "a=1");
    }

    #[test]
    fn components_are_encoded_as_the_connector_does() {
        assert_eq!(
            encode_component(r#"meta.lastModified ge "2026-01-01T00:00:00Z""#),
            "meta.lastModified%20ge%20%222026-01-01T00%3A00%3A00Z%22"
        );
    }

    #[test]
    fn the_watermark_stays_behind_the_walk_start() {
        let began = 1_767_225_600; // 2026-01-01T00:00:00Z
        assert_eq!(
            next_since("2025-12-01T00:00:00Z", None, began),
            "2025-12-01T00:00:00Z"
        );
        assert_eq!(
            next_since("2025-12-01T00:00:00Z", Some("2025-12-20T10:00:00Z"), began),
            "2025-12-20T10:00:00Z"
        );
        assert_eq!(
            next_since("2025-12-01T00:00:00Z", Some("2025-12-31T23:59:30Z"), began),
            "2025-12-31T23:58:00Z"
        );
    }

    #[test]
    fn the_next_poll_is_the_interval_give_or_take_a_tenth() {
        for _ in 0..1000 {
            let at = next_poll_at(30) - now_ms();
            assert!((26_900..=33_100).contains(&at), "{at}");
        }
    }
}
