//! The on-disk cache of compiled components.
//!
//! One file per (component sha256, wasmtime version, engine compatibility hash), written with
//! `Component::serialize` to a temporary file in the same directory and renamed into place, and
//! loaded with `Component::deserialize_file` (an mmap, no copy). A file that wasmtime refuses
//! (corrupt, or from another engine) is deleted and the component recompiled.
//!
//! Trust: loading a cache file runs native code from it, so the cache directory must be private
//! to the user running kiln. [`CompileCache::new`] creates it and takes write access away from
//! group and others (mode 0700).

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The wasmtime version kiln-host was built with (read from Cargo.lock by build.rs).
pub const WASMTIME_VERSION: &str = env!("KILN_WASMTIME_VERSION");

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheOutcome {
    /// Compiled with Cranelift (no cache configured).
    Compiled,
    /// Compiled with Cranelift and written to the cache.
    CompiledAndStored,
    /// Loaded from the on-disk cache.
    Hit,
}

/// A directory of precompiled components.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    engine_hash: String,
}

/// A `Hasher` that feeds sha256, so the engine hash is stable across processes and Rust versions.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        let d = self.0.clone().finalize();
        u64::from_le_bytes(d[..8].try_into().unwrap_or_default())
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl CompileCache {
    /// Use (and create) `dir` for compiled components of `engine`.
    pub fn new(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(dir)?;
            if meta.permissions().mode() & 0o022 != 0 {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        let mut h = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_hash = hex::encode(&h.0.finalize()[..8]);
        Ok(CompileCache {
            dir: dir.to_path_buf(),
            engine_hash,
        })
    }

    /// The file a component with this sha256 is cached in.
    pub fn path_for(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!(
            "{sha256}-wasmtime{WASMTIME_VERSION}-{}.cwasm",
            self.engine_hash
        ))
    }

    /// Load from the cache or compile (and store). Returns the component, how it was obtained,
    /// and the time it took.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        sha256: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome, Duration)> {
        let start = Instant::now();
        let path = self.path_for(sha256);
        if path.is_file() {
            // SAFETY: the file was written by `store` below (serialize + atomic rename) into a
            // directory private to this user, is never modified in place, and wasmtime checks
            // its header against the engine before using it.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => return Ok((c, CacheOutcome::Hit, start.elapsed())),
                Err(e) => {
                    tracing::warn!(error = %e, "discarding unusable compiled-component cache entry");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        let outcome = match self.store(&component, &path) {
            Ok(()) => CacheOutcome::CompiledAndStored,
            Err(e) => {
                tracing::warn!(error = %e, "could not write the compiled-component cache");
                CacheOutcome::Compiled
            }
        };
        Ok((component, outcome, start.elapsed()))
    }

    fn store(&self, component: &Component, path: &Path) -> anyhow::Result<()> {
        let data = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&data)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path)?;
        Ok(())
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
