//! The built-in deploy strategies on arbitrary input: the first line is a configuration (any
//! JSON), the rest drives a host that reports an arbitrary fleet, arbitrary outcomes, alarms and
//! time. Parsing never panics; a strategy never panics, never answers after its final action
//! anything but that action, and names only instances the observation has.
#![no_main]

use kiln_strategy_engine::{Action, Alarm, BlueGreen, DeploymentType, FromConfig, InPlace, Instance, InstanceSet, Observation, Platform, Strategy, TrafficShift};
use libfuzzer_sys::fuzz_target;

fn observation(b: &[u8]) -> Observation {
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let n = (at(2) % 9) as usize;
    let instances = (0..n)
        .map(|i| {
            let bits = at(3 + i);
            Instance {
                id: format!("i{i}"),
                set: if bits & 1 == 0 { InstanceSet::Original } else { InstanceSet::Replacement },
                revision: ["", "v1", "v2"][(bits as usize >> 1) % 3].into(),
                healthy: bits & 8 != 0,
                in_service: bits & 16 != 0,
            }
        })
        .collect();
    Observation {
        platform: [Platform::Server, Platform::Ecs, Platform::Lambda][at(0) as usize % 3],
        deployment_type: if at(1) & 1 == 0 { DeploymentType::InPlace } else { DeploymentType::BlueGreen },
        elapsed_ms: 0,
        target_revision: "v2".into(),
        instances,
        alarms: vec![Alarm { name: "a".into(), firing: false }],
        traffic_to_target: 0,
        continue_requested: false,
        last_action: None,
    }
}

fn drive(mut s: impl Strategy, script: &[u8]) {
    let mut obs = observation(script);
    let mut last: Option<Action> = None;
    for step in script.chunks(3).take(200) {
        let a = s.next(&obs);
        if let Some(l) = &last {
            assert_eq!(&a, l, "a finished strategy answered something else");
        }
        if let Action::DeployBatch(ids) | Action::AllowTraffic(ids) | Action::BlockTraffic(ids) = &a {
            assert!(!ids.is_empty() && ids.iter().all(|id| obs.instance(id).is_some()), "{a:?}");
        }
        if let Action::ShiftTraffic(p) = a {
            assert!(p <= 100);
        }
        if a.is_final() {
            last = Some(a);
        }
        let byte = |i: usize| step.get(i).copied().unwrap_or(0);
        obs.elapsed_ms = obs.elapsed_ms.saturating_add(byte(0) as u64 * 997);
        obs.last_action = match byte(1) % 3 {
            0 => None,
            1 => Some(Ok(())),
            _ => Some(Err("failed".into())),
        };
        obs.alarms[0].firing = byte(2) & 1 == 1;
        obs.continue_requested = byte(2) & 2 == 2;
        obs.traffic_to_target = byte(2) % 101;
        let k = byte(1) as usize;
        if let Some(i) = obs.instances.get_mut(k % 9) {
            i.healthy = byte(2) & 4 == 4;
            i.in_service = byte(2) & 8 == 8;
            i.revision = if byte(2) & 16 == 16 { "v2".into() } else { "v1".into() };
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (head, rest) = data.split_at(split);
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(head) else { return };
    if let Ok(s) = InPlace::from_config(&config) {
        drive(s, rest);
    }
    if let Ok(s) = BlueGreen::from_config(&config) {
        drive(s, rest);
    }
    if let Ok(s) = TrafficShift::from_config(&config) {
        drive(s, rest);
    }
});
