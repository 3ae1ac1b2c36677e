//! kiln's WebAssembly plugin host.
//!
//! Every kiln plugin (scanners, SBOM generators, signers, deploy strategies) is a WebAssembly
//! component targeting a world of the versioned `kiln:plugin` WIT package in `wit/`. This crate
//! loads and runs them with wasmtime, confined:
//!
//! - **Nothing by default.** No environment, no network (TCP, UDP and DNS refused), no files but
//!   the preopens the grants allow (`/src` read-only, `/out` read-write), coarse clocks unless
//!   `precise-clock` is granted, stdout/stderr captured with a byte cap.
//! - **Grants** ([`Grants`]) are the intersection of the plugin's [`Manifest`] capabilities and
//!   the build's [`Policy`]; [`Grants::explain`] says what was denied and why.
//! - **Limits on every call** ([`Limits`]): an epoch-interruption wall-clock deadline (driven by
//!   a ticker thread), a memory cap (growth past it traps), the wasm stack, caps on log bytes,
//!   findings, output bytes and files, and string sizes. Every failure is a [`PluginError`]
//!   naming the plugin and, for limits, the [`LimitKind`].
//! - **File scanners** (the `file-scanner` world): [`LoadedPlugin::run_step`] walks the source
//!   tree itself (no symlinks followed, `exclude`/`only` globs, depth and size limits, a warning
//!   per skipped file), reads the files natively and feeds them to one instance per core (the
//!   memory grant split between them); instance 0 merges the partial results in `finish`.
//! - **Signers** ([`Host::load_signer`], [`LoadedSigner::sign`]) get no files or environment at
//!   all; they sign through the `signing-key` resource, whose keys stay in the host behind
//!   [`KeyStore`] and which opens only the key names granted to that call.
//! - **Deploy strategies** ([`Host::load_strategy`], [`LoadedStrategy::start`],
//!   [`StrategySession::next`]): one store per deployment, nothing but `log` and `config`, the
//!   same per-call limits; every answer is checked, and anything wrong ends the session with a
//!   [`StrategyError`] naming the plugin (module [`strategy`]).
//! - **Speed**: compiled components are cached on disk ([`CompileCache`], keyed by component
//!   sha256, wasmtime version and engine compatibility hash) and pre-instantiated
//!   ([`LoadedPlugin`]), so a warm call costs a fresh store and an instantiation.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use kiln_host::{Grants, Host, HostConfig, Policy, StepInvocation, builtin};
//! let host = Host::new(HostConfig { cache_dir: Some(".kiln/plugin-cache".into()), ..Default::default() })?;
//! let plugin = host.load(builtin::get("hello-step").unwrap())?;
//! let grants = Grants::intersect(&plugin.manifest.capabilities, &Policy::default());
//! let outcome = plugin.run_step(&StepInvocation::new("src", "out", grants)).await?;
//! println!("{} findings: {}", outcome.findings.len(), outcome.summary);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod bindings;
pub mod builtin;
mod cache;
mod error;
mod grants;
mod host;
mod imports;
mod interface;
mod limits;
pub mod manifest;
mod run;
mod scan;
pub mod schema;
mod signer;
mod stdio;
pub mod strategy;
mod types;
mod validate;
mod walk;

pub use cache::{CacheOutcome, CompileCache, WASMTIME_VERSION, sha256_hex};
pub use error::PluginError;
pub use grants::{DEFAULT_MEMORY, DEFAULT_TIMEOUT, Denial, Grants, Policy};
pub use host::{
    Host, HostConfig, LoadStats, LoadedPlugin, LoadedSigner, PluginSource, SourceInfo, read_source,
};
pub use interface::{ComponentInterface, InterfaceItem, UnlinkedImport};
pub use limits::{LimitKind, Limits};
pub use manifest::{Capabilities, Manifest, World};
pub use run::{GUEST_OUT, GUEST_SRC};
pub use signer::{
    HostKey, KeyHandle, KeyStore, PluginSignature, SignOutcome, SignSubject, SignerInvocation,
    SigningAlgorithm,
};
pub use strategy::{LoadedStrategy, StrategyError, StrategyInvocation, StrategySession};
pub use types::{
    EventSink, Finding, Location, LogLevel, LogRecord, OutputFile, PluginEvent, Severity,
    StepInvocation, StepOutcome,
};
pub use validate::check_relative_path;
