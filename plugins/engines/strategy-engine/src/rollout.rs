//! CodeDeploy's minimum-healthy-hosts rules as a batch planner: which instances next, when to
//! stop, and whether the whole succeeded. [`crate::InPlace`] installs with it; [`crate::BlueGreen`]
//! installs the replacement instances and reroutes traffic to them with it.
//!
//! The rules, from the user guide ("CodeDeploy instance health", "Minimum healthy instances and
//! deployments"):
//!
//! > The basic principle is that a deployment must never cause the number of healthy instances to
//! > fall below the minimum number you have specified. The one exception to this rule is when a
//! > deployment group initially has less than the specified minimum number of healthy instances.
//! > In that case, the deployment process does not reduce the number of healthy instances any
//! > further.
//! >
//! > CodeDeploy starts the deployment process by attempting to deploy the application revision
//! > to the deployment group's unhealthy instances. [...] If the number of healthy instances is
//! > less than or equal to the specified minimum number of healthy instances, CodeDeploy cancels
//! > the deployment [...]. If the number of healthy instances falls to the specified minimum
//! > number at any point in the deployment process, CodeDeploy stops the deployment.
//! >
//! > for the overall deployment to succeed [...] Deployment to at least one instance must succeed.
//!
//! As a planner: a batch holds at most `batch` instances ([`crate::config::MinimumHealthy::resolve`]);
//! unhealthy instances may always go in (taking them offline costs no health), healthy ones only
//! while `healthy − (healthy ones in the batch) ≥ minimum`. When instances are left and none may
//! go, the deployment fails (CodeDeploy's `HEALTH_CONSTRAINTS`; before the first batch,
//! `HEALTH_CONSTRAINTS_INVALID`). When none are left it succeeds if at least `max(minimum, 1)`
//! instances succeeded. The order is unhealthy first, then an unknown revision, then the rest
//! ("Unhealthy instance health, Unknown revision health, Old revision health, Current revision
//! health"; the observation does not say which revision was the group's last good one, so Old and
//! Current keep the host's order).

use std::collections::BTreeSet;

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Deploy (or reroute) these instances now.
    Batch(Vec<String>),
    /// Every instance was tried and enough succeeded.
    Done,
    /// The deployment fails, with CodeDeploy's reason.
    Fail(String),
}

/// One pass over a set of instances under a minimum of healthy ones.
#[derive(Debug, Clone)]
pub struct Rollout {
    what: &'static str,
    total: usize,
    min: usize,
    batch: usize,
    pending: Vec<String>,
    healthy: BTreeSet<String>,
    in_flight: Vec<String>,
    succeeded: Vec<String>,
    failed: Vec<String>,
    started: bool,
}

/// One candidate: (id, healthy now, revision known).
pub type Candidate = (String, bool, bool);

impl Rollout {
    /// A rollout over `candidates` in a fleet of `total` (`candidates` may be fewer: instances
    /// that already failed an earlier pass count in `total` but are not candidates and not
    /// healthy). `what` names the work in messages (`deploy`, `reroute traffic`).
    pub fn new(what: &'static str, total: usize, candidates: Vec<Candidate>, min: usize, batch: usize) -> Rollout {
        let healthy = candidates.iter().filter(|c| c.1).map(|c| c.0.clone()).collect();
        let mut ordered = candidates;
        // Stable: unhealthy first, then an unknown revision, then the host's order.
        ordered.sort_by_key(|(_, healthy, known)| (*healthy, *known));
        Rollout {
            what,
            total,
            min,
            batch,
            pending: ordered.into_iter().map(|c| c.0).collect(),
            healthy,
            in_flight: Vec::new(),
            succeeded: Vec::new(),
            failed: Vec::new(),
            started: false,
        }
    }

    /// The instances that succeeded so far.
    pub fn succeeded(&self) -> &[String] {
        &self.succeeded
    }

    /// The instances that failed so far.
    pub fn failed(&self) -> &[String] {
        &self.failed
    }

    /// The batch handed out last and not yet reported on.
    pub fn in_flight(&self) -> &[String] {
        &self.in_flight
    }

    /// Reports the in-flight batch: `ok(id)` says whether that instance succeeded.
    pub fn report(&mut self, ok: impl Fn(&str) -> bool) {
        for id in std::mem::take(&mut self.in_flight) {
            if ok(&id) {
                self.healthy.insert(id.clone());
                self.succeeded.push(id);
            } else {
                self.healthy.remove(&id);
                self.failed.push(id);
            }
        }
    }

