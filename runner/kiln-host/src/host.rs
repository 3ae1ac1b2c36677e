//! [`Host`]: the engine, the linker, the epoch ticker and the compile cache; loading plugins.

use crate::bindings::v0_1_0::file_scanner::FileScannerPre;
use crate::bindings::v0_1_0::signer::SignerPre;
use crate::bindings::v0_1_0::step::StepPre;
use crate::cache::{CacheOutcome, CompileCache, sha256_hex};
use crate::error::PluginError;
use crate::interface::{self, ComponentInterface};
use crate::manifest::{self, Manifest, World};
use crate::run::StepState;
use crate::signer::SignerState;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy};

/// How to build a [`Host`].
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where compiled components are cached; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// How often the epoch ticker thread advances the engine's epoch; deadlines are checked at
    /// this granularity.
    pub epoch_tick: Duration,
    /// Use wasmtime's pooling instance allocator (faster instantiation, reserves address space).
    pub pooling: bool,
    /// Most bytes of wasm stack a call may use (deeper recursion traps).
    pub max_wasm_stack: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            cache_dir: None,
            epoch_tick: Duration::from_millis(10),
            pooling: false,
            max_wasm_stack: 512 << 10,
        }
    }
}

/// Where a plugin's component comes from.
#[derive(Debug, Clone)]
pub enum PluginSource {
    /// Bytes in memory (built-ins, tests, a lock entry already fetched).
    Bytes {
        /// Name to use in errors until the manifest is read.
        name: String,
        /// The component.
        bytes: Arc<[u8]>,
        /// A manifest given by the caller (takes precedence over an embedded one).
        manifest: Option<Manifest>,
        /// Pinned lower-case hex sha256; a mismatch refuses the plugin.
        sha256: Option<String>,
    },
    /// A `.wasm` component on disk, with an optional sidecar manifest beside it.
    Path {
        /// The component file.
        path: PathBuf,
        /// Pinned lower-case hex sha256; a mismatch refuses the plugin.
        sha256: Option<String>,
        /// The project directory a repository-relative path must stay in: the component and
        /// its sidecar manifest are then read only if they resolve inside it (a link out of the
        /// project must not make kiln read a host file and echo it in an error).
        root: Option<PathBuf>,
    },
}

impl PluginSource {
    /// A component in memory.
    pub fn bytes(name: impl Into<String>, bytes: impl Into<Arc<[u8]>>) -> Self {
        PluginSource::Bytes {
            name: name.into(),
            bytes: bytes.into(),
            manifest: None,
            sha256: None,
        }
    }

    /// A component file.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        PluginSource::Path {
            path: path.into(),
            sha256: None,
            root: None,
        }
    }

    /// Read a component file (and its sidecar manifest) only from inside `root`.
    pub fn within(mut self, project: impl Into<PathBuf>) -> Self {
        if let PluginSource::Path { root, .. } = &mut self {
            *root = Some(project.into());
        }
        self
    }

    /// Pin the component's sha256 (lower-case hex, optionally prefixed `sha256:`).
    pub fn pinned(mut self, digest: &str) -> Self {
        let d = digest
            .strip_prefix("sha256:")
            .unwrap_or(digest)
            .to_ascii_lowercase();
        match &mut self {
            PluginSource::Bytes { sha256, .. } | PluginSource::Path { sha256, .. } => {
                *sha256 = Some(d)
            }
        }
        self
    }

    /// Supply the manifest (for components without an embedded one).
    pub fn with_manifest(mut self, m: Manifest) -> Self {
        if let PluginSource::Bytes { manifest, .. } = &mut self {
            *manifest = Some(m);
        }
        self
    }
}

pub(crate) struct HostInner {
    pub engine: Engine,
    pub linker: Linker<StepState>,
    pub signer_linker: Linker<SignerState>,
    pub strategy_linker: Linker<crate::strategy::StrategyState>,
    cache: Option<CompileCache>,
    stop_ticker: Arc<AtomicBool>,
    pub epoch_tick: Duration,
}

impl Drop for HostInner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// The plugin host. Cheap to clone; one per process is enough.
#[derive(Clone)]
pub struct Host {
    pub(crate) inner: Arc<HostInner>,
}

/// How a [`LoadedPlugin`] was loaded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadStats {
    /// Compiled, compiled and cached, or loaded from the cache.
    pub cache: CacheOutcome,
    /// Time to compile or deserialize.
    pub compile_or_load: Duration,
    /// Time to link and pre-instantiate.
    pub pre_instantiate: Duration,
}

