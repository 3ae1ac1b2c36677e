//! Strategies that misbehave: errors, traps, loops, silence, greed and nonsense all end in an
//! automatic rollback with the reason — even when the group has no automatic rollback — and
//! never leave traffic half-shifted.

mod common;

use std::time::Duration;

use common::*;
use kiln_deploy::record::{DeploymentStatus, ErrorCode, Weights};
use kiln_deploy::strategy::{Action, StrategyError};
use kiln_deploy::Deployment;

const IN_PLACE: &str = "applicationName: web\ndeploymentGroupName: prod\ndeploymentConfigName: CodeDeployDefault.OneAtATime\ndeploymentStyle: {deploymentType: IN_PLACE, deploymentOption: WITH_TRAFFIC_CONTROL}\ntargets: {driver: fake, instances: [web-1, web-2, web-3]}\n";

const ECS: &str = "applicationName: shop\ndeploymentGroupName: ecs\ncomputePlatform: ECS\ndeploymentConfigName: CodeDeployDefault.ECSAllAtOnce\ntargets: {driver: fake, instances: [task-1]}\n";

const ECS_APPSPEC: &str = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties: {TaskDefinition: td, LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}}\n";

/// ECS: the replacement task set is installed (deploy-batch) before any traffic moves.
fn install_replacement(o: &kiln_deploy::strategy::Observation) -> Action {
    Action::DeployBatch(o.instances.iter().filter(|i| i.instance_set == kiln_deploy::strategy::InstanceSet::Replacement).map(|i| i.id.clone()).collect())
}

fn scripted(f: impl FnMut(&kiln_deploy::strategy::Observation) -> Result<Action, StrategyError> + Send + 'static) -> Native {
    Native::Scripted(Scripted(Box::new(f)))
}

/// v1 everywhere, then a deployment of v2 driven by `strategy`.
async fn in_place_with(h: &Harness, strategy: Native) -> kiln_deploy::RunOutcome {
    let g = group(IN_PLACE);
    assert_eq!(h.deploy(&g, server_revision(&h.path(), "v1")).await.deployment.status, DeploymentStatus::Succeeded);
    *h.runner.replace.lock().unwrap() = Some(strategy);
    h.deploy(&g, server_revision(&h.path(), "v2")).await
}

fn reason(out: &kiln_deploy::RunOutcome) -> String {
    out.deployment.error_information.as_ref().map(|e| e.message.clone()).unwrap_or_default()
}

fn assert_rolled_back_to_v1(h: &Harness, out: &kiln_deploy::RunOutcome) {
    assert_eq!(out.deployment.status, DeploymentStatus::Failed);
    assert_eq!(out.deployment.error_information.as_ref().unwrap().code, ErrorCode::InternalError);
    let rb = out.rollback.as_ref().expect("a rollback even without autoRollbackConfiguration");
    assert_eq!(rb.status, DeploymentStatus::Succeeded, "{:?}", rb.error_information);
    for id in ["web-1", "web-2", "web-3"] {
        assert_eq!(h.target.instance(id).unwrap().installed.as_deref(), Some("v1"), "{id}");
    }
}

#[tokio::test]
async fn a_strategy_that_traps_after_the_first_batch_is_rolled_back() {
    let h = Harness::new(&["web-1", "web-2", "web-3"]);
    let mut calls = 0;
    let out = in_place_with(&h, scripted(move |_| {
        calls += 1;
        if calls == 1 { Ok(Action::DeployBatch(vec!["web-1".into()])) } else { Err(StrategyError::Trap("wasm trap: unreachable executed".into())) }
    }))
    .await;
    assert_eq!(reason(&out), "the deployment strategy failed: the strategy trapped: wasm trap: unreachable executed");
    assert_rolled_back_to_v1(&h, &out);
    assert_eq!(out.rollback.as_ref().unwrap().deployment_targets.len(), 1, "only web-1 was touched");
}

#[tokio::test]
async fn a_strategy_that_asks_for_the_whole_fleet_at_once_is_refused_by_minimum_healthy_hosts() {
    let h = Harness::new(&["web-1", "web-2", "web-3"]);
    let out = in_place_with(&h, scripted(|o| Ok(Action::DeployBatch(o.instances.iter().map(|i| i.id.clone()).collect())))).await;
    assert!(reason(&out).contains("take 3 instance(s) out of service at once; minimum healthy hosts allows 1 now (at least 2 of 3 must stay healthy"), "{}", reason(&out));
    // Nothing was taken out: refused before the batch started.
    assert!(out.deployment.deployment_targets.iter().all(|t| t.core().lifecycle_events.iter().all(|e| e.start_time.is_none())));
    assert_eq!(out.rollback, None);
    assert_eq!(out.deployment.rollback_info.as_ref().unwrap().rollback_message.as_deref(), Some("Nothing to roll back: the deployment changed no instance and no traffic."));
}

#[tokio::test]
async fn a_strategy_that_loops_hits_the_decision_limit() {
    let mut h = Harness::new(&["web-1", "web-2", "web-3"]);
    h.options.limits.max_decisions = 40;
    let mut first = true;
    let out = in_place_with(&h, scripted(move |_| {
        if std::mem::take(&mut first) { Ok(Action::DeployBatch(vec!["web-2".into()])) } else { Ok(Action::Wait(0)) }
    }))
    .await;
    assert!(reason(&out).contains("made 40 decisions without finishing the deployment (the limit is 40); it is looping"), "{}", reason(&out));
    assert_rolled_back_to_v1(&h, &out);
}

