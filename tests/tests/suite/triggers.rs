//! Event cards end to end: a subscription to Fourth SCIM's `user-changed`
//! over a stored connection, polled by the host against the SCIM emulator.
//! What the feed holds is checked against the emulator's own users.

use crate::common::*;
use cardhost::connections::{ConnectionError, Connections, CreateConnection};
use cardhost::store::{
    ConnectionState, HistoryFilter, MasterKey, SqliteStore, Store, SubscriptionState, Target,
};
use cardhost::subscriptions::{CreateSubscription, Polled, Subscriptions};
use cardhost::{NetworkPolicy, Secret};
use cardhost_e2e::guests;
use cardhost_emulators::scim::{self, DEMO_CLIENTS};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const PARTNER: &str = "harbourvine-partner";

struct World {
    demo: scim::Demo,
    store: Arc<dyn Store>,
    subs: Arc<Subscriptions>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let demo = scim::start_demo(0, 0).await.unwrap();
    let limits = cardhost::Limits {
        deadline_ms: 20_000,
        ..test_limits()
    };
    let host = Arc::new(host_with(&[guests::FOURTH_SCIM], limits, NetworkPolicy::loopback()).await);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("cardhost.db"), vec![MasterKey::generate()]).unwrap(),
    );
    let conns = Arc::new(Connections::new(host, store.clone()));
    let secret = DEMO_CLIENTS
        .iter()
        .find(|(id, _, _)| *id == PARTNER)
        .map(|(_, s, _)| *s)
        .unwrap();
    conns
        .create(CreateConnection {
            connector: "fourth-scim".into(),
            name: "fourth".into(),
            fields: json!({
                "base_url": demo.api.base_url(),
                "token_url": demo.identity.token_url(),
                "client_id": PARTNER,
                "scope": "scim",
            }),
            secrets: BTreeMap::from([("client_secret".to_string(), Secret::new(secret))]),
            grant: None,
            auth_method: None,
        })
        .await
        .unwrap();
    World {
        demo,
        store,
        subs: Arc::new(Subscriptions::new(conns)),
        _dir: dir,
    }
}

fn feed(trigger: &str, interval: Option<u32>) -> CreateSubscription {
    CreateSubscription {
        connection: "fourth".into(),
        trigger: trigger.into(),
        interval_seconds: interval,
        target: Target::Feed,
    }
}

/// Retitles a user in the emulator, as an edit in Fourth would.
fn retitle(world: &World, id: &str, title: &str) {
    assert!(world.demo.api.state().update_user(id, |u| {
        u.insert("title".into(), json!(title));
    }));
}

