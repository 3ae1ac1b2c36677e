//! Rollback, as CodeDeploy does it: a **new deployment** (creator `codeDeployRollback`, its own
//! id, `rollbackInfo` pointing both ways) of the group's last known good revision (user guide
//! "Redeploy and roll back a deployment"; fact sheet §7):
//!
//! * EC2/on-premises in place: the in-place lifecycle again, with the last good revision, on the
//!   instances the failed deployment touched (kiln proposal: instances it never reached still run
//!   the good revision, so they are left alone rather than taken out of service for nothing), in
//!   batches of the configuration's size. ApplicationStop then runs the scripts of the revision
//!   that was last *installed* there — possibly the failed one, as on CodeDeploy.
//! * EC2 blue/green: the original instances allow traffic again (BeforeAllowTraffic, AllowTraffic,
//!   AfterAllowTraffic, scripts of their last install), the replacement ones block it
//!   (BeforeBlockTraffic, BlockTraffic, AfterBlockTraffic, scripts of their last download); the
//!   replacement instances kiln provisioned are terminated.
//! * ECS and Lambda: traffic back to the original task set or version; the replacement is removed.
//!   No lifecycle event runs (CodeDeploy documents none for their rollback).
//!
//! **Traffic first.** Before any record is finalized or any rollback hook runs, traffic is put
//! back on the last good revision ([`restore_traffic`]): weights to 100/0, or in place the
//! instances running the failed revision out of service when an instance of the good one still
//! serves. The time from the trigger (an alarm's state change) to traffic being back is recorded
//! in both deployments (`kiln.rollback.trafficRestoredMs`). A rollback is driven by the host, never
//! by the strategy (the strategy may be what failed), and is not stopped by the alarm that caused it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::drive::join_all;
use super::finish::{remember, Stop};
use super::lifecycle::run_instance_events;
use super::plan::Revision;
use super::run::{instance_target, new_cx, new_record, new_watch, wide_target};
use super::state::{target, Recorder};
use super::{traffic, EngineError, RunCx};
use crate::metrics::SampleStore;
use crate::record::time::rfc3339;
use crate::record::*;
use crate::report::Progress;
use crate::strategy::guard::Flow;
use crate::strategy::InstanceSet;

/// How traffic was put back.
#[derive(Clone, Debug)]
pub(crate) struct Restored {
    pub timing: RollbackTiming,
    pub error: Option<String>,
}

/// Whether the deployment changed anything a rollback must undo.
pub(crate) fn changed(rec: &Recorder<'_>) -> bool {
    rec.read(|s| {
        let i = &s.info;
        i.deployment_targets.iter().any(|t| !matches!(t.core().status, TargetStatus::Pending | TargetStatus::Skipped))
            || i.kiln.traffic.as_ref().is_some_and(|t| t.current != Weights::ORIGINAL || t.pending.is_some())
            || i.kiln.fleet.iter().any(|f| f.provisioned)
    })
}

/// Put traffic back on the last good revision, now.
pub(crate) async fn restore_traffic(cx: &RunCx<'_>, stop: &Stop) -> Restored {
    let trigger = match stop.event() {
        crate::group::RollbackEvent::DeploymentFailure => "DEPLOYMENT_FAILURE",
        crate::group::RollbackEvent::DeploymentStopOnAlarm => "DEPLOYMENT_STOP_ON_ALARM",
        crate::group::RollbackEvent::DeploymentStopOnRequest => "DEPLOYMENT_STOP_ON_REQUEST",
    }
    .to_string();
    let mut error = None;
    let done: Option<Instant> = match (cx.traffic, cx.plan.flow) {
        (None, _) => None,
        (Some(t), Flow::InPlace) => {
            let (bad, good_serving): (Vec<String>, bool) = cx.rec.read(|s| {
                let new = &cx.revision.reference.name;
                let bad = s.info.kiln.fleet.iter().filter(|f| f.in_service && (f.revision.as_ref() == Some(new) || target(&s.info, &f.id).is_some_and(|t| t.status == TargetStatus::InProgress))).map(|f| f.id.clone()).collect();
                let good = s.info.kiln.fleet.iter().any(|f| f.in_service && f.revision.as_ref() != Some(new) && f.revision.is_some());
                (bad, good)
            });
            if good_serving && !bad.is_empty() {
                for id in &bad {
                    match t.set_in_service(id, false).await {
                        Ok(()) => cx.rec.fleet(id, |f| f.in_service = false),
                        Err(e) => error = Some(format!("taking {id} out of service: {e}")),
                    }
                }
                Some(Instant::now())
            } else {
                None
            }
        }
        (Some(t), _) => {
            if cx.plan.flow == Flow::BlueGreen {
                // Every original instance, whatever the record says: a BlockTraffic interrupted
                // by the failure may have taken one out of service at the load balancer before
                // its record said so.
                let originals: Vec<String> = cx.rec.read(|s| s.info.kiln.fleet.iter().filter(|f| f.set == InstanceSet::Original).map(|f| f.id.clone()).collect());
                for id in originals {
                    if t.set_in_service(&id, true).await.is_ok() {
                        cx.rec.fleet(&id, |f| f.in_service = true);
                    }
                }
            }
            match traffic::set_on(cx.rec, t, Weights::ORIGINAL, "rollback: traffic back to the original fleet").await {
                Ok(at) => Some(at),
                Err(e) => {
                    error = Some(format!("moving traffic back: {e}"));
                    None
                }
            }
        }
    };
    let timing = RollbackTiming {
        trigger,
        reason: stop.message.clone(),
        triggered_at: rfc3339(SystemTime::now() - stop.at.elapsed()),
        traffic_restored_at: done.map(|d| rfc3339(SystemTime::now() - d.elapsed())),
        traffic_restored_ms: done.map(|d| d.saturating_duration_since(stop.at).as_secs_f64() * 1000.0),
    };
    cx.rec.update(|i| i.kiln.rollback = Some(timing.clone()));
    if let Some(e) = &error {
        cx.rec.reporter.progress(&Progress::Message(format!("rollback: {e}")));
    }
    Restored { timing, error }
}

