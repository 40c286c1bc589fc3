//! Employee Changed end to end, for Advanced HR and Paycor: a subscription
//! over a stored connection, polled by the host against each vendor's
//! emulator. What the feed holds is checked against the emulators' own
//! employees.
//!
//! The two triggers differ because the APIs do. Advanced HR's contract has
//! `updatedSince` (at or after) and `updatedAt`, so its trigger keeps a
//! watermark; Paycor's employee list has no change time at all, so its
//! trigger compares every employee's content with the last poll's.

use crate::common::*;
use cardhost::connections::{Connections, CreateConnection};
use cardhost::store::{ConnectionState, HistoryFilter, MasterKey, SqliteStore, Store, Target};
use cardhost::subscriptions::{CreateSubscription, FeedEvent, Polled, Subscriptions};
use cardhost::{Limits, NetworkPolicy, Route, Secret};
use cardhost_e2e::guests;
use cardhost_emulators::advanced_hr;
use cardhost_emulators::paycor::{
    self, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_LEGAL_ENTITY, DEMO_REDIRECT_URI,
    DEMO_SUBSCRIPTION_KEY, Paycor, SCOPE_FULL,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

const TRIGGER: &str = "employee-changed";

/// Generous limits: the machine is shared, and no test here measures speed.
fn limits() -> Limits {
    Limits {
        deadline_ms: 30_000,
        max_response_body_bytes: 8 << 20,
        max_output_bytes: 8 << 20,
        ..test_limits()
    }
}

struct World {
    store: Arc<dyn Store>,
    subs: Arc<Subscriptions>,
    _dir: tempfile::TempDir,
}

fn world_of(conns: Connections, store: Arc<dyn Store>, dir: tempfile::TempDir) -> World {
    World {
        store,
        subs: Arc::new(Subscriptions::new(Arc::new(conns))),
        _dir: dir,
    }
}

fn open_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open(&dir.path().join("cardhost.db"), vec![MasterKey::generate()]).unwrap(),
    )
}

fn feed(connection: &str) -> CreateSubscription {
    CreateSubscription {
        connection: connection.into(),
        trigger: TRIGGER.into(),
        interval_seconds: None,
        target: Target::Feed,
    }
}

impl World {
    /// Polls the subscription as the scheduler would, from its stored
    /// cursor, and returns how many new events were stored.
    async fn poll(&self, id: &str) -> usize {
        let sub = self.store.subscription(id).await.unwrap();
        match self.subs.poll(&sub).await.unwrap() {
            Polled::Committed { stored } => stored,
            other => {
                let sub = self.store.subscription(id).await.unwrap();
                panic!("the poll did not commit: {other:?} ({:?})", sub.last_error)
            }
        }
    }

    /// Every event of the subscription's feed, oldest first.
    async fn events(&self, id: &str) -> Vec<FeedEvent> {
        self.subs.events(id, None, 1000).await.unwrap().events
    }

    /// The connector's own cursor, as it stored it.
    async fn cursor(&self, id: &str) -> Value {
        let sub = self.store.subscription(id).await.unwrap();
        serde_json::from_str(sub.cursor.as_deref().expect("a cursor")).unwrap()
    }

    /// The trigger as the catalog lists it.
    async fn listed(&self, connection: &str) -> Value {
        let triggers = self.subs.triggers(connection).await.unwrap();
        triggers
            .into_iter()
            .find(|t| t["id"] == TRIGGER)
            .expect("employee-changed is listed")
    }

    /// Checks that every poll of the trigger is in the history, all ok.
    async fn polls_recorded(&self, expected: usize) {
        let polls = self
            .store
            .history(&HistoryFilter {
                card: Some(format!("trigger:{TRIGGER}")),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(polls.len(), expected, "{polls:?}");
        assert!(polls.iter().all(|p| p.outcome == "ok"), "{polls:?}");
    }
}

fn for_employee<'a>(events: &'a [FeedEvent], id: &str) -> Vec<&'a FeedEvent> {
    events.iter().filter(|e| e.payload["id"] == id).collect()
}

// ---------------------------------------------------------------- Advanced HR

const HR_CLIENT: &str = "cardhost-hr-full";

