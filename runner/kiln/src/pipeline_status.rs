//! `kiln pipeline runs` and `kiln pipeline status RUN`, and the progress lines a driving kiln
//! prints: every status with CodePipeline's names (InProgress, Succeeded, Failed, Stopped,
//! Stopping, Superseded, Abandoned; approvals Approved/Rejected/Expired), durations measured
//! from the store's times.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use kiln_pipeline::exec::status::ActionStatus;
use kiln_pipeline::store::{now_ms, Snapshot, Store};
use kiln_pipeline_actions::view;

use crate::pipeline::cannot;
use crate::pipeline_run::{open_store, StoreArgs};

#[derive(Args)]
pub struct RunsArgs {
    /// Only this pipeline's runs.
    #[arg(long)]
    pub pipeline: Option<String>,
    /// Print ListPipelineExecutions-shaped JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct StatusArgs {
    pub run: String,
    /// Print GetPipelineState-shaped JSON (plus each action's kiln details).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

fn secs(ms: i64) -> String {
    let d = Duration::from_millis(ms.max(0) as u64).as_secs_f64();
    if d < 60.0 { format!("{d:.1} s") } else { format!("{}m{:02}s", (d / 60.0) as u64, (d % 60.0) as u64) }
}

fn span(start: i64, end: Option<i64>) -> String {
    secs(end.unwrap_or_else(now_ms) - start)
}

pub async fn runs(a: &RunsArgs) -> ExitCode {
    let store = match open_store(&a.store).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let list = match store.executions(a.pipeline.as_deref()).await {
        Ok(l) => l,
        Err(e) => return cannot(&e.to_string()),
    };
    if a.json {
        let out: Vec<_> = list.iter().map(view::summary).collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "pipelineExecutionSummaries": out })).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    if list.is_empty() {
        println!("no pipeline runs in {}", a.store.store_dir().display());
    }
    for e in &list {
        let s = view::summary(e);
        let end = e.status.is_final().then_some(e.updated_at);
        // What started it: the trigger type, and for a push the ref and commit it ran.
        let pushed = e.source_revisions.iter().find_map(|r| r.reference.as_ref().map(|rf| format!(" {rf}@{}", r.revision_value.get(..12).unwrap_or(&r.revision_value)))).unwrap_or_default();
        println!("{}  {:<20} {:<11} {:<8} {}  {} {}{pushed}{}", e.id, e.pipeline, s.status, span(e.created_at, end), s.start_time, s.execution_type.unwrap_or_default(), e.trigger_type, e.status_summary.as_ref().map(|m| format!("  {m}")).unwrap_or_default());
    }
    ExitCode::SUCCESS
}

