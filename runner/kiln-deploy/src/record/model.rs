//! `deployment.json`: CodeDeploy's `DeploymentInfo` (field names exactly as the API's, camelCase),
//! the deployment's targets as `BatchGetDeploymentTargets` returns them (`DeploymentTarget` with
//! `instanceTarget` / `ecsTarget` / `lambdaTarget`), and a `kiln` section for what CodeDeploy has no
//! field for (the revision's digests, the strategy plugin, traffic weights, alarm states, rollback
//! timing, the fleet as kiln tracks it).
//!
//! Sources: CodeDeploy API reference `DeploymentInfo`, `ErrorInformation`, `DeploymentOverview`,
//! `RollbackInfo`, `DeploymentTarget`, `InstanceTarget`, `ECSTarget`, `ECSTaskSet`,
//! `LambdaTarget`, `LambdaFunctionInfo`, `LifecycleEvent`, `Diagnostics` (fact sheet §8).
//! Timestamps are RFC 3339 strings, as the AWS CLI prints them.

use serde::{Deserialize, Serialize};

use crate::alarm::monitor::AlarmStatus;
use crate::group::{AutoRollbackConfiguration, BlueGreenConfiguration, DeploymentStyle, LoadBalancerInfo};

/// The version of the `kiln` section's layout.
pub const RECORD_VERSION: u32 = 1;

/// `DeploymentInfo`, plus the targets and kiln's section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentInfo {
    pub application_name: String,
    pub deployment_group_name: String,
    pub deployment_config_name: String,
    pub deployment_id: String,
    /// `Server`, `ECS` or `Lambda`.
    pub compute_platform: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub revision: RevisionLocation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_revision: Option<RevisionLocation>,
    pub status: DeploymentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_information: Option<ErrorInformation>,
    pub deployment_overview: DeploymentOverview,
    #[serde(default)]
    pub deployment_status_messages: Vec<String>,
    pub create_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_time: Option<String>,
    pub creator: Creator,
    pub ignore_application_stop_failures: bool,
    pub auto_rollback_configuration: AutoRollbackConfiguration,
    pub update_outdated_instances_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_info: Option<RollbackInfo>,
    pub deployment_style: DeploymentStyle,
    pub instance_termination_wait_time_started: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green_deployment_configuration: Option<BlueGreenConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_info: Option<LoadBalancerInfo>,
    /// `DISALLOW`, `OVERWRITE` or `RETAIN`: the deployment's setting (an appspec's
    /// `file_exists_behavior` takes precedence on each instance).
    pub file_exists_behavior: String,
    /// The deployment's targets (`BatchGetDeploymentTargets`).
    pub deployment_targets: Vec<DeploymentTarget>,
    pub kiln: KilnSection,
}

/// `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentStatus {
    Created,
    Queued,
    InProgress,
    /// The replacement fleet serves all traffic and the original one waits for termination (kiln's
    /// use of the otherwise undocumented status).
    Baking,
    Succeeded,
    Failed,
    Stopped,
    /// Blue/green with STOP_DEPLOYMENT: waiting for `continue` before rerouting.
    Ready,
}

impl DeploymentStatus {
    /// Whether the deployment is over.
    pub fn is_final(self) -> bool {
        matches!(self, DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped)
    }
}

/// `errorInformation`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInformation {
    pub code: ErrorCode,
    pub message: String,
}

/// The API's `ErrorCode` values kiln produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    AlarmActive,
    CustomerApplicationUnhealthy,
    EcsUpdateError,
    HealthConstraints,
    HealthConstraintsInvalid,
    HookExecutionFailure,
    InternalError,
    InvalidRevision,
    ManualStop,
    NoInstances,
    RevisionMissing,
    Timeout,
}

/// `deploymentOverview`: instance counts by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeploymentOverview {
    pub pending: u32,
    pub in_progress: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub skipped: u32,
    pub ready: u32,
}

