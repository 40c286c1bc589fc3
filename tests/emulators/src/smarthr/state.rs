//! The emulator's state behind [`SmartHrState`]: tokens, records, limits,
//! queued faults, webhook deliveries and the request log.

use super::crews::now_millis;
use super::webhooks::{Hook, Outbox};
use super::{Config, DeliveryRecord, RateLimit, RequestRecord, Resource, Token, seed};
use crate::faults::{Fault, FaultQueue, Windows};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Shared, cheap-to-clone handle on the emulator's state for tests.
#[derive(Clone)]
pub struct SmartHrState {
    pub(super) inner: Arc<Mutex<Inner>>,
    pub(super) host: Arc<str>,
    /// Answers for the next requests for the tenant, before the token.
    pub(super) faults: FaultQueue,
    /// Answers for the next requests with a known token.
    pub(super) throttles: FaultQueue,
    /// What sends webhook deliveries.
    pub(super) outbox: Arc<Outbox>,
}

impl std::fmt::Debug for SmartHrState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmartHrState")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    pub(super) tokens: BTreeMap<String, Token>,
    pub(super) data: BTreeMap<Resource, Vec<Value>>,
    pub(super) default_per_page: u32,
    pub(super) max_per_page: u32,
    pub(super) rate_limits: Vec<RateLimit>,
    /// (token, limit index) → (window start, requests in it).
    pub(super) windows: Windows<(String, usize)>,
    pub(super) requests: Vec<RequestRecord>,
    pub(super) next_serial: usize,
    /// Webhook id → its failure count and delivery queue.
    pub(super) hooks: BTreeMap<String, Hook>,
    /// Every delivery attempt, oldest first.
    pub(super) deliveries: Vec<DeliveryRecord>,
    pub(super) webhook_retry_delays: Vec<Duration>,
    pub(super) webhook_disable_after: u32,
    pub(super) next_webhook_serial: usize,
    pub(super) next_delivery: u64,
    pub(super) next_queue: u64,
    /// Unix milliseconds of the latest write's stamp.
    pub(super) last_write_millis: i64,
}

impl Inner {
    /// The time to stamp a write with (`created_at`, `updated_at`): now to
    /// the millisecond, and always later than the previous write's, so that
    /// every write changes `updated_at`.
    pub(super) fn write_time(&mut self) -> Value {
        let millis = now_millis().max(self.last_write_millis.saturating_add(1));
        self.last_write_millis = millis;
        json!(seed::format_time_millis(millis))
    }
}

