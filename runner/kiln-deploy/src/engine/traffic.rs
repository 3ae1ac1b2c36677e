//! Traffic weight changes, journaled: the record says `pending` *before* the traffic control is
//! asked, and `current` once it confirms, so a crash in between leaves a record that says the
//! router may be at either (and `resume`/`rollback` set it to a known value first).
//!
//! The journal writes are not fsynced: a killed process loses nothing the kernel has (the files
//! are renamed into place, never half-written); fsync on every shift would only guard against
//! power loss, at the cost of the rollback latency. The final record is fsynced.

use std::time::{Instant, SystemTime};

use super::RunCx;
use crate::record::time::rfc3339;
use crate::record::{DeploymentInfo, TrafficRecord, WeightChange, Weights};
use crate::report::Progress;
use crate::target::{TrafficControl, TrafficError};

/// Move traffic to `weights`, journaled in the record of `cx`. Returns when the traffic control
/// confirmed, with the instant it did.
pub(crate) async fn set_weights(cx: &RunCx<'_>, weights: Weights, reason: &str) -> Result<Instant, TrafficError> {
    let Some(t) = cx.traffic else { return Ok(Instant::now()) };
    set_on(cx.rec, t, weights, reason).await
}

/// [`set_weights`] with an explicit recorder and traffic control (rollbacks).
pub(crate) async fn set_on(rec: &super::state::Recorder<'_>, t: &dyn TrafficControl, weights: Weights, reason: &str) -> Result<Instant, TrafficError> {
    rec.update(|i| journal(i).pending = Some(weights));
    t.set_weights(weights).await?;
    let done = Instant::now();
    rec.update(|i| {
        let j = journal(i);
        j.current = weights;
        j.pending = None;
        j.history.push(WeightChange { at: rfc3339(SystemTime::now()), weights, reason: reason.to_string() });
        reflect(i, weights);
    });
    rec.reporter.progress(&Progress::Traffic { weights, reason: reason.to_string() });
    Ok(done)
}

fn journal(i: &mut DeploymentInfo) -> &mut TrafficRecord {
    i.kiln.traffic.get_or_insert_with(|| TrafficRecord { current: Weights::ORIGINAL, pending: None, history: Vec::new() })
}

/// Show the weights in the ECS task sets / Lambda alias weight of the record.
fn reflect(i: &mut DeploymentInfo, w: Weights) {
    for t in &mut i.deployment_targets {
        if let Some(e) = &mut t.ecs_target {
            for set in &mut e.task_sets_info {
                set.traffic_weight = f64::from(if set.task_set_label == crate::record::Label::Blue { w.original } else { w.replacement });
            }
        }
        if let Some(l) = &mut t.lambda_target {
            l.lambda_function_info.target_version_weight = f64::from(w.replacement) / 100.0;
        }
    }
}

/// EC2 blue/green (not its rollback, which the host drives to the originals): weights
/// proportional to the in-service counts of the two fleets, as an ALB target group spreads
/// requests over the instances registered with it. Nothing changes when they are already so.
pub(crate) async fn rebalance(cx: &RunCx<'_>) -> Result<(), TrafficError> {
    if cx.plan.flow != crate::strategy::guard::Flow::BlueGreen || cx.blue_green_rollback {
        return Ok(());
    }
    // Instances entering or leaving service concurrently each rebalance; whoever finishes last
    // checks again, so the weights end at the counts as they are.
    for _ in 0..8 {
        let (o, r) = cx.rec.read(|s| {
            let count = |set| s.info.kiln.fleet.iter().filter(|f| f.set == set && f.in_service).count() as u32;
            (count(crate::strategy::InstanceSet::Original), count(crate::strategy::InstanceSet::Replacement))
        });
        if o + r == 0 {
            return Ok(());
        }
        let weights = Weights::to_replacement(((r * 100 + (o + r) / 2) / (o + r)) as u8);
        if weights == current(cx) {
            return Ok(());
        }
        set_weights(cx, weights, &format!("{r} replacement and {o} original instance(s) in service")).await?;
    }
    Ok(())
}

/// The weights the record last confirmed (100/0 when none were set).
pub(crate) fn current(cx: &RunCx<'_>) -> Weights {
    cx.rec.read(|s| s.info.kiln.traffic.as_ref().map_or(Weights::ORIGINAL, |t| t.current))
}

/// Update an ECS target's task-set counts (running replacement tasks).
pub(crate) fn running_replacements(cx: &RunCx<'_>, running: u32) {
    cx.rec.update(|i| {
        for t in &mut i.deployment_targets {
            if let Some(e) = &mut t.ecs_target {
                for set in e.task_sets_info.iter_mut().filter(|s| s.task_set_label == crate::record::Label::Green) {
                    set.running_count = running.min(set.desired_count);
                    set.pending_count = set.desired_count - set.running_count;
                }
            }
        }
    });
}
