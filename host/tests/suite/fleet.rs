//! Many stateless `cardhost serve` nodes on one PostgreSQL database, with no
//! shared disk: each node has a data directory of its own and the same
//! master key in `CARDHOST_MASTER_KEY`. The provider is the OAuth2 emulator
//! (refresh tokens rotate, and a spent one revokes the family), the
//! upstream a resource server that checks its tokens.
//!
//! Skipped (and said so) without `CARDHOST_TEST_POSTGRES`; CI sets it.

use crate::common;

use crate::common::oauth::{CLIENT_ID, CLIENT_SECRET, Resource, free_port, resource_server};
use cardhost::connections::{Connections, CreateConnection};
use cardhost::store::{MasterKey, PostgresStore, Role, Store, testing};
use cardhost::{Cardhost, NetworkPolicy, RuntimeConfig, Secret, Source};
use cardhost_emulators::oauth::{GrantType, OAuthServer};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

struct Fleet {
    database_url: String,
    master_key: MasterKey,
    oauth: OAuthServer,
    resource: Resource,
    dir: tempfile::TempDir,
    redirect: String,
}

impl Fleet {
    async fn start(test: &str) -> Option<Fleet> {
        let database_url = testing::fresh_postgres_database(test).await?;
        let redirect = format!("http://127.0.0.1:{}/callback", free_port());
        let oauth = common::oauth::provider("fleet", &redirect).await;
        let resource = resource_server(oauth.state()).await;
        let dir = tempfile::tempdir().unwrap();
        common::oauth::oauth_app_config(dir.path());
        Some(Fleet {
            database_url,
            master_key: MasterKey::generate(),
            oauth,
            resource,
            dir,
            redirect,
        })
    }

    fn fields(&self) -> Value {
        common::oauth::oauth_app_fields(&self.oauth, &self.resource)
    }

    fn secrets() -> Value {
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    }

    /// The connections service of one more node, in this process: used to
    /// authorize (the emulator's redirect is read rather than followed).
    async fn service(&self) -> (Arc<Connections>, Arc<dyn Store>) {
        let store: Arc<dyn Store> = Arc::new(
            PostgresStore::connect(&self.database_url, vec![self.master_key.clone()], vec![])
                .await
                .unwrap(),
        );
        let host = Cardhost::empty(RuntimeConfig {
            network: NetworkPolicy::loopback(),
            builtin_connectors: false,
            ..RuntimeConfig::default()
        })
        .unwrap();
        let wasm = std::fs::read(cardhost_e2e::guests::OAUTH_APP).unwrap();
        let registry = host
            .load_sources(vec![(
                Source::File(cardhost_e2e::guests::OAUTH_APP.into()),
                wasm,
            )])
            .await;
        assert!(registry.errors().is_empty(), "{:?}", registry.errors());
        host.set_registry(registry);
        (
            Arc::new(Connections::new(Arc::new(host), store.clone())),
            store,
        )
    }

    /// The connection `shared` (authorization code), authorized through
    /// a service of this process; with that service and its store.
    async fn authorized_connection(
        &self,
    ) -> (
        Arc<Connections>,
        Arc<dyn Store>,
        cardhost::store::ConnectionRecord,
    ) {
        let (service, store) = self.service().await;
        let created = service
            .create(CreateConnection {
                connector: "oauth-app".into(),
                name: "shared".into(),
                fields: self.fields(),
                secrets: BTreeMap::from([
                    ("client_id".to_string(), Secret::new(CLIENT_ID)),
                    ("client_secret".to_string(), Secret::new(CLIENT_SECRET)),
                ]),
                grant: None,
                auth_method: Some("authorization-code".into()),
            })
            .await
            .unwrap();
        common::oauth::authorize(&service, "shared", &self.redirect).await;
        (service, store, created)
    }

    /// `cardhost serve` as node `n`: its own data directory, the shared
    /// database and key.
    fn node(&self, n: usize) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cardhost"));
        cmd.arg("--config")
            .arg(self.dir.path().join("cardhost.toml"))
            .arg("--data-dir")
            .arg(self.dir.path().join(format!("node-{n}")))
            .arg("--allow-loopback")
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("CARDHOST_DATABASE_URL", &self.database_url)
            .env("CARDHOST_MASTER_KEY", self.master_key.to_base64())
            .env_remove("CARDHOST_CONFIG")
            .env_remove("CARDHOST_DATA_DIR")
            .env_remove("CARDHOST_OTLP_ENDPOINT")
            .stdin(Stdio::null());
        let (child, url, stderr) = common::spawn_serve(&mut cmd);
        Node {
            child,
            url,
            stderr: Some(stderr),
        }
    }
}

