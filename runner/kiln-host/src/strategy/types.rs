//! The host-side types of the `deploy-strategy` world (`wit/kiln-plugin/v0.1.0/deploy.wit`):
//! what the deploy engine reports ([`Observation`]) and what a strategy answers ([`Action`]),
//! serde-friendly (camelCase, kebab-case enums) so scripted tests and records can use them, and
//! the checks every action passes before the engine sees it ([`check_action`]).

use crate::bindings::v0_1_0::deploy::exports::kiln::plugin::deploy_strategy_plugin as wit;
use serde::{Deserialize, Serialize};

/// CodeDeploy's `computePlatform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComputePlatform {
    /// EC2/on-premises instances.
    Server,
    /// Amazon ECS (task sets).
    Ecs,
    /// AWS Lambda (function versions).
    Lambda,
}

/// CodeDeploy's `deploymentStyle.deploymentType` (ECS and Lambda are always blue/green).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeploymentType {
    /// Instances updated where they stand.
    InPlace,
    /// A replacement set gets the revision, then traffic moves to it.
    BlueGreen,
}

/// Which environment an instance belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceSet {
    /// Serving the last good revision when the deployment started.
    Original,
    /// The replacement environment (green instances, task set, function version).
    Replacement,
}

/// One instance as the deploy engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Instance {
    /// Stable within a deployment; the ids actions name.
    pub id: String,
    /// Original or replacement.
    pub set: InstanceSet,
    /// Revision installed on it (empty when none is known).
    #[serde(default)]
    pub revision: String,
    /// CodeDeploy's instance health: the last deployment to it succeeded and it passes its check.
    pub healthy: bool,
    /// Whether the router sends it traffic.
    pub in_service: bool,
}

/// An alarm the deployment watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alarm {
    /// Its name.
    pub name: String,
    /// In the ALARM state.
    pub firing: bool,
}

/// What the deploy engine tells the strategy before each decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Observation {
    /// The compute platform.
    pub compute_platform: ComputePlatform,
    /// In-place or blue/green.
    pub deployment_type: DeploymentType,
    /// Milliseconds since the deployment started.
    #[serde(default)]
    pub elapsed_ms: u64,
    /// The revision being deployed.
    pub target_revision: String,
    /// Every instance of both sets.
    pub instances: Vec<Instance>,
    /// Every alarm.
    #[serde(default)]
    pub alarms: Vec<Alarm>,
    /// Percentage (0-100) of production traffic on the target revision.
    #[serde(default)]
    pub traffic_to_target: u8,
    /// The operator asked to go on past the current wait.
    #[serde(default)]
    pub continue_requested: bool,
    /// The previous action's outcome: `None` before the first, else ok or the error message.
    /// In JSON: `null`, `"ok"` or `{"error": "…"}`.
    #[serde(default, with = "outcome")]
    pub last_action: Option<Result<(), String>>,
}

/// `null` | `"ok"` | `{"error": "…"}` for [`Observation::last_action`].
mod outcome {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields)]
    enum Outcome {
        Ok,
        Error(String),
    }

    pub fn serialize<S: Serializer>(v: &Option<Result<(), String>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(Ok(())) => Outcome::Ok.serialize(s),
            Some(Err(e)) => Outcome::Error(e.clone()).serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Result<(), String>>, D::Error> {
        Ok(Option::<Outcome>::deserialize(d)?.map(|o| match o {
            Outcome::Ok => Ok(()),
            Outcome::Error(e) => Err(e),
        }))
    }
}

/// The next thing the deploy engine should do (see `deploy.wit` for each action's meaning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Install the target revision on these instances.
    DeployBatch(Vec<String>),
    /// Register these instances with the load balancer (EC2 blue/green rerouting).
    AllowTraffic(Vec<String>),
    /// Deregister these instances from the load balancer.
    BlockTraffic(Vec<String>),
    /// Route this percentage (0-100) of production traffic to the replacement set.
    ShiftTraffic(u8),
    /// Observe again after this many milliseconds (1 ms to [`MAX_WAIT_MS`]).
    Wait(u64),
    /// Run one deployment-level lifecycle event by its CodeDeploy name.
    RunHook(String),
    /// The deployment is complete.
    Succeed,
    /// Roll back, with the reason.
    RollBack(String),
}

