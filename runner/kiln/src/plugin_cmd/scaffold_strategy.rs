//! What `kiln plugin new NAME --world deploy-strategy` writes (Rust): a strategy that deploys
//! everywhere at once, moves all traffic, then watches the alarms for `bake-ms`; its manifest;
//! and its test, `expected-actions.json` (see `strategy_test.rs`). The SDK and the WIT are
//! vendored as for a step (`scaffold.rs`).

/// `kiln-plugin.toml`.
pub fn manifest(name: &str) -> String {
    MANIFEST.replace("__NAME__", name)
}

/// `src/lib.rs`.
pub fn lib(name: &str) -> String {
    LIB.replace("__NAME__", name)
}

/// `expected-actions.json`.
pub const FIXTURE: &str = r#"{
  "scenarios": [
    {
      "name": "in place: deploy everywhere, bake, succeed",
      "with": { "bake-ms": 1000 },
      "observation": {
        "computePlatform": "server",
        "deploymentType": "in-place",
        "targetRevision": "v2",
        "instances": [
          { "id": "web-1", "set": "original", "revision": "v1", "healthy": true, "inService": true },
          { "id": "web-2", "set": "original", "revision": "v1", "healthy": true, "inService": true }
        ],
        "alarms": [{ "name": "5xx", "firing": false }]
      },
      "steps": [
        { "expect": { "deploy-batch": ["web-1", "web-2"] } },
        {
          "observe": {
            "elapsedMs": 2000,
            "lastAction": "ok",
            "instances": [
              { "id": "web-1", "set": "original", "revision": "v2", "healthy": true, "inService": true },
              { "id": "web-2", "set": "original", "revision": "v2", "healthy": true, "inService": true }
            ]
          },
          "expect": { "wait": 1000 }
        },
        { "observe": { "elapsedMs": 3000 }, "expect": "succeed" }
      ]
    },
    {
      "name": "lambda: an alarm while baking rolls back",
      "with": { "bake-ms": 1000 },
      "observation": {
        "computePlatform": "lambda",
        "deploymentType": "blue-green",
        "targetRevision": "v2",
        "instances": [
          { "id": "blue", "set": "original", "revision": "v1", "healthy": true, "inService": true },
          { "id": "green", "set": "replacement", "revision": "v2", "healthy": true, "inService": false }
        ],
        "alarms": [{ "name": "5xx", "firing": false }]
      },
      "steps": [
        { "expect": { "shift-traffic": 100 } },
        { "observe": { "elapsedMs": 10, "lastAction": "ok", "trafficToTarget": 100 }, "expect": { "wait": 1000 } },
        { "observe": { "elapsedMs": 400, "alarms": [{ "name": "5xx", "firing": true }] }, "expect": { "roll-back": "alarm 5xx" } }
      ]
    }
  ]
}
"#;

/// `README.md`.
pub fn readme(name: &str) -> String {
    format!(
        "# {name}\n\nA kiln deploy strategy (the `deploy-strategy` world). The code is src/lib.rs (Rust, kiln-plugin-sdk \
vendored in vendor/ with the WIT it binds to); the manifest is `kiln-plugin.toml`. kiln's deploy engine reports what it \
observes (instances, traffic split, alarms, the last action's outcome, elapsed time) and the strategy answers the next \
action; it reads no clock and gets no files, environment or network.\n\n\
```sh\nkiln plugin build            # the component: dist/{name}.wasm (path and sha256 printed)\n\
kiln plugin test             # runs the scenarios of expected-actions.json under kiln's host\n\
kiln plugin inspect .        # manifest, sha256, imports and exports\n\
kiln plugin lock dist/{name}.wasm   # pin it in a project's kiln.lock\n```\n\n\
A scenario in expected-actions.json is a first observation and steps: `observe` changes the observation (a JSON \
merge patch: keys replace, lists are replaced whole) and `expect` is the action the strategy must answer \
(`{{\"roll-back\": \"text\"}}` matches any reason containing the text).\n"
    )
}

