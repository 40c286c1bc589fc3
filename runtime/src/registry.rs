//! The registry: every loaded connector, validated and ready to instantiate.
//!
//! Loading a component: check it is a component → compile (or load it from
//! the cache) → read the `cardhost:connector` WIT version it was built
//! against and refuse an unknown major → instantiate once to read its
//! manifest → validate the manifest. A bad file is skipped with a message
//! naming the file and the reason; the rest still load.

use crate::bindings::{WIT_PACKAGE, WIT_VERSION, WIT_VERSIONS, WitVersion, WorldPre};
use crate::broker::{Broker, RequestScope};
use crate::catalog::Catalog;
use crate::engine::{Runtime, check_is_component};
use crate::executor::GuestExecutor;
use crate::guest::{CallLimits, GuestState};
use crate::manifest::Manifest;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, Linker};

/// Where a connector came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "kebab-case")]
pub enum Source {
    /// Built into the binary.
    Builtin(String),
    /// A file in the connectors directory (or given on the command line).
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Builtin(name) => write!(f, "built-in connector `{name}`"),
            Source::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A connector ready to run.
pub struct LoadedConnector {
    /// Its validated manifest.
    pub manifest: Manifest,
    /// Where it came from.
    pub source: Source,
    /// SHA-256 of the component.
    pub sha256: String,
    /// Every card it offers, the host's included.
    pub catalog: Catalog,
    /// What loads but is probably a mistake (see `cardhost validate`).
    pub warnings: Vec<String>,
    pub(crate) pre: WorldPre<GuestState>,
}

impl std::fmt::Debug for LoadedConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedConnector")
            .field("id", &self.manifest.id())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Why a connector was not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{origin}: {reason}")]
pub struct LoadError {
    /// The file (or built-in) at fault.
    pub origin: String,
    /// What is wrong, for the author.
    pub reason: String,
}

/// All loaded connectors.
#[derive(Debug, Default)]
pub struct Registry {
    connectors: BTreeMap<String, Arc<LoadedConnector>>,
    errors: Vec<LoadError>,
}

/// The WIT version a component was built against, from its export names.
pub fn wit_version(component: &Component, engine: &wasmtime::Engine) -> Result<String, String> {
    let ty = component.component_type();
    let prefix = format!("{WIT_PACKAGE}/connector@");
    let mut exports = Vec::new();
    for (name, _) in ty.exports(engine) {
        if let Some(version) = name.strip_prefix(&prefix) {
            return Ok(version.to_string());
        }
        exports.push(name.to_string());
    }
    Err(format!(
        "this component does not export `{WIT_PACKAGE}/connector`: it is built for another world (exports: {}). \
         Build it with cardhost-sdk and `export_connector!`",
        if exports.is_empty() {
            "none".to_string()
        } else {
            exports.join(", ")
        }
    ))
}

/// The WIT version a connector was built against, if this host loads it:
/// same major, and before 1.0 a minor the host lists (semver's rule for
/// 0.x).
pub fn check_wit_version(version: &str) -> Result<WitVersion, String> {
    WitVersion::of(version).ok_or_else(|| {
        format!(
            "built against {WIT_PACKAGE}@{version}, but this host loads {WIT_PACKAGE}@{}; \
             rebuild the connector with a cardhost-sdk for {WIT_VERSION}",
            WIT_VERSIONS.join(", @")
        )
    })
}

impl LoadedConnector {
    /// The WIT version the connector was built against.
    pub fn wit_version(&self) -> WitVersion {
        self.pre.version()
    }
}

impl Registry {
    /// Loaded connectors by id.
    pub fn connectors(&self) -> impl Iterator<Item = &Arc<LoadedConnector>> {
        self.connectors.values()
    }

    /// One connector.
    pub fn get(&self, id: &str) -> Option<&Arc<LoadedConnector>> {
        self.connectors.get(id)
    }

    /// What failed to load.
    pub fn errors(&self) -> &[LoadError] {
        &self.errors
    }

    /// Records a load failure found outside [`Registry::load`].
    pub fn push_error(&mut self, error: LoadError) {
        self.errors.push(error);
    }

