//! `kiln build --batch`: CodeBuild's start-build-batch. The buildspec's `batch:` is planned by
//! `kiln-batch`, every build it names runs through `kiln_engine::run_build` in its own sandbox,
//! working copy, scratch space and `.kiln/builds/<uuid>/` record, at most `--parallel` at once,
//! and the batch record `.kiln/batches/<uuid>/batch.json` follows along.
//!
//! Running several builds in this one process, and what makes it safe:
//! * each build is non-exclusive (`BuildOptions::exclusive_process` off): an exclusive build's
//!   end sweeps every child of the process, which kills the other builds' shells
//!   (`kiln-engine/tests/stop_and_batch.rs` shows it). A sandboxed build's processes die with its
//!   PID namespace anyway; kiln is made a subreaper once and sweeps what unsandboxed builds
//!   (`--no-sandbox`) left behind after the last build, so until then such escapees live on;
//! * each build runs on its own thread with its own two-worker runtime, as a single build does:
//!   the processes it starts are bound (parent-death signal) to threads that live as long as it;
//! * stale scratch space is swept once, before any build starts (`sweep_stale` takes only
//!   unlocked directories, and every running build holds its lock); a build's start removes
//!   partial files only from record directories whose lock is free, and a finished build's
//!   provenance is written under a temporary name that sweep never matches;
//! * the plugin host and its compile cache are shared: one wasmtime engine made once
//!   (`WarmHost::get` is a `OnceLock`), each call in its own store, cache files written to a
//!   temporary name and renamed (`tests/batch.rs` runs three plugin steps at once);
//! * build numbers come from the locked counter file, batch numbers from their own; records,
//!   logs and scratch directories are per build (their uuids are picked here).
//!
//! Every build is signed with one key: the configured one, or one ephemeral key for the whole
//! batch (its public key beside each provenance).
//!
//! Ctrl-C or SIGTERM stops every build (each ends `STOPPED`, its process tree killed, its record
//! and the batch record written); a second one exits at once, and the kernel then kills every
//! build's processes (each build's PID 1 dies with kiln).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use kiln_attest::KeyPair;
use kiln_batch::record::{BatchConfig, Recorder, Start};
use kiln_batch::{BatchPlan, ChildOutcome, Controls, Ended, FileRef, Launched, Launcher};
use kiln_engine::{BatchMember, BuildOptions, BuildOutcome, Stop};
use kiln_spec::BuildSpec;

use crate::batch_console::{BatchConsole, Progress};
use crate::build_cmd::{BuildArgs, Prepared};
use crate::{batch_provenance, exit, plugins, provenance, signing, validate, warm};

/// The batch timeout when `--batch-timeout` is not given (kiln proposal: CodeBuild documents no
/// default for `buildBatchConfig.timeoutInMins`; 8 hours is its longest build timeout of old).
const DEFAULT_BATCH_TIMEOUT_MINUTES: u64 = 480;

/// What kiln says when a batch is signed with an ephemeral key.
const EPHEMERAL_BATCH_WARNING: &str = "no signing key configured (kiln build --key, or `kiln: signing: key:` in the batch buildspec): every build's provenance and the batch statement are signed with an ephemeral key made for this batch, so they prove nothing beyond this batch's records; configure a key to get provenance others can verify";

/// One build's buildspec, read and checked before the batch starts.
struct Child {
    spec: BuildSpec,
    bytes: Vec<u8>,
    path: PathBuf,
    notices: Vec<String>,
}

/// Runs the builds of the batch (see the module docs).
struct BatchLauncher {
    plan: BatchPlan,
    children: Vec<Arc<Child>>,
    base: BuildOptions,
    source_dir: PathBuf,
    record_root: PathBuf,
    project: String,
    batch_arn: String,
    batch_uuid: String,
    hosting: Arc<warm::WarmHost>,
    key: Arc<KeyPair>,
    ephemeral: bool,
    builder_id: String,
    console: Arc<BatchConsole>,
    /// Each build's primary artifact as its record describes it (for COMBINE_ARTIFACTS).
    primary: std::sync::Mutex<Vec<Option<kiln_engine::record::ArtifactRecord>>>,
}

