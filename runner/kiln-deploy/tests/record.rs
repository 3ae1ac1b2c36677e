//! `deployment.json` as written to disk (snapshots, with times, ids and paths normalized), the
//! store's listing, and the deployment attestation statement.

mod common;

use common::*;
use kiln_deploy::fake::Behavior;
use kiln_deploy::record::attest;
use kiln_deploy::record::DeploymentStatus;
use kiln_deploy::Deployment;
use kiln_spec::appspec::Event;
use serde_json::Value;

/// Replace what changes between runs: timestamps, deployment ids, temp paths, pids, latencies,
/// provisioned instance numbers.
fn normalize(v: &mut Value, ids: &[String], tmp: &str) {
    match v {
        Value::String(s) => {
            for (i, id) in ids.iter().enumerate() {
                *s = s.replace(id.as_str(), &format!("[deployment {i}]"));
            }
            *s = s.replace(tmp, "[tmp]");
            let b = s.as_bytes();
            if b.len() == 24 && b[4] == b'-' && b[10] == b'T' && s.ends_with('Z') {
                *s = "[time]".into();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| normalize(x, ids, tmp)),
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match k.as_str() {
                    "pid" => *x = Value::from(0),
                    "trafficRestoredMs" => *x = Value::from("[ms]"),
                    "deploymentGroupId" => *x = Value::from("[group id]"),
                    _ => normalize(x, ids, tmp),
                }
            }
        }
        _ => {}
    }
}

fn on_disk(h: &Harness, id: &str, ids: &[String]) -> Value {
    let path = h.store.root().join(id).join("deployment.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    normalize(&mut v, ids, &h.path().display().to_string());
    v
}

#[tokio::test]
async fn an_in_place_deployment_that_fails_and_is_rolled_back() {
    let h = Harness::new(&["web-1", "web-2"]);
    let g = group("applicationName: web\ndeploymentGroupName: prod\ndeploymentConfigName: CodeDeployDefault.OneAtATime\nautoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_FAILURE]}\ntargets: {driver: fake, instances: [web-1, web-2]}\n");
    let first = h.deploy(&g, server_revision(&h.path(), "v1")).await.deployment;
    h.target.add_rule(kiln_deploy::fake::HookRule { instance: Some("web-1".into()), event: Event::AfterInstall.name().into(), revision: Some("v2".into()), behavior: Behavior::Exit(7), output: vec!["migration failed".into()] });
    let out = h.deploy(&g, server_revision(&h.path(), "v2")).await;
    let rb = out.rollback.as_ref().unwrap();
    let ids = [first.deployment_id.clone(), out.deployment.deployment_id.clone(), rb.deployment_id.clone()];
    insta::assert_json_snapshot!("in_place_first", on_disk(&h, &ids[0], &ids));
    insta::assert_json_snapshot!("in_place_failed", on_disk(&h, &ids[1], &ids));
    insta::assert_json_snapshot!("in_place_rollback", on_disk(&h, &ids[2], &ids));
    let listed: Vec<String> = Deployment::list(&h.store).unwrap().into_iter().map(|d| d.deployment_id).collect();
    let mut expected = ids.to_vec();
    expected.sort_by_key(|id| Deployment::status(&h.store, id).unwrap().create_time);
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn an_ecs_canary_record() {
    let h = Harness::new(&["task-1"]);
    let g = group("applicationName: shop\ndeploymentGroupName: ecs\ncomputePlatform: ECS\ndeploymentConfigName: CodeDeployDefault.ECSCanary10Percent5Minutes\ntargets: {driver: fake, instances: [task-1]}\n");
    let spec = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties: {TaskDefinition: td, LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}}\nHooks:\n  - AfterAllowTraffic: smoke\n";
    let out = h.deploy(&g, bundle(&h.path(), "v2", spec, &[])).await;
    assert_eq!(out.deployment.status, DeploymentStatus::Succeeded);
    let ids = [out.deployment.deployment_id.clone()];
    let mut v = on_disk(&h, &ids[0], &ids);
    // The replacement task's number depends on nothing, but keep the snapshot about the shape.
    insta::assert_json_snapshot!("ecs_canary", { v["kiln"]["fleet"] = Value::from("[fleet]"); v });
}

#[tokio::test]
async fn the_deployment_attestation_is_an_in_toto_statement() {
    let h = Harness::new(&["web-1"]);
    let g = group("applicationName: web\ndeploymentGroupName: prod\ndeploymentConfigName: CodeDeployDefault.AllAtOnce\ntargets: {driver: fake, instances: [web-1]}\n");
    let d = h.deploy(&g, server_revision(&h.path(), "v1")).await.deployment;
    let statement = attest::statement(&d);
    // kiln-attest's reader (used by `kiln verify`) accepts it.
    let parsed = kiln_attest::intoto::Statement::from_json(&serde_json::to_vec(&statement).unwrap()).unwrap();
    parsed.validate().unwrap();
    assert_eq!(parsed.predicate_type, attest::PREDICATE_TYPE);
    assert_eq!(parsed.subject[0].name.as_deref(), Some("v1"));
    assert_eq!(parsed.subject[0].sha256(), Some(d.revision.local_revision.sha256.as_str()));
    let p = &parsed.predicate;
    assert_eq!(p["deployment"]["deploymentId"], d.deployment_id);
    assert_eq!(p["provenance"]["sha256"], "ab".repeat(32));
    assert_eq!(p["strategy"]["plugin"], "codedeploy-in-place");
    assert_eq!(p["strategy"]["sha256"], "0".repeat(64));
    assert_eq!(p["outcome"]["status"], "Succeeded");
}
