//! Starting a deployment: the record, the fleet, the replacement set, the checks CodeDeploy makes
//! before it touches an instance, and the strategy.

use std::sync::Arc;
use std::time::SystemTime;

use kiln_spec::appspec::{FileExistsBehavior, Platform};

use super::finish::{self, Stop};
use super::lifecycle::ScriptCache;
use super::plan::{Plan, Revision};
use super::state::{pending_events, Recorder};
use super::watch::{Watch, WatchSetup};
use super::{drive, EngineError, Env, RunCx, RunOutcome};
use crate::alarm::monitor::Monitor;
use crate::config::health::HealthPlan;
use crate::config::Rule;
use crate::group::{DeploymentKind, GreenFleetAction};
use crate::metrics::SampleStore;
use crate::record::time::rfc3339;
use crate::record::*;
use crate::strategy::guard::Flow;
use crate::strategy::InstanceSet;
use crate::target::env::HookContext;
use crate::target::ProvisionRequest;

/// Whether the plan needs a traffic control, and why (for the error).
pub(super) fn needs_traffic(plan: &Plan) -> Option<&'static str> {
    match plan.flow {
        Flow::InPlace if plan.group.with_traffic_control() => Some("deploymentOption WITH_TRAFFIC_CONTROL"),
        Flow::InPlace => None,
        Flow::BlueGreen => Some("blue/green"),
        Flow::TrafficOnly => Some("ECS and Lambda shift traffic"),
    }
}

pub(super) async fn run(plan: &Plan, env: &Env<'_>) -> Result<RunOutcome, EngineError> {
    if let (Some(why), None) = (needs_traffic(plan), env.traffic) {
        return Err(EngineError::NoTrafficControl(why));
    }
    let g = &plan.group;
    let _group = env.store.lock_group(&g.application_name, &g.deployment_group_name)?;
    let replaced = super::recover::replace_interrupted(env.store, &g.application_name, &g.deployment_group_name)?;
    let state = env.store.group_state(&g.application_name, &g.deployment_group_name)?;
    let previous = state.last_successful_deployment.as_ref().map(|l| RevisionLocation::local(l.revision.clone()));
    let mut info = new_record(plan, env, Creator::User, &plan.revision.reference, previous);
    info.deployment_status_messages.extend(replaced.iter().map(|id| format!("replaces deployment {id}, which kiln was interrupted during (it is now Stopped)")));
    let handle = env.store.create(&mut info)?;
    let rec = Recorder::new(info, state, handle, env.store, env.reporter.clone());
    rec.set_status(DeploymentStatus::Created);
    let samples = SampleStore::default();
    let watch = new_watch(plan, env, &rec, &samples, true);
    let cx = new_cx(plan, env, &rec, &watch, Arc::new(plan.revision.clone()), false);
    let result = match prepare(&cx).await {
        Ok(()) => execute(&cx).await,
        Err(stop) => Err(stop),
    };
    finish::finish(&cx, result).await
}

/// The watch of a deployment (alarms only for deployments that are not rollbacks).
pub(super) fn new_watch<'a>(plan: &Plan, env: &'a Env<'a>, rec: &'a Recorder<'a>, samples: &'a SampleStore, alarms: bool) -> Watch<'a> {
    let a = &plan.group.alarm_configuration;
    let defs = if alarms && a.enabled { a.alarms.as_slice() } else { &[] };
    Watch::new(WatchSetup {
        monitor: Monitor::new(defs, env.options.time_scale),
        alarms_enabled: alarms && a.enabled,
        ignore_poll_failure: a.ignore_poll_alarm_failure,
        metrics: env.metrics,
        samples,
        store: env.store,
        target: env.target,
        rec,
        interval: env.options.alarm_interval,
        health_interval: if alarms { env.options.health_interval } else { None },
    })
}

