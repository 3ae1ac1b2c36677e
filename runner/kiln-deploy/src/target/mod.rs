//! The target seam: how the engine reaches instances ([`Target`]) and moves their traffic
//! ([`TrafficControl`]). The engine knows nothing of processes, ports or SSH: the `local` driver
//! (instances as processes behind `kiln-router`) and the `ssh` driver implement these traits in
//! the CLI's crates; [`crate::fake`] implements them in memory for tests.
//!
//! What is the engine's and what is the driver's:
//!
//! * The engine runs the lifecycle: which event when, on which instance, with which revision's
//!   scripts, what counts as failure, what is recorded. It calls [`Target::run_hook`] once per
//!   script with the hook environment ([`env::hook_environment`]) and the script's timeout, and
//!   bounds the call itself too (the driver's own timeout first; the engine drops the future a
//!   few seconds later, and a driver must kill the script's process group when its future is
//!   dropped).
//! * The driver does the work on the instance: download the bundle, copy files with
//!   `file_exists_behavior` and `permissions` (the copy plan is computed by [`copyplan`] from the
//!   appspec with CodeDeploy's rules; the driver applies it where the files live), run a script as
//!   `runas`, start and stop the service, check health.
//! * Traffic: in-service flags per instance (an in-place deployment's BlockTraffic/AllowTraffic,
//!   a blue/green deployment's registration and deregistration), weights between the original and
//!   the replacement set (blue/green, ECS task sets, Lambda versions), and drains.

pub mod copyplan;
pub mod env;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kiln_spec::appspec::{Event, FileExistsBehavior, ServerAppSpec};

use crate::record::{LifecycleErrorCode, RevisionRef, Weights};
pub use crate::strategy::{BoxFuture, InstanceSet};

/// An instance as a driver reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceInfo {
    pub id: String,
    /// Where it is, for people (`127.0.0.1:8001`, `deploy@web-1`).
    pub address: Option<String>,
}

/// A driver's failure (its message names the instance and what failed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TargetError {
    pub message: String,
}

impl TargetError {
    pub fn new(message: impl Into<String>) -> Self {
        TargetError { message: message.into() }
    }
}

/// The replacement fleet of a blue/green deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisionRequest {
    /// How many instances to make (`COPY_AUTO_SCALING_GROUP`: as many as the original fleet has).
    pub count: usize,
    /// Instances that exist already and become the replacement fleet (`DISCOVER_EXISTING`).
    pub existing: Vec<String>,
    /// The deployment the instances are for (drivers may name them after it).
    pub deployment_id: String,
}

/// What Install copies on one instance.
pub struct InstallRequest<'a> {
    pub instance: &'a str,
    pub revision: &'a RevisionRef,
    /// The EC2/on-premises appspec (`files`, `permissions`, `file_exists_behavior`); `None` for ECS
    /// and Lambda, whose "install" starts the task set's or version's processes.
    pub appspec: Option<&'a ServerAppSpec>,
    /// What the previous Install in this deployment group created on the instance (the agent's
    /// `<deployment-group-id>-cleanup` file), deleted first.
    pub previous_cleanup: &'a [String],
    /// The deployment's setting; the appspec's `file_exists_behavior` wins over it.
    pub file_exists_behavior: FileExistsBehavior,
    pub deployment_group_id: &'a str,
}

/// What Install did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstallResult {
    /// The new cleanup list: every file and directory this Install created, in creation order.
    pub cleanup: Vec<String>,
}

/// The hook to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookSpec {
    /// An EC2/on-premises script: `location` relative to the revision's bundle.
    Script { location: String, bundle: PathBuf, timeout: Duration, runas: Option<String>, sudo: bool },
    /// An ECS or Lambda hook function; the driver maps the name to something it can run.
    Function { name: String, timeout: Duration },
}

impl HookSpec {
    pub fn timeout(&self) -> Duration {
        match self {
            HookSpec::Script { timeout, .. } | HookSpec::Function { timeout, .. } => *timeout,
        }
    }

    /// The script location or function name (the diagnostics' `scriptName`).
    pub fn name(&self) -> &str {
        match self {
            HookSpec::Script { location, .. } => location,
            HookSpec::Function { name, .. } => name,
        }
    }
}

/// Where a line of hook output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Receives hook output line by line as it is produced.
pub type OutputSink = Arc<dyn Fn(Stream, &str) + Send + Sync>;

/// One hook to run on one instance.
pub struct HookRequest<'a> {
    pub instance: &'a str,
    pub event: Event,
    /// The revision whose scripts run (the last successful one for ApplicationStop and the
    /// BlockTraffic hooks, as CodeDeploy does).
    pub revision: &'a RevisionRef,
    pub hook: HookSpec,
    /// CodeDeploy's hook environment for this event ([`env::hook_environment`]).
    pub env: Vec<(String, String)>,
    pub output: OutputSink,
}