async fn advanced_hr_world() -> (advanced_hr::Demo, World) {
    let demo = advanced_hr::start_demo(0, 0).await.unwrap();
    let host =
        Arc::new(host_with(&[guests::ADVANCED_HR], limits(), NetworkPolicy::loopback()).await);
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let conns = Connections::new(host, store.clone());
    let secret = advanced_hr::DEMO_CLIENTS
        .iter()
        .find(|(id, _, _)| *id == HR_CLIENT)
        .map(|(_, s, _)| *s)
        .unwrap();
    conns
        .create(CreateConnection {
            connector: "advanced-hr".into(),
            name: "hr".into(),
            fields: json!({
                "token_url": demo.identity.token_url(),
                "api_base_url": demo.api.api_url(),
                "client_id": HR_CLIENT,
            }),
            secrets: BTreeMap::from([("client_secret".to_string(), Secret::new(secret))]),
            grant: None,
            auth_method: None,
        })
        .await
        .unwrap();
    (demo, world_of(conns, store, dir))
}

/// The `updatedSince` of each request to `/employees` the emulator
/// answered, decoded.
fn changed_since_requests(demo: &advanced_hr::Demo) -> Vec<String> {
    demo.api
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.path == "/employees")
        .filter_map(|r| r.query)
        .filter_map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "updatedSince")
                .map(|(_, v)| v.into_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advanced_hr_reports_each_change_once_and_keeps_the_watermark_second() {
    let (demo, world) = advanced_hr_world().await;
    let state = demo.api.state();

    let listed = world.listed("hr").await;
    assert_eq!(listed["kind"], "polling");
    assert!(
        listed["event_schema"]["properties"]["updatedAt"].is_object(),
        "{listed}"
    );
    assert_eq!(
        listed["permissions"],
        json!(["employees-read", "tenant-paths-read"])
    );

    let sub = world.subs.create(feed("hr")).await.unwrap().record;
    assert_eq!(sub.interval_seconds, 300, "the trigger's default");

    // The first poll sets the watermark at the present (less the clock
    // margin) without reading anything: the employees as they are now are
    // the baseline, and none of them is reported.
    assert_eq!(world.poll(&sub.id).await, 0);
    assert!(changed_since_requests(&demo).is_empty());
    let since = world.cursor(&sub.id).await["since"]
        .as_str()
        .unwrap()
        .to_string();
    let since_secs = advanced_hr::parse_timestamp(&since).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - 125..=now - 115).contains(&since_secs), "{since}");
    assert_eq!(rfc3339(since_secs), since);

    // Polling again with no change: the watermark is asked for, nothing is
    // new. (No seeded employee changed after it.)
    assert_eq!(world.poll(&sub.id).await, 0);
    assert_eq!(
        changed_since_requests(&demo),
        vec![since.clone()],
        "at or after the watermark itself"
    );
    assert!(world.events(&sub.id).await.is_empty());

    // A change upstream: one event, the employee as List Employees returns
    // it, named by id, updatedAt and content.
    let employees = state.employees();
    let first = employees[0]["id"].as_str().unwrap().to_string();
    assert!(state.update_employee(&first, |e| {
        e.insert("jobTitle".into(), json!("Payroll Manager"));
    }));
    assert_eq!(world.poll(&sub.id).await, 1);
    let events = world.events(&sub.id).await;
    assert_eq!(events.len(), 1);
    let upstream = state.employee(&first).unwrap();
    let updated_at = upstream["updatedAt"].as_str().unwrap();
    assert_eq!(
        events[0].payload, upstream,
        "with the sensitive fields this client may see"
    );
    assert_eq!(events[0].payload["jobTitle"], "Payroll Manager");
    assert!(
        events[0].id.starts_with(&format!("{first}@{updated_at}#")),
        "{}",
        events[0].id
    );
    assert_eq!(events[0].occurred_at, updated_at);

    // Polling again reads that employee again (the watermark stays a clock
    // margin behind the poll), and the copy is dropped.
    assert_eq!(world.poll(&sub.id).await, 0);
    assert_eq!(world.events(&sub.id).await.len(), 1);

    // A change stamped in the very second of the watermark, after the poll
    // that set it (a write that committed late, or clocks apart): it is not
    // lost, because the filter is "at or after". One stamped a second
    // earlier is behind the watermark and not read.
    let since = world.cursor(&sub.id).await["since"]
        .as_str()
        .unwrap()
        .to_string();
    let since_secs = advanced_hr::parse_timestamp(&since).unwrap();
    let boundary = employees[1]["id"].as_str().unwrap().to_string();
    let mut at_boundary = employees[1].clone();
    at_boundary["location"] = json!("Leeds");
    at_boundary["updatedAt"] = json!(since);
    state.insert_employee(at_boundary);
    let behind = employees[2]["id"].as_str().unwrap().to_string();
    let mut too_old = employees[2].clone();
    too_old["location"] = json!("Leeds");
    too_old["updatedAt"] = json!(rfc3339(since_secs - 1));
    state.insert_employee(too_old);
    assert_eq!(world.poll(&sub.id).await, 1);
    let events = world.events(&sub.id).await;
    let seen = for_employee(&events, &boundary);
    assert_eq!(seen.len(), 1);
    assert!(seen[0].id.starts_with(&format!("{boundary}@{since}#")));
    assert_eq!(seen[0].payload["location"], "Leeds");
    assert!(for_employee(&events, &behind).is_empty());

    // Two edits of one employee, each followed by a poll (most likely in
    // one second: the second edit has the same updatedAt): each is
    // reported once, with a new id.
    for title in ["Head of Payroll", "Payroll Director"] {
        assert!(state.update_employee(&first, |e| {
            e.insert("jobTitle".into(), json!(title));
        }));
        assert_eq!(world.poll(&sub.id).await, 1, "{title}");
    }
    assert_eq!(world.poll(&sub.id).await, 0);
    let events = world.events(&sub.id).await;
    let titles: Vec<&Value> = for_employee(&events, &first)
        .iter()
        .map(|e| &e.payload["jobTitle"])
        .collect();
    assert_eq!(
        titles,
        [
            &json!("Payroll Manager"),
            &json!("Head of Payroll"),
            &json!("Payroll Director")
        ]
    );
    let mut ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "every event id once");
    assert_eq!(events.len(), 4);

    world.polls_recorded(8).await;
}

