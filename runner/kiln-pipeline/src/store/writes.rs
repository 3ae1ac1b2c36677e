//! Every state change of an execution, each one transaction that checks the state it expects
//! (compare-and-set), so two kiln processes on one store, or a process that lost its lease,
//! cannot both make the same change.

use sqlx::Row;

use super::{now_ms, Store, StoreError};
use crate::exec::status::{ActionStatus, ApprovalStatus, ExecutionStatus, ExecutionType, RetryMode, StageStatus};
use crate::model::ExecutionMode;

/// A new execution.
#[derive(Clone, Debug)]
pub struct NewExecution {
    pub id: String,
    pub pipeline: String,
    pub definition: String,
    pub definition_digest: String,
    pub mode: ExecutionMode,
    pub execution_type: ExecutionType,
    pub rollback_target: Option<String>,
    pub rollback_stage: Option<String>,
    pub variables: std::collections::BTreeMap<String, String>,
    pub trigger_type: String,
    pub trigger_detail: Option<String>,
    pub source_revisions: Vec<crate::exec::traits::SourceRevision>,
}

/// The result of trying to enter a stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enter {
    Entered,
    /// Inbound: another execution holds the stage (or, QUEUED, an older one waits first).
    Waiting,
    /// A newer execution arrived at the same stage (SUPERSEDED).
    Superseded,
    /// The execution is no longer in progress.
    NotRunning,
}

/// An answer to a manual approval.
#[derive(Clone, Debug)]
pub struct ApprovalAnswer {
    pub approved: bool,
    pub summary: String,
    pub by: String,
}

fn status_str(s: ActionStatus) -> &'static str {
    s.as_str()
}

impl Store {
    /// Record a new execution; returns its arrival number. A ROLLBACK execution starts with the
    /// artifacts of its target.
    pub async fn create_execution(&self, new: &NewExecution) -> Result<i64, StoreError> {
        let mut tx = self.begin().await?;
        let seq = Self::insert_execution(&mut tx, new).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// [`Store::create_execution`] inside a transaction.
    pub(crate) async fn insert_execution(tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>, new: &NewExecution) -> Result<i64, StoreError> {
        let seq: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM executions").fetch_one(&mut **tx).await?.try_get("next")?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO executions (id, pipeline, seq, definition, definition_digest, mode, execution_type, rollback_target, rollback_stage, status, variables, trigger_type, created_at, updated_at, trigger_detail, source_revisions)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'InProgress', $10, $11, $12, $12, $13, $14)",
        )
        .bind(&new.id)
        .bind(&new.pipeline)
        .bind(seq)
        .bind(&new.definition)
        .bind(&new.definition_digest)
        .bind(new.mode.api_name())
        .bind(new.execution_type.as_str())
        .bind(&new.rollback_target)
        .bind(&new.rollback_stage)
        .bind(serde_json::to_string(&new.variables).unwrap_or_else(|_| "{}".into()))
        .bind(&new.trigger_type)
        .bind(now)
        .bind(&new.trigger_detail)
        .bind(serde_json::to_string(&new.source_revisions).unwrap_or_else(|_| "[]".into()))
        .execute(&mut **tx)
        .await?;
        if let Some(target) = &new.rollback_target {
            sqlx::query("INSERT INTO artifacts (execution_id, name, digest, size, stage, action, attempt, created_at) SELECT $1, name, digest, size, stage, action, attempt, $2 FROM artifacts WHERE execution_id = $3")
                .bind(&new.id)
                .bind(now)
                .bind(target)
                .execute(&mut **tx)
                .await?;
        }
        Ok(seq)
    }

