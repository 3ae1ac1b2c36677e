//! `kill -9` of the process running a deployment, at several points: the record says the
//! deployment was interrupted, and `resume` or `rollback` (in another process, here the test)
//! brings the fleet to a known state. The fleet and the load balancer are the fakes persisted to
//! files, as a real fleet and a router recreated from the record outlive kiln.
//!
//! The child is this test binary run again with `KILN_DEPLOY_KILL9` set, running only the `child`
//! test, which deploys and never returns before the parent kills it.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;
use kiln_deploy::fake::{Behavior, FakeTarget, FakeTraffic};
use kiln_deploy::record::{DeploymentInfo, DeploymentStatus, LifecycleEventStatus, Store, TargetStatus, Weights};
use kiln_deploy::{Deployment, Env, RunOptions};
use kiln_spec::appspec::Event;

const IN_PLACE: &str = "applicationName: web\ndeploymentGroupName: prod\ndeploymentConfigName: CodeDeployDefault.OneAtATime\ndeploymentStyle: {deploymentType: IN_PLACE, deploymentOption: WITH_TRAFFIC_CONTROL}\ntargets: {driver: fake, instances: [web-1, web-2, web-3]}\n";
const ECS: &str = "applicationName: shop\ndeploymentGroupName: ecs\ncomputePlatform: ECS\ndeploymentConfigName: CodeDeployDefault.ECSCanary10Percent5Minutes\ntargets: {driver: fake, instances: [task-1]}\n";
const ECS_APPSPEC: &str = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties: {TaskDefinition: td, LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}}\n";

struct Files {
    dir: PathBuf,
}

impl Files {
    fn fleet(&self) -> PathBuf {
        self.dir.join("fleet.json")
    }
    fn traffic(&self) -> PathBuf {
        self.dir.join("traffic.json")
    }
    fn store(&self) -> Store {
        Store::open(&self.dir.join("project")).unwrap()
    }
    fn bundles(&self) -> PathBuf {
        self.dir.join("bundles")
    }
}

fn options() -> RunOptions {
    RunOptions { time_scale: 0.001, alarm_interval: Duration::from_millis(10), health_interval: None, ..RunOptions::default() }
}

/// The persisted fakes, loaded, and what an engine environment needs.
struct Live {
    store: Store,
    target: FakeTarget,
    traffic: FakeTraffic,
    metrics: kiln_deploy::metrics::SampleStore,
    runner: Runner,
}

impl Live {
    fn load(files: &Files) -> Live {
        Live {
            store: files.store(),
            target: FakeTarget::load(&files.fleet()).unwrap(),
            traffic: FakeTraffic::load(&files.traffic()).unwrap(),
            metrics: kiln_deploy::metrics::SampleStore::default(),
            runner: Runner::default(),
        }
    }

