//! The `cardhost` command line: browse the catalog, validate and try
//! connectors.

use crate::config::Config;
use crate::{Cardhost, Connection, Source};
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

mod connections;
mod new;
mod term;
mod triggers;

use term::{errln, outln};

/// cardhost: a connector runtime on the WebAssembly component model.
#[derive(Debug, Parser)]
#[command(name = "cardhost", version, about)]
pub struct Cli {
    /// Runtime configuration file (TOML). Defaults are safe for production.
    #[arg(long, global = true, env = "CARDHOST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Extra directory of connector components (`*.wasm`).
    #[arg(long, global = true, env = "CARDHOST_CONNECTORS_DIR")]
    pub connectors_dir: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Where connections, secrets and history are kept (SQLite file and
    /// master key). Defaults to `$XDG_DATA_HOME/cardhost`.
    #[arg(long, global = true, env = "CARDHOST_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Allow plain HTTP and loopback upstreams (local emulators). Never in
    /// production.
    #[arg(long, global = true)]
    pub allow_loopback: bool,
    /// Log lines as `text` or `json` (overrides `server.log_format`).
    #[arg(long, global = true, env = "CARDHOST_LOG_FORMAT", value_enum)]
    pub log_format: Option<crate::telemetry::LogFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List loaded connectors (and any that failed to load).
    Connectors,
    /// Show the card catalog: titles, schemas and permissions.
    Cards {
        /// Only this connector.
        connector: Option<String>,
    },
    /// Run a card.
    Invoke {
        /// Connector id.
        connector: String,
        /// Card id.
        card: String,
        /// Input JSON, or `@file` to read it from a file.
        #[arg(long, default_value = "{}")]
        input: String,
        /// A stored connection (name or id) to run the card on.
        #[arg(long, conflicts_with_all = ["fields", "secret_env", "grant"])]
        connection: Option<String>,
        /// Connection fields as JSON (or `@file`), for a one-off connection.
        #[arg(long)]
        fields: Option<String>,
        /// A secret as `name=ENV_VAR`: the value is read from that environment
        /// variable so it never appears in shell history. Repeatable.
        #[arg(long = "secret-env", value_name = "NAME=ENV_VAR")]
        secret_env: Vec<String>,
        /// Grant only these permissions (comma-separated); defaults to the
        /// connector's default grant.
        #[arg(long, value_delimiter = ',')]
        grant: Option<Vec<String>>,
    },
    /// Create, inspect, test, authorize and delete stored connections.
    #[command(subcommand)]
    Connections(connections::ConnectionsCommand),
    /// Show recorded invocations, newest first.
    History(connections::HistoryArgs),
    /// List the triggers (event cards) of the loaded connectors.
    Triggers {
        /// Only this connector.
        connector: Option<String>,
    },
    /// Subscribe to triggers and manage subscriptions.
    #[command(subcommand)]
    Subscriptions(triggers::SubscriptionsCommand),
    /// Print a subscription's events, oldest first, one JSON object a line.
    Events(triggers::EventsArgs),
    /// Run the HTTP API (see `/openapi.json`) until SIGTERM or Ctrl-C;
    /// SIGHUP reloads the connectors.
    Serve {
        /// Address to listen on (overrides the config file).
        #[arg(long, env = "CARDHOST_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// URL the server is reached at, for OAuth2 callbacks.
        #[arg(long, env = "CARDHOST_PUBLIC_URL")]
        public_url: Option<String>,
        /// Export traces over OTLP/HTTP to this base URL (overrides
        /// `server.otlp_endpoint`); `/v1/traces` is added.
        #[arg(long, env = "CARDHOST_OTLP_ENDPOINT")]
        otlp_endpoint: Option<String>,
    },
    /// Create, list and revoke the server's API keys.
    #[command(subcommand)]
    Keys(connections::KeysCommand),
    /// Start a connector: write a crate that builds, tests and validates as
    /// it is.
    #[command(subcommand)]
    New(new::NewCommand),
    /// Check a connector component: load it and validate its manifest.
    Validate {
        /// The `.wasm` file.
        file: PathBuf,
    },
}

/// Runs the command line and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        // `cardhost cards | head -1`: the reader has what it wanted.
        Err(e) if term::is_stdout_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the runtime configuration: the file if given, then the flags.
pub fn load_config(
    path: Option<&PathBuf>,
    connectors_dir: Option<PathBuf>,
) -> anyhow::Result<Config> {
    let mut config = match path {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?
        }
        None => Config::default(),
    };
    if connectors_dir.is_some() {
        config.connectors_dir = connectors_dir;
    }
    if let Some(url) = std::env::var("CARDHOST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        config.database_url = Some(url);
    }
    if let Some(url) = &config.database_url
        && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        anyhow::bail!(
            "database_url must be a PostgreSQL URL (postgres://user:password@host:port/database); \
             leave it unset to keep the embedded SQLite store"
        );
    }
    if config.cache_dir.is_none() {
        config.cache_dir = default_cache_dir();
    }
    Ok(config)
}

