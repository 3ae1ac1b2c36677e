//! The batch record, `.kiln/batches/<uuid>/batch.json`: CodeBuild's `BuildBatch` object (field
//! names and values of the API, botocore `service-2.json`) where it has a field for something,
//! plus kiln's own section. Rewritten atomically (temp file + rename) after every change, the
//! last time also fsynced: a reader, or a `kill -9`, sees one complete version or the one before.
//! A batch whose kiln was killed keeps its last version: `complete: false`,
//! `buildBatchStatus: IN_PROGRESS`, and the groups of the builds that were running still
//! `IN_PROGRESS` (their own `build.json` say the same).
//!
//! Phases (`BuildBatchPhase.phaseType`): `SUBMITTED`, `DOWNLOAD_BATCHSPEC` (the buildspecs read and
//! the batch planned), `IN_PROGRESS` (the builds run), `COMBINE_ARTIFACTS` (only when combining),
//! and a last phase named after the outcome, `SUCCEEDED`, `FAILED` or `STOPPED`, with no end. The
//! phase type list has no `TIMED_OUT`: a batch that ran out of time ends `IN_PROGRESS` with
//! `phaseStatus: TIMED_OUT`, then `FAILED`, and `buildBatchStatus: TIMED_OUT` (kiln proposal).

use std::io;
use std::path::{Path, PathBuf};

use kiln_engine::record::{now_rfc3339, ArtifactRecord, BuildspecRef, NameValue, PhaseContext};
use serde::Serialize;

use crate::plan::{BatchPlan, Kind, RecordedEnv};

/// `BuildBatch`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildBatchRecord {
    /// `project:uuid`.
    pub id: String,
    pub arn: String,
    /// 1, 2, … per project (the record root's `batch-number` counter).
    pub build_batch_number: u64,
    pub project_name: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub current_phase: String,
    /// `IN_PROGRESS`, then `SUCCEEDED`, `FAILED`, `STOPPED` or `TIMED_OUT`.
    pub build_batch_status: String,
    pub complete: bool,
    pub initiator: String,
    pub source_version: Option<String>,
    pub resolved_source_version: Option<String>,
    /// Each build's timeout (`--timeout`, else 60 minutes unless a buildspec says otherwise).
    pub build_timeout_in_minutes: Option<u64>,
    pub phases: Vec<BatchPhase>,
    pub build_batch_config: BatchConfig,
    /// The combined artifact (`--combine-artifacts`), once made.
    pub artifacts: Option<ArtifactRecord>,
    pub build_groups: Vec<BuildGroup>,
    pub kiln: BatchKiln,
}

/// `BuildBatchPhase`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchPhase {
    pub phase_type: String,
    pub phase_status: Option<String>,
    pub start_time: String,
    pub end_time: Option<String>,
    pub duration_in_seconds: Option<u64>,
    pub contexts: Vec<PhaseContext>,
    #[serde(skip)]
    started: Option<std::time::Instant>,
}

/// `ProjectBuildBatchConfig`: the project settings kiln takes as flags.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchConfig {
    /// `--combine-artifacts`.
    pub combine_artifacts: bool,
    /// `--batch-timeout`.
    pub timeout_in_mins: u64,
}

/// `BuildGroup`: one build of the batch.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildGroup {
    pub identifier: String,
    pub depends_on: Vec<String>,
    pub ignore_failure: bool,
    /// The build started for this group; absent while it waits and when it never started (the
    /// reason is in `kiln.builds[].notStarted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_build_summary: Option<BuildSummary>,
}

/// `BuildSummary`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildSummary {
    /// The build's ARN (`CODEBUILD_BUILD_ARN`).
    pub arn: String,
    pub requested_on: String,
    pub build_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_artifact: Option<ResolvedArtifact>,
    pub secondary_artifacts: Vec<ResolvedArtifact>,
}

/// `ResolvedArtifact`. `type` is left out: its values (`CODEPIPELINE`, `S3`, `NO_ARTIFACTS`) have
/// none for kiln's local artifact directories.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedArtifact {
    /// The artifact's path (a directory, or a zip with `--zip`).
    pub location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
}

impl ResolvedArtifact {
    pub fn from_record(a: &ArtifactRecord) -> ResolvedArtifact {
        ResolvedArtifact { location: a.location.clone(), identifier: a.artifact_identifier.clone() }
    }
}