pub(super) fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl SmartHrState {
    pub(super) fn new(config: &Config) -> Self {
        let s = seed::seed(config.counts);
        let data = BTreeMap::from([
            (Resource::Users, s.users),
            (Resource::Crews, s.crews),
            (Resource::BizEstablishments, s.biz_establishments),
            (Resource::EmploymentTypes, s.employment_types),
            (Resource::Departments, s.departments),
            (Resource::JobTitles, s.job_titles),
            (Resource::CrewCustomFieldTemplates, s.templates),
            (Resource::CrewCustomFieldTemplateGroups, s.template_groups),
            (Resource::Webhooks, Vec::new()),
        ]);
        let inner = Inner {
            tokens: config
                .tokens
                .iter()
                .map(|t| (t.value.clone(), t.clone()))
                .collect(),
            data,
            default_per_page: config.default_per_page.max(1),
            max_per_page: config.max_per_page.max(1),
            rate_limits: config.rate_limits.clone(),
            windows: Windows::default(),
            requests: Vec::new(),
            next_serial: 0,
            hooks: BTreeMap::new(),
            deliveries: Vec::new(),
            webhook_retry_delays: config.webhook_retry_delays.clone(),
            webhook_disable_after: config.webhook_disable_after,
            next_webhook_serial: 0,
            next_delivery: 0,
            next_queue: 0,
            last_write_millis: 0,
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
            host: format!(
                "{}.{}",
                config.tenant_id.to_ascii_lowercase(),
                config.environment.domain()
            )
            .into(),
            faults: FaultQueue::new(),
            throttles: FaultQueue::new(),
            outbox: Arc::new(Outbox::new(config.webhook_timeout)),
        }
    }

    /// The tenant's host name, e.g. `acme.smarthr.jp`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner).requests.clone()
    }

    /// How many requests were answered.
    pub fn request_count(&self) -> usize {
        lock(&self.inner).requests.len()
    }

    /// Requests answered since the `from`-th, with this method and path.
    pub fn requests_to(&self, from: usize, method: &str, path: &str) -> Vec<RequestRecord> {
        lock(&self.inner)
            .requests
            .iter()
            .skip(from)
            .filter(|r| r.method == method && r.path == path)
            .cloned()
            .collect()
    }

    /// Answers the next `count` authenticated requests with 429 and
    /// `x-rate-limit-reset: reset_seconds`.
    pub fn throttle_next(&self, count: usize, reset_seconds: u32) {
        self.throttles.push_n(count, Fault::throttle(reset_seconds));
    }

    /// Answers the next `count` requests for the tenant with `status` and
    /// SmartHR's error body for it, before the token is even looked at.
    pub fn fail_next(&self, count: usize, status: u16) {
        self.faults.push_n(count, Fault::status(status));
    }

    /// The faults [`fail_next`](SmartHrState::fail_next) queues: every
    /// request for the tenant takes one before its token is looked at. A
    /// fault without a scripted body gets SmartHR's error body for the
    /// status (its message, else SmartHR's) and, with a retry delay,
    /// `x-rate-limit-*` headers as a 429 has them.
    pub fn faults(&self) -> FaultQueue {
        self.faults.clone()
    }

    /// Replaces the rate limits (and forgets the windows counted so far).
    pub fn set_rate_limits(&self, limits: Vec<RateLimit>) {
        let mut inner = lock(&self.inner);
        inner.rate_limits = limits;
        inner.windows.clear();
    }

    /// Adds or replaces a token.
    pub fn add_token(&self, token: Token) {
        lock(&self.inner).tokens.insert(token.value.clone(), token);
    }

    /// Revokes a token: it gets 401 from now on.
    pub fn revoke_token(&self, value: &str) {
        lock(&self.inner).tokens.remove(value);
    }

    /// Every record of a resource, in list order.
    pub fn all(&self, resource: Resource) -> Vec<Value> {
        lock(&self.inner).data[&resource].clone()
    }

    /// Every crew.
    pub fn crews(&self) -> Vec<Value> {
        self.all(Resource::Crews)
    }

    /// One crew by id.
    pub fn crew(&self, id: &str) -> Option<Value> {
        lock(&self.inner).data[&Resource::Crews]
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
    }

    /// One crew by employee code.
    pub fn crew_by_emp_code(&self, code: &str) -> Option<Value> {
        lock(&self.inner).data[&Resource::Crews]
            .iter()
            .find(|c| c["emp_code"] == code)
            .cloned()
    }

    /// Every webhook record, in list order.
    pub fn webhooks(&self) -> Vec<Value> {
        self.all(Resource::Webhooks)
    }

    /// One webhook record by id.
    pub fn webhook(&self, id: &str) -> Option<Value> {
        lock(&self.inner).data[&Resource::Webhooks]
            .iter()
            .find(|w| w["id"] == id)
            .cloned()
    }

    /// Every webhook delivery attempt so far, oldest first (one record per
    /// attempt, so a retried delivery has several).
    pub fn webhook_deliveries(&self) -> Vec<DeliveryRecord> {
        lock(&self.inner).deliveries.clone()
    }

    /// Re-enables a webhook as a user does in SmartHR's settings: clears
    /// `disabled_at` and the count of failed deliveries, so the next crew
    /// event is delivered again (what was dropped when it was disabled stays
    /// dropped). Returns whether the webhook exists.
    pub fn enable_webhook(&self, id: &str) -> bool {
        let mut inner = lock(&self.inner);
        let Some(index) = inner.data[&Resource::Webhooks]
            .iter()
            .position(|w| w["id"] == id)
        else {
            return false;
        };
        if !inner.data[&Resource::Webhooks][index]["disabled_at"].is_null() {
            let now = inner.write_time();
            let record = &mut inner
                .data
                .get_mut(&Resource::Webhooks)
                .expect("webhooks have a list")[index];
            record["disabled_at"] = Value::Null;
            record["updated_at"] = now;
        }
        if let Some(hook) = inner.hooks.get_mut(id) {
            hook.failures = 0;
        }
        true
    }

    /// Waits until no webhook delivery is queued or being sent (retries
    /// included), at most `timeout`. Returns whether they settled.
    pub async fn settle_webhooks(&self, timeout: Duration) -> bool {
        self.outbox.settle(timeout).await
    }
}
