//! Connectors built against older minors of `cardhost:connector` (the raw
//! bindings, no SDK) keep loading and working on a host whose current
//! version is 0.3. A 0.1 connector's credentials reach the upstream as 0.1
//! said, only on the base URL's origin; a 0.2 connector loads as one
//! without triggers; the cards, context and connection test of both work.

use crate::common::*;
use cardhost::{NetworkPolicy, WitVersion};
use cardhost_e2e::guests;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_1_connector_loads_and_its_credentials_mean_what_they_meant() {
    let host = host_with(
        &[guests::LEGACY_V0_1],
        test_limits(),
        NetworkPolicy::loopback(),
    )
    .await;
    let registry = host.registry();
    let loaded = registry.get("legacy").expect("loaded");
    assert_eq!(loaded.wit_version(), WitVersion::V0_1);

    let (api, seen) = recording_upstream().await;
    let (other, other_seen) = recording_upstream().await;
    let fields = json!({"base_url": api, "user": "alice", "other_host": other});

    // Basic with the user name from a connection field, plus a secret header.
    let basic = connection_with(
        &host,
        "legacy",
        "basic",
        fields.clone(),
        &[("password", "pw-1"), ("api_key", "key-1")],
        &["all"],
    );
    let done = host
        .invoke("legacy", "fetch", &json!({"url": "/whoami"}), Some(&basic))
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(done.output["status"], 200, "{}", done.output);
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:pw-1")
    );
    let h = last_request(&seen);
    assert_eq!(h.get("authorization"), Some(&expected));
    assert_eq!(h.get("x-api-key").map(String::as_str), Some("key-1"));

    // Another allowed origin gets no credentials, as in 0.1.
    host.invoke(
        "legacy",
        "fetch",
        &json!({"url": format!("{other}/elsewhere")}),
        Some(&basic),
    )
    .await
    .unwrap_or_else(|f| panic!("{f}"));
    let h = last_request(&other_seen);
    assert!(
        !h.contains_key("authorization") && !h.contains_key("x-api-key"),
        "{h:?}"
    );

    // The bearer method.
    let bearer = connection_with(
        &host,
        "legacy",
        "bearer",
        fields.clone(),
        &[("token", "tok-1")],
        &["all"],
    );
    host.invoke("legacy", "fetch", &json!({"url": "/x"}), Some(&bearer))
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    let h = last_request(&seen);
    assert_eq!(
        h.get("authorization").map(String::as_str),
        Some("Bearer tok-1")
    );
    assert!(!h.contains_key("x-api-key"), "{h:?}");

    // The 0.1 context: fields and permissions.
    let ctx = host
        .invoke("legacy", "context", &json!({}), Some(&bearer))
        .await
        .unwrap_or_else(|f| panic!("{f}"))
        .output;
    assert_eq!(ctx["fields"], fields);
    assert_eq!(ctx["permissions"], json!(["all"]));
    assert_eq!(ctx["connection_id"], "conn-legacy");

    // And its connection test.
    let report = host
        .test_connection(&bearer)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    assert!(report.ok, "{report:?}");
    assert_eq!(report.checks[0].name, "ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_2_connector_loads_without_triggers_and_works() {
    let host = host_with(
        &[guests::LEGACY_V0_2],
        test_limits(),
        NetworkPolicy::loopback(),
    )
    .await;
    let registry = host.registry();
    let loaded = registry.get("legacy-two").expect("loaded");
    assert_eq!(loaded.wit_version(), WitVersion::V0_2);
    assert!(loaded.manifest.triggers.is_empty());

    let (api, seen) = recording_upstream().await;
    let fields = json!({"base_url": api});
    let conn = connection_with(
        &host,
        "legacy-two",
        "token",
        fields,
        &[("token", "tok-2")],
        &["all"],
    );
    let done = host
        .invoke("legacy-two", "fetch", &json!({"url": "/x"}), Some(&conn))
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(done.output["status"], 200, "{}", done.output);
    let h = last_request(&seen);
    assert_eq!(
        h.get("authorization").map(String::as_str),
        Some("Bearer tok-2")
    );
    assert_eq!(
        h.get("accept").map(String::as_str),
        Some("application/json")
    );

    // The 0.2 context carries the environment.
    let ctx = host
        .invoke("legacy-two", "context", &json!({}), Some(&conn))
        .await
        .unwrap_or_else(|f| panic!("{f}"))
        .output;
    assert_eq!(ctx["environment"], "default");
    assert!(ctx["base_url"].as_str().unwrap().starts_with(&api), "{ctx}");

    // Asking it for a trigger is a clear error, not a trap.
    let err = host
        .poll(&conn, "anything", None)
        .await
        .expect_err("a 0.2 connector has no triggers");
    assert!(
        err.to_string().contains("has no trigger `anything`"),
        "{err}"
    );

    let report = host
        .test_connection(&conn)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    assert!(report.ok, "{report:?}");
}
