//! The web console's server side over real HTTP: its pages under a strict
//! Content-Security-Policy, signing in with an API key for a session
//! cookie, the session acting as that key (role, revocation), and every
//! change made with the cookie needing the session's CSRF token and this
//! server's origin. (The pages themselves are driven in a real browser by
//! the console's browser tests.)

use crate::common;

use cardhost::config::ServerConfig;
use cardhost::server::console::{CONTENT_SECURITY_POLICY, CSRF_HEADER, SESSION_COOKIE};
use cardhost::server::{RunningServer, keys};
use cardhost::store::{Role, Store};
use cardhost::{Limits, NetworkPolicy, RuntimeConfig};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use std::sync::Arc;

struct Console {
    server: RunningServer,
    store: Arc<dyn Store>,
    http: reqwest::Client,
    admin: String,
    reader: String,
    dir: tempfile::TempDir,
}

async fn start() -> Console {
    let dir = tempfile::tempdir().unwrap();
    let connectors_dir = dir.path().join("connectors");
    std::fs::create_dir_all(&connectors_dir).unwrap();
    let hello = std::path::Path::new(cardhost_e2e::guests::HELLO);
    std::fs::copy(hello, connectors_dir.join(hello.file_name().unwrap())).unwrap();
    let config = RuntimeConfig {
        limits: Limits::default(),
        network: NetworkPolicy::loopback(),
        builtin_connectors: false,
        connectors_dir: Some(connectors_dir),
        cache_dir: Some(
            std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache"),
        ),
    };
    let (server, store) = common::serve_on(
        &dir.path().join("data"),
        config,
        ServerConfig {
            max_concurrent_invocations: 8,
            ..ServerConfig::default()
        },
    )
    .await;
    let admin = keys::create(store.as_ref(), "console admin", Role::Admin)
        .await
        .unwrap()
        .key;
    let reader = keys::create(store.as_ref(), "console reader", Role::Reader)
        .await
        .unwrap()
        .key;
    Console {
        server,
        store,
        http: reqwest::Client::new(),
        admin,
        reader,
        dir,
    }
}

/// A signed-in browser: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
    body: Value,
}

impl Console {
    fn origin(&self) -> String {
        self.server.url()
    }

