//! Which strategy plugin runs a configuration, and with what JSON configuration.
//!
//! The strategies themselves are `deploy-strategy` WebAssembly plugins (built-in ones are
//! embedded in the `kiln` binary); this crate only names them and drives them through
//! [`crate::strategy::StrategyRunner`]. The built-in names and their configurations:
//!
//! | plugin | used for | config |
//! |---|---|---|
//! | `batched` | every EC2/on-premises configuration (in-place, and the replacement fleet of a blue/green deployment) | `{"type":"batched","instances":N,"minimumHealthyHosts":M,"maxBatchSize":N−M,"blueGreen":bool}` |
//! | `canary` | `TimeBasedCanary` | `{"type":"canary","percentage":10,"intervalMinutes":5}` |
//! | `linear` | `TimeBasedLinear` | `{"type":"linear","percentage":10,"intervalMinutes":1}` |
//! | `all-at-once` | `AllAtOnce` traffic routing | `{"type":"all-at-once"}` |
//!
//! Intervals are the configuration's minutes as written; the host reports time to strategies in
//! the same nominal milliseconds (`elapsed-ms`, `wait(ms)`), and a test or demo run with a time
//! scale compresses that clock without the strategy knowing. A custom configuration's
//! `kilnStrategy: {uses, with}` replaces the built-in plugin; its `with` is passed as written
//! plus the fields above that the rule implies (`with` wins on a clash).

use serde::Serialize;
use serde_json::{json, Value};

use super::health::HealthPlan;
use super::{DeploymentConfig, Rule, TrafficRouting};

/// The built-in strategy plugins' names.
pub mod builtin {
    pub const BATCHED: &str = "batched";
    pub const CANARY: &str = "canary";
    pub const LINEAR: &str = "linear";
    pub const ALL_AT_ONCE: &str = "all-at-once";
}

/// A strategy plugin and the configuration it is constructed with.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StrategySpec {
    /// A built-in name ([`builtin`]) or a plugin reference (`uses:`).
    pub plugin: String,
    /// The JSON given to the plugin's constructor (`config-json`).
    pub config: Value,
}

impl DeploymentConfig {
    /// The strategy for this configuration. `health` is the fleet's minimum healthy hosts
    /// arithmetic (EC2/on-premises only); `blue_green` says the fleet being deployed is the
    /// replacement one, after which traffic is rerouted.
    pub fn strategy(&self, health: Option<&HealthPlan>, blue_green: bool) -> StrategySpec {
        let (plugin, mut config) = match (&self.rule, health) {
            (Rule::MinimumHealthyHosts { .. }, Some(h)) => (
                builtin::BATCHED,
                json!({"type": "batched", "instances": h.instances, "minimumHealthyHosts": h.minimum_healthy, "maxBatchSize": h.max_batch, "blueGreen": blue_green}),
            ),
            (Rule::MinimumHealthyHosts { .. }, None) => (builtin::BATCHED, json!({"type": "batched", "blueGreen": blue_green})),
            (Rule::TrafficRouting { traffic_routing_config }, _) => match *traffic_routing_config {
                TrafficRouting::AllAtOnce => (builtin::ALL_AT_ONCE, json!({"type": "all-at-once"})),
                TrafficRouting::TimeBasedCanary { canary_percentage, canary_interval } => {
                    (builtin::CANARY, json!({"type": "canary", "percentage": canary_percentage, "intervalMinutes": canary_interval}))
                }
                TrafficRouting::TimeBasedLinear { linear_percentage, linear_interval } => {
                    (builtin::LINEAR, json!({"type": "linear", "percentage": linear_percentage, "intervalMinutes": linear_interval}))
                }
            },
        };
        match &self.kiln_strategy {
            None => StrategySpec { plugin: plugin.to_string(), config },
            Some(o) => {
                if let (Value::Object(base), Value::Object(with)) = (&mut config, &o.with) {
                    for (k, v) in with {
                        base.insert(k.clone(), v.clone());
                    }
                } else if !o.with.is_null() {
                    config = o.with.clone();
                }
                StrategySpec { plugin: o.uses.clone(), config }
            }
        }
    }
}
