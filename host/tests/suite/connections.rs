//! Connections, secrets and OAuth2 end to end: the `cardhost` binary and the
//! connections service against a local OAuth2 authorization server (the
//! emulator in `tests/emulators`) and a resource server that checks its
//! tokens. Connections live in a real SQLite file.

use crate::common;

use cardhost::connections::{ConnectionError, Connections, CreateConnection};
use cardhost::store::{self, ConnectionState};
use cardhost::{Cardhost, Limits, NetworkPolicy, RuntimeConfig, Secret, Source};
use cardhost_emulators::oauth::{GrantType, OAuthServer};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::oauth::{CLIENT_ID, CLIENT_SECRET, Resource, free_port, resource_server};

struct World {
    oauth: OAuthServer,
    resource: Resource,
    dir: tempfile::TempDir,
    callback_port: u16,
}

impl World {
    async fn start() -> Self {
        let callback_port = free_port();
        let redirect = format!("http://127.0.0.1:{callback_port}/callback");
        let oauth = common::oauth::provider("test", &redirect).await;
        let resource = resource_server(oauth.state()).await;
        let dir = tempfile::tempdir().unwrap();
        common::oauth::oauth_app_config(dir.path());
        World {
            oauth,
            resource,
            dir,
            callback_port,
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn fields(&self) -> Value {
        common::oauth::oauth_app_fields(&self.oauth, &self.resource)
    }

    fn cli(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cardhost"));
        cmd.arg("--config")
            .arg(self.dir.path().join("cardhost.toml"))
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--allow-loopback")
            .env("CID", CLIENT_ID)
            .env("CSEC", CLIENT_SECRET)
            .env_remove("CARDHOST_MASTER_KEY")
            .env_remove("CARDHOST_CONFIG")
            .env_remove("CARDHOST_DATA_DIR")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        common::run_shown(
            &format!("cardhost {}", args.join(" ")),
            self.cli().args(args),
        )
    }

    fn create_args(&self, name: &str, method: &str) -> Vec<String> {
        let mut args = vec![
            "connections".to_string(),
            "create".into(),
            "oauth-app".into(),
            "--name".into(),
            name.into(),
            "--auth-method".into(),
            method.into(),
            "--secret-env".into(),
            "client_id=CID".into(),
            "--secret-env".into(),
            "client_secret=CSEC".into(),
        ];
        for (k, v) in self.fields().as_object().unwrap() {
            args.push("--field".into());
            args.push(format!("{k}={}", v.as_str().unwrap()));
        }
        args
    }

    /// The connections service on the same data directory, as the server
    /// would run it.
    async fn service(&self, limits: Limits) -> Arc<Connections> {
        let (store, _) = store::open_in(&self.data_dir()).await.unwrap();
        let config = RuntimeConfig {
            limits,
            network: NetworkPolicy::loopback(),
            builtin_connectors: false,
            ..RuntimeConfig::default()
        };
        let host = Cardhost::empty(config).unwrap();
        let wasm = std::fs::read(cardhost_e2e::guests::OAUTH_APP).unwrap();
        let registry = host
            .load_sources(vec![(
                Source::File(cardhost_e2e::guests::OAUTH_APP.into()),
                wasm,
            )])
            .await;
        assert!(registry.errors().is_empty(), "{:?}", registry.errors());
        host.set_registry(registry);
        Arc::new(Connections::new(Arc::new(host), Arc::new(store)))
    }

    fn create_request(&self, name: &str, method: &str) -> CreateConnection {
        CreateConnection {
            connector: "oauth-app".into(),
            name: name.into(),
            fields: self.fields(),
            secrets: BTreeMap::from([
                ("client_id".to_string(), Secret::new(CLIENT_ID)),
                ("client_secret".to_string(), Secret::new(CLIENT_SECRET)),
            ]),
            grant: None,
            auth_method: Some(method.into()),
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn authorize(world: &World, conns: &Connections, name: &str) {
    let redirect = format!("http://127.0.0.1:{}/callback", world.callback_port);
    common::oauth::authorize(conns, name, &redirect).await;
}

fn file_contains(path: &Path, needle: &str) -> bool {
    let mut raw = std::fs::read(path).unwrap_or_default();
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        raw.extend(std::fs::read(PathBuf::from(p)).unwrap_or_default());
    }
    raw.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_code_with_pkce_through_the_cli_loopback_callback() {
    let world = World::start().await;

    // Bad fields are refused with the field named; nothing is stored.
    let mut bad = world.create_args("bad", "authorization-code");
    let at = bad.iter().position(|a| a.starts_with("scope=")).unwrap();
    bad[at] = "scope=READ ME".into();
    let out = world.run(&bad.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/scope"), "the field is named");

    // Created, but not usable until authorized.
    let args = world.create_args("acme", "authorization-code");
    let out = world.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("needs-reauthorization"));
    let out = world.run(&["invoke", "oauth-app", "whoami", "--connection", "acme"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("needs-reauthorization"));

    // The authorize command prints the URL and waits for the callback.
    let port = world.callback_port.to_string();
    let mut child = world
        .cli()
        .args([
            "connections",
            "authorize",
            "acme",
            "--port",
            &port,
            "--no-browser",
            "--timeout",
            "60",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the CLI prints the URL").unwrap();
        if line.starts_with("http") {
            break line;
        }
    };
    let authorize = url::Url::parse(&url).unwrap();
    let q: BTreeMap<String, String> = authorize.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(
        q["audience"], world.resource.url,
        "extra authorize params are sent"
    );
    assert!(q["code_challenge"].len() >= 43);

    // A forged callback is refused and does not end the wait.
    let forged = reqwest::get(format!(
        "http://127.0.0.1:{port}/callback?state=forged&code=stolen"
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(forged.contains("Authorization failed"), "{forged}");

    // The user's browser: authorize, follow the redirect to the callback.
    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(page.contains("Connected"), "{page}");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        world
            .oauth
            .state()
            .token_request_count(GrantType::AuthorizationCode),
        1
    );

    // The connection works; secrets stay write-only.
    let out = world.run(&["invoke", "oauth-app", "whoami", "--connection", "acme"]);
    assert!(out.status.success());
    let output: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(output["client_id"], CLIENT_ID);
    let out = world.run(&["connections", "show", "acme"]);
    let shown = text(&out.stdout);
    assert!(shown.contains("client_secret = ••••"), "{shown}");
    assert!(shown.contains("ready"));
    assert!(
        shown.contains("usable      whoami"),
        "the catalog per connection"
    );
    assert!(!shown.contains(CLIENT_SECRET));
    let out = world.run(&["--json", "connections", "list"]);
    assert!(!text(&out.stdout).contains(CLIENT_SECRET));

    // History records both invocations with their outcomes.
    let out = world.run(&["--json", "history"]);
    let history: Value = serde_json::from_slice(&out.stdout).unwrap();
    let outcomes: Vec<&str> = history["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["ok"], "the refused invocation never ran");

    // No secret or token is in the database file in plain text.
    let db = world.data_dir().join(store::DATABASE_FILE);
    assert!(file_contains(&db, "acme"), "the check reads the right file");
    assert!(!file_contains(&db, CLIENT_SECRET));
    for token in world.oauth.state().issued_tokens() {
        assert!(
            !file_contains(&db, &token.value),
            "a token is stored in plain text"
        );
    }

    // Deleting revokes the refresh token at the provider.
    let out = world.run(&["connections", "delete", "acme"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("revoked"));
    assert_eq!(world.oauth.state().revocation_count(), 1);
    let out = world.run(&["connections", "show", "acme"]);
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_cut_off_by_a_crash_leaves_a_working_connection() {
    let world = World::start().await;
    {
        let conns = world.service(Limits::default()).await;
        conns
            .create(world.create_request("acme", "authorization-code"))
            .await
            .unwrap();
        authorize(&world, &conns, "acme").await;
    }
    let state = world.oauth.state();
    // The access token goes bad; the next request gets a 401, the CLI
    // refreshes (rotating the refresh token) and is killed while the retried
    // request is in flight.
    state.expire_access_tokens();
    world.resource.hang.store(true, Ordering::SeqCst);
    let mut child = world
        .cli()
        .args(["invoke", "oauth-app", "whoami", "--connection", "acme"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if world.resource.hanging.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(world.resource.hanging.load(Ordering::SeqCst), 1);
    assert_eq!(state.token_request_count(GrantType::RefreshToken), 1);
    child.kill().unwrap();
    child.wait().unwrap();

    // After the "restart" the connection works with the saved tokens.
    world.resource.hang.store(false, Ordering::SeqCst);
    let out = world.run(&["invoke", "oauth-app", "whoami", "--connection", "acme"]);
    assert!(out.status.success());
    assert_eq!(
        state.token_request_count(GrantType::RefreshToken),
        1,
        "the rotated tokens were saved before they were used"
    );
    // And the saved refresh token is the live one: a refresh succeeds.
    state.expire_access_tokens();
    let out = world.run(&["invoke", "oauth-app", "whoami", "--connection", "acme"]);
    assert!(out.status.success());
    assert_eq!(state.token_request_count(GrantType::RefreshToken), 2);
    let rejected = state
        .token_requests()
        .iter()
        .filter(|r| r.status != 200)
        .count();
    assert_eq!(rejected, 0, "no token request was refused");
}

fn test_limits() -> Limits {
    Limits {
        max_concurrent_instances: 128,
        ..Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_invocations_share_one_refresh() {
    let world = World::start().await;
    let conns = world.service(test_limits()).await;
    conns
        .create(world.create_request("acme", "authorization-code"))
        .await
        .unwrap();
    authorize(&world, &conns, "acme").await;
    let state = world.oauth.state();
    state.expire_access_tokens();
    let calls = (0..100).map(|_| {
        let conns = conns.clone();
        tokio::spawn(async move { conns.invoke("acme", "whoami", &json!({})).await })
    });
    for result in futures::future::join_all(calls).await {
        let inv = result.unwrap().expect("every invocation succeeds");
        assert_eq!(inv.output["client_id"], CLIENT_ID);
    }
    assert_eq!(state.token_request_count(GrantType::RefreshToken), 1);
    // Later invocations in the same run use the new token.
    conns.invoke("acme", "whoami", &json!({})).await.unwrap();
    assert_eq!(state.token_request_count(GrantType::RefreshToken), 1);
    let history = conns
        .store()
        .history(&store::HistoryFilter {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(history.len(), 101);
    assert!(history.iter().all(|r| r.outcome == "ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_refresh_token_needs_reauthorization_without_a_retry_loop() {
    let world = World::start().await;
    let conns = world.service(Limits::default()).await;
    conns
        .create(world.create_request("acme", "authorization-code"))
        .await
        .unwrap();
    authorize(&world, &conns, "acme").await;
    let state = world.oauth.state();
    state.expire_all_tokens();
    let err = conns
        .invoke("acme", "whoami", &json!({}))
        .await
        .unwrap_err();
    let ConnectionError::Invocation(failed) = err else {
        panic!("the invocation ran");
    };
    assert!(
        failed.to_string().contains("reauthorization"),
        "{}",
        failed.kind
    );
    assert_eq!(state.token_request_count(GrantType::RefreshToken), 1);
    let record = conns.store().connection("acme").await.unwrap();
    assert_eq!(record.state, ConnectionState::NeedsReauthorization);
    assert!(
        record
            .state_message
            .as_deref()
            .unwrap_or_default()
            .contains("invalid_grant"),
        "{record:?}"
    );
    // Later invocations are refused at once, with no token request.
    let err = conns
        .invoke("acme", "whoami", &json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectionError::NotReady { .. }));
    assert_eq!(state.token_request_count(GrantType::RefreshToken), 1);
    // Authorizing again brings it back.
    authorize(&world, &conns, "acme").await;
    conns.invoke("acme", "whoami", &json!({})).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_tokens_are_cached_and_connections_validated() {
    let world = World::start().await;
    let conns = world.service(Limits::default()).await;
    let record = conns
        .create(world.create_request("machine", "client-credentials"))
        .await
        .unwrap();
    assert_eq!(record.state, ConnectionState::Ready);
    let state = world.oauth.state();
    for _ in 0..2 {
        let inv = conns.invoke("machine", "whoami", &json!({})).await.unwrap();
        assert_eq!(inv.output["scope"], "read:me");
        // The first invocation fetched the token while it ran, the second
        // reused it: both times the echo is scrubbed.
        assert_eq!(inv.output["seen_token"], "••••", "{}", inv.output);
    }
    assert_eq!(
        state.token_request_count(GrantType::ClientCredentials),
        1,
        "the second invocation reuses the cached token"
    );
    let report = conns.test("machine").await.unwrap();
    assert!(report.ok, "{report:?}");

    // Validation names what is wrong.
    let mut req = world.create_request("broken", "client-credentials");
    req.fields["token_url"] = json!("not a url");
    let err = conns.create(req).await.unwrap_err().to_string();
    assert!(err.contains("/token_url"), "{err}");
    let mut req = world.create_request("broken", "client-credentials");
    req.secrets.remove("client_secret");
    let err = conns.create(req).await.unwrap_err().to_string();
    assert!(err.contains("client_secret"), "{err}");
    let mut req = world.create_request("broken", "client-credentials");
    req.grant = Some(vec!["everything".into()]);
    let err = conns.create(req).await.unwrap_err().to_string();
    assert!(err.contains("no permission `everything`"), "{err}");
    let err = conns
        .create(world.create_request("machine", "client-credentials"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("already exists"), "{err}");

    // A replaced secret is used from the next invocation on.
    conns
        .set_secret("machine", "client_secret", &Secret::new("wrong-secret"))
        .await
        .unwrap();
    state.expire_access_tokens();
    let err = conns
        .invoke("machine", "whoami", &json!({}))
        .await
        .unwrap_err();
    assert!(
        !err.to_string().contains("wrong-secret"),
        "secrets are redacted"
    );
}

/// A server that records every request it gets (method, path, headers and
/// body, as text) and answers 200 `{}`.
async fn thief() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::extract::Request;
    let seen: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |request: Request| {
        let log = log.clone();
        async move {
            let mut text = format!("{} {}\n", request.method(), request.uri());
            for (k, v) in request.headers() {
                text.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
            }
            let body = axum::body::to_bytes(request.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            text.push_str(&String::from_utf8_lossy(&body));
            log.lock().unwrap().push(text);
            axum::Json(json!({}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_where_secrets_go_needs_them_given_again_and_sends_nothing_old() {
    let world = World::start().await;
    let conns = world.service(test_limits()).await;
    conns
        .create(world.create_request("machine", "client-credentials"))
        .await
        .unwrap();
    conns.invoke("machine", "whoami", &json!({})).await.unwrap();
    let (evil, seen) = thief().await;
    let mut moved = world.fields();
    moved["base_url"] = json!(evil);
    moved["token_url"] = json!(format!("{evil}/token"));

    // Without the secrets, nothing changes and the error names them.
    let err = conns
        .update_fields("machine", &moved, BTreeMap::new())
        .await
        .unwrap_err();
    match &err {
        ConnectionError::SecretsRequired { secrets, moved, .. } => {
            assert!(secrets.contains(&"client_secret".to_string()), "{err}");
            assert!(moved.contains(&"the token URL"), "{err}");
        }
        other => panic!("expected secrets-required, got {other}"),
    }
    conns.invoke("machine", "whoami", &json!({})).await.unwrap();
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    assert_eq!(
        conns.show("machine").await.unwrap().record.fields["token_url"],
        world.fields()["token_url"]
    );

    // With them, the old secret and the cached token stay behind.
    let fresh = "a-new-secret-for-the-new-host";
    conns
        .update_fields(
            "machine",
            &moved,
            BTreeMap::from([("client_secret".to_string(), Secret::new(fresh))]),
        )
        .await
        .unwrap();
    let _ = conns.invoke("machine", "whoami", &json!({})).await;
    let seen = seen.lock().unwrap().join("\n---\n");
    assert!(
        seen.contains(fresh),
        "the new secret went to its new place: {seen}"
    );
    for old in [
        CLIENT_SECRET.to_string(),
        cardhost_runtime::net::url::encode_component(CLIENT_SECRET),
    ] {
        assert!(
            !seen.contains(&old),
            "the old secret reached the new host: {seen}"
        );
    }
    assert!(
        !seen
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("authorization: bearer")),
        "a cached access token reached the new host: {seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_urls_obey_the_scheme_rules_and_token_answers_are_capped() {
    let world = World::start().await;
    // Production defaults: plain http is refused for the token endpoint as
    // for API requests.
    let (store, _) = store::open_in(&world.dir.path().join("strict"))
        .await
        .unwrap();
    let host = Cardhost::empty(RuntimeConfig {
        builtin_connectors: false,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let wasm = std::fs::read(cardhost_e2e::guests::OAUTH_APP).unwrap();
    let registry = host
        .load_sources(vec![(Source::Builtin("oauth-app".into()), wasm)])
        .await;
    host.set_registry(registry);
    let strict = Connections::new(Arc::new(host), Arc::new(store));
    let mut req = world.create_request("plain", "client-credentials");
    req.fields["base_url"] = json!("https://api.example.com");
    let err = strict.create(req).await.unwrap_err().to_string();
    assert!(
        err.contains("token URL") && err.contains("plain http"),
        "{err}"
    );

    // A token endpoint that answers 2 GiB: cut at the cap, as an error.
    let huge = {
        use axum::body::Body;
        let app = axum::Router::new().fallback(|| async {
            let chunk = bytes::Bytes::from(vec![b' '; 1 << 20]);
            let stream = futures::stream::iter(
                (0..2048).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
            );
            axum::response::Response::builder()
                .header("content-type", "application/json")
                .body(Body::from_stream(stream))
                .unwrap()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    };
    let conns = world.service(test_limits()).await;
    let mut req = world.create_request("huge", "client-credentials");
    req.fields["token_url"] = json!(huge);
    conns.create(req).await.unwrap();
    let err = conns
        .invoke("huge", "whoami", &json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("byte limit"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_store_spend_one_refresh_token_between_them() {
    let world = World::start().await;
    // Two services on one SQLite file, each with its own connection to it:
    // what `cardhost serve` and a CLI `invoke` are.
    let first = world.service(test_limits()).await;
    first
        .create(world.create_request("shared", "authorization-code"))
        .await
        .unwrap();
    authorize(&world, &first, "shared").await;
    let second = world.service(test_limits()).await;
    // Both have opened the connection with the current tokens.
    first.invoke("shared", "whoami", &json!({})).await.unwrap();
    second.invoke("shared", "whoami", &json!({})).await.unwrap();

    // The provider expires the access token, rotates refresh tokens, and
    // takes half a second to answer.
    let state = world.oauth.state();
    state.expire_access_tokens();
    state.delay_next_token_requests(10, Duration::from_millis(500));
    let calls = (0..50).flat_map(|_| {
        [first.clone(), second.clone()].map(|conns| {
            tokio::spawn(async move { conns.invoke("shared", "whoami", &json!({})).await })
        })
    });
    let results = futures::future::join_all(calls).await;
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.unwrap().err().map(|e| e.to_string()))
        .collect();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert_eq!(state.token_request_count(GrantType::RefreshToken), 1);
    let record = first.show("shared").await.unwrap().record;
    assert_eq!(
        record.state,
        ConnectionState::Ready,
        "{:?}",
        record.state_message
    );
}

/// Tokens kept in memory; saves fail while `failing` is set.
struct FlakySink {
    saved: std::sync::Mutex<Option<cardhost_runtime::credentials::TokenSet>>,
    failing: AtomicBool,
    reauthorize: AtomicBool,
}

#[async_trait::async_trait]
impl cardhost_runtime::credentials::TokenSink for FlakySink {
    async fn save(&self, tokens: &cardhost_runtime::credentials::TokenSet) -> Result<(), String> {
        if self.failing.load(Ordering::SeqCst) {
            return Err("attempt to write a readonly database".into());
        }
        *self.saved.lock().unwrap() = Some(tokens.clone());
        Ok(())
    }

    async fn needs_reauthorization(&self, _reason: &str) {
        self.reauthorize.store(true, Ordering::SeqCst);
    }

    async fn load(&self) -> Option<cardhost_runtime::credentials::TokenSet> {
        self.saved.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_save_after_a_rotation_keeps_the_new_tokens_until_it_lands() {
    use cardhost_runtime::credentials::TokenManager;
    use cardhost_runtime::credentials::oauth2::{ClientAuthMethod, Grant, OAuthClient};
    let world = World::start().await;
    let conns = world.service(test_limits()).await;
    let record = conns
        .create(world.create_request("flaky", "authorization-code"))
        .await
        .unwrap();
    authorize(&world, &conns, "flaky").await;
    let tokens = conns.store().tokens(&record.id).await.unwrap();
    let sink = Arc::new(FlakySink {
        saved: std::sync::Mutex::new(Some(tokens.clone())),
        failing: AtomicBool::new(true),
        reauthorize: AtomicBool::new(false),
    });
    let client = OAuthClient {
        token_url: url::Url::parse(&world.oauth.token_url()).unwrap(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        scopes: vec!["read:me".into()],
        auth: ClientAuthMethod::ClientSecretBasic,
    };
    let manager = TokenManager::new(
        client,
        Grant::RefreshToken,
        tokens.clone(),
        Some(sink.clone()),
    );
    let transport = conns.host().broker().transport();
    let state = world.oauth.state();

    // The provider rotates; the save fails: the new tokens are kept and used.
    state.expire_access_tokens();
    let generation = manager.generation();
    let token = manager
        .refresh_after_failure(transport, generation)
        .await
        .expect("the renewed token is usable although it could not be saved");
    assert!(state.validate(&token).is_some());
    assert_ne!(manager.tokens().await.refresh_token, tokens.refresh_token);
    // While the save keeps failing, no further refresh spends the new token.
    let generation = manager.generation();
    let err = manager
        .refresh_after_failure(transport, generation)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("could not be saved"), "{err}");
    assert_eq!(state.token_request_count(GrantType::RefreshToken), 1);

    // Writable again: the tokens land, and renewal works with no consent.
    sink.failing.store(false, Ordering::SeqCst);
    manager.access_token(transport).await.unwrap();
    let saved = sink.saved.lock().unwrap().clone().unwrap();
    assert_eq!(saved.refresh_token, manager.tokens().await.refresh_token);
    state.expire_access_tokens();
    let generation = manager.generation();
    let token = manager
        .refresh_after_failure(transport, generation)
        .await
        .unwrap();
    assert!(state.validate(&token).is_some());
    assert!(!sink.reauthorize.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_refuses_while_a_server_holds_the_store_and_every_secret_opens_after() {
    let world = World::start().await;
    let out = world.run(
        &world
            .create_args("kept", "client-credentials")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(out.status.success());

    // A server on the same data directory.
    let mut serve = world
        .cli()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    let started = lines
        .next()
        .expect("the server says where it listens")
        .unwrap();
    assert!(started.contains("127.0.0.1"), "{started}");
    let out = world.run(&["connections", "rotate-key"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("another cardhost process is using"),
        "{}",
        text(&out.stderr)
    );
    let _ = serve.kill();
    let _ = serve.wait();

    // With the server gone the rotation runs, and a restart opens every
    // secret and token.
    let out = world.run(&["connections", "rotate-key"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let conns = world.service(test_limits()).await;
    let record = conns.show("kept").await.unwrap().record;
    let secrets = conns.store().secrets(&record.id).await.unwrap();
    assert_eq!(secrets["client_secret"].expose(), CLIENT_SECRET);
    conns.invoke("kept", "whoami", &json!({})).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_master_key_with_sealed_data_refuses_to_start() {
    let world = World::start().await;
    let out = world.run(
        &world
            .create_args("sealed", "client-credentials")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(out.status.success());
    std::fs::rename(
        world.data_dir().join(store::KEY_FILE),
        world.dir.path().join("backup.key"),
    )
    .unwrap();
    let err = store::open_in(&world.data_dir()).await.unwrap_err();
    assert!(
        err.contains("sealed values") && err.contains("master.key"),
        "{err}"
    );
    assert!(
        !world.data_dir().join(store::KEY_FILE).exists(),
        "no new key was made"
    );
    let out = world.run(&["connections", "list"]);
    assert!(!out.status.success());
    std::fs::rename(
        world.dir.path().join("backup.key"),
        world.data_dir().join(store::KEY_FILE),
    )
    .unwrap();
    let out = world.run(&["connections", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_connector_with_a_new_token_url_needs_approval() {
    let world = World::start().await;
    let conns = world.service(test_limits()).await;
    conns
        .create(world.create_request("machine", "client-credentials"))
        .await
        .unwrap();
    conns.invoke("machine", "whoami", &json!({})).await.unwrap();
    let state = world.oauth.state();
    let fetched = state.token_request_count(GrantType::ClientCredentials);

    // The same connector id, upgraded to send the client secret elsewhere.
    let wasm = std::fs::read(cardhost_e2e::guests::OAUTH_APP_UPGRADED).unwrap();
    let registry = conns
        .host()
        .load_sources(vec![(Source::Builtin("oauth-app".into()), wasm)])
        .await;
    assert!(registry.errors().is_empty(), "{:?}", registry.errors());
    conns.host().set_registry(registry);

    let err = conns
        .invoke("machine", "whoami", &json!({}))
        .await
        .unwrap_err();
    match &err {
        ConnectionError::NotReady { state, message, .. } => {
            assert_eq!(*state, ConnectionState::NeedsApproval);
            assert!(message.contains("tokens.oauth-app.example"), "{message}");
        }
        other => panic!("expected needs-approval, got {other}"),
    }
    let record = conns.show("machine").await.unwrap().record;
    assert_eq!(record.state, ConnectionState::NeedsApproval);
    let pending = conns.pending_approval("machine").await.unwrap();
    assert!(
        pending
            .iter()
            .any(|c| c.contains("token_url") && c.contains("tokens.oauth-app.example")),
        "{pending:?}"
    );
    assert_eq!(
        state.token_request_count(GrantType::ClientCredentials),
        fetched
    );

    // Approving needs the client secret again, since it would go elsewhere.
    let err = conns.approve("machine", BTreeMap::new()).await.unwrap_err();
    assert!(
        matches!(&err, ConnectionError::SecretsRequired { secrets, .. } if secrets == &["client_secret"]),
        "{err}"
    );
    let record = conns
        .approve(
            "machine",
            BTreeMap::from([("client_secret".to_string(), Secret::new("for-the-new-host"))]),
        )
        .await
        .unwrap();
    assert_eq!(record.state, ConnectionState::Ready);
    assert!(conns.pending_approval("machine").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_credentials_connection_recovers_with_a_test_or_a_new_secret() {
    let world = World::start().await;
    let conns = world.service(test_limits()).await;
    conns
        .create(world.create_request("machine", "client-credentials"))
        .await
        .unwrap();
    let state = world.oauth.state();
    for recover in ["test", "set-secret"] {
        state.expire_access_tokens();
        state.fail_next_token_requests_with(1, 400, "invalid_grant");
        let _ = conns
            .invoke("machine", "whoami", &json!({}))
            .await
            .unwrap_err();
        assert_eq!(
            conns.show("machine").await.unwrap().record.state,
            ConnectionState::NeedsReauthorization
        );
        match recover {
            "test" => assert!(conns.test("machine").await.unwrap().ok),
            _ => conns
                .set_secret("machine", "client_secret", &Secret::new(CLIENT_SECRET))
                .await
                .unwrap(),
        }
        assert_eq!(
            conns.show("machine").await.unwrap().record.state,
            ConnectionState::Ready,
            "{recover}"
        );
        conns.invoke("machine", "whoami", &json!({})).await.unwrap();
    }
}

/// A client-credentials connection `name`, an invoker key, and a
/// `cardhost serve` on the world's store: the server, its URL, the key and
/// its standard output (kept open: the server may still write to it).
fn serve_with_connection(
    world: &World,
    name: &str,
) -> (
    std::process::Child,
    String,
    String,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    let out = world.run(
        &world
            .create_args(name, "client-credentials")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(out.status.success());
    let out = world.run(&["keys", "create", "--name", name, "--role", "invoker"]);
    assert!(out.status.success());
    let key = text(&out.stdout).trim().to_string();
    let mut serve = world
        .cli()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    let started = lines.next().expect("the server says where").unwrap();
    let url = started
        .rsplit(' ')
        .next()
        .expect("a URL")
        .trim_end_matches('/')
        .to_string();
    (serve, url, key, lines)
}

/// A burst far over a connection's slots waits for them and is served in
/// full; history is written in batches off the invocation path, and a
/// server stopped with SIGTERM right after the burst still leaves one row
/// per invocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_after_a_burst_leaves_one_history_row_per_invocation() {
    const BURST: usize = 200;
    let world = World::start().await;
    let (mut serve, url, key, _out) = serve_with_connection(&world, "burst");

    let client = reqwest::Client::new();
    let calls = (0..BURST).map(|_| {
        let request = client
            .post(format!("{url}/v1/connections/burst/cards/whoami:invoke"))
            .bearer_auth(&key)
            .json(&json!({}))
            .send();
        async move { request.await.map(|r| r.status().as_u16()) }
    });
    // All at once, far over the 8 slots a connection has: each waits for a
    // slot (`admission_wait_ms`) instead of being refused.
    let statuses = futures::future::join_all(calls).await;
    let ok = statuses.iter().filter(|s| matches!(s, Ok(200))).count();
    assert_eq!(ok, BURST, "{statuses:?}");

    // SIGTERM at once: the last rows may still be queued.
    let term = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = serve.wait().unwrap();
    assert!(status.success(), "{status:?}");

    let out = world.run(&[
        "--json",
        "history",
        "--connection",
        "burst",
        "--limit",
        "1000",
    ]);
    assert!(out.status.success());
    let history: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = history["invocations"].as_array().unwrap();
    let ids: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(rows.len(), BURST);
    assert_eq!(ids.len(), BURST, "every row is a distinct invocation");
    assert!(rows.iter().all(|r| r["outcome"] == "ok"), "{history}");
}

/// What a `kill -9` may cost the history: only the rows of invocations that
/// ended in the last moments. A burst is answered, and after a pause a
/// second; the server is killed the moment the second is answered. Every
/// invocation of the first burst has its row (the writer never sits on
/// rows), and the second's loss is measured and printed; the store opens
/// after and holds no row twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_loses_at_most_the_rows_of_the_last_moments() {
    const BURST: usize = 200;
    let world = World::start().await;
    let (mut serve, url, key, _out) = serve_with_connection(&world, "killed");
    let client = reqwest::Client::new();
    let burst = || {
        let calls = (0..BURST).map(|_| {
            let request = client
                .post(format!("{url}/v1/connections/killed/cards/whoami:invoke"))
                .bearer_auth(&key)
                .json(&json!({}))
                .send();
            async move {
                let response = request.await.unwrap();
                assert_eq!(response.status().as_u16(), 200);
                let body: Value = response.json().await.unwrap();
                body["invocation"].as_str().unwrap().to_string()
            }
        });
        futures::future::join_all(calls)
    };
    let first = burst().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = burst().await;
    let kill = Command::new("kill")
        .args(["-KILL", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let _ = serve.wait();

    let out = world.run(&[
        "--json",
        "history",
        "--connection",
        "killed",
        "--limit",
        "1000",
    ]);
    assert!(out.status.success(), "the store opens after a kill -9");
    let history: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = history["invocations"].as_array().unwrap();
    let ids: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), rows.len(), "no row twice");
    let missing_first = first.iter().filter(|id| !ids.contains(id.as_str())).count();
    assert_eq!(
        missing_first, 0,
        "rows of invocations answered 300 ms before the kill were lost"
    );
    let lost = second
        .iter()
        .filter(|id| !ids.contains(id.as_str()))
        .count();
    eprintln!("kill -9 at the end of a burst of {BURST}: {lost} of its rows lost");
    assert!(
        lost < BURST,
        "the writer commits while the burst runs, not only at the end"
    );
}
