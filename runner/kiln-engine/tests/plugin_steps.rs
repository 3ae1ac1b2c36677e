//! `uses:` steps through the engine with a fake plugin runner: they run in order with shell
//! commands, a failing plugin fails its phase like a failing command, and every run is recorded.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use kiln_engine::{run_build, BuildOptions, PluginRequest, PluginRun, PluginRunner, Silent};

/// Succeeds unless `with: {fail: true}`; remembers what it was asked to do.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<(String, serde_json::Value, bool)>>,
}

impl PluginRunner for Fake {
    fn run<'a>(&'a self, req: PluginRequest<'a>) -> Pin<Box<dyn Future<Output = PluginRun> + Send + 'a>> {
        Box::pin(async move {
            let saw_source = req.src_dir.join("marker.txt").is_file();
            self.calls.lock().unwrap().push((req.plugin.to_string(), req.with.clone(), saw_source));
            std::fs::write(req.out_dir.join("report.txt"), "ok").unwrap();
            let fail = req.with.get("fail").and_then(|v| v.as_bool()).unwrap_or(false);
            PluginRun {
                uses: req.plugin.to_string(),
                name: req.plugin.to_string(),
                version: "1.0.0".into(),
                outcome: if fail { "failed".into() } else { "succeeded".into() },
                findings: 2,
                logs: vec!["scanned 1 file".into()],
                ..Default::default()
            }
        })
    }
}

async fn build(spec: &str, fake: &Fake) -> kiln_engine::BuildRecord {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("buildspec.yml"), spec).unwrap();
    let parsed = kiln_spec::parse_buildspec(spec);
    let spec = parsed.spec.unwrap_or_else(|| panic!("{:?}", parsed.diagnostics));
    let mut opts = BuildOptions::new(dir.path().to_path_buf(), dir.path().join("buildspec.yml"));
    opts.sandbox = false;
    opts.scratch_base = Some(dir.path().join("scratch"));
    std::fs::create_dir_all(dir.path().join("scratch")).unwrap();
    let out = run_build(&spec, b"", &opts, Box::new(Silent), fake).await.unwrap();
    out.record
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_steps_run_between_commands_and_are_recorded() {
    let fake = Fake::default();
    let r = build(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi > marker.txt\n      - uses: scan\n        with: {level: high, paths: [src]}\n      - echo after\n",
        &fake,
    )
    .await;
    assert_eq!(r.build_status, "SUCCEEDED", "{:#?}", r.phases);
    let calls = fake.calls.lock().unwrap().clone();
    assert_eq!(calls, vec![("scan".to_string(), serde_json::json!({"level": "high", "paths": ["src"]}), true)]);
    assert_eq!(r.kiln.plugins.len(), 1);
    assert_eq!(r.kiln.plugins[0].findings, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_plugin_fails_the_phase_and_skips_the_rest() {
    let fake = Fake::default();
    let r = build(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - uses: scan\n        with: {fail: true}\n      - echo never\n    finally:\n      - uses: cleanup\n  post_build:\n    commands:\n      - 'true'\n",
        &fake,
    )
    .await;
    assert_eq!(r.build_status, "FAILED");
    let build = r.phases.iter().find(|p| p.phase_type == kiln_engine::PhaseType::Build).unwrap();
    assert_eq!(build.phase_status, Some(kiln_engine::PhaseStatus::Failed));
    assert!(build.contexts[0].message.contains("plugin scan"), "{:?}", build.contexts);
    let names: Vec<String> = fake.calls.lock().unwrap().iter().map(|c| c.0.clone()).collect();
    assert_eq!(names, vec!["scan", "cleanup"], "finally still runs its plugin step");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_plugin_host_a_uses_step_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let spec = kiln_spec::parse_buildspec("version: 0.2\nphases:\n  build:\n    commands:\n      - uses: scan\n").spec.unwrap();
    let mut opts = BuildOptions::new(dir.path().to_path_buf(), dir.path().join("buildspec.yml"));
    opts.sandbox = false;
    let out = run_build(&spec, b"", &opts, Box::new(Silent), &kiln_engine::NoPlugins).await.unwrap();
    assert_eq!(out.record.build_status, "FAILED");
    assert!(out.record.kiln.plugins[0].message.as_deref().unwrap().contains("no plugin host"));
}

/// A runner whose step never finishes (a plugin kiln is still reading or compiling).
struct Stuck;

impl PluginRunner for Stuck {
    fn run<'a>(&'a self, _req: PluginRequest<'a>) -> Pin<Box<dyn Future<Output = PluginRun> + Send + 'a>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_build_timeout_bounds_a_plugin_step_that_never_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let spec = kiln_spec::parse_buildspec("version: 0.2\nphases:\n  build:\n    commands:\n      - uses: slow\n      - echo never\n  post_build:\n    commands:\n      - 'true'\n").spec.unwrap();
    let mut opts = BuildOptions::new(dir.path().to_path_buf(), dir.path().join("buildspec.yml"));
    opts.sandbox = false;
    opts.scratch_base = Some(dir.path().join("scratch"));
    std::fs::create_dir_all(dir.path().join("scratch")).unwrap();
    opts.timeout = Some(std::time::Duration::from_secs(2));
    let started = std::time::Instant::now();
    let built = tokio::time::timeout(std::time::Duration::from_secs(30), run_build(&spec, b"", &opts, Box::new(Silent), &Stuck)).await;
    let out = built.expect("the build did not end at its --timeout: kiln waited for the plugin step").unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "{:?}", started.elapsed());
    let r = out.record;
    assert_eq!(r.build_status, "TIMED_OUT", "{:#?}", r.phases);
    let build = r.phases.iter().find(|p| p.phase_type == kiln_engine::PhaseType::Build).unwrap();
    assert_eq!(build.phase_status, Some(kiln_engine::PhaseStatus::TimedOut));
    assert!(build.contexts[0].message.contains("the build timed out while running plugin slow"), "{:?}", build.contexts);
    assert_eq!(r.kiln.plugins[0].outcome, "error");
    assert!(r.kiln.plugins[0].message.as_deref().unwrap().contains("did not finish before the timeout"));
}
