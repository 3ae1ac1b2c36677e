//! kiln-batch: CodeBuild batch builds (`start-build-batch`) on one machine — `kiln build --batch`.
//!
//! A buildspec's `batch:` section (read and checked by `kiln-spec`) becomes child builds here:
//! * [`plan`] expands `build-list`, `build-graph` and `build-matrix` into [`ChildPlan`]s
//!   (identifier, buildspec, `env.variables`, `ignore-failure`, `depend-on`, and the `env`
//!   settings kiln records but does not apply). Pure: no I/O.
//! * [`schedule::run`] starts them through a [`Launcher`] (the CLI's, which runs
//!   `kiln_engine::run_build` and signs the provenance), bounded by `--parallel`, in dependency
//!   order, with `fast-fail`, `ignore-failure`, stop requests and the batch timeout.
//! * [`record`] keeps `.kiln/batches/<uuid>/batch.json`, shaped like CodeBuild's `BuildBatch`.
//! * [`combine`] makes the combined artifact (`--combine-artifacts`).
//!
//! Semantics follow the CodeBuild user guide (batch-build.html, batch-build-buildspec.html,
//! build-env-ref-env-vars.html, sample-pipeline-batch.html) and the API model (botocore
//! `service-2.json`: BuildBatch, BuildGroup, BuildSummary, BuildBatchPhase); where the guide is
//! silent, the module docs say what kiln decided and why ("kiln proposal"). `build-fanout` is not
//! run: its shards depend on CodeBuild's `codebuild-tests-run` test splitter ([`PlanError::Fanout`]).
//! Batches do not nest: a child's own `batch:` is ignored, with a notice, as CodeBuild does.
//!
//! Each child is an ordinary kiln build with its own sandbox, working copy, scratch space and
//! `.kiln/builds/<uuid>/` record; the batch adds `buildBatchArn`, `CODEBUILD_BATCH_BUILD_IDENTIFIER`
//! and `CODEBUILD_BUILD_BATCH_TRIGGERED` (see `kiln_engine::context::batch_env`).

pub mod combine;
pub mod plan;
pub mod record;
pub mod schedule;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use kiln_engine::record::ArtifactRecord;
use kiln_engine::Stop;

pub use plan::{plan, BatchPlan, ChildPlan, Kind, PlanError, RecordedEnv};
pub use record::{FileRef, Recorder};
pub use schedule::{Controls, Ended, Observer};

/// How one build of the batch ended.
#[derive(Clone, Debug, Default)]
pub struct ChildOutcome {
    /// `buildStatus`: `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `STOPPED`, or `FAULT` when kiln could not
    /// run it.
    pub build_status: String,
    pub primary_artifact: Option<ArtifactRecord>,
    pub secondary_artifacts: Vec<ArtifactRecord>,
    /// Its signed provenance, if it had artifacts.
    pub provenance: Option<FileRef>,
    /// Why kiln could not run it (with `FAULT`).
    pub fault: Option<String>,
}

impl ChildOutcome {
    /// A build kiln could not run.
    pub fn fault(message: String) -> ChildOutcome {
        ChildOutcome { build_status: "FAULT".into(), fault: Some(message), ..Default::default() }
    }
}

/// A build being started: its names, known before it runs, and the run itself.
pub struct Launched {
    /// `project:uuid`.
    pub build_id: String,
    pub arn: String,
    /// `.kiln/builds/<uuid>`.
    pub record_dir: PathBuf,
    pub run: Pin<Box<dyn Future<Output = ChildOutcome> + Send>>,
}

/// Starts one build of the batch (the CLI runs it with `kiln_engine::run_build`). `stop` is the
/// build's own stop handle: the scheduler stops it on fast-fail, Ctrl-C or the batch timeout.
pub trait Launcher: Send + Sync + 'static {
    fn launch(self: Arc<Self>, index: usize, stop: Stop) -> Launched;
}

/// A fresh random uuid, for a batch or a build of it.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}
