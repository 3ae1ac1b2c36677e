//! Stopping a running build (CodeBuild's StopBuild, what a batch does on fast-fail, Ctrl-C and its
//! timeout), a build that is one build of a batch (its variables, `buildBatchArn`, a uuid picked
//! by the caller), and several builds running at once in one process.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_engine::{run_build, BatchMember, BuildOptions, NoPlugins, PhaseStatus, PhaseType, Silent, Stop};

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(spec: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("buildspec.yml"), spec).unwrap();
        std::fs::create_dir_all(dir.path().join("scratch")).unwrap();
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn opts(&self) -> BuildOptions {
        let mut opts = BuildOptions::new(self.path().to_path_buf(), self.path().join("buildspec.yml"));
        // The engine's own logic is under test here; the sandbox has its own suites.
        opts.sandbox = false;
        opts.scratch_base = Some(self.path().join("scratch"));
        opts
    }

    async fn build(&self, opts: &BuildOptions) -> kiln_engine::BuildOutcome {
        let text = std::fs::read_to_string(self.path().join("buildspec.yml")).unwrap();
        let parsed = kiln_spec::parse_buildspec(&text);
        let spec = parsed.spec.unwrap_or_else(|| panic!("{:?}", parsed.diagnostics));
        run_build(&spec, text.as_bytes(), opts, Box::new(Silent), &NoPlugins).await.unwrap()
    }
}

fn marker() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("30.{:05}{:09}", std::process::id() % 100_000, nanos)
}

/// Live processes whose command line holds `m`.
fn alive(m: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat.rsplit_once(')').is_some_and(|(_, t)| t.trim_start().starts_with('Z'));
        if !zombie && String::from_utf8_lossy(&cmd).replace('\0', " ").contains(m) {
            out.push(pid);
        }
    }
    out
}

