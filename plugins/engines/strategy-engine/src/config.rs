//! The strategies' configuration: CodeDeploy's own JSON shapes (`DeploymentConfigInfo` from
//! `GetDeploymentConfig`, and the deployment group's `blueGreenDeploymentConfiguration` parts),
//! so a configuration can be pasted from the AWS CLI, plus `minuteMs` to scale time in tests.
//!
//! ```json
//! {"deploymentConfigName": "CodeDeployDefault.HalfAtATime"}
//! {"minimumHealthyHosts": {"type": "FLEET_PERCENT", "value": 75}}
//! {"deploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes"}
//! {"trafficRoutingConfig": {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 25, "linearInterval": 2}}}
//! {"deploymentConfigName": "CodeDeployDefault.OneAtATime",
//!  "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 60},
//!  "deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 30}}
//! ```
//!
//! A `CodeDeployDefault.*` name selects a predefined configuration (the user guide's tables,
//! [`PREDEFINED`]); any other name is a label, and the custom settings must be given. Without a
//! name or settings, EC2 strategies use `CodeDeployDefault.OneAtATime` ("If you don't specify a
//! deployment configuration, CodeDeploy uses the CodeDeployDefault.OneAtATime deployment
//! configuration") and traffic shifting shifts all at once (kiln proposal: the ECS and Lambda
//! groups name a configuration in CodeDeploy).
//!
//! Limits checked here, from the API reference and the user guide's limits page:
//! `minimumHealthyHosts` HOST_COUNT ≥ 0, FLEET_PERCENT 0–99; canary and linear percentages 1–99
//! ("percentage of traffic shifted per increment: ≤ 99"); intervals 1–2880 minutes; the
//! termination wait 0–2880 minutes ("The maximum setting is 2880 minutes (2 days)"); the
//! deployment-ready wait 0–2880 minutes (48 h, EC2's longest).

use crate::Platform;
use serde::Deserialize;

/// One minute, unless `minuteMs` says otherwise.
pub const MINUTE_MS: u64 = 60_000;
/// The longest interval or wait a configuration may give, in minutes (2 days).
pub const MAX_MINUTES: i64 = 2880;

/// Minimum healthy hosts (EC2/on-premises).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinimumHealthy {
    /// `HOST_COUNT`: at least this many instances stay healthy.
    HostCount(u32),
    /// `FLEET_PERCENT`: at least this percentage of the fleet, converted to a count at the start
    /// by rounding up ("If you specify a percentage ... rounding up any fractional instances").
    FleetPercent(u8),
    /// `CodeDeployDefault.OneAtATime`: `MOST_CONCURRENCY` 1 ("In a call to GetDeploymentConfig,
    /// CodeDeployDefault.OneAtATime returns a minimum healthy instance type of MOST_CONCURRENCY
    /// and a value of 1. This means a deployment to only one instance at a time").
    OneAtATime,
}

impl MinimumHealthy {
    /// For a fleet of `n`: (the minimum number of healthy instances, the most instances deployed
    /// at once). The batch is `n − minimum` (user guide: "If your deployment group has 10
    /// instances and you set the minimum healthy instances number to 9, CodeDeploy deploys to
    /// one instance at a time"; API: "In an example of nine instances, if a HOST_COUNT of six is
    /// specified, deploy to up to three instances at a time ... If a FLEET_PERCENT of 40 is
    /// specified, deploy to up to five instances at a time"). A batch of 0 means the minimum can
    /// never be met.
    pub fn resolve(self, n: usize) -> (usize, usize) {
        let min = match self {
            MinimumHealthy::HostCount(c) => c as usize,
            MinimumHealthy::FleetPercent(p) => (p as usize * n).div_ceil(100),
            MinimumHealthy::OneAtATime => n.saturating_sub(1),
        };
        (min, n.saturating_sub(min))
    }

    /// As CodeDeploy's API writes it.
    pub fn describe(self) -> String {
        match self {
            MinimumHealthy::HostCount(c) => format!("HOST_COUNT {c}"),
            MinimumHealthy::FleetPercent(p) => format!("FLEET_PERCENT {p}"),
            MinimumHealthy::OneAtATime => "MOST_CONCURRENCY 1".into(),
        }
    }
}

