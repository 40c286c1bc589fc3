//! Runtime configuration: limits, network policy and where connectors and
//! compiled components live.
//!
//! Everything has an embedded default that is safe for production (private
//! addresses refused, redirects off, modest caps); operators loosen what they
//! need in the TOML file (`cardhost serve --config`) or with environment
//! variables.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Everything the runtime needs to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Per-invocation limits.
    pub limits: Limits,
    /// Outbound network policy.
    pub network: NetworkPolicy,
    /// Directory of extra connector components (`*.wasm`), if any.
    pub connectors_dir: Option<PathBuf>,
    /// Directory for precompiled components. `None` keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Whether to load the built-in connectors the embedder gives
    /// ([`Cardhost::with_builtins`](crate::Cardhost::with_builtins)).
    pub builtin_connectors: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            network: NetworkPolicy::default(),
            connectors_dir: None,
            cache_dir: None,
            builtin_connectors: true,
        }
    }
}

/// Limits applied to every invocation. Every buffer a guest can grow has one
/// here, enforced before the work; hitting one is a typed error naming the
/// limit (`InvokeError::LimitExceeded`) or, for what is only recorded (logs,
/// refusals), a count of what was dropped.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest total linear memory a connector instance may grow to, in
    /// bytes, counted across all of the instance's memories.
    pub memory_bytes: usize,
    /// Wall-clock deadline of one invocation, in milliseconds. Guest code is
    /// interrupted and HTTP in flight is cancelled when it passes.
    pub deadline_ms: u64,
    /// Largest card input accepted, in bytes.
    pub max_input_bytes: usize,
    /// Largest card output accepted, in bytes.
    pub max_output_bytes: usize,
    /// Largest upstream request body, in bytes.
    pub max_request_body_bytes: usize,
    /// Largest upstream response body, in bytes.
    pub max_response_body_bytes: usize,
    /// Requests one invocation may ask for, refused ones included; the
    /// request after the last one ends the invocation.
    pub max_requests_per_invocation: u32,
    /// Longest request URL (after the query is appended), in bytes.
    pub max_url_bytes: usize,
    /// Most request headers a guest may set on one request.
    pub max_request_headers: usize,
    /// Longest single request header (name and value), in bytes.
    pub max_request_header_bytes: usize,
    /// Refusals recorded per invocation; later ones are counted
    /// ("and N more"), not kept.
    pub max_denials_per_invocation: usize,
    /// Longest message kept from a guest: card errors, connection-test
    /// summaries and details, in bytes (longer ones are cut with `…`).
    pub max_message_bytes: usize,
    /// Checks kept from one connection-test report.
    pub max_report_checks: usize,
    /// Bytes of guest stdout/stderr and log lines kept per invocation.
    pub max_log_bytes: usize,
    /// Longest log line kept, in bytes, cut before escaping.
    pub max_log_line_bytes: usize,
    /// Log lines kept per invocation; later ones are counted, not kept.
    pub max_log_lines: usize,
    /// Bytes a guest may pass to the host in one call (a request, a log
    /// line, a card's output or error): wasmtime's hostcall fuel. Sized for
    /// the largest legitimate request, the request body cap plus URL and
    /// headers; at least `max_request_body_bytes` and `max_output_bytes`.
    pub hostcall_bytes: usize,
    /// Core instances one connector instance may create.
    pub max_core_instances_per_component: u32,
    /// Linear memories one connector instance may define.
    pub max_memories_per_component: u32,
    /// Tables one connector instance may define.
    pub max_tables_per_component: u32,
    /// Most instances alive at once (sizes the pooling allocator). Must be at
    /// least the server's `max_concurrent_invocations`.
    pub max_concurrent_instances: u32,
    /// Threads that run guest code that computes for longer than an epoch
    /// tick, apart from the threads that serve requests, so a spinning
    /// guest never stalls the server (a guest starts on the caller's task
    /// and moves there at the first tick that finds it computing). Defaults
    /// to the number of CPUs. `0` keeps guests on the caller's async runtime
    /// (for embedders whose runtime does nothing else); they still yield to
    /// it every epoch tick.
    pub guest_threads: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 128 << 20,
            deadline_ms: 30_000,
            max_input_bytes: 1 << 20,
            max_output_bytes: 8 << 20,
            max_request_body_bytes: 8 << 20,
            max_response_body_bytes: 32 << 20,
            max_requests_per_invocation: 2_000,
            max_url_bytes: 16 << 10,
            max_request_headers: 64,
            max_request_header_bytes: 8 << 10,
            max_denials_per_invocation: 50,
            max_message_bytes: 8 << 10,
            max_report_checks: 64,
            max_log_bytes: 64 << 10,
            max_log_line_bytes: 4 << 10,
            max_log_lines: 1_000,
            hostcall_bytes: (8 << 20) + (1 << 20),
            max_core_instances_per_component: 32,
            max_memories_per_component: 2,
            max_tables_per_component: 8,
            max_concurrent_instances: 128,
            guest_threads: None,
        }
    }
}

