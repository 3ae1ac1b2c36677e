//! What the store holds, read back: an execution with its stages, action attempts, artifacts and
//! approvals ([`Snapshot`]), and the execution list.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{Store, StoreError};
use crate::exec::status::{ActionStatus, ApprovalStatus, ExecutionStatus, ExecutionType, RetryMode, StageStatus};
use crate::model::ExecutionMode;

/// An execution (`PipelineExecution`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExecutionRow {
    pub id: String,
    pub pipeline: String,
    pub seq: i64,
    #[serde(skip)]
    pub definition: String,
    pub definition_digest: String,
    pub mode: ExecutionMode,
    pub execution_type: ExecutionType,
    pub rollback_target: Option<String>,
    pub rollback_stage: Option<String>,
    pub status: ExecutionStatus,
    pub status_summary: Option<String>,
    pub waiting_stage: Option<String>,
    pub stop_abandon: bool,
    pub variables: BTreeMap<String, String>,
    pub trigger_type: String,
    /// `trigger.triggerDetail`: for a push, the ref, the commit and the filter that matched.
    pub trigger_detail: Option<String>,
    /// Pinned source revisions (schema 3).
    pub source_revisions: Vec<crate::exec::traits::SourceRevision>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A stage of an execution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageRow {
    pub stage: String,
    pub attempt: i64,
    pub retry_mode: Option<RetryMode>,
    pub retry_trigger: Option<String>,
    pub auto_retries: i64,
    pub status: StageStatus,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

/// One attempt of an action (`ActionExecution`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionRow {
    pub stage: String,
    pub action: String,
    pub attempt: i64,
    pub stage_attempt: i64,
    pub status: ActionStatus,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub summary: Option<String>,
    pub error_code: Option<String>,
    pub resolved_configuration: BTreeMap<String, String>,
    pub output_variables: BTreeMap<String, String>,
    pub external_execution_id: Option<String>,
    /// [`crate::exec::traits::ActionOutput::details`] (schema 2).
    pub output_details: BTreeMap<String, String>,
    pub updated_by: Option<String>,
}

/// An artifact of an execution, by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArtifactRow {
    pub name: String,
    pub digest: String,
    pub size: i64,
    pub stage: String,
    pub action: String,
    pub attempt: i64,
}

/// A manual approval request and its answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApprovalRow {
    pub stage: String,
    pub action: String,
    pub attempt: i64,
    pub token: String,
    pub status: ApprovalStatus,
    pub custom_data: Option<String>,
    pub external_entity_link: Option<String>,
    pub requested_at: i64,
    pub expires_at: i64,
    pub summary: Option<String>,
    pub answered_by: Option<String>,
    pub answered_at: Option<i64>,
}

/// Everything about one execution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Snapshot {
    pub execution: ExecutionRow,
    pub stages: Vec<StageRow>,
    /// Every attempt of every action, oldest first.
    pub actions: Vec<ActionRow>,
    pub artifacts: Vec<ArtifactRow>,
    pub approvals: Vec<ApprovalRow>,
}

impl Snapshot {
    pub fn stage(&self, name: &str) -> Option<&StageRow> {
        self.stages.iter().find(|s| s.stage == name)
    }

    /// The latest attempt of an action.
    pub fn action(&self, stage: &str, action: &str) -> Option<&ActionRow> {
        self.actions.iter().filter(|a| a.stage == stage && a.action == action).max_by_key(|a| a.attempt)
    }

    pub fn artifact(&self, name: &str) -> Option<&ArtifactRow> {
        self.artifacts.iter().find(|a| a.name == name)
    }

    pub fn approval(&self, stage: &str, action: &str, attempt: i64) -> Option<&ApprovalRow> {
        self.approvals.iter().find(|a| a.stage == stage && a.action == action && a.attempt == attempt)
    }
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} `{value}`"))
}

fn json_map(s: Option<String>) -> BTreeMap<String, String> {
    s.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
}

