//! The host's checks on every strategy answer. A strategy decides the order and pace of a
//! deployment; the host decides what is allowed, and what each action means (the WIT
//! `deploy-strategy` world's contract, as the built-in `codedeploy-*` plugins use it):
//!
//! | action | in place | EC2 blue/green | ECS, Lambda |
//! |---|---|---|---|
//! | `deploy-batch(ids)` | each instance's whole lifecycle | the install events (ApplicationStop … ValidateService) on replacement instances, before any takes traffic | install and start the replacement task set's / version's processes (ECS: the events due before Install first) |
//! | `allow-traffic(ids)` | refused | BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic on installed replacement instances, once every replacement is installed (after the deployment-ready wait) | refused |
//! | `block-traffic(ids)` | refused | BeforeBlockTraffic, BlockTraffic, AfterBlockTraffic on original instances in service, while a replacement serves | refused |
//! | `shift-traffic(p)` | refused | refused | 0..=100, forward only, once the replacement is installed (the events due before AllowTraffic first) |
//! | `run-hook(e)` | refused | refused | a deployment-wide event of the lifecycle (hookable, or `AllowTestTraffic`) and the due ones before it; not past a reserved event that has not happened (Install: deploy-batch; AllowTraffic: all traffic); an event already done is answered ok without running again |
//! | `wait(ms)` | within the deployment's time limit | same | same |
//! | `succeed` | every instance done | all traffic on the replacement instances | all traffic on the replacement set (the events after it run first) |
//!
//! On EC2 blue/green the load balancer spreads requests over every instance in service, as an
//! ALB target group does: the weights follow the in-service counts of the two fleets.
//! Minimum healthy hosts: a batch never takes more instances out than the configuration leaves
//! room for ([`HealthPlan::room`]).
//!
//! **After a resume** a new strategy instance starts from the observation alone and may ask again
//! for what the interrupted deployment already did: deploy-batch of an instance it deployed, a
//! reroute or deregistration already made, a shift below the current traffic. Those are answered
//! ok without doing them again (the ids are dropped from the action); anything else is checked
//! as usual.
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
    /// EC2/on-premises blue/green: batches of replacement instances, then rerouting per instance.
    BlueGreen,
    /// ECS or Lambda: the replacement set installed, then traffic shifted by weight.
    TrafficOnly,
}

/// Where an instance is in this deployment (for blue/green replacements: their install part).
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
    /// Decisions per deployment (a strategy that answers `wait(1)` forever ends here).
    pub max_decisions: u32,
    /// Real time one `next` call may take (a strategy stuck in a loop ends here).
    pub decision_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_decisions: 10_000, decision_timeout: Duration::from_secs(10) }
    }
}

/// One instance as the guard sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inst<'a> {
    pub id: &'a str,
    pub set: InstanceSet,
    pub progress: Progress,
    pub in_service: bool,
    /// EC2 blue/green: its traffic events (allow for replacements, block for originals) are done.
    pub traffic_done: bool,
}

/// What the guard needs to know about the deployment.
pub struct View<'a> {
    pub flow: Flow,
    pub instances: Vec<Inst<'a>>,
    pub health: Option<&'a HealthPlan>,
    /// Percentage of traffic on the target revision now.
    pub traffic: u8,
    /// ECS and Lambda: the deployment-wide events in order, each with whether it is done.
    pub wide: Vec<(Event, bool)>,
    /// Nominal milliseconds left before the deployment's time limit.
    pub time_left_ms: u64,
    /// "ECS" / "Lambda" / "EC2/on-premises", for messages.
    pub platform: &'static str,
    /// The deployment was resumed after an interruption (see the module doc).
    pub resumed: bool,
}

impl View<'_> {
    fn count(&self, set: InstanceSet, p: Progress) -> u32 {
        self.instances.iter().filter(|i| i.set == set && i.progress == p).count() as u32
    }

    fn deployed_set(&self) -> InstanceSet {
        if self.flow == Flow::InPlace { InstanceSet::Original } else { InstanceSet::Replacement }
    }

    fn find(&self, id: &str) -> Option<&Inst<'_>> {
        self.instances.iter().find(|i| i.id == id)
    }

    fn known(&self, set: InstanceSet) -> String {
        self.instances.iter().filter(|i| i.set == set).map(|i| i.id).collect::<Vec<_>>().join(", ")
    }

    fn replacements_waiting(&self) -> usize {
        self.instances.iter().filter(|i| i.set == InstanceSet::Replacement && matches!(i.progress, Progress::Pending | Progress::InProgress)).count()
    }

    fn traffic_started(&self) -> bool {
        self.traffic > 0 || self.instances.iter().any(|i| i.set == InstanceSet::Replacement && (i.in_service || i.traffic_done))
    }
}

