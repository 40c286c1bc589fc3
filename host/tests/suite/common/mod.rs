//! Shared by the `cardhost` integration tests.
#![allow(dead_code)]

pub mod oauth;

use std::process::{Child, Command, Output, Stdio};

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

/// Starts `command`, a `cardhost … serve --listen 127.0.0.1:0`, with its
/// output piped: returns the child, the URL it announced on its first line
/// of stdout, and a thread that reads its stderr to the end. Panics with
/// that stderr when it exits without announcing one.
pub fn spawn_serve(command: &mut Command) -> (Child, String, std::thread::JoinHandle<String>) {
    use std::io::{BufRead as _, BufReader, Read as _};
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let Some(Ok(started)) = lines.next() else {
        let _ = child.kill();
        panic!("the server did not start:\n{}", stderr.join().unwrap());
    };
    let url = started.rsplit(' ').next().unwrap().to_string();
    (child, url, stderr)
}