/// How traffic moves to the replacement set (ECS, Lambda).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficRouting {
    /// All of it at once.
    AllAtOnce,
    /// `percentage` first, the rest `interval` minutes later.
    Canary {
        /// Percent shifted in the first increment.
        percentage: u8,
        /// Minutes between the two increments.
        interval: u32,
    },
    /// Another `percentage` every `interval` minutes until all of it.
    Linear {
        /// Percent shifted per increment.
        percentage: u8,
        /// Minutes between increments.
        interval: u32,
    },
}

impl TrafficRouting {
    /// The shifts as (milliseconds after the first shift, percentage of traffic on the
    /// replacement set). Canary: "Traffic is shifted in two increments ... the percentage of
    /// traffic shifted ... in the first increment and the interval, in minutes, before the
    /// remaining traffic is shifted in the second increment". Linear: "Traffic is shifted in
    /// equal increments with an equal number of minutes between each increment", so
    /// `min(k·p, 100)` at `(k−1)·interval` for k = 1..⌈100/p⌉; the last increment is what is left
    /// (kiln proposal: the user guide does not say when a percentage that does not divide 100
    /// ends; the increment that reaches 100 comes one interval after the one before it).
    pub fn schedule(self, minute_ms: u64) -> Vec<(u64, u8)> {
        match self {
            TrafficRouting::AllAtOnce => vec![(0, 100)],
            TrafficRouting::Canary { percentage, interval } => {
                vec![(0, percentage), (interval as u64 * minute_ms, 100)]
            }
            TrafficRouting::Linear { percentage, interval } => {
                let steps = 100u64.div_ceil(percentage as u64);
                (1..=steps).map(|k| ((k - 1) * interval as u64 * minute_ms, (k * percentage as u64).min(100) as u8)).collect()
            }
        }
    }
}

/// A predefined configuration's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predefined {
    /// EC2/on-premises: a minimum of healthy hosts.
    Server(MinimumHealthy),
    /// ECS or Lambda: traffic routing.
    Traffic(Platform, TrafficRouting),
}

const fn canary(platform: Platform, percentage: u8, interval: u32) -> Predefined {
    Predefined::Traffic(platform, TrafficRouting::Canary { percentage, interval })
}

const fn linear(platform: Platform, percentage: u8, interval: u32) -> Predefined {
    Predefined::Traffic(platform, TrafficRouting::Linear { percentage, interval })
}

/// Every predefined configuration, by its exact name (user guide, "Working with deployment
/// configurations in CodeDeploy", the three predefined tables; note ECS's `…Every1Minutes` and
/// Lambda's `…Every1Minute`). HalfAtATime is a 50 % minimum ("CodeDeploy provides three default
/// deployment configurations ... CodeDeployDefault.HalfAtATime 50%, CodeDeployDefault.AllAtOnce
/// 0"), which gives "up to half of the instances at a time (with fractions rounded down)" and
/// success with "at least half of the instances (with fractions rounded up)".
pub const PREDEFINED: &[(&str, Predefined)] = &[
    ("CodeDeployDefault.AllAtOnce", Predefined::Server(MinimumHealthy::HostCount(0))),
    ("CodeDeployDefault.HalfAtATime", Predefined::Server(MinimumHealthy::FleetPercent(50))),
    ("CodeDeployDefault.OneAtATime", Predefined::Server(MinimumHealthy::OneAtATime)),
    ("CodeDeployDefault.ECSAllAtOnce", Predefined::Traffic(Platform::Ecs, TrafficRouting::AllAtOnce)),
    ("CodeDeployDefault.ECSLinear10PercentEvery1Minutes", linear(Platform::Ecs, 10, 1)),
    ("CodeDeployDefault.ECSLinear10PercentEvery3Minutes", linear(Platform::Ecs, 10, 3)),
    ("CodeDeployDefault.ECSCanary10Percent5Minutes", canary(Platform::Ecs, 10, 5)),
    ("CodeDeployDefault.ECSCanary10Percent15Minutes", canary(Platform::Ecs, 10, 15)),
    ("CodeDeployDefault.LambdaAllAtOnce", Predefined::Traffic(Platform::Lambda, TrafficRouting::AllAtOnce)),
    ("CodeDeployDefault.LambdaCanary10Percent5Minutes", canary(Platform::Lambda, 10, 5)),
    ("CodeDeployDefault.LambdaCanary10Percent10Minutes", canary(Platform::Lambda, 10, 10)),
    ("CodeDeployDefault.LambdaCanary10Percent15Minutes", canary(Platform::Lambda, 10, 15)),
    ("CodeDeployDefault.LambdaCanary10Percent30Minutes", canary(Platform::Lambda, 10, 30)),
    ("CodeDeployDefault.LambdaLinear10PercentEvery1Minute", linear(Platform::Lambda, 10, 1)),
    ("CodeDeployDefault.LambdaLinear10PercentEvery2Minutes", linear(Platform::Lambda, 10, 2)),
    ("CodeDeployDefault.LambdaLinear10PercentEvery3Minutes", linear(Platform::Lambda, 10, 3)),
    ("CodeDeployDefault.LambdaLinear10PercentEvery10Minutes", linear(Platform::Lambda, 10, 10)),
];