impl Limits {
    /// The invocation deadline as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// Settings that cannot work together, named.
    pub fn check(&self) -> Result<(), String> {
        if self.hostcall_bytes < self.max_request_body_bytes {
            return Err(format!(
                "limits.hostcall_bytes ({}) is below limits.max_request_body_bytes ({}): a request \
                 body at the cap could never reach the host",
                self.hostcall_bytes, self.max_request_body_bytes
            ));
        }
        if self.hostcall_bytes < self.max_output_bytes {
            return Err(format!(
                "limits.hostcall_bytes ({}) is below limits.max_output_bytes ({}): an output at \
                 the cap could never reach the host",
                self.hostcall_bytes, self.max_output_bytes
            ));
        }
        if self.max_concurrent_instances == 0 {
            return Err("limits.max_concurrent_instances must be at least 1".into());
        }
        if self.max_memories_per_component == 0 || self.max_core_instances_per_component == 0 {
            return Err(
                "limits.max_memories_per_component and max_core_instances_per_component must be at least 1"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Where connectors may send requests, beyond what their manifests allow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkPolicy {
    /// Address ranges that are normally refused (loopback, private, link-local
    /// ...) but that this operator allows, e.g. `["127.0.0.0/8"]` for tests or
    /// `["10.20.0.0/16"]` for an on-premises API.
    pub allow_ranges: Vec<IpNet>,
    /// Whether plain `http://` upstreams are allowed (only ever wanted for
    /// loopback emulators and tests).
    pub allow_http: bool,
    /// Send requests for these origins somewhere else, keeping the original
    /// host in the `Host` header: for vendor sandboxes behind a proxy, and for
    /// emulators in tests and the quickstart. Checks run on the original URL.
    pub routes: Vec<Route>,
    /// Static name resolution, consulted before DNS like `/etc/hosts`. The
    /// addresses still pass the address checks (a name mapped to a private
    /// address is refused unless its range is allowed).
    pub hosts: std::collections::BTreeMap<String, Vec<std::net::IpAddr>>,
    /// TCP connect timeout, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Timeout for each read of a response, in milliseconds.
    pub read_timeout_ms: u64,
    /// Retries of a failed idempotent request (429, 503, other 5xx, transport
    /// errors), always within the invocation deadline.
    pub max_retries: u32,
    /// Base of the exponential backoff, in milliseconds.
    pub backoff_base_ms: u64,
    /// Longest single wait the host honours from `Retry-After` or a vendor
    /// reset header, in milliseconds.
    pub max_retry_wait_ms: u64,
    /// Client-side rate limit per connection (requests per second); `None` is
    /// unlimited. Keeps bursts under vendor limits (e.g. SmartHR's 10/s).
    pub requests_per_second: Option<u32>,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        Self {
            allow_ranges: Vec::new(),
            allow_http: false,
            routes: Vec::new(),
            hosts: Default::default(),
            connect_timeout_ms: 10_000,
            read_timeout_ms: 30_000,
            max_retries: 3,
            backoff_base_ms: 200,
            max_retry_wait_ms: 60_000,
            requests_per_second: None,
        }
    }
}

impl NetworkPolicy {
    /// A policy for tests and local emulators: loopback and plain HTTP allowed.
    pub fn loopback() -> Self {
        Self {
            allow_ranges: vec![
                "127.0.0.0/8".parse().expect("valid range"),
                "::1/128".parse().expect("valid range"),
            ],
            allow_http: true,
            ..Self::default()
        }
    }
}

/// Sends requests for one origin to another address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Host name as the connector addresses it, e.g. `acme.smarthr.jp`, or a
    /// `*.` wildcard such as `*.smarthr.jp`.
    pub host: String,
    /// Where to send it instead: `http://127.0.0.1:4010`.
    pub to: String,
}