    /// The next step (after [`Rollout::report`] on the previous batch).
    pub fn next_step(&mut self) -> Step {
        debug_assert!(self.in_flight.is_empty(), "report the batch before asking for the next");
        let first = !self.started;
        self.started = true;
        if self.total == 0 {
            return Step::Fail("there are no instances to deploy to (CodeDeploy's NO_INSTANCES)".into());
        }
        if self.batch == 0 {
            return Step::Fail(format!(
                "the minimum of {} healthy instances out of {} can never be met: no instance could {} without going below it (CodeDeploy's HEALTH_CONSTRAINTS_INVALID)",
                self.min, self.total, self.what
            ));
        }
        if self.pending.is_empty() {
            let need = self.min.max(1);
            return if self.succeeded.len() >= need {
                Step::Done
            } else {
                Step::Fail(format!(
                    "only {} of {} instances could {} ({}), and at least {need} must (CodeDeploy's HEALTH_CONSTRAINTS)",
                    self.succeeded.len(),
                    self.total,
                    self.what,
                    self.failed_list()
                ))
            };
        }
        let mut may_take_healthy = self.healthy.len().saturating_sub(self.min);
        let mut batch = Vec::new();
        let mut rest = Vec::new();
        for id in std::mem::take(&mut self.pending) {
            let free = !self.healthy.contains(&id);
            if batch.len() < self.batch && (free || may_take_healthy > 0) {
                if !free {
                    may_take_healthy -= 1;
                }
                batch.push(id);
            } else {
                rest.push(id);
            }
        }
        self.pending = rest;
        if batch.is_empty() {
            let code = if first { "HEALTH_CONSTRAINTS_INVALID" } else { "HEALTH_CONSTRAINTS" };
            let failed = if self.failed.is_empty() { String::new() } else { format!(" after {}", self.failed_list()) };
            return Step::Fail(format!(
                "{} of {} instances are healthy{failed}, and the minimum is {}: the next instance cannot {} without going below it (CodeDeploy's {code})",
                self.healthy.len(),
                self.total,
                self.min,
                self.what
            ));
        }
        self.in_flight = batch.clone();
        Step::Batch(batch)
    }

