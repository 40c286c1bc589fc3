//! Shared setup for the end-to-end tests.
#![allow(dead_code)]

use cardhost::{Cardhost, Connection, Limits, NetworkPolicy, RuntimeConfig, Secret, Source};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Limits small enough that hostile fixtures end quickly.
pub fn test_limits() -> Limits {
    Limits {
        memory_bytes: 64 << 20,
        deadline_ms: 2_000,
        max_output_bytes: 1 << 20,
        max_response_body_bytes: 1 << 20,
        max_concurrent_instances: 16,
        ..Limits::default()
    }
}

/// A host with only the given guests loaded, allowing loopback.
pub async fn host_with(guests: &[&str], limits: Limits, network: NetworkPolicy) -> Cardhost {
    let config = RuntimeConfig {
        limits,
        network,
        builtin_connectors: false,
        ..RuntimeConfig::default()
    };
    let host = Cardhost::empty(config).expect("runtime starts");
    let sources = guests
        .iter()
        .map(|p| {
            (
                Source::File(Path::new(p).to_path_buf()),
                std::fs::read(p).expect("guest built"),
            )
        })
        .collect();
    let registry = host.load_sources(sources).await;
    assert!(
        registry.errors().is_empty(),
        "load errors: {:?}",
        registry.errors()
    );
    host.set_registry(registry);
    host
}

/// A connection of `connector` with fields, one secret and a grant.
pub fn connection(
    host: &Cardhost,
    connector: &str,
    fields: Value,
    secrets: &[(&str, &str)],
    grant: &[&str],
) -> Connection {
    let registry = host.registry();
    let loaded = registry.get(connector).expect("connector loaded");
    let secrets: BTreeMap<String, Secret> = secrets
        .iter()
        .map(|(k, v)| ((*k).to_string(), Secret::new(*v)))
        .collect();
    let credentials = host
        .credentials(loaded, None, &fields, secrets, Default::default(), None)
        .expect("credentials");
    Connection {
        id: Some(format!("conn-{connector}")),
        connector: connector.into(),
        fields,
        granted: grant.iter().map(|s| (*s).to_string()).collect(),
        credentials: Some(Arc::new(credentials)),
        resolved: Default::default(),
    }
}

/// Serves `router` on a loopback port; returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

/// A connection of `connector` with the given auth method, fields, secrets
/// and grant.
pub fn connection_with(
    host: &Cardhost,
    connector: &str,
    method: &str,
    fields: Value,
    secrets: &[(&str, &str)],
    grant: &[&str],
) -> Connection {
    let registry = host.registry();
    let loaded = registry.get(connector).expect("connector loaded");
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
        id: Some(format!("conn-{connector}")),
        connector: connector.into(),
        fields,
        granted: grant.iter().map(|s| (*s).to_string()).collect(),
        credentials: Some(Arc::new(credentials)),
        resolved: Default::default(),
    }
}

/// A connection of the overreach connector with the given auth method.
pub fn overreach_connection(
    host: &Cardhost,
    base_url: &str,
    method: &str,
    secrets: &[(&str, &str)],
    grant: &[&str],
) -> Connection {
    connection_with(
        host,
        "overreach",
        method,
        json!({"base_url": base_url}),
        secrets,
        grant,
    )
}

/// The headers of every request an upstream received, names lowercased.
pub type Seen = Arc<std::sync::Mutex<Vec<BTreeMap<String, String>>>>;

/// An upstream on loopback that records the headers of every request and
/// answers `{"ok": true}`; returns its base URL.
pub async fn recording_upstream() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let router =
        axum::Router::new().fallback(axum::routing::get(move |headers: axum::http::HeaderMap| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(
                    headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect(),
                );
                axum::Json(json!({"ok": true}))
            }
        }));
    (serve(router).await, seen)
}

/// The headers of the last request `seen` recorded.
pub fn last_request(seen: &Seen) -> BTreeMap<String, String> {
    seen.lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a request arrived")
}
