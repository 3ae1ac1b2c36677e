//! `build.json` as read back: CodeBuild's `Build` object (botocore `codebuild/2016-10-06`
//! `Build`, `BuildPhase`, `PhaseContext`, `BuildArtifacts`, `LogsLocation`) plus kiln's section,
//! with the field names `kiln-engine/src/record.rs` writes.
//!
//! Every struct is `#[serde(default)]` and statuses are strings: a record written by an older
//! kiln (a field missing) or a newer one (a field or a status this reader does not know) still
//! reads. Reports are read one by one ([`Lenient`]), so one report of an unknown shape costs that
//! report, not the page.

use serde::{Deserialize, Serialize};

use crate::lenient::Lenient;

/// `Build`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Build {
    /// `project:uuid`.
    pub id: String,
    pub build_number: u64,
    pub project_name: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub current_phase: String,
    /// `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `FAULT`, `TIMED_OUT`, `STOPPED`.
    pub build_status: String,
    pub build_complete: bool,
    pub initiator: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_batch_arn: Option<String>,
    pub source_version: Option<String>,
    pub resolved_source_version: Option<String>,
    pub phases: Vec<Phase>,
    pub exported_environment_variables: Vec<NameValue>,
    pub artifacts: Option<Artifact>,
    pub secondary_artifacts: Vec<Artifact>,
    pub report_arns: Vec<String>,
    pub reports: Vec<Lenient<ReportEntry>>,
    pub logs: Logs,
    pub kiln: KilnSection,
}

impl Build {
    /// The uuid part of `id` (`project:uuid`), which names the record directory.
    pub fn uuid(&self) -> &str {
        self.id.rsplit(':').next().unwrap_or(&self.id)
    }

    /// Every artifact, primary first.
    pub fn all_artifacts(&self) -> impl Iterator<Item = &Artifact> {
        self.artifacts.iter().chain(&self.secondary_artifacts)
    }

    /// The reports that could be read.
    pub fn readable_reports(&self) -> impl Iterator<Item = &ReportEntry> {
        self.reports.iter().filter_map(Lenient::ok)
    }
}

/// `BuildPhase`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Phase {
    /// `SUBMITTED`, `QUEUED`, `PROVISIONING`, `DOWNLOAD_SOURCE`, `INSTALL`, `PRE_BUILD`, `BUILD`,
    /// `POST_BUILD`, `UPLOAD_ARTIFACTS`, `FINALIZING`, `COMPLETED`.
    pub phase_type: String,
    /// `SUCCEEDED`, `FAILED`, `FAULT`, `TIMED_OUT`, `IN_PROGRESS`, `STOPPED`; absent while running.
    pub phase_status: Option<String>,
    pub start_time: String,
    pub end_time: Option<String>,
    pub duration_in_seconds: Option<u64>,
    pub contexts: Vec<PhaseContext>,
}

/// `PhaseContext`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PhaseContext {
    pub status_code: String,
    pub message: String,
}

/// `EnvironmentVariable` / `ExportedEnvironmentVariable` (values already masked by the engine).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

/// `BuildArtifacts`: a local location and kiln's per-file digests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Artifact {
    pub artifact_identifier: Option<String>,
    pub location: String,
    /// sha256 of the zip (absent for a directory artifact).
    pub sha256sum: Option<String>,
    pub files: Vec<ArtifactFile>,
}

/// One file of an artifact.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ArtifactFile {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// `LogsLocation`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Logs {
    pub path: String,
}

/// kiln's own section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KilnSection {
    pub version: String,
    pub buildspec: FileDigest,
    pub source_dir: String,
    pub source_repository: Option<String>,
    pub work_dir: String,
    pub record_dir: String,
    pub shell: String,
    pub sandbox: Sandbox,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub run_as: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<Cache>,
    pub notices: Vec<String>,
    /// Names, never values.
    pub secret_variables: Vec<String>,
    pub environment_overrides: Vec<NameValue>,
    pub plugins: Vec<PluginRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchRef>,
}

/// A file by path and sha256 (the buildspec that ran).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileDigest {
    pub path: String,
    pub sha256: String,
}

/// How the build was confined.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sandbox {
    pub sandboxed: bool,
    pub mechanisms: Vec<String>,
    pub missing: Vec<String>,
    pub network: bool,
}

/// The build cache: what was restored and saved.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Cache {
    pub store: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<CacheRestored>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved: Option<CacheSaved>,
    pub warnings: Vec<String>,
}

/// The cache entry a build restored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CacheRestored {
    pub key: Option<String>,
    pub matched: String,
    pub manifest_sha256: String,
    pub files: u64,
    pub bytes: u64,
}

/// What a build saved to the cache.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CacheSaved {
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    pub files: u64,
    pub bytes: u64,
    pub new_bytes: u64,
}

/// One `uses:` step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PluginRun {
    pub uses: String,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub world: String,
    pub grants: Vec<String>,
    pub denied: Vec<String>,
    pub duration_ms: u64,
    /// `succeeded`, `failed` or `error`.
    pub outcome: String,
    pub message: Option<String>,
    pub findings: u64,
    /// `[severity, count]` pairs.
    pub findings_by_severity: Vec<(String, u64)>,
    pub outputs: Vec<PluginOutput>,
}

/// A file a plugin produced, relative to the record directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginOutput {
    pub path: String,
    pub sha256: String,
    pub media_type: Option<String>,
}

/// A batch build's identifier and its entry's variables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BatchRef {
    pub identifier: String,
    pub environment_variables: Vec<NameValue>,
}

/// One report of `build.json`: CodeBuild's `Report` (kiln-reports' model, the one the engine
/// writes with), then the lists the record keeps and kiln's notes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportEntry {
    #[serde(flatten)]
    pub report: kiln_reports::Report,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_cases: Vec<kiln_reports::TestCase>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code_coverages: Vec<kiln_reports::CodeCoverage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<kiln_reports::Finding>,
    #[serde(default)]
    pub kiln: ReportKiln,
}

/// kiln's notes on one report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReportKiln {
    pub file_format: String,
    pub auto_discovered: bool,
    pub files: Vec<FileDigestSized>,
    /// The normalized report (`reports/<nn>-<group>/report.json`), relative to the record.
    pub normalized: Option<String>,
    pub warnings: Vec<String>,
}

/// A raw report file as kept in the record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileDigestSized {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// `reports/<nn>-<group>/report.json`: the normalized report (kiln-reports `Normalized`), with
/// every test case, coverage row and finding the builder kept (more than `build.json`'s 500).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalizedReport {
    #[serde(default)]
    pub kiln_report: u32,
    #[serde(default)]
    pub file_format: String,
    pub report: kiln_reports::Report,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub test_cases: Option<Vec<kiln_reports::TestCase>>,
    #[serde(default)]
    pub code_coverages: Option<Vec<kiln_reports::CodeCoverage>>,
    #[serde(default)]
    pub findings: Option<Vec<kiln_reports::Finding>>,
    #[serde(default)]
    pub warnings: Vec<kiln_reports::Warning>,
    #[serde(default)]
    pub not_kept: serde_json::Value,
}
