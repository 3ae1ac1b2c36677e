//! The seams through which `kiln ui` sees deployments and pipeline runs, so the pages do not
//! depend on how those are run or stored (`kiln-deploy`'s records and live router metrics,
//! `kiln-pipeline`'s SQLite store): whoever starts the server passes implementations.
//!
//! - [`Deployments`]: the deployments. [`FileDeployments`] reads
//!   `.kiln/deployments/<id>/deployment.json` (CodeDeploy's `DeploymentInfo` shape), which
//!   kiln-deploy rewrites while the deployment runs: traffic weights and their history, the
//!   targets' lifecycle events, each alarm's state changes and the datapoints it evaluated
//!   (what the charts draw). [`Deployments::changed`] tells the live page when to redraw.
//! - [`Pipelines`]: pipeline runs in CodePipeline's read shapes. [`NoPipelines`] has none.
//! - [`Approver`]: answers a manual approval (CodePipeline's PutApprovalResult). [`NoApprover`]
//!   refuses. The server calls it only for a POST with the access token, the session's CSRF
//!   token and `--allow-approvals`.
//!
//! Every method returns a boxed future: the real stores are async (sqlx).

use std::future::Future;
use std::pin::Pin;

use kiln_record::pipeline::ApprovalRequest;
use kiln_record::{DeploymentInfo, Kind, PipelineExecutionSummary, PipelineRun, RecordId, Records};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where deployments come from.
pub trait Deployments: Send + Sync {
    /// Every deployment, newest first; one that cannot be read is an `Err` naming its file.
    fn list(&self) -> BoxFuture<'_, Vec<Result<DeploymentInfo, String>>>;
    /// One deployment (`None`: there is no such deployment).
    fn get<'a>(&'a self, id: &'a RecordId) -> BoxFuture<'a, Option<Result<DeploymentInfo, String>>>;
    /// A value that changes whenever the deployment does (its record's size and modification
    /// time), so a live page redraws only then; `None` when it cannot be read.
    fn changed<'a>(&'a self, id: &'a RecordId) -> BoxFuture<'a, Option<String>>;
}

/// Where pipeline runs come from.
pub trait Pipelines: Send + Sync {
    /// Every run, newest first.
    fn runs(&self) -> BoxFuture<'_, Vec<PipelineExecutionSummary>>;
    /// One run (`None`: unknown pipeline or execution).
    fn run<'a>(&'a self, pipeline: &'a str, execution_id: &'a str) -> BoxFuture<'a, Option<PipelineRun>>;
}

/// Answers manual approvals.
pub trait Approver: Send + Sync {
    /// Approve or reject; `Ok` with what happened (`approved at …`), `Err` with why not (the
    /// token is stale, the approval was already answered, …).
    fn answer<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Result<String, String>>;
}

/// Deployments read from `.kiln/deployments/`.
pub struct FileDeployments {
    pub records: Records,
}

impl Deployments for FileDeployments {
    fn list(&self) -> BoxFuture<'_, Vec<Result<DeploymentInfo, String>>> {
        Box::pin(async move {
            // `.kiln/deployments/` also holds kiln-deploy's own directories (`groups/`,
            // `revisions/`, `fleet/`): a directory without a deployment.json is not a deployment.
            let mut out: Vec<Result<DeploymentInfo, String>> = self
                .records
                .ids(Kind::Deployment)
                .iter()
                .filter_map(|id| match self.records.deployment(id) {
                    Err(e) if e.is_not_found() => None,
                    r => Some(r.map_err(|e| e.to_string())),
                })
                .collect();
            let key = |r: &Result<DeploymentInfo, String>| r.as_ref().map(|d| d.create_time.clone()).unwrap_or_default();
            out.sort_by_key(|r| std::cmp::Reverse(key(r)));
            out
        })
    }

    fn get<'a>(&'a self, id: &'a RecordId) -> BoxFuture<'a, Option<Result<DeploymentInfo, String>>> {
        Box::pin(async move {
            match self.records.deployment(id) {
                Err(e) if e.is_not_found() => None,
                r => Some(r.map_err(|e| e.to_string())),
            }
        })
    }

    fn changed<'a>(&'a self, id: &'a RecordId) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let rel = kiln_record::RelPath::parse("deployment.json")?;
            let input = self.records.open(Kind::Deployment, id, &rel).ok()?;
            let m = input.metadata();
            Some(format!("{}:{:?}", m.len(), m.modified().ok()))
        })
    }
}

/// No pipeline store connected.
pub struct NoPipelines;

impl Pipelines for NoPipelines {
    fn runs(&self) -> BoxFuture<'_, Vec<PipelineExecutionSummary>> {
        Box::pin(async { Vec::new() })
    }
    fn run<'a>(&'a self, _pipeline: &'a str, _execution_id: &'a str) -> BoxFuture<'a, Option<PipelineRun>> {
        Box::pin(async { None })
    }
}

/// No approvals possible.
pub struct NoApprover;

impl Approver for NoApprover {
    fn answer<'a>(&'a self, _request: &'a ApprovalRequest) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async { Err("no pipeline run is connected to this kiln ui".to_string()) })
    }
}
