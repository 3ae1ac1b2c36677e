//! Which strategy plugin runs a configuration, and with what JSON configuration.
//!
//! The strategies are `deploy-strategy` WebAssembly plugins; the built-in ones are embedded in the
//! `kiln` binary (`kiln_host::builtin::STRATEGIES`, logic in `plugins/engines/strategy-engine`),
//! and this crate only names them and drives them through [`crate::strategy::StrategyRunner`].
//! Their names are the plugins' own, one per deployment family, and their configuration is
//! CodeDeploy's own `DeploymentConfigInfo` JSON (what `aws deploy get-deployment-config` prints),
//! so a configuration can be read by anyone who knows CodeDeploy:
//!
//! | plugin | used for | config |
//! |---|---|---|
//! | `codedeploy-in-place` | EC2/on-premises in-place | `{"deploymentConfigName": "CodeDeployDefault.HalfAtATime", "computePlatform": "Server"}`; a custom configuration adds `"minimumHealthyHosts": {"type": "HOST_COUNT", "value": 2}` |
//! | `codedeploy-blue-green` | EC2/on-premises blue/green (the replacement fleet's install, then the per-instance reroute) | the same keys |
//! | `codedeploy-traffic-shift` | ECS and Lambda | `{"deploymentConfigName": "CodeDeployDefault.ECSCanary10Percent5Minutes", "computePlatform": "ECS"}`; a custom one adds `"trafficRoutingConfig": {...}` as the API writes it |
//!
//! Two things are deliberately *not* passed, though the plugins accept them: the group's
//! blue/green waits (`terminateBlueInstancesOnDeploymentSuccess`, `deploymentReadyOption`) and
//! `minuteMs`. The waits belong to the deployment group and the host keeps them whatever the
//! strategy does (status `Ready` and `Baking`, `Stopped` when the ready wait times out, `kiln
//! deploy continue`); time is compressed by the run's time scale, which scales the strategy's
//! `elapsed-ms` and `wait(ms)` without the strategy knowing (kiln proposal).
//!
//! A custom configuration's `kilnStrategy: {uses, with}` replaces the built-in plugin; the
//! plugin gets its `with` exactly as written (an empty object when absent), never CodeDeploy's
//! keys, which its schema may not accept: the observation tells it the platform and deployment
//! type, and the host enforces the configuration's minimum healthy hosts whatever it answers.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{ComputePlatform, DeploymentConfig, MinimumHealthyHosts, Rule, TrafficRouting};

/// The built-in strategy plugins' names (`kiln_host::builtin::STRATEGIES`).
pub mod builtin {
    pub const IN_PLACE: &str = "codedeploy-in-place";
    pub const BLUE_GREEN: &str = "codedeploy-blue-green";
    pub const TRAFFIC_SHIFT: &str = "codedeploy-traffic-shift";
    /// All three.
    pub const ALL: [&str; 3] = [IN_PLACE, BLUE_GREEN, TRAFFIC_SHIFT];
}

/// A strategy plugin and the configuration it is constructed with.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StrategySpec {
    /// A built-in name ([`builtin`]) or a plugin reference as `uses:` takes it (a path, or
    /// `name@sha256:…` through `kiln.lock`).
    pub plugin: String,
    /// The JSON given to the plugin's constructor (`config-json`).
    pub config: Value,
}

impl StrategySpec {
    /// Whether the plugin is one of the built-in ones.
    pub fn is_builtin(&self) -> bool {
        builtin::ALL.contains(&self.plugin.as_str())
    }
}