impl Launcher for BatchLauncher {
    fn launch(self: Arc<Self>, index: usize, stop: Stop) -> Launched {
        let uuid = kiln_batch::new_uuid();
        let build_id = format!("{}:{uuid}", self.project);
        let arn = kiln_engine::context::build_arn(&self.base.region, &build_id);
        let record_dir = self.record_root.join("builds").join(&uuid);
        // Each build runs on a thread of its own with a runtime of its own, exactly as a single
        // `kiln build` runs (two workers; the processes it starts die with it): one build's
        // blocking work never holds up another's, and the build's future need not be `Send`.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new().name(format!("kiln-build-{index}")).spawn(move || {
            let _ = tx.send(self.run_child(index, uuid, stop));
        });
        let run = async move {
            match spawned {
                Ok(_) => rx.await.unwrap_or_else(|_| ChildOutcome::fault("kiln failed while running this build (its thread panicked)".into())),
                Err(e) => ChildOutcome::fault(format!("cannot start a thread for this build: {e}")),
            }
        };
        Launched { build_id, arn, record_dir, run: Box::pin(run) }
    }
}

impl BatchLauncher {
    fn run_child(&self, index: usize, uuid: String, stop: Stop) -> ChildOutcome {
        let child = Arc::clone(&self.children[index]);
        let planned = &self.plan.builds[index];
        let mut opts = self.base.clone();
        opts.buildspec_path = child.path.clone();
        opts.uuid = Some(uuid);
        opts.stop = Some(stop);
        opts.exclusive_process = false;
        // Every build of a CodeBuild batch sees one CODEBUILD_INITIATOR naming the batch (Cypress
        // uses it as the shared --ci-build-id; thii/aws-codebuild-extras#3), in the form of an
        // assumed-role session, `<batch service role>/AWSCodeBuild-<uuid>`; kiln has no role.
        opts.initiator = format!("kiln-batch/AWSCodeBuild-{}", self.batch_uuid);
        opts.batch = Some(BatchMember { batch_arn: self.batch_arn.clone(), identifier: planned.identifier.clone(), variables: planned.variables.clone(), notices: child.notices.clone() });
        let reporter = self.console.reporter(index, &planned.identifier);
        let runner = plugins::HostRunner::new(self.hosting.clone(), self.source_dir.clone()).for_spec(&child.spec, &child.path);
        let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(r) => r,
            Err(e) => return ChildOutcome::fault(format!("cannot start the async runtime: {e}")),
        };
        let outcome = runtime.block_on(kiln_engine::run_build(&child.spec, &child.bytes, &opts, reporter, &runner));
        drop(runtime);
        match outcome {
            Ok(o) => self.finish_child(index, o),
            Err(e) => ChildOutcome::fault(e.to_string()),
        }
    }

    fn finish_child(&self, index: usize, outcome: BuildOutcome) -> ChildOutcome {
        let r = &outcome.record;
        if let Ok(mut p) = self.primary.lock() {
            p[index] = r.artifacts.clone();
        }
        let mut done = ChildOutcome { build_status: r.build_status.clone(), primary_artifact: r.artifacts.clone(), secondary_artifacts: r.secondary_artifacts.clone(), provenance: None, fault: None };
        match provenance::write_with(&outcome, &self.key, self.ephemeral, &self.builder_id, &self.hosting) {
            Ok(Some(w)) => match kiln_attest::util::sha256_file(&w.path) {
                Ok(sha256) => {
                    let rel = w.path.strip_prefix(&self.record_root).unwrap_or(&w.path);
                    done.provenance = Some(FileRef { path: rel.to_string_lossy().into_owned(), sha256 });
                }
                Err(e) => done = ChildOutcome::fault(format!("cannot read back its provenance {}: {e}", w.path.display())),
            },
            Ok(None) => {}
            Err(e) => {
                self.console.note(&format!("[{}] cannot write its provenance: {e}", self.plan.builds[index].identifier));
                done = ChildOutcome { build_status: "FAULT".into(), fault: Some(format!("cannot write its provenance: {e}")), ..done };
            }
        }
        if self.children[index].spec.kiln.report_html {
            crate::report_cmd::byproduct(&outcome.record_dir);
        }
        done
    }
}

