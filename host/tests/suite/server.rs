//! `cardhost serve` over HTTP: catalog, connection operations, OAuth2
//! callback, invocation with each error class, roles and keys, metrics,
//! saturation, graceful shutdown and reload.

use crate::common;

use cardhost::config::ServerConfig;
use cardhost::server::{RunningServer, keys};
use cardhost::store::Role;
use cardhost::{Limits, NetworkPolicy, RuntimeConfig};
use cardhost_emulators::oauth::{self, ClientConfig, GrantType};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A directory API for the hello connector whose answer depends on the id.
async fn people(arrived: Arc<AtomicUsize>) -> String {
    use axum::extract::Path as P;
    use axum::http::StatusCode as S;
    use axum::response::IntoResponse;
    let app = axum::Router::new()
        .route(
            "/people",
            axum::routing::get(|| async { axum::Json(json!([])) }),
        )
        .route(
            "/people/{id}",
            axum::routing::get(move |P(id): P<String>| {
                let arrived = arrived.clone();
                async move {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let status = match id.as_str() {
                        "401" => S::UNAUTHORIZED,
                        "403" => S::FORBIDDEN,
                        "404" => S::NOT_FOUND,
                        "429" => {
                            return (S::TOO_MANY_REQUESTS, [("retry-after", "3")], "slow down")
                                .into_response();
                        }
                        "500" => S::INTERNAL_SERVER_ERROR,
                        "slow" => {
                            tokio::time::sleep(Duration::from_millis(1_500)).await;
                            S::OK
                        }
                        "hang" => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            S::OK
                        }
                        _ => S::OK,
                    };
                    (
                        status,
                        axum::Json(
                            json!({"id": id, "name": "Aiko", "message": "upstream says no"}),
                        ),
                    )
                        .into_response()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

struct Api {
    server: RunningServer,
    http: reqwest::Client,
    admin: String,
    invoker: String,
    reader: String,
    upstream: String,
    arrived: Arc<AtomicUsize>,
    connectors_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn copy_guest(path: &str, dir: &Path) {
    let name = Path::new(path).file_name().unwrap();
    std::fs::copy(path, dir.join(name)).unwrap();
}

async fn start(server_config: ServerConfig) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let connectors_dir = dir.path().join("connectors");
    std::fs::create_dir_all(&connectors_dir).unwrap();
    copy_guest(cardhost_e2e::guests::HELLO, &connectors_dir);
    copy_guest(cardhost_e2e::guests::OAUTH_APP, &connectors_dir);
    copy_guest(cardhost_e2e::guests::LOOP_FOREVER, &connectors_dir);
    let config = RuntimeConfig {
        limits: Limits {
            deadline_ms: 2_000,
            ..Limits::default()
        },
        network: NetworkPolicy {
            max_retries: 0,
            ..NetworkPolicy::loopback()
        },
        builtin_connectors: false,
        connectors_dir: Some(connectors_dir.clone()),
        cache_dir: Some(
            std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache"),
        ),
    };
    let (server, store) = common::serve_on(&dir.path().join("data"), config, server_config).await;
    let key = async |role| {
        keys::create(store.as_ref(), "test", role)
            .await
            .unwrap()
            .key
    };
    let arrived = Arc::new(AtomicUsize::new(0));
    Api {
        server,
        http: reqwest::Client::new(),
        admin: key(Role::Admin).await,
        invoker: key(Role::Invoker).await,
        reader: key(Role::Reader).await,
        upstream: people(arrived.clone()).await,
        arrived,
        connectors_dir,
        _dir: dir,
    }
}

impl Api {
    async fn call(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let url = format!("{}{path}", self.server.url());
        let mut req = self
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value, headers)
    }

    async fn hello_connection(&self, name: &str) -> String {
        let (status, body, _) = self
            .call(
                &self.admin,
                "POST",
                "/v1/connections",
                Some(json!({
                    "connector": "hello", "name": name,
                    "fields": {"base_url": self.upstream},
                    "secrets": {"token": "hello-token-value"}
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    async fn greet(&self, conn: &str, id: &str) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        self.call(
            &self.invoker,
            "POST",
            &format!("/v1/connections/{conn}/cards/greet-person:invoke"),
            Some(json!({"id": id})),
        )
        .await
    }

    async fn metric(&self, line_prefix: &str) -> f64 {
        let (_, text, _) = self.call(&self.reader, "GET", "/metrics", None).await;
        text.as_str()
            .unwrap()
            .lines()
            .find(|l| l.starts_with(line_prefix))
            .and_then(|l| l.rsplit(' ').next())
            .map(|v| v.parse().unwrap())
            .unwrap_or(0.0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_roles_catalog_and_connection_operations() {
    let api = start(ServerConfig::default()).await;
    let base = api.server.url();

    // Health needs no key; everything else does.
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let no_key = reqwest::get(format!("{base}/v1/connectors")).await.unwrap();
    assert_eq!(no_key.status(), StatusCode::UNAUTHORIZED);
    assert!(no_key.headers().contains_key("www-authenticate"));
    let (status, body, _) = api
        .call("chk_abc_forged", "GET", "/v1/connectors", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthenticated");

    // Catalog.
    let (status, body, _) = api.call(&api.reader, "GET", "/v1/connectors", None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = body["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["hello", "loop-forever", "oauth-app"]);
    let (_, hello, _) = api
        .call(&api.reader, "GET", "/v1/connectors/hello", None)
        .await;
    assert_eq!(hello["connection_schema"]["required"], json!(["base_url"]));
    // Where each secret goes is shown before anyone enters one.
    let goes = &hello["auth_methods"][0]["destinations"]["secrets"][0];
    assert_eq!(goes["name"], "token");
    assert!(
        goes["goes_to"][0]
            .as_str()
            .unwrap()
            .contains("`Authorization: Bearer` header, to the base URL's origin only ({base_url})"),
        "{goes}"
    );
    assert!(
        hello["cards"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "custom-api-action")
    );
    assert_eq!(hello["auth_methods"][0]["kind"], "bearer");
    let (status, _, _) = api
        .call(&api.reader, "GET", "/v1/connectors/nope", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, doc, _) = api.call(&api.reader, "GET", "/openapi.json", None).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/connections/{id}/cards/{action}"]["post"].is_object());

    // Only admins create; bad fields are named.
    let create = json!({"connector": "hello", "name": "dir", "fields": {"base_url": api.upstream}, "secrets": {"token": "hello-token-value"}});
    for key in [&api.reader, &api.invoker] {
        let (status, body, _) = api
            .call(key, "POST", "/v1/connections", Some(create.clone()))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (status, body, _) = api
        .call(&api.admin, "POST", "/v1/connections", Some(json!({"connector": "hello", "name": "bad", "fields": {"base_url": "ftp://x"}, "secrets": {"token": "t"}})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["violations"][0]["pointer"], "/base_url");
    let (status, body, _) = api
        .call(
            &api.admin,
            "POST",
            "/v1/connections",
            Some(json!({"connector": "hello"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid-json");
    let (status, created, _) = api
        .call(&api.admin, "POST", "/v1/connections", Some(create.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        !created.to_string().contains("hello-token-value"),
        "secrets are write-only"
    );
    assert_eq!(created["secrets"][0]["name"], "token");
    let id = created["id"].as_str().unwrap();
    let (status, _, _) = api
        .call(&api.admin, "POST", "/v1/connections", Some(create))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Show, list, fields, secret, grant, test.
    let (_, shown, _) = api
        .call(&api.reader, "GET", &format!("/v1/connections/{id}"), None)
        .await;
    assert_eq!(shown["state"], "ready");
    assert!(
        shown["cards"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["usable"] == true)
    );
    let (_, list, _) = api.call(&api.reader, "GET", "/v1/connections", None).await;
    assert_eq!(list["connections"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains("hello-token-value"));
    let (status, _, _) = api
        .call(
            &api.admin,
            "PUT",
            &format!("/v1/connections/{id}/fields"),
            Some(json!({"fields": {"base_url": format!("{}/", api.upstream)}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Moving the API origin needs the token given again, in the same request.
    let elsewhere = api.upstream.replace("127.0.0.1", "localhost");
    let (status, body, _) = api
        .call(
            &api.admin,
            "PUT",
            &format!("/v1/connections/{id}/fields"),
            Some(json!({"fields": {"base_url": elsewhere}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "secrets-required");
    assert_eq!(body["error"]["secrets_required"], json!(["token"]));
    let (status, body, _) = api
        .call(
            &api.admin,
            "PUT",
            &format!("/v1/connections/{id}/fields"),
            Some(json!({"fields": {"base_url": api.upstream}, "secrets": {"token": "hello-token-value"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = api
        .call(
            &api.admin,
            "PUT",
            &format!("/v1/connections/{id}/secrets/token"),
            Some(json!({"value": "rotated-token"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = api
        .call(
            &api.admin,
            "PUT",
            &format!("/v1/connections/{id}/secrets/nope"),
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = api
        .call(
            &api.admin,
            "PUT",
            &format!("/v1/connections/{id}/grant"),
            Some(json!({"permissions": []})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, cards, _) = api
        .call(
            &api.reader,
            "GET",
            &format!("/v1/connections/{id}/cards"),
            None,
        )
        .await;
    let greet = cards["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "greet-person")
        .unwrap();
    assert_eq!(greet["usable"], false);
    assert_eq!(greet["missing_permissions"], json!(["people-read"]));
    let (status, body, _) = api.greet(id, "7").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "denied");
    api.call(
        &api.admin,
        "PUT",
        &format!("/v1/connections/{id}/grant"),
        Some(json!({"permissions": ["people-read"]})),
    )
    .await;
    let (status, report, _) = api
        .call(
            &api.invoker,
            "POST",
            &format!("/v1/connections/{id}/test"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], true, "{report}");

    // Delete.
    let (status, _, _) = api
        .call(
            &api.invoker,
            "DELETE",
            &format!("/v1/connections/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = api
        .call(&api.admin, "DELETE", &format!("/v1/connections/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = api
        .call(&api.reader, "GET", &format!("/v1/connections/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_answer_with_a_status_for_each_error_class() {
    let api = start(ServerConfig::default()).await;
    let conn = api.hello_connection("dir").await;
    let before = api
        .metric(
            "cardhost_invocations_total{connector=\"hello\",card=\"greet-person\",outcome=\"ok\"}",
        )
        .await;

    let (status, body, _) = api.greet(&conn, "7").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["output"]["greeting"], "Hello, Aiko!");
    assert!(body["invocation"].as_str().unwrap().len() > 8);
    let after = api
        .metric(
            "cardhost_invocations_total{connector=\"hello\",card=\"greet-person\",outcome=\"ok\"}",
        )
        .await;
    assert_eq!(after, before + 1.0, "metrics count the invocation");

    // The reader may not invoke.
    let (status, _, _) = api
        .call(
            &api.reader,
            "POST",
            &format!("/v1/connections/{conn}/cards/greet-person:invoke"),
            Some(json!({"id": "7"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Invalid input never reaches the upstream.
    let arrived = api.arrived.load(Ordering::SeqCst);
    let (status, body, _) = api
        .call(
            &api.invoker,
            "POST",
            &format!("/v1/connections/{conn}/cards/greet-person:invoke"),
            Some(json!({"id": 7, "extra": true})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid-input");
    let pointers: Vec<&str> = body["error"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/id"), "{body}");
    assert_eq!(api.arrived.load(Ordering::SeqCst), arrived);

    let cases = [
        ("401", StatusCode::UNAUTHORIZED, "upstream-unauthorized"),
        ("403", StatusCode::FORBIDDEN, "upstream-forbidden"),
        ("404", StatusCode::NOT_FOUND, "not-found"),
        ("429", StatusCode::TOO_MANY_REQUESTS, "rate-limited"),
        ("500", StatusCode::BAD_GATEWAY, "upstream"),
        ("hang", StatusCode::GATEWAY_TIMEOUT, "deadline-exceeded"),
    ];
    for (id, expected, code) in cases {
        let (status, body, headers) = api.greet(&conn, id).await;
        assert_eq!(status, expected, "{id}: {body}");
        assert_eq!(body["error"]["code"], code, "{id}: {body}");
        if id == "429" {
            assert_eq!(headers["retry-after"], "3");
        }
    }
    let (status, _, _) = api
        .call(
            &api.invoker,
            "POST",
            &format!("/v1/connections/{conn}/cards/nope:invoke"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An unknown card leaves no metric label and no history row behind.
    let (_, metrics, _) = api.call(&api.reader, "GET", "/metrics", None).await;
    assert!(!metrics.to_string().contains("nope"), "{metrics}");
    let (status, _, _) = api.greet("conn_missing", "7").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // History, filtered.
    let (status, body, _) = api
        .call(
            &api.reader,
            "GET",
            "/v1/invocations?connection=dir&outcome=ok",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["invocations"].as_array().unwrap().len(), 1);
    let (_, body, _) = api
        .call(
            &api.reader,
            "GET",
            "/v1/invocations?connection=dir&limit=100",
            None,
        )
        .await;
    assert_eq!(body["invocations"].as_array().unwrap().len(), 8);
    assert!(!body.to_string().contains("nope"));
    let (status, _, _) = api
        .call(&api.reader, "GET", "/v1/invocations?bogus=1", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!body.to_string().contains("hello-token-value"));
}

/// Follows redirects as a browser would, keeping cookies in `jar`. With
/// `stop_at_callback`, stops before the OAuth callback and returns its URL
/// (the "page" of a 302) instead of visiting it.
async fn browse(
    url: &str,
    jar: &mut Vec<(String, String)>,
    stop_at_callback: bool,
) -> (StatusCode, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = url.to_string();
    for _ in 0..10 {
        if stop_at_callback && url.contains("/v1/oauth/callback") {
            return (StatusCode::FOUND, url);
        }
        let cookies: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut request = client.get(&url);
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
            url = url::Url::parse(&url)
                .unwrap()
                .join(location)
                .unwrap()
                .to_string();
            continue;
        }
        return (status, response.text().await.unwrap());
    }
    panic!("too many redirects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oauth_callback_completes_the_flow_and_refuses_a_bad_state() {
    let api = start(ServerConfig::default()).await;
    let redirect = format!("{}/v1/oauth/callback", api.server.url());
    let provider = oauth::start(oauth::Config::keycloak("srv")).await.unwrap();
    provider.state().add_client(
        ClientConfig::authorization_code("srv-client", "srv-secret", &redirect)
            .scopes(&["read:me"]),
    );
    let (status, body, _) = api
        .call(&api.admin, "POST", "/v1/connections", Some(json!({
            "connector": "oauth-app", "name": "app", "auth_method": "authorization-code",
            "fields": {"base_url": api.upstream, "token_url": provider.token_url(), "authorize_url": provider.authorize_url(),
                       "revocation_url": provider.revocation_url(), "scope": "read:me"},
            "secrets": {"client_id": "srv-client", "client_secret": "srv-secret"}
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"], "needs-reauthorization");

    let bad = reqwest::get(format!("{redirect}?state=forged&code=x"))
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("Authorization failed"));

    let (status, start, _) = api
        .call(&api.admin, "POST", "/v1/connections/app/authorize", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{start}");
    assert_eq!(start["redirect_uri"], redirect);
    // Another browser that got hold of the provider's redirect (the code
    // and state) cannot finish the flow, and uses nothing up.
    let mut jar = Vec::new();
    let (status, stolen) = browse(start["authorize_url"].as_str().unwrap(), &mut jar, true).await;
    assert_eq!(status, StatusCode::FOUND);
    let (status, page) = browse(&stolen, &mut Vec::new(), false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("did not come from the browser"), "{page}");
    // The browser that started it finishes it.
    let (status, page) = browse(&stolen, &mut jar, false).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Connected"), "{page}");
    assert_eq!(
        provider
            .state()
            .token_request_count(GrantType::AuthorizationCode),
        1
    );
    let (_, shown, _) = api
        .call(&api.reader, "GET", "/v1/connections/app", None)
        .await;
    assert_eq!(shown["state"], "ready");
    // The state was single use.
    let replay = reqwest::get(format!(
        "{redirect}?state={}&code=x",
        start["state"].as_str().unwrap()
    ))
    .await
    .unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturation_answers_503_and_shutdown_finishes_in_flight_work() {
    let api = start(ServerConfig {
        max_concurrent_per_connection: 1,
        // Refused at once rather than after waiting for the slot.
        admission_wait_ms: 0,
        shutdown_grace_ms: 10_000,
        ..ServerConfig::default()
    })
    .await;
    let conn = api.hello_connection("dir").await;
    let api = Arc::new(api);
    let wait_for_arrivals = |n: usize| {
        let api = api.clone();
        async move {
            for _ in 0..200 {
                if api.arrived.load(Ordering::SeqCst) >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("the slow request never arrived");
        }
    };

    let slow = {
        let (api, conn) = (api.clone(), conn.clone());
        tokio::spawn(async move { api.greet(&conn, "slow").await })
    };
    wait_for_arrivals(1).await;
    let (status, body, headers) = api.greet(&conn, "7").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "saturated");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(
        api.metric("cardhost_rejected_total{reason=\"saturated\"}")
            .await,
        1.0
    );
    let (status, _, _) = slow.await.unwrap();
    assert_eq!(status, StatusCode::OK);

    // Shutdown waits for the invocation in flight.
    let in_flight = {
        let (api, conn) = (api.clone(), conn.clone());
        tokio::spawn(async move { api.greet(&conn, "slow").await })
    };
    wait_for_arrivals(2).await;
    api.server.shutdown();
    let (status, body, _) = in_flight.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["output"]["greeting"], "Hello, Aiko!");
    let api = Arc::into_inner(api).expect("no other handle");
    let url = api.server.url();
    tokio::time::timeout(Duration::from_secs(10), api.server.wait())
        .await
        .expect("the server stops")
        .unwrap();
    assert!(
        reqwest::get(format!("{url}/healthz")).await.is_err(),
        "no longer listening"
    );
}

/// Keys and connections are looked up in memory while the store has not
/// changed; a change made by another process — the CLI beside the running
/// server — still takes effect within the store's watch interval, and one
/// made through this server at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_or_a_connection_deleted_by_the_cli_stops_working_at_once() {
    let api = start(ServerConfig::default()).await;
    let conn = api.hello_connection("cached").await;
    let data_dir = api._dir.path().join("data");
    let cli = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cardhost"));
        command
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--connectors-dir")
            .arg(&api.connectors_dir)
            .arg("--allow-loopback")
            .args(args);
        let out = common::run_shown(&format!("cardhost {}", args.join(" ")), &mut command);
        assert!(out.status.success());
    };
    // Warm: the key and the connection are now served from memory.
    for _ in 0..3 {
        let (status, body, _) = api.greet(&conn, "7").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Within the watch interval and a margin for a loaded machine; what this
    // bounds is correctness (a revoked key is refused), not speed.
    let within = cardhost::store::WATCH_INTERVAL * 20;
    let key_id = api.invoker.split('_').nth(1).unwrap().to_string();
    cli(&["keys", "revoke", &key_id]);
    let revoked_at = std::time::Instant::now();
    loop {
        let (status, body, _) = api.greet(&conn, "7").await;
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(body["error"]["code"], "unauthenticated");
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(revoked_at.elapsed() < within, "the revoked key still works");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Deleted by the CLI: the admin's next read no longer finds it.
    let (status, body, _) = api
        .call(&api.admin, "GET", &format!("/v1/connections/{conn}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    cli(&["connections", "delete", &conn]);
    let deleted_at = std::time::Instant::now();
    loop {
        let (status, body, _) = api
            .call(&api.admin, "GET", &format!("/v1/connections/{conn}"), None)
            .await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            deleted_at.elapsed() < within,
            "the deleted connection is still there"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Through this server: at once, no waiting.
    let other = api.hello_connection("cached-2").await;
    let (status, _, _) = api
        .call(
            &api.admin,
            "DELETE",
            &format!("/v1/connections/{other}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, _) = api
        .call(&api.admin, "GET", &format!("/v1/connections/{other}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_guests_never_stall_health_callbacks_honest_cards_or_shutdown() {
    let api = Arc::new(start(ServerConfig::default()).await);
    let hello = api.hello_connection("dir").await;
    let (status, body, _) = api
        .call(
            &api.admin,
            "POST",
            "/v1/connections",
            Some(json!({"connector": "loop-forever", "name": "spin", "fields": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let spin = body["id"].as_str().unwrap().to_string();

    // Twice as many spinning cards as this machine has cores (at least 4).
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let spinners: Vec<_> = (0..(2 * cores).max(4))
        .map(|_| {
            let (api, spin) = (api.clone(), spin.clone());
            tokio::spawn(async move {
                api.call(
                    &api.invoker,
                    "POST",
                    &format!("/v1/connections/{spin}/cards/run:invoke"),
                    Some(json!({})),
                )
                .await
            })
        })
        .collect();
    // Let them start spinning.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // While they spin (their deadline is 2 s): health, the OAuth callback
    // and an honest card are all answered.
    for _ in 0..5 {
        let health = reqwest::get(format!("{}/healthz", api.server.url()))
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK);
    }
    let callback = reqwest::get(format!(
        "{}/v1/oauth/callback?state=unknown&code=x",
        api.server.url()
    ))
    .await
    .unwrap();
    assert!(callback.status().is_client_error(), "{}", callback.status());
    let (status, body, _) = api.greet(&hello, "7").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        spinners.iter().all(|s| !s.is_finished()),
        "the spinning cards ended before the server answered the others: it was stalled"
    );

    // The spinners end at their deadline, with the deadline error.
    for spinner in spinners {
        let (status, body, _) = spinner.await.unwrap();
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
        assert_eq!(body["error"]["code"], "deadline-exceeded", "{body}");
    }

    // And shutdown with spinners in flight finishes within the deadline.
    let spinner = {
        let (api, spin) = (api.clone(), spin.clone());
        tokio::spawn(async move {
            api.call(
                &api.invoker,
                "POST",
                &format!("/v1/connections/{spin}/cards/run:invoke"),
                Some(json!({})),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    api.server.shutdown();
    let (status, _, _) = spinner.await.unwrap();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    let api = Arc::into_inner(api).expect("no other handle");
    tokio::time::timeout(Duration::from_secs(10), api.server.wait())
        .await
        .expect("the server stops")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_picks_up_a_new_connector() {
    let api = start(ServerConfig::default()).await;
    let (_, before, _) = api.call(&api.reader, "GET", "/v1/connectors", None).await;
    assert_eq!(before["connectors"].as_array().unwrap().len(), 3);
    copy_guest(cardhost_e2e::guests::OVERREACH, &api.connectors_dir);
    let (status, _, _) = api
        .call(&api.invoker, "POST", "/v1/admin/reload", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body, _) = api.call(&api.admin, "POST", "/v1/admin/reload", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, after, _) = api.call(&api.reader, "GET", "/v1/connectors", None).await;
    let ids: Vec<&str> = after["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["hello", "loop-forever", "oauth-app", "overreach"]);
    assert_eq!(api.metric("cardhost_registry_reloads_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_dropped_while_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let api = start(ServerConfig {
        header_read_timeout_ms: 1_000,
        body_read_timeout_ms: 1_000,
        ..ServerConfig::default()
    })
    .await;
    // Slowloris: a request's headers, one byte at a time, never finished.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut tcp = tokio::net::TcpStream::connect(api.server.addr())
            .await
            .unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(tcp);
    }
    let trickle = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let mut dropped_after = None;
        'outer: for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            for tcp in &mut slow {
                if tcp.write_all(b"X").await.is_err() {
                    dropped_after = Some(started.elapsed());
                    break 'outer;
                }
                let mut buf = [0u8; 256];
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut buf)).await
                    && n == 0
                {
                    dropped_after = Some(started.elapsed());
                    break 'outer;
                }
            }
        }
        dropped_after
    });
    // Meanwhile everyone else is served.
    for _ in 0..10 {
        let health = reqwest::get(format!("{}/healthz", api.server.url()))
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dropped = trickle.await.unwrap();
    assert!(dropped.is_some(), "the slow clients were never dropped");

    // A body that trickles gets 408.
    let mut tcp = tokio::net::TcpStream::connect(api.server.addr())
        .await
        .unwrap();
    tcp.write_all(
        format!(
            "POST /v1/connections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
            api.admin
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_poll_on_their_own_and_keep_each_event_once() {
    let api = start(ServerConfig::default()).await;
    // A connector with a polling trigger, loaded into the running server.
    copy_guest(cardhost_e2e::guests::HUGE_OUTPUT, &api.connectors_dir);
    let (status, _, _) = api.call(&api.admin, "POST", "/v1/admin/reload", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, _) = api
        .call(
            &api.admin,
            "POST",
            "/v1/connections",
            Some(json!({
                "connector": "huge-output", "name": "liar",
                "fields": {"base_url": api.upstream},
                "secrets": {"token": "liar-token"}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, body, _) = api
        .call(&api.reader, "GET", "/v1/connections/liar/triggers", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["triggers"][0]["id"], "liar");
    assert_eq!(
        body["triggers"][0]["event_schema"]["properties"]["n"]["maximum"],
        10
    );

    // Only an admin subscribes; bad requests are named.
    let new = json!({"connection": "liar", "trigger": "liar", "interval_seconds": 1, "target": {"kind": "feed"}});
    for key in [&api.reader, &api.invoker] {
        let (status, _, _) = api
            .call(key, "POST", "/v1/subscriptions", Some(new.clone()))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    for (bad, says) in [
        (json!({"connection": "liar", "trigger": "lair"}), "liar"),
        (
            json!({"connection": "liar", "trigger": "liar", "interval_seconds": 0}),
            "interval_seconds",
        ),
        (
            json!({"connection": "liar", "trigger": "liar", "target": {"kind": "webhook", "url": "ftp://flows.example/in"}}),
            "target.url",
        ),
        (
            json!({"connection": "liar", "trigger": "liar", "colour": "red"}),
            "colour",
        ),
    ] {
        let (status, body, _) = api
            .call(&api.admin, "POST", "/v1/subscriptions", Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{body}"
        );
    }
    let (status, sub, _) = api
        .call(&api.admin, "POST", "/v1/subscriptions", Some(new))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let id = sub["id"].as_str().unwrap().to_string();
    assert_eq!(sub["state"], "active");

    // The scheduler polls by itself: the first poll sets the cursor, the
    // next ones report the same occurrence again and again, stored once.
    let events = format!("/v1/subscriptions/{id}/events");
    let mut polls = 0;
    for _ in 0..100 {
        let (_, history, _) = api
            .call(
                &api.reader,
                "GET",
                "/v1/invocations?card=trigger:liar&limit=100",
                None,
            )
            .await;
        polls = history["invocations"].as_array().unwrap().len();
        if polls >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(polls >= 4, "the scheduler polled {polls} times");
    let (status, page, _) = api.call(&api.reader, "GET", &events, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let got: Vec<_> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(got, [json!("start")], "{page}");
    assert_eq!(page["events"][0]["payload"], json!({"n": 1}));
    let (_, after, _) = api
        .call(
            &api.reader,
            "GET",
            &format!("{events}?after={}", page["next"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(after["events"], json!([]));
    assert_eq!(after["next"], page["next"]);
    let (status, _, _) = api
        .call(&api.reader, "GET", &format!("{events}?after=soon"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Paused, it is not polled.
    let (status, paused, _) = api
        .call(
            &api.admin,
            "POST",
            &format!("/v1/subscriptions/{id}/pause"),
            None,
        )
        .await;
    assert_eq!(
        (status, paused["state"].clone()),
        (StatusCode::OK, json!("paused"))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let count = async || {
        let (_, h, _) = api
            .call(
                &api.reader,
                "GET",
                "/v1/invocations?card=trigger:liar&limit=1000",
                None,
            )
            .await;
        h["invocations"].as_array().unwrap().len()
    };
    let before = count().await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(count().await, before, "a paused subscription was polled");
    let (_, listed, _) = api
        .call(&api.reader, "GET", "/v1/subscriptions", None)
        .await;
    assert_eq!(listed["subscriptions"][0]["id"], id.as_str());
    assert_eq!(listed["subscriptions"][0]["connector"], "huge-output");

    // Deleted, it is gone with its events.
    let (status, _, _) = api
        .call(
            &api.reader,
            "DELETE",
            &format!("/v1/subscriptions/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = api
        .call(
            &api.admin,
            "DELETE",
            &format!("/v1/subscriptions/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for path in [format!("/v1/subscriptions/{id}"), events] {
        let (status, body, _) = api.call(&api.reader, "GET", &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
}
