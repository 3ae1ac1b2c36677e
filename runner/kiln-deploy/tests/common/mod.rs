//! Shared test helpers: native strategies (test doubles of the built-in strategy plugins, which
//! are WebAssembly components in the product), revision bundles in temp directories, a harness
//! with the in-memory fakes.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_deploy::fake::{FakeTarget, FakeTraffic};
use kiln_deploy::group::{parse_group, DeploymentGroup};
use kiln_deploy::metrics::SampleStore;
use kiln_deploy::record::{RevisionRef, Store};
use kiln_deploy::report::Collect;
use kiln_deploy::strategy::{Action, BoxFuture, InstanceSet, Observation, Strategy, StrategyError, StrategyIdentity, StrategyRunner, StrategySpec};
use kiln_deploy::{Deployment, DeploymentOptions, Env, Plan, Revision, RunOptions, RunOutcome};
use serde_json::Value;

/// The built-in `batched` strategy's behaviour: as many instances at a time as minimum healthy
/// hosts allows, in the order the host lists them; then (blue/green) all traffic; then succeed.
pub struct Batched {
    max: usize,
    min: usize,
    blue_green: bool,
    sent: HashSet<String>,
}

impl Batched {
    pub fn from(config: &Value) -> Self {
        let n = |k: &str| config.get(k).and_then(Value::as_u64).unwrap_or(1) as usize;
        Batched { max: n("maxBatchSize").max(1), min: config.get("minimumHealthyHosts").and_then(Value::as_u64).unwrap_or(0) as usize, blue_green: config["blueGreen"] == Value::Bool(true), sent: HashSet::new() }
    }

    fn decide(&mut self, o: &Observation) -> Action {
        let set = if self.blue_green { InstanceSet::Replacement } else { InstanceSet::Original };
        let fleet: Vec<_> = o.instances.iter().filter(|i| i.instance_set == set).collect();
        let todo: Vec<String> = fleet.iter().filter(|i| !self.sent.contains(&i.id)).map(|i| i.id.clone()).collect();
        if !todo.is_empty() {
            let unhealthy = fleet.iter().filter(|i| self.sent.contains(&i.id) && !i.healthy).count();
            let room = fleet.len().saturating_sub(unhealthy).saturating_sub(self.min).min(self.max);
            if room == 0 {
                return Action::RollBack("no room left to deploy".into());
            }
            let batch: Vec<String> = todo.into_iter().take(room).collect();
            self.sent.extend(batch.iter().cloned());
            return Action::DeployBatch(batch);
        }
        if self.blue_green && o.traffic_to_target < 100 {
            return Action::ShiftTraffic(100);
        }
        Action::Succeed
    }
}

/// `canary` / `linear` / `all-at-once`: shift, wait, shift, succeed.
pub struct Shifter {
    steps: Vec<u8>,
    interval_ms: u64,
    next: usize,
    waited: bool,
    deployed: bool,
}

impl Shifter {
    pub fn from(plugin: &str, config: &Value) -> Self {
        let pct = config.get("percentage").and_then(Value::as_u64).unwrap_or(100) as u8;
        let interval_ms = config.get("intervalMinutes").and_then(Value::as_u64).unwrap_or(0) * 60_000;
        let steps = match plugin {
            "canary" => vec![pct, 100],
            "linear" => {
                let mut s: Vec<u8> = (1..).map(|k| (k * u32::from(pct)).min(100) as u8).take_while(|p| *p < 100).collect();
                s.push(100);
                s
            }
            _ => vec![100],
        };
        Shifter { steps, interval_ms, next: 0, waited: false, deployed: false }
    }

    fn decide(&mut self, o: &Observation) -> Action {
        if o.last_action.as_ref().is_some_and(|r| r.is_err()) {
            return Action::RollBack("the last action failed".into());
        }
        // EC2 blue/green: the replacement instances are installed first (ECS and Lambda
        // replacements arrive installed).
        let pending: Vec<String> = o.instances.iter().filter(|i| i.instance_set == InstanceSet::Replacement && i.revision != o.target_revision).map(|i| i.id.clone()).collect();
        if self.next == 0 && !pending.is_empty() && !self.deployed {
            self.deployed = true;
            return Action::DeployBatch(pending);
        }
        if self.next >= self.steps.len() {
            return Action::Succeed;
        }
        if self.next > 0 && !self.waited {
            self.waited = true;
            return Action::Wait(self.interval_ms);
        }
        self.waited = false;
        // Driven by the observation: a resumed deployment continues from the traffic it has.
        while self.next + 1 < self.steps.len() && self.steps[self.next] < o.traffic_to_target {
            self.next += 1;
        }
        let p = self.steps[self.next];
        self.next += 1;
        Action::ShiftTraffic(p)
    }
}

/// The answer function of a [`Scripted`] strategy.
pub type Answer = Box<dyn FnMut(&Observation) -> Result<Action, StrategyError> + Send>;

/// A strategy whose answers a test scripts.
pub struct Scripted(pub Answer);

/// How a test strategy answers.
pub enum Native {
    Batched(Batched),
    Shifter(Shifter),
    Scripted(Scripted),
    /// Never answers.
    Hang,
}

impl Strategy for Native {
    fn identity(&self) -> StrategyIdentity {
        StrategyIdentity { name: "native-test-double".into(), version: Some("0".into()), sha256: Some("0".repeat(64)) }
    }

    fn next<'a>(&'a mut self, o: &'a Observation) -> BoxFuture<'a, Result<Action, StrategyError>> {
        Box::pin(async move {
            match self {
                Native::Batched(b) => Ok(b.decide(o)),
                Native::Shifter(s) => Ok(s.decide(o)),
                Native::Scripted(f) => (f.0)(o),
                Native::Hang => std::future::pending().await,
            }
        })
    }
}

