//! What the sandbox costs: a card invocation through the host (fresh
//! instance, schema checks, broker, credential injection) against the same
//! request made natively with reqwest, both to one loopback server.
//!
//! Run with `cargo bench -p cardhost --bench invoke`. Prints the median and
//! p90 of each and their ratio; no assertion is made on the numbers.

use cardhost::{Cardhost, Connection, NetworkPolicy, RuntimeConfig, Secret, Source};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WARMUP: usize = 50;
const ROUNDS: usize = 500;

#[derive(serde::Deserialize)]
struct Person {
    #[allow(dead_code)]
    id: String,
    name: String,
}

fn stats(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() * 9 / 10])
}

async fn measure<F, Fut>(mut f: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..WARMUP {
        f().await;
    }
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        f().await;
        samples.push(t.elapsed());
    }
    stats(samples)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    // The upstream: a directory API on loopback.
    let app = axum::Router::new().route(
        "/people/{id}",
        axum::routing::get(
            |axum::extract::Path(id): axum::extract::Path<String>| async move {
                axum::Json(json!({"id": id, "name": "Aiko"}))
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // The host with the hello connector.
    let host = Cardhost::empty(RuntimeConfig {
        network: NetworkPolicy::loopback(),
        builtin_connectors: false,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let wasm = std::fs::read(cardhost_e2e::guests::HELLO).unwrap();
    let registry = host
        .load_sources(vec![(
            Source::File(cardhost_e2e::guests::HELLO.into()),
            wasm,
        )])
        .await;
    host.set_registry(registry);
    let loaded = host.registry().get("hello").unwrap().clone();
    let fields = json!({"base_url": base});
    let secrets = BTreeMap::from([("token".to_string(), Secret::new("bench-token"))]);
    let credentials = host
        .credentials(&loaded, None, &fields, secrets, Default::default(), None)
        .unwrap();
    let connection = Connection {
        id: Some("bench".into()),
        connector: "hello".into(),
        fields,
        granted: vec!["people-read".into()],
        credentials: Some(Arc::new(credentials)),
    };
    let input = json!({"id": "7"});
    let host = Arc::new(host);

    let (host_median, host_p90) = measure(|| {
        let host = host.clone();
        let connection = connection.clone();
        let input = input.clone();
        async move {
            let inv = host
                .invoke("hello", "greet-person", &input, Some(&connection))
                .await
                .expect("the card runs");
            assert_eq!(inv.output["greeting"], "Hello, Aiko!");
        }
    })
    .await;

    // The same work natively: GET with a bearer token, parse, greet.
    let client = reqwest::Client::new();
    let (native_median, native_p90) = measure(|| {
        let client = client.clone();
        let url = format!("{base}/people/7");
        async move {
            let person: Person = client
                .get(url)
                .bearer_auth("bench-token")
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap()
                .json()
                .await
                .unwrap();
            let out: Value = json!({"greeting": format!("Hello, {}!", person.name)});
            assert_eq!(out["greeting"], "Hello, Aiko!");
        }
    })
    .await;

    println!("greet-person, {ROUNDS} rounds after {WARMUP} warm-up, one loopback request each");
    println!(
        "  cardhost invoke  median {:>9.1?}  p90 {:>9.1?}",
        host_median, host_p90
    );
    println!(
        "  native reqwest   median {:>9.1?}  p90 {:>9.1?}",
        native_median, native_p90
    );
    println!(
        "  ratio (cardhost / native): median {:.2}x, p90 {:.2}x",
        host_median.as_secs_f64() / native_median.as_secs_f64(),
        host_p90.as_secs_f64() / native_p90.as_secs_f64()
    );
}
