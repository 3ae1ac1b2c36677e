//! The read side of kiln's records: what `kiln ui`, `kiln report --html` and any other reader
//! use to look at builds, batches, reports, deployments and pipeline runs without linking the
//! code that makes them.
//!
//! - [`build`]: `.kiln/builds/<uuid>/build.json` (CodeBuild's `Build`, kiln's section, the
//!   reports in kiln-reports' model) and a report's normalized `report.json`;
//! - [`batch`]: `.kiln/batches/<uuid>/batch.json` (CodeBuild's `BuildBatch`);
//! - [`deploy`]: `.kiln/deployments/<id>/deployment.json` (CodeDeploy's `DeploymentInfo` and
//!   `DeploymentTarget`s);
//! - [`pipeline`]: a pipeline run as CodePipeline's read APIs shape it, and an approval answer;
//! - [`store`]: [`Records`], the confined reader of a `.kiln` directory.
//!
//! **Why a read model of its own** (and not the writers' types made `Deserialize`): the writers'
//! types live with what writes them (`kiln-engine` with the sandbox, the shell and the record
//! thread; `kiln-batch`; `kiln-deploy`; `kiln-pipeline` with SQLite), and a page must not link
//! any of that (a change to how builds run cannot break a page, and a page cannot reach what the
//! record does not hold). Readers also need what writers must not have: every field defaulted
//! and statuses kept as strings, so that a record written by an older kiln (a field missing) or a
//! newer one (a new status, a new report type) still shows. The one model that is already
//! shared and light, kiln-reports' `Report`/`TestCase`/`CodeCoverage`/`Finding`, is used as it
//! is, each report read on its own ([`Lenient`]). The two sides are held together by tests that
//! read what the writers write with [`parse_checked`], which lists every field the reader would
//! drop (`runner/kiln/tests/ui.rs` on real builds and batches).
//!
//! **Security.** Ids from a URL or a command line are checked ([`RecordId`], [`RelPath`]) before
//! they become paths; files are opened inside their record only, never through a link out, and
//! read with a size limit (see [`store`]). Records hold no secret values (the engine masks them
//! before writing); this crate never reads the shell state or a secrets file.

pub mod batch;
pub mod build;
pub mod deploy;
mod lenient;
pub mod pipeline;
pub mod store;

pub use batch::BuildBatch;
pub use build::{Build, NormalizedReport, ReportEntry};
pub use deploy::DeploymentInfo;
pub use lenient::Lenient;
pub use pipeline::{PipelineExecutionSummary, PipelineRun};
pub use store::{parse_checked, Kind, ReadError, Records, RecordId, RelPath};
