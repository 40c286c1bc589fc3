//! The benchmark suite itself works: a quick run measures every case against
//! its baseline, checks every result, and writes the table. Nothing here
//! judges the figures (a timed test would only measure the CI machine).

use std::process::Command;

#[test]
fn a_quick_run_measures_every_case_and_writes_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("BENCHMARKS.md");
    std::fs::write(&out, "# Benchmarks\n\nProse that must survive.\n").unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_cardhost-bench"))
        .args(["--quick", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "the quick run failed:\n{stderr}");
    let doc = std::fs::read_to_string(&out).unwrap();
    assert!(
        doc.starts_with("# Benchmarks\n\nProse that must survive.\n"),
        "{doc}"
    );
    for row in [
        "| I/O-free card, p50 |",
        "| Instantiation alone, p50 (p99) |",
        "| HTTP card, concurrency 1, p50 |",
        "| HTTP card, concurrency 16, throughput |",
        "| Server path, concurrency 4, throughput |",
        "| Server path, concurrency 16, throughput |",
        "| HTTP card, in process | 16 |",
        "| Server path | 16 |",
        "| the host's parser (serde_json, keys checked unique) |",
        "| sonic-rs into its own `sonic_rs::Value` |",
        "| List all, 50 pages, p50 |",
        "| Start-up, 4 built-ins, warm cache, p50 |",
        "| Memory per in-flight invocation, 50 in flight |",
        "| Host peak memory growth under hostile cards, worst of 9, 1 call each (",
        "| flood/refuse-many | `{\"count\": 1000, \"bytes\": 1048576}` | ok, 1000 refused (",
        "| flood/huge-error | `{\"bytes\": 16777216}` | `hostcall_bytes` limit |",
        "| flood test-connection (500 checks) | `{}` | ok, 64 checks kept |",
        "| alloc-bomb/run | `{}` | memory limit |",
        "| huge-output/run | `{}` | output too large |",
        "guests spinning, p99 |",
        "| Honest card over HTTP, ",
        "| the caller's runtime, moved to the guest pool (",
        "| the server's runtime (`guest_threads = 0`), yielding every tick | 0 |",
        "| Scheduler, 50 subscriptions every 2 s, CPU per poll |",
        "| Scheduler, 50 subscriptions every 2 s, lag p50 (p99) |",
        "| Scheduler, 50 subscriptions every 2 s, polls a second (scheduled: 25.0/s) |",
        "| Scheduler | First round | Polls in window |",
    ] {
        assert!(doc.contains(row), "no row {row:?} in:\n{doc}");
    }
    // Run twice: the section is replaced, not appended.
    let again = Command::new(env!("CARGO_BIN_EXE_cardhost-bench"))
        .args(["--quick", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "the second quick run failed:\n{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let doc = std::fs::read_to_string(&out).unwrap();
    assert_eq!(doc.matches("<!-- figures: begin").count(), 1, "{doc}");
}

#[test]
fn unknown_arguments_are_named() {
    let run = Command::new(env!("CARGO_BIN_EXE_cardhost-bench"))
        .arg("--fast")
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("unknown argument `--fast`"), "{stderr}");
}
