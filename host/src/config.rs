//! The configuration file of `cardhost` (`--config`, TOML): the runtime's
//! settings ([`RuntimeConfig`]), where the data lives and how the server
//! listens. Unknown keys are refused, naming the key.

pub use crate::telemetry::LogFormat;
use cardhost_runtime::{Limits, NetworkPolicy, RuntimeConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything `cardhost` reads from its configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Per-invocation limits.
    pub limits: Limits,
    /// Outbound network policy.
    pub network: NetworkPolicy,
    /// Directory of extra connector components (`*.wasm`), if any.
    pub connectors_dir: Option<PathBuf>,
    /// Directory for precompiled components. `None` keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Whether to load the first-party connectors built into the binary.
    pub builtin_connectors: bool,
    /// Where connections, secrets, keys and history live (the SQLite file
    /// and the master key file). Defaults to `$XDG_DATA_HOME/cardhost`.
    pub data_dir: Option<PathBuf>,
    /// A PostgreSQL database (`postgres://user:password@host:port/db`) to
    /// keep connections, secrets, keys and history in instead of the SQLite
    /// file, shared by every node pointed at it. `CARDHOST_DATABASE_URL`
    /// overrides it. The master key still comes from `CARDHOST_MASTER_KEY`
    /// or the key file in `data_dir`, the same on every node.
    pub database_url: Option<String>,
    /// `cardhost serve` settings.
    pub server: ServerConfig,
}

impl Default for Config {
    fn default() -> Self {
        let runtime = RuntimeConfig::default();
        Self {
            limits: runtime.limits,
            network: runtime.network,
            connectors_dir: runtime.connectors_dir,
            cache_dir: runtime.cache_dir,
            builtin_connectors: runtime.builtin_connectors,
            data_dir: None,
            database_url: None,
            server: ServerConfig::default(),
        }
    }
}

impl Config {
    /// The runtime's part.
    pub fn runtime(&self) -> RuntimeConfig {
        RuntimeConfig {
            limits: self.limits.clone(),
            network: self.network.clone(),
            connectors_dir: self.connectors_dir.clone(),
            cache_dir: self.cache_dir.clone(),
            builtin_connectors: self.builtin_connectors,
        }
    }
}

/// `cardhost serve` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on. The default only accepts local clients.
    pub listen: std::net::SocketAddr,
    /// The URL clients and OAuth providers reach the server at (for the
    /// OAuth2 callback); defaults to `http://<listen>`.
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Invocations running at once, server-wide; more wait for a slot.
    pub max_concurrent_invocations: usize,
    /// Invocations running at once on one connection; more wait for a slot.
    pub max_concurrent_per_connection: usize,
    /// How long an invocation waits for a free slot before it is refused
    /// with 503 `saturated`, in milliseconds (0: refused at once).
    pub admission_wait_ms: u64,
    /// How long shutdown waits for in-flight invocations, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// How long a client may take to send a request's headers, in
    /// milliseconds; a slower one is disconnected.
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request's body, in
    /// milliseconds; a slower one gets 408.
    pub body_read_timeout_ms: u64,
    /// How log lines are written: `"text"` (the default) or `"json"`, one
    /// object a line. `CARDHOST_LOG_FORMAT` (or `--log-format`) overrides it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// The older spelling of `log_format = "json"`.
    pub json_logs: bool,
    /// Where to export traces over OTLP/HTTP (protobuf), as a base URL
    /// (`http://collector:4318`; `/v1/traces` is added). Unset, no traces
    /// are made. `CARDHOST_OTLP_ENDPOINT` (or `serve --otlp-endpoint`)
    /// overrides it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// This node's name in work leases. `cardhost serve` keeps one per data
    /// directory ([`claim_node_name`](crate::subscriptions::claim_node_name)),
    /// so a node restarted after a crash takes its unfinished work back at
    /// once; unset, a fresh name.
    #[serde(skip)]
    pub node_name: Option<String>,
}

impl ServerConfig {
    /// The log format in force: `log_format`, else `json` if `json_logs`.
    pub fn log_format(&self) -> LogFormat {
        self.log_format.unwrap_or(if self.json_logs {
            LogFormat::Json
        } else {
            LogFormat::Text
        })
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: ([127, 0, 0, 1], 8080).into(),
            public_url: None,
            max_body_bytes: 2 << 20,
            max_concurrent_invocations: 64,
            max_concurrent_per_connection: 8,
            admission_wait_ms: 2_000,
            shutdown_grace_ms: 30_000,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            log_format: None,
            json_logs: false,
            node_name: None,
            otlp_endpoint: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Config, LogFormat};

    #[test]
    fn log_format_and_otlp_endpoint_are_read_and_checked() {
        let config: Config = toml::from_str(
            "[server]\nlog_format = \"json\"\notlp_endpoint = \"http://127.0.0.1:4318\"\n",
        )
        .unwrap();
        assert_eq!(config.server.log_format(), LogFormat::Json);
        assert_eq!(
            config.server.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4318")
        );
        let old: Config = toml::from_str("[server]\njson_logs = true\n").unwrap();
        assert_eq!(old.server.log_format(), LogFormat::Json);
        let text: Config =
            toml::from_str("[server]\njson_logs = true\nlog_format = \"text\"\n").unwrap();
        assert_eq!(text.server.log_format(), LogFormat::Text, "log_format wins");
        assert_eq!(Config::default().server.log_format(), LogFormat::Text);
        let err = toml::from_str::<Config>("[server]\nlog_format = \"xml\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("xml") && err.contains("json"), "{err}");
        let err = toml::from_str::<Config>("[server]\notlp_endpont = \"http://c\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("otlp_endpont"), "{err}");
    }
}

#[cfg(test)]
mod readme_tests {
    use super::Config;

    /// The configuration example in the README parses as documented.
    #[test]
    fn the_readme_example_is_a_valid_configuration() {
        let readme = include_str!("../../README.md");
        let start = readme.find("```toml\n").expect("README has a TOML example") + 8;
        let len = readme[start..].find("```").expect("the example ends");
        let config: Config =
            toml::from_str(&readme[start..start + len]).expect("the README example parses");
        assert_eq!(config.server.max_concurrent_per_connection, 8);
        assert_eq!(config.network.hosts["api.internal.example"].len(), 1);
        assert!(config.data_dir.is_some());
    }
}
