//! The strategy seam: how the engine asks a `deploy-strategy` plugin for its next move.
//!
//! The data model is the `deploy-strategy` WIT world's (`wit/kiln-plugin/v0.1.0/deploy.wit`),
//! field for field: the host gives an [`Observation`] (compute platform, deployment type,
//! elapsed time, target revision, the instances with their set, revision, health and in-service
//! flag, the alarms, the traffic percentage on the target revision, whether the operator asked to
//! continue, the last action's outcome) and gets an [`Action`] back (deploy a batch, allow or
//! block traffic to instances, shift traffic, wait, run a hook, succeed, roll back). What each
//! action means per deployment, and what the host refuses, is [`guard`]'s documentation.
//!
//! This crate never links wasmtime: whoever runs a deployment (the CLI) hands the engine a
//! [`StrategyRunner`] that instantiates plugins, as it hands the build engine a `PluginRunner`.
//! Tests drive the engine with native strategies. Whatever a strategy answers, the host checks it
//! first ([`guard`]): a strategy can slow a deployment down, never take more instances out than
//! the configuration allows or leave traffic half-shifted.

pub mod guard;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

pub use crate::config::StrategySpec;

/// A boxed future, as the seams return them (no async-trait dependency).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which set an instance belongs to (the WIT `instance-set`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceSet {
    /// Serving traffic before the deployment (blue).
    Original,
    /// Made for the deployment (green): blue/green, ECS task sets, Lambda versions.
    Replacement,
}

/// One instance as the strategy sees it (the WIT `instance` record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct InstanceView {
    pub id: String,
    /// The revision it runs now (empty before its first install).
    pub revision: String,
    pub instance_set: InstanceSet,
    pub healthy: bool,
    /// Whether it receives traffic.
    pub in_service: bool,
}

/// An alarm as the strategy sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlarmView {
    pub name: String,
    pub firing: bool,
}

/// CodeDeploy's `deploymentStyle.deploymentType` as the strategy sees it (the WIT
/// `deployment-type`; ECS and Lambda deployments are always blue/green).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeploymentType {
    InPlace,
    BlueGreen,
}

/// What the host tells the strategy before each decision (the WIT `observation`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Observation {
    /// `Server`, `ECS` or `Lambda` (the same on every call).
    pub compute_platform: crate::config::ComputePlatform,
    /// In-place or blue/green (the same on every call).
    pub deployment_type: DeploymentType,
    /// Nominal milliseconds since the deployment started (scaled with the run's time scale).
    pub elapsed_ms: u64,
    pub target_revision: String,
    /// In CodeDeploy's scheduling order: instances whose last deployment failed or that were never
    /// deployed to first, then those with an older revision, then current ones.
    pub instances: Vec<InstanceView>,
    pub alarms: Vec<AlarmView>,
    /// Percentage of traffic on the target revision.
    pub traffic_to_target: u8,
    /// `kiln deploy continue` was asked since the previous call (CodeDeploy's
    /// `ContinueDeployment`), for a strategy's own waits.
    pub continue_requested: bool,
    /// `None` before the first action; else the previous action's outcome.
    pub last_action: Option<Result<(), String>>,
}

/// The strategy's answer (the WIT `action` variant).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Install the target revision on these instances (their whole per-instance lifecycle in
    /// place; the install events on replacement instances; the replacement task set or function
    /// version for ECS and Lambda).
    DeployBatch(Vec<String>),
    /// EC2 blue/green: register these replacement instances with the load balancer
    /// (BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic on each).
    AllowTraffic(Vec<String>),
    /// EC2 blue/green: deregister these original instances (BeforeBlockTraffic, BlockTraffic,
    /// AfterBlockTraffic on each).
    BlockTraffic(Vec<String>),
    /// ECS and Lambda: route this percentage of traffic to the replacement set (the WIT type is
    /// `u8`, so a strategy can say 255: the host refuses anything above 100).
    ShiftTraffic(u8),
    /// Observe again after this many nominal milliseconds.
    Wait(u64),
    /// ECS and Lambda: run a deployment-wide lifecycle event now (and any due before it).
    RunHook(String),
    /// The deployment is complete.
    Succeed,
    /// Roll back, with the reason.
    RollBack(String),
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::DeployBatch(ids) => write!(f, "deploy-batch([{}])", ids.join(", ")),
            Action::AllowTraffic(ids) => write!(f, "allow-traffic([{}])", ids.join(", ")),
            Action::BlockTraffic(ids) => write!(f, "block-traffic([{}])", ids.join(", ")),
            Action::ShiftTraffic(p) => write!(f, "shift-traffic({p})"),
            Action::Wait(ms) => write!(f, "wait({ms})"),
            Action::RunHook(h) => write!(f, "run-hook({h})"),
            Action::Succeed => f.write_str("succeed"),
            Action::RollBack(r) => write!(f, "roll-back({r:?})"),
        }
    }
}

/// Who the strategy is, for the record and the deployment attestation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StrategyIdentity {
    pub name: String,
    pub version: Option<String>,
    /// The plugin component's SHA-256 (hex), when it is one.
    pub sha256: Option<String>,
}

/// How a strategy failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    /// The plugin could not be found or loaded, or refused its configuration.
    #[error("could not start the strategy: {0}")]
    Start(String),
    /// The plugin trapped (a panic, an out-of-bounds access, a limit it hit).
    #[error("the strategy trapped: {0}")]
    Trap(String),
    /// Any other failure the runner reports.
    #[error("the strategy failed: {0}")]
    Failed(String),
}

/// Instantiates strategies (the CLI implements it over the plugin host).
pub trait StrategyRunner: Send + Sync {
    /// A new strategy instance for one deployment. Must yield: the engine stops waiting at its
    /// own deadline by dropping the future.
    fn start<'a>(&'a self, spec: &'a StrategySpec) -> BoxFuture<'a, Result<Box<dyn Strategy>, StrategyError>>;
}

/// One strategy instance, alive for one deployment.
pub trait Strategy: Send {
    fn identity(&self) -> StrategyIdentity;

    /// The next action. The engine bounds each call with a deadline and drops the future when it
    /// passes, so implementations must not block the thread (a plugin host runs the guest with an
    /// epoch deadline of its own, or on another thread).
    fn next<'a>(&'a mut self, observation: &'a Observation) -> BoxFuture<'a, Result<Action, StrategyError>>;
}
