//! In-place deployments (EC2/on-premises) against the in-memory fleet.

mod common;

use common::*;
use kiln_deploy::fake::{Behavior, HookRule};
use kiln_deploy::record::{Creator, DeploymentStatus, ErrorCode, TargetStatus};
use kiln_deploy::{Deployment, DeploymentOptions};
use kiln_spec::appspec::Event;

fn group_yaml(config: &str, instances: &str, extra: &str) -> String {
    format!(
        "applicationName: web\ndeploymentGroupName: prod\ndeploymentConfigName: {config}\ndeploymentStyle: {{deploymentType: IN_PLACE, deploymentOption: WITH_TRAFFIC_CONTROL}}\nautoRollbackConfiguration: {{enabled: true, events: [DEPLOYMENT_FAILURE]}}\n{extra}targets:\n  driver: fake\n  instances: [{instances}]\n"
    )
}

const IN_PLACE_WITH_LB: [&str; 13] = [
    "BeforeBlockTraffic:Succeeded",
    "BlockTraffic:Succeeded",
    "AfterBlockTraffic:Succeeded",
    "ApplicationStop:Succeeded",
    "DownloadBundle:Succeeded",
    "BeforeInstall:Succeeded",
    "Install:Succeeded",
    "AfterInstall:Succeeded",
    "ApplicationStart:Succeeded",
    "ValidateService:Succeeded",
    "BeforeAllowTraffic:Succeeded",
    "AllowTraffic:Succeeded",
    "AfterAllowTraffic:Succeeded",
];

#[tokio::test]
async fn all_at_once_of_a_good_revision() {
    let h = Harness::new(&["web-1", "web-2", "web-3"]);
    let g = group(&group_yaml("CodeDeployDefault.AllAtOnce", "web-1, web-2, web-3", ""));
    let out = h.deploy(&g, server_revision(&h.path(), "v1")).await;
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Succeeded, "{:?}", d.error_information);
    assert!(out.rollback.is_none());
    assert_eq!((d.deployment_overview.succeeded, d.deployment_overview.failed), (3, 0));
    for id in ["web-1", "web-2", "web-3"] {
        assert_eq!(events(d, id), IN_PLACE_WITH_LB, "{id}");
        let i = h.target.instance(id).unwrap();
        assert_eq!((i.installed.as_deref(), i.running.as_deref()), (Some("v1"), Some("v1")));
        assert_eq!(h.traffic.instances()[id], (kiln_deploy::strategy::InstanceSet::Original, true), "back in service");
    }
    // First deployment: ApplicationStop and the BlockTraffic hooks have no previous revision.
    let hooks = h.target.hooks_run();
    assert!(!hooks.iter().any(|x| x.contains("ApplicationStop") || x.contains("BlockTraffic")), "{hooks:?}");
    // All three went in one batch.
    let batches: Vec<_> = h.reporter.events().into_iter().filter_map(|e| if let kiln_deploy::report::Progress::Batch { instances } = e { Some(instances) } else { None }).collect();
    assert_eq!(batches, [vec!["web-1".to_string(), "web-2".into(), "web-3".into()]]);
    // CodeDeploy's hook environment.
    let call = h.target.calls().into_iter().find(|c| c.what == "hook" && c.detail.starts_with("AfterInstall")).unwrap();
    let env: std::collections::BTreeMap<_, _> = call.env.into_iter().collect();
    assert_eq!(env["LIFECYCLE_EVENT"], "AfterInstall");
    assert_eq!(env["DEPLOYMENT_ID"], d.deployment_id);
    assert_eq!(env["APPLICATION_NAME"], "web");
    assert_eq!(env["DEPLOYMENT_GROUP_NAME"], "prod");
    assert_eq!(env["DEPLOYMENT_GROUP_ID"], g.deployment_group_id);
    // The group remembers the revision.
    let state = h.store.group_state("web", "prod").unwrap();
    assert_eq!(state.last_successful_deployment.unwrap().revision.name, "v1");
    assert_eq!(state.instances["web-2"].last_successful_install.as_ref().unwrap().name, "v1");
    // (The fake reports every path missing, so /srv counts as created.)
    assert_eq!(state.instances["web-2"].cleanup, ["/srv", "/srv/web", "/srv/web/index.html"]);
    // The record on disk is what run returned.
    assert_eq!(Deployment::status(&h.store, &d.deployment_id).unwrap(), *d);
}

#[tokio::test]
async fn the_next_deployment_stops_the_application_with_the_last_successful_revisions_scripts() {
    let h = Harness::new(&["web-1"]);
    let g = group(&group_yaml("CodeDeployDefault.OneAtATime", "web-1", ""));
    assert_eq!(h.deploy(&g, server_revision(&h.path(), "v1")).await.deployment.status, DeploymentStatus::Succeeded);
    let before = h.target.hooks_run().len();
    let out = h.deploy(&g, server_revision(&h.path(), "v2")).await;
    assert_eq!(out.deployment.status, DeploymentStatus::Succeeded);
    let hooks = &h.target.hooks_run()[before..];
    assert_eq!(hooks[0], "web-1 BeforeBlockTraffic scripts/BeforeBlockTraffic.sh (v1)");
    assert_eq!(hooks[1], "web-1 AfterBlockTraffic scripts/AfterBlockTraffic.sh (v1)");
    assert_eq!(hooks[2], "web-1 ApplicationStop scripts/ApplicationStop.sh (v1)");
    assert_eq!(hooks[3], "web-1 BeforeInstall scripts/BeforeInstall.sh (v2)");
    assert_eq!(out.deployment.previous_revision.as_ref().unwrap().local_revision.name, "v1");
}