fn user_ids(world: &World, n: usize) -> Vec<String> {
    world
        .demo
        .api
        .state()
        .users()
        .iter()
        .take(n)
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_changed_reports_each_change_once_in_order() {
    let world = world().await;

    // The catalog names the trigger with its event schema.
    let triggers = world.subs.triggers("fourth").await.unwrap();
    let t = triggers
        .iter()
        .find(|t| t["id"] == "user-changed")
        .expect("user-changed is listed");
    assert_eq!(t["kind"], "polling");
    assert_eq!(t["event_schema"]["type"], "object");
    assert!(
        t["event_schema"]["properties"]["fourth_account_id"].is_object(),
        "{t}"
    );

    // Bad requests are named.
    let err = world
        .subs
        .create(feed("user-chnaged", None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("user-changed"), "{err}");
    let err = world
        .subs
        .create(feed("user-changed", Some(5)))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectionError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("interval_seconds"), "{err}");

    let sub = world.subs.create(feed("user-changed", None)).await.unwrap();
    assert_eq!(sub.record.interval_seconds, 300, "the trigger's default");
    assert_eq!(sub.connector, "fourth-scim");

    // The first poll sets the cursor at the present and reports nothing
    // that happened before the subscription.
    let polled = world.subs.poll(&sub.record).await.unwrap();
    assert_eq!(polled, Polled::Committed { stored: 0 });
    let now = world.store.subscription(&sub.record.id).await.unwrap();
    assert!(now.cursor.is_some());
    assert!(
        now.next_poll_at_ms > cardhost::store::now_ms() + 250_000,
        "{now:?}"
    );

    // A change upstream: one event, the user as Read User returns it.
    let ids = user_ids(&world, 3);
    retitle(&world, &ids[0], "Head Concierge");
    let polled = world.subs.poll(&now).await.unwrap();
    assert_eq!(polled, Polled::Committed { stored: 1 });
    let page = world.subs.events(&sub.record.id, None, 100).await.unwrap();
    assert_eq!(page.events.len(), 1);
    let event = &page.events[0];
    assert_eq!(event.payload["fourth_account_id"], ids[0].as_str());
    assert_eq!(event.payload["job_title"], "Head Concierge");
    let upstream = world.demo.api.state().user(&ids[0]).unwrap();
    let modified = upstream["meta"]["lastModified"].as_str().unwrap();
    assert_eq!(event.id, format!("{}@{modified}", ids[0]));
    assert_eq!(page.next, "1");

    // Polling again reads that user again (the watermark stays behind the
    // walk's start), and the copy is dropped.
    let now = world.store.subscription(&sub.record.id).await.unwrap();
    assert_eq!(
        world.subs.poll(&now).await.unwrap(),
        Polled::Committed { stored: 0 }
    );

    // Two more users change: two events, after the first.
    retitle(&world, &ids[1], "Sous Chef");
    retitle(&world, &ids[2], "Night Manager");
    let now = world.store.subscription(&sub.record.id).await.unwrap();
    assert_eq!(
        world.subs.poll(&now).await.unwrap(),
        Polled::Committed { stored: 2 }
    );
    let rest = world
        .subs
        .events(&sub.record.id, Some("1"), 100)
        .await
        .unwrap();
    let mut changed: Vec<_> = rest
        .events
        .iter()
        .map(|e| e.payload["fourth_account_id"].as_str().unwrap().to_string())
        .collect();
    changed.sort();
    let mut expected = vec![ids[1].clone(), ids[2].clone()];
    expected.sort();
    assert_eq!(changed, expected);
    assert_eq!(rest.next, "3");
    // Paging by the cursor a page gave.
    let first = world.subs.events(&sub.record.id, None, 2).await.unwrap();
    assert_eq!(first.events.len(), 2);
    let second = world
        .subs
        .events(&sub.record.id, Some(&first.next), 2)
        .await
        .unwrap();
    assert_eq!(second.events.len(), 1);
    assert_eq!(second.events[0].seq, 3);
    let err = world
        .subs
        .events(&sub.record.id, Some("yesterday"), 2)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`after`"), "{err}");

    // Every poll is in the history.
    let polls = world
        .store
        .history(&HistoryFilter {
            card: Some("trigger:user-changed".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(polls.len(), 4, "{polls:?}");
    assert!(polls.iter().all(|p| p.outcome == "ok"), "{polls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_polls_back_off_and_a_connection_needing_reauthorization_pauses_them() {
    let world = world().await;
    let sub = world
        .subs
        .create(feed("user-changed", Some(30)))
        .await
        .unwrap()
        .record;
    world.subs.poll(&sub).await.unwrap();
    let before = world.store.subscription(&sub.id).await.unwrap();

    // The upstream fails: the cursor stays, the failure is counted and
    // the next poll waits at least the interval.
    world.demo.api.state().fail_next(50, 500);
    let polled = world.subs.poll(&before).await.unwrap();
    assert_eq!(polled, Polled::Failed);
    let failed = world.store.subscription(&sub.id).await.unwrap();
    assert_eq!(failed.failures, 1);
    assert_eq!(failed.cursor, before.cursor);
    assert_eq!(failed.cursor_version, before.cursor_version);
    assert!(
        failed.last_error.as_deref().unwrap_or("").contains("500"),
        "{failed:?}"
    );
    assert!(
        failed.next_poll_at_ms >= cardhost::store::now_ms() + 29_000,
        "{failed:?}"
    );
    world.demo.api.state().faults().clear();

    // The connection needs reauthorization: the subscription says so and
    // waits; once the connection is ready the scheduler resumes and polls it.
    let connection = world.store.connection("fourth").await.unwrap();
    world
        .store
        .set_state(
            &connection.id,
            ConnectionState::NeedsReauthorization,
            Some("the client secret was rotated"),
        )
        .await
        .unwrap();
    assert_eq!(world.subs.poll(&failed).await.unwrap(), Polled::Paused);
    let paused = world.store.subscription(&sub.id).await.unwrap();
    assert_eq!(paused.state, SubscriptionState::NeedsReauthorization);
    assert!(
        paused
            .state_message
            .as_deref()
            .unwrap_or("")
            .contains("the client secret was rotated"),
        "{paused:?}"
    );
    world
        .store
        .set_state(&connection.id, ConnectionState::Ready, None)
        .await
        .unwrap();
    let ids = user_ids(&world, 1);
    retitle(&world, &ids[0], "General Manager");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(world.subs.clone().run(stopped));
    let mut resumed = None;
    for _ in 0..100 {
        let s = world.store.subscription(&sub.id).await.unwrap();
        if s.state == SubscriptionState::Active && s.last_seq == 1 {
            resumed = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resumed = resumed.expect("the scheduler resumed the subscription and polled it");
    assert_eq!(resumed.failures, 0);
    let events = world.subs.events(&sub.id, None, 10).await.unwrap().events;
    assert_eq!(events[0].payload["job_title"], "General Manager");
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), scheduler)
        .await
        .expect("the scheduler stops when told")
        .unwrap();
}

/// A webhook target on loopback: answers 503 while down, keeps what it
/// took while up.
#[derive(Default)]
struct Receiver {
    up: std::sync::atomic::AtomicBool,
    attempts: std::sync::atomic::AtomicUsize,
    /// (signature header, body) of each delivery taken.
    taken: std::sync::Mutex<Vec<(String, Vec<u8>)>>,
}

impl Receiver {
    async fn start() -> (Arc<Self>, String) {
        use axum::http::{HeaderMap, StatusCode};
        let receiver = Arc::new(Self::default());
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/in",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    state
                        .attempts
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if !state.up.load(std::sync::atomic::Ordering::SeqCst) {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let signature = headers
                        .get("cardhost-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    state.taken.lock().unwrap().push((signature, body.to_vec()));
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/in", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
    }

    /// The event ids taken, in order, each signature checked.
    fn taken_ids(&self, secret: &str) -> Vec<String> {
        let now = cardhost::store::now_secs();
        self.taken
            .lock()
            .unwrap()
            .iter()
            .map(|(signature, body)| {
                cardhost::subscriptions::verify_signature(secret, signature, body, now)
                    .unwrap_or_else(|e| panic!("{e}: {signature}"));
                let body: serde_json::Value = serde_json::from_slice(body).unwrap();
                assert_eq!(body["trigger"], "user-changed");
                body["event"]["id"].as_str().unwrap().to_string()
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_target_gets_every_event_signed_in_order_through_an_outage() {
    let world = world().await;
    let (receiver, url) = Receiver::start().await;

    // A target the host would never post to is refused up front.
    for (bad, says) in [
        ("not a url", "not a URL"),
        ("ftp://127.0.0.1/in", "ftp"),
        ("https://user:pw@flows.example/in", "user info"),
    ] {
        let err = world
            .subs
            .create(CreateSubscription {
                target: Target::Webhook { url: bad.into() },
                ..feed("user-changed", None)
            })
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("target.url") && err.to_string().contains(says),
            "{bad}: {err}"
        );
    }
    let sub = world
        .subs
        .create(CreateSubscription {
            target: Target::Webhook { url: url.clone() },
            ..feed("user-changed", None)
        })
        .await
        .unwrap();
    let secret = sub.signing_secret.clone().expect("shown when created");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let shown = world.subs.show(&sub.record.id).await.unwrap();
    assert!(shown.signing_secret.is_none(), "shown once only");
    assert_eq!(shown.dead_letters, Some(0));
    let id = sub.record.id.clone();

    world.subs.poll(&sub.record).await.unwrap();
    let ids = user_ids(&world, 4);
    for (user, title) in ids.iter().zip(["Porter", "Sommelier", "Pastry Chef"]) {
        retitle(&world, user, title);
    }
    let now = world.store.subscription(&id).await.unwrap();
    assert_eq!(
        world.subs.poll(&now).await.unwrap(),
        Polled::Committed { stored: 3 }
    );
    let feed_ids: Vec<String> = world
        .subs
        .events(&id, None, 100)
        .await
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.id)
        .collect();

    // The target is down: the first event waits, nothing is skipped.
    let now = world.store.subscription(&id).await.unwrap();
    let done = world.subs.deliver(&now).await.unwrap();
    assert_eq!(done.delivered, 0);
    assert!(done.failed.unwrap().contains("503"));
    let now = world.store.subscription(&id).await.unwrap();
    assert_eq!((now.delivered_seq, now.delivery_attempts), (0, 1));
    assert!(now.next_delivery_at_ms.unwrap() > cardhost::store::now_ms());
    // It comes back: everything arrives, in order, signed.
    receiver.set_up(true);
    let done = world.subs.deliver(&now).await.unwrap();
    assert_eq!((done.delivered, done.failed), (3, None));
    assert_eq!(receiver.taken_ids(&secret), feed_ids);
    let now = world.store.subscription(&id).await.unwrap();
    assert_eq!(
        (
            now.delivered_seq,
            now.delivery_attempts,
            &now.delivery_error
        ),
        (3, 0, &None)
    );

    // Down for good: after the last attempt the event is a dead letter.
    receiver.set_up(false);
    retitle(&world, &ids[3], "Head Porter");
    assert_eq!(
        world.subs.poll(&now).await.unwrap(),
        Polled::Committed { stored: 1 }
    );
    for _ in 0..cardhost::subscriptions::MAX_DELIVERY_ATTEMPTS {
        let now = world.store.subscription(&id).await.unwrap();
        world.subs.deliver(&now).await.unwrap();
    }
    let dead = world.subs.dead_letters(&id).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].reason.contains("503"), "{}", dead[0].reason);
    assert_eq!(world.subs.show(&id).await.unwrap().dead_letters, Some(1));

    // Redelivered once the target is back, by the scheduler on its own.
    receiver.set_up(true);
    assert_eq!(world.subs.redeliver(&id, None).await.unwrap(), 1);
    let err = world.subs.redeliver(&id, Some(99)).await.unwrap_err();
    assert!(err.to_string().contains("from_seq"), "{err}");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(world.subs.clone().run(stop_rx));
    let mut taken = Vec::new();
    for _ in 0..100 {
        taken = receiver.taken_ids(&secret);
        if taken.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop_tx.send(true).unwrap();
    scheduler.await.unwrap();
    assert_eq!(taken.len(), 4, "{taken:?}");
    assert_eq!(taken[3], dead[0].event.id);
    assert!(world.subs.dead_letters(&id).await.unwrap().is_empty());
}
