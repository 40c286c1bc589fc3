//! Shared by the `cardhost` integration tests.
#![allow(dead_code)]

pub mod oauth;

use std::process::{Command, Output};

/// Runs `command` to completion and prints `$ shown` with what it wrote,
/// so a failing test shows every command it ran and its output.
pub fn run_shown(shown: &str, command: &mut Command) -> Output {
    let out = command.output().expect("the command runs");
    eprintln!(
        "$ {shown}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A `cardhost serve` in this process on loopback, on the store in
/// `data_dir`, with the connectors `config` loads (every one must load),
/// plus an admin key for it.
pub async fn serve_on(
    data_dir: &std::path::Path,
    config: cardhost::RuntimeConfig,
    server: cardhost::config::ServerConfig,
) -> (
    cardhost::server::RunningServer,
    std::sync::Arc<dyn cardhost::store::Store>,
) {
    use std::sync::Arc;
    let (store, _) = cardhost::store::open_in(data_dir).await.unwrap();
    let store: Arc<dyn cardhost::store::Store> = Arc::new(store);
    let host = Arc::new(cardhost::Cardhost::new(config).await.unwrap());
    assert!(
        host.registry().errors().is_empty(),
        "{:?}",
        host.registry().errors()
    );
    let conns = Arc::new(cardhost::connections::Connections::new(host, store.clone()));
    let server = cardhost::server::start(
        conns,
        store.clone(),
        cardhost::config::ServerConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            ..server
        },
    )
    .await
    .unwrap();
    (server, store)
}
