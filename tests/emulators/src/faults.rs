//! Fault injection shared by every emulator: queues of scripted answers
//! (a status, a body, headers, `Retry-After`, a delay) that the next
//! requests reaching a point of an emulator's pipeline take one each, and
//! the fixed-window counting behind the emulators' rate limits.
//!
//! Each emulator decides where its queues are consulted (the OAuth2
//! server's token endpoint; Paycor's gateway once the subscription key is
//! known; SCIM and Advanced HR before anything else and again after
//! authentication; SmartHR after the tenant and again after the token) and
//! how a fault without a scripted body is written: as its vendor's own
//! error body for the status. Queueing, delays and building the answer are
//! here; [`inject`] does all of it as an axum middleware for emulators that
//! consult a queue before anything else.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A body to answer with instead of the emulator's own error body.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultBody {
    /// A JSON document (`application/json`).
    Json(Value),
    /// Plain text (`text/plain; charset=utf-8`).
    Text(String),
    /// No body at all.
    Empty,
}

/// One scripted answer for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// How long the request is held before it is answered or let through.
    pub delay: Duration,
    /// The status to answer with; `None` lets the request through after the
    /// delay.
    pub status: Option<StatusCode>,
    /// Seconds until the client may retry. Without a scripted body the
    /// emulator writes it as its vendor does (`Retry-After`, or SmartHR's
    /// `x-rate-limit-reset`); with one it is sent as `Retry-After`.
    pub retry_after: Option<u32>,
    /// The error code to put in the emulator's error body where that body
    /// has a textual one (an OAuth2 `error`, Advanced HR's `error`); `None`
    /// for its usual code for the status.
    pub code: Option<String>,
    /// The message of the emulator's error body; `None` for its usual text.
    pub message: Option<String>,
    /// A body to send instead of the emulator's error body.
    pub body: Option<FaultBody>,
    /// Headers set on the answer, replacing any of the same name.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Fault {
    /// Answers with `status` (an invalid one is 500) and the emulator's
    /// error body for it.
    pub fn status(status: u16) -> Self {
        Self {
            delay: Duration::ZERO,
            status: Some(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)),
            retry_after: None,
            code: None,
            message: None,
            body: None,
            headers: Vec::new(),
        }
    }

    /// Answers 429 with a retry delay of `retry_after_seconds`.
    pub fn throttle(retry_after_seconds: u32) -> Self {
        Self::status(429).retry_after(retry_after_seconds)
    }

    /// Holds the request for `delay`, then lets it through.
    pub fn delay(delay: Duration) -> Self {
        Self {
            status: None,
            ..Self::status(500).after(delay)
        }
    }

    /// Holds the request for `delay` before answering.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets the retry delay.
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Sets the error code of the emulator's error body.
    pub fn code(mut self, code: &str) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the message of the emulator's error body.
    pub fn message(mut self, message: &str) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Answers with this JSON body instead of the emulator's.
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(FaultBody::Json(body));
        self
    }

    /// Answers with this text body instead of the emulator's.
    pub fn text(mut self, body: &str) -> Self {
        self.body = Some(FaultBody::Text(body.into()));
        self
    }

    /// Answers with no body.
    pub fn empty_body(mut self) -> Self {
        self.body = Some(FaultBody::Empty);
        self
    }

    /// Sets a header on the answer.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// `Retry-After` for [`Fault::retry_after`], for emulators whose vendor
    /// sends it.
    pub fn retry_after_header(&self) -> Option<(HeaderName, HeaderValue)> {
        self.retry_after
            .map(|s| (header::RETRY_AFTER, HeaderValue::from(s)))
    }

    /// Holds the request for the delay.
    pub async fn wait(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }

    /// The answer this fault scripts, `None` when it lets the request
    /// through. `vendor` writes the emulator's error body for the status
    /// when no body is scripted; the fault's headers are set last.
    pub fn respond(&self, vendor: impl FnOnce(&Fault, StatusCode) -> Response) -> Option<Response> {
        let status = self.status?;
        let mut response = match &self.body {
            None => vendor(self, status),
            Some(body) => {
                let mut response = match body {
                    FaultBody::Json(value) => axum::Json(value.clone()).into_response(),
                    FaultBody::Text(text) => text.clone().into_response(),
                    FaultBody::Empty => ().into_response(),
                };
                if let Some((name, value)) = self.retry_after_header() {
                    response.headers_mut().insert(name, value);
                }
                response
            }
        };
        *response.status_mut() = status;
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        Some(response)
    }
}

/// A queue of faults: each request reaching the point that consults it
/// takes the oldest. Cheap to clone; clones share the queue.
#[derive(Clone, Default)]
pub struct FaultQueue {
    faults: Arc<Mutex<VecDeque<Fault>>>,
}

