//! The scheduler's decisions as a pure function of the stored state: given an execution's
//! snapshot, what should happen next (codepipeline.md §5).
//!
//! * Stages run in order (a ROLLBACK execution runs only its stage). A stage is entered through
//!   the store (its lock, inbound waiting and superseding are the store's: [`crate::store::Enter`]).
//! * Inside a stage, actions are grouped by runOrder, ascending; a group's actions start
//!   together; the next group starts only when every action of the current one succeeded. When
//!   one fails, the others of its group finish, nothing later starts, and the stage fails.
//! * A stage attempt (1, then +1 per retry) owns the action attempts it started. After a
//!   FAILED_ACTIONS retry the actions that succeeded before still count; after ALL_ACTIONS none do.
//! * An action in progress whose process is gone (its lease ran out, or its owner is a dead
//!   process on this host) is run again as its next attempt — never the ones that completed.
//! * Stopping: nothing new starts; once nothing runs (manual approvals do not count as running
//!   work), the execution is Stopped.

use crate::exec::status::{ActionStatus, ApprovalStatus, ExecutionStatus, ExecutionType, RetryMode, StageStatus};
use crate::exec::traits::{kind_of, Kind};
use crate::model::{Action, Pipeline, Stage};
use crate::store::{ActionRow, Snapshot};

/// One thing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Enter the stage (or wait inbound for it).
    Enter { stage: String },
    /// Start `attempt` of an action; `replace` abandons the dead attempt before it.
    Start { stage: String, action: String, attempt: i64, stage_attempt: i64, replace: Option<(i64, Option<String>)> },
    /// End the stage attempt.
    EndStage { stage: String, attempt: i64, status: StageStatus },
    /// An approval ran out of time.
    ExpireApproval { stage: String, action: String },
    /// End the execution.
    Finish { status: ExecutionStatus, stage_status: StageStatus, summary: String },
    /// Nothing to do until something changes (an action ends, an answer, a lock frees).
    Wait,
}

/// Whether the process holding a lease is still there (see [`crate::exec::owner`]).
pub trait Liveness {
    fn alive(&self, owner: &str, stage: &str, action: &str, attempt: i64) -> bool;
}

fn is_approval(a: &Action) -> bool {
    kind_of(a) == Ok(Kind::Approval)
}

/// The stages an execution runs.
fn stages<'p>(p: &'p Pipeline, snap: &Snapshot) -> Vec<&'p Stage> {
    match (snap.execution.execution_type, &snap.execution.rollback_stage) {
        (ExecutionType::Rollback, Some(s)) => p.stages.iter().filter(|st| st.name.value == *s).collect(),
        _ => p.stages.iter().collect(),
    }
}

/// What to do next for the execution in `snap`.
pub fn next(p: &Pipeline, snap: &Snapshot, now: i64, live: &dyn Liveness) -> Vec<Step> {
    let e = &snap.execution;
    if e.status.is_final() {
        return Vec::new();
    }
    let stopping = e.status == ExecutionStatus::Stopping;
    for stage in stages(p, snap) {
        let name = &stage.name.value;
        let Some(row) = snap.stage(name) else {
            if stopping {
                return vec![Step::Finish { status: ExecutionStatus::Stopped, stage_status: StageStatus::Stopped, summary: "stopped".into() }];
            }
            return vec![Step::Enter { stage: name.clone() }];
        };
        match row.status {
            StageStatus::Succeeded | StageStatus::Skipped => continue,
            StageStatus::Failed | StageStatus::Cancelled => {
                return vec![Step::Finish { status: ExecutionStatus::Failed, stage_status: StageStatus::Failed, summary: format!("the stage {name} failed") }];
            }
            StageStatus::Stopped | StageStatus::Stopping => {
                return vec![Step::Finish { status: ExecutionStatus::Stopped, stage_status: StageStatus::Stopped, summary: "stopped".into() }];
            }
            StageStatus::InProgress => return stage_steps(stage, row, snap, now, live, stopping),
        }
    }
    vec![Step::Finish { status: ExecutionStatus::Succeeded, stage_status: StageStatus::Succeeded, summary: "succeeded".into() }]
}

