//! The emulator's state: the stored data, limits, queued faults and request
//! log behind [`PaycorState`], the handle tests steer it with.

use super::render::{PARTS, PERSON_PARTS, Part, department_json, employee_json, person_json};
use super::seed::{Data, guid, seed};
use super::{App, Casing, Config, RateLimit, RequestRecord, Right, ScopeVersion};
use crate::faults::{Fault, FaultQueue, Windows};
use crate::oauth::{self, ClientAuthMethod, ClientConfig, OAuthState};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

pub(super) struct Cursor {
    pub(super) route: String,
    pub(super) offset: usize,
}

pub(super) struct Inner {
    pub(super) keys: BTreeSet<String>,
    pub(super) apps: BTreeMap<String, App>,
    pub(super) data: Data,
    pub(super) employees_page_size: usize,
    pub(super) page_size: usize,
    pub(super) rate_limit: Option<RateLimit>,
    /// Calls per subscription key in the current rate-limit window.
    pub(super) windows: Windows<String>,
    pub(super) casing: Casing,
    pub(super) authorize_requires_key: bool,
    pub(super) requests: Vec<RequestRecord>,
    pub(super) refusals: Vec<String>,
    pub(super) cursors: HashMap<String, Cursor>,
    pub(super) next_guid: u64,
    pub(super) contact_updates: usize,
}

impl Inner {
    pub(super) fn new_guid(&mut self, kind: u64) -> String {
        self.next_guid += 1;
        guid(kind, 0xC0FFEE, self.next_guid)
    }
}

/// Shared, cheap-to-clone handle on the emulator's state for tests.
#[derive(Clone)]
pub struct PaycorState {
    pub(super) inner: Arc<Mutex<Inner>>,
    pub(super) oauth: OAuthState,
    /// Answers for the next API calls, before the rate limit counts them.
    pub(super) throttles: FaultQueue,
    /// Answers for the next API calls the rate limit lets through.
    pub(super) faults: FaultQueue,
}

impl std::fmt::Debug for PaycorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaycorState").finish_non_exhaustive()
    }
}