impl std::fmt::Debug for FaultQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultQueue")
            .field("len", &self.len())
            .finish()
    }
}

impl FaultQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Fault>> {
        // A test that panicked while holding the lock must not wedge the server.
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a fault for one request.
    pub fn push(&self, fault: Fault) {
        self.lock().push_back(fault);
    }

    /// Queues the same fault for each of the next `count` requests.
    pub fn push_n(&self, count: usize, fault: Fault) {
        self.lock().extend(std::iter::repeat_n(fault, count));
    }

    /// Takes the oldest fault.
    pub fn take(&self) -> Option<Fault> {
        self.lock().pop_front()
    }

    /// How many faults are queued.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no fault is queued.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Drops every queued fault.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Takes the oldest fault, holds the request for its delay and returns
    /// its answer (see [`Fault::respond`]); `None` when the queue is empty
    /// or the fault lets the request through.
    pub async fn next_answer(
        &self,
        vendor: impl FnOnce(&Fault, StatusCode) -> Response,
    ) -> Option<Response> {
        let fault = self.take()?;
        fault.wait().await;
        fault.respond(vendor)
    }
}

/// Writes the emulator's error body for a fault without a scripted one.
type Vendor = Arc<dyn Fn(&Fault, StatusCode) -> Response + Send + Sync>;

/// The state of the [`inject`] middleware: the queue it consults and how
/// the emulator writes its error bodies.
#[derive(Clone)]
pub struct Injector {
    queue: FaultQueue,
    vendor: Vendor,
}

impl Injector {
    /// Consults `queue`; `vendor` writes the error body for a fault without
    /// a scripted one.
    pub fn new(
        queue: FaultQueue,
        vendor: impl Fn(&Fault, StatusCode) -> Response + Send + Sync + 'static,
    ) -> Self {
        Self {
            queue,
            vendor: Arc::new(vendor),
        }
    }
}

/// Middleware answering every request that finds a fault queued from the
/// fault, before the inner service sees it; other requests (and those
/// whose fault only delays them) go on. Install with
/// `axum::middleware::from_fn_with_state(Injector::new(…), inject)`.
pub async fn inject(State(injector): State<Injector>, request: Request, next: Next) -> Response {
    let vendor = injector.vendor.clone();
    match injector
        .queue
        .next_answer(|fault, status| vendor(fault, status))
        .await
    {
        Some(response) => response,
        None => next.run(request).await,
    }
}

/// What counting one request against a fixed window found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    /// Whether the window was already full (the request was not counted).
    pub(crate) over: bool,
    /// Requests counted in the window, this one included when it fit.
    pub(crate) used: u32,
    /// Time until the window starts over.
    pub(crate) reset: Duration,
}

impl Hit {
    /// Whole seconds until the window starts over, rounded up.
    pub(crate) fn reset_seconds(&self) -> u64 {
        self.reset.as_secs() + u64::from(self.reset.subsec_nanos() > 0)
    }

    /// The `Retry-After` for a refused request: the seconds until the
    /// window starts over, at least 1.
    pub(crate) fn retry_after(&self) -> u32 {
        (self.reset_seconds() as u32).max(1)
    }
}

/// Fixed-window request counts per key (a subscription key, a client, a
/// token and limit): the mechanics of the emulators' rate limits, whose
/// refusals each emulator words as its vendor does.
#[derive(Debug)]
pub(crate) struct Windows<K> {
    windows: HashMap<K, (Instant, u32)>,
}

