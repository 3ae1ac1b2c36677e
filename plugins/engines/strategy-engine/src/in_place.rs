//! EC2/on-premises in-place deployments: `CodeDeployDefault.AllAtOnce`, `HalfAtATime`,
//! `OneAtATime` and custom minimums, batch by batch under [`crate::rollout`]'s rules. The host
//! runs each instance's lifecycle (ApplicationStop … ValidateService, with the traffic events
//! behind a load balancer) for `deploy-batch`; an instance succeeded when it is healthy and runs
//! the target revision afterwards.

use crate::config::InPlaceConfig;
use crate::rollout::{Rollout, Step};
use crate::{Action, DeploymentType, Finish, InstanceSet, Observation, Platform};

/// The in-place strategy.
#[derive(Debug)]
pub struct InPlace {
    config: InPlaceConfig,
    rollout: Option<Rollout>,
    pub(crate) finish: Finish,
}

impl InPlace {
    /// A deployment under `config`.
    pub fn new(config: InPlaceConfig) -> InPlace {
        InPlace { config, rollout: None, finish: Finish::default() }
    }

    fn start(&self, obs: &Observation) -> Result<Rollout, String> {
        if obs.platform != Platform::Server || obs.deployment_type != DeploymentType::InPlace {
            return Err(format!(
                "the in-place strategy deploys EC2/on-premises instances in place, but this is {} {} deployment",
                obs.platform.a(),
                obs.deployment_type.name()
            ));
        }
        if let Some(i) = obs.set(InstanceSet::Replacement).next() {
            return Err(format!("an in-place deployment has no replacement instances, but the host reports {}", i.id));
        }
        let n = obs.instances.len();
        let (min, batch) = self.config.minimum.resolve(n);
        let candidates = obs.instances.iter().map(|i| (i.id.clone(), i.healthy, !i.revision.is_empty())).collect();
        Ok(Rollout::new("deploy", n, candidates, min, batch))
    }

