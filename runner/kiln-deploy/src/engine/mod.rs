//! The lifecycle engine: runs a [`Plan`] as CodeDeploy runs a deployment.
//!
//! ```text
//! Deployment::plan(group, revision, options) ─▶ Plan (checked, explainable)
//! Deployment::run(&plan, &env) ─▶ RunOutcome { deployment, rollback }
//!   lock the group · record Created · list the fleet · (blue/green: provision the replacement)
//!   · minimum healthy hosts checked (HEALTH_CONSTRAINTS_INVALID before anything changes)
//!   · strategy plugin started · loop: observe → strategy answers → host checks → host acts
//!       (deploy-batch: each instance's lifecycle; shift-traffic: journaled weights and the
//!       traffic events; wait; run-hook; succeed) — every await raced against alarms, stop
//!       requests, health checks
//!   · success: blue/green bake and termination, group state (last successful revision)
//!   · failure / alarm / stop: traffic back first, the record finalized, then a rollback
//!     deployment (creator codeDeployRollback) of the last good revision with its own hooks
//! ```
//!
//! Whatever happens, kiln's own problems (a record it cannot write, a group another process is
//! deploying) are [`EngineError`]s; a deployment that fails is a record with status `Failed` or
//! `Stopped`.

mod actions;
mod drive;
mod finish;
mod lifecycle;
mod plan;
mod recover;
mod rollback;
mod run;
mod state;
mod traffic;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use kiln_spec::appspec::FileExistsBehavior;

pub use plan::{DeploymentOptions, Lifecycles, Plan, PlanError, Revision, RevisionError};
pub use recover::StopStatus;

use crate::config::health::HealthPlan;
use crate::metrics::MetricsSource;
use crate::record::{DeploymentInfo, Store, StoreError};
use crate::report::Reporter;
use crate::strategy::guard::Limits;
use crate::strategy::StrategyRunner;
use crate::target::env::HookContext;
use crate::target::{Target, TrafficControl};

/// How the engine runs (the CLI's flags; tests compress time).
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Real seconds per nominal second: 1 normally; 0.001 makes a 60-second alarm period last
    /// 60 ms and a 5-minute canary wait 300 ms. Hook timeouts stay real.
    pub time_scale: f64,
    /// How often alarms are evaluated (real time).
    pub alarm_interval: Duration,
    /// How often instances are health-checked (real time); `None` turns health checks off.
    pub health_interval: Option<Duration>,
    /// Bounds on the strategy.
    pub limits: Limits,
    /// How long past a hook's own timeout the engine waits for the driver before giving up on it.
    pub hook_grace: Duration,
    /// ELB's deregistration delay: how long BlockTraffic waits for requests in flight.
    pub drain_timeout: Duration,
    /// The longest a deployment may run (nominal); `None` means CodeDeploy's caps: 8 hours in
    /// place, 109 hours blue/green (user guide, quotas).
    pub max_duration: Option<Duration>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            time_scale: 1.0,
            alarm_interval: Duration::from_millis(100),
            health_interval: Some(Duration::from_secs(1)),
            limits: Limits::default(),
            hook_grace: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(300),
            max_duration: None,
        }
    }
}

/// What a deployment runs against.
pub struct Env<'a> {
    pub store: &'a Store,
    pub target: &'a dyn Target,
    /// Required when the group controls traffic (in-place with traffic control, blue/green, ECS,
    /// Lambda).
    pub traffic: Option<&'a dyn TrafficControl>,
    pub strategies: &'a dyn StrategyRunner,
    pub metrics: &'a dyn MetricsSource,
    pub reporter: Arc<dyn Reporter>,
    pub options: RunOptions,
}

/// A finished run: the deployment, and the rollback deployment it caused, if any.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub deployment: DeploymentInfo,
    pub rollback: Option<DeploymentInfo>,
}