impl<K> Default for Windows<K> {
    fn default() -> Self {
        Self {
            windows: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash> Windows<K> {
    /// Counts a request for `key` against `limit` requests per `window`,
    /// now.
    pub(crate) fn hit(&mut self, key: K, limit: u32, window: Duration) -> Hit {
        self.hit_at(key, limit, window, Instant::now())
    }

    /// Counts a request for `key` against `limit` requests per `window` at
    /// `now`: a window older than `window` starts over; a full one refuses
    /// the request without counting it.
    pub(crate) fn hit_at(&mut self, key: K, limit: u32, window: Duration, now: Instant) -> Hit {
        let entry = self.windows.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        let over = entry.1 >= limit;
        if !over {
            entry.1 += 1;
        }
        Hit {
            over,
            used: entry.1,
            reset: window.saturating_sub(now.duration_since(entry.0)),
        }
    }

    /// Forgets every window.
    pub(crate) fn clear(&mut self) {
        self.windows.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Server;
    use axum::Router;
    use axum::middleware;
    use axum::routing::get;
    use serde_json::json;

    fn vendor(fault: &Fault, status: StatusCode) -> Response {
        let body = json!({
            "vendor": true,
            "status": status.as_u16(),
            "message": fault.message.clone().unwrap_or_else(|| "injected".into()),
        });
        (status, axum::Json(body)).into_response()
    }

    async fn serve(queue: &FaultQueue) -> Server {
        let router =
            Router::new()
                .route("/", get(|| async { "ok" }))
                .layer(middleware::from_fn_with_state(
                    Injector::new(queue.clone(), vendor),
                    inject,
                ));
        Server::spawn(router, 0).await.unwrap()
    }

    #[test]
    fn queues_hand_out_faults_oldest_first() {
        let queue = FaultQueue::new();
        assert!(queue.is_empty());
        queue.push(Fault::status(503));
        queue.push_n(2, Fault::throttle(7));
        let clone = queue.clone();
        assert_eq!(clone.len(), 3);
        assert_eq!(
            clone.take().unwrap().status,
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
        let throttle = queue.take().unwrap();
        assert_eq!(throttle.status, Some(StatusCode::TOO_MANY_REQUESTS));
        assert_eq!(throttle.retry_after, Some(7));
        queue.clear();
        assert!(clone.take().is_none());
        assert_eq!(
            Fault::status(42).status,
            Some(StatusCode::INTERNAL_SERVER_ERROR)
        );
    }

    #[test]
    fn faults_use_the_vendor_body_unless_one_is_scripted() {
        let vendor_answer = Fault::status(503).message("down").respond(vendor).unwrap();
        assert_eq!(vendor_answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(vendor_answer.headers().get(header::RETRY_AFTER).is_none());

        let scripted = Fault::throttle(9)
            .json(json!({"error": "slow down"}))
            .header(
                HeaderName::from_static("x-trace"),
                HeaderValue::from_static("abc"),
            )
            .respond(|_, _| panic!("a scripted body needs no vendor body"))
            .unwrap();
        assert_eq!(scripted.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(scripted.headers()[header::RETRY_AFTER], "9");
        assert_eq!(scripted.headers()["x-trace"], "abc");
        assert_eq!(scripted.headers()[header::CONTENT_TYPE], "application/json");

        let delay = Fault::delay(Duration::from_millis(5));
        assert!(
            delay
                .respond(|_, _| panic!("a delay has no answer"))
                .is_none()
        );
    }

    #[test]
    fn windows_count_per_key_and_start_over() {
        let mut windows = Windows::default();
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let first = windows.hit_at("a", 2, minute, start);
        assert_eq!((first.over, first.used), (false, 1));
        assert_eq!(first.reset_seconds(), 60);
        assert!(!windows.hit_at("a", 2, minute, start).over);
        let third = windows.hit_at("a", 2, minute, start + Duration::from_millis(59_500));
        assert_eq!((third.over, third.used), (true, 2));
        assert_eq!(third.retry_after(), 1);
        assert!(
            !windows.hit_at("b", 2, minute, start).over,
            "keys count apart"
        );
        let later = windows.hit_at("a", 2, minute, start + minute);
        assert_eq!((later.over, later.used), (false, 1));
        windows.clear();
        assert_eq!(windows.hit_at("a", 2, minute, start + minute).used, 1);
    }

    #[tokio::test]
    async fn the_middleware_answers_queued_faults_over_http() {
        let queue = FaultQueue::new();
        let server = serve(&queue).await;
        let client = reqwest::Client::new();
        let get = || client.get(format!("{}/", server.url())).send();

        assert_eq!(get().await.unwrap().text().await.unwrap(), "ok");

        queue.push(Fault::status(503).message("maintenance"));
        queue.push(
            Fault::throttle(3)
                .text("busy")
                .after(Duration::from_millis(200)),
        );
        queue.push(Fault::delay(Duration::from_millis(200)));

        let vendor_answer = get().await.unwrap();
        assert_eq!(vendor_answer.status(), 503);
        let body: Value = vendor_answer.json().await.unwrap();
        assert_eq!(
            body,
            json!({"vendor": true, "status": 503, "message": "maintenance"})
        );

        let started = Instant::now();
        let throttled = get().await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(throttled.status(), 429);
        assert_eq!(throttled.headers()["retry-after"], "3");
        assert_eq!(throttled.text().await.unwrap(), "busy");

        let started = Instant::now();
        let delayed = get().await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(delayed.status(), 200);
        assert_eq!(delayed.text().await.unwrap(), "ok");

        assert!(queue.is_empty());
        assert_eq!(get().await.unwrap().status(), 200);
        server.stop().await;
    }
}
