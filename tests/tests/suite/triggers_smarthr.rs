//! SmartHR's event cards end to end, by webhook: a real `cardhost serve`
//! on loopback takes the SmartHR emulator's deliveries at its hook URLs.
//!
//! - A hire in SmartHR arrives as an event without anyone polling: the
//!   connector registered the hook URL and token through SmartHR's API, the
//!   emulator delivered, the host verified `X-SmartHR-Token` and stored the
//!   event once (SmartHR's retries and a replayed delivery add nothing).
//! - A delivery without the token, or with another, is refused with 401 and
//!   never reaches the connector.
//! - SmartHR disables a webhook whose deliveries keep failing; the host's
//!   check shows it in SmartHR's words and resuming registers it afresh.
//! - A connection not granted webhook management gets the URL and token to
//!   paste into SmartHR's settings, and works once they are pasted.

use crate::common::*;
use cardhost::config::ServerConfig;
use cardhost::connections::{Connections, CreateConnection};
use cardhost::store::{
    ConnectionState, HistoryFilter, MasterKey, Mode, SqliteStore, Store, Target,
};
use cardhost::subscriptions::{
    CreateSubscription, FeedEvent, HookStatus, SubscriptionView, Subscriptions,
};
use cardhost::{Cardhost, NetworkPolicy, Route, Secret};
use cardhost_e2e::guests;
use cardhost_emulators::smarthr::{self, Config, DEMO_TOKENS, Environment, SmartHr};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const TENANT: &str = "acme";
const FULL: &str = DEMO_TOKENS[0].0;

struct World {
    smarthr: SmartHr,
    store: Arc<dyn Store>,
    subs: Subscriptions,
    conns: Arc<Connections>,
    server: cardhost::server::RunningServer,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let mut config = Config::new(TENANT, Environment::Production);
    config.rate_limits.truncate(1);
    // SmartHR's schedule, shortened: two retries, and a webhook disabled
    // after two failed deliveries in a row.
    config.webhook_retry_delays = vec![Duration::from_millis(20), Duration::from_millis(40)];
    config.webhook_disable_after = 2;
    let smarthr = smarthr::start(config).await.unwrap();
    let network = NetworkPolicy {
        routes: vec![Route {
            host: "*.smarthr.jp".into(),
            to: smarthr.url(),
        }],
        backoff_base_ms: 20,
        ..NetworkPolicy::loopback()
    };
    let limits = cardhost::Limits {
        deadline_ms: 30_000,
        ..test_limits()
    };
    let host = Arc::new(host_with(&[guests::SMARTHR], limits, network).await);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("cardhost.db"), vec![MasterKey::generate()]).unwrap(),
    );
    let conns = Arc::new(Connections::new(host, store.clone()));
    let server = cardhost::server::start(
        conns.clone(),
        store.clone(),
        ServerConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            max_concurrent_invocations: 8,
            ..ServerConfig::default()
        },
    )
    .await
    .unwrap();
    // The same store and public URL as the server: what the CLI does.
    let subs = Subscriptions::new(conns.clone()).with_public_url(server.url());
    World {
        smarthr,
        store,
        subs,
        conns,
        server,
        _dir: dir,
    }
}

impl World {
    /// A production connection named `name` with the full demo token;
    /// granted webhook management when `manage_webhooks`.
    async fn connect(&self, name: &str, manage_webhooks: bool) {
        let host: &Cardhost = self.conns.host();
        let mut grant = Cardhost::default_grant(host.registry().get("smarthr").unwrap());
        assert!(
            !grant.iter().any(|p| p == "webhooks-manage"),
            "not by default"
        );
        if manage_webhooks {
            grant.push("webhooks-manage".into());
        }
        self.conns
            .create(CreateConnection {
                connector: "smarthr".into(),
                name: name.into(),
                fields: json!({"account_type": "production", "tenant_id": TENANT}),
                secrets: BTreeMap::from([("access_token".to_string(), Secret::new(FULL))]),
                grant: Some(grant),
                auth_method: None,
            })
            .await
            .unwrap();
    }

    async fn subscribe(&self, connection: &str, trigger: &str) -> SubscriptionView {
        self.subs
            .create(CreateSubscription {
                connection: connection.into(),
                trigger: trigger.into(),
                interval_seconds: None,
                target: Target::Feed,
            })
            .await
            .unwrap()
    }

