//! A pipeline run as read back: CodePipeline's `PipelineExecutionSummary` (ListPipelineExecutions),
//! `PipelineExecution` (GetPipelineExecution) and the stage and action states of GetPipelineState
//! (`StageState`, `StageExecution`, `ActionState`, `ActionExecution`, `ErrorDetails`), field names
//! exactly as the API's (`shared/reference/codepipeline.md` §6, §7). The pipeline store
//! (`kiln-pipeline`, SQLite) is the writer; whoever connects it to the UI converts its rows into
//! these shapes.
//!
//! kiln extensions, marked: each action's `actionTypeId` and `runOrder` (from the pipeline's
//! declaration, GetPipeline's `ActionDeclaration`), so a page can tell a manual approval from a
//! build and draw run orders without a second document.

use serde::{Deserialize, Serialize};

/// One run in a list (`PipelineExecutionSummary`, plus the pipeline's name).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PipelineExecutionSummary {
    pub pipeline_name: String,
    pub pipeline_execution_id: String,
    /// `Cancelled`, `InProgress`, `Stopped`, `Stopping`, `Succeeded`, `Superseded`, `Failed`.
    pub status: String,
    pub status_summary: Option<String>,
    pub start_time: String,
    pub last_update_time: String,
    pub trigger: Option<Trigger>,
    pub execution_mode: Option<String>,
    pub execution_type: Option<String>,
}

/// `ExecutionTrigger`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Trigger {
    pub trigger_type: String,
    pub trigger_detail: Option<String>,
}

/// One run in full: the execution and its stages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PipelineRun {
    pub pipeline_execution: PipelineExecution,
    pub stage_states: Vec<StageState>,
}

/// `PipelineExecution`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PipelineExecution {
    pub pipeline_name: String,
    pub pipeline_version: u64,
    pub pipeline_execution_id: String,
    pub status: String,
    pub status_summary: Option<String>,
    pub variables: Vec<ResolvedVariable>,
    pub trigger: Option<Trigger>,
    pub execution_mode: Option<String>,
    pub execution_type: Option<String>,
    /// kiln extension: when the run started and last changed (the summary's fields).
    pub start_time: Option<String>,
    pub last_update_time: Option<String>,
}

/// `ResolvedPipelineVariable`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResolvedVariable {
    pub name: String,
    pub resolved_value: String,
}

/// `StageState`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StageState {
    pub stage_name: String,
    pub latest_execution: Option<StageExecution>,
    pub action_states: Vec<ActionState>,
}

/// `StageExecution`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StageExecution {
    pub pipeline_execution_id: String,
    /// `Cancelled`, `InProgress`, `Failed`, `Stopped`, `Stopping`, `Succeeded`, `Skipped`.
    pub status: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// `ActionState`, plus the declaration's type and run order (kiln extension).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ActionState {
    pub action_name: String,
    pub latest_execution: Option<ActionExecution>,
    /// kiln extension: `ActionDeclaration.actionTypeId`.
    pub action_type_id: Option<ActionTypeId>,
    /// kiln extension: `ActionDeclaration.runOrder` (1 when absent).
    pub run_order: Option<u32>,
}

impl ActionState {
    /// A manual approval (`Approval` / `AWS` / `Manual`).
    pub fn is_manual_approval(&self) -> bool {
        self.action_type_id.as_ref().is_some_and(|t| t.category == "Approval" && t.provider == "Manual")
    }

    /// The open approval's token: a manual approval in progress with a token (in PARALLEL
    /// mode CodePipeline gives none; then `externalExecutionId` stands for it, §7).
    pub fn open_approval_token(&self) -> Option<&str> {
        let e = self.latest_execution.as_ref()?;
        if !self.is_manual_approval() || e.status != "InProgress" {
            return None;
        }
        e.token.as_deref().or(e.external_execution_id.as_deref())
    }
}

/// `ActionTypeId`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionTypeId {
    pub category: String,
    pub owner: String,
    pub provider: String,
    pub version: String,
}

/// `ActionExecution`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ActionExecution {
    pub action_execution_id: Option<String>,
    /// `InProgress`, `Abandoned`, `Succeeded`, `Failed`.
    pub status: String,
    pub summary: Option<String>,
    pub last_status_change: Option<String>,
    /// The approval token of an open manual approval.
    pub token: Option<String>,
    pub last_updated_by: Option<String>,
    pub external_execution_id: Option<String>,
    pub percent_complete: Option<u8>,
    pub error_details: Option<ErrorDetails>,
}

/// `ErrorDetails`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorDetails {
    pub code: String,
    pub message: String,
}

/// `ApprovalResult.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApprovalStatus {
    Approved,
    Rejected,
}

/// `PutApprovalResultInput`: what an Approve or Reject click asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    pub pipeline_name: String,
    /// kiln extension: the run the approval belongs to (the token alone names it in AWS).
    pub pipeline_execution_id: String,
    pub stage_name: String,
    pub action_name: String,
    pub token: String,
    /// `{summary, status}`.
    pub result: ApprovalResult,
}

/// `ApprovalResult`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalResult {
    pub summary: String,
    pub status: ApprovalStatus,
}