/// `secs` as RFC 3339 UTC to the second, as the emulator stamps `updatedAt`
/// (civil from days, Howard Hinnant's algorithm).
fn rfc3339(secs: i64) -> String {
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

// --------------------------------------------------------------------- Paycor

/// Paycor's hosts routed to the emulator, loopback allowed.
fn paycor_network(paycor: &Paycor) -> NetworkPolicy {
    let routes = [
        "apis-sandbox.paycor.com",
        "hcm-demo.paycor.com",
        "apis.paycor.com",
        "hcm.paycor.com",
    ]
    .iter()
    .map(|host| Route {
        host: host.to_string(),
        to: paycor.url(),
    })
    .collect();
    NetworkPolicy {
        routes,
        backoff_base_ms: 20,
        max_retry_wait_ms: 2_000,
        ..NetworkPolicy::loopback()
    }
}

/// Drives the consent page (auto-approved) as a browser would; returns the
/// code and state from the redirect.
async fn consent(paycor: &Paycor, url: &str) -> (String, String) {
    let parsed = url::Url::parse(url).unwrap();
    let local = format!(
        "{}{}?{}",
        paycor.url(),
        parsed.path(),
        parsed.query().unwrap_or("")
    );
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(local)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302, "the emulator approves at once");
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let q: BTreeMap<String, String> = location.query_pairs().into_owned().collect();
    (q["code"].clone(), q["state"].clone())
}

