//! The decision loop: observe, ask the strategy, check the answer, act — every await raced
//! against the watch, so an alarm or a stop request ends whatever is in progress at once.
//!
//! What each action means per flow (see also [`crate::strategy::guard`]):
//! * `deploy-batch(ids)`: in place, each instance's whole lifecycle; blue/green, the install
//!   events (ApplicationStop … ValidateService) on replacement instances. Afterwards, if healthy
//!   instances fell to the minimum with instances still to do, the deployment stops
//!   (HEALTH_CONSTRAINTS).
//! * `shift-traffic(p)`: the first shift runs the events before traffic moves (blue/green: the
//!   ready wait, BeforeAllowTraffic and AllowTraffic on the replacement instances; ECS and Lambda:
//!   BeforeAllowTraffic), then the weights move (journaled); at 100 the events after it run
//!   (AfterAllowTraffic; blue/green: the original instances' BlockTraffic events).
//! * `run-hook(e)`: the next deployment-wide hookable event, now.
//! * `wait(ms)`: nominal milliseconds, scaled.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use kiln_spec::appspec::Event;

use super::finish::Stop;
use super::lifecycle::{run_function_hook, run_instance_events};
use super::state::target;
use super::{traffic, RunCx};
use crate::group::ReadyAction;
use crate::record::*;
use crate::report::Progress;
use crate::strategy::guard::{self, Flow, Progress as P, View};
use crate::strategy::{Action, InstanceSet, InstanceView, Observation, Strategy};
use crate::target::InstallRequest;

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