const PREFIX: &str = "CodeDeployDefault.";

/// The predefined configuration `name`; an unknown `CodeDeployDefault.` name is an error that
/// suggests the name differing only in case (the old user guide spelled `ECSCanary10percent5Minutes`).
fn predefined(name: &str) -> Result<Option<Predefined>, String> {
    if let Some((_, p)) = PREDEFINED.iter().find(|(n, _)| *n == name) {
        return Ok(Some(*p));
    }
    if !name.starts_with(PREFIX) {
        return Ok(None);
    }
    let hint = match PREDEFINED.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        Some((n, _)) => format!("did you mean `{n}`?"),
        None => format!("the predefined configurations are {}", PREDEFINED.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")),
    };
    Err(format!("deploymentConfigName: `{name}` is not a predefined CodeDeploy configuration; {hint}"))
}

/// `minimumHealthyHosts` as the API writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMinimumHealthyHosts {
    /// `HOST_COUNT` or `FLEET_PERCENT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The count or percentage.
    pub value: i64,
}

impl RawMinimumHealthyHosts {
    fn parse(&self) -> Result<MinimumHealthy, String> {
        match self.kind.as_str() {
            "HOST_COUNT" => u32::try_from(self.value)
                .map(MinimumHealthy::HostCount)
                .map_err(|_| format!("minimumHealthyHosts.value: HOST_COUNT must be 0 or more, got {}", self.value)),
            "FLEET_PERCENT" => match self.value {
                0..=99 => Ok(MinimumHealthy::FleetPercent(self.value as u8)),
                v => Err(format!("minimumHealthyHosts.value: FLEET_PERCENT must be 0-99, got {v}")),
            },
            "MOST_CONCURRENCY" => Err("minimumHealthyHosts.type: MOST_CONCURRENCY is only CodeDeployDefault.OneAtATime's; name that configuration instead".into()),
            other => Err(format!("minimumHealthyHosts.type: `{other}` is not HOST_COUNT or FLEET_PERCENT")),
        }
    }
}

/// `trafficRoutingConfig` as the API writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTrafficRouting {
    /// `AllAtOnce`, `TimeBasedCanary` or `TimeBasedLinear`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `TimeBasedCanary`.
    pub time_based_canary: Option<RawCanary>,
    /// For `TimeBasedLinear`.
    pub time_based_linear: Option<RawLinear>,
}

/// `timeBasedCanary`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCanary {
    /// Percent in the first increment.
    pub canary_percentage: i64,
    /// Minutes to the second increment.
    pub canary_interval: i64,
}

/// `timeBasedLinear`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawLinear {
    /// Percent per increment.
    pub linear_percentage: i64,
    /// Minutes between increments.
    pub linear_interval: i64,
}

fn percentage(path: &str, v: i64) -> Result<u8, String> {
    match v {
        1..=99 => Ok(v as u8),
        _ => Err(format!("{path}: must be 1-99 (percent of traffic per increment), got {v}")),
    }
}

fn minutes(path: &str, v: i64, min: i64) -> Result<u32, String> {
    if (min..=MAX_MINUTES).contains(&v) {
        Ok(v as u32)
    } else {
        Err(format!("{path}: must be {min}-{MAX_MINUTES} minutes, got {v}"))
    }
}

