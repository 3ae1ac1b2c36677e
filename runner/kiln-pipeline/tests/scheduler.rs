//! The scheduler with fake executors: ordering, parallelism, artifacts, variables, approvals,
//! retries, rollback.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use kiln_pipeline::exec::status::{ActionStatus, ExecutionStatus, RetryMode, StageStatus};
use kiln_pipeline::exec::{EngineOptions, StartOptions};

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_actions_overlap_and_run_orders_follow_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    for a in ["A", "B", "C", "D"] {
        fake.set(a, Behavior { sleep: Duration::from_millis(300), ..Default::default() });
    }
    let yaml = header("par", "")
        + &source_stage()
        + "    - name: Build\n      actions:\n"
        + &build("A", 1, &["Src"], &["OutA"], "")
        + &build("B", 1, &["Src"], &["OutB"], "")
        + &build("C", 1, &["Src"], &[], "")
        + &build("D", 2, &["OutA", "OutB"], &[], "            PrimarySource: OutA\n");
    let p = pipeline(&yaml);
    let engine = engine(dir.path(), &fake, fast()).await;
    let id = engine.start(&p, StartOptions::default()).await.unwrap();
    let out = engine.drive(&id).await.unwrap();
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    let (a, b, c, d) = (fake.event("A"), fake.event("B"), fake.event("C"), fake.event("D"));
    // runOrder 1: all three started before any of them ended (they overlap).
    let first_end = [a.end, b.end, c.end].into_iter().min().unwrap();
    for e in [&a, &b, &c] {
        assert!(e.start < first_end, "{} started {} ms after another ended", e.action, ms(e.start - first_end));
    }
    // Three 300 ms actions in parallel take about 300 ms, not 900.
    let span = [a.end, b.end, c.end].into_iter().max().unwrap() - [a.start, b.start, c.start].into_iter().min().unwrap();
    assert!(span < Duration::from_millis(800), "{} ms", ms(span));
    // runOrder 2 starts after every runOrder 1 action ended.
    assert!(d.start >= [a.end, b.end, c.end].into_iter().max().unwrap());
    // Source ran before the build stage.
    assert!(fake.event("Code").end <= a.start);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_are_handed_on_by_name_with_their_digests_and_variables_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.set("Code", Behavior { variables: BTreeMap::from([("CommitId".into(), "abc123".into()), ("BranchName".into(), "main".into())]), ..Default::default() });
    fake.set("Compile", Behavior { variables: BTreeMap::from([("VERSION".into(), "1.2.3".into())]), ..Default::default() });
    let yaml = header("vars", "  pipelineType: V2\n  variables:\n    - {name: Env, defaultValue: staging}\n")
        + &source_stage()
        + "    - name: Build\n      actions:\n"
        + &build("Compile", 1, &["Src"], &["Bin"], "            Tag: \"#{SourceVariables.CommitId}@#{SourceVariables.BranchName}\"\n")
        + "          namespace: BuildVariables\n"
        + "    - name: Deploy\n      actions:\n"
        + &action(
            "Ship",
            "Deploy",
            "CodeDeploy",
            1,
            &["Bin"],
            &[],
            "          configuration:\n            ApplicationName: \"app-#{variables.Env}\"\n            DeploymentGroupName: \"#{BuildVariables.VERSION}/#{codepipeline.PipelineExecutionId}/#{Nope\"\n",
        );
    let p = pipeline(&yaml);
    let engine = engine(dir.path(), &fake, fast()).await;
    let id = engine.start(&p, StartOptions { variables: BTreeMap::from([("Env".into(), "prod".into())]), ..Default::default() }).await.unwrap();
    assert_eq!(engine.drive(&id).await.unwrap().status, ExecutionStatus::Succeeded);
    let compile = fake.event("Compile");
    assert_eq!(compile.configuration["Tag"], "abc123@main");
    assert_eq!(compile.inputs["Src"], format!("Src by Code of {id} from []"));
    let snap = engine.store().snapshot(&id).await.unwrap();
    let src = snap.artifact("Src").unwrap();
    assert_eq!(compile.digests["Src"], src.digest);
    assert_eq!(src.digest, hex_sha256(compile.inputs["Src"].as_bytes()));
    let ship = fake.event("Ship");
    assert_eq!(ship.configuration["ApplicationName"], "app-prod");
    // Malformed `#{Nope` stays as written; the rest resolves.
    assert_eq!(ship.configuration["DeploymentGroupName"], format!("1.2.3/{id}/#{{Nope"));
    assert_eq!(ship.inputs["Bin"], format!("Bin by Compile of {id} from [Src by Code of {id} from []]"));
    // The store keeps the resolved configuration and the output variables.
    let row = snap.action("Deploy", "Ship").unwrap();
    assert_eq!(row.resolved_configuration["ApplicationName"], "app-prod");
    assert_eq!(snap.action("Build", "Compile").unwrap().output_variables["VERSION"], "1.2.3");
}

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

