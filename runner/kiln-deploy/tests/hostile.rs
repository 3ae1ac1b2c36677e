//! Hostile input: links out of a bundle or the record store, output floods, strategy strings
//! with control characters, ids that try to be paths.

mod common;

use common::*;
use kiln_deploy::fake::{Behavior, HookRule};
use kiln_deploy::record::{RevisionRef, Store, StoreError};
use kiln_deploy::strategy::{Action, StrategyError};
use kiln_deploy::{Deployment, Revision, RevisionError};
use kiln_spec::appspec::Event;

#[test]
fn an_appspec_that_links_out_of_its_bundle_is_refused() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("secret"), "version: 0.0\nos: linux\n# root:x:0:0\n").unwrap();
    let bundle = d.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    std::os::unix::fs::symlink("../secret", bundle.join("appspec.yml")).unwrap();
    let err = Revision::load(RevisionRef { name: "x".into(), bundle: bundle.display().to_string(), sha256: String::new(), provenance_sha256: None }).unwrap_err();
    assert!(matches!(err, RevisionError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("outside"), "{err}");
    assert!(!err.to_string().contains("root:x"));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(Revision::load(RevisionRef { name: "x".into(), bundle: empty.path().display().to_string(), sha256: String::new(), provenance_sha256: None }), Err(RevisionError::NoAppSpec { .. })));
}

#[test]
fn a_record_directory_that_is_a_link_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("deployment.json"), "{}").unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), store.root().join("d-AAAAAAAAA")).unwrap();
    assert!(matches!(Deployment::status(&store, "d-AAAAAAAAA"), Err(StoreError::Link(_))));
    assert!(Deployment::list(&store).is_err(), "a planted link is an error, not a silent skip");
    for bad in ["../../../etc", "d-aaaaaaaaa", "d-AAAAAAAAA/..", ""] {
        assert!(matches!(Deployment::status(&store, bad), Err(StoreError::NotFound(_))), "{bad}");
    }
}

#[test]
fn a_record_that_is_a_link_is_not_read() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let dir = store.root().join("d-BBBBBBBBB");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("deployment.json")).unwrap();
    let err = Deployment::status(&store, "d-BBBBBBBBB").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(!err.to_string().contains("root:"), "{err}");
}

#[tokio::test]
async fn a_hook_that_floods_its_output_keeps_a_bounded_log_tail() {
    let h = Harness::new(&["web-1"]);
    let lines: Vec<String> = (0..20_000).map(|i| format!("line {i} {}", "x".repeat(50))).collect();
    h.target.add_rule(HookRule { instance: None, event: Event::AfterInstall.name().into(), revision: None, behavior: Behavior::Exit(1), output: lines });
    let g = group("applicationName: web\ndeploymentGroupName: prod\ndeploymentConfigName: CodeDeployDefault.AllAtOnce\ntargets: {driver: fake, instances: [web-1]}\n");
    let out = h.deploy(&g, server_revision(&h.path(), "v1")).await;
    let event = out.deployment.deployment_targets[0].core().lifecycle_events.iter().find(|e| e.lifecycle_event_name == "AfterInstall").unwrap().clone();
    let tail = event.diagnostics.unwrap().log_tail;
    assert!(tail.len() <= 2048 && tail.ends_with("line 19999 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"), "{}", tail.len());
    assert!(tail.starts_with("[stdout]line "), "whole lines only");
    let record = std::fs::metadata(h.store.root().join(&out.deployment.deployment_id).join("deployment.json")).unwrap().len();
    assert!(record < 64 * 1024, "record is {record} bytes");
}

#[tokio::test]
async fn strategy_strings_reach_the_record_cleaned_and_bounded() {
    let h = Harness::new(&["web-1"]);
    let evil = format!("\u{1b}[2J\u{7}{}", "A".repeat(10_000));
    let e2 = evil.clone();
    *h.runner.replace.lock().unwrap() = Some(Native::Scripted(Scripted(Box::new(move |_| Ok(Action::RollBack(e2.clone()))))));
    let g = group("applicationName: web\ndeploymentGroupName: prod\ndeploymentConfigName: CodeDeployDefault.AllAtOnce\ntargets: {driver: fake, instances: [web-1]}\n");
    let out = h.deploy(&g, server_revision(&h.path(), "v1")).await;
    let message = &out.deployment.error_information.as_ref().unwrap().message;
    assert!(!message.chars().any(char::is_control), "{message:?}");
    assert!(message.len() < 300, "{}", message.len());
    let last = out.deployment.kiln.strategy.as_ref().unwrap().last_action.clone().unwrap();
    assert!(!last.chars().any(char::is_control) && last.len() < 300);
    let _ = StrategyError::Failed(String::new());
}
