//! Hostile guests end in clear errors within their limits, and the same host
//! then serves a well-behaved connector normally.

use crate::common::*;
use cardhost::{ErrorKind, NetworkPolicy};
use cardhost_e2e::guests;
use serde_json::json;
use std::time::{Duration, Instant};

async fn people_server() -> String {
    use axum::{Json, Router, extract::Path, routing::get};
    serve(Router::new().route(
        "/people/{id}",
        get(|Path(id): Path<String>| async move { Json(json!({"id": id, "name": "Aiko"})) }),
    ))
    .await
}

/// Proves the host still works: the hello connector greets through the broker.
async fn assert_still_serves(host: &cardhost::Cardhost, upstream: &str) {
    let conn = connection(
        host,
        "hello",
        json!({"base_url": upstream}),
        &[("token", "t0ken-value")],
        &["people-read"],
    );
    let inv = host
        .invoke("hello", "greet-person", &json!({"id": "7"}), Some(&conn))
        .await
        .expect("hello works after the hostile call");
    assert_eq!(inv.output, json!({"greeting": "Hello, Aiko!"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_guests_fail_clearly_and_the_host_keeps_serving() {
    let upstream = people_server().await;
    let host = host_with(
        &[
            guests::HELLO,
            guests::LOOP_FOREVER,
            guests::ALLOC_BOMB,
            guests::PANIC,
            guests::HUGE_OUTPUT,
        ],
        test_limits(),
        NetworkPolicy::loopback(),
    )
    .await;

    // An endless loop is interrupted at the 2 s deadline.
    let started = Instant::now();
    let err = host
        .invoke("loop-forever", "run", &json!({}), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err.kind, ErrorKind::DeadlineExceeded { deadline_ms: 2000 })
            && err.connector == "loop-forever"
            && err.card == "run",
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "stopped late: {:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("2000 ms deadline"));
    assert_still_serves(&host, &upstream).await;

    // A memory bomb hits the 64 MiB cap.
    let err = host
        .invoke("alloc-bomb", "run", &json!({}), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err.kind, ErrorKind::MemoryLimit { limit_bytes, .. } if *limit_bytes == 64 << 20),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("alloc-bomb/run exceeded its 67108864-byte memory limit")
    );
    assert_still_serves(&host, &upstream).await;

    // A panic is a trap naming the card, with the panic message from stderr.
    let err = host
        .invoke("panic", "run", &json!({}), None)
        .await
        .unwrap_err();
    match &err.kind {
        ErrorKind::Trap { message } => {
            assert_eq!(
                (err.connector.as_str(), err.card.as_str()),
                ("panic", "run")
            );
            assert!(message.contains("fixture panicked on purpose"), "{message}");
        }
        other => panic!("expected a trap, got {other}"),
    }
    assert_still_serves(&host, &upstream).await;

    // 4 MiB of output is refused against the 1 MiB cap.
    let err = host
        .invoke("huge-output", "run", &json!({}), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err.kind, ErrorKind::OutputTooLarge { size, limit, .. } if *size > 4 << 20 && *limit == 1 << 20),
        "{err}"
    );
    assert_still_serves(&host, &upstream).await;

    // Output naming a key twice means one thing to one reader and another
    // to the next: refused, naming the key and where it is.
    let err = host
        .invoke("huge-output", "ambiguous", &json!({}), None)
        .await
        .unwrap_err();
    match &err.kind {
        ErrorKind::InvalidOutput { violations } => assert!(
            violations[0]
                .message
                .contains("the key `admin` appears twice in the object at `/user`"),
            "{violations:?}"
        ),
        other => panic!("expected invalid output, got {other:?}"),
    }

    // Bytes that are not UTF-8 where the output text is due: refused, and
    // the host keeps serving.
    let err = host
        .invoke("huge-output", "not-utf8", &json!({}), None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("utf-8"),
        "{err} ({:?})",
        err.kind
    );
    assert_still_serves(&host, &upstream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_manifest_is_skipped_with_every_reason_and_the_rest_load() {
    let config = cardhost::RuntimeConfig {
        builtin_connectors: false,
        ..Default::default()
    };
    let host = cardhost::Cardhost::empty(config).unwrap();
    let sources = [guests::BAD_MANIFEST, guests::HELLO]
        .iter()
        .map(|p| (cardhost::Source::File(p.into()), std::fs::read(p).unwrap()))
        .collect();
    let registry = host.load_sources(sources).await;
    assert!(
        registry.get("hello").is_some(),
        "the good connector still loads"
    );
    assert_eq!(registry.errors().len(), 1);
    let err = &registry.errors()[0];
    assert!(
        err.origin.ends_with("fixture_bad_manifest.wasm"),
        "{}",
        err.origin
    );
    for expected in [
        "connector id `Bad Manifest!` must be lowercase kebab-case",
        "version `not-semver` must be semver",
        "card `list` input schema: not a valid JSON Schema",
        "needs permission `missing-permission`, which the manifest does not declare",
        "card id `list` is declared twice",
        "path pattern `relative/path` must start with `/`",
        "invalid port",
    ] {
        assert!(
            err.reason.contains(expected),
            "missing `{expected}` in: {}",
            err.reason
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_are_validated_before_the_guest_runs_and_outputs_after() {
    let upstream = people_server().await;
    let host = host_with(&[guests::HELLO], test_limits(), NetworkPolicy::loopback()).await;
    let conn = connection(
        &host,
        "hello",
        json!({"base_url": upstream}),
        &[("token", "t0ken-value")],
        &["people-read"],
    );
    let err = host
        .invoke(
            "hello",
            "read-person",
            &json!({"id": 5, "extra": true}),
            Some(&conn),
        )
        .await
        .unwrap_err();
    let ErrorKind::InvalidInput { violations, .. } = &err.kind else {
        panic!("expected invalid input, got {err}");
    };
    let pointers: Vec<&str> = violations.iter().map(|v| v.pointer.as_str()).collect();
    assert!(pointers.contains(&"/id"), "{violations:?}");
    assert!(
        pointers.contains(&""),
        "additionalProperties is reported at the root: {violations:?}"
    );
    assert!(
        err.journal.calls.is_empty(),
        "no request was made for invalid input"
    );

    let err = host
        .invoke("hello", "no-such-card", &json!({}), Some(&conn))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "connector `hello` has no card `no-such-card`"
    );
    let err = host
        .invoke("nope", "x", &json!({}), None)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "no connector `nope` is loaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_trigger_is_refused_with_the_offending_event_named() {
    let host = host_with(
        &[guests::HUGE_OUTPUT],
        test_limits(),
        NetworkPolicy::loopback(),
    )
    .await;
    let conn = connection(
        &host,
        "huge-output",
        json!({"base_url": "http://127.0.0.1:9"}),
        &[("token", "liar-token")],
        &[],
    );
    let refused = async |cursor: &str| {
        let err = host
            .poll(&conn, "liar", Some(cursor))
            .await
            .expect_err(cursor);
        match err.kind {
            ErrorKind::InvalidOutput { violations } => violations,
            other => panic!("{cursor}: expected invalid output, got {other:?}"),
        }
    };
    let too_many = refused("too-many").await;
    assert_eq!(too_many[0].pointer, "/events");
    assert!(too_many[0].message.contains("1001 events"), "{too_many:?}");
    for (cursor, pointer) in [
        ("empty-id", "/events/0/id"),
        ("control-id", "/events/0/id"),
        ("long-id", "/events/0/id"),
        ("bad-time", "/events/0/occurred_at"),
        ("out-of-schema", "/events/1/payload/n"),
        ("huge-cursor", "/cursor"),
    ] {
        let v = refused(cursor).await;
        assert_eq!(v[0].pointer, pointer, "{cursor}: {v:?}");
    }

    // The same id twice in one answer is one event; a new subscription's
    // first poll gets the cursor at the present.
    let page = host.poll(&conn, "liar", Some("repeated")).await.unwrap();
    let ids: Vec<_> = page.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["same", "other"]);
    assert_eq!(page.events[0].payload, json!({"n": 1}));
    let first = host.poll(&conn, "liar", None).await.unwrap();
    assert!(first.events.is_empty());
    assert_eq!(first.cursor, "start");

    // An unknown trigger is named, with the nearest one.
    let err = host.poll(&conn, "lair", None).await.unwrap_err();
    assert!(
        matches!(&err.kind, ErrorKind::UnknownTrigger { did_you_mean: Some(d) } if d == "liar"),
        "{:?}",
        err.kind
    );
}
