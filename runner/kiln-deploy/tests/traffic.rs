//! Deployments that shift traffic: ECS and Lambda canaries and linears, EC2 blue/green; alarms
//! caught on injected 5xx samples, traffic back first, rollback hooks.

mod common;

use std::time::Duration;

use common::*;
use kiln_deploy::fake::{Behavior, HookRule};
use kiln_deploy::record::{DeploymentStatus, ErrorCode, LifecycleErrorCode, TargetStatus, Weights};
use kiln_deploy::report::Progress;
use kiln_deploy::strategy::InstanceSet;
use kiln_spec::appspec::Event;

const ECS_APPSPEC: &str = "version: 0.0
Resources:
  - TargetService:
      Type: AWS::ECS::Service
      Properties:
        TaskDefinition: \"arn:aws:ecs:us-east-1:111122223333:task-definition/web:2\"
        LoadBalancerInfo: {ContainerName: web, ContainerPort: 8080}
Hooks:
  - BeforeInstall: preInstall
  - BeforeAllowTraffic: preTraffic
  - AfterAllowTraffic: postTraffic
";

const LAMBDA_APPSPEC: &str = "version: 0.0
Resources:
  - web:
      Type: AWS::Lambda::Function
      Properties: {Name: web, Alias: live, CurrentVersion: \"1\", TargetVersion: \"2\"}
Hooks:
  - BeforeAllowTraffic: preTraffic
  - AfterAllowTraffic: postTraffic
";

/// The seed's alarm: 5xx ≥ 20 over 3 periods of 60 s (a period lasts 60 ms at the harness's scale).
const ALARM: &str = "alarmConfiguration:
  enabled: true
  alarms:
    - name: errors
      metric: 5xx
      statistic: Sum
      period: 60
      evaluationPeriods: 3
      datapointsToAlarm: 3
      comparisonOperator: GreaterThanOrEqualToThreshold
      threshold: 20
      treatMissingData: notBreaching
";

fn routed_group(platform: &str, config: &str, extra: &str, instances: &str) -> String {
    format!(
        "applicationName: shop\ndeploymentGroupName: {platform}-group\ncomputePlatform: {platform}\ndeploymentConfigName: {config}\n{extra}autoRollbackConfiguration: {{enabled: true, events: [DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM]}}\ntargets: {{driver: fake, instances: [{instances}]}}\n"
    )
}

/// Record a 5xx sample every millisecond while the replacement set gets traffic (a bad release).
/// One sample per millisecond of wall time, however late the loop is scheduled on a busy machine.
async fn bad_release(h: &Harness) {
    let mut last = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let now = std::time::Instant::now();
        if h.traffic.current().replacement > 0 {
            let mut t = last;
            while t < now {
                t += Duration::from_millis(1);
                h.metrics.record_at("5xx", t.min(now), 1.0);
            }
        }
        last = now;
    }
}

/// Run `plan` while the new revision answers with 5xx.
async fn run_bad_release(h: &Harness, plan: &kiln_deploy::Plan) -> kiln_deploy::RunOutcome {
    let env = h.env();
    tokio::select! {
        out = kiln_deploy::Deployment::run(plan, &env) => out.unwrap(),
        _ = bad_release(h) => unreachable!(),
    }
}

fn position(events: &[Progress], f: impl Fn(&Progress) -> bool) -> usize {
    events.iter().position(f).unwrap_or(usize::MAX)
}