fn default_data_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("cardhost"))
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("cardhost").join("components"))
}

pub(crate) fn read_json_arg(arg: &str, what: &str) -> anyhow::Result<Value> {
    let text = match arg.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {what} from {path}"))?
        }
        None => arg.to_string(),
    };
    serde_json::from_str(&text).with_context(|| format!("{what} is not valid JSON"))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // `new` writes files only: it reads no configuration or data directory.
    let cli = match cli.command {
        Command::New(command) => return new::run(command, cli.json),
        command => Cli { command, ..cli },
    };
    let mut config = load_config(cli.config.as_ref(), cli.connectors_dir.clone())?;
    if cli.allow_loopback {
        let routes = std::mem::take(&mut config.network.routes);
        config.network = crate::NetworkPolicy {
            routes,
            ..crate::NetworkPolicy::loopback()
        };
    }
    if let Some(format) = cli.log_format {
        config.server.log_format = Some(format);
    }
    let serving = match &cli.command {
        Command::Serve { otlp_endpoint, .. } => {
            if otlp_endpoint.is_some() {
                config.server.otlp_endpoint = otlp_endpoint.clone();
            }
            true
        }
        _ => false,
    };
    // Traces are the server's: other commands only log.
    let telemetry = crate::telemetry::init(
        if serving { "info" } else { "warn" },
        config.server.log_format(),
        config.server.otlp_endpoint.as_deref().filter(|_| serving),
    )?;
    let result = run_command(cli, config).await;
    telemetry.shutdown();
    result
}

