//! ECS and Lambda deployments: the replacement set (task set, function version) is installed,
//! the deployment-level hooks run in CodeDeploy's order, and production traffic moves by the
//! configuration's schedule ([`crate::config::TrafficRouting::schedule`]).
//!
//! The order, from the user guide: ECS "BeforeInstall … Install (Set up the replacement task
//! set) … AfterInstall … AllowTestTraffic (Route traffic from the test listener to target group
//! 2) … AfterAllowTestTraffic … BeforeAllowTraffic … AllowTraffic (Route traffic from the
//! production listener to target group 2) … AfterAllowTraffic", then the original task set is
//! kept for the termination wait ("ECS uses the wait before deleting the original task set").
//! Lambda: "BeforeAllowTraffic … AllowTraffic … AfterAllowTraffic" ("The Start, AllowTraffic,
//! and End events in the deployment cannot be scripted"). AllowTraffic is the shift schedule:
//! `shift-traffic` to each percentage, with `wait`s between them, alarms checked on every call.
//!
//! kiln runs a Lambda version as local processes, so before BeforeAllowTraffic the strategy asks
//! for `deploy-batch` of the replacement processes that do not run the target revision yet
//! (none, when the host started them already); CodeDeploy itself only points the alias.

use crate::config::{Termination, TrafficShiftConfig};
use crate::{Action, DeploymentType, Finish, InstanceSet, Observation, Platform, Timer};

/// One step of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Hook(&'static str),
    Install,
    Shift,
    Terminate,
}

const ECS: &[Item] = &[
    Item::Hook("BeforeInstall"),
    Item::Install,
    Item::Hook("AfterInstall"),
    Item::Hook("AllowTestTraffic"),
    Item::Hook("AfterAllowTestTraffic"),
    Item::Hook("BeforeAllowTraffic"),
    Item::Shift,
    Item::Hook("AfterAllowTraffic"),
    Item::Terminate,
];

const LAMBDA: &[Item] = &[Item::Install, Item::Hook("BeforeAllowTraffic"), Item::Shift, Item::Hook("AfterAllowTraffic")];

/// The traffic-shifting strategy.
#[derive(Debug)]
pub struct TrafficShift {
    config: TrafficShiftConfig,
    schedule: Vec<(u64, u8)>,
    plan: &'static [Item],
    at: usize,
    /// The action for the current item is out and its outcome not yet seen.
    awaiting: bool,
    /// The instances of the install in flight.
    installing: Vec<String>,
    /// Shifts answered so far, and when the first one completed (on the deployment's clock; it
    /// can lie before the clock's start for a resumed deployment whose first shifts ran earlier).
    shifts: usize,
    first_shift_ms: Option<i64>,
    termination: Option<Timer>,
    pub(crate) finish: Finish,
}

impl TrafficShift {
    /// A deployment under `config`.
    pub fn new(config: TrafficShiftConfig) -> TrafficShift {
        let schedule = config.routing.schedule(config.minute_ms);
        TrafficShift {
            config,
            schedule,
            plan: &[],
            at: 0,
            awaiting: false,
            installing: Vec::new(),
            shifts: 0,
            first_shift_ms: None,
            termination: None,
            finish: Finish::default(),
        }
    }

    fn start(&mut self, obs: &Observation) -> Result<(), String> {
        let plan = match obs.platform {
            Platform::Ecs => ECS,
            Platform::Lambda => LAMBDA,
            Platform::Server => return Err(format!("{} shifts ECS or Lambda traffic; this is an EC2/on-premises deployment", self.config.name)),
        };
        if obs.deployment_type != DeploymentType::BlueGreen {
            return Err(format!("an {} deployment moves traffic between two sets (blue/green), but the host reports an in-place one", obs.platform.name()));
        }
        if let Some(p) = self.config.platform.filter(|p| *p != obs.platform) {
            return Err(format!("{} is {} configuration; this is {} deployment", self.config.name, p.a(), obs.platform.a()));
        }
        if obs.set(InstanceSet::Replacement).next().is_none() {
            return Err(format!("the host reports no replacement {} (CodeDeploy's NO_INSTANCES)", if obs.platform == Platform::Ecs { "task set" } else { "function version" }));
        }
        self.plan = plan;
        Ok(())
    }