/// kiln's own part of the record.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchKiln {
    pub version: String,
    /// The batch buildspec.
    pub buildspec: BuildspecRef,
    pub source_dir: String,
    pub record_dir: String,
    pub kind: Kind,
    pub fast_fail: bool,
    /// `--parallel`: how many builds ran at once at most.
    pub parallel: usize,
    /// What kiln did not do or did differently from CodeBuild, shown once at the start.
    pub notices: Vec<String>,
    pub builds: Vec<KilnBuild>,
    /// Why the batch ended as it did (which build failed with `fast-fail`, the signal, …).
    pub reason: Option<String>,
    /// The signed batch statement (`batch.intoto.jsonl`), once written.
    pub provenance: Option<String>,
}

/// kiln's view of one build of the batch.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KilnBuild {
    pub identifier: String,
    /// The buildspec it ran (relative to the source), `null` for the batch's own.
    pub buildspec: Option<String>,
    /// `env.variables` applied to it.
    pub environment_variables: Vec<NameValue>,
    /// `env` settings and `debug-session` recorded, not applied.
    pub recorded: RecordedEnv,
    /// A matrix build's combination.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub combination: Vec<NameValue>,
    /// The build's id (`project:uuid`) and record, once started.
    pub build_id: Option<String>,
    pub record_dir: Option<String>,
    /// Why it never started (a dependency failed, fast-fail, the batch was stopped).
    pub not_started: Option<String>,
    /// Why kiln could not run it (status `FAULT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Its signed provenance, if it produced artifacts.
    pub provenance: Option<FileRef>,
}

/// A file by path and sha256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileRef {
    pub path: String,
    pub sha256: String,
}

/// What the record is made from at the start.
pub struct Start<'a> {
    pub plan: &'a BatchPlan,
    pub uuid: &'a str,
    pub project: &'a str,
    pub region: &'a str,
    pub number: u64,
    pub initiator: &'a str,
    pub source_dir: &'a Path,
    pub record_dir: &'a Path,
    pub buildspec: BuildspecRef,
    pub source_version: Option<String>,
    pub resolved_source_version: Option<String>,
    pub build_timeout_minutes: Option<u64>,
    pub config: BatchConfig,
    pub parallel: usize,
    pub notices: Vec<String>,
}

/// The record and where it is written: every change is saved before the method returns.
pub struct Recorder {
    pub record: BuildBatchRecord,
    path: PathBuf,
}

impl Recorder {
    /// The record of a batch just submitted (phase `SUBMITTED`), written to `<record_dir>/batch.json`.
    pub fn start(s: Start) -> io::Result<Recorder> {
        let id = format!("{}:{}", s.project, s.uuid);
        let builds = s
            .plan
            .builds
            .iter()
            .map(|b| KilnBuild {
                identifier: b.identifier.clone(),
                buildspec: b.buildspec.clone(),
                environment_variables: b.variables.iter().map(|(k, v)| NameValue { name: k.clone(), value: v.clone() }).collect(),
                recorded: b.recorded.clone(),
                combination: b.combination.iter().map(|(k, v)| NameValue { name: k.clone(), value: v.clone() }).collect(),
                build_id: None,
                record_dir: None,
                not_started: None,
                fault: None,
                provenance: None,
            })
            .collect();
        let record = BuildBatchRecord {
            arn: kiln_engine::context::batch_arn(s.region, &id),
            id,
            build_batch_number: s.number,
            project_name: s.project.to_string(),
            start_time: now_rfc3339(),
            end_time: None,
            current_phase: String::new(),
            build_batch_status: "IN_PROGRESS".into(),
            complete: false,
            initiator: s.initiator.to_string(),
            source_version: s.source_version,
            resolved_source_version: s.resolved_source_version,
            build_timeout_in_minutes: s.build_timeout_minutes,
            phases: Vec::new(),
            build_batch_config: s.config,
            artifacts: None,
            build_groups: s.plan.builds.iter().map(|b| BuildGroup { identifier: b.identifier.clone(), depends_on: b.depend_on.clone(), ignore_failure: b.ignore_failure, current_build_summary: None }).collect(),
            kiln: BatchKiln {
                version: env!("CARGO_PKG_VERSION").into(),
                buildspec: s.buildspec,
                source_dir: s.source_dir.display().to_string(),
                record_dir: s.record_dir.display().to_string(),
                kind: s.plan.kind,
                fast_fail: s.plan.fast_fail,
                parallel: s.parallel,
                notices: s.notices,
                builds,
                reason: None,
                provenance: None,
            },
        };
        let mut r = Recorder { record, path: s.record_dir.join("batch.json") };
        r.begin("SUBMITTED")?;
        Ok(r)
    }

