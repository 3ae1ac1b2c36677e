//! What the host does for each strategy action, once [`crate::strategy::guard`] allowed it:
//!
//! * `deploy-batch(ids)`: in place, each instance's whole lifecycle; blue/green, the install
//!   events (ApplicationStop … ValidateService) on replacement instances; ECS and Lambda, the
//!   events due before Install, then the replacement task set's / version's processes installed
//!   and started (ECS's Install event). Afterwards, if healthy instances fell to the minimum with
//!   instances still to do, the deployment stops (HEALTH_CONSTRAINTS).
//! * `allow-traffic(ids)` (EC2 blue/green): before the first one, the deployment-ready wait
//!   (`STOP_DEPLOYMENT`); then BeforeAllowTraffic, AllowTraffic (in service), AfterAllowTraffic on
//!   each; an instance whose events failed is taken out of service again.
//! * `block-traffic(ids)` (EC2 blue/green): BeforeBlockTraffic, BlockTraffic (out of service,
//!   drained), AfterBlockTraffic on each original instance.
//!   When an instance enters or leaves service (AllowTraffic, BlockTraffic), the weights follow
//!   the in-service counts of the two fleets at once, as an ALB target group spreads requests
//!   over its registered instances ([`traffic::rebalance`]): AfterAllowTraffic runs under
//!   production traffic.
//! * `shift-traffic(p)` (ECS, Lambda): the first shift runs the events due before AllowTraffic
//!   (AfterInstall … BeforeAllowTraffic), then the weights move (journaled); AllowTraffic succeeds
//!   at 100.
//! * `run-hook(e)` (ECS, Lambda): the due events before `e`, then `e`.
//! * `succeed`: the events left after AllowTraffic (AfterAllowTraffic) run first.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use kiln_spec::appspec::Event;

use super::drive::{done, event_status, install_segment, join_all, progress_of, Outcome};
use super::finish::Stop;
use super::lifecycle::{run_function_hook, run_instance_events};
use super::{traffic, RunCx};
use crate::group::ReadyAction;
use crate::record::*;
use crate::report::Progress;
use crate::strategy::guard::{Flow, Progress as P};
use crate::strategy::InstanceSet;
use crate::target::InstallRequest;

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Percentage of traffic on the target revision: in place, the share of serving instances that
/// run it; otherwise the replacement set's weight as the record last confirmed it.
pub(crate) fn traffic_to_target(cx: &RunCx<'_>) -> u8 {
    let target_revision = &cx.revision.reference.name;
    cx.rec.read(|s| match cx.plan.flow {
        Flow::InPlace => {
            let serving: Vec<&FleetInstance> = s.info.kiln.fleet.iter().filter(|f| f.in_service).collect();
            let on_target = serving.iter().filter(|f| f.revision.as_ref() == Some(target_revision)).count();
            if serving.is_empty() { 0 } else { (on_target * 100 / serving.len()) as u8 }
        }
        _ => s.info.kiln.traffic.as_ref().map_or(0, |t| t.current.replacement),
    })
}

