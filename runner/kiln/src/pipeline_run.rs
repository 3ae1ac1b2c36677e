//! `kiln pipeline run|resume|approve|reject|retry|stop`: running CodePipeline definitions on the
//! durable scheduler (`kiln_pipeline::exec`) with the real executors
//! (`kiln_pipeline_actions`). `runs` and `status` are in `pipeline_status.rs`.
//!
//! The store is `DIR/.kiln/pipelines/` (`--dir`, default the current directory), builds' records
//! go to `DIR/.kiln/builds/`, so `kiln ui --dir DIR` shows both. Every command that runs actions
//! (`run`, `resume`, `retry`) drives the execution until it ends; any number of them may drive
//! the same execution (the store's leases keep each action to one process); `approve`, `reject`
//! and `stop` only write the store, and the driving process picks the change up.
//!
//! Exit codes: 0 the execution succeeded (or the answer/request was recorded), 1 it failed, was
//! stopped or superseded, 2 kiln could not run it (an unreadable or invalid definition, an
//! action kiln cannot run — reported before the run starts —, a bad flag, no such run).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use kiln_pipeline::exec::status::{ExecutionStatus, RetryMode};
use kiln_pipeline::exec::{Engine, EngineOptions, StartOptions};
use kiln_pipeline::store::Store;
use kiln_pipeline_actions::{executors, preflight, RunConfig, Settings};

use crate::exit;
use crate::pipeline::{cannot, load, load_workspace};
use crate::pipeline_status;
use crate::validate::print_diagnostics;

/// Where the store is.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// The project whose `.kiln/pipelines/` store (and `.kiln/builds/` records) to use.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

impl StoreArgs {
    pub fn store_dir(&self) -> PathBuf {
        let dir = self.dir.join(".kiln").join("pipelines");
        std::path::absolute(&dir).unwrap_or(dir)
    }
}

