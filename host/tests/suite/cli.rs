//! The `cardhost` binary for connector authors: `validate` explains every
//! kind of bad file, and a connectors directory with a bad file still loads
//! the good ones.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

fn cardhost(dir: &Path, args: &[&str]) -> Output {
    common::run_shown(
        &format!("cardhost {}", args.join(" ")),
        Command::new(env!("CARGO_BIN_EXE_cardhost"))
            .args(args)
            .env("CARDHOST_DATA_DIR", dir.join("data"))
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .env_remove("CARDHOST_CONFIG")
            .env_remove("CARDHOST_CONNECTORS_DIR"),
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An empty component: valid component-model binary, exporting nothing.
const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";
/// An empty core module.
const CORE_MODULE: &[u8] = b"\0asm\x01\0\0\0";

#[test]
fn validate_explains_each_kind_of_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let cases = [
        (
            write("notes.wasm", b"just some text\n"),
            "not a WebAssembly",
        ),
        (write("core.wasm", CORE_MODULE), "core"),
        (
            write("other-world.wasm", EMPTY_COMPONENT),
            "cardhost:connector",
        ),
        (cardhost_e2e::guests::BAD_MANIFEST.to_string(), "manifest"),
    ];
    for (file, expected) in &cases {
        let out = cardhost(dir.path(), &["validate", file]);
        assert!(!out.status.success(), "{file} is refused");
        let err = stderr(&out);
        assert!(
            err.to_lowercase().contains(&expected.to_lowercase()),
            "{file}: expected `{expected}` in: {err}"
        );
    }
    let out = cardhost(dir.path(), &["validate", "/nonexistent/connector.wasm"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/nonexistent/connector.wasm"));

    let out = cardhost(dir.path(), &["validate", cardhost_e2e::guests::HELLO]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: hello 0.1.0"));
    let out = cardhost(
        dir.path(),
        &["--json", "validate", cardhost_e2e::guests::HELLO],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["id"], "hello");
}

#[test]
fn a_bad_file_in_the_connectors_directory_is_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let connectors = dir.path().join("connectors");
    std::fs::create_dir_all(&connectors).unwrap();
    std::fs::copy(cardhost_e2e::guests::HELLO, connectors.join("hello.wasm")).unwrap();
    std::fs::write(connectors.join("broken.wasm"), b"not wasm").unwrap();
    std::fs::copy(
        cardhost_e2e::guests::BAD_MANIFEST,
        connectors.join("bad-manifest.wasm"),
    )
    .unwrap();
    let dir_arg = connectors.display().to_string();
    let out = cardhost(dir.path(), &["--connectors-dir", &dir_arg, "connectors"]);
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("hello"), "{listed}");
    let err = stderr(&out);
    assert!(err.contains("broken.wasm"), "{err}");
    assert!(err.contains("bad-manifest.wasm"), "{err}");

    let out = cardhost(
        dir.path(),
        &["--connectors-dir", &dir_arg, "cards", "hello", "--json"],
    );
    let cards: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = cards["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"greet-person") && ids.contains(&"custom-api-action"));
    assert!(cards["cards"][0]["input_schema"].is_object());
}

#[test]
fn triggers_and_subscriptions_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let connectors = dir.path().join("connectors");
    std::fs::create_dir_all(&connectors).unwrap();
    std::fs::copy(
        cardhost_e2e::guests::HUGE_OUTPUT,
        connectors.join("huge-output.wasm"),
    )
    .unwrap();
    let connectors = connectors.display().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--connectors-dir", connectors.as_str(), "--allow-loopback"];
        all.extend_from_slice(args);
        cardhost(dir.path(), &all)
    };
    let stdout = |out: &Output| String::from_utf8_lossy(&out.stdout).into_owned();

    let out = run(&["triggers", "huge-output"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("liar"), "{}", stdout(&out));
    let out = run(&["triggers", "huge-outptu"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no connector `huge-outptu`"),
        "{}",
        stderr(&out)
    );

    let out = common::run_shown(
        "cardhost connections create",
        Command::new(env!("CARGO_BIN_EXE_cardhost"))
            .args([
                "--connectors-dir",
                &connectors,
                "--allow-loopback",
                "connections",
                "create",
                "huge-output",
                "--name",
                "liar",
                "--field",
                "base_url=http://127.0.0.1:9",
                "--secret-env",
                "token=LIAR_TOKEN",
            ])
            .env("LIAR_TOKEN", "liar-token")
            .env("CARDHOST_DATA_DIR", dir.path().join("data"))
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .env_remove("CARDHOST_CONFIG"),
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let out = run(&[
        "--json",
        "subscriptions",
        "create",
        "liar",
        "liar",
        "--interval",
        "5",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sub: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = sub["id"].as_str().unwrap().to_string();
    assert_eq!(sub["interval_seconds"], 5);
    let out = run(&["subscriptions", "create", "liar", "liar", "--interval", "0"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("interval_seconds"),
        "{}",
        stderr(&out)
    );

    let out = run(&["subscriptions", "list"]);
    assert!(stdout(&out).contains(&id), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("huge-output/liar"),
        "{}",
        stdout(&out)
    );
    let out = run(&["subscriptions", "pause", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("paused"), "{}", stdout(&out));
    let out = run(&["subscriptions", "show", &id]);
    assert!(stdout(&out).contains("paused"), "{}", stdout(&out));
    // Nothing polled it (no server runs): the feed is empty.
    let out = run(&["events", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let out = run(&["events", "sub_nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no subscription `sub_nope`"),
        "{}",
        stderr(&out)
    );

    let out = run(&["subscriptions", "delete", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["subscriptions", "show", &id]);
    assert!(!out.status.success());
}