/// A buildspec read and checked, with its bytes.
type Loaded = Arc<(BuildSpec, Vec<u8>)>;

/// Read and check every build's buildspec (the batch's own, or its `buildspec` override, a path
/// inside the project), each file once. Errors name the build and the file.
fn load_children(plan: &BatchPlan, own: (&BuildSpec, &[u8], &Path), source_dir: &Path) -> Result<Vec<Arc<Child>>, String> {
    let mut loaded: Vec<(PathBuf, Loaded)> = Vec::new();
    let mut out = Vec::new();
    for b in &plan.builds {
        let (spec, path) = match &b.buildspec {
            None => (Arc::new((own.0.clone(), own.1.to_vec())), own.2.to_path_buf()),
            Some(rel) => {
                let path = source_dir.join(rel);
                let canonical = std::fs::canonicalize(&path).map_err(|e| format!("the buildspec of `{}`, {}: {e}", b.identifier, path.display()))?;
                // A link inside the project must not lead a build to a file outside it.
                if !canonical.starts_with(source_dir) {
                    return Err(format!("the buildspec of `{}`, {}, leads outside the project (to {}); kiln reads a build's buildspec from the project only", b.identifier, path.display(), canonical.display()));
                }
                let spec = match loaded.iter().find(|(p, _)| *p == canonical) {
                    Some((_, s)) => Arc::clone(s),
                    None => {
                        let (s, bytes) = validate::load_for_build(&canonical, Some(source_dir)).ok_or_else(|| format!("the buildspec of `{}`, {}, is not valid (see above)", b.identifier, path.display()))?;
                        let s = Arc::new((s, bytes));
                        loaded.push((canonical.clone(), Arc::clone(&s)));
                        s
                    }
                };
                (spec, canonical)
            }
        };
        let mut notices: Vec<String> = b.recorded.settings().iter().map(|(k, v)| format!("the batch sets `{k}: {v}` for this build; kiln records it but does not apply it")).collect();
        if b.buildspec.is_some() && spec.0.batch.is_some() {
            notices.push("batches do not nest: this build's own `batch` section is ignored (CodeBuild runs no batch inside a batch)".into());
        }
        if b.buildspec.is_some() && spec.0.kiln.signing.is_some() {
            notices.push("this buildspec's `kiln: signing: key` is not used: every build of a batch is signed with the batch's key".into());
        }
        out.push(Arc::new(Child { spec: spec.0.clone(), bytes: spec.1.clone(), path, notices }));
    }
    Ok(out)
}

