//! Running a card: validate the input, instantiate a fresh instance, call it
//! under a memory cap and a deadline, validate the output, and turn whatever
//! went wrong into a typed error naming the connector, the card and the cause.

use crate::bindings::http::{Denial, DenialKind, HttpError, Request, Response};
use crate::bindings::types::{self as wit, ConnectorError};
use crate::bindings::{ConnectorWorld, ConnectorWorldPre};
use crate::broker::{Broker, Journal, RequestScope, denial_kind_name};
use crate::executor::GuestExecutor;
use crate::manifest::SchemaViolation;
use crate::registry::LoadedConnector;
use serde::Serialize;
use serde_json::{Value, json};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Id of the raw-request card every connector gets from the host.
pub const CUSTOM_API_ACTION: &str = "custom-api-action";

/// How a connector's card failed, as the connector said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CardFailure {
    /// The input was refused by the connector.
    InvalidInput {
        /// Why.
        message: String,
    },
    /// The upstream refused the credentials.
    Unauthorized {
        /// Why.
        message: String,
    },
    /// The credentials lack a right upstream.
    Forbidden {
        /// Why.
        message: String,
    },
    /// Not found upstream.
    NotFound {
        /// What.
        message: String,
    },
    /// Rate limited upstream.
    RateLimited {
        /// What the upstream said.
        message: String,
        /// Seconds to wait.
        retry_after_seconds: Option<u32>,
    },
    /// Upstream failure.
    Upstream {
        /// HTTP status, if any.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// A fault in the connector.
    Internal {
        /// What went wrong.
        message: String,
    },
}

impl std::fmt::Display for CardFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CardFailure::InvalidInput { message } => write!(f, "invalid input: {message}"),
            CardFailure::Unauthorized { message } => write!(f, "unauthorized upstream: {message}"),
            CardFailure::Forbidden { message } => write!(f, "forbidden upstream: {message}"),
            CardFailure::NotFound { message } => write!(f, "not found: {message}"),
            CardFailure::RateLimited {
                message,
                retry_after_seconds,
            } => match retry_after_seconds {
                Some(s) => write!(f, "rate limited upstream (retry after {s}s): {message}"),
                None => write!(f, "rate limited upstream: {message}"),
            },
            CardFailure::Upstream {
                status: Some(s),
                message,
            } => write!(f, "upstream error {s}: {message}"),
            CardFailure::Upstream {
                status: None,
                message,
            } => write!(f, "upstream error: {message}"),
            CardFailure::Internal { message } => write!(f, "connector error: {message}"),
        }
    }
}

impl CardFailure {
    fn from_wit(e: ConnectorError, redact: &dyn Fn(&str) -> String) -> Self {
        match e {
            ConnectorError::InvalidInput(m) => CardFailure::InvalidInput {
                message: redact(&m),
            },
            ConnectorError::Unauthorized(m) => CardFailure::Unauthorized {
                message: redact(&m),
            },
            ConnectorError::Forbidden(m) => CardFailure::Forbidden {
                message: redact(&m),
            },
            ConnectorError::NotFound(m) => CardFailure::NotFound {
                message: redact(&m),
            },
            ConnectorError::RateLimited(r) => CardFailure::RateLimited {
                message: redact(&r.message),
                retry_after_seconds: r.retry_after_seconds,
            },
            ConnectorError::Upstream(u) => CardFailure::Upstream {
                status: u.status,
                message: redact(&u.message),
            },
            ConnectorError::Internal(m) => CardFailure::Internal {
                message: redact(&m),
            },
        }
    }
}

