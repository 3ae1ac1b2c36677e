//! kiln's built-in deployment strategies: every CodeDeploy deployment configuration family as a
//! plain state machine over the `deploy-strategy` world's observations and actions
//! (`wit/kiln-plugin/v0.1.0/deploy.wit`), tested natively. The guests `plugins/codedeploy-*` are
//! thin adapters that convert the WIT types into [`Observation`] and [`Action`].
//!
//! | strategy | CodeDeploy | config ([`config`]) |
//! |---|---|---|
//! | [`InPlace`] | EC2/on-premises in-place: `CodeDeployDefault.AllAtOnce`, `HalfAtATime`, `OneAtATime`, custom `minimumHealthyHosts` | [`config::InPlaceConfig`] |
//! | [`BlueGreen`] | EC2 blue/green: the replacement instances get the revision by the same rules, traffic is rerouted to them per instance, the originals are deregistered and kept for the termination wait; the deployment-ready wait | [`config::BlueGreenConfig`] |
//! | [`TrafficShift`] | ECS and Lambda: `…AllAtOnce`, `…Canary10Percent…`, `…Linear10PercentEvery…`, custom `trafficRoutingConfig` (`TimeBasedCanary`, `TimeBasedLinear`, `AllAtOnce`), with the ECS and Lambda hooks around the shift | [`config::TrafficShiftConfig`] |
//!
//! What every strategy does the same way (the first two in one place, `finishing_strategy!`):
//! - **No clock of its own.** Time is [`Observation::elapsed_ms`]; a wait answers
//!   [`Action::Wait`] with what is left, and the host may call sooner (an alarm changed), so the
//!   strategy recomputes from `elapsed_ms` on every call.
//! - **Alarms stop the deployment.** Any alarm in ALARM answers [`Action::RollBack`] naming it
//!   (CodeDeploy: "If any of the alarms is activated, the deployment is stopped"; the host's
//!   automatic-rollback settings decide what the roll-back does).
//! - **A failed step rolls back**, except where CodeDeploy tolerates instance failures: the
//!   minimum-healthy-hosts rules of [`rollout`] decide for `deploy-batch` and `allow-traffic`.
//! - **Once finished, it stays finished**: after `succeed` or `roll-back` every call repeats it.
//! - **A mismatch is a roll-back, not a guess**: an ECS configuration on a Lambda deployment,
//!   an in-place strategy on a blue/green deployment, an empty fleet.

#![warn(missing_docs)]

pub mod blue_green;
pub mod config;
pub mod in_place;
pub mod rollout;
pub mod traffic;

pub use blue_green::BlueGreen;
pub use in_place::InPlace;
pub use traffic::TrafficShift;

/// CodeDeploy's `computePlatform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// EC2/on-premises (`Server`).
    Server,
    /// Amazon ECS.
    Ecs,
    /// AWS Lambda.
    Lambda,
}

impl Platform {
    /// The name CodeDeploy's API uses (`Server`, `ECS`, `Lambda`).
    pub fn name(self) -> &'static str {
        match self {
            Platform::Server => "Server",
            Platform::Ecs => "ECS",
            Platform::Lambda => "Lambda",
        }
    }

    /// The name with its article, for messages (`an ECS`, `a Lambda`, `a Server`).
    pub fn a(self) -> &'static str {
        match self {
            Platform::Server => "a Server",
            Platform::Ecs => "an ECS",
            Platform::Lambda => "a Lambda",
        }
    }
}

/// CodeDeploy's `deploymentStyle.deploymentType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentType {
    /// Instances updated where they stand.
    InPlace,
    /// A replacement set gets the revision, then traffic moves to it.
    BlueGreen,
}

impl DeploymentType {
    /// `in-place` or `blue/green`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            DeploymentType::InPlace => "in-place",
            DeploymentType::BlueGreen => "blue/green",
        }
    }
}

/// Which environment an instance belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceSet {
    /// Serving the last good revision when the deployment started.
    Original,
    /// The replacement environment (green instances, task set, function version).
    Replacement,
}

/// One instance as the host reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Its id.
    pub id: String,
    /// Original or replacement.
    pub set: InstanceSet,
    /// The revision installed on it (empty: unknown).
    pub revision: String,
    /// CodeDeploy's instance health.
    pub healthy: bool,
    /// Whether the load balancer sends it traffic.
    pub in_service: bool,
}

/// An alarm the deployment watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    /// Its name.
    pub name: String,
    /// In ALARM.
    pub firing: bool,
}

/// What the host observes before each decision (the WIT `observation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The compute platform.
    pub platform: Platform,
    /// In-place or blue/green.
    pub deployment_type: DeploymentType,
    /// Milliseconds since the deployment started.
    pub elapsed_ms: u64,
    /// The revision being deployed.
    pub target_revision: String,
    /// Every instance of both sets.
    pub instances: Vec<Instance>,
    /// Every alarm.
    pub alarms: Vec<Alarm>,
    /// Percentage of production traffic on the target revision.
    pub traffic_to_target: u8,
    /// The operator asked to go on past the current wait.
    pub continue_requested: bool,
    /// The previous action's outcome (`None` before the first).
    pub last_action: Option<Result<(), String>>,
}