    fn env(&self) -> Env<'_> {
        Env { store: &self.store, target: &self.target, traffic: Some(&self.traffic), strategies: &self.runner, metrics: &self.metrics, reporter: std::sync::Arc::new(kiln_deploy::report::Silent), options: options() }
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

fn revision(files: &Files, scenario: &str, name: &str) -> kiln_deploy::Revision {
    if scenario == "ecs" { bundle(&files.bundles(), name, ECS_APPSPEC, &[]) } else { server_revision(&files.bundles(), name) }
}

fn group_of(scenario: &str) -> kiln_deploy::group::DeploymentGroup {
    group(if scenario == "ecs" { ECS } else { IN_PLACE })
}

/// The scenario's starting state: the fleet, v1 deployed (in place), the slow parts scripted.
fn setup(scenario: &str, slow_shift: bool) -> (tempfile::TempDir, Files) {
    let tmp = tempfile::tempdir().unwrap();
    let files = Files { dir: tmp.path().to_path_buf() };
    std::fs::create_dir_all(files.dir.join("project")).unwrap();
    let ids: &[&str] = if scenario == "ecs" { &["task-1"] } else { &["web-1", "web-2", "web-3"] };
    let target = FakeTarget::new(ids).persisted(&files.fleet());
    let traffic = FakeTraffic::new(ids).persisted(&files.traffic());
    if slow_shift {
        traffic.set_latency(2_000);
    }
    if scenario != "ecs" {
        let live = Live::load(&files);
        let plan = Deployment::plan(&group_of("in-place"), revision(&files, "in-place", "v1"), Default::default()).unwrap();
        assert_eq!(block_on(Deployment::run(&plan, &live.env())).unwrap().deployment.status, DeploymentStatus::Succeeded);
        // v2's AfterInstall takes 300 ms on every instance: a window to kill in.
        let target = FakeTarget::load(&files.fleet()).unwrap();
        target.add_rule(kiln_deploy::fake::HookRule { instance: None, event: Event::AfterInstall.name().into(), revision: Some("v2".into()), behavior: Behavior::Sleep(300), output: vec![] });
    }
    drop(target);
    (tmp, files)
}

/// The child: deploy v2 of the scenario (killed by the parent before it ends).
#[test]
fn child() {
    let Ok(dir) = std::env::var("KILN_DEPLOY_KILL9") else { return };
    let scenario = std::env::var("KILN_DEPLOY_SCENARIO").unwrap();
    let files = Files { dir: PathBuf::from(dir) };
    let live = Live::load(&files);
    let plan = Deployment::plan(&group_of(&scenario), revision(&files, &scenario, "v2"), Default::default()).unwrap();
    let _ = block_on(Deployment::run(&plan, &live.env()));
    // Should the deployment end before the kill, wait for it.
    std::thread::sleep(Duration::from_secs(60));
}

fn spawn(files: &Files, scenario: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env("KILN_DEPLOY_KILL9", &files.dir)
        .env("KILN_DEPLOY_SCENARIO", scenario)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Poll the child's newest deployment until `ready` says it is at the kill point, then SIGKILL it.
fn kill_when(files: &Files, mut child: Child, ready: impl Fn(&DeploymentInfo) -> bool) -> String {
    let store = files.store();
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(30), "the kill point never came");
        assert!(child.try_wait().unwrap().is_none(), "the child ended on its own");
        if let Some(d) = store.list().unwrap().into_iter().rfind(|d| d.kiln.pid == child.id() && ready(d)) {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return d.deployment_id;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn target_status(d: &DeploymentInfo, id: &str) -> TargetStatus {
    d.deployment_targets.iter().map(|t| t.core()).find(|t| t.target_id == id).map(|t| t.status).unwrap_or(TargetStatus::Unknown)
}

fn event_running(d: &DeploymentInfo, id: &str, event: Event) -> bool {
    d.deployment_targets.iter().map(|t| t.core()).filter(|t| t.target_id == id).flat_map(|t| &t.lifecycle_events).any(|e| e.lifecycle_event_name == event.name() && e.status == LifecycleEventStatus::InProgress)
}

fn interrupted(files: &Files, id: &str) -> DeploymentInfo {
    let d = Deployment::status(&files.store(), id).unwrap();
    assert!(d.kiln.interrupted, "{:?}", d.status);
    assert!(!d.status.is_final());
    let listed = Deployment::list(&files.store()).unwrap();
    assert!(listed.iter().any(|x| x.deployment_id == id && x.kiln.interrupted));
    d
}

fn installed(files: &Files) -> Vec<Option<String>> {
    let t = FakeTarget::load(&files.fleet()).unwrap();
    t.fleet().iter().map(|id| t.instance(id).unwrap().installed).collect()
}

#[test]
fn killed_while_a_hook_runs_then_resumed() {
    let (_tmp, files) = setup("in-place", false);
    let child = spawn(&files, "in-place");
    let id = kill_when(&files, child, |d| event_running(d, "web-1", Event::AfterInstall));
    let d = interrupted(&files, &id);
    assert_eq!(target_status(&d, "web-1"), TargetStatus::InProgress);
    let out = block_on(Deployment::resume(&id, &group_of("in-place"), &Live::load(&files).env())).unwrap();
    assert_eq!(out.deployment.status, DeploymentStatus::Succeeded, "{:?}", out.deployment.error_information);
    assert!(!out.deployment.kiln.interrupted);
    assert!(out.deployment.deployment_status_messages.iter().any(|m| m.contains("resumed")));
    assert_eq!(installed(&files), [Some("v2".into()), Some("v2".into()), Some("v2".into())]);
    // Every instance in service again, on v2.
    let traffic = FakeTraffic::load(&files.traffic()).unwrap();
    assert!(traffic.instances().values().all(|(_, on)| *on), "{:?}", traffic.instances());
}

#[test]
fn killed_between_instances_then_rolled_back() {
    let (_tmp, files) = setup("in-place", false);
    let child = spawn(&files, "in-place");
    let id = kill_when(&files, child, |d| target_status(d, "web-1") == TargetStatus::Succeeded && event_running(d, "web-2", Event::AfterInstall));
    interrupted(&files, &id);
    let out = block_on(Deployment::rollback(&id, &group_of("in-place"), &Live::load(&files).env())).unwrap();
    assert_eq!(out.deployment.status, DeploymentStatus::Stopped);
    assert!(out.deployment.error_information.as_ref().unwrap().message.contains("interrupted"));
    let rb = out.rollback.expect("a rollback deployment");
    assert_eq!(rb.status, DeploymentStatus::Succeeded, "{:?}", rb.error_information);
    assert_eq!(rb.deployment_targets.len(), 2, "web-1 and web-2 were touched");
    assert_eq!(installed(&files), [Some("v1".into()), Some("v1".into()), Some("v1".into())]);
    // A second attempt is refused: the deployment is final and rolled back.
    let again = block_on(Deployment::rollback(&out.deployment.deployment_id, &group_of("in-place"), &Live::load(&files).env()));
    assert!(again.is_err());
}

#[test]
fn killed_during_a_canary_wait_then_rolled_back() {
    let (_tmp, files) = setup("ecs", false);
    let child = spawn(&files, "ecs");
    let id = kill_when(&files, child, |d| d.kiln.traffic.as_ref().is_some_and(|t| t.current.replacement == 10));
    let d = interrupted(&files, &id);
    assert_eq!(d.kiln.traffic.as_ref().unwrap().current, Weights::to_replacement(10));
    assert_eq!(FakeTraffic::load(&files.traffic()).unwrap().current(), Weights::to_replacement(10), "the load balancer is half-shifted, and the record says so");
    let out = block_on(Deployment::rollback(&id, &group_of("ecs"), &Live::load(&files).env())).unwrap();
    assert_eq!(out.rollback.as_ref().unwrap().status, DeploymentStatus::Succeeded);
    let traffic = FakeTraffic::load(&files.traffic()).unwrap();
    assert_eq!(traffic.current(), Weights::ORIGINAL);
    assert_eq!(FakeTarget::load(&files.fleet()).unwrap().fleet(), ["task-1"]);
    assert!(FakeTarget::load(&files.fleet()).unwrap().instances().keys().all(|k| k == "task-1"), "the replacement task set is gone");
}

#[test]
fn killed_during_a_canary_wait_then_resumed() {
    let (_tmp, files) = setup("ecs", false);
    let child = spawn(&files, "ecs");
    let id = kill_when(&files, child, |d| d.kiln.traffic.as_ref().is_some_and(|t| t.current.replacement == 10));
    interrupted(&files, &id);
    let out = block_on(Deployment::resume(&id, &group_of("ecs"), &Live::load(&files).env())).unwrap();
    assert_eq!(out.deployment.status, DeploymentStatus::Succeeded, "{:?}", out.deployment.error_information);
    let steps: Vec<u8> = out.deployment.kiln.traffic.as_ref().unwrap().history.iter().map(|c| c.weights.replacement).collect();
    // 10 before the kill, 10 re-asserted on resume, then the rest of the canary.
    assert_eq!(&steps[..3], [10, 10, 10], "{steps:?}");
    assert_eq!(steps[3], 100, "{steps:?}");
    assert_eq!(FakeTarget::load(&files.fleet()).unwrap().fleet().len(), 1);
}

#[test]
fn killed_with_a_weight_change_pending_then_resumed() {
    let (_tmp, files) = setup("ecs", true);
    let child = spawn(&files, "ecs");
    let id = kill_when(&files, child, |d| d.kiln.traffic.as_ref().is_some_and(|t| t.pending.is_some()));
    let d = interrupted(&files, &id);
    let t = d.kiln.traffic.as_ref().unwrap();
    assert_eq!((t.current, t.pending), (Weights::ORIGINAL, Some(Weights::to_replacement(10))), "the record says the router may be at either");
    // Resume: the pending change is undone first, then the canary runs again to the end.
    let traffic = FakeTraffic::load(&files.traffic()).unwrap();
    traffic.set_latency(0);
    drop(traffic);
    let out = block_on(Deployment::resume(&id, &group_of("ecs"), &Live::load(&files).env())).unwrap();
    assert_eq!(out.deployment.status, DeploymentStatus::Succeeded, "{:?}", out.deployment.error_information);
    let history = &out.deployment.kiln.traffic.as_ref().unwrap().history;
    assert!(history[0].reason.contains("pending at the interruption is undone"), "{history:?}");
    assert_eq!(out.deployment.kiln.traffic.as_ref().unwrap().pending, None);
    assert_eq!(FakeTraffic::load(&files.traffic()).unwrap().current(), Weights::ORIGINAL, "the replacement set is the original set now");
}

#[test]
fn a_running_deployment_is_not_interrupted_and_cannot_be_taken_over() {
    let (_tmp, files) = setup("in-place", false);
    let mut child = spawn(&files, "in-place");
    let store = files.store();
    let started = Instant::now();
    let id = loop {
        assert!(started.elapsed() < Duration::from_secs(30));
        if let Some(d) = store.list().unwrap().into_iter().find(|d| d.kiln.pid == child.id() && event_running(d, "web-1", Event::AfterInstall)) {
            break d.deployment_id;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let d = Deployment::status(&store, &id).unwrap();
    assert!(!d.kiln.interrupted);
    let err = block_on(Deployment::resume(&id, &group_of("in-place"), &Live::load(&files).env())).unwrap_err();
    assert!(err.to_string().contains("only an interrupted deployment"), "{err}");
    child.kill().unwrap();
    child.wait().unwrap();
}