fn pointers(v: &[SchemaViolation]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why an invocation failed. Every variant names the connector and card.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// No connector with this id is loaded.
    #[error("no connector `{connector}` is loaded")]
    UnknownConnector {
        /// Connector id.
        connector: String,
    },
    /// The connector has no such card.
    #[error("connector `{connector}` has no card `{card}`")]
    UnknownCard {
        /// Connector id.
        connector: String,
        /// Card id.
        card: String,
    },
    /// The input does not match the card's input schema.
    #[error("invalid input for {connector}/{card}: {}", pointers(violations))]
    InvalidInput {
        /// Connector id.
        connector: String,
        /// Card id.
        card: String,
        /// Each violation with its JSON pointer.
        violations: Vec<SchemaViolation>,
    },
    /// The connection cannot be used (bad fields, missing credentials).
    #[error("connection cannot be used with {connector}: {message}")]
    Connection {
        /// Connector id.
        connector: String,
        /// What is wrong.
        message: String,
    },
    /// The broker refused a request the card made.
    #[error("{connector}/{card}: request refused ({kind}): {message}")]
    Denied {
        /// Connector id.
        connector: String,
        /// Card id.
        card: String,
        /// Denial kind, kebab-case.
        kind: String,
        /// What was refused and why.
        message: String,
    },
    /// The card reported a failure.
    #[error("{connector}/{card} failed: {failure}")]
    Card {
        /// Connector id.
        connector: String,
        /// Card id.
        card: String,
        /// The failure.
        failure: CardFailure,
    },
    /// The output does not match the card's output schema.
    #[error(
        "{connector}/{card} returned output that does not match its schema: {}",
        pointers(violations)
    )]
    InvalidOutput {
        /// Connector id.
        connector: String,
        /// Card id.
        card: String,
        /// Each violation.
        violations: Vec<SchemaViolation>,
    },
    /// The output is over the cap.
    #[error("{connector}/{card} returned {size} bytes, over the {limit}-byte output limit")]
    OutputTooLarge {
        /// Connector id.
        connector: String,
        /// Card id.
        card: String,
        /// Size returned.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The deadline passed.
    #[error("{connector}/{card} did not finish within its {deadline_ms} ms deadline")]
    DeadlineExceeded {
        /// Connector id.
        connector: String,
        /// Card id.
        card: String,
        /// The deadline.
        deadline_ms: u64,
    },
    /// The guest tried to grow memory past the cap.
    #[error("{connector}/{card} exceeded its {limit_bytes}-byte memory limit")]
    MemoryLimit {
        /// Connector id.
        connector: String,
        /// Card id.
        card: String,
        /// The cap.
        limit_bytes: usize,
    },
    /// The guest trapped (a panic, an unreachable, a bad memory access).
    #[error("{connector}/{card} crashed: {message}")]
    Trap {
        /// Connector id.
        connector: String,
        /// Card id.
        card: String,
        /// The trap and the end of the guest's stderr.
        message: String,
    },
    /// The guest went over one of the runtime's limits (requests, bytes
    /// handed to the host, instances, memories or tables of a component).
    #[error("{connector}/{card} went over the `{limit}` limit: {message}")]
    LimitExceeded {
        /// Connector id.
        connector: String,
        /// Card id.
        card: String,
        /// The limit, as named in the runtime configuration (`[limits]`).
        limit: String,
        /// What was over it.
        message: String,
    },
    /// No instance slot was free: the caller should retry shortly.
    #[error("{connector}/{card} could not start: {message}")]
    Saturated {
        /// Connector id.
        connector: String,
        /// Card id.
        card: String,
        /// Which capacity was exhausted.
        message: String,
    },
    /// A fault in the host.
    #[error("host error running {connector}/{card}: {message}")]
    Host {
        /// Connector id.
        connector: String,
        /// Card id.
        card: String,
        /// What went wrong.
        message: String,
    },
}

impl InvokeError {
    /// A short kebab-case name of the error class, for metrics and history.
    pub fn class(&self) -> &'static str {
        match self {
            InvokeError::UnknownConnector { .. } => "unknown-connector",
            InvokeError::UnknownCard { .. } => "unknown-card",
            InvokeError::InvalidInput { .. } => "invalid-input",
            InvokeError::Connection { .. } => "connection",
            InvokeError::Denied { .. } => "denied",
            InvokeError::Card { failure, .. } => match failure {
                CardFailure::InvalidInput { .. } => "card-invalid-input",
                CardFailure::Unauthorized { .. } => "unauthorized",
                CardFailure::Forbidden { .. } => "forbidden",
                CardFailure::NotFound { .. } => "not-found",
                CardFailure::RateLimited { .. } => "rate-limited",
                CardFailure::Upstream { .. } => "upstream",
                CardFailure::Internal { .. } => "connector-internal",
            },
            InvokeError::InvalidOutput { .. } => "invalid-output",
            InvokeError::OutputTooLarge { .. } => "output-too-large",
            InvokeError::DeadlineExceeded { .. } => "deadline-exceeded",
            InvokeError::MemoryLimit { .. } => "memory-limit",
            InvokeError::Trap { .. } => "trap",
            InvokeError::LimitExceeded { .. } => "limit-exceeded",
            InvokeError::Saturated { .. } => "saturated",
            InvokeError::Host { .. } => "host",
        }
    }
}