/// Drive the deployment with `strategy` until it succeeds or stops.
pub(crate) async fn drive(cx: &RunCx<'_>, strategy: &mut dyn Strategy) -> Result<(), Stop> {
    if cx.plan.flow == Flow::TrafficOnly {
        prepare_replacement(cx).await?;
    }
    let limits = cx.env.options.limits;
    let mut decisions = cx.rec.read(|s| s.info.kiln.strategy.as_ref().map_or(0, |s| s.decisions));
    let mut last: Option<Result<(), String>> = None;
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
        let obs = observe(cx, last.clone());
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
        let view = guard_view(cx);
        let health = cx.health();
        let v = View { flow: cx.plan.flow, instances: view.0.iter().map(|(id, s, p)| (id.as_str(), *s, *p)).collect(), health: health.as_ref(), traffic: view.1, next_hook: next_hook(cx), time_left_ms: time_left_ms(cx), platform: cx.plan.group.compute_platform.describe() };
        if let Err(reason) = guard::check(&action, &v) {
            return Err(Stop::strategy(reason));
        }
        last = Some(match action {
            Action::DeployBatch(ids) => deploy_batch(cx, &ids).await?,
            Action::ShiftTraffic(p) => shift(cx, p).await.map(|()| Ok(()))?,
            Action::Wait(ms) => cx.watch.sleep(cx.scaled(Duration::from_millis(ms))).await.map(|()| Ok(()))?,
            Action::RunHook(name) => run_hook(cx, &name).await.map(|()| Ok(()))?,
            Action::Succeed => return Ok(()),
            Action::RollBack(reason) => {
                return Err(Stop::failure(ErrorCode::CustomerApplicationUnhealthy, format!("the deployment strategy asked to roll back: {}", guard::printable(&reason))));
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
fn install_segment(events: &[Event]) -> &[Event] {
    let end = events.iter().position(|e| *e == Event::BeforeAllowTraffic).unwrap_or(events.len());
    &events[..end]
}

fn event_status(info: &DeploymentInfo, target_id: &str, event: Event) -> Option<LifecycleEventStatus> {
    target(info, target_id)?.lifecycle_events.iter().find(|e| e.lifecycle_event_name == event.name()).map(|e| e.status)
}

fn done(s: Option<LifecycleEventStatus>) -> bool {
    matches!(s, Some(LifecycleEventStatus::Succeeded | LifecycleEventStatus::Skipped))
}

/// Where an instance is in this deployment (its install part, for blue/green).
fn progress_of(info: &DeploymentInfo, id: &str, segment: &[Event]) -> P {
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

/// The instances as the guard sees them, and the traffic on the new revision.
fn guard_view(cx: &RunCx<'_>) -> (Vec<(String, InstanceSet, P)>, u8) {
    let segment = install_segment(cx.plan.lifecycles.main);
    cx.rec.read(|s| {
        let target_rev = &cx.revision.reference.name;
        let list = s
            .info
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
                (f.id.clone(), f.set, p)
            })
            .collect();
        let traffic = s.info.kiln.traffic.as_ref().map_or(0, |t| t.current.replacement);
        (list, traffic)
    })
}

/// The deployment-wide events, in order (none for in-place deployments).
fn wide_events(cx: &RunCx<'_>) -> Vec<Event> {
    let l = &cx.plan.lifecycles;
    match cx.plan.flow {
        Flow::InPlace => Vec::new(),
        Flow::TrafficOnly => l.main.to_vec(),
        Flow::BlueGreen => l.main[install_segment(l.main).len()..].iter().chain(l.original).copied().collect(),
    }
}

/// Whether a deployment-wide event is done (AllowTraffic: when all traffic has moved).
fn wide_done(cx: &RunCx<'_>, event: Event) -> bool {
    if event == Event::AllowTraffic {
        return traffic::current(cx).replacement == 100;
    }
    cx.rec.read(|s| match cx.plan.flow {
        Flow::TrafficOnly => done(event_status(&s.info, &cx.wide_target, event)),
        _ => {
            let set = if cx.plan.lifecycles.original.contains(&event) && !cx.plan.lifecycles.main.contains(&event) { InstanceSet::Original } else { InstanceSet::Replacement };
            let ids: Vec<&FleetInstance> = s.info.kiln.fleet.iter().filter(|f| f.set == set).collect();
            ids.iter().all(|f| done(event_status(&s.info, &f.id, event)) || (set == InstanceSet::Replacement && progress_of(&s.info, &f.id, install_segment(cx.plan.lifecycles.main)) == P::Failed))
        }
    })
}

/// The next deployment-wide event, if it may be run by `run-hook` now.
fn next_hook(cx: &RunCx<'_>) -> Option<Event> {
    let next = wide_events(cx).into_iter().find(|e| !wide_done(cx, *e))?;
    (!next.is_reserved()).then_some(next)
}

/// The observation for the strategy.
fn observe(cx: &RunCx<'_>, last: Option<Result<(), String>>) -> Observation {
    let target_revision = cx.revision.reference.name.clone();
    let (mut instances, traffic) = cx.rec.read(|s| {
        let failed = |id: &str| target(&s.info, id).is_some_and(|t| t.status == TargetStatus::Failed);
        let list: Vec<(InstanceView, (u8, u8))> = s
            .info
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
                let healthy = cx.watch.healthy(&f.id).unwrap_or(!failed(&f.id));
                (InstanceView { id: f.id.clone(), revision: f.revision.clone().unwrap_or_default(), instance_set: f.set, healthy, in_service: f.in_service }, (rank_health, rank_rev))
            })
            .collect();
        let traffic = match cx.plan.flow {
            Flow::InPlace => {
                let serving: Vec<&FleetInstance> = s.info.kiln.fleet.iter().filter(|f| f.in_service).collect();
                let on_target = serving.iter().filter(|f| f.revision.as_ref() == Some(&target_revision)).count();
                if serving.is_empty() { 0 } else { (on_target * 100 / serving.len()) as u8 }
            }
            _ => s.info.kiln.traffic.as_ref().map_or(0, |t| t.current.replacement),
        };
        (list, traffic)
    });
    // CodeDeploy's scheduling order: unhealthy instances first, then unknown, old, current revisions.
    instances.sort_by_key(|a| a.1);
    Observation {
        elapsed_ms: elapsed_ms(cx),
        target_revision: cx.revision.reference.name.clone(),
        instances: instances.into_iter().map(|(v, _)| v).collect(),
        alarms: cx.watch.alarm_views(),
        traffic_to_target: traffic,
        last_action: last,
    }
}

/// `deploy-batch`: the instances' lifecycles, concurrently; then the minimum healthy hosts check.
async fn deploy_batch(cx: &RunCx<'_>, ids: &[String]) -> Result<Result<(), String>, Stop> {
    cx.rec.reporter.progress(&Progress::Batch { instances: ids.to_vec() });
    for id in ids {
        cx.rec.target_status(id, TargetStatus::InProgress);
    }
    let events = match cx.plan.flow {
        Flow::BlueGreen => install_segment(cx.plan.lifecycles.main),
        _ => cx.plan.lifecycles.main,
    };
    let futures = ids.iter().map(|id| Box::pin(run_instance_events(cx, id, events)) as Pin<Box<dyn Future<Output = bool> + Send + '_>>).collect();
    let results = cx.watch.race(join_all(futures)).await?;
    let mut failed_now = Vec::new();
    for (id, ok) in ids.iter().zip(&results) {
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
        let (list, _) = guard_view(cx);
        let failed = list.iter().filter(|(_, _, p)| *p == P::Failed).count() as u32;
        let set = if cx.plan.flow == Flow::InPlace { InstanceSet::Original } else { InstanceSet::Replacement };
        let remaining = list.iter().filter(|(_, s, p)| *s == set && *p == P::Pending).count() as u32;
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
    Ok(if failed_now.is_empty() { Ok(()) } else { Err(format!("the deployment failed on {}", failed_now.join(", "))) })
}

/// The replacement instances of an ECS or Lambda deployment.
fn replacements(cx: &RunCx<'_>) -> Vec<String> {
    cx.rec.read(|s| s.info.kiln.fleet.iter().filter(|f| f.set == InstanceSet::Replacement).map(|f| f.id.clone()).collect())
}

/// ECS and Lambda: install and start the replacement task set or version, running the events
/// before traffic (ECS: BeforeInstall … AfterAllowTestTraffic).
async fn prepare_replacement(cx: &RunCx<'_>) -> Result<(), Stop> {
    let wide = cx.wide_target.clone();
    cx.rec.target_status(&wide, TargetStatus::InProgress);
    let test_route = cx.plan.group.load_balancer_info.as_ref().is_some_and(|l| l.target_group_pair_info_list.iter().any(|p| p.test_traffic_route));
    if !cx.plan.lifecycles.main.contains(&Event::Install) {
        // Lambda: the version's processes are started before traffic moves (no event).
        cx.watch.race(install_replacements(cx)).await??;
    }
    for event in install_segment(cx.plan.lifecycles.main) {
        if cx.rec.read(|s| done(event_status(&s.info, &wide, *event))) {
            continue;
        }
        cx.rec.event(&wide, event.name(), LifecycleEventStatus::InProgress, None);
        let result = match event {
            Event::Install => cx.watch.race(install_replacements(cx)).await?.map_err(|s| s.message),
            Event::AllowTestTraffic => Ok(()),
            Event::AfterAllowTestTraffic if !test_route => {
                cx.rec.event(&wide, event.name(), LifecycleEventStatus::Skipped, None);
                continue;
            }
            _ => cx.watch.race(run_function_hook(cx, &wide, *event)).await?.map_err(|d| {
                let m = d.message.clone();
                cx.rec.event(&wide, event.name(), LifecycleEventStatus::Failed, Some(d));
                m
            }),
        };
        match result {
            Ok(()) => cx.rec.event(&wide, event.name(), LifecycleEventStatus::Succeeded, None),
            Err(message) => {
                let code = if *event == Event::Install { ErrorCode::EcsUpdateError } else { ErrorCode::HookExecutionFailure };
                return Err(Stop::failure(code, format!("The deployment failed at {event}: {message}")));
            }
        }
    }
    Ok(())
}

/// Install and start every replacement instance (a task set or function version).
async fn install_replacements(cx: &RunCx<'_>) -> Result<(), Stop> {
    let rev = &cx.revision.reference;
    let mut running = 0;
    for id in replacements(cx) {
        if cx.rec.read(|s| s.info.kiln.fleet.iter().any(|f| f.id == id && f.revision.as_ref() == Some(&rev.name))) {
            running += 1;
            continue;
        }
        let request = InstallRequest { instance: &id, revision: rev, appspec: None, previous_cleanup: &[], file_exists_behavior: cx.file_exists_behavior, deployment_group_id: &cx.hook.deployment_group_id };
        let fail = |e: crate::target::TargetError| Stop::failure(ErrorCode::EcsUpdateError, format!("starting replacement {id}: {e}"));
        cx.env.target.install(request).await.map_err(fail)?;
        cx.env.target.start(&id, rev).await.map_err(fail)?;
        if let Some(t) = cx.traffic {
            t.set_in_service(&id, true).await.map_err(|e| Stop::failure(ErrorCode::EcsUpdateError, format!("registering replacement {id}: {e}")))?;
        }
        cx.rec.fleet(&id, |f| {
            f.revision = Some(rev.name.clone());
            f.in_service = true;
        });
        running += 1;
        traffic::running_replacements(cx, running);
    }
    Ok(())
}

/// `shift-traffic(p)`.
async fn shift(cx: &RunCx<'_>, p: u8) -> Result<(), Stop> {
    let wide = cx.wide_target.clone();
    if traffic::current(cx).replacement == 0 && !allow_started(cx) {
        if cx.plan.flow == Flow::BlueGreen {
            ready_wait(cx).await?;
        }
        run_wide_until(cx, Event::AllowTraffic).await?;
        if cx.plan.flow == Flow::TrafficOnly {
            cx.rec.event(&wide, Event::AllowTraffic.name(), LifecycleEventStatus::InProgress, None);
        } else {
            run_on_set(cx, InstanceSet::Replacement, Event::AllowTraffic).await?;
        }
    }
    let weights = Weights::to_replacement(p);
    cx.watch
        .race(traffic::set_weights(cx, weights, "shift-traffic"))
        .await?
        .map_err(|e| Stop::failure(if cx.plan.flow == Flow::TrafficOnly { ErrorCode::EcsUpdateError } else { ErrorCode::InternalError }, format!("moving traffic to {p} %: {e}")))?;
    if p == 100 {
        if cx.plan.flow == Flow::TrafficOnly {
            cx.rec.event(&wide, Event::AllowTraffic.name(), LifecycleEventStatus::Succeeded, None);
        }
        for e in wide_events(cx) {
            run_wide(cx, e).await?;
        }
        let done_targets: Vec<String> = cx.rec.read(|s| {
            s.info.deployment_targets.iter().map(|t| t.core()).filter(|t| t.status != TargetStatus::Failed).map(|t| t.target_id.clone()).collect()
        });
        for t in done_targets {
            cx.rec.target_status(&t, TargetStatus::Succeeded);
        }
    }
    Ok(())
}

fn allow_started(cx: &RunCx<'_>) -> bool {
    cx.rec.read(|s| match cx.plan.flow {
        Flow::TrafficOnly => event_status(&s.info, &cx.wide_target, Event::AllowTraffic) != Some(LifecycleEventStatus::Pending),
        _ => s.info.kiln.fleet.iter().filter(|f| f.set == InstanceSet::Replacement).any(|f| event_status(&s.info, &f.id, Event::AllowTraffic).is_some_and(|st| st != LifecycleEventStatus::Pending)),
    })
}

/// Run the pending deployment-wide events before `stop` (exclusive).
async fn run_wide_until(cx: &RunCx<'_>, stop: Event) -> Result<(), Stop> {
    for e in wide_events(cx) {
        if e == stop {
            break;
        }
        run_wide(cx, e).await?;
    }
    Ok(())
}

/// Run one deployment-wide event unless it is done.
async fn run_wide(cx: &RunCx<'_>, event: Event) -> Result<(), Stop> {
    if wide_done(cx, event) || event == Event::AllowTraffic {
        return Ok(());
    }
    match cx.plan.flow {
        Flow::TrafficOnly => {
            let wide = cx.wide_target.clone();
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
        _ => {
            let set = if cx.plan.lifecycles.original.contains(&event) { InstanceSet::Original } else { InstanceSet::Replacement };
            run_on_set(cx, set, event).await
        }
    }
}

/// Blue/green: run `event` on every instance of `set` (replacements that failed to install are
/// left out); any failure stops the deployment.
async fn run_on_set(cx: &RunCx<'_>, set: InstanceSet, event: Event) -> Result<(), Stop> {
    let segment = install_segment(cx.plan.lifecycles.main);
    let ids: Vec<String> = cx.rec.read(|s| {
        s.info.kiln.fleet.iter().filter(|f| f.set == set).filter(|f| set == InstanceSet::Original || progress_of(&s.info, &f.id, segment) == P::Succeeded).map(|f| f.id.clone()).collect()
    });
    let one = [event];
    let futures = ids.iter().map(|id| Box::pin(run_instance_events(cx, id, &one)) as Pin<Box<dyn Future<Output = bool> + Send + '_>>).collect();
    let results = cx.watch.race(join_all(futures)).await?;
    let failed: Vec<&String> = ids.iter().zip(&results).filter(|(_, ok)| !**ok).map(|(id, _)| id).collect();
    if failed.is_empty() {
        return Ok(());
    }
    for id in &failed {
        cx.rec.target_status(id, TargetStatus::Failed);
    }
    let what = if set == InstanceSet::Original { "original" } else { "replacement" };
    Err(Stop::failure(ErrorCode::HealthConstraints, format!("{event} failed on {what} instance(s) {}", failed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))))
}

/// `run-hook(name)` (the guard checked it is the next deployment-wide event).
async fn run_hook(cx: &RunCx<'_>, name: &str) -> Result<(), Stop> {
    match Event::from_name(name) {
        Some(e) => run_wide(cx, e).await,
        None => Ok(()),
    }
}

/// Blue/green with `STOP_DEPLOYMENT`: status Ready until `continue`, Stopped after the wait.
async fn ready_wait(cx: &RunCx<'_>) -> Result<(), Stop> {
    let ready = cx.plan.group.blue_green_deployment_configuration.deployment_ready_option;
    if ready.action_on_timeout != ReadyAction::StopDeployment {
        return Ok(());
    }
    cx.rec.set_status(DeploymentStatus::Ready);
    let ids: Vec<String> = cx.rec.read(|s| s.info.kiln.fleet.iter().filter(|f| f.set == InstanceSet::Replacement).map(|f| f.id.clone()).collect());
    for id in &ids {
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
    for id in &ids {
        cx.rec.target_status(id, TargetStatus::InProgress);
    }
    Ok(())
}