/// Runs the native doubles by plugin name; a test may replace the next strategy.
#[derive(Default)]
pub struct Runner {
    pub replace: Mutex<Option<Native>>,
    pub specs: Mutex<Vec<StrategySpec>>,
}

impl StrategyRunner for Runner {
    fn start<'a>(&'a self, spec: &'a StrategySpec) -> BoxFuture<'a, Result<Box<dyn Strategy>, StrategyError>> {
        Box::pin(async move {
            self.specs.lock().unwrap().push(spec.clone());
            if let Some(n) = self.replace.lock().unwrap().take() {
                return Ok(Box::new(n) as Box<dyn Strategy>);
            }
            let s = match spec.plugin.as_str() {
                "batched" => Native::Batched(Batched::from(&spec.config)),
                p @ ("canary" | "linear" | "all-at-once") => Native::Shifter(Shifter::from(p, &spec.config)),
                other => return Err(StrategyError::Start(format!("no test strategy named `{other}`"))),
            };
            Ok(Box::new(s) as Box<dyn Strategy>)
        })
    }
}

/// Write a revision bundle `name` under `root`: the appspec and executable scripts.
pub fn bundle(root: &Path, name: &str, appspec: &str, scripts: &[&str]) -> Revision {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("appspec.yml"), appspec).unwrap();
    for s in scripts {
        let p = dir.join(s);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
    }
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("app/index.html"), name).unwrap();
    Revision::load(RevisionRef { name: name.into(), bundle: dir.display().to_string(), sha256: format!("{:0>64}", name.len()), provenance_sha256: Some("ab".repeat(32)) }).unwrap()
}

/// An EC2/on-premises appspec hooking every hookable event with `scripts/<Event>.sh`.
pub const SERVER_APPSPEC: &str = "version: 0.0
os: linux
files:
  - source: app
    destination: /srv/web
hooks:
  ApplicationStop: [{location: scripts/ApplicationStop.sh}]
  BeforeInstall: [{location: scripts/BeforeInstall.sh}]
  AfterInstall: [{location: scripts/AfterInstall.sh}]
  ApplicationStart: [{location: scripts/ApplicationStart.sh}]
  ValidateService: [{location: scripts/ValidateService.sh, timeout: 1}]
  BeforeBlockTraffic: [{location: scripts/BeforeBlockTraffic.sh}]
  AfterBlockTraffic: [{location: scripts/AfterBlockTraffic.sh}]
  BeforeAllowTraffic: [{location: scripts/BeforeAllowTraffic.sh, timeout: 1}]
  AfterAllowTraffic: [{location: scripts/AfterAllowTraffic.sh}]
";

pub const SERVER_SCRIPTS: [&str; 9] = [
    "scripts/ApplicationStop.sh",
    "scripts/BeforeInstall.sh",
    "scripts/AfterInstall.sh",
    "scripts/ApplicationStart.sh",
    "scripts/ValidateService.sh",
    "scripts/BeforeBlockTraffic.sh",
    "scripts/AfterBlockTraffic.sh",
    "scripts/BeforeAllowTraffic.sh",
    "scripts/AfterAllowTraffic.sh",
];

pub fn server_revision(root: &Path, name: &str) -> Revision {
    bundle(root, name, SERVER_APPSPEC, &SERVER_SCRIPTS)
}

/// Parse a group file, failing the test on any error.
pub fn group(yaml: &str) -> DeploymentGroup {
    let parsed = parse_group(yaml);
    let errors: Vec<String> = parsed.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.to_plain("group.yml")).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    parsed.group.expect("group")
}

/// The fakes, a store, and what a run needs.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub target: FakeTarget,
    pub traffic: FakeTraffic,
    pub metrics: SampleStore,
    pub reporter: Arc<Collect>,
    pub runner: Runner,
    pub options: RunOptions,
}

impl Harness {
    pub fn new(instances: &[&str]) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        Harness {
            store,
            target: FakeTarget::new(instances),
            traffic: FakeTraffic::new(instances),
            metrics: SampleStore::default(),
            reporter: Arc::new(Collect::default()),
            runner: Runner::default(),
            options: RunOptions { time_scale: 0.001, alarm_interval: Duration::from_millis(10), health_interval: None, hook_grace: Duration::from_millis(300), ..RunOptions::default() },
            dir,
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn env(&self) -> Env<'_> {
        Env { store: &self.store, target: &self.target, traffic: Some(&self.traffic), strategies: &self.runner, metrics: &self.metrics, reporter: self.reporter.clone(), options: self.options.clone() }
    }

    pub fn plan(&self, group: &DeploymentGroup, revision: Revision) -> Plan {
        Deployment::plan(group, revision, DeploymentOptions::default()).unwrap_or_else(|e| panic!("{e}: {}", e.help))
    }

    pub async fn deploy(&self, group: &DeploymentGroup, revision: Revision) -> RunOutcome {
        let plan = self.plan(group, revision);
        Deployment::run(&plan, &self.env()).await.unwrap()
    }
}

/// The lifecycle events of one target, as `Event:Status`.
pub fn events(info: &kiln_deploy::record::DeploymentInfo, target: &str) -> Vec<String> {
    info.deployment_targets
        .iter()
        .map(|t| t.core())
        .find(|t| t.target_id == target)
        .map(|t| t.lifecycle_events.iter().map(|e| format!("{}:{:?}", e.lifecycle_event_name, e.status)).collect())
        .unwrap_or_default()
}

/// One target's status.
pub fn status(info: &kiln_deploy::record::DeploymentInfo, target: &str) -> kiln_deploy::record::TargetStatus {
    info.deployment_targets.iter().map(|t| t.core()).find(|t| t.target_id == target).map(|t| t.status).expect("target")
}