/// One captured log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `debug`, `info`, `warn`, `error`, or `stdout`/`stderr` for raw output.
    pub level: String,
    /// The line, control characters escaped, secrets redacted.
    pub message: String,
}

/// What the guest wrote and logged, capped.
#[derive(Debug, Default)]
struct Capture {
    lines: Vec<LogLine>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Raw stdout/stderr bytes kept.
    raw_bytes: usize,
    /// Bytes of log lines kept (escaped).
    bytes: usize,
    cap: usize,
    line_cap: usize,
    max_lines: usize,
    dropped: usize,
}

/// `text` cut to at most `max` bytes on a character boundary, with `…` when
/// something was cut. Cutting comes before any escaping or redaction, so a
/// hostile line costs the host no more than the cap.
pub(crate) fn truncate(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…", &text[..cut]))
}

/// Control characters escaped, the result cut at `max` bytes.
fn escape_line(line: &str, max: usize) -> String {
    let raw = truncate(line, max);
    let escaped: String = raw.escape_debug().collect();
    truncate(&escaped, max).into_owned()
}

impl Capture {
    fn push_line(&mut self, level: &str, message: &str) {
        if self.lines.len() >= self.max_lines {
            self.dropped += 1;
            return;
        }
        let escaped = escape_line(message, self.line_cap);
        if self.bytes + escaped.len() > self.cap {
            self.dropped += 1;
            return;
        }
        self.bytes += escaped.len();
        self.lines.push(LogLine {
            level: level.into(),
            message: escaped,
        });
    }
}

/// stdout/stderr of a guest, kept in memory up to the cap; the rest is
/// dropped silently, so a chatty guest neither fails nor fills memory.
#[derive(Clone)]
struct CapturedStream {
    capture: Arc<Mutex<Capture>>,
    stderr: bool,
}

impl IsTerminal for CapturedStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for CapturedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Ok(mut c) = self.capture.lock() {
            let room = c.cap.saturating_sub(c.raw_bytes);
            let take = buf.len().min(room);
            c.raw_bytes += take;
            if self.stderr {
                c.stderr.extend_from_slice(&buf[..take]);
            } else {
                c.stdout.extend_from_slice(&buf[..take]);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The resource limiter of one instance: memory counted across all of its
/// memories, and how many instances, memories and tables it may create.
struct GuestLimiter {
    limit: usize,
    /// Bytes of linear memory allowed so far, over every memory.
    total: usize,
    hit: bool,
    instances: usize,
    memories: usize,
    tables: usize,
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total - current.min(self.total) + desired;
        if total > self.limit {
            self.hit = true;
            return Ok(false);
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.memories
    }

    fn tables(&self) -> usize {
        self.tables
    }
}

/// A limit the guest broke inside a host call; the call traps with it and
/// the invocation ends in [`InvokeError::LimitExceeded`].
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct LimitHit {
    /// The limit's name in `[limits]`.
    pub limit: &'static str,
    /// What was over it.
    pub message: String,
}

/// The data of one instance's store.
pub struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: GuestLimiter,
    scope: Arc<RequestScope>,
    broker: Arc<Broker>,
    capture: Arc<Mutex<Capture>>,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl crate::bindings::types::Host for GuestState {}

impl crate::bindings::http::Host for GuestState {
    async fn send(&mut self, request: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        let limit = self.broker.limits().max_requests_per_invocation;
        if self.scope.attempted_requests() >= limit {
            return Err(LimitHit {
                limit: "max_requests_per_invocation",
                message: format!("the card asked for more than {limit} upstream requests"),
            }
            .into());
        }
        let response = self.broker.send(&self.scope, request).await;
        // What the guest is handed carries none of the connection's secrets,
        // whatever the upstream echoed back.
        Ok(match response {
            Ok(response) => Ok(self.scope.scrub_response(response)),
            Err(err) => Err(self.scope.scrub_error(err)),
        })
    }
}

impl crate::bindings::log::Host for GuestState {
    fn log(&mut self, level: crate::bindings::log::Level, message: String) -> wasmtime::Result<()> {
        use crate::bindings::log::Level;
        let level = match level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        if let Ok(mut c) = self.capture.lock() {
            c.push_line(level, &message);
        }
        Ok(())
    }
}

/// Builds the linker every connector is instantiated with: WASI (only what
/// std needs is usable: no preopens, env, sockets or DNS) and the cardhost
/// imports.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<GuestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    ConnectorWorld::add_to_linker::<GuestState, HasSelf<GuestState>>(&mut linker, |s| s)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    Ok(linker)
}

/// Per-call settings, taken from [`Limits`](crate::Limits).
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    /// Memory cap in bytes, over all of an instance's memories.
    pub memory_bytes: usize,
    /// Deadline.
    pub deadline: Duration,
    /// Bytes of logs kept.
    pub max_log_bytes: usize,
    /// Longest log line kept.
    pub max_log_line_bytes: usize,
    /// Log lines kept.
    pub max_log_lines: usize,
    /// Bytes the guest may hand the host in one call.
    pub hostcall_bytes: usize,
    /// Core instances per component instance.
    pub max_core_instances: usize,
    /// Memories per component instance.
    pub max_memories: usize,
    /// Tables per component instance.
    pub max_tables: usize,
    /// Longest message kept from the guest.
    pub max_message_bytes: usize,
}

