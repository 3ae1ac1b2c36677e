//! `codedeploy-in-place`: kiln's built-in `deploy-strategy` for EC2/on-premises in-place
//! deployments — `CodeDeployDefault.AllAtOnce`, `HalfAtATime`, `OneAtATime` and custom
//! `minimumHealthyHosts` — with CodeDeploy's minimum-healthy-hosts rules. The logic is
//! `kiln_strategy_engine::InPlace` (tested natively); this crate only exports it.

type CodeDeployInPlace = kiln_strategy_adapter::Engine<kiln_strategy_engine::InPlace>;

kiln_plugin_sdk::export_deploy_strategy!(CodeDeployInPlace, manifest = "kiln-plugin.toml");
