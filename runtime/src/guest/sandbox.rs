//! One call in a fresh instance: the store and its limits (memory across
//! every memory, instance, memory and table counts, hostcall fuel), the
//! epoch deadline that also moves a computing guest off the caller's
//! threads, and the mapping of every way a call can end to an
//! [`ErrorKind`].

use super::GuestState;
use super::log::{Capture, CapturedStream, GuestOutput, collect_output};
use crate::bindings::{World, WorldPre};
use crate::broker::{Broker, RequestScope};
use crate::error::ErrorKind;
use crate::executor::GuestExecutor;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::WasiCtxBuilder;

/// The resource limiter of one instance: memory counted across all of its
/// memories, and how many instances, memories and tables it may create.
pub(crate) struct GuestLimiter {
    pub(crate) limit: usize,
    /// Bytes of linear memory allowed so far, over every memory.
    total: usize,
    pub(crate) hit: bool,
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
/// the invocation ends in [`ErrorKind::LimitExceeded`].
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct LimitHit {
    /// The limit's name in `[limits]`.
    pub limit: &'static str,
    /// What was over it.
    pub message: String,
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

/// A call that ended, successfully or not, with what it left behind.
pub(crate) struct CallResult<T> {
    pub result: Result<T, ErrorKind>,
    pub output: GuestOutput,
}

/// How a call that returned an error ended, by cause.
fn classify_trap(
    err: wasmtime::Error,
    limits: CallLimits,
    memory_hit: bool,
    stderr_tail: String,
) -> ErrorKind {
    if let Some(trap) = err.downcast_ref::<wasmtime::Trap>()
        && *trap == wasmtime::Trap::Interrupt
    {
        return ErrorKind::DeadlineExceeded {
            deadline_ms: limits.deadline.as_millis() as u64,
        };
    }
    if memory_hit {
        return ErrorKind::MemoryLimit {
            limit_bytes: limits.memory_bytes,
        };
    }
    if let Some(hit) = err.downcast_ref::<LimitHit>() {
        return ErrorKind::LimitExceeded {
            limit: hit.limit.into(),
            message: hit.message.clone(),
        };
    }
    if err
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return ErrorKind::Saturated {
            message: format!("every instance slot is in use: {err}"),
        };
    }
    let text = format!("{err:#}");
    if let Some((limit, message)) = wasmtime_limit(&text, limits) {
        return ErrorKind::LimitExceeded {
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
    ErrorKind::Trap { message }
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
    pre: &WorldPre<GuestState>,
    scope: Arc<RequestScope>,
    broker: Arc<Broker>,
    limits: CallLimits,
    call: F,
) -> CallResult<T>
where
    F: for<'a> FnOnce(
            &'a World,
            &'a mut Store<GuestState>,
        ) -> Pin<
            Box<dyn std::future::Future<Output = wasmtime::Result<T>> + Send + 'a>,
        > + Send
        + 'static,
    T: Send + 'static,
{
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
        Err(_) => Err(ErrorKind::DeadlineExceeded {
            deadline_ms: limits.deadline.as_millis() as u64,
        }),
        Ok(Err(lost)) => Err(ErrorKind::Host {
            message: lost.to_string(),
        }),
        Ok(Ok((Err(err), memory_hit))) => {
            Err(classify_trap(err, limits, memory_hit, stderr_tail(&output)))
        }
        Ok(Ok((Ok(value), _))) => Ok(value),
    };
    CallResult { result, output }
}