impl CallLimits {
    /// The per-call part of the runtime's limits.
    pub fn from_limits(limits: &crate::Limits) -> Self {
        Self {
            memory_bytes: limits.memory_bytes,
            deadline: limits.deadline(),
            max_log_bytes: limits.max_log_bytes,
            max_log_line_bytes: limits.max_log_line_bytes,
            max_log_lines: limits.max_log_lines,
            hostcall_bytes: limits.hostcall_bytes,
            max_core_instances: limits.max_core_instances_per_component as usize,
            max_memories: limits.max_memories_per_component as usize,
            max_tables: limits.max_tables_per_component as usize,
            max_message_bytes: limits.max_message_bytes,
        }
    }
}

/// A store ready to instantiate one connector.
pub(crate) struct Prepared {
    store: Store<GuestState>,
    capture: Arc<Mutex<Capture>>,
}

pub(crate) fn prepare(
    engine: &Engine,
    scope: Arc<RequestScope>,
    broker: Arc<Broker>,
    limits: CallLimits,
    moved: Arc<std::sync::atomic::AtomicBool>,
) -> Prepared {
    let capture = Arc::new(Mutex::new(Capture {
        cap: limits.max_log_bytes,
        line_cap: limits.max_log_line_bytes,
        max_lines: limits.max_log_lines,
        ..Capture::default()
    }));
    let wasi = WasiCtxBuilder::new()
        .stdout(CapturedStream {
            capture: capture.clone(),
            stderr: false,
        })
        .stderr(CapturedStream {
            capture: capture.clone(),
            stderr: true,
        })
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let state = GuestState {
        wasi,
        table: ResourceTable::new(),
        memory: GuestLimiter {
            limit: limits.memory_bytes,
            total: 0,
            hit: false,
            instances: limits.max_core_instances,
            memories: limits.max_memories,
            tables: limits.max_tables,
        },
        scope,
        broker,
        capture: capture.clone(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.memory);
    store.set_hostcall_fuel(limits.hostcall_bytes);
    // The deadline is counted in epoch ticks; at every tick the guest
    // yields, so guests share their threads and a cancelled call stops.
    let mut ticks_left = crate::engine::Runtime::ticks_for(limits.deadline);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        ticks_left = ticks_left.saturating_sub(1);
        if ticks_left == 0 {
            return Ok(wasmtime::UpdateDeadline::Interrupt);
        }
        // Still computing at a tick: off the caller's threads from here on.
        moved.store(true, std::sync::atomic::Ordering::Release);
        Ok(wasmtime::UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
    Prepared { store, capture }
}

/// What the guest left behind, redacted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GuestOutput {
    /// Log lines, then stdout and stderr lines.
    pub logs: Vec<LogLine>,
    /// Lines dropped over the cap.
    pub dropped_lines: usize,
}

fn collect_output(capture: &Mutex<Capture>, scope: &RequestScope) -> GuestOutput {
    let Ok(mut c) = capture.lock() else {
        return GuestOutput::default();
    };
    for (level, bytes) in [
        ("stdout", std::mem::take(&mut c.stdout)),
        ("stderr", std::mem::take(&mut c.stderr)),
    ] {
        for line in String::from_utf8_lossy(&bytes).lines() {
            c.push_line(level, line);
        }
    }
    let mut logs: Vec<LogLine> = std::mem::take(&mut c.lines);
    for line in &mut logs {
        line.message = scope.redact(&line.message);
    }
    GuestOutput {
        logs,
        dropped_lines: c.dropped,
    }
}

/// A call that ended, successfully or not, with what it left behind.
pub(crate) struct CallResult<T> {
    pub result: Result<T, InvokeError>,
    pub output: GuestOutput,
}

/// How a call that returned an error ended, by cause.
fn classify_trap(
    err: wasmtime::Error,
    connector: &str,
    card: &str,
    limits: CallLimits,
    memory_hit: bool,
    stderr_tail: String,
) -> InvokeError {
    let (connector, card) = (connector.to_string(), card.to_string());
    if let Some(trap) = err.downcast_ref::<wasmtime::Trap>()
        && *trap == wasmtime::Trap::Interrupt
    {
        return InvokeError::DeadlineExceeded {
            connector,
            card,
            deadline_ms: limits.deadline.as_millis() as u64,
        };
    }
    if memory_hit {
        return InvokeError::MemoryLimit {
            connector,
            card,
            limit_bytes: limits.memory_bytes,
        };
    }
    if let Some(hit) = err.downcast_ref::<LimitHit>() {
        return InvokeError::LimitExceeded {
            connector,
            card,
            limit: hit.limit.into(),
            message: hit.message.clone(),
        };
    }
    if err
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return InvokeError::Saturated {
            connector,
            card,
            message: format!("every instance slot is in use: {err}"),
        };
    }
    let text = format!("{err:#}");
    if let Some((limit, message)) = wasmtime_limit(&text, limits) {
        return InvokeError::LimitExceeded {
            connector,
            card,
            limit: limit.into(),
            message,
        };
    }
    let mut message = match err.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => text,
    };
    if !stderr_tail.is_empty() {
        message.push_str("; guest stderr: ");
        message.push_str(&stderr_tail);
    }
    InvokeError::Trap {
        connector,
        card,
        message,
    }
}

