//! The typed buildspec: what `kiln validate` checks and what the engine runs.
//!
//! Field names follow the CodeBuild buildspec reference. Every value a user may get wrong keeps its
//! [`Span`] so run-time errors can still point into the file.

use serde::Serialize;

use crate::diag::Span;

/// A value together with where it was written. Serializes as the value alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Spanned<T> {
    pub value: T,
    #[serde(skip)]
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// Buildspec syntax version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Version {
    /// `0.1`: every command runs in a fresh shell instance.
    #[serde(rename = "0.1")]
    V0_1,
    /// `0.2`: all commands of a build run in one shell session.
    #[serde(rename = "0.2")]
    V0_2,
}

/// A parsed, validated buildspec.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BuildSpec {
    pub version: Version,
    pub run_as: Option<Spanned<String>>,
    pub env: Env,
    pub proxy: Option<Proxy>,
    pub batch: Option<Batch>,
    /// Recognised phases in execution order (install, pre_build, build, post_build); absent ones are omitted.
    pub phases: Vec<Phase>,
    pub reports: Vec<ReportGroup>,
    pub artifacts: Option<Artifacts>,
    pub cache: Option<Cache>,
    /// kiln-only settings from the top-level `kiln:` key.
    pub kiln: KilnSettings,
}

impl BuildSpec {
    /// Every `uses:` plugin step, in phase order (each phase's `commands`, then its `finally`).
    pub fn uses_steps(&self) -> impl Iterator<Item = &UsesStep> {
        self.phases.iter().flat_map(|p| p.commands.iter().chain(&p.finally)).filter_map(|s| match s {
            Step::Uses(u) => Some(u),
            Step::Shell(_) => None,
        })
    }
}

/// `env`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Env {
    pub shell: Option<Spanned<String>>,
    pub variables: Vec<EnvEntry>,
    pub parameter_store: Vec<EnvEntry>,
    pub secrets_manager: Vec<EnvEntry>,
    pub exported_variables: Vec<Spanned<String>>,
    pub git_credential_helper: bool,
}

/// One `NAME: value` pair of an env section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnvEntry {
    pub name: Spanned<String>,
    pub value: Spanned<String>,
}

/// `proxy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Proxy {
    pub upload_artifacts: bool,
    pub logs: bool,
}

/// The four build phases, in the order CodeBuild runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseName {
    Install,
    PreBuild,
    Build,
    PostBuild,
}

impl PhaseName {
    pub const ALL: [PhaseName; 4] = [PhaseName::Install, PhaseName::PreBuild, PhaseName::Build, PhaseName::PostBuild];

    /// The key used in the buildspec (`pre_build`).
    pub fn key(self) -> &'static str {
        match self {
            PhaseName::Install => "install",
            PhaseName::PreBuild => "pre_build",
            PhaseName::Build => "build",
            PhaseName::PostBuild => "post_build",
        }
    }

    /// The CodeBuild API phase type (`PRE_BUILD`).
    pub fn phase_type(self) -> &'static str {
        match self {
            PhaseName::Install => "INSTALL",
            PhaseName::PreBuild => "PRE_BUILD",
            PhaseName::Build => "BUILD",
            PhaseName::PostBuild => "POST_BUILD",
        }
    }

    pub fn from_key(key: &str) -> Option<PhaseName> {
        PhaseName::ALL.into_iter().find(|p| p.key() == key)
    }
}

/// What to do when a command of a phase fails (`on-failure`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "UPPERCASE")]
pub enum OnFailure {
    /// Stop the build (the default).
    Abort,
    /// Mark the phase failed and go on to the next phase.
    Continue,
    /// Run the phase again, up to `count` more times, while the failure output matches `regex` (if set).
    Retry { count: u32, regex: Option<String> },
}

/// One phase.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Phase {
    pub name: PhaseName,
    #[serde(skip)]
    pub span: Span,
    pub run_as: Option<Spanned<String>>,
    /// `None` when not written: CodeBuild's default, ABORT.
    pub on_failure: Option<Spanned<OnFailure>>,
    pub runtime_versions: Vec<EnvEntry>,
    pub commands: Vec<Step>,
    pub finally: Vec<Step>,
}