/// How a hook ended (the agent's diagnostics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookResult {
    pub code: LifecycleErrorCode,
    /// The agent's message, e.g. `Script at specified location: scripts/validate.sh failed with
    /// exit code 1`.
    pub message: String,
}

impl HookResult {
    pub fn success() -> Self {
        HookResult { code: LifecycleErrorCode::Success, message: "Succeeded".into() }
    }

    pub fn succeeded(&self) -> bool {
        self.code == LifecycleErrorCode::Success
    }

    /// What the agent says when a script outlives its timeout.
    pub fn timed_out(location: &str, timeout: Duration) -> Self {
        HookResult { code: LifecycleErrorCode::ScriptTimedOut, message: format!("Script at specified location: {location} failed to complete in {} seconds", timeout.as_secs()) }
    }
}

/// A deployment driver: reaches the instances of one deployment group.
pub trait Target: Send + Sync {
    /// The driver's name, as the group file's `targets.driver` says it.
    fn driver(&self) -> &str;

    /// The fleet now (for blue/green, the original fleet).
    fn list_instances(&self) -> BoxFuture<'_, Result<Vec<InstanceInfo>, TargetError>>;

    /// Make (or adopt) the replacement fleet of a blue/green, ECS or Lambda deployment.
    fn provision<'a>(&'a self, request: &'a ProvisionRequest) -> BoxFuture<'a, Result<Vec<InstanceInfo>, TargetError>>;

    /// Remove instances kiln provisioned (a rolled-back replacement fleet, terminated originals).
    fn terminate<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), TargetError>>;

    /// After a successful blue/green deployment: `fleet` is the deployment group's fleet from now
    /// on; `released` leave the group (kept running with `KEEP_ALIVE`; [`Target::terminate`] is
    /// called for them otherwise).
    fn adopt_fleet<'a>(&'a self, fleet: &'a [String], released: &'a [String]) -> BoxFuture<'a, Result<(), TargetError>>;

    /// DownloadBundle: make the revision available on the instance.
    fn download<'a>(&'a self, instance: &'a str, revision: &'a RevisionRef) -> BoxFuture<'a, Result<(), TargetError>>;

    /// Install: copy the revision's files (see [`copyplan`]).
    fn install<'a>(&'a self, request: InstallRequest<'a>) -> BoxFuture<'a, Result<InstallResult, TargetError>>;

    /// Run one hook script or function. Never fails as a call: every problem is a [`HookResult`].
    fn run_hook<'a>(&'a self, request: HookRequest<'a>) -> BoxFuture<'a, HookResult>;

    /// Start the instance's service on `revision` (after ApplicationStart's scripts; for ECS and
    /// Lambda, after Install). Drivers whose scripts manage the service may do nothing.
    fn start<'a>(&'a self, instance: &'a str, revision: &'a RevisionRef) -> BoxFuture<'a, Result<(), TargetError>>;

    /// Stop the instance's service (after ApplicationStop's scripts).
    fn stop<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), TargetError>>;

    /// Whether the instance answers its health check.
    fn health_check<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<bool, TargetError>>;
}

/// A traffic control failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TrafficError {
    pub message: String,
}

impl TrafficError {
    pub fn new(message: impl Into<String>) -> Self {
        TrafficError { message: message.into() }
    }
}

/// How a drain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainOutcome {
    /// Every request in flight finished before the timeout.
    pub drained: bool,
    /// Requests still in flight when the timeout cut them.
    pub cut: u64,
}

/// The load balancer of a deployment group (kiln-router for the local driver).
pub trait TrafficControl: Send + Sync {
    /// The weights now.
    fn weights(&self) -> BoxFuture<'_, Result<Weights, TrafficError>>;

    /// Route `weights` between the original and replacement sets. When it returns, no new request
    /// goes by the old weights.
    fn set_weights(&self, weights: Weights) -> BoxFuture<'_, Result<(), TrafficError>>;

    /// Add an instance to a set's routing (in service or not).
    fn register<'a>(&'a self, instance: &'a str, set: InstanceSet, in_service: bool) -> BoxFuture<'a, Result<(), TrafficError>>;

    /// Remove an instance from routing.
    fn deregister<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), TrafficError>>;

    /// Allow (AllowTraffic) or block (BlockTraffic) traffic to one instance.
    fn set_in_service<'a>(&'a self, instance: &'a str, in_service: bool) -> BoxFuture<'a, Result<(), TrafficError>>;

    /// Wait until the requests in flight on `instances` have finished, up to `timeout`
    /// (ELB's deregistration delay).
    fn drain<'a>(&'a self, instances: &'a [String], timeout: Duration) -> BoxFuture<'a, Result<DrainOutcome, TrafficError>>;

    /// After a successful blue/green deployment the replacement set becomes the original set:
    /// afterwards [`TrafficControl::weights`] reads 100/0 and its instances are the originals.
    fn promote_replacement(&self) -> BoxFuture<'_, Result<(), TrafficError>>;
}
