//! In-memory test doubles of the target seam: [`FakeTarget`] (instances that "run" a revision,
//! hooks whose outcome a test scripts) and [`FakeTraffic`] (weights and in-service flags with a
//! timed history). Both can persist their state to a JSON file after every change, so a test can
//! kill the process running a deployment and hand the same fleet to `resume` or `rollback`.
//!
//! They are not a product driver: nothing runs. A hook "succeeds" when its script exists in the
//! revision's bundle (else `ScriptMissing`, as the agent says) and no [`HookRule`] says otherwise.

mod traffic;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_spec::appspec::Event;
use serde::{Deserialize, Serialize};

pub use traffic::{FakeTraffic, TrafficChange};

use crate::record::{LifecycleErrorCode, RevisionRef};
use crate::target::{BoxFuture, HookRequest, HookResult, HookSpec, InstallRequest, InstallResult, InstanceInfo, ProvisionRequest, Stream, Target, TargetError};

/// Write a fake's state to `file` (temp file + rename), when it has one.
fn save<T: Serialize>(file: Option<&Path>, state: &T) {
    let Some(f) = file else { return };
    if let Ok(bytes) = serde_json::to_vec(state) {
        let tmp = f.with_extension("tmp");
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, f);
        }
    }
}

/// A fake's state saved by [`save`].
fn load<T: for<'de> Deserialize<'de>>(file: &Path) -> std::io::Result<T> {
    serde_json::from_slice(&std::fs::read(file)?).map_err(std::io::Error::other)
}

/// One fake instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeInstance {
    /// The revision installed (by name).
    pub installed: Option<String>,
    /// The revision its service runs, when started.
    pub running: Option<String>,
    pub downloaded: Option<String>,
    pub healthy: bool,
}

/// What a scripted hook does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Behavior {
    /// Exit with this code (non-zero: ScriptFailed).
    Exit(i32),
    /// Never finish (until the hook's timeout: ScriptTimedOut).
    Hang,
    /// Never finish, ignoring the timeout too (a driver that does not enforce it: the engine's
    /// own deadline ends it).
    HangForever,
    /// Take this long, then succeed.
    Sleep(u64),
}

/// A scripted outcome: for hooks of `event` on `instance` (`None`: any instance), optionally only
/// for one revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRule {
    pub instance: Option<String>,
    pub event: String,
    pub revision: Option<String>,
    pub behavior: Behavior,
    /// Lines the hook prints before its outcome.
    pub output: Vec<String>,
}

/// A call the fake received, for assertions ("what ran where").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub instance: String,
    /// `download`, `install`, `hook`, `start`, `stop`, `provision`, `terminate`, `adopt`.
    pub what: String,
    /// The event, script or revision it was about.
    pub detail: String,
    /// For hooks: the environment they were given.
    #[serde(default)]
    pub env: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct State {
    instances: BTreeMap<String, FakeInstance>,
    /// The group's fleet (originals); provisioned instances join it on `adopt_fleet`.
    fleet: Vec<String>,
    rules: Vec<HookRule>,
    calls: Vec<Call>,
    next_id: u32,
}

/// An in-memory fleet.
#[derive(Clone)]
pub struct FakeTarget {
    state: Arc<Mutex<State>>,
    file: Option<PathBuf>,
}

impl FakeTarget {
    /// A fleet of healthy instances named `ids`, running nothing yet.
    pub fn new(ids: &[&str]) -> Self {
        let mut state = State::default();
        for id in ids {
            state.instances.insert(id.to_string(), FakeInstance { healthy: true, ..Default::default() });
            state.fleet.push(id.to_string());
        }
        FakeTarget { state: Arc::new(Mutex::new(state)), file: None }
    }

    /// Keep the state in `file` (written after every change; read back by [`FakeTarget::load`]).
    pub fn persisted(mut self, file: &Path) -> Self {
        self.file = Some(file.to_path_buf());
        self.save(&self.lock());
        self
    }

