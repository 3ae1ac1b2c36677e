//! EC2 blue/green deployments. The user guide's predefined table, for blue/green:
//!
//! > **AllAtOnce** — Deployment to replacement environment: Follows the same deployment rules as
//! > CodeDeployDefault.AllAtOnce for in-place deployments. Traffic rerouting: Routes traffic to all
//! > instances in the replacement environment at once. Succeeds if traffic is successfully
//! > rerouted to at least one instance. Fails after rerouting to all instances fails.
//! >
//! > **HalfAtATime** — Deployment to replacement environment: Follows the same deployment rules
//! > as CodeDeployDefault.HalfAtATime for in-place deployments. Traffic rerouting: Routes traffic
//! > to up to half the instances in the replacement environment at a time. Succeeds if rerouting
//! > to at least half of the instances succeeds. Otherwise, fails.
//! >
//! > **OneAtATime** — Deployment to replacement environment: Follows same deployment rules as
//! > CodeDeployDefault.OneAtATime for in-place deployments. Traffic rerouting: Routes traffic to
//! > one instance in the replacement environment at a time. Succeeds if traffic is successfully
//! > rerouted to all replacement instances. Fails after the very first rerouting failure. The
//! > exception to this rule is that if the last instance fails to register, the overall
//! > deployment still succeeds.
//!
//! (The awsdocs repository collapses these cells; the text is the published page's, as quoted
//! verbatim by two independent study guides.) Both passes are therefore [`crate::rollout`]
//! passes with the configuration's minimum ("During a blue/green deployment, the deployment
//! configuration and minimum healthy hosts value apply to instances in the replacement
//! environment"): the install over the replacement fleet, the reroute over the replacement
//! instances the install succeeded on; a custom minimum reroutes the same way (kiln proposal).
//!
//! The steps: install on the replacement instances (`deploy-batch`); the deployment-ready wait
//! (`STOP_DEPLOYMENT`: wait for `continue`, and stop when `waitTimeInMinutes` passes without it);
//! reroute (`allow-traffic`, a batch at a time, only to instances whose install succeeded);
//! deregister every original instance in service (`block-traffic`: "the overall deployment is
//! marked as Failed if even a single original instance fails to be deregistered"); keep the
//! originals for the termination wait (TERMINATE; an alarm in the wait still rolls back, to
//! originals that still exist; `continue` ends it early, CodeDeploy's
//! `SkipWaitTimeForInstanceTermination`), then succeed. KEEP_ALIVE succeeds once they are
//! deregistered.

use crate::config::{BlueGreenConfig, Termination};
use crate::rollout::{Rollout, Step};
use crate::{Action, DeploymentType, Finish, InstanceSet, Observation, Platform, Timer};

#[derive(Debug)]
enum Phase {
    Start,
    Install(Rollout),
    /// The deployment-ready wait, with the install's result for the reroute.
    Ready(Timer, Rollout),
    Reroute(Rollout),
    Block(Vec<String>),
    Terminate(Timer),
}

/// The EC2 blue/green strategy.
#[derive(Debug)]
pub struct BlueGreen {
    config: BlueGreenConfig,
    phase: Phase,
    pub(crate) finish: Finish,
}

impl BlueGreen {
    /// A deployment under `config`.
    pub fn new(config: BlueGreenConfig) -> BlueGreen {
        BlueGreen { config, phase: Phase::Start, finish: Finish::default() }
    }

    fn fail(&self, why: impl std::fmt::Display) -> Action {
        Action::RollBack(format!("{}: {why}", self.config.server.name))
    }

    fn install(&self, obs: &Observation) -> Result<Rollout, String> {
        if obs.platform != Platform::Server || obs.deployment_type != DeploymentType::BlueGreen {
            return Err(format!("the blue/green strategy deploys EC2 instances blue/green, but this is {} {} deployment", obs.platform.a(), obs.deployment_type.name()));
        }
        let green: Vec<_> = obs.set(InstanceSet::Replacement).collect();
        if green.is_empty() {
            return Err("the host reports no replacement instances to deploy to (CodeDeploy's NO_INSTANCES)".into());
        }
        let (min, batch) = self.config.server.minimum.resolve(green.len());
        // Every replacement instance counts as capacity: one never deployed to is "unhealthy" in
        // CodeDeploy's terms, and a fleet of those would let every install fail past the minimum;
        // the user guide's blue/green rows apply the configuration's in-place rules as written
        // for a working fleet (OneAtATime: "fails as soon as ... any but the last instance").
        let candidates = green.iter().map(|i| (i.id.clone(), true, !i.revision.is_empty())).collect();
        Ok(Rollout::new("install the revision", green.len(), candidates, min, batch))
    }

