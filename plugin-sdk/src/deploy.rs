//! The `deploy-strategy` world: implement [`DeployStrategy`] and call
//! [`export_deploy_strategy!`](crate::export_deploy_strategy). The host creates one strategy per
//! deployment with the plugin's config and asks [`DeployStrategy::next`] for the next action,
//! reporting the fleet, the traffic split, the alarms and the previous action's outcome each
//! time, until the strategy answers [`Action::Succeed`] or [`Action::RollBack`].
//!
//! A strategy decides from the observation only: it reads no clock (use
//! [`Observation::elapsed_ms`]), does no I/O (it gets no files, environment or network) and never
//! sleeps (answer [`Action::Wait`]). The host may call again before a wait is over (an alarm
//! changed), so compute what is left from `elapsed_ms`.

use std::cell::RefCell;

/// Generated bindings for the `deploy-strategy` world (its `log` and `config` imports are the
/// step bindings' own).
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/kiln-plugin/v0.1.0",
        world: "deploy-strategy",
        pub_export_macro: true,
        export_macro_name: "__kiln_export_deploy_strategy_bindings",
        default_bindings_module: "kiln_plugin_sdk::deploy::bindings",
        additional_derives: [PartialEq],
        with: {
            "kiln:plugin/log@0.1.0": crate::bindings::kiln::plugin::log,
            "kiln:plugin/config@0.1.0": crate::bindings::kiln::plugin::config,
        },
    });
}

use bindings::exports::kiln::plugin::deploy_strategy_plugin as wit;
/// The next thing the host should do.
pub use wit::Action;
/// An alarm the deployment watches.
pub use wit::Alarm;
/// Where the deployment runs (Server, ECS, Lambda).
pub use wit::ComputePlatform;
/// In-place or blue/green.
pub use wit::DeploymentType;
/// One instance (for ECS and Lambda, one process of a task set or function version).
pub use wit::Instance;
/// Original or replacement environment.
pub use wit::InstanceSet;
/// What the host observes before each decision.
pub use wit::Observation;

impl Observation {
    /// The first alarm in ALARM, if any.
    pub fn firing_alarm(&self) -> Option<&str> {
        self.alarms.iter().find(|a| a.firing).map(|a| a.name.as_str())
    }

    /// The instances of one set, in the host's order.
    pub fn instances_in(&self, set: InstanceSet) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(move |i| i.set == set)
    }

    /// The instance with this id.
    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.id == id)
    }

    /// Whether `i` runs the target revision and is healthy (a deployment to it succeeded).
    pub fn is_deployed(&self, i: &Instance) -> bool {
        i.healthy && i.revision == self.target_revision
    }

    /// The previous action's error message, if it failed.
    pub fn last_error(&self) -> Option<&str> {
        match &self.last_action {
            Some(Err(e)) => Some(e),
            _ => None,
        }
    }
}

/// A deployment strategy (the `deploy-strategy` world). One value per deployment.
pub trait DeployStrategy: Sized + 'static {
    /// The plugin's configuration, deserialized from the JSON the host passes (an object; use
    /// `#[serde(default)]` so `{}` works).
    type Config: serde::de::DeserializeOwned;

    /// Starts a deployment. An `Err` is reported as the first action: a roll-back whose reason
    /// starts `invalid config:` (nothing has been touched yet).
    fn new(config: Self::Config) -> Result<Self, String>;

    /// The next action, given what the host observes now.
    fn next(&mut self, obs: &Observation) -> Action;
}

/// The exported `strategy` resource around a [`DeployStrategy`]: the strategy, or why its config
/// was refused. Used by [`export_deploy_strategy!`](crate::export_deploy_strategy).
#[doc(hidden)]
pub struct Session<S: DeployStrategy>(RefCell<Result<S, String>>);

impl<S: DeployStrategy> wit::GuestStrategy for Session<S> {
    fn new(config_json: String) -> Self {
        let started = serde_json::from_str::<S::Config>(&config_json)
            .map_err(|e| e.to_string())
            .and_then(S::new)
            .map_err(|e| format!("invalid config: {e}"));
        Session(RefCell::new(started))
    }

    fn next(&self, obs: Observation) -> Action {
        match &mut *self.0.borrow_mut() {
            Ok(s) => s.next(&obs),
            Err(e) => Action::RollBack(e.clone()),
        }
    }
}

/// Exports a [`DeployStrategy`] implementation as the component's `deploy-strategy-plugin`
/// interface.
///
/// `export_deploy_strategy!(MyStrategy)` or, to embed the manifest (which must say
/// `world = "deploy-strategy"`), `export_deploy_strategy!(MyStrategy, manifest = "kiln-plugin.toml")`.
#[macro_export]
macro_rules! export_deploy_strategy {
    ($ty:ident) => {
        struct __KilnDeployStrategyExport;
        impl $crate::deploy::bindings::exports::kiln::plugin::deploy_strategy_plugin::Guest for __KilnDeployStrategyExport {
            type Strategy = $crate::deploy::Session<$ty>;
        }
        $crate::deploy::bindings::__kiln_export_deploy_strategy_bindings!(__KilnDeployStrategyExport with_types_in $crate::deploy::bindings);
    };
    ($ty:ident, manifest = $path:literal) => {
        #[unsafe(link_section = "kiln:plugin-manifest")]
        #[used]
        static __KILN_PLUGIN_MANIFEST: [u8; include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path)).len()] =
            *include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path));
        $crate::export_deploy_strategy!($ty);
    };
}
