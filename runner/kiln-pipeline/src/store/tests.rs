use super::*;
use crate::exec::status::{ActionStatus, ExecutionStatus, ExecutionType};
use crate::model::ExecutionMode;

fn new(id: &str) -> NewExecution {
    NewExecution {
        id: id.into(),
        pipeline: "p".into(),
        definition: "{}".into(),
        definition_digest: "d".into(),
        mode: ExecutionMode::Superseded,
        execution_type: ExecutionType::Standard,
        rollback_target: None,
        rollback_stage: None,
        variables: Default::default(),
        trigger_type: "StartPipelineExecution".into(),
        trigger_detail: None,
        source_revisions: Vec::new(),
    }
}

#[tokio::test]
async fn a_stale_writer_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.create_execution(&new("e1")).await.unwrap(), 1);
    assert_eq!(store.try_enter_stage("e1", "S").await.unwrap(), Enter::Entered);
    let far = now_ms() + 60_000;
    assert!(store.start_action("e1", "S", "A", 1, 1, Some("old"), Some(far), None).await.unwrap());
    // A second start of the same attempt loses.
    assert!(!store.start_action("e1", "S", "A", 1, 1, Some("other"), Some(far), None).await.unwrap());
    // Taking over attempt 1 from the wrong owner fails; from its owner's record, succeeds.
    assert!(!store.start_action("e1", "S", "A", 2, 1, Some("new"), Some(far), Some((1, Some("someone".into())))).await.unwrap());
    assert!(store.start_action("e1", "S", "A", 2, 1, Some("new"), Some(far), Some((1, Some("old".into())))).await.unwrap());
    // The old owner can neither renew nor complete attempt 1, nor complete attempt 2.
    assert!(!store.renew_lease("e1", "S", "A", 1, "old", far).await.unwrap());
    let obj = store.cas().put_bytes(b"x").unwrap();
    let art = [("Out".to_string(), obj)];
    assert!(!store.complete_action("e1", "S", "A", 1, Some("old"), ActionStatus::Succeeded, None, None, "{}", "{}", None, "{}", &art).await.unwrap());
    assert!(!store.complete_action("e1", "S", "A", 2, Some("old"), ActionStatus::Succeeded, None, None, "{}", "{}", None, "{}", &art).await.unwrap());
    let snap = store.snapshot("e1").await.unwrap();
    assert!(snap.artifacts.is_empty(), "nothing of the stale writes landed");
    assert_eq!(snap.actions.iter().map(|a| (a.attempt, a.status)).collect::<Vec<_>>(), vec![(1, ActionStatus::Abandoned), (2, ActionStatus::InProgress)]);
    // The current owner completes; completing twice does nothing the second time.
    assert!(store.complete_action("e1", "S", "A", 2, Some("new"), ActionStatus::Succeeded, Some("ok"), None, "{}", "{}", Some("build-7"), r#"{"provenanceDigest":"sha256:ab"}"#, &art).await.unwrap());
    assert!(!store.complete_action("e1", "S", "A", 2, Some("new"), ActionStatus::Failed, Some("late"), None, "{}", "{}", None, "{}", &[]).await.unwrap());
    let snap = store.snapshot("e1").await.unwrap();
    assert_eq!(snap.action("S", "A").unwrap().status, ActionStatus::Succeeded);
    assert_eq!(snap.artifact("Out").unwrap().attempt, 2);
    // The external id and the details (schema 2) are kept with the attempt that wrote them.
    let a = snap.actions.iter().find(|a| a.attempt == 2).unwrap();
    assert_eq!((a.external_execution_id.as_deref(), a.output_details.get("provenanceDigest").map(String::as_str)), (Some("build-7"), Some("sha256:ab")));
    assert!(snap.actions.iter().find(|a| a.attempt == 1).unwrap().output_details.is_empty());
}

#[tokio::test]
async fn stage_locks_hold_one_execution_and_free_on_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    for id in ["e1", "e2"] {
        store.create_execution(&new(id)).await.unwrap();
    }
    assert_eq!(store.try_enter_stage("e1", "S").await.unwrap(), Enter::Entered);
    assert_eq!(store.try_enter_stage("e1", "S").await.unwrap(), Enter::Entered, "re-entering is idempotent");
    assert_eq!(store.try_enter_stage("e2", "S").await.unwrap(), Enter::Waiting);
    assert!(store.end_stage("e1", "S", 1, crate::exec::status::StageStatus::Succeeded).await.unwrap());
    assert!(!store.end_stage("e1", "S", 1, crate::exec::status::StageStatus::Failed).await.unwrap(), "ended once");
    assert_eq!(store.try_enter_stage("e2", "S").await.unwrap(), Enter::Entered);
    assert!(store.finish_execution("e2", ExecutionStatus::Failed, crate::exec::status::StageStatus::Failed, Some("x")).await.unwrap());
    assert!(!store.finish_execution("e2", ExecutionStatus::Succeeded, crate::exec::status::StageStatus::Succeeded, None).await.unwrap());
    assert_eq!(store.try_enter_stage("e2", "T").await.unwrap(), Enter::NotRunning);
    // The store refuses a symbolic link as its directory.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(dir.path(), &link).unwrap();
    assert!(Store::open(&link).await.unwrap_err().to_string().contains("symbolic link"));
}