const MANIFEST: &str = r#"# What the strategy is and what it asks the host for. A deploy strategy gets no files,
# environment or network: only memory and time per call. `kiln plugin inspect` shows it.
name = "__NAME__"
version = "0.1.0"
world = "deploy-strategy"
description = "Deploys everywhere at once, moves all traffic, then watches the alarms for bake-ms"

[capabilities]
max-memory = "16MiB"
timeout = "1s"

[config-schema]
type = "object"
additionalProperties = false

[config-schema.properties.bake-ms]
type = "integer"
minimum = 0
description = "How long to watch the alarms once all traffic moved, in milliseconds (default 60000)"
"#;

const LIB: &str = r#"//! `__NAME__`: a kiln deploy strategy. It installs the target revision everywhere at once, moves
//! all traffic to it, then watches the alarms for `bake-ms` before it succeeds; an alarm in
//! ALARM or a failed step rolls back. `kiln plugin test` runs the scenarios in
//! expected-actions.json against it.

use kiln_plugin_sdk::deploy::{Action, ComputePlatform, DeploymentType, InstanceSet, Observation};
use kiln_plugin_sdk::{DeployStrategy, export_deploy_strategy};

/// The strategy's settings.
#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    /// How long to watch the alarms once all traffic is on the new revision.
    bake_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config { bake_ms: 60_000 }
    }
}

/// Where the deployment is.
enum Phase {
    Install,
    Traffic,
    Retire,
    Bake { until_ms: u64 },
}

struct Strategy {
    config: Config,
    phase: Phase,
}

impl DeployStrategy for Strategy {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(Strategy { config, phase: Phase::Install })
    }

    fn next(&mut self, obs: &Observation) -> Action {
        if let Some(alarm) = obs.firing_alarm() {
            return Action::RollBack(format!("alarm {alarm} is in ALARM"));
        }
        if let Some(e) = obs.last_error() {
            return Action::RollBack(format!("the last step failed: {e}"));
        }
        let blue_green = obs.deployment_type == DeploymentType::BlueGreen;
        loop {
            match self.phase {
                // The revision where it is missing: every instance in place, else the replacement set.
                Phase::Install => {
                    self.phase = Phase::Traffic;
                    let set = if blue_green { InstanceSet::Replacement } else { InstanceSet::Original };
                    let todo: Vec<String> = obs.instances_in(set).filter(|i| !obs.is_deployed(i)).map(|i| i.id.clone()).collect();
                    if !todo.is_empty() {
                        return Action::DeployBatch(todo);
                    }
                }
                // All traffic to it: by weight (ECS, Lambda), by registering instances (EC2 blue/green).
                Phase::Traffic => {
                    self.phase = Phase::Retire;
                    if blue_green && obs.compute_platform != ComputePlatform::Server {
                        return Action::ShiftTraffic(100);
                    }
                    let green = ids(obs, InstanceSet::Replacement, false);
                    if blue_green && !green.is_empty() {
                        return Action::AllowTraffic(green);
                    }
                }
                // EC2 blue/green: the original instances out of service.
                Phase::Retire => {
                    self.phase = Phase::Bake { until_ms: obs.elapsed_ms.saturating_add(self.config.bake_ms) };
                    let blue = ids(obs, InstanceSet::Original, true);
                    if blue_green && obs.compute_platform == ComputePlatform::Server && !blue.is_empty() {
                        return Action::BlockTraffic(blue);
                    }
                }
                // Alarms are checked above on every call; the host may call before the wait is over.
                Phase::Bake { until_ms } => {
                    return match until_ms.saturating_sub(obs.elapsed_ms) {
                        0 => Action::Succeed,
                        left => Action::Wait(left),
                    };
                }
            }
        }
    }
}

/// The ids of `set`'s instances that are (or are not) in service.
fn ids(obs: &Observation, set: InstanceSet, in_service: bool) -> Vec<String> {
    obs.instances_in(set).filter(|i| i.in_service == in_service).map(|i| i.id.clone()).collect()
}

export_deploy_strategy!(Strategy, manifest = "kiln-plugin.toml");
"#;
