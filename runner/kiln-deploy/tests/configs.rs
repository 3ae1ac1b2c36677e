//! Every predefined deployment configuration, and CodeDeploy's minimum-healthy-hosts arithmetic,
//! as tables with their sources.

mod common;

use kiln_deploy::config::health::{HealthError, HealthPlan};
use kiln_deploy::config::{predefined, resolve, ComputePlatform, MinimumHealthyHosts, Rule, PREDEFINED};
use serde_json::json;

/// The user guide's three tables ("Working with deployment configurations in CodeDeploy"): every
/// name, its platform, and the strategy plugin kiln runs it with, configured with CodeDeploy's
/// own JSON, which the built-in strategy accepts.
#[test]
fn every_predefined_configuration_resolves_to_its_strategy() {
    use ComputePlatform::{Ecs, Lambda, Server};
    let table = [
        ("CodeDeployDefault.AllAtOnce", Server, "codedeploy-in-place", "Server"),
        ("CodeDeployDefault.HalfAtATime", Server, "codedeploy-in-place", "Server"),
        ("CodeDeployDefault.OneAtATime", Server, "codedeploy-in-place", "Server"),
        ("CodeDeployDefault.ECSLinear10PercentEvery1Minutes", Ecs, "codedeploy-traffic-shift", "ECS"),
        ("CodeDeployDefault.ECSLinear10PercentEvery3Minutes", Ecs, "codedeploy-traffic-shift", "ECS"),
        ("CodeDeployDefault.ECSCanary10Percent5Minutes", Ecs, "codedeploy-traffic-shift", "ECS"),
        ("CodeDeployDefault.ECSCanary10Percent15Minutes", Ecs, "codedeploy-traffic-shift", "ECS"),
        ("CodeDeployDefault.ECSAllAtOnce", Ecs, "codedeploy-traffic-shift", "ECS"),
        ("CodeDeployDefault.LambdaCanary10Percent5Minutes", Lambda, "codedeploy-traffic-shift", "Lambda"),
        ("CodeDeployDefault.LambdaCanary10Percent10Minutes", Lambda, "codedeploy-traffic-shift", "Lambda"),
        ("CodeDeployDefault.LambdaCanary10Percent15Minutes", Lambda, "codedeploy-traffic-shift", "Lambda"),
        ("CodeDeployDefault.LambdaCanary10Percent30Minutes", Lambda, "codedeploy-traffic-shift", "Lambda"),
        ("CodeDeployDefault.LambdaLinear10PercentEvery1Minute", Lambda, "codedeploy-traffic-shift", "Lambda"),
        ("CodeDeployDefault.LambdaLinear10PercentEvery2Minutes", Lambda, "codedeploy-traffic-shift", "Lambda"),
        ("CodeDeployDefault.LambdaLinear10PercentEvery3Minutes", Lambda, "codedeploy-traffic-shift", "Lambda"),
        ("CodeDeployDefault.LambdaLinear10PercentEvery10Minutes", Lambda, "codedeploy-traffic-shift", "Lambda"),
        ("CodeDeployDefault.LambdaAllAtOnce", Lambda, "codedeploy-traffic-shift", "Lambda"),
    ];
    assert_eq!(PREDEFINED.len(), table.len(), "the user guide lists 3 + 5 + 9 configurations");
    for (name, platform, plugin, api) in table {
        let c = resolve(name, platform, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(c.predefined);
        let s = c.strategy(false);
        assert_eq!((s.plugin.as_str(), &s.config), (plugin, &json!({"deploymentConfigName": name, "computePlatform": api})), "{name}");
        // The built-in strategy knows it by that name (the plugins' own table of the user guide).
        common::Builtin::from(&s.plugin, &s.config).unwrap_or_else(|e| panic!("{name}: the built-in strategy refuses its configuration: {e}"));
        if platform == Server {
            let bg = c.strategy(true);
            assert_eq!(bg.plugin, "codedeploy-blue-green");
            common::Builtin::from(&bg.plugin, &bg.config).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        // A configuration is for one platform only.
        for other in [Server, Ecs, Lambda].into_iter().filter(|p| *p != platform) {
            assert!(resolve(name, other, &[]).is_err(), "{name} on {other:?}");
        }
    }
}

/// (rule, instances) → (minimum healthy, largest batch, successes needed), or the error.
#[test]
fn minimum_healthy_hosts_arithmetic_matches_codedeploys_documented_examples() {
    use MinimumHealthyHosts::*;
    let ok = |min: u32, batch: u32, need: u32| Ok::<(u32, u32, u32), HealthError>((min, batch, need));
    type Row = (MinimumHealthyHosts, u32, Result<(u32, u32, u32), HealthError>, &'static str);
    let table: [Row; 14] = [
        // deployment-configurations.html: "Using an example of nine instances, AllAtOnce attempts to
        // deploy to all nine instances at once … succeeds if deployment to even a single instance is successful".
        (predefined_rule("CodeDeployDefault.AllAtOnce"), 9, ok(0, 9, 1), "AllAtOnce, 9 instances"),
        // "HalfAtATime … up to half of the instances at a time (with fractions rounded down) … at least
        // half (with fractions rounded up) … nine instances: up to four at a time … five or more succeed".
        (predefined_rule("CodeDeployDefault.HalfAtATime"), 9, ok(5, 4, 5), "HalfAtATime, 9 instances"),
        (predefined_rule("CodeDeployDefault.HalfAtATime"), 10, ok(5, 5, 5), "HalfAtATime, 10 instances"),
        // "OneAtATime … one instance at a time … For deployment groups that contain only one instance,
        // the overall deployment is successful only if deployment to the single instance is successful".
        (predefined_rule("CodeDeployDefault.OneAtATime"), 10, ok(9, 1, 9), "OneAtATime, 10 instances"),
        (predefined_rule("CodeDeployDefault.OneAtATime"), 1, ok(0, 1, 1), "OneAtATime, 1 instance"),
        // instances-health.html: "10 instances and you set the minimum healthy instances number to 9,
        // CodeDeploy deploys to one instance at a time"; "… to 0, … to every instance at the same time".
        (HostCount(9), 10, ok(9, 1, 9), "HOST_COUNT 9 of 10"),
        (HostCount(8), 10, ok(8, 2, 8), "HOST_COUNT 8 of 10: two at a time"),
        (HostCount(0), 10, ok(0, 10, 1), "HOST_COUNT 0 of 10"),
        // "Minimum healthy instances: 95% … rounds … up to 10 instances … The overall deployment
        // immediately fails without deploying the revision to any instances."
        (FleetPercent(95), 10, Err(HealthError::Invalid { minimum: 10, instances: 10 }), "FLEET_PERCENT 95 of 10"),
        // "if 85% of instances must remain healthy … and the deployment group contains 10 instances,
        // the overall deployment will fail if deployment to even a single instance fails."
        (FleetPercent(85), 10, ok(9, 1, 9), "FLEET_PERCENT 85 of 10"),
        // API reference, MinimumHealthyHosts: "with nine EC2 instances … HOST_COUNT … 6, deploy to up to
        // three instances at a time"; "FLEET_PERCENT … 40, deploy to up to five instances at a time".
        (HostCount(6), 9, ok(6, 3, 6), "HOST_COUNT 6 of 9"),
        (FleetPercent(40), 9, ok(4, 5, 4), "FLEET_PERCENT 40 of 9 (3.6 rounded up)"),
        (HostCount(3), 3, Err(HealthError::Invalid { minimum: 3, instances: 3 }), "HOST_COUNT equal to the fleet"),
        (HostCount(0), 0, Err(HealthError::NoInstances), "no instances"),
    ];
    for (rule, n, expected, what) in table {
        let got = HealthPlan::new(rule, n).map(|h| (h.minimum_healthy, h.max_batch, h.minimum_healthy.max(1)));
        assert_eq!(got, expected, "{what}");
    }
}

/// "If deployment to any of the instances fails, CodeDeploy immediately fails the overall
/// deployment … The exception to this rule is that if the last instance fails, the deployment still
/// succeeds" (minimum 9 of 10), and with 8: "If two of these deployments fail, CodeDeploy immediately
/// fails the overall deployment. The exception … if the last instance is the second to fail".
#[test]
fn when_a_deployment_must_stop_and_when_it_succeeds() {
    let nine = HealthPlan::new(MinimumHealthyHosts::HostCount(9), 10).unwrap();
    assert!(nine.must_stop(1, 5), "one failure with instances left");
    assert!(!nine.must_stop(1, 0), "the last instance failed");
    assert!(nine.succeeded(9));
    assert_eq!(nine.room(1, 0), 0, "no room for another batch after a failure");
    let eight = HealthPlan::new(MinimumHealthyHosts::HostCount(8), 10).unwrap();
    assert!(!eight.must_stop(1, 6));
    assert_eq!(eight.room(1, 0), 1, "after one failure, one at a time");
    assert!(eight.must_stop(2, 4));
    assert!(!eight.must_stop(2, 0) && eight.succeeded(8));
    // "at least one instance must succeed … even if the minimum healthy hosts value is 0".
    let zero = HealthPlan::new(MinimumHealthyHosts::HostCount(0), 3).unwrap();
    assert!(!zero.succeeded(0) && zero.succeeded(1));
}

fn predefined_rule(name: &str) -> MinimumHealthyHosts {
    match predefined(name).unwrap().rule {
        Rule::MinimumHealthyHosts { minimum_healthy_hosts } => minimum_healthy_hosts,
        Rule::TrafficRouting { .. } => unreachable!("{name}"),
    }
}
