//! A connector built against `cardhost:connector@0.1.0` (the raw bindings,
//! no SDK) keeps loading and working on a host whose current version is
//! 0.2: its credentials reach the upstream as 0.1 said, only on the base
//! URL's origin, and its cards, context and connection test work.

mod common;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use cardhost::{Connection, NetworkPolicy, Secret, WitVersion};
use cardhost_e2e::guests;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>)>>>;

/// An upstream that records the credential headers of every request.
async fn recording_upstream() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let router = Router::new().fallback(get(move |headers: HeaderMap| {
        let record = record.clone();
        async move {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            record
                .lock()
                .unwrap()
                .push((header("authorization"), header("x-api-key")));
            axum::Json(json!({"ok": true}))
        }
    }));
    (serve(router).await, seen)
}

fn connection(
    host: &cardhost::Cardhost,
    method: &str,
    fields: Value,
    secrets: &[(&str, &str)],
) -> Connection {
    let registry = host.registry();
    let loaded = registry.get("legacy").expect("loaded");
    let secrets: BTreeMap<String, Secret> = secrets
        .iter()
        .map(|(k, v)| ((*k).to_string(), Secret::new(*v)))
        .collect();
    let credentials = host
        .credentials(
            loaded,
            Some(method),
            &fields,
            secrets,
            Default::default(),
            None,
        )
        .expect("credentials");
    Connection {
        id: Some("conn-legacy".into()),
        connector: "legacy".into(),
        fields,
        granted: vec!["all".into()],
        credentials: Some(Arc::new(credentials)),
    }
}

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
    let basic = connection(
        &host,
        "basic",
        fields.clone(),
        &[("password", "pw-1"), ("api_key", "key-1")],
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
    assert_eq!(
        seen.lock().unwrap().last().cloned(),
        Some((Some(expected), Some("key-1".into())))
    );

    // Another allowed origin gets no credentials, as in 0.1.
    host.invoke(
        "legacy",
        "fetch",
        &json!({"url": format!("{other}/elsewhere")}),
        Some(&basic),
    )
    .await
    .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(other_seen.lock().unwrap().as_slice(), [(None, None)]);

    // The bearer method.
    let bearer = connection(&host, "bearer", fields.clone(), &[("token", "tok-1")]);
    host.invoke("legacy", "fetch", &json!({"url": "/x"}), Some(&bearer))
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(
        seen.lock().unwrap().last().cloned(),
        Some((Some("Bearer tok-1".into()), None))
    );

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
