//! The store's rows in CodePipeline's read shapes (kiln-record's `PipelineExecutionSummary` and
//! `PipelineRun`: GetPipelineState's stage and action states), for `kiln pipeline status` and
//! the `kiln ui` pages. The open approval's token is shown only for an approval in progress.

use kiln_pipeline::exec::status::ApprovalStatus;
use kiln_pipeline::store::{ActionRow, ExecutionRow, Snapshot};
use kiln_record::pipeline::{ActionExecution, ActionState, ActionTypeId, ErrorDetails, PipelineExecution, ResolvedVariable, StageExecution, StageState, Trigger};
use kiln_record::{PipelineExecutionSummary, PipelineRun};

use crate::approval::rfc3339;

/// `PipelineExecutionSummary` of a row.
pub fn summary(e: &ExecutionRow) -> PipelineExecutionSummary {
    PipelineExecutionSummary {
        pipeline_name: e.pipeline.clone(),
        pipeline_execution_id: e.id.clone(),
        status: e.status.as_str().to_string(),
        status_summary: e.status_summary.clone(),
        start_time: rfc3339(e.created_at),
        last_update_time: rfc3339(e.updated_at),
        trigger: Some(Trigger { trigger_type: e.trigger_type.clone(), trigger_detail: e.trigger_detail.clone() }),
        execution_mode: Some(e.mode.api_name().to_string()),
        execution_type: Some(e.execution_type.as_str().to_string()),
    }
}

/// The latest attempt of an action.
pub fn latest<'a>(snap: &'a Snapshot, stage: &str, action: &str) -> Option<&'a ActionRow> {
    snap.actions.iter().filter(|r| r.stage == stage && r.action == action).max_by_key(|r| r.attempt)
}

/// The whole run: every declared stage and action, with its latest attempt.
pub fn run(snap: &Snapshot) -> PipelineRun {
    let e = &snap.execution;
    let s = summary(e);
    let execution = PipelineExecution {
        pipeline_name: e.pipeline.clone(),
        pipeline_version: 1,
        pipeline_execution_id: e.id.clone(),
        status: s.status.clone(),
        status_summary: e.status_summary.clone(),
        variables: e.variables.iter().map(|(k, v)| ResolvedVariable { name: k.clone(), resolved_value: v.clone() }).collect(),
        trigger: s.trigger.clone(),
        execution_mode: s.execution_mode.clone(),
        execution_type: s.execution_type.clone(),
        start_time: Some(s.start_time.clone()),
        last_update_time: Some(s.last_update_time.clone()),
    };
    let Ok(read) = kiln_pipeline::read::parse(&e.definition, "definition.json", &Default::default()) else {
        return PipelineRun { pipeline_execution: execution, stage_states: Vec::new() };
    };
    let mut stages = Vec::new();
    for stage in &read.definition.pipeline.stages {
        let name = &stage.name.value;
        let latest_execution = snap.stage(name).map(|r| StageExecution { pipeline_execution_id: e.id.clone(), status: r.status.as_str().to_string(), kind: Some(if r.attempt > 1 { "RETRY" } else { "STANDARD" }.into()) });
        let mut actions = Vec::new();
        for a in &stage.actions {
            let t = &a.action_type_id;
            let row = latest(snap, name, &a.name.value);
            let token = row.and_then(|r| snap.approval(name, &a.name.value, r.attempt)).filter(|ap| ap.status == ApprovalStatus::Pending).map(|ap| ap.token.clone());
            let latest_execution = row.map(|r| ActionExecution {
                action_execution_id: Some(format!("{}-{}-{}-{}", e.id, name, a.name.value, r.attempt)),
                status: r.status.as_str().to_string(),
                summary: r.summary.clone(),
                last_status_change: Some(rfc3339(r.ended_at.unwrap_or(r.started_at))),
                token,
                last_updated_by: r.updated_by.clone(),
                external_execution_id: r.external_execution_id.clone(),
                percent_complete: None,
                error_details: r.error_code.as_ref().map(|c| ErrorDetails { code: c.clone(), message: r.summary.clone().unwrap_or_default() }),
            });
            actions.push(ActionState {
                action_name: a.name.value.clone(),
                latest_execution,
                action_type_id: Some(ActionTypeId { category: t.category.value.clone(), owner: t.owner.value.clone(), provider: t.provider.value.clone(), version: t.version.value.clone() }),
                run_order: Some(a.run_order().clamp(1, 999) as u32),
            });
        }
        stages.push(StageState { stage_name: name.clone(), latest_execution, action_states: actions });
    }
    PipelineRun { pipeline_execution: execution, stage_states: stages }
}
