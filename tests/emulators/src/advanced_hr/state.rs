//! The emulator's state behind [`AdvancedHrState`]: security groups, seed
//! records, limits, queued faults and the request log.

use super::dates::{format_timestamp, now_secs};
use super::seed::seed;
use super::{Config, RateLimit, RequestRecord, SecurityGroup};
use crate::faults::{Fault, FaultQueue, Windows};
use crate::server::TokenValidator;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Shared, cheap-to-clone handle on the emulator's state for tests.
#[derive(Clone)]
pub struct AdvancedHrState {
    pub(super) inner: Arc<Mutex<Inner>>,
    pub(super) validator: TokenValidator,
    pub(super) base_path: Arc<str>,
    /// Answers for the next requests, before any check.
    pub(super) faults: FaultQueue,
    /// Answers for the next authenticated requests.
    pub(super) throttles: FaultQueue,
}

impl std::fmt::Debug for AdvancedHrState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdvancedHrState")
            .field("base_path", &self.base_path)
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    pub(super) groups: BTreeMap<String, SecurityGroup>,
    pub(super) employees: Vec<Value>,
    pub(super) departments: Vec<Value>,
    pub(super) positions: Vec<Value>,
    pub(super) default_page_size: u32,
    pub(super) max_page_size: u32,
    pub(super) rate_limit: Option<RateLimit>,
    /// Requests per client in the current rate-limit window.
    pub(super) windows: Windows<String>,
    pub(super) requests: Vec<RequestRecord>,
}

pub(super) fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl AdvancedHrState {
    pub(super) fn new(config: &Config) -> Self {
        let seed = seed(config.employee_count);
        let inner = Inner {
            groups: config.groups.clone(),
            employees: seed.employees,
            departments: seed.departments,
            positions: seed.positions,
            default_page_size: config.default_page_size.max(1),
            max_page_size: config.max_page_size.max(1),
            rate_limit: config.rate_limit,
            windows: Windows::default(),
            requests: Vec::new(),
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
            validator: config.validator.clone(),
            base_path: config.base_path.trim_end_matches('/').into(),
            faults: FaultQueue::new(),
            throttles: FaultQueue::new(),
        }
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner).requests.clone()
    }

    /// How many requests were answered.
    pub fn request_count(&self) -> usize {
        lock(&self.inner).requests.len()
    }

    /// Answers the next `count` authenticated requests with 429 and
    /// `Retry-After: retry_after_seconds`.
    pub fn throttle_next(&self, count: usize, retry_after_seconds: u32) {
        self.throttles
            .push_n(count, Fault::throttle(retry_after_seconds));
    }

    /// Answers the next `count` requests with `status` (a JSON error body),
    /// before any other check.
    pub fn fail_next(&self, count: usize, status: u16) {
        self.faults.push_n(count, Fault::status(status));
    }

    /// The faults [`fail_next`](AdvancedHrState::fail_next) queues: every
    /// request takes one before any other check. A fault without a scripted
    /// body gets the JSON error body (its code as `error`, else
    /// `injected_failure`; its message, else "injected failure") and, with a
    /// retry delay, `Retry-After`.
    pub fn faults(&self) -> FaultQueue {
        self.faults.clone()
    }

    /// Binds `client_id` to `group` (replacing its group).
    pub fn set_group(&self, client_id: &str, group: SecurityGroup) {
        lock(&self.inner).groups.insert(client_id.into(), group);
    }

    /// Unbinds `client_id` from its group; its requests then get 403.
    pub fn remove_group(&self, client_id: &str) {
        lock(&self.inner).groups.remove(client_id);
    }

    /// Every employee with all fields, in id order.
    pub fn employees(&self) -> Vec<Value> {
        lock(&self.inner).employees.clone()
    }

    /// One employee with all fields.
    pub fn employee(&self, id: &str) -> Option<Value> {
        lock(&self.inner)
            .employees
            .iter()
            .find(|e| e["id"] == id)
            .cloned()
    }

    /// Changes an employee and stamps `updatedAt` with the current time, as
    /// an edit in Advanced HR would. Returns whether the employee exists.
    pub fn update_employee(&self, id: &str, change: impl FnOnce(&mut Map<String, Value>)) -> bool {
        let mut inner = lock(&self.inner);
        let Some(Value::Object(employee)) = inner.employees.iter_mut().find(|e| e["id"] == id)
        else {
            return false;
        };
        change(employee);
        employee.insert(
            "updatedAt".into(),
            Value::String(format_timestamp(now_secs())),
        );
        true
    }

    /// Adds an employee (an object with at least a string `id`), keeping id
    /// order.
    pub fn insert_employee(&self, employee: Value) {
        let mut inner = lock(&self.inner);
        let id = employee["id"].as_str().unwrap_or_default().to_string();
        inner.employees.retain(|e| e["id"] != id.as_str());
        inner.employees.push(employee);
        inner
            .employees
            .sort_by(|a, b| id_order(&a["id"]).cmp(&id_order(&b["id"])));
    }

    /// Every department.
    pub fn departments(&self) -> Vec<Value> {
        lock(&self.inner).departments.clone()
    }

    /// Every position.
    pub fn positions(&self) -> Vec<Value> {
        lock(&self.inner).positions.clone()
    }
}

/// Numeric ids sort numerically, others after them alphabetically.
pub(super) fn id_order(id: &Value) -> (u64, String) {
    let text = id.as_str().unwrap_or_default();
    (text.parse().unwrap_or(u64::MAX), text.to_string())
}