    /// The next action, once the shared rules (`finishing_strategy!`) let it decide.
    pub(crate) fn decide(&mut self, obs: &Observation) -> Action {
        let rollout = match &mut self.rollout {
            Some(r) => r,
            None => match self.start(obs) {
                Ok(r) => self.rollout.insert(r),
                Err(e) => return Action::RollBack(e),
            },
        };
        rollout.report(|id| obs.instance(id).is_some_and(|i| obs.is_deployed(i)));
        match rollout.next_step() {
            Step::Batch(ids) => Action::DeployBatch(ids),
            Step::Done => Action::Succeed,
            Step::Fail(why) => {
                let last = obs.last_error().map(|e| format!(" (last batch: {e})")).unwrap_or_default();
                Action::RollBack(format!("{}: {why}{last}", self.config.name))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MinimumHealthy;
    use crate::testing::Sim;

    fn strategy(name: &str) -> InPlace {
        InPlace::new(InPlaceConfig::from_json(&serde_json::json!({"deploymentConfigName": name})).unwrap())
    }

    fn custom(m: MinimumHealthy) -> InPlace {
        InPlace::new(InPlaceConfig { name: "custom".into(), minimum: m })
    }

    /// The batch sizes of a deployment to `n` healthy instances, and how it ended.
    fn batches(mut s: InPlace, n: usize, fail: &[&str]) -> (Vec<usize>, Action) {
        let mut sim = Sim::in_place(n).failing(fail);
        let end = sim.run(&mut s);
        let sizes = sim.actions.iter().filter_map(|a| match a {
            Action::DeployBatch(ids) => Some(ids.len()),
            _ => None,
        });
        (sizes.collect(), end)
    }

    #[test]
    fn all_at_once_for_1_2_3_4_5_10_instances() {
        // "Attempts to deploy an application revision to as many instances as possible at once.
        // The status of the overall deployment is displayed as Succeeded if the application
        // revision is deployed to one or more of the instances. [...] It fails only if
        // deployments to all nine instances fail."
        for n in [1, 2, 3, 4, 5, 10] {
            assert_eq!(batches(strategy("CodeDeployDefault.AllAtOnce"), n, &[]), (vec![n], Action::Succeed), "{n} instances");
        }
        let (_, end) = batches(strategy("CodeDeployDefault.AllAtOnce"), 5, &["i1", "i2", "i3", "i4"]);
        assert_eq!(end, Action::Succeed, "one of five succeeded");
        let (_, end) = batches(strategy("CodeDeployDefault.AllAtOnce"), 2, &["i1", "i2"]);
        assert!(matches!(&end, Action::RollBack(m) if m.contains("only 0 of 2") && m.contains("ValidateService failed on i1, i2")), "{end:?}");
    }

    #[test]
    fn half_at_a_time_for_1_2_3_4_5_10_instances() {
        // "Deploys to up to half of the instances at a time (with fractions rounded down). The
        // overall deployment succeeds if the application revision is deployed to at least half of
        // the instances (with fractions rounded up). [...] In the example of nine instances, it
        // deploys to up to four instances at a time."
        for (n, want) in [(2, vec![1, 1]), (3, vec![1, 1, 1]), (4, vec![2, 2]), (5, vec![2, 2, 1]), (9, vec![4, 4, 1]), (10, vec![5, 5])] {
            assert_eq!(batches(strategy("CodeDeployDefault.HalfAtATime"), n, &[]), (want, Action::Succeed), "{n} instances");
        }
        // One instance: half of it rounds down to none, so the 50 % minimum (1) can never be met
        // ("Make sure the minimum number of healthy instances you specify is less than the total
        // number of instances").
        let (sizes, end) = batches(strategy("CodeDeployDefault.HalfAtATime"), 1, &[]);
        assert!(sizes.is_empty() && matches!(&end, Action::RollBack(m) if m.contains("HEALTH_CONSTRAINTS_INVALID")), "{end:?}");
        // Nine instances: "succeeds if deployment to five or more instances succeed". Four
        // failures in the first batch leave five healthy: the minimum, so it stops there.
        let (sizes, end) = batches(strategy("CodeDeployDefault.HalfAtATime"), 9, &["i1", "i2", "i3", "i4"]);
        assert_eq!(sizes, vec![4]);
        assert!(matches!(&end, Action::RollBack(m) if m.contains("CodeDeployDefault.HalfAtATime") && m.contains("HEALTH_CONSTRAINTS")), "{end:?}");
        // Failures spread out: 10 instances, one failing in each half.
        assert_eq!(batches(strategy("CodeDeployDefault.HalfAtATime"), 10, &["i1", "i10"]).1, Action::Succeed);
    }

    #[test]
    fn one_at_a_time_for_1_2_3_4_5_10_instances() {
        // "Deploys the application revision to only one instance at a time. [...] The overall
        // deployment succeeds if the application revision is deployed to all of the instances.
        // The exception to this rule is that if deployment to the last instance fails, the overall
        // deployment still succeeds. [...] The overall deployment fails as soon as the application
        // revision fails to be deployed to any but the last instance. [...] For deployment groups
        // that contain only one instance, the overall deployment is successful only if deployment
        // to the single instance is successful."
        for n in [1, 2, 3, 4, 5, 10] {
            assert_eq!(batches(strategy("CodeDeployDefault.OneAtATime"), n, &[]), (vec![1; n], Action::Succeed), "{n} instances");
            let last = format!("i{n}");
            let (sizes, end) = batches(strategy("CodeDeployDefault.OneAtATime"), n, &[&last]);
            assert_eq!(sizes, vec![1; n]);
            if n == 1 {
                assert!(matches!(end, Action::RollBack(_)), "a lone instance must succeed");
            } else {
                assert_eq!(end, Action::Succeed, "{n} instances, the last one failing");
            }
            if n >= 2 {
                let (sizes, end) = batches(strategy("CodeDeployDefault.OneAtATime"), n, &["i1"]);
                assert_eq!(sizes, vec![1], "{n} instances, the first failing: stop at once");
                assert!(matches!(end, Action::RollBack(_)));
            }
        }
        // The default is OneAtATime.
        let s = InPlace::new(InPlaceConfig::from_json(&serde_json::json!({})).unwrap());
        assert_eq!(batches(s, 3, &[]).0, vec![1, 1, 1]);
    }

    #[test]
    fn custom_minimums_host_count_and_fleet_percent() {
        // HOST_COUNT 3 of 5: two at a time.
        assert_eq!(batches(custom(MinimumHealthy::HostCount(3)), 5, &[]).0, vec![2, 2, 1]);
        // FLEET_PERCENT 75 of 10: ceil(7.5) = 8 healthy, two at a time.
        assert_eq!(batches(custom(MinimumHealthy::FleetPercent(75)), 10, &[]).0, vec![2; 5]);
        // FLEET_PERCENT 1 of 4: ceil(0.04) = 1, three at a time.
        assert_eq!(batches(custom(MinimumHealthy::FleetPercent(1)), 4, &[]).0, vec![3, 1]);
        // HOST_COUNT larger than the fleet: never met, nothing touched.
        let (sizes, end) = batches(custom(MinimumHealthy::HostCount(5)), 5, &[]);
        assert!(sizes.is_empty() && matches!(&end, Action::RollBack(m) if m.contains("HEALTH_CONSTRAINTS_INVALID")), "{end:?}");
    }

    #[test]
    fn alarms_and_mismatches_roll_back() {
        let mut sim = Sim::in_place(4);
        sim.alarm_at = Some(1500);
        let end = sim.run(&mut strategy("CodeDeployDefault.OneAtATime"));
        assert!(matches!(&end, Action::RollBack(m) if m.contains("alarm 5xx is in ALARM")), "{end:?}");
        assert_eq!(sim.script(), ["deploy i1", "deploy i2", "roll-back"]);

        let mut sim = Sim::blue_green(2);
        let end = sim.run(&mut strategy("CodeDeployDefault.AllAtOnce"));
        assert!(matches!(&end, Action::RollBack(m) if m.contains("Server blue/green")), "{end:?}");
        assert_eq!(sim.actions.len(), 1, "nothing deployed");
    }

    #[test]
    fn unhealthy_instances_are_deployed_first() {
        let mut sim = Sim::in_place(4);
        sim.obs.instances[2].healthy = false;
        sim.run(&mut strategy("CodeDeployDefault.OneAtATime"));
        assert_eq!(sim.script(), ["deploy i3", "deploy i1", "deploy i2", "deploy i4", "succeed"]);
    }
}