#[tokio::test]
async fn a_strategy_that_never_answers_times_out() {
    let mut h = Harness::new(&["web-1", "web-2", "web-3"]);
    h.options.limits.decision_timeout = Duration::from_millis(200);
    let out = in_place_with(&h, Native::Hang).await;
    assert!(reason(&out).contains("did not answer within 200 ms"), "{}", reason(&out));
}

#[tokio::test]
async fn nonsense_answers_are_refused_with_the_reason() {
    for (answer, expected) in [
        (Action::DeployBatch(vec!["../../etc/passwd".into()]), "`../../etc/passwd`, which is not an instance of this deployment"),
        (Action::RunHook("DropTables".into()), "`DropTables`, which is not a lifecycle event"),
        (Action::ShiftTraffic(10), "an in-place deployment has no second fleet"),
        (Action::Succeed, "succeed with 3 instance(s) not deployed to"),
        (Action::Wait(u64::MAX), "time limit"),
    ] {
        let h = Harness::new(&["web-1", "web-2", "web-3"]);
        let a = answer.clone();
        let out = in_place_with(&h, scripted(move |_| Ok(a.clone()))).await;
        assert!(reason(&out).contains(expected), "{answer}: {}", reason(&out));
        assert_eq!(out.deployment.kiln.strategy.as_ref().unwrap().last_action.as_deref(), Some(answer.to_string().as_str()));
    }
}

#[tokio::test]
async fn a_strategy_that_errors_half_way_through_a_shift_leaves_no_half_shifted_fleet() {
    let h = Harness::new(&["task-1"]);
    let mut step = 0;
    *h.runner.replace.lock().unwrap() = Some(scripted(move |o| {
        step += 1;
        match step {
            1 => Ok(install_replacement(o)),
            2 => Ok(Action::ShiftTraffic(50)),
            3 => Ok(Action::ShiftTraffic(255)),
            _ => Err(StrategyError::Failed("unreachable".into())),
        }
    }));
    let out = h.deploy(&group(ECS), bundle(&h.path(), "v2", ECS_APPSPEC, &[])).await;
    assert!(reason(&out).contains("shift 255 % of traffic; a percentage is 0 to 100"), "{}", reason(&out));
    assert_eq!(h.traffic.history().iter().map(|c| c.weights.replacement).collect::<Vec<_>>(), [50, 0]);
    assert_eq!(h.traffic.current(), Weights::ORIGINAL);
    assert_eq!(out.rollback.as_ref().unwrap().status, DeploymentStatus::Succeeded);
    assert_eq!(out.deployment.kiln.traffic.as_ref().unwrap().current, Weights::ORIGINAL);
}

#[tokio::test]
async fn a_strategy_that_cannot_start_changes_nothing() {
    let h = Harness::new(&["web-1"]);
    let g = group("applicationName: web\ndeploymentGroupName: prod\ncustomDeploymentConfigs:\n  - deploymentConfigName: Mine\n    minimumHealthyHosts: {type: HOST_COUNT, value: 0}\n    kilnStrategy: {uses: ./nope.wasm}\ndeploymentConfigName: Mine\ntargets: {driver: fake, instances: [web-1]}\n");
    let out = h.deploy(&g, server_revision(&h.path(), "v1")).await;
    assert_eq!(out.deployment.status, DeploymentStatus::Failed);
    assert!(reason(&out).contains("strategy plugin `./nope.wasm`: could not start the strategy: no built-in strategy named `./nope.wasm`"), "{}", reason(&out));
    assert!(h.target.calls().is_empty());
}

#[tokio::test]
async fn a_strategy_may_ask_for_the_rollback_itself() {
    let h = Harness::new(&["task-1"]);
    let mut step = 0;
    *h.runner.replace.lock().unwrap() = Some(scripted(move |o| {
        step += 1;
        Ok(if step == 1 { install_replacement(o) } else if step == 2 { Action::ShiftTraffic(10) } else { Action::RollBack("p99 latency 2.3 s over the 500 ms budget".into()) })
    }));
    let g = group(&format!("{ECS}autoRollbackConfiguration: {{enabled: true, events: [DEPLOYMENT_FAILURE]}}\n"));
    let out = h.deploy(&g, bundle(&h.path(), "v2", ECS_APPSPEC, &[])).await;
    let err = out.deployment.error_information.as_ref().unwrap();
    assert_eq!(err.code, ErrorCode::CustomerApplicationUnhealthy);
    assert_eq!(err.message, "the deployment strategy asked to roll back: p99 latency 2.3 s over the 500 ms budget");
    assert_eq!(h.traffic.current(), Weights::ORIGINAL);
    assert!(out.rollback.is_some());
    // The record on disk agrees.
    assert_eq!(Deployment::status(&h.store, &out.deployment.deployment_id).unwrap().error_information.unwrap().code, ErrorCode::CustomerApplicationUnhealthy);
}
