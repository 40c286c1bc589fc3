//! Webhooks: the endpoints under `/api/v1/webhooks` (list, create, read,
//! update, delete), and sending crew events to the enabled ones from
//! background tasks, one queue per webhook, with retries and disabling
//! after repeated failures.
//!
//! A crew write calls [`dispatch`] while it holds the state's lock: every
//! enabled webhook with the event's flag gets a [`Delivery`] on its queue,
//! which a task of its own (started on the first delivery) works through in
//! order. Each attempt reads the webhook's current `url` and
//! `secret_token`, and is recorded as a [`DeliveryRecord`]. When a delivery
//! fails with all its retries, the webhook's failure count grows; at
//! `webhook_disable_after` the webhook gets `disabled_at`, its queue is
//! closed and what was on it is dropped. Deleting a webhook closes its queue
//! too. Tasks hold the state weakly, so they end with the emulator.

use super::crews::now_millis;
use super::errors::ApiError;
use super::lists::{page_response, paging, query_map};
use super::state::{Inner, SmartHrState, lock};
use super::{DeliveryOutcome, DeliveryRecord, Resource, seed};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};

/// Salt of webhook ids (with a serial number).
const SALT_NEW_WEBHOOK: u64 = 22;

/// The header that carries a webhook's `secret_token`.
const TOKEN_HEADER: &str = "X-SmartHR-Token";

/// The event flags of a webhook record, all `false` unless given.
pub(super) const FLAGS: [&str; 8] = [
    "crew_created",
    "crew_updated",
    "crew_deleted",
    "crew_imported",
    "dependent_created",
    "dependent_updated",
    "dependent_deleted",
    "dependent_imported",
];

/// A crew event that webhooks are told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CrewEvent {
    /// `POST /crews`.
    Created,
    /// `PATCH /crews/{id}`.
    Updated,
    /// `DELETE /crews/{id}`.
    Deleted,
}

impl CrewEvent {
    /// The event's name, which is also the webhook flag that subscribes it.
    pub(super) fn name(self) -> &'static str {
        match self {
            CrewEvent::Created => "crew_created",
            CrewEvent::Updated => "crew_updated",
            CrewEvent::Deleted => "crew_deleted",
        }
    }
}

// ---------------------------------------------------------------------------
// Sending

/// What sends deliveries: the HTTP client and the count of deliveries not
/// yet settled.
pub(super) struct Outbox {
    /// No proxy, no redirects, a timeout per attempt. An error when the
    /// client could not be built; every attempt then fails with it.
    client: Result<reqwest::Client, String>,
    /// Deliveries queued or being sent.
    pending: Arc<watch::Sender<usize>>,
}

impl Outbox {
    pub(super) fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the webhook client: {}", error_text(&e)));
        Self {
            client,
            pending: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Waits until nothing is queued or being sent, at most `timeout`.
    pub(super) async fn settle(&self, timeout: Duration) -> bool {
        let mut pending = self.pending.subscribe();
        matches!(
            tokio::time::timeout(timeout, pending.wait_for(|n| *n == 0)).await,
            Ok(Ok(_))
        )
    }

    /// One attempt: `POST url` with the body and the token header.
    async fn post(&self, url: &str, token: Option<&str>, body: &str) -> DeliveryOutcome {
        let client = match &self.client {
            Ok(client) => client,
            Err(err) => return DeliveryOutcome::Error(err.clone()),
        };
        let mut request = client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.header(TOKEN_HEADER, token);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the answer through, as a sender that keeps
                // connections does; its content does not matter.
                let _ = response.bytes().await;
                DeliveryOutcome::Status(status)
            }
            Err(err) => DeliveryOutcome::Error(error_text(&err)),
        }
    }
}