impl Action {
    /// Whether the deployment ends with this action.
    pub fn is_final(&self) -> bool {
        matches!(self, Action::Succeed | Action::RollBack(_))
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::DeployBatch(ids) => write!(f, "deploy-batch [{}]", ids.join(", ")),
            Action::AllowTraffic(ids) => write!(f, "allow-traffic [{}]", ids.join(", ")),
            Action::BlockTraffic(ids) => write!(f, "block-traffic [{}]", ids.join(", ")),
            Action::ShiftTraffic(p) => write!(f, "shift-traffic {p}%"),
            Action::Wait(ms) => write!(f, "wait {ms} ms"),
            Action::RunHook(h) => write!(f, "run-hook {h}"),
            Action::Succeed => f.write_str("succeed"),
            Action::RollBack(why) => write!(f, "roll-back: {why}"),
        }
    }
}

/// The longest wait a strategy may ask for: 5 days (the longest CodeDeploy wait, ECS's
/// deployment-ready wait, is 120 hours).
pub const MAX_WAIT_MS: u64 = 120 * 3600 * 1000;
/// The longest instance id or hook name accepted, bytes.
pub const MAX_NAME_BYTES: usize = 256;

impl Observation {
    /// The WIT record the guest receives.
    pub(crate) fn to_wit(&self) -> wit::Observation {
        wit::Observation {
            compute_platform: match self.compute_platform {
                ComputePlatform::Server => wit::ComputePlatform::Server,
                ComputePlatform::Ecs => wit::ComputePlatform::Ecs,
                ComputePlatform::Lambda => wit::ComputePlatform::Lambda,
            },
            deployment_type: match self.deployment_type {
                DeploymentType::InPlace => wit::DeploymentType::InPlace,
                DeploymentType::BlueGreen => wit::DeploymentType::BlueGreen,
            },
            elapsed_ms: self.elapsed_ms,
            target_revision: self.target_revision.clone(),
            instances: self
                .instances
                .iter()
                .map(|i| wit::Instance {
                    id: i.id.clone(),
                    set: match i.set {
                        InstanceSet::Original => wit::InstanceSet::Original,
                        InstanceSet::Replacement => wit::InstanceSet::Replacement,
                    },
                    revision: i.revision.clone(),
                    healthy: i.healthy,
                    in_service: i.in_service,
                })
                .collect(),
            alarms: self.alarms.iter().map(|a| wit::Alarm { name: a.name.clone(), firing: a.firing }).collect(),
            traffic_to_target: self.traffic_to_target,
            continue_requested: self.continue_requested,
            last_action: self.last_action.clone(),
        }
    }
}

/// At most `max` characters of `s`, with control characters escaped (for error messages).
fn shown(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).flat_map(char::escape_debug).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// A short account of what the strategy answered, for errors (ids and strings cut short).
pub(crate) fn describe(a: &wit::Action) -> String {
    let ids = |name: &str, ids: &[String]| {
        let first: Vec<String> = ids.iter().take(3).map(|i| format!("\"{}\"", shown(i, 40))).collect();
        let more = if ids.len() > 3 { format!(", … {} ids in all", ids.len()) } else { String::new() };
        format!("{name}([{}{more}])", first.join(", "))
    };
    match a {
        wit::Action::DeployBatch(v) => ids("deploy-batch", v),
        wit::Action::AllowTraffic(v) => ids("allow-traffic", v),
        wit::Action::BlockTraffic(v) => ids("block-traffic", v),
        wit::Action::ShiftTraffic(p) => format!("shift-traffic({p})"),
        wit::Action::Wait(ms) => format!("wait({ms})"),
        wit::Action::RunHook(h) => format!("run-hook(\"{}\")", shown(h, 60)),
        wit::Action::Succeed => "succeed".into(),
        wit::Action::RollBack(r) => format!("roll-back(\"{}\")", shown(r, 60)),
    }
}