#[tokio::test]
async fn an_ecs_canary_of_a_bad_release_is_caught_by_the_alarm_and_traffic_goes_back_first() {
    let h = Harness::new(&["task-1", "task-2"]);
    h.metrics.declare("5xx");
    // 15 nominal minutes (900 ms) of canary leave the alarm's three 60 ms periods ample time on a busy machine.
    let g = group(&routed_group("ECS", "CodeDeployDefault.ECSCanary10Percent15Minutes", ALARM, "task-1, task-2"));
    let out = run_bad_release(&h, &h.plan(&g, bundle(&h.path(), "v2", ECS_APPSPEC, &[]))).await;
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Stopped);
    let err = d.error_information.as_ref().unwrap();
    assert_eq!(err.code, ErrorCode::AlarmActive);
    assert!(err.message.contains("Activated alarms: errors") && err.message.contains("greater than or equal to the threshold (20.0)"), "{}", err.message);
    // The canary got 10 %, never 100 %; traffic is back on the original task set.
    let weights: Vec<u8> = h.traffic.history().iter().map(|c| c.weights.replacement).collect();
    assert_eq!(weights, [10, 0]);
    assert_eq!(h.traffic.current(), Weights::ORIGINAL);
    let timing = d.kiln.rollback.as_ref().unwrap();
    assert_eq!(timing.trigger, "DEPLOYMENT_STOP_ON_ALARM");
    let ms = timing.traffic_restored_ms.unwrap();
    assert!(ms < 1000.0, "traffic back {ms} ms after the alarm");
    // Traffic first: before the record says Stopped and before the rollback deployment exists.
    let ev = h.reporter.events();
    let back = position(&ev, |e| matches!(e, Progress::Traffic { weights, .. } if *weights == Weights::ORIGINAL));
    let stopped = position(&ev, |e| matches!(e, Progress::Status { status: DeploymentStatus::Stopped, .. }));
    let rollback = position(&ev, |e| matches!(e, Progress::Rollback { .. }));
    assert!(back < stopped && stopped < rollback, "{back} {stopped} {rollback}");
    // The hooks before traffic ran; the one after it did not.
    let hooks = h.target.hooks_run();
    assert!(hooks.iter().any(|x| x.contains("BeforeInstall preInstall")) && hooks.iter().any(|x| x.contains("BeforeAllowTraffic preTraffic")), "{hooks:?}");
    assert!(!hooks.iter().any(|x| x.contains("AfterAllowTraffic")), "{hooks:?}");
    let ecs = d.deployment_targets[0].ecs_target.as_ref().unwrap();
    assert_eq!(ecs.core.target_id, "ECS-group:TargetService");
    assert_eq!(events(d, "ECS-group:TargetService")[..6], ["BeforeInstall:Succeeded", "Install:Succeeded", "AfterInstall:Succeeded", "AllowTestTraffic:Succeeded", "AfterAllowTestTraffic:Skipped", "BeforeAllowTraffic:Succeeded"]);
    assert_eq!(events(d, "ECS-group:TargetService")[6], "AllowTraffic:Failed");
    // The alarm's history is in the record.
    let alarm = &d.kiln.alarms[0];
    assert_eq!(alarm.alarm_name, "errors");
    assert!(alarm.history.iter().any(|c| c.state == kiln_deploy::alarm::AlarmState::Alarm));
    // And the datapoints it evaluated, on disk: one per (60 ms) period, the breaching ones last.
    let stored = h.store.read(&d.deployment_id).unwrap();
    let points = &stored.kiln.alarms[0].datapoints;
    assert!(points.len() >= 3, "{points:?}");
    assert_eq!((stored.kiln.alarms[0].threshold, stored.kiln.alarms[0].metric_name.as_str()), (Some(20.0), "5xx"));
    let last = points.last().unwrap();
    assert_eq!(last.state, kiln_deploy::alarm::AlarmState::Alarm, "{points:?}");
    assert!(last.value.is_some_and(|v| v >= 20.0), "{points:?}");
    assert!(points.windows(2).all(|w| w[0].timestamp <= w[1].timestamp), "{points:?}");
    // The rollback: a new deployment, the replacement task set removed.
    let rb = out.rollback.as_ref().unwrap();
    assert_eq!(rb.status, DeploymentStatus::Succeeded, "{:?}", rb.error_information);
    assert_eq!(rb.kiln.rollback.as_ref().unwrap().traffic_restored_ms, Some(ms));
    assert_eq!(h.target.fleet(), ["task-1", "task-2"]);
    assert!(h.target.instances().keys().all(|k| k.starts_with("task-")), "replacement tasks terminated: {:?}", h.target.instances());
    assert!(h.traffic.instances().keys().all(|k| k.starts_with("task-")));
}

#[tokio::test]
async fn an_ecs_canary_of_a_good_release_shifts_in_two_steps_after_the_interval() {
    let h = Harness::new(&["task-1"]);
    h.metrics.declare("5xx");
    let g = group(&routed_group("ECS", "CodeDeployDefault.ECSCanary10Percent5Minutes", ALARM, "task-1"));
    let out = h.deploy(&g, bundle(&h.path(), "v2", ECS_APPSPEC, &[])).await;
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Succeeded, "{:?}", d.error_information);
    let history = h.traffic.history();
    let shifts: Vec<u8> = history.iter().map(|c| c.weights.replacement).collect();
    assert_eq!(shifts, [10, 100]);
    // Five nominal minutes at 0.001 = 300 ms between the two shifts.
    let gap = history[1].at - history[0].at;
    assert!(gap >= Duration::from_millis(290), "{gap:?}");
    assert_eq!(events(d, "ECS-group:TargetService").last().unwrap(), "AfterAllowTraffic:Succeeded");
    let ecs = d.deployment_targets[0].ecs_target.as_ref().unwrap();
    assert_eq!(ecs.task_sets_info[1].traffic_weight, 100.0);
    // The replacement task set is the service now; the original one is gone.
    let fleet = h.target.fleet();
    assert_eq!(fleet.len(), 1);
    assert!(fleet[0].starts_with("green-"));
    assert_eq!(h.traffic.current(), Weights::ORIGINAL);
    assert_eq!(h.traffic.instances().values().map(|v| v.0).collect::<Vec<_>>(), [InstanceSet::Original]);
}