impl DeploymentConfig {
    /// The strategy for this configuration; `blue_green` says the deployment is an EC2/on-premises
    /// blue/green one (ECS and Lambda always shift traffic between two sets).
    pub fn strategy(&self, blue_green: bool) -> StrategySpec {
        if let Some(o) = &self.kiln_strategy {
            let config = if o.with.is_null() { Value::Object(Map::new()) } else { o.with.clone() };
            return StrategySpec { plugin: o.uses.clone(), config };
        }
        let mut config = json!({"deploymentConfigName": self.deployment_config_name, "computePlatform": self.compute_platform.api_name()});
        let plugin = match (&self.rule, self.compute_platform) {
            (Rule::MinimumHealthyHosts { minimum_healthy_hosts }, _) => {
                // A predefined name says it all (OneAtATime's MOST_CONCURRENCY cannot be written
                // as a custom minimum); a custom one carries its rule.
                if !self.predefined {
                    let (kind, value) = match *minimum_healthy_hosts {
                        MinimumHealthyHosts::HostCount(v) => ("HOST_COUNT", v),
                        MinimumHealthyHosts::FleetPercent(v) => ("FLEET_PERCENT", v),
                        MinimumHealthyHosts::MostConcurrency(_) => ("HOST_COUNT", 0),
                    };
                    config["minimumHealthyHosts"] = json!({"type": kind, "value": value});
                }
                if blue_green { builtin::BLUE_GREEN } else { builtin::IN_PLACE }
            }
            (Rule::TrafficRouting { traffic_routing_config }, _) => {
                if !self.predefined {
                    config["trafficRoutingConfig"] = match *traffic_routing_config {
                        TrafficRouting::AllAtOnce => json!({"type": "AllAtOnce"}),
                        TrafficRouting::TimeBasedCanary { canary_percentage, canary_interval } => {
                            json!({"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": canary_percentage, "canaryInterval": canary_interval}})
                        }
                        TrafficRouting::TimeBasedLinear { linear_percentage, linear_interval } => {
                            json!({"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": linear_percentage, "linearInterval": linear_interval}})
                        }
                    };
                }
                builtin::TRAFFIC_SHIFT
            }
        };
        debug_assert!(self.compute_platform != ComputePlatform::Server || plugin != builtin::TRAFFIC_SHIFT);
        StrategySpec { plugin: plugin.to_string(), config }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{predefined, StrategyOverride};

    #[test]
    fn predefined_configurations_name_themselves() {
        let s = predefined("CodeDeployDefault.HalfAtATime").unwrap().strategy(false);
        assert_eq!(s.plugin, "codedeploy-in-place");
        assert_eq!(s.config, json!({"deploymentConfigName": "CodeDeployDefault.HalfAtATime", "computePlatform": "Server"}));
        assert!(s.is_builtin());
        assert_eq!(predefined("CodeDeployDefault.OneAtATime").unwrap().strategy(true).plugin, "codedeploy-blue-green");
        let s = predefined("CodeDeployDefault.LambdaLinear10PercentEvery1Minute").unwrap().strategy(false);
        assert_eq!((s.plugin.as_str(), &s.config), ("codedeploy-traffic-shift", &json!({"deploymentConfigName": "CodeDeployDefault.LambdaLinear10PercentEvery1Minute", "computePlatform": "Lambda"})));
    }

    #[test]
    fn custom_configurations_carry_their_rule_and_overrides_get_their_own_config() {
        let mut c = DeploymentConfig {
            deployment_config_name: "TwoAtATime".into(),
            compute_platform: ComputePlatform::Server,
            rule: Rule::MinimumHealthyHosts { minimum_healthy_hosts: MinimumHealthyHosts::FleetPercent(60) },
            predefined: false,
            kiln_strategy: None,
        };
        assert_eq!(c.strategy(false).config["minimumHealthyHosts"], json!({"type": "FLEET_PERCENT", "value": 60}));
        c.compute_platform = ComputePlatform::Ecs;
        c.rule = Rule::TrafficRouting { traffic_routing_config: TrafficRouting::TimeBasedCanary { canary_percentage: 1, canary_interval: 2 } };
        let s = c.strategy(false);
        assert_eq!(s.config["trafficRoutingConfig"], json!({"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 1, "canaryInterval": 2}}));
        assert_eq!(s.config["computePlatform"], "ECS");
        c.kiln_strategy = Some(StrategyOverride { uses: "./steps.wasm".into(), with: json!({"steps": [1, 100]}) });
        let s = c.strategy(false);
        assert_eq!((s.plugin.as_str(), &s.config), ("./steps.wasm", &json!({"steps": [1, 100]})));
        assert!(!s.is_builtin());
        c.kiln_strategy = Some(StrategyOverride { uses: "./steps.wasm".into(), with: Value::Null });
        assert_eq!(c.strategy(false).config, json!({}));
    }
}