/// An error with its causes, `outer: inner: innermost`.
fn error_text(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Marks a delivery as not settled for as long as it lives.
struct Pending(Arc<watch::Sender<usize>>);

impl Pending {
    fn new(count: &Arc<watch::Sender<usize>>) -> Self {
        count.send_modify(|n| *n += 1);
        Self(count.clone())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// One event for one webhook, with its retries.
struct Delivery {
    serial: u64,
    event: CrewEvent,
    crew_id: String,
    /// The JSON body, the same for every attempt.
    body: String,
    _pending: Pending,
}

/// A webhook's sending state.
#[derive(Default)]
pub(super) struct Hook {
    /// Failed deliveries in a row.
    pub(super) failures: u32,
    /// The open queue and its task; none before the first delivery, once
    /// the webhook is disabled, or when its task ended.
    queue: Option<Queue>,
}

struct Queue {
    /// Tells this queue's task from a later one's.
    id: u64,
    tx: mpsc::UnboundedSender<Delivery>,
}

/// Queues `event` of `crew` for every enabled webhook with the event's flag.
/// Never waits: the deliveries go out from the webhooks' tasks.
pub(super) fn dispatch(state: &SmartHrState, inner: &mut Inner, event: CrewEvent, crew: &Value) {
    let targets: Vec<String> = inner.data[&Resource::Webhooks]
        .iter()
        .filter(|w| w[event.name()] == true && w["disabled_at"].is_null())
        .filter_map(|w| w["id"].as_str().map(str::to_string))
        .collect();
    if targets.is_empty() {
        return;
    }
    let body = json!({
        "event": event.name(),
        "triggered_at": seed::format_time_millis(now_millis()),
        "sender": null,
        "crew": crew,
    })
    .to_string();
    let crew_id = crew["id"].as_str().unwrap_or_default().to_string();
    for webhook_id in targets {
        let delivery = Delivery {
            serial: inner.next_delivery,
            event,
            crew_id: crew_id.clone(),
            body: body.clone(),
            _pending: Pending::new(&state.outbox.pending),
        };
        inner.next_delivery += 1;
        let open = inner
            .hooks
            .get(&webhook_id)
            .is_some_and(|h| h.queue.as_ref().is_some_and(|q| !q.tx.is_closed()));
        if !open {
            inner.next_queue += 1;
            let queue = start_queue(state, &webhook_id, inner.next_queue);
            inner.hooks.entry(webhook_id.clone()).or_default().queue = Some(queue);
        }
        if let Some(queue) = inner.hooks.get(&webhook_id).and_then(|h| h.queue.as_ref()) {
            // Fails only when the task is gone; the delivery is dropped then.
            let _ = queue.tx.send(delivery);
        }
    }
}

/// Opens a queue for a webhook and starts the task that empties it.
fn start_queue(state: &SmartHrState, webhook_id: &str, id: u64) -> Queue {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run_queue(
        Arc::downgrade(&state.inner),
        state.outbox.clone(),
        webhook_id.to_string(),
        id,
        rx,
    ));
    Queue { id, tx }
}

/// A webhook's task: its deliveries in order, until the webhook is
/// disabled or deleted or the emulator is gone. What is still queued then
/// is dropped with the queue.
async fn run_queue(
    inner: Weak<Mutex<Inner>>,
    outbox: Arc<Outbox>,
    webhook_id: String,
    queue: u64,
    mut rx: mpsc::UnboundedReceiver<Delivery>,
) {
    while let Some(delivery) = rx.recv().await {
        let Some(delivered) = deliver(&inner, &outbox, &webhook_id, queue, &delivery).await else {
            break;
        };
        if !count_outcome(&inner, &webhook_id, queue, delivered) {
            break;
        }
    }
}

/// Whether `queue` is still the webhook's open queue.
fn is_current(inner: &Inner, webhook_id: &str, queue: u64) -> bool {
    inner
        .hooks
        .get(webhook_id)
        .and_then(|h| h.queue.as_ref())
        .is_some_and(|q| q.id == queue)
}

/// The webhook's `url` and `secret_token` now, if `queue` still sends for it.
fn target(
    inner: &Weak<Mutex<Inner>>,
    webhook_id: &str,
    queue: u64,
) -> Option<(String, Option<String>)> {
    let inner = inner.upgrade()?;
    let inner = lock(&inner);
    if !is_current(&inner, webhook_id, queue) {
        return None;
    }
    let record = inner.data[&Resource::Webhooks]
        .iter()
        .find(|w| w["id"] == webhook_id)?;
    let url = record["url"].as_str()?.to_string();
    let token = record["secret_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    Some((url, token))
}

/// Sends one delivery with its retries, recording every attempt. `None`
/// when the queue stopped sending for the webhook meanwhile, else whether
/// an attempt succeeded.
async fn deliver(
    inner: &Weak<Mutex<Inner>>,
    outbox: &Outbox,
    webhook_id: &str,
    queue: u64,
    delivery: &Delivery,
) -> Option<bool> {
    let delays = {
        let strong = inner.upgrade()?;
        lock(&strong).webhook_retry_delays.clone()
    };
    for attempt in 0..=delays.len() {
        if let Some(delay) = attempt.checked_sub(1).map(|i| delays[i]) {
            tokio::time::sleep(delay).await;
        }
        let (url, token) = target(inner, webhook_id, queue)?;
        let outcome = outbox.post(&url, token.as_deref(), &delivery.body).await;
        let delivered = outcome.succeeded();
        let strong = inner.upgrade()?;
        lock(&strong).deliveries.push(DeliveryRecord {
            webhook_id: webhook_id.to_string(),
            url,
            event: delivery.event.name().to_string(),
            crew_id: delivery.crew_id.clone(),
            delivery: delivery.serial,
            attempt: u32::try_from(attempt + 1).unwrap_or(u32::MAX),
            outcome,
            at: SystemTime::now(),
        });
        if delivered {
            return Some(true);
        }
    }
    Some(false)
}

/// Counts a delivery's result: a success resets the failure count, a
/// failure adds one and may disable the webhook. Returns whether the queue
/// goes on.
fn count_outcome(
    inner: &Weak<Mutex<Inner>>,
    webhook_id: &str,
    queue: u64,
    delivered: bool,
) -> bool {
    let Some(inner) = inner.upgrade() else {
        return false;
    };
    let mut inner = lock(&inner);
    if !is_current(&inner, webhook_id, queue) {
        return false;
    }
    let limit = inner.webhook_disable_after;
    let Some(hook) = inner.hooks.get_mut(webhook_id) else {
        return false;
    };
    if delivered {
        hook.failures = 0;
        return true;
    }
    hook.failures = hook.failures.saturating_add(1);
    if limit == 0 || hook.failures < limit {
        return true;
    }
    // Disabled: the queue closes, and what is on it is dropped with it.
    hook.queue = None;
    let now = inner.write_time();
    if let Some(record) = inner
        .data
        .get_mut(&Resource::Webhooks)
        .and_then(|hooks| hooks.iter_mut().find(|w| w["id"] == webhook_id))
    {
        record["disabled_at"] = now.clone();
        record["updated_at"] = now;
    }
    false
}

// ---------------------------------------------------------------------------
// Endpoints

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid(
            "webhook",
            "body",
            "must be a JSON object",
        )),
        Err(e) => Err(ApiError::invalid(
            "webhook",
            "body",
            format!("is not valid JSON: {e}"),
        )),
    }
}

