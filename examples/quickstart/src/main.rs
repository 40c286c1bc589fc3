//! The cardhost quickstart, end to end on loopback:
//!
//! 1. starts the four vendor emulators (SmartHR, Paycor, Advanced HR and
//!    Fourth SCIM with their OAuth2 servers);
//! 2. starts the runtime (`cardhost serve`, in process) on the embedded
//!    default: SQLite store and master key in the data directory, the
//!    built-in connectors, the vendors' real host names routed to the
//!    emulators;
//! 3. over the HTTP API with an admin key, creates one connection per
//!    connector — Paycor's through the real OAuth2 authorization-code flow;
//! 4. runs an onboarding flow: hire someone in SmartHR (the hire arrives as
//!    an event by SmartHR's webhook), find their Fourth account by email,
//!    set their work email in Paycor, check Advanced HR, and see a change
//!    in Fourth arrive by the server's polling;
//! 5. prints what happened and where to look next, and stops everything
//!    (unless `--stay-up`).

use anyhow::{Context, bail, ensure};
use cardhost::config::ServerConfig;
use cardhost::connections::Connections;
use cardhost::server::{self, keys};
use cardhost::store::{self, Role, Store};
use cardhost::{NetworkPolicy, Route, RuntimeConfig};
use cardhost_emulators::{advanced_hr, paycor, scim, smarthr};
use clap::Parser;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

/// Run cardhost end to end against local vendor emulators.
#[derive(Debug, Parser)]
#[command(name = "cardhost-quickstart")]
struct Args {
    /// Where the quickstart keeps its store (wiped at start).
    #[arg(long, default_value = ".cardhost/quickstart")]
    data_dir: PathBuf,
    /// Keep the emulators and the server running until Ctrl-C.
    #[arg(long)]
    stay_up: bool,
}

