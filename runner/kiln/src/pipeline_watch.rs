//! `kiln pipeline watch FILE`: follow the local repositories of a pipeline's Source actions and
//! start a run for every push the V2 trigger filters (or, without a trigger, the default change
//! detection on the action's `BranchName`) say starts one, pinned to the pushed commit
//! (`kiln_pipeline_actions::watch`). The runs are driven in this process, as `kiln pipeline
//! run` drives one (progress lines labelled with the run), each signed into its release record
//! at its end; approvals are answered from another terminal as usual.
//!
//! Refs are read from the repository's files every `--interval` seconds, never by running git on
//! the host; the files a push changed (for `filePaths`) and the commit of an annotated tag come
//! from git confined in kiln's sandbox. What the watcher last saw is in the pipeline store: the
//! first watch records a baseline and starts nothing; after that, every push is started once,
//! including pushes made while no watcher ran, and a restarted watcher resumes the runs a killed
//! one left in progress.
//!
//! Stopping the watcher (Ctrl-C, `kill`) stops the builds of its runs with it and leaves the runs
//! in progress: the next watch (or `kiln pipeline resume RUN`) continues them.
//!
//! `--once` looks once, drives what it started to the end and exits (0 every run succeeded, 1
//! one did not, 2 kiln could not watch). `--dry-run` starts nothing and records nothing: it
//! prints what each move would do (with `--once`, for every branch and tag as it is now, as if
//! each had just been pushed). `--json` prints one object per decision.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use kiln_pipeline::exec::Engine;
use kiln_pipeline::workspace::{target, Target};
use kiln_pipeline::Pipeline;
use kiln_pipeline_actions::source::GitSource;
use kiln_pipeline_actions::watch::{decide_move, moves, refs_now, Outcome, Seen, Watched};
use kiln_pipeline_actions::{executors, RunConfig, Settings};
use tokio::task::JoinSet;

use crate::pipeline::cannot;
use crate::pipeline_run::{drive, open_store, prepare, DefinitionArgs, ExecArgs, Prepared, StoreArgs};

