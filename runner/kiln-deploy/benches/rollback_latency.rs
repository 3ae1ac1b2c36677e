//! Rollback latency: from the alarm's state change to traffic fully back on the last good
//! revision (issue 14's target: under 1 s; CodeDeploy's own takes minutes).
//!
//! Each run is an ECS canary (`CodeDeployDefault.ECSCanary10Percent15Minutes`) of a bad release:
//! while the replacement task set gets traffic, a 5xx sample is recorded every millisecond, the
//! seed's alarm (Sum of 5xx ≥ 20 over 3 periods of 60 s, periods scaled to 60 ms) goes to ALARM,
//! and the engine moves traffic back. The engine measures the interval itself
//! (`kiln.rollback.trafficRestoredMs`, from the alarm's state change on the monotonic clock to the
//! traffic control confirming 100/0); the in-memory traffic control adds no latency of its own, so
//! this is kiln's overhead: the record's journal writes and the engine's reaction.
//!
//! `cargo bench -p kiln-deploy --bench rollback_latency [-- RUNS]` prints a markdown table.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use kiln_deploy::record::DeploymentStatus;
use kiln_deploy::Deployment;

const GROUP: &str = "applicationName: shop
deploymentGroupName: ecs
computePlatform: ECS
deploymentConfigName: CodeDeployDefault.ECSCanary10Percent15Minutes
alarmConfiguration:
  alarms:
    - {name: errors, metric: 5xx, statistic: Sum, period: 60, evaluationPeriods: 3, comparisonOperator: GreaterThanOrEqualToThreshold, threshold: 20, treatMissingData: notBreaching}
autoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_STOP_ON_ALARM]}
targets: {driver: fake, instances: [task-1, task-2]}
";

const APPSPEC: &str = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties: {TaskDefinition: td, LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}}\n";

async fn one(alarm_interval: Duration) -> (f64, f64) {
    let mut h = Harness::new(&["task-1", "task-2"]);
    h.options.alarm_interval = alarm_interval;
    h.metrics.declare("5xx");
    let plan = h.plan(&group(GROUP), bundle(&h.path(), "v2", APPSPEC, &[]));
    let env = h.env();
    let bad = async {
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
    };
    let out = tokio::select! {
        out = Deployment::run(&plan, &env) => out.unwrap(),
        _ = bad => unreachable!(),
    };
    assert_eq!(out.deployment.status, DeploymentStatus::Stopped);
    let rb = out.rollback.expect("rolled back");
    assert_eq!(rb.status, DeploymentStatus::Succeeded);
    let restored = out.deployment.kiln.rollback.as_ref().and_then(|r| r.traffic_restored_ms).expect("timed");
    // The whole rollback: alarm → rollback deployment complete (record timestamps, ms).
    let t = |s: &str| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
    let changed = out.deployment.kiln.alarms[0].history.iter().find(|c| c.state == kiln_deploy::alarm::AlarmState::Alarm).unwrap().timestamp.clone();
    let whole = (t(rb.complete_time.as_ref().unwrap()) - t(&changed)).as_seconds_f64() * 1000.0;
    (restored, whole)
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let pct = |p: f64| v[((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    (v[0], pct(0.5), pct(0.95), v[v.len() - 1])
}

fn main() {
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(30);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    println!("| alarm interval | runs | traffic back after the alarm: min / median / p95 / max (ms) | whole rollback deployment done: median / max (ms) |");
    println!("|---|---|---|---|");
    for interval in [Duration::from_millis(100), Duration::from_millis(10)] {
        let mut restored = Vec::new();
        let mut whole = Vec::new();
        for _ in 0..runs {
            let (r, w) = rt.block_on(one(interval));
            restored.push(r);
            whole.push(w);
        }
        let (min, med, p95, max) = stats(restored);
        let (_, wmed, _, wmax) = stats(whole);
        println!("| {} ms | {runs} | {min:.3} / {med:.3} / {p95:.3} / {max:.3} | {wmed:.1} / {wmax:.1} |", interval.as_millis());
    }
}
