//! kiln-deploy-plugins: deployments driven by `deploy-strategy` WebAssembly plugins.
//!
//! kiln-deploy asks a [`StrategyRunner`] for a strategy per deployment and never links wasmtime;
//! [`PluginStrategies`] is that runner over `kiln-host`: the built-in `codedeploy-in-place`,
//! `codedeploy-blue-green` and `codedeploy-traffic-shift` components (embedded in kiln-host), and
//! third-party plugins through a resolver the caller gives (the CLI resolves `uses:` references
//! with `kiln.lock` as it does for build steps; [`path_resolver`] takes a `.wasm` path inside a
//! project directory).
//!
//! Each deployment gets its own session (one wasmtime store: the strategy keeps its state between
//! decisions, its memory cap holds for the whole deployment). The observation and the action are
//! translated field for field between kiln-deploy's types and the WIT types kiln-host exposes.
//!
//! Failures: a plugin that cannot be loaded or refuses its configuration is
//! [`StrategyError::Start`] (the deployment changes nothing); a trap (panic, `unreachable`, a
//! memory or time limit) is [`StrategyError::Trap`] with kiln-host's message, which names the
//! plugin and, for a panic, ends with its message; anything else kiln-host refuses (a malformed
//! answer, a session past its time) is [`StrategyError::Failed`]. kiln-deploy rolls back on all
//! of them, with the message as the reason.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kiln_deploy::config::ComputePlatform;
use kiln_deploy::strategy::{Action, BoxFuture, DeploymentType, InstanceSet, Observation, Strategy, StrategyError, StrategyIdentity, StrategyRunner, StrategySpec};
use kiln_host::strategy as wit;
use kiln_host::{Host, LoadedStrategy, PluginError, PluginSource, StrategyInvocation, StrategySession};

/// Maps a plugin reference that is not a built-in name to a component.
pub type Resolver = Box<dyn Fn(&str) -> Result<PluginSource, String> + Send + Sync>;

/// A resolver for `.wasm` paths relative to `project` (read only if they stay inside it).
pub fn path_resolver(project: &Path) -> Resolver {
    let root = project.to_path_buf();
    Box::new(move |reference: &str| {
        if !reference.ends_with(".wasm") {
            return Err(format!("`{reference}` is neither a built-in strategy ({}) nor a path to a .wasm component", kiln_host::builtin::STRATEGIES.join(", ")));
        }
        let p = Path::new(reference);
        let path: PathBuf = if p.is_absolute() { p.to_path_buf() } else { root.join(p) };
        Ok(PluginSource::Path { path, sha256: None, root: Some(root.clone()) })
    })
}

/// kiln-deploy's [`StrategyRunner`] over kiln-host.
pub struct PluginStrategies {
    host: Arc<Host>,
    resolver: Resolver,
    /// Loaded components by reference (compiling one takes a while; sessions are independent).
    loaded: Mutex<Vec<(String, LoadedStrategy)>>,
    /// Live `log` records of the strategies, as they happen.
    on_log: Option<kiln_host::EventSink>,
}

impl PluginStrategies {
    pub fn new(host: Arc<Host>, resolver: Resolver) -> Self {
        PluginStrategies { host, resolver, loaded: Mutex::new(Vec::new()), on_log: None }
    }

    /// Pass the strategies' `log` records to `sink` as they happen.
    pub fn with_log_sink(mut self, sink: kiln_host::EventSink) -> Self {
        self.on_log = Some(sink);
        self
    }

    fn load(&self, reference: &str) -> Result<LoadedStrategy, String> {
        if let Some((_, l)) = self.loaded.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|(r, _)| r == reference) {
            return Ok(l.clone());
        }
        let source = match kiln_host::builtin::get(reference) {
            Some(s) if kiln_host::builtin::STRATEGIES.contains(&reference) => s,
            _ => (self.resolver)(reference)?,
        };
        let loaded = self.host.load_strategy(source).map_err(|e| e.to_string())?;
        self.loaded.lock().unwrap_or_else(|e| e.into_inner()).push((reference.to_string(), loaded.clone()));
        Ok(loaded)
    }
}