    /// Where the record is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write the record as it is now (atomically; fsynced when `durable`).
    pub fn save_with(&self, durable: bool) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(&self.record).map_err(io::Error::other)?;
        kiln_fs::write_atomic(&self.path, &json, durable)
    }

    pub fn save(&self) -> io::Result<()> {
        self.save_with(false)
    }

    /// Start phase `phase_type` (ending the current one, if still open, as succeeded).
    pub fn begin(&mut self, phase_type: &str) -> io::Result<()> {
        if self.record.phases.last().is_some_and(|p| p.phase_status.is_none() && !is_final(&p.phase_type)) {
            self.close("SUCCEEDED", None);
        }
        self.record.current_phase = phase_type.into();
        self.record.phases.push(BatchPhase { phase_type: phase_type.into(), phase_status: None, start_time: now_rfc3339(), end_time: None, duration_in_seconds: None, contexts: Vec::new(), started: Some(std::time::Instant::now()) });
        self.save()
    }

    /// End the current phase with `status` and, optionally, a context (`statusCode`, message).
    pub fn end(&mut self, status: &str, context: Option<(String, String)>) -> io::Result<()> {
        self.close(status, context);
        self.save()
    }

    fn close(&mut self, status: &str, context: Option<(String, String)>) {
        if let Some(p) = self.record.phases.last_mut() {
            p.phase_status = Some(status.into());
            p.end_time = Some(now_rfc3339());
            p.duration_in_seconds = p.started.map(|s| s.elapsed().as_secs());
            if let Some((code, message)) = context {
                p.contexts.push(PhaseContext { status_code: code, message });
            }
        }
    }

    /// Build `index` was started with this id and ARN.
    pub fn started(&mut self, index: usize, build_id: &str, arn: &str, record_dir: &Path) -> io::Result<()> {
        self.record.build_groups[index].current_build_summary = Some(BuildSummary { arn: arn.into(), requested_on: now_rfc3339(), build_status: "IN_PROGRESS".into(), primary_artifact: None, secondary_artifacts: Vec::new() });
        let k = &mut self.record.kiln.builds[index];
        k.build_id = Some(build_id.into());
        k.record_dir = Some(record_dir.display().to_string());
        self.save()
    }

    /// Build `index` finished.
    pub fn finished(&mut self, index: usize, outcome: &crate::ChildOutcome) -> io::Result<()> {
        if let Some(s) = self.record.build_groups[index].current_build_summary.as_mut() {
            s.build_status = outcome.build_status.clone();
            s.primary_artifact = outcome.primary_artifact.as_ref().map(ResolvedArtifact::from_record);
            s.secondary_artifacts = outcome.secondary_artifacts.iter().map(ResolvedArtifact::from_record).collect();
        }
        let k = &mut self.record.kiln.builds[index];
        k.fault = outcome.fault.clone();
        k.provenance = outcome.provenance.clone();
        self.save()
    }

    /// Build `index` never starts, for `reason`.
    pub fn not_started(&mut self, index: usize, reason: &str) -> io::Result<()> {
        self.record.kiln.builds[index].not_started = Some(reason.into());
        self.save()
    }

    /// The batch's outcome is known (its status, why, its end time), before the batch statement
    /// that names it is signed; [`Recorder::complete`] then closes the record.
    pub fn settle(&mut self, status: &str, reason: Option<String>) -> io::Result<()> {
        self.record.build_batch_status = status.into();
        self.record.kiln.reason = reason;
        self.record.end_time = Some(now_rfc3339());
        self.save()
    }

    /// The batch is over: its status, the last phase named after it, and the end time; written
    /// durably.
    pub fn complete(&mut self, status: &str, reason: Option<String>) -> io::Result<()> {
        let last = match status {
            "SUCCEEDED" => "SUCCEEDED",
            "STOPPED" => "STOPPED",
            _ => "FAILED",
        };
        if self.record.phases.last().is_some_and(|p| p.phase_status.is_none()) {
            let phase_status = if status == "SUCCEEDED" { "SUCCEEDED" } else { status };
            self.close(phase_status, reason.clone().map(|r| (status.to_string(), r)));
        }
        self.record.kiln.reason = reason;
        self.record.build_batch_status = status.into();
        self.record.current_phase = last.into();
        self.record.phases.push(BatchPhase { phase_type: last.into(), phase_status: None, start_time: now_rfc3339(), end_time: None, duration_in_seconds: None, contexts: Vec::new(), started: None });
        if self.record.end_time.is_none() {
            self.record.end_time = Some(now_rfc3339());
        }
        self.record.complete = true;
        self.save_with(true)
    }
}

fn is_final(phase_type: &str) -> bool {
    matches!(phase_type, "SUCCEEDED" | "FAILED" | "STOPPED")
}
