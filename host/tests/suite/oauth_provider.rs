//! The host's OAuth2 flows against a real OAuth2 provider, not the in-house
//! emulator: `oauth2-mock-server` from npm, started by each test through
//! `tests/oauth-provider/provider.mjs` beside an API that accepts only
//! tokens whose RS256 signature checks out against the provider's JWKS.
//! The host is `cardhost serve` (its library), driven over HTTP as a client
//! and a browser would, with the `oauth-app` fixture connector.
//!
//! The provider needs Node.js and `npm ci --prefix tests/oauth-provider`
//! (the README's test command runs it); without it these tests fail and
//! say so.

use crate::common;

use cardhost::config::ServerConfig;
use cardhost::server::{RunningServer, keys};
use cardhost::store::Role;
use cardhost::{Limits, NetworkPolicy, RuntimeConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CLIENT_ID: &str = "cardhost-e2e";
/// Characters that client authentication must encode (`client_secret_post`,
/// the fixture's, sends it in the form body; Basic would form-encode it
/// too, RFC 6749 2.3.1): a host that does not is refused as
/// `invalid_client`.
const CLIENT_SECRET: &str = "s3cr3t:with+plus/slash&amp=eq";
const INSTALL: &str = "npm ci --prefix tests/oauth-provider";

/// `provider.mjs`, running for one test: the provider's and the API's base
/// URLs. Stopped when dropped (and it exits by itself when its standard
/// input closes, should the test process die first).
struct Provider {
    child: Child,
    provider: String,
    api: String,
    http: reqwest::Client,
}

impl Provider {
    fn start() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/oauth-provider");
        let installed = dir.join("node_modules/oauth2-mock-server/package.json");
        assert!(
            installed.is_file(),
            "the OAuth2 provider for these tests (oauth2-mock-server) is not installed: \
             run `{INSTALL}` from the repository root (it needs Node.js and npm), \
             then run the tests again"
        );
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `node` ({e}): the OAuth2 provider tests need Node.js; \
                     install it (with npm), run `{INSTALL}`, then run the tests again"
                )
            });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(read.map(|_| line));
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(line)) if !line.trim().is_empty() => line,
            other => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "provider.mjs did not say where it listens ({other:?}, exit {status:?}); \
                     its errors are above. Is it installed (`{INSTALL}`)?"
                )
            }
        };
        let started: Value = serde_json::from_str(&line).expect("provider.mjs prints JSON");
        eprintln!("provider.mjs: {started}");
        Provider {
            child,
            provider: started["provider"].as_str().unwrap().to_string(),
            api: started["api"].as_str().unwrap().to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// The oauth-app connection fields for this provider and API.
    fn fields(&self) -> Value {
        json!({
            "base_url": self.api,
            "token_url": format!("{}/token", self.provider),
            "authorize_url": format!("{}/authorize", self.provider),
            "revocation_url": format!("{}/revoke", self.provider),
            "scope": "read:me",
        })
    }

    /// What the provider and the API saw so far.
    async fn stats(&self) -> Value {
        let answer = self
            .http
            .get(format!("{}/stats", self.api))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        answer.json().await.unwrap()
    }

    /// Scripts what the provider or the API does next (see provider.mjs).
    async fn control(&self, what: Value) {
        let answer = self
            .http
            .post(format!("{}/control", self.api))
            .json(&what)
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            StatusCode::OK,
            "{}",
            answer.text().await.unwrap()
        );
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cardhost serve` with the oauth-app fixture, loopback upstreams allowed.
struct Host {
    server: RunningServer,
    http: reqwest::Client,
    admin: String,
    _dir: tempfile::TempDir,
}

impl Host {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let connectors_dir = dir.path().join("connectors");
        std::fs::create_dir_all(&connectors_dir).unwrap();
        std::fs::copy(
            cardhost_e2e::guests::OAUTH_APP,
            connectors_dir.join("oauth_app.wasm"),
        )
        .unwrap();
        let config = RuntimeConfig {
            limits: Limits::default(),
            network: NetworkPolicy {
                max_retries: 0,
                ..NetworkPolicy::loopback()
            },
            builtin_connectors: false,
            connectors_dir: Some(connectors_dir),
            cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")),
        };
        let (server, store) =
            common::serve_on(&dir.path().join("data"), config, ServerConfig::default()).await;
        let admin = keys::create(store.as_ref(), "test", Role::Admin)
            .await
            .unwrap()
            .key;
        Host {
            server,
            http: reqwest::Client::new(),
            admin,
            _dir: dir,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(
                method.parse().unwrap(),
                format!("{}{path}", self.server.url()),
            )
            .bearer_auth(&self.admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn create(&self, name: &str, method: &str, fields: Value, secret: &str) {
        let (status, body) = self
            .call(
                "POST",
                "/v1/connections",
                Some(json!({
                    "connector": "oauth-app", "name": name, "auth_method": method,
                    "fields": fields,
                    "secrets": {"client_id": CLIENT_ID, "client_secret": secret}
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    async fn whoami(&self, name: &str) -> (StatusCode, Value) {
        self.call(
            "POST",
            &format!("/v1/connections/{name}/cards/whoami:invoke"),
            Some(json!({})),
        )
        .await
    }

    async fn state(&self, name: &str) -> Value {
        let (status, body) = self
            .call("GET", &format!("/v1/connections/{name}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["state"].clone()
    }

    /// Runs the authorization-code flow for `name` as the host runs it:
    /// the API hands out cardhost's `/v1/oauth/start` URL, a browser
    /// follows it to the provider's `/authorize`, which redirects at once
    /// to the callback with a code and the state; the callback exchanges
    /// the code. Returns the flow's start and every URL the browser
    /// visited.
    async fn authorize(&self, name: &str) -> (Value, Vec<url::Url>) {
        let (status, start) = self
            .call("POST", &format!("/v1/connections/{name}/authorize"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{start}");
        let mut jar = Vec::new();
        let (status, page, visited) =
            browse(start["authorize_url"].as_str().unwrap(), &mut jar).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("Connected"), "{page}");
        (start, visited)
    }
}

/// Follows redirects as a browser would, keeping cookies in `jar`. Returns
/// the last answer's status and body, and every URL visited.
async fn browse(url: &str, jar: &mut Vec<(String, String)>) -> (StatusCode, String, Vec<url::Url>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = url::Url::parse(url).unwrap();
    let mut visited = Vec::new();
    for _ in 0..10 {
        visited.push(url.clone());
        let cookies: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut request = client.get(url.as_str());
        if !cookies.is_empty() {
            request = request.header("cookie", cookies.join("; "));
        }
        let response = request.send().await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            jar.retain(|(name, _)| name != k);
            jar.push((k.to_string(), v.to_string()));
        }
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers()["location"].to_str().unwrap();
            url = url.join(location).unwrap();
            continue;
        }
        return (status, response.text().await.unwrap(), visited);
    }
    panic!("too many redirects: {visited:?}");
}

fn query(url: &url::Url) -> std::collections::BTreeMap<String, String> {
    url.query_pairs().into_owned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_tokens_from_the_provider_reach_the_protected_api() {
    let provider = Provider::start();
    let host = Host::start().await;
    host.create(
        "machine",
        "client-credentials",
        provider.fields(),
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(host.state("machine").await, "ready");

    // The host fetches a token (client secret Basic-encoded, scope sent)
    // and the API verifies it against the provider's JWKS.
    let (status, body) = host.whoami("machine").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["output"]["client_id"], CLIENT_ID);
    assert_eq!(body["output"]["scope"], "read:me");
    let stats = provider.stats().await;
    assert_eq!(
        stats["token_requests"],
        json!({"client_credentials": 1}),
        "{stats}"
    );
    assert_eq!(stats["token_errors"], json!([]), "{stats}");
    assert_eq!(stats["api"], json!({"ok": 1, "unauthorized": 0}), "{stats}");

    // The token is reused while it is fresh.
    let (status, body) = host.whoami("machine").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stats = provider.stats().await;
    assert_eq!(
        stats["token_requests"],
        json!({"client_credentials": 1}),
        "{stats}"
    );
    assert_eq!(stats["api"]["ok"], 2, "{stats}");

    // A wrong client secret: the provider refuses it, and the invocation
    // fails with the provider's words; nothing reaches the API.
    host.create(
        "wrong",
        "client-credentials",
        provider.fields(),
        "not-the-secret",
    )
    .await;
    let (status, body) = host.whoami("wrong").await;
    assert!(!status.is_success(), "{status} {body}");
    assert!(body.to_string().contains("invalid_client"), "{body}");
    let stats = provider.stats().await;
    assert_eq!(
        stats["token_errors"][0]["error"], "invalid_client",
        "{stats}"
    );
    assert_eq!(stats["api"], json!({"ok": 2, "unauthorized": 0}), "{stats}");

    // Deleting revokes the access token at the provider's endpoint.
    let (status, deleted) = host.call("DELETE", "/v1/connections/machine", None).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["revoked"], true, "{deleted}");
    let stats = provider.stats().await;
    assert_eq!(
        stats["revocations"],
        json!([{"token_type_hint": "access_token", "token": "access token", "client_authenticated": true}]),
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_code_with_pkce_and_state_through_the_server_callback() {
    let provider = Provider::start();
    let host = Host::start().await;
    host.create(
        "app",
        "authorization-code",
        provider.fields(),
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(host.state("app").await, "needs-reauthorization");

    let (start, visited) = host.authorize("app").await;
    let callback = format!("{}/v1/oauth/callback", host.server.url());
    assert_eq!(start["redirect_uri"], callback);
    // The browser went cardhost → the provider's /authorize → the callback.
    let at_provider = visited
        .iter()
        .find(|u| {
            u.as_str()
                .starts_with(&format!("{}/authorize", provider.provider))
        })
        .unwrap_or_else(|| panic!("the browser never reached the provider: {visited:?}"));
    let back = visited.last().unwrap();
    assert!(back.as_str().starts_with(&callback), "{visited:?}");
    assert_eq!(query(back)["state"], start["state"].as_str().unwrap());
    assert!(query(back).contains_key("code"), "{back}");
    let asked = query(at_provider);
    assert_eq!(asked["state"], start["state"].as_str().unwrap());
    assert_eq!(asked["redirect_uri"], callback);

    // What the provider saw: one authorization request with S256 PKCE and
    // the state, one code exchange (redirect_uri and verifier checked; the
    // package checks the verifier against the challenge).
    let stats = provider.stats().await;
    let authorize = &stats["authorize_requests"];
    assert_eq!(authorize.as_array().unwrap().len(), 1, "{stats}");
    assert_eq!(authorize[0]["client_id"], CLIENT_ID);
    assert_eq!(authorize[0]["response_type"], "code");
    assert_eq!(authorize[0]["redirect_uri"], callback);
    assert_eq!(authorize[0]["scope"], "read:me");
    assert_eq!(authorize[0]["state"], start["state"]);
    assert_eq!(authorize[0]["code_challenge_method"], "S256");
    assert_eq!(authorize[0]["code_challenge"], true);
    assert_eq!(
        stats["token_requests"],
        json!({"authorization_code": 1}),
        "{stats}"
    );
    assert_eq!(stats["token_errors"], json!([]), "{stats}");
    assert_eq!(host.state("app").await, "ready");

    // The user's token reaches the API.
    let (status, body) = host.whoami("app").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["output"]["client_id"], CLIENT_ID);
    assert_eq!(
        body["output"]["sub"], "johndoe",
        "the provider's user, not a client token"
    );
    let stats = provider.stats().await;
    assert_eq!(stats["api"], json!({"ok": 1, "unauthorized": 0}), "{stats}");
    assert_eq!(
        stats["token_requests"],
        json!({"authorization_code": 1}),
        "{stats}"
    );

    // The provider's redirect, replayed, is refused by the host (the state
    // is single use) and never reaches the provider again.
    let replay = reqwest::get(back.as_str()).await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    let stats = provider.stats().await;
    assert_eq!(
        stats["token_requests"],
        json!({"authorization_code": 1}),
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_or_refused_token_is_refreshed_once_with_the_rotated_refresh_token() {
    let provider = Provider::start();
    let host = Host::start().await;
    host.create(
        "app",
        "authorization-code",
        provider.fields(),
        CLIENT_SECRET,
    )
    .await;
    // The code exchange's access token lives one second (its JWT expiry and
    // its `expires_in`).
    provider
        .control(json!({"short_lived_tokens": 1, "lifetime_secs": 1}))
        .await;
    host.authorize("app").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    // Expired: the host refreshes before the call instead of sending it;
    // the provider's refresh tokens rotate, and each works once.
    let (status, body) = host.whoami("app").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["output"]["sub"], "johndoe");
    let stats = provider.stats().await;
    assert_eq!(
        stats["token_requests"],
        json!({"authorization_code": 1, "refresh_token": 1}),
        "{stats}"
    );
    assert_eq!(stats["token_errors"], json!([]), "{stats}");
    assert_eq!(
        stats["api"],
        json!({"ok": 1, "unauthorized": 0}),
        "the expired token was sent: {stats}"
    );

    // Refused: the API answers 401 to a token it would otherwise accept;
    // the host refreshes once, with the refresh token the last refresh
    // returned (the first one is spent), and the call succeeds.
    provider.control(json!({"refuse_api_requests": 1})).await;
    let (status, body) = host.whoami("app").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stats = provider.stats().await;
    assert_eq!(
        stats["token_requests"],
        json!({"authorization_code": 1, "refresh_token": 2}),
        "{stats}"
    );
    assert_eq!(stats["token_errors"], json!([]), "{stats}");
    assert_eq!(stats["api"], json!({"ok": 2, "unauthorized": 1}), "{stats}");

    // The new token is kept: no further token request.
    let (status, body) = host.whoami("app").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stats = provider.stats().await;
    assert_eq!(stats["token_requests"]["refresh_token"], 2, "{stats}");
    assert_eq!(stats["api"]["ok"], 3, "{stats}");
    assert_eq!(host.state("app").await, "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_revokes_the_current_refresh_token_at_the_provider() {
    let provider = Provider::start();
    let host = Host::start().await;
    host.create(
        "app",
        "authorization-code",
        provider.fields(),
        CLIENT_SECRET,
    )
    .await;
    host.authorize("app").await;
    // One rotation first, so that the token to revoke is not the one the
    // code exchange returned.
    provider.control(json!({"refuse_api_requests": 1})).await;
    let (status, body) = host.whoami("app").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stats = provider.stats().await;
    assert_eq!(stats["token_requests"]["refresh_token"], 1, "{stats}");
    assert_eq!(stats["revocations"], json!([]), "{stats}");

    let (status, deleted) = host.call("DELETE", "/v1/connections/app", None).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["revoked"], true, "{deleted}");
    assert_eq!(deleted["revocation_error"], Value::Null, "{deleted}");
    let stats = provider.stats().await;
    assert_eq!(
        stats["revocations"],
        json!([{"token_type_hint": "refresh_token", "token": "live refresh token", "client_authenticated": true}]),
        "{stats}"
    );
    let (status, _) = host.call("GET", "/v1/connections/app", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