/// Run the batch; the exit code is 0 when it succeeded, 1 when it failed, timed out or was
/// stopped, 2 when kiln could not run it.
pub fn run(args: &BuildArgs, p: Prepared) -> ExitCode {
    let Prepared { spec, bytes, signing_key, opts: base } = p;
    if base.in_place {
        return exit::usage("--in-place cannot be used with --batch: every build of a batch gets its own working copy");
    }
    let plan = match kiln_batch::plan(spec.batch.as_ref()) {
        Ok(p) => p,
        Err(e) => return exit::internal(&format!("{}: {e}", base.buildspec_path.display())),
    };
    let parallel = args.parallel.map(usize::from).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let batch_timeout = match crate::build_cmd::minutes(args.batch_timeout) {
        Ok(t) => t.unwrap_or(Duration::from_secs(DEFAULT_BATCH_TIMEOUT_MINUTES * 60)),
        Err(e) => return exit::usage(&e),
    };
    let source_dir = match std::fs::canonicalize(&base.source_dir) {
        Ok(d) => d,
        Err(e) => return exit::internal(&format!("cannot open the source directory {}: {e}", base.source_dir.display())),
    };
    let record_root = base.record_root.clone().unwrap_or_else(|| source_dir.join(".kiln"));
    let project = kiln_engine::context::project_name(&source_dir);
    let batch_uuid = kiln_batch::new_uuid();
    let batches = record_root.join("batches");
    let record_dir = batches.join(&batch_uuid);
    let number = match kiln_engine::context::next_number(&record_root, "batch-number")
        .and_then(|n| kiln_engine::context::ensure_record_dir(&batches).map(|()| n))
        .and_then(|n| std::fs::create_dir(&record_dir).map(|()| n))
    {
        Ok(n) => n,
        Err(e) => return exit::internal(&format!("cannot create the batch record under {}: {e}", batches.display())),
    };
    let (key, ephemeral) = match signing_key {
        Some(k) => (k, false),
        None => match KeyPair::generate() {
            Ok(k) => (Arc::new(k), true),
            Err(e) => return exit::internal(&format!("cannot make a signing key: {e}")),
        },
    };
    let console = Arc::new(BatchConsole::new(args.json, &plan));
    let mut notices = plan.notices();
    if ephemeral {
        notices.push(EPHEMERAL_BATCH_WARNING.to_string());
    }
    for n in &notices {
        console.note(&format!("notice: {n}"));
    }
    let (source, _) = kiln_engine::git::source(&source_dir, base.source_version.as_ref());
    let mut recorder = match Recorder::start(Start {
        plan: &plan,
        uuid: &batch_uuid,
        project: &project,
        region: &base.region,
        number,
        initiator: &base.initiator,
        source_dir: &source_dir,
        record_dir: &record_dir,
        buildspec: kiln_engine::record::BuildspecRef { path: base.buildspec_path.display().to_string(), sha256: kiln_engine::sha256_hex(&bytes) },
        source_version: source.branch.clone().or(source.revision.clone()),
        resolved_source_version: source.revision.clone(),
        build_timeout_minutes: base.timeout.map(|t| t.as_secs().div_ceil(60)),
        config: BatchConfig { combine_artifacts: args.combine_artifacts, timeout_in_mins: batch_timeout.as_secs().div_ceil(60) },
        parallel,
        notices,
    }) {
        Ok(r) => r,
        Err(e) => return exit::internal(&format!("cannot write {}: {e}", record_dir.join("batch.json").display())),
    };
    console.note(&format!("batch {} (#{number}): {} build(s) of a {}, at most {parallel} at once; record {}", recorder.record.id, plan.builds.len(), plan.kind.as_str(), recorder.path().display()));

    let step = |recorder: &mut Recorder, phase: &str| recorder.begin(phase).map_err(|e| exit::internal(&format!("cannot write {}: {e}", recorder.path().display())));
    if let Err(code) = step(&mut recorder, "DOWNLOAD_BATCHSPEC") {
        return code;
    }
    let children = match load_children(&plan, (&spec, &bytes, &base.buildspec_path), &source_dir) {
        Ok(c) => c,
        Err(e) => {
            let _ = recorder.end("FAILED", Some(("CLIENT_ERROR".into(), e.clone())));
            let _ = recorder.complete("FAILED", Some(e.clone()));
            return exit::internal(&e);
        }
    };
    if let Err(code) = step(&mut recorder, "IN_PROGRESS") {
        return code;
    }
    let needs_host = children.iter().any(|c| c.spec.uses_steps().next().is_some() || c.spec.artifacts.is_some());
    let cache_dir = warm::build_cache_dir(&source_dir, false);
    let hosting = Arc::new(if needs_host { warm::WarmHost::spawn(cache_dir) } else { warm::WarmHost::on_demand(cache_dir) });
    let launcher = Arc::new(BatchLauncher {
        plan: plan.clone(),
        primary: std::sync::Mutex::new(vec![None; plan.builds.len()]),
        children,
        base: base.clone(),
        source_dir: source_dir.clone(),
        record_root: record_root.clone(),
        project,
        batch_arn: recorder.record.arn.clone(),
        batch_uuid,
        hosting: hosting.clone(),
        key: key.clone(),
        ephemeral,
        builder_id: args.builder_id.clone(),
        console: console.clone(),
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => return exit::internal(&format!("cannot start the async runtime: {e}")),
    };
    // Orphans of unsandboxed builds come to kiln, which sweeps them once every build is over.
    let _ = kiln_sandbox::become_subreaper();
    let stop = Stop::new();
    let ended = runtime.block_on(async {
        let watcher = tokio::spawn(watch_signals(stop.clone(), console.clone()));
        let controls = Controls { parallel, stop: stop.clone(), deadline: Some(tokio::time::Instant::now() + batch_timeout) };
        let launcher: Arc<dyn Launcher> = launcher.clone();
        let ended = kiln_batch::schedule::run(&plan, launcher, &mut recorder, &mut Progress(&console), controls).await;
        watcher.abort();
        ended
    });
    let ended = match ended {
        Ok(e) => e,
        Err(e) => return exit::internal(&format!("cannot write {}: {e}", recorder.path().display())),
    };
    let swept = kiln_sandbox::sweep_orphans(&[]);
    if swept > 0 {
        console.note(&format!("stopped {swept} process(es) the builds left running"));
    }
    let (mut status, mut reason) = outcome_of(&plan, &recorder, &ended);
    let in_progress = if status == "SUCCEEDED" { "SUCCEEDED" } else { status.as_str() };
    let _ = recorder.end(in_progress, reason.clone().map(|r| (status.clone(), r)));
    if args.combine_artifacts && status != "STOPPED" {
        let primary = launcher.primary.lock().map(|p| p.clone()).unwrap_or_default();
        if let Err(e) = combine(&mut recorder, &primary, &record_dir, args.zip, &console) {
            status = "FAILED".into();
            reason = Some(e);
        }
    }
    if let Err(e) = recorder.settle(&status, reason.clone()) {
        return exit::internal(&format!("cannot write {}: {e}", recorder.path().display()));
    }
    match batch_provenance::write(&recorder.record, &record_dir, &key, ephemeral, &args.builder_id, &hosting) {
        Ok(Some(path)) => recorder.record.kiln.provenance = Some(path.display().to_string()),
        Ok(None) => console.note("no build produced artifacts, so no batch statement was written"),
        Err(e) => {
            console.note(&format!("cannot write the batch statement: {e}"));
            status = "FAILED".into();
            reason.get_or_insert(format!("cannot write the batch statement: {e}"));
        }
    }
    if let Err(e) = recorder.complete(&status, reason) {
        return exit::internal(&format!("cannot write {}: {e}", recorder.path().display()));
    }
    console.clear();
    if ephemeral && recorder.record.kiln.provenance.is_some() {
        signing::warn_ephemeral_for(&record_dir.join("provenance.pub"), EPHEMERAL_BATCH_WARNING, "this batch only; also beside each build's provenance");
    }
    if args.json {
        match serde_json::to_string_pretty(&recorder.record) {
            Ok(j) => println!("{j}"),
            Err(e) => return exit::internal(&e.to_string()),
        }
    } else {
        summary(&recorder);
    }
    if status == "SUCCEEDED" { ExitCode::SUCCESS } else { exit::BUILD_FAILED.into() }
}

/// The batch's status and why: `STOPPED` (signal), `TIMED_OUT`, `FAILED` (a build that may not
/// fail did not succeed), else `SUCCEEDED`.
fn outcome_of(plan: &BatchPlan, recorder: &Recorder, ended: &Ended) -> (String, Option<String>) {
    match ended {
        Ended::Stopped(why) => ("STOPPED".into(), Some(format!("stopped by {why}"))),
        Ended::TimedOut => ("TIMED_OUT".into(), Some("the batch timeout passed; every running build was stopped".into())),
        Ended::FastFailed(id) => ("FAILED".into(), Some(format!("fast-fail: `{id}` failed; the running builds were stopped"))),
        Ended::Completed => {
            let failed: Vec<String> = plan
                .builds
                .iter()
                .zip(&recorder.record.build_groups)
                .filter_map(|(b, g)| {
                    let status = g.current_build_summary.as_ref().map(|s| s.build_status.as_str());
                    match status {
                        Some(s) if kiln_batch::schedule::fails_batch(b, s) => Some(format!("`{}` {s}", b.identifier)),
                        None if !b.ignore_failure => Some(format!("`{}` not started", b.identifier)),
                        _ => None,
                    }
                })
                .collect();
            if failed.is_empty() { ("SUCCEEDED".into(), None) } else { ("FAILED".into(), Some(format!("builds that failed the batch: {}", failed.join(", ")))) }
        }
    }
}

/// COMBINE_ARTIFACTS: the primary artifacts of every build that made one, in plan order.
fn combine(recorder: &mut Recorder, primary: &[Option<kiln_engine::record::ArtifactRecord>], record_dir: &Path, zip: bool, console: &BatchConsole) -> Result<(), String> {
    let write = |e: std::io::Error| format!("cannot write the batch record: {e}");
    let parts: Vec<kiln_batch::combine::Part> = recorder.record.build_groups.iter().zip(primary).filter_map(|(g, a)| Some(kiln_batch::combine::Part { identifier: &g.identifier, artifact: a.as_ref()? })).collect();
    if parts.is_empty() {
        console.note("--combine-artifacts: no build produced a primary artifact, nothing to combine");
        return Ok(());
    }
    let count = parts.len();
    let combined = kiln_batch::combine::combine(&parts, &record_dir.join("artifacts"), &recorder.record.project_name, zip);
    recorder.begin("COMBINE_ARTIFACTS").map_err(write)?;
    match combined {
        Ok(c) => {
            for w in &c.warnings {
                console.note(&format!("combine: warning: {w}"));
            }
            console.note(&format!("combined artifact ({} files from {count} build(s)) -> {}", c.record.files.len(), c.record.location));
            recorder.record.artifacts = Some(c.record);
            recorder.end("SUCCEEDED", None).map_err(write)
        }
        Err(e) => {
            recorder.end("FAILED", Some(("CLIENT_ERROR".into(), e.clone()))).map_err(write)?;
            Err(format!("combining the artifacts failed: {e}"))
        }
    }
}

/// The first SIGINT or SIGTERM stops the batch; a second one exits at once.
async fn watch_signals(stop: Stop, console: Arc<BatchConsole>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else { return };
    let first = tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    };
    console.note(&format!("{first}: stopping every build (again to exit at once)"));
    stop.stop(first);
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    eprintln!("kiln: second signal: exiting now; every build's processes die with kiln");
    std::process::exit(130);
}