impl StrategyRunner for PluginStrategies {
    fn start<'a>(&'a self, spec: &'a StrategySpec) -> BoxFuture<'a, Result<Box<dyn Strategy>, StrategyError>> {
        Box::pin(async move {
            let loaded = self.load(&spec.plugin).map_err(StrategyError::Start)?;
            let mut inv = StrategyInvocation::new(spec.config.clone());
            inv.on_event = self.on_log.clone();
            let session = loaded.start_with(&inv).await.map_err(|e| StrategyError::Start(e.to_string()))?;
            let identity = StrategyIdentity { name: loaded.manifest.name.clone(), version: Some(loaded.manifest.version.clone()), sha256: Some(loaded.sha256.clone()) };
            Ok(Box::new(PluginStrategy { session, identity }) as Box<dyn Strategy>)
        })
    }
}

/// One deployment's session.
struct PluginStrategy {
    session: StrategySession,
    identity: StrategyIdentity,
}

impl Strategy for PluginStrategy {
    fn identity(&self) -> StrategyIdentity {
        self.identity.clone()
    }

    fn next<'a>(&'a mut self, observation: &'a Observation) -> BoxFuture<'a, Result<Action, StrategyError>> {
        Box::pin(async move {
            let obs = to_wit(observation);
            match self.session.next(&obs).await {
                Ok(a) => Ok(from_wit(a)),
                Err(kiln_host::StrategyError::Plugin(e @ PluginError::Trap { .. })) => Err(StrategyError::Trap(e.to_string())),
                Err(e) if e.limit().is_some() => Err(StrategyError::Trap(e.to_string())),
                Err(e) => Err(StrategyError::Failed(e.to_string())),
            }
        })
    }
}

/// kiln-deploy's observation as the WIT's.
pub fn to_wit(o: &Observation) -> wit::Observation {
    wit::Observation {
        compute_platform: match o.compute_platform {
            ComputePlatform::Server => wit::ComputePlatform::Server,
            ComputePlatform::Ecs => wit::ComputePlatform::Ecs,
            ComputePlatform::Lambda => wit::ComputePlatform::Lambda,
        },
        deployment_type: match o.deployment_type {
            DeploymentType::InPlace => wit::DeploymentType::InPlace,
            DeploymentType::BlueGreen => wit::DeploymentType::BlueGreen,
        },
        elapsed_ms: o.elapsed_ms,
        target_revision: o.target_revision.clone(),
        instances: o
            .instances
            .iter()
            .map(|i| wit::Instance {
                id: i.id.clone(),
                set: match i.instance_set {
                    InstanceSet::Original => wit::InstanceSet::Original,
                    InstanceSet::Replacement => wit::InstanceSet::Replacement,
                },
                revision: i.revision.clone(),
                healthy: i.healthy,
                in_service: i.in_service,
            })
            .collect(),
        alarms: o.alarms.iter().map(|a| wit::Alarm { name: a.name.clone(), firing: a.firing }).collect(),
        traffic_to_target: o.traffic_to_target,
        continue_requested: o.continue_requested,
        last_action: o.last_action.clone(),
    }
}

/// The WIT's action as kiln-deploy's.
pub fn from_wit(a: wit::Action) -> Action {
    match a {
        wit::Action::DeployBatch(ids) => Action::DeployBatch(ids),
        wit::Action::AllowTraffic(ids) => Action::AllowTraffic(ids),
        wit::Action::BlockTraffic(ids) => Action::BlockTraffic(ids),
        wit::Action::ShiftTraffic(p) => Action::ShiftTraffic(p),
        wit::Action::Wait(ms) => Action::Wait(ms),
        wit::Action::RunHook(h) => Action::RunHook(h),
        wit::Action::Succeed => Action::Succeed,
        wit::Action::RollBack(r) => Action::RollBack(r),
    }
}
