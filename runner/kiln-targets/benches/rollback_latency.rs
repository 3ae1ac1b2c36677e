//! Rollback latency with the real router: from the alarm's state change to traffic fully back on
//! the last good revision, for an ECS-style canary (`CodeDeployDefault.ECSCanary10Percent5Minutes`)
//! of a bad release served by real processes (python3) behind kiln-router, under a load of 4
//! clients. The alarm is `router.replacement.HTTPCode_Target_5XX_Count` > 0 over one 60 s period
//! (600 ms at the bench's time scale of 0.01), evaluated every 50 ms.
//!
//! The engine measures the interval (`kiln.rollback.trafficRestoredMs`: the alarm's state change
//! on the monotonic clock → the router confirming 100/0, which is when no new request can reach
//! the canary). Also printed: the whole deployment's wall time and the 5xx the clients saw.
//!
//! `cargo bench -p kiln-targets --bench rollback_latency [-- RUNS]` prints a markdown table.

#[path = "../../kiln-deploy/tests/common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use kiln_deploy::record::DeploymentStatus;
use support::*;

const GROUP: &str = "applicationName: shop\ndeploymentGroupName: ecs\ncomputePlatform: ECS\ndeploymentConfigName: CodeDeployDefault.ECSCanary10Percent5Minutes\nalarmConfiguration:\n  alarms:\n    - {name: canary-errors, metric: router.replacement.HTTPCode_Target_5XX_Count, statistic: Sum, period: 60, evaluationPeriods: 1, comparisonOperator: GreaterThanThreshold, threshold: 0, treatMissingData: notBreaching}\nautoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_STOP_ON_ALARM]}\ntargets: {driver: local, instances: [task-1]}\n";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10);
    let Some(py) = python() else {
        eprintln!("python3 is not installed: the bench's service is a python3 script");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let (mut restored, mut walls, mut bad) = (Vec::new(), Vec::new(), Vec::new());
    rt.block_on(async {
        for i in 0..runs {
            let w = World::new(&["task-1"], serde_json::json!({"command": [py, "server.py"], "health-path": "/health"}), Box::new(common::Runner::default())).await;
            let good = w.deploy(GROUP, revision(w.dir.path(), "v1", ECS_APPSPEC, "."), 0.01).await;
            assert_eq!(good.deployment.status, DeploymentStatus::Succeeded, "{:?}", good.deployment.error_information);
            let stop = Arc::new(AtomicBool::new(false));
            let (tally, handles) = load(w.traffic.local_addr(), 4, stop.clone());
            let t0 = Instant::now();
            let out = w.deploy(GROUP, revision(w.dir.path(), "v2-bad", ECS_APPSPEC, "."), 0.01).await;
            let wall = t0.elapsed().as_secs_f64() * 1000.0;
            stop.store(true, Ordering::Relaxed);
            for h in handles {
                h.await.unwrap();
            }
            assert_eq!(out.deployment.status, DeploymentStatus::Stopped, "run {i}: {:?}", out.deployment.error_information);
            let ms = out.deployment.kiln.rollback.as_ref().and_then(|r| r.traffic_restored_ms).expect("trafficRestoredMs");
            let served_bad = tally.lock().unwrap().by_status.get(&500).copied().unwrap_or(0);
            restored.push(ms);
            walls.push(wall);
            bad.push(served_bad as f64);
            w.fleet.shutdown().await;
            w.traffic.shutdown().await;
        }
    });
    for v in [&mut restored, &mut walls, &mut bad] {
        v.sort_by(f64::total_cmp);
    }
    println!("| measure ({runs} runs) | min | p50 | p90 | max |");
    println!("|---|---|---|---|---|");
    for (name, v) in [("alarm → traffic back (ms)", &restored), ("bad deployment, start → rolled back (ms)", &walls), ("5xx seen by clients", &bad)] {
        println!("| {name} | {:.2} | {:.2} | {:.2} | {:.2} |", v[0], percentile(v, 0.5), percentile(v, 0.9), v[v.len() - 1]);
    }
}