impl RawTrafficRouting {
    fn parse(&self) -> Result<TrafficRouting, String> {
        let r = match self.kind.as_str() {
            "AllAtOnce" => TrafficRouting::AllAtOnce,
            "TimeBasedCanary" => {
                let c = self.time_based_canary.as_ref().ok_or("trafficRoutingConfig: type TimeBasedCanary needs timeBasedCanary {canaryPercentage, canaryInterval}")?;
                TrafficRouting::Canary {
                    percentage: percentage("trafficRoutingConfig.timeBasedCanary.canaryPercentage", c.canary_percentage)?,
                    interval: minutes("trafficRoutingConfig.timeBasedCanary.canaryInterval", c.canary_interval, 1)?,
                }
            }
            "TimeBasedLinear" => {
                let l = self.time_based_linear.as_ref().ok_or("trafficRoutingConfig: type TimeBasedLinear needs timeBasedLinear {linearPercentage, linearInterval}")?;
                TrafficRouting::Linear {
                    percentage: percentage("trafficRoutingConfig.timeBasedLinear.linearPercentage", l.linear_percentage)?,
                    interval: minutes("trafficRoutingConfig.timeBasedLinear.linearInterval", l.linear_interval, 1)?,
                }
            }
            other => return Err(format!("trafficRoutingConfig.type: `{other}` is not AllAtOnce, TimeBasedCanary or TimeBasedLinear")),
        };
        let other = match r {
            TrafficRouting::Canary { .. } => self.time_based_linear.is_some().then_some("timeBasedLinear"),
            TrafficRouting::Linear { .. } => self.time_based_canary.is_some().then_some("timeBasedCanary"),
            TrafficRouting::AllAtOnce => self.time_based_canary.as_ref().map(|_| "timeBasedCanary").or(self.time_based_linear.as_ref().map(|_| "timeBasedLinear")),
        };
        match other {
            Some(key) => Err(format!("trafficRoutingConfig: {key} does not go with type {}", self.kind)),
            None => Ok(r),
        }
    }
}

/// `terminateBlueInstancesOnDeploymentSuccess`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTermination {
    /// `TERMINATE` or `KEEP_ALIVE`.
    pub action: String,
    /// Minutes to keep the originals after traffic moved (TERMINATE only).
    pub termination_wait_time_in_minutes: Option<i64>,
}

/// `deploymentReadyOption`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawReady {
    /// `CONTINUE_DEPLOYMENT` or `STOP_DEPLOYMENT`.
    pub action_on_timeout: String,
    /// Minutes to wait for `continue` (STOP_DEPLOYMENT only).
    pub wait_time_in_minutes: Option<i64>,
}

/// What the strategies' configs share: the name, the platform it is for, the time scale.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Common {
    deployment_config_name: Option<String>,
    compute_platform: Option<String>,
    minimum_healthy_hosts: Option<RawMinimumHealthyHosts>,
    traffic_routing_config: Option<RawTrafficRouting>,
    zonal_config: Option<serde_json::Value>,
    terminate_blue_instances_on_deployment_success: Option<RawTermination>,
    deployment_ready_option: Option<RawReady>,
    minute_ms: Option<u64>,
}

fn parse_common(json: &serde_json::Value) -> Result<Common, String> {
    let c: Common = serde_json::from_value(json.clone()).map_err(|e| e.to_string())?;
    if c.zonal_config.is_some() {
        return Err("zonalConfig: kiln deploys to one machine's instances, which have no Availability Zones; remove it".into());
    }
    if c.minute_ms == Some(0) {
        return Err("minuteMs: must be at least 1".into());
    }
    Ok(c)
}

fn platform_named(name: &str) -> Result<Platform, String> {
    match name {
        "Server" => Ok(Platform::Server),
        "ECS" => Ok(Platform::Ecs),
        "Lambda" => Ok(Platform::Lambda),
        other => Err(format!("computePlatform: `{other}` is not Server, ECS or Lambda")),
    }
}

/// Settings of the EC2/on-premises strategies ([`crate::InPlace`], and the install and reroute
/// rules of [`crate::BlueGreen`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The configuration's name, for messages.
    pub name: String,
    /// Its minimum of healthy hosts.
    pub minimum: MinimumHealthy,
}

