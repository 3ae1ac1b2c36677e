//! The scheduler with a fake launcher (each "build" sleeps, then ends with a chosen status, or
//! ends STOPPED when stopped): dependency order, the `--parallel` bound, fast-fail,
//! ignore-failure, failed dependencies, a stop from outside, the batch timeout, a panicking
//! build, and the record after each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_batch::record::{BatchConfig, Recorder, Start};
use kiln_batch::schedule::{self, Quiet};
use kiln_batch::{plan, BatchPlan, ChildOutcome, Controls, Ended, Launched, Launcher};
use kiln_engine::Stop;

#[derive(Default)]
struct Fake {
    /// identifier → (milliseconds, status; "PANIC" panics)
    script: HashMap<String, (u64, &'static str)>,
    plan: Option<BatchPlan>,
    started: Mutex<Vec<(String, Instant)>>,
    ended: Mutex<Vec<(String, Instant, String)>>,
    running: AtomicUsize,
    most: AtomicUsize,
}

impl Launcher for Fake {
    fn launch(self: Arc<Self>, index: usize, stop: Stop) -> Launched {
        let id = self.plan.as_ref().unwrap().builds[index].identifier.clone();
        let (ms, status) = self.script.get(&id).copied().unwrap_or((10, "SUCCEEDED"));
        let me = Arc::clone(&self);
        let name = id.clone();
        Launched {
            build_id: format!("proj:{index:08}-0000-4000-8000-000000000000"),
            arn: format!("arn:aws:codebuild:us-east-1:000000000000:build/proj:{index}"),
            record_dir: std::path::PathBuf::from(format!("/records/{index}")),
            run: Box::pin(async move {
                me.started.lock().unwrap().push((name.clone(), Instant::now()));
                let now = me.running.fetch_add(1, Ordering::SeqCst) + 1;
                me.most.fetch_max(now, Ordering::SeqCst);
                let end = tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(ms)) => status.to_string(),
                    () = stop.stopped() => "STOPPED".to_string(),
                };
                me.running.fetch_sub(1, Ordering::SeqCst);
                me.ended.lock().unwrap().push((name, Instant::now(), end.clone()));
                if end == "PANIC" {
                    panic!("the launcher panicked");
                }
                ChildOutcome { build_status: end, ..Default::default() }
            }),
        }
    }
}

struct Run {
    fake: Arc<Fake>,
    ended: Ended,
    record: serde_json::Value,
    took: Duration,
    _dir: tempfile::TempDir,
}

impl Run {
    fn start_of(&self, id: &str) -> Instant {
        self.fake.started.lock().unwrap().iter().find(|(n, _)| n == id).unwrap_or_else(|| panic!("{id} never started")).1
    }
    fn end_of(&self, id: &str) -> (Instant, String) {
        let e = self.fake.ended.lock().unwrap();
        let (_, t, s) = e.iter().find(|(n, _, _)| n == id).unwrap_or_else(|| panic!("{id} never ended"));
        (*t, s.clone())
    }
    fn started(&self, id: &str) -> bool {
        self.fake.started.lock().unwrap().iter().any(|(n, _)| n == id)
    }
    fn group(&self, id: &str) -> &serde_json::Value {
        self.record["buildGroups"].as_array().unwrap().iter().find(|g| g["identifier"] == id).unwrap()
    }
    fn kiln_build(&self, id: &str) -> &serde_json::Value {
        self.record["kiln"]["builds"].as_array().unwrap().iter().find(|g| g["identifier"] == id).unwrap()
    }
}

