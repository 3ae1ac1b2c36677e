//! Deployment configurations: CodeDeploy's predefined ones by name, custom ones from the
//! deployment group file, what each means for one fleet ([`health`]), and the strategy plugin
//! (and its JSON configuration) each resolves to ([`DeploymentConfig::strategy`]).
//!
//! Sources: user guide "Working with deployment configurations" (the three EC2/on-premises
//! configurations, the five ECS ones, the nine Lambda ones, with their descriptions), "Create a
//! deployment configuration" and the API's `MinimumHealthyHosts`, `TrafficRoutingConfig`,
//! `TimeBasedCanary`, `TimeBasedLinear` (fact sheet `shared/reference/codedeploy.md` §5).
//! Names are case-sensitive, as the API treats them; the user guide once spelt the ECS canaries
//! `ECSCanary10percent5Minutes` (lower-case p): kiln takes the API's `ECSCanary10Percent5Minutes`
//! and answers the other spelling with a "did you mean".

pub mod health;
mod predefined;
mod strategy_ref;

use serde::Serialize;

pub use kiln_spec::appspec::ComputePlatform;
pub use predefined::{predefined, PREDEFINED};
pub use strategy_ref::{builtin, StrategySpec};

/// `minimumHealthyHosts` (EC2/on-premises only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value")]
pub enum MinimumHealthyHosts {
    /// `HOST_COUNT`: at least this many instances stay healthy.
    #[serde(rename = "HOST_COUNT")]
    HostCount(u32),
    /// `FLEET_PERCENT`: at least this percentage of the fleet, rounded up to whole instances.
    #[serde(rename = "FLEET_PERCENT")]
    FleetPercent(u32),
    /// `MOST_CONCURRENCY` (only `CodeDeployDefault.OneAtATime`; GetDeploymentConfig shows it with
    /// value 1): at most this many instances are out of service at once. A custom configuration
    /// cannot use it.
    #[serde(rename = "MOST_CONCURRENCY")]
    MostConcurrency(u32),
}

/// `trafficRoutingConfig` (ECS and Lambda).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum TrafficRouting {
    /// All traffic moves in one step.
    AllAtOnce,
    /// `canaryPercentage` first, the rest `canaryInterval` minutes later.
    #[serde(rename_all = "camelCase")]
    TimeBasedCanary { canary_percentage: u32, canary_interval: u32 },
    /// `linearPercentage` more every `linearInterval` minutes until all of it.
    #[serde(rename_all = "camelCase")]
    TimeBasedLinear { linear_percentage: u32, linear_interval: u32 },
}

/// What a configuration prescribes: minimum healthy hosts (EC2/on-premises) or traffic routing
/// (ECS, Lambda).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Rule {
    #[serde(rename_all = "camelCase")]
    MinimumHealthyHosts { minimum_healthy_hosts: MinimumHealthyHosts },
    #[serde(rename_all = "camelCase")]
    TrafficRouting { traffic_routing_config: TrafficRouting },
}

/// A third-party strategy plugin named by a custom configuration (kiln extension
/// `kilnStrategy: {uses, with}`): it replaces the built-in strategy the rule would select.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StrategyOverride {
    /// A plugin reference as `uses:` takes it (a path, `name@sha256:…`).
    pub uses: String,
    /// Its configuration (`with:`), passed as JSON.
    pub with: serde_json::Value,
}

/// One deployment configuration (the API's `DeploymentConfigInfo`, with kiln's strategy choice).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfig {
    pub deployment_config_name: String,
    pub compute_platform: ComputePlatform,
    #[serde(flatten)]
    pub rule: Rule,
    /// Whether it is one of CodeDeploy's `CodeDeployDefault.*` configurations.
    #[serde(skip)]
    pub predefined: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kiln_strategy: Option<StrategyOverride>,
}

/// The prefix only predefined configurations may have.
pub const PREDEFINED_PREFIX: &str = "CodeDeployDefault.";

/// The configuration a deployment uses when neither it nor its group names one. For
/// EC2/on-premises the API says `CodeDeployDefault.OneAtATime`; ECS and Lambda deployment groups
/// always carry one in CodeDeploy (the console preselects the all-at-once one), so kiln uses
/// those (kiln proposal).
pub fn default_config_name(platform: ComputePlatform) -> &'static str {
    match platform {
        ComputePlatform::Server => "CodeDeployDefault.OneAtATime",
        ComputePlatform::Ecs => "CodeDeployDefault.ECSAllAtOnce",
        ComputePlatform::Lambda => "CodeDeployDefault.LambdaAllAtOnce",
    }
}

/// Why a configuration name does not resolve.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("there is no deployment configuration named `{name}`")]
    Unknown { name: String, suggestion: Option<String> },
    #[error("the deployment configuration `{name}` is for {} deployments, not {}", .config_platform.describe(), .platform.describe())]
    WrongPlatform { name: String, config_platform: ComputePlatform, platform: ComputePlatform },
}

