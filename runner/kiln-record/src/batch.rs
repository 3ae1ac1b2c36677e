//! `batch.json` as read back: CodeBuild's `BuildBatch` (`BuildBatchPhase`, `BuildGroup`,
//! `BuildSummary`, `ResolvedArtifact`) plus kiln's section, with the names
//! `kiln-batch/src/record.rs` writes. Tolerant as [`crate::build`] is.

use serde::{Deserialize, Serialize};

use crate::build::{Artifact, FileDigest, NameValue, PhaseContext};

/// `BuildBatch`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BuildBatch {
    pub id: String,
    pub arn: String,
    pub build_batch_number: u64,
    pub project_name: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub current_phase: String,
    /// `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `STOPPED`, `TIMED_OUT`.
    pub build_batch_status: String,
    pub complete: bool,
    pub initiator: String,
    pub source_version: Option<String>,
    pub resolved_source_version: Option<String>,
    pub build_timeout_in_minutes: Option<u64>,
    pub phases: Vec<BatchPhase>,
    pub build_batch_config: BatchConfig,
    pub artifacts: Option<Artifact>,
    pub build_groups: Vec<BuildGroup>,
    pub kiln: BatchKiln,
}

impl BuildBatch {
    /// The uuid part of `id`, which names the record directory.
    pub fn uuid(&self) -> &str {
        self.id.rsplit(':').next().unwrap_or(&self.id)
    }
}

/// `BuildBatchPhase`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BatchPhase {
    pub phase_type: String,
    pub phase_status: Option<String>,
    pub start_time: String,
    pub end_time: Option<String>,
    pub duration_in_seconds: Option<u64>,
    pub contexts: Vec<PhaseContext>,
}

/// `ProjectBuildBatchConfig` as far as kiln fills it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BatchConfig {
    pub combine_artifacts: bool,
    pub timeout_in_mins: u64,
}

/// `BuildGroup`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BuildGroup {
    pub identifier: String,
    pub depends_on: Vec<String>,
    pub ignore_failure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_build_summary: Option<BuildSummary>,
}

/// `BuildSummary`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BuildSummary {
    pub arn: String,
    pub requested_on: String,
    pub build_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_artifact: Option<ResolvedArtifact>,
    pub secondary_artifacts: Vec<ResolvedArtifact>,
}

/// `ResolvedArtifact`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResolvedArtifact {
    pub location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
}

/// kiln's section of a batch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BatchKiln {
    pub version: String,
    pub buildspec: FileDigest,
    pub source_dir: String,
    pub record_dir: String,
    /// `build-list`, `build-graph` or `build-matrix`.
    pub kind: String,
    pub fast_fail: bool,
    pub parallel: u64,
    pub notices: Vec<String>,
    pub builds: Vec<BatchBuild>,
    pub reason: Option<String>,
    pub provenance: Option<String>,
}

/// kiln's view of one build of a batch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BatchBuild {
    pub identifier: String,
    pub buildspec: Option<String>,
    pub environment_variables: Vec<NameValue>,
    /// `image`, `compute-type` … recorded, not applied.
    pub recorded: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub combination: Vec<NameValue>,
    /// `project:uuid` once started.
    pub build_id: Option<String>,
    pub record_dir: Option<String>,
    pub not_started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    pub provenance: Option<FileDigest>,
}

impl BatchBuild {
    /// The uuid of the build's record, once started.
    pub fn build_uuid(&self) -> Option<&str> {
        self.build_id.as_deref().and_then(|id| id.rsplit(':').next())
    }
}