    fn fail(&self, why: impl std::fmt::Display) -> Action {
        Action::RollBack(format!("{}: {why}", self.config.name))
    }

    /// The action for the current item, or `None` when the item is done and the plan goes on.
    fn step(&mut self, item: Item, obs: &Observation) -> Option<Action> {
        let outcome = std::mem::take(&mut self.awaiting).then(|| obs.last_error());
        match item {
            Item::Hook(name) => match outcome {
                None => {
                    self.awaiting = true;
                    Some(Action::RunHook(name.into()))
                }
                Some(Some(e)) => Some(self.fail(format!("lifecycle event {name} failed: {e}"))),
                Some(None) => None,
            },
            Item::Install => {
                if outcome.is_some() {
                    let bad: Vec<&str> = self.installing.iter().filter(|id| !obs.instance(id).is_some_and(|i| obs.is_deployed(i))).map(String::as_str).collect();
                    if !bad.is_empty() {
                        let detail = obs.last_error().map(|e| format!(": {e}")).unwrap_or_default();
                        return Some(self.fail(format!("the replacement set failed to install on {}{detail}", bad.join(", "))));
                    }
                    return None;
                }
                self.installing = obs.set(InstanceSet::Replacement).filter(|i| !obs.is_deployed(i)).map(|i| i.id.clone()).collect();
                if self.installing.is_empty() {
                    return None;
                }
                self.awaiting = true;
                Some(Action::DeployBatch(self.installing.clone()))
            }
            Item::Shift => {
                if let Some(result) = outcome {
                    if let Some(e) = result {
                        let p = self.schedule[self.shifts - 1].1;
                        return Some(self.fail(format!("shifting {p}% of traffic to the replacement set failed: {e}")));
                    }
                    self.first_shift_ms.get_or_insert(obs.elapsed_ms as i64);
                }
                // A resumed deployment: the steps traffic has passed already are done, and the
                // next one is due now (traffic never moves back during a deployment).
                let passed = self.schedule[self.shifts.min(self.schedule.len())..].iter().take_while(|(_, p)| *p < obs.traffic_to_target).count();
                if passed > 0 {
                    self.shifts += passed;
                    if self.first_shift_ms.is_none()
                        && let Some((offset, _)) = self.schedule.get(self.shifts)
                    {
                        self.first_shift_ms = Some(obs.elapsed_ms as i64 - *offset as i64);
                    }
                }
                let (offset, percent) = *self.schedule.get(self.shifts)?;
                let due = self.first_shift_ms.map_or(0, |t0| t0.saturating_add(offset as i64));
                if (obs.elapsed_ms as i64) < due {
                    return Some(Action::Wait((due - obs.elapsed_ms as i64) as u64));
                }
                self.shifts += 1;
                self.awaiting = true;
                Some(Action::ShiftTraffic(percent))
            }
            Item::Terminate => {
                let wait_ms = match self.config.termination {
                    Termination::Terminate { wait_ms } => wait_ms,
                    Termination::KeepAlive => 0,
                };
                let t = *self.termination.get_or_insert(Timer::start(obs.elapsed_ms, wait_ms));
                match t.left(obs.elapsed_ms) {
                    Some(ms) if !obs.continue_requested => Some(Action::Wait(ms)),
                    _ => None,
                }
            }
        }
    }

    /// The next action, once the shared rules (`finishing_strategy!`) let it decide.
    pub(crate) fn decide(&mut self, obs: &Observation) -> Action {
        if self.plan.is_empty()
            && let Err(e) = self.start(obs)
        {
            return Action::RollBack(e);
        }
        while let Some(item) = self.plan.get(self.at).copied() {
            match self.step(item, obs) {
                Some(a) => return a,
                None => self.at += 1,
            }
        }
        Action::Succeed
    }
}

#[cfg(test)]
mod tests;
