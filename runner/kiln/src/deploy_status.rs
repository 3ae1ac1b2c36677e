//! `kiln deploy status|list|stop|continue`: reading deployment records and asking the kiln that
//! runs a deployment to stop or continue it (through the store's control file).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use kiln_deploy::record::{DeploymentInfo, LifecycleEventStatus, Store};
use kiln_deploy::{Deployment, StopStatus};

use crate::exit;

#[derive(Args)]
pub struct StatusArgs {
    /// The deployment id (default: the newest).
    id: Option<String>,
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Print the record (deployment.json's DeploymentInfo) as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ListArgs {
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct StopArgs {
    id: String,
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Do not roll back, whatever the group's automatic rollback says (autoRollbackEnabled false).
    #[arg(long)]
    no_rollback: bool,
}

#[derive(Args)]
pub struct ContinueArgs {
    id: String,
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

fn store(dir: &std::path::Path) -> Result<Store, ExitCode> {
    Store::open(dir).map_err(|e| exit::internal(&e.to_string()))
}

/// The status word people read: the record's status, or `Interrupted` when kiln was killed.
pub fn status_word(info: &DeploymentInfo) -> String {
    if info.kiln.interrupted { format!("Interrupted (was {:?}; `kiln deploy rollback {}` or `resume`)", info.status, info.deployment_id) } else { format!("{:?}", info.status) }
}

/// A deployment's record for a terminal.
pub fn summary(info: &DeploymentInfo) {
    println!("deployment {}  {}", info.deployment_id, status_word(info));
    println!("  application {} / group {}  ({}, {})", info.application_name, info.deployment_group_name, info.compute_platform, info.deployment_config_name);
    let rev = &info.revision.local_revision;
    println!("  revision    {} (sha256 {})", rev.name, rev.sha256);
    if let Some(p) = &rev.provenance_sha256 {
        println!("  provenance  sha256 {p}");
    }
    if let Some(d) = &info.description {
        println!("  description {d}");
    }
    println!("  created     {}{}", info.create_time, info.complete_time.as_ref().map(|t| format!("  completed {t}")).unwrap_or_default());
    let o = &info.deployment_overview;
    println!("  targets     {} succeeded, {} failed, {} in progress, {} pending, {} skipped, {} ready", o.succeeded, o.failed, o.in_progress, o.pending, o.skipped, o.ready);
    if let Some(t) = &info.kiln.traffic {
        println!("  traffic     original {} % / replacement {} %", t.current.original, t.current.replacement);
    }
    for a in &info.kiln.alarms {
        println!("  alarm       {}: {:?}", a.alarm_name, a.state_value);
    }
    if let Some(e) = &info.error_information {
        println!("  error       {:?}: {}", e.code, e.message);
    }
    if let Some(r) = &info.rollback_info {
        if let Some(id) = &r.rollback_deployment_id {
            println!("  rolled back by {id}");
        }
        if let Some(id) = &r.rollback_triggering_deployment_id {
            println!("  rolls back  {id}");
        }
        if let Some(m) = &r.rollback_message {
            println!("  rollback    {m}");
        }
    }
    for t in &info.deployment_targets {
        let core = t.core();
        let events: Vec<String> = core
            .lifecycle_events
            .iter()
            .filter(|e| e.status != LifecycleEventStatus::Pending)
            .map(|e| format!("{}:{:?}", e.lifecycle_event_name, e.status))
            .collect();
        println!("  {} {:?}  {}", core.target_id, core.status, events.join(" "));
        for e in core.lifecycle_events.iter().filter(|e| e.status == LifecycleEventStatus::Failed) {
            if let Some(d) = &e.diagnostics {
                println!("    {} failed: {:?} {}", e.lifecycle_event_name, d.error_code, d.message);
                for line in d.log_tail.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev() {
                    println!("      | {line}");
                }
            }
        }
    }
}

pub fn status(a: &StatusArgs) -> ExitCode {
    let store = match store(&a.dir) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let info = match &a.id {
        Some(id) => Deployment::status(&store, id).map_err(|e| e.to_string()),
        None => Deployment::list(&store).map_err(|e| e.to_string()).and_then(|l| l.into_iter().last().ok_or_else(|| format!("no deployments in {}", store.root().display()))),
    };
    match info {
        Ok(info) if a.json => {
            println!("{}", serde_json::to_string_pretty(&info).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(info) => {
            summary(&info);
            ExitCode::SUCCESS
        }
        Err(e) => exit::internal(&e),
    }
}

pub fn list(a: &ListArgs) -> ExitCode {
    let store = match store(&a.dir) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let all = match Deployment::list(&store) {
        Ok(l) => l,
        Err(e) => return exit::internal(&e.to_string()),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    println!("{:<13} {:<24} {:<18} {:<12} {:<26} REVISION", "ID", "APPLICATION/GROUP", "CREATOR", "STATUS", "CREATED");
    for i in &all {
        let creator = serde_json::to_value(i.creator).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let word = if i.kiln.interrupted { "Interrupted".to_string() } else { format!("{:?}", i.status) };
        println!("{:<13} {:<24} {:<18} {:<12} {:<26} {}", i.deployment_id, format!("{}/{}", i.application_name, i.deployment_group_name), creator, word, i.create_time, i.revision.local_revision.name);
    }
    ExitCode::SUCCESS
}

pub fn stop(a: &StopArgs) -> ExitCode {
    let store = match store(&a.dir) {
        Ok(s) => s,
        Err(c) => return c,
    };
    match Deployment::stop(&store, &a.id, a.no_rollback.then_some(false)) {
        Ok(StopStatus::Pending) => {
            println!("stop requested: the kiln running {} stops it (and rolls back as the group says) within a moment; `kiln deploy status {}` shows it", a.id, a.id);
            ExitCode::SUCCESS
        }
        Ok(StopStatus::Succeeded) => {
            println!("{} was interrupted and is now Stopped; `kiln deploy rollback {}` returns the fleet to the last good revision", a.id, a.id);
            ExitCode::SUCCESS
        }
        Err(e) => exit::internal(&e.to_string()),
    }
}

pub fn continue_deployment(a: &ContinueArgs) -> ExitCode {
    let store = match store(&a.dir) {
        Ok(s) => s,
        Err(c) => return c,
    };
    match Deployment::continue_deployment(&store, &a.id) {
        Ok(()) => {
            println!("continue requested: {} reroutes traffic now", a.id);
            ExitCode::SUCCESS
        }
        Err(e) => exit::internal(&e.to_string()),
    }
}