/// `creator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Creator {
    User,
    #[serde(rename = "codeDeployRollback")]
    CodeDeployRollback,
}

/// `rollbackInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_deployment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_triggering_deployment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_message: Option<String>,
}

/// `revision`. CodeDeploy's `RevisionLocation` names S3, GitHub or inline AppSpec content; a kiln
/// revision is a local bundle (a build's artifact), so kiln writes `revisionType: "Local"` with
/// `localRevision` (kiln proposal: the shape stays a `RevisionLocation`, the type says it is not
/// one CodeDeploy knows).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionLocation {
    pub revision_type: String,
    pub local_revision: RevisionRef,
}

impl RevisionLocation {
    pub fn local(r: RevisionRef) -> Self {
        RevisionLocation { revision_type: "Local".into(), local_revision: r }
    }
}

/// A revision as records name it: enough to deploy it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionRef {
    /// A name for people (`web@1.4.2`, a build id).
    pub name: String,
    /// The directory holding the unpacked revision (its appspec at the root).
    pub bundle: String,
    /// The bundle's digest (hex SHA-256; the CLI computes it from the artifact).
    pub sha256: String,
    /// The digest of the build provenance the revision came with, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance_sha256: Option<String>,
}

/// `DeploymentTarget`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentTarget {
    pub deployment_target_type: TargetType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_target: Option<InstanceTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs_target: Option<EcsTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_target: Option<LambdaTarget>,
}

impl DeploymentTarget {
    /// The fields every kind of target has.
    pub fn core(&self) -> &TargetCore {
        match (&self.instance_target, &self.ecs_target, &self.lambda_target) {
            (Some(t), _, _) => &t.core,
            (_, Some(t), _) => &t.core,
            (_, _, Some(t)) => &t.core,
            _ => unreachable!("a DeploymentTarget always holds its target (built only by this crate)"),
        }
    }

    pub fn core_mut(&mut self) -> &mut TargetCore {
        match (&mut self.instance_target, &mut self.ecs_target, &mut self.lambda_target) {
            (Some(t), _, _) => &mut t.core,
            (_, Some(t), _) => &mut t.core,
            (_, _, Some(t)) => &mut t.core,
            _ => unreachable!("a DeploymentTarget always holds its target (built only by this crate)"),
        }
    }
}

/// `deploymentTargetType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetType {
    InstanceTarget,
    #[serde(rename = "ECSTarget")]
    EcsTarget,
    LambdaTarget,
}

/// What `InstanceTarget`, `ECSTarget` and `LambdaTarget` share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetCore {
    pub deployment_id: String,
    pub target_id: String,
    /// kiln has no ARNs: `kiln:<driver>:<target id>`.
    pub target_arn: String,
    pub status: TargetStatus,
    pub last_updated_at: String,
    pub lifecycle_events: Vec<LifecycleEvent>,
}

/// `InstanceTarget`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceTarget {
    #[serde(flatten)]
    pub core: TargetCore,
    /// `Blue` (original) or `Green` (replacement).
    pub instance_label: Label,
}

/// `ECSTarget`: the service, with its original and replacement task sets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsTarget {
    #[serde(flatten)]
    pub core: TargetCore,
    pub task_sets_info: Vec<EcsTaskSet>,
}

/// `ECSTaskSet` (the API spells `identifer`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsTaskSet {
    pub identifer: String,
    pub desired_count: u32,
    pub pending_count: u32,
    pub running_count: u32,
    /// `PRIMARY`, `ACTIVE` or `DRAINING`.
    pub status: String,
    pub traffic_weight: f64,
    pub task_set_label: Label,
}

/// `LambdaTarget`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LambdaTarget {
    #[serde(flatten)]
    pub core: TargetCore,
    pub lambda_function_info: LambdaFunctionInfo,
}

/// `LambdaFunctionInfo`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LambdaFunctionInfo {
    pub function_name: String,
    pub function_alias: String,
    pub current_version: String,
    pub target_version: String,
    pub target_version_weight: f64,
}