async fn run_command(cli: Cli, mut config: Config) -> anyhow::Result<ExitCode> {
    let data_dir = cli
        .data_dir
        .clone()
        .or_else(|| config.data_dir.clone())
        .or_else(default_data_dir)
        .context("no data directory: set --data-dir or CARDHOST_DATA_DIR")?;
    match cli.command {
        Command::New(_) => unreachable!("`new` returned before the configuration was read"),
        Command::Serve {
            listen, public_url, ..
        } => {
            if let Some(l) = listen {
                config.server.listen = l;
            }
            if public_url.is_some() {
                config.server.public_url = public_url;
            }
            connections::serve(config, &data_dir).await
        }
        Command::Keys(command) => {
            connections::keys(command, config.database_url.as_deref(), &data_dir, cli.json).await
        }
        Command::Connections(command) => {
            connections::run(command, config, &data_dir, cli.json).await
        }
        Command::History(args) => {
            connections::history(args, config.database_url.as_deref(), &data_dir, cli.json).await
        }
        Command::Triggers { connector } => {
            triggers::list_triggers(connector, config, cli.json).await
        }
        Command::Subscriptions(command) => {
            triggers::run(command, config, &data_dir, cli.json).await
        }
        Command::Events(args) => triggers::events(args, config, &data_dir).await,
        Command::Validate { file } => {
            config.builtin_connectors = false;
            config.connectors_dir = None;
            let host = Cardhost::empty(config.runtime())?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let registry = host
                .load_sources(vec![(Source::File(file.clone()), bytes)])
                .await;
            if let Some(err) = registry.errors().first() {
                if cli.json {
                    term::out_json(
                        &json!({"ok": false, "file": file, "error": err.reason}).to_string(),
                    )?;
                } else {
                    errln!("{} is not a valid connector:", file.display());
                    for problem in err
                        .reason
                        .trim_start_matches("invalid manifest: ")
                        .split("; ")
                    {
                        errln!("  - {problem}");
                    }
                }
                return Ok(ExitCode::FAILURE);
            }
            let loaded = registry
                .connectors()
                .next()
                .context("no connector loaded")?;
            let m = &loaded.manifest.raw;
            if cli.json {
                term::out_json(
                    &json!({"ok": true, "id": m.id, "version": m.version, "wit": format!("{}@{}", crate::WIT_PACKAGE, loaded.wit_version().as_str()), "cards": m.cards.len(), "sha256": loaded.sha256, "credentials": credential_destinations(loaded), "warnings": loaded.warnings})
                        .to_string(),
                )?;
            } else {
                outln!(
                    "ok: {} {} ({}), {} cards, {} permissions, built for {}@{}",
                    m.id,
                    m.version,
                    m.name,
                    m.cards.len(),
                    m.permissions.len(),
                    crate::WIT_PACKAGE,
                    loaded.wit_version().as_str()
                )?;
                for warning in &loaded.warnings {
                    errln!("warning: {warning}");
                }
                print_destinations(loaded)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Connectors => {
            let host = crate::start_runtime(config.runtime()).await?;
            let registry = host.registry();
            if cli.json {
                let list: Vec<Value> = registry
                    .connectors()
                    .map(|c| json!({"id": c.manifest.id(), "name": c.manifest.raw.name, "version": c.manifest.raw.version, "cards": c.catalog.len(), "source": c.source.to_string()}))
                    .collect();
                term::out_json(
                    &json!({"connectors": list, "errors": registry.errors()}).to_string(),
                )?;
            } else {
                let rows: Vec<Vec<String>> = registry
                    .connectors()
                    .map(|c| {
                        vec![
                            c.manifest.id().to_string(),
                            c.manifest.raw.name.clone(),
                            c.manifest.raw.version.clone(),
                            (c.catalog.len()).to_string(),
                            c.source.to_string(),
                        ]
                    })
                    .collect();
                print_table(&["ID", "NAME", "VERSION", "CARDS", "SOURCE"], &rows)?;
                for e in registry.errors() {
                    errln!("skipped {e}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Cards { connector } => {
            let host = crate::start_runtime(config.runtime()).await?;
            let registry = host.registry();
            let mut cards = Vec::new();
            for c in registry.connectors() {
                if connector.as_deref().is_some_and(|id| id != c.manifest.id()) {
                    continue;
                }
                cards.extend(c.catalog.entries(c.manifest.id()));
            }
            if connector.is_some() && cards.is_empty() {
                bail!("no connector `{}` is loaded", connector.unwrap_or_default());
            }
            if cli.json {
                let credentials: serde_json::Map<String, Value> = registry
                    .connectors()
                    .filter(|c| connector.as_deref().is_none_or(|id| id == c.manifest.id()))
                    .map(|c| {
                        (
                            c.manifest.id().to_string(),
                            json!(credential_destinations(c)),
                        )
                    })
                    .collect();
                term::out_json(&serde_json::to_string_pretty(
                    &json!({"cards": cards, "credentials": credentials}),
                )?)?;
            } else {
                let rows: Vec<Vec<String>> = cards
                    .iter()
                    .map(|c| {
                        vec![
                            c["connector"].as_str().unwrap_or_default().to_string(),
                            c["id"].as_str().unwrap_or_default().to_string(),
                            c["title"].as_str().unwrap_or_default().to_string(),
                            c["permissions"]
                                .as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(Value::as_str)
                                        .collect::<Vec<_>>()
                                        .join(",")
                                })
                                .unwrap_or_default(),
                        ]
                    })
                    .collect();
                print_table(&["CONNECTOR", "CARD", "TITLE", "PERMISSIONS"], &rows)?;
                if let Some(id) = &connector
                    && let Some(c) = registry.get(id)
                {
                    outln!()?;
                    print_destinations(c)?;
                }
                outln!()?;
                outln!("Schemas and where each secret goes: cardhost cards --json")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Invoke {
            connector,
            card,
            input,
            connection: Some(connection),
            ..
        } => {
            let input = read_json_arg(&input, "--input")?;
            connections::invoke(
                config,
                &data_dir,
                &connector,
                &card,
                &input,
                &connection,
                cli.json,
            )
            .await
        }
        Command::Invoke {
            connector,
            card,
            input,
            connection: None,
            fields,
            secret_env,
            grant,
        } => {
            let host = crate::start_runtime(config.runtime()).await?;
            let input = read_json_arg(&input, "--input")?;
            let registry = host.registry();
            let loaded = registry
                .get(&connector)
                .with_context(|| {
                    format!("no connector `{connector}` is loaded (see `cardhost connectors`)")
                })?
                .clone();
            let connection = match fields {
                Some(f) => {
                    let fields = read_json_arg(&f, "--fields")?;
                    if let Err(violations) = loaded.manifest.check_connection_fields(&fields) {
                        errln!("error: invalid connection fields:");
                        for v in &violations {
                            errln!("  - {v}");
                        }
                        return Ok(ExitCode::FAILURE);
                    }
                    let mut secrets = BTreeMap::new();
                    for pair in &secret_env {
                        let (name, value) = connections::env_secret(pair)?;
                        secrets.insert(name, value);
                    }
                    let credentials = if loaded.manifest.raw.auth_methods.is_empty() {
                        None
                    } else {
                        Some(Arc::new(
                            host.credentials(
                                &loaded,
                                None,
                                &fields,
                                secrets,
                                Default::default(),
                                None,
                            )
                            .map_err(|e| anyhow::anyhow!(e))?,
                        ))
                    };
                    Some(Connection {
                        id: None,
                        connector: connector.clone(),
                        fields,
                        granted: grant.unwrap_or_else(|| Cardhost::default_grant(&loaded)),
                        credentials,
                        resolved: Default::default(),
                    })
                }
                None => None,
            };
            let result = host
                .invoke(&connector, &card, &input, connection.as_ref())
                .await;
            print_invocation(&result, cli.json)
        }
    }
}

/// Prints an invocation's output (stdout) or error (stderr) and returns the
/// exit code.
pub(crate) fn print_invocation(
    result: &Result<crate::Invocation, Box<crate::InvokeError>>,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    match result {
        Ok(inv) => {
            if json_output {
                term::out_json(&serde_json::to_string_pretty(inv)?)?;
            } else {
                // Pretty JSON: serde_json escapes C0 in strings, `out_lines`
                // the rest (DEL, C1, bidi controls) but for the JSON's own
                // newlines.
                term::out_lines(&serde_json::to_string_pretty(&inv.output)?)?;
                for line in &inv.logs.logs {
                    errln!("[{}] {}", line.level, line.message);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(failed) => {
            if json_output {
                term::out_json(
                    &json!({"error": failed.to_string(), "class": failed.class(), "invocation": failed.id, "logs": failed.logs, "journal": failed.journal})
                        .to_string(),
                )?;
            } else {
                errln!("error: {failed}");
                for line in &failed.logs.logs {
                    errln!("[{}] {}", line.level, line.message);
                }
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Where each auth method of a connector sends each secret.
pub fn credential_destinations(c: &crate::LoadedConnector) -> Vec<Value> {
    c.manifest
        .raw
        .auth_methods
        .iter()
        .map(|m| {
            let mut d = cardhost_runtime::credentials::destinations::describe(&c.manifest, m);
            d["auth_method"] = json!(m.id);
            d
        })
        .collect()
}

fn print_destinations(c: &crate::LoadedConnector) -> anyhow::Result<()> {
    for method in credential_destinations(c) {
        outln!(
            "auth method `{}`: secrets go",
            method["auth_method"].as_str().unwrap_or_default()
        )?;
        for secret in method["secrets"].as_array().into_iter().flatten() {
            let to: Vec<&str> = secret["goes_to"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            outln!(
                "  {}: {}",
                secret["name"].as_str().unwrap_or_default(),
                if to.is_empty() {
                    "nowhere".to_string()
                } else {
                    to.join("; ")
                }
            )?;
        }
        if let Some(tokens) = method["tokens"].as_str() {
            outln!("  tokens: {tokens}")?;
            let hosts: Vec<&str> = method["auth_hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            outln!("  OAuth2 endpoints only on: {}", hosts.join(", "))?;
        }
    }
    Ok(())
}

/// Prints a table for a person. Every cell is [`term::escape`]d before the
/// columns are measured, so a cell is one line and its width is what shows.
pub(crate) fn print_table(headers: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let rows: Vec<Vec<std::borrow::Cow<'_, str>>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| term::escape(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect();
        outln!("{}", parts.join("  ").trim_end())
    };
    line(headers.to_vec())?;
    for row in &rows {
        line(row.iter().map(|c| c.as_ref()).collect())?;
    }
    Ok(())
}