    /// Loads every source, skipping (and recording) the bad ones.
    pub async fn load(
        runtime: &Runtime,
        executor: &GuestExecutor,
        linker: &Linker<GuestState>,
        broker: &Arc<Broker>,
        limits: CallLimits,
        sources: Vec<(Source, Vec<u8>)>,
    ) -> Self {
        let mut registry = Registry::default();
        for (source, bytes) in sources {
            match load_one(
                runtime,
                executor,
                linker,
                broker,
                limits,
                source.clone(),
                &bytes,
            )
            .await
            {
                Ok(loaded) => {
                    let id = loaded.manifest.id().to_string();
                    if let Some(existing) = registry.connectors.get(&id) {
                        registry.errors.push(LoadError {
                            origin: source.to_string(),
                            reason: format!(
                                "connector id `{id}` is already provided by {}",
                                existing.source
                            ),
                        });
                        continue;
                    }
                    tracing::info!(connector = %id, %source, "loaded connector");
                    registry.connectors.insert(id, Arc::new(loaded));
                }
                Err(err) => {
                    // Callers report load errors to the user.
                    tracing::debug!(%err, "skipped connector");
                    registry.errors.push(err);
                }
            }
        }
        registry
    }
}

/// Reads `*.wasm` files in `dir`, sorted by name.
pub fn read_dir(dir: &Path) -> Result<Vec<(Source, Vec<u8>)>, LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|e| LoadError {
        origin: dir.display().to_string(),
        reason: format!("cannot read the connectors directory: {e}"),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        match std::fs::read(&path) {
            Ok(bytes) => out.push((Source::File(path), bytes)),
            Err(e) => tracing::warn!(path = %path.display(), %e, "cannot read connector file"),
        }
    }
    Ok(out)
}

/// A compile failure in words that name the cause: a refused WebAssembly
/// feature, or a runtime limit the component is over.
fn explain_compile_error(text: &str) -> String {
    if let Some(feature) = crate::engine::explain_feature_error(text) {
        return feature;
    }
    if text.contains("exceeds the configured maximum") {
        let limit = if text.contains("memories") {
            "max_memories_per_component"
        } else if text.contains("tables") {
            "max_tables_per_component"
        } else if text.contains("instances") {
            "max_core_instances_per_component"
        } else {
            "memory_bytes"
        };
        return format!("it needs more than one instance may have (limits.{limit}): {text}");
    }
    format!("not a valid component: {text}")
}

/// Refuses a component that needs more memories or tables than one
/// instance may have, before anything is instantiated.
fn check_resources(
    component: &Component,
    bytes: &[u8],
    limits: CallLimits,
) -> Result<wasmtime::ResourcesRequired, String> {
    let instances = core_instantiations(bytes);
    if instances > limits.max_core_instances {
        return Err(format!(
            "it instantiates {instances} core modules; limits.max_core_instances_per_component is {}",
            limits.max_core_instances
        ));
    }
    let Some(needed) = component.resources_required() else {
        return Err(
            "it instantiates core modules it imports, so what it needs cannot be checked".into(),
        );
    };
    if needed.num_memories as usize > limits.max_memories {
        return Err(format!(
            "it defines {} linear memories; limits.max_memories_per_component is {}",
            needed.num_memories, limits.max_memories
        ));
    }
    if needed.num_tables as usize > limits.max_tables {
        return Err(format!(
            "it defines {} tables; limits.max_tables_per_component is {}",
            needed.num_tables, limits.max_tables
        ));
    }
    if let Some(pages) = needed.max_initial_memory_size {
        let bytes = pages.saturating_mul(64 << 10);
        if bytes > limits.memory_bytes as u64 {
            return Err(format!(
                "a memory starts at {bytes} bytes, over limits.memory_bytes ({})",
                limits.memory_bytes
            ));
        }
    }
    Ok(needed)
}

/// Initial linear memory below which a typical card grows memory while it
/// runs: the SDK's documented `--initial-memory` link flag.
const RECOMMENDED_INITIAL_MEMORY: u64 = 4 << 20;

/// A warning when the component's memory starts small: each `memory.grow`
/// costs the host two `mprotect` calls and a TLB shootdown.
fn memory_warning(initial_pages: Option<u64>) -> Option<String> {
    let bytes = initial_pages?.saturating_mul(64 << 10);
    (bytes < RECOMMENDED_INITIAL_MEMORY).then(|| {
        format!(
            "its memory starts at {} KiB, so cards grow it while they run; link with \
             `-C link-arg=--initial-memory={RECOMMENDED_INITIAL_MEMORY}` \
             (`[target.wasm32-wasip2] rustflags` in `.cargo/config.toml`)",
            bytes >> 10
        )
    })
}

