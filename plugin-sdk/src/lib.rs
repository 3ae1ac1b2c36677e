//! The guest-side SDK for kiln plugins.
//!
//! A kiln plugin is a WebAssembly component built for `wasm32-wasip2` against the
//! `kiln:plugin` WIT package (`wit/kiln-plugin/`). This crate hides the generated bindings:
//! implement [`StepPlugin`], call [`export_step!`], and build with
//! `cargo build --target wasm32-wasip2 --release`.
//!
//! ```ignore
//! use kiln_plugin_sdk::{export_step, Severity, Step, StepPlugin, Error};
//!
//! #[derive(serde::Deserialize, Default)]
//! #[serde(default)]
//! struct Config { pattern: String }
//!
//! struct TodoScanner;
//!
//! impl StepPlugin for TodoScanner {
//!     type Config = Config;
//!     fn run(step: &mut Step<Config>) -> Result<(), Error> {
//!         for file in step.source_files()? {
//!             let text = file.read_to_string()?;
//!             for (i, line) in text.lines().enumerate() {
//!                 if line.contains(&step.config().pattern) {
//!                     step.finding("todo/marker", Severity::Low, "marker found")
//!                         .at(&file.path, i as u32 + 1, 1)
//!                         .report();
//!                 }
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! export_step!(TodoScanner, manifest = "kiln-plugin.toml");
//! ```
//!
//! For a scanner that looks at every file, implement [`FileScanner`] and call
//! [`export_file_scanner!`] instead: the host walks and reads the tree and feeds the files to
//! several instances of the plugin in parallel (the `file-scanner` world).
//!
//! For a deployment strategy (canary, linear, blue/green, ...), implement [`DeployStrategy`] and
//! call [`export_deploy_strategy!`]: the host drives it as a state machine, one observation and
//! one action at a time (the `deploy-strategy` world, module [`deploy`]).
//!
//! The host mounts the source tree read-only at [`SOURCE_ROOT`] and the plugin's output directory
//! at [`OUTPUT_ROOT`]; everything else (network, environment, other files) is absent unless the
//! plugin's manifest requests it and the buildspec allows it.

#![warn(missing_docs)]

pub mod deploy;
pub mod scanner;
mod step;
mod walk;

pub use deploy::DeployStrategy;
pub use scanner::FileScanner;
pub use step::{FindingBuilder, Step};
pub use walk::SourceFile;

/// Generated bindings for the `kiln:plugin@0.1.0` `step` world (an escape hatch; prefer the
/// SDK's own types).
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/kiln-plugin/v0.1.0",
        world: "step",
        pub_export_macro: true,
        export_macro_name: "__kiln_export_step_bindings",
        default_bindings_module: "kiln_plugin_sdk::bindings",
    });
}

/// Re-exported so plugins can use `serde_json` values in their config without a direct dependency.
pub use serde_json;

/// One typed finding.
pub use bindings::kiln::plugin::types::Finding;
/// Where a finding is, relative to the source root.
pub use bindings::kiln::plugin::types::Location;
/// A file the plugin wrote into its output directory.
pub use bindings::kiln::plugin::types::ProducedFile;
/// A finding's severity (SARIF: note / warning / error).
pub use bindings::kiln::plugin::types::Severity;

/// The guest path where the host mounts the source tree (read-only).
pub const SOURCE_ROOT: &str = "/src";
/// The guest path where the host mounts the plugin's output directory.
pub const OUTPUT_ROOT: &str = "/out";

/// Why a step could not do its job (as opposed to "it ran and reported findings").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The configuration was unusable: say which key and why.
    InvalidConfig(String),
    /// Anything else; the message is shown to the user.
    Failed(String),
}

impl Error {
    /// A [`Error::Failed`] with this message.
    pub fn failed(msg: impl Into<String>) -> Self {
        Error::Failed(msg.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidConfig(m) => write!(f, "invalid config: {m}"),
            Error::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Failed(e.to_string())
    }
}

/// A scanner or generator plugin (the `step` world).
pub trait StepPlugin {
    /// The plugin's configuration (the buildspec's `with:` map), deserialized from JSON.
    /// Use `#[serde(default)]` so an empty `with:` works.
    type Config: serde::de::DeserializeOwned;

    /// Run once: read [`Step::source_files`], report findings, write outputs.
    fn run(step: &mut Step<Self::Config>) -> Result<(), Error>;
}

/// Logging into the build log. The host caps the bytes a plugin may log per call.
pub mod log {
    use crate::bindings::kiln::plugin::log::{Level, log};
    /// Log at trace level.
    pub fn trace(msg: &str) {
        log(Level::Trace, msg)
    }
    /// Log at debug level.
    pub fn debug(msg: &str) {
        log(Level::Debug, msg)
    }
    /// Log at info level.
    pub fn info(msg: &str) {
        log(Level::Info, msg)
    }
    /// Log at warn level.
    pub fn warn(msg: &str) {
        log(Level::Warn, msg)
    }
    /// Log at error level.
    pub fn error(msg: &str) {
        log(Level::Error, msg)
    }
}

/// Report progress: `completed` out of `total` (0 = unknown) units of work.
pub fn progress(completed: u64, total: u64, message: &str) {
    bindings::kiln::plugin::progress::report(completed, total, message)
}

/// Exports a [`StepPlugin`] implementation as the component's `step-plugin` interface.
///
/// `export_step!(MyPlugin)` or, to embed the plugin manifest into the component as the custom
/// section `kiln:plugin-manifest` (TOML or JSON, path relative to the crate's `Cargo.toml`),
/// `export_step!(MyPlugin, manifest = "kiln-plugin.toml")`.
#[macro_export]
macro_rules! export_step {
    ($ty:ident) => {
        impl $crate::bindings::exports::kiln::plugin::step_plugin::Guest for $ty {
            fn run(
                ctx: $crate::bindings::exports::kiln::plugin::step_plugin::StepContext,
            ) -> ::core::result::Result<
                $crate::bindings::exports::kiln::plugin::step_plugin::StepResult,
                $crate::bindings::exports::kiln::plugin::step_plugin::StepError,
            > {
                $crate::__private::run::<$ty>(ctx)
            }
        }
        $crate::bindings::__kiln_export_step_bindings!($ty with_types_in $crate::bindings);
    };
    ($ty:ident, manifest = $path:literal) => {
        #[unsafe(link_section = "kiln:plugin-manifest")]
        #[used]
        static __KILN_PLUGIN_MANIFEST: [u8; include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path)).len()] =
            *include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path));
        $crate::export_step!($ty);
    };
}

#[doc(hidden)]
pub mod __private {
    use crate::bindings::exports::kiln::plugin::step_plugin::{StepContext, StepError, StepResult};

    /// Glue called by [`export_step!`](crate::export_step).
    pub fn run<P: crate::StepPlugin>(ctx: StepContext) -> Result<StepResult, StepError> {
        let config_json = crate::bindings::kiln::plugin::config::get_json();
        let config: P::Config = serde_json::from_str(&config_json)
            .map_err(|e| StepError::InvalidConfig(e.to_string()))?;
        let mut step = crate::Step::new(config, ctx.source_root, ctx.output_root);
        match P::run(&mut step) {
            Ok(()) => Ok(step.into_result()),
            Err(crate::Error::InvalidConfig(m)) => Err(StepError::InvalidConfig(m)),
            Err(crate::Error::Failed(m)) => Err(StepError::Failed(m)),
        }
    }
}
