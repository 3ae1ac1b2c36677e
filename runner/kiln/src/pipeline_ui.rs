//! `kiln ui`'s pipeline seams over the real store: runs read from `.kiln/pipelines/` in
//! CodePipeline's read shapes (`kiln_pipeline_actions::view`), and the Approve/Reject buttons
//! answered through the store (PutApprovalResult with the request's token), so the kiln that
//! drives the run picks the answer up and continues. The answer is recorded as given by the OS
//! user running `kiln ui`.

use kiln_pipeline::exec::{Engine, EngineOptions};
use kiln_pipeline::store::Store;
use kiln_pipeline_actions::view;
use kiln_record::pipeline::{ApprovalRequest, ApprovalStatus};
use kiln_record::{PipelineExecutionSummary, PipelineRun};
use kiln_ui::sources::{Approver, BoxFuture, Pipelines};

/// Pipeline runs from a store.
pub struct StorePipelines {
    pub store: Store,
}

impl Pipelines for StorePipelines {
    fn runs(&self) -> BoxFuture<'_, Vec<PipelineExecutionSummary>> {
        Box::pin(async move { self.store.executions(None).await.map(|l| l.iter().map(view::summary).collect()).unwrap_or_default() })
    }

    fn run<'a>(&'a self, pipeline: &'a str, execution_id: &'a str) -> BoxFuture<'a, Option<PipelineRun>> {
        Box::pin(async move {
            let snap = self.store.snapshot(execution_id).await.ok()?;
            (snap.execution.pipeline == pipeline).then(|| view::run(&snap))
        })
    }
}

/// Approvals answered through a store.
pub struct StoreApprover {
    pub store: Store,
}

impl Approver for StoreApprover {
    fn answer<'a>(&'a self, r: &'a ApprovalRequest) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let snap = self.store.snapshot(&r.pipeline_execution_id).await.map_err(|e| e.to_string())?;
            if snap.execution.pipeline != r.pipeline_name {
                return Err(format!("run {} is not a run of {}", r.pipeline_execution_id, r.pipeline_name));
            }
            let approved = r.result.status == ApprovalStatus::Approved;
            let by = kiln_pipeline_actions::os_user();
            let engine = Engine::new(self.store.clone(), Default::default(), EngineOptions::default());
            engine.approve(&r.pipeline_execution_id, &r.stage_name, &r.action_name, Some(&r.token), approved, &r.result.summary, &by).await.map_err(|e| e.to_string())?;
            Ok(format!("{} by {by} at {}", if approved { "approved" } else { "rejected" }, kiln_pipeline_actions::approval::rfc3339(kiln_pipeline::store::now_ms())))
        })
    }
}
