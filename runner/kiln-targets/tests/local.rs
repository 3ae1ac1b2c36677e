//! The local driver end to end: real services (python3 http.server-style scripts) in kiln's
//! sandbox on loopback ports, kiln-router in front, a bounded load generator counting every
//! response, kiln-deploy's engine driving the built-in strategies' logic.

// The built-in strategies run natively (kiln-strategy-engine) by kiln-deploy's test runner.
#[path = "../../kiln-deploy/tests/common/mod.rs"]
mod common;

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kiln_deploy::record::{DeploymentStatus, ErrorCode, Weights};
use kiln_deploy::target::TrafficControl;
use support::*;

fn service() -> Option<serde_json::Value> {
    let py = python()?;
    Some(serde_json::json!({"command": [py, "server.py"], "cwd": "/srv/web", "health-path": "/health", "start-timeout": 20, "stop-timeout": 5}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_in_place_deployment_under_load_fails_no_request() {
    let Some(svc) = service() else {
        eprintln!("SKIPPED: python3 is not installed (the test's web service is a python3 script)");
        return;
    };
    let w = World::new(&["web-1", "web-2"], svc, Box::new(common::Runner::default())).await;
    let group = |config: &str| format!("applicationName: web\ndeploymentGroupName: prod\ndeploymentConfigName: {config}\ndeploymentStyle: {{deploymentType: IN_PLACE, deploymentOption: WITH_TRAFFIC_CONTROL}}\ntargets: {{driver: local, instances: [web-1, web-2]}}\n");
    // The first release, all at once (no clients yet: nothing served before it).
    let first = w.deploy(&group("CodeDeployDefault.AllAtOnce"), revision(w.dir.path(), "v1", SERVER_APPSPEC, "app"), 1.0).await;
    assert_eq!(first.deployment.status, DeploymentStatus::Succeeded, "{:?}", first.deployment.error_information);
    assert_eq!(w.fleet.running("web-1").as_deref(), Some("v1"));
    // The hook ran in the instance's sandbox and saw its variables.
    let hook_out = w.reporter.events().iter().map(|e| format!("{e:?}")).filter(|e| e.contains("checked web-")).count();
    assert!(hook_out >= 2, "hook output: {:?}", w.reporter.events());

    // v2 one instance at a time, under load: the router drains each instance before its service
    // stops and routes to it again only once v2 answers.
    let stop = Arc::new(AtomicBool::new(false));
    let (tally, handles) = load(w.traffic.local_addr(), 4, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = w.deploy(&group("CodeDeployDefault.OneAtATime"), revision(w.dir.path(), "v2", SERVER_APPSPEC, "app"), 1.0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(out.deployment.status, DeploymentStatus::Succeeded, "{:?}", out.deployment.error_information);
    let t = std::mem::take(&mut *tally.lock().unwrap());
    eprintln!("in-place OneAtATime under load: {t:?}");
    assert_eq!(t.failed(), 0, "{t:?}");
    assert!(t.total() > 50, "the load generator ran: {t:?}");
    assert!(t.by_body.get("v1").is_some_and(|n| *n > 0) && t.by_body.get("v2").is_some_and(|n| *n > 0), "{t:?}");
    assert_eq!(w.fleet.running("web-1").as_deref(), Some("v2"));
    assert_eq!(w.fleet.running("web-2").as_deref(), Some("v2"));
    assert_eq!(get(w.traffic.local_addr()).await.unwrap(), (200, "v2".to_string()));
    w.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_of_a_bad_release_is_caught_by_the_alarm_and_traffic_goes_back() {
    let Some(py) = python() else {
        eprintln!("SKIPPED: python3 is not installed (the test's web service is a python3 script)");
        return;
    };
    // ECS-style: the service runs in the revision's directory (no `cwd`).
    let w = World::new(&["task-1"], serde_json::json!({"command": [py, "server.py"], "health-path": "/health", "start-timeout": 20}), Box::new(common::Runner::default())).await;
    // The replacement set's 5xx: one period of 60 s (600 ms at the scale below) with any is enough.
    let group = "applicationName: shop\ndeploymentGroupName: ecs\ncomputePlatform: ECS\ndeploymentConfigName: CodeDeployDefault.ECSCanary10Percent5Minutes\nalarmConfiguration:\n  enabled: true\n  alarms:\n    - name: canary-errors\n      metric: router.replacement.HTTPCode_Target_5XX_Count\n      statistic: Sum\n      period: 60\n      evaluationPeriods: 1\n      comparisonOperator: GreaterThanThreshold\n      threshold: 0\n      treatMissingData: notBreaching\nautoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM]}\ntargets: {driver: local, instances: [task-1]}\n";
    let scale = 0.01; // 5 minutes of canary = 3 s
    let good = w.deploy(group, revision(w.dir.path(), "v1", ECS_APPSPEC, "."), scale).await;
    assert_eq!(good.deployment.status, DeploymentStatus::Succeeded, "{:?}", good.deployment.error_information);
    assert_eq!(get(w.traffic.local_addr()).await.unwrap(), (200, "v1".to_string()));

    let stop = Arc::new(AtomicBool::new(false));
    let (tally, handles) = load(w.traffic.local_addr(), 4, stop.clone());
    let out = w.deploy(group, revision(w.dir.path(), "v2-bad", ECS_APPSPEC, "."), scale).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.unwrap();
    }
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Stopped, "{:?}", d.error_information);
    let e = d.error_information.as_ref().unwrap();
    assert_eq!(e.code, ErrorCode::AlarmActive, "{e:?}");
    assert!(e.message.contains("canary-errors"), "{}", e.message);
    assert_eq!(out.rollback.as_ref().map(|r| r.status), Some(DeploymentStatus::Succeeded));
    // The canary never got more than 10 %; traffic is all on v1 again.
    let history: Vec<u8> = d.kiln.traffic.as_ref().unwrap().history.iter().map(|c| c.weights.replacement).collect();
    assert!(history.iter().all(|p| *p <= 10), "{history:?}");
    assert_eq!(w.traffic.weights().await.unwrap(), Weights::ORIGINAL);
    let t = std::mem::take(&mut *tally.lock().unwrap());
    eprintln!("ECS canary of a bad release under load: {t:?}");
    let bad = t.by_status.get(&500).copied().unwrap_or(0);
    assert!(bad > 0, "the canary served the bad release: {t:?}");
    assert!(bad * 4 < t.total(), "about a tenth of the requests reached the canary, not a quarter: {t:?}");
    assert_eq!(t.errors, 0, "{t:?}");
    for _ in 0..20 {
        assert_eq!(get(w.traffic.local_addr()).await.unwrap(), (200, "v1".to_string()));
    }
    w.fleet.shutdown().await;
}
