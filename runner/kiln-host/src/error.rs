//! [`PluginError`]: every way a plugin load or call can fail, naming the plugin.

use crate::interface::UnlinkedImport;
use crate::limits::LimitKind;

/// A plugin load or call that did not produce a result. Every variant names the plugin; none
/// contains a host path (guest paths like `/out/x` only).
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    /// The component's bytes could not be read.
    #[error("plugin {plugin}: cannot read the component: {reason}")]
    Read {
        /// Plugin name (or file name before the manifest is known).
        plugin: String,
        /// What went wrong.
        reason: String,
    },
    /// The bytes do not match the pinned sha256: refused.
    #[error(
        "plugin {plugin}: sha256 mismatch: pinned {expected}, got {actual}; refusing to run it"
    )]
    DigestMismatch {
        /// Plugin name.
        plugin: String,
        /// The pinned digest.
        expected: String,
        /// The digest of the bytes.
        actual: String,
    },
    /// No manifest embedded, given, or beside the component.
    #[error(
        "plugin {plugin}: no manifest (embed one with export_step!(T, manifest = \"kiln-plugin.toml\") or put kiln-plugin.toml beside the component)"
    )]
    ManifestMissing {
        /// Plugin name.
        plugin: String,
    },
    /// The manifest did not parse or validate.
    #[error("plugin {plugin}: invalid manifest: {reason}")]
    ManifestInvalid {
        /// Plugin name.
        plugin: String,
        /// What is wrong.
        reason: String,
    },
    /// The component does not implement the world its manifest names, or imports something
    /// the host does not provide.
    #[error("plugin {plugin}: does not fit world `{world}`: {reason}")]
    WrongWorld {
        /// Plugin name.
        plugin: String,
        /// The expected world.
        world: String,
        /// The linker's explanation (missing export / unknown import).
        reason: String,
    },
    /// The component imports what the host does not link (a JS or Python plugin whose toolchain
    /// pulled in `wasi:http`, say): found when it is loaded, before any instance is made.
    #[error("plugin {plugin}: {}", unlinked_text(imports, help))]
    UnlinkedImports {
        /// Plugin name.
        plugin: String,
        /// The world it was linked for (`kiln:plugin/step@0.1.0`).
        world: String,
        /// Every import the host does not link, in the component's order.
        imports: Vec<UnlinkedImport>,
        /// What to do about them, one line per kind of import.
        help: Vec<String>,
    },
    /// The plugin targets a world that cannot run here (a signer or a deploy strategy where a
    /// step is expected, or the other way round).
    #[error("plugin {plugin}: is a `{world}` plugin, which cannot run here")]
    UnsupportedWorld {
        /// Plugin name.
        plugin: String,
        /// The world.
        world: String,
    },
    /// Cranelift could not compile the component (or it is not a valid component).
    #[error("plugin {plugin}: cannot compile: {reason}")]
    Compile {
        /// Plugin name.
        plugin: String,
        /// Compiler message.
        reason: String,
    },
    /// The `with:` map does not match the plugin's config schema (checked before running).
    #[error("plugin {plugin}: invalid config: {}", errors.join("; "))]
    InvalidConfig {
        /// Plugin name.
        plugin: String,
        /// One message per problem, each with its JSON path.
        errors: Vec<String>,
    },
    /// The host could not prepare the call (e.g. the source directory does not exist).
    #[error("plugin {plugin}: cannot prepare the call: {reason}")]
    Setup {
        /// Plugin name.
        plugin: String,
        /// What went wrong.
        reason: String,
    },
    /// A limit stopped the plugin.
    #[error("plugin {plugin}: stopped: exceeded its {limit}")]
    LimitExceeded {
        /// Plugin name.
        plugin: String,
        /// Which limit, with its value.
        limit: LimitKind,
    },
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access, ...).
    #[error("plugin {plugin}: crashed: {trap}{}", if stderr_tail.is_empty() { String::new() } else { format!("\n  stderr: {stderr_tail}") })]
    Trap {
        /// Plugin name.
        plugin: String,
        /// The trap (e.g. "wasm `unreachable` instruction executed").
        trap: String,
        /// The end of its stderr (a Rust panic message lands here).
        stderr_tail: String,
    },
    /// The plugin called `exit`.
    #[error("plugin {plugin}: exited with status {code}{}", if stderr_tail.is_empty() { String::new() } else { format!("\n  stderr: {stderr_tail}") })]
    Exited {
        /// Plugin name.
        plugin: String,
        /// Exit status.
        code: i32,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// The result broke the interface's rules (invalid UTF-8, a path outside `/out`, ...).
    #[error("plugin {plugin}: malformed result: {reason}")]
    MalformedResult {
        /// Plugin name.
        plugin: String,
        /// Which rule, with the offending (guest-side) value.
        reason: String,
    },
    /// The plugin ran and reported that its config was unusable.
    #[error("plugin {plugin}: rejected its config: {message}")]
    RejectedConfig {
        /// Plugin name.
        plugin: String,
        /// The plugin's message.
        message: String,
    },
    /// The plugin ran and reported a failure.
    #[error("plugin {plugin}: failed: {message}")]
    Failed {
        /// Plugin name.
        plugin: String,
        /// The plugin's message.
        message: String,
    },
}

fn unlinked_text(imports: &[UnlinkedImport], help: &[String]) -> String {
    let noun = if imports.iter().all(|i| i.kind == "instance") { "interface" } else { "import" };
    let what = match imports.len() {
        1 => format!("an {noun}"),
        n => format!("{n} {noun}s"),
    };
    let mut s = format!("cannot run: it imports {what} that kiln does not link:");
    for i in imports {
        s.push_str(&format!("\n  - {} ({}): {}", i.name, i.kind, i.reason));
    }
    for h in help {
        s.push_str(&format!("\n  help: {h}"));
    }
    s.push_str("\n  help: `kiln plugin inspect PLUGIN` lists every import and marks those kiln does not link");
    s
}

impl PluginError {
    /// The plugin's name (or the file name, before its manifest was read).
    pub fn plugin(&self) -> &str {
        match self {
            PluginError::Read { plugin, .. }
            | PluginError::DigestMismatch { plugin, .. }
            | PluginError::ManifestMissing { plugin }
            | PluginError::ManifestInvalid { plugin, .. }
            | PluginError::WrongWorld { plugin, .. }
            | PluginError::UnlinkedImports { plugin, .. }
            | PluginError::UnsupportedWorld { plugin, .. }
            | PluginError::Compile { plugin, .. }
            | PluginError::InvalidConfig { plugin, .. }
            | PluginError::Setup { plugin, .. }
            | PluginError::LimitExceeded { plugin, .. }
            | PluginError::Trap { plugin, .. }
            | PluginError::Exited { plugin, .. }
            | PluginError::MalformedResult { plugin, .. }
            | PluginError::RejectedConfig { plugin, .. }
            | PluginError::Failed { plugin, .. } => plugin,
        }
    }

    /// The limit hit, if this is a [`PluginError::LimitExceeded`].
    pub fn limit(&self) -> Option<&LimitKind> {
        match self {
            PluginError::LimitExceeded { limit, .. } => Some(limit),
            _ => None,
        }
    }
}
