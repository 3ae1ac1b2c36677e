//! Every predefined CodeDeploy deployment configuration.
//!
//! Source: CodeDeploy user guide, "Working with deployment configurations in CodeDeploy"
//! (`deployment-configurations.html`), its three tables:
//!
//! * EC2/on-premises: `CodeDeployDefault.AllAtOnce` ("deploy an application revision to as many
//!   instances as possible at once … succeeds if … deployed to one or more of the instances"),
//!   `CodeDeployDefault.HalfAtATime` ("up to half of the instances at a time (with fractions
//!   rounded down) … succeeds if … deployed to at least half of the instances (with fractions
//!   rounded up)"), `CodeDeployDefault.OneAtATime` ("only one instance at a time"). Their minimum
//!   healthy hosts (user guide "CodeDeploy instance health" and GetDeploymentConfig): AllAtOnce
//!   HOST_COUNT 0, HalfAtATime FLEET_PERCENT 50, OneAtATime MOST_CONCURRENCY 1.
//! * ECS: `ECSLinear10PercentEvery1Minutes`, `ECSLinear10PercentEvery3Minutes`,
//!   `ECSCanary10Percent5Minutes`, `ECSCanary10Percent15Minutes`, `ECSAllAtOnce`.
//! * Lambda: `LambdaCanary10Percent5Minutes`, `…10Minutes`, `…15Minutes`, `…30Minutes`,
//!   `LambdaLinear10PercentEvery1Minute` (singular), `…Every2Minutes`, `…Every3Minutes`,
//!   `…Every10Minutes`, `LambdaAllAtOnce`.

use std::sync::LazyLock;

use super::{ComputePlatform, DeploymentConfig, MinimumHealthyHosts, Rule, TrafficRouting};

fn server(name: &str, mhh: MinimumHealthyHosts) -> DeploymentConfig {
    DeploymentConfig {
        deployment_config_name: format!("CodeDeployDefault.{name}"),
        compute_platform: ComputePlatform::Server,
        rule: Rule::MinimumHealthyHosts { minimum_healthy_hosts: mhh },
        predefined: true,
        kiln_strategy: None,
    }
}

fn routed(platform: ComputePlatform, name: &str, routing: TrafficRouting) -> DeploymentConfig {
    DeploymentConfig {
        deployment_config_name: format!("CodeDeployDefault.{name}"),
        compute_platform: platform,
        rule: Rule::TrafficRouting { traffic_routing_config: routing },
        predefined: true,
        kiln_strategy: None,
    }
}

fn canary(percentage: u32, minutes: u32) -> TrafficRouting {
    TrafficRouting::TimeBasedCanary { canary_percentage: percentage, canary_interval: minutes }
}

fn linear(percentage: u32, minutes: u32) -> TrafficRouting {
    TrafficRouting::TimeBasedLinear { linear_percentage: percentage, linear_interval: minutes }
}

/// All predefined configurations, in the user guide's order per platform.
pub static PREDEFINED: LazyLock<Vec<DeploymentConfig>> = LazyLock::new(|| {
    use ComputePlatform::{Ecs, Lambda};
    vec![
        server("AllAtOnce", MinimumHealthyHosts::HostCount(0)),
        server("HalfAtATime", MinimumHealthyHosts::FleetPercent(50)),
        server("OneAtATime", MinimumHealthyHosts::MostConcurrency(1)),
        routed(Ecs, "ECSLinear10PercentEvery1Minutes", linear(10, 1)),
        routed(Ecs, "ECSLinear10PercentEvery3Minutes", linear(10, 3)),
        routed(Ecs, "ECSCanary10Percent5Minutes", canary(10, 5)),
        routed(Ecs, "ECSCanary10Percent15Minutes", canary(10, 15)),
        routed(Ecs, "ECSAllAtOnce", TrafficRouting::AllAtOnce),
        routed(Lambda, "LambdaCanary10Percent5Minutes", canary(10, 5)),
        routed(Lambda, "LambdaCanary10Percent10Minutes", canary(10, 10)),
        routed(Lambda, "LambdaCanary10Percent15Minutes", canary(10, 15)),
        routed(Lambda, "LambdaCanary10Percent30Minutes", canary(10, 30)),
        routed(Lambda, "LambdaLinear10PercentEvery1Minute", linear(10, 1)),
        routed(Lambda, "LambdaLinear10PercentEvery2Minutes", linear(10, 2)),
        routed(Lambda, "LambdaLinear10PercentEvery3Minutes", linear(10, 3)),
        routed(Lambda, "LambdaLinear10PercentEvery10Minutes", linear(10, 10)),
        routed(Lambda, "LambdaAllAtOnce", TrafficRouting::AllAtOnce),
    ]
});

/// The predefined configuration named exactly `name`.
pub fn predefined(name: &str) -> Option<DeploymentConfig> {
    PREDEFINED.iter().find(|c| c.deployment_config_name == name).cloned()
}