/// A plugin ready to run: compiled, linked and pre-instantiated. Cheap to clone; calls on it
/// may run concurrently, each in its own store.
#[derive(Clone)]
pub struct LoadedPlugin {
    pub(crate) host: Arc<HostInner>,
    pub(crate) pre: StepWorld,
    /// The plugin's manifest.
    pub manifest: Arc<Manifest>,
    /// Lower-case hex sha256 of the component bytes.
    pub sha256: String,
    /// How it was loaded.
    pub load_stats: LoadStats,
}

/// A loaded step's world: a plain `step`, or a `file-scanner` the host feeds file by file.
#[derive(Clone)]
pub(crate) enum StepWorld {
    Step(StepPre<StepState>),
    FileScanner(FileScannerPre<StepState>),
}

/// A `signer` plugin ready to run (see [`Host::load_signer`] and [`LoadedSigner::sign`]).
#[derive(Clone)]
pub struct LoadedSigner {
    pub(crate) host: Arc<HostInner>,
    pub(crate) pre: SignerPre<SignerState>,
    /// The plugin's manifest.
    pub manifest: Arc<Manifest>,
    /// Lower-case hex sha256 of the component bytes.
    pub sha256: String,
    /// How it was loaded.
    pub load_stats: LoadStats,
}

impl std::fmt::Debug for LoadedSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedSigner")
            .field("name", &self.manifest.name)
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.manifest.name)
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl Host {
    /// Build the engine (Cranelift, component model, async, epoch interruption), the linker
    /// (WASI p2 + kiln imports), the compile cache, and start the epoch ticker thread.
    pub fn new(config: HostConfig) -> anyhow::Result<Host> {
        let mut cfg = Config::new();
        cfg.wasm_component_model(true);
        cfg.epoch_interruption(true);
        cfg.max_wasm_stack(config.max_wasm_stack);
        cfg.async_stack_size(config.max_wasm_stack + (1 << 20));
        if config.pooling {
            cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(Default::default()));
        }
        let engine = Engine::new(&cfg).map_err(|e| anyhow::anyhow!("wasmtime engine: {e}"))?;
        let mut linker: Linker<StepState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("linking WASI: {e}"))?;
        crate::bindings::v0_1_0::step::Step::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| anyhow::anyhow!("linking kiln imports: {e}"))?;
        // Signers get WASI (for their own stdio and clocks; no preopens or sockets are ever
        // configured for them) and the kiln imports including `signing`.
        let mut signer_linker: Linker<SignerState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut signer_linker)
            .map_err(|e| anyhow::anyhow!("linking WASI for signers: {e}"))?;
        crate::bindings::v0_1_0::signer::Signer::add_to_linker::<_, HasSelf<_>>(
            &mut signer_linker,
            |s| s,
        )
        .map_err(|e| anyhow::anyhow!("linking kiln signer imports: {e}"))?;
        let strategy_linker = crate::strategy::linker(&engine)?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(CompileCache::new(dir, &engine)?),
            None => None,
        };
        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (e, stop, tick) = (engine.clone(), stop_ticker.clone(), config.epoch_tick);
        std::thread::Builder::new()
            .name("kiln-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    e.increment_epoch();
                }
            })?;
        Ok(Host {
            inner: Arc::new(HostInner {
                engine,
                linker,
                signer_linker,
                strategy_linker,
                cache,
                stop_ticker,
                epoch_tick: config.epoch_tick,
            }),
        })
    }

    /// The compile cache, if configured.
    pub fn cache(&self) -> Option<&CompileCache> {
        self.inner.cache.as_ref()
    }

    /// Load a `step` or `file-scanner` plugin: read, check the pinned digest, find the manifest,
    /// compile (or load from the cache), link and pre-instantiate.
    pub fn load(&self, source: PluginSource) -> Result<LoadedPlugin, PluginError> {
        let (component, manifest, sha256, cache, compile_or_load) =
            self.compile(source, &[World::Step, World::FileScanner])?;
        let plugin = manifest.name.clone();
        let t = std::time::Instant::now();
        let world = format!("kiln:plugin/{}@0.1.0", manifest.world.as_str());
        let wrong_world = |e: wasmtime::Error| PluginError::WrongWorld {
            plugin: plugin.clone(),
            world: world.clone(),
            reason: format!("{e:#}"),
        };
        // Pre-instantiating typechecks every import before any instance is made; when one is
        // not linked, `link_error` names them all.
        let inst_pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| self.link_error(&self.inner.linker, &component, &plugin, &world, e))?;
        let pre = match manifest.world {
            World::FileScanner => {
                StepWorld::FileScanner(FileScannerPre::new(inst_pre).map_err(wrong_world)?)
            }
            _ => StepWorld::Step(StepPre::new(inst_pre).map_err(wrong_world)?),
        };
        let load_stats = LoadStats {
            cache,
            compile_or_load,
            pre_instantiate: t.elapsed(),
        };
        Ok(LoadedPlugin {
            host: self.inner.clone(),
            pre,
            manifest: Arc::new(manifest),
            sha256,
            load_stats,
        })
    }

    /// Load a `signer` plugin (its manifest must say `world = "signer"`), as [`Host::load`]
    /// does for steps.
    pub fn load_signer(&self, source: PluginSource) -> Result<LoadedSigner, PluginError> {
        let (component, manifest, sha256, cache, compile_or_load) =
            self.compile(source, &[World::Signer])?;
        let plugin = manifest.name.clone();
        let t = std::time::Instant::now();
        let world = "kiln:plugin/signer@0.1.0";
        let wrong_world = |e: wasmtime::Error| PluginError::WrongWorld {
            plugin: plugin.clone(),
            world: world.into(),
            reason: format!("{e:#}"),
        };
        let inst_pre = self
            .inner
            .signer_linker
            .instantiate_pre(&component)
            .map_err(|e| self.link_error(&self.inner.signer_linker, &component, &plugin, world, e))?;
        let pre = SignerPre::new(inst_pre).map_err(wrong_world)?;
        Ok(LoadedSigner {
            host: self.inner.clone(),
            pre,
            manifest: Arc::new(manifest),
            sha256,
            load_stats: LoadStats {
                cache,
                compile_or_load,
                pre_instantiate: t.elapsed(),
            },
        })
    }

    /// Why `linker` cannot pre-instantiate `component`: every import it does not link, named
    /// with what to do ([`PluginError::UnlinkedImports`]), or else wasmtime's reason (a missing
    /// or mistyped export: [`PluginError::WrongWorld`]).
    pub(crate) fn link_error<T: 'static>(
        &self,
        linker: &Linker<T>,
        component: &Component,
        plugin: &str,
        world: &str,
        e: wasmtime::Error,
    ) -> PluginError {
        let imports = interface::unlinked_imports(&self.inner.engine, linker, component);
        if imports.is_empty() {
            return PluginError::WrongWorld {
                plugin: plugin.to_string(),
                world: world.to_string(),
                reason: format!("{e:#}"),
            };
        }
        PluginError::UnlinkedImports {
            plugin: plugin.to_string(),
            world: world.to_string(),
            help: interface::help(&imports, world),
            imports,
        }
    }

    /// Compile a plugin read with [`read_source`] (any world; through the compile cache) and
    /// list its imports and exports, marking each import this host does not link for the
    /// manifest's world.
    pub fn interface(&self, info: &SourceInfo) -> Result<ComponentInterface, PluginError> {
        let (component, _, _) = self.compile_bytes(&info.manifest.name, &info.sha256, &info.bytes)?;
        let engine = &self.inner.engine;
        Ok(match info.manifest.world {
            World::Step | World::FileScanner => {
                interface::describe(engine, &component, Some(&self.inner.linker))
            }
            World::Signer => interface::describe(engine, &component, Some(&self.inner.signer_linker)),
            World::DeployStrategy => interface::describe(engine, &component, Some(&self.inner.strategy_linker)),
        })
    }

    /// Read, check the pin, find the manifest, require one of `worlds`, compile (or load from cache).
    #[allow(clippy::type_complexity)]
    pub(crate) fn compile(
        &self,
        source: PluginSource,
        worlds: &[World],
    ) -> Result<
        (
            Component,
            Manifest,
            String,
            CacheOutcome,
            Duration,
        ),
        PluginError,
    > {
        let SourceInfo {
            bytes,
            sha256,
            manifest,
        } = read_source(source)?;
        let plugin = manifest.name.clone();
        if !worlds.contains(&manifest.world) {
            return Err(PluginError::UnsupportedWorld {
                plugin,
                world: manifest.world.as_str().into(),
            });
        }
        let (component, cache, compile_or_load) = self.compile_bytes(&plugin, &sha256, &bytes)?;
        Ok((component, manifest, sha256, cache, compile_or_load))
    }

    /// Compile `bytes` (or load them from the cache).
    fn compile_bytes(
        &self,
        plugin: &str,
        sha256: &str,
        bytes: &[u8],
    ) -> Result<(Component, CacheOutcome, Duration), PluginError> {
        let engine = &self.inner.engine;
        match &self.inner.cache {
            Some(c) => c.load_or_compile(engine, sha256, bytes),
            None => {
                let t = std::time::Instant::now();
                Component::new(engine, bytes).map(|c| (c, CacheOutcome::Compiled, t.elapsed()))
            }
        }
        .map_err(|e| PluginError::Compile {
            plugin: plugin.to_string(),
            reason: format!("{e:#}"),
        })
    }
}

