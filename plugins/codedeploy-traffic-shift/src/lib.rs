//! `codedeploy-traffic-shift`: kiln's built-in `deploy-strategy` for ECS and Lambda deployments —
//! `…AllAtOnce`, `…Canary10Percent…`, `…Linear10PercentEvery…` and custom `trafficRoutingConfig`,
//! with the deployment hooks in CodeDeploy's order around the shift. The logic is
//! `kiln_strategy_engine::TrafficShift` (tested natively); this crate only exports it.

type CodeDeployTrafficShift = kiln_strategy_adapter::Engine<kiln_strategy_engine::TrafficShift>;

kiln_plugin_sdk::export_deploy_strategy!(CodeDeployTrafficShift, manifest = "kiln-plugin.toml");
