use super::*;
use crate::alarm::{Comparison, Statistic, TreatMissingData};

const SEED: &str = "applicationName: web
deploymentGroupName: prod
computePlatform: Server
deploymentConfigName: CodeDeployDefault.HalfAtATime
deploymentStyle:
  deploymentType: IN_PLACE
  deploymentOption: WITH_TRAFFIC_CONTROL
loadBalancerInfo:
  targetGroupInfoList: [{name: web-tg}]
alarmConfiguration:
  enabled: true
  ignorePollAlarmFailure: false
  alarms:
    - name: errors-5xx
      metric: router.HTTPCode_Target_5XX_Count
      statistic: Sum
      period: 60
      evaluationPeriods: 3
      comparisonOperator: GreaterThanOrEqualToThreshold
      threshold: 20
      treatMissingData: notBreaching
autoRollbackConfiguration:
  enabled: true
  events: [DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM]
targets:
  driver: local
  settings:
    command: [./server, --port, '{port}']
  instances:
    - web-1
    - id: web-2
      weight: 2
";

fn codes(src: &str) -> Vec<(String, u32, u32)> {
    parse_group(src).diagnostics.iter().map(|d| (d.code.to_string(), d.span.line, d.span.col)).collect()
}

fn first(src: &str, code: &str) -> Diagnostic {
    let p = parse_group(src);
    p.diagnostics.iter().find(|d| d.code == code).cloned().unwrap_or_else(|| panic!("no {code} in {:?}", p.diagnostics))
}

#[test]
fn the_seed_group_reads_as_written() {
    let p = parse_group(SEED);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let g = p.group.unwrap();
    assert_eq!((g.application_name.as_str(), g.deployment_group_name.as_str()), ("web", "prod"));
    assert!(g.with_traffic_control());
    let a = &g.alarm_configuration.alarms[0];
    // "5xx >= 20 over 3 periods of 60 s", datapointsToAlarm defaulting to N.
    assert_eq!((a.statistic, a.period, a.evaluation_periods, a.datapoints_to_alarm), (Statistic::Sum, 60, 3, 3));
    assert_eq!((a.comparison_operator, a.threshold, a.treat_missing_data), (Comparison::GreaterThanOrEqualToThreshold, 20.0, TreatMissingData::NotBreaching));
    assert_eq!(g.targets.instances[1].id, "web-2");
    assert_eq!(g.targets.instances[1].settings, serde_json::json!({"weight": 2}));
    assert_eq!(g.targets.settings["command"][2], "{port}");
    assert_eq!(g.load_balancer_info.unwrap().target_group_info_list[0].name, "web-tg");
    assert!(g.auto_rollback_configuration.on(RollbackEvent::DeploymentStopOnAlarm));
    // The group id is a stable UUID derived from the names.
    assert_eq!(g.deployment_group_id, derived_group_id("web", "prod"));
    assert_eq!(g.deployment_group_id.len(), 36);
    assert_eq!(&g.deployment_group_id[14..15], "8");
}

#[test]
fn platforms_default_their_style() {
    let g = parse_group("applicationName: a\ndeploymentGroupName: b\ncomputePlatform: ECS\ntargets: {driver: local}\n").group.unwrap();
    assert_eq!(g.deployment_style, DeploymentStyle { deployment_type: DeploymentKind::BlueGreen, deployment_option: DeploymentOption::WithTrafficControl });
    let g = parse_group("applicationName: a\ndeploymentGroupName: b\ntargets: {driver: local}\n").group.unwrap();
    assert_eq!(g.deployment_style.deployment_type, DeploymentKind::InPlace);
    assert!(!g.with_traffic_control());
}

