//! Plugins embedded in the host (built from `plugins/` by build.rs on every cargo build).

use crate::host::PluginSource;

mod guest {
    include!(concat!(env!("OUT_DIR"), "/guest_plugins.rs"));
}

/// Names of the built-in plugins.
pub const NAMES: &[&str] = &[
    "hello-step",
    "secrets-scan",
    "sast",
    "sbom-cyclonedx",
    "dsse-signer",
    "codedeploy-in-place",
    "codedeploy-blue-green",
    "codedeploy-traffic-shift",
];

/// The built-in `deploy-strategy` plugins (load them with `Host::load_strategy`), and the
/// configuration each takes: CodeDeploy's own JSON (`DeploymentConfigInfo`, and the deployment
/// group's `blueGreenDeploymentConfiguration` parts), see `kiln_strategy_engine::config`.
///
/// | name | deployments | config keys |
/// |---|---|---|
/// | `codedeploy-in-place` | EC2/on-premises in-place | `deploymentConfigName` (`CodeDeployDefault.AllAtOnce`, `HalfAtATime`, `OneAtATime`, the default) or `minimumHealthyHosts {type: HOST_COUNT\|FLEET_PERCENT, value}`; `computePlatform` (`Server`) |
/// | `codedeploy-blue-green` | EC2 blue/green | the in-place keys, plus `terminateBlueInstancesOnDeploymentSuccess {action: TERMINATE\|KEEP_ALIVE, terminationWaitTimeInMinutes}`, `deploymentReadyOption {actionOnTimeout: CONTINUE_DEPLOYMENT\|STOP_DEPLOYMENT, waitTimeInMinutes}`, `minuteMs` |
/// | `codedeploy-traffic-shift` | ECS and Lambda | `deploymentConfigName` (`CodeDeployDefault.ECS…`, `CodeDeployDefault.Lambda…`) or `trafficRoutingConfig {type: AllAtOnce\|TimeBasedCanary\|TimeBasedLinear, timeBasedCanary {canaryPercentage, canaryInterval}, timeBasedLinear {linearPercentage, linearInterval}}`; `computePlatform` (`ECS`, `Lambda`); ECS: `terminateBlueInstancesOnDeploymentSuccess`; `minuteMs` |
///
/// `minuteMs` is kiln's: milliseconds per configured minute (60000 unless a test or a demo shrinks
/// time).
pub const STRATEGIES: &[&str] = &["codedeploy-in-place", "codedeploy-blue-green", "codedeploy-traffic-shift"];

/// The built-in plugin `name`, if there is one (its manifest is embedded in the component).
pub fn get(name: &str) -> Option<PluginSource> {
    let bytes: &'static [u8] = match name {
        "hello-step" => guest::HELLO_STEP,
        "secrets-scan" => guest::SECRETS_SCAN,
        "sast" => guest::SAST,
        "sbom-cyclonedx" => guest::SBOM_CYCLONEDX,
        "dsse-signer" => guest::DSSE_SIGNER,
        "codedeploy-in-place" => guest::CODEDEPLOY_IN_PLACE,
        "codedeploy-blue-green" => guest::CODEDEPLOY_BLUE_GREEN,
        "codedeploy-traffic-shift" => guest::CODEDEPLOY_TRAFFIC_SHIFT,
        _ => return None,
    };
    Some(PluginSource::bytes(name, bytes))
}

/// Test-only components (a no-op step and hostile ones); not part of the public API.
#[doc(hidden)]
pub mod test_components {
    /// A step that does nothing; its manifest is not embedded.
    pub const NOOP_STEP: &[u8] = super::guest::NOOP_STEP;
    /// A step that attacks the host in the way its config says.
    pub const TEST_HOSTILE: &[u8] = super::guest::TEST_HOSTILE;
    /// A signer that tries to reach the host's keys in the way its config says.
    pub const TEST_HOSTILE_SIGNER: &[u8] = super::guest::TEST_HOSTILE_SIGNER;
    /// A file scanner that attacks the host from `scan-file` and `finish`.
    pub const TEST_HOSTILE_SCANNER: &[u8] = super::guest::TEST_HOSTILE_SCANNER;
    /// A step (manifest `http-fetch`, embedded) that imports `wasi:http/types` and
    /// `wasi:http/outgoing-handler`, which kiln does not link.
    pub const TEST_HTTP_IMPORT: &[u8] = super::guest::TEST_HTTP_IMPORT;
    /// A deploy strategy that attacks the host from `next` (or its constructor) in the way its
    /// config's `attack` says.
    pub const TEST_HOSTILE_STRATEGY: &[u8] = super::guest::TEST_HOSTILE_STRATEGY;
}