#[tokio::test]
async fn a_ref_move_starts_one_execution_however_many_watchers_saw_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.watched_refs("p", "Source").await.unwrap(), None, "never watched");
    let (a, b) = ("a".repeat(40), "b".repeat(40));
    store.record_baseline("p", "Source", &[("refs/heads/main".to_string(), a.clone())].into()).await.unwrap();
    // A second baseline keeps what is recorded.
    store.record_baseline("p", "Source", &[("refs/heads/main".to_string(), b.clone())].into()).await.unwrap();
    assert_eq!(store.watched_refs("p", "Source").await.unwrap(), Some([("refs/heads/main".to_string(), a.clone())].into()));
    let mut start = new("e1");
    start.source_revisions = vec![crate::exec::traits::SourceRevision { reference: Some("refs/heads/main".into()), ..crate::exec::traits::SourceRevision::commit("Source", &b) }];
    start.trigger_detail = Some("refs/heads/main".into());
    let m = RefMove { pipeline: "p".into(), source_action: "Source".into(), reference: "refs/heads/main".into(), old: Some(a.clone()), new: Some(b.clone()) };
    assert!(store.record_move(&m, Some(&start)).await.unwrap());
    // A second watcher that saw the same move records nothing and starts nothing.
    assert!(!store.record_move(&m, Some(&new("e2"))).await.unwrap());
    assert!(!store.has_execution("e2").await.unwrap());
    let e = store.snapshot("e1").await.unwrap().execution;
    assert_eq!((e.source_revisions, e.trigger_detail.as_deref()), (start.source_revisions.clone(), Some("refs/heads/main")));
    // A deletion and a new tag, without runs.
    let del = RefMove { old: Some(b.clone()), new: None, ..m.clone() };
    assert!(store.record_move(&del, None).await.unwrap());
    let tag = RefMove { reference: "refs/tags/v1".into(), old: None, new: Some(a.clone()), ..m };
    assert!(store.record_move(&tag, None).await.unwrap());
    assert_eq!(store.watched_refs("p", "Source").await.unwrap(), Some([("refs/tags/v1".to_string(), a)].into()));
}

#[tokio::test]
async fn a_schema_2_store_is_migrated_and_its_runs_read_without_pinned_revisions() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A store as kiln wrote it before schema 3.
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("pipeline.db").display());
        let pool = sqlx::sqlite::SqlitePoolOptions::new().connect(&url).await.unwrap();
        let m = Migrator::new(MigrationList(2)).await.unwrap();
        m.run(&pool).await.unwrap();
        sqlx::query("INSERT INTO executions (id, pipeline, seq, definition, definition_digest, mode, execution_type, status, variables, trigger_type, created_at, updated_at) VALUES ('old', 'p', 1, '{}', 'd', 'SUPERSEDED', 'STANDARD', 'Succeeded', '{}', 'StartPipelineExecution', 1, 1)").execute(&pool).await.unwrap();
        pool.close().await;
    }
    let store = Store::open(dir.path()).await.unwrap();
    let e = store.snapshot("old").await.unwrap().execution;
    assert!(e.source_revisions.is_empty() && e.trigger_detail.is_none());
    assert_eq!(store.watched_refs("p", "Source").await.unwrap(), None);
}