/// The last good revision (in place: required; blue/green: the originals' revision when known).
fn good_revision(cx: &RunCx<'_>) -> Option<RevisionRef> {
    cx.rec.read(|s| {
        s.group.last_successful_deployment.as_ref().map(|l| l.revision.clone()).or_else(|| {
            (cx.plan.flow != Flow::InPlace).then(|| {
                let original = s.info.kiln.fleet.iter().find(|f| f.set == InstanceSet::Original).and_then(|f| s.group.instances.get(&f.id)).and_then(|i| i.last_successful_install.clone());
                original.unwrap_or(RevisionRef { name: "(the original fleet)".into(), bundle: String::new(), sha256: String::new(), provenance_sha256: None })
            })
        })
    })
}

/// Run the rollback deployment of the failed deployment of `cx`. Returns it and the
/// `rollbackMessage` for the failed one.
pub(crate) async fn roll_back(cx: &RunCx<'_>, stop: &Stop, restored: Restored) -> Result<(Option<DeploymentInfo>, Option<String>), EngineError> {
    let failed_id = cx.rec.id();
    let Some(good) = good_revision(cx) else {
        return Ok((None, Some("The deployment can't be rolled back: the deployment group has no earlier successful deployment.".into())));
    };
    let revision = if cx.plan.flow == Flow::InPlace {
        match Revision::load(good.clone()) {
            Ok(r) => Arc::new(r),
            Err(e) => return Ok((None, Some(format!("The deployment can't be rolled back: the last successful revision {} cannot be read ({e}).", good.name)))),
        }
    } else {
        Revision::load(good.clone()).map(Arc::new).unwrap_or_else(|_| Arc::new(Revision { reference: good.clone(), appspec: cx.revision.appspec.clone() }))
    };
    let failed = cx.rec.snapshot();
    let env = cx.env;
    let mut info = new_record(cx.plan, env, Creator::CodeDeployRollback, &good, Some(failed.revision.clone()));
    info.rollback_info = Some(RollbackInfo { rollback_deployment_id: None, rollback_triggering_deployment_id: Some(failed_id.clone()), rollback_message: Some(format!("Rollback of {failed_id}: {}", stop.message)) });
    info.kiln.fleet = failed.kiln.fleet.clone();
    info.kiln.traffic = failed.kiln.traffic.clone();
    info.kiln.health = failed.kiln.health;
    info.kiln.rollback = Some(restored.timing.clone());
    let attempted = |id: &str| target(&failed, id).is_some_and(|t| !matches!(t.status, TargetStatus::Pending | TargetStatus::Skipped));
    let l = &cx.plan.lifecycles;
    info.deployment_targets = match cx.plan.flow {
        Flow::InPlace => failed.kiln.fleet.iter().filter(|f| attempted(&f.id)).map(|f| instance_target(&f.id, Label::Blue, l.main)).collect(),
        Flow::BlueGreen => {
            let mut t: Vec<DeploymentTarget> = failed.kiln.fleet.iter().filter(|f| f.set == InstanceSet::Original).map(|f| instance_target(&f.id, Label::Blue, l.rollback_original)).collect();
            t.extend(failed.kiln.fleet.iter().filter(|f| f.set == InstanceSet::Replacement && attempted(&f.id)).map(|f| instance_target(&f.id, Label::Green, l.rollback_replacement)));
            t
        }
        Flow::TrafficOnly => vec![wide_target(cx.plan, &cx.wide_target, &[], failed.kiln.fleet.iter().filter(|f| f.set == InstanceSet::Original).count() as u32)],
    };
    let handle = env.store.create(&mut info)?;
    let group = cx.rec.read(|s| s.group.clone());
    let rec = Recorder::new(info, group, handle, env.store, env.reporter.clone());
    let rid = rec.id();
    env.reporter.progress(&Progress::Rollback { deployment_id: failed_id.clone(), rollback_deployment_id: rid.clone(), reason: stop.message.clone() });
    cx.rec.update(|i| i.rollback_info = Some(RollbackInfo { rollback_deployment_id: Some(rid.clone()), rollback_triggering_deployment_id: None, rollback_message: Some(format!("Rollback in progress: {rid}")) }));
    rec.update(|i| i.start_time = Some(rfc3339(SystemTime::now())));
    rec.set_status(DeploymentStatus::InProgress);
    let samples = SampleStore::default();
    let watch = new_watch(cx.plan, env, &rec, &samples, false);
    let rcx = new_cx(cx.plan, env, &rec, &watch, revision, cx.plan.flow == Flow::BlueGreen);
    let ok = run_rollback(&rcx, &failed, restored.error.is_none()).await;
    let outcome = if ok { DeploymentStatus::Succeeded } else { DeploymentStatus::Failed };
    if !ok {
        let message = "The rollback deployment failed: see its lifecycle events.".to_string();
        rec.update(|i| i.error_information = Some(ErrorInformation { code: ErrorCode::HealthConstraints, message }));
    }
    rec.set_status(outcome);
    remember(&rec, ok);
    let message = if ok {
        format!("Deployment {failed_id} was rolled back by {rid}, which deployed {} and succeeded.", good.name)
    } else {
        format!("The rollback deployment {rid} of {failed_id} failed.")
    };
    // The failed deployment's group state view must include what the rollback did.
    let g = rec.read(|s| s.group.clone());
    cx.rec.update_group(|s| *s = g);
    Ok((Some(rec.snapshot()), Some(message)))
}

