//! A simulated host for the strategies' tests: it keeps an observation, applies each action the
//! way the deploy engine would (instances get the revision, traffic moves, time passes), lets a
//! test fail chosen instances or hooks and fire alarms, and records every action.

use crate::{Action, Alarm, DeploymentType, Instance, InstanceSet, Observation, Platform, Strategy};

/// The simulated host.
pub(crate) struct Sim {
    pub obs: Observation,
    /// Instances whose deployment (or registration) fails.
    pub fail_instances: Vec<String>,
    /// Hooks that fail.
    pub fail_hooks: Vec<String>,
    /// `(elapsed_ms, alarm)`: the alarm fires from that time on.
    pub alarm_at: Option<u64>,
    /// Every action answered, in order.
    pub actions: Vec<Action>,
    /// `elapsed_ms` when each action was answered.
    pub times: Vec<u64>,
}

pub(crate) fn instance(id: &str, set: InstanceSet, revision: &str, in_service: bool) -> Instance {
    Instance { id: id.into(), set, revision: revision.into(), healthy: true, in_service }
}

impl Sim {
    /// `n` healthy original instances on `v1`, deploying `v2` in place.
    pub fn in_place(n: usize) -> Sim {
        let instances = (1..=n).map(|i| instance(&format!("i{i}"), InstanceSet::Original, "v1", true)).collect();
        Sim::new(Platform::Server, DeploymentType::InPlace, instances)
    }

    /// `n` original instances in service and `n` replacement instances (no revision yet).
    pub fn blue_green(n: usize) -> Sim {
        let mut instances: Vec<Instance> = (1..=n).map(|i| instance(&format!("blue{i}"), InstanceSet::Original, "v1", true)).collect();
        instances.extend((1..=n).map(|i| Instance { healthy: false, ..instance(&format!("green{i}"), InstanceSet::Replacement, "", false) }));
        Sim::new(Platform::Server, DeploymentType::BlueGreen, instances)
    }

    /// One original and one replacement process of a task set / function version.
    pub fn traffic(platform: Platform) -> Sim {
        let instances = vec![
            instance("blue", InstanceSet::Original, "v1", true),
            Instance { healthy: false, ..instance("green", InstanceSet::Replacement, "", false) },
        ];
        Sim::new(platform, DeploymentType::BlueGreen, instances)
    }

    pub fn new(platform: Platform, deployment_type: DeploymentType, instances: Vec<Instance>) -> Sim {
        Sim {
            obs: Observation {
                platform,
                deployment_type,
                elapsed_ms: 0,
                target_revision: "v2".into(),
                instances,
                alarms: vec![Alarm { name: "5xx".into(), firing: false }],
                traffic_to_target: 0,
                continue_requested: false,
                last_action: None,
            },
            fail_instances: Vec::new(),
            fail_hooks: Vec::new(),
            alarm_at: None,
            actions: Vec::new(),
            times: Vec::new(),
        }
    }

    /// The replacement instances run the target revision already (healthy).
    pub fn installed(mut self) -> Sim {
        let target = self.obs.target_revision.clone();
        for i in self.obs.instances.iter_mut().filter(|i| i.set == InstanceSet::Replacement) {
            i.revision = target.clone();
            i.healthy = true;
        }
        self
    }

    /// Asks `s` once, records and applies the action; the action.
    pub fn once(&mut self, s: &mut impl Strategy) -> Action {
        let a = s.next(&self.obs);
        self.actions.push(a.clone());
        self.times.push(self.obs.elapsed_ms);
        self.apply(&a);
        a
    }

    pub fn failing(mut self, ids: &[&str]) -> Sim {
        self.fail_instances = ids.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Does `a` the way the deploy engine would, and updates the observation.
    pub fn apply(&mut self, a: &Action) {
        let fails = |s: &Sim, id: &str| s.fail_instances.iter().any(|f| f == id);
        let target = self.obs.target_revision.clone();
        let mut result = Ok(());
        match a {
            Action::DeployBatch(ids) => {
                let mut bad = Vec::new();
                for id in ids {
                    let f = fails(self, id);
                    let i = self.obs.instances.iter_mut().find(|i| &i.id == id).expect("known id");
                    i.healthy = !f;
                    if f {
                        bad.push(id.clone());
                    } else {
                        i.revision = target.clone();
                    }
                }
                if !bad.is_empty() {
                    result = Err(format!("ValidateService failed on {}", bad.join(", ")));
                }
                self.obs.elapsed_ms += 1000;
            }
            Action::AllowTraffic(ids) | Action::BlockTraffic(ids) => {
                let allow = matches!(a, Action::AllowTraffic(_));
                let mut bad = Vec::new();
                for id in ids {
                    let f = fails(self, id);
                    let i = self.obs.instances.iter_mut().find(|i| &i.id == id).expect("known id");
                    if f {
                        bad.push(id.clone());
                    } else {
                        i.in_service = allow;
                    }
                }
                if !bad.is_empty() {
                    result = Err(format!("{} failed on {}", if allow { "AllowTraffic" } else { "BlockTraffic" }, bad.join(", ")));
                }
                self.obs.elapsed_ms += 100;
            }
            Action::ShiftTraffic(p) => {
                self.obs.traffic_to_target = *p;
                self.obs.elapsed_ms += 10;
            }
            Action::Wait(ms) => self.obs.elapsed_ms += ms,
            Action::RunHook(h) => {
                if self.fail_hooks.contains(h) {
                    result = Err(format!("hook {h} failed: exit status 1"));
                }
                self.obs.elapsed_ms += 50;
            }
            Action::Succeed | Action::RollBack(_) => {}
        }
        self.obs.last_action = Some(result);
        self.obs.continue_requested = false;
        if let Some(at) = self.alarm_at {
            self.obs.alarms[0].firing = self.obs.elapsed_ms >= at;
        }
    }

    /// Drives `s` until it finishes (at most 1000 calls); the final action.
    pub fn run(&mut self, s: &mut impl Strategy) -> Action {
        for _ in 0..1000 {
            let a = s.next(&self.obs);
            self.actions.push(a.clone());
            self.times.push(self.obs.elapsed_ms);
            if a.is_final() {
                // Asking again repeats the final action.
                assert_eq!(s.next(&self.obs), a, "a finished strategy must repeat its final action");
                return a;
            }
            self.apply(&a);
        }
        panic!("the strategy did not finish in 1000 calls: {:?}", &self.actions[self.actions.len() - 5..]);
    }

    /// The actions other than waits, as short strings (`deploy i1,i2`, `shift 10`, `hook X`).
    pub fn script(&self) -> Vec<String> {
        self.actions
            .iter()
            .map(|a| match a {
                Action::DeployBatch(ids) => format!("deploy {}", ids.join(",")),
                Action::AllowTraffic(ids) => format!("allow {}", ids.join(",")),
                Action::BlockTraffic(ids) => format!("block {}", ids.join(",")),
                Action::ShiftTraffic(p) => format!("shift {p}"),
                Action::Wait(ms) => format!("wait {ms}"),
                Action::RunHook(h) => format!("hook {h}"),
                Action::Succeed => "succeed".into(),
                Action::RollBack(_) => "roll-back".into(),
            })
            .collect()
    }
}