#[test]
fn mistakes_are_located_with_a_suggestion() {
    let d = first("applicationName: a\ndeploymentGroupName: b\ndeploymentConfgName: X\ntargets: {driver: local}\n", "W0001");
    assert_eq!((d.span.line, d.span.col), (3, 1));
    assert_eq!(d.help.as_deref(), Some("did you mean `deploymentConfigName`?"));
    let d = first("applicationName: a\ndeploymentGroupName: b\ndeploymentConfigName: CodeDeployDefault.OneAtATim\ntargets: {driver: local}\n", "E2005");
    assert_eq!((d.span.line, d.span.col), (3, 23));
    assert_eq!(d.help.as_deref(), Some("did you mean `CodeDeployDefault.OneAtATime`?"));
    let d = first("applicationName: a\ndeploymentGroupName: b\ncomputePlatform: Lambda\ndeploymentConfigName: CodeDeployDefault.ECSAllAtOnce\ntargets: {driver: local}\n", "E2005");
    assert!(d.message.contains("is for ECS deployments, not Lambda"), "{}", d.message);
    let d = first("applicationName: a\ndeploymentGroupName: b\ncomputePlatform: ecs\ntargets: {driver: local}\n", "E2003");
    assert!(d.help.unwrap().contains("write `ECS`"));
}

#[test]
fn styles_that_cannot_be() {
    assert_eq!(codes("applicationName: a\ndeploymentGroupName: b\ncomputePlatform: ECS\ndeploymentStyle: {deploymentType: IN_PLACE}\ntargets: {driver: local}\n"), [("E2006".into(), 4, 35)]);
    let d = first("applicationName: a\ndeploymentGroupName: b\ndeploymentStyle: {deploymentType: BLUE_GREEN, deploymentOption: WITHOUT_TRAFFIC_CONTROL}\ntargets: {driver: local}\n", "E2006");
    assert!(d.message.contains("needs `WITH_TRAFFIC_CONTROL`"));
    let d = first("applicationName: a\ndeploymentGroupName: b\ndeploymentStyle: {deploymentType: BLUE_GREEN}\nblueGreenDeploymentConfiguration:\n  greenFleetProvisioningOption: {action: DISCOVER_EXISTING}\ntargets: {driver: local, instances: [a]}\n", "E2042");
    assert!(d.help.unwrap().contains("COPY_AUTO_SCALING_GROUP"));
    let w = first("applicationName: a\ndeploymentGroupName: b\nblueGreenDeploymentConfiguration: {}\ntargets: {driver: local}\n", "W2051");
    assert_eq!(w.span.line, 3);
}

#[test]
fn alarms_must_be_cloudwatch_alarms() {
    let alarm = |body: &str| format!("applicationName: a\ndeploymentGroupName: b\nalarmConfiguration:\n  alarms:\n    - {{name: x, metric: m, statistic: Sum, period: 60, evaluationPeriods: 3, comparisonOperator: GreaterThanThreshold, threshold: 1, {body}}}\ntargets: {{driver: local}}\n");
    assert!(parse_group(&alarm("treatMissingData: breaching")).group.is_some());
    assert_eq!(first(&alarm("datapointsToAlarm: 4"), "E2023").message, "`datapointsToAlarm` (4) is more than `evaluationPeriods` (3)");
    let src = "applicationName: a\ndeploymentGroupName: b\nalarmConfiguration:\n  alarms:\n    - {name: x, metric: m, statistic: Summ, period: 45, evaluationPeriods: 3, comparisonOperator: GreaterThanUpperThreshold, threshold: high}\ntargets: {driver: local}\n";
    let p = parse_group(src);
    let got: Vec<&str> = p.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(got, ["E2021", "E2022", "E2024", "E0010"]);
    assert_eq!(p.diagnostics[0].help.as_deref(), Some("did you mean `Sum`?"));
    assert!(p.diagnostics[2].message.contains("anomaly detection band"));
    let d = first(&alarm("treatMissingData: notbreaching"), "E2025");
    assert!(d.help.unwrap().contains("write `notBreaching`"));
    let twice = "applicationName: a\ndeploymentGroupName: b\nalarmConfiguration:\n  alarms:\n    - {name: x, metric: m, statistic: Sum, period: 60, evaluationPeriods: 1, comparisonOperator: GreaterThanThreshold, threshold: 1}\n    - {name: x, metric: m, statistic: p99, period: 60, evaluationPeriods: 1, comparisonOperator: GreaterThanThreshold, threshold: 1}\ntargets: {driver: local}\n";
    assert_eq!(first(twice, "E2027").span.line, 6);
    let missing = first("applicationName: a\ndeploymentGroupName: b\nalarmConfiguration:\n  alarms:\n    - {name: x}\ntargets: {driver: local}\n", "E2020");
    assert!(missing.message.contains("has no `metric`"));
}