    /// The fleet saved in `file`.
    pub fn load(file: &Path) -> std::io::Result<Self> {
        let state: State = load(file)?;
        Ok(FakeTarget { state: Arc::new(Mutex::new(state)), file: Some(file.to_path_buf()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, state: &State) {
        save(self.file.as_deref(), state);
    }

    fn change<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut s = self.lock();
        let out = f(&mut s);
        self.save(&s);
        out
    }

    /// Script the hooks of `event` on `instance` (or every instance).
    pub fn on_hook(&self, instance: Option<&str>, event: Event, behavior: Behavior) -> &Self {
        self.add_rule(HookRule { instance: instance.map(str::to_string), event: event.name().into(), revision: None, behavior, output: Vec::new() })
    }

    /// Add a rule (the first matching rule decides).
    pub fn add_rule(&self, rule: HookRule) -> &Self {
        self.change(|s| s.rules.push(rule));
        self
    }

    /// Pretend a prior deployment installed `revision` everywhere (its service running).
    pub fn preinstall(&self, revision: &str) -> &Self {
        self.change(|s| {
            for i in s.instances.values_mut() {
                i.installed = Some(revision.into());
                i.running = Some(revision.into());
            }
        });
        self
    }

    /// Make an instance's health check fail (or pass again).
    pub fn set_healthy(&self, instance: &str, healthy: bool) {
        self.change(|s| {
            if let Some(i) = s.instances.get_mut(instance) {
                i.healthy = healthy;
            }
        });
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The hooks run so far as `instance event script`.
    pub fn hooks_run(&self) -> Vec<String> {
        self.lock().calls.iter().filter(|c| c.what == "hook").map(|c| format!("{} {}", c.instance, c.detail)).collect()
    }

    /// One instance's state.
    pub fn instance(&self, id: &str) -> Option<FakeInstance> {
        self.lock().instances.get(id).cloned()
    }

    /// Every instance, including provisioned ones not (yet) in the fleet.
    pub fn instances(&self) -> BTreeMap<String, FakeInstance> {
        self.lock().instances.clone()
    }

    /// The group's fleet.
    pub fn fleet(&self) -> Vec<String> {
        self.lock().fleet.clone()
    }

    fn record(s: &mut State, instance: &str, what: &str, detail: String) {
        s.calls.push(Call { instance: instance.to_string(), what: what.to_string(), detail, env: Vec::new() });
    }

    fn known(s: &State, id: &str) -> Result<(), TargetError> {
        if s.instances.contains_key(id) { Ok(()) } else { Err(TargetError::new(format!("fake: no instance `{id}`"))) }
    }
}

impl Target for FakeTarget {
    fn driver(&self) -> &str {
        "fake"
    }

    fn list_instances(&self) -> BoxFuture<'_, Result<Vec<InstanceInfo>, TargetError>> {
        let fleet = self.fleet();
        Box::pin(async move { Ok(fleet.into_iter().map(|id| InstanceInfo { id, address: None }).collect()) })
    }

    fn provision<'a>(&'a self, request: &'a ProvisionRequest) -> BoxFuture<'a, Result<Vec<InstanceInfo>, TargetError>> {
        Box::pin(async move {
            self.change(|s| {
                let mut out = Vec::new();
                for id in &request.existing {
                    Self::known(s, id)?;
                    out.push(InstanceInfo { id: id.clone(), address: None });
                }
                for _ in 0..request.count.saturating_sub(request.existing.len()) {
                    s.next_id += 1;
                    let id = format!("green-{}", s.next_id);
                    s.instances.insert(id.clone(), FakeInstance { healthy: true, ..Default::default() });
                    Self::record(s, &id, "provision", request.deployment_id.clone());
                    out.push(InstanceInfo { id, address: None });
                }
                Ok(out)
            })
        })
    }

    fn terminate<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            self.change(|s| {
                for id in ids {
                    s.instances.remove(id);
                    s.fleet.retain(|f| f != id);
                    Self::record(s, id, "terminate", String::new());
                }
            });
            Ok(())
        })
    }

    fn adopt_fleet<'a>(&'a self, fleet: &'a [String], released: &'a [String]) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            self.change(|s| {
                s.fleet = fleet.to_vec();
                for id in released {
                    Self::record(s, id, "release", String::new());
                }
            });
            Ok(())
        })
    }

    fn download<'a>(&'a self, instance: &'a str, revision: &'a RevisionRef) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            self.change(|s| {
                Self::known(s, instance)?;
                if let Some(i) = s.instances.get_mut(instance) {
                    i.downloaded = Some(revision.name.clone());
                }
                Self::record(s, instance, "download", revision.name.clone());
                Ok(())
            })
        })
    }

    fn install<'a>(&'a self, request: InstallRequest<'a>) -> BoxFuture<'a, Result<InstallResult, TargetError>> {
        Box::pin(async move {
            // The copy plan is computed for real (so a bad `files` section fails here as it would
            // on a real driver); nothing is written.
            let cleanup = match request.appspec {
                Some(spec) => {
                    let plan = crate::target::copyplan::copy_plan(spec, Path::new(&request.revision.bundle)).map_err(|e| TargetError::new(e.to_string()))?;
                    let steps = crate::target::copyplan::resolve(&plan, spec, request.previous_cleanup, request.file_exists_behavior, &|_| crate::target::copyplan::Existing::Missing)
                        .map_err(|e| TargetError::new(e.to_string()))?;
                    steps.cleanup
                }
                None => Vec::new(),
            };
            self.change(|s| {
                Self::known(s, request.instance)?;
                if let Some(i) = s.instances.get_mut(request.instance) {
                    i.installed = Some(request.revision.name.clone());
                }
                Self::record(s, request.instance, "install", request.revision.name.clone());
                Ok(InstallResult { cleanup })
            })
        })
    }

    fn run_hook<'a>(&'a self, request: HookRequest<'a>) -> BoxFuture<'a, HookResult> {
        Box::pin(async move {
            let (rule, missing) = self.change(|s| {
                let detail = format!("{} {} ({})", request.event, request.hook.name(), request.revision.name);
                s.calls.push(Call { instance: request.instance.to_string(), what: "hook".into(), detail, env: request.env.clone() });
                let rule = s
                    .rules
                    .iter()
                    .find(|r| {
                        r.event == request.event.name()
                            && r.instance.as_deref().is_none_or(|i| i == request.instance)
                            && r.revision.as_deref().is_none_or(|v| v == request.revision.name)
                    })
                    .cloned();
                let missing = match &request.hook {
                    HookSpec::Script { location, bundle, .. } => !bundle.join(location).is_file(),
                    HookSpec::Function { .. } => false,
                };
                (rule, missing)
            });
            if missing {
                return HookResult { code: LifecycleErrorCode::ScriptMissing, message: format!("Script does not exist at specified location: {}", request.hook.name()) };
            }
            let Some(rule) = rule else { return HookResult::success() };
            for line in &rule.output {
                (request.output)(Stream::Stdout, line);
            }
            match rule.behavior {
                Behavior::Exit(0) => HookResult::success(),
                Behavior::Exit(code) => HookResult { code: LifecycleErrorCode::ScriptFailed, message: format!("Script at specified location: {} failed with exit code {code}", request.hook.name()) },
                Behavior::Sleep(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms).min(request.hook.timeout())).await;
                    if Duration::from_millis(ms) > request.hook.timeout() { HookResult::timed_out(request.hook.name(), request.hook.timeout()) } else { HookResult::success() }
                }
                Behavior::Hang => {
                    tokio::time::sleep(request.hook.timeout()).await;
                    HookResult::timed_out(request.hook.name(), request.hook.timeout())
                }
                Behavior::HangForever => std::future::pending().await,
            }
        })
    }

    fn start<'a>(&'a self, instance: &'a str, revision: &'a RevisionRef) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            self.change(|s| {
                Self::known(s, instance)?;
                if let Some(i) = s.instances.get_mut(instance) {
                    i.running = Some(revision.name.clone());
                }
                Self::record(s, instance, "start", revision.name.clone());
                Ok(())
            })
        })
    }

    fn stop<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            self.change(|s| {
                Self::known(s, instance)?;
                if let Some(i) = s.instances.get_mut(instance) {
                    i.running = None;
                }
                Self::record(s, instance, "stop", String::new());
                Ok(())
            })
        })
    }

    fn health_check<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<bool, TargetError>> {
        Box::pin(async move {
            let s = self.lock();
            s.instances.get(instance).map(|i| i.healthy && i.running.is_some()).ok_or_else(|| TargetError::new(format!("fake: no instance `{instance}`")))
        })
    }
}
