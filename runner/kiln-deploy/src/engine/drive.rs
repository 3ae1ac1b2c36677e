//! The decision loop: observe, ask the strategy, check the answer, act — every await raced
//! against the watch, so an alarm or a stop request ends whatever is in progress at once. What
//! each action means per deployment, and what is refused, is [`crate::strategy::guard`]'s
//! documentation; the actions themselves are [`super::actions`].

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use kiln_spec::appspec::Event;

use super::actions;
use super::finish::Stop;
use super::state::target;
use super::RunCx;
use crate::record::*;
use crate::report::Progress;
use crate::strategy::guard::{self, Flow, Inst, Progress as P, View};
use crate::strategy::{Action, DeploymentType, InstanceSet, InstanceView, Observation, Strategy};

/// Poll every future to completion, concurrently (a batch's instances).
pub(crate) async fn join_all<T>(futures: Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>) -> Vec<T> {
    let mut futures: Vec<Option<Pin<Box<dyn Future<Output = T> + Send + '_>>>> = futures.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, result) in futures.iter_mut().zip(out.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *result = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// What an action that may fail on some instances reports: `Err` names the failure (the error
/// code the deployment ends with, if the strategy then rolls back, and the message).
pub(crate) type Outcome = Result<(), (ErrorCode, String)>;

/// Drive the deployment with `strategy` until it succeeds or stops.
pub(crate) async fn drive(cx: &RunCx<'_>, strategy: &mut dyn Strategy) -> Result<(), Stop> {
    if cx.plan.flow == Flow::TrafficOnly {
        cx.rec.target_status(&cx.wide_target, TargetStatus::InProgress);
    }
    let limits = cx.env.options.limits;
    let mut decisions = cx.rec.read(|s| s.info.kiln.strategy.as_ref().map_or(0, |s| s.decisions));
    let mut last: Option<Outcome> = None;
    loop {
        if let Some(i) = cx.watch.check() {
            return Err(i.into());
        }
        if decisions >= limits.max_decisions {
            return Err(Stop::strategy(format!("the strategy made {decisions} decisions without finishing the deployment (the limit is {}); it is looping", limits.max_decisions)));
        }
        if time_left_ms(cx) == 0 {
            return Err(Stop::failure(ErrorCode::Timeout, "the deployment ran past its time limit".into()));
        }
        let obs = observe(cx, last.as_ref().map(|r| r.clone().map_err(|(_, m)| m)));
        let answer = cx.watch.race(tokio::time::timeout(limits.decision_timeout, strategy.next(&obs))).await?;
        let action = match answer {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return Err(Stop::strategy(e.to_string())),
            Err(_) => return Err(Stop::strategy(format!("the strategy did not answer within {} ms", limits.decision_timeout.as_millis()))),
        };
        decisions += 1;
        let text = action.to_string();
        cx.rec.update(|i| {
            if let Some(s) = &mut i.kiln.strategy {
                s.decisions = decisions;
                s.last_action = Some(guard::printable(&text));
            }
        });
        cx.rec.reporter.progress(&Progress::Decision { action: guard::printable(&text) });
        let action = {
            let (instances, traffic) = guard_view(cx);
            let health = cx.health();
            let v = View {
                flow: cx.plan.flow,
                instances: instances.iter().map(|(id, set, progress, in_service, traffic_done)| Inst { id, set: *set, progress: *progress, in_service: *in_service, traffic_done: *traffic_done }).collect(),
                health: health.as_ref(),
                traffic,
                wide: actions::wide_status(cx),
                time_left_ms: time_left_ms(cx),
                platform: cx.plan.group.compute_platform.describe(),
                resumed: cx.resumed,
            };
            guard::check(&action, &v).map_err(Stop::strategy)?
        };
        last = Some(match action {
            Action::DeployBatch(ids) => actions::deploy_batch(cx, &ids).await?,
            Action::AllowTraffic(ids) => actions::allow(cx, &ids).await?,
            Action::BlockTraffic(ids) => actions::block(cx, &ids).await?,
            Action::ShiftTraffic(p) => actions::shift(cx, p).await.map(|()| Ok(()))?,
            Action::Wait(ms) => cx.watch.sleep(cx.scaled(Duration::from_millis(ms))).await.map(|()| Ok(()))?,
            Action::RunHook(name) => actions::run_hook(cx, &name).await.map(|()| Ok(()))?,
            Action::Succeed => return actions::complete(cx).await,
            Action::RollBack(reason) => {
                let reason = guard::printable(&reason);
                return Err(match last {
                    // The strategy gave up after a failure: the record says what failed first.
                    Some(Err((code, message))) => Stop::failure(code, format!("{message} (the deployment strategy rolled back: {reason})")),
                    // Instances failed earlier and the strategy cannot go on without breaking
                    // minimum healthy hosts: CodeDeploy's HEALTH_CONSTRAINTS.
                    _ => match failed_instances(cx) {
                        Some(failed) => Stop::failure(ErrorCode::HealthConstraints, format!("The overall deployment failed because too many individual instances failed deployment ({failed}); the deployment strategy rolled back: {reason}")),
                        None => Stop::failure(ErrorCode::CustomerApplicationUnhealthy, format!("the deployment strategy asked to roll back: {reason}")),
                    },
                });
            }
        });
    }
}

/// Nominal milliseconds left before the deployment's time limit.
fn time_left_ms(cx: &RunCx<'_>) -> u64 {
    let limit = cx.env.options.max_duration.unwrap_or(match cx.plan.flow {
        Flow::InPlace => Duration::from_secs(8 * 3600),
        _ => Duration::from_secs(109 * 3600),
    });
    limit.as_millis().saturating_sub(u128::from(elapsed_ms(cx))).min(u128::from(u64::MAX)) as u64
}

fn elapsed_ms(cx: &RunCx<'_>) -> u64 {
    let real = cx.rec.started.elapsed().as_secs_f64();
    (real / cx.env.options.time_scale.clamp(1e-9, 1e9) * 1000.0) as u64
}

/// The events of the install part of a lifecycle (before BeforeAllowTraffic).
pub(crate) fn install_segment(events: &[Event]) -> &[Event] {
    let end = events.iter().position(|e| *e == Event::BeforeAllowTraffic).unwrap_or(events.len());
    &events[..end]
}

pub(crate) fn event_status(info: &DeploymentInfo, target_id: &str, event: Event) -> Option<LifecycleEventStatus> {
    target(info, target_id)?.lifecycle_events.iter().find(|e| e.lifecycle_event_name == event.name()).map(|e| e.status)
}

pub(crate) fn done(s: Option<LifecycleEventStatus>) -> bool {
    matches!(s, Some(LifecycleEventStatus::Succeeded | LifecycleEventStatus::Skipped))
}

/// Where an instance is in this deployment (its install part, for blue/green).
pub(crate) fn progress_of(info: &DeploymentInfo, id: &str, segment: &[Event]) -> P {
    let Some(t) = target(info, id) else { return P::Pending };
    let statuses: Vec<LifecycleEventStatus> = t.lifecycle_events.iter().filter(|e| segment.iter().any(|s| s.name() == e.lifecycle_event_name)).map(|e| e.status).collect();
    if statuses.contains(&LifecycleEventStatus::Failed) || t.status == TargetStatus::Failed {
        P::Failed
    } else if !statuses.is_empty() && statuses.iter().all(|s| done(Some(*s))) {
        P::Succeeded
    } else if t.status == TargetStatus::InProgress || statuses.contains(&LifecycleEventStatus::InProgress) {
        P::InProgress
    } else {
        P::Pending
    }
}

/// One instance as the guard sees it: id, set, progress, in service, traffic events attempted.
type GuardInstance = (String, InstanceSet, P, bool, bool);

/// The instances as the guard sees them, and the traffic on the new revision.
fn guard_view(cx: &RunCx<'_>) -> (Vec<GuardInstance>, u8) {
    let segment = install_segment(cx.plan.lifecycles.main);
    let traffic = actions::traffic_to_target(cx);
    let list = cx.rec.read(|s| {
        let target_rev = &cx.revision.reference.name;
        s.info
            .kiln
            .fleet
            .iter()
            .map(|f| {
                let p = match cx.plan.flow {
                    Flow::TrafficOnly if f.set == InstanceSet::Replacement && f.revision.as_ref() == Some(target_rev) => P::Succeeded,
                    Flow::TrafficOnly => P::Pending,
                    Flow::BlueGreen if f.set == InstanceSet::Original => P::Pending,
                    _ => progress_of(&s.info, &f.id, segment),
                };
                let marker = if f.set == InstanceSet::Replacement { Event::AllowTraffic } else { Event::BlockTraffic };
                let traffic_done = cx.plan.flow == Flow::BlueGreen && event_status(&s.info, &f.id, marker).is_some_and(|st| st != LifecycleEventStatus::Pending);
                (f.id.clone(), f.set, p, f.in_service, traffic_done)
            })
            .collect()
    });
    (list, traffic)
}

/// The instances this deployment failed on, each with its first failed event's message.
fn failed_instances(cx: &RunCx<'_>) -> Option<String> {
    let list: Vec<String> = cx.rec.read(|s| {
        s.info
            .deployment_targets
            .iter()
            .map(|t| t.core())
            .filter(|t| t.status == TargetStatus::Failed)
            .map(|t| match t.lifecycle_events.iter().find(|e| e.status == crate::record::LifecycleEventStatus::Failed) {
                Some(e) => format!("{}: {} {}", t.target_id, e.lifecycle_event_name, e.diagnostics.as_ref().map(|d| d.message.as_str()).unwrap_or("failed")),
                None => t.target_id.clone(),
            })
            .collect()
    });
    (!list.is_empty()).then(|| list.join("; "))
}

/// The observation for the strategy.
fn observe(cx: &RunCx<'_>, last: Option<Result<(), String>>) -> Observation {
    let target_revision = cx.revision.reference.name.clone();
    let mut instances = cx.rec.read(|s| {
        let failed = |id: &str| target(&s.info, id).is_some_and(|t| t.status == TargetStatus::Failed);
        s.info
            .kiln
            .fleet
            .iter()
            .map(|f| {
                let group_healthy = s.group.instances.get(&f.id).is_some_and(|i| i.healthy);
                let rank_health = if group_healthy { 1 } else { 0 };
                let rank_rev = match &f.revision {
                    None => 0,
                    Some(r) if *r != target_revision => 1,
                    Some(_) => 2,
                };
                // Healthy unless this deployment failed on it or its health check fails.
                let healthy = !failed(&f.id) && cx.watch.healthy(&f.id).unwrap_or(true);
                (InstanceView { id: f.id.clone(), revision: f.revision.clone().unwrap_or_default(), instance_set: f.set, healthy, in_service: f.in_service }, (rank_health, rank_rev))
            })
            .collect::<Vec<_>>()
    });
    // CodeDeploy's scheduling order: unhealthy instances first, then unknown, old, current revisions.
    instances.sort_by_key(|a| a.1);
    Observation {
        compute_platform: cx.plan.group.compute_platform,
        deployment_type: if cx.plan.flow == Flow::InPlace { DeploymentType::InPlace } else { DeploymentType::BlueGreen },
        elapsed_ms: elapsed_ms(cx),
        target_revision,
        instances: instances.into_iter().map(|(v, _)| v).collect(),
        alarms: cx.watch.alarm_views(),
        traffic_to_target: actions::traffic_to_target(cx),
        continue_requested: cx.watch.take_strategy_continue(),
        last_action: last,
    }
}
