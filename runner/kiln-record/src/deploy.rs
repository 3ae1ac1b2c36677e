//! `.kiln/deployments/<id>/deployment.json` as read back: CodeDeploy's `DeploymentInfo` (API
//! field names: `DeploymentInfo`, `ErrorInformation`, `DeploymentOverview`, `RollbackInfo`,
//! `DeploymentStyle`), the deployment's targets as `BatchGetDeploymentTargets` returns them
//! (`DeploymentTarget` with `instanceTarget` / `ecsTarget` / `lambdaTarget`, `LifecycleEvent`,
//! `Diagnostics`), and the `kiln` section the deployment engine adds (fleet, traffic weights,
//! alarm states and datapoints). Sources: `shared/reference/codedeploy.md` §8; the writer is `kiln-deploy`.
//!
//! Tolerant as [`crate::build`] is: statuses are strings, every field has a default.

use serde::{Deserialize, Serialize};

/// `DeploymentInfo`, with the targets and kiln's section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeploymentInfo {
    pub application_name: String,
    pub deployment_group_name: String,
    pub deployment_config_name: String,
    pub deployment_id: String,
    /// `Server`, `ECS` or `Lambda`.
    pub compute_platform: String,
    pub description: Option<String>,
    pub revision: serde_json::Value,
    /// `Created`, `Queued`, `InProgress`, `Baking`, `Succeeded`, `Failed`, `Stopped`, `Ready`.
    pub status: String,
    pub error_information: Option<ErrorInformation>,
    pub deployment_overview: DeploymentOverview,
    pub deployment_status_messages: Vec<String>,
    pub create_time: String,
    pub start_time: Option<String>,
    pub complete_time: Option<String>,
    pub creator: String,
    pub rollback_info: Option<RollbackInfo>,
    pub deployment_style: DeploymentStyle,
    pub deployment_targets: Vec<DeploymentTarget>,
    pub kiln: DeploymentKiln,
}

impl DeploymentInfo {
    /// The revision's name for people (kiln's `localRevision.name`), if the record has one.
    pub fn revision_name(&self) -> Option<&str> {
        self.revision.pointer("/localRevision/name").and_then(|v| v.as_str())
    }
}

/// `ErrorInformation`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorInformation {
    pub code: String,
    pub message: String,
}

/// `DeploymentOverview`: instance counts per status (PascalCase keys, as the API).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeploymentOverview {
    pub pending: u64,
    pub in_progress: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    pub ready: u64,
}

/// `RollbackInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RollbackInfo {
    pub rollback_deployment_id: Option<String>,
    pub rollback_triggering_deployment_id: Option<String>,
    pub rollback_message: Option<String>,
}

/// `DeploymentStyle`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeploymentStyle {
    /// `IN_PLACE` or `BLUE_GREEN`.
    pub deployment_type: String,
    pub deployment_option: String,
}

/// `DeploymentTarget`: exactly one of the three is present.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeploymentTarget {
    /// `InstanceTarget`, `ECSTarget`, `LambdaTarget`.
    pub deployment_target_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_target: Option<Target>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs_target: Option<Target>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambda_target: Option<Target>,
}

impl DeploymentTarget {
    /// Whichever target the entry holds.
    pub fn target(&self) -> Option<&Target> {
        self.instance_target.as_ref().or(self.ecs_target.as_ref()).or(self.lambda_target.as_ref())
    }
}

/// `InstanceTarget`, `ECSTarget` and `LambdaTarget` in one shape (the fields of the others are
/// empty).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Target {
    pub deployment_id: String,
    pub target_id: String,
    pub target_arn: String,
    /// `Pending`, `InProgress`, `Succeeded`, `Failed`, `Skipped`, `Unknown`, `Ready`.
    pub status: String,
    pub last_updated_at: String,
    pub lifecycle_events: Vec<LifecycleEvent>,
    /// `Blue` or `Green` (instances).
    pub instance_label: Option<String>,
    /// ECS task sets.
    pub task_sets_info: Vec<EcsTaskSet>,
    /// Lambda.
    pub lambda_function_info: Option<LambdaFunctionInfo>,
}

/// `LifecycleEvent`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LifecycleEvent {
    pub lifecycle_event_name: String,
    pub diagnostics: Option<Diagnostics>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub status: String,
}

/// `Diagnostics`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Diagnostics {
    pub error_code: String,
    pub script_name: Option<String>,
    pub message: String,
    pub log_tail: String,
}

/// `ECSTaskSet` (the API spells `identifer`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EcsTaskSet {
    pub identifer: String,
    pub desired_count: u64,
    pub pending_count: u64,
    pub running_count: u64,
    pub status: String,
    pub traffic_weight: f64,
    pub task_set_label: Option<String>,
}

/// `LambdaFunctionInfo`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LambdaFunctionInfo {
    pub function_name: String,
    pub function_alias: String,
    pub current_version: String,
    pub target_version: String,
    pub target_version_weight: f64,
}

/// kiln's section of a deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeploymentKiln {
    pub driver: String,
    /// Not final and no process holds it (its kiln was killed).
    pub interrupted: bool,
    pub fleet: Vec<FleetInstance>,
    pub traffic: Option<Traffic>,
    pub alarms: Vec<AlarmStatus>,
    pub strategy: Option<serde_json::Value>,
    pub rollback: Option<serde_json::Value>,
}

/// One instance of the fleet as kiln tracks it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FleetInstance {
    pub id: String,
    /// `original` or `replacement`.
    pub set: String,
    pub revision: Option<String>,
    pub in_service: bool,
}

/// Traffic weights between the original and the replacement set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Traffic {
    pub current: Weights,
    pub pending: Option<Weights>,
    pub history: Vec<WeightChange>,
}

/// Percentages to the original and the replacement set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Weights {
    pub original: u8,
    pub replacement: u8,
}

/// One confirmed weight change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WeightChange {
    pub at: String,
    pub weights: Weights,
    pub reason: String,
}

/// An alarm's state, history and the datapoints it evaluated (CloudWatch `MetricAlarm` names
/// where it has them).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AlarmStatus {
    pub alarm_name: String,
    pub definition: String,
    /// `OK`, `ALARM`, `INSUFFICIENT_DATA`.
    pub state_value: String,
    pub state_reason: String,
    pub state_updated_timestamp: String,
    pub history: Vec<AlarmChange>,
    /// The metric (in the metric source's name space, `router.replacement.HTTPCode_Target_5XX_Count`).
    pub metric_name: String,
    /// `Sum`, `Average`, `p99`, ….
    pub statistic: String,
    /// Seconds (nominal: a deployment run with `--time-scale` lasts `period × scale`).
    pub period: u32,
    pub comparison_operator: String,
    pub threshold: Option<f64>,
    /// One datapoint per period, oldest first (kiln-deploy keeps the last 500).
    pub datapoints: Vec<AlarmDatapoint>,
}

/// One state change of an alarm.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AlarmChange {
    pub alarm_name: String,
    pub state: String,
    pub state_reason: String,
    pub timestamp: String,
}

/// One datapoint an alarm evaluated (CloudWatch `Datapoint`: when its period ended and the
/// period's statistic; `None` when the period had no sample), with the alarm's state after it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AlarmDatapoint {
    pub timestamp: String,
    pub value: Option<f64>,
    pub state: String,
}
