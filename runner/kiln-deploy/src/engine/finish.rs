//! How a deployment ends.
//!
//! **Success.** In place, the minimum healthy hosts rule decides (enough instances succeeded, and
//! at least one). Blue/green and ECS: the original fleet waits `terminationWaitTimeInMinutes`
//! (status `Baking`; alarms are still watched, and an alarm now still rolls back, the originals
//! being there), then is terminated (`TERMINATE`) or released (`KEEP_ALIVE`); the replacement fleet
//! becomes the group's. The group remembers the revision as its last successful one.
//!
//! **Failure, alarm, stop.** Traffic goes back first (when a rollback follows), then the record is
//! finalized (events in progress Failed, pending ones Skipped, status `Failed` for a failure and
//! `Stopped` for an alarm or a request, `errorInformation` with CodeDeploy's code), then the
//! rollback deployment runs. Whether a rollback follows is the group's `autoRollbackConfiguration`
//! (DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM, DEPLOYMENT_STOP_ON_REQUEST; a stop request's own
//! `autoRollbackEnabled` wins), except that a strategy that misbehaved is always rolled back:
//! nothing it left half-done stays.

use std::time::{Duration, Instant, SystemTime};

use super::state::Recorder;
use super::watch::Interrupt;
use super::{rollback, EngineError, RunCx, RunOutcome};
use crate::group::{RollbackEvent, TerminationAction};
use crate::record::time::rfc3339;
use crate::record::*;
use crate::strategy::guard::Flow;
use crate::strategy::InstanceSet;

/// What ended a deployment early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    Failure,
    Alarm,
    /// A stop request, with its `autoRollbackEnabled`.
    Request(Option<bool>),
}

/// A deployment that stops, and why.
#[derive(Clone, Debug)]
pub(crate) struct Stop {
    pub trigger: Trigger,
    pub code: ErrorCode,
    pub message: String,
    /// When it happened (an alarm's state change).
    pub at: Instant,
    /// The strategy misbehaved: always roll back.
    pub strategy_fault: bool,
}

impl Stop {
    pub fn failure(code: ErrorCode, message: String) -> Stop {
        Stop { trigger: Trigger::Failure, code, message, at: Instant::now(), strategy_fault: false }
    }

    pub fn strategy(message: String) -> Stop {
        Stop { trigger: Trigger::Failure, code: ErrorCode::InternalError, message: format!("the deployment strategy failed: {message}"), at: Instant::now(), strategy_fault: true }
    }

    pub fn ready_timeout(message: String) -> Stop {
        Stop { trigger: Trigger::Request(None), code: ErrorCode::Timeout, message, at: Instant::now(), strategy_fault: false }
    }

    /// The status the deployment ends in.
    pub fn status(&self) -> DeploymentStatus {
        if self.trigger == Trigger::Failure { DeploymentStatus::Failed } else { DeploymentStatus::Stopped }
    }

    /// The rollback event it counts as.
    pub fn event(&self) -> RollbackEvent {
        match self.trigger {
            Trigger::Failure => RollbackEvent::DeploymentFailure,
            Trigger::Alarm => RollbackEvent::DeploymentStopOnAlarm,
            Trigger::Request(_) => RollbackEvent::DeploymentStopOnRequest,
        }
    }
}

pub(crate) fn stop_from(i: Interrupt) -> Stop {
    match i {
        Interrupt::Alarm { names, reason, at } => Stop {
            trigger: Trigger::Alarm,
            code: ErrorCode::AlarmActive,
            message: format!("One or more alarms have been activated according to the metrics you selected, and the deployment was stopped. Activated alarms: {} ({reason})", names.join(", ")),
            at,
            strategy_fault: false,
        },
        Interrupt::PollFailure { message, at } => Stop {
            trigger: Trigger::Alarm,
            code: ErrorCode::AlarmActive,
            message: format!("the state of the deployment's alarms could not be read ({message}); ignorePollAlarmFailure is false, so the deployment stopped"),
            at,
            strategy_fault: false,
        },
        Interrupt::Stop { auto_rollback, at } => Stop { trigger: Trigger::Request(auto_rollback), code: ErrorCode::ManualStop, message: "The deployment was stopped on request.".into(), at, strategy_fault: false },
        Interrupt::Store { message, at } => Stop { trigger: Trigger::Failure, code: ErrorCode::InternalError, message: format!("kiln could not write the deployment record: {message}"), at, strategy_fault: true },
    }
}

