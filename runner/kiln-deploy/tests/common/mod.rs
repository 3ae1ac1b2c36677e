//! Shared test helpers: the built-in strategies run natively (`kiln-strategy-engine`, the logic
//! the product's WebAssembly plugins wrap) and scripted test doubles, revision bundles in temp directories, a harness
//! with the in-memory fakes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_deploy::fake::{FakeTarget, FakeTraffic};
use kiln_deploy::group::{parse_group, DeploymentGroup};
use kiln_deploy::metrics::SampleStore;
use kiln_deploy::record::{RevisionRef, Store};
use kiln_deploy::report::Collect;
use kiln_deploy::strategy::{Action, BoxFuture, DeploymentType, InstanceSet, Observation, Strategy, StrategyError, StrategyIdentity, StrategyRunner, StrategySpec};
use kiln_deploy::{Deployment, DeploymentOptions, Env, Plan, Revision, RunOptions, RunOutcome};
use serde_json::Value;

/// The built-in strategy plugins' logic (`kiln-strategy-engine`, which the `codedeploy-*`
/// WebAssembly guests wrap), run natively: the same decisions as the product's plugins, without
/// wasmtime. Only the types are converted here.
pub struct Builtin(Box<dyn E::Strategy + Send>);

use kiln_strategy_engine as E;

impl Builtin {
    pub fn from(plugin: &str, config: &Value) -> Result<Self, String> {
        use E::FromConfig;
        Ok(Builtin(match plugin {
            "codedeploy-in-place" => Box::new(E::InPlace::from_config(config)?),
            "codedeploy-blue-green" => Box::new(E::BlueGreen::from_config(config)?),
            "codedeploy-traffic-shift" => Box::new(E::TrafficShift::from_config(config)?),
            other => return Err(format!("no built-in strategy named `{other}`")),
        }))
    }

    fn decide(&mut self, o: &Observation) -> Action {
        from_engine(self.0.next(&to_engine(o)))
    }
}

/// kiln-deploy's observation as the strategy engine's (what the plugin host does through the WIT).
pub fn to_engine(o: &Observation) -> E::Observation {
    use kiln_deploy::config::ComputePlatform as CP;
    E::Observation {
        platform: match o.compute_platform {
            CP::Server => E::Platform::Server,
            CP::Ecs => E::Platform::Ecs,
            CP::Lambda => E::Platform::Lambda,
        },
        deployment_type: match o.deployment_type {
            DeploymentType::InPlace => E::DeploymentType::InPlace,
            DeploymentType::BlueGreen => E::DeploymentType::BlueGreen,
        },
        elapsed_ms: o.elapsed_ms,
        target_revision: o.target_revision.clone(),
        instances: o
            .instances
            .iter()
            .map(|i| E::Instance {
                id: i.id.clone(),
                set: if i.instance_set == InstanceSet::Original { E::InstanceSet::Original } else { E::InstanceSet::Replacement },
                revision: i.revision.clone(),
                healthy: i.healthy,
                in_service: i.in_service,
            })
            .collect(),
        alarms: o.alarms.iter().map(|a| E::Alarm { name: a.name.clone(), firing: a.firing }).collect(),
        traffic_to_target: o.traffic_to_target,
        continue_requested: o.continue_requested,
        last_action: o.last_action.clone(),
    }
}

pub fn from_engine(a: E::Action) -> Action {
    match a {
        E::Action::DeployBatch(ids) => Action::DeployBatch(ids),
        E::Action::AllowTraffic(ids) => Action::AllowTraffic(ids),
        E::Action::BlockTraffic(ids) => Action::BlockTraffic(ids),
        E::Action::ShiftTraffic(p) => Action::ShiftTraffic(p),
        E::Action::Wait(ms) => Action::Wait(ms),
        E::Action::RunHook(h) => Action::RunHook(h),
        E::Action::Succeed => Action::Succeed,
        E::Action::RollBack(r) => Action::RollBack(r),
    }
}

/// The answer function of a [`Scripted`] strategy.
pub type Answer = Box<dyn FnMut(&Observation) -> Result<Action, StrategyError> + Send>;

/// A strategy whose answers a test scripts.
pub struct Scripted(pub Answer);

/// How a test strategy answers.
pub enum Native {
    Builtin(Builtin),
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
                Native::Builtin(b) => Ok(b.decide(o)),
                Native::Scripted(f) => (f.0)(o),
                Native::Hang => std::future::pending().await,
            }
        })
    }
}

/// Runs the built-in strategies natively by plugin name; a test may replace the next strategy.
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
            let s = Builtin::from(&spec.plugin, &spec.config).map_err(StrategyError::Start)?;
            Ok(Box::new(Native::Builtin(s)) as Box<dyn Strategy>)
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