fn server(c: &Common, strategy: &str) -> Result<ServerConfig, String> {
    if let Some(p) = &c.compute_platform
        && platform_named(p)? != Platform::Server
    {
        return Err(format!("computePlatform: {strategy} deploys to EC2/on-premises instances (Server), not {p}"));
    }
    if c.traffic_routing_config.is_some() {
        return Err(format!("trafficRoutingConfig: is for ECS and Lambda; {strategy} takes minimumHealthyHosts"));
    }
    let named = c.deployment_config_name.as_deref().map(predefined).transpose()?.flatten();
    let name = c.deployment_config_name.clone();
    match (named, &c.minimum_healthy_hosts) {
        (Some(Predefined::Server(minimum)), None) => Ok(ServerConfig { name: name.unwrap_or_default(), minimum }),
        (Some(Predefined::Traffic(p, _)), _) => Err(format!("deploymentConfigName: `{}` is {} configuration; {strategy} deploys to EC2/on-premises instances", name.unwrap_or_default(), p.a())),
        (Some(_), Some(_)) => Err("give either a predefined deploymentConfigName or minimumHealthyHosts, not both".into()),
        (None, Some(raw)) => Ok(ServerConfig { name: name.unwrap_or_else(|| "custom".into()), minimum: raw.parse()? }),
        (None, None) if name.is_some() => Err(format!("deploymentConfigName: `{}` is not predefined, so minimumHealthyHosts must say what it is", name.unwrap_or_default())),
        (None, None) => Ok(ServerConfig { name: "CodeDeployDefault.OneAtATime".into(), minimum: MinimumHealthy::OneAtATime }),
    }
}

/// [`crate::InPlace`]'s configuration: a deployment configuration for EC2/on-premises.
pub type InPlaceConfig = ServerConfig;

impl InPlaceConfig {
    /// Parse `{deploymentConfigName?, computePlatform?, minimumHealthyHosts?}`.
    pub fn from_json(json: &serde_json::Value) -> Result<InPlaceConfig, String> {
        let c = parse_common(json)?;
        for (set, key) in [(c.terminate_blue_instances_on_deployment_success.is_some(), "terminateBlueInstancesOnDeploymentSuccess"), (c.deployment_ready_option.is_some(), "deploymentReadyOption"), (c.minute_ms.is_some(), "minuteMs")] {
            if set {
                return Err(format!("{key}: is a blue/green setting; an in-place deployment has no waits"));
            }
        }
        server(&c, "the in-place strategy")
    }
}

/// What happens to the original instances after a blue/green deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// Terminated after this many milliseconds (the deployment succeeds then).
    Terminate {
        /// The termination wait.
        wait_ms: u64,
    },
    /// Kept running, deregistered (the deployment succeeds at once).
    KeepAlive,
}

fn termination(raw: Option<&RawTermination>, minute_ms: u64) -> Result<Termination, String> {
    let Some(t) = raw else { return Ok(Termination::Terminate { wait_ms: 0 }) };
    match t.action.as_str() {
        "TERMINATE" => {
            let m = minutes("terminateBlueInstancesOnDeploymentSuccess.terminationWaitTimeInMinutes", t.termination_wait_time_in_minutes.unwrap_or(0), 0)?;
            Ok(Termination::Terminate { wait_ms: m as u64 * minute_ms })
        }
        "KEEP_ALIVE" if t.termination_wait_time_in_minutes.is_some_and(|m| m != 0) => Err("terminateBlueInstancesOnDeploymentSuccess: KEEP_ALIVE keeps the originals, so terminationWaitTimeInMinutes has no meaning".into()),
        "KEEP_ALIVE" => Ok(Termination::KeepAlive),
        other => Err(format!("terminateBlueInstancesOnDeploymentSuccess.action: `{other}` is not TERMINATE or KEEP_ALIVE")),
    }
}

/// [`crate::BlueGreen`]'s configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlueGreenConfig {
    /// The install and reroute rules.
    pub server: ServerConfig,
    /// What becomes of the originals.
    pub termination: Termination,
    /// `STOP_DEPLOYMENT`: wait this long for `continue` before traffic moves, then stop.
    /// `None` is `CONTINUE_DEPLOYMENT` (the default).
    pub ready_wait_ms: Option<u64>,
}

