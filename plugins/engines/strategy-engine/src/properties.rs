//! Property tests over any configuration, fleet and host behaviour (instances and hooks that
//! fail, an alarm at any time, a deployment-ready wait nobody ends): every action is well formed
//! for the observation it answers, the deployment ends within a bounded number of calls, an
//! in-place batch never takes the healthy instances below the minimum, a success has at least
//! `max(minimum, 1)` instances deployed, and an alarm in ALARM is answered with a roll-back.

use crate::config::{InPlaceConfig, PREDEFINED, Predefined};
use crate::testing::Sim;
use crate::{Action, BlueGreen, FromConfig, InPlace, InstanceSet, Platform, TrafficShift};
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy)]
enum Family {
    InPlace,
    BlueGreen,
    Ecs,
    Lambda,
}

fn names(f: impl Fn(&Predefined) -> bool) -> Vec<&'static str> {
    PREDEFINED.iter().filter(|(_, p)| f(p)).map(|(n, _)| *n).collect()
}

fn server_config() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(names(|p| matches!(p, Predefined::Server(_)))).prop_map(|n| json!({"deploymentConfigName": n})),
        (0u32..14).prop_map(|v| json!({"minimumHealthyHosts": {"type": "HOST_COUNT", "value": v}})),
        (0u32..100).prop_map(|v| json!({"minimumHealthyHosts": {"type": "FLEET_PERCENT", "value": v}})),
    ]
}