/// A client of the cardhost API with one key.
struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {value}");
        }
        Ok(value)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn invoke(&self, connection: &str, card: &str, input: Value) -> anyhow::Result<Value> {
        let answer = self
            .post(
                &format!("/v1/connections/{connection}/cards/{card}:invoke"),
                input,
            )
            .await?;
        Ok(answer["output"].clone())
    }

    /// Creates a connection granted every permission its connector declares.
    async fn connect(
        &self,
        connector: &str,
        name: &str,
        fields: Value,
        secrets: Value,
        extra: Value,
    ) -> anyhow::Result<String> {
        let catalog = self.get(&format!("/v1/connectors/{connector}")).await?;
        let grant: Vec<Value> = catalog["permissions"]
            .as_array()
            .context("permissions")?
            .iter()
            .map(|p| p["id"].clone())
            .collect();
        let mut body = json!({"connector": connector, "name": name, "fields": fields, "secrets": secrets, "grant": grant});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let created = self.post("/v1/connections", body).await?;
        Ok(created["id"].as_str().context("connection id")?.to_string())
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn route(host: &str, to: &str) -> Route {
    Route {
        host: host.into(),
        to: to.into(),
    }
}

fn step(n: u32, text: &str) {
    println!("\n[{n}] {text}");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.data_dir.exists() {
        std::fs::remove_dir_all(&args.data_dir)
            .with_context(|| format!("cannot clear {}", args.data_dir.display()))?;
    }

    step(1, "Starting the vendor emulators on loopback");
    let server_port = free_port()?;
    let callback = format!("http://127.0.0.1:{server_port}/v1/oauth/callback");
    let shr = smarthr::start_demo(0).await?;
    let mut paycor_config = paycor::Config::demo();
    for app in &mut paycor_config.apps {
        app.redirect_uris.push(callback.clone());
    }
    let pcy = paycor::start(paycor_config).await?;
    let ahr = advanced_hr::start_demo(0, 0).await?;
    let fourth = scim::start_demo(0, 0).await?;
    println!(
        "    SmartHR      {}  (as {}.smarthr.jp)",
        shr.url(),
        smarthr::DEMO_TENANT
    );
    println!(
        "    Paycor       {}  (as apis-sandbox.paycor.com, hcm-demo.paycor.com)",
        pcy.url()
    );
    println!(
        "    Advanced HR  {}  (identity {})",
        ahr.api.api_url(),
        ahr.identity.token_url()
    );
    println!(
        "    Fourth SCIM  {}  (identity {})",
        fourth.api.base_url(),
        fourth.identity.token_url()
    );

    step(
        2,
        "Starting cardhost (embedded SQLite store, built-in connectors)",
    );
    let config = RuntimeConfig {
        network: NetworkPolicy {
            routes: vec![
                route("*.smarthr.jp", &shr.url()),
                route("apis-sandbox.paycor.com", &pcy.url()),
                route("hcm-demo.paycor.com", &pcy.url()),
            ],
            ..NetworkPolicy::loopback()
        },
        ..RuntimeConfig::default()
    };
    let (store, _) = store::open_in(&args.data_dir)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let store: Arc<dyn Store> = Arc::new(store);
    let host = Arc::new(cardhost::start_runtime(config).await?);
    for e in host.registry().errors() {
        println!("    skipped {e}");
    }
    let conns = Arc::new(Connections::new(host, store.clone()));
    let running = server::start(
        conns,
        store.clone(),
        ServerConfig {
            listen: ([127, 0, 0, 1], server_port).into(),
            ..ServerConfig::default()
        },
    )
    .await?;
    let admin = keys::create(store.as_ref(), "quickstart", Role::Admin).await?;
    let api = Api {
        base: running.url(),
        key: admin.key.clone(),
        http: reqwest::Client::new(),
    };
    let catalog = api.get("/v1/connectors").await?;
    for c in catalog["connectors"].as_array().context("connectors")? {
        println!(
            "    connector {:<12} {} cards",
            c["id"].as_str().unwrap_or(""),
            c["cards"]
        );
    }
    println!("    API {}  (OpenAPI at /openapi.json)", running.url());

    step(3, "Creating a connection for each connector");
    let smarthr_conn = api
        .connect(
            "smarthr",
            "SmartHR demo",
            json!({"account_type": "production", "tenant_id": smarthr::DEMO_TENANT}),
            json!({"access_token": smarthr::DEMO_TOKENS[0].0}),
            json!({}),
        )
        .await?;
    println!("    SmartHR      {smarthr_conn}: bearer token");
    let (ahr_id, ahr_secret, ahr_group) = advanced_hr::DEMO_CLIENTS[0];
    let ahr_conn = api
        .connect(
            "advanced-hr",
            "Advanced HR",
            json!({"client_id": ahr_id, "token_url": ahr.identity.token_url(), "api_base_url": ahr.api.api_url()}),
            json!({"client_secret": ahr_secret}),
            json!({}),
        )
        .await?;
    println!("    Advanced HR  {ahr_conn}: client credentials ({ahr_group} security group)");
    let (fourth_id, fourth_secret, _) = scim::DEMO_CLIENTS[0];
    let fourth_conn = api
        .connect(
            "fourth-scim",
            "Fourth Account",
            json!({"client_id": fourth_id, "token_url": fourth.identity.token_url(), "base_url": fourth.api.base_url()}),
            json!({"client_secret": fourth_secret}),
            json!({}),
        )
        .await?;
    println!("    Fourth SCIM  {fourth_conn}: client credentials, scope scim");
    let paycor_conn = api
        .connect(
            "paycor",
            "Paycor sandbox",
            json!({"sandbox": true, "client_id": paycor::DEMO_CLIENT_ID, "scope_id": paycor::SCOPE_FULL,
                   "legal_entity_id": paycor::DEMO_LEGAL_ENTITY}),
            json!({"client_secret": paycor::DEMO_CLIENT_SECRET, "subscription_key": paycor::DEMO_SUBSCRIPTION_KEY}),
            json!({}),
        )
        .await?;
    // The authorization-code flow, as a browser would run it: the consent
    // page is the emulator's (Paycor's host routed to it), the redirect
    // lands on cardhost's callback.
    let start = api
        .post(
            &format!("/v1/connections/{paycor_conn}/authorize"),
            json!({}),
        )
        .await?;
    // The browser opens cardhost's start URL, which binds the flow to it
    // with a cookie and sends it to Paycor's consent page; Paycor sends it
    // back to cardhost's callback, which wants that cookie.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let started = browser
        .get(start["authorize_url"].as_str().context("authorize_url")?)
        .send()
        .await?;
    let cookie = started
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("cardhost's start page set no cookie")?
        .to_string();
    let location = |r: &reqwest::Response| -> anyhow::Result<url::Url> {
        let to = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .with_context(|| format!("expected a redirect, got {}", r.status()))?;
        Ok(r.url().join(to)?)
    };
    let mut consent = location(&started)?;
    let emulator = url::Url::parse(&pcy.url())?;
    consent.set_scheme("http").ok();
    consent.set_host(emulator.host_str())?;
    consent.set_port(emulator.port()).ok();
    let approved = browser.get(consent).send().await?;
    let callback = location(&approved)?;
    let landed = callback.path().to_string();
    let page = browser
        .get(callback)
        .header("cookie", cookie)
        .send()
        .await?;
    let text = page.text().await?;
    ensure!(
        text.contains("Connected"),
        "the Paycor authorization did not complete: {text}"
    );
    let shown = api.get(&format!("/v1/connections/{paycor_conn}")).await?;
    println!(
        "    Paycor       {paycor_conn}: authorization code + PKCE, consent → {landed} → {}",
        shown["state"].as_str().unwrap_or("?")
    );
    for conn in [&smarthr_conn, &ahr_conn, &fourth_conn, &paycor_conn] {
        let report = api
            .post(&format!("/v1/connections/{conn}/test"), json!({}))
            .await?;
        ensure!(
            report["ok"] == true,
            "connection test of {conn} failed: {report}"
        );
    }
    println!("    all four connections pass their connection test");
    // From here on the server polls Fourth for changed users by itself.
    let subscription = api
        .post(
            "/v1/subscriptions",
            json!({"connection": fourth_conn, "trigger": "user-changed", "interval_seconds": 30, "target": {"kind": "feed"}}),
        )
        .await?;
    let subscription = subscription["id"]
        .as_str()
        .context("the subscription has an id")?
        .to_string();
    println!(
        "    subscribed to Fourth SCIM user-changed ({subscription}): the server polls every 30 s"
    );
    // SmartHR tells the server of hires itself: the connector registers the
    // server's hook URL and a token with SmartHR's webhooks.
    let hires = api
        .post(
            "/v1/subscriptions",
            json!({"connection": smarthr_conn, "trigger": "employee-created", "target": {"kind": "feed"}}),
        )
        .await?;
    ensure!(
        hires["hook"]["status"] == "registered",
        "the SmartHR webhook was not registered: {hires}"
    );
    let hires_sub = hires["id"]
        .as_str()
        .context("the subscription has an id")?
        .to_string();
    println!(
        "    subscribed to SmartHR employee-created ({hires_sub}): SmartHR posts to {}, verified by {}",
        hires["hook"]["url"].as_str().unwrap_or("?"),
        hires["hook"]["header"].as_str().unwrap_or("?")
    );

    step(
        4,
        "Onboarding: SmartHR hire → Fourth account → Paycor contact",
    );
    // Someone Fourth already knows, hired in SmartHR today.
    let person = fourth
        .api
        .state()
        .users()
        .into_iter()
        .find(|u| u["emails"][0]["value"].is_string() && u["name"]["givenName"].is_string())
        .context("the Fourth directory has a user with an email")?;
    let email = person["emails"][0]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (first, last) = (
        person["name"]["givenName"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        person["name"]["familyName"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    let hired = api
        .invoke(
            &smarthr_conn,
            "create-employee",
            json!({"last_name": last, "first_name": first, "email": email, "emp_code": "QS-0001", "emp_status": "employed"}),
        )
        .await?;
    println!(
        "    SmartHR      create-employee → crew {} ({} {}, {})",
        hired["id"].as_str().unwrap_or("?"),
        first,
        last,
        email
    );
    let hire_id = hired["id"].as_str().unwrap_or_default().to_string();
    let hired_at = std::time::Instant::now();
    let hire_event = loop {
        let page = api
            .get(&format!("/v1/subscriptions/{hires_sub}/events"))
            .await?;
        if let Some(e) = page["events"].as_array().and_then(|events| {
            events
                .iter()
                .find(|e| e["payload"]["id"] == hire_id.as_str())
        }) {
            break e.clone();
        }
        ensure!(
            hired_at.elapsed() < std::time::Duration::from_secs(60),
            "no employee-created event arrived within a minute: {}",
            api.get(&format!("/v1/subscriptions/{hires_sub}")).await?
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    println!(
        "    SmartHR      employee-created → event {} delivered by SmartHR's webhook {} ms after the hire",
        hire_event["id"].as_str().unwrap_or("?"),
        hired_at.elapsed().as_millis()
    );
    let found = api
        .invoke(
            &smarthr_conn,
            "search-employees",
            json!({"emp_code": "QS-0001"}),
        )
        .await?;
    println!(
        "    SmartHR      search-employees emp_code=QS-0001 → {} found",
        count(&found)
    );
    let account = api
        .invoke(&fourth_conn, "find-user-by-email", json!({"email": email}))
        .await?;
    println!(
        "    Fourth SCIM  find-user-by-email → Fourth Account ID {}",
        first_user_field(&account, "fourth_account_id")
    );
    let employees = api
        .invoke(
            &paycor_conn,
            "list-employees",
            json!({"legal_entity_id": paycor::DEMO_LEGAL_ENTITY, "one_page": true}),
        )
        .await?;
    let employee_id = first_id(&employees).context("Paycor listed no employee")?;
    let updated = api
        .invoke(
            &paycor_conn,
            "update-employee-contact",
            json!({"employee_id": employee_id, "work_email": email}),
        )
        .await?;
    println!(
        "    Paycor       update-employee-contact {employee_id} → updated {}",
        updated["updated"]
    );
    let departments = api.invoke(&ahr_conn, "list-departments", json!({})).await?;
    println!(
        "    Advanced HR  list-departments → {} departments",
        count(&departments)
    );

    // Someone in Fourth gives the new hire a job title; the subscription
    // reports it without anyone polling.
    let changed_at = std::time::Instant::now();
    let account_id = person["id"].as_str().unwrap_or_default().to_string();
    fourth.api.state().update_user(&account_id, |u| {
        u.insert("title".into(), json!("Guest Relations"));
    });
    let event = loop {
        let page = api
            .get(&format!("/v1/subscriptions/{subscription}/events"))
            .await?;
        if let Some(e) = page["events"].as_array().and_then(|events| {
            events
                .iter()
                .find(|e| e["payload"]["fourth_account_id"] == account_id.as_str())
        }) {
            break e.clone();
        }
        ensure!(
            changed_at.elapsed() < std::time::Duration::from_secs(120),
            "no user-changed event arrived within two minutes: {}",
            api.get(&format!("/v1/subscriptions/{subscription}"))
                .await?
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    println!(
        "    Fourth SCIM  user-changed → event {} (job title {}) arrived {} s after the change",
        event["id"].as_str().unwrap_or("?"),
        event["payload"]["job_title"],
        changed_at.elapsed().as_secs()
    );

    step(5, "Where to look next");
    let history = api.get("/v1/invocations?limit=100").await?;
    let n = history["invocations"].as_array().map_or(0, Vec::len);
    println!(
        "    {n} invocations recorded: GET {}/v1/invocations",
        running.url()
    );
    println!(
        "    CLI: cargo run -p cardhost -- --data-dir {} history",
        args.data_dir.display()
    );
    println!(
        "         cargo run -p cardhost -- --data-dir {} connections list",
        args.data_dir.display()
    );
    println!(
        "    events: GET {}/v1/subscriptions/{subscription}/events, or cargo run -p cardhost -- --data-dir {} events {subscription}",
        running.url(),
        args.data_dir.display()
    );
    println!("    API reference: GET {}/openapi.json", running.url());
    println!(
        "    console: {}/ in a browser (with --stay-up, sign in with the admin key it prints)",
        running.url()
    );

    if args.stay_up {
        println!("\nStaying up. Admin key (shown once): {}", admin.key);
        println!(
            "Console: open {}/ in a browser and sign in with that key",
            running.url()
        );
        println!(
            "Try: curl -H 'Authorization: Bearer {}' {}/v1/connections",
            admin.key,
            running.url()
        );
        println!("Ctrl-C to stop.");
        tokio::signal::ctrl_c().await?;
    }
    running.shutdown();
    running.wait().await?;
    println!("\nDone: the emulators and the server are stopped.");
    Ok(())
}

/// How many items a list card returned, whatever its output calls them.
fn count(output: &Value) -> usize {
    output
        .as_object()
        .and_then(|o| o.values().find_map(Value::as_array))
        .map_or(0, Vec::len)
}

fn first_id(output: &Value) -> Option<String> {
    let item = output
        .as_object()?
        .values()
        .find_map(Value::as_array)?
        .first()?
        .clone();
    item.get("id")
        .or_else(|| item.get("employee_id"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn first_user_field(output: &Value, field: &str) -> String {
    output
        .get("user")
        .or_else(|| output.get("users").and_then(|u| u.get(0)))
        .and_then(|u| u.get(field))
        .and_then(Value::as_str)
        .unwrap_or("(not found)")
        .to_string()
}