#[tokio::test]
async fn a_lambda_linear_moves_ten_percent_at_a_time() {
    let h = Harness::new(&["v1-proc"]);
    let g = group(&routed_group("Lambda", "CodeDeployDefault.LambdaLinear10PercentEvery1Minute", "", "v1-proc"));
    let out = h.deploy(&g, bundle(&h.path(), "v2", LAMBDA_APPSPEC, &[])).await;
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Succeeded, "{:?}", d.error_information);
    let shifts: Vec<u8> = h.traffic.history().iter().map(|c| c.weights.replacement).collect();
    assert_eq!(shifts, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    assert_eq!(events(d, "web:live"), ["BeforeAllowTraffic:Succeeded", "AllowTraffic:Succeeded", "AfterAllowTraffic:Succeeded"]);
    assert_eq!(d.deployment_targets[0].lambda_target.as_ref().unwrap().lambda_function_info.target_version_weight, 1.0);
}

fn blue_green_group(config: &str, extra: &str) -> String {
    blue_green_group_waiting(config, 1, extra)
}

fn blue_green_group_waiting(config: &str, termination_wait: u32, extra: &str) -> String {
    format!(
        "applicationName: web\ndeploymentGroupName: bg\ndeploymentConfigName: {config}\ndeploymentStyle: {{deploymentType: BLUE_GREEN, deploymentOption: WITH_TRAFFIC_CONTROL}}\nblueGreenDeploymentConfiguration:\n  terminateBlueInstancesOnDeploymentSuccess: {{action: TERMINATE, terminationWaitTimeInMinutes: {termination_wait}}}\n{extra}autoRollbackConfiguration: {{enabled: true, events: [DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM]}}\ntargets: {{driver: fake, instances: [blue-1, blue-2]}}\n"
    )
}

/// Install v1 on the original fleet with an in-place deployment of the same group, so kiln
/// knows it (ApplicationStop and a blue/green rollback's AllowTraffic hooks run its scripts).
async fn seed_v1(h: &Harness) {
    let g = group("applicationName: web\ndeploymentGroupName: bg\ndeploymentConfigName: CodeDeployDefault.AllAtOnce\ntargets: {driver: fake, instances: [blue-1, blue-2]}\n");
    assert_eq!(h.deploy(&g, server_revision(&h.path(), "v1")).await.deployment.status, DeploymentStatus::Succeeded);
}

#[tokio::test]
async fn blue_green_all_at_once_reroutes_then_retires_the_originals() {
    let h = Harness::new(&["blue-1", "blue-2"]);
    let g = group(&blue_green_group("CodeDeployDefault.AllAtOnce", ""));
    seed_v1(&h).await;
    let before = h.reporter.events().len();
    let out = h.deploy(&g, server_revision(&h.path(), "v2")).await;
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Succeeded, "{:?}", d.error_information);
    assert!(d.instance_termination_wait_time_started);
    let statuses: Vec<_> = h.reporter.events().into_iter().skip(before).filter_map(|e| if let Progress::Status { status, .. } = e { Some(status) } else { None }).collect();
    assert_eq!(statuses, [DeploymentStatus::Created, DeploymentStatus::InProgress, DeploymentStatus::Baking, DeploymentStatus::Succeeded]);
    let greens: Vec<String> = d.kiln.fleet.iter().filter(|f| f.set == InstanceSet::Replacement).map(|f| f.id.clone()).collect();
    assert_eq!(greens.len(), 2);
    for id in &greens {
        assert_eq!(events(d, id).len(), 10, "{id}");
        assert!(events(d, id).iter().all(|e| e.ends_with(":Succeeded")), "{id}: {:?}", events(d, id));
    }
    assert_eq!(events(d, "blue-1"), ["BeforeBlockTraffic:Succeeded", "BlockTraffic:Succeeded", "AfterBlockTraffic:Succeeded"]);
    // Each replacement took traffic as it was registered (in proportion to the instances in
    // service), the originals' share went as they left; then the replacement fleet became the
    // original one (the record's weights read 100/0 again; the load balancer's promotion is not
    // a weight change).
    let shifts: Vec<u8> = d.kiln.traffic.as_ref().unwrap().history.iter().map(|c| c.weights.replacement).collect();
    assert!(shifts.contains(&50) && shifts[shifts.len() - 2] == 100 && shifts.last() == Some(&0), "{shifts:?}");
    assert!(shifts[..shifts.len() - 1].windows(2).all(|w| w[0] < w[1]), "traffic only moved forward: {shifts:?}");
    let plugin = d.kiln.strategy.as_ref().unwrap();
    assert_eq!(plugin.plugin, "codedeploy-blue-green");
    assert_eq!(plugin.config, serde_json::json!({"deploymentConfigName": "CodeDeployDefault.AllAtOnce", "computePlatform": "Server"}));
    assert_eq!(h.target.fleet(), greens);
    assert!(h.target.instance("blue-1").is_none(), "terminated");
    assert_eq!(h.traffic.current(), Weights::ORIGINAL);
}