/// Core module instantiations declared anywhere in a component (nested
/// components included). The pooling allocator and the store's limiter
/// enforce the same cap at run time; this names it before anything runs.
fn core_instantiations(bytes: &[u8]) -> usize {
    let mut count = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let Ok(wasmparser::Payload::InstanceSection(reader)) = payload else {
            continue;
        };
        count += reader
            .into_iter()
            .filter(|i| matches!(i, Ok(wasmparser::Instance::Instantiate { .. })))
            .count();
    }
    count
}

/// Loads one component.
pub async fn load_one(
    runtime: &Runtime,
    executor: &GuestExecutor,
    linker: &Linker<GuestState>,
    broker: &Arc<Broker>,
    limits: CallLimits,
    source: Source,
    bytes: &[u8],
) -> Result<LoadedConnector, LoadError> {
    let fail = |reason: String| LoadError {
        origin: source.to_string(),
        reason,
    };
    check_is_component(bytes).map_err(fail)?;
    // Compiling is CPU work of seconds: it runs off the async workers.
    let component = crate::executor::blocking(|| runtime.compile(bytes))
        .map_err(|e| fail(explain_compile_error(&format!("{e:#}"))))?;
    let needed = check_resources(&component, bytes, limits).map_err(fail)?;
    let version = wit_version(&component, runtime.engine()).map_err(fail)?;
    let version = check_wit_version(&version).map_err(fail)?;
    let pre = linker.instantiate_pre(&component).map_err(|e| {
        fail(format!(
            "it imports something cardhost does not provide (connectors may use only WASI basics, `http` and `log`): {e:#}"
        ))
    })?;
    let pre = WorldPre::new(version, pre).map_err(|e| {
        fail(format!(
            "its exports do not match the connector world: {e:#}"
        ))
    })?;
    let manifest_limits = CallLimits {
        deadline: limits.deadline.min(Duration::from_secs(10)),
        ..limits
    };
    let scope = Arc::new(RequestScope::offline(
        &source.to_string(),
        tokio::time::Instant::now() + manifest_limits.deadline,
    ));
    let call = crate::guest::sandbox::run(
        runtime.engine(),
        executor,
        &pre,
        scope,
        broker.clone(),
        manifest_limits,
        |world, store| {
            Box::pin(async move {
                let manifest = world.call_manifest(store).await?;
                let triggers = world.call_triggers(store).await?;
                Ok((manifest, triggers))
            })
        },
    )
    .await;
    let (raw, raw_triggers) = call
        .result
        .map_err(|e| fail(format!("reading its manifest failed: {e}")))?;
    let manifest =
        Manifest::validate_with_triggers(raw, raw_triggers).map_err(|e| fail(e.to_string()))?;
    let mut warnings = manifest.warnings.clone();
    warnings.extend(memory_warning(needed.max_initial_memory_size));
    Ok(LoadedConnector {
        catalog: Catalog::of(&manifest),
        warnings,
        manifest,
        source,
        sha256: hex::encode(Sha256::digest(bytes)),
        pre,
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_small_initial_memory_is_a_warning() {
        let warning = super::memory_warning(Some(17)).expect("17 pages is small");
        assert!(warning.contains("1088 KiB"), "{warning}");
        assert!(warning.contains("--initial-memory=4194304"), "{warning}");
        assert!(super::memory_warning(Some(64)).is_none());
        assert!(super::memory_warning(None).is_none());
    }
    use super::*;

    #[test]
    fn wit_versions_follow_semver() {
        assert_eq!(check_wit_version("0.1.0"), Ok(WitVersion::V0_1));
        assert_eq!(check_wit_version("0.1.7"), Ok(WitVersion::V0_1));
        assert_eq!(check_wit_version("0.2.0"), Ok(WitVersion::V0_2));
        assert_eq!(check_wit_version("0.3.0"), Ok(WitVersion::V0_3));
        assert_eq!(check_wit_version("0.3.2"), Ok(WitVersion::V0_3));
        let err = check_wit_version("0.4.0").unwrap_err();
        assert!(err.contains("0.4.0") && err.contains(WIT_VERSION), "{err}");
        assert!(check_wit_version("1.0.0").is_err());
        assert!(check_wit_version("garbage").is_err());
    }
}