#[derive(Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub definition: DefinitionArgs,
    /// Seconds between two reads of the refs.
    #[arg(long, default_value_t = 2.0)]
    pub interval: f64,
    /// Look once, drive the runs started to their end, then exit.
    #[arg(long)]
    pub once: bool,
    /// Start nothing, record nothing: print what each move would do.
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON object per decision: {pipeline, sourceAction, ref, old, new, starts, commit,
    /// reason, outcome, run}.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// The trigger types of runs a watcher starts (what a restarted watcher resumes).
const WATCH_TRIGGERS: [&str; 3] = ["WebhookV2", "Webhook", "CloudWatchEvent"];

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn print(args: &WatchArgs, pipeline: &str, s: &Seen) {
    let (outcome, run) = match &s.outcome {
        Outcome::Started(id) => ("started", Some(id.as_str())),
        Outcome::NoRun => ("none", None),
        Outcome::NotStarted(_) => ("not-started", None),
        Outcome::TakenByAnother => ("taken-by-another", None),
    };
    if let Some(n) = &s.note {
        eprintln!("kiln: {} {}: {n}", s.action, s.reference);
    }
    let d = &s.decision;
    if args.json {
        let mut v = serde_json::json!({"pipeline": pipeline, "sourceAction": s.action, "ref": s.reference, "old": s.old, "new": s.new, "starts": d.starts, "commit": d.commit, "reason": d.reason});
        if !args.dry_run {
            v["outcome"] = outcome.into();
            v["run"] = run.into();
            if let Outcome::NotStarted(why) = &s.outcome {
                v["error"] = why.as_str().into();
            }
        }
        println!("{v}");
        return;
    }
    let at = format!("{} at {} {}", s.action, s.reference, d.commit.as_deref().unwrap_or("?"));
    match &s.outcome {
        _ if !d.starts => println!("no run: {} {}: {}", s.action, s.reference, d.reason),
        _ if args.dry_run => println!("run would start: {pipeline} from {at} ({})", d.reason),
        Outcome::Started(id) => println!("run started: {pipeline} run {id} from {at} ({})", d.reason),
        Outcome::NotStarted(why) => println!("run not started: {pipeline} from {at}: {why}"),
        Outcome::TakenByAnother => println!("already started: {pipeline} from {at} (another kiln watching this store recorded it first)"),
        Outcome::NoRun => println!("no run: {} {}: {}", s.action, s.reference, d.reason),
    }
}

/// The Source actions kiln can follow, with their repositories.
fn sources(p: &Pipeline, settings: &Settings) -> Result<Vec<(String, kiln_engine::git::Repo)>, ExitCode> {
    let mut out = Vec::new();
    for (_, _, a) in p.actions() {
        if let Ok(Target::Source { target: t, .. }) = target(a, &settings.workspace) {
            let action = &a.name.value;
            let dir = kiln_pipeline_actions::inside_workspace(&settings.workspace, &t.repository, "repository").map_err(|e| cannot(&format!("source action {action}: {e}")))?;
            let Some(repo) = kiln_engine::git::discover(&dir) else {
                return Err(cannot(&format!("source action {action}: {} is not in a git repository", dir.display())));
            };
            out.push((action.clone(), repo));
        }
    }
    if out.is_empty() {
        return Err(cannot("the pipeline has no Source action kiln can follow"));
    }
    Ok(out)
}

pub fn run(args: &WatchArgs) -> ExitCode {
    if !(args.interval.is_finite() && args.interval >= 0.1) {
        return crate::exit::usage("--interval is in seconds, at least 0.1");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => return crate::exit::internal(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async move {
        let prepared = match prepare(&args.definition, &args.exec, &args.store) {
            Ok(p) => p,
            Err(code) => return code,
        };
        if args.dry_run { dry_run(args, &prepared).await } else { watch(args, prepared).await }
    })
}

/// Print what each move would do; nothing is started or recorded.
async fn dry_run(args: &WatchArgs, prep: &Prepared) -> ExitCode {
    let p = &prep.pipeline;
    let git = GitSource { workspace: prep.settings.workspace.clone(), sandbox: prep.cfg.sandbox };
    let mut watched = Vec::new();
    for (action, repo) in match sources(p, &prep.settings) {
        Ok(s) => s,
        Err(code) => return code,
    } {
        let refs = if args.once { BTreeMap::new() } else { refs_now(&repo) };
        if !args.json && !args.once {
            println!("watching {} for {}/{action} ({} refs; dry run: nothing starts)", repo.work_tree.display(), p.name.value, refs.len());
        }
        watched.push((action, repo, refs));
    }
    loop {
        for (action, repo, known) in &mut watched {
            let now = refs_now(repo);
            for (reference, old, new) in moves(known, &now) {
                match decide_move(p, action, &git, repo, &reference, old.as_deref(), new.as_deref()).await {
                    Ok((decision, note)) => print(args, &p.name.value, &Seen { action: action.clone(), reference, old, new, decision, outcome: Outcome::NoRun, note }),
                    Err(e) => return cannot(&e),
                }
            }
            *known = now;
        }
        if args.once {
            return ExitCode::SUCCESS;
        }
        tokio::time::sleep(Duration::from_secs_f64(args.interval)).await;
    }
}

/// Drive `id` in a task of its own.
fn spawn_drive(drives: &mut JoinSet<ExitCode>, engine: &Arc<Engine>, id: String, cfg: &RunConfig, settings: &Settings) {
    let (engine, cfg, settings) = (engine.clone(), cfg.clone(), settings.clone());
    drives.spawn(async move {
        let label = format!("[run {}] ", short(&id));
        drive(&engine, &id, &cfg, &settings, &label).await
    });
}

async fn watch(args: &WatchArgs, prep: Prepared) -> ExitCode {
    let Prepared { pipeline: p, cfg, settings, options, variables } = prep;
    let name = p.name.value.clone();
    let store_dir = args.store.store_dir();
    let sources = match sources(&p, &settings) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let store = match open_store(&args.store).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let engine = Arc::new(Engine::new(store.clone(), executors(&settings, &store), options));
    let git = GitSource { workspace: settings.workspace.clone(), sandbox: cfg.sandbox };
    let mut drives: JoinSet<ExitCode> = JoinSet::new();
    // Runs an earlier watcher started and did not see to their end (it was killed): resumed
    // here, with the settings they were started with (the leases keep each action to one kiln).
    match store.executions(Some(&name)).await {
        Ok(list) => {
            for e in list.iter().rev().filter(|e| !e.status.is_final() && WATCH_TRIGGERS.contains(&e.trigger_type.as_str())) {
                // A watcher killed between starting a run and keeping its settings left none:
                // this watcher's settings are the run's.
                let saved = RunConfig::load(&store_dir, &e.id).unwrap_or_else(|_| {
                    if let Err(err) = cfg.save(&store_dir, &e.id) {
                        eprintln!("kiln: cannot keep run {}'s settings ({err})", e.id);
                    }
                    cfg.clone()
                });
                eprintln!("kiln: resuming run {} of {name} (started by a push: {})", e.id, e.trigger_detail.as_deref().unwrap_or("?"));
                spawn_drive(&mut drives, &engine, e.id.clone(), &saved, &settings);
            }
        }
        Err(e) => return cannot(&e.to_string()),
    }
    let mut watched = Vec::new();
    for (action, repo) in sources {
        match Watched::open(&store, &name, &action, repo).await {
            Ok((w, fresh)) => {
                if !args.json {
                    let how = if fresh { "first watch: the refs as they are now are the baseline, nothing starts for them" } else { "pushes since the last watch start runs" };
                    println!("watching {} for {name}/{action} ({} refs; {how})", w.repo.work_tree.display(), w.known());
                }
                watched.push(w);
            }
            Err(e) => return cannot(&e),
        }
    }
    let mut failed = false;
    loop {
        for w in &mut watched {
            let seen = match w.look(&p, &engine, &git, &variables).await {
                Ok(s) => s,
                Err(e) => return cannot(&format!("watching {}: {e}", w.action)),
            };
            for s in &seen {
                if let Outcome::Started(id) = &s.outcome {
                    if let Err(e) = cfg.save(&store_dir, id) {
                        eprintln!("kiln: cannot keep run {id}'s settings ({e}); it runs, but kiln pipeline resume cannot pick it up");
                    }
                    spawn_drive(&mut drives, &engine, id.clone(), &cfg, &settings);
                }
                print(args, &name, s);
            }
        }
        while let Some(done) = drives.try_join_next() {
            failed |= done.map_or(true, |code| code != ExitCode::SUCCESS);
        }
        if args.once {
            break;
        }
        tokio::time::sleep(Duration::from_secs_f64(args.interval)).await;
    }
    while let Some(done) = drives.join_next().await {
        failed |= done.map_or(true, |code| code != ExitCode::SUCCESS);
    }
    if failed { crate::exit::BUILD_FAILED.into() } else { ExitCode::SUCCESS }
}