pub(super) fn new_cx<'a>(plan: &'a Plan, env: &'a Env<'a>, rec: &'a Recorder<'a>, watch: &'a Watch<'a>, revision: Arc<Revision>, blue_green_rollback: bool) -> RunCx<'a> {
    let g = &plan.group;
    RunCx {
        plan,
        env,
        rec,
        watch,
        hook: HookContext {
            deployment_id: rec.id(),
            application_name: g.application_name.clone(),
            deployment_group_name: g.deployment_group_name.clone(),
            deployment_group_id: g.deployment_group_id.clone(),
        },
        traffic: if needs_traffic(plan).is_some() { env.traffic } else { None },
        wide_target: wide_target_id(plan),
        revision,
        scripts: ScriptCache::default(),
        ignore_stop_failures: plan.options.ignore_application_stop_failures,
        file_exists_behavior: plan.options.file_exists_behavior.unwrap_or(FileExistsBehavior::Disallow),
        blue_green_rollback,
        resumed: false,
    }
}


/// ECS: `<group>:<service resource>`; Lambda: `<function>:<alias>` (CodeDeploy's target ids are
/// `cluster:service` and `function:alias`; kiln has no cluster, so the group stands for it).
pub(super) fn wide_target_id(plan: &Plan) -> String {
    match &plan.revision.appspec.platform {
        Platform::Ecs(e) => format!("{}:{}", plan.group.deployment_group_name, e.service.name.value),
        Platform::Lambda(l) => format!("{}:{}", l.function.name.value, l.function.alias.value),
        Platform::Server(_) => String::new(),
    }
}

/// A fresh record for `plan` (no targets yet).
pub(super) fn new_record(plan: &Plan, env: &Env<'_>, creator: Creator, revision: &RevisionRef, previous: Option<RevisionLocation>) -> DeploymentInfo {
    let g = &plan.group;
    DeploymentInfo {
        application_name: g.application_name.clone(),
        deployment_group_name: g.deployment_group_name.clone(),
        deployment_config_name: plan.config.deployment_config_name.clone(),
        deployment_id: String::new(),
        compute_platform: g.compute_platform.api_name().to_string(),
        description: plan.options.description.clone().map(|d| d.chars().take(256).collect()),
        revision: RevisionLocation::local(revision.clone()),
        previous_revision: previous,
        status: DeploymentStatus::Created,
        error_information: None,
        deployment_overview: DeploymentOverview::default(),
        deployment_status_messages: Vec::new(),
        create_time: rfc3339(SystemTime::now()),
        start_time: None,
        complete_time: None,
        creator,
        ignore_application_stop_failures: plan.options.ignore_application_stop_failures,
        auto_rollback_configuration: plan.auto_rollback.clone(),
        update_outdated_instances_only: false,
        rollback_info: None,
        deployment_style: g.deployment_style,
        instance_termination_wait_time_started: false,
        blue_green_deployment_configuration: (g.deployment_style.deployment_type == DeploymentKind::BlueGreen).then(|| g.blue_green_deployment_configuration.clone()),
        load_balancer_info: g.load_balancer_info.clone(),
        file_exists_behavior: match plan.options.file_exists_behavior.unwrap_or(FileExistsBehavior::Disallow) {
            FileExistsBehavior::Disallow => "DISALLOW",
            FileExistsBehavior::Overwrite => "OVERWRITE",
            FileExistsBehavior::Retain => "RETAIN",
        }
        .into(),
        deployment_targets: Vec::new(),
        kiln: KilnSection {
            record_version: RECORD_VERSION,
            deployment_group_id: g.deployment_group_id.clone(),
            driver: env.target.driver().to_string(),
            pid: std::process::id(),
            interrupted: false,
            time_scale: env.options.time_scale,
            health: None,
            strategy: None,
            fleet: Vec::new(),
            traffic: None,
            alarms: Vec::new(),
            rollback: None,
        },
    }
}

/// An EC2/on-premises instance target.
pub(super) fn instance_target(id: &str, label: Label, events: &[kiln_spec::appspec::Event]) -> DeploymentTarget {
    DeploymentTarget {
        deployment_target_type: TargetType::InstanceTarget,
        instance_target: Some(InstanceTarget { core: core(id, events), instance_label: label }),
        ecs_target: None,
        lambda_target: None,
    }
}