pub async fn status(a: &StatusArgs) -> ExitCode {
    let store = match open_store(&a.store).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let snap = match store.snapshot(&a.run).await {
        Ok(s) => s,
        Err(e) => return cannot(&e.to_string()),
    };
    if a.json {
        let mut run = serde_json::to_value(view::run(&snap)).unwrap_or_default();
        // kiln's details per action attempt (summary or error, external id, provenance digests,
        // build records, deployments) and the approvals.
        let details: Vec<_> = snap
            .actions
            .iter()
            .map(|r| serde_json::json!({"stageName": r.stage, "actionName": r.action, "attempt": r.attempt, "status": r.status.as_str(), "startTime": r.started_at, "endTime": r.ended_at, "outputVariables": r.output_variables, "details": r.output_details, "summary": r.summary, "errorCode": r.error_code, "externalExecutionId": r.external_execution_id}))
            .collect();
        let approvals: Vec<_> = snap
            .approvals
            .iter()
            .map(|p| serde_json::json!({"stageName": p.stage, "actionName": p.action, "attempt": p.attempt, "status": p.status.as_str(), "summary": p.summary, "answeredBy": p.answered_by, "answeredAt": p.answered_at, "requestedAt": p.requested_at, "expiresAt": p.expires_at, "customData": p.custom_data, "externalEntityLink": p.external_entity_link}))
            .collect();
        run["kiln"] = serde_json::json!({"actionExecutions": details, "approvals": approvals, "artifacts": snap.artifacts.iter().map(|x| serde_json::json!({"name": x.name, "sha256": x.digest, "size": x.size, "stageName": x.stage, "actionName": x.action})).collect::<Vec<_>>()});
        println!("{}", serde_json::to_string_pretty(&run).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    print_run(&snap);
    ExitCode::SUCCESS
}

/// The run as a table: stages, then their actions.
pub fn print_run(snap: &Snapshot) {
    let e = &snap.execution;
    let end = e.status.is_final().then_some(e.updated_at);
    println!("pipeline {} run {}: {} ({}, {}){}", e.pipeline, e.id, e.status.as_str(), e.mode.api_name(), span(e.created_at, end), e.status_summary.as_ref().map(|s| format!(": {s}")).unwrap_or_default());
    let run = view::run(snap);
    for st in &run.stage_states {
        let row = snap.stage(&st.stage_name);
        let (status, took) = match row {
            Some(r) => (r.status.as_str().to_string(), span(r.started_at, r.ended_at)),
            None => ("-".into(), String::new()),
        };
        println!("  {:<26} {:<11} {took}", st.stage_name, status);
        for a in &st.action_states {
            let r = view::latest(snap, &st.stage_name, &a.action_name);
            let (status, took, summary) = match r {
                Some(r) => (r.status.as_str().to_string(), span(r.started_at, r.ended_at), r.summary.clone().unwrap_or_default()),
                None => ("-".into(), String::new(), String::new()),
            };
            let approval = r.and_then(|r| snap.approval(&st.stage_name, &a.action_name, r.attempt)).map(|p| match (&p.answered_by, &p.summary) {
                (Some(by), s) => format!("  [{} by {by}{}]", p.status.as_str(), s.as_ref().filter(|s| !s.is_empty()).map(|s| format!(": {s}")).unwrap_or_default()),
                _ => format!("  [{}]", p.status.as_str()),
            });
            let attempt = r.filter(|r| r.attempt > 1).map(|r| format!(" (attempt {})", r.attempt)).unwrap_or_default();
            println!("    {:<24} {:<11} {:<8} {}{}{attempt}", a.action_name, status, took, summary.lines().next().unwrap_or_default(), approval.unwrap_or_default());
        }
    }
}

/// What was last printed per action attempt.
pub type Seen = HashMap<(String, String, i64), ActionStatus>;

/// Print a line for every action attempt whose status changed since `seen` (after `label`:
/// which run, when one kiln drives several).
pub fn progress_diff(seen: &mut Seen, snap: &Snapshot, label: &str) {
    for r in &snap.actions {
        let k = (r.stage.clone(), r.action.clone(), r.attempt);
        if seen.get(&k) == Some(&r.status) {
            continue;
        }
        seen.insert(k, r.status);
        let attempt = if r.attempt > 1 { format!(" (attempt {})", r.attempt) } else { String::new() };
        let line = match r.status {
            ActionStatus::InProgress => format!("kiln: {label}{}/{} started{attempt}", r.stage, r.action),
            s => format!("kiln: {label}{}/{} {} in {}{attempt}{}", r.stage, r.action, s.as_str(), span(r.started_at, r.ended_at), r.summary.as_ref().map(|m| format!(": {}", m.lines().next().unwrap_or_default())).unwrap_or_default()),
        };
        eprintln!("{line}");
    }
}

/// Print progress lines until aborted.
pub async fn watch(store: Store, id: String, seen: std::sync::Arc<std::sync::Mutex<Seen>>, label: String) {
    loop {
        if let Ok(snap) = store.snapshot(&id).await
            && let Ok(mut seen) = seen.lock()
        {
            progress_diff(&mut seen, &snap, &label);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
