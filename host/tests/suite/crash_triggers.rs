//! Event cards through a crash: the real `cardhost serve` on the embedded
//! SQLite store is killed with SIGKILL while it polls Fourth SCIM's
//! `user-changed`, and while it delivers to a webhook target, then started
//! again on the same data directory. The promise checked: no event is lost
//! and none is delivered under a new id.
//!
//! A killed node leaves its work lease behind (`poll:{id}`, `deliver:{id}`,
//! 30 seconds unless renewed). The restarted node has the name it had —
//! kept in its data directory — so it takes that work back at once rather
//! than waiting for the lease to run out: the tests wait less than a lease
//! for the restarted node to finish the work.

use crate::common;

use cardhost::store::{Role, Store};
use cardhost_emulators::faults::Fault;
use cardhost_emulators::scim::{self, DEMO_CLIENTS};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The Fourth client the connection uses (read scope).
const PARTNER: &str = "harbourvine-partner";
/// The smallest interval `user-changed` allows.
const INTERVAL_SECONDS: u32 = 30;
/// How long any one wait may take.
const DEADLINE: Duration = Duration::from_secs(60);
/// How long the restarted node may take to resume the killed node's work:
/// less than a work lease (30 s), so waiting for it to run out fails.
const RESUME_DEADLINE: Duration = Duration::from_secs(25);
/// The holder name these tests probe leases with.
const PROBE: &str = "crash-test-probe";

/// One `cardhost serve` process.
struct Node {
    child: Child,
    url: String,
    stderr: Option<std::thread::JoinHandle<String>>,
    killed: bool,
}

impl Node {
    /// SIGKILL (what `Child::kill` sends on unix), and reaps it.
    fn kill_9(&mut self) {
        self.child.kill().expect("the node can be killed");
        let status = self.child.wait().unwrap();
        assert!(status.code().is_none(), "killed by a signal: {status}");
        self.killed = true;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(stderr) = self.stderr.take()
            && std::thread::panicking()
        {
            let how = if self.killed { " (killed)" } else { "" };
            eprintln!(
                "--- node {}{how} stderr\n{}",
                self.url,
                stderr.join().unwrap_or_default()
            );
        }
    }
}

/// The Fourth emulators, a directory with a configuration that loads only
/// Fourth SCIM and allows loopback, the data directory's store (opened by
/// this process too, as a second process on it would) and an admin key.
struct World {
    demo: scim::Demo,
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    admin: String,
    http: reqwest::Client,
}

impl World {
    async fn start() -> World {
        let demo = scim::start_demo(0, 0).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let connectors = dir.path().join("connectors");
        std::fs::create_dir_all(&connectors).unwrap();
        std::fs::copy(
            cardhost_e2e::guests::FOURTH_SCIM,
            connectors.join("fourth_scim.wasm"),
        )
        .unwrap();
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
        // `--allow-loopback` in the configuration file's words.
        std::fs::write(
            dir.path().join("cardhost.toml"),
            format!(
                "builtin_connectors = false\nconnectors_dir = {:?}\ncache_dir = {:?}\n\n\
                 [network]\nallow_http = true\nallow_ranges = [\"127.0.0.0/8\", \"::1/128\"]\n",
                connectors.display().to_string(),
                cache.display().to_string()
            ),
        )
        .unwrap();
        let (store, _) = cardhost::store::open_in(&dir.path().join("data"))
            .await
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let admin = cardhost::server::keys::create(store.as_ref(), "crash", Role::Admin)
            .await
            .unwrap()
            .key;
        World {
            demo,
            dir,
            store,
            admin,
            http: reqwest::Client::new(),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts `cardhost serve` on the data directory.
    fn serve(&self) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cardhost"));
        cmd.arg("--config")
            .arg(self.dir.path().join("cardhost.toml"))
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null());
        for var in [
            "CARDHOST_CONFIG",
            "CARDHOST_DATA_DIR",
            "CARDHOST_DATABASE_URL",
            "CARDHOST_MASTER_KEY",
            "CARDHOST_CONNECTORS_DIR",
            "CARDHOST_LISTEN",
            "CARDHOST_PUBLIC_URL",
            "CARDHOST_OTLP_ENDPOINT",
            "CARDHOST_LOG_FORMAT",
        ] {
            cmd.env_remove(var);
        }
        // Waits for the line that announces the URL.
        let (child, url, stderr) = tokio::task::block_in_place(|| common::spawn_serve(&mut cmd));
        Node {
            child,
            url,
            stderr: Some(stderr),
            killed: false,
        }
    }