    /// Enter `stage` (SUPERSEDED/QUEUED: take its lock; PARALLEL: no lock), or wait inbound.
    pub async fn try_enter_stage(&self, id: &str, stage: &str) -> Result<Enter, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT pipeline, seq, mode, status FROM executions WHERE id = $1").bind(id).fetch_one(&mut *tx).await?;
        let (pipeline, seq, mode, status): (String, i64, String, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
        if status != "InProgress" {
            return Ok(Enter::NotRunning);
        }
        let now = now_ms();
        if mode != "PARALLEL" {
            let waiting = |newer: bool| {
                let q = if newer {
                    "SELECT COUNT(*) AS n FROM executions WHERE pipeline = $1 AND waiting_stage = $2 AND status = 'InProgress' AND seq > $3"
                } else {
                    "SELECT COUNT(*) AS n FROM executions WHERE pipeline = $1 AND waiting_stage = $2 AND status = 'InProgress' AND seq < $3"
                };
                sqlx::query(q).bind(pipeline.clone()).bind(stage.to_string()).bind(seq)
            };
            if mode == "SUPERSEDED" && waiting(true).fetch_one(&mut *tx).await?.try_get::<i64, _>("n")? > 0 {
                sqlx::query("UPDATE executions SET status = 'Superseded', waiting_stage = NULL, status_summary = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(format!("superseded by a newer execution waiting for the stage {stage}"))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(Enter::Superseded);
            }
            let older_first = mode == "QUEUED" && waiting(false).fetch_one(&mut *tx).await?.try_get::<i64, _>("n")? > 0;
            let locked = !older_first
                && sqlx::query(
                    "INSERT INTO stage_locks (pipeline, stage, holder) VALUES ($1, $2, $3)
                     ON CONFLICT (pipeline, stage) DO UPDATE SET holder = excluded.holder WHERE stage_locks.holder IS NULL OR stage_locks.holder = excluded.holder",
                )
                .bind(&pipeline)
                .bind(stage)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
            if !locked {
                sqlx::query("UPDATE executions SET waiting_stage = $2, updated_at = $3 WHERE id = $1").bind(id).bind(stage).bind(now).execute(&mut *tx).await?;
                if mode == "SUPERSEDED" {
                    sqlx::query(
                        "UPDATE executions SET status = 'Superseded', waiting_stage = NULL, status_summary = $4, updated_at = $5
                         WHERE pipeline = $1 AND waiting_stage = $2 AND status = 'InProgress' AND seq < $3",
                    )
                    .bind(&pipeline)
                    .bind(stage)
                    .bind(seq)
                    .bind(format!("superseded by a newer execution waiting for the stage {stage}"))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                return Ok(Enter::Waiting);
            }
        }
        sqlx::query("INSERT INTO stage_executions (execution_id, stage, attempt, status, started_at) VALUES ($1, $2, 1, 'InProgress', $3) ON CONFLICT (execution_id, stage) DO NOTHING")
            .bind(id)
            .bind(stage)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE executions SET waiting_stage = NULL, updated_at = $2 WHERE id = $1").bind(id).bind(now).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Enter::Entered)
    }

    /// End a stage attempt (and unlock the stage). False when it was not in progress at that attempt.
    pub async fn end_stage(&self, id: &str, stage: &str, attempt: i64, status: StageStatus) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("UPDATE stage_executions SET status = $4, ended_at = $5 WHERE execution_id = $1 AND stage = $2 AND attempt = $3 AND status = 'InProgress'")
            .bind(id)
            .bind(stage)
            .bind(attempt)
            .bind(status.as_str())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        sqlx::query("UPDATE stage_locks SET holder = NULL WHERE stage = $2 AND holder = $1").bind(id).bind(stage).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Start the next attempt of a stage: automatically (onFailure RETRY, the lock kept) or by a
    /// user (the execution must be Failed or Stopped, the latest in that stage, the stage free).
    pub async fn retry_stage(&self, id: &str, stage: &str, mode: RetryMode, automatic: bool) -> Result<Result<i64, String>, StoreError> {
        let mut tx = self.begin().await?;
        let e = sqlx::query("SELECT pipeline, seq, mode, status FROM executions WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
        let Some(e) = e else { return Err(StoreError::NoExecution(id.to_string())) };
        let (pipeline, seq, emode, estatus): (String, i64, String, String) = (e.try_get(0)?, e.try_get(1)?, e.try_get(2)?, e.try_get(3)?);
        let s = sqlx::query("SELECT attempt, status FROM stage_executions WHERE execution_id = $1 AND stage = $2").bind(id).bind(stage).fetch_optional(&mut *tx).await?;
        let Some(s) = s else { return Ok(Err(format!("the execution never entered the stage {stage}"))) };
        let (attempt, sstatus): (i64, String) = (s.try_get(0)?, s.try_get(1)?);
        let now = now_ms();
        if automatic {
            if estatus != "InProgress" || sstatus != "InProgress" {
                return Ok(Err("the stage is not running".into()));
            }
        } else {
            if !["Failed", "Stopped"].contains(&estatus.as_str()) || !["Failed", "Stopped"].contains(&sstatus.as_str()) {
                return Ok(Err(format!("StageNotRetryableException: the execution is {estatus} and the stage {stage} is {sstatus}; only a Failed or Stopped stage of a Failed or Stopped execution can be retried")));
            }
            let later: i64 = sqlx::query("SELECT COUNT(*) AS n FROM stage_executions s JOIN executions e ON e.id = s.execution_id WHERE e.pipeline = $1 AND e.seq > $2 AND s.stage = $3")
                .bind(&pipeline)
                .bind(seq)
                .bind(stage)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
            if later > 0 {
                return Ok(Err(format!("NotLatestPipelineExecutionException: a later execution has entered the stage {stage} since")));
            }
            if emode != "PARALLEL" {
                let locked = sqlx::query(
                    "INSERT INTO stage_locks (pipeline, stage, holder) VALUES ($1, $2, $3)
                     ON CONFLICT (pipeline, stage) DO UPDATE SET holder = excluded.holder WHERE stage_locks.holder IS NULL OR stage_locks.holder = excluded.holder",
                )
                .bind(&pipeline)
                .bind(stage)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if locked == 0 {
                    return Ok(Err(format!("StageNotRetryableException: another execution holds the stage {stage}")));
                }
            }
            sqlx::query("UPDATE executions SET status = 'InProgress', status_summary = NULL, stop_abandon = 0, updated_at = $2 WHERE id = $1").bind(id).bind(now).execute(&mut *tx).await?;
        }
        let (trigger, auto) = if automatic { ("AutomatedStageRetry", 1) } else { ("ManualStageRetry", 0) };
        sqlx::query(
            "UPDATE stage_executions SET attempt = attempt + 1, retry_mode = $4, retry_trigger = $5, auto_retries = auto_retries + $6, status = 'InProgress', ended_at = NULL
             WHERE execution_id = $1 AND stage = $2 AND attempt = $3",
        )
        .bind(id)
        .bind(stage)
        .bind(attempt)
        .bind(mode.as_str())
        .bind(trigger)
        .bind(auto)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(attempt + 1))
    }

    /// Start an attempt of an action, held by `owner` until `lease_until` (no owner for an
    /// approval, which waits on the store, not on a process). With `replace`, the attempt
    /// before it (still in progress under a dead lease) is abandoned in the same transaction.
    /// False when another process got there first or the execution is not running.
    #[allow(clippy::too_many_arguments)]
    pub async fn start_action(&self, id: &str, stage: &str, action: &str, attempt: i64, stage_attempt: i64, owner: Option<&str>, lease_until: Option<i64>, replace: Option<(i64, Option<String>)>) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let status: String = sqlx::query("SELECT status FROM executions WHERE id = $1").bind(id).fetch_one(&mut *tx).await?.try_get(0)?;
        if status != "InProgress" {
            return Ok(false);
        }
        let now = now_ms();
        if let Some((prev, prev_owner)) = replace {
            let n = sqlx::query(
                "UPDATE action_executions SET status = 'Abandoned', ended_at = $6, summary = 'abandoned: the kiln process running it stopped (its lease ran out); run again as the next attempt'
                 WHERE execution_id = $1 AND stage = $2 AND action = $3 AND attempt = $4 AND status = 'InProgress' AND lease_owner IS NOT DISTINCT FROM $5",
            )
            .bind(id)
            .bind(stage)
            .bind(action)
            .bind(prev)
            .bind(prev_owner)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Ok(false);
            }
        }
        let n = sqlx::query(
            "INSERT INTO action_executions (execution_id, stage, action, attempt, stage_attempt, status, lease_owner, lease_until, started_at)
             VALUES ($1, $2, $3, $4, $5, 'InProgress', $6, $7, $8) ON CONFLICT (execution_id, stage, action, attempt) DO NOTHING",
        )
        .bind(id)
        .bind(stage)
        .bind(action)
        .bind(attempt)
        .bind(stage_attempt)
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Extend a lease; false when the attempt is no longer this owner's to run.
    pub async fn renew_lease(&self, id: &str, stage: &str, action: &str, attempt: i64, owner: &str, until: i64) -> Result<bool, StoreError> {
        let n = sqlx::query("UPDATE action_executions SET lease_until = $6 WHERE execution_id = $1 AND stage = $2 AND action = $3 AND attempt = $4 AND status = 'InProgress' AND lease_owner = $5")
            .bind(id)
            .bind(stage)
            .bind(action)
            .bind(attempt)
            .bind(owner)
            .bind(until)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Record how an attempt ended, with its output artifacts (already in the CAS), in one
    /// transaction. False (nothing written) when the attempt is no longer this owner's.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete_action(
        &self,
        id: &str,
        stage: &str,
        action: &str,
        attempt: i64,
        owner: Option<&str>,
        status: ActionStatus,
        summary: Option<&str>,
        error_code: Option<&str>,
        resolved_configuration: &str,
        output_variables: &str,
        external_id: Option<&str>,
        output_details: &str,
        artifacts: &[(String, crate::cas::Object)],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let now = now_ms();
        let n = sqlx::query(
            "UPDATE action_executions SET status = $6, ended_at = $7, summary = $8, error_code = $9, resolved_configuration = $10, output_variables = $11, external_execution_id = $12, output_details = $13, lease_until = NULL
             WHERE execution_id = $1 AND stage = $2 AND action = $3 AND attempt = $4 AND status = 'InProgress' AND lease_owner IS NOT DISTINCT FROM $5",
        )
        .bind(id)
        .bind(stage)
        .bind(action)
        .bind(attempt)
        .bind(owner)
        .bind(status_str(status))
        .bind(now)
        .bind(summary)
        .bind(error_code)
        .bind(resolved_configuration)
        .bind(output_variables)
        .bind(external_id)
        .bind(output_details)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        for (name, obj) in artifacts {
            sqlx::query(
                "INSERT INTO artifacts (execution_id, name, digest, size, stage, action, attempt, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (execution_id, name) DO UPDATE SET digest = excluded.digest, size = excluded.size, stage = excluded.stage, action = excluded.action, attempt = excluded.attempt, created_at = excluded.created_at",
            )
            .bind(id)
            .bind(name)
            .bind(&obj.digest)
            .bind(obj.size as i64)
            .bind(stage)
            .bind(action)
            .bind(attempt)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Open a manual approval request for an attempt.
    #[allow(clippy::too_many_arguments)]
    pub async fn open_approval(&self, id: &str, stage: &str, action: &str, attempt: i64, token: &str, custom_data: Option<&str>, link: Option<&str>, expires_at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO approvals (execution_id, stage, action, attempt, token, status, custom_data, external_entity_link, requested_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, 'Pending', $6, $7, $8, $9) ON CONFLICT (execution_id, stage, action, attempt) DO NOTHING",
        )
        .bind(id)
        .bind(stage)
        .bind(action)
        .bind(attempt)
        .bind(token)
        .bind(custom_data)
        .bind(link)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Answer the latest approval request of an action (`expired`: kiln's timeout, not a user).
    /// The request and the action attempt change together. Errors as PutApprovalResult's.
    pub async fn answer_approval(&self, id: &str, stage: &str, action: &str, token: Option<&str>, answer: &ApprovalAnswer, expired: bool) -> Result<Result<(), String>, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT attempt, token, status, expires_at FROM approvals WHERE execution_id = $1 AND stage = $2 AND action = $3 ORDER BY attempt DESC LIMIT 1")
            .bind(id)
            .bind(stage)
            .bind(action)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(Err(format!("ActionNotFoundException: no approval was requested for {stage}/{action} in execution {id}"))) };
        let (attempt, stored, status, expires_at): (i64, String, String, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
        let now = now_ms();
        if status != ApprovalStatus::Pending.as_str() {
            return Ok(Err(format!("ApprovalAlreadyCompletedException: the approval of {stage}/{action} is already {status}")));
        }
        if token.is_some_and(|t| t != stored) {
            return Ok(Err("InvalidApprovalTokenException: the token does not match the open approval request".into()));
        }
        if !expired && now > expires_at {
            return Ok(Err("InvalidApprovalTokenException: the approval request has expired".into()));
        }
        let (astatus, action_status) = match (expired, answer.approved) {
            (true, _) => (ApprovalStatus::Expired, ActionStatus::Failed),
            (false, true) => (ApprovalStatus::Approved, ActionStatus::Succeeded),
            (false, false) => (ApprovalStatus::Rejected, ActionStatus::Failed),
        };
        sqlx::query("UPDATE approvals SET status = $5, summary = $6, answered_by = $7, answered_at = $8 WHERE execution_id = $1 AND stage = $2 AND action = $3 AND attempt = $4 AND status = 'Pending'")
            .bind(id)
            .bind(stage)
            .bind(action)
            .bind(attempt)
            .bind(astatus.as_str())
            .bind(&answer.summary)
            .bind(&answer.by)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("UPDATE action_executions SET status = $5, ended_at = $6, summary = $7, updated_by = $8 WHERE execution_id = $1 AND stage = $2 AND action = $3 AND attempt = $4 AND status = 'InProgress'")
            .bind(id)
            .bind(stage)
            .bind(action)
            .bind(attempt)
            .bind(action_status.as_str())
            .bind(now)
            .bind(&answer.summary)
            .bind(&answer.by)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(Err(format!("ApprovalAlreadyCompletedException: the action {stage}/{action} is no longer waiting")));
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Ask an execution to stop (StopPipelineExecution). With `abandon`, running actions are
    /// marked Abandoned at once; without, they finish and nothing new starts.
    pub async fn request_stop(&self, id: &str, abandon: bool, reason: Option<&str>) -> Result<Result<(), String>, StoreError> {
        let mut tx = self.begin().await?;
        let status: Option<String> = sqlx::query("SELECT status FROM executions WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?.map(|r| r.try_get(0)).transpose()?;
        let Some(status) = status else { return Err(StoreError::NoExecution(id.to_string())) };
        let now = now_ms();
        match (status.as_str(), abandon) {
            ("InProgress", _) | ("Stopping", true) => {}
            ("Stopping", false) => return Ok(Err("DuplicatedStopRequestException: the execution is already stopping".into())),
            (other, _) => return Ok(Err(format!("PipelineExecutionNotStoppableException: the execution is {other}"))),
        }
        sqlx::query("UPDATE executions SET status = 'Stopping', stop_abandon = $2, status_summary = COALESCE($3, status_summary), updated_at = $4 WHERE id = $1")
            .bind(id)
            .bind(abandon as i64)
            .bind(reason)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if abandon {
            sqlx::query("UPDATE action_executions SET status = 'Abandoned', ended_at = $2, summary = 'abandoned: the execution was stopped' WHERE execution_id = $1 AND status = 'InProgress'").bind(id).bind(now).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// End an execution: its status, the stages still running (`stage_status`), actions still
    /// running abandoned, open approvals closed, locks released. False when it had already ended.
    pub async fn finish_execution(&self, id: &str, status: ExecutionStatus, stage_status: StageStatus, summary: Option<&str>) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let now = now_ms();
        let n = sqlx::query("UPDATE executions SET status = $2, status_summary = COALESCE($3, status_summary), waiting_stage = NULL, updated_at = $4 WHERE id = $1 AND status IN ('InProgress', 'Stopping')")
            .bind(id)
            .bind(status.as_str())
            .bind(summary)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        sqlx::query("UPDATE stage_executions SET status = $2, ended_at = $3 WHERE execution_id = $1 AND status = 'InProgress'").bind(id).bind(stage_status.as_str()).bind(now).execute(&mut *tx).await?;
        sqlx::query("UPDATE action_executions SET status = 'Abandoned', ended_at = $2, summary = COALESCE(summary, 'abandoned: the execution ended') WHERE execution_id = $1 AND status = 'InProgress'").bind(id).bind(now).execute(&mut *tx).await?;
        sqlx::query("UPDATE approvals SET status = 'Expired', summary = 'the execution ended before an answer', answered_at = $2 WHERE execution_id = $1 AND status = 'Pending'").bind(id).bind(now).execute(&mut *tx).await?;
        sqlx::query("UPDATE stage_locks SET holder = NULL WHERE holder = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }
}
