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
//!
//! The cache is native code the process will run, so it is guarded against
//! being swapped:
//!
//! - At start-up the cache directory is created with mode 0700 if missing,
//!   and refused (an error from [`Runtime::new`]) if it is a symbolic link,
//!   not a directory, not owned by the running user, or writable by group or
//!   others (on Unix; elsewhere these checks are skipped).
//! - Each entry is one file: a header line
//!   `cardhost-cwasm-v1 sha256:<64 hex digits>\n` holding the SHA-256 of the
//!   artifact, then the artifact wasmtime produced. Header and artifact are
//!   written together into a fresh temp file (`create_new`, mode 0600,
//!   fsynced) that is renamed over the entry, so there is no moment at which
//!   a digest and an artifact that do not belong together are on disk, and a
//!   write never follows a symbolic link planted at either name.
//! - An entry is loaded only if it is a regular file (a symbolic link is
//!   refused, not followed), its bytes read into memory hash to the recorded
//!   digest, and wasmtime accepts them; the component is deserialized from
//!   those verified bytes in memory, never from the path, so the file cannot
//!   change between the check and the use. An entry that fails any of this
//!   (tampered, torn, written by an older cardhost without a digest) is
//!   logged, recompiled and overwritten; its contents are never executed.
//!
//! The digest detects an artifact changed on its own; it is not a secret, so
//! it does not stop whoever can write the directory from writing a matching
//! header too. The directory checks are what keep others out of it.

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

/// WebAssembly proposals a connector may use: what Rust's `wasm32-wasip2`
/// output needs (the MVP with mutable globals, sign extension, saturating
/// float conversions, multi-value, bulk memory, reference types and SIMD),
/// and nothing else. Threads, shared memory, GC, exceptions, memory64, tail
/// calls, stack switching, custom page sizes and the component model's
/// async features stay off: each is engine code a hostile connector could
/// reach, and no connector needs them. A component that uses one fails to
/// load, naming the feature (see [`explain_feature_error`]).
const REFUSED_FEATURES: &[wasmtime::WasmFeatures] = &[
    wasmtime::WasmFeatures::THREADS,
    wasmtime::WasmFeatures::SHARED_EVERYTHING_THREADS,
    wasmtime::WasmFeatures::GC,
    wasmtime::WasmFeatures::FUNCTION_REFERENCES,
    wasmtime::WasmFeatures::EXCEPTIONS,
    wasmtime::WasmFeatures::LEGACY_EXCEPTIONS,
    wasmtime::WasmFeatures::MEMORY64,
    wasmtime::WasmFeatures::MULTI_MEMORY,
    wasmtime::WasmFeatures::TAIL_CALL,
    wasmtime::WasmFeatures::STACK_SWITCHING,
    wasmtime::WasmFeatures::CUSTOM_PAGE_SIZES,
    wasmtime::WasmFeatures::WIDE_ARITHMETIC,
    wasmtime::WasmFeatures::RELAXED_SIMD,
    wasmtime::WasmFeatures::CM_ASYNC,
    wasmtime::WasmFeatures::CM_MORE_ASYNC_BUILTINS,
    wasmtime::WasmFeatures::CM_ASYNC_STACKFUL,
    wasmtime::WasmFeatures::CM_THREADING,
    wasmtime::WasmFeatures::CM_ERROR_CONTEXT,
    wasmtime::WasmFeatures::CM_GC,
];

/// A compile error in words a connector author can act on: which refused
/// WebAssembly feature the component uses, when that is the cause.
pub fn explain_feature_error(message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let hints: &[(&str, &str)] = &[
        ("thread", "threads"),
        ("shared", "threads (shared memory)"),
        ("atomic", "threads (atomics)"),
        ("memory64", "memory64"),
        ("multiple memories", "multi-memory"),
        ("multi-memory", "multi-memory"),
        ("gc proposal", "garbage collection"),
        ("gc types", "garbage collection"),
        ("exception", "exceptions"),
        ("tail call", "tail calls"),
        ("function references", "function references"),
        ("custom page", "custom page sizes"),
        ("relaxed simd", "relaxed SIMD"),
        ("stack switching", "stack switching"),
        ("async", "component-model async"),
    ];
    if !(lower.contains("support") || lower.contains("proposal") || lower.contains("feature")) {
        return None;
    }
    hints
        .iter()
        .find(|(k, _)| lower.contains(k))
        .map(|(_, name)| {
            format!(
                "it uses the WebAssembly feature `{name}`, which cardhost does not enable \
             (connectors may use what Rust's wasm32-wasip2 target emits by default): {message}"
            )
        })
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    for feature in REFUSED_FEATURES {
        config.wasm_features(*feature, false);
    }
    config.epoch_interruption(true);
    config.memory_init_cow(true);
    config.parallel_compilation(true);
    config
}

