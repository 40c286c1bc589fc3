//! `cardhost connections …`, `cardhost history` and `cardhost invoke
//! --connection`: the Connections page of cardhost on the command line.

use super::term::{self, errln, outln};
use super::{print_invocation, print_table, read_json_arg};
use crate::config::Config;
use crate::connections::{ConnectionError, Connections, CreateConnection};
use crate::store::{self, HistoryFilter, KeySource, SqliteStore, Store, rfc3339};
use crate::{LoadedConnector, Secret};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connection commands.
#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Create a connection. Fields are validated against the connector's
    /// connection schema; secrets are prompted for (or read from stdin, one
    /// line each, or from environment variables) and stored encrypted.
    Create {
        /// Connector id.
        connector: String,
        /// Unique name of the connection.
        #[arg(long)]
        name: String,
        /// A connection field as `key=value` (typed by the schema). Repeatable.
        #[arg(long = "field", value_name = "KEY=VALUE")]
        field: Vec<String>,
        /// All fields as JSON (or `@file`); `--field` values are added.
        #[arg(long)]
        fields: Option<String>,
        /// A secret to prompt for (or read from stdin). Repeatable.
        #[arg(long = "secret", value_name = "NAME")]
        secret: Vec<String>,
        /// A secret as `name=ENV_VAR`, read from that variable. Repeatable.
        #[arg(long = "secret-env", value_name = "NAME=ENV_VAR")]
        secret_env: Vec<String>,
        /// Permissions to grant (comma-separated); defaults to the
        /// connector's default grant.
        #[arg(long, value_delimiter = ',')]
        grant: Option<Vec<String>>,
        /// Auth method id, when the connector has several.
        #[arg(long)]
        auth_method: Option<String>,
    },
    /// List connections.
    List,
    /// Show one connection (secrets show only when they were set).
    Show {
        /// Name or id.
        connection: String,
    },
    /// Test a connection (`_authping`): which credential or permission fails.
    Test {
        /// Name or id.
        connection: String,
    },
    /// Run the OAuth2 authorization-code flow: prints the authorize URL and
    /// waits for the provider to redirect to a loopback callback.
    Authorize {
        /// Name or id.
        connection: String,
        /// Callback port on 127.0.0.1 (0 picks a free one; use the port
        /// registered with the provider).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Do not try to open a browser.
        #[arg(long)]
        no_browser: bool,
        /// How long to wait for the callback, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Replace what a connection is granted.
    Grant {
        /// Name or id.
        connection: String,
        /// Permission ids (comma-separated).
        #[arg(value_delimiter = ',', required = true)]
        permissions: Vec<String>,
    },
    /// Replace a connection's fields.
    SetFields {
        /// Name or id.
        connection: String,
        /// A field as `key=value`. Repeatable; unnamed fields keep their value.
        #[arg(long = "field", value_name = "KEY=VALUE")]
        field: Vec<String>,
        /// All fields as JSON (or `@file`), replacing the current ones.
        #[arg(long)]
        fields: Option<String>,
        /// A secret to give again (prompted, or read from stdin): needed
        /// when the change moves where that secret goes. Repeatable.
        #[arg(long = "secret", value_name = "NAME")]
        secret: Vec<String>,
        /// A secret to give again as `name=ENV_VAR`. Repeatable.
        #[arg(long = "secret-env", value_name = "NAME=ENV_VAR")]
        secret_env: Vec<String>,
    },
    /// Replace one secret (prompted, from stdin, or `--env VAR`). A leaked
    /// credential should be revoked at the provider and replaced here.
    SetSecret {
        /// Name or id.
        connection: String,
        /// Secret name.
        secret: String,
        /// Read the value from this environment variable.
        #[arg(long)]
        env: Option<String>,
    },
    /// Approve a reloaded or upgraded connector that changed where this
    /// connection's credentials go (the connection is `needs-approval`
    /// until then). Shows what changed; secrets whose destination moved
    /// must be given again.
    Approve {
        /// Name or id.
        connection: String,
        /// A secret to give again (prompted, or read from stdin). Repeatable.
        #[arg(long = "secret", value_name = "NAME")]
        secret: Vec<String>,
        /// A secret to give again as `name=ENV_VAR`. Repeatable.
        #[arg(long = "secret-env", value_name = "NAME=ENV_VAR")]
        secret_env: Vec<String>,
    },
    /// Delete a connection, revoking its OAuth token at the provider when
    /// the provider supports revocation.
    Delete {
        /// Name or id.
        connection: String,
    },
    /// Re-encrypt every stored secret under a new master key.
    RotateKey,
}

