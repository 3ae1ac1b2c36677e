//! `canary-steps`: a third-party kiln deploy strategy built with kiln-plugin-sdk. For an ECS or
//! Lambda deployment it installs the replacement set where needed, runs BeforeAllowTraffic, then
//! moves production traffic to the new revision in steps (default 1 %, 25 %, 100 %), each one
//! only after the step before has stayed clean for `clean-ms` (default 30 s): no alarm in ALARM
//! and every replacement instance healthy. Then AfterAllowTraffic, and done. Anything else (an
//! alarm, an unhealthy replacement, a failed action) rolls back at once, with the reason.
//!
//! It decides from the observation alone: time is `elapsed-ms`, and because the host may call
//! before a wait is over (an alarm changed), every wait is recomputed from it.

use kiln_plugin_sdk::deploy::{Action, ComputePlatform, InstanceSet, Observation};
use kiln_plugin_sdk::{DeployStrategy, export_deploy_strategy, log};

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    steps: Vec<u8>,
    clean_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config { steps: vec![1, 25, 100], clean_ms: 30_000 }
    }
}

#[derive(Clone, Copy)]
enum Phase {
    Install,
    BeforeAllowTraffic,
    /// Shifting to `steps[i]` was asked; its clean window starts when the host confirms it.
    Shifted(usize),
    /// `steps[i]` is in place since `since_ms`; the next step waits for a clean window.
    Clean { i: usize, since_ms: u64 },
    AfterAllowTraffic,
    Done,
}

struct CanarySteps {
    config: Config,
    phase: Phase,
}

impl DeployStrategy for CanarySteps {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        let rising = config.steps.windows(2).all(|w| w[0] < w[1]);
        if config.steps.last() != Some(&100) || !rising {
            return Err(format!("steps {:?}: give rising percentages that end at 100", config.steps));
        }
        Ok(CanarySteps { config, phase: Phase::Install })
    }

    fn next(&mut self, obs: &Observation) -> Action {
        if obs.compute_platform == ComputePlatform::Server {
            return Action::RollBack("canary-steps moves traffic by weight between two sets: ECS or Lambda deployments only".into());
        }
        if let Some(alarm) = obs.firing_alarm() {
            return Action::RollBack(format!("alarm {alarm} is in ALARM at {} % of traffic", obs.traffic_to_target));
        }
        if let Some(e) = obs.last_error() {
            return Action::RollBack(format!("the last step failed: {e}"));
        }
        let shifting = matches!(self.phase, Phase::Shifted(_) | Phase::Clean { .. });
        if let Some(sick) = obs.instances_in(InstanceSet::Replacement).find(|i| shifting && !i.healthy) {
            return Action::RollBack(format!("replacement {} is unhealthy at {} % of traffic", sick.id, obs.traffic_to_target));
        }
        loop {
            match self.phase {
                Phase::Install => {
                    self.phase = Phase::BeforeAllowTraffic;
                    let todo: Vec<String> = obs.instances_in(InstanceSet::Replacement).filter(|i| !obs.is_deployed(i)).map(|i| i.id.clone()).collect();
                    if !todo.is_empty() {
                        return Action::DeployBatch(todo);
                    }
                }
                Phase::BeforeAllowTraffic => {
                    self.phase = Phase::Shifted(0);
                    return Action::RunHook("BeforeAllowTraffic".into());
                }
                // The hook passed (or the previous step was clean): ask for this step.
                Phase::Shifted(i) if obs.traffic_to_target != self.config.steps[i] => {
                    return Action::ShiftTraffic(self.config.steps[i]);
                }
                Phase::Shifted(i) => {
                    log::info(&format!("{} % of traffic on {}", self.config.steps[i], obs.target_revision));
                    if i + 1 == self.config.steps.len() {
                        self.phase = Phase::AfterAllowTraffic;
                    } else {
                        self.phase = Phase::Clean { i, since_ms: obs.elapsed_ms };
                    }
                }
                Phase::Clean { i, since_ms } => {
                    let left = since_ms.saturating_add(self.config.clean_ms).saturating_sub(obs.elapsed_ms);
                    if left > 0 {
                        return Action::Wait(left);
                    }
                    self.phase = Phase::Shifted(i + 1);
                }
                Phase::AfterAllowTraffic => {
                    self.phase = Phase::Done;
                    return Action::RunHook("AfterAllowTraffic".into());
                }
                Phase::Done => return Action::Succeed,
            }
        }
    }
}

export_deploy_strategy!(CanarySteps, manifest = "kiln-plugin.toml");
