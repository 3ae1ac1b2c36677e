//! The typed deployment group: CodeDeploy's `DeploymentGroupInfo` fields that mean something on
//! one machine, with their API names (camelCase in JSON, as the record writes them), plus kiln's
//! `targets` (how the instances are reached).

use serde::{Deserialize, Serialize};

use crate::alarm::AlarmDef;
use crate::config::{ComputePlatform, DeploymentConfig};

/// A parsed, validated deployment group file.
#[derive(Clone, Debug, PartialEq)]
pub struct DeploymentGroup {
    pub application_name: String,
    pub deployment_group_name: String,
    /// `deploymentGroupId` as given, else a UUID derived from the two names (stable, so
    /// `DEPLOYMENT_GROUP_ID` and the per-group state keep their identity between runs).
    pub deployment_group_id: String,
    pub compute_platform: ComputePlatform,
    /// `deploymentConfigName`; `None` means the platform's default.
    pub deployment_config_name: Option<String>,
    /// `customDeploymentConfigs`: configurations this file defines (CodeDeploy keeps them per
    /// account; kiln keeps them with the group).
    pub custom_deployment_configs: Vec<DeploymentConfig>,
    pub deployment_style: DeploymentStyle,
    pub load_balancer_info: Option<LoadBalancerInfo>,
    pub blue_green_deployment_configuration: BlueGreenConfiguration,
    pub alarm_configuration: AlarmConfiguration,
    pub auto_rollback_configuration: AutoRollbackConfiguration,
    pub targets: Targets,
}

impl DeploymentGroup {
    /// Whether traffic is controlled (a load balancer in CodeDeploy; kiln's router locally):
    /// `deploymentOption: WITH_TRAFFIC_CONTROL`. Blue/green deployments always are.
    pub fn with_traffic_control(&self) -> bool {
        self.deployment_style.deployment_option == DeploymentOption::WithTrafficControl
    }
}

/// `deploymentStyle`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStyle {
    pub deployment_type: DeploymentKind,
    pub deployment_option: DeploymentOption,
}

/// `deploymentStyle.deploymentType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentKind {
    InPlace,
    BlueGreen,
}

/// `deploymentStyle.deploymentOption`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentOption {
    WithTrafficControl,
    WithoutTrafficControl,
}

/// `loadBalancerInfo`: which load balancer CodeDeploy would use. Locally traffic goes through
/// kiln's router whatever the names say; they are kept for the record and for drivers that map
/// names to router groups.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerInfo {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elb_info_list: Vec<NamedItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_group_info_list: Vec<NamedItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_group_pair_info_list: Vec<TargetGroupPair>,
}

/// `{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedItem {
    pub name: String,
}

/// `targetGroupPairInfoList[]` (ECS): two target groups and the listeners.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupPair {
    pub target_groups: Vec<NamedItem>,
    /// Whether a test listener is set (`testTrafficRoute`): without one, ECS's
    /// AfterAllowTestTraffic does not run.
    #[serde(default)]
    pub test_traffic_route: bool,
}

/// `blueGreenDeploymentConfiguration`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenConfiguration {
    pub terminate_blue_instances_on_deployment_success: BlueInstanceTermination,
    pub deployment_ready_option: DeploymentReadyOption,
    pub green_fleet_provisioning_option: GreenFleetProvisioning,
}

impl Default for BlueGreenConfiguration {
    fn default() -> Self {
        BlueGreenConfiguration {
            terminate_blue_instances_on_deployment_success: BlueInstanceTermination { action: TerminationAction::Terminate, termination_wait_time_in_minutes: 0 },
            deployment_ready_option: DeploymentReadyOption { action_on_timeout: ReadyAction::ContinueDeployment, wait_time_in_minutes: 0 },
            green_fleet_provisioning_option: GreenFleetProvisioning { action: GreenFleetAction::CopyAutoScalingGroup },
        }
    }
}

/// `terminateBlueInstancesOnDeploymentSuccess`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueInstanceTermination {
    pub action: TerminationAction,
    /// 0..=2880 (the API's bound; the limits page says 2800).
    pub termination_wait_time_in_minutes: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TerminationAction {
    Terminate,
    KeepAlive,
}

/// `deploymentReadyOption`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentReadyOption {
    pub action_on_timeout: ReadyAction,
    /// Minutes to wait for a `continue` before the deployment is Stopped (STOP_DEPLOYMENT only).
    pub wait_time_in_minutes: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReadyAction {
    /// Reroute as soon as the replacement fleet is installed.
    ContinueDeployment,
    /// Wait (status Ready) for `continue`; Stopped if it does not come in time.
    StopDeployment,
}

/// `greenFleetProvisioningOption`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GreenFleetProvisioning {
    pub action: GreenFleetAction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GreenFleetAction {
    /// The replacement instances are listed (`targets.replacementInstances`).
    DiscoverExisting,
    /// The driver makes as many replacement instances as the fleet has (CodeDeploy copies the
    /// Auto Scaling group; a local driver starts new processes).
    CopyAutoScalingGroup,
}

/// `alarmConfiguration`, with each alarm's CloudWatch definition inline.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmConfiguration {
    pub enabled: bool,
    /// false (the default): a deployment stops when an alarm's state cannot be read.
    pub ignore_poll_alarm_failure: bool,
    pub alarms: Vec<AlarmDef>,
}

/// `autoRollbackConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoRollbackConfiguration {
    pub enabled: bool,
    pub events: Vec<RollbackEvent>,
}

impl AutoRollbackConfiguration {
    /// Whether a rollback follows `event`.
    pub fn on(&self, event: RollbackEvent) -> bool {
        self.enabled && self.events.contains(&event)
    }
}

/// `autoRollbackConfiguration.events[]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RollbackEvent {
    DeploymentFailure,
    DeploymentStopOnAlarm,
    DeploymentStopOnRequest,
}

/// `targets` (kiln): the driver that reaches the instances, its settings, and the instances.
#[derive(Clone, Debug, PartialEq)]
pub struct Targets {
    /// The driver's name (`local`, `ssh`, …): the CLI picks the implementation.
    pub driver: String,
    /// The driver's settings, as written (the driver validates them).
    pub settings: serde_json::Value,
    /// The instances of the fleet (for blue/green: the original fleet).
    pub instances: Vec<InstanceDecl>,
    /// Blue/green with DISCOVER_EXISTING: the replacement instances.
    pub replacement_instances: Vec<InstanceDecl>,
}

/// One instance: its id and the driver's settings for it.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceDecl {
    pub id: String,
    /// Every other key of the entry, as written (empty for a plain `- web-1`).
    pub settings: serde_json::Value,
}