/// How the actions of a run are run (kept for `resume` and `retry`).
#[derive(Args, Clone)]
pub struct ExecArgs {
    /// Run builds and git without confinement (recorded in every build record).
    #[arg(long)]
    pub no_sandbox: bool,
    /// The secrets file builds resolve parameter-store / secrets-manager values from.
    #[arg(long, value_name = "FILE")]
    pub secrets_file: Option<PathBuf>,
    /// Sign every build's provenance with this cosign key (COSIGN_PASSWORD).
    #[arg(long, value_name = "cosign.key")]
    pub key: Option<PathBuf>,
    /// Minutes a manual approval waits when its action sets no timeoutInMinutes (default 7 days).
    #[arg(long, value_name = "MINUTES")]
    pub approval_timeout: Option<f64>,
    /// Do not forward the builds' output (progress lines only).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Subcommand)]
pub enum RunCommand {
    /// Run a pipeline definition with the workspace's repositories, builds and plugins: exit 0
    /// succeeded, 1 failed/stopped/superseded, 2 not runnable (reported before it starts).
    Run(RunArgs),
    /// Continue a run after its kiln was stopped or killed: completed actions are kept, the
    /// running ones start their next attempt.
    Resume {
        run: String,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Approve a manual approval of a run (PutApprovalResult); the driving kiln continues.
    Approve(AnswerArgs),
    /// Reject a manual approval of a run: its stage fails.
    Reject(AnswerArgs),
    /// Run a stage's failed actions again (RetryStageExecution), then drive the run on.
    Retry {
        run: String,
        #[arg(long)]
        stage: String,
        /// Retry every action of the stage, not only the failed ones.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Stop a run (StopPipelineExecution): running actions finish, nothing new starts; with
    /// --abandon they are abandoned at once.
    Stop {
        run: String,
        #[arg(long)]
        abandon: bool,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the runs in the store, newest first.
    Runs(pipeline_status::RunsArgs),
    /// One run: each stage and action with CodePipeline's status names and durations.
    Status(pipeline_status::StatusArgs),
}

/// Which definition, read how.
#[derive(Args)]
pub struct DefinitionArgs {
    /// get-pipeline JSON, a CloudFormation template, or kiln pipeline YAML.
    pub file: PathBuf,
    /// The workspace file (default: kiln-workspace.yml in the current directory).
    #[arg(long)]
    pub workspace: Option<PathBuf>,
    /// A value for what the template cannot resolve offline (see `kiln pipeline validate`).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[arg(long = "params", value_name = "FILE")]
    pub params_file: Option<PathBuf>,
    /// The logical id of the pipeline resource, when a template has several.
    #[arg(long)]
    pub pipeline: Option<String>,
    /// A pipeline-level variable's value (V2), repeatable.
    #[arg(long = "variable", value_name = "NAME=VALUE")]
    pub variables: Vec<String>,
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub definition: DefinitionArgs,
    /// Run this commit for a source action instead of its branch's tip (StartPipelineExecution's
    /// sourceRevisions, COMMIT_ID), repeatable.
    #[arg(long = "source-revision", value_name = "ACTION=COMMIT")]
    pub source_revisions: Vec<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
}

#[derive(Args)]
pub struct AnswerArgs {
    pub run: String,
    /// The approval action, `Stage/Action` or `Action` (default: the one open approval).
    #[arg(long)]
    pub action: Option<String>,
    /// The comment recorded with the answer (the ApprovalResult's summary).
    #[arg(long, default_value = "")]
    pub comment: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(cmd: RunCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => return exit::internal(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async move {
        match cmd {
            RunCommand::Run(args) => start(args).await,
            RunCommand::Resume { run, store, quiet } => resume(&run, &store, quiet, None).await,
            RunCommand::Retry { run, stage, all, store, quiet } => resume(&run, &store, quiet, Some((stage, if all { RetryMode::AllActions } else { RetryMode::FailedActions }))).await,
            RunCommand::Approve(a) => answer(&a, true).await,
            RunCommand::Reject(a) => answer(&a, false).await,
            RunCommand::Stop { run, abandon, reason, store } => stop(&run, abandon, reason.as_deref(), &store).await,
            RunCommand::Runs(a) => pipeline_status::runs(&a).await,
            RunCommand::Status(a) => pipeline_status::status(&a).await,
        }
    })
}

pub async fn open_store(s: &StoreArgs) -> Result<Store, ExitCode> {
    Store::open(&s.store_dir()).await.map_err(|e| cannot(&e.to_string()))
}

fn log_fn(quiet: bool) -> kiln_pipeline_actions::Log {
    Arc::new(move |line: String| {
        // Lines of a build's own output start with `[Stage/Action] ` and the build's text; with
        // --quiet only kiln's own lines (approvals) are printed.
        if !quiet || !line.starts_with('[') || line.contains("waiting for approval") {
            eprintln!("{line}");
        }
    })
}

/// The settings for a run's executors.
fn settings(cfg: &RunConfig, dir: &Path, quiet: bool) -> Result<Settings, ExitCode> {
    let (ws, diags, text) = load_workspace(&cfg.workspace)?;
    if diags.iter().any(|d| d.is_error()) {
        print_diagnostics(&cfg.workspace, &text, &diags);
        return Err(cannot(&format!("{}: the workspace file has errors", cfg.workspace.display())));
    }
    let kiln_exe = std::env::current_exe().map_err(|e| exit::internal(&format!("cannot find the kiln executable: {e}")))?;
    let record_root = std::path::absolute(dir.join(".kiln")).unwrap_or_else(|_| dir.join(".kiln"));
    Ok(Settings { workspace: Arc::new(ws), kiln_exe, record_root, build_args: cfg.build_args.clone(), sandbox: cfg.sandbox, log: log_fn(quiet) })
}

fn engine_options(cfg: &RunConfig) -> Result<EngineOptions, ExitCode> {
    let mut o = EngineOptions::default();
    if let Some(m) = cfg.approval_timeout_minutes {
        if !(m > 0.0 && m <= 7.0 * 24.0 * 60.0) {
            return Err(exit::usage(&format!("an approval timeout of {m} minutes is out of range (0 < t <= 10080, CodePipeline's 7 days)")));
        }
        o.approval_timeout = Duration::from_secs_f64(m * 60.0);
    }
    Ok(o)
}

/// A definition checked and ready to run: what `run` and `watch` share.
pub struct Prepared {
    pub pipeline: kiln_pipeline::Pipeline,
    pub cfg: RunConfig,
    pub settings: Settings,
    pub options: EngineOptions,
    /// Pipeline-level variable values given with --variable.
    pub variables: std::collections::BTreeMap<String, String>,
}

/// Read and validate the definition and the workspace, and refuse (before anything runs) an
/// action kiln cannot run.
pub fn prepare(def: &DefinitionArgs, exec: &ExecArgs, store: &StoreArgs) -> Result<Prepared, ExitCode> {
    let (source, read) = load(&def.file, &def.params, def.params_file.as_deref(), def.pipeline.as_deref())?;
    let mut diags = read.diagnostics.clone();
    diags.extend(kiln_pipeline::validate(&read.definition));
    if diags.iter().any(|d| d.is_error()) {
        print_diagnostics(&def.file, &source, &diags);
        return Err(cannot(&format!("{}: the definition has errors (kiln pipeline validate shows them all); the run does not start", def.file.display())));
    }
    let workspace = def.workspace.clone().unwrap_or_else(|| PathBuf::from("kiln-workspace.yml"));
    let mut build_args = Vec::new();
    if exec.no_sandbox {
        build_args.push("--no-sandbox".to_string());
    }
    for (flag, path) in [("--secrets-file", &exec.secrets_file), ("--key", &exec.key)] {
        if let Some(p) = path {
            build_args.push(format!("{flag}={}", std::path::absolute(p).unwrap_or(p.clone()).display()));
        }
    }
    let cfg = RunConfig { workspace: std::path::absolute(&workspace).unwrap_or(workspace), build_args, sandbox: !exec.no_sandbox, approval_timeout_minutes: exec.approval_timeout };
    let settings = settings(&cfg, &store.dir, exec.quiet)?;
    let pipeline = read.definition.pipeline;
    let problems = preflight(&pipeline, &settings.workspace);
    if !problems.is_empty() {
        eprintln!("error: kiln cannot run these actions, so the run does not start:");
        for p in &problems {
            eprintln!("  {}: {p}", def.file.display());
        }
        return Err(exit::INVALID.into());
    }
    let mut variables = std::collections::BTreeMap::new();
    for v in &def.variables {
        let Some((k, val)) = v.split_once('=') else { return Err(exit::usage(&format!("--variable `{v}` is not NAME=VALUE"))) };
        variables.insert(k.to_string(), val.to_string());
    }
    let options = engine_options(&cfg)?;
    Ok(Prepared { pipeline, cfg, settings, options, variables })
}

async fn start(args: RunArgs) -> ExitCode {
    let mut source_revisions = Vec::new();
    for r in &args.source_revisions {
        let Some((action, commit)) = r.split_once('=') else { return exit::usage(&format!("--source-revision `{r}` is not ACTION=COMMIT")) };
        source_revisions.push(kiln_pipeline::exec::traits::SourceRevision::commit(action, commit));
    }
    let Prepared { pipeline, cfg, settings, options, variables } = match prepare(&args.definition, &args.exec, &args.store) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let store = match open_store(&args.store).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let engine = Engine::new(store.clone(), executors(&settings, &store), options);
    let start = StartOptions { variables, trigger: "StartPipelineExecution".into(), source_revisions, ..Default::default() };
    let id = match engine.start(&pipeline, start).await {
        Ok(id) => id,
        Err(e) => return cannot(&e.to_string()),
    };
    if let Err(e) = cfg.save(&args.store.store_dir(), &id) {
        return exit::internal(&format!("cannot keep the run's settings: {e}"));
    }
    eprintln!("kiln: pipeline {} run {id} started (store {})", pipeline.name.value, args.store.store_dir().display());
    drive(&engine, &id, &cfg, &settings, "").await
}

/// Drive `id` to its end, printing each action's progress (each line after `label`); then sign
/// its release record.
pub async fn drive(engine: &Engine, id: &str, cfg: &RunConfig, settings: &Settings, label: &str) -> ExitCode {
    let seen = Arc::new(std::sync::Mutex::new(pipeline_status::Seen::new()));
    let watcher = tokio::spawn(pipeline_status::watch(engine.store().clone(), id.to_string(), seen.clone(), label.to_string()));
    let outcome = engine.drive(id).await;
    watcher.abort();
    let _ = watcher.await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return cannot(&e.to_string()),
    };
    if let Ok(snap) = engine.store().snapshot(id).await {
        if let Ok(mut seen) = seen.lock() {
            pipeline_status::progress_diff(&mut seen, &snap, label);
        }
        if label.is_empty() {
            pipeline_status::print_run(&snap);
        } else {
            // One kiln drives several runs (`watch`): its stdout is the watcher's; one line each.
            let e = &snap.execution;
            eprintln!("kiln: {label}pipeline {} run {} {}{}", e.pipeline, e.id, e.status.as_str(), e.status_summary.as_ref().map(|s| format!(": {s}")).unwrap_or_default());
        }
    }
    release(engine, id, cfg, settings).await;
    if let Some(r) = &outcome.rollback {
        // V2 stage-failure rollback: the execution the engine created (the stage's actions again,
        // with the artifacts of the last execution that succeeded in it) runs now; the failed
        // run's own outcome stays the exit code.
        eprintln!("kiln: the failed stage asks for a rollback: run {r} starts (the last successful execution's artifacts)");
        if let Err(e) = cfg.save(engine.store().dir(), r) {
            eprintln!("kiln: cannot keep the rollback's settings ({e}); kiln pipeline resume {r} runs it");
        } else {
            let _ = Box::pin(drive(engine, r, cfg, settings, label)).await;
        }
    }
    if outcome.status == ExecutionStatus::Succeeded { ExitCode::SUCCESS } else { exit::BUILD_FAILED.into() }
}

/// Sign the ended run's release record with the run's build key (`--key`) into
/// `<store>/runs/<id>/release.intoto.jsonl`; what cannot be recorded is said, never fatal (the
/// run's own outcome is the exit code).
async fn release(engine: &Engine, id: &str, cfg: &RunConfig, settings: &Settings) {
    let Some(key) = cfg.build_args.iter().find_map(|a| a.strip_prefix("--key=")) else {
        eprintln!("kiln: no release record: the run has no build key to sign one with (run it with --key cosign.key, the key that signs its builds' provenance)");
        return;
    };
    let snap = match engine.store().snapshot(id).await {
        Ok(s) => s,
        Err(e) => return eprintln!("kiln: no release record: {e}"),
    };
    // A rollback's release is the execution it rolls back to.
    let target = match (&snap.execution.execution_type, &snap.execution.rollback_target) {
        (kiln_pipeline::exec::status::ExecutionType::Rollback, Some(t)) => match engine.store().snapshot(t).await {
            Ok(t) => Some(t),
            Err(e) => return eprintln!("kiln: no release record: run {id} rolls back to {t}, which cannot be read: {e}"),
        },
        _ => None,
    };
    let mut notes = Vec::new();
    let facts = match kiln_pipeline_actions::release::facts(&snap, target.as_ref(), &settings.record_root, &mut notes) {
        Ok(f) => f,
        Err(why) => return eprintln!("kiln: no release record: {why}"),
    };
    for n in &notes {
        eprintln!("kiln: release record: {n}");
    }
    let signer = match crate::keys::load_signing_key(Path::new(key), false) {
        Ok(k) => k,
        Err(e) => return eprintln!("kiln: no release record: {e}"),
    };
    let path = kiln_pipeline_actions::release::record_path(engine.store().dir(), id);
    match kiln_pipeline_actions::release::write(&path, &facts, &signer) {
        Ok(()) => eprintln!("kiln: release record {} (kiln verify --release {} --key cosign.pub --records {})", path.display(), path.display(), settings.record_root.display()),
        Err(e) => eprintln!("kiln: no release record: {e}"),
    }
}

async fn resume(run: &str, store_args: &StoreArgs, quiet: bool, retry: Option<(String, RetryMode)>) -> ExitCode {
    let cfg = match RunConfig::load(&store_args.store_dir(), run) {
        Ok(c) => c,
        Err(e) => return cannot(&format!("run {run}: {e} (was it started with kiln pipeline run in {}?)", store_args.dir.display())),
    };
    let settings = match settings(&cfg, &store_args.dir, quiet) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let options = match engine_options(&cfg) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let store = match open_store(store_args).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let snap = match store.snapshot(run).await {
        Ok(s) => s,
        Err(e) => return cannot(&e.to_string()),
    };
    if let Ok(read) = kiln_pipeline::read::parse(&snap.execution.definition, "definition.json", &Default::default()) {
        let problems = preflight(&read.definition.pipeline, &settings.workspace);
        if !problems.is_empty() {
            return cannot(&format!("kiln cannot run these actions of run {run}: {}", problems.join("; ")));
        }
    }
    let engine = Engine::new(store.clone(), executors(&settings, &store), options);
    if let Some((stage, mode)) = retry {
        if let Err(e) = engine.retry(run, &stage, mode).await {
            return cannot(&format!("run {run}: {e}"));
        }
        eprintln!("kiln: retrying stage {stage} of run {run} ({})", mode.as_str());
    } else if snap.execution.status.is_final() {
        eprintln!("kiln: run {run} already ended: {}", snap.execution.status.as_str());
        pipeline_status::print_run(&snap);
        return if snap.execution.status == ExecutionStatus::Succeeded { ExitCode::SUCCESS } else { exit::BUILD_FAILED.into() };
    }
    drive(&engine, run, &cfg, &settings, "").await
}

async fn answer(a: &AnswerArgs, approved: bool) -> ExitCode {
    let store = match open_store(&a.store).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let snap = match store.snapshot(&a.run).await {
        Ok(s) => s,
        Err(e) => return cannot(&e.to_string()),
    };
    use kiln_pipeline::exec::status::ApprovalStatus;
    let open: Vec<_> = snap.approvals.iter().filter(|p| p.status == ApprovalStatus::Pending).collect();
    let chosen: Vec<_> = match &a.action {
        Some(name) => match name.split_once('/') {
            Some((s, act)) => open.iter().filter(|p| p.stage == s && p.action == act).collect(),
            None => open.iter().filter(|p| &p.action == name).collect(),
        },
        None => open.iter().collect(),
    };
    let list = || open.iter().map(|p| format!("{}/{}", p.stage, p.action)).collect::<Vec<_>>().join(", ");
    let p = match chosen.as_slice() {
        [one] => **one,
        [] if open.is_empty() => return cannot(&format!("run {} has no approval waiting for an answer", a.run)),
        [] => return cannot(&format!("run {} has no open approval {}; open: {}", a.run, a.action.as_deref().unwrap_or_default(), list())),
        _ => return exit::usage(&format!("run {} has several open approvals ({}): name one with --action Stage/Action", a.run, list())),
    };
    let by = kiln_pipeline_actions::os_user();
    let engine = Engine::new(store, Default::default(), EngineOptions::default());
    match engine.approve(&a.run, &p.stage, &p.action, Some(&p.token), approved, &a.comment, &by).await {
        Ok(()) => {
            println!("{} {}/{} of run {} as {by}", if approved { "approved" } else { "rejected" }, p.stage, p.action, a.run);
            ExitCode::SUCCESS
        }
        Err(e) => cannot(&format!("run {}: {e}", a.run)),
    }
}

async fn stop(run: &str, abandon: bool, reason: Option<&str>, s: &StoreArgs) -> ExitCode {
    let store = match open_store(s).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let engine = Engine::new(store, Default::default(), EngineOptions::default());
    match engine.stop(run, abandon, reason).await {
        Ok(()) => {
            println!("run {run}: stopping{}", if abandon { " (running actions abandoned)" } else { "" });
            ExitCode::SUCCESS
        }
        Err(e) => cannot(&format!("run {run}: {e}")),
    }
}
