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
