//! `kiln plugin test` for a `deploy-strategy` plugin: scripted deployments.
//!
//! A strategy's fixture is `expected-actions.json` beside its manifest: one or more scenarios,
//! each a first observation and a list of steps. A step may change the observation (`observe`, a
//! JSON merge patch, RFC 7386: keys replace, `null` removes, lists are replaced whole) and says
//! which action the strategy must answer (`expect`). Each scenario runs in a fresh session of the
//! built component under kiln's host, with the same limits a deployment has.
//!
//! ```json
//! {
//!   "scenarios": [{
//!     "name": "a clean canary",
//!     "with": { "clean-ms": 30000 },
//!     "observation": {
//!       "computePlatform": "lambda", "deploymentType": "blue-green", "targetRevision": "v2",
//!       "instances": [{"id": "blue", "set": "original", "revision": "v1", "healthy": true, "inService": true}],
//!       "alarms": [{"name": "5xx", "firing": false}]
//!     },
//!     "steps": [
//!       { "expect": {"shift-traffic": 1} },
//!       { "observe": {"lastAction": "ok", "trafficToTarget": 1}, "expect": {"wait": 30000} },
//!       { "observe": {"alarms": [{"name": "5xx", "firing": true}]}, "expect": {"roll-back": "5xx"} }
//!     ]
//!   }]
//! }
//! ```
//!
//! Observations use the host's JSON shape (`kiln_host::strategy::Observation`: `lastAction` is
//! `null`, `"ok"` or `{"error": "…"}`); actions are `{"deploy-batch": [ids]}`,
//! `{"allow-traffic": [ids]}`, `{"block-traffic": [ids]}`, `{"shift-traffic": 25}`,
//! `{"wait": ms}`, `{"run-hook": "Name"}`, `"succeed"`, `{"roll-back": "text"}` (for a roll-back
//! the text only has to occur in the strategy's reason).

use std::path::Path;
use std::process::ExitCode;

use kiln_host::strategy::{Action, Observation};
use kiln_host::{Host, HostConfig, PluginSource};
use serde::Deserialize;
use serde_json::Value;

/// The fixture file of a strategy project.
pub const FIXTURE: &str = "expected-actions.json";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    scenarios: Vec<Scenario>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    #[serde(default = "empty_object")]
    with: Value,
    observation: Value,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    #[serde(default)]
    observe: Option<Value>,
    expect: Action,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// RFC 7386 JSON merge patch: `patch` applied to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = empty_object();
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Whether the strategy's answer is the one expected (a roll-back's text need only occur in
/// the reason).
pub fn matches(expected: &Action, got: &Action) -> bool {
    match (expected, got) {
        (Action::RollBack(want), Action::RollBack(reason)) => reason.contains(want.as_str()),
        _ => expected == got,
    }
}

/// What went wrong in one scenario: (step number, 1-based; what).
type Failure = (usize, String);

async fn run_scenario(strategy: &kiln_host::LoadedStrategy, s: &Scenario) -> Result<usize, Failure> {
    let mut session = strategy.start(s.with.clone()).await.map_err(|e| (0, e.to_string()))?;
    let mut obs = s.observation.clone();
    for (i, step) in s.steps.iter().enumerate() {
        let n = i + 1;
        if let Some(p) = &step.observe {
            merge_patch(&mut obs, p);
        }
        let o: Observation = serde_json::from_value(obs.clone()).map_err(|e| (n, format!("the observation is not valid: {e}")))?;
        let got = session.next(&o).await.map_err(|e| (n, format!("expected {}, but {e}", step.expect)))?;
        if !matches(&step.expect, &got) {
            return Err((n, format!("expected {}\n    got      {got}", step.expect)));
        }
    }
    Ok(s.steps.len())
}

/// `kiln plugin test DIR` for a strategy built at `component`.
pub fn test(dir: &Path, component: &Path) -> Result<ExitCode, String> {
    let path = dir.join(FIXTURE);
    let text = kiln_fs::read_input_to_string(&path, kiln_fs::limits::DOCUMENT, "strategy fixture").map_err(|e| e.to_string())?;
    let fixture: Fixture = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if fixture.scenarios.is_empty() {
        return Err(format!("{}: `scenarios` is empty; a test needs at least one", path.display()));
    }
    let host = Host::new(HostConfig { cache_dir: crate::warm::plugin_cache_dir(), ..Default::default() }).map_err(|e| format!("cannot start the plugin host: {e}"))?;
    let strategy = host.load_strategy(PluginSource::path(component)).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let (mut steps, mut failed) = (0, 0);
    for s in &fixture.scenarios {
        match rt.block_on(run_scenario(&strategy, s)) {
            Ok(n) => {
                steps += n;
                println!("ok      {} ({n} steps)", s.name);
            }
            Err((0, e)) => {
                failed += 1;
                println!("FAILED  {}: cannot start: {e}", s.name);
            }
            Err((n, e)) => {
                failed += 1;
                println!("FAILED  {}: step {n}: {e}", s.name);
            }
        }
    }
    let m = &strategy.manifest;
    if failed == 0 {
        println!("ok: {} {}: {} scenarios, {steps} steps as expected", m.name, m.version, fixture.scenarios.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("FAILED: {failed} of {} scenarios in {FIXTURE}", fixture.scenarios.len());
        Ok(ExitCode::from(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        // RFC 7386 appendix A, a few of its cases.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        ];
        for (mut target, patch, want) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, want, "{patch}");
        }
    }

    #[test]
    fn a_roll_back_matches_on_part_of_its_reason() {
        assert!(matches(&Action::RollBack("5xx".into()), &Action::RollBack("alarm 5xx is firing".into())));
        assert!(!matches(&Action::RollBack("latency".into()), &Action::RollBack("alarm 5xx is firing".into())));
        assert!(matches(&Action::Wait(5), &Action::Wait(5)));
        assert!(!matches(&Action::Wait(5), &Action::Wait(6)));
        assert!(!matches(&Action::Succeed, &Action::RollBack("x".into())));
    }

    #[test]
    fn a_fixture_parses_and_typos_are_refused() {
        let f: Fixture = serde_json::from_value(json!({"scenarios": [{"name": "x", "observation": {}, "steps": [{"expect": "succeed"}, {"observe": {"elapsedMs": 5}, "expect": {"wait": 10}}]}]})).unwrap();
        assert_eq!(f.scenarios[0].steps[1].expect, Action::Wait(10));
        assert_eq!(f.scenarios[0].with, json!({}));
        assert!(serde_json::from_value::<Fixture>(json!({"scenarios": [{"name": "x", "observation": {}, "steps": [{"expects": "succeed"}]}]})).is_err());
    }
}
