//! What a WIT 0.2 manifest declares about credentials, the host carries
//! out: templated credential parts (an API key as the Basic user name with
//! the fixed password `x`, an auth header from a field and a secret),
//! credentials on the credentialed origins only, OAuth2 endpoints only on
//! the auth hosts, default headers, and the resolved environment in the
//! context.

use crate::common::*;
use base64::Engine as _;
use cardhost::{Connection, NetworkPolicy, Secret, WitVersion};
use cardhost_e2e::guests;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

async fn host() -> cardhost::Cardhost {
    host_with(
        &[guests::TEMPLATED_AUTH],
        test_limits(),
        NetworkPolicy::loopback(),
    )
    .await
}

fn credentials(
    host: &cardhost::Cardhost,
    method: &str,
    fields: &Value,
    secrets: &[(&str, &str)],
) -> Result<cardhost::ConnectionCredentials, String> {
    let registry = host.registry();
    let loaded = registry.get("templated-auth").expect("loaded");
    let secrets: BTreeMap<String, Secret> = secrets
        .iter()
        .map(|(k, v)| ((*k).to_string(), Secret::new(*v)))
        .collect();
    host.credentials(
        loaded,
        Some(method),
        fields,
        secrets,
        Default::default(),
        None,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templated_credentials_go_to_the_credentialed_origins_only() {
    let host = host().await;
    assert_eq!(
        host.registry()
            .get("templated-auth")
            .expect("loaded")
            .wit_version(),
        WitVersion::V0_3
    );
    let (api, api_seen) = recording_upstream().await;
    let (files, files_seen) = recording_upstream().await;
    let (other, other_seen) = recording_upstream().await;
    let fields =
        json!({"base_url": api, "files_url": files, "other_url": other, "account": "acme"});
    let creds = credentials(&host, "key", &fields, &[("key", "k-123")]).expect("credentials");
    let connection = Connection {
        id: Some("conn-templated".into()),
        connector: "templated-auth".into(),
        fields: fields.clone(),
        granted: vec!["all".into()],
        credentials: Some(Arc::new(creds)),
        resolved: Default::default(),
    };
    let fetch = |url: String, headers: Value| {
        let host = &host;
        let connection = &connection;
        async move {
            host.invoke(
                "templated-auth",
                "fetch",
                &json!({"url": url, "headers": headers}),
                Some(connection),
            )
            .await
            .unwrap_or_else(|f| panic!("{f}"))
            .output
        }
    };
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("k-123:x")
    );

    // The base URL's origin: the key as the Basic user name with password
    // `x`, the auth header from a field and the secret, the default headers.
    let out = fetch("/items".into(), json!({})).await;
    assert_eq!(out["status"], 200, "{out}");
    let h = last_request(&api_seen);
    assert_eq!(h.get("authorization"), Some(&basic));
    assert_eq!(h.get("x-account").map(String::as_str), Some("acme:k-123"));
    assert_eq!(
        h.get("accept").map(String::as_str),
        Some("application/json")
    );
    assert_eq!(
        h.get("x-client").map(String::as_str),
        Some("templated-auth")
    );

    // A header the card sets itself wins over the default.
    fetch("/items".into(), json!({"Accept": "text/csv"})).await;
    assert_eq!(
        last_request(&api_seen).get("accept").map(String::as_str),
        Some("text/csv")
    );

    // The credentialed origin gets the credentials too.
    fetch(format!("{files}/upload"), json!({})).await;
    let h = last_request(&files_seen);
    assert_eq!(h.get("authorization"), Some(&basic));
    assert_eq!(h.get("x-account").map(String::as_str), Some("acme:k-123"));

    // An allowed origin that is not credentialed gets none of them, but the
    // default headers.
    fetch(format!("{other}/elsewhere"), json!({})).await;
    let h = last_request(&other_seen);
    assert_eq!(h.get("authorization"), None, "{h:?}");
    assert_eq!(h.get("x-account"), None, "{h:?}");
    assert_eq!(
        h.get("accept").map(String::as_str),
        Some("application/json")
    );

    // The guest is told where its connection points.
    let out = host
        .invoke("templated-auth", "where", &json!({}), Some(&connection))
        .await
        .unwrap_or_else(|f| panic!("{f}"))
        .output;
    assert_eq!(out["environment"], "default");
    assert_eq!(
        out["base_url"].as_str().map(|u| u.trim_end_matches('/')),
        Some(api.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth2_token_url_off_the_auth_hosts_is_refused() {
    let host = host().await;
    let secrets = [("client_id", "id"), ("client_secret", "s3cret")];
    let fields = |token_url: &str| {
        json!({"base_url": "https://api.example.com", "files_url": "https://files.example.com",
               "other_url": "https://other.example.com", "account": "acme", "token_url": token_url})
    };
    let err = credentials(
        &host,
        "oauth",
        &fields("https://evil.example/token"),
        &secrets,
    )
    .expect_err("an endpoint off the auth hosts");
    assert!(
        err.contains("https://evil.example") && err.contains("https://login.example.com"),
        "{err}"
    );
    credentials(
        &host,
        "oauth",
        &fields("https://login.example.com/oauth/token"),
        &secrets,
    )
    .expect("an endpoint on the auth host");
}
