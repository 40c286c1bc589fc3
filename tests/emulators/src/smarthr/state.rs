//! The emulator's state behind [`SmartHrState`]: tokens, records, limits,
//! queued faults and the request log.

use super::{Config, RateLimit, RequestRecord, Resource, Token, seed};
use crate::faults::{Fault, FaultQueue, Windows};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Shared, cheap-to-clone handle on the emulator's state for tests.
#[derive(Clone)]
pub struct SmartHrState {
    pub(super) inner: Arc<Mutex<Inner>>,
    pub(super) host: Arc<str>,
    /// Answers for the next requests for the tenant, before the token.
    pub(super) faults: FaultQueue,
    /// Answers for the next requests with a known token.
    pub(super) throttles: FaultQueue,
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
}