/// The runtime limit behind one of wasmtime's own refusals (it reports these
/// as plain errors, so they are recognised by their words).
fn wasmtime_limit(text: &str, limits: CallLimits) -> Option<(&'static str, String)> {
    if text.contains("fuel allocated for hostcalls has been exhausted") {
        return Some((
            "hostcall_bytes",
            format!(
                "the card handed the host more than {} bytes in one call",
                limits.hostcall_bytes
            ),
        ));
    }
    for (words, limit, count) in [
        (
            "instance count too high",
            "max_core_instances_per_component",
            limits.max_core_instances,
        ),
        (
            "memory count too high",
            "max_memories_per_component",
            limits.max_memories,
        ),
        (
            "table count too high",
            "max_tables_per_component",
            limits.max_tables,
        ),
    ] {
        if text.contains(words) {
            return Some((limit, format!("the component creates more than {count}")));
        }
    }
    None
}

fn stderr_tail(output: &GuestOutput) -> String {
    let lines: Vec<&str> = output
        .logs
        .iter()
        .filter(|l| l.level == "stderr")
        .map(|l| l.message.as_str())
        .collect();
    let start = lines.len().saturating_sub(5);
    lines[start..].join(" | ")
}

/// Instantiates `pre` and runs `call` on it under the limits on the guest
/// threads, mapping every failure to a typed error.
pub(crate) async fn run<T, F>(
    engine: &Engine,
    executor: &GuestExecutor,
    pre: &ConnectorWorldPre<GuestState>,
    scope: Arc<RequestScope>,
    broker: Arc<Broker>,
    limits: CallLimits,
    call: F,
) -> CallResult<T>
where
    F: for<'a> FnOnce(
            &'a ConnectorWorld,
            &'a mut Store<GuestState>,
        ) -> Pin<
            Box<dyn std::future::Future<Output = wasmtime::Result<T>> + Send + 'a>,
        > + Send
        + 'static,
    T: Send + 'static,
{
    let connector = scope.connector.clone();
    let card = scope.card.clone();
    let moved = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let Prepared { mut store, capture } =
        prepare(engine, scope.clone(), broker, limits, moved.clone());
    let pre = pre.clone();
    let work = async move {
        let result = async {
            let world = pre.instantiate_async(&mut store).await?;
            call(&world, &mut store).await
        }
        .await;
        let memory_hit = store.data().memory.hit;
        (result, memory_hit)
    };
    // The epoch deadline stops guest code; this timeout also stops host work
    // in flight (an HTTP request), dropping it.
    let grace = Duration::from_millis(100);
    let outcome =
        tokio::time::timeout(limits.deadline + grace, executor.run_moving(work, moved)).await;
    let output = collect_output(&capture, &scope);
    let result = match outcome {
        Err(_) => Err(InvokeError::DeadlineExceeded {
            connector,
            card,
            deadline_ms: limits.deadline.as_millis() as u64,
        }),
        Ok(Err(lost)) => Err(InvokeError::Host {
            connector,
            card,
            message: lost.to_string(),
        }),
        Ok(Ok((Err(err), memory_hit))) => Err(classify_trap(
            err,
            &connector,
            &card,
            limits,
            memory_hit,
            stderr_tail(&output),
        )),
        Ok(Ok((Ok(value), _))) => Ok(value),
    };
    CallResult { result, output }
}