impl BlueGreenConfig {
    /// Parse the [`InPlaceConfig`] keys plus `terminateBlueInstancesOnDeploymentSuccess`,
    /// `deploymentReadyOption` and `minuteMs`.
    pub fn from_json(json: &serde_json::Value) -> Result<BlueGreenConfig, String> {
        let c = parse_common(json)?;
        let minute_ms = c.minute_ms.unwrap_or(MINUTE_MS);
        let ready_wait_ms = match &c.deployment_ready_option {
            None => None,
            Some(r) => match r.action_on_timeout.as_str() {
                "CONTINUE_DEPLOYMENT" => None,
                "STOP_DEPLOYMENT" => Some(minutes("deploymentReadyOption.waitTimeInMinutes", r.wait_time_in_minutes.unwrap_or(0), 0)? as u64 * minute_ms),
                other => return Err(format!("deploymentReadyOption.actionOnTimeout: `{other}` is not CONTINUE_DEPLOYMENT or STOP_DEPLOYMENT")),
            },
        };
        Ok(BlueGreenConfig {
            server: server(&c, "the EC2 blue/green strategy")?,
            termination: termination(c.terminate_blue_instances_on_deployment_success.as_ref(), minute_ms)?,
            ready_wait_ms,
        })
    }
}

/// [`crate::TrafficShift`]'s configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficShiftConfig {
    /// The configuration's name, for messages.
    pub name: String,
    /// The platform the configuration is for, when it says (`None`: either).
    pub platform: Option<Platform>,
    /// How traffic moves.
    pub routing: TrafficRouting,
    /// How long the original task set is kept after all traffic moved (ECS).
    pub termination: Termination,
    /// Milliseconds per configured minute.
    pub minute_ms: u64,
}

impl TrafficShiftConfig {
    /// Parse `{deploymentConfigName?, computePlatform?, trafficRoutingConfig?,
    /// terminateBlueInstancesOnDeploymentSuccess?, minuteMs?}`.
    pub fn from_json(json: &serde_json::Value) -> Result<TrafficShiftConfig, String> {
        let c = parse_common(json)?;
        if c.minimum_healthy_hosts.is_some() {
            return Err("minimumHealthyHosts: is for EC2/on-premises; traffic shifting takes trafficRoutingConfig".into());
        }
        if c.deployment_ready_option.is_some() {
            return Err("deploymentReadyOption: kiln's ECS and Lambda deployments shift traffic once the replacement set is installed; remove it".into());
        }
        let mut platform = c.compute_platform.as_deref().map(platform_named).transpose()?;
        if platform == Some(Platform::Server) {
            return Err("computePlatform: traffic shifting is for ECS and Lambda, not Server".into());
        }
        let named = c.deployment_config_name.as_deref().map(predefined).transpose()?.flatten();
        let name = c.deployment_config_name.clone();
        let routing = match (named, &c.traffic_routing_config) {
            (Some(Predefined::Traffic(p, r)), None) => {
                if platform.is_some_and(|q| q != p) {
                    return Err(format!("deploymentConfigName: `{}` is {} configuration, but computePlatform says {}", name.clone().unwrap_or_default(), p.a(), platform.map_or("", |q| q.name())));
                }
                platform = Some(p);
                r
            }
            (Some(Predefined::Server(_)), _) => return Err(format!("deploymentConfigName: `{}` is an EC2/on-premises configuration; traffic shifting takes an ECS or Lambda one", name.unwrap_or_default())),
            (Some(_), Some(_)) => return Err("give either a predefined deploymentConfigName or trafficRoutingConfig, not both".into()),
            (None, Some(raw)) => raw.parse()?,
            (None, None) if name.is_some() => return Err(format!("deploymentConfigName: `{}` is not predefined, so trafficRoutingConfig must say what it is", name.unwrap_or_default())),
            (None, None) => TrafficRouting::AllAtOnce,
        };
        let minute_ms = c.minute_ms.unwrap_or(MINUTE_MS);
        let termination = termination(c.terminate_blue_instances_on_deployment_success.as_ref(), minute_ms)?;
        if platform == Some(Platform::Lambda) && termination != (Termination::Terminate { wait_ms: 0 }) {
            return Err("terminateBlueInstancesOnDeploymentSuccess: a Lambda deployment keeps no original task set; remove it".into());
        }
        Ok(TrafficShiftConfig { name: name.unwrap_or_else(|| "custom".into()), platform, routing, termination, minute_ms })
    }
}

#[cfg(test)]
mod tests;