impl Observation {
    /// The first alarm in ALARM, if any.
    pub fn firing_alarm(&self) -> Option<&str> {
        self.alarms.iter().find(|a| a.firing).map(|a| a.name.as_str())
    }

    /// The instance with this id.
    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.id == id)
    }

    /// The instances of one set, in the host's order.
    pub fn set(&self, set: InstanceSet) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(move |i| i.set == set)
    }

    /// Whether the target revision is installed on `i` and it is healthy: a deployment to it
    /// succeeded.
    pub fn is_deployed(&self, i: &Instance) -> bool {
        i.healthy && i.revision == self.target_revision
    }

    /// The previous action's error message, if it failed.
    pub fn last_error(&self) -> Option<&str> {
        match &self.last_action {
            Some(Err(e)) => Some(e.as_str()),
            _ => None,
        }
    }
}

/// The next thing the host should do (the WIT `action`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Install the target revision on these instances.
    DeployBatch(Vec<String>),
    /// Register these instances with the load balancer.
    AllowTraffic(Vec<String>),
    /// Deregister these instances from the load balancer.
    BlockTraffic(Vec<String>),
    /// Route this percentage of production traffic to the replacement set.
    ShiftTraffic(u8),
    /// Observe again after this many milliseconds.
    Wait(u64),
    /// Run one deployment-level lifecycle event.
    RunHook(String),
    /// The deployment is complete.
    Succeed,
    /// Roll back, with the reason.
    RollBack(String),
}

impl Action {
    /// Whether the deployment ends with this action.
    pub fn is_final(&self) -> bool {
        matches!(self, Action::Succeed | Action::RollBack(_))
    }
}

/// A deployment strategy: one instance per deployment, asked for the next action until it
/// answers [`Action::Succeed`] or [`Action::RollBack`].
pub trait Strategy {
    /// The next action, given what the host observes now.
    fn next(&mut self, obs: &Observation) -> Action;
}

/// A strategy made from its JSON configuration (the plugin's `config-json`).
pub trait FromConfig: Strategy + Sized {
    /// Parses `json` ([`config`]) into a fresh strategy; the error says which key is wrong.
    fn from_config(json: &serde_json::Value) -> Result<Self, String>;
}

impl FromConfig for InPlace {
    fn from_config(json: &serde_json::Value) -> Result<Self, String> {
        config::InPlaceConfig::from_json(json).map(InPlace::new)
    }
}

impl FromConfig for BlueGreen {
    fn from_config(json: &serde_json::Value) -> Result<Self, String> {
        config::BlueGreenConfig::from_json(json).map(BlueGreen::new)
    }
}

impl FromConfig for TrafficShift {
    fn from_config(json: &serde_json::Value) -> Result<Self, String> {
        config::TrafficShiftConfig::from_json(json).map(TrafficShift::new)
    }
}

/// A strategy's memory of a wait: when it started (`elapsed_ms`) and how long it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timer {
    pub(crate) until_ms: u64,
}

impl Timer {
    /// A wait of `ms` from `now`.
    pub(crate) fn start(now: u64, ms: u64) -> Timer {
        Timer { until_ms: now.saturating_add(ms) }
    }

    /// What is left at `now` (`None` when the wait is over).
    pub(crate) fn left(self, now: u64) -> Option<u64> {
        (now < self.until_ms).then(|| self.until_ms - now)
    }
}

/// The roll-back every strategy answers first: an alarm in ALARM.
pub(crate) fn alarm_stop(obs: &Observation) -> Option<Action> {
    obs.firing_alarm()
        .map(|name| Action::RollBack(format!("alarm {name} is in ALARM: the deployment is stopped (CodeDeploy's DEPLOYMENT_STOP_ON_ALARM)")))
}

/// [`Strategy`] for the built-ins around their own `decide`, with the rules they share: once
/// finished, the final action again; an alarm in ALARM stops the deployment before anything else.
macro_rules! finishing_strategy {
    ($($t:ty),*) => {$(
        impl Strategy for $t {
            fn next(&mut self, obs: &Observation) -> Action {
                if let Some(done) = self.finish.get() {
                    return done;
                }
                let a = alarm_stop(obs).unwrap_or_else(|| self.decide(obs));
                self.finish.keep(a)
            }
        }
    )*};
}

finishing_strategy!(InPlace, BlueGreen, TrafficShift);

/// Remembers the final action so that later calls repeat it.
#[derive(Debug, Default)]
pub(crate) struct Finish(Option<Action>);

impl Finish {
    pub(crate) fn get(&self) -> Option<Action> {
        self.0.clone()
    }

    /// Records `a` if it ends the deployment, and passes it on.
    pub(crate) fn keep(&mut self, a: Action) -> Action {
        if a.is_final() {
            self.0 = Some(a.clone());
        }
        a
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod properties;