pub(crate) fn execution(r: &SqliteRow) -> Result<ExecutionRow, StoreError> {
    let status: String = r.try_get("status")?;
    let mode: String = r.try_get("mode")?;
    let ty: String = r.try_get("execution_type")?;
    Ok(ExecutionRow {
        id: r.try_get("id")?,
        pipeline: r.try_get("pipeline")?,
        seq: r.try_get("seq")?,
        definition: r.try_get("definition")?,
        definition_digest: r.try_get("definition_digest")?,
        mode: ExecutionMode::parse(&mode).ok_or_else(|| corrupt("execution mode", &mode))?,
        execution_type: ExecutionType::parse(&ty).ok_or_else(|| corrupt("execution type", &ty))?,
        rollback_target: r.try_get("rollback_target")?,
        rollback_stage: r.try_get("rollback_stage")?,
        status: ExecutionStatus::parse(&status).ok_or_else(|| corrupt("execution status", &status))?,
        status_summary: r.try_get("status_summary")?,
        waiting_stage: r.try_get("waiting_stage")?,
        stop_abandon: r.try_get::<i64, _>("stop_abandon")? != 0,
        variables: json_map(r.try_get("variables")?),
        trigger_type: r.try_get("trigger_type")?,
        trigger_detail: r.try_get("trigger_detail")?,
        source_revisions: {
            let text: String = r.try_get("source_revisions")?;
            serde_json::from_str(&text).map_err(|e| corrupt("source revisions", &format!("{text} ({e})")))?
        },
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// One execution with everything about it, read in one transaction: a consistent view (a
    /// stop committed between two of the reads would otherwise show an abandoned action of an
    /// execution still in progress, which the scheduler would take for a failure).
    pub async fn snapshot(&self, id: &str) -> Result<Snapshot, StoreError> {
        let mut conn = self.pool.begin().await?;
        let row = sqlx::query("SELECT * FROM executions WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?;
        let execution = execution(&row.ok_or_else(|| StoreError::NoExecution(id.to_string()))?)?;
        let mut stages = Vec::new();
        for r in sqlx::query("SELECT * FROM stage_executions WHERE execution_id = $1").bind(id).fetch_all(&mut *conn).await? {
            let status: String = r.try_get("status")?;
            let mode: Option<String> = r.try_get("retry_mode")?;
            stages.push(StageRow {
                stage: r.try_get("stage")?,
                attempt: r.try_get("attempt")?,
                retry_mode: mode.as_deref().and_then(RetryMode::parse),
                retry_trigger: r.try_get("retry_trigger")?,
                auto_retries: r.try_get("auto_retries")?,
                status: StageStatus::parse(&status).ok_or_else(|| corrupt("stage status", &status))?,
                started_at: r.try_get("started_at")?,
                ended_at: r.try_get("ended_at")?,
            });
        }
        let mut actions = Vec::new();
        for r in sqlx::query("SELECT * FROM action_executions WHERE execution_id = $1 ORDER BY attempt").bind(id).fetch_all(&mut *conn).await? {
            let status: String = r.try_get("status")?;
            actions.push(ActionRow {
                stage: r.try_get("stage")?,
                action: r.try_get("action")?,
                attempt: r.try_get("attempt")?,
                stage_attempt: r.try_get("stage_attempt")?,
                status: ActionStatus::parse(&status).ok_or_else(|| corrupt("action status", &status))?,
                lease_owner: r.try_get("lease_owner")?,
                lease_until: r.try_get("lease_until")?,
                started_at: r.try_get("started_at")?,
                ended_at: r.try_get("ended_at")?,
                summary: r.try_get("summary")?,
                error_code: r.try_get("error_code")?,
                resolved_configuration: json_map(r.try_get("resolved_configuration")?),
                output_variables: json_map(r.try_get("output_variables")?),
                external_execution_id: r.try_get("external_execution_id")?,
                output_details: json_map(r.try_get("output_details")?),
                updated_by: r.try_get("updated_by")?,
            });
        }
        let mut artifacts = Vec::new();
        for r in sqlx::query("SELECT * FROM artifacts WHERE execution_id = $1 ORDER BY created_at, name").bind(id).fetch_all(&mut *conn).await? {
            artifacts.push(ArtifactRow {
                name: r.try_get("name")?,
                digest: r.try_get("digest")?,
                size: r.try_get("size")?,
                stage: r.try_get("stage")?,
                action: r.try_get("action")?,
                attempt: r.try_get("attempt")?,
            });
        }
        let mut approvals = Vec::new();
        for r in sqlx::query("SELECT * FROM approvals WHERE execution_id = $1").bind(id).fetch_all(&mut *conn).await? {
            let status: String = r.try_get("status")?;
            approvals.push(ApprovalRow {
                stage: r.try_get("stage")?,
                action: r.try_get("action")?,
                attempt: r.try_get("attempt")?,
                token: r.try_get("token")?,
                status: ApprovalStatus::parse(&status).ok_or_else(|| corrupt("approval status", &status))?,
                custom_data: r.try_get("custom_data")?,
                external_entity_link: r.try_get("external_entity_link")?,
                requested_at: r.try_get("requested_at")?,
                expires_at: r.try_get("expires_at")?,
                summary: r.try_get("summary")?,
                answered_by: r.try_get("answered_by")?,
                answered_at: r.try_get("answered_at")?,
            });
        }
        conn.commit().await?;
        Ok(Snapshot { execution, stages, actions, artifacts, approvals })
    }

    /// Executions, newest first (of one pipeline, or all).
    pub async fn executions(&self, pipeline: Option<&str>) -> Result<Vec<ExecutionRow>, StoreError> {
        let rows = match pipeline {
            Some(p) => sqlx::query("SELECT * FROM executions WHERE pipeline = $1 ORDER BY seq DESC").bind(p).fetch_all(&self.pool).await?,
            None => sqlx::query("SELECT * FROM executions ORDER BY seq DESC").fetch_all(&self.pool).await?,
        };
        rows.iter().map(execution).collect()
    }
}

impl Store {
    /// The most recent STANDARD execution of `pipeline`, at the same definition, other than
    /// `except`, in which `stage` succeeded (the target of an automatic rollback).
    pub async fn last_success_in_stage(&self, pipeline: &str, stage: &str, digest: &str, except: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT e.id FROM executions e JOIN stage_executions s ON s.execution_id = e.id
             WHERE e.pipeline = $1 AND s.stage = $2 AND s.status = 'Succeeded' AND e.execution_type = 'STANDARD' AND e.definition_digest = $3 AND e.id <> $4
             ORDER BY e.seq DESC LIMIT 1",
        )
        .bind(pipeline)
        .bind(stage)
        .bind(digest)
        .bind(except)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Whether an execution exists.
    pub async fn has_execution(&self, id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM executions WHERE id = $1").bind(id).fetch_optional(&self.pool).await?.is_some())
    }
}
