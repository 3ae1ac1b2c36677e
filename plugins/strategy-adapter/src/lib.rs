//! The built-in strategy guests' one piece of glue: converts the SDK's `deploy-strategy` types
//! (generated from the WIT) into `kiln-strategy-engine`'s plain ones and back, so that each
//! guest (`plugins/codedeploy-*`) is a type alias and an export.
//!
//! ```ignore
//! type CodeDeployInPlace = kiln_strategy_adapter::Engine<kiln_strategy_engine::InPlace>;
//! kiln_plugin_sdk::export_deploy_strategy!(CodeDeployInPlace, manifest = "kiln-plugin.toml");
//! ```

use kiln_plugin_sdk::DeployStrategy;
use kiln_plugin_sdk::deploy as sdk;
use kiln_strategy_engine as engine;

/// An engine strategy as the SDK's [`DeployStrategy`].
pub struct Engine<S>(S);

impl<S: engine::FromConfig + 'static> DeployStrategy for Engine<S> {
    type Config = serde_json::Value;

    fn new(config: serde_json::Value) -> Result<Self, String> {
        S::from_config(&config).map(Engine)
    }

    fn next(&mut self, obs: &sdk::Observation) -> sdk::Action {
        action(self.0.next(&observation(obs)))
    }
}

/// The SDK's observation as the engine's.
pub fn observation(o: &sdk::Observation) -> engine::Observation {
    engine::Observation {
        platform: match o.compute_platform {
            sdk::ComputePlatform::Server => engine::Platform::Server,
            sdk::ComputePlatform::Ecs => engine::Platform::Ecs,
            sdk::ComputePlatform::Lambda => engine::Platform::Lambda,
        },
        deployment_type: match o.deployment_type {
            sdk::DeploymentType::InPlace => engine::DeploymentType::InPlace,
            sdk::DeploymentType::BlueGreen => engine::DeploymentType::BlueGreen,
        },
        elapsed_ms: o.elapsed_ms,
        target_revision: o.target_revision.clone(),
        instances: o
            .instances
            .iter()
            .map(|i| engine::Instance {
                id: i.id.clone(),
                set: match i.set {
                    sdk::InstanceSet::Original => engine::InstanceSet::Original,
                    sdk::InstanceSet::Replacement => engine::InstanceSet::Replacement,
                },
                revision: i.revision.clone(),
                healthy: i.healthy,
                in_service: i.in_service,
            })
            .collect(),
        alarms: o.alarms.iter().map(|a| engine::Alarm { name: a.name.clone(), firing: a.firing }).collect(),
        traffic_to_target: o.traffic_to_target,
        continue_requested: o.continue_requested,
        last_action: o.last_action.clone(),
    }
}

/// The engine's action as the SDK's.
pub fn action(a: engine::Action) -> sdk::Action {
    match a {
        engine::Action::DeployBatch(ids) => sdk::Action::DeployBatch(ids),
        engine::Action::AllowTraffic(ids) => sdk::Action::AllowTraffic(ids),
        engine::Action::BlockTraffic(ids) => sdk::Action::BlockTraffic(ids),
        engine::Action::ShiftTraffic(p) => sdk::Action::ShiftTraffic(p),
        engine::Action::Wait(ms) => sdk::Action::Wait(ms),
        engine::Action::RunHook(h) => sdk::Action::RunHook(h),
        engine::Action::Succeed => sdk::Action::Succeed,
        engine::Action::RollBack(why) => sdk::Action::RollBack(why),
    }
}
