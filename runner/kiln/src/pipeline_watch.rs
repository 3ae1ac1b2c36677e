//! `kiln pipeline watch FILE --workspace W`: follow the local repositories of a pipeline's
//! Source actions and print, for every branch or tag that moves, whether CodePipeline would
//! start a run and why (`kiln_pipeline::triggers`: V2 trigger filters, or a push to the
//! action's `BranchName` without a trigger). It does not start the run: one JSON line per
//! decision (`--json`) is what a runner consumes.
//!
//! Refs are read from the repository's files every `--interval` seconds (loose refs and
//! `packed-refs`, `kiln_engine::git`), never by running git on the host: a repository's config
//! can make git run programs. Commits are not read, so the changed files of a push are not
//! known and a `filePaths` filter is reported as not met, with that reason. `--once` decides
//! for every branch and tag as it is now, as if each had just been pushed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use kiln_pipeline::triggers::{check_patterns, decide, GitEvent};
use kiln_pipeline::workspace::{parse_workspace, runnable, Target};
use kiln_pipeline::{read_file, Params, ReadOptions};

#[derive(Args)]
pub struct WatchArgs {
    /// get-pipeline JSON, a CloudFormation template, or kiln pipeline YAML.
    pub file: PathBuf,
    /// The workspace file mapping each Source action to a local repository.
    #[arg(long)]
    pub workspace: PathBuf,
    /// A value for what the template cannot resolve offline (see `kiln pipeline validate`).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Seconds between two reads of the refs.
    #[arg(long, default_value_t = 2.0)]
    pub interval: f64,
    /// Decide once for every branch and tag as it is now, then exit.
    #[arg(long)]
    pub once: bool,
    /// One JSON object per line: {pipeline, sourceAction, ref, old, new, starts, reason}.
    #[arg(long)]
    pub json: bool,
}

fn cannot(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// A Source action and the repository it follows.
struct Watched {
    action: String,
    repo: kiln_engine::git::Repo,
    refs: BTreeMap<String, String>,
}

fn snapshot(repo: &kiln_engine::git::Repo) -> BTreeMap<String, String> {
    repo.branches_and_tags().into_iter().collect()
}

fn report(args: &WatchArgs, pipeline: &str, w: &Watched, reference: &str, old: Option<&String>, new: Option<&String>, p: &kiln_pipeline::Pipeline) -> Result<(), String> {
    let event = GitEvent::Push { reference: reference.to_string(), old: old.cloned(), new: new.cloned(), changed_files: None };
    let d = decide(p, &w.action, &event).map_err(|e| e.to_string())?;
    if args.json {
        println!("{}", serde_json::json!({"pipeline": pipeline, "sourceAction": w.action, "ref": reference, "old": old, "new": new, "starts": d.starts, "commit": d.commit, "reason": d.reason}));
    } else if d.starts {
        println!("run would start: {pipeline} from {} at {reference} {} ({})", w.action, d.commit.as_deref().unwrap_or("?"), d.reason);
    } else {
        println!("no run: {} {reference}: {}", w.action, d.reason);
    }
    Ok(())
}

fn is_source(p: &kiln_pipeline::Pipeline, stage: &str, action: &str) -> bool {
    p.stages.iter().filter(|s| s.name.value == stage).flat_map(|s| &s.actions).any(|a| a.name.value == action && a.category() == Some(kiln_pipeline::Category::Source))
}

pub fn run(args: &WatchArgs) -> ExitCode {
    let mut params = Params::new();
    for p in &args.params {
        if let Err(e) = params.add_arg(p) {
            return crate::exit::usage(&e.to_string());
        }
    }
    if !(args.interval.is_finite() && args.interval >= 0.1) {
        return crate::exit::usage("--interval is in seconds, at least 0.1");
    }
    let (_, read) = match read_file(&args.file, None, &ReadOptions { params, logical_id: None }) {
        Ok(r) => r,
        Err(e) => return cannot(&format!("{}: {e}", args.file.display())),
    };
    let def = read.definition;
    if let Err(e) = check_patterns(&def.pipeline) {
        return cannot(&format!("{}:{e}", args.file.display()));
    }
    let text = match kiln_fs::read_input_to_string(&args.workspace, kiln_fs::limits::CONFIG, "workspace file") {
        Ok(t) => t,
        Err(e) => return cannot(&e.to_string()),
    };
    let root = args.workspace.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let (ws, diags) = parse_workspace(&text, root);
    if let Some(d) = diags.iter().find(|d| d.is_error()) {
        return cannot(&format!("{}:{}:{}: {}", args.workspace.display(), d.span.line, d.span.col, d.message));
    }
    let mut watched = Vec::new();
    for r in runnable(&def, &ws) {
        match r.target {
            Ok(Target::Source { target, .. }) => {
                let dir = ws.root.join(&target.repository);
                let Some(repo) = kiln_engine::git::discover(&dir) else {
                    return cannot(&format!("source action {}: {} is not in a git repository", r.action, dir.display()));
                };
                watched.push(Watched { action: r.action.clone(), refs: if args.once { BTreeMap::new() } else { snapshot(&repo) }, repo });
            }
            Err(why) if is_source(&def.pipeline, &r.stage, &r.action) => {
                return cannot(&format!("source action {} cannot be watched: {why}", r.action));
            }
            _ => {}
        }
    }
    if watched.is_empty() {
        return cannot("the pipeline has no Source action kiln can follow");
    }
    let name = def.pipeline.name.value.clone();
    if !args.json && !args.once {
        for w in &watched {
            println!("watching {} for {name}/{} ({} refs)", w.repo.work_tree.display(), w.action, w.refs.len());
        }
    }
    loop {
        for w in &mut watched {
            let now = snapshot(&w.repo);
            let mut names: Vec<&String> = now.keys().chain(w.refs.keys()).collect();
            names.sort();
            names.dedup();
            for reference in names {
                let (old, new) = (w.refs.get(reference), now.get(reference));
                if old != new
                    && let Err(e) = report(args, &name, w, reference, old, new, &def.pipeline)
                {
                    return cannot(&e);
                }
            }
            w.refs = now;
        }
        if args.once {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_secs_f64(args.interval));
    }
}
