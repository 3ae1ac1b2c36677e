//! The host-side, serde-friendly types of a step call: what goes in, what comes out.

use crate::grants::Grants;
use crate::limits::Limits;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How bad a finding is (SARIF: `note` → note, `low`/`medium` → warning, `high`/`critical` → error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Note,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// The SARIF `level` for this severity.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Low | Severity::Medium => "warning",
            Severity::High | Severity::Critical => "error",
        }
    }
}

/// A region in the source tree; `path` is relative to the source root, lines/columns 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    /// Relative to the source root, `/` separated, no `..`.
    pub path: String,
    /// First line (1-based; 0 = unknown).
    pub start_line: u32,
    /// First column (1-based; 0 = unknown).
    pub start_col: u32,
    /// Last line.
    pub end_line: u32,
    /// End column.
    pub end_col: u32,
}

/// One validated finding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Rule identifier.
    pub rule_id: String,
    /// Severity.
    pub severity: Severity,
    /// Where, if anywhere.
    pub location: Option<Location>,
    /// Message.
    pub message: String,
    /// Stable fingerprint (host-derived when the plugin gave none).
    pub fingerprint: String,
}

/// A file the plugin produced, checked to be a regular file inside its output directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputFile {
    /// Relative to the output directory.
    pub path: String,
    /// Media type the plugin declared.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
}

/// Log levels of the `log` import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warn.
    Warn,
    /// Error.
    Error,
}

/// One record the plugin logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Level.
    pub level: LogLevel,
    /// Message (as the plugin wrote it).
    pub message: String,
}

/// Something a plugin reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginEvent {
    /// A `log` call.
    Log(LogRecord),
    /// A `progress.report` call.
    Progress {
        /// Units done.
        completed: u64,
        /// Units in all (0 = unknown).
        total: u64,
        /// The current item.
        message: String,
    },
}

/// A callback that receives [`PluginEvent`]s as they happen (for live output).
pub type EventSink = Arc<dyn Fn(&str, &PluginEvent) + Send + Sync>;

/// One call of a step plugin.
#[derive(Clone)]
pub struct StepInvocation {
    /// The source tree, mounted read-only at `/src` (if `read-source` is granted).
    pub src_dir: PathBuf,
    /// The plugin's output directory, mounted read-write at `/out` (if `write-output` is
    /// granted); it must exist and should be empty.
    pub out_dir: PathBuf,
    /// The `with:` map as JSON (an object; `{}` for none).
    pub config: serde_json::Value,
    /// The build's environment: only variables named in `grants.env` are passed through.
    pub env: BTreeMap<String, String>,
    /// What the plugin may use (see [`Grants::intersect`]).
    pub grants: Grants,
    /// Host-side caps.
    pub limits: Limits,
    /// Live events (log lines, progress); they are also collected in the outcome.
    pub on_event: Option<EventSink>,
}

impl StepInvocation {
    /// A call with an empty config, no environment, default limits and these grants.
    pub fn new(src_dir: impl Into<PathBuf>, out_dir: impl Into<PathBuf>, grants: Grants) -> Self {
        StepInvocation {
            src_dir: src_dir.into(),
            out_dir: out_dir.into(),
            config: serde_json::Value::Object(Default::default()),
            env: BTreeMap::new(),
            grants,
            limits: Limits::default(),
            on_event: None,
        }
    }
}

impl std::fmt::Debug for StepInvocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepInvocation")
            .field("config", &self.config)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("grants", &self.grants)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// What a successful step call produced.
#[derive(Debug, Clone, Serialize)]
pub struct StepOutcome {
    /// Validated findings.
    pub findings: Vec<Finding>,
    /// Validated output files.
    pub outputs: Vec<OutputFile>,
    /// The plugin's one-line summary.
    pub summary: String,
    /// Every `log` record, in order.
    pub logs: Vec<LogRecord>,
    /// Captured stdout (lossy UTF-8, capped).
    pub stdout: String,
    /// Captured stderr (lossy UTF-8, capped).
    pub stderr: String,
    /// Whether stdout or stderr went over the cap and was cut.
    pub stdio_truncated: bool,
    /// Time from store creation to validated result.
    pub duration: Duration,
    /// Time to instantiate (from the pre-instantiated component).
    pub instantiate: Duration,
    /// Time spent in the guest's `run` export (including its host calls).
    pub call: Duration,
    /// Peak linear memory, bytes.
    pub peak_memory: u64,
}