async fn run(spec: &str, script: &[(&str, u64, &'static str)], parallel: usize, outside: Option<(Duration, &str)>, timeout: Option<Duration>) -> Run {
    let parsed = kiln_spec::parse_buildspec(spec);
    assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
    let p = plan(parsed.spec.unwrap().batch.as_ref()).unwrap();
    let fake = Arc::new(Fake { script: script.iter().map(|(i, ms, s)| (i.to_string(), (*ms, *s))).collect(), plan: Some(p.clone()), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let mut recorder = Recorder::start(Start {
        plan: &p,
        uuid: "batch-uuid",
        project: "proj",
        region: "us-east-1",
        number: 1,
        initiator: "tester",
        source_dir: dir.path(),
        record_dir: dir.path(),
        buildspec: kiln_engine::record::BuildspecRef { path: "buildspec.yml".into(), sha256: "0".repeat(64) },
        source_version: None,
        resolved_source_version: None,
        build_timeout_minutes: None,
        config: BatchConfig { combine_artifacts: false, timeout_in_mins: 480 },
        parallel,
        notices: Vec::new(),
    })
    .unwrap();
    let stop = Stop::new();
    if let Some((after, why)) = outside {
        let (stop, why) = (stop.clone(), why.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            stop.stop(why);
        });
    }
    let controls = Controls { parallel, stop, deadline: timeout.map(|t| tokio::time::Instant::now() + t) };
    let started = Instant::now();
    let launcher: Arc<dyn Launcher> = fake.clone();
    let ended = schedule::run(&p, launcher, &mut recorder, &mut Quiet, controls).await.unwrap();
    let took = started.elapsed();
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(recorder.path()).unwrap()).unwrap();
    Run { fake, ended, record, took, _dir: dir }
}

const GRAPH: &str = "version: 0.2\nbatch:\n  build-graph:\n    - identifier: package\n      depend-on: [test_a, test_b]\n    - identifier: test_a\n      depend-on: [compile]\n    - identifier: test_b\n      depend-on: [compile]\n    - identifier: compile\nphases:\n  build:\n    commands: ['true']\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_graph_runs_in_dependency_order_and_independent_builds_overlap() {
    let r = run(GRAPH, &[("compile", 150, "SUCCEEDED"), ("test_a", 300, "SUCCEEDED"), ("test_b", 300, "SUCCEEDED"), ("package", 50, "SUCCEEDED")], 4, None, None).await;
    assert_eq!(r.ended, Ended::Completed);
    assert!(r.start_of("test_a") >= r.end_of("compile").0 && r.start_of("test_b") >= r.end_of("compile").0);
    assert!(r.start_of("package") >= r.end_of("test_a").0.max(r.end_of("test_b").0));
    // The two tests ran at the same time: each started before the other ended.
    assert!(r.start_of("test_a") < r.end_of("test_b").0 && r.start_of("test_b") < r.end_of("test_a").0);
    assert_eq!(r.fake.most.load(Ordering::SeqCst), 2);
    for id in ["compile", "test_a", "test_b", "package"] {
        assert_eq!(r.group(id)["currentBuildSummary"]["buildStatus"], "SUCCEEDED", "{id}");
    }
    assert_eq!(r.group("package")["dependsOn"], serde_json::json!(["test_a", "test_b"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_bounds_how_many_run_at_once() {
    let list = "version: 0.2\nbatch:\n  build-list:\n    - identifier: a\n    - identifier: b\n    - identifier: c\n    - identifier: d\n    - identifier: e\nphases:\n  build:\n    commands: ['true']\n";
    let script: Vec<(&str, u64, &str)> = ["a", "b", "c", "d", "e"].iter().map(|i| (*i, 120, "SUCCEEDED")).collect();
    let r = run(list, &script, 2, None, None).await;
    assert_eq!(r.fake.most.load(Ordering::SeqCst), 2);
    assert!(r.took >= Duration::from_millis(3 * 120), "5 builds of 120 ms two at a time take 3 rounds: {:?}", r.took);
    let r = run(list, &script, 5, None, None).await;
    assert_eq!(r.fake.most.load(Ordering::SeqCst), 5);
    // Written order decides who goes first.
    let order: Vec<String> = r.fake.started.lock().unwrap().iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(order, ["a", "b", "c", "d", "e"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn fast_fail_stops_the_running_builds_and_starts_no_more() {
    let spec = "version: 0.2\nbatch:\n  fast-fail: true\n  build-list:\n    - identifier: sleeper\n    - identifier: breaker\n    - identifier: queued\nphases:\n  build:\n    commands: ['true']\n";
    let r = run(spec, &[("sleeper", 30_000, "SUCCEEDED"), ("breaker", 100, "FAILED")], 2, None, None).await;
    assert_eq!(r.ended, Ended::FastFailed("breaker".into()));
    assert!(r.took < Duration::from_secs(10), "{:?}", r.took);
    assert_eq!(r.end_of("sleeper").1, "STOPPED");
    assert!(!r.started("queued"));
    assert_eq!(r.group("sleeper")["currentBuildSummary"]["buildStatus"], "STOPPED");
    assert!(r.group("queued").get("currentBuildSummary").is_none());
    assert_eq!(r.kiln_build("queued")["notStarted"], "fast-fail: `breaker` failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_fast_fail_running_and_queued_list_builds_complete() {
    let spec = "version: 0.2\nbatch:\n  build-list:\n    - identifier: slow\n    - identifier: breaker\n    - identifier: queued\nphases:\n  build:\n    commands: ['true']\n";
    let r = run(spec, &[("slow", 300, "SUCCEEDED"), ("breaker", 50, "FAILED")], 2, None, None).await;
    assert_eq!(r.ended, Ended::Completed);
    assert_eq!(r.end_of("slow").1, "SUCCEEDED");
    assert_eq!(r.end_of("queued").1, "SUCCEEDED");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_dependency_blocks_its_dependents_unless_it_may_fail() {
    let r = run(GRAPH, &[("compile", 20, "FAILED")], 4, None, None).await;
    assert_eq!(r.ended, Ended::Completed);
    for id in ["test_a", "test_b", "package"] {
        assert!(!r.started(id), "{id} started after its dependency failed");
    }
    assert_eq!(r.kiln_build("test_a")["notStarted"], "its dependency `compile` ended FAILED");
    assert_eq!(r.kiln_build("package")["notStarted"], "its dependency `test_a` never started");
    // The same graph with `ignore-failure` on compile: everything still runs.
    let tolerant = GRAPH.replace("    - identifier: compile\n", "    - identifier: compile\n      ignore-failure: true\n");
    let r = run(&tolerant, &[("compile", 20, "FAILED")], 4, None, None).await;
    assert!(r.started("package"));
    assert_eq!(r.group("compile")["ignoreFailure"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_from_outside_stops_everything_and_the_timeout_too() {
    let spec = "version: 0.2\nbatch:\n  build-graph:\n    - identifier: a\n    - identifier: b\n    - identifier: after\n      depend-on: [a]\nphases:\n  build:\n    commands: ['true']\n";
    let long = [("a", 30_000, "SUCCEEDED"), ("b", 30_000, "SUCCEEDED")];
    let r = run(spec, &long, 4, Some((Duration::from_millis(200), "SIGTERM")), None).await;
    assert_eq!(r.ended, Ended::Stopped("SIGTERM".into()));
    assert!(r.took < Duration::from_secs(10));
    assert_eq!((r.end_of("a").1, r.end_of("b").1), ("STOPPED".into(), "STOPPED".into()));
    assert_eq!(r.kiln_build("after")["notStarted"], "the batch was stopped (SIGTERM)");
    let r = run(spec, &long, 4, None, Some(Duration::from_millis(200))).await;
    assert_eq!(r.ended, Ended::TimedOut);
    assert_eq!(r.end_of("b").1, "STOPPED");
    assert_eq!(r.kiln_build("after")["notStarted"], "the batch timed out");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_build_whose_run_panics_is_a_fault_and_the_batch_goes_on() {
    let spec = "version: 0.2\nbatch:\n  build-list:\n    - identifier: boom\n    - identifier: fine\nphases:\n  build:\n    commands: ['true']\n";
    let r = run(spec, &[("boom", 10, "PANIC"), ("fine", 100, "SUCCEEDED")], 2, None, None).await;
    assert_eq!(r.group("boom")["currentBuildSummary"]["buildStatus"], "FAULT");
    assert!(r.kiln_build("boom")["fault"].as_str().unwrap().contains("panicked"), "{}", r.kiln_build("boom"));
    assert_eq!(r.group("fine")["currentBuildSummary"]["buildStatus"], "SUCCEEDED");
}
