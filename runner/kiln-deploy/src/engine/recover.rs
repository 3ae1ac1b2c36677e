//! After the fact: stopping a deployment from another process, and taking over one whose process
//! was killed (`kill -9`, a crash, a reboot).
//!
//! A deployment is *interrupted* when its record is not final and no process holds its lock.
//! Two ways back to a known state:
//!
//! * [`resume`]: the work not done yet, with a new strategy instance fed the fleet as the record
//!   left it (a strategy decides from its observations, so a canary resumed at 10 % waits and
//!   goes on; traffic still never moves backwards). Traffic is first set to the weights the record last confirmed (a change that was
//!   `pending` at the crash may or may not have reached the router), and the instances are
//!   registered again as recorded. An event that was running at the crash runs again (kiln
//!   proposal: CodeDeploy's agent fails such an event with "failed after agent restart"; resuming
//!   is the reading of "continue"). A rollback deployment is not resumed: roll back again.
//! * [`rollback`]: the interrupted deployment is marked Stopped, traffic goes back to the original
//!   fleet at once, and a rollback deployment runs, exactly as after an alarm. It also rolls back a
//!   failed or stopped deployment that was not rolled back (a manual rollback).

use std::sync::Arc;

use super::finish::{finalize_failed, Stop, Trigger};
use super::plan::{DeploymentOptions, Plan, Revision};
use super::run::{execute, new_cx, new_watch, needs_traffic};
use super::state::Recorder;
use super::{finish, rollback, EngineError, Env, RunCx, RunOutcome};
use crate::group::DeploymentGroup;
use crate::metrics::SampleStore;
use crate::record::store::{GroupLock, Handle};
use crate::record::*;
use crate::report::Silent;

/// `StopDeployment`'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopStatus {
    /// The running process will stop it (within one alarm interval).
    Pending,
    /// It is stopped (it was interrupted).
    Succeeded,
}

fn state_error(info: &DeploymentInfo, what: &str) -> EngineError {
    let state = if info.kiln.interrupted { "interrupted".to_string() } else { format!("{:?}", info.status) };
    EngineError::State { id: info.deployment_id.clone(), state, what: what.to_string() }
}

pub(super) fn stop(store: &Store, id: &str, auto_rollback: Option<bool>) -> Result<StopStatus, EngineError> {
    let info = store.read(id)?;
    if info.status.is_final() {
        return Err(state_error(&info, "only a deployment in progress can be stopped"));
    }
    if !info.kiln.interrupted {
        store.request(id, &Control::Stop { auto_rollback_enabled: auto_rollback })?;
        return Ok(StopStatus::Pending);
    }
    end_interrupted(store, info, Trigger::Request(auto_rollback), "The deployment was stopped on request after kiln was interrupted while it ran.")?;
    Ok(StopStatus::Succeeded)
}

/// Mark an interrupted deployment Stopped (MANUAL_STOP) with `message`.
fn end_interrupted(store: &Store, info: DeploymentInfo, trigger: Trigger, message: &str) -> Result<(), EngineError> {
    let handle = store.reopen(&info.deployment_id)?;
    let group = store.group_state(&info.application_name, &info.deployment_group_name)?;
    let rec = Recorder::new(info, group, handle, store, Arc::new(Silent));
    let stop = Stop { trigger, code: ErrorCode::ManualStop, message: message.to_string(), at: std::time::Instant::now(), strategy_fault: false };
    rec.update(|i| i.kiln.interrupted = false);
    finalize_failed(&rec, &stop);
    Ok(())
}

/// A new deployment of a group (its lock held, so no process runs any other deployment of it)
/// replaces the deployments of the group kiln was interrupted during: each ends Stopped, saying
/// so (CodeDeploy has one active deployment per group; the new one starts from the group's last
/// successful revision). Returns their ids.
pub(super) fn replace_interrupted(store: &Store, application: &str, group: &str) -> Result<Vec<String>, EngineError> {
    let mut ended = Vec::new();
    for info in store.list()? {
        if info.application_name == application && info.deployment_group_name == group && info.kiln.interrupted && !info.status.is_final() {
            let id = info.deployment_id.clone();
            end_interrupted(store, info, Trigger::Request(Some(false)), "kiln was interrupted while this deployment ran, and a new deployment of the group replaced it (its instances were restored to the group's last successful revision).")?;
            ended.push(id);
        }
    }
    Ok(ended)
}

