//! The exact shift schedules of every predefined ECS and Lambda configuration, the hooks around
//! them, and the roll-backs.

use super::*;
use crate::Strategy;
use crate::config::PREDEFINED;
use crate::testing::Sim;

fn strategy(config: serde_json::Value) -> TrafficShift {
    TrafficShift::new(TrafficShiftConfig::from_json(&config).unwrap())
}

fn named(name: &str) -> TrafficShift {
    strategy(serde_json::json!({"deploymentConfigName": name}))
}

/// Runs a clean deployment; the shifts as (minutes after the first shift completed, percent).
/// The simulated host takes 10 ms per shift, so the first completes at its answer + 10 ms.
fn shifts(platform: Platform, mut s: TrafficShift) -> (Vec<(f64, u8)>, Vec<String>) {
    let mut sim = Sim::traffic(platform);
    assert_eq!(sim.run(&mut s), Action::Succeed, "{:?}", sim.script());
    let mut t0 = None;
    let mut out = Vec::new();
    for (a, at) in sim.actions.iter().zip(&sim.times) {
        if let Action::ShiftTraffic(p) = a {
            let t = *t0.get_or_insert(at + 10);
            out.push(((*at as f64 - t as f64).max(0.0) / 60_000.0, *p));
        }
    }
    let script = sim.script().into_iter().filter(|s| !s.starts_with("wait")).collect();
    (out, script)
}

fn minutes(pairs: &[(u32, u8)]) -> Vec<(f64, u8)> {
    pairs.iter().map(|(m, p)| (*m as f64, *p)).collect()
}

#[test]
fn every_predefined_ecs_and_lambda_configuration_shifts_on_the_user_guides_schedule() {
    // The user guide's tables, one row each:
    let want: &[(&str, &[(u32, u8)])] = &[
        // "Shifts all traffic to the updated Amazon ECS container at once."
        ("CodeDeployDefault.ECSAllAtOnce", &[(0, 100)]),
        // "Shifts 10 percent of traffic every minute until all traffic is shifted."
        ("CodeDeployDefault.ECSLinear10PercentEvery1Minutes", &[(0, 10), (1, 20), (2, 30), (3, 40), (4, 50), (5, 60), (6, 70), (7, 80), (8, 90), (9, 100)]),
        // "Shifts 10 percent of traffic every three minutes until all traffic is shifted."
        ("CodeDeployDefault.ECSLinear10PercentEvery3Minutes", &[(0, 10), (3, 20), (6, 30), (9, 40), (12, 50), (15, 60), (18, 70), (21, 80), (24, 90), (27, 100)]),
        // "Shifts 10 percent of traffic in the first increment. The remaining 90 percent is
        // deployed five minutes later."
        ("CodeDeployDefault.ECSCanary10Percent5Minutes", &[(0, 10), (5, 100)]),
        ("CodeDeployDefault.ECSCanary10Percent15Minutes", &[(0, 10), (15, 100)]),
        // "Shifts all traffic to the updated Lambda functions at once."
        ("CodeDeployDefault.LambdaAllAtOnce", &[(0, 100)]),
        ("CodeDeployDefault.LambdaCanary10Percent5Minutes", &[(0, 10), (5, 100)]),
        // "... The remaining 90 percent is deployed 10 minutes later."
        ("CodeDeployDefault.LambdaCanary10Percent10Minutes", &[(0, 10), (10, 100)]),
        ("CodeDeployDefault.LambdaCanary10Percent15Minutes", &[(0, 10), (15, 100)]),
        ("CodeDeployDefault.LambdaCanary10Percent30Minutes", &[(0, 10), (30, 100)]),
        // "Shifts 10 percent of traffic every minute until all traffic is shifted."
        ("CodeDeployDefault.LambdaLinear10PercentEvery1Minute", &[(0, 10), (1, 20), (2, 30), (3, 40), (4, 50), (5, 60), (6, 70), (7, 80), (8, 90), (9, 100)]),
        // "... every two minutes ..."
        ("CodeDeployDefault.LambdaLinear10PercentEvery2Minutes", &[(0, 10), (2, 20), (4, 30), (6, 40), (8, 50), (10, 60), (12, 70), (14, 80), (16, 90), (18, 100)]),
        ("CodeDeployDefault.LambdaLinear10PercentEvery3Minutes", &[(0, 10), (3, 20), (6, 30), (9, 40), (12, 50), (15, 60), (18, 70), (21, 80), (24, 90), (27, 100)]),
        // "... every 10 minutes ..."
        ("CodeDeployDefault.LambdaLinear10PercentEvery10Minutes", &[(0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 60), (60, 70), (70, 80), (80, 90), (90, 100)]),
    ];
    let traffic: Vec<&str> = PREDEFINED.iter().map(|(n, _)| *n).filter(|n| n.contains("ECS") || n.contains("Lambda")).collect();
    assert_eq!(traffic, want.iter().map(|(n, _)| *n).collect::<Vec<_>>(), "every predefined traffic configuration is checked");
    for (name, schedule) in want {
        let platform = if name.contains("ECS") { Platform::Ecs } else { Platform::Lambda };
        let (got, _) = shifts(platform, named(name));
        assert_eq!(got, minutes(schedule), "{name}");
    }
}

