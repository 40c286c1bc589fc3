//! The one wasmtime `Engine` of a process, and compiling components with an
//! on-disk cache.
//!
//! - Component model on, epoch interruption driven by a ticker thread, so a
//!   guest in an endless loop is stopped at its deadline.
//! - The pooling allocator when the address space allows it (instances start
//!   in microseconds), falling back to on-demand allocation otherwise.
//! - Copy-on-write memory images.
//! - Components compiled once and cached as `<sha256>-<engine hash>.cwasm`, so
//!   a restart or a second node with the same engine skips compilation.

use crate::config::Limits;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances. Deadlines are rounded up to this.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Which instance allocator the engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    /// Pre-reserved slots: fast instantiation.
    Pooling,
    /// Memory mapped per instance (when the pool could not be reserved).
    OnDemand,
}

/// The shared engine plus its epoch ticker and component cache.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    allocator: Allocator,
    cache_dir: Option<PathBuf>,
    /// Stops the epoch thread when the last clone of the runtime is dropped.
    _ticker: Arc<Ticker>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("allocator", &self.allocator)
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.memory_init_cow(true);
    config.parallel_compilation(true);
    config
}

fn pooling(limits: &Limits) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    let instances = limits.max_concurrent_instances.max(1);
    // A Rust component has a handful of core instances and one or two memories.
    pool.total_component_instances(instances);
    pool.total_core_instances(instances * 8);
    pool.total_memories(instances * 2);
    pool.total_tables(instances * 4);
    pool.total_stacks(instances);
    pool.max_memory_size(limits.memory_bytes);
    pool.max_core_instance_size(1 << 20);
    pool.max_component_instance_size(1 << 20);
    // Reset a freed slot in place instead of with `madvise`: the pages an
    // instance dirtied (found with the PAGEMAP_SCAN ioctl where the kernel
    // has it) are restored with `memset`/copies and stay resident, so the
    // next instance takes no page faults and the process no TLB-shootdown
    // IPIs. A card touches its stack top, data and a little heap, well
    // under this much; beyond it, pages are decommitted as before.
    pool.linear_memory_keep_resident(KEEP_RESIDENT);
    pool.table_keep_resident(64 << 10);
    pool.pagemap_scan(wasmtime::Enabled::Auto);
    // What is still decommitted goes in batches, not one syscall per slot.
    pool.decommit_batch_size(16);
    pool
}

/// Bytes of each pooled linear memory kept resident between instances.
const KEEP_RESIDENT: usize = 2 << 20;

impl Runtime {
    /// Builds the engine for these limits and starts the epoch ticker.
    pub fn new(limits: &Limits, cache_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let mut config = base_config();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(limits)));
        let (engine, allocator) = match Engine::new(&config) {
            Ok(engine) => (engine, Allocator::Pooling),
            Err(err) => {
                tracing::warn!(%err, "pooling allocator unavailable; using on-demand allocation");
                let mut config = base_config();
                config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
                let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("{e:#}"))?;
                (engine, Allocator::OnDemand)
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let stop_flag = stop.clone();
        std::thread::Builder::new()
            .name("cardhost-epoch".into())
            .spawn(move || {
                while !stop_flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Self {
            engine,
            allocator,
            cache_dir,
            _ticker: Arc::new(Ticker { stop }),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Which allocator is in use.
    pub fn allocator(&self) -> Allocator {
        self.allocator
    }

    /// Epoch ticks that make up `deadline`, rounded up.
    pub fn ticks_for(deadline: Duration) -> u64 {
        let tick = EPOCH_TICK.as_millis().max(1);
        (deadline.as_millis().div_ceil(tick) as u64).max(1)
    }

    fn engine_hash(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    fn cache_path(&self, bytes: &[u8]) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let digest = hex::encode(Sha256::digest(bytes));
        Some(dir.join(format!("{digest}-{}.cwasm", self.engine_hash())))
    }

    /// Compiles a component, or loads its precompiled form from the cache.
    /// The cache is written atomically (temp file + rename) so a crash never
    /// leaves a torn artifact behind.
    pub fn compile(&self, bytes: &[u8]) -> wasmtime::Result<Component> {
        let Some(path) = self.cache_path(bytes) else {
            return Component::new(&self.engine, bytes);
        };
        if path.exists() {
            // SAFETY: the file was written by `precompile_component` of an
            // engine with the same compatibility hash (it is in the name) and
            // only this process writes the cache directory.
            match unsafe { Component::deserialize_file(&self.engine, &path) } {
                Ok(component) => return Ok(component),
                Err(err) => {
                    tracing::warn!(path = %path.display(), %err, "ignoring unreadable cached component");
                }
            }
        }
        let compiled = self.engine.precompile_component(bytes)?;
        if let Err(err) = write_atomically(&path, &compiled) {
            tracing::warn!(path = %path.display(), %err, "could not cache compiled component");
        }
        // SAFETY: `compiled` was produced by this engine just now.
        unsafe { Component::deserialize(&self.engine, &compiled) }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Whether `bytes` are a component (not a core module, not garbage), with a
/// message a connector author can act on when they are not.
pub fn check_is_component(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Err("not a WebAssembly binary (no `\\0asm` header)".into());
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        return Err(
            "this is a core WebAssembly module, not a component: build with \
             `cargo build --target wasm32-wasip2` (which emits a component) and the cardhost-sdk"
                .into(),
        );
    }
    if !wasmparser::Parser::is_component(bytes) {
        return Err("unknown WebAssembly encoding (neither a module nor a component)".into());
    }
    Ok(())
}