impl ConfigError {
    /// What to do about it.
    pub fn help(&self) -> String {
        match self {
            ConfigError::Unknown { suggestion: Some(s), .. } => format!("did you mean `{s}`?"),
            ConfigError::Unknown { .. } => format!(
                "use one of CodeDeploy's predefined configurations ({}) or define it under `customDeploymentConfigs` in the deployment group file",
                PREDEFINED.iter().map(|c| c.deployment_config_name.as_str()).collect::<Vec<_>>().join(", ")
            ),
            ConfigError::WrongPlatform { platform, .. } => format!(
                "choose a configuration for {} deployments, for example `{}`",
                platform.describe(),
                default_config_name(*platform)
            ),
        }
    }
}

/// The configuration named `name` for a deployment on `platform`: a predefined one, else one of
/// `custom`. Names are case-sensitive.
pub fn resolve(name: &str, platform: ComputePlatform, custom: &[DeploymentConfig]) -> Result<DeploymentConfig, ConfigError> {
    let found = predefined(name).or_else(|| custom.iter().find(|c| c.deployment_config_name == name).cloned());
    match found {
        Some(c) if c.compute_platform != platform => {
            Err(ConfigError::WrongPlatform { name: name.to_string(), config_platform: c.compute_platform, platform })
        }
        Some(c) => Ok(c),
        None => {
            let mut names: Vec<&str> = PREDEFINED.iter().filter(|c| c.compute_platform == platform).map(|c| c.deployment_config_name.as_str()).collect();
            names.extend(custom.iter().map(|c| c.deployment_config_name.as_str()));
            Err(ConfigError::Unknown { name: name.to_string(), suggestion: suggest(name, &names) })
        }
    }
}

/// The closest name, compared case-insensitively and without the `CodeDeployDefault.` prefix
/// (so `OneAtATime`, `codedeploydefault.allatonce` and `ECSCanary10percent5Minutes` find theirs).
pub(crate) fn suggest(name: &str, names: &[&str]) -> Option<String> {
    let strip = |s: &str| s.strip_prefix(PREDEFINED_PREFIX).unwrap_or(s).to_ascii_lowercase();
    let want = strip(name);
    if let Some(exact) = names.iter().find(|n| strip(n) == want) {
        return Some(exact.to_string());
    }
    let stripped: Vec<String> = names.iter().map(|n| strip(n)).collect();
    let refs: Vec<&str> = stripped.iter().map(String::as_str).collect();
    let best = kiln_spec::diag::did_you_mean(&want, &refs)?;
    let i = refs.iter().position(|r| *r == best)?;
    Some(names[i].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_case_sensitively_with_suggestions() {
        assert!(resolve("CodeDeployDefault.OneAtATime", ComputePlatform::Server, &[]).is_ok());
        let err = resolve("CodeDeployDefault.oneatatime", ComputePlatform::Server, &[]).unwrap_err();
        assert_eq!(err, ConfigError::Unknown { name: "CodeDeployDefault.oneatatime".into(), suggestion: Some("CodeDeployDefault.OneAtATime".into()) });
        let err = resolve("CodeDeployDefault.ECSCanary10percent5Minutes", ComputePlatform::Ecs, &[]).unwrap_err();
        assert_eq!(err.help(), "did you mean `CodeDeployDefault.ECSCanary10Percent5Minutes`?");
        let err = resolve("HalfAtATime", ComputePlatform::Server, &[]).unwrap_err();
        assert_eq!(err.help(), "did you mean `CodeDeployDefault.HalfAtATime`?");
        let err = resolve("CodeDeployDefault.LambdaAllAtOnce", ComputePlatform::Server, &[]).unwrap_err();
        assert!(matches!(err, ConfigError::WrongPlatform { .. }), "{err:?}");
        assert!(err.help().contains("CodeDeployDefault.OneAtATime"));
        let err = resolve("zzz", ComputePlatform::Lambda, &[]).unwrap_err();
        assert!(err.help().contains("customDeploymentConfigs"), "{}", err.help());
    }

    #[test]
    fn custom_configurations_resolve_by_name() {
        let custom = DeploymentConfig {
            deployment_config_name: "Canary1".into(),
            compute_platform: ComputePlatform::Ecs,
            rule: Rule::TrafficRouting { traffic_routing_config: TrafficRouting::TimeBasedCanary { canary_percentage: 1, canary_interval: 1 } },
            predefined: false,
            kiln_strategy: None,
        };
        assert_eq!(resolve("Canary1", ComputePlatform::Ecs, std::slice::from_ref(&custom)).unwrap(), custom);
        assert_eq!(resolve("canary1", ComputePlatform::Ecs, std::slice::from_ref(&custom)).unwrap_err().help(), "did you mean `Canary1`?");
    }
}