#[test]
fn the_hooks_run_in_codedeploys_order_around_the_shift() {
    let (_, script) = shifts(Platform::Ecs, named("CodeDeployDefault.ECSCanary10Percent5Minutes"));
    assert_eq!(
        script,
        [
            "hook BeforeInstall",
            "deploy green",
            "hook AfterInstall",
            "hook AllowTestTraffic",
            "hook AfterAllowTestTraffic",
            "hook BeforeAllowTraffic",
            "shift 10",
            "shift 100",
            "hook AfterAllowTraffic",
            "succeed"
        ]
    );
    let (_, script) = shifts(Platform::Lambda, named("CodeDeployDefault.LambdaLinear10PercentEvery1Minute"));
    assert_eq!(script.first().map(String::as_str), Some("deploy green"));
    assert_eq!(script[1], "hook BeforeAllowTraffic");
    assert_eq!(script[12..], ["hook AfterAllowTraffic", "succeed"]);
    // A Lambda version the host started already is not deployed again.
    let mut sim = Sim::traffic(Platform::Lambda).installed();
    sim.run(&mut named("CodeDeployDefault.LambdaAllAtOnce"));
    assert_eq!(sim.script(), ["hook BeforeAllowTraffic", "shift 100", "hook AfterAllowTraffic", "succeed"]);
}

#[test]
fn custom_canary_and_linear_with_odd_percentages() {
    // Linear 30 % every 2 minutes: 30, 60, 90, then the remaining 10 one interval later.
    let s = strategy(serde_json::json!({"trafficRoutingConfig": {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 30, "linearInterval": 2}}}));
    assert_eq!(shifts(Platform::Ecs, s).0, minutes(&[(0, 30), (2, 60), (4, 90), (6, 100)]));
    let s = strategy(serde_json::json!({"trafficRoutingConfig": {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 1, "canaryInterval": 7}}}));
    assert_eq!(shifts(Platform::Lambda, s).0, minutes(&[(0, 1), (7, 100)]));
    let s = strategy(serde_json::json!({"trafficRoutingConfig": {"type": "AllAtOnce"}}));
    assert_eq!(shifts(Platform::Lambda, s).0, minutes(&[(0, 100)]));
    // minuteMs scales every interval (tests and demos).
    let s = strategy(serde_json::json!({"deploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes", "minuteMs": 100}));
    let mut sim = Sim::traffic(Platform::Lambda);
    sim.run(&mut { s });
    assert!(sim.actions.contains(&Action::Wait(500)), "{:?}", sim.script());
}

#[test]
fn an_alarm_during_the_canary_rolls_back_at_the_next_call() {
    let mut s = named("CodeDeployDefault.LambdaCanary10Percent5Minutes");
    let mut sim = Sim::traffic(Platform::Lambda);
    for _ in 0..3 {
        sim.once(&mut s);
    }
    assert_eq!(sim.script(), ["deploy green", "hook BeforeAllowTraffic", "shift 10"]);
    // The canary's wait: five minutes from the shift.
    assert_eq!(s.next(&sim.obs), Action::Wait(300_000));
    // The host calls early because the alarm changed state.
    sim.obs.elapsed_ms += 20_000;
    sim.obs.alarms[0].firing = true;
    let a = s.next(&sim.obs);
    assert!(matches!(&a, Action::RollBack(m) if m.contains("alarm 5xx is in ALARM")), "{a:?}");
    sim.obs.alarms[0].firing = false;
    assert_eq!(s.next(&sim.obs), a, "finished: the roll-back is repeated");
    // Called early without a change: the rest of the wait.
    let mut s = named("CodeDeployDefault.LambdaCanary10Percent5Minutes");
    let mut sim = Sim::traffic(Platform::Lambda);
    for _ in 0..3 {
        sim.once(&mut s);
    }
    assert_eq!(s.next(&sim.obs), Action::Wait(300_000));
    sim.obs.elapsed_ms += 60_000;
    assert_eq!(s.next(&sim.obs), Action::Wait(240_000));
}