/// Check `action` against the deployment's state. `Ok` is the action to perform — the same, or
/// after a resume with what was already done dropped (an empty id list, or a shift to the current
/// percentage: nothing to do); `Err` is the rollback reason.
pub fn check(action: &Action, v: &View) -> Result<Action, String> {
    match action {
        Action::DeployBatch(ids) => check_batch(ids, v).map(Action::DeployBatch),
        Action::AllowTraffic(ids) => check_allow(ids, v).map(Action::AllowTraffic),
        Action::BlockTraffic(ids) => check_block(ids, v).map(Action::BlockTraffic),
        Action::ShiftTraffic(p) => check_shift(*p, v).map(Action::ShiftTraffic),
        Action::Wait(ms) if *ms > v.time_left_ms => {
            Err(format!("the strategy asked to wait {ms} ms, but the deployment's time limit leaves {} ms", v.time_left_ms))
        }
        Action::Wait(_) | Action::RollBack(_) => Ok(action.clone()),
        Action::RunHook(name) => check_hook(name, v).map(|()| action.clone()),
        Action::Succeed => check_succeed(v).map(|()| Action::Succeed),
    }
}

/// Common checks on an id list: not empty, no duplicates, every id an instance of `set`.
fn check_ids(what: &str, ids: &[String], set: InstanceSet, v: &View) -> Result<(), String> {
    if ids.is_empty() {
        return Err(format!("the strategy asked to {what} an empty list of instances"));
    }
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(format!("the strategy named instance `{}` twice in one {what}", printable(id)));
        }
        match v.find(id) {
            None => return Err(format!("the strategy asked to {what} `{}`, which is not an instance of this deployment (instances: {})", printable(id), v.known(set))),
            Some(x) if x.set != set => {
                return Err(format!("the strategy asked to {what} `{id}`, an instance of the {} fleet; only the {} fleet's instances may be named", set_name(x.set), set_name(set)));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn check_batch(ids: &[String], v: &View) -> Result<Vec<String>, String> {
    let set = v.deployed_set();
    check_ids("deploy", ids, set, v)?;
    if v.flow != Flow::InPlace && v.traffic_started() {
        return Err("the strategy asked for deploy-batch after traffic began moving to the replacement fleet".into());
    }
    let mut todo = Vec::new();
    for id in ids {
        match v.find(id).map(|x| x.progress) {
            Some(Progress::Pending) => todo.push(id.clone()),
            Some(Progress::Succeeded) if v.resumed => {}
            Some(p) => return Err(format!("the strategy asked to deploy to `{id}` again; this deployment already {} it", progress_words(p))),
            None => {}
        }
    }
    if let Some(h) = v.health.filter(|_| v.flow != Flow::TrafficOnly) {
        let room = h.room(v.count(set, Progress::Failed), v.count(set, Progress::InProgress));
        if todo.len() as u32 > room {
            return Err(format!(
                "the strategy asked to take {} instance(s) out of service at once; minimum healthy hosts allows {room} now (at least {} of {} must stay healthy, {} failed)",
                todo.len(),
                h.minimum_healthy,
                h.instances,
                v.count(set, Progress::Failed)
            ));
        }
    }
    Ok(todo)
}

fn blue_green_only(action: &str, v: &View) -> Result<(), String> {
    match v.flow {
        Flow::BlueGreen => Ok(()),
        Flow::InPlace => Err(format!("the strategy asked for {action}, but an in-place deployment's instances leave and rejoin the load balancer within their own lifecycle (deploy-batch)")),
        Flow::TrafficOnly => Err(format!("the strategy asked for {action}, but {} deployments move traffic by weight between the two sets (shift-traffic)", v.platform)),
    }
}

fn check_allow(ids: &[String], v: &View) -> Result<Vec<String>, String> {
    blue_green_only("allow-traffic", v)?;
    check_ids("allow traffic to", ids, InstanceSet::Replacement, v)?;
    let waiting = v.replacements_waiting();
    if waiting > 0 {
        return Err(format!("the strategy asked to allow traffic while {waiting} replacement instance(s) are not installed yet"));
    }
    let mut todo = Vec::new();
    for id in ids {
        let Some(x) = v.find(id) else { continue };
        if x.progress != Progress::Succeeded {
            return Err(format!("the strategy asked to allow traffic to `{id}`, whose installation {}", if x.progress == Progress::Failed { "failed" } else { "has not happened" }));
        }
        if x.traffic_done || x.in_service {
            if v.resumed {
                continue;
            }
            return Err(format!("the strategy asked to allow traffic to `{id}` again; it was registered already"));
        }
        todo.push(id.clone());
    }
    Ok(todo)
}

fn check_block(ids: &[String], v: &View) -> Result<Vec<String>, String> {
    blue_green_only("block-traffic", v)?;
    check_ids("block traffic to", ids, InstanceSet::Original, v)?;
    let mut todo = Vec::new();
    for id in ids {
        let Some(x) = v.find(id) else { continue };
        if !x.in_service {
            if v.resumed || x.traffic_done {
                continue;
            }
            return Err(format!("the strategy asked to block traffic to `{id}`, which does not take traffic"));
        }
        todo.push(id.clone());
    }
    if !todo.is_empty() && !v.instances.iter().any(|i| i.set == InstanceSet::Replacement && i.in_service) {
        return Err("the strategy asked to block traffic to original instances while no replacement instance takes traffic; that would leave the service with no instance (allow traffic to the replacement instances first)".into());
    }
    Ok(todo)
}

fn check_shift(p: u8, v: &View) -> Result<u8, String> {
    if p > 100 {
        return Err(format!("the strategy asked to shift {p} % of traffic; a percentage is 0 to 100"));
    }
    match v.flow {
        Flow::InPlace => return Err("the strategy asked to shift traffic, but an in-place deployment has no second fleet to shift it to".into()),
        Flow::BlueGreen => {
            return Err("the strategy asked to shift traffic by weight, but EC2 blue/green moves traffic one instance at a time, as CodeDeploy does (allow-traffic, then block-traffic)".into());
        }
        Flow::TrafficOnly => {}
    }
    if p < v.traffic {
        if v.resumed {
            return Ok(v.traffic);
        }
        return Err(format!("the strategy asked to move traffic back from {} % to {p} %; during a deployment traffic only moves forward (answer roll-back instead)", v.traffic));
    }
    let waiting = v.replacements_waiting();
    if waiting > 0 {
        return Err(format!("the strategy asked to shift traffic while {waiting} replacement instance(s) are not installed yet (answer deploy-batch with them first)"));
    }
    if !v.instances.iter().any(|i| i.set == InstanceSet::Replacement && i.progress == Progress::Succeeded) {
        return Err("the strategy asked to shift traffic, but no replacement instance was installed successfully".into());
    }
    Ok(p)
}

fn check_hook(name: &str, v: &View) -> Result<(), String> {
    let Some(event) = Event::from_name(name) else {
        return Err(format!("the strategy asked to run the hook `{}`, which is not a lifecycle event", printable(name)));
    };
    if v.flow != Flow::TrafficOnly {
        return Err(format!("the strategy asked to run {event} on its own, but EC2/on-premises hooks run within each instance's lifecycle (deploy-batch, allow-traffic, block-traffic)"));
    }
    let Some(at) = v.wide.iter().position(|(e, _)| *e == event) else {
        let list: Vec<String> = v.wide.iter().map(|(e, _)| e.to_string()).collect();
        return Err(format!("the strategy asked to run {event}, which is not a lifecycle event of this {} deployment ({})", v.platform, list.join(", ")));
    };
    if v.wide[at].1 {
        return Ok(());
    }
    if event.is_reserved() && event != Event::AllowTestTraffic {
        let how = if event == Event::Install { "deploy-batch with the replacement instances" } else { "shift-traffic" };
        return Err(format!("the strategy asked to run {event}, which kiln runs itself: answer {how}"));
    }
    if let Some((blocking, _)) = v.wide[..at].iter().find(|(e, done)| !done && matches!(e, Event::Install | Event::AllowTraffic)) {
        let how = if *blocking == Event::Install { "install the replacement set first (deploy-batch)" } else { "shift all traffic first (shift-traffic 100)" };
        return Err(format!("the strategy asked to run {event} before {blocking} happened: {how}"));
    }
    if v.replacements_waiting() > 0 && v.wide.iter().all(|(e, _)| *e != Event::Install) {
        // Lambda: its events test the new version, which must be running.
        return Err(format!("the strategy asked to run {event} before the new version is running: install it first (deploy-batch)"));
    }
    Ok(())
}

fn check_succeed(v: &View) -> Result<(), String> {
    match v.flow {
        Flow::InPlace => {
            let left = v.count(InstanceSet::Original, Progress::Pending) + v.count(InstanceSet::Original, Progress::InProgress);
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

    fn inst(id: &str, set: InstanceSet, progress: Progress, in_service: bool) -> Inst<'_> {
        Inst { id, set, progress, in_service, traffic_done: false }
    }

    fn view<'a>(instances: Vec<Inst<'a>>, health: Option<&'a HealthPlan>, flow: Flow) -> View<'a> {
        View { flow, instances, health, traffic: 0, wide: vec![], time_left_ms: 1000, platform: "EC2/on-premises", resumed: false }
    }

    #[test]
    fn batches_respect_minimum_healthy_hosts_and_ids() {
        let h = HealthPlan::new(MinimumHealthyHosts::MostConcurrency(1), 3).unwrap();
        let o = InstanceSet::Original;
        let mut v = view(vec![inst("a", o, Progress::Pending, true), inst("b", o, Progress::Pending, true), inst("c", o, Progress::Succeeded, true)], Some(&h), Flow::InPlace);
        assert_eq!(check(&Action::DeployBatch(vec!["a".into()]), &v), Ok(Action::DeployBatch(vec!["a".into()])));
        let e = check(&Action::DeployBatch(vec!["a".into(), "b".into()]), &v).unwrap_err();
        assert!(e.contains("take 2 instance(s) out of service at once; minimum healthy hosts allows 1 now"), "{e}");
        assert!(check(&Action::DeployBatch(vec!["c".into()]), &v).unwrap_err().contains("again"));
        assert!(check(&Action::DeployBatch(vec!["zz\u{7}".into()]), &v).unwrap_err().contains("`zz\u{fffd}`"));
        assert!(check(&Action::DeployBatch(vec![]), &v).is_err());
        assert!(check(&Action::DeployBatch(vec!["a".into(), "a".into()]), &v).unwrap_err().contains("twice"));
        assert!(check(&Action::ShiftTraffic(10), &v).unwrap_err().contains("in-place"));
        assert!(check(&Action::AllowTraffic(vec!["a".into()]), &v).unwrap_err().contains("in-place"));
        assert!(check(&Action::RunHook("BeforeInstall".into()), &v).unwrap_err().contains("within each instance's lifecycle"));
        assert!(check(&Action::Succeed, &v).unwrap_err().contains("2 instance(s)"));
        assert!(check(&Action::Wait(1001), &v).is_err());
        // After a resume, an instance already deployed to is dropped from the batch.
        v.resumed = true;
        assert_eq!(check(&Action::DeployBatch(vec!["c".into(), "a".into()]), &v), Ok(Action::DeployBatch(vec!["a".into()])));
        assert_eq!(check(&Action::DeployBatch(vec!["c".into()]), &v), Ok(Action::DeployBatch(vec![])));
    }

    #[test]
    fn blue_green_reroutes_per_instance_and_never_leaves_nothing_in_service() {
        let (o, r) = (InstanceSet::Original, InstanceSet::Replacement);
        let mut v = view(vec![inst("blue", o, Progress::Pending, true), inst("green", r, Progress::InProgress, false)], None, Flow::BlueGreen);
        assert!(check(&Action::AllowTraffic(vec!["green".into()]), &v).unwrap_err().contains("not installed yet"));
        assert!(check(&Action::DeployBatch(vec!["blue".into()]), &v).unwrap_err().contains("original fleet"));
        v.instances[1].progress = Progress::Succeeded;
        assert!(check(&Action::BlockTraffic(vec!["blue".into()]), &v).unwrap_err().contains("no replacement instance takes traffic"));
        assert!(check(&Action::AllowTraffic(vec!["blue".into()]), &v).unwrap_err().contains("original fleet"));
        assert!(check(&Action::ShiftTraffic(50), &v).unwrap_err().contains("one instance at a time"));
        assert_eq!(check(&Action::AllowTraffic(vec!["green".into()]), &v), Ok(Action::AllowTraffic(vec!["green".into()])));
        v.instances[1].in_service = true;
        v.instances[1].traffic_done = true;
        assert!(check(&Action::AllowTraffic(vec!["green".into()]), &v).unwrap_err().contains("again"));
        assert!(check(&Action::DeployBatch(vec!["green".into()]), &v).unwrap_err().contains("after traffic began"));
        assert_eq!(check(&Action::BlockTraffic(vec!["blue".into()]), &v), Ok(Action::BlockTraffic(vec!["blue".into()])));
        v.traffic = 50;
        assert!(check(&Action::Succeed, &v).unwrap_err().contains("50 %"));
        v.instances[0].in_service = false;
        assert!(check(&Action::BlockTraffic(vec!["blue".into()]), &v).unwrap_err().contains("does not take traffic"));
        v.traffic = 100;
        assert!(check(&Action::Succeed, &v).is_ok());
    }

    #[test]
    fn traffic_only_moves_forward_and_within_bounds() {
        let r = InstanceSet::Replacement;
        let mut v = view(vec![inst("g1", r, Progress::Pending, false)], None, Flow::TrafficOnly);
        v.platform = "ECS";
        v.wide = [Event::BeforeInstall, Event::Install, Event::AfterInstall, Event::AllowTestTraffic, Event::BeforeAllowTraffic, Event::AllowTraffic, Event::AfterAllowTraffic].into_iter().map(|e| (e, false)).collect();
        assert!(check(&Action::ShiftTraffic(10), &v).unwrap_err().contains("deploy-batch"));
        assert!(check(&Action::RunHook("BeforeInstall".into()), &v).is_ok());
        assert!(check(&Action::RunHook("AfterInstall".into()), &v).unwrap_err().contains("before Install happened"));
        assert!(check(&Action::RunHook("Install".into()), &v).unwrap_err().contains("kiln runs itself"));
        assert!(check(&Action::RunHook("ValidateService".into()), &v).unwrap_err().contains("not a lifecycle event of this ECS deployment"));
        assert_eq!(check(&Action::DeployBatch(vec!["g1".into()]), &v), Ok(Action::DeployBatch(vec!["g1".into()])));
        v.instances[0].progress = Progress::Succeeded;
        v.wide[1].1 = true;
        assert!(check(&Action::RunHook("AllowTestTraffic".into()), &v).is_ok());
        assert!(check(&Action::RunHook("AfterAllowTraffic".into()), &v).unwrap_err().contains("before AllowTraffic"));
        v.traffic = 10;
        assert_eq!(check(&Action::ShiftTraffic(10), &v), Ok(Action::ShiftTraffic(10)));
        assert!(check(&Action::ShiftTraffic(200), &v).unwrap_err().contains("0 to 100"));
        assert!(check(&Action::ShiftTraffic(5), &v).unwrap_err().contains("back"));
        assert!(check(&Action::DeployBatch(vec!["g1".into()]), &v).is_err());
        assert!(check(&Action::AllowTraffic(vec!["g1".into()]), &v).unwrap_err().contains("by weight"));
        assert!(check(&Action::Succeed, &v).is_err());
        v.resumed = true;
        assert_eq!(check(&Action::ShiftTraffic(5), &v), Ok(Action::ShiftTraffic(10)), "after a resume: stays");
        v.traffic = 100;
        v.wide[5].1 = true;
        assert!(check(&Action::Succeed, &v).is_ok());
        assert!(check(&Action::RunHook("AfterAllowTraffic".into()), &v).is_ok());
        v.wide[0].1 = true;
        assert!(check(&Action::RunHook("BeforeInstall".into()), &v).is_ok(), "done: answered ok");
        assert!(check(&Action::RunHook("Nope".into()), &v).is_err());
    }
}