/// The end-of-batch summary: every build's status, then where everything is.
fn summary(recorder: &Recorder) {
    let r = &recorder.record;
    println!("\nBatch {} (#{}) {}", r.id, r.build_batch_number, r.build_batch_status);
    if let Some(why) = &r.kiln.reason {
        println!("  {why}");
    }
    let width = r.build_groups.iter().map(|g| g.identifier.len()).max().unwrap_or(0);
    for (g, k) in r.build_groups.iter().zip(&r.kiln.builds) {
        let (status, detail) = match (&g.current_build_summary, &k.not_started) {
            (Some(s), _) => (s.build_status.clone(), k.build_id.clone().unwrap_or_default()),
            (None, Some(why)) => ("NOT_STARTED".to_string(), why.clone()),
            (None, None) => ("-".to_string(), String::new()),
        };
        let ignored = if g.ignore_failure && status != "SUCCEEDED" { " (ignore-failure)" } else { "" };
        println!("  {:<width$}  {status:<11} {detail}{ignored}", g.identifier);
    }
    if let Some(a) = &r.artifacts {
        println!("  combined artifact: {} file(s) at {}", a.files.len(), a.location);
    }
    println!("  record: {}", recorder.path().display());
    if let Some(p) = &r.kiln.provenance {
        println!("  batch statement: {p}");
    }
}
