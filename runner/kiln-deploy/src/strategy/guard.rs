//! The host's checks on every strategy answer. A strategy decides the order and pace of a
//! deployment; the host decides what is allowed:
//!
//! * `deploy-batch`: only instances of the fleet being deployed (the original fleet in place, the
//!   replacement fleet in blue/green), each once, none twice in one batch, and never more at once
//!   than minimum healthy hosts leaves room for ([`HealthPlan::room`]); ECS and Lambda install
//!   their replacement task set or version whole, so a batch is refused there.
//! * `shift-traffic`: 0..=100, only where traffic is shifted (blue/green, ECS, Lambda), only once
//!   the replacement fleet is installed, and never backwards (moving traffic back is a
//!   `roll-back`, which the host performs itself).
//! * `wait`: within what is left of the deployment's time limit.
//! * `run-hook`: only the next deployment-wide lifecycle event, so the documented order holds.
//! * `succeed`: only when the deployment is complete (every instance done, or all traffic moved).
//!
//! Anything else is a violation: the engine stops the deployment and rolls back with the message
//! as the reason. The decision count and the per-call deadline are the engine's ([`Limits`]).

use std::time::Duration;

use kiln_spec::appspec::Event;

use super::{Action, InstanceSet};
use crate::config::health::HealthPlan;

/// How the deployment moves: which actions mean something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// EC2/on-premises in-place: batches of instances.
    InPlace,
    /// EC2/on-premises blue/green: batches of replacement instances, then traffic.
    BlueGreen,
    /// ECS or Lambda: traffic only (the replacement is installed whole by the host).
    TrafficOnly,
}

/// Where an instance is in this deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Pending,
    InProgress,
    Succeeded,
    Failed,
}

/// Bounds on a strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Decisions per deployment (a strategy that answers `wait(0)` forever ends here).
    pub max_decisions: u32,
    /// Real time one `next` call may take (a strategy stuck in a loop ends here).
    pub decision_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_decisions: 10_000, decision_timeout: Duration::from_secs(10) }
    }
}

/// What the guard needs to know about the deployment.
pub struct View<'a> {
    pub flow: Flow,
    /// Every instance: id, set, progress in this deployment.
    pub instances: Vec<(&'a str, InstanceSet, Progress)>,
    pub health: Option<&'a HealthPlan>,
    /// Percentage of traffic on the target revision now.
    pub traffic: u8,
    /// The deployment-wide hookable event that may run next, if any.
    pub next_hook: Option<Event>,
    /// Nominal milliseconds left before the deployment's time limit.
    pub time_left_ms: u64,
    /// "ECS" / "Lambda" / "EC2/on-premises", for messages.
    pub platform: &'static str,
}

impl View<'_> {
    fn count(&self, p: Progress) -> u32 {
        self.instances.iter().filter(|(_, _, q)| *q == p).count() as u32
    }

    fn deployed_set(&self) -> InstanceSet {
        if self.flow == Flow::InPlace { InstanceSet::Original } else { InstanceSet::Replacement }
    }
}

/// Check `action` against the deployment's state; the error is the rollback reason.
pub fn check(action: &Action, v: &View) -> Result<(), String> {
    match action {
        Action::DeployBatch(ids) => check_batch(ids, v),
        Action::ShiftTraffic(p) => check_shift(*p, v),
        Action::Wait(ms) if *ms > v.time_left_ms => {
            Err(format!("the strategy asked to wait {ms} ms, but the deployment's time limit leaves {} ms", v.time_left_ms))
        }
        Action::Wait(_) | Action::RollBack(_) => Ok(()),
        Action::RunHook(name) => check_hook(name, v),
        Action::Succeed => check_succeed(v),
    }
}

fn check_batch(ids: &[String], v: &View) -> Result<(), String> {
    if v.flow == Flow::TrafficOnly {
        return Err(format!(
            "the strategy asked for deploy-batch, but {} deployments install the replacement whole; a strategy shifts traffic there",
            v.platform
        ));
    }
    if v.flow == Flow::BlueGreen && v.traffic > 0 {
        return Err("the strategy asked for deploy-batch after traffic began moving to the replacement fleet".into());
    }
    if ids.is_empty() {
        return Err("the strategy asked to deploy an empty batch".into());
    }
    let set = v.deployed_set();
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(format!("the strategy named instance `{id}` twice in one batch"));
        }
        match v.instances.iter().find(|(x, _, _)| x == id) {
            None => {
                let known: Vec<&str> = v.instances.iter().filter(|(_, s, _)| *s == set).map(|(x, _, _)| *x).collect();
                return Err(format!("the strategy asked to deploy to `{}`, which is not an instance of this deployment (instances: {})", printable(id), known.join(", ")));
            }
            Some((_, s, _)) if *s != set => {
                return Err(format!("the strategy asked to deploy to `{id}`, an instance of the {} fleet; only the {} fleet is deployed to", set_name(*s), set_name(set)));
            }
            Some((_, _, p)) if *p != Progress::Pending => {
                return Err(format!("the strategy asked to deploy to `{id}` again; this deployment already {} it", progress_words(*p)));
            }
            Some(_) => {}
        }
    }
    if let Some(h) = v.health {
        let room = h.room(v.count(Progress::Failed), v.count(Progress::InProgress));
        if ids.len() as u32 > room {
            return Err(format!(
                "the strategy asked to take {} instance(s) out of service at once; minimum healthy hosts allows {room} now (at least {} of {} must stay healthy, {} failed)",
                ids.len(),
                h.minimum_healthy,
                h.instances,
                v.count(Progress::Failed)
            ));
        }
    }
    Ok(())
}