struct Node {
    child: Child,
    url: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Node {
    fn kill_9(&mut self) {
        let status = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(stderr) = self.stderr.take()
            && std::thread::panicking()
        {
            eprintln!("--- node {} stderr\n{}", self.url, stderr.join().unwrap());
        }
    }
}

async fn invoke(http: &reqwest::Client, node: &str, key: &str, connection: &str) -> (u16, Value) {
    let resp = http
        .post(format!(
            "{node}/v1/connections/{connection}/cards/whoami:invoke"
        ))
        .bearer_auth(key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Invokes `whoami` on `connection` `n` times at once, round-robin over
/// `nodes`; returns the failures.
async fn burst(
    http: &reqwest::Client,
    nodes: &[String],
    key: &str,
    connection: &str,
    n: usize,
) -> Vec<(u16, Value)> {
    let calls = (0..n).map(|i| {
        let (http, node, key, connection) = (
            http.clone(),
            nodes[i % nodes.len()].clone(),
            key.to_string(),
            connection.to_string(),
        );
        tokio::spawn(async move { invoke(&http, &node, &key, &connection).await })
    });
    futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .filter(|(status, _)| *status != 200)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_keys_connections_and_one_refresh() {
    let Some(fleet) = Fleet::start("fleet").await else {
        return;
    };
    let (_service, store, created) = fleet.authorized_connection().await;
    let key = cardhost::server::keys::create(store.as_ref(), "fleet", Role::Admin)
        .await
        .unwrap()
        .key;

    let nodes: Vec<Node> = (0..3).map(|n| fleet.node(n)).collect();
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let http = reqwest::Client::new();

    // A key made elsewhere works on every node at once; so does the
    // connection authorized elsewhere.
    for url in &urls {
        let (status, body) = invoke(&http, url, &key, &created.id).await;
        assert_eq!(status, 200, "{url}: {body}");
    }

    // The provider expires every access token, takes a moment to answer
    // token requests, and rotates refresh tokens (a spent one revokes the
    // family): 300 invocations across the nodes must cost one refresh.
    let state = fleet.oauth.state();
    let refreshes = state.token_request_count(GrantType::RefreshToken);
    state.expire_access_tokens();
    state.delay_next_token_requests(10, Duration::from_millis(300));
    let failures = burst(&http, &urls, &key, &created.id, 300).await;
    assert!(
        failures.is_empty(),
        "{} of 300 failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert_eq!(
        state.token_request_count(GrantType::RefreshToken) - refreshes,
        1,
        "exactly one refresh reached the provider"
    );

    // A connection created on one node is invocable on another at once.
    let resp = http
        .post(format!("{}/v1/connections", urls[0]))
        .bearer_auth(&key)
        .json(&json!({
            "connector": "oauth-app", "name": "machine",
            "auth_method": "client-credentials",
            "fields": fleet.fields(), "secrets": Fleet::secrets(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let (status, body) = invoke(&http, &urls[1], &key, "machine").await;
    assert_eq!(status, 200, "{body}");

    // A revoked key stops working on every node within a second.
    let key_id = key.split('_').nth(1).unwrap().to_string();
    assert!(store.revoke_api_key(&key_id).await.unwrap());
    tokio::time::sleep(Duration::from_secs(1)).await;
    for url in &urls {
        let (status, _) = invoke(&http, url, &key, "machine").await;
        assert_eq!(status, 401, "{url} still takes a revoked key");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_during_a_refresh_loses_no_connection() {
    let Some(fleet) = Fleet::start("fleet_kill").await else {
        return;
    };
    let (_service, store, created) = fleet.authorized_connection().await;
    let key = cardhost::server::keys::create(store.as_ref(), "fleet", Role::Invoker)
        .await
        .unwrap()
        .key;
    let mut nodes: Vec<Node> = (0..3).map(|n| fleet.node(n)).collect();
    let http = reqwest::Client::new();

    // Node 0 starts a refresh the provider is slow to answer, and is
    // killed while it waits (it holds the refresh lease).
    let state = fleet.oauth.state();
    state.expire_access_tokens();
    state.delay_next_token_requests(1, Duration::from_secs(2));
    let doomed = {
        let (http, url, key, id) = (
            http.clone(),
            nodes[0].url.clone(),
            key.clone(),
            created.id.clone(),
        );
        tokio::spawn(async move { invoke(&http, &url, &key, &id).await })
    };
    // The invocation's 401 and the token request take a few milliseconds;
    // the provider holds the request for two seconds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    nodes[0].kill_9();
    // Its caller gets no answer (the connection is reset).
    let (status, _) = doomed.await.unwrap_or((0, Value::Null));
    assert_ne!(
        status, 200,
        "node 0 was killed before its refresh was answered"
    );

    // The others carry on: the connection still works, through a refresh of
    // their own once the dead node's lease is gone.
    let urls: Vec<String> = nodes[1..].iter().map(|n| n.url.clone()).collect();
    let failures = burst(&http, &urls, &key, &created.id, 40).await;
    assert!(
        failures.is_empty(),
        "{} of 40 failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    let record = store.connection(&created.id).await.unwrap();
    assert_eq!(
        record.state,
        cardhost::store::ConnectionState::Ready,
        "{:?}",
        record.state_message
    );
}
