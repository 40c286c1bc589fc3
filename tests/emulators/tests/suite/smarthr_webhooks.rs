//! The SmartHR emulator's webhooks over HTTP: their endpoints and rights,
//! and crew events delivered to real receivers on loopback, with the token
//! header, retries, disabling after failures and re-enabling.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use cardhost_emulators::Server;
use cardhost_emulators::smarthr::{
    self, Access, Config, DEMO_TENANT, DEMO_TOKENS, DeliveryOutcome, Environment, Resource,
    SmartHr, Token,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

fn token(name: &str) -> &'static str {
    DEMO_TOKENS
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(value, _)| *value)
        .unwrap()
}

fn full() -> Option<&'static str> {
    Some(token("full"))
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

/// Sends a request as the host would after routing: to the emulator's
/// address, with the tenant's name in `Host`.
async fn call(
    api: &SmartHr,
    method: Method,
    path_and_query: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path_and_query}", api.url()))
        .header("host", api.state().host());
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// The demo tenant with only the hourly limit, and retries tens of
/// milliseconds apart: three attempts per delivery, disabled after two
/// failed deliveries.
fn config() -> Config {
    let mut config = Config::new(DEMO_TENANT, Environment::Production);
    config.rate_limits.truncate(1);
    config.webhook_retry_delays = vec![Duration::from_millis(20), Duration::from_millis(40)];
    config.webhook_disable_after = 2;
    config.webhook_timeout = Duration::from_secs(2);
    config
}

async fn start(config: Config) -> SmartHr {
    smarthr::start(config).await.unwrap()
}