/// A finished invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Invocation {
    /// Unique id.
    pub id: String,
    /// Connector id.
    pub connector: String,
    /// Connector version.
    pub connector_version: String,
    /// Card id.
    pub card: String,
    /// Connection id, if any.
    pub connection: Option<String>,
    /// The output (validated).
    pub output: Value,
    /// What the guest logged.
    pub logs: GuestOutput,
    /// Upstream requests and refusals.
    pub journal: Journal,
    /// Wall time.
    pub duration_ms: u64,
}

/// A failed invocation, with what was recorded before it failed.
#[derive(Debug)]
pub struct FailedInvocation {
    /// Unique id.
    pub id: String,
    /// The error.
    pub error: InvokeError,
    /// What the guest logged.
    pub logs: GuestOutput,
    /// Upstream requests and refusals.
    pub journal: Journal,
    /// Wall time.
    pub duration_ms: u64,
}

impl std::fmt::Display for FailedInvocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)
    }
}

impl std::error::Error for FailedInvocation {}

/// A fresh invocation id.
pub fn new_invocation_id() -> String {
    let bytes: [u8; 12] = rand::random();
    format!("inv_{}", hex::encode(bytes))
}

/// The context a guest sees.
pub(crate) fn guest_context(
    invocation_id: &str,
    connection: Option<&str>,
    fields: &Value,
    scope: &RequestScope,
) -> wit::Context {
    wit::Context {
        invocation_id: invocation_id.to_string(),
        connection_id: connection.map(str::to_string),
        connection_fields: fields.to_string(),
        permissions: scope.usable.iter().map(|p| p.id.clone()).collect(),
    }
}

/// The host's cause of a card failure, when there is one: a broker refusal
/// during the call, or the deadline passing while a request was in flight
/// (the guest only saw an HTTP error). Otherwise the card's own error.
pub(crate) fn prefer_host_cause(
    err: InvokeError,
    scope: &RequestScope,
    deadline_ms: u64,
) -> InvokeError {
    let err = prefer_denial(err, scope);
    match err {
        InvokeError::Card {
            connector, card, ..
        } if tokio::time::Instant::now() >= scope.deadline => InvokeError::DeadlineExceeded {
            connector,
            card,
            deadline_ms,
        },
        err => err,
    }
}