fn approval_stage(extra: &str) -> String {
    format!("    - name: Release\n      actions:\n{}", action("Approve", "Approval", "Manual", 1, &[], &[], &format!("          configuration: {{CustomData: \"ship #{{SourceVariables.CommitId}}?\"}}\n{extra}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_approval_fails_the_stage_and_the_execution() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.set("Code", Behavior { variables: BTreeMap::from([("CommitId".into(), "c0ffee".into())]), ..Default::default() });
    let yaml = header("approve", "") + &source_stage() + &approval_stage("") + "    - name: Prod\n      actions:\n" + &build("Never", 1, &["Src"], &[], "");
    let p = pipeline(&yaml);
    let engine = engine(dir.path(), &fake, EngineOptions { return_when_waiting: true, ..fast() }).await;
    let id = engine.start(&p, StartOptions::default()).await.unwrap();
    let out = engine.drive(&id).await.unwrap();
    assert_eq!((out.status, out.pending_approvals.clone()), (ExecutionStatus::InProgress, vec![("Release".to_string(), "Approve".to_string())]));
    let request = fake.approvals.lock().unwrap()[0].clone();
    assert_eq!(request.custom_data.as_deref(), Some("ship c0ffee?"));
    // A wrong token is refused; the right answer from "another terminal" (a second engine).
    let other = common::engine(dir.path(), &fake, fast()).await;
    let err = other.approve(&id, "Release", "Approve", Some("not-the-token"), false, "no", "bob").await.unwrap_err().to_string();
    assert!(err.contains("InvalidApprovalTokenException"), "{err}");
    other.approve(&id, "Release", "Approve", Some(&request.token), false, "not today", "alice").await.unwrap();
    let again = other.approve(&id, "Release", "Approve", None, true, "ok", "bob").await.unwrap_err().to_string();
    assert!(again.contains("ApprovalAlreadyCompletedException"), "{again}");
    let out = engine.drive(&id).await.unwrap();
    assert_eq!(out.status, ExecutionStatus::Failed);
    let snap = engine.store().snapshot(&id).await.unwrap();
    assert_eq!(snap.stage("Release").unwrap().status, StageStatus::Failed);
    let row = snap.action("Release", "Approve").unwrap();
    assert_eq!((row.status, row.updated_by.as_deref(), row.summary.as_deref()), (ActionStatus::Failed, Some("alice"), Some("not today")));
    assert!(snap.stage("Prod").is_none());
    assert_eq!(fake.calls("Never"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_times_out_like_a_failed_action_and_an_approved_one_continues() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let yaml = header("timeout", "") + &source_stage() + &approval_stage("") + "    - name: Prod\n      actions:\n" + &build("After", 1, &["Src"], &[], "");
    let p = pipeline(&yaml);
    let engine = engine(dir.path(), &fake, EngineOptions { approval_timeout: Duration::from_millis(300), ..fast() }).await;
    let id = engine.start(&p, StartOptions::default()).await.unwrap();
    let out = engine.drive(&id).await.unwrap();
    assert_eq!(out.status, ExecutionStatus::Failed);
    let snap = engine.store().snapshot(&id).await.unwrap();
    assert!(snap.action("Release", "Approve").unwrap().summary.as_deref().unwrap().contains("expired"));
    // Approved: the next stage runs.
    let engine = common::engine(dir.path(), &fake, EngineOptions { return_when_waiting: true, ..fast() }).await;
    let id = engine.start(&p, StartOptions::default()).await.unwrap();
    engine.drive(&id).await.unwrap();
    engine.approve(&id, "Release", "Approve", None, true, "lgtm", "carol").await.unwrap();
    assert_eq!(engine.drive(&id).await.unwrap().status, ExecutionStatus::Succeeded);
    assert_eq!(fake.calls("After"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_stage_is_retried_running_only_its_failed_actions() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.set("Flaky", Behavior { fail_times: 1, ..Default::default() });
    let yaml = header("retry", "") + &source_stage() + "    - name: Build\n      actions:\n" + &build("Good", 1, &["Src"], &["G"], "") + &build("Flaky", 1, &["Src"], &[], "") + &build("Later", 2, &["G"], &[], "");
    let p = pipeline(&yaml);
    let engine = engine(dir.path(), &fake, fast()).await;
    let id = engine.start(&p, StartOptions::default()).await.unwrap();
    let out = engine.drive(&id).await.unwrap();
    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!((fake.calls("Good"), fake.calls("Flaky"), fake.calls("Later")), (1, 1, 0), "a failure stops later runOrders");
    // Retrying a stage that did not fail is refused; the failed one is retried.
    assert!(engine.retry(&id, "Source", RetryMode::FailedActions).await.unwrap_err().to_string().contains("StageNotRetryableException"));
    engine.retry(&id, "Build", RetryMode::FailedActions).await.unwrap();
    assert_eq!(engine.drive(&id).await.unwrap().status, ExecutionStatus::Succeeded);
    assert_eq!((fake.calls("Good"), fake.calls("Flaky"), fake.calls("Later")), (1, 2, 1));
    let snap = engine.store().snapshot(&id).await.unwrap();
    let stage = snap.stage("Build").unwrap();
    assert_eq!((stage.attempt, stage.retry_trigger.as_deref()), (2, Some("ManualStageRetry")));
    assert_eq!(snap.action("Build", "Flaky").unwrap().attempt, 2);
    // ALL_ACTIONS after success is refused (the execution succeeded).
    assert!(engine.retry(&id, "Build", RetryMode::AllActions).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_failure_retry_retries_once_automatically() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.set("Flaky", Behavior { fail_times: 1, ..Default::default() });
    fake.set("Broken", Behavior { fail_times: 99, ..Default::default() });
    let stage = |name: &str, action: &str| format!("    - name: {name}\n      onFailure: {{result: RETRY, retryConfiguration: {{retryMode: ALL_ACTIONS}}}}\n      actions:\n{}", build(action, 1, &["Src"], &[], ""));
    let yaml = header("auto", "  pipelineType: V2\n") + &source_stage() + &stage("One", "Flaky") + &stage("Two", "Broken");
    let p = pipeline(&yaml);
    let engine = engine(dir.path(), &fake, fast()).await;
    let id = engine.start(&p, StartOptions::default()).await.unwrap();
    assert_eq!(engine.drive(&id).await.unwrap().status, ExecutionStatus::Failed);
    assert_eq!((fake.calls("Flaky"), fake.calls("Broken")), (2, 2), "one automatic retry per stage");
    let snap = engine.store().snapshot(&id).await.unwrap();
    assert_eq!(snap.stage("One").unwrap().retry_trigger.as_deref(), Some("AutomatedStageRetry"));
    assert_eq!(snap.stage("Two").unwrap().status, StageStatus::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_stage_failure_rolls_back_to_the_last_successful_execution() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let yaml = header("rollback", "  pipelineType: V2\n")
        + &source_stage()
        + "    - name: Build\n      actions:\n"
        + &build("Compile", 1, &["Src"], &["Bin"], "")
        + "    - name: Deploy\n      onFailure: {result: ROLLBACK}\n      actions:\n"
        + &action("Ship", "Deploy", "CodeDeploy", 1, &["Bin"], &[], "          configuration: {ApplicationName: a, DeploymentGroupName: g}\n")
        + &build("Smoke", 2, &["Src"], &[], "");
    let p = pipeline(&yaml);
    let engine = engine(dir.path(), &fake, fast()).await;
    let good = engine.start(&p, StartOptions::default()).await.unwrap();
    assert_eq!(engine.drive(&good).await.unwrap().status, ExecutionStatus::Succeeded);
    let good_bin = engine.store().snapshot(&good).await.unwrap().artifact("Bin").unwrap().digest.clone();
    // The next execution's smoke test fails: the Deploy stage rolls back.
    fake.set("Smoke", Behavior { fail_times: 2, ..Default::default() }); // its second call (the first was the good run)
    let bad = engine.start(&p, StartOptions::default()).await.unwrap();
    let out = engine.drive(&bad).await.unwrap();
    assert_eq!(out.status, ExecutionStatus::Failed);
    let rollback = out.rollback.expect("a rollback execution");
    assert_eq!(engine.drive(&rollback).await.unwrap().status, ExecutionStatus::Succeeded);
    let snap = engine.store().snapshot(&rollback).await.unwrap();
    assert_eq!(snap.execution.rollback_target.as_deref(), Some(good.as_str()));
    assert_eq!(snap.execution.trigger_type, "AutomatedRollback");
    assert!(snap.stage("Source").is_none() && snap.stage("Build").is_none(), "only the failed stage runs");
    let ship = fake.events().into_iter().rfind(|e| e.action == "Ship").unwrap();
    assert_eq!(ship.execution, rollback);
    assert_eq!(ship.digests["Bin"], good_bin, "the rollback deploys the last good execution's artifact");
    assert_eq!(fake.calls("Compile"), 2, "nothing is rebuilt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_kiln_cannot_run_are_reported_before_the_run_starts() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let yaml = header("nope", "")
        + &source_stage()
        + "    - name: Deploy\n      actions:\n"
        + &action("Stack", "Deploy", "CloudFormation", 1, &[], &[], "          configuration: {ActionMode: DELETE_ONLY, StackName: s, RoleArn: r}\n");
    let p = pipeline(&yaml);
    let engine = engine(dir.path(), &fake, fast()).await;
    let err = engine.start(&p, StartOptions::default()).await.unwrap_err().to_string();
    assert!(err.contains("Deploy/Stack: kiln does not run CloudFormation Deploy actions"), "{err}");
    assert!(engine.store().executions(None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_abandon_ends_running_actions_as_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.set("Slow", Behavior { sleep: Duration::from_secs(30), ..Default::default() });
    let yaml = header("stop", "") + &source_stage() + "    - name: Build\n      actions:\n" + &build("Slow", 1, &["Src"], &[], "");
    let p = pipeline(&yaml);
    let engine = std::sync::Arc::new(engine(dir.path(), &fake, fast()).await);
    let id = engine.start(&p, StartOptions::default()).await.unwrap();
    let driver = {
        let (engine, id) = (engine.clone(), id.clone());
        tokio::spawn(async move { engine.drive(&id).await })
    };
    while engine.store().snapshot(&id).await.unwrap().action("Build", "Slow").is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    engine.stop(&id, true, Some("enough")).await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(10), driver).await.unwrap().unwrap().unwrap();
    assert_eq!(out.status, ExecutionStatus::Stopped, "{:#?}", engine.store().snapshot(&id).await.unwrap());
    let snap = engine.store().snapshot(&id).await.unwrap();
    assert_eq!(snap.action("Build", "Slow").unwrap().status, ActionStatus::Abandoned);
    assert_eq!(snap.stage("Build").unwrap().status, StageStatus::Stopped);
    assert!(engine.stop(&id, false, None).await.unwrap_err().to_string().contains("PipelineExecutionNotStoppableException"));
}
