//! A hostile connector, tried as its author would: every buffer it can grow
//! is capped before the work, no credential reaches it whatever the upstream
//! echoes, it cannot leave its permissions through path tricks or override
//! headers, and a component that asks for more than an instance may have is
//! refused. Each case ends in a typed error or a refusal, and the host keeps
//! serving.

use crate::common::*;
use axum::Router;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::any;
use base64::Engine as _;
use cardhost::{Cardhost, Connection, ErrorKind, Limits, NetworkPolicy};
use cardhost_e2e::guests;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// Paths (with query) an upstream received.
type Seen = Arc<Mutex<Vec<String>>>;

/// An upstream that answers every request by echoing it: the request URL in
/// the body, in a header and in a `Link: …; rel="next"`, the URL and the
/// `Authorization` header base64-encoded in the body too.
async fn echo_upstream() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = Router::new().fallback(any(move |headers: HeaderMap, request: Request| {
        let log = log.clone();
        async move {
            let uri = request.uri().to_string();
            log.lock().unwrap().push(uri.clone());
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let b64 = base64::engine::general_purpose::STANDARD;
            let body = json!({
                "you_asked_for": uri,
                "with": auth,
                "encoded": b64.encode(format!("prefix {uri} {auth} suffix")),
                "next": format!("http://upstream.test{uri}&page=2"),
            });
            (
                [
                    ("x-echo-url", uri.clone()),
                    ("x-echo-auth", auth.clone()),
                    ("link", format!("<{uri}&page=2>; rel=\"next\"")),
                ],
                axum::Json(body),
            )
                .into_response()
        }
    }));
    (serve(app).await, seen)
}

/// A TCP server that reads a request and closes without answering, so the
/// HTTP client reports a transport error about the URL it was sending.
async fn hang_up_upstream() -> String {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                let _ = socket.read(&mut buf).await;
                drop(socket);
            });
        }
    });
    format!("http://{addr}")
}

/// An overreach connection granted both of its permissions.
fn overreach(
    host: &Cardhost,
    base_url: &str,
    method: &str,
    secrets: &[(&str, &str)],
) -> Connection {
    overreach_connection(
        host,
        base_url,
        method,
        secrets,
        &["items-read", "items-write"],
    )
}

/// Every form of `secret` an upstream could hand back.
fn forms(secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    vec![
        secret.to_string(),
        cardhost_runtime::net::url::encode_component(secret),
        b64.encode(secret),
        url.encode(secret),
    ]
}

async fn sniff(host: &Cardhost, conn: &Connection, url: &str, needles: &[String]) -> Value {
    host.invoke(
        "overreach",
        "sniff",
        &json!({ "url": url, "needles": needles }),
        Some(conn),
    )
    .await
    .unwrap_or_else(|e| panic!("sniff failed: {e}"))
    .output
}