fn traffic_config(platform: Platform) -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(names(move |p| matches!(p, Predefined::Traffic(q, _) if *q == platform))).prop_map(|n| json!({"deploymentConfigName": n})),
        (1u32..100, 1u32..5).prop_map(|(p, i)| json!({"trafficRoutingConfig": {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": p, "canaryInterval": i}}})),
        (1u32..100, 1u32..5).prop_map(|(p, i)| json!({"trafficRoutingConfig": {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": p, "linearInterval": i}}})),
        Just(json!({"trafficRoutingConfig": {"type": "AllAtOnce"}})),
    ]
}

/// (family, config JSON)
fn any_config() -> impl Strategy<Value = (Family, Value)> {
    let minute = 1u64..200;
    prop_oneof![
        server_config().prop_map(|c| (Family::InPlace, c)),
        (server_config(), 0u32..4, prop::option::of(0u32..4), minute.clone()).prop_map(|(mut c, term, ready, m)| {
            c["terminateBlueInstancesOnDeploymentSuccess"] = json!({"action": "TERMINATE", "terminationWaitTimeInMinutes": term});
            if let Some(w) = ready {
                c["deploymentReadyOption"] = json!({"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": w});
            }
            c["minuteMs"] = json!(m);
            (Family::BlueGreen, c)
        }),
        (traffic_config(Platform::Ecs), 0u32..3, minute.clone()).prop_map(|(mut c, term, m)| {
            c["terminateBlueInstancesOnDeploymentSuccess"] = json!({"action": "TERMINATE", "terminationWaitTimeInMinutes": term});
            c["minuteMs"] = json!(m);
            (Family::Ecs, c)
        }),
        (traffic_config(Platform::Lambda), minute).prop_map(|(mut c, m)| {
            c["minuteMs"] = json!(m);
            (Family::Lambda, c)
        }),
    ]
}

fn strategy(family: Family, c: &Value) -> Box<dyn crate::Strategy> {
    match family {
        Family::InPlace => Box::new(InPlace::from_config(c).expect("generated configs are valid")),
        Family::BlueGreen => Box::new(BlueGreen::from_config(c).expect("valid")),
        Family::Ecs | Family::Lambda => Box::new(TrafficShift::from_config(c).expect("valid")),
    }
}

fn check_ids(sim: &Sim, ids: &[String], set: Option<InstanceSet>) {
    assert!(!ids.is_empty(), "an empty batch");
    let mut sorted = ids.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "duplicate ids in {ids:?}");
    for id in ids {
        let i = sim.obs.instance(id).unwrap_or_else(|| panic!("unknown id {id}"));
        if let Some(set) = set {
            assert_eq!(i.set, set, "{id} is in the wrong set");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_deployment_is_well_formed_bounded_and_safe(
        (family, config) in any_config(),
        n in 0usize..11,
        unhealthy in prop::collection::vec(any::<bool>(), 11),
        failing in prop::collection::vec(prop::bool::weighted(0.2), 22),
        hook_fails in prop::option::of(0usize..6),
        alarm_at in prop::option::of(0u64..60_000),
    ) {
        let mut sim = match family {
            Family::InPlace => Sim::in_place(n),
            Family::BlueGreen => Sim::blue_green(n),
            Family::Ecs => Sim::traffic(Platform::Ecs),
            Family::Lambda => Sim::traffic(Platform::Lambda),
        };
        for (i, inst) in sim.obs.instances.iter_mut().enumerate() {
            if inst.set == InstanceSet::Original && unhealthy[i % 11] {
                inst.healthy = false;
            }
        }
        sim.fail_instances = sim.obs.instances.iter().enumerate().filter(|(i, _)| failing[*i % 22]).map(|(_, i)| i.id.clone()).collect();
        let hooks = ["BeforeInstall", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"];
        sim.fail_hooks = hook_fails.map(|h| vec![hooks[h].to_string()]).unwrap_or_default();
        sim.alarm_at = alarm_at;
        let min = match family {
            Family::InPlace => InPlaceConfig::from_json(&config).unwrap().minimum.resolve(n).0,
            _ => 0,
        };
        let mut s = strategy(family, &config);
        let mut shifted = 0u8;
        let mut end = None;
        for _ in 0..2000 {
            let alarm = sim.obs.firing_alarm().is_some();
            let a = s.next(&sim.obs);
            if alarm {
                prop_assert!(matches!(a, Action::RollBack(_)), "an alarm is firing, but the answer is {a:?}");
            }
            match &a {
                Action::DeployBatch(ids) => {
                    let set = match family { Family::InPlace => InstanceSet::Original, _ => InstanceSet::Replacement };
                    check_ids(&sim, ids, Some(set));
                    if let Family::InPlace = family {
                        let healthy = sim.obs.instances.iter().filter(|i| i.healthy).count();
                        let taken = ids.iter().filter(|id| sim.obs.instance(id).is_some_and(|i| i.healthy)).count();
                        prop_assert!(taken == 0 || healthy - taken >= min, "{healthy} healthy, {taken} taken offline, minimum {min}");
                    }
                }
                Action::AllowTraffic(ids) => check_ids(&sim, ids, Some(InstanceSet::Replacement)),
                Action::BlockTraffic(ids) => check_ids(&sim, ids, Some(InstanceSet::Original)),
                Action::ShiftTraffic(p) => {
                    prop_assert!(*p <= 100 && *p > shifted, "shift to {p} after {shifted}");
                    shifted = *p;
                }
                Action::Wait(ms) => prop_assert!(*ms >= 1),
                Action::RunHook(h) => prop_assert!(hooks.contains(&h.as_str())),
                Action::Succeed => {
                    if let Family::InPlace = family {
                        let deployed = sim.obs.instances.iter().filter(|i| sim.obs.is_deployed(i)).count();
                        prop_assert!(deployed >= min.max(1), "succeeded with {deployed} deployed, minimum {min}");
                    }
                    if matches!(family, Family::Ecs | Family::Lambda) {
                        prop_assert_eq!(shifted, 100);
                    }
                }
                Action::RollBack(why) => prop_assert!(!why.trim().is_empty()),
            }
            if a.is_final() {
                end = Some(a);
                break;
            }
            sim.apply(&a);
        }
        prop_assert!(end.is_some(), "no end after 2000 calls: {:?}", &sim.actions);
    }
}