pub(super) fn request(store: &Store, id: &str, control: &Control) -> Result<(), EngineError> {
    let info = store.read(id)?;
    if info.status.is_final() || info.kiln.interrupted {
        return Err(state_error(&info, "no process is running it"));
    }
    Ok(store.request(id, control)?)
}

/// The plan a recorded deployment was made from, with `group` as the group file says it now.
fn replan(info: &DeploymentInfo, group: &DeploymentGroup) -> Result<Plan, EngineError> {
    if group.application_name != info.application_name || group.deployment_group_name != info.deployment_group_name {
        return Err(state_error(info, &format!("it belongs to {}/{}, not to the group file's {}/{}", info.application_name, info.deployment_group_name, group.application_name, group.deployment_group_name)));
    }
    let revision = Revision::load(info.revision.local_revision.clone())?;
    let options = DeploymentOptions {
        description: info.description.clone(),
        deployment_config_name: Some(info.deployment_config_name.clone()),
        ignore_application_stop_failures: info.ignore_application_stop_failures,
        file_exists_behavior: match info.file_exists_behavior.as_str() {
            "OVERWRITE" => Some(kiln_spec::appspec::FileExistsBehavior::Overwrite),
            "RETAIN" => Some(kiln_spec::appspec::FileExistsBehavior::Retain),
            _ => Some(kiln_spec::appspec::FileExistsBehavior::Disallow),
        },
        auto_rollback_configuration: Some(info.auto_rollback_configuration.clone()),
    };
    Plan::new(group, revision, options).map_err(EngineError::Plan)
}

