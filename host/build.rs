//! Builds the first-party connectors for `wasm32-wasip2` and embeds them, so
//! the `cardhost` binary ships with them. Guests are always built from
//! source, never checked in.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (package, crate name of the .wasm) of each built-in connector.
const BUILTINS: &[(&str, &str)] = &[
    ("connector-smarthr", "connector_smarthr"),
    ("connector-paycor", "connector_paycor"),
    ("connector-advanced-hr", "connector_advanced_hr"),
    ("connector-fourth-scim", "connector_fourth_scim"),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    println!(
        "cargo:rerun-if-changed={}",
        root.join("connectors").join("sdk").join("wit").display()
    );
    // Guest linker flags (initial memory) live there.
    println!(
        "cargo:rerun-if-changed={}",
        root.join(".cargo").join("config.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("connectors").display()
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut code = String::from(
        "/// (name, component bytes) of each built-in connector.\npub const ALL: &[(&str, &[u8])] = &[\n",
    );
    if !BUILTINS.is_empty() {
        let packages: Vec<&str> = BUILTINS.iter().map(|(p, _)| *p).collect();
        let dir = build_guests(&root, &packages);
        for (package, krate) in BUILTINS {
            let wasm = dir.join(format!("{krate}.wasm"));
            code.push_str(&format!(
                "    ({package:?}, include_bytes!({:?})),\n",
                wasm.display().to_string()
            ));
        }
    }
    code.push_str("];\n");
    std::fs::write(out.join("builtins.rs"), code).unwrap();
}

/// Builds `packages` for wasm32-wasip2 with the `guest` profile in a target
/// directory of their own, and returns the directory holding the `.wasm`s.
fn build_guests(root: &Path, packages: &[&str]) -> PathBuf {
    let target_dir = root.join("target").join("guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--target", "wasm32-wasip2", "--profile", "guest"])
        .arg("--target-dir")
        .arg(&target_dir);
    for p in packages {
        cmd.args(["-p", p]);
    }
    // Settings meant for the host build must not leak into the guest build.
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
    let output = cmd
        .output()
        .expect("cannot run cargo to build the connectors");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("wasm32-wasip2")
            && (stderr.contains("target may not be installed")
                || stderr.contains("can't find crate for `core`")
                || stderr.contains("can't find crate for `std`"))
        {
            panic!(
                "the wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`, then build again"
            );
        }
        panic!("building the connectors failed:\n{stderr}");
    }
    target_dir.join("wasm32-wasip2").join("guest")
}