fn phase(r: &kiln_engine::BuildRecord, t: PhaseType) -> Option<&kiln_engine::record::PhaseRecord> {
    r.phases.iter().find(|p| p.phase_type == t)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_ends_the_running_command_kills_its_tree_and_skips_the_rest() {
    let m = marker();
    let p = Project::new(&format!(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - sh -c 'sleep {m}' &\n      - sleep {m}\n    finally:\n      - touch finally-ran\n  post_build:\n    commands:\n      - touch post-build-ran\nartifacts:\n  files: ['**/*']\n"
    ));
    let stop = Stop::new();
    let mut opts = p.opts();
    opts.in_place = true;
    opts.stop = Some(stop.clone());
    let stopper = {
        let (stop, m) = (stop.clone(), m.clone());
        tokio::spawn(async move {
            let waited = Instant::now();
            while alive(&m).len() < 2 && waited.elapsed() < Duration::from_secs(20) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            stop.stop("fast-fail: `other` failed");
        })
    };
    let started = Instant::now();
    let out = p.build(&opts).await;
    stopper.await.unwrap();
    let r = &out.record;
    assert!(started.elapsed() < Duration::from_secs(20), "the build went on for {:?}", started.elapsed());
    assert_eq!(r.build_status, "STOPPED", "{:#?}", r.phases);
    let build = phase(r, PhaseType::Build).unwrap();
    assert_eq!(build.phase_status, Some(PhaseStatus::Stopped));
    assert_eq!(build.contexts[0].status_code, "BUILD_STOPPED");
    assert!(build.contexts[0].message.contains("fast-fail: `other` failed"), "{:?}", build.contexts);
    assert!(phase(r, PhaseType::PostBuild).is_none() && phase(r, PhaseType::UploadArtifacts).is_none(), "{:#?}", r.phases);
    assert!(phase(r, PhaseType::Finalizing).is_some());
    assert!(!p.path().join("finally-ran").exists(), "a stopped phase runs no `finally`");
    assert!(!p.path().join("post-build-ran").exists());
    assert!(r.artifacts.is_none());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !alive(&m).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(alive(&m).is_empty(), "the build's processes outlived the stop: {:?}", alive(&m));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_build_stopped_before_it_starts_runs_nothing() {
    let p = Project::new("version: 0.2\nphases:\n  install:\n    commands:\n      - touch ran\n");
    let stop = Stop::new();
    stop.stop("the batch was stopped");
    let mut opts = p.opts();
    opts.in_place = true;
    opts.stop = Some(stop);
    let out = p.build(&opts).await;
    assert_eq!(out.record.build_status, "STOPPED");
    assert!(phase(&out.record, PhaseType::Install).is_none());
    assert!(!p.path().join("ran").exists());
    assert!(out.record.build_complete);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_build_gets_its_variables_batch_arn_and_the_uuid_it_was_given() {
    let p = Project::new(
        "version: 0.2\nenv:\n  variables:\n    FROM_SPEC: spec\n    OVERRIDDEN: spec\n    BY_CLI: spec\nphases:\n  build:\n    commands:\n      - printf '%s|%s|%s|%s|%s|%s' \"$CODEBUILD_BATCH_BUILD_IDENTIFIER\" \"$CODEBUILD_BUILD_BATCH_TRIGGERED\" \"$FROM_SPEC\" \"$OVERRIDDEN\" \"$BY_CLI\" \"$CODEBUILD_BUILD_ID\" > seen\n",
    );
    let mut opts = p.opts();
    opts.in_place = true;
    let uuid = "0b2a6c1e-0000-4000-8000-00000000abcd";
    opts.uuid = Some(uuid.into());
    opts.env_overrides = vec![("BY_CLI".into(), "cli".into())];
    let arn = "arn:aws:codebuild:us-east-1:000000000000:build-batch/proj:1111";
    opts.batch = Some(BatchMember {
        batch_arn: arn.into(),
        identifier: "linux_small".into(),
        variables: vec![("OVERRIDDEN".into(), "batch".into()), ("BY_CLI".into(), "batch".into())],
        notices: vec!["batch `env.image` is recorded but not applied".into()],
    });
    let out = p.build(&opts).await;
    let r = &out.record;
    assert_eq!(r.build_status, "SUCCEEDED", "{:#?}", r.phases);
    let project = kiln_engine::context::project_name(&std::fs::canonicalize(p.path()).unwrap());
    let seen = std::fs::read_to_string(p.path().join("seen")).unwrap();
    assert_eq!(seen, format!("linux_small|true|spec|batch|cli|{project}:{uuid}"));
    assert_eq!(r.build_batch_arn.as_deref(), Some(arn));
    assert_eq!(r.id, format!("{project}:{uuid}"));
    assert!(out.record_dir.ends_with(PathBuf::from(".kiln/builds").join(uuid)));
    let json = serde_json::to_value(r).unwrap();
    assert_eq!(json["buildBatchArn"], arn);
    assert_eq!(json["kiln"]["batch"]["identifier"], "linux_small");
    assert!(r.kiln.notices.iter().any(|n| n.contains("env.image")), "{:?}", r.kiln.notices);
    assert!(!r.kiln.notices.iter().any(|n| n.contains("single build ignores")), "{:?}", r.kiln.notices);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_build_says_batch_is_ignored_and_a_bad_uuid_is_refused() {
    let p = Project::new("version: 0.2\nbatch:\n  build-list:\n    - identifier: a\nphases:\n  build:\n    commands: ['true']\n");
    let mut opts = p.opts();
    opts.in_place = true;
    let out = p.build(&opts).await;
    assert!(out.record.kiln.notices.iter().any(|n| n.contains("kiln build --batch")), "{:?}", out.record.kiln.notices);
    assert!(serde_json::to_value(&out.record).unwrap().get("buildBatchArn").is_none());
    opts.uuid = Some("../escape".into());
    let text = std::fs::read_to_string(p.path().join("buildspec.yml")).unwrap();
    let spec = kiln_spec::parse_buildspec(&text).spec.unwrap();
    let e = run_build(&spec, text.as_bytes(), &opts, Box::new(Silent), &NoPlugins).await.err().expect("refused");
    assert!(e.to_string().contains("not a build uuid"), "{e}");
}

/// Builds of a batch run in one process (`exclusive_process: false`): one ending must not touch
/// another's processes, and each gets its own number, record and scratch space.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn builds_running_at_once_in_one_process_leave_each_other_alone() {
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - sleep \"$DELAY\"\n      - echo \"$DELAY\" > \"$CODEBUILD_SRC_DIR/done\"\nartifacts:\n  files: [done]\n");
    let runs = [("0", "quick"), ("1.5", "slow"), ("0.2", "middle")].map(|(delay, _)| {
        let mut opts = p.opts();
        opts.env_overrides = vec![("DELAY".into(), delay.into())];
        opts
    });
    let outs = futures_join(runs.iter().map(|o| p.build(o))).await;
    let mut numbers: Vec<u64> = outs.iter().map(|o| o.record.build_number).collect();
    numbers.sort();
    assert_eq!(numbers, [1, 2, 3]);
    for (o, delay) in outs.iter().zip(["0", "1.5", "0.2"]) {
        assert_eq!(o.record.build_status, "SUCCEEDED", "{delay}: {:#?}", o.record.phases);
        let done = std::fs::read_to_string(o.record_dir.join("artifacts").join(&o.record.project_name).join("done")).unwrap();
        assert_eq!(done.trim(), delay);
    }
    drop(outs);
    let left: Vec<_> = std::fs::read_dir(p.path().join("scratch")).unwrap().flatten().flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten()).collect();
    assert!(left.is_empty(), "scratch left behind: {left:?}");
}

/// Await every future at once on the current task.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("ready")).collect()
}