/// Put the traffic control back where the record says (registrations, in-service flags, the last
/// confirmed weights).
async fn reassert_traffic(cx: &RunCx<'_>) -> Result<(), String> {
    let Some(t) = cx.traffic else { return Ok(()) };
    let (fleet, weights, pending) = cx.rec.read(|s| {
        let tr = s.info.kiln.traffic.clone();
        (s.info.kiln.fleet.clone(), tr.as_ref().map(|t| t.current), tr.and_then(|t| t.pending))
    });
    for f in &fleet {
        t.register(&f.id, f.set, f.in_service).await.map_err(|e| format!("registering {}: {e}", f.id))?;
    }
    if let Some(w) = weights {
        let reason = if pending.is_some() { "resume: the change pending at the interruption is undone" } else { "resume: the recorded weights" };
        super::traffic::set_weights(cx, w, reason).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What taking over a recorded deployment needs: its plan, the group's lock, the deployment's own
/// lock (refused while another process holds it), the group's state.
fn take_over(info: &DeploymentInfo, group: &DeploymentGroup, env: &Env<'_>) -> Result<(Plan, GroupLock, Handle, GroupState), EngineError> {
    let plan = replan(info, group)?;
    if let (Some(why), None) = (needs_traffic(&plan), env.traffic) {
        return Err(EngineError::NoTrafficControl(why));
    }
    let lock = env.store.lock_group(&info.application_name, &info.deployment_group_name)?;
    let handle = env.store.reopen(&info.deployment_id)?;
    let state = env.store.group_state(&info.application_name, &info.deployment_group_name)?;
    Ok((plan, lock, handle, state))
}

fn mark_taken(info: &mut DeploymentInfo, message: &str) {
    info.kiln.interrupted = false;
    info.kiln.pid = std::process::id();
    info.deployment_status_messages.push(message.to_string());
}

pub(super) async fn resume(id: &str, group: &DeploymentGroup, env: &Env<'_>) -> Result<RunOutcome, EngineError> {
    let info = env.store.read(id)?;
    if !info.kiln.interrupted {
        return Err(state_error(&info, "only an interrupted deployment can be resumed"));
    }
    if info.creator == Creator::CodeDeployRollback {
        return Err(state_error(&info, "a rollback deployment is not resumed; roll back again instead"));
    }
    let (plan, _group, handle, state) = take_over(&info, group, env)?;
    let mut info = info;
    mark_taken(&mut info, "kiln resumed the deployment after it was interrupted");
    // What ran at the crash runs again.
    for t in &mut info.deployment_targets {
        let t = t.core_mut();
        for e in &mut t.lifecycle_events {
            if e.status == LifecycleEventStatus::InProgress {
                e.status = LifecycleEventStatus::Pending;
                e.start_time = None;
            }
        }
        // An instance caught mid-lifecycle is to be deployed to again (its finished events are
        // not run twice).
        if matches!(t.status, TargetStatus::InProgress | TargetStatus::Ready) && t.lifecycle_events.iter().any(|e| e.status == LifecycleEventStatus::Pending) {
            t.status = TargetStatus::Pending;
        }
    }
    let fresh = info.deployment_targets.is_empty();
    let rec = Recorder::new(info, state, handle, env.store, env.reporter.clone());
    rec.set_status(DeploymentStatus::InProgress);
    let samples = SampleStore::default();
    let watch = new_watch(&plan, env, &rec, &samples, true);
    let mut cx = new_cx(&plan, env, &rec, &watch, Arc::new(plan.revision.clone()), false);
    cx.resumed = true;
    if fresh {
        return Err(state_error(&rec.snapshot(), "it was interrupted before its fleet was recorded; stop it (`kiln deploy stop`) and deploy again"));
    }
    let result = match reassert_traffic(&cx).await {
        Ok(()) => execute(&cx).await,
        Err(e) => Err(Stop::failure(ErrorCode::InternalError, format!("restoring the traffic control's state from the record: {e}"))),
    };
    finish::finish(&cx, result).await
}

pub(super) async fn rollback(id: &str, group: &DeploymentGroup, env: &Env<'_>) -> Result<RunOutcome, EngineError> {
    let info = env.store.read(id)?;
    let manual = matches!(info.status, DeploymentStatus::Failed | DeploymentStatus::Stopped) && info.rollback_info.as_ref().is_none_or(|r| r.rollback_deployment_id.is_none());
    if !info.kiln.interrupted && !manual {
        return Err(state_error(&info, "only an interrupted deployment, or a failed or stopped one not rolled back yet, can be rolled back"));
    }
    let (plan, _group, handle, state) = take_over(&info, group, env)?;
    let interrupted = info.kiln.interrupted;
    let mut info = info;
    mark_taken(&mut info, "kiln rolls the deployment back on request");
    let rec = Recorder::new(info, state, handle, env.store, env.reporter.clone());
    let samples = SampleStore::default();
    let watch = new_watch(&plan, env, &rec, &samples, false);
    let cx = new_cx(&plan, env, &rec, &watch, Arc::new(plan.revision.clone()), false);
    let message = if interrupted { "kiln was interrupted while the deployment ran; it was stopped and rolled back on request" } else { "rolled back on request" };
    let stop = Stop { trigger: Trigger::Request(Some(true)), code: ErrorCode::ManualStop, message: message.into(), at: std::time::Instant::now(), strategy_fault: false };
    if let Err(e) = reassert_traffic_for_rollback(&cx).await {
        cx.rec.reporter.progress(&crate::report::Progress::Message(format!("rollback: {e}")));
    }
    let restored = rollback::restore_traffic(&cx, &stop).await;
    if interrupted {
        finalize_failed(&rec, &stop);
    }
    let (rb, msg) = rollback::roll_back(&cx, &stop, restored).await?;
    let rid = rb.as_ref().map(|r| r.deployment_id.clone());
    rec.update_durable(true, |i| {
        let r = i.rollback_info.get_or_insert_with(RollbackInfo::default);
        r.rollback_deployment_id = rid;
        r.rollback_message = msg;
    });
    Ok(RunOutcome { deployment: rec.snapshot(), rollback: rb })
}

/// Before a rollback after a crash: the instances registered as recorded (weights are set by the
/// rollback itself).
async fn reassert_traffic_for_rollback(cx: &RunCx<'_>) -> Result<(), String> {
    let Some(t) = cx.traffic else { return Ok(()) };
    let fleet = cx.rec.read(|s| s.info.kiln.fleet.clone());
    for f in &fleet {
        t.register(&f.id, f.set, f.in_service).await.map_err(|e| format!("registering {}: {e}", f.id))?;
    }
    Ok(())
}
