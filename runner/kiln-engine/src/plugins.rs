//! `uses:` steps. The engine does not link the WebAssembly host: whoever runs the build (the CLI)
//! hands it a [`PluginRunner`], so editing the engine never rebuilds wasmtime and the engine can be
//! tested with a fake runner.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Instant;

use serde::Serialize;

/// One plugin step to run.
pub struct PluginRequest<'a> {
    /// The `uses:` value.
    pub plugin: &'a str,
    /// The `with:` settings.
    pub with: &'a serde_json::Value,
    /// The working copy, which the plugin may read.
    pub src_dir: &'a Path,
    /// A fresh directory for what the plugin writes.
    pub out_dir: &'a Path,
    /// When the phase (or build) times out.
    pub deadline: Instant,
}

/// What a plugin step did, for the build record (`kiln.plugins[]`).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginRun {
    pub uses: String,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub world: String,
    /// What the plugin was granted, and what it asked for and was denied.
    pub grants: Vec<String>,
    pub denied: Vec<String>,
    pub duration_ms: u64,
    /// `succeeded`, `failed` (the plugin's own verdict, or a `fail-on` gate) or `error` (trap, limit, bad output).
    pub outcome: String,
    pub message: Option<String>,
    pub findings: usize,
    /// Findings per severity (`critical`, `high`, …).
    pub findings_by_severity: Vec<(String, usize)>,
    /// Files the plugin produced, relative to the record directory, with their sha256.
    pub outputs: Vec<PluginOutput>,
    /// Log lines the plugin wrote (shown live, masked).
    #[serde(skip)]
    pub logs: Vec<String>,
}

/// A file a plugin produced.
#[derive(Clone, Debug, Serialize)]
pub struct PluginOutput {
    pub path: String,
    pub sha256: String,
    pub media_type: Option<String>,
}

impl PluginRun {
    /// Whether the step failed (and so fails the phase).
    pub fn failed(&self) -> bool {
        self.outcome != "succeeded"
    }
}

/// Runs plugin steps for the engine.
pub trait PluginRunner: Send + Sync {
    /// Run one step. Never panics; every problem is a `PluginRun` with outcome `error`.
    ///
    /// The engine stops waiting at `req.deadline` (the step is then `TIMED_OUT`), which only
    /// works if the future yields: blocking work (reading, compiling) belongs on another thread.
    fn run<'a>(&'a self, req: PluginRequest<'a>) -> Pin<Box<dyn Future<Output = PluginRun> + Send + 'a>>;
}

/// The runner used when kiln was embedded without a plugin host: every `uses:` step fails clearly.
pub struct NoPlugins;

impl PluginRunner for NoPlugins {
    fn run<'a>(&'a self, req: PluginRequest<'a>) -> Pin<Box<dyn Future<Output = PluginRun> + Send + 'a>> {
        Box::pin(async move {
            PluginRun {
                uses: req.plugin.to_string(),
                outcome: "error".into(),
                message: Some("this kiln has no plugin host, so `uses:` steps cannot run".into()),
                ..Default::default()
            }
        })
    }
}