/// kiln could not run the deployment (not: the deployment failed).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}", .0.message)]
    Plan(PlanError),
    #[error(transparent)]
    Revision(#[from] RevisionError),
    #[error("the deployment group controls traffic ({0}), but no traffic control was given to the engine")]
    NoTrafficControl(&'static str),
    #[error("deployment {id} is {state}; {what}")]
    State { id: String, state: String, what: String },
}

/// The entry points.
pub struct Deployment;

impl Deployment {
    /// Check a deployment and resolve its configuration (see [`Plan::new`]).
    pub fn plan(group: &crate::group::DeploymentGroup, revision: Revision, options: DeploymentOptions) -> Result<Plan, PlanError> {
        Plan::new(group, revision, options)
    }

    /// Run a planned deployment to its end (and its rollback, if one follows).
    pub async fn run(plan: &Plan, env: &Env<'_>) -> Result<RunOutcome, EngineError> {
        run::run(plan, env).await
    }

    /// One deployment's record (`interrupted` set when kiln was killed while it ran).
    pub fn status(store: &Store, id: &str) -> Result<DeploymentInfo, StoreError> {
        store.read(id)
    }

    /// Every deployment, oldest first.
    pub fn list(store: &Store) -> Result<Vec<DeploymentInfo>, StoreError> {
        store.list()
    }

    /// `StopDeployment`: ask the process running `id` to stop it (rolling back if
    /// `auto_rollback` says so, else as the group's DEPLOYMENT_STOP_ON_REQUEST says); an
    /// interrupted deployment is marked Stopped at once.
    pub fn stop(store: &Store, id: &str, auto_rollback: Option<bool>) -> Result<StopStatus, EngineError> {
        recover::stop(store, id, auto_rollback)
    }

    /// Continue a blue/green deployment waiting in `Ready` (`ContinueDeployment(READY_WAIT)`).
    pub fn continue_deployment(store: &Store, id: &str) -> Result<(), EngineError> {
        recover::request(store, id, &crate::record::Control::Continue)
    }

    /// Resume an interrupted deployment: the fleet and traffic as its record left them, a new
    /// strategy instance, the work not done yet.
    pub async fn resume(id: &str, group: &crate::group::DeploymentGroup, env: &Env<'_>) -> Result<RunOutcome, EngineError> {
        recover::resume(id, group, env).await
    }

    /// Roll back an interrupted (or failed, not yet rolled back) deployment: traffic back first,
    /// then a rollback deployment of the last good revision.
    pub async fn rollback(id: &str, group: &crate::group::DeploymentGroup, env: &Env<'_>) -> Result<RunOutcome, EngineError> {
        recover::rollback(id, group, env).await
    }
}

/// Everything a running deployment's code needs.
pub(crate) struct RunCx<'a> {
    pub plan: &'a Plan,
    pub env: &'a Env<'a>,
    pub rec: &'a state::Recorder<'a>,
    pub watch: &'a watch::Watch<'a>,
    pub hook: HookContext,
    pub traffic: Option<&'a dyn TrafficControl>,
    /// The revision this deployment installs.
    pub revision: Arc<Revision>,
    pub scripts: lifecycle::ScriptCache,
    pub ignore_stop_failures: bool,
    pub file_exists_behavior: FileExistsBehavior,
    pub blue_green_rollback: bool,
    /// ECS and Lambda: the one target of the deployment.
    pub wide_target: String,
    /// Resumed after an interruption: actions already done are answered ok (see the guard).
    pub resumed: bool,
}

impl RunCx<'_> {
    /// Minimum healthy hosts as resolved for the fleet when the deployment started.
    pub fn health(&self) -> Option<HealthPlan> {
        self.rec.read(|s| s.info.kiln.health)
    }

    /// Real duration of `nominal` at the run's time scale.
    pub fn scaled(&self, nominal: Duration) -> Duration {
        nominal.mul_f64(self.env.options.time_scale.clamp(1e-9, 1e9))
    }
}