fn core(id: &str, events: &[kiln_spec::appspec::Event]) -> TargetCore {
    TargetCore {
        deployment_id: String::new(),
        target_id: id.to_string(),
        target_arn: format!("kiln:target:{id}"),
        status: TargetStatus::Pending,
        last_updated_at: rfc3339(SystemTime::now()),
        lifecycle_events: pending_events(events),
    }
}

/// The ECS or Lambda target of `plan`.
pub(super) fn wide_target(plan: &Plan, id: &str, events: &[kiln_spec::appspec::Event], count: u32) -> DeploymentTarget {
    match &plan.revision.appspec.platform {
        Platform::Lambda(l) => DeploymentTarget {
            deployment_target_type: TargetType::LambdaTarget,
            instance_target: None,
            ecs_target: None,
            lambda_target: Some(LambdaTarget {
                core: core(id, events),
                lambda_function_info: LambdaFunctionInfo {
                    function_name: l.function.name.value.clone(),
                    function_alias: l.function.alias.value.clone(),
                    current_version: l.function.current_version.value.to_string(),
                    target_version: l.function.target_version.value.to_string(),
                    target_version_weight: 0.0,
                },
            }),
        },
        _ => {
            let set = |label: Label, status: &str, weight: f64, running: u32| EcsTaskSet {
                identifer: format!("{id}:{}", if label == Label::Blue { "original" } else { "replacement" }),
                desired_count: count,
                pending_count: count - running,
                running_count: running,
                status: status.into(),
                traffic_weight: weight,
                task_set_label: label,
            };
            DeploymentTarget {
                deployment_target_type: TargetType::EcsTarget,
                instance_target: None,
                ecs_target: Some(EcsTarget { core: core(id, events), task_sets_info: vec![set(Label::Blue, "PRIMARY", 100.0, count), set(Label::Green, "ACTIVE", 0.0, 0)] }),
                lambda_target: None,
            }
        }
    }
}

