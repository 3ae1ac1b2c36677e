//! `codedeploy-blue-green`: kiln's built-in `deploy-strategy` for EC2 blue/green deployments —
//! the replacement instances installed and rerouted under the configuration's rules, the
//! deployment-ready wait, the originals deregistered and kept for the termination wait. The logic
//! is `kiln_strategy_engine::BlueGreen` (tested natively); this crate only exports it.

type CodeDeployBlueGreen = kiln_strategy_adapter::Engine<kiln_strategy_engine::BlueGreen>;

kiln_plugin_sdk::export_deploy_strategy!(CodeDeployBlueGreen, manifest = "kiln-plugin.toml");