    fn failed_list(&self) -> String {
        match self.failed.len() {
            0 => "none failed".into(),
            _ => format!("failed: {}", self.failed.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MinimumHealthy;

    fn ids(n: usize) -> Vec<Candidate> {
        (1..=n).map(|i| (format!("i{i}"), true, true)).collect()
    }

    fn rollout(n: usize, m: MinimumHealthy) -> Rollout {
        let (min, batch) = m.resolve(n);
        Rollout::new("deploy", n, ids(n), min, batch)
    }

    /// Runs to the end, failing the instances in `fail`; the batch sizes and the outcome.
    fn run(mut r: Rollout, fail: &[&str]) -> (Vec<usize>, Step) {
        let mut sizes = Vec::new();
        loop {
            match r.next_step() {
                Step::Batch(b) => {
                    sizes.push(b.len());
                    r.report(|id| !fail.contains(&id));
                }
                end => return (sizes, end),
            }
        }
    }

    #[test]
    fn nine_instances_the_api_examples() {
        // "In an example of nine instances, if a HOST_COUNT of six is specified, deploy to up to
        // three instances at a time. The deployment is successful if six or more instances are
        // deployed to successfully. [...] If a FLEET_PERCENT of 40 is specified, deploy to up to
        // five instance at a time. The deployment is successful if four or more instance are
        // deployed to successfully."
        assert_eq!(run(rollout(9, MinimumHealthy::HostCount(6)), &[]), (vec![3, 3, 3], Step::Done));
        assert_eq!(run(rollout(9, MinimumHealthy::FleetPercent(40)), &[]), (vec![5, 4], Step::Done));
        // Five of nine succeed under FLEET_PERCENT 40: enough.
        let (_, end) = run(rollout(9, MinimumHealthy::FleetPercent(40)), &["i1", "i2", "i3", "i4"]);
        assert_eq!(end, Step::Done);
    }

    #[test]
    fn the_user_guides_ten_instance_examples() {
        // "Minimum healthy instances: 95% — CodeDeploy rounds the minimum healthy instances number
        // up to 10 instances [...]. The overall deployment immediately fails without deploying the
        // revision to any instances."
        let (sizes, end) = run(rollout(10, MinimumHealthy::FleetPercent(95)), &[]);
        assert!(sizes.is_empty());
        assert!(matches!(&end, Step::Fail(m) if m.contains("HEALTH_CONSTRAINTS_INVALID")), "{end:?}");
        // "Minimum healthy instances: 9 — CodeDeploy deploys the revision to one instance at a
        // time. If deployment to any of the instances fails, CodeDeploy immediately fails the
        // overall deployment [...]. The exception to this rule is that if the last instance fails,
        // the deployment still succeeds."
        assert_eq!(run(rollout(10, MinimumHealthy::HostCount(9)), &[]), (vec![1; 10], Step::Done));
        let (sizes, end) = run(rollout(10, MinimumHealthy::HostCount(9)), &["i3"]);
        assert_eq!(sizes, vec![1, 1, 1]);
        assert!(matches!(&end, Step::Fail(m) if m.contains("HEALTH_CONSTRAINTS") && m.contains("failed: i3")), "{end:?}");
        assert_eq!(run(rollout(10, MinimumHealthy::HostCount(9)), &["i10"]), (vec![1; 10], Step::Done));
        // "Minimum healthy instances: 8 — CodeDeploy deploys the revision to two instances at a
        // time. If two of these deployments fail, CodeDeploy immediately fails the overall
        // deployment. The exception to this rule is that if the last instance is the second to
        // fail, the deployment still succeeds."
        assert_eq!(run(rollout(10, MinimumHealthy::HostCount(8)), &[]).0, vec![2; 5]);
        let (sizes, end) = run(rollout(10, MinimumHealthy::HostCount(8)), &["i1", "i2"]);
        assert_eq!((sizes, matches!(end, Step::Fail(_))), (vec![2], true));
        // One failure leaves room for one at a time; the last instance failing second is fine.
        let (sizes, end) = run(rollout(10, MinimumHealthy::HostCount(8)), &["i1", "i10"]);
        assert_eq!((sizes, end), (vec![2, 1, 1, 1, 1, 1, 1, 1, 1], Step::Done));
        // "Minimum healthy instances: 0 — CodeDeploy deploys the revision to the entire deployment
        // group at once. At least one deployment to an instance must succeed [...]. If 0
        // instances are healthy, then the deployment fails."
        assert_eq!(run(rollout(10, MinimumHealthy::HostCount(0)), &["i1", "i2"]), (vec![10], Step::Done));
        let all: Vec<String> = (1..=10).map(|i| format!("i{i}")).collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let (sizes, end) = run(rollout(10, MinimumHealthy::HostCount(0)), &all);
        assert_eq!(sizes, vec![10]);
        assert!(matches!(&end, Step::Fail(m) if m.contains("only 0 of 10") && m.contains("at least 1")), "{end:?}");
        // "if 85% of instances must remain healthy during a deployment, and the deployment group
        // contains 10 instances, the overall deployment will fail if deployment to even a single
        // instance fails" (min 9: one at a time).
        assert_eq!(rollout(10, MinimumHealthy::FleetPercent(85)).batch, 1);
    }

    #[test]
    fn unhealthy_instances_go_first_and_cost_no_health() {
        // 4 instances, HalfAtATime (min 2, batch 2), three unhealthy: "the deployment process
        // does not reduce the number of healthy instances any further" — the unhealthy ones go
        // first, then the healthy one once there is room.
        let c = vec![("a".into(), true, true), ("b".into(), false, true), ("c".into(), false, false), ("d".into(), false, true)];
        let mut r = Rollout::new("deploy", 4, c, 2, 2);
        assert_eq!(r.next_step(), Step::Batch(vec!["c".into(), "b".into()]));
        r.report(|_| true);
        assert_eq!(r.next_step(), Step::Batch(vec!["d".into(), "a".into()]));
        r.report(|_| true);
        assert_eq!(r.next_step(), Step::Done);
        // With the unhealthy ones failing, the healthy one must not be taken offline.
        let c = vec![("a".into(), true, true), ("b".into(), false, true), ("c".into(), false, true)];
        let mut r = Rollout::new("deploy", 3, c, 2, 1);
        assert_eq!(r.next_step(), Step::Batch(vec!["b".into()]));
        r.report(|_| false);
        assert_eq!(r.next_step(), Step::Batch(vec!["c".into()]));
        r.report(|_| false);
        assert!(matches!(r.next_step(), Step::Fail(m) if m.contains("1 of 3 instances are healthy") && m.contains("minimum is 2")));
    }

    #[test]
    fn an_empty_fleet_fails() {
        assert!(matches!(run(rollout(0, MinimumHealthy::OneAtATime), &[]).1, Step::Fail(m) if m.contains("NO_INSTANCES")));
    }
}