/// API key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; it is printed once and only its hash is stored.
    Create {
        /// Who or what the key is for.
        #[arg(long)]
        name: String,
        /// `admin` (connections and keys), `invoker` (invoke cards) or
        /// `reader` (catalog and history).
        #[arg(long, value_parser = ["admin", "invoker", "reader"])]
        role: String,
    },
    /// List keys (never their values).
    List,
    /// Revoke a key by id.
    Revoke {
        /// Key id (the part after `chk_`, before the next `_`).
        id: String,
    },
}

/// `cardhost keys …`.
pub async fn keys(
    command: KeysCommand,
    database_url: Option<&str>,
    data_dir: &Path,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let store = open_store(database_url, data_dir).await?;
    match command {
        KeysCommand::Create { name, role } => {
            let role = store::Role::parse(&role).context("unknown role")?;
            let new = crate::server::keys::create(store.as_ref(), &name, role).await?;
            if json_output {
                show_json(&new)?;
            } else {
                outln!("{}", new.key)?;
                errln!(
                    "created {role} key {} for {name}: store it now, it is not shown again",
                    new.record.id
                );
            }
        }
        KeysCommand::List => {
            let keys = store.api_keys().await?;
            if json_output {
                show_json(&json!({"keys": keys}))?;
            } else {
                let rows: Vec<Vec<String>> = keys
                    .iter()
                    .map(|k| {
                        vec![
                            k.id.clone(),
                            k.name.clone(),
                            k.role.to_string(),
                            rfc3339(k.created_at),
                            k.revoked_at.map(rfc3339).unwrap_or_else(|| "-".into()),
                        ]
                    })
                    .collect();
                print_table(&["ID", "NAME", "ROLE", "CREATED", "REVOKED"], &rows)?;
            }
        }
        KeysCommand::Revoke { id } => {
            if !store.revoke_api_key(&id).await? {
                bail!("no active key `{id}`");
            }
            if !json_output {
                outln!("revoked key {id}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cardhost serve`.
pub async fn serve(config: Config, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let store = open_store(config.database_url.as_deref(), data_dir).await?;
    let server_config = config.server.clone();
    let host = Arc::new(crate::start_runtime(config.runtime()).await?);
    if server_config.otlp_endpoint.is_some() {
        // Upstreams may continue the trace of the invocation that called them.
        host.broker()
            .set_traceparent(Box::new(crate::telemetry::traceparent));
    }
    for e in host.registry().errors() {
        tracing::warn!("skipped {e}");
    }
    if store
        .api_keys()
        .await?
        .iter()
        .all(|k| k.revoked_at.is_some())
    {
        tracing::warn!(
            "no API key exists yet: create one with `cardhost keys create --name me --role admin`"
        );
    }
    let conns = Arc::new(Connections::new(host, store.clone()));
    // Held until the server stops: this node's name in work leases.
    let (node, _node_lock) = crate::subscriptions::claim_node_name(data_dir)
        .map_err(|e| anyhow::anyhow!("cannot keep the node name in {}: {e}", data_dir.display()))?;
    let mut server_config = server_config;
    server_config.node_name = Some(node);
    let server = crate::server::start(conns, store, server_config).await?;
    outln!("cardhost listening on {}", server.url())?;
    crate::server::run_until_signalled(server).await?;
    Ok(ExitCode::SUCCESS)
}

/// Filters of `cardhost history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this connection (name or id).
    #[arg(long)]
    connection: Option<String>,
    /// Only this connector.
    #[arg(long)]
    connector: Option<String>,
    /// Only this card.
    #[arg(long)]
    card: Option<String>,
    /// Only this outcome (`ok` or an error class such as `unauthorized`).
    #[arg(long)]
    outcome: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 20)]
    limit: u32,
}

/// The store this command works on: the PostgreSQL database when one is
/// configured, else the SQLite file in the data directory.
enum Opened {
    Sqlite(Arc<SqliteStore>, KeySource),
    Postgres(Arc<store::PostgresStore>, KeySource),
}

impl Opened {
    fn store(&self) -> Arc<dyn Store> {
        match self {
            Opened::Sqlite(s, _) => s.clone(),
            Opened::Postgres(s, _) => s.clone(),
        }
    }
}

async fn open(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Opened> {
    Ok(match database_url {
        Some(url) => {
            let (store, source) = store::open_shared(url, data_dir)
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            Opened::Postgres(Arc::new(store), source)
        }
        None => {
            let (store, source) = store::open_in(data_dir)
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            Opened::Sqlite(Arc::new(store), source)
        }
    })
}

async fn open_store(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open(database_url, data_dir).await?.store())
}

pub(super) async fn service(config: Config, data_dir: &Path) -> anyhow::Result<Connections> {
    let store = open_store(config.database_url.as_deref(), data_dir).await?;
    let host = Arc::new(crate::start_runtime(config.runtime()).await?);
    Ok(Connections::new(host, store))
}

/// Converts `key=value` flags to JSON values typed by the connection schema.
fn typed_fields(
    loaded: &LoadedConnector,
    mut base: Value,
    pairs: &[String],
) -> anyhow::Result<Value> {
    if base.is_null() {
        base = json!({});
    }
    let obj = base
        .as_object_mut()
        .context("connection fields must be a JSON object")?;
    let props = loaded.manifest.connection_schema.get("properties");
    for pair in pairs {
        let (key, raw) = pair
            .split_once('=')
            .with_context(|| format!("--field `{pair}` must be KEY=VALUE"))?;
        let ty = props
            .and_then(|p| p.get(key))
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str);
        let value = match ty {
            Some("boolean") => match raw {
                "true" | "yes" | "1" => Value::Bool(true),
                "false" | "no" | "0" => Value::Bool(false),
                _ => bail!("field `{key}` is a boolean: use true or false, not `{raw}`"),
            },
            Some("integer") | Some("number") => serde_json::from_str(raw)
                .ok()
                .filter(Value::is_number)
                .with_context(|| format!("field `{key}` is a number, not `{raw}`"))?,
            _ => Value::String(raw.to_string()),
        };
        obj.insert(key.to_string(), value);
    }
    Ok(base)
}

fn read_secret(name: &str, title: &str) -> anyhow::Result<Secret> {
    let value = if std::io::stdin().is_terminal() {
        // The title comes from the connector's manifest.
        rpassword::prompt_password(format!(
            "{} ({}): ",
            term::escape(title),
            term::escape(name)
        ))
        .with_context(|| format!("reading secret `{name}`"))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .with_context(|| format!("reading secret `{name}` from stdin"))?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    Ok(Secret::new(value))
}

pub(crate) fn env_secret(pair: &str) -> anyhow::Result<(String, Secret)> {
    let (name, var) = pair
        .split_once('=')
        .with_context(|| format!("--secret-env `{pair}` must be NAME=ENV_VAR"))?;
    let value = std::env::var(var).with_context(|| {
        format!("environment variable `{var}` (for secret `{name}`) is not set")
    })?;
    Ok((name.to_string(), Secret::new(value)))
}

pub(super) fn show_json(view: &impl serde::Serialize) -> anyhow::Result<()> {
    term::out_json(&serde_json::to_string_pretty(view)?)
}

fn print_connection(view: &crate::connections::ConnectionView) -> anyhow::Result<()> {
    let r = &view.record;
    outln!("{} ({})", r.name, r.id)?;
    outln!("  connector    {} {}", r.connector, r.connector_version)?;
    if let Some(m) = &r.auth_method {
        outln!("  auth method  {m}")?;
    }
    match &r.state_message {
        Some(m) => outln!("  state        {} — {m}", r.state)?,
        None => outln!("  state        {}", r.state)?,
    }
    outln!("  granted      {}", r.granted.join(", "))?;
    if let Some(fields) = r.fields.as_object() {
        for (k, v) in fields {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            outln!("  field        {k} = {v}")?;
        }
    }
    for s in &view.secrets {
        outln!(
            "  secret       {} = •••• (set {})",
            s.name,
            rfc3339(s.set_at)
        )?;
    }
    outln!("  created      {}", rfc3339(r.created_at))?;
    outln!("  updated      {}", rfc3339(r.updated_at))
}

/// Runs a `connections` subcommand.
pub async fn run(
    command: ConnectionsCommand,
    config: Config,
    data_dir: &Path,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    if let ConnectionsCommand::RotateKey = command {
        let opened = open(config.database_url.as_deref(), data_dir).await?;
        let rotated = match &opened {
            Opened::Sqlite(store, source) => store::rotate_key_in(store, source, data_dir).await,
            Opened::Postgres(store, source) => {
                store::rotate_sealing_key(store.as_ref(), source, data_dir).await
            }
        };
        let (n, id) = rotated.map_err(|e| anyhow::anyhow!(e))?;
        let source = match &opened {
            Opened::Sqlite(_, source) | Opened::Postgres(_, source) => source.clone(),
        };
        if json_output {
            show_json(&json!({"reencrypted": n, "key_id": id}))?;
        } else {
            outln!("re-encrypted {n} secret values under key {id}")?;
            if source == KeySource::Env {
                outln!(
                    "now set {} to the new key (from {})",
                    store::MASTER_KEY_ENV,
                    store::NEW_MASTER_KEY_ENV
                )?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let conns = Arc::new(service(config, data_dir).await?);
    match command {
        ConnectionsCommand::Create {
            connector,
            name,
            field,
            fields,
            secret,
            secret_env,
            grant,
            auth_method,
        } => {
            let registry = conns.host().registry();
            let loaded = registry.get(&connector).with_context(|| {
                format!("no connector `{connector}` is loaded (see `cardhost connectors`)")
            })?;
            let base = match &fields {
                Some(f) => read_json_arg(f, "--fields")?,
                None => Value::Null,
            };
            let fields = typed_fields(loaded, base, &field)?;
            let secrets = read_secrets(loaded, &secret, &secret_env)?;
            let record = conns
                .create(CreateConnection {
                    connector,
                    name,
                    fields,
                    secrets,
                    grant,
                    auth_method,
                })
                .await?;
            if json_output {
                show_json(&conns.show(&record.id).await?)?;
            } else {
                outln!(
                    "created connection {} ({}), {}",
                    record.name,
                    record.id,
                    record.state
                )?;
                if let Some(m) = &record.state_message {
                    outln!("  {m}: cardhost connections authorize {:?}", record.name)?;
                } else {
                    outln!("  test it: cardhost connections test {:?}", record.name)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectionsCommand::List => {
            let list = conns.list().await?;
            if json_output {
                show_json(&json!({"connections": list}))?;
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|v| {
                        let r = &v.record;
                        vec![
                            r.name.clone(),
                            r.id.clone(),
                            r.connector.clone(),
                            r.state.to_string(),
                            r.granted.join(","),
                            v.secrets
                                .iter()
                                .map(|s| format!("{}=••••", s.name))
                                .collect::<Vec<_>>()
                                .join(" "),
                        ]
                    })
                    .collect();
                print_table(
                    &["NAME", "ID", "CONNECTOR", "STATE", "GRANTED", "SECRETS"],
                    &rows,
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectionsCommand::Show { connection } => {
            let view = conns.show(&connection).await?;
            let cards = conns.cards(&connection).await?;
            if json_output {
                show_json(&json!({"connection": view, "cards": cards}))?;
            } else {
                print_connection(&view)?;
                outln!("  cards")?;
                for c in &cards {
                    if c.usable {
                        outln!("    usable      {} ({})", c.card, c.title)?;
                    } else {
                        outln!(
                            "    not usable  {} ({}): needs {}",
                            c.card,
                            c.title,
                            c.missing.join(", ")
                        )?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectionsCommand::Test { connection } => match conns.test(&connection).await {
            Ok(report) => {
                if json_output {
                    show_json(&report)?;
                } else {
                    outln!(
                        "{}: {}",
                        if report.ok { "ok" } else { "FAILED" },
                        report.summary
                    )?;
                    for c in &report.checks {
                        outln!(
                            "  [{}] {}: {}",
                            if c.ok { "ok" } else { "fail" },
                            c.name,
                            c.detail
                        )?;
                    }
                }
                Ok(if report.ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            Err(ConnectionError::Invocation(f)) => bail!("the connection test failed: {f}"),
            Err(e) => Err(e.into()),
        },
        ConnectionsCommand::Authorize {
            connection,
            port,
            no_browser,
            timeout,
        } => {
            let record = authorize(
                conns,
                &connection,
                port,
                !no_browser,
                Duration::from_secs(timeout),
            )
            .await?;
            if json_output {
                show_json(&record)?;
            } else {
                outln!("authorized: connection {} is {}", record.name, record.state)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectionsCommand::Grant {
            connection,
            permissions,
        } => {
            let record = conns.grant(&connection, &permissions).await?;
            if json_output {
                show_json(&record)?;
            } else {
                outln!("{} is granted: {}", record.name, record.granted.join(", "))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectionsCommand::SetFields {
            connection,
            field,
            fields,
            secret,
            secret_env,
        } => {
            let (current, loaded) = connection_and_connector(&conns, &connection).await?;
            let base = match &fields {
                Some(f) => read_json_arg(f, "--fields")?,
                None => current.fields.clone(),
            };
            let fields = typed_fields(&loaded, base, &field)?;
            let secrets = read_secrets(&loaded, &secret, &secret_env)?;
            let record = conns.update_fields(&connection, &fields, secrets).await?;
            if json_output {
                show_json(&record)?;
            } else {
                outln!("updated the fields of {}", record.name)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectionsCommand::SetSecret {
            connection,
            secret,
            env,
        } => {
            let value = match env {
                Some(var) => Secret::new(
                    std::env::var(&var)
                        .with_context(|| format!("environment variable `{var}` is not set"))?,
                ),
                None => read_secret(&secret, &secret)?,
            };
            conns.set_secret(&connection, &secret, &value).await?;
            if !json_output {
                outln!("replaced secret {secret} of {connection}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectionsCommand::Approve {
            connection,
            secret,
            secret_env,
        } => {
            let (_, loaded) = connection_and_connector(&conns, &connection).await?;
            let changes = conns.pending_approval(&connection).await?;
            let secrets = read_secrets(&loaded, &secret, &secret_env)?;
            let record = conns.approve(&connection, secrets).await?;
            if json_output {
                show_json(&json!({"connection": record, "approved": changes}))?;
            } else {
                outln!("approved for {} ({}):", record.name, record.state)?;
                for change in &changes {
                    outln!("  {change}")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectionsCommand::Delete { connection } => {
            // Its subscriptions go with it: their webhooks with the vendor
            // first (where the configuration names the public URL).
            let subs = crate::subscriptions::Subscriptions::new(conns.clone());
            if let Err(e) = subs.unregister_connection(&connection).await {
                tracing::debug!(%connection, "before deleting: {e}");
            }
            let deleted = conns.delete(&connection).await?;
            if json_output {
                show_json(&deleted)?;
            } else {
                outln!("deleted {}", deleted.id)?;
                match (deleted.revoked, &deleted.revocation_error) {
                    (Some(true), _) => outln!("  its token was revoked at the provider")?,
                    (Some(false), Some(e)) => {
                        errln!("  warning: revoking its token at the provider failed: {e}")
                    }
                    _ => {}
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectionsCommand::RotateKey => unreachable!("handled above"),
    }
}

/// A stored connection and its loaded connector.
async fn connection_and_connector(
    conns: &Connections,
    connection: &str,
) -> anyhow::Result<(crate::store::ConnectionRecord, Arc<LoadedConnector>)> {
    let current = conns.show(connection).await?.record;
    let loaded = conns
        .host()
        .registry()
        .get(&current.connector)
        .cloned()
        .with_context(|| format!("no connector `{}` is loaded", current.connector))?;
    Ok((current, loaded))
}

/// Secrets named on the command line: prompted (`--secret NAME`) or read
/// from the environment (`--secret-env NAME=VAR`).
fn read_secrets(
    loaded: &crate::LoadedConnector,
    prompted: &[String],
    from_env: &[String],
) -> anyhow::Result<BTreeMap<String, Secret>> {
    let titles: HashMap<&str, &str> = loaded
        .manifest
        .raw
        .auth_methods
        .iter()
        .flat_map(|m| m.secrets.iter())
        .map(|s| (s.name.as_str(), s.title.as_str()))
        .collect();
    let mut secrets = BTreeMap::new();
    for name in prompted {
        let title = titles.get(name.as_str()).copied().unwrap_or(name);
        secrets.insert(name.clone(), read_secret(name, title)?);
    }
    for pair in from_env {
        let (name, value) = env_secret(pair)?;
        secrets.insert(name, value);
    }
    Ok(secrets)
}

/// What the loopback callback saw.
type CallbackResult = Result<crate::store::ConnectionRecord, String>;

/// Runs the authorization-code flow with a loopback callback (RFC 8252).
async fn authorize(
    conns: Arc<Connections>,
    connection: &str,
    port: u16,
    open_browser: bool,
    timeout: Duration,
) -> anyhow::Result<crate::store::ConnectionRecord> {
    use axum::extract::{Query, State};
    use axum::response::Html;
    use axum::routing::get;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port} for the callback"))?;
    let redirect_uri = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr()?.port()
    );
    let start = conns.begin_authorization(connection, &redirect_uri).await?;
    let (tx, rx) = tokio::sync::oneshot::channel::<CallbackResult>();
    let tx = Arc::new(Mutex::new(Some(tx)));

    type CallbackState = (
        Arc<Connections>,
        Arc<Mutex<Option<tokio::sync::oneshot::Sender<CallbackResult>>>>,
    );
    async fn callback(
        State((conns, tx)): State<CallbackState>,
        Query(params): Query<BTreeMap<String, String>>,
    ) -> Html<String> {
        // The loopback listener lives for one flow on this machine only;
        // the browser opens the provider directly, so there is no binding.
        let outcome = conns.complete_callback(&params, None).await;
        let page = crate::connections::callback_page(&outcome);
        // A forged or stale callback does not end the wait; a real answer does.
        match outcome {
            Err(ConnectionError::UnexpectedCallback(_)) => {
                // The callback's parameters are whatever reached the port.
                errln!("ignored a callback: {}", outcome.unwrap_err());
            }
            outcome => {
                if let Some(tx) = tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = tx.send(outcome.map_err(|e| e.to_string()));
                }
            }
        }
        Html(page)
    }

    let app = axum::Router::new()
        .route("/callback", get(callback))
        .with_state((conns.clone(), tx));
    // Stopped gracefully once the answer is in, so the page that says so
    // reaches the browser before the listener goes away.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    outln!("Open this URL to authorize the connection:")?;
    outln!("{}", start.url)?;
    outln!("Waiting for the callback on {redirect_uri} …")?;
    if open_browser
        && (std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some())
    {
        // The browser opener inherits nothing secret from this process.
        let _ = std::process::Command::new("xdg-open")
            .arg(&start.url)
            .env_remove(store::MASTER_KEY_ENV)
            .env_remove(store::NEW_MASTER_KEY_ENV)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    let result = tokio::time::timeout(timeout, rx).await;
    let _ = stop.send(());
    if tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .is_err()
    {
        tracing::debug!("the callback listener did not stop within 2 s");
    }
    match result {
        Ok(Ok(Ok(record))) => Ok(record),
        Ok(Ok(Err(e))) => bail!("{e}"),
        Ok(Err(_)) => bail!("the callback server stopped"),
        Err(_) => bail!(
            "no callback within {}s: run `cardhost connections authorize` again",
            timeout.as_secs()
        ),
    }
}

/// `cardhost invoke CONNECTOR CARD --connection NAME`.
pub async fn invoke(
    config: Config,
    data_dir: &Path,
    connector: &str,
    card: &str,
    input: &Value,
    connection: &str,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let conns = service(config, data_dir).await?;
    let record = conns.show(connection).await?.record;
    if record.connector != connector {
        bail!(
            "connection `{}` is a `{}` connection, not `{connector}`",
            record.name,
            record.connector
        );
    }
    match conns.invoke(&record.id, card, input).await {
        Ok(inv) => print_invocation(&Ok(inv), json_output),
        Err(ConnectionError::Invocation(f)) => print_invocation(&Err(f), json_output),
        Err(e) => Err(e.into()),
    }
}

/// `cardhost history`.
pub async fn history(
    args: HistoryArgs,
    database_url: Option<&str>,
    data_dir: &Path,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let store = open_store(database_url, data_dir).await?;
    let connection_id = match &args.connection {
        Some(c) => Some(store.connection(c).await?.id),
        None => None,
    };
    let names: HashMap<String, String> = store
        .list_connections()
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let records = store
        .history(&HistoryFilter {
            connection_id,
            connector: args.connector,
            card: args.card,
            outcome: args.outcome,
            since_ms: None,
            limit: Some(args.limit),
        })
        .await?;
    if json_output {
        show_json(&json!({"invocations": records}))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                rfc3339(r.started_at_ms / 1000),
                r.connection_id
                    .as_ref()
                    .map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone()))
                    .unwrap_or_else(|| "-".into()),
                format!("{}/{}", r.connector, r.card),
                r.outcome.clone(),
                format!("{}ms", r.duration_ms),
                format!("{} ({} retried)", r.upstream_requests, r.retries),
                r.error
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .take(80)
                    .collect(),
            ]
        })
        .collect();
    print_table(
        &[
            "STARTED",
            "CONNECTION",
            "CARD",
            "OUTCOME",
            "TIME",
            "REQUESTS",
            "ERROR",
        ],
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}