/// One item of a phase's `commands` or `finally`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Step {
    /// A shell command, as in every CodeBuild buildspec.
    Shell(Spanned<String>),
    /// `- uses: PLUGIN` with an optional `with:` map: a kiln plugin step.
    Uses(UsesStep),
}

impl Step {
    /// Where the step was written.
    pub fn span(&self) -> Span {
        match self {
            Step::Shell(c) => c.span,
            Step::Uses(u) => u.plugin.span,
        }
    }
}

/// A plugin step: `uses:` names a built-in plugin, a path to a component, or `name@sha256:<hex>`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UsesStep {
    pub plugin: Spanned<String>,
    /// The `with:` map as JSON (an empty object when absent), checked against the plugin's schema.
    pub with: serde_json::Value,
    /// Where each `with:` key was written, for errors about it.
    #[serde(skip)]
    pub with_spans: Vec<(String, Span)>,
}

impl Phase {
    /// The effective on-failure action.
    pub fn on_failure(&self) -> OnFailure {
        self.on_failure.as_ref().map(|o| o.value.clone()).unwrap_or(OnFailure::Abort)
    }
}

/// `artifacts`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Artifacts {
    pub primary: ArtifactSet,
    /// `secondary-artifacts`, keyed by artifact identifier.
    pub secondary: Vec<(Spanned<String>, ArtifactSet)>,
}

/// One artifact's file selection (the primary one or a secondary one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ArtifactSet {
    #[serde(skip)]
    pub span: Span,
    pub files: Vec<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub discard_paths: bool,
    pub base_directory: Option<Spanned<String>>,
    pub exclude_paths: Vec<Spanned<String>>,
    pub enable_symlinks: bool,
    pub s3_prefix: Option<Spanned<String>>,
}

/// Test and coverage report formats CodeBuild accepts (`file-format`, case-insensitive), then
/// kiln's two extensions: `LCOV` tracefiles (coverage) and `SARIF` (a security report whose
/// findings join the plugin scanners'). CodeBuild itself has no value for the last two.
pub const REPORT_FORMATS: &[&str] = &[
    "JUNITXML",
    "CUCUMBERJSON",
    "TESTNGXML",
    "VISUALSTUDIOTRX",
    "NUNITXML",
    "NUNIT3XML",
    "CLOVERXML",
    "COBERTURAXML",
    "JACOCOXML",
    "SIMPLECOV",
    "LCOV",
    "SARIF",
];

/// Report formats kiln accepts that CodeBuild does not (a buildspec using them does not run on
/// CodeBuild unchanged).
pub const KILN_REPORT_FORMATS: &[&str] = &["LCOV", "SARIF"];

/// One entry of `reports`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportGroup {
    pub name: Spanned<String>,
    pub files: Vec<Spanned<String>>,
    pub base_directory: Option<Spanned<String>>,
    pub discard_paths: bool,
    /// One of [`REPORT_FORMATS`]; JUNITXML when not written.
    pub file_format: String,
}

/// `cache`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Cache {
    pub key: Option<Spanned<String>>,
    pub fallback_keys: Vec<Spanned<String>>,
    pub action: Option<Spanned<String>>,
    pub paths: Vec<Spanned<String>>,
}

/// `batch` (CodeBuild batch builds, `start-build-batch`). Exactly one of the four kinds is set
/// in a valid buildspec; `kiln-batch` expands it into the child builds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Batch {
    /// `fast-fail`: stop the running builds when one fails (default `false`).
    pub fast_fail: Option<bool>,
    pub build_list: Vec<BatchBuild>,
    pub build_graph: Vec<BatchBuild>,
    pub build_matrix: Option<BuildMatrix>,
    pub build_fanout: Option<BuildFanout>,
    /// The `batch` key.
    #[serde(skip)]
    pub span: Span,
}

/// One build of a `build-list` or `build-graph`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BatchBuild {
    pub identifier: Spanned<String>,
    /// `buildspec`: another buildspec for this build, relative to the source root.
    pub buildspec: Option<Spanned<String>>,
    pub depend_on: Vec<Spanned<String>>,
    pub ignore_failure: bool,
    pub debug_session: bool,
    pub env: BatchEnv,
}

