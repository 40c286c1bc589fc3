//! Builds the test guests (hostile fixtures and the hello example) for
//! `wasm32-wasip2` from source and writes their paths as constants, so tests
//! never depend on checked-in `.wasm` files. A fixture without a test fails
//! the build (see `FIXTURES` in `src/lib.rs`).

use std::path::PathBuf;
use std::process::Command;

/// (package, wasm file stem, constant name).
const GUESTS: &[(&str, &str, &str)] = &[
    ("hello-connector", "hello_connector", "HELLO"),
    (
        "fixture-loop-forever",
        "fixture_loop_forever",
        "LOOP_FOREVER",
    ),
    ("fixture-alloc-bomb", "fixture_alloc_bomb", "ALLOC_BOMB"),
    ("fixture-panic", "fixture_panic", "PANIC"),
    ("fixture-huge-output", "fixture_huge_output", "HUGE_OUTPUT"),
    (
        "fixture-bad-manifest",
        "fixture_bad_manifest",
        "BAD_MANIFEST",
    ),
    ("fixture-overreach", "fixture_overreach", "OVERREACH"),
    ("fixture-oauth-app", "fixture_oauth_app", "OAUTH_APP"),
    (
        "fixture-oauth-app-upgraded",
        "fixture_oauth_app_upgraded",
        "OAUTH_APP_UPGRADED",
    ),
    ("fixture-transform", "fixture_transform", "TRANSFORM"),
    (
        "fixture-templated-auth",
        "fixture_templated_auth",
        "TEMPLATED_AUTH",
    ),
    ("fixture-flood", "fixture_flood", "FLOOD"),
    ("fixture-legacy-v0-1", "fixture_legacy_v0_1", "LEGACY_V0_1"),
    ("fixture-legacy-v0-2", "fixture_legacy_v0_2", "LEGACY_V0_2"),
    (
        "connector-advanced-hr",
        "connector_advanced_hr",
        "ADVANCED_HR",
    ),
    (
        "connector-fourth-scim",
        "connector_fourth_scim",
        "FOURTH_SCIM",
    ),
    ("connector-paycor", "connector_paycor", "PAYCOR"),
    ("connector-smarthr", "connector_smarthr", "SMARTHR"),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    for dir in [
        "connectors",
        "examples/hello-connector",
        "tests/fixtures",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    // Every fixture directory must be built (and so tested) here.
    let fixtures = std::fs::read_dir(manifest_dir.join("fixtures")).unwrap();
    for entry in fixtures.flatten() {
        let name = format!("fixture-{}", entry.file_name().to_string_lossy());
        assert!(
            GUESTS.iter().any(|(p, _, _)| *p == name),
            "tests/fixtures/{} has no entry in tests/build.rs GUESTS, so no test uses it",
            entry.file_name().to_string_lossy()
        );
    }
    let target_dir = root.join("target").join("guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--target", "wasm32-wasip2", "--profile", "guest"])
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _, _) in GUESTS {
        cmd.args(["-p", package]);
    }
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let output = cmd.output().expect("cannot run cargo to build test guests");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("wasm32-wasip2")
            && (stderr.contains("may not be installed") || stderr.contains("can't find crate for"))
        {
            panic!(
                "the wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`, then build again"
            );
        }
        panic!("building the test guests failed:\n{stderr}");
    }
    let dir = target_dir.join("wasm32-wasip2").join("guest");
    let mut code = String::new();
    for (package, stem, constant) in GUESTS {
        let path = dir.join(format!("{stem}.wasm"));
        assert!(path.exists(), "{package} built no {}", path.display());
        code.push_str(&format!(
            "/// Path of the `{package}` component.\npub const {constant}: &str = {:?};\n",
            path.display().to_string()
        ));
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out.join("guests.rs"), code).unwrap();
}