fn check_ids(ids: &[String], obs: &Observation) -> Result<(), String> {
    if ids.is_empty() {
        return Err("names no instance".into());
    }
    if ids.len() > obs.instances.len() {
        return Err(format!("names {} instances, but the deployment has {}", ids.len(), obs.instances.len()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for id in ids {
        if id.is_empty() || id.len() > MAX_NAME_BYTES || id.chars().any(char::is_control) {
            return Err(format!("an instance id must be 1-{MAX_NAME_BYTES} bytes without control characters"));
        }
        if !seen.insert(id.as_str()) {
            return Err(format!("names instance \"{}\" twice", shown(id, 40)));
        }
    }
    Ok(())
}

/// The checks the host makes on every answer before the deploy engine sees it: percentages are
/// 0-100, a wait is 1 ms to [`MAX_WAIT_MS`], ids are well formed (non-empty, unique, no more than
/// the deployment has), a hook is a CodeDeploy event name (letters and digits), a roll-back says
/// why in at most `max_string` bytes without control characters other than newlines and tabs.
/// Whether the ids name instances of this deployment, in the right set, is the deploy engine's
/// to check. `Err` is the reason.
pub(crate) fn check_action(a: wit::Action, obs: &Observation, max_string: usize) -> Result<Action, String> {
    Ok(match a {
        wit::Action::DeployBatch(ids) => {
            check_ids(&ids, obs)?;
            Action::DeployBatch(ids)
        }
        wit::Action::AllowTraffic(ids) => {
            check_ids(&ids, obs)?;
            Action::AllowTraffic(ids)
        }
        wit::Action::BlockTraffic(ids) => {
            check_ids(&ids, obs)?;
            Action::BlockTraffic(ids)
        }
        wit::Action::ShiftTraffic(p) if p > 100 => return Err("a percentage of traffic is 0-100".into()),
        wit::Action::ShiftTraffic(p) => Action::ShiftTraffic(p),
        wit::Action::Wait(0) => return Err("a wait is at least 1 ms (to act now, answer the action)".into()),
        wit::Action::Wait(ms) if ms > MAX_WAIT_MS => return Err(format!("a wait is at most {MAX_WAIT_MS} ms (120 hours)")),
        wit::Action::Wait(ms) => Action::Wait(ms),
        wit::Action::RunHook(h) => {
            if h.is_empty() || h.len() > 64 || !h.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err("a lifecycle event name is 1-64 letters and digits (e.g. BeforeAllowTraffic)".into());
            }
            Action::RunHook(h)
        }
        wit::Action::Succeed => Action::Succeed,
        wit::Action::RollBack(r) => {
            if r.trim().is_empty() {
                return Err("a roll-back must say why".into());
            }
            if r.len() > max_string {
                return Err(format!("a roll-back reason is at most {max_string} bytes"));
            }
            if r.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err("a roll-back reason may not contain control characters (other than newlines and tabs)".into());
            }
            Action::RollBack(r)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(n: usize) -> Observation {
        Observation {
            compute_platform: ComputePlatform::Server,
            deployment_type: DeploymentType::InPlace,
            elapsed_ms: 0,
            target_revision: "v2".into(),
            instances: (0..n).map(|i| Instance { id: format!("i{i}"), set: InstanceSet::Original, revision: "v1".into(), healthy: true, in_service: true }).collect(),
            alarms: vec![],
            traffic_to_target: 0,
            continue_requested: false,
            last_action: None,
        }
    }

    #[test]
    fn malformed_actions_are_refused_with_a_reason() {
        let o = obs(2);
        let bad = |a: wit::Action| check_action(a, &o, 1000).unwrap_err();
        assert!(bad(wit::Action::ShiftTraffic(250)).contains("0-100"));
        assert!(bad(wit::Action::Wait(0)).contains("at least 1 ms"));
        assert!(bad(wit::Action::Wait(u64::MAX)).contains("120 hours"));
        assert!(bad(wit::Action::DeployBatch(vec![])).contains("names no instance"));
        assert!(bad(wit::Action::DeployBatch(vec!["i0".into(), "i0".into()])).contains("twice"));
        assert!(bad(wit::Action::AllowTraffic(vec!["a".into(), "b".into(), "c".into()])).contains("names 3 instances, but the deployment has 2"));
        assert!(bad(wit::Action::BlockTraffic(vec![String::new()])).contains("1-256 bytes"));
        assert!(bad(wit::Action::RunHook("../x".into())).contains("letters and digits"));
        assert!(bad(wit::Action::RollBack(" \n".into())).contains("must say why"));
        assert!(bad(wit::Action::RollBack("x".repeat(1001))).contains("at most 1000 bytes"));
        assert!(bad(wit::Action::RollBack("red \u{1b}[31m".into())).contains("control characters"));
        // Well formed: unknown ids are the deploy engine's to refuse.
        assert_eq!(check_action(wit::Action::DeployBatch(vec!["nope".into()]), &o, 1000), Ok(Action::DeployBatch(vec!["nope".into()])));
        assert_eq!(check_action(wit::Action::ShiftTraffic(100), &o, 1000), Ok(Action::ShiftTraffic(100)));
        assert_eq!(check_action(wit::Action::RollBack("line one\n\tline two".into()), &o, 1000), Ok(Action::RollBack("line one\n\tline two".into())));
    }

    #[test]
    fn descriptions_are_short_and_escaped() {
        let d = describe(&wit::Action::DeployBatch((0..10).map(|i| format!("i{i}")).collect()));
        assert_eq!(d, "deploy-batch([\"i0\", \"i1\", \"i2\", … 10 ids in all])");
        let d = describe(&wit::Action::RollBack(format!("\u{1b}[2J{}", "x".repeat(100))));
        assert!(d.starts_with("roll-back(\"\\u{1b}[2J") && d.ends_with("…\")") && d.len() < 100, "{d}");
    }

    #[test]
    fn observations_and_actions_in_json() {
        let text = r#"{"computePlatform": "lambda", "deploymentType": "blue-green", "targetRevision": "v2",
            "instances": [{"id": "g", "set": "replacement", "healthy": true, "inService": false}],
            "lastAction": {"error": "hook failed"}}"#;
        let o: Observation = serde_json::from_str(text).unwrap();
        assert_eq!(o.last_action, Some(Err("hook failed".into())));
        assert_eq!((o.elapsed_ms, o.traffic_to_target, o.instances[0].revision.as_str()), (0, 0, ""));
        let back: Observation = serde_json::from_value(serde_json::to_value(&o).unwrap()).unwrap();
        assert_eq!(back, o);
        let ok: Observation = serde_json::from_str(&text.replace(r#"{"error": "hook failed"}"#, r#""ok""#)).unwrap();
        assert_eq!(ok.last_action, Some(Ok(())));
        assert!(serde_json::from_str::<Observation>(&text.replace("inService", "in_service")).is_err(), "unknown keys are refused");
        let a: Action = serde_json::from_str(r#"{"shift-traffic": 10}"#).unwrap();
        assert_eq!(a, Action::ShiftTraffic(10));
        assert_eq!(serde_json::to_string(&Action::Succeed).unwrap(), r#""succeed""#);
        assert_eq!(serde_json::to_string(&Action::RollBack("x".into())).unwrap(), r#"{"roll-back":"x"}"#);
        assert_eq!(Action::DeployBatch(vec!["a".into(), "b".into()]).to_string(), "deploy-batch [a, b]");
    }
}