#[tokio::test]
async fn blue_green_where_after_allow_traffic_fails_goes_back_to_the_originals() {
    let h = Harness::new(&["blue-1", "blue-2"]);
    seed_v1(&h).await;
    h.target.add_rule(HookRule { instance: None, event: "AfterAllowTraffic".into(), revision: Some("v2".into()), behavior: Behavior::Exit(2), output: vec!["smoke test failed".into()] });
    let g = group(&blue_green_group("CodeDeployDefault.AllAtOnce", ""));
    let out = h.deploy(&g, server_revision(&h.path(), "v2")).await;
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Failed);
    let err = d.error_information.as_ref().unwrap();
    assert!(err.message.contains("AfterAllowTraffic failed on replacement instance") && err.message.contains("exit code 2"), "{err:?}");
    assert_eq!(err.code, ErrorCode::HealthConstraints);
    // Traffic had reached the replacement instances (AfterAllowTraffic runs under production
    // traffic) and is back on the originals.
    let shifts: Vec<u8> = h.traffic.history().iter().map(|c| c.weights.replacement).collect();
    assert!(shifts.contains(&50) && shifts.last() == Some(&0), "{shifts:?}");
    assert_eq!(h.traffic.current(), Weights::ORIGINAL);
    assert!(h.traffic.instances().iter().all(|(id, (set, on))| id.starts_with("blue") && *set == InstanceSet::Original && *on), "{:?}", h.traffic.instances());
    let rb = out.rollback.as_ref().unwrap();
    assert_eq!(rb.status, DeploymentStatus::Succeeded, "{:?}", rb.error_information);
    assert_eq!(events(rb, "blue-1"), ["BeforeAllowTraffic:Succeeded", "AllowTraffic:Succeeded", "AfterAllowTraffic:Succeeded"]);
    let green = rb.deployment_targets.iter().map(|t| t.core()).find(|t| t.target_id.starts_with("green")).unwrap();
    assert_eq!(events(rb, &green.target_id), ["BeforeBlockTraffic:Succeeded", "BlockTraffic:Succeeded", "AfterBlockTraffic:Succeeded"]);
    // Rollback hooks: originals with their own (last installed) revision's scripts, replacements
    // with the most recent download's.
    let hooks = h.target.hooks_run();
    assert!(hooks.iter().any(|x| x == "blue-1 AfterAllowTraffic scripts/AfterAllowTraffic.sh (v1)"), "{hooks:?}");
    assert!(hooks.iter().any(|x| x.starts_with(&format!("{} BeforeBlockTraffic", green.target_id)) && x.ends_with("(v2)")), "{hooks:?}");
    assert_eq!(h.target.fleet(), ["blue-1", "blue-2"]);
    assert!(h.target.instances().keys().all(|k| k.starts_with("blue")), "provisioned replacements terminated");
}

