//! `cardhost new connector NAME`: writes a standalone connector crate that
//! builds, tests and validates as it is.
//!
//! The crate's package name and connector id are both NAME; its component is
//! `target/wasm32-wasip2/release/NAME_WITH_UNDERSCORES.wasm`. It inherits
//! nothing from a workspace (it declares an empty `[workspace]` of its own),
//! so it can be written anywhere.

use super::term::outln;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `cardhost new` makes.
#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// Write a new connector crate: one typed card, its manifest (connection
    /// field, bearer auth, a permission), native tests and a README with the
    /// commands to build, validate and run it.
    Connector(NewConnector),
}

/// `cardhost new connector`.
#[derive(Debug, Args)]
pub struct NewConnector {
    /// Connector id and crate name, lowercase kebab-case (`acme-tickets`).
    pub name: String,
    /// Where to write the crate (default `./NAME`): a directory that is
    /// missing or empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Depend on the SDK in this directory (`connectors/sdk` of a cardhost
    /// checkout) instead of crates.io; written as an absolute path.
    #[arg(long, value_name = "PATH", conflicts_with = "sdk_version")]
    pub sdk_path: Option<PathBuf>,
    /// The `cardhost-sdk` version requirement to depend on, from crates.io
    /// (default: this cardhost's, major.minor).
    #[arg(long, value_name = "VER")]
    pub sdk_version: Option<String>,
}

const CARGO_TOML: &str = include_str!("new/Cargo.toml.tmpl");
const CARGO_CONFIG: &str = include_str!("new/config.toml.tmpl");
const LIB_RS: &str = include_str!("new/lib.rs.tmpl");
const README: &str = include_str!("new/README.md.tmpl");
const GITIGNORE: &str = include_str!("new/gitignore.tmpl");

/// Runs `cardhost new`.
pub fn run(command: NewCommand, json_output: bool) -> anyhow::Result<ExitCode> {
    match command {
        NewCommand::Connector(args) => new_connector(args, json_output),
    }
}

fn new_connector(args: NewConnector, json_output: bool) -> anyhow::Result<ExitCode> {
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    let sdk = match (&args.sdk_path, &args.sdk_version) {
        (Some(path), _) => Sdk::Path(sdk_dir(path)?),
        (None, Some(version)) if version.trim().is_empty() => {
            bail!("--sdk-version is empty; give a requirement such as `0.1`")
        }
        (None, Some(version)) => Sdk::Version(version.trim().to_string()),
        (None, None) => Sdk::Version(default_sdk_version()),
    };
    let files = render(&args.name, &sdk);
    ensure_writable(&dir)?;
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }

    let wasm = format!(
        "target/wasm32-wasip2/release/{}.wasm",
        crate_name(&args.name)
    );
    let next = [
        format!("cd {}", dir.display()),
        "cargo test".to_string(),
        "rustup target add wasm32-wasip2".to_string(),
        "cargo build --target wasm32-wasip2 --release".to_string(),
        format!("cardhost validate {wasm}"),
    ];
    if json_output {
        let written: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
        super::term::out_json(
            &json!({"ok": true, "connector": args.name, "dir": dir, "files": written, "wasm": wasm, "sdk": sdk.describe(), "next": next})
                .to_string(),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "Created connector `{}` in {}, depending on {}:",
        args.name,
        dir.display(),
        sdk.describe()
    )?;
    for (path, _) in &files {
        outln!("  {:<20} {}", path, what(path))?;
    }
    outln!()?;
    outln!("Next:")?;
    for command in &next {
        outln!("  {command}")?;
    }
    outln!()?;
    outln!(
        "Then run a card as its README shows (`cardhost invoke {} read-item ...`).",
        args.name
    )?;
    if matches!(sdk, Sdk::Version(_)) {
        outln!("To build against a local cardhost checkout instead of crates.io: --sdk-path DIR.")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the crate gets `cardhost-sdk`.
enum Sdk {
    /// A version requirement on crates.io.
    Version(String),
    /// A local directory (absolute).
    Path(PathBuf),
}

impl Sdk {
    fn dependency(&self) -> String {
        match self {
            Sdk::Version(v) => format!("{{ version = {} }}", toml_string(v)),
            Sdk::Path(p) => format!("{{ path = {} }}", toml_string(&p.to_string_lossy())),
        }
    }

    fn describe(&self) -> String {
        match self {
            Sdk::Version(v) => format!("cardhost-sdk {v} from crates.io"),
            Sdk::Path(p) => format!("cardhost-sdk in {}", p.display()),
        }
    }
}

fn what(path: &str) -> &'static str {
    match path {
        "Cargo.toml" => "the crate: cardhost-sdk, serde, schemars; cdylib + rlib",
        ".cargo/config.toml" => "4 MiB of initial memory for the wasm32-wasip2 build",
        "src/lib.rs" => "the connector: card `read-item` (GET /items/{id}), manifest, tests",
        "README.md" => "how to test, build, validate and run it",
        ".gitignore" => "keeps target/ out of git",
        _ => "",
    }
}

/// The crate's files, relative to its directory.
fn render(name: &str, sdk: &Sdk) -> Vec<(&'static str, String)> {
    let vars = [
        ("{{name}}", name.to_string()),
        ("{{crate}}", crate_name(name)),
        ("{{Type}}", type_name(name)),
        ("{{Title}}", title(name)),
        (
            "{{TOKEN_ENV}}",
            format!("{}_TOKEN", name.replace('-', "_").to_uppercase()),
        ),
        ("{{sdk}}", sdk.dependency()),
        (
            "{{rust_version}}",
            env!("CARGO_PKG_RUST_VERSION").to_string(),
        ),
    ];
    let fill = |template: &str| {
        vars.iter()
            .fold(template.to_string(), |text, (key, value)| {
                text.replace(key, value)
            })
    };
    vec![
        ("Cargo.toml", fill(CARGO_TOML)),
        (".cargo/config.toml", CARGO_CONFIG.to_string()),
        ("src/lib.rs", fill(LIB_RS)),
        ("README.md", fill(README)),
        (".gitignore", GITIGNORE.to_string()),
    ]
}

/// Names that are valid kebab-case but cannot be the crate's: the crates it
/// depends on and those of the standard library.
const RESERVED: &[&str] = &[
    "cardhost-sdk",
    "serde",
    "schemars",
    "std",
    "core",
    "alloc",
    "proc-macro",
    "test",
];

/// Rust keywords, which cannot be a crate's name once `-` becomes `_`.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "try", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield",
];

