//! The quickstart, run as a newcomer runs it: it completes, says what it
//! did, and leaves nothing listening.

use std::process::Command;

#[test]
fn the_quickstart_runs_end_to_end_and_stops_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("quickstart");
    // A stale store from an earlier run is cleared, not reused.
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("stale"), b"x").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cardhost-quickstart"))
        .arg("--data-dir")
        .arg(&data)
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env_remove("CARDHOST_MASTER_KEY")
        .output()
        .expect("the quickstart runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for expected in [
        "connector smarthr",
        "connector paycor",
        "connector advanced-hr",
        "connector fourth-scim",
        "authorization code + PKCE, consent → /v1/oauth/callback → ready",
        "all four connections pass their connection test",
        "create-employee → crew",
        "search-employees emp_code=QS-0001 → 1 found",
        "find-user-by-email → Fourth Account ID",
        "update-employee-contact",
        "→ updated [\"work_email\"]",
        "list-departments →",
        "subscribed to Fourth SCIM user-changed",
        "subscribed to SmartHR employee-created",
        "verified by X-SmartHR-Token",
        "employee-created → event",
        "delivered by SmartHR's webhook",
        "user-changed → event",
        "(job title \"Guest Relations\")",
        "invocations recorded",
        "Done: the emulators and the server are stopped.",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
    assert!(!stdout.contains("(not found)"), "{stdout}");
    assert!(
        !stdout.contains("skipped"),
        "every built-in connector loads:\n{stdout}"
    );
    assert!(!data.join("stale").exists());
    assert!(
        data.join("cardhost.db").exists(),
        "the embedded store is a SQLite file"
    );

    // Every port it printed is closed again.
    for word in stdout.split_whitespace() {
        if let Some(rest) = word.strip_prefix("http://127.0.0.1:") {
            let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let addr = format!("127.0.0.1:{port}");
            assert!(
                std::net::TcpStream::connect(&addr).is_err(),
                "{addr} still listens"
            );
        }
    }
}