    /// Hires someone in SmartHR, through its API as a user's tool would.
    async fn hire(&self, last: &str, first: &str) -> String {
        let crew: Value = reqwest::Client::new()
            .post(format!("{}/api/v1/crews", self.smarthr.url()))
            .bearer_auth(FULL)
            .json(&json!({"last_name": last, "first_name": first}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        crew["id"].as_str().unwrap().to_string()
    }

    async fn events(&self, sub: &str) -> Vec<FeedEvent> {
        self.subs.events(sub, None, 1000).await.unwrap().events
    }

    /// Waits until subscription `sub` holds `n` events.
    async fn wait_for_events(&self, sub: &str, n: usize) -> Vec<FeedEvent> {
        for _ in 0..300 {
            let events = self.events(sub).await;
            if events.len() >= n {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "subscription {sub} holds {:?}, not {n} events; SmartHR sent {:#?}",
            self.events(sub).await,
            self.smarthr.state().webhook_deliveries()
        );
    }

    fn webhook_at(&self, url: &str) -> Option<Value> {
        self.smarthr
            .state()
            .webhooks()
            .into_iter()
            .find(|w| w["url"] == url)
    }
}

async fn post_hook(url: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(url).json(body);
    if let Some(token) = token {
        request = request.header("X-SmartHR-Token", token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smarthr_hire_arrives_by_webhook_verified_and_once() {
    let w = world().await;
    w.connect("smarthr", true).await;

    let triggers = w.subs.triggers("smarthr").await.unwrap();
    let kinds: BTreeMap<&str, &str> = triggers
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("employee-created", "polling+webhook"),
            ("employee-deleted", "webhook"),
            ("employee-updated", "polling+webhook"),
        ])
    );

    let sub = w.subscribe("smarthr", "employee-created").await;
    assert_eq!(sub.record.mode, Mode::Webhook);
    let hook = sub.hook.clone().expect("a webhook subscription has a hook");
    assert_eq!(
        hook.url,
        format!("{}/v1/hooks/{}", w.server.url(), sub.record.id)
    );
    assert_eq!(hook.header, "X-SmartHR-Token");
    let token = hook
        .token
        .clone()
        .expect("the token is in the create answer");
    let registration = hook.registration.clone().unwrap();
    assert_eq!(
        registration.status,
        HookStatus::Registered,
        "{registration:?}"
    );

    // The connector registered the URL and token for hires only.
    let registered = w.webhook_at(&hook.url).expect("registered with SmartHR");
    assert_eq!(registered["secret_token"], token.as_str());
    assert_eq!(registered["crew_created"], true);
    assert_eq!(registered["crew_updated"], false);
    assert_eq!(
        registration.registration.as_deref(),
        registered["id"].as_str()
    );
    // Shown once: the token is not in what anyone reads later.
    let shown = w.subs.show(&sub.record.id).await.unwrap();
    let text = serde_json::to_string(&shown).unwrap();
    assert!(!text.contains(&token), "{text}");
    assert_eq!(shown.hook.unwrap().url, hook.url);

    // A hire arrives as an event, by webhook (the poll beside it is 5
    // minutes away).
    let crew = w.hire("Sato", "Hana").await;
    let events = w.wait_for_events(&sub.record.id, 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, format!("{crew}@created"));
    assert_eq!(events[0].payload["last_name"], "Sato");
    assert_eq!(events[0].payload["id"], crew.as_str());
    let sent = w.smarthr.state().webhook_deliveries();
    assert!(sent.iter().all(|d| d.outcome.succeeded()), "{sent:#?}");

    // The same delivery again (a vendor's retry, or a replay) stores
    // nothing new.
    let body = json!({
        "event": "crew_created",
        "triggered_at": "2026-01-01T00:00:00Z",
        "sender": null,
        "crew": w.smarthr.state().crew(&crew).unwrap(),
    });
    let (status, answer) = post_hook(&hook.url, Some(&token), &body).await;
    assert_eq!((status, &answer["stored"]), (200, &json!(0)), "{answer}");

    // Unverified deliveries are refused before the connector sees them.
    let parses_before = parse_calls(&w, "trigger:employee-created").await;
    for wrong in [None, Some("not-the-token"), Some(&token[..token.len() - 1])] {
        let (status, answer) = post_hook(&hook.url, wrong, &body).await;
        assert_eq!(status, 401, "{wrong:?}: {answer}");
        assert_eq!(answer["error"]["code"], "unverified", "{answer}");
    }
    assert_eq!(
        parse_calls(&w, "trigger:employee-created").await,
        parses_before,
        "no unverified delivery reached the connector"
    );
    let (status, _) = post_hook(
        &format!("{}/v1/hooks/sub_000000000000000000000000", w.server.url()),
        Some(&token),
        &body,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(w.events(&sub.record.id).await.len(), 1);
    let metrics = w.server.metrics().render();
    assert!(
        metrics.contains("cardhost_rejected_total{reason=\"unverified-hook\"} 3"),
        "{metrics}"
    );

    // Deleting the subscription removes its registration from SmartHR.
    w.subs.delete(&sub.record.id).await.unwrap();
    assert!(w.webhook_at(&hook.url).is_none());
}

/// How many trigger calls the history holds for `card` (polls, registrations
/// and deliveries read).
async fn parse_calls(w: &World, card: &str) -> usize {
    w.store
        .history(&HistoryFilter {
            card: Some(card.into()),
            limit: Some(1000),
            ..HistoryFilter::default()
        })
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_smarthr_disabled_shows_and_resuming_registers_it_again() {
    let w = world().await;
    w.connect("smarthr", true).await;
    let sub = w.subscribe("smarthr", "employee-updated").await;
    let hook = sub.hook.clone().unwrap();
    let first = w.webhook_at(&hook.url).unwrap();

    // While the connection cannot be used, the host answers 503 and SmartHR
    // retries, then disables the webhook.
    let connection = sub.record.connection_id.clone();
    w.store
        .set_state(
            &connection,
            ConnectionState::NeedsReauthorization,
            Some("test: the token was revoked"),
        )
        .await
        .unwrap();
    let some = w.smarthr.state().crews()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for name in ["Ito", "Kato"] {
        patch_crew(&w, &some, name).await;
    }
    assert!(
        w.smarthr
            .state()
            .settle_webhooks(Duration::from_secs(20))
            .await
    );
    let disabled = w.webhook_at(&hook.url).unwrap();
    assert!(!disabled["disabled_at"].is_null(), "{disabled}");
    let sent = w.smarthr.state().webhook_deliveries();
    assert!(
        sent.iter()
            .all(|d| d.outcome == smarthr::DeliveryOutcome::Status(503)),
        "{sent:#?}"
    );

    // The host's check finds it disabled and says so.
    w.store
        .set_state(&connection, ConnectionState::Ready, None)
        .await
        .unwrap();
    let record = w.store.subscription(&sub.record.id).await.unwrap();
    let checked = w.subs.check_registration(&record).await.unwrap().unwrap();
    assert_eq!(checked.status, HookStatus::Failing);
    let why = checked.message.unwrap();
    assert!(why.contains("SmartHR disabled this webhook"), "{why}");

    // Resuming registers it afresh: the disabled one is removed, a new one
    // takes the next change.
    let resumed = w.subs.resume(&sub.record.id).await.unwrap();
    let registration = resumed.hook.unwrap().registration.unwrap();
    assert_eq!(
        registration.status,
        HookStatus::Registered,
        "{registration:?}"
    );
    let now = w.webhook_at(&hook.url).unwrap();
    assert_ne!(now["id"], first["id"]);
    assert!(now["disabled_at"].is_null());
    assert_eq!(w.smarthr.state().webhooks().len(), 1);
    patch_crew(&w, &some, "Mori").await;
    let events = w.wait_for_events(&sub.record.id, 1).await;
    assert_eq!(events[0].payload["last_name"], "Mori");
    let updated_at = w.smarthr.state().crew(&some).unwrap()["updated_at"].clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        events[0].id.starts_with(&format!("{some}@")),
        "{} / {updated_at}",
        events[0].id
    );

    // Deleting the connection over the API takes its subscription's
    // webhook off SmartHR too.
    let key =
        cardhost::server::keys::create(w.store.as_ref(), "admin", cardhost::store::Role::Admin)
            .await
            .unwrap()
            .key;
    let deleted = reqwest::Client::new()
        .delete(format!("{}/v1/connections/smarthr", w.server.url()))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert!(
        w.smarthr.state().webhooks().is_empty(),
        "{:?}",
        w.smarthr.state().webhooks()
    );
}

async fn patch_crew(w: &World, id: &str, last_name: &str) {
    reqwest::Client::new()
        .patch(format!("{}/api/v1/crews/{id}", w.smarthr.url()))
        .bearer_auth(FULL)
        .json(&json!({"last_name": last_name}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_right_the_hook_is_pasted_and_deletions_arrive() {
    let w = world().await;
    w.connect("smarthr", false).await;

    // A webhook-only trigger needs a public URL.
    let bare = Subscriptions::new(w.conns.clone());
    let err = bare
        .create(CreateSubscription {
            connection: "smarthr".into(),
            trigger: "employee-deleted".into(),
            interval_seconds: None,
            target: Target::Feed,
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.public_url"), "{err}");

    let sub = w.subscribe("smarthr", "employee-deleted").await;
    let hook = sub.hook.clone().unwrap();
    let registration = hook.registration.clone().unwrap();
    assert_eq!(registration.status, HookStatus::Manual, "{registration:?}");
    let why = registration.message.unwrap();
    assert!(why.contains("paste the hook URL and token"), "{why}");
    assert!(w.smarthr.state().webhooks().is_empty());

    // The user pastes the URL and token into SmartHR's settings.
    let token = hook.token.unwrap();
    reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks", w.smarthr.url()))
        .bearer_auth(FULL)
        .json(&json!({
            "url": hook.url,
            "secret_token": token,
            "crew_deleted": true,
            "crew_updated": true,
        }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    // A deletion arrives; the update sent to the same hook is not this
    // trigger's and adds nothing.
    let crew = w.smarthr.state().crews()[3].clone();
    let id = crew["id"].as_str().unwrap();
    patch_crew(&w, id, "Ueda").await;
    reqwest::Client::new()
        .delete(format!("{}/api/v1/crews/{id}", w.smarthr.url()))
        .bearer_auth(FULL)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let events = w.wait_for_events(&sub.record.id, 1).await;
    assert!(
        w.smarthr
            .state()
            .settle_webhooks(Duration::from_secs(20))
            .await
    );
    let events_after = w.events(&sub.record.id).await;
    assert_eq!(events_after.len(), 1, "{events_after:?}");
    assert_eq!(events[0].id, format!("{id}@deleted"));
    assert_eq!(events[0].payload["id"], id);
    assert_eq!(events[0].payload["last_name"], "Ueda");
}