/// Registers a webhook with the full token; returns its record.
async fn register(api: &SmartHr, body: Value) -> Value {
    let answer = call(api, Method::POST, "/api/v1/webhooks", full(), Some(body)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body
}

async fn create_crew(api: &SmartHr, code: &str) -> Value {
    let answer = call(
        api,
        Method::POST,
        "/api/v1/crews",
        full(),
        Some(json!({"last_name": "山田", "first_name": "花子", "emp_code": code})),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body
}

async fn update_crew(api: &SmartHr, id: &str, body: Value) -> Value {
    let answer = call(
        api,
        Method::PATCH,
        &format!("/api/v1/crews/{id}"),
        full(),
        Some(body),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Hit {
    token: Option<String>,
    content_type: Option<String>,
    body: Value,
}

#[derive(Clone)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Hit>>>,
    status: Arc<AtomicU16>,
    /// When set, each request waits for a permit before it is answered.
    gate: Option<Arc<Semaphore>>,
}

/// A webhook receiver on loopback: records every request, answers
/// `status`.
struct Receiver {
    server: Server,
    state: ReceiverState,
}

impl Receiver {
    async fn start(status: u16) -> Self {
        Self::with_gate(status, None).await
    }

    async fn with_gate(status: u16, gate: Option<Arc<Semaphore>>) -> Self {
        async fn receive(
            State(state): State<ReceiverState>,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            state.hits.lock().unwrap().push(Hit {
                token: header("x-smarthr-token"),
                content_type: header("content-type"),
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
            if let Some(gate) = &state.gate {
                gate.acquire().await.unwrap().forget();
            }
            StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap()
        }
        let state = ReceiverState {
            hits: Arc::default(),
            status: Arc::new(AtomicU16::new(status)),
            gate,
        };
        let router = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(state.clone());
        let server = Server::spawn(router, 0).await.unwrap();
        Self { server, state }
    }

    fn url(&self) -> String {
        format!("{}/hooks", self.server.url())
    }

    fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    fn events(&self) -> Vec<String> {
        self.hits()
            .iter()
            .map(|h| h.body["event"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }
}

/// Polls `check` until it gives a value, for at most ten seconds.
async fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn settle(api: &SmartHr) {
    assert!(
        api.state().settle_webhooks(Duration::from_secs(10)).await,
        "deliveries did not settle"
    );
}

#[tokio::test]
async fn crew_writes_are_delivered_with_the_token_and_the_crew() {
    let api = start(config()).await;
    let all = Receiver::start(200).await;
    let updates = Receiver::start(200).await;
    let none = Receiver::start(200).await;
    let hook = register(
        &api,
        json!({
            "url": all.url(), "description": "all crew events", "secret_token": "tok-all",
            "crew_created": true, "crew_updated": true, "crew_deleted": true,
        }),
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap().to_string();
    register(&api, json!({"url": updates.url(), "crew_updated": true})).await;
    register(
        &api,
        json!({"url": none.url(), "secret_token": "tok-none", "dependent_created": true, "crew_imported": true}),
    )
    .await;

    let created = create_crew(&api, "W001").await;
    let id = created["id"].as_str().unwrap().to_string();
    assert!(created["created_at"].is_string());
    let read = call(
        &api,
        Method::GET,
        &format!("/api/v1/crews/{id}"),
        full(),
        None,
    )
    .await;
    let updated = update_crew(&api, &id, json!({"position": "課長"})).await;
    assert_ne!(updated["updated_at"], created["updated_at"]);
    assert_eq!(updated["created_at"], created["created_at"]);
    let deleted = call(
        &api,
        Method::DELETE,
        &format!("/api/v1/crews/{id}"),
        full(),
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);

    let hits = until("three deliveries", || {
        let hits = all.hits();
        (hits.len() >= 3).then_some(hits)
    })
    .await;
    settle(&api).await;
    assert_eq!(all.hits().len(), 3, "one delivery per event");
    assert_eq!(
        all.events(),
        ["crew_created", "crew_updated", "crew_deleted"]
    );
    for hit in &hits {
        assert_eq!(hit.token.as_deref(), Some("tok-all"));
        assert_eq!(hit.content_type.as_deref(), Some("application/json"));
        assert_eq!(hit.body["sender"], Value::Null);
        let at = hit.body["triggered_at"].as_str().unwrap();
        assert!(at.ends_with("+09:00") && at.len() == 29, "{at}");
        assert_eq!(
            hit.body.as_object().unwrap().len(),
            4,
            "event, triggered_at, sender, crew: {}",
            hit.body
        );
    }
    // The crew as GET /crews/{id} answers it; when deleted, as it was.
    assert_eq!(hits[0].body["crew"], read.body);
    assert_eq!(hits[0].body["crew"], created);
    assert_eq!(hits[1].body["crew"], updated);
    assert_eq!(hits[2].body["crew"], updated);

    // Only the event subscribed; no token header without a token.
    assert_eq!(updates.events(), ["crew_updated"]);
    assert_eq!(updates.hits()[0].token, None);
    assert_eq!(updates.hits()[0].body["crew"], updated);
    assert!(none.hits().is_empty(), "no crew flag, no delivery");

    let records = api.state().webhook_deliveries();
    let mine: Vec<_> = records.iter().filter(|r| r.webhook_id == hook_id).collect();
    assert_eq!(mine.len(), 3);
    for (record, event) in mine
        .iter()
        .zip(["crew_created", "crew_updated", "crew_deleted"])
    {
        assert_eq!(record.event, event);
        assert_eq!(record.crew_id, id);
        assert_eq!(record.url, all.url());
        assert_eq!(record.attempt, 1);
        assert_eq!(record.outcome, DeliveryOutcome::Status(200));
        assert!(record.outcome.succeeded());
    }
    assert_eq!(records.len(), 4, "three to one webhook, one to the other");
    assert!(api.state().webhook(&hook_id).unwrap()["disabled_at"].is_null());
}

#[tokio::test]
async fn deliveries_never_hold_up_the_api_and_go_out_in_order() {
    // The receiver holds its answers; no attempt may time out meanwhile.
    let mut config = config();
    config.webhook_timeout = Duration::from_secs(30);
    let api = start(config).await;
    let gate = Arc::new(Semaphore::new(0));
    let receiver = Receiver::with_gate(200, Some(gate.clone())).await;
    register(
        &api,
        json!({"url": receiver.url(), "crew_created": true, "crew_updated": true}),
    )
    .await;

    let started = Instant::now();
    let crew = create_crew(&api, "W010").await;
    let id = crew["id"].as_str().unwrap();
    until("the first delivery to arrive", || {
        (!receiver.hits().is_empty()).then_some(())
    })
    .await;
    // The receiver holds the first delivery; the API answers regardless.
    for n in 0..3 {
        update_crew(&api, id, json!({"position": format!("係長{n}")})).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the API waited for a delivery: {:?}",
        started.elapsed()
    );
    assert_eq!(receiver.hits().len(), 1, "one delivery at a time");
    assert!(!api.state().settle_webhooks(Duration::from_millis(1)).await);

    gate.add_permits(4);
    settle(&api).await;
    let positions: Vec<Value> = receiver
        .hits()
        .iter()
        .map(|h| h.body["crew"]["position"].clone())
        .collect();
    assert_eq!(
        positions,
        [Value::Null, json!("係長0"), json!("係長1"), json!("係長2")]
    );
    assert_eq!(
        receiver.events(),
        [
            "crew_created",
            "crew_updated",
            "crew_updated",
            "crew_updated"
        ]
    );
}

#[tokio::test]
async fn failing_deliveries_are_retried_then_the_webhook_is_disabled() {
    let api = start(config()).await;
    let state = api.state();
    let receiver = Receiver::start(500).await;
    let hook = register(
        &api,
        json!({"url": receiver.url(), "secret_token": "t", "crew_created": true, "crew_updated": true}),
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap().to_string();

    // Four deliveries queued at once: two fail with all their retries (three
    // attempts each), which disables the webhook; the other two are dropped.
    let crew = create_crew(&api, "W020").await;
    let id = crew["id"].as_str().unwrap().to_string();
    for n in 0..3 {
        update_crew(&api, &id, json!({"position": format!("主任{n}")})).await;
    }
    let disabled = until("the webhook to be disabled", || {
        state
            .webhook(&hook_id)
            .filter(|w| w["disabled_at"].is_string())
    })
    .await;
    settle(&api).await;
    assert_eq!(receiver.hits().len(), 6, "{:?}", receiver.events());
    let records = state.webhook_deliveries();
    assert_eq!(
        records.iter().map(|r| r.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 1, 2, 3]
    );
    assert!(
        records
            .iter()
            .all(|r| r.outcome == DeliveryOutcome::Status(500) && !r.outcome.succeeded())
    );
    assert_eq!(
        records.iter().map(|r| r.event.as_str()).collect::<Vec<_>>(),
        [
            "crew_created",
            "crew_created",
            "crew_created",
            "crew_updated",
            "crew_updated",
            "crew_updated"
        ]
    );
    assert_eq!(records[0].delivery, records[2].delivery);
    assert_ne!(records[2].delivery, records[3].delivery);
    // Retries wait their delays (20 ms, then 40 ms).
    let gap = |a: usize, b: usize| records[b].at.duration_since(records[a].at).unwrap();
    assert!(gap(0, 1) >= Duration::from_millis(15), "{:?}", gap(0, 1));
    assert!(gap(1, 2) >= Duration::from_millis(35), "{:?}", gap(1, 2));
    // The API shows it disabled.
    let read = call(
        &api,
        Method::GET,
        &format!("/api/v1/webhooks/{hook_id}"),
        full(),
        None,
    )
    .await;
    assert_eq!(read.body, disabled);

    // A disabled webhook sends nothing, even to a receiver that works again.
    receiver.answer(200);
    update_crew(&api, &id, json!({"position": "無視"})).await;
    settle(&api).await;
    assert_eq!(receiver.hits().len(), 6);

    // Re-enabled, it sends the next events.
    assert!(!state.enable_webhook("no-such-webhook"));
    assert!(state.enable_webhook(&hook_id));
    assert!(state.webhook(&hook_id).unwrap()["disabled_at"].is_null());
    update_crew(&api, &id, json!({"position": "再開"})).await;
    settle(&api).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 7);
    assert_eq!(hits[6].body["crew"]["position"], "再開");
    assert_eq!(
        state.webhook_deliveries().last().unwrap().outcome,
        DeliveryOutcome::Status(200)
    );

    // Re-enabling cleared the failures, and a success clears them again: a
    // single failed delivery between successes never disables it.
    for position in ["失敗1", "成功", "失敗2"] {
        receiver.answer(if position == "成功" { 200 } else { 500 });
        update_crew(&api, &id, json!({"position": position})).await;
        settle(&api).await;
        assert!(
            state.webhook(&hook_id).unwrap()["disabled_at"].is_null(),
            "disabled after {position}"
        );
    }
    assert_eq!(receiver.hits().len(), 7 + 3 + 1 + 3);
}

#[tokio::test]
async fn an_unreachable_receiver_fails_with_the_error() {
    let mut config = config();
    config.webhook_retry_delays = vec![Duration::from_millis(10)];
    config.webhook_disable_after = 1;
    let api = start(config).await;
    // A port that nothing listens on any more.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let hook = register(
        &api,
        json!({"url": format!("http://127.0.0.1:{closed}/hooks"), "crew_created": true}),
    )
    .await;
    create_crew(&api, "W030").await;
    settle(&api).await;
    let records = api.state().webhook_deliveries();
    assert_eq!(records.len(), 2, "{records:?}");
    for record in &records {
        let DeliveryOutcome::Error(text) = &record.outcome else {
            panic!("expected an error: {record:?}");
        };
        assert!(!text.is_empty());
    }
    let id = hook["id"].as_str().unwrap();
    assert!(api.state().webhook(id).unwrap()["disabled_at"].is_string());
}

#[tokio::test]
async fn webhooks_are_created_read_listed_updated_and_deleted() {
    let api = start(config()).await;
    let empty = call(&api, Method::GET, "/api/v1/webhooks", full(), None).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body, json!([]));
    assert_eq!(empty.headers["x-total-count"], "0");

    // `url` is required and must be an http(s) URL.
    for body in [
        json!({"description": "no url"}),
        json!({"url": ""}),
        json!({"url": null}),
        json!({"url": "not a url"}),
        json!({"url": "ftp://example.com/hooks"}),
        json!({"url": 42}),
    ] {
        let bad = call(&api, Method::POST, "/api/v1/webhooks", full(), Some(body)).await;
        assert_eq!(bad.status, 400, "{}", bad.body);
        assert_eq!(bad.body["code"], 1);
        assert_eq!(bad.body["type"], "bad_request");
        assert_eq!(bad.body["errors"][0]["field"], "url");
        assert_eq!(bad.body["errors"][0]["resource"], "webhook");
    }
    for (body, field) in [
        (
            json!({"url": "https://example.com/h", "crew_created": "yes"}),
            "crew_created",
        ),
        (
            json!({"url": "https://example.com/h", "secret_token": 7}),
            "secret_token",
        ),
        (
            json!({"url": "https://example.com/h", "description": []}),
            "description",
        ),
    ] {
        let bad = call(&api, Method::POST, "/api/v1/webhooks", full(), Some(body)).await;
        assert_eq!(bad.status, 400, "{}", bad.body);
        assert_eq!(bad.body["errors"][0]["field"], field);
    }
    let not_json = reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks", api.url()))
        .header("host", api.state().host())
        .bearer_auth(token("full"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert!(api.state().webhooks().is_empty(), "nothing was stored");

    let hook = register(&api, json!({"url": "https://example.com/hooks"})).await;
    let id = hook["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36);
    assert_eq!(hook["url"], "https://example.com/hooks");
    assert_eq!(hook["description"], Value::Null);
    assert_eq!(hook["secret_token"], Value::Null);
    assert_eq!(hook["disabled_at"], Value::Null);
    for flag in [
        "crew_created",
        "crew_updated",
        "crew_deleted",
        "crew_imported",
        "dependent_created",
        "dependent_updated",
        "dependent_deleted",
        "dependent_imported",
    ] {
        assert_eq!(hook[flag], false, "{flag}");
    }
    assert!(hook["created_at"].is_string());
    assert_eq!(hook["created_at"], hook["updated_at"]);

    let read = call(
        &api,
        Method::GET,
        &format!("/api/v1/webhooks/{id}"),
        full(),
        None,
    )
    .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, hook);
    let missing = call(&api, Method::GET, "/api/v1/webhooks/nope", full(), None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["type"], "not_found");

    // Paged like every list.
    register(&api, json!({"url": "http://127.0.0.1:9/a"})).await;
    register(&api, json!({"url": "http://localhost:9/b"})).await;
    let page = call(
        &api,
        Method::GET,
        "/api/v1/webhooks?per_page=2",
        full(),
        None,
    )
    .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body.as_array().unwrap().len(), 2);
    assert_eq!(page.body[0], hook);
    assert_eq!(page.headers["x-total-count"], "3");
    let link = page.headers["link"].to_str().unwrap();
    assert!(link.contains("/api/v1/webhooks?") && link.contains("rel=\"next\""));

    // PATCH changes what it names; read-only fields are ignored.
    let patched = call(
        &api,
        Method::PATCH,
        &format!("/api/v1/webhooks/{id}"),
        full(),
        Some(json!({
            "description": "人事連携", "crew_updated": true, "secret_token": "s",
            "disabled_at": "2020-01-01T00:00:00.000+09:00", "id": "other",
        })),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["id"], id.as_str());
    assert_eq!(patched.body["url"], "https://example.com/hooks");
    assert_eq!(patched.body["description"], "人事連携");
    assert_eq!(patched.body["secret_token"], "s");
    assert_eq!(patched.body["crew_updated"], true);
    assert_eq!(patched.body["crew_created"], false);
    assert_eq!(patched.body["disabled_at"], Value::Null);
    assert_eq!(patched.body["created_at"], hook["created_at"]);
    assert_ne!(patched.body["updated_at"], hook["updated_at"]);
    let bad = call(
        &api,
        Method::PATCH,
        &format!("/api/v1/webhooks/{id}"),
        full(),
        Some(json!({"url": "mailto:hr@example.com", "description": "x"})),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(api.state().webhook(&id).unwrap(), patched.body, "unchanged");

    let deleted = call(
        &api,
        Method::DELETE,
        &format!("/api/v1/webhooks/{id}"),
        full(),
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    let gone = call(
        &api,
        Method::GET,
        &format!("/api/v1/webhooks/{id}"),
        full(),
        None,
    )
    .await;
    assert_eq!(gone.status, 404);
    for method in [Method::PATCH, Method::DELETE] {
        let answer = call(
            &api,
            method,
            &format!("/api/v1/webhooks/{id}"),
            full(),
            Some(json!({})),
        )
        .await;
        assert_eq!(answer.status, 404);
    }
    assert_eq!(api.state().webhooks().len(), 2);
    assert_eq!(api.state().all(Resource::Webhooks).len(), 2);
}

#[tokio::test]
async fn a_deleted_webhook_sends_nothing_more() {
    let api = start(config()).await;
    let receiver = Receiver::start(200).await;
    let hook = register(&api, json!({"url": receiver.url(), "crew_created": true})).await;
    create_crew(&api, "W040").await;
    settle(&api).await;
    assert_eq!(receiver.hits().len(), 1);
    let id = hook["id"].as_str().unwrap();
    let deleted = call(
        &api,
        Method::DELETE,
        &format!("/api/v1/webhooks/{id}"),
        full(),
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    create_crew(&api, "W041").await;
    settle(&api).await;
    assert_eq!(receiver.hits().len(), 1);
}

#[tokio::test]
async fn webhooks_need_their_own_rights() {
    let api = start(config()).await;
    let body = json!({"url": "https://example.com/hooks", "crew_created": true});
    // Tokens with every right include webhooks.
    assert!(Token::full("a", "a").allows(Resource::Webhooks, Access::Write));
    assert!(Token::read_only("b", "b").allows(Resource::Webhooks, Access::Read));
    assert!(!Token::read_only("b", "b").allows(Resource::Webhooks, Access::Write));

    // Every right but webhooks: crews yes, webhooks no.
    let mut no_hooks = Token::new("shr_no_hooks", "no-hooks");
    for resource in Resource::ALL
        .into_iter()
        .filter(|r| *r != Resource::Webhooks)
    {
        no_hooks = no_hooks
            .grant(resource, Access::Read)
            .grant(resource, Access::Write);
    }
    api.state().add_token(no_hooks);
    for bearer in ["shr_no_hooks", token("crews-only")] {
        let crews = call(&api, Method::GET, "/api/v1/crews", Some(bearer), None).await;
        assert_eq!(crews.status, 200);
        let register = call(
            &api,
            Method::POST,
            "/api/v1/webhooks",
            Some(bearer),
            Some(body.clone()),
        )
        .await;
        assert_eq!(register.status, 403, "{}", register.body);
        assert_eq!(register.body["code"], 3);
        assert_eq!(register.body["type"], "forbidden");
        assert!(
            register.body["message"]
                .as_str()
                .unwrap()
                .contains("webhooks")
        );
        let list = call(&api, Method::GET, "/api/v1/webhooks", Some(bearer), None).await;
        assert_eq!(list.status, 403);
    }

    // Read-only lists but does not register.
    let read_only = Some(token("read-only"));
    let list = call(&api, Method::GET, "/api/v1/webhooks", read_only, None).await;
    assert_eq!(list.status, 200);
    let refused = call(
        &api,
        Method::POST,
        "/api/v1/webhooks",
        read_only,
        Some(body.clone()),
    )
    .await;
    assert_eq!(refused.status, 403);
    let unknown = call(
        &api,
        Method::POST,
        "/api/v1/webhooks",
        Some("nope"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(unknown.status, 401);
    assert!(api.state().webhooks().is_empty());

    register(&api, body).await;
    assert_eq!(api.state().webhooks().len(), 1);
}

#[tokio::test]
async fn crews_sort_by_creation_and_every_write_moves_updated_at() {
    let api = start(config()).await;
    let first = create_crew(&api, "W050").await;
    let second = create_crew(&api, "W051").await;
    assert!(first["created_at"].as_str() < second["created_at"].as_str());
    let newest = call(
        &api,
        Method::GET,
        "/api/v1/crews?sort=-created_at&per_page=2",
        full(),
        None,
    )
    .await;
    assert_eq!(newest.status, 200, "{}", newest.body);
    assert_eq!(newest.body[0]["id"], second["id"]);
    assert_eq!(newest.body[1]["id"], first["id"]);
    let oldest = call(
        &api,
        Method::GET,
        "/api/v1/crews?sort=created_at",
        full(),
        None,
    )
    .await;
    assert_eq!(oldest.status, 200);
    let stamps: Vec<&str> = oldest
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["created_at"].as_str().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");

    // Writes in quick succession still each move `updated_at` forward.
    let id = first["id"].as_str().unwrap();
    let mut last = first["updated_at"].as_str().unwrap().to_string();
    for n in 0..5 {
        let updated = update_crew(&api, id, json!({"position": format!("P{n}")})).await;
        let stamp = updated["updated_at"].as_str().unwrap().to_string();
        assert!(stamp > last, "{stamp} after {last}");
        last = stamp;
    }
    let latest = call(
        &api,
        Method::GET,
        "/api/v1/crews?sort=-updated_at&per_page=1",
        full(),
        None,
    )
    .await;
    assert_eq!(latest.body[0]["id"], first["id"]);
}