/// End the deployment of `cx` with `result`.
pub(crate) async fn finish(cx: &RunCx<'_>, result: Result<(), Stop>) -> Result<RunOutcome, EngineError> {
    let result = match result {
        Ok(()) => succeed(cx).await,
        Err(s) => Err(s),
    };
    match result {
        Ok(()) => {
            cx.rec.set_status(DeploymentStatus::Succeeded);
            remember(cx.rec, true);
            Ok(RunOutcome { deployment: cx.rec.snapshot(), rollback: None })
        }
        Err(stop) => fail(cx, stop).await,
    }
}

async fn succeed(cx: &RunCx<'_>) -> Result<(), Stop> {
    if let Some(h) = &cx.health() {
        let set = if cx.plan.flow == Flow::BlueGreen { InstanceSet::Replacement } else { InstanceSet::Original };
        let succeeded = cx.rec.read(|s| {
            s.info.kiln.fleet.iter().filter(|f| f.set == set).filter(|f| super::state::target(&s.info, &f.id).is_some_and(|t| t.status == TargetStatus::Succeeded)).count() as u32
        });
        if !h.succeeded(succeeded) {
            return Err(Stop::failure(
                ErrorCode::HealthConstraints,
                format!("The overall deployment failed because too many individual instances failed deployment ({succeeded} of {} succeeded; {} needed).", h.instances, h.minimum_healthy.max(1)),
            ));
        }
    }
    if cx.plan.flow == Flow::InPlace {
        return Ok(());
    }
    // Blue/green, ECS, Lambda: bake, then retire the original fleet.
    let term = cx.plan.group.blue_green_deployment_configuration.terminate_blue_instances_on_deployment_success;
    let lambda = cx.plan.group.compute_platform == crate::config::ComputePlatform::Lambda;
    let terminate = lambda || term.action == TerminationAction::Terminate;
    if !lambda && term.action == TerminationAction::Terminate {
        cx.rec.update(|i| i.instance_termination_wait_time_started = true);
        cx.rec.set_status(DeploymentStatus::Baking);
        let deadline = tokio::time::Instant::now() + cx.scaled(Duration::from_secs(u64::from(term.termination_wait_time_in_minutes) * 60));
        while tokio::time::Instant::now() < deadline && !cx.watch.take_skip_wait() {
            let left = deadline - tokio::time::Instant::now();
            cx.watch.sleep(left.min(cx.env.options.alarm_interval)).await?;
        }
    }
    let (originals, replacements): (Vec<FleetInstance>, Vec<FleetInstance>) = cx.rec.read(|s| s.info.kiln.fleet.iter().cloned().partition(|f| f.set == InstanceSet::Original));
    let original_ids: Vec<String> = originals.iter().map(|f| f.id.clone()).collect();
    let new_fleet: Vec<String> = replacements.iter().map(|f| f.id.clone()).collect();
    let fail = |what: &str, e: String| Stop::failure(ErrorCode::InternalError, format!("{what}: {e}"));
    if let Some(t) = cx.traffic {
        t.promote_replacement().await.map_err(|e| fail("making the replacement fleet the original one", e.message))?;
    }
    if terminate {
        cx.env.target.terminate(&original_ids).await.map_err(|e| fail("terminating the original fleet", e.message))?;
    }
    let released: Vec<String> = if terminate { Vec::new() } else { original_ids.clone() };
    cx.env.target.adopt_fleet(&new_fleet, &released).await.map_err(|e| fail("adopting the replacement fleet", e.message))?;
    cx.rec.update(|i| {
        if let Some(t) = &mut i.kiln.traffic {
            t.history.push(WeightChange { at: rfc3339(SystemTime::now()), weights: Weights::ORIGINAL, reason: "the replacement set is now the original set".into() });
            t.current = Weights::ORIGINAL;
        }
        task_sets(i, Label::Green);
        for f in &mut i.kiln.fleet {
            f.in_service = f.set == InstanceSet::Replacement;
        }
    });
    Ok(())
}

