//! The `cardhost` binary is safe on a terminal: a closed stdout
//! (`cardhost cards | head -1`) ends it quietly, and what connectors,
//! stored connections and upstreams say reaches the terminal escaped, never
//! as control sequences.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const ESC: u8 = 0x1b;
/// Clears the screen, then turns text red.
const HOSTILE: &str = "x\x1b[2J\x1b[31my\u{202e}z";

/// `cardhost` on a data directory and component cache of its own, with
/// only the built-in connectors and the files of `connectors`.
fn cardhost(dir: &Path, connectors: Option<&Path>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cardhost"));
    cmd.arg("--data-dir").arg(dir.join("data"));
    if let Some(c) = connectors {
        cmd.arg("--connectors-dir").arg(c);
    }
    // Compiled components are shared by the tests of this file.
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("terminal-cache");
    cmd.env("XDG_CACHE_HOME", cache)
        .env("RUST_BACKTRACE", "1")
        .env_remove("CARDHOST_CONFIG")
        .env_remove("CARDHOST_CONNECTORS_DIR")
        .env_remove("CARDHOST_DATA_DIR")
        .env_remove("CARDHOST_MASTER_KEY")
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    common::run_shown(&shown, cmd)
}

/// Runs `cmd` with its stdout read by a reader that takes `lines` lines and
/// then closes the pipe, as `| head -n LINES` does; returns how it ended
/// and the lines read.
fn with_stdout_closed_after(cmd: &mut Command, lines: usize) -> (Output, Vec<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cardhost runs");
    let stdout = child.stdout.take().unwrap();
    let mut read = Vec::new();
    {
        let mut reader = BufReader::new(stdout);
        for _ in 0..lines {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            read.push(line);
        }
        // The reader is dropped here: the pipe's read end is closed.
    }
    let out = child.wait_with_output().unwrap();
    eprintln!("$ {cmd:?}\n{}", String::from_utf8_lossy(&out.stderr));
    (out, read)
}

fn assert_quiet(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}

#[test]
fn a_reader_that_closes_early_ends_cardhost_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // `cardhost cards --json | head -1`: the catalog is far larger than a
    // pipe's buffer, so cardhost is still writing when the reader goes.
    let (out, read) =
        with_stdout_closed_after(cardhost(dir.path(), None).args(["cards", "--json"]), 1);
    assert_eq!(read, ["{\n"]);
    assert_quiet(&out);

    // `cardhost cards | head -1`, and `cardhost connectors | head -0`. The
    // table is small enough to fit a pipe's buffer, so the reader closes
    // before cardhost has written anything: its very first line fails.
    for args in [&["cards"][..], &["connectors"], &["history"]] {
        let (out, _) = with_stdout_closed_after(cardhost(dir.path(), None).args(args), 0);
        assert_quiet(&out);
    }
}

#[test]
fn stored_values_and_errors_reach_the_terminal_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let connectors = dir.path().join("connectors");
    std::fs::create_dir_all(&connectors).unwrap();
    // `overreach` leaves its `tenant_id` field unconstrained.
    std::fs::copy(
        cardhost_e2e::guests::OVERREACH,
        connectors.join("overreach.wasm"),
    )
    .unwrap();
    let cli = || cardhost(dir.path(), Some(&connectors));

    let tenant = format!("tenant_id={HOSTILE}");
    let out = run(cli()
        .args(["connections", "create", "overreach", "--name", "evil"])
        .args(["--field", "mode=url", "--field", "base_url=https://x.test"])
        .args(["--field", &tenant, "--secret-env", "token=TERMINAL_TOKEN"])
        .env("TERMINAL_TOKEN", "t0ken"));
    assert!(out.status.success());

    // The field value is stored as given (`--json` is JSON, with ESC
    // escaped by serde_json) ...
    let out = run(cli().args(["--json", "connections", "show", "evil"]));
    assert!(out.status.success());
    assert!(!out.stdout.contains(&ESC));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["connection"]["fields"]["tenant_id"], HOSTILE);

    // ... and shown escaped, on its own line.
    let out = run(cli().args(["connections", "show", "evil"]));
    assert!(out.status.success());
    assert!(!out.stdout.contains(&ESC), "raw ESC on stdout");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\u{202e}'), "raw bidi override on stdout");
    assert!(
        text.contains("tenant_id = x\\u{1b}[2J\\u{1b}[31my\\u{202e}z\n"),
        "{text}"
    );

    let out = run(cli().args(["connections", "list"]));
    assert!(out.status.success());
    assert!(!out.stdout.contains(&ESC));
    assert!(String::from_utf8_lossy(&out.stdout).contains("evil"));

    // An error naming what was asked for (here a card that does not exist)
    // is escaped on stderr, and so is its record in the history table.
    let card = format!("card{HOSTILE}");
    let out = run(cli().args(["invoke", "overreach", &card, "--connection", "evil"]));
    assert!(!out.status.success());
    assert!(!out.stderr.contains(&ESC), "raw ESC on stderr");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("cardx\\u{1b}[2J\\u{1b}[31my\\u{202e}z"),
        "{stderr}"
    );

    let out = run(cli().args(["history"]));
    assert!(out.status.success());
    assert!(!out.stdout.contains(&ESC), "raw ESC in the history table");
    let history = String::from_utf8(out.stdout).unwrap();
    assert!(history.contains("\\u{1b}[2J"), "{history}");
    assert_eq!(
        history.lines().count(),
        2,
        "one header and one row: {history}"
    );
}
