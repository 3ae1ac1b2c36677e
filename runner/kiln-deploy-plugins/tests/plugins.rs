//! Real deployments (kiln-deploy's engine over its in-memory fleet) driven by the WebAssembly
//! strategies through kiln-host: the built-in ones make the same decisions as their native logic,
//! and a hostile strategy that traps ends in an automatic rollback with the reason.

#[path = "../../kiln-deploy/tests/common/mod.rs"]
mod common;

use std::sync::{Arc, OnceLock};

use common::*;
use kiln_deploy::record::{DeploymentStatus, ErrorCode};
use kiln_deploy::{Deployment, Env};
use kiln_deploy_plugins::PluginStrategies;
use kiln_host::builtin::test_components;
use kiln_host::{Host, HostConfig, PluginSource};

fn host() -> Arc<Host> {
    static HOST: OnceLock<Arc<Host>> = OnceLock::new();
    HOST.get_or_init(|| Arc::new(Host::new(HostConfig::default()).expect("host"))).clone()
}

/// Built-ins by name; `test-hostile-strategy` from kiln-host's test components.
fn strategies() -> PluginStrategies {
    PluginStrategies::new(
        host(),
        Box::new(|r: &str| if r == "test-hostile-strategy" { Ok(PluginSource::bytes(r, test_components::TEST_HOSTILE_STRATEGY)) } else { Err(format!("no plugin `{r}` in this test")) }),
    )
}

async fn deploy(h: &Harness, runner: &PluginStrategies, group_yaml: &str, rev: &str) -> kiln_deploy::RunOutcome {
    let plan = h.plan(&group(group_yaml), server_revision(&h.path(), rev));
    let env = Env { store: &h.store, target: &h.target, traffic: Some(&h.traffic), strategies: runner, metrics: &h.metrics, reporter: h.reporter.clone(), options: h.options.clone() };
    Deployment::run(&plan, &env).await.unwrap()
}

const IN_PLACE: &str = "applicationName: web\ndeploymentGroupName: prod\ndeploymentConfigName: CodeDeployDefault.OneAtATime\ndeploymentStyle: {deploymentType: IN_PLACE, deploymentOption: WITH_TRAFFIC_CONTROL}\ntargets: {driver: fake, instances: [web-1, web-2, web-3]}\n";

#[tokio::test(flavor = "multi_thread")]
async fn the_built_in_wasm_strategy_deploys_one_at_a_time() {
    let h = Harness::new(&["web-1", "web-2", "web-3"]);
    let runner = strategies();
    let out = deploy(&h, &runner, IN_PLACE, "v1").await;
    assert_eq!(out.deployment.status, DeploymentStatus::Succeeded, "{:?}", out.deployment.error_information);
    let s = out.deployment.kiln.strategy.as_ref().unwrap();
    assert_eq!(s.plugin, "codedeploy-in-place");
    // The record names the component that decided, by digest.
    let sha = s.sha256.as_deref().expect("the strategy's sha256 in the record");
    assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()), "{sha}");
    assert_ne!(sha, "0".repeat(64));
    for id in ["web-1", "web-2", "web-3"] {
        assert_eq!(h.target.instance(id).unwrap().installed.as_deref(), Some("v1"));
    }
    // One at a time: three batches of one.
    let batches: Vec<String> = h.reporter.events().iter().map(|e| format!("{e:?}")).filter(|e| e.contains("Batch")).collect();
    assert_eq!(batches.len(), 3, "{batches:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trapping_strategy_is_rolled_back_with_the_reason() {
    let h = Harness::new(&["web-1", "web-2", "web-3"]);
    let runner = strategies();
    assert_eq!(deploy(&h, &runner, IN_PLACE, "v1").await.deployment.status, DeploymentStatus::Succeeded);
    let custom = IN_PLACE.replace("CodeDeployDefault.OneAtATime", "Hostile")
        + "customDeploymentConfigs:\n  - deploymentConfigName: Hostile\n    minimumHealthyHosts: {type: HOST_COUNT, value: 0}\n    kilnStrategy: {uses: test-hostile-strategy, with: {attack: trap}}\n";
    let out = deploy(&h, &runner, &custom, "v2").await;
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Failed);
    let e = d.error_information.as_ref().unwrap();
    assert_eq!(e.code, ErrorCode::InternalError);
    assert!(e.message.starts_with("the deployment strategy failed: the strategy trapped: plugin test-hostile-strategy: crashed:"), "{}", e.message);
    // Nothing had changed yet (the trap came at the first decision): nothing to roll back, and v1
    // is still everywhere.
    for id in ["web-1", "web-2", "web-3"] {
        assert_eq!(h.target.instance(id).unwrap().installed.as_deref(), Some("v1"));
    }
    assert!(d.rollback_info.is_some(), "the rollback decision is recorded");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_plugin_changes_nothing() {
    let h = Harness::new(&["web-1"]);
    let runner = strategies();
    let g = "applicationName: web\ndeploymentGroupName: prod\ncustomDeploymentConfigs:\n  - deploymentConfigName: Mine\n    minimumHealthyHosts: {type: HOST_COUNT, value: 0}\n    kilnStrategy: {uses: nope}\ndeploymentConfigName: Mine\ntargets: {driver: fake, instances: [web-1]}\n";
    let out = deploy(&h, &runner, g, "v1").await;
    assert_eq!(out.deployment.status, DeploymentStatus::Failed);
    let msg = &out.deployment.error_information.as_ref().unwrap().message;
    assert!(msg.contains("strategy plugin `nope`: could not start the strategy: no plugin `nope` in this test"), "{msg}");
    assert!(h.target.calls().is_empty());
}
