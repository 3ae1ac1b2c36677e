//! Parsing CodeDeploy's configuration JSON: every predefined name, custom settings, and the
//! errors a user sees for a wrong one.

use super::*;
use serde_json::json;

fn in_place(v: serde_json::Value) -> Result<InPlaceConfig, String> {
    InPlaceConfig::from_json(&v)
}

fn traffic(v: serde_json::Value) -> Result<TrafficShiftConfig, String> {
    TrafficShiftConfig::from_json(&v)
}

fn blue_green(v: serde_json::Value) -> Result<BlueGreenConfig, String> {
    BlueGreenConfig::from_json(&v)
}

#[test]
fn every_predefined_name_parses_for_its_family() {
    assert_eq!(PREDEFINED.len(), 3 + 5 + 9, "the user guide lists 3 EC2, 5 ECS and 9 Lambda configurations");
    for (name, p) in PREDEFINED {
        let v = json!({ "deploymentConfigName": name });
        match p {
            Predefined::Server(m) => {
                assert_eq!(in_place(v.clone()).unwrap().minimum, *m, "{name}");
                assert!(traffic(v).unwrap_err().contains("is an EC2/on-premises configuration"), "{name}");
            }
            Predefined::Traffic(platform, r) => {
                let c = traffic(v.clone()).unwrap();
                assert_eq!((c.platform, c.routing), (Some(*platform), *r), "{name}");
                assert!(in_place(v).unwrap_err().contains(&format!("is {} configuration", platform.a())), "{name}");
            }
        }
    }
}

#[test]
fn half_at_a_time_and_one_at_a_time_resolve_like_the_user_guide() {
    // HalfAtATime: "up to half of the instances at a time (with fractions rounded down)" and
    // success with "at least half of the instances (with fractions rounded up)".
    for n in 1..=12 {
        assert_eq!(MinimumHealthy::FleetPercent(50).resolve(n), (n.div_ceil(2), n / 2), "{n}");
        assert_eq!(MinimumHealthy::OneAtATime.resolve(n), (n - 1, 1), "{n}");
        assert_eq!(MinimumHealthy::HostCount(0).resolve(n), (0, n), "{n}");
    }
    // FLEET_PERCENT rounds up: 95 % of 10 is 10 ("rounds the minimum healthy instances number up
    // to 10 instances").
    assert_eq!(MinimumHealthy::FleetPercent(95).resolve(10), (10, 0));
    assert_eq!(MinimumHealthy::FleetPercent(40).resolve(9), (4, 5));
    assert_eq!(MinimumHealthy::HostCount(6).resolve(9), (6, 3));
    assert_eq!(MinimumHealthy::HostCount(12).resolve(9), (12, 0));
}

#[test]
fn custom_settings_and_the_default() {
    assert_eq!(in_place(json!({})).unwrap(), ServerConfig { name: "CodeDeployDefault.OneAtATime".into(), minimum: MinimumHealthy::OneAtATime });
    let c = in_place(json!({"deploymentConfigName": "TwoDown", "computePlatform": "Server", "minimumHealthyHosts": {"type": "HOST_COUNT", "value": 2}})).unwrap();
    assert_eq!(c, ServerConfig { name: "TwoDown".into(), minimum: MinimumHealthy::HostCount(2) });
    let c = traffic(json!({"trafficRoutingConfig": {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 25, "linearInterval": 720}}, "minuteMs": 5})).unwrap();
    assert_eq!(c.routing, TrafficRouting::Linear { percentage: 25, interval: 720 });
    assert_eq!(c.routing.schedule(c.minute_ms), vec![(0, 25), (3600, 50), (7200, 75), (10800, 100)]);
    assert_eq!(traffic(json!({})).unwrap().routing, TrafficRouting::AllAtOnce);
    let b = blue_green(json!({"deploymentConfigName": "CodeDeployDefault.HalfAtATime", "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 60}, "deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 30}})).unwrap();
    assert_eq!(b.termination, Termination::Terminate { wait_ms: 3_600_000 });
    assert_eq!(b.ready_wait_ms, Some(1_800_000));
    let b = blue_green(json!({"deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"}, "terminateBlueInstancesOnDeploymentSuccess": {"action": "KEEP_ALIVE"}})).unwrap();
    assert_eq!((b.ready_wait_ms, b.termination), (None, Termination::KeepAlive));
}