    async fn sign_in(&self, key: &str) -> (StatusCode, HeaderMap, Value) {
        let response = self
            .http
            .post(format!("{}/console/session", self.server.url()))
            .header("origin", self.origin())
            .json(&json!({"key": key}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (
            status,
            headers,
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn session(&self, key: &str) -> Session {
        let (status, headers, body) = self.sign_in(key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let set = headers["set-cookie"].to_str().unwrap().to_string();
        let cookie = set.split(';').next().unwrap().to_string();
        assert!(cookie.starts_with(&format!("{SESSION_COOKIE}=")), "{set}");
        Session {
            cookie,
            csrf: body["csrf"].as_str().unwrap().to_string(),
            body,
        }
    }

    /// A request as the console's page makes it: the cookie, and for
    /// changes the CSRF header and origin unless told otherwise.
    async fn call(
        &self,
        session: &Session,
        method: &str,
        path: &str,
        body: Option<Value>,
        csrf: Option<&str>,
        origin: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(
                method.parse().unwrap(),
                format!("{}{path}", self.server.url()),
            )
            .header("cookie", &session.cookie);
        if let Some(csrf) = csrf {
            req = req.header(CSRF_HEADER, csrf);
        }
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let response = req.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_from_the_binary_under_a_strict_policy() {
    let c = start().await;
    for path in ["/", "/console/"] {
        let response = c
            .http
            .get(format!("{}{path}", c.server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let h = response.headers().clone();
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        assert_eq!(h["content-security-policy"], CONTENT_SECURITY_POLICY);
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let page = response.text().await.unwrap();
        assert!(page.contains("/console/app.js"), "{page}");
        // Nothing from elsewhere, nothing inline.
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "{page}"
        );
        assert!(
            !page.contains("<script>") && !page.contains(" style="),
            "{page}"
        );
    }
    assert!(CONTENT_SECURITY_POLICY.contains("default-src 'none'"));
    assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self'"));
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    let script = c
        .http
        .get(format!("{}/console/app.js", c.server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let missing = c
        .http
        .get(format!("{}/console/../Cargo.toml", c.server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let missing = c
        .http
        .get(format!("{}/console/secrets.js", c.server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_acts_as_its_key_and_every_change_needs_its_csrf_token() {
    let c = start().await;

    // A bad key is refused in words, with no cookie.
    let (status, headers, body) = c.sign_in("chk_nope_nope").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(headers.get("set-cookie").is_none());
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid"),
        "{body}"
    );
    // Signing in from another site's page is refused.
    let cross = c
        .http
        .post(format!("{}/console/session", c.server.url()))
        .header("origin", "https://evil.example")
        .json(&json!({"key": c.admin}))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);

    let (status, headers, _) = c.sign_in(&c.admin).await;
    assert_eq!(status, StatusCode::OK);
    let set = headers["set-cookie"].to_str().unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http here: {set}");
    let s = c.session(&c.admin).await;
    assert_eq!(s.body["role"], "admin");
    assert!(s.body["expires_at"].as_str().unwrap().ends_with('Z'));
    // The store keeps the token's hash, never the token.
    let token = s.cookie.split_once('=').unwrap().1.to_string();
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(c.dir.path().join("data")).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap_or_default());
    }
    assert!(!stored.windows(token.len()).any(|w| w == token.as_bytes()));

    // Reads need only the cookie.
    let (status, body) = c.call(&s, "GET", "/v1/connections", None, None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, again) = c
        .call(&s, "GET", "/console/session", None, None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        again["csrf"],
        s.csrf.as_str(),
        "a reloaded page gets it again"
    );

    // A change needs the CSRF token and this server's origin.
    let new = json!({
        "connector": "hello", "name": "from-console",
        "fields": {"base_url": "http://127.0.0.1:9"},
        "secrets": {"token": "t"}
    });
    let origin = c.origin();
    for (csrf, from) in [
        (None, Some(origin.as_str())),
        (Some("not-the-token"), Some(origin.as_str())),
        (Some(s.csrf.as_str()), Some("https://evil.example")),
    ] {
        let (status, body) = c
            .call(&s, "POST", "/v1/connections", Some(new.clone()), csrf, from)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{csrf:?} {from:?}: {body}");
        assert_eq!(body["error"]["code"], "csrf", "{body}");
    }
    assert!(c.store.list_connections().await.unwrap().is_empty());
    let (status, body) = c
        .call(
            &s,
            "POST",
            "/v1/connections",
            Some(new.clone()),
            Some(&s.csrf),
            Some(&origin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Signing out needs the token too, then the cookie is worth nothing.
    let (status, _) = c
        .call(&s, "DELETE", "/console/session", None, None, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = c
        .call(&s, "DELETE", "/console/session", None, Some(&s.csrf), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = c.call(&s, "GET", "/v1/connections", None, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sign in again"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_session_cannot_change_and_a_revoked_key_ends_its_sessions() {
    let c = start().await;
    let s = c.session(&c.reader).await;
    assert_eq!(s.body["role"], "reader");
    let (status, _) = c.call(&s, "GET", "/v1/connectors", None, None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = c
        .call(
            &s,
            "POST",
            "/v1/connections",
            Some(json!({"connector": "hello", "name": "x", "fields": {}, "secrets": {}})),
            Some(&s.csrf),
            Some(&c.origin()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");

    let id = s.body["key_id"].as_str().unwrap();
    assert!(c.store.revoke_api_key(id).await.unwrap());
    let (status, _) = c.call(&s, "GET", "/v1/connectors", None, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A key in the header still works beside the console (the API is
    // unchanged), and a cookie for another server's session is nothing.
    let mut h = HeaderMap::new();
    h.insert(
        "cookie",
        HeaderValue::from_static("cardhost_session=00000000000000000000"),
    );
    let response = c
        .http
        .get(format!("{}/v1/connectors", c.server.url()))
        .headers(h)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = c
        .http
        .get(format!("{}/v1/connectors", c.server.url()))
        .bearer_auth(&c.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Sign-ins are paced on their own: a flood of wrong keys is answered 429
/// with `Retry-After` and counted, and the OAuth endpoints, which people
/// connecting accounts need meanwhile, are not held up by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_sign_ins_is_paced_apart_from_the_oauth_callbacks() {
    let c = start().await;
    let mut refused = 0;
    let mut limited = None;
    for _ in 0..200 {
        let (status, headers, body) = c.sign_in("chk_nope_nope").await;
        match status {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited = Some((headers, body));
                break;
            }
            other => panic!("a wrong key answered {other}: {body}"),
        }
    }
    // Straight after the limiter refused a sign-in, in the same window.
    let callback = c
        .http
        .get(format!(
            "{}/v1/oauth/callback?state=unknown",
            c.server.url()
        ))
        .send()
        .await
        .unwrap();
    let (headers, body) = limited.expect("200 sign-ins in a row were never paced");
    assert!(refused >= 1, "the first wrong keys are refused as such");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(body["error"]["code"], "rate-limited", "{body}");
    assert_eq!(
        callback.status(),
        StatusCode::BAD_REQUEST,
        "the OAuth callback is answered on its own merits, not paced by the sign-ins"
    );
    let metrics = c
        .http
        .get(format!("{}/metrics", c.server.url()))
        .bearer_auth(&c.reader)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("cardhost_rejected_total{reason=\"rate-limited\"}")),
        "{metrics}"
    );
}