/// Refuses a name that is not a valid connector id and crate name.
fn check_name(name: &str) -> anyhow::Result<()> {
    if !cardhost_runtime::manifest::is_kebab_id(name) {
        let suggestion = name
            .trim()
            .to_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let hint = if suggestion != name && cardhost_runtime::manifest::is_kebab_id(&suggestion) {
            format!(" (did you mean `{suggestion}`?)")
        } else {
            String::new()
        };
        bail!(
            "connector name `{name}` is not lowercase kebab-case{hint}: use lowercase letters, \
             digits and single hyphens, starting with a letter, at most 64 characters, \
             e.g. `acme-tickets`"
        );
    }
    if RESERVED.contains(&name) || KEYWORDS.contains(&crate_name(name).as_str()) {
        bail!(
            "connector name `{name}` cannot be a crate's name (it is taken by Rust or a \
             dependency); pick another, e.g. `{name}-connector`"
        );
    }
    Ok(())
}

/// Refuses to write into anything but a missing or empty directory.
fn ensure_writable(dir: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
        Ok(meta) if !meta.is_dir() => {
            bail!(
                "{} exists and is not a directory; choose another --dir",
                dir.display()
            )
        }
        Ok(_) => {
            let mut entries =
                std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
            if entries.next().is_some() {
                bail!(
                    "{} exists and is not empty; nothing was written (choose another --dir, or \
                     empty it)",
                    dir.display()
                );
            }
            Ok(())
        }
    }
}

/// Checks that `path` is the `cardhost-sdk` crate and returns it absolute.
fn sdk_dir(path: &Path) -> anyhow::Result<PathBuf> {
    let abs = std::fs::canonicalize(path)
        .with_context(|| format!("--sdk-path {}: no such directory", path.display()))?;
    let manifest = abs.join("Cargo.toml");
    let name = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|table| {
            table
                .get("package")?
                .get("name")?
                .as_str()
                .map(str::to_string)
        });
    if name.as_deref() != Some("cardhost-sdk") {
        bail!(
            "--sdk-path {}: not the cardhost-sdk crate (no Cargo.toml with package name \
             `cardhost-sdk`); give the `connectors/sdk` directory of a cardhost checkout",
            path.display()
        );
    }
    Ok(abs)
}