#[test]
fn wrong_configurations_say_what_is_wrong() {
    let cases: Vec<(Result<(), String>, &str)> = vec![
        (in_place(json!({"deploymentConfigName": "CodeDeployDefault.ECSCanary10percent5Minutes"})).map(drop), "did you mean `CodeDeployDefault.ECSCanary10Percent5Minutes`?"),
        (in_place(json!({"deploymentConfigName": "CodeDeployDefault.Fast"})).map(drop), "the predefined configurations are CodeDeployDefault.AllAtOnce"),
        (in_place(json!({"deploymentConfigName": "Mine"})).map(drop), "`Mine` is not predefined, so minimumHealthyHosts must say what it is"),
        (in_place(json!({"minimumHealthyHosts": {"type": "FLEET_PERCENT", "value": 100}})).map(drop), "minimumHealthyHosts.value: FLEET_PERCENT must be 0-99, got 100"),
        (in_place(json!({"minimumHealthyHosts": {"type": "HOST_COUNT", "value": -1}})).map(drop), "HOST_COUNT must be 0 or more, got -1"),
        (in_place(json!({"minimumHealthyHosts": {"type": "PERCENT", "value": 1}})).map(drop), "`PERCENT` is not HOST_COUNT or FLEET_PERCENT"),
        (in_place(json!({"minimumHealthyHosts": {"type": "MOST_CONCURRENCY", "value": 1}})).map(drop), "name that configuration instead"),
        (in_place(json!({"deploymentConfigName": "CodeDeployDefault.AllAtOnce", "minimumHealthyHosts": {"type": "HOST_COUNT", "value": 1}})).map(drop), "not both"),
        (in_place(json!({"minimumHealthyHost": {}})).map(drop), "unknown field `minimumHealthyHost`"),
        (in_place(json!({"computePlatform": "ECS"})).map(drop), "not ECS"),
        (in_place(json!({"minuteMs": 10})).map(drop), "minuteMs: is a blue/green setting"),
        (in_place(json!({"zonalConfig": {"monitorDurationInSeconds": 60}})).map(drop), "zonalConfig: kiln deploys to one machine's instances"),
        (traffic(json!({"trafficRoutingConfig": {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 100, "canaryInterval": 5}}})).map(drop), "canaryPercentage: must be 1-99"),
        (traffic(json!({"trafficRoutingConfig": {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 10, "linearInterval": 0}}})).map(drop), "linearInterval: must be 1-2880 minutes, got 0"),
        (traffic(json!({"trafficRoutingConfig": {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 2881}}})).map(drop), "must be 1-2880 minutes, got 2881"),
        (traffic(json!({"trafficRoutingConfig": {"type": "TimeBasedCanary"}})).map(drop), "needs timeBasedCanary"),
        (traffic(json!({"trafficRoutingConfig": {"type": "AllAtOnce", "timeBasedLinear": {"linearPercentage": 10, "linearInterval": 1}}})).map(drop), "timeBasedLinear does not go with type AllAtOnce"),
        (traffic(json!({"trafficRoutingConfig": {"type": "Linear"}})).map(drop), "`Linear` is not AllAtOnce, TimeBasedCanary or TimeBasedLinear"),
        (traffic(json!({"deploymentConfigName": "CodeDeployDefault.ECSAllAtOnce", "computePlatform": "Lambda"})).map(drop), "is an ECS configuration, but computePlatform says Lambda"),
        (traffic(json!({"minimumHealthyHosts": {"type": "HOST_COUNT", "value": 1}})).map(drop), "takes trafficRoutingConfig"),
        (traffic(json!({"deploymentConfigName": "CodeDeployDefault.LambdaAllAtOnce", "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 5}})).map(drop), "a Lambda deployment keeps no original task set"),
        (traffic(json!({"minuteMs": 0})).map(drop), "minuteMs: must be at least 1"),
        (blue_green(json!({"terminateBlueInstancesOnDeploymentSuccess": {"action": "DELETE"}})).map(drop), "`DELETE` is not TERMINATE or KEEP_ALIVE"),
        (blue_green(json!({"terminateBlueInstancesOnDeploymentSuccess": {"action": "KEEP_ALIVE", "terminationWaitTimeInMinutes": 5}})).map(drop), "KEEP_ALIVE keeps the originals"),
        (blue_green(json!({"deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 3000}})).map(drop), "waitTimeInMinutes: must be 0-2880 minutes"),
        (blue_green(json!({"trafficRoutingConfig": {"type": "AllAtOnce"}})).map(drop), "trafficRoutingConfig: is for ECS and Lambda"),
    ];
    for (got, want) in cases {
        let e = got.expect_err(want);
        assert!(e.contains(want), "`{e}` does not contain `{want}`");
    }
}