/// Whether `text` is an absolute http(s) URL with a host.
fn valid_url(text: &str) -> bool {
    url::Url::parse(text.trim()).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    })
}

/// Applies a write body to a webhook record (a new one's defaults, or the
/// stored one), checking every field. Unknown and read-only keys (`id`,
/// `disabled_at`, the times) are ignored.
fn apply_write(
    record: &mut Map<String, Value>,
    body: &Map<String, Value>,
    creating: bool,
) -> Result<(), ApiError> {
    let invalid = |field: &str, message: &str| ApiError::invalid("webhook", field, message);
    match body.get("url") {
        None if creating => return Err(invalid("url", "can't be blank")),
        None => {}
        Some(Value::String(url)) if url.trim().is_empty() => {
            return Err(invalid("url", "can't be blank"));
        }
        Some(Value::String(url)) if valid_url(url) => {
            record.insert("url".into(), json!(url.trim()));
        }
        Some(Value::Null) => return Err(invalid("url", "can't be blank")),
        Some(_) => return Err(invalid("url", "must be an http or https URL")),
    }
    match body.get("description") {
        None => {}
        Some(value @ (Value::Null | Value::String(_))) => {
            record.insert("description".into(), value.clone());
        }
        Some(_) => return Err(invalid("description", "must be text")),
    }
    match body.get("secret_token") {
        None => {}
        Some(Value::Null) => {
            record.insert("secret_token".into(), Value::Null);
        }
        Some(Value::String(token)) if HeaderValue::from_str(token).is_ok() => {
            record.insert("secret_token".into(), json!(token));
        }
        Some(Value::String(_)) => {
            return Err(invalid(
                "secret_token",
                "must be text that fits in an HTTP header",
            ));
        }
        Some(_) => return Err(invalid("secret_token", "must be text")),
    }
    for flag in FLAGS {
        match body.get(flag) {
            None => {}
            Some(Value::Bool(on)) => {
                record.insert(flag.into(), json!(on));
            }
            Some(_) => return Err(invalid(flag, "must be true or false")),
        }
    }
    Ok(())
}