    /// The reroute pass: the configuration's rules over the instances the install succeeded on,
    /// at least one at a time (kiln proposal: the user guide's rerouting rules count "the
    /// replacement instances"; one whose install failed never gets traffic, and a lone survivor
    /// of a HalfAtATime install is rerouted rather than stranded).
    fn reroute(&self, installed: &Rollout) -> Phase {
        let n = installed.succeeded().len();
        let (mut min, mut batch) = self.config.server.minimum.resolve(n);
        if batch == 0 {
            (min, batch) = (n.saturating_sub(1), 1);
        }
        let candidates = installed.succeeded().iter().map(|id| (id.clone(), true, true)).collect();
        Phase::Reroute(Rollout::new("take traffic", n, candidates, min, batch))
    }

    fn terminate(&self, obs: &Observation) -> Phase {
        let ms = match self.config.termination {
            Termination::Terminate { wait_ms } => wait_ms,
            Termination::KeepAlive => 0,
        };
        Phase::Terminate(Timer::start(obs.elapsed_ms, ms))
    }

    /// One step of the phase machine: the next phase, and the action if this step has one
    /// (`None`: go on to the next phase in the same call).
    fn step(&self, phase: Phase, obs: &Observation) -> (Phase, Option<Action>) {
        match phase {
            Phase::Start => match self.install(obs) {
                Ok(r) => (Phase::Install(r), None),
                Err(e) => (Phase::Start, Some(Action::RollBack(e))),
            },
            Phase::Install(mut r) => {
                r.report(|id| obs.instance(id).is_some_and(|i| obs.is_deployed(i)));
                match r.next_step() {
                    Step::Batch(ids) => (Phase::Install(r), Some(Action::DeployBatch(ids))),
                    Step::Fail(why) => (Phase::Install(r), Some(self.fail(why))),
                    Step::Done => match self.config.ready_wait_ms {
                        Some(ms) => (Phase::Ready(Timer::start(obs.elapsed_ms, ms), r), None),
                        None => (self.reroute(&r), None),
                    },
                }
            }
            Phase::Ready(t, installed) => {
                if obs.continue_requested {
                    return (self.reroute(&installed), None);
                }
                let a = match t.left(obs.elapsed_ms) {
                    Some(ms) => Action::Wait(ms),
                    None => self.fail(format!(
                        "the deployment-ready wait ({} ms, STOP_DEPLOYMENT) ended without `continue`: the deployment is stopped before any traffic moved",
                        self.config.ready_wait_ms.unwrap_or(0)
                    )),
                };
                (Phase::Ready(t, installed), Some(a))
            }
            Phase::Reroute(mut r) => {
                r.report(|id| obs.instance(id).is_some_and(|i| i.in_service));
                match r.next_step() {
                    Step::Batch(ids) => (Phase::Reroute(r), Some(Action::AllowTraffic(ids))),
                    Step::Fail(why) => (Phase::Reroute(r), Some(self.fail(why))),
                    Step::Done => {
                        let blue: Vec<String> = obs.set(InstanceSet::Original).filter(|i| i.in_service).map(|i| i.id.clone()).collect();
                        if blue.is_empty() {
                            (self.terminate(obs), None)
                        } else {
                            (Phase::Block(blue.clone()), Some(Action::BlockTraffic(blue)))
                        }
                    }
                }
            }
            Phase::Block(ids) => {
                let stuck: Vec<&str> = ids.iter().filter(|id| obs.instance(id).is_none_or(|i| i.in_service)).map(String::as_str).collect();
                if stuck.is_empty() && obs.last_error().is_none() {
                    return (self.terminate(obs), None);
                }
                let detail = obs.last_error().map(|e| format!(": {e}")).unwrap_or_default();
                let a = self.fail(format!("original instances failed to deregister ({}){detail}; CodeDeploy fails the deployment if even one does", stuck.join(", ")));
                (Phase::Block(ids), Some(a))
            }
            Phase::Terminate(t) => {
                let a = match t.left(obs.elapsed_ms) {
                    Some(ms) if !obs.continue_requested => Action::Wait(ms),
                    _ => Action::Succeed,
                };
                (Phase::Terminate(t), Some(a))
            }
        }
    }