/// A plugin read and checked without compiling it: its bytes, digest and manifest.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// The component.
    pub bytes: Arc<[u8]>,
    /// Lower-case hex sha256 of the component.
    pub sha256: String,
    /// Its manifest (given, embedded or a sidecar file).
    pub manifest: Manifest,
}

/// Read a plugin, check its pinned digest and find its manifest, without compiling it (for
/// `kiln validate`, `kiln plugin inspect`, lock files).
pub fn read_source(source: PluginSource) -> Result<SourceInfo, PluginError> {
    let (label, bytes, given, pin, path) = match source {
        PluginSource::Bytes {
            name,
            bytes,
            manifest,
            sha256,
        } => (name, bytes, manifest, sha256, None),
        PluginSource::Path { path, sha256, root } => {
            let label = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // A regular file of at most kiln_fs::limits::PLUGIN bytes: a FIFO, a device or a
            // directory is refused without waiting on it. The reason leaves the host path out.
            let bytes = read_plugin_file(root.as_deref(), &path, kiln_fs::limits::PLUGIN, "plugin component")
                .map_err(|e| PluginError::Read {
                    plugin: label.clone(),
                    reason: match e.problem() {
                        kiln_fs::Problem::Open(io) => io.kind().to_string(),
                        _ => e.reason(),
                    },
                })?;
            (label, Arc::from(bytes), None, sha256, Some((path, root)))
        }
    };
    let sha256 = sha256_hex(&bytes);
    if let Some(expected) = pin
        && expected != sha256
    {
        return Err(PluginError::DigestMismatch {
            plugin: label,
            expected,
            actual: sha256,
        });
    }
    let manifest = find_manifest(&label, &bytes, given, path.as_ref().map(|(p, r)| (p.as_path(), r.as_deref())))?;
    Ok(SourceInfo {
        bytes,
        sha256,
        manifest,
    })
}