#[test]
fn a_failed_hook_or_install_rolls_back() {
    for hook in ["BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"] {
        let mut sim = Sim::traffic(Platform::Ecs);
        sim.fail_hooks = vec![hook.into()];
        let end = sim.run(&mut named("CodeDeployDefault.ECSLinear10PercentEvery1Minutes"));
        assert!(matches!(&end, Action::RollBack(m) if m.contains(&format!("lifecycle event {hook} failed: hook {hook} failed: exit status 1"))), "{hook}: {end:?}");
        let shifted = sim.actions.iter().any(|a| matches!(a, Action::ShiftTraffic(_)));
        assert_eq!(shifted, hook == "AfterAllowTraffic", "{hook}: traffic moves only once BeforeAllowTraffic passed");
    }
    let mut sim = Sim::traffic(Platform::Ecs).failing(&["green"]);
    let end = sim.run(&mut named("CodeDeployDefault.ECSAllAtOnce"));
    assert!(matches!(&end, Action::RollBack(m) if m.contains("failed to install on green")), "{end:?}");
}

#[test]
fn the_ecs_termination_wait_keeps_the_original_task_set() {
    let s = strategy(serde_json::json!({"deploymentConfigName": "CodeDeployDefault.ECSAllAtOnce", "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 10}, "minuteMs": 1000}));
    let mut sim = Sim::traffic(Platform::Ecs);
    sim.run(&mut { s });
    let script = sim.script();
    assert_eq!(script[script.len() - 3..], ["hook AfterAllowTraffic", "wait 10000", "succeed"]);
}

#[test]
fn mismatched_platforms_are_refused_before_anything_moves() {
    let mut sim = Sim::traffic(Platform::Ecs);
    let end = sim.run(&mut named("CodeDeployDefault.LambdaCanary10Percent5Minutes"));
    assert!(matches!(&end, Action::RollBack(m) if m.contains("is a Lambda configuration; this is an ECS deployment")), "{end:?}");
    assert_eq!(sim.actions.len(), 1);
    let mut sim = Sim::in_place(2);
    assert!(matches!(sim.run(&mut named("CodeDeployDefault.ECSAllAtOnce")), Action::RollBack(m) if m.contains("EC2/on-premises")));
    let mut sim = Sim::new(Platform::Lambda, DeploymentType::BlueGreen, Vec::new());
    assert!(matches!(sim.run(&mut named("CodeDeployDefault.LambdaAllAtOnce")), Action::RollBack(m) if m.contains("no replacement function version")));
}

#[test]
fn a_resumed_deployment_goes_on_from_the_traffic_it_has() {
    // Killed at 40 % of a 10 %-per-minute linear: a new strategy instance skips 10..30, shifts
    // 40 at once (the host keeps it where it is) and 50 one interval later.
    let mut s = named("CodeDeployDefault.LambdaLinear10PercentEvery1Minute");
    let mut sim = Sim::traffic(Platform::Lambda).installed();
    sim.obs.traffic_to_target = 40;
    assert_eq!(sim.run(&mut s), Action::Succeed, "{:?}", sim.script());
    let shifts: Vec<u8> = sim.actions.iter().filter_map(|a| if let Action::ShiftTraffic(p) = a { Some(*p) } else { None }).collect();
    assert_eq!(shifts, [40, 50, 60, 70, 80, 90, 100]);
    let first = sim.actions.iter().position(|a| matches!(a, Action::ShiftTraffic(_))).unwrap();
    assert!(!matches!(sim.actions[first - 1], Action::Wait(_)), "40 % is due at once: {:?}", sim.script());
    // At 10 % of a canary: 10 again, then the rest after the interval.
    let mut s = named("CodeDeployDefault.LambdaCanary10Percent5Minutes");
    let mut sim = Sim::traffic(Platform::Lambda).installed();
    sim.obs.traffic_to_target = 10;
    assert_eq!(sim.run(&mut s), Action::Succeed);
    let shifts: Vec<u8> = sim.actions.iter().filter_map(|a| if let Action::ShiftTraffic(p) = a { Some(*p) } else { None }).collect();
    assert_eq!(shifts, [10, 100]);
}