#[tokio::test]
async fn one_at_a_time_with_validate_service_failing_on_the_third_instance_rolls_back() {
    let ids = ["web-1", "web-2", "web-3", "web-4", "web-5"];
    let h = Harness::new(&ids);
    let g = group(&group_yaml("CodeDeployDefault.OneAtATime", "web-1, web-2, web-3, web-4, web-5", ""));
    assert_eq!(h.deploy(&g, server_revision(&h.path(), "v1")).await.deployment.status, DeploymentStatus::Succeeded);
    h.target.add_rule(HookRule { instance: Some("web-3".into()), event: "ValidateService".into(), revision: Some("v2".into()), behavior: Behavior::Exit(3), output: vec!["checking /health".into(), "HTTP 500".into()] });
    let before = h.target.hooks_run().len();
    let out = h.deploy(&g, server_revision(&h.path(), "v2")).await;
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Failed);
    let err = d.error_information.as_ref().unwrap();
    assert_eq!(err.code, ErrorCode::HealthConstraints);
    assert!(err.message.starts_with("The overall deployment failed because too many individual instances failed deployment"), "{}", err.message);
    assert_eq!([status(d, "web-1"), status(d, "web-2"), status(d, "web-3"), status(d, "web-4"), status(d, "web-5")], [TargetStatus::Succeeded, TargetStatus::Succeeded, TargetStatus::Failed, TargetStatus::Skipped, TargetStatus::Skipped]);
    let web3 = events(d, "web-3");
    assert_eq!(web3[9], "ValidateService:Failed");
    assert_eq!(&web3[10..], ["BeforeAllowTraffic:Skipped", "AllowTraffic:Skipped", "AfterAllowTraffic:Skipped"]);
    let validate = d.deployment_targets.iter().map(|t| t.core()).find(|t| t.target_id == "web-3").unwrap().lifecycle_events[9].clone();
    let diag = validate.diagnostics.unwrap();
    assert_eq!(diag.error_code, kiln_deploy::record::LifecycleErrorCode::ScriptFailed);
    assert_eq!(diag.script_name.as_deref(), Some("scripts/ValidateService.sh"));
    assert_eq!(diag.message, "Script at specified location: scripts/ValidateService.sh failed with exit code 3");
    assert_eq!(diag.log_tail, "[stdout]checking /health\n[stdout]HTTP 500\n");
    assert_eq!(d.deployment_overview.succeeded, 2);
    // Instances 4 and 5 were never touched by v2.
    let hooks = &h.target.hooks_run()[before..];
    assert!(!hooks.iter().any(|x| x.starts_with("web-4") || x.starts_with("web-5")), "{hooks:?}");
    // The rollback: a new deployment of v1 to the three instances v2 touched.
    let rb = out.rollback.as_ref().expect("rolled back");
    assert_eq!(rb.creator, Creator::CodeDeployRollback);
    assert_eq!(rb.status, DeploymentStatus::Succeeded, "{:?}", rb.error_information);
    assert_eq!(rb.revision.local_revision.name, "v1");
    assert_eq!(rb.rollback_info.as_ref().unwrap().rollback_triggering_deployment_id.as_deref(), Some(d.deployment_id.as_str()));
    assert_eq!(d.rollback_info.as_ref().unwrap().rollback_deployment_id.as_deref(), Some(rb.deployment_id.as_str()));
    let rolled: Vec<&str> = rb.deployment_targets.iter().map(|t| t.core().target_id.as_str()).collect();
    assert_eq!(rolled, ["web-1", "web-2", "web-3"]);
    for id in ids {
        assert_eq!(h.target.instance(id).unwrap().installed.as_deref(), Some("v1"), "{id}");
    }
    // The rollback stops the application with the scripts of what is installed there: v2.
    let all = h.target.hooks_run();
    let rollback_hooks: Vec<&String> = all[before..].iter().filter(|x| x.contains("ApplicationStop")).collect();
    assert!(rollback_hooks.contains(&&"web-3 ApplicationStop scripts/ApplicationStop.sh (v2)".to_string()), "{rollback_hooks:?}");
    let state = h.store.group_state("web", "prod").unwrap();
    assert_eq!(state.last_successful_deployment.unwrap().deployment_id, rb.deployment_id);
}