/// The deployment-wide events (ECS and Lambda), in order.
fn wide_events(cx: &RunCx<'_>) -> &'static [Event] {
    if cx.plan.flow == Flow::TrafficOnly { cx.plan.lifecycles.main } else { &[] }
}

/// Whether a deployment-wide event is done (AllowTraffic: when all traffic has moved).
fn wide_done(cx: &RunCx<'_>, event: Event) -> bool {
    if event == Event::AllowTraffic {
        return traffic::current(cx).replacement == 100;
    }
    cx.rec.read(|s| done(event_status(&s.info, &cx.wide_target, event)))
}

/// The deployment-wide events with whether each is done, for the guard.
pub(crate) fn wide_status(cx: &RunCx<'_>) -> Vec<(Event, bool)> {
    wide_events(cx).iter().map(|e| (*e, wide_done(cx, *e))).collect()
}

fn fleet_of(cx: &RunCx<'_>, set: InstanceSet) -> Vec<String> {
    cx.rec.read(|s| s.info.kiln.fleet.iter().filter(|f| f.set == set).map(|f| f.id.clone()).collect())
}

/// `deploy-batch`.
pub(crate) async fn deploy_batch(cx: &RunCx<'_>, ids: &[String]) -> Result<Outcome, Stop> {
    if ids.is_empty() {
        return Ok(Ok(()));
    }
    if cx.plan.flow == Flow::TrafficOnly {
        return install_set(cx, ids).await.map(Ok);
    }
    cx.rec.reporter.progress(&Progress::Batch { instances: ids.to_vec() });
    for id in ids {
        cx.rec.target_status(id, TargetStatus::InProgress);
    }
    let events = match cx.plan.flow {
        Flow::BlueGreen => install_segment(cx.plan.lifecycles.main),
        _ => cx.plan.lifecycles.main,
    };
    let futures = ids.iter().map(|id| Box::pin(run_instance_events(cx, id, events)) as Boxed<'_, bool>).collect();
    let results = cx.watch.race(join_all(futures)).await?;
    let mut failed_now = Vec::new();
    for (id, ok) in ids.iter().zip(&results) {
        cx.watch.forget(id);
        if cx.plan.flow == Flow::InPlace {
            cx.rec.target_status(id, if *ok { TargetStatus::Succeeded } else { TargetStatus::Failed });
        } else if !ok {
            cx.rec.target_status(id, TargetStatus::Failed);
        }
        if !ok {
            failed_now.push(id.clone());
        }
    }
    if let Some(h) = &cx.health() {
        let segment = install_segment(cx.plan.lifecycles.main);
        let set = if cx.plan.flow == Flow::InPlace { InstanceSet::Original } else { InstanceSet::Replacement };
        let (failed, remaining) = cx.rec.read(|s| {
            let mine: Vec<P> = s.info.kiln.fleet.iter().filter(|f| f.set == set).map(|f| progress_of(&s.info, &f.id, segment)).collect();
            (mine.iter().filter(|p| **p == P::Failed).count() as u32, mine.iter().filter(|p| **p == P::Pending).count() as u32)
        });
        if h.must_stop(failed, remaining) {
            return Err(Stop::failure(
                ErrorCode::HealthConstraints,
                format!(
                    "The overall deployment failed because too many individual instances failed deployment, too few healthy instances are available for deployment, or some instances in your deployment group are experiencing problems. ({failed} failed: {}; at least {} of {} must stay healthy)",
                    failed_now.join(", "),
                    h.minimum_healthy,
                    h.instances
                ),
            ));
        }
    }
    Ok(if failed_now.is_empty() { Ok(()) } else { Err((ErrorCode::HealthConstraints, format!("the deployment failed on {}", failed_now.join(", ")))) })
}

/// ECS and Lambda: the events due before Install (ECS), then install and start `ids` of the
/// replacement task set or version.
async fn install_set(cx: &RunCx<'_>, ids: &[String]) -> Result<(), Stop> {
    let has_install = wide_events(cx).contains(&Event::Install);
    if has_install {
        run_wide_until(cx, Event::Install).await?;
        cx.rec.event(&cx.wide_target, Event::Install.name(), LifecycleEventStatus::InProgress, None);
    }
    cx.rec.reporter.progress(&Progress::Batch { instances: ids.to_vec() });
    if let Err(stop) = cx.watch.race(install_replacements(cx, ids)).await? {
        if has_install {
            cx.rec.event(&cx.wide_target, Event::Install.name(), LifecycleEventStatus::Failed, None);
        }
        return Err(stop);
    }
    let all = cx.rec.read(|s| s.info.kiln.fleet.iter().filter(|f| f.set == InstanceSet::Replacement).all(|f| f.revision.as_ref() == Some(&cx.revision.reference.name)));
    if has_install && all {
        cx.rec.event(&cx.wide_target, Event::Install.name(), LifecycleEventStatus::Succeeded, None);
    }
    Ok(())
}

/// Install and start replacement instances (processes of a task set or function version),
/// registered with the load balancer in their set (which has no weight yet).
async fn install_replacements(cx: &RunCx<'_>, ids: &[String]) -> Result<(), Stop> {
    let rev = &cx.revision.reference;
    for id in ids {
        let request = InstallRequest { instance: id, revision: rev, appspec: None, previous_cleanup: &[], file_exists_behavior: cx.file_exists_behavior, deployment_group_id: &cx.hook.deployment_group_id };
        let fail = |e: crate::target::TargetError| Stop::failure(ErrorCode::EcsUpdateError, format!("The deployment failed at Install: starting replacement {id}: {e}"));
        cx.env.target.install(request).await.map_err(fail)?;
        cx.env.target.start(id, rev).await.map_err(fail)?;
        if let Some(t) = cx.traffic {
            t.set_in_service(id, true).await.map_err(|e| Stop::failure(ErrorCode::EcsUpdateError, format!("registering replacement {id}: {e}")))?;
        }
        cx.rec.fleet(id, |f| {
            f.revision = Some(rev.name.clone());
            f.in_service = true;
        });
        let running = cx.rec.read(|s| s.info.kiln.fleet.iter().filter(|f| f.set == InstanceSet::Replacement && f.revision.as_ref() == Some(&rev.name)).count() as u32);
        traffic::running_replacements(cx, running);
    }
    Ok(())
}

/// The traffic events of an EC2 blue/green instance (`allow`: a replacement's
/// BeforeAllowTraffic … AfterAllowTraffic; else an original's BeforeBlockTraffic …
/// AfterBlockTraffic).
fn traffic_events(cx: &RunCx<'_>, allow: bool) -> &'static [Event] {
    let main = cx.plan.lifecycles.main;
    if allow { &main[install_segment(main).len()..] } else { cx.plan.lifecycles.original }
}

/// `allow-traffic` and `block-traffic` (EC2 blue/green).
async fn reroute(cx: &RunCx<'_>, ids: &[String], allow: bool) -> Result<Outcome, Stop> {
    if ids.is_empty() {
        return Ok(Ok(()));
    }
    if allow && !cx.rec.read(|s| s.info.kiln.fleet.iter().any(|f| f.set == InstanceSet::Replacement && event_status(&s.info, &f.id, Event::AllowTraffic).is_some_and(|e| e != LifecycleEventStatus::Pending))) {
        ready_wait(cx).await?;
    }
    let events = traffic_events(cx, allow);
    let futures = ids.iter().map(|id| Box::pin(run_instance_events(cx, id, events)) as Boxed<'_, bool>).collect();
    let results = cx.watch.race(join_all(futures)).await?;
    let mut failed = Vec::new();
    for (id, ok) in ids.iter().zip(results) {
        if ok {
            cx.rec.target_status(id, TargetStatus::Succeeded);
            continue;
        }
        cx.rec.target_status(id, TargetStatus::Failed);
        // A replacement that failed its traffic events must not serve.
        // The weights move first (the last replacement out takes its set to 0 %), then the
        // instance leaves service: no request is routed to a set with no instance in service.
        if allow && cx.rec.read(|s| s.info.kiln.fleet.iter().any(|f| f.id == *id && f.in_service)) {
            let fail = |e: crate::target::TrafficError| Stop::failure(ErrorCode::InternalError, format!("taking {id} out of service after its AllowTraffic events failed: {e}"));
            cx.rec.fleet(id, |f| f.in_service = false);
            super::traffic::rebalance(cx).await.map_err(fail)?;
            if let Some(t) = cx.traffic {
                t.set_in_service(id, false).await.map_err(fail)?;
            }
        }
        let (event, message) = cx.rec.read(|s| {
            super::state::target(&s.info, id)
                .and_then(|t| t.lifecycle_events.iter().find(|e| e.status == LifecycleEventStatus::Failed))
                .map(|e| (e.lifecycle_event_name.clone(), e.diagnostics.as_ref().map(|d| d.message.clone()).unwrap_or_default()))
                .unwrap_or_default()
        });
        failed.push((id.clone(), event, message));
    }
    if allow && !failed.is_empty() {
        cx.watch.race(traffic::rebalance(cx)).await?.map_err(|e| Stop::failure(ErrorCode::InternalError, format!("moving traffic off the failed replacement instances: {e}")))?;
    }
    let Some((_, first, _)) = failed.first() else { return Ok(Ok(())) };
    let what = if allow { "replacement" } else { "original" };
    let list: Vec<String> = failed.iter().map(|(id, e, m)| format!("{id} ({e}: {m})")).collect();
    Ok(Err((ErrorCode::HealthConstraints, format!("{first} failed on {what} instance(s) {}", list.join("; ")))))
}

/// `allow-traffic(ids)`.
pub(crate) async fn allow(cx: &RunCx<'_>, ids: &[String]) -> Result<Outcome, Stop> {
    reroute(cx, ids, true).await
}

/// `block-traffic(ids)`.
pub(crate) async fn block(cx: &RunCx<'_>, ids: &[String]) -> Result<Outcome, Stop> {
    reroute(cx, ids, false).await
}

/// `shift-traffic(p)` (ECS, Lambda).
pub(crate) async fn shift(cx: &RunCx<'_>, p: u8) -> Result<(), Stop> {
    let wide = cx.wide_target.clone();
    let started = cx.rec.read(|s| event_status(&s.info, &wide, Event::AllowTraffic).is_some_and(|e| e != LifecycleEventStatus::Pending));
    if !started {
        run_wide_until(cx, Event::AllowTraffic).await?;
        cx.rec.event(&wide, Event::AllowTraffic.name(), LifecycleEventStatus::InProgress, None);
    }
    let weights = Weights::to_replacement(p);
    cx.watch.race(traffic::set_weights(cx, weights, "shift-traffic")).await?.map_err(|e| Stop::failure(ErrorCode::EcsUpdateError, format!("moving traffic to {p} %: {e}")))?;
    if p == 100 {
        cx.rec.event(&wide, Event::AllowTraffic.name(), LifecycleEventStatus::Succeeded, None);
    }
    Ok(())
}

/// `run-hook(name)`: the due events before it, then it (the guard checked it may run).
pub(crate) async fn run_hook(cx: &RunCx<'_>, name: &str) -> Result<(), Stop> {
    let Some(event) = Event::from_name(name) else { return Ok(()) };
    if wide_done(cx, event) {
        return Ok(());
    }
    run_wide_until(cx, event).await?;
    run_wide(cx, event).await
}

/// `succeed`: the events still due run first; then the targets that finished are Succeeded.
pub(crate) async fn complete(cx: &RunCx<'_>) -> Result<(), Stop> {
    for e in wide_events(cx) {
        run_wide(cx, *e).await?;
    }
    match cx.plan.flow {
        Flow::TrafficOnly => cx.rec.target_status(&cx.wide_target, TargetStatus::Succeeded),
        Flow::BlueGreen => {
            // Installed replacements the strategy never rerouted take no part.
            let idle: Vec<String> = cx.rec.read(|s| {
                s.info.kiln.fleet.iter().filter(|f| f.set == InstanceSet::Replacement && !f.in_service).filter(|f| super::state::target(&s.info, &f.id).is_some_and(|t| t.status == TargetStatus::InProgress)).map(|f| f.id.clone()).collect()
            });
            for id in idle {
                cx.rec.target_status(&id, TargetStatus::Skipped);
            }
        }
        Flow::InPlace => {}
    }
    Ok(())
}

/// Run the pending deployment-wide events before `stop` (exclusive).
async fn run_wide_until(cx: &RunCx<'_>, stop: Event) -> Result<(), Stop> {
    for e in wide_events(cx) {
        if *e == stop {
            break;
        }
        run_wide(cx, *e).await?;
    }
    Ok(())
}

/// Run one deployment-wide event unless it is done. The reserved Install and AllowTraffic are
/// never run here (deploy-batch and shift-traffic do them; the guard refuses to pass them).
async fn run_wide(cx: &RunCx<'_>, event: Event) -> Result<(), Stop> {
    if wide_done(cx, event) {
        return Ok(());
    }
    let wide = cx.wide_target.clone();
    match event {
        Event::Install | Event::AllowTraffic => {
            return Err(Stop::failure(ErrorCode::InternalError, format!("{event} has not happened, so the events after it cannot run")));
        }
        Event::AllowTestTraffic => {
            // Reserved: the test listener to the replacement set. kiln's router has one listener,
            // so there is nothing to route; the event is recorded as CodeDeploy records it.
            cx.rec.event(&wide, event.name(), LifecycleEventStatus::Succeeded, None);
            return Ok(());
        }
        Event::AfterAllowTestTraffic if !test_route(cx) => {
            cx.rec.event(&wide, event.name(), LifecycleEventStatus::Skipped, None);
            return Ok(());
        }
        _ => {}
    }
    cx.rec.event(&wide, event.name(), LifecycleEventStatus::InProgress, None);
    match cx.watch.race(run_function_hook(cx, &wide, event)).await? {
        Ok(()) => {
            cx.rec.event(&wide, event.name(), LifecycleEventStatus::Succeeded, None);
            Ok(())
        }
        Err(d) => {
            let message = format!("The deployment failed because the {event} hook {} failed: {}", d.script_name.clone().unwrap_or_default(), d.message);
            cx.rec.event(&wide, event.name(), LifecycleEventStatus::Failed, Some(d));
            Err(Stop::failure(ErrorCode::HookExecutionFailure, message))
        }
    }
}

/// Whether the ECS group has a test listener (`testTrafficRoute`): without one,
/// AfterAllowTestTraffic is skipped.
fn test_route(cx: &RunCx<'_>) -> bool {
    cx.plan.group.load_balancer_info.as_ref().is_some_and(|l| l.target_group_pair_info_list.iter().any(|p| p.test_traffic_route))
}

/// Blue/green with `STOP_DEPLOYMENT`: status Ready until `continue`, Stopped after the wait.
async fn ready_wait(cx: &RunCx<'_>) -> Result<(), Stop> {
    let ready = cx.plan.group.blue_green_deployment_configuration.deployment_ready_option;
    if ready.action_on_timeout != ReadyAction::StopDeployment {
        return Ok(());
    }
    cx.rec.set_status(DeploymentStatus::Ready);
    let ids = fleet_of(cx, InstanceSet::Replacement);
    let installed: Vec<&String> = ids.iter().filter(|id| cx.rec.read(|s| super::state::target(&s.info, id).is_some_and(|t| t.status == TargetStatus::InProgress))).collect();
    for id in &installed {
        cx.rec.target_status(id, TargetStatus::Ready);
    }
    let deadline = tokio::time::Instant::now() + cx.scaled(Duration::from_secs(u64::from(ready.wait_time_in_minutes) * 60));
    loop {
        if cx.watch.take_continue() {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Stop::ready_timeout(format!("the deployment was not continued within {} minute(s) of the replacement instances being ready (deploymentReadyOption STOP_DEPLOYMENT)", ready.wait_time_in_minutes)));
        }
        cx.watch.sleep(cx.env.options.alarm_interval).await?;
    }
    cx.rec.set_status(DeploymentStatus::InProgress);
    for id in &installed {
        cx.rec.target_status(id, TargetStatus::InProgress);
    }
    Ok(())
}