    async fn call(&self, node: &Node, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", node.url))
            .bearer_auth(&self.admin);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The connection `fourth`, over HTTP.
    async fn create_connection(&self, node: &Node) {
        let secret = DEMO_CLIENTS
            .iter()
            .find(|(id, _, _)| *id == PARTNER)
            .map(|(_, s, _)| *s)
            .unwrap();
        let created = self
            .call(
                node,
                "POST",
                "/v1/connections",
                Some(json!({
                    "connector": "fourth-scim",
                    "name": "fourth",
                    "fields": {
                        "base_url": self.demo.api.base_url(),
                        "token_url": self.demo.identity.token_url(),
                        "client_id": PARTNER,
                        "scope": "scim",
                    },
                    "secrets": {"client_secret": secret},
                })),
            )
            .await;
        assert_eq!(created["name"], "fourth", "{created}");
    }

    /// A `user-changed` subscription on `fourth` polled as often as the
    /// trigger allows; the view the creating answer gives.
    async fn subscribe(&self, node: &Node, target: Value) -> Value {
        self.call(
            node,
            "POST",
            "/v1/subscriptions",
            Some(json!({
                "connection": "fourth",
                "trigger": "user-changed",
                "interval_seconds": INTERVAL_SECONDS,
                "target": target,
            })),
        )
        .await
    }

    /// Makes the subscription due now, through the API: a resumed
    /// subscription polls at once.
    async fn poll_now(&self, node: &Node, id: &str) {
        let paused = self
            .call(node, "POST", &format!("/v1/subscriptions/{id}/pause"), None)
            .await;
        assert_eq!(paused["state"], "paused", "{paused}");
        let resumed = self
            .call(
                node,
                "POST",
                &format!("/v1/subscriptions/{id}/resume"),
                None,
            )
            .await;
        assert_eq!(resumed["state"], "active", "{resumed}");
    }

    /// The whole feed, page by page, over HTTP.
    async fn feed(&self, node: &Node, id: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut after = String::new();
        loop {
            let page = self
                .call(
                    node,
                    "GET",
                    &format!("/v1/subscriptions/{id}/events?after={after}&limit=2"),
                    None,
                )
                .await;
            let got = page["events"].as_array().unwrap().clone();
            if got.is_empty() {
                return events;
            }
            events.extend(got);
            after = page["next"].as_str().unwrap().to_string();
        }
    }

    async fn record(&self, id: &str) -> cardhost::store::SubscriptionRecord {
        self.store.subscription(id).await.unwrap()
    }

    fn user_ids(&self, n: usize) -> Vec<String> {
        self.demo
            .api
            .state()
            .users()
            .iter()
            .take(n)
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Retitles a user as an edit in Fourth would; the id of the event
    /// that change is (`{id}@{lastModified}`).
    fn retitle(&self, id: &str, title: &str) -> String {
        let state = self.demo.api.state();
        assert!(state.update_user(id, |u| {
            u.insert("title".into(), json!(title));
        }));
        let user = state.user(id).unwrap();
        format!("{id}@{}", user["meta"]["lastModified"].as_str().unwrap())
    }
}

/// After a node was killed holding `{work}:{subscription}`: checks that the
/// lease is still held (no other node may take it yet), so the restarted
/// node can only resume within [`RESUME_DEADLINE`] by being the same node.
async fn dead_node_holds(world: &World, subscription: &str, work: &str) -> Duration {
    let held = format!("{work}:{subscription}");
    assert!(
        !world.store.take_work_lease(&held, PROBE, 1).await.unwrap(),
        "the killed node's `{held}` lease should still be held"
    );
    RESUME_DEADLINE
}

/// Calls `check` every 100 ms until it gives a value, failing after
/// `deadline`.
async fn wait_for<T>(
    what: &str,
    deadline: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "waited {deadline:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_a_poll_loses_no_change_and_repeats_no_id() {
    let world = World::start().await;
    let mut first = world.serve();
    world.create_connection(&first).await;
    let sub = world.subscribe(&first, json!({"kind": "feed"})).await;
    let id = sub["id"].as_str().unwrap().to_string();

    // The first poll sets the cursor at the present.
    let start = wait_for("the first poll", DEADLINE, async || {
        let record = world.record(&id).await;
        record.cursor.is_some().then_some(record)
    })
    .await;
    assert_eq!(start.last_seq, 0);

    // Two users change; the next poll's first request to Fourth is held, so
    // the node is killed with that poll in flight.
    let users = world.user_ids(3);
    let mut expected = BTreeSet::from([
        world.retitle(&users[0], "Head Concierge"),
        world.retitle(&users[1], "Sous Chef"),
    ]);
    let faults = world.demo.api.state().faults();
    faults.push(Fault::delay(Duration::from_secs(600)));
    world.poll_now(&first, &id).await;
    wait_for("the poll's request to reach Fourth", DEADLINE, async || {
        faults.is_empty().then_some(())
    })
    .await;
    first.kill_9();

    // The killed poll committed nothing; one more user changes while the
    // node is down.
    let killed = world.record(&id).await;
    assert_eq!(
        (&killed.cursor, killed.cursor_version, killed.last_seq),
        (&start.cursor, start.cursor_version, 0),
        "{killed:?}"
    );
    expected.insert(world.retitle(&users[2], "Night Manager"));

    let deadline = dead_node_holds(&world, &id, "poll").await;
    let second = world.serve();
    let restarted = Instant::now();
    wait_for("every change in the feed", deadline, async || {
        (world.feed(&second, &id).await.len() >= expected.len()).then_some(())
    })
    .await;
    eprintln!("the restarted node polled after {:?}", restarted.elapsed());

    // One more poll reads those users again (the watermark stays behind the
    // walk's start): their ids repeat, so nothing is added.
    let version = world.record(&id).await.cursor_version;
    world.poll_now(&second, &id).await;
    wait_for("one more poll", DEADLINE, async || {
        (world.record(&id).await.cursor_version > version).then_some(())
    })
    .await;

    let events = world.feed(&second, &id).await;
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let unique: BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
    assert_eq!(unique.len(), ids.len(), "an id repeats: {ids:?}");
    assert_eq!(unique, expected, "one event per change, none missing");
    assert_eq!(seqs, [1, 2, 3], "{events:?}");
    let titles: BTreeMap<&str, &str> = events
        .iter()
        .map(|e| {
            (
                e["payload"]["fourth_account_id"].as_str().unwrap(),
                e["payload"]["job_title"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        titles,
        BTreeMap::from([
            (users[0].as_str(), "Head Concierge"),
            (users[1].as_str(), "Sous Chef"),
            (users[2].as_str(), "Night Manager"),
        ])
    );
    let last = world.record(&id).await;
    assert_eq!((last.last_seq, last.failures), (3, 0), "{last:?}");
}

/// One request the webhook target received.
#[derive(Debug, Clone)]
struct Delivery {
    /// `cardhost-event-id`.
    event_id: String,
    /// `cardhost-subscription`.
    subscription: String,
    /// `cardhost-signature`.
    signature: String,
    body: Vec<u8>,
    /// Whether the target held it and never answered.
    held: bool,
}

impl Delivery {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn seq(&self) -> i64 {
        self.json()["event"]["seq"].as_i64().unwrap()
    }
}

/// A webhook target on loopback that keeps every request, holds the first
/// one without ever answering and takes (204) the rest.
struct Receiver {
    url: String,
    hold_next: Arc<AtomicBool>,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        use axum::http::{HeaderMap, StatusCode};
        let hold_next = Arc::new(AtomicBool::new(true));
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let (hold, kept) = (hold_next.clone(), deliveries.clone());
        let app = axum::Router::new().route(
            "/in",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (hold, kept) = (hold.clone(), kept.clone());
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    let held = hold.swap(false, Ordering::SeqCst);
                    kept.lock().unwrap().push(Delivery {
                        event_id: header("cardhost-event-id"),
                        subscription: header("cardhost-subscription"),
                        signature: header(cardhost::subscriptions::SIGNATURE_HEADER),
                        body: body.to_vec(),
                        held,
                    });
                    if held {
                        std::future::pending::<()>().await;
                    }
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/in", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            url,
            hold_next,
            deliveries,
        }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_a_delivery_redelivers_under_the_same_id() {
    let world = World::start().await;
    let receiver = Receiver::start().await;
    let mut first = world.serve();
    world.create_connection(&first).await;
    let sub = world
        .subscribe(&first, json!({"kind": "webhook", "url": receiver.url}))
        .await;
    let id = sub["id"].as_str().unwrap().to_string();
    let secret = sub["signing_secret"].as_str().unwrap().to_string();
    wait_for("the first poll", DEADLINE, async || {
        world.record(&id).await.cursor.map(|_| ())
    })
    .await;

    // Three users change; the next poll stores three events and the node
    // posts the first to the target, which holds it: the node is killed
    // mid-delivery.
    let users = world.user_ids(3);
    let expected = BTreeSet::from([
        world.retitle(&users[0], "Porter"),
        world.retitle(&users[1], "Sommelier"),
        world.retitle(&users[2], "Pastry Chef"),
    ]);
    world.poll_now(&first, &id).await;
    wait_for("the target to hold a delivery", DEADLINE, async || {
        (!receiver.hold_next.load(Ordering::SeqCst)).then_some(())
    })
    .await;
    first.kill_9();

    let killed = world.record(&id).await;
    assert_eq!(
        (
            killed.last_seq,
            killed.delivered_seq,
            killed.delivery_attempts
        ),
        (3, 0, 0),
        "{killed:?}"
    );
    let stored: Vec<(String, i64)> = world
        .store
        .events(&id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e.seq))
        .collect();
    assert_eq!(
        stored
            .iter()
            .map(|(e, _)| e.clone())
            .collect::<BTreeSet<_>>(),
        expected
    );
    let held = receiver.deliveries();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        (held[0].event_id.clone(), held[0].seq()),
        stored[0].clone(),
        "the oldest event was the one in flight"
    );

    let deadline = dead_node_holds(&world, &id, "deliver").await;
    let _second = world.serve();
    let restarted = Instant::now();
    wait_for("every event delivered", deadline, async || {
        (world.record(&id).await.delivered_seq == 3).then_some(())
    })
    .await;
    eprintln!(
        "the restarted node delivered after {:?}",
        restarted.elapsed()
    );

    let deliveries = receiver.deliveries();
    let now = cardhost::store::now_secs();
    for d in &deliveries {
        cardhost::subscriptions::verify_signature(&secret, &d.signature, &d.body, now)
            .unwrap_or_else(|e| panic!("{e}: {d:?}"));
        let body = d.json();
        assert_eq!(d.subscription, id);
        assert_eq!(body["subscription"], id.as_str());
        assert_eq!(body["trigger"], "user-changed");
        assert_eq!(body["connection"], sub["connection_id"], "{body}");
        assert_eq!(body["event"]["id"], d.event_id.as_str(), "{body}");
    }
    let got: Vec<(String, i64)> = deliveries
        .iter()
        .map(|d| (d.event_id.clone(), d.seq()))
        .collect();
    let held: Vec<bool> = deliveries.iter().map(|d| d.held).collect();
    // The held event again, under its id and seq, then the rest in order,
    // each once.
    let mut want = vec![stored[0].clone()];
    want.extend(stored.iter().cloned());
    assert_eq!(got, want, "{deliveries:?}");
    assert_eq!(held, [true, false, false, false]);
    let mut seq_of = BTreeMap::new();
    let mut id_of = BTreeMap::new();
    for (event, seq) in &got {
        assert_eq!(
            *seq_of.entry(event.clone()).or_insert(*seq),
            *seq,
            "{got:?}"
        );
        assert_eq!(
            *id_of.entry(*seq).or_insert(event.clone()),
            *event,
            "{got:?}"
        );
    }
    let last = world.record(&id).await;
    assert_eq!(
        (last.delivery_attempts, &last.delivery_error),
        (0, &None),
        "{last:?}"
    );
}