#[tokio::test]
async fn a_blue_green_deployment_whose_alarm_fires_while_baking_runs_the_rollback_hooks() {
    let h = Harness::new(&["blue-1", "blue-2"]);
    seed_v1(&h).await;
    h.metrics.declare("5xx");
    // A 15-minute termination wait (900 ms): the bad release's 5xx fire the alarm while the
    // originals are still there to go back to.
    let g = group(&blue_green_group_waiting("CodeDeployDefault.OneAtATime", 15, ALARM));
    let out = run_bad_release(&h, &h.plan(&g, server_revision(&h.path(), "v2"))).await;
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Stopped, "{:?}", d.error_information);
    assert_eq!(d.error_information.as_ref().unwrap().code, ErrorCode::AlarmActive);
    // One at a time: a third of the requests (one replacement beside two originals), half, then
    // the originals leave; then back, all at once.
    let shifts: Vec<u8> = h.traffic.history().iter().map(|c| c.weights.replacement).collect();
    assert_eq!(&shifts[..2], [33, 50], "{shifts:?}");
    assert_eq!(&shifts[shifts.len() - 2..], [100, 0], "{shifts:?}");
    assert!(d.kiln.rollback.as_ref().unwrap().traffic_restored_ms.unwrap() < 1000.0);
    let rb = out.rollback.as_ref().unwrap();
    assert_eq!(rb.status, DeploymentStatus::Succeeded);
    let hooks = h.target.hooks_run();
    for id in ["blue-1", "blue-2"] {
        assert!(hooks.contains(&format!("{id} BeforeAllowTraffic scripts/BeforeAllowTraffic.sh (v1)")), "{id} rollback hook: {hooks:?}");
    }
    assert!(hooks.iter().filter(|x| x.contains("BeforeBlockTraffic")).count() >= 2, "{hooks:?}");
    assert!(h.traffic.instances().iter().all(|(id, (_, on))| id.starts_with("blue") && *on), "{:?}", h.traffic.instances());
}

#[tokio::test]
async fn a_blue_green_reroute_whose_hook_times_out_fails_and_rolls_back() {
    let h = Harness::new(&["blue-1"]);
    h.target.preinstall("v1");
    h.target.on_hook(None, Event::BeforeAllowTraffic, Behavior::Hang);
    let g = group(&blue_green_group("CodeDeployDefault.AllAtOnce", ""));
    let out = h.deploy(&g, server_revision(&h.path(), "v2")).await;
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Failed);
    let green = d.kiln.fleet.iter().find(|f| f.set == InstanceSet::Replacement).unwrap().id.clone();
    let ev = d.deployment_targets.iter().map(|t| t.core()).find(|t| t.target_id == green).unwrap();
    let hook = ev.lifecycle_events.iter().find(|e| e.lifecycle_event_name == "BeforeAllowTraffic").unwrap();
    let diag = hook.diagnostics.as_ref().unwrap();
    assert_eq!(diag.error_code, LifecycleErrorCode::ScriptTimedOut);
    assert_eq!(diag.message, "Script at specified location: scripts/BeforeAllowTraffic.sh failed to complete in 1 seconds");
    assert_eq!(status(d, &green), TargetStatus::Failed);
    assert!(d.error_information.as_ref().unwrap().message.contains("BeforeAllowTraffic failed on replacement instance"), "{:?}", d.error_information);
    assert!(h.traffic.history().is_empty() || h.traffic.current() == Weights::ORIGINAL);
    assert_eq!(out.rollback.as_ref().unwrap().status, DeploymentStatus::Succeeded);
}

#[tokio::test]
async fn an_ecs_linear_whose_hook_fails_rolls_back_from_where_traffic_was() {
    let h = Harness::new(&["task-1"]);
    h.target.on_hook(None, Event::AfterAllowTraffic, Behavior::Exit(1));
    let g = group(&routed_group("ECS", "CodeDeployDefault.ECSLinear10PercentEvery1Minutes", "", "task-1"));
    let out = h.deploy(&g, bundle(&h.path(), "v2", ECS_APPSPEC, &[])).await;
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Failed);
    let err = d.error_information.as_ref().unwrap();
    assert_eq!(err.code, ErrorCode::HookExecutionFailure);
    assert!(err.message.contains("AfterAllowTraffic hook postTraffic failed"), "{}", err.message);
    let shifts: Vec<u8> = h.traffic.history().iter().map(|c| c.weights.replacement).collect();
    assert_eq!(shifts, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 0]);
    assert_eq!(out.rollback.as_ref().unwrap().status, DeploymentStatus::Succeeded);
}

#[tokio::test]
async fn a_driver_that_ignores_a_timeout_is_cut_by_the_engine() {
    let h = Harness::new(&["web-1"]);
    h.target.on_hook(None, Event::ValidateService, Behavior::HangForever);
    let g = group("applicationName: web\ndeploymentGroupName: prod\ndeploymentConfigName: CodeDeployDefault.AllAtOnce\ntargets: {driver: fake, instances: [web-1]}\n");
    let started = std::time::Instant::now();
    let out = h.deploy(&g, server_revision(&h.path(), "v1")).await;
    // ValidateService's timeout is 1 s, the harness's grace 300 ms.
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(out.deployment.status, DeploymentStatus::Failed);
    assert!(events(&out.deployment, "web-1").contains(&"ValidateService:Failed".to_string()));
}