/// Record the outcome in the group state: last attempted (and successful) deployment, and the
/// health of the instances attempted.
pub(crate) fn remember(rec: &Recorder<'_>, succeeded: bool) {
    let info = rec.snapshot();
    let last = LastDeployment {
        deployment_id: info.deployment_id.clone(),
        status: info.status,
        end_time: info.complete_time.clone().unwrap_or_default(),
        create_time: info.create_time.clone(),
        revision: info.revision.local_revision.clone(),
    };
    rec.update_group(|g| {
        g.last_attempted_deployment = Some(last.clone());
        if succeeded {
            g.last_successful_deployment = Some(last);
        }
        for t in &info.deployment_targets {
            let t = t.core();
            match t.status {
                TargetStatus::Succeeded => g.instances.entry(t.target_id.clone()).or_default().healthy = true,
                TargetStatus::Failed => g.instances.entry(t.target_id.clone()).or_default().healthy = false,
                _ => {}
            }
        }
    });
}

/// Mark what was in progress as failed and what never ran as skipped; status, error, group state.
pub(crate) fn finalize_failed(rec: &Recorder<'_>, stop: &Stop) {
    let now = rfc3339(SystemTime::now());
    let note = Diagnostics { error_code: LifecycleErrorCode::UnknownError, script_name: None, message: format!("the deployment stopped while this event ran: {}", stop.message), log_tail: String::new() };
    rec.update(|i| {
        for t in &mut i.deployment_targets {
            let t = t.core_mut();
            for e in &mut t.lifecycle_events {
                match e.status {
                    LifecycleEventStatus::InProgress => {
                        e.status = LifecycleEventStatus::Failed;
                        e.end_time = Some(now.clone());
                        e.diagnostics.get_or_insert(note.clone());
                    }
                    LifecycleEventStatus::Pending => e.status = LifecycleEventStatus::Skipped,
                    _ => {}
                }
            }
            t.status = match t.status {
                TargetStatus::InProgress | TargetStatus::Ready => TargetStatus::Failed,
                TargetStatus::Pending => TargetStatus::Skipped,
                s => s,
            };
            t.last_updated_at = now.clone();
        }
        i.error_information = Some(ErrorInformation { code: stop.code, message: stop.message.clone() });
        i.deployment_status_messages.push(stop.message.clone());
    });
    rec.set_status(stop.status());
    remember(rec, false);
}

async fn fail(cx: &RunCx<'_>, stop: Stop) -> Result<RunOutcome, EngineError> {
    cx.watch.alarms_off();
    let auto = &cx.plan.auto_rollback;
    let wanted = match stop.trigger {
        Trigger::Request(Some(b)) => b,
        _ => auto.on(stop.event()) || stop.strategy_fault,
    };
    let changed = rollback::changed(cx.rec);
    let restore = if wanted && changed { Some(rollback::restore_traffic(cx, &stop).await) } else { None };
    finalize_failed(cx.rec, &stop);
    let (rollback, message) = match (wanted, changed, restore) {
        (false, _, _) => (None, None),
        (true, false, _) => (None, Some("Nothing to roll back: the deployment changed no instance and no traffic.".to_string())),
        (true, true, Some(r)) => rollback::roll_back(cx, &stop, r).await?,
        (true, true, None) => (None, None),
    };
    if message.is_some() || rollback.is_some() {
        let rid = rollback.as_ref().map(|r: &DeploymentInfo| r.deployment_id.clone());
        cx.rec.update_durable(true, |i| {
            let info = i.rollback_info.get_or_insert_with(RollbackInfo::default);
            info.rollback_deployment_id = rid;
            info.rollback_message = message;
        });
    }
    Ok(RunOutcome { deployment: cx.rec.snapshot(), rollback })
}

/// ECS: the task set labelled `primary` serves the service from now on; the other one drains.
pub(crate) fn task_sets(i: &mut DeploymentInfo, primary: Label) {
    for t in &mut i.deployment_targets {
        if let Some(e) = &mut t.ecs_target {
            for set in &mut e.task_sets_info {
                if set.task_set_label == primary {
                    set.status = "PRIMARY".into();
                } else {
                    set.status = "DRAINING".into();
                    set.running_count = 0;
                    set.pending_count = 0;
                }
            }
        }
    }
}