/// The attempt of `a` that counts for stage attempt `k`.
fn effective<'s>(snap: &'s Snapshot, stage: &str, a: &Action, k: i64, mode: Option<RetryMode>) -> (Option<&'s ActionRow>, Option<&'s ActionRow>) {
    let latest = snap.action(stage, &a.name.value);
    let counts = latest.filter(|r| r.stage_attempt == k || (r.status == ActionStatus::Succeeded && mode != Some(RetryMode::AllActions)));
    (counts, latest)
}

fn stage_steps(stage: &Stage, row: &crate::store::StageRow, snap: &Snapshot, now: i64, live: &dyn Liveness, stopping: bool) -> Vec<Step> {
    let name = &stage.name.value;
    let mut orders: Vec<i64> = stage.actions.iter().map(Action::run_order).collect();
    orders.sort_unstable();
    orders.dedup();
    for order in orders {
        let group: Vec<&Action> = stage.actions.iter().filter(|a| a.run_order() == order).collect();
        let states: Vec<(&Action, Option<&ActionRow>, Option<&ActionRow>)> = group
            .iter()
            .map(|a| {
                let (counts, latest) = effective(snap, name, a, row.attempt, row.retry_mode);
                (*a, counts, latest)
            })
            .collect();
        if states.iter().all(|(_, r, _)| r.is_some_and(|r| r.status == ActionStatus::Succeeded)) {
            continue;
        }
        let failed = states.iter().any(|(_, r, _)| r.is_some_and(|r| matches!(r.status, ActionStatus::Failed | ActionStatus::Abandoned)));
        let mut steps = Vec::new();
        let mut working = false;
        for (a, counts, latest) in &states {
            let next_attempt = latest.map_or(1, |l| l.attempt + 1);
            match counts {
                None if !stopping && !failed => steps.push(Step::Start { stage: name.clone(), action: a.name.value.clone(), attempt: next_attempt, stage_attempt: row.attempt, replace: None }),
                None => {}
                Some(r) if r.status != ActionStatus::InProgress => {}
                Some(r) if is_approval(a) => {
                    let expired = snap.approval(name, &a.name.value, r.attempt).is_some_and(|ap| ap.status == ApprovalStatus::Pending && now > ap.expires_at);
                    if expired {
                        steps.push(Step::ExpireApproval { stage: name.clone(), action: a.name.value.clone() });
                    }
                }
                Some(r) => {
                    let dead = r.lease_until.is_none_or(|t| t < now) || r.lease_owner.as_deref().is_none_or(|o| !live.alive(o, name, &a.name.value, r.attempt));
                    if !dead {
                        working = true;
                    } else if !stopping {
                        steps.push(Step::Start {
                            stage: name.clone(),
                            action: a.name.value.clone(),
                            attempt: r.attempt + 1,
                            stage_attempt: row.attempt,
                            replace: Some((r.attempt, r.lease_owner.clone())),
                        });
                    }
                }
            }
        }
        if !steps.is_empty() {
            return steps;
        }
        if working {
            return vec![Step::Wait];
        }
        if stopping {
            return vec![Step::Finish { status: ExecutionStatus::Stopped, stage_status: StageStatus::Stopped, summary: snap.execution.status_summary.clone().unwrap_or_else(|| "stopped".into()) }];
        }
        if failed {
            return vec![Step::EndStage { stage: name.clone(), attempt: row.attempt, status: StageStatus::Failed }];
        }
        // Only approvals are open: wait for an answer.
        return vec![Step::Wait];
    }
    vec![Step::EndStage { stage: name.clone(), attempt: row.attempt, status: StageStatus::Succeeded }]
}