async fn run_rollback(rcx: &RunCx<'_>, failed: &DeploymentInfo, traffic_ok: bool) -> bool {
    let l = &rcx.plan.lifecycles;
    let targets: Vec<(String, Label)> = rcx.rec.read(|s| s.info.deployment_targets.iter().filter_map(|t| t.instance_target.as_ref().map(|i| (i.core.target_id.clone(), i.instance_label))).collect());
    let mut ok = traffic_ok;
    match rcx.plan.flow {
        Flow::InPlace => {
            let batch = rcx.health().map_or(targets.len().max(1), |h| h.max_batch.max(1) as usize);
            for chunk in targets.chunks(batch) {
                for (id, _) in chunk {
                    rcx.rec.target_status(id, TargetStatus::InProgress);
                }
                let futures = chunk.iter().map(|(id, _)| Box::pin(run_instance_events(rcx, id, l.main)) as Pin<Box<dyn Future<Output = bool> + Send + '_>>).collect();
                for ((id, _), r) in chunk.iter().zip(join_all(futures).await) {
                    rcx.rec.target_status(id, if r { TargetStatus::Succeeded } else { TargetStatus::Failed });
                    ok &= r;
                }
            }
        }
        Flow::BlueGreen => {
            for (label, events) in [(Label::Blue, l.rollback_original), (Label::Green, l.rollback_replacement)] {
                let ids: Vec<&String> = targets.iter().filter(|(_, lb)| *lb == label).map(|(id, _)| id).collect();
                let futures = ids.iter().map(|id| Box::pin(run_instance_events(rcx, id, events)) as Pin<Box<dyn Future<Output = bool> + Send + '_>>).collect();
                for (id, r) in ids.iter().zip(join_all(futures).await) {
                    rcx.rec.target_status(id, if r { TargetStatus::Succeeded } else { TargetStatus::Failed });
                    ok &= r;
                }
            }
            ok &= remove_replacements(rcx, failed).await;
        }
        Flow::TrafficOnly => {
            ok &= remove_replacements(rcx, failed).await;
            let wide = rcx.wide_target.clone();
            rcx.rec.target_status(&wide, if ok { TargetStatus::Succeeded } else { TargetStatus::Failed });
        }
    }
    ok
}

/// Deregister and terminate the replacement instances kiln provisioned.
async fn remove_replacements(rcx: &RunCx<'_>, failed: &DeploymentInfo) -> bool {
    let ids: Vec<String> = failed.kiln.fleet.iter().filter(|f| f.set == InstanceSet::Replacement && f.provisioned).map(|f| f.id.clone()).collect();
    let mut ok = true;
    if let Some(t) = rcx.traffic
        && !ids.is_empty()
    {
        // Traffic is back on the original set already; requests still in flight on the
        // replacement instances finish (ELB's deregistration delay) before they stop.
        if let Err(e) = t.drain(&ids, rcx.env.options.drain_timeout).await {
            rcx.rec.reporter.progress(&Progress::Message(format!("rollback: draining the replacement instances failed: {e}")));
        }
        for id in &ids {
            ok &= t.deregister(id).await.is_ok();
        }
    }
    if !ids.is_empty()
        && let Err(e) = rcx.env.target.terminate(&ids).await {
            rcx.rec.reporter.progress(&Progress::Message(format!("rollback: terminating the replacement instances failed: {e}")));
            ok = false;
        }
    rcx.rec.update(|i| {
        i.kiln.fleet.retain(|f| !(f.set == InstanceSet::Replacement && f.provisioned));
        super::finish::task_sets(i, Label::Blue);
    });
    ok
}
