//! The emulator's state behind [`ScimState`]: users, answer style, limits,
//! queued faults and the request log.

use super::{Config, RateLimit, RequestRecord, ResponseStyle, filter, seed};
use crate::faults::{Fault, FaultQueue, Windows};
use crate::server::TokenValidator;
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Shared, cheap-to-clone handle on the emulator's state for tests.
#[derive(Clone)]
pub struct ScimState {
    pub(super) inner: Arc<Mutex<Inner>>,
    pub(super) validator: TokenValidator,
    pub(super) base_path: Arc<str>,
    pub(super) read_scope: Arc<str>,
    pub(super) write_scope: Arc<str>,
    /// Answers for the next requests, before any check.
    pub(super) faults: FaultQueue,
    /// Answers for the next authenticated requests.
    pub(super) throttles: FaultQueue,
}

impl std::fmt::Debug for ScimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimState")
            .field("base_path", &self.base_path)
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    pub(super) users: Vec<Value>,
    pub(super) style: ResponseStyle,
    pub(super) default_count: u32,
    pub(super) max_results: u32,
    pub(super) writes_enabled: bool,
    pub(super) rate_limit: Option<RateLimit>,
    /// Requests per client in the current rate-limit window.
    pub(super) windows: Windows<String>,
    pub(super) requests: Vec<RequestRecord>,
    pub(super) next_user: usize,
}

pub(super) fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl ScimState {
    pub(super) fn new(config: &Config) -> Self {
        let base_path: Arc<str> = config.base_path.trim_end_matches('/').into();
        let inner = Inner {
            users: seed::users(config.user_count, &base_path),
            style: config.style,
            default_count: config.default_count,
            max_results: config.max_results.max(1),
            writes_enabled: config.writes_enabled,
            rate_limit: config.rate_limit,
            windows: Windows::default(),
            requests: Vec::new(),
            next_user: 1_000_000,
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
            validator: config.validator.clone(),
            base_path,
            read_scope: config.read_scope.as_str().into(),
            write_scope: config.write_scope.as_str().into(),
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

    /// Answers the next `count` requests with `status` (a SCIM error), before
    /// any other check.
    pub fn fail_next(&self, count: usize, status: u16) {
        self.faults.push_n(count, Fault::status(status));
    }

    /// The faults [`fail_next`](ScimState::fail_next) queues: every request
    /// takes one before any other check. A fault without a scripted body
    /// gets a SCIM error (its message as `detail`, else "injected failure")
    /// and, with a retry delay, `Retry-After`.
    pub fn faults(&self) -> FaultQueue {
        self.faults.clone()
    }

    /// Changes how answers are spelled.
    pub fn set_style(&self, style: ResponseStyle) {
        lock(&self.inner).style = style;
    }

    /// Changes the most resources a page returns.
    pub fn set_max_results(&self, max_results: u32) {
        lock(&self.inner).max_results = max_results.max(1);
    }

    /// Serves writes or answers them 501.
    pub fn set_writes_enabled(&self, enabled: bool) {
        lock(&self.inner).writes_enabled = enabled;
    }

    /// Every user as stored (`meta.location` relative to the server), in
    /// creation order.
    pub fn users(&self) -> Vec<Value> {
        lock(&self.inner).users.clone()
    }

    /// One user as stored.
    pub fn user(&self, id: &str) -> Option<Value> {
        lock(&self.inner)
            .users
            .iter()
            .find(|u| u["id"] == id)
            .cloned()
    }

    /// Users matching a SCIM filter, in creation order (the filter must parse).
    pub fn users_matching(&self, text: &str) -> Vec<Value> {
        let parsed = filter::parse(text).unwrap_or_else(|e| panic!("bad filter {text}: {e}"));
        self.users()
            .into_iter()
            .filter(|u| filter::matches(&parsed, u).unwrap_or(false))
            .collect()
    }

    /// Changes a user as an edit in Fourth would: bumps `meta.version` and
    /// stamps `meta.lastModified` with the current time. Returns whether the
    /// user exists.
    pub fn update_user(&self, id: &str, change: impl FnOnce(&mut Map<String, Value>)) -> bool {
        let mut inner = lock(&self.inner);
        let Some(Value::Object(user)) = inner.users.iter_mut().find(|u| u["id"] == id) else {
            return false;
        };
        change(user);
        touch(user, now_secs());
        true
    }
}

/// Stamps `meta.lastModified` and bumps `meta.version`.
pub(super) fn touch(user: &mut Map<String, Value>, now: i64) {
    let meta = user
        .entry("meta")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(meta) = meta {
        let version = meta
            .get("version")
            .and_then(Value::as_str)
            .and_then(|v| {
                v.trim_start_matches("W/")
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        meta.insert(
            "lastModified".into(),
            Value::String(seed::format_timestamp(now)),
        );
        meta.insert(
            "version".into(),
            Value::String(format!("W/\"{}\"", version + 1)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::CORE_USER;
    use serde_json::json;

    #[test]
    fn touch_bumps_version_and_time() {
        let mut u = json!({"schemas": [CORE_USER], "id": "u1", "meta": {"version": "W/\"1\""}});
        touch(u.as_object_mut().unwrap(), 1_700_000_000);
        assert_eq!(u["meta"]["version"], "W/\"2\"");
        assert_eq!(u["meta"]["lastModified"], "2023-11-14T22:13:20Z");
    }
}