/// `instanceLabel` / `taskSetLabel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Label {
    Blue,
    Green,
}

/// `TargetStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    Skipped,
    Unknown,
    Ready,
}

/// `LifecycleEvent`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleEvent {
    pub lifecycle_event_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Diagnostics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    pub status: LifecycleEventStatus,
}

/// `LifecycleEventStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleEventStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    Skipped,
    Unknown,
}

/// `Diagnostics`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostics {
    pub error_code: LifecycleErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_name: Option<String>,
    pub message: String,
    /// The last 2048 characters of the scripts' output, in whole lines (as the agents send).
    pub log_tail: String,
}

/// `LifecycleErrorCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleErrorCode {
    Success,
    ScriptMissing,
    ScriptNotExecutable,
    ScriptTimedOut,
    ScriptFailed,
    UnknownError,
}

/// What CodeDeploy has no field for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KilnSection {
    pub record_version: u32,
    pub deployment_group_id: String,
    /// The target driver (`local`, `ssh`, `fake`).
    pub driver: String,
    /// The process that runs (or ran) the deployment.
    pub pid: u32,
    /// Set when read back: the deployment is not final and no process holds it (kiln was killed).
    #[serde(default)]
    pub interrupted: bool,
    /// Nominal seconds per real second are `1 / timeScale` (1 outside tests and demos).
    pub time_scale: f64,
    /// Minimum healthy hosts as resolved for the fleet (EC2/on-premises).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::config::health::HealthPlan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<StrategyRecord>,
    /// The fleet as kiln tracks it (every instance or task/version process of both sets).
    pub fleet: Vec<FleetInstance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<TrafficRecord>,
    #[serde(default)]
    pub alarms: Vec<AlarmStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackTiming>,
}

/// The strategy that drove the deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrategyRecord {
    pub plugin: String,
    pub config: serde_json::Value,
    /// The plugin's identity as its runner reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub decisions: u32,
    /// The last answer, as text (`shift-traffic(10)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<String>,
}

/// One instance of the fleet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetInstance {
    pub id: String,
    /// `original` or `replacement`.
    pub set: crate::strategy::InstanceSet,
    /// The revision it runs, by name (none before its first install).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub in_service: bool,
    /// Whether kiln made it for this deployment (a blue/green replacement it must remove on
    /// rollback).
    #[serde(default)]
    pub provisioned: bool,
}

/// Traffic weights between the original and the replacement set, written before every change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRecord {
    /// The weights last confirmed by the traffic control.
    pub current: Weights,
    /// A change asked for and not yet confirmed: after a crash the router may be at either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Weights>,
    /// Every confirmed change, oldest first.
    pub history: Vec<WeightChange>,
}

/// Percentages of traffic to the original and replacement sets (they sum to 100).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Weights {
    pub original: u8,
    pub replacement: u8,
}

impl Weights {
    pub const ORIGINAL: Weights = Weights { original: 100, replacement: 0 };

    /// `replacement` percent to the replacement set (clamped to 100).
    pub fn to_replacement(replacement: u8) -> Weights {
        let r = replacement.min(100);
        Weights { original: 100 - r, replacement: r }
    }
}

/// One confirmed weight change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightChange {
    pub at: String,
    pub weights: Weights,
    pub reason: String,
}

/// How fast a rollback moved traffic back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackTiming {
    /// `DEPLOYMENT_FAILURE`, `DEPLOYMENT_STOP_ON_ALARM` or `DEPLOYMENT_STOP_ON_REQUEST`.
    pub trigger: String,
    pub reason: String,
    /// When the trigger happened (the alarm's state change, the failure, the request).
    pub triggered_at: String,
    /// When traffic was fully back on the last good revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_restored_at: Option<String>,
    /// Milliseconds from the trigger to traffic fully back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_restored_ms: Option<f64>,
}
