//! A deployment page with a long history, read and rendered as `kiln ui` serves it (and as each
//! live update re-renders it): 3 alarms with 500 datapoints each (kiln-deploy's bound) and 100
//! state changes each, 200 traffic weight changes, 20 targets with 8 lifecycle events each and
//! a 2 KiB hook log tail apiece.
//!
//! `cargo bench -p kiln-ui --bench deployment_page`

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use kiln_record::{RecordId, Records};

const ID: &str = "d-BENCH0001";

fn ts(s: u64) -> String {
    format!("2024-05-01T{:02}:{:02}:{:02}.000Z", 12 + s / 3600, (s / 60) % 60, s % 60)
}

fn record(root: &Path) {
    let dir = root.join(".kiln/deployments").join(ID);
    std::fs::create_dir_all(&dir).unwrap();
    let alarms: Vec<serde_json::Value> = (0..3)
        .map(|a| {
            let points: Vec<_> = (0..500u64).map(|i| serde_json::json!({"timestamp": ts(i * 10), "value": if i % 37 == 0 { serde_json::Value::Null } else { serde_json::json!((i % 50) as f64 * 0.7) }, "state": if i % 50 > 40 { "ALARM" } else { "OK" }})).collect();
            let history: Vec<_> = (0..100u64).map(|i| serde_json::json!({"alarmName": format!("alarm-{a}"), "state": if i % 2 == 0 { "ALARM" } else { "OK" }, "stateReason": "Threshold Crossed: 3 out of the last 3 datapoints [9.0, 14.0, 21.0] were greater than or equal to the threshold (5.0)", "timestamp": ts(i * 50)})).collect();
            serde_json::json!({"alarmName": format!("alarm-{a}"), "definition": "Sum of m >= 20 for 3 datapoint(s) within 3 minute(s)", "stateValue": "OK", "stateReason": "ok", "stateUpdatedTimestamp": ts(4990),
                "history": history, "metricName": "router.replacement.HTTPCode_Target_5XX_Count", "statistic": "Sum", "period": 60, "comparisonOperator": "GreaterThanOrEqualToThreshold", "threshold": 20.0, "datapoints": points})
        })
        .collect();
    let traffic: Vec<_> = (0..200u64).map(|i| serde_json::json!({"at": ts(i * 25), "weights": {"original": 100 - (i % 11) * 10, "replacement": (i % 11) * 10}, "reason": "shift-traffic"})).collect();
    let events = ["ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall", "ApplicationStart", "ValidateService", "AllowTraffic"];
    let targets: Vec<_> = (0..20)
        .map(|t| {
            let ev: Vec<_> = events.iter().map(|e| serde_json::json!({"lifecycleEventName": e, "status": "Failed", "startTime": ts(10), "endTime": ts(20), "diagnostics": {"errorCode": "ScriptFailed", "scriptName": "hooks/x.sh", "message": "failed", "logTail": "x".repeat(2000)}})).collect();
            serde_json::json!({"deploymentTargetType": "InstanceTarget", "instanceTarget": {"deploymentId": ID, "targetId": format!("i-{t}"), "status": "Failed", "lastUpdatedAt": ts(30), "lifecycleEvents": ev}})
        })
        .collect();
    let info = serde_json::json!({"applicationName": "shop", "deploymentGroupName": "web", "deploymentConfigName": "CodeDeployDefault.OneAtATime", "deploymentId": ID, "computePlatform": "Server",
        "status": "Stopped", "createTime": ts(0), "completeTime": ts(5000), "creator": "user", "deploymentTargets": targets,
        "kiln": {"driver": "local", "fleet": [], "traffic": {"current": {"original": 100, "replacement": 0}, "history": traffic}, "alarms": alarms}});
    std::fs::write(dir.join("deployment.json"), serde_json::to_vec_pretty(&info).unwrap()).unwrap();
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    record(tmp.path());
    let records = Records::of_project(tmp.path());
    let id = RecordId::parse(ID).unwrap();
    let size = std::fs::metadata(tmp.path().join(".kiln/deployments").join(ID).join("deployment.json")).unwrap().len();
    let page = |r: &Records| {
        let d = r.deployment(&id).unwrap();
        kiln_ui::render::layout::page(ID, kiln_ui::render::layout::Mode::Server, kiln_ui::render::layout::Nav::Deployments, kiln_ui::render::deployment::page(&d, None)).into_string()
    };
    eprintln!("deployment.json: {size} bytes; the page: {} bytes", page(&records).len());
    let mut g = c.benchmark_group("deployment_page");
    g.sample_size(20);
    g.bench_function("read and render (1,500 datapoints, 200 weight changes, 20 targets)", |b| b.iter(|| page(&records).len()));
    let d = records.deployment(&id).unwrap();
    g.bench_function("render only (a live update)", |b| b.iter(|| kiln_ui::render::deployment::body(&d).into_string().len()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