pub(super) fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A test that panicked while holding the lock must not wedge the server.
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl PaycorState {
    pub(super) fn new(config: &Config) -> Self {
        let mut oauth_config =
            oauth::Config::paycor().access_token_lifetime(config.access_token_lifetime);
        for app in &config.apps {
            let mut scopes: Vec<&str> = app.scopes.iter().map(|s| s.id.as_str()).collect();
            scopes.push("offline_access");
            let mut client = ClientConfig::authorization_code(
                &app.client_id,
                &app.client_secret,
                app.redirect_uris.first().map(String::as_str).unwrap_or(""),
            )
            .scopes(&scopes)
            .auth_methods(&[ClientAuthMethod::ClientSecretPost]);
            client.redirect_uris = app.redirect_uris.clone();
            oauth_config = oauth_config.client(client);
        }
        let inner = Inner {
            keys: config.subscription_keys.iter().cloned().collect(),
            apps: config
                .apps
                .iter()
                .map(|a| (a.client_id.clone(), a.clone()))
                .collect(),
            data: seed(&config.legal_entities),
            employees_page_size: config.employees_page_size.max(1),
            page_size: config.page_size.max(1),
            rate_limit: config.rate_limit,
            windows: Windows::default(),
            casing: config.casing,
            authorize_requires_key: config.authorize_requires_subscription_key,
            requests: Vec::new(),
            refusals: Vec::new(),
            cursors: HashMap::new(),
            next_guid: 0,
            contact_updates: 0,
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
            oauth: OAuthState::new(&oauth_config),
            throttles: FaultQueue::new(),
            faults: FaultQueue::new(),
        }
    }

    /// The OAuth2 server's state.
    pub fn oauth(&self) -> OAuthState {
        self.oauth.clone()
    }

    /// Every request so far (API and OAuth2 endpoints), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner).requests.clone()
    }

    /// How many requests had this method and path.
    pub fn count(&self, method: &str, path: &str) -> usize {
        lock(&self.inner)
            .requests
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    /// The Data Access rights whose absence caused a 403, in order.
    pub fn refusals(&self) -> Vec<String> {
        lock(&self.inner).refusals.clone()
    }

    /// Answers the next `count` API calls with 429 and `Retry-After`.
    pub fn throttle_next(&self, count: usize, retry_after_seconds: u32) {
        self.throttles
            .push_n(count, Fault::throttle(retry_after_seconds));
    }

    /// Answers the next `count` API calls with `status` (a Paycor error
    /// body) before they reach their endpoint, so nothing is changed.
    pub fn fail_next(&self, count: usize, status: u16) {
        self.faults.push_n(count, Fault::status(status));
    }

    /// The faults [`fail_next`](PaycorState::fail_next) queues: each API
    /// call with a valid subscription key that the rate limit lets through
    /// takes one before it reaches its endpoint. A fault without a scripted
    /// body gets Paycor's error body (`Title` "Internal Server Error", its
    /// message as `Detail`) and, with a retry delay, `Retry-After`.
    pub fn faults(&self) -> FaultQueue {
        self.faults.clone()
    }

    /// Replaces the rate limit.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        let mut inner = lock(&self.inner);
        inner.rate_limit = limit;
        inner.windows.clear();
    }

    /// Switches the property-name casing of answers.
    pub fn set_casing(&self, casing: Casing) {
        lock(&self.inner).casing = casing;
    }

    /// Sets the page sizes.
    pub fn set_page_sizes(&self, employees: usize, others: usize) {
        let mut inner = lock(&self.inner);
        inner.employees_page_size = employees.max(1);
        inner.page_size = others.max(1);
    }

    /// Replaces the rights of one scope version of an app (as publishing a
    /// new version with the same identifier would); tokens already issued
    /// follow at once.
    pub fn set_scope_rights(&self, client_id: &str, scope_id: &str, rights: &[Right]) {
        let mut inner = lock(&self.inner);
        if let Some(app) = inner.apps.get_mut(client_id) {
            let version = ScopeVersion::new(scope_id, rights);
            match app.scopes.iter_mut().find(|s| s.id == scope_id) {
                Some(s) => *s = version,
                None => app.scopes.push(version),
            }
        }
    }

    /// Replaces the legal entities an app is activated for.
    pub fn set_activated(&self, client_id: &str, legal_entities: &[i64]) {
        if let Some(app) = lock(&self.inner).apps.get_mut(client_id) {
            app.legal_entities = legal_entities.to_vec();
        }
    }

    /// Adds a valid subscription key.
    pub fn add_subscription_key(&self, key: &str) {
        lock(&self.inner).keys.insert(key.into());
    }

    /// Revokes a subscription key (as regenerating it in the portal does).
    pub fn revoke_subscription_key(&self, key: &str) -> bool {
        lock(&self.inner).keys.remove(key)
    }

    /// Ids of a legal entity's employees, in list order.
    pub fn employee_ids(&self, legal_entity: i64) -> Vec<String> {
        lock(&self.inner)
            .data
            .employees
            .iter()
            .filter(|e| e.le == legal_entity)
            .map(|e| e.id.clone())
            .collect()
    }

    /// An employee with every part, in Paycor's capitalised names.
    pub fn employee(&self, id: &str) -> Option<Value> {
        let inner = lock(&self.inner);
        let index = *inner.data.employee_index.get(id)?;
        let all: BTreeSet<Part> = PARTS.iter().map(|(_, p)| *p).collect();
        Some(employee_json(&inner.data, index, &all, false))
    }

    /// Changes an employee's job title (the list's and the read's
    /// `PositionData.JobTitle`), as an edit in Paycor's HCM would. Paycor
    /// records no change time on an employee, so nothing else moves.
    /// Returns whether the employee exists.
    pub fn set_job_title(&self, id: &str, title: &str) -> bool {
        let mut inner = lock(&self.inner);
        let Some(index) = inner.data.employee_index.get(id).copied() else {
            return false;
        };
        inner.data.employees[index].job_title = title.to_string();
        true
    }

    /// Changes an employee's work email (`Email.EmailAddress` of the work
    /// email), as an edit in Paycor's HCM would. Returns whether the
    /// employee exists.
    pub fn set_work_email(&self, id: &str, email: &str) -> bool {
        let mut inner = lock(&self.inner);
        let Some(index) = inner.data.employee_index.get(id).copied() else {
            return false;
        };
        inner.data.employees[index].work_email = Some(email.to_string());
        true
    }

    /// The person behind an employee with every part, in Paycor's
    /// capitalised names.
    pub fn person_of(&self, employee_id: &str) -> Option<Value> {
        let inner = lock(&self.inner);
        let index = *inner.data.employee_index.get(employee_id)?;
        let all: BTreeSet<&str> = PERSON_PARTS.iter().map(|(n, _)| *n).collect();
        Some(person_json(
            &inner.data,
            inner.data.employees[index].person,
            &all,
        ))
    }

    /// A legal entity's departments, in Paycor's capitalised names.
    pub fn departments(&self, legal_entity: i64) -> Vec<Value> {
        let inner = lock(&self.inner);
        (0..inner.data.departments.len())
            .filter(|i| inner.data.departments[*i].le == legal_entity)
            .map(|i| department_json(&inner.data, i))
            .collect()
    }

    /// How many Update Employee Contact calls changed something.
    pub fn contact_updates(&self) -> usize {
        lock(&self.inner).contact_updates
    }
}