/// If the broker refused a request during a failed call, that refusal is the
/// real story: report it instead of the guest's generic error.
fn prefer_denial(err: InvokeError, scope: &RequestScope) -> InvokeError {
    let denial = scope
        .journal
        .lock()
        .ok()
        .and_then(|j| j.denials.last().cloned());
    match (err, denial) {
        (
            InvokeError::Card {
                connector, card, ..
            },
            Some(d),
        ) => InvokeError::Denied {
            connector,
            card,
            kind: d.kind,
            message: d.message,
        },
        (err, _) => err,
    }
}

/// The input schema of the host's Custom API Action card.
pub fn custom_api_action_input_schema() -> Value {
    json!({
        "type": "object",
        "required": ["method", "relative_url"],
        "additionalProperties": false,
        "properties": {
            "method": {"type": "string", "enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], "description": "HTTP method."},
            "relative_url": {"type": "string", "pattern": "^/", "description": "Path relative to the connection's base URL, e.g. /api/v1/crews?per_page=5."},
            "query": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}, "description": "Query parameters."},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Request headers (credentials are added by cardhost and may not be set)."},
            "body": {"description": "Request body: JSON, or a string sent as is."}
        }
    })
}

/// The Custom API Action's input validator, compiled once per process.
pub(crate) fn custom_api_action_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: std::sync::LazyLock<jsonschema::Validator> = std::sync::LazyLock::new(|| {
        jsonschema::validator_for(&custom_api_action_input_schema())
            .expect("the Custom API Action input schema is a valid JSON Schema")
    });
    &VALIDATOR
}

/// The output schema of the Custom API Action card.
pub fn custom_api_action_output_schema() -> Value {
    json!({
        "type": "object",
        "required": ["status", "headers", "body"],
        "properties": {
            "status": {"type": "integer"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {"description": "JSON when the response is JSON, else text."}
        }
    })
}

/// Runs the host's Custom API Action: one raw request through the broker.
pub(crate) async fn custom_api_action(
    broker: &Broker,
    scope: &RequestScope,
    input: &Value,
) -> Result<Value, InvokeError> {
    use crate::bindings::types::Method;
    let method = match input["method"].as_str().unwrap_or_default() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        _ => Method::Delete,
    };
    let query = input["query"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut headers: Vec<(String, String)> = input["headers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let body = match &input["body"] {
        Value::Null => None,
        Value::String(s) => Some(s.as_bytes().to_vec()),
        other => {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("content-type".into(), "application/json".into()));
            }
            Some(other.to_string().into_bytes())
        }
    };
    let request = Request {
        method,
        url: input["relative_url"].as_str().unwrap_or("/").to_string(),
        query,
        headers,
        body,
    };
    let connector = scope.connector.clone();
    let card = scope.card.clone();
    match broker
        .send(scope, request)
        .await
        .map(|r| scope.scrub_response(r))
    {
        Ok(response) => {
            let body = serde_json::from_slice::<Value>(&response.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&response.body).into_owned())
            });
            let headers: serde_json::Map<String, Value> = response
                .headers
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            Ok(json!({"status": response.status, "headers": headers, "body": body}))
        }
        Err(HttpError::Denied(Denial { kind, message })) => Err(InvokeError::Denied {
            connector,
            card,
            kind: denial_kind_name(kind).to_string(),
            message,
        }),
        Err(other) => {
            let _ = DenialKind::HostNotAllowed;
            Err(InvokeError::Card {
                connector,
                card,
                failure: CardFailure::Upstream {
                    status: None,
                    message: scope.guest_text(&format!("{other:?}")),
                },
            })
        }
    }
}

/// Maps the guest's card result.
pub(crate) fn card_result(
    result: Result<String, ConnectorError>,
    loaded: &LoadedConnector,
    scope: &RequestScope,
) -> Result<String, InvokeError> {
    result.map_err(|e| InvokeError::Card {
        connector: loaded.manifest.id().to_string(),
        card: scope.card.clone(),
        failure: CardFailure::from_wit(e, &|t| scope.guest_text(t)),
    })
}
