//! kiln-engine: runs a buildspec the way AWS CodeBuild does, on one machine, offline.
//!
//! Bird's-eye view: [`run_build`] walks CodeBuild's phases ([`transitions`]), runs each command of
//! the buildspec in the build's [`shell`] session inside the `kiln-sandbox` confinement, streams all
//! output through one masked, phase-attributed [`output`] pipe, packages artifacts with
//! `kiln-artifacts` ([`upload`]) and writes the CodeBuild-shaped [`record`] after every phase.

pub mod build;
pub mod build_cache;
pub mod context;
pub mod git;
pub mod notices;
pub mod options;
pub mod output;
pub mod plugins;
pub mod record;
pub mod reports;
pub mod runas;
pub mod secrets;
pub mod shell;
pub mod stop;
pub mod transitions;
pub mod upload;

pub use build::{run_build, BuildOptions, BuildOutcome, EngineError};
pub use options::{BatchMember, SourceVersion};
pub use stop::Stop;
pub use output::{LineKind, Reporter, Silent};
pub use plugins::{NoPlugins, PluginOutput, PluginRequest, PluginRun, PluginRunner};
pub use record::BuildRecord;
pub use transitions::{PhaseStatus, PhaseType};

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
