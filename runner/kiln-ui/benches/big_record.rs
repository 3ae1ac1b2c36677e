//! A big record's first screen: a build with 100,000 log lines in one phase and 5,000 SARIF
//! findings (a plugin's output), rendered as `kiln ui`'s build page (the last 400 log lines, the
//! first 200 findings) and as the standalone report (2,000 lines, 1,000 findings). The goal: a
//! served page under 1 s.
//!
//! `cargo bench -p kiln-ui --bench big_record`

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use kiln_record::{RecordId, Records};
use kiln_ui::model::{BuildPage, Limits};

const UUID: &str = "b16b16b1-0000-4000-8000-000000000001";

fn record(root: &Path) {
    let dir = root.join(".kiln/builds").join(UUID);
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::create_dir_all(dir.join("plugins/01-sast")).unwrap();
    let log: String = (0..100_000).map(|i| format!("[{i:06}] compiling module_{i} with <flags> -O2 --target x86_64-unknown-linux-gnu\n")).collect();
    std::fs::write(dir.join("logs/BUILD.log"), &log).unwrap();
    std::fs::write(dir.join("logs/build.log"), log.lines().map(|l| format!("[BUILD] {l}\n")).collect::<String>()).unwrap();
    let results: Vec<serde_json::Value> = (0..5000)
        .map(|i| serde_json::json!({"ruleId": format!("rule-{}", i % 40), "level": if i % 7 == 0 { "error" } else { "warning" }, "message": {"text": format!("finding {i}: user input reaches a sink")},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": format!("src/mod_{}.py", i % 300)}, "region": {"startLine": i % 500 + 1}}}]}))
        .collect();
    let sarif = serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "sast"}}, "results": results}]});
    std::fs::write(dir.join("plugins/01-sast/sast.sarif"), sarif.to_string()).unwrap();
    let build = serde_json::json!({
        "id": format!("big:{UUID}"), "buildNumber": 1, "projectName": "big", "startTime": "2024-05-01T12:00:00Z", "endTime": "2024-05-01T12:30:00Z",
        "currentPhase": "COMPLETED", "buildStatus": "SUCCEEDED", "buildComplete": true,
        "phases": [{"phaseType": "BUILD", "phaseStatus": "SUCCEEDED", "startTime": "2024-05-01T12:00:00Z", "endTime": "2024-05-01T12:30:00Z", "contexts": []}],
        "kiln": {"plugins": [{"uses": "sast", "name": "sast", "outcome": "succeeded", "findings": 5000, "outputs": [{"path": "plugins/01-sast/sast.sarif", "sha256": "00", "media_type": "application/sarif+json"}]}]}
    });
    std::fs::write(dir.join("build.json"), build.to_string()).unwrap();
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    record(tmp.path());
    let records = Records::of_project(tmp.path());
    let id = RecordId::parse(UUID).unwrap();
    let links = kiln_ui::FileLinks { prefix: String::new() };
    let mut g = c.benchmark_group("big_record");
    g.sample_size(10);
    g.bench_function("served build page (first screen)", |b| {
        b.iter(|| {
            let p = BuildPage::load(&records, &id, Limits::default(), None).unwrap();
            assert_eq!(p.findings.items.len(), 5000);
            kiln_ui::render::layout::page("big", kiln_ui::render::layout::Mode::Server, kiln_ui::render::layout::Nav::Builds, kiln_ui::render::build::body(&p, &links)).into_string().len()
        })
    });
    g.bench_function("standalone report", |b| b.iter(|| kiln_ui::report_html(&records, &id, None, &links).unwrap().len()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