/// Everything before the first strategy decision.
async fn prepare(cx: &RunCx<'_>) -> Result<(), Stop> {
    let plan = cx.plan;
    cx.rec.update(|i| i.start_time = Some(rfc3339(SystemTime::now())));
    cx.rec.set_status(DeploymentStatus::InProgress);
    let originals = cx.env.target.list_instances().await.map_err(|e| Stop::failure(ErrorCode::InternalError, format!("the {} driver could not list the instances: {e}", cx.env.target.driver())))?;
    if originals.is_empty() {
        return Err(Stop::failure(ErrorCode::NoInstances, "The deployment failed because no instances were found for your deployment group.".into()));
    }
    let installed = |id: &str| cx.rec.read(|s| s.group.instances.get(id).and_then(|i| i.last_successful_install.as_ref().map(|r| r.name.clone())));
    let controlled = cx.traffic.is_some();
    let fleet_original: Vec<FleetInstance> =
        originals.iter().map(|i| FleetInstance { id: i.id.clone(), set: InstanceSet::Original, revision: installed(&i.id), in_service: controlled, provisioned: false }).collect();
    cx.rec.update(|i| i.kiln.fleet = fleet_original.clone());
    let bg = &plan.group.blue_green_deployment_configuration;
    let replacement_count = match (plan.flow, bg.green_fleet_provisioning_option.action) {
        (Flow::InPlace, _) => 0,
        (Flow::BlueGreen, GreenFleetAction::DiscoverExisting) => plan.group.targets.replacement_instances.len(),
        _ => originals.len(),
    };
    // Minimum healthy hosts, against the fleet as it is (the replacement fleet for blue/green).
    if let Rule::MinimumHealthyHosts { minimum_healthy_hosts } = plan.config.rule {
        let n = if plan.flow == Flow::BlueGreen { replacement_count } else { originals.len() };
        match HealthPlan::new(minimum_healthy_hosts, n as u32) {
            Ok(h) => cx.rec.update(|i| i.kiln.health = Some(h)),
            Err(e) => {
                let message = format!("The deployment can't start because the minimum number of healthy instances, as defined by your deployment configuration, are not available ({}: {e}). You can reduce the required number of healthy instances by updating your deployment configuration or increase the number of instances in this deployment group.", plan.config.deployment_config_name);
                let code = if e.code() == "NO_INSTANCES" { ErrorCode::NoInstances } else { ErrorCode::HealthConstraintsInvalid };
                return Err(Stop::failure(code, message));
            }
        }
    }
    cx.watch.check_metrics().map_err(|e| Stop::failure(ErrorCode::AlarmActive, format!("an alarm cannot be evaluated: {e}")))?;
    match plan.flow {
        Flow::InPlace => {
            let targets: Vec<DeploymentTarget> = originals.iter().map(|i| instance_target(&i.id, Label::Blue, plan.lifecycles.main)).collect();
            cx.rec.update(|i| i.deployment_targets = targets);
        }
        Flow::BlueGreen | Flow::TrafficOnly => {
            let request = ProvisionRequest {
                count: replacement_count.max(1),
                existing: plan.group.targets.replacement_instances.iter().map(|d| d.id.clone()).collect(),
                deployment_id: cx.rec.id(),
            };
            let provisioned = !(plan.flow == Flow::BlueGreen && bg.green_fleet_provisioning_option.action == GreenFleetAction::DiscoverExisting);
            let replacements = cx.watch.race(cx.env.target.provision(&request)).await.map_err(Stop::from)?.map_err(|e| Stop::failure(ErrorCode::InternalError, format!("provisioning the replacement fleet failed: {e}")))?;
            let fleet_new: Vec<FleetInstance> =
                replacements.iter().map(|i| FleetInstance { id: i.id.clone(), set: InstanceSet::Replacement, revision: None, in_service: false, provisioned }).collect();
            let targets: Vec<DeploymentTarget> = if plan.flow == Flow::BlueGreen {
                let mut t: Vec<DeploymentTarget> = replacements.iter().map(|i| instance_target(&i.id, Label::Green, plan.lifecycles.main)).collect();
                t.extend(originals.iter().map(|i| instance_target(&i.id, Label::Blue, plan.lifecycles.original)));
                t
            } else {
                vec![wide_target(plan, &cx.wide_target, plan.lifecycles.main, originals.len() as u32)]
            };
            cx.rec.update(|i| {
                i.kiln.fleet.extend(fleet_new);
                i.deployment_targets = targets;
                i.kiln.traffic = Some(TrafficRecord { current: Weights::ORIGINAL, pending: None, history: Vec::new() });
            });
            if let Some(t) = cx.traffic {
                for r in &replacements {
                    t.register(&r.id, InstanceSet::Replacement, false).await.map_err(|e| Stop::failure(ErrorCode::InternalError, format!("registering {} with the load balancer: {e}", r.id)))?;
                }
            }
        }
    }
    Ok(())
}

/// Start the strategy and drive the deployment with it.
pub(super) async fn execute(cx: &RunCx<'_>) -> Result<(), Stop> {
    let spec = cx.plan.strategy();
    let limit = cx.env.options.limits.decision_timeout;
    let started = cx.watch.race(tokio::time::timeout(limit, cx.env.strategies.start(&spec))).await.map_err(Stop::from)?;
    let mut strategy = match started {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(Stop::strategy(format!("strategy plugin `{}`: {e}", spec.plugin))),
        Err(_) => return Err(Stop::strategy(format!("strategy plugin `{}` did not start within {} ms", spec.plugin, limit.as_millis()))),
    };
    let id = strategy.identity();
    cx.rec.update(|i| {
        i.kiln.strategy = Some(StrategyRecord { plugin: spec.plugin.clone(), config: spec.config.clone(), sha256: id.sha256.clone(), version: id.version.clone(), decisions: 0, last_action: None })
    });
    drive::drive(cx, strategy.as_mut()).await
}

impl From<super::watch::Interrupt> for Stop {
    fn from(i: super::watch::Interrupt) -> Self {
        finish::stop_from(i)
    }
}