fn pooling(limits: &Limits) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    let instances = limits.max_concurrent_instances.max(1);
    let per = |n: u32| n.max(1);
    pool.total_component_instances(instances);
    pool.total_core_instances(instances * per(limits.max_core_instances_per_component));
    pool.total_memories(instances * per(limits.max_memories_per_component));
    pool.total_tables(instances * per(limits.max_tables_per_component));
    pool.total_stacks(instances);
    pool.max_core_instances_per_component(limits.max_core_instances_per_component);
    pool.max_memories_per_component(limits.max_memories_per_component);
    pool.max_tables_per_component(limits.max_tables_per_component);
    pool.max_memories_per_module(1);
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
    // What is still decommitted goes at once, not in batches: a batch lets
    // every queued slot keep the memory its instance dirtied, so a string
    // of hostile calls that fill their memory would hold the cap many times
    // over (BENCHMARKS.md, "Host memory under hostile cards"). An honest
    // card dirties less than the resident part of its memory and stack,
    // so it is reset in place and queues nothing.
    pool.decommit_batch_size(1);
    pool.async_stack_keep_resident(ASYNC_STACK_KEEP_RESIDENT);
    pool
}

/// Bytes of each pooled async stack zeroed in place (not decommitted)
/// between instances: more than a card's call uses.
const ASYNC_STACK_KEEP_RESIDENT: usize = 128 << 10;

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
            prepare_cache_dir(dir)?;
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
    ///
    /// A cached entry is used only after its bytes, read into memory, match
    /// the SHA-256 recorded when it was compiled; anything else is recompiled
    /// and the entry overwritten. The cache is written atomically (temp file
    /// + rename) so a crash never leaves a torn artifact behind.
    pub fn compile(&self, bytes: &[u8]) -> wasmtime::Result<Component> {
        let Some(path) = self.cache_path(bytes) else {
            return Component::new(&self.engine, bytes);
        };
        match read_verified_entry(&path) {
            Ok(Some(artifact)) => {
                // SAFETY: `artifact` is in memory, so it cannot change
                // between the check and this use. It hashes to the digest in
                // its entry's header, which `compile` writes in one file with
                // the output of `precompile_component` of an engine with the
                // same compatibility hash (it is in the name), so it is not a
                // torn or altered artifact. The digest is no secret: what
                // keeps others from writing a forged entry is the check at
                // start-up that the cache directory is a real directory owned
                // by this user that no one else can write. wasmtime also
                // rejects an artifact of an incompatible engine.
                match unsafe { Component::deserialize(&self.engine, &artifact) } {
                    Ok(component) => return Ok(component),
                    Err(err) => {
                        tracing::warn!(path = %path.display(), %err, "ignoring unreadable cached component; recompiling");
                    }
                }
            }
            Ok(None) => {}
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "refusing cached component; recompiling");
            }
        }
        let compiled = self.engine.precompile_component(bytes)?;
        if let Err(err) = write_atomically(&path, &[&entry_header(&compiled), &compiled]) {
            tracing::warn!(path = %path.display(), %err, "could not cache compiled component");
        }
        // SAFETY: `compiled` was produced by this engine just now and is in
        // memory.
        unsafe { Component::deserialize(&self.engine, &compiled) }
    }
}