/// The `env` overrides of a batch build.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BatchEnv {
    pub compute_type: Option<String>,
    pub fleet: Option<String>,
    pub image: Option<String>,
    pub privileged_mode: Option<bool>,
    pub r#type: Option<String>,
    pub variables: Vec<EnvEntry>,
}

/// `build-matrix`: `static` settings and `dynamic` lists whose product makes the builds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BuildMatrix {
    pub static_ignore_failure: bool,
    pub static_env: BatchEnv,
    /// `dynamic.buildspec` values (empty: every build runs the batch's own buildspec).
    pub dynamic_buildspec: Vec<String>,
    /// `dynamic.env.<key>` lists (image, compute-type, fleet), in the order written.
    pub dynamic_env: Vec<(String, Vec<String>)>,
    /// `dynamic.env.variables.<NAME>` lists, in the order written.
    pub dynamic_variables: Vec<(String, Vec<String>)>,
}

/// `build-fanout`: `parallelism` shard builds of one buildspec (kiln does not run it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BuildFanout {
    pub parallelism: u64,
    pub ignore_failure: bool,
    #[serde(skip)]
    pub span: Span,
}

/// kiln's own settings, under the top-level `kiln:` key (CodeBuild never sees them).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KilnSettings {
    /// Let build commands use the network (off by default).
    pub network: bool,
    /// Whole-build timeout in minutes (CodeBuild's project default is 60).
    pub timeout_minutes: Option<u32>,
    /// Per-phase timeout in minutes.
    pub phase_timeout_minutes: Option<u32>,
    /// Extra host paths the build may write (besides the working copy, its temp dir and cache paths).
    pub writable_paths: Vec<Spanned<String>>,
    /// Most processes the build may run at once (fork-bomb bound).
    pub max_processes: Option<u64>,
    /// What plugins (`uses:` steps) may be granted (`kiln: plugins:`).
    pub plugins: crate::plugin_policy::PluginsPolicy,
    /// `kiln: signing:`: how the provenance is signed.
    pub signing: Option<SigningSettings>,
    /// `kiln: reports:`: gates on the build's reports (CodeBuild never fails a build on them).
    pub report_gates: ReportGates,
    /// `kiln: cache:`: how the build cache is kept.
    pub cache: CacheSettings,
    /// `kiln: report: html`: write the build's HTML report (`report.html`) into its record.
    pub report_html: bool,
}

/// `kiln: cache:` — the project settings CodeBuild keeps outside the buildspec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CacheSettings {
    /// `save-on-failure: yes`: save the cache after a failed build too (by default only a
    /// succeeded build saves it).
    pub save_on_failure: bool,
    /// `namespace: NAME`: CodeBuild's `cacheNamespace`: projects with the same namespace (and
    /// the same paths and key) share cache entries. Default: the project's name.
    pub namespace: Option<Spanned<String>>,
}

/// `kiln: reports:` — when the build's reports fail it. Each gate is off unless written.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReportGates {
    /// `fail-on-test-failures: yes`: any FAILED or ERROR test case fails the build.
    pub fail_on_test_failures: bool,
    /// `min-line-coverage: N`: every coverage report must cover at least N % of its lines.
    pub min_line_coverage: Option<Spanned<f64>>,
    /// `min-branch-coverage: N`: the same for branches (a report with no branches passes).
    pub min_branch_coverage: Option<Spanned<f64>>,
    /// `fail-on-findings: high`: a finding of a security (SARIF) report at or above this
    /// severity (`note`, `low`, `medium`, `high`, `critical`) fails the build.
    pub fail_on_findings: Option<Spanned<String>>,
}

impl ReportGates {
    /// Whether any gate is set.
    pub fn any(&self) -> bool {
        self.fail_on_test_failures || self.min_line_coverage.is_some() || self.min_branch_coverage.is_some() || self.fail_on_findings.is_some()
    }
}

/// `kiln: signing:` in a buildspec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SigningSettings {
    /// `key:` a cosign private key file, relative to the project directory (or absolute, or
    /// `~/`); its password comes from `KILN_SIGNING_PASSWORD` or `COSIGN_PASSWORD`.
    pub key: Option<Spanned<String>>,
}