/// This cardhost's version as a requirement: `0.1.0` → `0.1`. The SDK and
/// the host are released together.
fn default_sdk_version() -> String {
    env!("CARGO_PKG_VERSION")
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".")
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `acme-tickets` → `acme_tickets` (the lib and `.wasm` name).
fn crate_name(name: &str) -> String {
    name.replace('-', "_")
}

/// `acme-tickets` → `AcmeTickets`.
fn type_name(name: &str) -> String {
    name.split('-').map(capitalize).collect()
}

/// `acme-tickets` → `Acme Tickets`.
fn title(name: &str) -> String {
    name.split('-')
        .map(capitalize)
        .collect::<Vec<_>>()
        .join(" ")
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_crate_type_and_title() {
        assert_eq!(crate_name("acme-tickets"), "acme_tickets");
        assert_eq!(type_name("acme-tickets"), "AcmeTickets");
        assert_eq!(type_name("x2-api"), "X2Api");
        assert_eq!(title("acme-tickets"), "Acme Tickets");
        assert_eq!(default_sdk_version(), "0.1");
    }

    #[test]
    fn only_kebab_case_names_that_can_be_crates_pass() {
        for good in ["acme", "acme-tickets", "x2-api", "a1"] {
            check_name(good).unwrap();
        }
        for bad in [
            "",
            "Acme",
            "acme_tickets",
            "-acme",
            "acme-",
            "a--b",
            "1acme",
            "acme tickets",
        ] {
            let err = check_name(bad).unwrap_err().to_string();
            assert!(err.contains("kebab-case"), "{bad}: {err}");
        }
        let err = check_name("Acme_Tickets").unwrap_err().to_string();
        assert!(err.contains("did you mean `acme-tickets`?"), "{err}");
        for taken in ["serde", "cardhost-sdk", "test", "type", "self"] {
            let err = check_name(taken).unwrap_err().to_string();
            assert!(err.contains("cannot be a crate's name"), "{taken}: {err}");
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        for sdk in [
            Sdk::Version("0.1".into()),
            Sdk::Path(PathBuf::from("/src/cardhost/connectors/sdk")),
        ] {
            for (path, text) in render("acme-tickets", &sdk) {
                assert!(!text.contains("{{"), "{path} keeps a placeholder");
            }
        }
        let files = render("acme-tickets", &Sdk::Version("0.1".into()));
        let cargo = &files[0].1;
        let table: toml::Table = cargo.parse().unwrap();
        assert_eq!(table["package"]["name"].as_str(), Some("acme-tickets"));
        assert_eq!(
            table["dependencies"]["cardhost-sdk"]["version"].as_str(),
            Some("0.1")
        );
        assert!(table["workspace"].as_table().unwrap().is_empty());
        let files = render("acme-tickets", &Sdk::Path(PathBuf::from("/a \"b\"/sdk")));
        let table: toml::Table = files[0].1.parse().unwrap();
        assert_eq!(
            table["dependencies"]["cardhost-sdk"]["path"].as_str(),
            Some("/a \"b\"/sdk")
        );
    }

    /// The generated crate links guests as this repository does.
    #[test]
    fn the_initial_memory_is_the_repositorys() {
        const INITIAL_MEMORY_FLAG: &str = "link-arg=--initial-memory=4194304";
        let ours = include_str!("../../../.cargo/config.toml");
        assert!(ours.contains(INITIAL_MEMORY_FLAG));
        assert!(CARGO_CONFIG.contains(INITIAL_MEMORY_FLAG));
    }

    #[test]
    fn refuses_a_directory_that_is_not_empty() {
        let tmp = tempfile::tempdir().unwrap();
        ensure_writable(&tmp.path().join("missing")).unwrap();
        ensure_writable(tmp.path()).unwrap();
        std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
        let err = ensure_writable(tmp.path()).unwrap_err().to_string();
        assert!(err.contains(&tmp.path().display().to_string()), "{err}");
        assert!(err.contains("not empty"), "{err}");
        let err = ensure_writable(&tmp.path().join("notes.txt"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a directory"), "{err}");
    }
}
