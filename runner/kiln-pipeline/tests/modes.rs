//! Execution modes (codepipeline.md §5): SUPERSEDED (one execution per stage, a newer inbound
//! execution replaces an older one), QUEUED (inbound executions wait in arrival order), PARALLEL
//! (executions never wait for each other).

mod common;

use common::*;
use kiln_pipeline::exec::status::ExecutionStatus;
use kiln_pipeline::exec::{Engine, EngineOptions, StartOptions};

fn gated(name: &str, mode: &str) -> kiln_pipeline::Pipeline {
    let head = if mode.is_empty() { String::new() } else { format!("  pipelineType: V2\n  executionMode: {mode}\n") };
    let yaml = header(name, &head)
        + &source_stage()
        + "    - name: Release\n      actions:\n"
        + &action("Approve", "Approval", "Manual", 1, &[], &[], "")
        + "    - name: Prod\n      actions:\n"
        + &build("Ship", 1, &["Src"], &[], "");
    pipeline(&yaml)
}

async fn waiting_engine(dir: &std::path::Path) -> (std::sync::Arc<Fake>, Engine) {
    let fake = Fake::new();
    let engine = engine(dir, &fake, EngineOptions { return_when_waiting: true, ..fast() }).await;
    (fake, engine)
}

async fn status(engine: &Engine, id: &str) -> ExecutionStatus {
    engine.store().snapshot(id).await.unwrap().execution.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn superseded_a_newer_inbound_execution_replaces_the_waiting_one() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, engine) = waiting_engine(dir.path()).await;
    let p = gated("sup", "");
    let first = engine.start(&p, StartOptions::default()).await.unwrap();
    let out = engine.drive(&first).await.unwrap();
    assert_eq!(out.pending_approvals.len(), 1, "the first execution holds Release at its approval");
    let second = engine.start(&p, StartOptions::default()).await.unwrap();
    let out = engine.drive(&second).await.unwrap();
    assert_eq!((out.status, out.waiting_stage.as_deref()), (ExecutionStatus::InProgress, Some("Release")), "inbound at the locked stage");
    let third = engine.start(&p, StartOptions::default()).await.unwrap();
    engine.drive(&third).await.unwrap();
    assert_eq!(status(&engine, &second).await, ExecutionStatus::Superseded, "replaced by the newer inbound execution");
    // Driving the superseded one ends at once.
    assert_eq!(engine.drive(&second).await.unwrap().status, ExecutionStatus::Superseded);
    // An execution parked at an approval is not superseded; once it is answered, the stage frees.
    engine.approve(&first, "Release", "Approve", None, true, "ok", "a").await.unwrap();
    assert_eq!(engine.drive(&first).await.unwrap().status, ExecutionStatus::Succeeded);
    let out = engine.drive(&third).await.unwrap();
    assert_eq!(out.pending_approvals, vec![("Release".to_string(), "Approve".to_string())]);
    engine.approve(&third, "Release", "Approve", None, true, "ok", "a").await.unwrap();
    assert_eq!(engine.drive(&third).await.unwrap().status, ExecutionStatus::Succeeded);
    assert_eq!(fake.calls("Ship"), 2, "the superseded execution never shipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_inbound_executions_enter_in_arrival_order_and_none_is_superseded() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, engine) = waiting_engine(dir.path()).await;
    let p = gated("queue", "QUEUED");
    let first = engine.start(&p, StartOptions::default()).await.unwrap();
    engine.drive(&first).await.unwrap();
    let second = engine.start(&p, StartOptions::default()).await.unwrap();
    let third = engine.start(&p, StartOptions::default()).await.unwrap();
    assert_eq!(engine.drive(&second).await.unwrap().waiting_stage.as_deref(), Some("Release"));
    assert_eq!(engine.drive(&third).await.unwrap().waiting_stage.as_deref(), Some("Release"));
    assert_eq!(status(&engine, &second).await, ExecutionStatus::InProgress);
    engine.approve(&first, "Release", "Approve", None, true, "ok", "a").await.unwrap();
    assert_eq!(engine.drive(&first).await.unwrap().status, ExecutionStatus::Succeeded);
    // The stage is free, but the third must wait for the second, which arrived first.
    assert_eq!(engine.drive(&third).await.unwrap().waiting_stage.as_deref(), Some("Release"));
    assert_eq!(engine.drive(&second).await.unwrap().pending_approvals.len(), 1);
    engine.approve(&second, "Release", "Approve", None, true, "ok", "a").await.unwrap();
    assert_eq!(engine.drive(&second).await.unwrap().status, ExecutionStatus::Succeeded);
    assert_eq!(engine.drive(&third).await.unwrap().pending_approvals.len(), 1);
    engine.approve(&third, "Release", "Approve", None, true, "ok", "a").await.unwrap();
    assert_eq!(engine.drive(&third).await.unwrap().status, ExecutionStatus::Succeeded);
    assert_eq!(fake.calls("Ship"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_executions_do_not_wait_for_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let (_fake, engine) = waiting_engine(dir.path()).await;
    let p = gated("par", "PARALLEL");
    let first = engine.start(&p, StartOptions::default()).await.unwrap();
    let second = engine.start(&p, StartOptions::default()).await.unwrap();
    assert_eq!(engine.drive(&first).await.unwrap().pending_approvals.len(), 1);
    let out = engine.drive(&second).await.unwrap();
    assert_eq!((out.waiting_stage, out.pending_approvals.len()), (None, 1), "both are in Release at once");
    engine.approve(&second, "Release", "Approve", None, true, "ok", "a").await.unwrap();
    assert_eq!(engine.drive(&second).await.unwrap().status, ExecutionStatus::Succeeded, "the newer one finishes first");
    engine.approve(&first, "Release", "Approve", None, false, "no", "a").await.unwrap();
    assert_eq!(engine.drive(&first).await.unwrap().status, ExecutionStatus::Failed);
}
