//! The broker against local HTTP servers: every request a connector must not
//! make is refused with a typed error, credentials arrive exactly as each
//! auth method specifies, retries and caps behave, and secrets never show.
//!
//! The `overreach` fixture sends whatever request its input describes.

use crate::common::*;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use cardhost::{Cardhost, Connection, ErrorKind, InvokeError, Limits, NetworkPolicy};
use cardhost_e2e::guests;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What the upstream saw: method, path with query, headers.
type Seen = Arc<Mutex<Vec<(String, String, HeaderMap)>>>;

struct Upstream {
    url: String,
    port: u16,
    seen: Seen,
    flaky_hits: Arc<AtomicUsize>,
    fail_hits: Arc<AtomicUsize>,
}

async fn upstream() -> Upstream {
    let seen: Seen = Arc::default();
    let flaky_hits = Arc::new(AtomicUsize::new(0));
    let fail_hits = Arc::new(AtomicUsize::new(0));
    let (s, f, x) = (seen.clone(), flaky_hits.clone(), fail_hits.clone());
    let app = Router::new()
        .route(
            "/items/redirect",
            get(|| async {
                (
                    StatusCode::FOUND,
                    [("location", "http://evil.test/items/stolen")],
                )
            }),
        )
        .route(
            "/items/flaky",
            get(move || {
                let f = f.clone();
                async move {
                    if f.fetch_add(1, Ordering::SeqCst) == 0 {
                        (
                            StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", "1")],
                            "slow down",
                        )
                            .into_response()
                    } else {
                        "fine".into_response()
                    }
                }
            }),
        )
        .route(
            "/items/fail",
            any(move || {
                let x = x.clone();
                async move {
                    x.fetch_add(1, Ordering::SeqCst);
                    (StatusCode::INTERNAL_SERVER_ERROR, "boom")
                }
            }),
        )
        .route(
            "/items/huge",
            get(|| async {
                // 2 GiB, produced lazily in 64 KiB chunks, no Content-Length.
                let chunk = bytes::Bytes::from(vec![b'x'; 64 << 10]);
                let stream = futures::stream::iter(
                    std::iter::repeat_n(chunk, 32 * 1024).map(Ok::<_, std::io::Error>),
                );
                Body::from_stream(stream)
            }),
        )
        .fallback(
            move |method: axum::http::Method, uri: Uri, headers: HeaderMap| {
                let s = s.clone();
                async move {
                    let path = uri
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                    s.lock()
                        .unwrap()
                        .push((method.to_string(), path.clone(), headers));
                    axum::Json(json!({"path": path}))
                }
            },
        );
    let url = serve(app).await;
    let port = url.rsplit(':').next().unwrap().parse().unwrap();
    Upstream {
        url,
        port,
        seen,
        flaky_hits,
        fail_hits,
    }
}

async fn call(
    host: &Cardhost,
    connection: &Connection,
    card: &str,
    request: Value,
) -> Result<Value, Box<InvokeError>> {
    host.invoke("overreach", card, &request, Some(connection))
        .await
        .map(|inv| inv.output)
}

/// Asserts a refusal of `kind` whose message contains every word in `words`.
fn assert_denied(result: Result<Value, Box<InvokeError>>, kind: &str, words: &[&str]) {
    let failed = result.expect_err("the request is refused");
    match &failed.kind {
        ErrorKind::Denied {
            kind: k, message, ..
        } => {
            assert_eq!(k, kind, "{message}");
            for w in words {
                assert!(
                    message.to_lowercase().contains(&w.to_lowercase()),
                    "`{w}` not in: {message}"
                );
            }
        }
        other => panic!("expected a `{kind}` denial, got: {other}"),
    }
}