fn check_shift(p: u8, v: &View) -> Result<(), String> {
    if p > 100 {
        return Err(format!("the strategy asked to shift {p} % of traffic; a percentage is 0 to 100"));
    }
    if v.flow == Flow::InPlace {
        return Err("the strategy asked to shift traffic, but an in-place deployment has no second fleet to shift it to".into());
    }
    if p < v.traffic {
        return Err(format!("the strategy asked to move traffic back from {} % to {p} %; during a deployment traffic only moves forward (answer roll-back instead)", v.traffic));
    }
    let waiting = v.instances.iter().filter(|(_, s, q)| *s == InstanceSet::Replacement && matches!(q, Progress::Pending | Progress::InProgress)).count();
    if waiting > 0 {
        return Err(format!("the strategy asked to shift traffic while {waiting} replacement instance(s) are not installed yet"));
    }
    if v.flow == Flow::BlueGreen && !v.instances.iter().any(|(_, s, q)| *s == InstanceSet::Replacement && *q == Progress::Succeeded) {
        return Err("the strategy asked to shift traffic, but no replacement instance was installed successfully".into());
    }
    Ok(())
}

fn check_hook(name: &str, v: &View) -> Result<(), String> {
    let Some(event) = Event::from_name(name) else {
        return Err(format!("the strategy asked to run the hook `{}`, which is not a lifecycle event", printable(name)));
    };
    match v.next_hook {
        Some(next) if next == event => Ok(()),
        Some(next) => Err(format!("the strategy asked to run {event} now; the next lifecycle event that may run is {next}")),
        None => Err(format!("the strategy asked to run {event}, but no deployment-wide lifecycle event is due now")),
    }
}

fn check_succeed(v: &View) -> Result<(), String> {
    match v.flow {
        Flow::InPlace => {
            let left = v.count(Progress::Pending) + v.count(Progress::InProgress);
            if left > 0 {
                return Err(format!("the strategy answered succeed with {left} instance(s) not deployed to"));
            }
            Ok(())
        }
        Flow::BlueGreen | Flow::TrafficOnly if v.traffic < 100 => {
            Err(format!("the strategy answered succeed with only {} % of traffic on the new revision", v.traffic))
        }
        _ => Ok(()),
    }
}

fn set_name(s: InstanceSet) -> &'static str {
    match s {
        InstanceSet::Original => "original",
        InstanceSet::Replacement => "replacement",
    }
}

fn progress_words(p: Progress) -> &'static str {
    match p {
        Progress::Pending => "has not deployed to",
        Progress::InProgress => "is deploying to",
        Progress::Succeeded => "deployed to",
        Progress::Failed => "failed on",
    }
}

/// A strategy-supplied string shortened and stripped of control characters for messages.
pub fn printable(s: &str) -> String {
    let clean: String = s.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).take(80).collect();
    if s.chars().count() > 80 { format!("{clean}…") } else { clean }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MinimumHealthyHosts;

    fn view<'a>(instances: Vec<(&'a str, InstanceSet, Progress)>, health: Option<&'a HealthPlan>, flow: Flow) -> View<'a> {
        View { flow, instances, health, traffic: 0, next_hook: None, time_left_ms: 1000, platform: "EC2/on-premises" }
    }

    #[test]
    fn batches_respect_minimum_healthy_hosts_and_ids() {
        let h = HealthPlan::new(MinimumHealthyHosts::MostConcurrency(1), 3).unwrap();
        let o = InstanceSet::Original;
        let v = view(vec![("a", o, Progress::Pending), ("b", o, Progress::Pending), ("c", o, Progress::Succeeded)], Some(&h), Flow::InPlace);
        assert!(check(&Action::DeployBatch(vec!["a".into()]), &v).is_ok());
        let e = check(&Action::DeployBatch(vec!["a".into(), "b".into()]), &v).unwrap_err();
        assert!(e.contains("take 2 instance(s) out of service at once; minimum healthy hosts allows 1 now"), "{e}");
        assert!(check(&Action::DeployBatch(vec!["c".into()]), &v).unwrap_err().contains("again"));
        assert!(check(&Action::DeployBatch(vec!["zz\u{7}".into()]), &v).unwrap_err().contains("`zz\u{fffd}`"));
        assert!(check(&Action::DeployBatch(vec![]), &v).is_err());
        assert!(check(&Action::DeployBatch(vec!["a".into(), "a".into()]), &v).unwrap_err().contains("twice"));
        assert!(check(&Action::ShiftTraffic(10), &v).unwrap_err().contains("in-place"));
        assert!(check(&Action::Succeed, &v).unwrap_err().contains("2 instance(s)"));
        assert!(check(&Action::Wait(1001), &v).is_err());
    }

    #[test]
    fn traffic_only_moves_forward_and_within_bounds() {
        let r = InstanceSet::Replacement;
        let mut v = view(vec![("g1", r, Progress::Succeeded)], None, Flow::TrafficOnly);
        v.traffic = 10;
        assert!(check(&Action::ShiftTraffic(10), &v).is_ok());
        assert!(check(&Action::ShiftTraffic(200), &v).unwrap_err().contains("0 to 100"));
        assert!(check(&Action::ShiftTraffic(5), &v).unwrap_err().contains("back"));
        assert!(check(&Action::DeployBatch(vec!["g1".into()]), &v).is_err());
        assert!(check(&Action::Succeed, &v).is_err());
        v.traffic = 100;
        assert!(check(&Action::Succeed, &v).is_ok());
        v.next_hook = Some(Event::AfterAllowTraffic);
        assert!(check(&Action::RunHook("AfterAllowTraffic".into()), &v).is_ok());
        assert!(check(&Action::RunHook("BeforeInstall".into()), &v).is_err());
        assert!(check(&Action::RunHook("Nope".into()), &v).is_err());
    }
}
