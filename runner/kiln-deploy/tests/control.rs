//! Requests from outside a running deployment (stop, continue), the blue/green ready wait, and
//! alarms on kiln's own health-check metric.

mod common;

use std::time::Duration;

use common::*;
use kiln_deploy::record::{DeploymentStatus, ErrorCode, Weights};
use kiln_deploy::report::Progress;
use kiln_deploy::{Deployment, StopStatus};

const ECS_APPSPEC: &str = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties: {TaskDefinition: td, LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}}\n";

fn ecs(extra: &str) -> String {
    format!("applicationName: shop\ndeploymentGroupName: ecs\ncomputePlatform: ECS\ndeploymentConfigName: CodeDeployDefault.ECSCanary10Percent15Minutes\n{extra}targets: {{driver: fake, instances: [task-1]}}\n")
}

/// The id of the deployment running in `h`, once traffic moved to the replacement.
async fn running(h: &Harness) -> String {
    loop {
        if let Some(d) = Deployment::list(&h.store).unwrap().into_iter().find(|d| !d.status.is_final() && d.kiln.traffic.as_ref().is_some_and(|t| t.current.replacement > 0)) {
            return d.deployment_id;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_stop_request_stops_the_deployment_and_rolls_back_when_asked() {
    for (extra, asked, rolled_back) in [
        ("", Some(true), true),
        ("", None, false),
        ("autoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_STOP_ON_REQUEST]}\n", None, true),
        ("autoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_STOP_ON_REQUEST]}\n", Some(false), false),
    ] {
        let h = Harness::new(&["task-1"]);
        let plan = h.plan(&group(&ecs(extra)), bundle(&h.path(), "v2", ECS_APPSPEC, &[]));
        let env = h.env();
        let stopper = async {
            let id = running(&h).await;
            assert_eq!(Deployment::stop(&h.store, &id, asked).unwrap(), StopStatus::Pending);
            std::future::pending::<()>().await;
        };
        let out = tokio::select! {
            out = Deployment::run(&plan, &env) => out.unwrap(),
            _ = stopper => unreachable!(),
        };
        let d = &out.deployment;
        assert_eq!(d.status, DeploymentStatus::Stopped, "{extra} {asked:?}");
        assert_eq!(d.error_information.as_ref().unwrap().code, ErrorCode::ManualStop);
        assert_eq!(out.rollback.is_some(), rolled_back, "{extra} {asked:?}");
        assert_eq!(h.traffic.current() == Weights::ORIGINAL, rolled_back, "{extra} {asked:?}");
        // A final deployment cannot be stopped again.
        assert!(Deployment::stop(&h.store, &d.deployment_id, None).is_err());
    }
}

const BLUE_GREEN_READY: &str = "applicationName: web\ndeploymentGroupName: bg\ndeploymentConfigName: CodeDeployDefault.AllAtOnce\ndeploymentStyle: {deploymentType: BLUE_GREEN}\nblueGreenDeploymentConfiguration:\n  deploymentReadyOption: {actionOnTimeout: STOP_DEPLOYMENT, waitTimeInMinutes: WAIT}\n  terminateBlueInstancesOnDeploymentSuccess: {action: KEEP_ALIVE}\ntargets: {driver: fake, instances: [blue-1]}\n";

#[tokio::test]
async fn a_blue_green_deployment_waits_ready_for_continue() {
    let h = Harness::new(&["blue-1"]);
    let plan = h.plan(&group(&BLUE_GREEN_READY.replace("WAIT", "60")), server_revision(&h.path(), "v2"));
    let env = h.env();
    let continuer = async {
        let id = loop {
            if let Some(d) = Deployment::list(&h.store).unwrap().into_iter().find(|d| d.status == DeploymentStatus::Ready) {
                break d.deployment_id;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        assert!(h.traffic.history().is_empty(), "no traffic moves while Ready");
        Deployment::continue_deployment(&h.store, &id).unwrap();
        std::future::pending::<()>().await;
    };
    let out = tokio::select! {
        out = Deployment::run(&plan, &env) => out.unwrap(),
        _ = continuer => unreachable!(),
    };
    assert_eq!(out.deployment.status, DeploymentStatus::Succeeded, "{:?}", out.deployment.error_information);
    assert!(!out.deployment.instance_termination_wait_time_started, "KEEP_ALIVE");
    // KEEP_ALIVE: the original instance is released, not terminated.
    assert!(h.target.instance("blue-1").is_some());
    assert!(!h.target.fleet().contains(&"blue-1".to_string()));
}

#[tokio::test]
async fn a_ready_wait_that_times_out_stops_the_deployment() {
    let h = Harness::new(&["blue-1"]);
    let out = h.deploy(&group(&BLUE_GREEN_READY.replace("WAIT", "1")), server_revision(&h.path(), "v2")).await;
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Stopped);
    assert_eq!(d.error_information.as_ref().unwrap().code, ErrorCode::Timeout);
    assert!(d.error_information.as_ref().unwrap().message.contains("not continued within 1 minute"));
    assert!(h.reporter.events().iter().any(|e| matches!(e, Progress::Status { status: DeploymentStatus::Ready, .. })));
}

#[tokio::test]
async fn an_alarm_on_failed_health_checks_rolls_back() {
    let mut h = Harness::new(&["task-1"]);
    h.options.health_interval = Some(Duration::from_millis(5));
    let alarm = "alarmConfiguration:\n  alarms:\n    - {name: unhealthy, metric: kiln.HealthCheckFailed, statistic: Sum, period: 10, evaluationPeriods: 2, comparisonOperator: GreaterThanOrEqualToThreshold, threshold: 1, treatMissingData: notBreaching}\nautoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_STOP_ON_ALARM]}\n";
    let plan = h.plan(&group(&ecs(alarm)), bundle(&h.path(), "v2", ECS_APPSPEC, &[]));
    let env = h.env();
    // The replacement task fails its health checks once it runs.
    let sick = async {
        loop {
            for (id, _) in h.target.instances().into_iter().filter(|(id, i)| id.starts_with("green") && i.running.is_some()) {
                h.target.set_healthy(&id, false);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let out = tokio::select! {
        out = Deployment::run(&plan, &env) => out.unwrap(),
        _ = sick => unreachable!(),
    };
    assert_eq!(out.deployment.status, DeploymentStatus::Stopped, "{:?}", out.deployment.error_information);
    assert!(out.deployment.error_information.as_ref().unwrap().message.contains("Activated alarms: unhealthy"));
    assert_eq!(h.traffic.current(), Weights::ORIGINAL);
}

/// A metric source that stops answering after a number of reads.
struct Flaky {
    inner: kiln_deploy::metrics::SampleStore,
    reads: std::sync::atomic::AtomicU32,
    fail_after: u32,
}

impl kiln_deploy::metrics::MetricsSource for Flaky {
    fn datapoint(&self, metric: &str, from: std::time::Instant, to: std::time::Instant) -> Result<Option<kiln_deploy::metrics::Datapoint>, kiln_deploy::metrics::MetricsError> {
        if self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= self.fail_after {
            return Err(kiln_deploy::metrics::MetricsError::Unavailable { name: metric.into(), message: "connection refused".into() });
        }
        self.inner.datapoint(metric, from, to)
    }

    fn check(&self, metric: &str) -> Result<(), kiln_deploy::metrics::MetricsError> {
        self.inner.check(metric)
    }
}

#[tokio::test]
async fn alarm_state_that_cannot_be_read_stops_the_deployment_unless_ignored() {
    for ignore in [false, true] {
        let h = Harness::new(&["task-1"]);
        let alarm = format!("alarmConfiguration:\n  ignorePollAlarmFailure: {ignore}\n  alarms:\n    - {{name: errors, metric: 5xx, statistic: Sum, period: 60, evaluationPeriods: 1, comparisonOperator: GreaterThanThreshold, threshold: 100}}\n");
        let plan = h.plan(&group(&ecs(&alarm)), bundle(&h.path(), "v2", ECS_APPSPEC, &[]));
        let flaky = Flaky { inner: kiln_deploy::metrics::SampleStore::default(), reads: Default::default(), fail_after: 20 };
        flaky.inner.declare("5xx");
        let env = kiln_deploy::Env { metrics: &flaky, ..h.env() };
        let out = Deployment::run(&plan, &env).await.unwrap();
        if ignore {
            assert_eq!(out.deployment.status, DeploymentStatus::Succeeded, "{:?}", out.deployment.error_information);
        } else {
            assert_eq!(out.deployment.status, DeploymentStatus::Stopped);
            let e = out.deployment.error_information.unwrap();
            assert_eq!(e.code, ErrorCode::AlarmActive);
            assert!(e.message.contains("could not be read") && e.message.contains("connection refused"), "{}", e.message);
        }
    }
}

#[tokio::test]
async fn an_alarm_on_a_metric_nobody_reports_refuses_to_start() {
    let h = Harness::new(&["task-1"]);
    h.metrics.declare("5xx");
    let alarm = "alarmConfiguration:\n  alarms:\n    - {name: errors, metric: 5XX, statistic: Sum, period: 60, evaluationPeriods: 1, comparisonOperator: GreaterThanThreshold, threshold: 1}\n";
    let out = h.deploy(&group(&ecs(alarm)), bundle(&h.path(), "v2", ECS_APPSPEC, &[])).await;
    assert_eq!(out.deployment.status, DeploymentStatus::Failed);
    let e = out.deployment.error_information.unwrap();
    assert!(e.message.contains("there is no metric named `5XX`") && e.message.contains("known: 5xx"), "{}", e.message);
    assert!(h.target.calls().is_empty(), "nothing was touched");
}