/// Read a plugin's file: only from inside `root` when the path came from a repository.
fn read_plugin_file(
    root: Option<&Path>,
    path: &Path,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>, kiln_fs::InputError> {
    match root {
        Some(root) => kiln_fs::read_input_within(root, path, limit, what),
        None => kiln_fs::read_input(path, limit, what),
    }
}

fn find_manifest(
    label: &str,
    bytes: &[u8],
    given: Option<Manifest>,
    path: Option<(&Path, Option<&Path>)>,
) -> Result<Manifest, PluginError> {
    if let Some(m) = given {
        return Ok(m);
    }
    let invalid = |reason: String| PluginError::ManifestInvalid {
        plugin: label.to_string(),
        reason,
    };
    if let Some(text) = manifest::embedded(bytes).map_err(|e| PluginError::Compile {
        plugin: label.into(),
        reason: e,
    })? {
        return Manifest::parse(&text).map_err(invalid);
    }
    if let Some((path, root)) = path {
        for candidate in manifest::sidecar_candidates(path) {
            let name = candidate
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = read_plugin_file(root, &candidate, kiln_fs::limits::CONFIG, "manifest")
                .and_then(|b| String::from_utf8(b).map_err(|_| kiln_fs::InputError::not_utf8(&candidate, "manifest")));
            match text {
                Ok(text) => {
                    return Manifest::parse(&text).map_err(|e| invalid(format!("{name}: {e}")));
                }
                // Absent (or unreadable): try the next name, as before.
                Err(e) if matches!(e.problem(), kiln_fs::Problem::Open(_)) => {}
                // There, but a FIFO, a device, a directory, too large or not text: say so
                // rather than hang on it or pass over it.
                Err(e) => return Err(invalid(format!("{name}: {}", e.reason()))),
            }
        }
    }
    Err(PluginError::ManifestMissing {
        plugin: label.to_string(),
    })
}

#[cfg(test)]
mod tests;