    /// The next action, once the shared rules (`finishing_strategy!`) let it decide.
    pub(crate) fn decide(&mut self, obs: &Observation) -> Action {
        let mut phase = std::mem::replace(&mut self.phase, Phase::Start);
        loop {
            match self.step(phase, obs) {
                (next, Some(a)) => {
                    self.phase = next;
                    return a;
                }
                (next, None) => phase = next,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Strategy;
    use crate::testing::Sim;

    fn strategy(config: serde_json::Value) -> BlueGreen {
        BlueGreen::new(BlueGreenConfig::from_json(&config).unwrap())
    }

    fn named(name: &str) -> BlueGreen {
        strategy(serde_json::json!({"deploymentConfigName": name}))
    }

    /// (install batch sizes, reroute batch sizes, how it ended) for `n` replacement instances.
    fn passes(mut s: BlueGreen, n: usize, fail: &[&str]) -> (Vec<usize>, Vec<usize>, Action) {
        let mut sim = Sim::blue_green(n).failing(fail);
        let end = sim.run(&mut s);
        let (mut install, mut reroute) = (Vec::new(), Vec::new());
        for a in &sim.actions {
            match a {
                Action::DeployBatch(ids) => install.push(ids.len()),
                Action::AllowTraffic(ids) => reroute.push(ids.len()),
                _ => {}
            }
        }
        (install, reroute, end)
    }

    #[test]
    fn all_at_once_for_1_2_3_4_5_10_instances() {
        for n in [1, 2, 3, 4, 5, 10] {
            assert_eq!(passes(named("CodeDeployDefault.AllAtOnce"), n, &[]), (vec![n], vec![n], Action::Succeed), "{n}");
        }
        // The install pass is AllAtOnce's too: green2 fails its install, the other two are
        // rerouted and carry the traffic.
        let mut sim = Sim::blue_green(3).installed().failing(&["green2"]);
        assert_eq!(sim.run(&mut named("CodeDeployDefault.AllAtOnce")), Action::Succeed);
        assert_eq!(sim.script(), ["deploy green1,green2,green3", "allow green1,green3", "block blue1,blue2,blue3", "succeed"]);
        // "Fails after rerouting to all instances fails."
        let mut sim = Sim::blue_green(2).installed();
        let mut s = named("CodeDeployDefault.AllAtOnce");
        sim.once(&mut s);
        sim.fail_instances = vec!["green1".into(), "green2".into()];
        let end = sim.run(&mut s);
        assert_eq!(sim.script(), ["deploy green1,green2", "allow green1,green2", "roll-back"]);
        assert!(matches!(&end, Action::RollBack(m) if m.contains("only 0 of 2 instances could take traffic")), "{end:?}");
    }

    #[test]
    fn half_at_a_time_for_1_2_3_4_5_10_instances() {
        for (n, want) in [(2, vec![1, 1]), (3, vec![1, 1, 1]), (4, vec![2, 2]), (5, vec![2, 2, 1]), (10, vec![5, 5])] {
            assert_eq!(passes(named("CodeDeployDefault.HalfAtATime"), n, &[]), (want.clone(), want, Action::Succeed), "{n}");
        }
        let (install, reroute, end) = passes(named("CodeDeployDefault.HalfAtATime"), 1, &[]);
        assert!(install.is_empty() && reroute.is_empty() && matches!(end, Action::RollBack(_)));
        // Two instances, the second failing its install: half is enough, and the survivor takes
        // the traffic alone.
        let (install, reroute, end) = passes(named("CodeDeployDefault.HalfAtATime"), 2, &["green2"]);
        assert_eq!((install, reroute, end), (vec![1, 1], vec![1], Action::Succeed));
        // The first failing leaves one, the minimum, with one to go: stopped, as in place.
        let (install, reroute, end) = passes(named("CodeDeployDefault.HalfAtATime"), 2, &["green1"]);
        assert_eq!((install, reroute), (vec![1], vec![]));
        assert!(matches!(&end, Action::RollBack(m) if m.contains("HEALTH_CONSTRAINTS")), "{end:?}");
    }

    #[test]
    fn one_at_a_time_for_1_2_3_4_5_10_instances() {
        for n in [1, 2, 3, 4, 5, 10] {
            assert_eq!(passes(named("CodeDeployDefault.OneAtATime"), n, &[]), (vec![1; n], vec![1; n], Action::Succeed), "{n}");
        }
        // The last replacement failing its install still succeeds; the others take traffic.
        let (install, reroute, end) = passes(named("CodeDeployDefault.OneAtATime"), 4, &["green4"]);
        assert_eq!((install, reroute, end), (vec![1; 4], vec![1; 3], Action::Succeed));
        // The first failing: stop before any traffic moved.
        let (install, reroute, end) = passes(named("CodeDeployDefault.OneAtATime"), 4, &["green1"]);
        assert_eq!((install, reroute), (vec![1], vec![]));
        assert!(matches!(&end, Action::RollBack(m) if m.contains("CodeDeployDefault.OneAtATime") && m.contains("HEALTH_CONSTRAINTS")), "{end:?}");
    }

    #[test]
    fn rerouting_one_at_a_time_fails_at_the_first_failure_but_the_last() {
        let run = |fail: &str| {
            let mut sim = Sim::blue_green(3);
            let mut s = named("CodeDeployDefault.OneAtATime");
            for _ in 0..3 {
                sim.once(&mut s);
            }
            sim.fail_instances = vec![fail.to_string()];
            let end = sim.run(&mut s);
            (sim.script(), end)
        };
        // "Fails after the very first rerouting failure."
        let (script, end) = run("green2");
        assert_eq!(script[3..], ["allow green1", "allow green2", "roll-back"], "{script:?}");
        assert!(matches!(end, Action::RollBack(_)));
        // "The exception to this rule is that if the last instance fails to register, the overall
        // deployment still succeeds."
        let (script, end) = run("green3");
        assert_eq!(end, Action::Succeed, "{script:?}");
        assert_eq!(script[3..], ["allow green1", "allow green2", "allow green3", "block blue1,blue2,blue3", "succeed"]);
    }

    #[test]
    fn the_originals_are_deregistered_then_kept_for_the_termination_wait() {
        let mut s = strategy(serde_json::json!({
            "deploymentConfigName": "CodeDeployDefault.AllAtOnce",
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 5},
            "minuteMs": 1000,
        }));
        let mut sim = Sim::blue_green(2);
        assert_eq!(sim.run(&mut s), Action::Succeed);
        assert_eq!(sim.script(), ["deploy green1,green2", "allow green1,green2", "block blue1,blue2", "wait 5000", "succeed"]);

        // An alarm during the wait rolls back: the originals are still there.
        let mut s = strategy(serde_json::json!({"terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 5}, "minuteMs": 1000}));
        let mut sim = Sim::blue_green(1);
        sim.alarm_at = Some(3000);
        let end = sim.run(&mut s);
        assert!(matches!(&end, Action::RollBack(m) if m.contains("5xx")), "{end:?}");
        assert_eq!(sim.script(), ["deploy green1", "allow green1", "block blue1", "wait 5000", "roll-back"]);

        // `continue` ends the wait early; KEEP_ALIVE does not wait.
        let mut s = strategy(serde_json::json!({"terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 60}}));
        let mut sim = Sim::blue_green(1);
        for _ in 0..3 {
            sim.once(&mut s);
        }
        assert_eq!(s.next(&sim.obs), Action::Wait(3_600_000));
        sim.obs.elapsed_ms += 1000;
        sim.obs.continue_requested = true;
        assert_eq!(s.next(&sim.obs), Action::Succeed);
        let mut s = strategy(serde_json::json!({"terminateBlueInstancesOnDeploymentSuccess": {"action": "KEEP_ALIVE"}}));
        let mut sim = Sim::blue_green(1);
        sim.run(&mut s);
        assert_eq!(sim.script(), ["deploy green1", "allow green1", "block blue1", "succeed"]);
    }

    #[test]
    fn the_deployment_ready_wait() {
        let config = serde_json::json!({"deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 2}, "minuteMs": 1000});
        // Nobody continues: stopped when the wait ends, before any traffic moved.
        let mut sim = Sim::blue_green(1);
        let end = sim.run(&mut strategy(config.clone()));
        assert!(matches!(&end, Action::RollBack(m) if m.contains("deployment-ready wait") && m.contains("before any traffic moved")), "{end:?}");
        assert_eq!(sim.script(), ["deploy green1", "wait 2000", "roll-back"]);
        // `continue` during the wait: traffic moves at once.
        let mut s = strategy(config);
        let mut sim = Sim::blue_green(1);
        sim.once(&mut s);
        assert_eq!(s.next(&sim.obs), Action::Wait(2000));
        sim.obs.elapsed_ms += 500;
        assert_eq!(s.next(&sim.obs), Action::Wait(1500), "called early: what is left");
        sim.obs.continue_requested = true;
        assert_eq!(s.next(&sim.obs), Action::AllowTraffic(vec!["green1".into()]));
    }

    #[test]
    fn an_original_that_does_not_deregister_fails_the_deployment() {
        let mut sim = Sim::blue_green(2).failing(&["blue2"]);
        let end = sim.run(&mut named("CodeDeployDefault.AllAtOnce"));
        assert!(matches!(&end, Action::RollBack(m) if m.contains("failed to deregister (blue2)") && m.contains("BlockTraffic failed on blue2")), "{end:?}");
    }

    #[test]
    fn an_in_place_or_ecs_deployment_is_refused() {
        let mut sim = Sim::in_place(2);
        assert!(matches!(sim.run(&mut named("CodeDeployDefault.AllAtOnce")), Action::RollBack(m) if m.contains("Server in-place")));
        let mut sim = Sim::blue_green(0);
        assert!(matches!(sim.run(&mut named("CodeDeployDefault.AllAtOnce")), Action::RollBack(m) if m.contains("NO_INSTANCES")));
    }
}
