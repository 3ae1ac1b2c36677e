//! The data of a deployment attestation: an in-toto Statement v1 whose subject is the revision
//! deployed and whose predicate says where, how and with what outcome. Signing happens in the CLI
//! (DSSE with kiln-attest and the host-held key), so this crate only builds the statement; it is
//! plain JSON in in-toto's layout, which `kiln_attest::intoto::Statement::from_json` reads.
//!
//! Predicate type `https://kiln.dev/deployment/v1` (kiln's, next to the build type
//! `https://kiln.dev/buildtypes/codebuild-buildspec/v1`):
//!
//! ```json
//! { "deployment": {"deploymentId", "applicationName", "deploymentGroupName", "deploymentGroupId",
//!                  "computePlatform", "deploymentConfigName", "creator", "createTime", "completeTime"},
//!   "provenance": {"sha256"},          // the build provenance of the revision, when known
//!   "strategy": {"plugin", "sha256", "version", "config"},
//!   "outcome": {"status", "errorInformation", "rollbackInfo", "deploymentOverview"},
//!   "alarms": [{"alarmName", "stateValue"}] }
//! ```

use serde_json::{json, Value};

use super::model::DeploymentInfo;

/// The in-toto Statement v1 `_type`.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of a kiln deployment attestation.
pub const PREDICATE_TYPE: &str = "https://kiln.dev/deployment/v1";

/// The statement for a finished (or interrupted) deployment.
pub fn statement(info: &DeploymentInfo) -> Value {
    let rev = &info.revision.local_revision;
    let strategy = info.kiln.strategy.as_ref().map(|s| json!({"plugin": s.plugin, "sha256": s.sha256, "version": s.version, "config": s.config}));
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": rev.name, "digest": {"sha256": rev.sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "deployment": {
                "deploymentId": info.deployment_id,
                "applicationName": info.application_name,
                "deploymentGroupName": info.deployment_group_name,
                "deploymentGroupId": info.kiln.deployment_group_id,
                "computePlatform": info.compute_platform,
                "deploymentConfigName": info.deployment_config_name,
                "creator": info.creator,
                "createTime": info.create_time,
                "completeTime": info.complete_time,
            },
            "provenance": rev.provenance_sha256.as_ref().map(|d| json!({"sha256": d})),
            "strategy": strategy,
            "outcome": {
                "status": info.status,
                "errorInformation": info.error_information,
                "rollbackInfo": info.rollback_info,
                "deploymentOverview": info.deployment_overview,
            },
            "alarms": info.kiln.alarms.iter().map(|a| json!({"alarmName": a.alarm_name, "stateValue": a.state_value})).collect::<Vec<_>>(),
        }
    })
}