/// Writes `parts` to `path` atomically: into a new temp file beside it
/// (created exclusively, so never through a symbolic link, mode 0600),
/// fsynced, then renamed over `path` (which replaces a symbolic link there,
/// not its target).
fn write_atomically(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(
            ".{name}.{}.{:016x}.tmp",
            std::process::id(),
            rand::random::<u64>()
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&tmp) {
            Ok(file) => break (tmp, file),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    };
    let written = parts
        .iter()
        .try_for_each(|part| file.write_all(part))
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // Make the rename itself durable; the entry is already correct without.
    #[cfg(unix)]
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
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

/// Start of every cache entry, followed by the artifact's SHA-256 in hex and
/// a newline, then the artifact.
const ENTRY_MAGIC: &[u8] = b"cardhost-cwasm-v1 sha256:";

/// Length of the whole header: magic, 64 hex digits, newline.
const ENTRY_HEADER_LEN: usize = ENTRY_MAGIC.len() + 64 + 1;

/// The header recording `artifact`'s digest.
fn entry_header(artifact: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(ENTRY_HEADER_LEN);
    header.extend_from_slice(ENTRY_MAGIC);
    header.extend_from_slice(hex::encode(Sha256::digest(artifact)).as_bytes());
    header.push(b'\n');
    header
}

/// The artifact of a cache entry whose recorded digest matches it, or why
/// the entry must not be used.
fn verify_entry(mut entry: Vec<u8>) -> Result<Vec<u8>, String> {
    let Some(rest) = entry.strip_prefix(ENTRY_MAGIC) else {
        return Err("no recorded digest (not written by this version of cardhost)".into());
    };
    let (Some(recorded), Some(b'\n')) = (rest.get(..64), rest.get(64)) else {
        return Err("truncated digest header".into());
    };
    let recorded = hex::decode(recorded).map_err(|_| "malformed recorded digest".to_string())?;
    let artifact = &rest[65..];
    let actual = Sha256::digest(artifact);
    if recorded.as_slice() != actual.as_slice() {
        return Err(format!(
            "artifact does not match its recorded digest (recorded {}, found {})",
            hex::encode(&recorded),
            hex::encode(actual)
        ));
    }
    entry.drain(..ENTRY_HEADER_LEN);
    Ok(entry)
}

/// `O_NOFOLLOW` where its value is known without libc (it differs between
/// architectures: 0o400000 on x86_64, 0o100000 on aarch64). Elsewhere the
/// `lstat` before and `fstat` after the open (same device and inode, regular
/// file) catch a symbolic link swapped in between.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const O_NOFOLLOW: i32 = 0o400000;
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
const O_NOFOLLOW: i32 = 0o100000;

/// Reads the cache entry at `path` without following symbolic links and
/// returns its artifact if it matches its recorded digest. `Ok(None)`: there
/// is no entry; `Err`: there is one and it must not be used (why).
fn read_verified_entry(path: &Path) -> Result<Option<Vec<u8>>, String> {
    use std::io::Read;
    let before = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(format!("cannot inspect it: {err}")),
    };
    if before.file_type().is_symlink() {
        return Err("it is a symbolic link".into());
    }
    if !before.is_file() {
        return Err("it is not a regular file".into());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(O_NOFOLLOW);
    }
    let mut file = options
        .open(path)
        .map_err(|err| format!("cannot open it: {err}"))?;
    let after = file
        .metadata()
        .map_err(|err| format!("cannot inspect it: {err}"))?;
    if !after.is_file() {
        return Err("it is not a regular file".into());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (before.dev(), before.ino()) != (after.dev(), after.ino()) {
            return Err("it was replaced while being opened".into());
        }
    }
    let mut entry = Vec::with_capacity(usize::try_from(after.len()).unwrap_or(0));
    file.read_to_end(&mut entry)
        .map_err(|err| format!("cannot read it: {err}"))?;
    verify_entry(entry).map(Some)
}

/// Creates the cache directory (mode 0700) if missing, then refuses one that
/// someone else could write (see the module documentation).
fn prepare_cache_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            create_private_dir(dir).map_err(|err| {
                anyhow::anyhow!(
                    "cannot create component cache directory {}: {err}",
                    dir.display()
                )
            })?;
        }
        Err(err) => {
            anyhow::bail!(
                "cannot inspect component cache directory {}: {err}",
                dir.display()
            )
        }
    }
    check_cache_dir(dir).map_err(|reason| {
        anyhow::anyhow!(
            "refusing component cache directory {}: {reason}",
            dir.display()
        )
    })
}

/// Creates `dir`'s missing parents as usual and `dir` itself with mode 0700.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    match builder.create(dir) {
        // Another process made it first: it is checked like any other.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        result => result,
    }
}