async fn overreach_host(network: NetworkPolicy) -> Cardhost {
    host_with(&[guests::OVERREACH], test_limits(), network).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_off_the_allow_list_are_refused_even_after_a_redirect() {
    let up = upstream().await;
    let host = overreach_host(NetworkPolicy::loopback()).await;
    let c = overreach_connection(&host, &up.url, "token", &[("token", "t")], &["items-read"]);

    // The honest request works.
    let ok = call(
        &host,
        &c,
        "read",
        json!({"method": "GET", "url": "/items/1"}),
    )
    .await
    .unwrap();
    assert_eq!(ok["status"], 200);

    // Another host, another port of the same host, another scheme.
    assert_denied(
        call(
            &host,
            &c,
            "read",
            json!({"method": "GET", "url": "http://other.test/items/1"}),
        )
        .await,
        "host-not-allowed",
        &["other.test"],
    );
    let other_port = format!("http://127.0.0.1:{}/items/1", up.port + 1);
    assert_denied(
        call(
            &host,
            &c,
            "read",
            json!({"method": "GET", "url": other_port}),
        )
        .await,
        "host-not-allowed",
        &[],
    );
    // A redirect to a host off the list is refused at that hop.
    assert_denied(
        call(
            &host,
            &c,
            "read",
            json!({"method": "GET", "url": "/items/redirect"}),
        )
        .await,
        "host-not-allowed",
        &["evil.test"],
    );
    // Path tricks do not escape the permission's prefix: a `..` segment and
    // an encoded slash are refused outright, naming the path.
    assert_denied(
        call(
            &host,
            &c,
            "read",
            json!({"method": "GET", "url": "/items/../admin"}),
        )
        .await,
        "malformed-path",
        &["/items/../admin", "dot segment"],
    );
    assert_denied(
        call(
            &host,
            &c,
            "read",
            json!({"method": "GET", "url": "/items/a%2f..%2fadmin"}),
        )
        .await,
        "malformed-path",
        &[],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_id_cannot_inject_a_host() {
    let host = overreach_host(NetworkPolicy::loopback()).await;
    let registry = host.registry();
    let loaded = registry.get("overreach").unwrap();
    let ok = json!({"mode": "tenant", "tenant_id": "acme-01"});
    assert!(loaded.manifest.check_connection_fields(&ok).is_ok());
    for evil in [
        "evil.com/x",
        "a@b",
        "evil.com:444",
        "acme.evil.com",
        "a?b",
        "a#b",
    ] {
        let fields = json!({"mode": "tenant", "tenant_id": evil});
        let problems = loaded
            .manifest
            .check_connection_fields(&fields)
            .expect_err(evil);
        assert!(
            problems.iter().any(|p| p.pointer == "/tenant_id"),
            "{evil}: {problems:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_resolving_to_private_addresses_are_refused() {
    let up = upstream().await;
    let hosts: BTreeMap<String, Vec<IpAddr>> = [
        ("loop.test", "127.0.0.1"),
        ("metadata.test", "169.254.169.254"),
        ("mapped.test", "::ffff:10.0.0.1"),
    ]
    .into_iter()
    .map(|(h, ip)| (h.to_string(), vec![ip.parse().unwrap()]))
    .collect();
    // Plain HTTP is allowed, no private range is.
    let strict = NetworkPolicy {
        allow_http: true,
        hosts: hosts.clone(),
        ..NetworkPolicy::default()
    };
    let host = overreach_host(strict).await;
    for name in ["loop.test", "metadata.test", "mapped.test", "localhost"] {
        let base = format!("http://{name}:{}", up.port);
        let c = overreach_connection(&host, &base, "token", &[("token", "t")], &["items-read"]);
        let result = call(
            &host,
            &c,
            "read",
            json!({"method": "GET", "url": "/items/1"}),
        )
        .await;
        assert_denied(result, "private-address", &[name]);
    }
    // Literal addresses too.
    for base in [
        "http://169.254.169.254",
        "http://[::ffff:10.0.0.1]",
        "http://10.1.2.3",
    ] {
        let c = overreach_connection(&host, base, "token", &[("token", "t")], &["items-read"]);
        let result = call(
            &host,
            &c,
            "read",
            json!({"method": "GET", "url": "/items/1"}),
        )
        .await;
        assert_denied(result, "private-address", &[]);
    }
    assert!(
        up.seen.lock().unwrap().is_empty(),
        "nothing reached the upstream"
    );

    // The operator allowing loopback lets the same name through.
    let allowed = NetworkPolicy {
        hosts,
        ..NetworkPolicy::loopback()
    };
    let host = overreach_host(allowed).await;
    let base = format!("http://loop.test:{}", up.port);
    let c = overreach_connection(&host, &base, "token", &[("token", "t")], &["items-read"]);
    let ok = call(
        &host,
        &c,
        "read",
        json!({"method": "GET", "url": "/items/1"}),
    )
    .await
    .unwrap();
    assert_eq!(ok["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_are_enforced_per_card_and_per_connection() {
    let up = upstream().await;
    let host = overreach_host(NetworkPolicy::loopback()).await;
    let read_only =
        overreach_connection(&host, &up.url, "token", &[("token", "t")], &["items-read"]);
    let read_write = overreach_connection(
        &host,
        &up.url,
        "token",
        &[("token", "t")],
        &["items-read", "items-write"],
    );
    let post = json!({"method": "POST", "url": "/items", "body": "{}"});

    // The card declares write, the connection was granted only read.
    assert_denied(
        call(&host, &read_only, "write", post.clone()).await,
        "permission-missing",
        &["write", "POST", "/items", "items-write"],
    );
    // The connection may write, but this card never declared it.
    assert_denied(
        call(&host, &read_write, "read", post.clone()).await,
        "permission-missing",
        &["read", "POST"],
    );
    // Outside every permission's paths.
    assert_denied(
        call(
            &host,
            &read_write,
            "write",
            json!({"method": "GET", "url": "/admin"}),
        )
        .await,
        "permission-missing",
        &["/admin"],
    );
    assert!(up.seen.lock().unwrap().is_empty());
    // Both agree: it goes through.
    let ok = call(&host, &read_write, "write", post).await.unwrap();
    assert_eq!(ok["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_cannot_set_credential_headers() {
    let up = upstream().await;
    let host = overreach_host(NetworkPolicy::loopback()).await;
    let c = overreach_connection(
        &host,
        &up.url,
        "token-and-key",
        &[("token", "t"), ("subscription_key", "k")],
        &["items-read"],
    );
    for header in [
        "Authorization",
        "cookie",
        "Proxy-Authorization",
        "Ocp-Apim-Subscription-Key",
    ] {
        let request =
            json!({"method": "GET", "url": "/items/1", "headers": {header: "Bearer mine"}});
        assert_denied(
            call(&host, &c, "read", request).await,
            "credential-header",
            &[header],
        );
    }
    assert!(up.seen.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_arrive_as_each_auth_method_specifies() {
    let up = upstream().await;
    let host = overreach_host(NetworkPolicy::loopback()).await;
    let cases: [(&str, &[(&str, &str)]); 5] = [
        ("token", &[("token", "tok-1")]),
        ("basic", &[("user", "ada"), ("password", "p:ss wörd")]),
        ("key-header", &[("key", "key-1")]),
        ("key-query", &[("key", "key 2&x=1")]),
        (
            "token-and-key",
            &[("token", "tok-3"), ("subscription_key", "sub-3")],
        ),
    ];
    for (method, secrets) in cases {
        let c = overreach_connection(&host, &up.url, method, secrets, &["items-read"]);
        let out = call(
            &host,
            &c,
            "read",
            json!({"method": "GET", "url": "/items/1?x=y"}),
        )
        .await
        .unwrap();
        assert_eq!(out["status"], 200, "{method}");
    }
    let seen = up.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5);
    let header =
        |i: usize, name: &str| seen[i].2.get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header(0, "authorization").as_deref(), Some("Bearer tok-1"));
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("ada:p:ss wörd");
    assert_eq!(header(1, "authorization"), Some(format!("Basic {basic}")));
    assert_eq!(header(2, "x-api-key").as_deref(), Some("key-1"));
    assert_eq!(header(2, "authorization"), None);
    let query: BTreeMap<String, String> = url::Url::parse(&format!("http://x{}", seen[3].1))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(
        query["api_key"], "key 2&x=1",
        "the key is one encoded parameter"
    );
    assert_eq!(query["x"], "y", "the guest's query is kept");
    assert_eq!(header(4, "authorization").as_deref(), Some("Bearer tok-3"));
    assert_eq!(
        header(4, "ocp-apim-subscription-key").as_deref(),
        Some("sub-3")
    );
    for (_, _, headers) in &seen {
        assert_eq!(headers.get("cookie"), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_honour_retry_after_and_never_repeat_a_failed_post() {
    let up = upstream().await;
    let host = overreach_host(NetworkPolicy::loopback()).await;
    let c = overreach_connection(
        &host,
        &up.url,
        "token",
        &[("token", "t")],
        &["items-read", "items-write"],
    );
    let inv = host
        .invoke(
            "overreach",
            "read",
            &json!({"method": "GET", "url": "/items/flaky"}),
            Some(&c),
        )
        .await
        .unwrap();
    assert_eq!(inv.output["status"], 200);
    assert_eq!(up.flaky_hits.load(Ordering::SeqCst), 2, "retried once");
    let call_record = &inv.journal.calls[0];
    assert_eq!(call_record.attempts, 2);
    assert!(
        call_record.waited_ms >= 1_000,
        "waited as told: {call_record:?}"
    );

    let out = call(
        &host,
        &c,
        "write",
        json!({"method": "POST", "url": "/items/fail", "body": "x"}),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], 500);
    assert_eq!(
        up.fail_hits.load(Ordering::SeqCst),
        1,
        "a POST is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_gib_response_is_cut_at_the_cap() {
    let up = upstream().await;
    let limits = Limits {
        max_response_body_bytes: 1 << 20,
        ..test_limits()
    };
    let host = host_with(&[guests::OVERREACH], limits, NetworkPolicy::loopback()).await;
    let c = overreach_connection(&host, &up.url, "token", &[("token", "t")], &["items-read"]);
    let failed = call(
        &host,
        &c,
        "read",
        json!({"method": "GET", "url": "/items/huge"}),
    )
    .await
    .expect_err("the body is over the cap");
    let message = failed.to_string();
    assert!(
        message.contains("1048576") || message.contains("1 MiB"),
        "the error names the cap: {message}"
    );
    assert!(
        !matches!(failed.kind, ErrorKind::DeadlineExceeded { .. }),
        "cut at the cap, not by the deadline: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_logs_errors_or_journals() {
    let up = upstream().await;
    let host = overreach_host(NetworkPolicy::loopback()).await;
    let secret = "s3cr3t-VALUE-7f1e";
    let mut captured = String::new();
    // In the query string of a request that fails (nothing listens there),
    // and of one that is refused.
    let closed = format!("http://127.0.0.1:{}", up.port + 7);
    let c = overreach_connection(
        &host,
        &closed,
        "key-query",
        &[("key", secret)],
        &["items-read"],
    );
    let failed = call(
        &host,
        &c,
        "read",
        json!({"method": "GET", "url": "/items/1"}),
    )
    .await
    .unwrap_err();
    captured.push_str(&format!(
        "{failed:?} {} {}",
        failed.kind,
        json!(failed.journal)
    ));
    let failed = call(
        &host,
        &c,
        "read",
        json!({"method": "DELETE", "url": "/items/1"}),
    )
    .await
    .unwrap_err();
    captured.push_str(&format!("{failed:?} {}", json!(failed.journal)));
    // A successful call's journal and logs.
    let c = overreach_connection(
        &host,
        &up.url,
        "key-query",
        &[("key", secret)],
        &["items-read"],
    );
    let inv = host
        .invoke(
            "overreach",
            "read",
            &json!({"method": "GET", "url": "/items/1"}),
            Some(&c),
        )
        .await
        .unwrap();
    captured.push_str(&format!("{} {}", json!(inv.journal), json!(inv.logs)));
    // The debug form of the connection itself.
    captured.push_str(&format!("{c:?}"));
    assert!(captured.contains("/items/1"), "the capture holds the calls");
    assert!(!captured.contains(secret), "a secret leaked: {captured}");
    // It did reach the upstream, where it belongs.
    let seen = up.seen.lock().unwrap();
    assert!(seen.iter().any(|(_, p, _)| p.contains(secret)));
}