const KEY: &str = "k3y-ZmFrZS1zZWNyZXQ-value";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_the_query_never_reaches_the_guest_through_errors_or_echoes() {
    let host = host_with(
        &[guests::OVERREACH],
        test_limits(),
        NetworkPolicy::loopback(),
    )
    .await;
    let needles = forms(KEY);

    // An upstream that echoes its request URL in the body, headers and a
    // `next` link: the guest sees none of the key's forms.
    let (echo, seen) = echo_upstream().await;
    let conn = overreach(&host, &echo, "key-query", &[("key", KEY)]);
    let out = sniff(&host, &conn, "/items/1?x=1", &needles).await;
    assert_eq!(out["answered"], true, "{out}");
    assert_eq!(out["leaked"], json!([]), "the guest saw the key: {out}");
    assert!(
        seen.lock().unwrap()[0].contains(KEY),
        "the upstream did get the key"
    );

    // An over-long URL the upstream hangs up on: the transport error the
    // guest gets carries no URL and no key.
    let hang = hang_up_upstream().await;
    let conn = overreach(&host, &hang, "key-query", &[("key", KEY)]);
    let long = format!("/items/{}", "a".repeat(12_000));
    let out = sniff(&host, &conn, &long, &needles).await;
    assert_eq!(out["answered"], false, "{out}");
    assert_eq!(out["leaked"], json!([]), "the guest saw the key: {out}");

    // The Custom API Action hands back what the echo said, scrubbed.
    let conn = overreach(&host, &echo, "key-query", &[("key", KEY)]);
    let inv = host
        .invoke(
            "overreach",
            "custom-api-action",
            &json!({"method": "GET", "relative_url": "/items/2"}),
            Some(&conn),
        )
        .await
        .unwrap();
    let text = inv.output.to_string();
    for needle in &needles {
        assert!(!text.contains(needle.as_str()), "`{needle}` in {text}");
    }
    assert!(text.contains("••••"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoed_bearer_and_basic_credentials_are_scrubbed_before_the_guest_sees_them() {
    let host = host_with(
        &[guests::OVERREACH],
        test_limits(),
        NetworkPolicy::loopback(),
    )
    .await;
    let (echo, _) = echo_upstream().await;

    let token = "bearer-T0ken-for-the-echo";
    let conn = overreach(&host, &echo, "token", &[("token", token)]);
    let out = sniff(&host, &conn, "/items/1", &forms(token)).await;
    assert_eq!(out["leaked"], json!([]), "{out}");

    let (user, password) = ("svc-user", "pa55word-of-the-echo");
    let conn = overreach(
        &host,
        &echo,
        "basic",
        &[("user", user), ("password", password)],
    );
    let mut needles = forms(password);
    needles.extend(forms(&format!("{user}:{password}")));
    let out = sniff(&host, &conn, "/items/1", &needles).await;
    assert_eq!(out["leaked"], json!([]), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_with_parameters_and_paths_above_the_base_are_refused() {
    let host = host_with(
        &[guests::OVERREACH],
        test_limits(),
        NetworkPolicy::loopback(),
    )
    .await;
    let (echo, seen) = echo_upstream().await;
    let base = format!("{echo}/api/v1");
    let conn = overreach(&host, &base, "token", &[("token", "t0ken-value")]);
    let absolute_outside = format!("{echo}/items/1");
    let absolute_admin = format!("{echo}/admin");
    for url in [
        "/items/..;/admin",
        "/items/.;x/admin",
        "/items/%2e%2e;/admin",
        "/items/%2E%2E%3B/admin",
        "/items/..%3b/admin",
        "/../../admin",
        "/../../items/1",
        "/../v2/items/1",
        absolute_outside.as_str(),
        absolute_admin.as_str(),
    ] {
        let err = host
            .invoke(
                "overreach",
                "read",
                &json!({"method": "GET", "url": url}),
                Some(&conn),
            )
            .await
            .expect_err(url);
        match &err.kind {
            ErrorKind::Denied { kind, message, .. } => {
                assert!(
                    kind == "malformed-path" || kind == "permission-missing",
                    "{url}: {kind}: {message}"
                );
                assert!(message.contains("path"), "{url}: {message}");
            }
            other => panic!("{url}: expected a refusal, got {other}"),
        }
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "the upstream received {:?}",
        seen.lock().unwrap()
    );
    // The honest request under the base path still goes through.
    host.invoke(
        "overreach",
        "read",
        &json!({"method": "GET", "url": "/items/1"}),
        Some(&conn),
    )
    .await
    .unwrap();
    assert_eq!(seen.lock().unwrap().as_slice(), ["/api/v1/items/1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_change_what_a_request_means_are_refused_in_any_case() {
    let host = host_with(
        &[guests::OVERREACH],
        test_limits(),
        NetworkPolicy::loopback(),
    )
    .await;
    let (echo, seen) = echo_upstream().await;
    let conn = overreach(&host, &echo, "token", &[("token", "t0ken-value")]);
    for header in [
        "X-HTTP-Method-Override",
        "x-http-method",
        "X-Method-Override",
        "X-Original-URL",
        "x-rewrite-url",
        "Forwarded",
        "X-Forwarded-For",
        "x-forwarded-host",
        "X-Forwarded-Prefix",
        "X-Real-IP",
        "True-Client-IP",
        "X-Client-IP",
        "Connection",
        "Keep-Alive",
        "TE",
        "Upgrade",
        "Proxy-Authorization",
        "HOST",
        "content-length",
        "Transfer-Encoding",
    ] {
        let err = host
            .invoke(
                "overreach",
                "read",
                &json!({"method": "GET", "url": "/items/1", "headers": {header: "DELETE"}}),
                Some(&conn),
            )
            .await
            .expect_err(header);
        assert!(
            matches!(&err.kind, ErrorKind::Denied { kind, message, .. }
                if kind == "credential-header" && message.contains(header)),
            "{header}: {}",
            err.kind
        );
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
}

fn flood_limits() -> Limits {
    Limits {
        max_requests_per_invocation: 2_000,
        ..test_limits()
    }
}

async fn flood_host() -> (Cardhost, Connection) {
    let host = host_with(&[guests::FLOOD], flood_limits(), NetworkPolicy::loopback()).await;
    let (echo, _) = echo_upstream().await;
    let conn = connection(
        &host,
        "flood",
        json!({"base_url": echo}),
        &[("token", "fl00d-token-value")],
        &["items-read"],
    );
    (host, conn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_spammer_keeps_a_bounded_journal_and_then_hits_the_request_limit() {
    let (host, conn) = flood_host().await;
    let limits = flood_limits();
    let inv = host
        .invoke(
            "flood",
            "refuse-many",
            &json!({"count": 300, "bytes": 8_000}),
            Some(&conn),
        )
        .await
        .unwrap();
    assert_eq!(inv.output["refused"], 300);
    let journal = &inv.journal;
    assert_eq!(journal.denials.len(), limits.max_denials_per_invocation);
    assert_eq!(
        journal.denials_dropped,
        300 - limits.max_denials_per_invocation
    );
    for d in &journal.denials {
        assert!(d.message.len() < 1024, "{}", d.message.len());
    }
    // Megabyte-long paths are refused before any work, and nothing of them
    // is kept.
    let inv = host
        .invoke(
            "flood",
            "refuse-many",
            &json!({"count": 300, "bytes": 1 << 20}),
            Some(&conn),
        )
        .await
        .unwrap();
    assert_eq!(inv.output["refused"], 300);
    assert_eq!(inv.journal.denials.len(), limits.max_denials_per_invocation);
    assert!(
        inv.journal.denials[0]
            .message
            .contains("limits.max_url_bytes")
    );
    assert!(serde_json::to_string(&inv.journal).unwrap().len() < 64 << 10);

    // One more than the request limit ends the invocation with that limit.
    let err = host
        .invoke(
            "flood",
            "refuse-many",
            &json!({"count": 2_001, "bytes": 16}),
            Some(&conn),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err.kind, ErrorKind::LimitExceeded { limit, .. } if limit == "max_requests_per_invocation"),
        "{}",
        err.kind
    );
    let err = host
        .invoke(
            "flood",
            "request-many",
            &json!({"count": 2_001}),
            Some(&conn),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err.kind, ErrorKind::LimitExceeded { limit, .. } if limit == "max_requests_per_invocation"),
        "{}",
        err.kind
    );
    assert_eq!(err.journal.calls.len(), 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_errors_logs_output_and_reports_are_cut_to_their_caps() {
    let (host, conn) = flood_host().await;
    let limits = flood_limits();

    // A 16 MiB error message is more than a guest may hand the host.
    let err = host
        .invoke(
            "flood",
            "huge-error",
            &json!({"bytes": 16 << 20}),
            Some(&conn),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err.kind, ErrorKind::LimitExceeded { limit, .. } if limit == "hostcall_bytes"),
        "{}",
        err.to_string().chars().take(200).collect::<String>()
    );
    // A 4 MiB one is kept to the message cap.
    let err = host
        .invoke(
            "flood",
            "huge-error",
            &json!({"bytes": 4 << 20}),
            Some(&conn),
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err.kind, ErrorKind::Card { .. }),
        "{}",
        text.chars().take(200).collect::<String>()
    );
    assert!(
        text.len() < limits.max_message_bytes + 200,
        "{}",
        text.len()
    );

    // Log lines of control characters: cut before escaping, counted when
    // over the line cap.
    let inv = host
        .invoke(
            "flood",
            "log-flood",
            &json!({"lines": 4, "bytes": 4 << 20}),
            Some(&conn),
        )
        .await
        .unwrap();
    let logs = &inv.logs.logs;
    assert!(!logs.is_empty());
    let bytes: usize = logs.iter().map(|l| l.message.len()).sum();
    assert!(bytes <= limits.max_log_bytes, "{bytes}");
    for line in logs {
        assert!(line.message.len() <= limits.max_log_line_bytes + 4);
        assert!(!line.message.contains('\u{1b}'), "escaped");
    }
    let inv = host
        .invoke(
            "flood",
            "log-flood",
            &json!({"lines": 5_000, "bytes": 2}),
            Some(&conn),
        )
        .await
        .unwrap();
    assert_eq!(inv.logs.logs.len(), limits.max_log_lines);
    assert_eq!(inv.logs.dropped_lines, 5_000 - limits.max_log_lines);
    let inv = host
        .invoke(
            "flood",
            "print-flood",
            &json!({"lines": 16, "bytes": 1 << 20}),
            Some(&conn),
        )
        .await
        .unwrap();
    let bytes: usize = inv.logs.logs.iter().map(|l| l.message.len()).sum();
    assert!(bytes <= limits.max_log_bytes, "{bytes}");

    // A 32 MiB log line is more than a guest may hand the host in one call.
    let err = host
        .invoke(
            "flood",
            "log-flood",
            &json!({"lines": 1, "bytes": 32 << 20}),
            Some(&conn),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err.kind, ErrorKind::LimitExceeded { limit, .. } if limit == "hostcall_bytes"),
        "{}",
        err.kind
    );

    // A connection test with 500 checks of 12 KiB and a 1 MiB summary.
    let report = host.test_connection(&conn).await.unwrap();
    assert_eq!(report.checks.len(), limits.max_report_checks);
    assert!(
        report.summary.contains("436 more checks"),
        "{}",
        report.summary.len()
    );
    assert!(report.summary.len() < limits.max_message_bytes + 64);
    for check in &report.checks {
        assert!(check.detail.len() <= limits.max_message_bytes + 4);
    }
}

/// A component with `n` core instances of a module that defines a memory.
fn component_with_memories(n: usize) -> Vec<u8> {
    let instances: String = (0..n)
        .map(|i| format!("(core instance $i{i} (instantiate $m))\n"))
        .collect();
    wat::parse_str(format!(
        "(component (core module $m (memory 1)) {instances})"
    ))
    .unwrap()
}

/// A component with `n` core instances of a module without memory.
fn component_with_instances(n: usize) -> Vec<u8> {
    let instances: String = (0..n)
        .map(|i| format!("(core instance $i{i} (instantiate $m))\n"))
        .collect();
    wat::parse_str(format!("(component (core module $m) {instances})")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_that_want_more_memories_instances_or_features_are_refused_at_load() {
    let host = host_with(&[guests::HELLO], test_limits(), NetworkPolicy::loopback()).await;
    let limits = test_limits();
    let shared_memory = wat::parse_str(
        "(component (core module $m (memory 1 1 shared)) (core instance (instantiate $m)))",
    )
    .unwrap();
    let cases = [
        (
            component_with_memories(limits.max_memories_per_component as usize + 8),
            "max_memories_per_component",
        ),
        (
            component_with_instances(limits.max_core_instances_per_component as usize + 8),
            "max_core_instances_per_component",
        ),
        (shared_memory, "threads"),
    ];
    for (bytes, expected) in cases {
        let registry = host
            .load_sources(vec![(cardhost::Source::Builtin("hostile".into()), bytes)])
            .await;
        assert_eq!(registry.errors().len(), 1);
        let reason = &registry.errors()[0].reason;
        assert!(reason.contains(expected), "`{expected}` not in: {reason}");
    }
    // The host still serves.
    let upstream = {
        use axum::{Json, extract::Path, routing::get};
        serve(Router::new().route(
            "/people/{id}",
            get(|Path(id): Path<String>| async move { Json(json!({"id": id, "name": "Aiko"})) }),
        ))
        .await
    };
    let conn = connection(
        &host,
        "hello",
        json!({"base_url": upstream}),
        &[("token", "t0ken-value")],
        &["people-read"],
    );
    host.invoke("hello", "greet-person", &json!({"id": "7"}), Some(&conn))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_instance_pool_is_saturation_not_a_crash() {
    let limits = Limits {
        max_concurrent_instances: 2,
        deadline_ms: 1_000,
        ..test_limits()
    };
    let host =
        Arc::new(host_with(&[guests::LOOP_FOREVER], limits, NetworkPolicy::loopback()).await);
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let host = host.clone();
            tokio::spawn(async move { host.invoke("loop-forever", "run", &json!({}), None).await })
        })
        .collect();
    let mut saturated = 0;
    for call in calls {
        let err = call.await.unwrap().unwrap_err();
        match &err.kind {
            ErrorKind::Saturated { .. } => saturated += 1,
            ErrorKind::DeadlineExceeded { .. } => {}
            other => panic!("expected saturation or the deadline, got {other}"),
        }
    }
    assert!(saturated >= 4, "{saturated} saturated");
}

/// Runs `loop-forever` on `spinners` tasks and, while they spin, an honest
/// card and a timer on the caller's runtime; whether all of that finished
/// before any spinner ended.
async fn others_finish_while_guests_spin(limits: Limits) -> bool {
    let upstream = {
        use axum::{Json, extract::Path, routing::get};
        serve(Router::new().route(
            "/people/{id}",
            get(|Path(id): Path<String>| async move { Json(json!({"id": id, "name": "Aiko"})) }),
        ))
        .await
    };
    let host = Arc::new(
        host_with(
            &[guests::LOOP_FOREVER, guests::HELLO],
            limits,
            NetworkPolicy::loopback(),
        )
        .await,
    );
    let conn = connection(
        &host,
        "hello",
        json!({"base_url": upstream}),
        &[("token", "t0ken-value")],
        &["people-read"],
    );
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let spinners: Vec<_> = (0..(2 * cores).max(4))
        .map(|_| {
            let host = host.clone();
            tokio::spawn(async move { host.invoke("loop-forever", "run", &json!({}), None).await })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for _ in 0..10 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    host.invoke("hello", "greet-person", &json!({"id": "7"}), Some(&conn))
        .await
        .unwrap();
    let in_time = spinners.iter().all(|s| !s.is_finished());
    for spinner in spinners {
        let err = spinner.await.unwrap().unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::DeadlineExceeded { .. }),
            "{}",
            err.kind
        );
    }
    in_time
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_guests_leave_the_callers_runtime_free() {
    assert!(
        others_finish_while_guests_spin(test_limits()).await,
        "the caller's runtime was stalled until the spinning guests ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_on_the_callers_runtime_still_yield_every_tick() {
    let limits = Limits {
        guest_threads: Some(0),
        ..test_limits()
    };
    assert!(
        others_finish_while_guests_spin(limits).await,
        "guests on the caller's runtime did not yield"
    );
}