async fn paycor_world() -> (Paycor, World) {
    let paycor = paycor::start(paycor::Config::demo()).await.unwrap();
    let host = Arc::new(host_with(&[guests::PAYCOR], limits(), paycor_network(&paycor)).await);
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let conns = Connections::new(host, store.clone());
    conns
        .create(CreateConnection {
            connector: "paycor".into(),
            name: "paycor".into(),
            fields: json!({
                "sandbox": true,
                "client_id": DEMO_CLIENT_ID,
                "scope_id": SCOPE_FULL,
                "legal_entity_id": DEMO_LEGAL_ENTITY,
            }),
            secrets: BTreeMap::from([
                ("client_secret".to_string(), Secret::new(DEMO_CLIENT_SECRET)),
                (
                    "subscription_key".to_string(),
                    Secret::new(DEMO_SUBSCRIPTION_KEY),
                ),
            ]),
            grant: None,
            auth_method: None,
        })
        .await
        .unwrap();
    let start = conns
        .begin_authorization("paycor", DEMO_REDIRECT_URI)
        .await
        .unwrap();
    let (code, state) = consent(&paycor, &start.url).await;
    let record = conns.complete_authorization(&state, &code).await.unwrap();
    assert_eq!(record.state, ConnectionState::Ready);
    (paycor, world_of(conns, store, dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paycor_compares_every_employee_and_reports_each_change_once() {
    let (paycor, world) = paycor_world().await;
    let state = paycor.state();
    let list = format!("/v1/legalentities/{DEMO_LEGAL_ENTITY}/employees");
    let ids = state.employee_ids(DEMO_LEGAL_ENTITY);
    let pages = ids
        .len()
        .div_ceil(paycor::Config::demo().employees_page_size);
    assert!(pages > 1, "the legal entity spans pages");

    let listed = world.listed("paycor").await;
    assert_eq!(listed["kind"], "polling");
    assert!(
        listed["event_schema"]["properties"]["positionData"].is_object(),
        "{listed}"
    );
    assert_eq!(
        listed["permissions"],
        json!(["view-legal-entity-employees"])
    );

    let sub = world.subs.create(feed("paycor")).await.unwrap().record;
    assert_eq!(sub.interval_seconds, 300, "the trigger's default");

    // The first poll reads every existing employee, every page, as the
    // baseline; none of them is reported.
    assert_eq!(world.poll(&sub.id).await, 0);
    assert_eq!(state.count("GET", &list), pages);
    let cursor = world.cursor(&sub.id).await;
    assert_eq!(cursor["n"], ids.len(), "one fingerprint per employee");

    // Polling again with no change: every employee read and compared,
    // nothing new. (Were the baseline missing anyone, they would be
    // reported now.)
    assert_eq!(world.poll(&sub.id).await, 0);
    assert_eq!(state.count("GET", &list), 2 * pages);
    assert!(world.events(&sub.id).await.is_empty());

    // A change upstream: one event, the employee as List Employees returns
    // it with include All.
    let retitled = &ids[7];
    let original = state.employee(retitled).unwrap()["PositionData"]["JobTitle"].clone();
    assert!(state.set_job_title(retitled, "Store Manager"));
    assert_eq!(world.poll(&sub.id).await, 1);
    let events = world.events(&sub.id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload["id"], retitled.as_str());
    assert_eq!(
        events[0].payload["positionData"]["jobTitle"],
        "Store Manager"
    );
    assert_eq!(
        events[0].payload["statusData"]["status"],
        state.employee(retitled).unwrap()["StatusData"]["Status"],
        "every part the app may see"
    );
    assert!(
        events[0].id.starts_with(&format!("{retitled}@")),
        "{}",
        events[0].id
    );

    // Polling again: compared, unchanged, nothing new.
    assert_eq!(world.poll(&sub.id).await, 0);

    // Paycor keeps no change time, so there is no watermark whose second
    // could hide a change: two changes made at once, right after a poll,
    // in its second, are both seen; the retitled employee changed back to
    // how it was is a change again, with a new id.
    assert!(state.set_job_title(retitled, original.as_str().unwrap()));
    let emailed = &ids[ids.len() - 1];
    assert!(state.set_work_email(emailed, "new.address@buckeye.example"));
    assert_eq!(world.poll(&sub.id).await, 2);
    assert_eq!(world.poll(&sub.id).await, 0);

    let events = world.events(&sub.id).await;
    assert_eq!(events.len(), 3);
    let retitles = for_employee(&events, retitled);
    assert_eq!(retitles.len(), 2);
    assert_eq!(retitles[1].payload["positionData"]["jobTitle"], original);
    assert_ne!(retitles[0].id, retitles[1].id);
    let emails = for_employee(&events, emailed);
    assert_eq!(emails.len(), 1);
    assert_eq!(
        emails[0].payload["email"]["emailAddress"],
        "new.address@buckeye.example"
    );

    world.polls_recorded(6).await;
}