pub(super) async fn list_webhooks(
    State(state): State<SmartHrState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = query_map(raw.as_deref());
    let inner = lock(&state.inner);
    let (page, per_page) = paging(&inner, &query)?;
    let items: Vec<&Value> = inner.data[&Resource::Webhooks].iter().collect();
    Ok(page_response(
        items,
        None,
        page,
        per_page,
        &headers,
        "/webhooks",
        &query,
    ))
}

pub(super) async fn read_webhook(
    State(state): State<SmartHrState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .webhook(&id)
        .map(|w| axum::Json(w).into_response())
        .ok_or_else(ApiError::not_found)
}

pub(super) async fn create_webhook(
    State(state): State<SmartHrState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let mut inner = lock(&state.inner);
    let id = seed::uuid(SALT_NEW_WEBHOOK, inner.next_webhook_serial);
    let mut record = Map::new();
    record.insert("id".into(), json!(id));
    record.insert("url".into(), Value::Null);
    record.insert("description".into(), Value::Null);
    record.insert("secret_token".into(), Value::Null);
    for flag in FLAGS {
        record.insert(flag.into(), json!(false));
    }
    record.insert("disabled_at".into(), Value::Null);
    apply_write(&mut record, &body, true)?;
    let now = inner.write_time();
    record.insert("created_at".into(), now.clone());
    record.insert("updated_at".into(), now);
    inner.next_webhook_serial += 1;
    let record = Value::Object(record);
    inner
        .data
        .get_mut(&Resource::Webhooks)
        .expect("webhooks have a list")
        .push(record.clone());
    inner.hooks.insert(id, Hook::default());
    Ok((StatusCode::CREATED, axum::Json(record)).into_response())
}

pub(super) async fn update_webhook(
    State(state): State<SmartHrState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let mut inner = lock(&state.inner);
    let index = inner.data[&Resource::Webhooks]
        .iter()
        .position(|w| w["id"] == id.as_str())
        .ok_or_else(ApiError::not_found)?;
    let Value::Object(mut record) = inner.data[&Resource::Webhooks][index].clone() else {
        return Err(ApiError::new(5, "Internal server error"));
    };
    apply_write(&mut record, &body, false)?;
    record.insert("updated_at".into(), inner.write_time());
    let record = Value::Object(record);
    inner
        .data
        .get_mut(&Resource::Webhooks)
        .expect("webhooks have a list")[index] = record.clone();
    Ok(axum::Json(record).into_response())
}

pub(super) async fn delete_webhook(
    State(state): State<SmartHrState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut inner = lock(&state.inner);
    let hooks = inner
        .data
        .get_mut(&Resource::Webhooks)
        .expect("webhooks have a list");
    let index = hooks
        .iter()
        .position(|w| w["id"] == id.as_str())
        .ok_or_else(ApiError::not_found)?;
    hooks.remove(index);
    // Closes its queue: nothing more is sent, what was queued is dropped.
    inner.hooks.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
