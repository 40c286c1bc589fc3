//! `cardhost new connector`: the crate it writes builds for `wasm32-wasip2`
//! on the first try, passes `cardhost validate`, passes its own tests
//! natively, and its card runs in the host against a real HTTP server. And
//! what it refuses, it refuses before writing anything.
//!
//! The generated crate resolves its dependencies (serde, schemars,
//! wit-bindgen ...) from crates.io and builds into a target directory kept
//! under this repository's `target/tmp`, so runs after the first only
//! rebuild the crate itself.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

fn cardhost(dir: &Path, args: &[&str]) -> Output {
    common::run_shown(
        &format!("cardhost {}", args.join(" ")),
        Command::new(env!("CARGO_BIN_EXE_cardhost"))
            .args(args)
            .env("CARDHOST_DATA_DIR", dir.join("data"))
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .env("ACME_TICKETS_TOKEN", "demo-token")
            .env_remove("CARDHOST_CONFIG")
            .env_remove("CARDHOST_CONNECTORS_DIR")
            .current_dir(dir),
    )
}

/// `cargo ARGS` in `dir`, as an author would run it: none of the settings
/// cargo gives this test (flags, wrappers, target) leak in.
fn cargo(dir: &Path, target_dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(args)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(dir);
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        command.env_remove(var);
    }
    common::run_shown(&format!("cargo {}", args.join(" ")), &mut command)
}

fn sdk_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../connectors/sdk")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An HTTP server on loopback answering every request with one item and
/// recording each request's head.
fn item_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            log.lock().unwrap().push(head);
            let body = r#"{"id": "42", "name": "Broken printer", "priority": "high"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn a_new_connector_builds_validates_tests_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let crate_dir = tmp.path().join("acme-tickets");
    let sdk = sdk_path();
    let out = cardhost(
        tmp.path(),
        &[
            "new",
            "connector",
            "acme-tickets",
            "--dir",
            crate_dir.to_str().unwrap(),
            "--sdk-path",
            sdk.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    for file in [
        "Cargo.toml",
        ".cargo/config.toml",
        "src/lib.rs",
        "README.md",
        ".gitignore",
    ] {
        assert!(crate_dir.join(file).is_file(), "{file} is written");
        assert!(printed.contains(file), "{file} is listed: {printed}");
    }
    assert!(
        printed.contains("cargo build --target wasm32-wasip2 --release"),
        "{printed}"
    );
    assert!(
        printed.contains("cardhost validate target/wasm32-wasip2/release/acme_tickets.wasm"),
        "{printed}"
    );
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(!manifest.contains(".workspace"), "{manifest}");

    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-connector");
    let out = cargo(
        &crate_dir,
        &target_dir,
        &["build", "--target", "wasm32-wasip2", "--release"],
    );
    assert!(out.status.success(), "the wasm build fails");
    let wasm = target_dir.join("wasm32-wasip2/release/acme_tickets.wasm");
    assert!(wasm.is_file(), "{} is built", wasm.display());

    let out = cardhost(tmp.path(), &["validate", wasm.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("ok: acme-tickets 0.1.0 (Acme Tickets), 1 cards, 1 permissions"),
        "{}",
        stdout(&out)
    );

    // The card runs in the host: the broker resolves the path against the
    // connection's base URL and adds the token the connector never sees.
    let connectors = tmp.path().join("connectors");
    std::fs::create_dir(&connectors).unwrap();
    std::fs::copy(&wasm, connectors.join("acme_tickets.wasm")).unwrap();
    let config = tmp.path().join("cardhost.toml");
    std::fs::write(&config, "builtin_connectors = false\n").unwrap();
    let (url, seen) = item_server();
    let fields = format!(r#"{{"base_url": "{url}"}}"#);
    let out = cardhost(
        tmp.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--connectors-dir",
            connectors.to_str().unwrap(),
            "--allow-loopback",
            "invoke",
            "acme-tickets",
            "read-item",
            "--input",
            r#"{"id": "42"}"#,
            "--fields",
            &fields,
            "--secret-env",
            "token=ACME_TICKETS_TOKEN",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let output: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        output,
        serde_json::json!({"id": "42", "name": "Broken printer"})
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("GET /items/42 HTTP/1.1\r\n"),
        "{seen:?}"
    );
    assert!(
        seen[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer demo-token\r\n"),
        "{seen:?}"
    );

    let out = cargo(&crate_dir, &target_dir, &["test"]);
    assert!(out.status.success(), "the crate's own tests fail");
    assert!(stdout(&out).contains("test result: ok. 4 passed"));
}

#[test]
fn by_default_the_sdk_comes_from_crates_io() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cardhost(tmp.path(), &["new", "connector", "acme"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest = std::fs::read_to_string(tmp.path().join("acme/Cargo.toml")).unwrap();
    assert!(
        manifest.contains(r#"cardhost-sdk = { version = "0.1" }"#),
        "{manifest}"
    );
    assert!(stdout(&out).contains("--sdk-path"));

    let out = cardhost(
        tmp.path(),
        &[
            "new",
            "connector",
            "pinned",
            "--sdk-version",
            "=0.1.0",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["wasm"], "target/wasm32-wasip2/release/pinned.wasm");
    let manifest = std::fs::read_to_string(tmp.path().join("pinned/Cargo.toml")).unwrap();
    assert!(
        manifest.contains(r#"cardhost-sdk = { version = "=0.1.0" }"#),
        "{manifest}"
    );
}

#[test]
fn refusals_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();

    for bad in ["Acme_Tickets", "acme--tickets", "9lives", "serde"] {
        let out = cardhost(tmp.path(), &["new", "connector", bad]);
        assert!(!out.status.success(), "{bad} is refused");
        let err = stderr(&out);
        assert!(err.contains(&format!("`{bad}`")), "{bad}: {err}");
        assert!(!tmp.path().join(bad).exists(), "{bad}: nothing is written");
    }
    let out = cardhost(tmp.path(), &["new", "connector", "Acme_Tickets"]);
    assert!(stderr(&out).contains("kebab-case"));
    assert!(stderr(&out).contains("did you mean `acme-tickets`?"));

    let taken = tmp.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("notes.txt"), "mine").unwrap();
    let out = cardhost(
        tmp.path(),
        &["new", "connector", "acme", "--dir", taken.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(taken.to_str().unwrap()),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("not empty"));
    let left: Vec<_> = std::fs::read_dir(&taken).unwrap().collect();
    assert_eq!(left.len(), 1, "only the file that was there");

    let out = cardhost(
        tmp.path(),
        &[
            "new",
            "connector",
            "acme",
            "--sdk-path",
            tmp.path().to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not the cardhost-sdk crate"));
    assert!(!tmp.path().join("acme").exists());

    let out = cardhost(
        tmp.path(),
        &[
            "new",
            "connector",
            "acme",
            "--sdk-path",
            sdk_path().to_str().unwrap(),
            "--sdk-version",
            "0.1",
        ],
    );
    assert!(
        !out.status.success(),
        "--sdk-path and --sdk-version conflict"
    );
    assert!(!tmp.path().join("acme").exists());
}