#[tokio::test]
async fn a_failure_on_the_last_instance_still_succeeds_with_one_at_a_time() {
    let h = Harness::new(&["web-1", "web-2", "web-3"]);
    let g = group(&group_yaml("CodeDeployDefault.OneAtATime", "web-1, web-2, web-3", ""));
    h.target.on_hook(Some("web-3"), Event::AfterInstall, Behavior::Exit(1));
    let out = h.deploy(&g, server_revision(&h.path(), "v1")).await;
    assert_eq!(out.deployment.status, DeploymentStatus::Succeeded, "{:?}", out.deployment.error_information);
    assert_eq!(status(&out.deployment, "web-3"), TargetStatus::Failed);
}

#[tokio::test]
async fn minimum_healthy_hosts_that_cannot_be_met_is_refused_before_anything_changes() {
    // Planned against the group file's instances: refused outright.
    let h = Harness::new(&["web-1"]);
    let g = group(&group_yaml("CodeDeployDefault.HalfAtATime", "web-1", ""));
    let err = Deployment::plan(&g, server_revision(&h.path(), "v1"), DeploymentOptions::default()).unwrap_err();
    assert_eq!(err.code, Some("HEALTH_CONSTRAINTS_INVALID"));
    // The group file lists none, the driver has three, the custom minimum is three: the
    // deployment is created and fails at once, as CodeDeploy's does.
    let h = Harness::new(&["web-1", "web-2", "web-3"]);
    let extra = "customDeploymentConfigs:\n  - deploymentConfigName: AllHealthy\n    minimumHealthyHosts: {type: HOST_COUNT, value: 3}\n";
    let yaml = group_yaml("AllHealthy", "", extra);
    let out = h.deploy(&group(&yaml), server_revision(&h.path(), "v1")).await;
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Failed);
    assert_eq!(d.error_information.as_ref().unwrap().code, ErrorCode::HealthConstraintsInvalid);
    assert!(d.deployment_targets.is_empty());
    assert!(out.rollback.is_none());
    let touched: Vec<_> = h.target.calls();
    assert!(touched.is_empty(), "{touched:?}");
}

#[tokio::test]
async fn ignore_application_stop_failures_lets_a_broken_stop_script_pass() {
    let h = Harness::new(&["web-1"]);
    let g = group(&group_yaml("CodeDeployDefault.AllAtOnce", "web-1", ""));
    h.deploy(&g, server_revision(&h.path(), "v1")).await;
    h.target.add_rule(HookRule { instance: None, event: "ApplicationStop".into(), revision: Some("v1".into()), behavior: Behavior::Exit(1), output: vec![] });
    let failing = h.deploy(&g, server_revision(&h.path(), "v2")).await;
    assert_eq!(failing.deployment.status, DeploymentStatus::Failed);
    let plan = Deployment::plan(&g, server_revision(&h.path(), "v3"), DeploymentOptions { ignore_application_stop_failures: true, ..Default::default() }).unwrap();
    let out = Deployment::run(&plan, &h.env()).await.unwrap();
    assert_eq!(out.deployment.status, DeploymentStatus::Succeeded, "{:?}", out.deployment.error_information);
    assert!(events(&out.deployment, "web-1").contains(&"ApplicationStop:Failed".to_string()));
    assert!(out.deployment.ignore_application_stop_failures);
}

#[tokio::test]
async fn a_second_deployment_of_the_same_group_is_refused_while_one_runs() {
    let h = Harness::new(&["web-1"]);
    let _held = h.store.lock_group("web", "prod").unwrap();
    let g = group(&group_yaml("CodeDeployDefault.AllAtOnce", "web-1", ""));
    let plan = h.plan(&g, server_revision(&h.path(), "v1"));
    let err = Deployment::run(&plan, &h.env()).await.unwrap_err();
    assert!(err.to_string().contains("already running"), "{err}");
}

#[tokio::test]
async fn a_failed_deployment_without_automatic_rollback_can_be_rolled_back_by_hand() {
    let h = Harness::new(&["web-1", "web-2"]);
    let yaml = "applicationName: web\ndeploymentGroupName: prod\ndeploymentConfigName: CodeDeployDefault.AllAtOnce\ntargets: {driver: fake, instances: [web-1, web-2]}\n";
    let g = group(yaml);
    h.deploy(&g, server_revision(&h.path(), "v1")).await;
    h.target.add_rule(HookRule { instance: None, event: "ValidateService".into(), revision: Some("v2".into()), behavior: Behavior::Exit(1), output: vec![] });
    let failed = h.deploy(&g, server_revision(&h.path(), "v2")).await;
    assert_eq!(failed.deployment.status, DeploymentStatus::Failed);
    assert!(failed.rollback.is_none(), "no automatic rollback configured");
    assert_eq!(h.target.instance("web-1").unwrap().installed.as_deref(), Some("v2"));
    let out = Deployment::rollback(&failed.deployment.deployment_id, &g, &h.env()).await.unwrap();
    assert_eq!(out.deployment.status, DeploymentStatus::Failed, "the failed deployment stays failed");
    let rb = out.rollback.unwrap();
    assert_eq!(rb.status, DeploymentStatus::Succeeded, "{:?}", rb.error_information);
    assert_eq!(out.deployment.rollback_info.unwrap().rollback_deployment_id, Some(rb.deployment_id));
    assert_eq!(h.target.instance("web-2").unwrap().installed.as_deref(), Some("v1"));
}