/// Why the existing `dir` must not hold the cache, if it must not.
#[cfg(unix)]
fn check_cache_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(dir).map_err(|err| format!("cannot inspect it: {err}"))?;
    if meta.file_type().is_symlink() {
        return Err("it is a symbolic link (give the real directory)".into());
    }
    if !meta.is_dir() {
        return Err("it is not a directory".into());
    }
    let euid = effective_uid().map_err(|err| format!("cannot tell which user this is: {err}"))?;
    if meta.uid() != euid {
        return Err(format!(
            "it is owned by uid {}, not by the user running cardhost (uid {euid})",
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "it is writable by group or others (mode {mode:04o}; `chmod go-w` it, 0700 is best)"
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_cache_dir(dir: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|err| format!("cannot inspect it: {err}"))?;
    if meta.file_type().is_symlink() {
        return Err("it is a symbolic link (give the real directory)".into());
    }
    if !meta.is_dir() {
        return Err("it is not a directory".into());
    }
    Ok(())
}

/// The effective uid of this process, without libc: on Linux the owner of
/// `/proc/self`; elsewhere (or without procfs) the owner of a file this
/// process creates.
#[cfg(unix)]
fn effective_uid() -> std::io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    #[cfg(target_os = "linux")]
    if let Ok(meta) = std::fs::metadata("/proc/self") {
        return Ok(meta.uid());
    }
    let probe = std::env::temp_dir().join(format!(
        ".cardhost-uid-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    let uid = file.metadata().map(|meta| meta.uid());
    let _ = std::fs::remove_file(&probe);
    uid
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// The empty component, in binary (wasmtime's `wat` feature is off).
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";
    /// A component holding one empty core module: another valid component,
    /// whose artifact an attacker could swap in for `EMPTY`'s.
    const OTHER: &[u8] = b"\0asm\x0d\0\x01\0\x01\x08\0asm\x01\0\0\0";

    fn runtime(dir: &Path) -> Runtime {
        Runtime::new(&Limits::default(), Some(dir.to_path_buf())).unwrap()
    }

    /// A temp dir and a cache dir inside it that does not exist yet.
    fn scratch() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        (tmp, dir)
    }

    fn artifact(runtime: &Runtime, bytes: &[u8]) -> Vec<u8> {
        runtime.engine().precompile_component(bytes).unwrap()
    }

    fn entry_of(runtime: &Runtime, bytes: &[u8]) -> Vec<u8> {
        let artifact = artifact(runtime, bytes);
        [entry_header(&artifact), artifact].concat()
    }

    /// Instantiates `component`, to show it works.
    fn instantiate(runtime: &Runtime, component: &Component) {
        let mut store = wasmtime::Store::new(runtime.engine(), ());
        wasmtime::component::Linker::<()>::new(runtime.engine())
            .instantiate(&mut store, component)
            .unwrap();
    }

    /// `compile` gave `EMPTY`'s fresh artifact, and rewrote the cache entry
    /// as a private regular file with the right digest.
    fn assert_recompiled(runtime: &Runtime, component: &Component, path: &Path) {
        // (`assert!`, not `assert_eq!`: a mismatch would print megabytes.)
        let fresh = artifact(runtime, EMPTY);
        assert!(fresh != artifact(runtime, OTHER));
        assert!(
            component.serialize().unwrap() == fresh,
            "loaded code other than the component's own"
        );
        instantiate(runtime, component);
        let meta = std::fs::symlink_metadata(path).unwrap();
        assert!(meta.is_file(), "entry is not a regular file: {meta:?}");
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert!(
            std::fs::read(path).unwrap() == entry_of(runtime, EMPTY),
            "entry not rewritten with the artifact and its digest"
        );
    }

    #[test]
    fn cached_entry_is_reused_with_its_digest() {
        let (_tmp, dir) = scratch();
        let runtime = runtime(&dir);
        let first = runtime.compile(EMPTY).unwrap();
        let path = runtime.cache_path(EMPTY).unwrap();
        assert_recompiled(&runtime, &first, &path);
        let again = runtime.compile(EMPTY).unwrap();
        assert!(again.serialize().unwrap() == first.serialize().unwrap());
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [path.file_name().unwrap()], "temp files left behind");
    }

    #[test]
    fn tampered_artifact_is_recompiled_not_loaded() {
        let (_tmp, dir) = scratch();
        let runtime = runtime(&dir);
        runtime.compile(EMPTY).unwrap();
        let path = runtime.cache_path(EMPTY).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = ENTRY_HEADER_LEN + (bytes.len() - ENTRY_HEADER_LEN) / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            read_verified_entry(&path)
                .unwrap_err()
                .contains("does not match its recorded digest")
        );
        let component = runtime.compile(EMPTY).unwrap();
        assert_recompiled(&runtime, &component, &path);
    }

    #[test]
    fn swapped_artifact_is_not_executed() {
        let (_tmp, dir) = scratch();
        let runtime = runtime(&dir);
        runtime.compile(EMPTY).unwrap();
        let path = runtime.cache_path(EMPTY).unwrap();
        let other = artifact(&runtime, OTHER);
        let swaps = [
            // A bare artifact, as an older cardhost wrote them: no digest.
            other.clone(),
            // `EMPTY`'s header, another component's (valid) artifact.
            [entry_header(&artifact(&runtime, EMPTY)), other].concat(),
        ];
        for swap in swaps {
            std::fs::write(&path, &swap).unwrap();
            assert!(read_verified_entry(&path).is_err());
            let component = runtime.compile(EMPTY).unwrap();
            assert_recompiled(&runtime, &component, &path);
        }
    }

    #[test]
    fn symlinked_artifact_is_not_followed() {
        let (tmp, dir) = scratch();
        let runtime = runtime(&dir);
        let path = runtime.cache_path(EMPTY).unwrap();
        let target = tmp.path().join("elsewhere.cwasm");
        let targets = [
            artifact(&runtime, OTHER),
            // Even a well-formed entry is not read through a link.
            entry_of(&runtime, OTHER),
        ];
        for contents in targets {
            std::fs::write(&target, &contents).unwrap();
            let _ = std::fs::remove_file(&path);
            std::os::unix::fs::symlink(&target, &path).unwrap();
            assert!(
                read_verified_entry(&path)
                    .unwrap_err()
                    .contains("symbolic link")
            );
            let component = runtime.compile(EMPTY).unwrap();
            assert_recompiled(&runtime, &component, &path);
            assert!(
                std::fs::read(&target).unwrap() == contents,
                "the write went through the link"
            );
        }
    }

    #[test]
    fn missing_cache_dir_is_created_private() {
        let (tmp, _) = scratch();
        let dir = tmp.path().join("a").join("b").join("cache");
        runtime(&dir);
        let meta = std::fs::symlink_metadata(&dir).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.mode() & 0o777, 0o700);
    }

    fn refusal(dir: &Path) -> String {
        let err = Runtime::new(&Limits::default(), Some(dir.to_path_buf())).unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.contains(&dir.display().to_string()),
            "does not name {}: {message}",
            dir.display()
        );
        message
    }

    #[test]
    fn cache_dir_writable_by_others_is_refused() {
        let (_tmp, dir) = scratch();
        std::fs::create_dir(&dir).unwrap();
        for mode in [0o777, 0o770, 0o702] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
            let message = refusal(&dir);
            assert!(message.contains("writable by group or others"), "{message}");
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        runtime(&dir);
    }

    #[test]
    fn cache_dir_that_is_a_symlink_is_refused() {
        let (tmp, dir) = scratch();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(&real, &dir).unwrap();
        let message = refusal(&dir);
        assert!(message.contains("symbolic link"), "{message}");
    }

    #[test]
    fn cache_dir_that_is_a_file_is_refused() {
        let (_tmp, dir) = scratch();
        std::fs::write(&dir, b"").unwrap();
        let message = refusal(&dir);
        assert!(message.contains("not a directory"), "{message}");
    }

    #[test]
    fn cache_dir_owned_by_another_user_is_refused() {
        let (_tmp, dir) = scratch();
        std::fs::create_dir(&dir).unwrap();
        let me = effective_uid().unwrap();
        assert_eq!(me, std::fs::metadata(&dir).unwrap().uid());
        if me != 0 {
            // Only root can give a directory away.
            eprintln!("skipped: needs root to chown");
            return;
        }
        std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
        let message = refusal(&dir);
        assert!(message.contains("owned by uid 65534"), "{message}");
    }
}