#[test]
fn custom_configurations_follow_create_deployment_config() {
    let cfg = |body: &str| format!("applicationName: a\ndeploymentGroupName: b\ncustomDeploymentConfigs:\n  - {body}\ntargets: {{driver: local}}\n");
    assert!(parse_group(&cfg("{deploymentConfigName: Two, minimumHealthyHosts: {type: FLEET_PERCENT, value: 50}}")).group.is_some());
    assert_eq!(first(&cfg("{deploymentConfigName: CodeDeployDefault.Mine, minimumHealthyHosts: {type: HOST_COUNT, value: 1}}"), "E2010").span.line, 4);
    assert!(first(&cfg("{deploymentConfigName: X, minimumHealthyHosts: {type: MOST_CONCURRENCY, value: 1}}"), "E2015").message.contains("OneAtATime only"));
    assert!(first(&cfg("{deploymentConfigName: X, minimumHealthyHosts: {type: FLEET_PERCENT, value: 100}}"), "E2012").message.contains("between 0 and 99"));
    assert!(first(&cfg("{deploymentConfigName: X, zonalConfig: {monitorDurationInSeconds: 60}, minimumHealthyHosts: {type: HOST_COUNT, value: 1}}"), "E2013").message.contains("Availability Zone"));
    assert!(first(&cfg("{deploymentConfigName: X, computePlatform: Lambda, trafficRoutingConfig: {type: TimeBasedLinear, timeBasedLinear: {linearPercentage: 10, linearInterval: 400}}}"), "E2012").message.contains("take 3600 minutes"));
    assert!(first(&cfg("{deploymentConfigName: X, trafficRoutingConfig: {type: AllAtOnce}}"), "E2011").message.contains("for ECS and Lambda"));
}

#[test]
fn targets_and_names_are_checked() {
    let d = first("applicationName: a/b\ndeploymentGroupName: ..\ntargets: {driver: local}\n", "E2002");
    assert!(d.message.contains("contains `/`"), "{}", d.message);
    assert!(parse_group("applicationName: a\ndeploymentGroupName: ..\ntargets: {driver: local}\n").diagnostics[0].message.contains("cannot be `.` or `..`"));
    assert_eq!(codes("applicationName: a\ndeploymentGroupName: b\ntargets: {instances: [x]}\n"), [("E2040".into(), 3, 10)]);
    let dup = parse_group("applicationName: a\ndeploymentGroupName: b\ntargets: {driver: local, instances: [x, x, ../etc]}\n");
    let got: Vec<&str> = dup.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(got, ["E2041", "E2041"]);
    assert_eq!(codes("applicationName: a\ndeploymentGroupName: b\n"), [("E2001".into(), 1, 1)]);
    let ignored = first("applicationName: a\ndeploymentGroupName: b\nserviceRoleArn: arn:aws:iam::1:role/x\ntargets: {driver: local}\n", "W2001");
    assert_eq!(ignored.span.line, 3);
}

#[test]
fn hostile_yaml_is_refused_by_the_shared_reader() {
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    assert_eq!(parse_group(&bomb).diagnostics[0].code, "E0003");
    assert_eq!(parse_group("a: 1\na: 2\n").diagnostics[0].code, "E0002");
    assert_eq!(parse_group("").diagnostics[0].code, "E2000");
    assert_eq!(parse_group("- a\n").diagnostics[0].code, "E2000");
}

#[test]
fn diagnostics_of_a_broken_file_snapshot() {
    let src = "applicationName: web\ndeploymentGroupName: prod\ncomputePlatform: Server\ndeploymentConfigName: HalfAtATime\ndeploymentStyle: {deploymentType: BLUE_GREN}\nalarmConfiguration:\n  alarms:\n    - name: slow\n      metric: router.TargetResponseTime\n      extendedStatistic: p99\n      period: 60\n      evaluationPeriods: 5\n      datapointsToAlarm: 3\n      comparisonOperator: GreaterThanThreshold\n      threshold: 0.5\n      treatMisingData: breaching\nautoRollbackConfiguration: {events: [DEPLOYMENT_FAILED]}\ntargets:\n  driver: local\n";
    let rendered: Vec<String> = parse_group(src).diagnostics.iter().map(|d| d.to_plain("deploy.yml")).collect();
    insta::assert_snapshot!(rendered.join("\n"));
}
