//! The sections of a deployment group file: `deploymentStyle`, `loadBalancerInfo`,
//! `blueGreenDeploymentConfiguration`, `alarmConfiguration` (with the alarms' CloudWatch
//! definitions), `autoRollbackConfiguration` and `targets`.

use std::collections::HashSet;

use kiln_spec::read::{anchor, Ctx, Field};
use kiln_spec::yaml::{Node, NodeKind};

use super::model::*;
use crate::alarm::{check_period, AlarmDef, Comparison, LowSampleCount, Statistic, TreatMissingData};
use crate::config::ComputePlatform;

fn get<'a, 'n>(fields: &'a [Field<'n>], key: &str) -> Option<&'a Field<'n>> {
    fields.iter().find(|f| f.key == key)
}

/// A whole number within `range`, else an error with `code`.
pub(super) fn uint_in(cx: &mut Ctx, node: &Node, what: &str, range: std::ops::RangeInclusive<u64>, code: &'static str) -> Option<u32> {
    let n = cx.uint(node, what)?;
    if !range.contains(&n) {
        cx.error(code, format!("`{what}` is {n}; it must be between {} and {}", range.start(), range.end()), node.span).label = Some("out of range".into());
        return None;
    }
    u32::try_from(n).ok()
}

/// `deploymentStyle`, with the platform's defaults and rules.
pub(super) fn deployment_style(cx: &mut Ctx, field: Option<&Field>, platform: ComputePlatform) -> Option<DeploymentStyle> {
    let fixed = platform != ComputePlatform::Server;
    let Some(f) = field else {
        return Some(if fixed {
            DeploymentStyle { deployment_type: DeploymentKind::BlueGreen, deployment_option: DeploymentOption::WithTrafficControl }
        } else {
            DeploymentStyle { deployment_type: DeploymentKind::InPlace, deployment_option: DeploymentOption::WithoutTrafficControl }
        });
    };
    let fields = cx.fields(f.value, "deploymentStyle", &["deploymentType", "deploymentOption"]);
    let kind = match get(&fields, "deploymentType") {
        Some(t) => cx.one_of(t.value, "deploymentStyle.deploymentType", &[("IN_PLACE", DeploymentKind::InPlace), ("BLUE_GREEN", DeploymentKind::BlueGreen)], "E2004")?,
        None => kiln_spec::model::Spanned::new(if fixed { DeploymentKind::BlueGreen } else { DeploymentKind::InPlace }, anchor(f.value)),
    };
    let option = match get(&fields, "deploymentOption") {
        Some(o) => Some(cx.one_of(o.value, "deploymentStyle.deploymentOption", &[("WITH_TRAFFIC_CONTROL", DeploymentOption::WithTrafficControl), ("WITHOUT_TRAFFIC_CONTROL", DeploymentOption::WithoutTrafficControl)], "E2004")?),
        None => None,
    };
    if fixed && kind.value == DeploymentKind::InPlace {
        cx.error("E2006", format!("{} deployments are blue/green only", platform.describe()), kind.span).help = Some("write `deploymentType: BLUE_GREEN`".into());
        return None;
    }
    let deployment_option = match (kind.value, option) {
        (DeploymentKind::BlueGreen, Some(o)) if o.value == DeploymentOption::WithoutTrafficControl => {
            cx.error("E2006", "a blue/green deployment reroutes traffic, so it needs `WITH_TRAFFIC_CONTROL`".into(), o.span).help =
                Some("write `deploymentOption: WITH_TRAFFIC_CONTROL`, or deploy in place".into());
            return None;
        }
        (DeploymentKind::BlueGreen, _) => DeploymentOption::WithTrafficControl,
        (DeploymentKind::InPlace, Some(o)) => o.value,
        (DeploymentKind::InPlace, None) => DeploymentOption::WithoutTrafficControl,
    };
    Some(DeploymentStyle { deployment_type: kind.value, deployment_option })
}

/// `loadBalancerInfo`: names only.
pub(super) fn load_balancer_info(cx: &mut Ctx, node: &Node) -> LoadBalancerInfo {
    let fields = cx.fields(node, "loadBalancerInfo", &["elbInfoList", "targetGroupInfoList", "targetGroupPairInfoList"]);
    let mut out = LoadBalancerInfo::default();
    for f in &fields {
        match f.key {
            "elbInfoList" => out.elb_info_list = named_list(cx, f.value, "loadBalancerInfo.elbInfoList"),
            "targetGroupInfoList" => out.target_group_info_list = named_list(cx, f.value, "loadBalancerInfo.targetGroupInfoList"),
            _ => {
                for item in seq(cx, f.value, "loadBalancerInfo.targetGroupPairInfoList") {
                    let pf = cx.fields(item, "targetGroupPairInfoList[]", &["targetGroups", "prodTrafficRoute", "testTrafficRoute"]);
                    let target_groups = get(&pf, "targetGroups").map(|g| named_list(cx, g.value, "targetGroupPairInfoList[].targetGroups")).unwrap_or_default();
                    let test_traffic_route = get(&pf, "testTrafficRoute").is_some_and(|t| !t.value.is_null());
                    out.target_group_pair_info_list.push(TargetGroupPair { target_groups, test_traffic_route });
                }
            }
        }
    }
    out
}

fn seq<'n>(cx: &mut Ctx, node: &'n Node, what: &str) -> Vec<&'n Node> {
    match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ if node.is_null() => Vec::new(),
        _ => {
            cx.expected(what, "a list", node);
            Vec::new()
        }
    }
}

fn named_list(cx: &mut Ctx, node: &Node, what: &str) -> Vec<NamedItem> {
    let mut out = Vec::new();
    for item in seq(cx, node, what) {
        let f = cx.fields(item, &format!("{what}[]"), &["name"]);
        if let Some(name) = get(&f, "name").and_then(|n| cx.string(n.value, &format!("{what}[].name"))) {
            out.push(NamedItem { name: name.value });
        }
    }
    out
}

/// `blueGreenDeploymentConfiguration`.
pub(super) fn blue_green(cx: &mut Ctx, node: &Node) -> BlueGreenConfiguration {
    let mut out = BlueGreenConfiguration::default();
    let fields = cx.fields(node, "blueGreenDeploymentConfiguration", &["terminateBlueInstancesOnDeploymentSuccess", "deploymentReadyOption", "greenFleetProvisioningOption"]);
    for f in &fields {
        match f.key {
            "terminateBlueInstancesOnDeploymentSuccess" => {
                let t = cx.fields(f.value, "terminateBlueInstancesOnDeploymentSuccess", &["action", "terminationWaitTimeInMinutes"]);
                let term = &mut out.terminate_blue_instances_on_deployment_success;
                if let Some(a) = get(&t, "action")
                    && let Some(v) = cx.one_of(a.value, "terminateBlueInstancesOnDeploymentSuccess.action", &[("TERMINATE", TerminationAction::Terminate), ("KEEP_ALIVE", TerminationAction::KeepAlive)], "E2004") {
                        term.action = v.value;
                    }
                // The API allows 0..=2880 (the limits page says 2800; kiln takes the API's).
                if let Some(w) = get(&t, "terminationWaitTimeInMinutes").and_then(|w| uint_in(cx, w.value, "terminationWaitTimeInMinutes", 0..=2880, "E2050")) {
                    term.termination_wait_time_in_minutes = w;
                }
            }
            "deploymentReadyOption" => {
                let r = cx.fields(f.value, "deploymentReadyOption", &["actionOnTimeout", "waitTimeInMinutes"]);
                let ready = &mut out.deployment_ready_option;
                if let Some(a) = get(&r, "actionOnTimeout")
                    && let Some(v) = cx.one_of(a.value, "deploymentReadyOption.actionOnTimeout", &[("CONTINUE_DEPLOYMENT", ReadyAction::ContinueDeployment), ("STOP_DEPLOYMENT", ReadyAction::StopDeployment)], "E2004") {
                        ready.action_on_timeout = v.value;
                    }
                // "The maximum is 2 days (2,880 minutes)" for EC2; ECS allows 5 days: kiln allows the larger.
                if let Some(w) = get(&r, "waitTimeInMinutes").and_then(|w| uint_in(cx, w.value, "waitTimeInMinutes", 0..=7200, "E2050")) {
                    ready.wait_time_in_minutes = w;
                }
            }
            _ => {
                let g = cx.fields(f.value, "greenFleetProvisioningOption", &["action"]);
                if let Some(a) = get(&g, "action")
                    && let Some(v) = cx.one_of(a.value, "greenFleetProvisioningOption.action", &[("DISCOVER_EXISTING", GreenFleetAction::DiscoverExisting), ("COPY_AUTO_SCALING_GROUP", GreenFleetAction::CopyAutoScalingGroup)], "E2004") {
                        out.green_fleet_provisioning_option.action = v.value;
                    }
            }
        }
    }
    out
}

/// `alarmConfiguration`.
pub(super) fn alarm_configuration(cx: &mut Ctx, node: &Node) -> AlarmConfiguration {
    let fields = cx.fields(node, "alarmConfiguration", &["enabled", "ignorePollAlarmFailure", "alarms"]);
    let enabled = get(&fields, "enabled").and_then(|f| cx.boolean(f.value, "alarmConfiguration.enabled")).unwrap_or(true);
    let ignore_poll_alarm_failure = get(&fields, "ignorePollAlarmFailure").and_then(|f| cx.boolean(f.value, "alarmConfiguration.ignorePollAlarmFailure")).unwrap_or(false);
    let mut alarms = Vec::new();
    let mut names = HashSet::new();
    if let Some(f) = get(&fields, "alarms") {
        let items = seq(cx, f.value, "alarmConfiguration.alarms");
        if items.len() > 50 {
            cx.error("E2028", format!("{} alarms; a deployment group watches at most 50", items.len()), f.key_node.span);
        }
        for item in items {
            if let Some(a) = alarm(cx, item) {
                if !names.insert(a.name.clone()) {
                    cx.error("E2027", format!("two alarms are named `{}`", a.name), anchor(item)).help = Some("give each alarm its own name".into());
                    continue;
                }
                alarms.push(a);
            }
        }
    }
    AlarmConfiguration { enabled, ignore_poll_alarm_failure, alarms }
}

const ALARM_KEYS: [&str; 12] = [
    "name",
    "metric",
    "metricName",
    "statistic",
    "extendedStatistic",
    "period",
    "evaluationPeriods",
    "datapointsToAlarm",
    "comparisonOperator",
    "threshold",
    "treatMissingData",
    "evaluateLowSampleCountPercentile",
];

/// One alarm: `name` plus its CloudWatch definition.
fn alarm(cx: &mut Ctx, node: &Node) -> Option<AlarmDef> {
    let fields = cx.fields(node, "alarmConfiguration.alarms[]", &ALARM_KEYS);
    let missing = |cx: &mut Ctx, key: &str, help: &str| {
        let d = cx.error("E2020", format!("an alarm has no `{key}`"), anchor(node));
        d.label = Some(format!("`{key}` is required"));
        d.help = Some(help.to_string());
    };
    let name = match get(&fields, "name") {
        Some(f) => cx.string(f.value, "alarms[].name"),
        None => {
            missing(cx, "name", "name the alarm: the record and the rollback reason use it");
            None
        }
    };
    let metric = match (get(&fields, "metric"), get(&fields, "metricName")) {
        (Some(a), Some(b)) => {
            cx.error("E2020", "an alarm has both `metric` and `metricName`".into(), b.key_node.span).help = Some(format!("keep one (they mean the same); `metric` is at line {}", a.key_node.span.line));
            None
        }
        (Some(f), None) | (None, Some(f)) => cx.string(f.value, "alarms[].metric"),
        (None, None) => {
            missing(cx, "metric", "name the metric the alarm watches, e.g. `metric: router.HTTPCode_Target_5XX_Count`");
            None
        }
    };
    let statistic = match (get(&fields, "statistic"), get(&fields, "extendedStatistic")) {
        (Some(_), Some(b)) => {
            cx.error("E2021", "an alarm has both `statistic` and `extendedStatistic`; CloudWatch takes one".into(), b.key_node.span);
            None
        }
        (Some(f), None) | (None, Some(f)) => {
            let s = cx.string(f.value, "alarms[].statistic")?;
            match Statistic::parse(&s.value) {
                Some(st) => Some(st),
                None => {
                    let d = cx.error("E2021", format!("`{}` is not a statistic", crate::strategy::guard::printable(&s.value)), s.span);
                    d.label = Some("expected SampleCount, Average, Sum, Minimum, Maximum or pNN".into());
                    d.help = Some(match kiln_spec::diag::did_you_mean(&s.value, &Statistic::NAMES) {
                        Some(n) => format!("did you mean `{n}`?"),
                        None => "use SampleCount, Average, Sum, Minimum, Maximum, or a percentile such as p99 or p99.9".into(),
                    });
                    None
                }
            }
        }
        (None, None) => {
            missing(cx, "statistic", "say how a period's samples become one datapoint: `statistic: Sum` (or Average, Maximum, p99, …)");
            None
        }
    };
    let period = match get(&fields, "period") {
        Some(f) => cx.uint(f.value, "alarms[].period").and_then(|p| u32::try_from(p).ok()).map(|p| (p, f.value.span)),
        None => {
            missing(cx, "period", "give the period in seconds: 10, 20, 30 or a multiple of 60");
            None
        }
    };
    let evaluation_periods = match get(&fields, "evaluationPeriods") {
        Some(f) => uint_in(cx, f.value, "alarms[].evaluationPeriods", 1..=100_000, "E2023"),
        None => {
            missing(cx, "evaluationPeriods", "say how many periods are evaluated (N of an M out of N alarm)");
            None
        }
    };
    let datapoints_to_alarm = match get(&fields, "datapointsToAlarm") {
        Some(f) => uint_in(cx, f.value, "alarms[].datapointsToAlarm", 1..=100_000, "E2023").map(|m| (m, f.value.span)),
        None => None,
    };
    if let (Some((p, span)), Some(n)) = (period, evaluation_periods)
        && let Err(e) = check_period(p, n) {
            cx.error("E2022", e, span).label = Some("not a CloudWatch period".into());
        }
    if let (Some((m, span)), Some(n)) = (datapoints_to_alarm, evaluation_periods)
        && m > n {
            cx.error("E2023", format!("`datapointsToAlarm` ({m}) is more than `evaluationPeriods` ({n})"), span).help = Some("M out of N needs M ≤ N".into());
        }
    let comparison = match get(&fields, "comparisonOperator") {
        Some(f) => {
            let s = cx.string(f.value, "alarms[].comparisonOperator")?;
            match Comparison::parse(&s.value) {
                Some(c) => Some(c),
                None if Comparison::BAND_OPERATORS.contains(&s.value.as_str()) => {
                    cx.error("E2024", format!("`{}` compares against an anomaly detection band, which needs CloudWatch's model; kiln cannot evaluate it", s.value), s.span).help =
                        Some("use a static threshold with GreaterThanThreshold, GreaterThanOrEqualToThreshold, LessThanThreshold or LessThanOrEqualToThreshold".into());
                    None
                }
                None => {
                    let names: Vec<&str> = Comparison::ALL.iter().map(|c| c.name()).collect();
                    let d = cx.error("E2024", format!("`{}` is not a comparison operator", crate::strategy::guard::printable(&s.value)), s.span);
                    d.help = Some(match kiln_spec::diag::did_you_mean(&s.value, &names) {
                        Some(n) => format!("did you mean `{n}`?"),
                        None => format!("use one of {}", names.join(", ")),
                    });
                    None
                }
            }
        }
        None => {
            missing(cx, "comparisonOperator", "e.g. `comparisonOperator: GreaterThanOrEqualToThreshold`");
            None
        }
    };
    let threshold = match get(&fields, "threshold") {
        Some(f) => match f.value.as_scalar().and_then(|s| s.trim().parse::<f64>().ok()).filter(|v| v.is_finite()) {
            Some(v) => Some(v),
            None => {
                cx.expected("alarms[].threshold", "a number", f.value);
                None
            }
        },
        None => {
            missing(cx, "threshold", "give the value the statistic is compared with, e.g. `threshold: 20`");
            None
        }
    };
    let treat = match get(&fields, "treatMissingData") {
        Some(f) => {
            let pairs: Vec<(&str, TreatMissingData)> = TreatMissingData::NAMES.iter().map(|n| (*n, TreatMissingData::parse(n).unwrap_or_default())).collect();
            cx.one_of(f.value, "alarms[].treatMissingData", &pairs, "E2025")?.value
        }
        None => TreatMissingData::Missing,
    };
    let low = match get(&fields, "evaluateLowSampleCountPercentile") {
        Some(f) => cx.one_of(f.value, "alarms[].evaluateLowSampleCountPercentile", &[("evaluate", LowSampleCount::Evaluate), ("ignore", LowSampleCount::Ignore)], "E2025")?.value,
        None => LowSampleCount::Evaluate,
    };
    let n = evaluation_periods?;
    Some(AlarmDef {
        name: name?.value,
        metric: metric?.value,
        statistic: statistic?,
        period: period?.0,
        evaluation_periods: n,
        datapoints_to_alarm: datapoints_to_alarm.map_or(n, |(m, _)| m.min(n)),
        comparison_operator: comparison?,
        threshold: threshold?,
        treat_missing_data: treat,
        evaluate_low_sample_count_percentile: low,
    })
}

/// `autoRollbackConfiguration`.
pub(super) fn auto_rollback(cx: &mut Ctx, node: &Node) -> AutoRollbackConfiguration {
    let fields = cx.fields(node, "autoRollbackConfiguration", &["enabled", "events"]);
    let enabled = get(&fields, "enabled").and_then(|f| cx.boolean(f.value, "autoRollbackConfiguration.enabled")).unwrap_or(true);
    let mut events = Vec::new();
    let mut written = 0;
    if let Some(f) = get(&fields, "events") {
        let items = seq(cx, f.value, "autoRollbackConfiguration.events");
        written = items.len();
        for item in items {
            let allowed = [
                ("DEPLOYMENT_FAILURE", RollbackEvent::DeploymentFailure),
                ("DEPLOYMENT_STOP_ON_ALARM", RollbackEvent::DeploymentStopOnAlarm),
                ("DEPLOYMENT_STOP_ON_REQUEST", RollbackEvent::DeploymentStopOnRequest),
            ];
            if let Some(e) = cx.one_of(item, "autoRollbackConfiguration.events[]", &allowed, "E2030")
                && !events.contains(&e.value) {
                    events.push(e.value);
                }
        }
    }
    if enabled && written == 0 {
        let span = get(&fields, "events").map_or(anchor(node), |f| f.key_node.span);
        cx.warn("W2031", "automatic rollback is enabled with no events, so nothing triggers it".into(), span).help =
            Some("add `events: [DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM]`".into());
    }
    AutoRollbackConfiguration { enabled, events }
}

/// `targets`.
pub(super) fn targets(cx: &mut Ctx, node: &Node) -> Option<Targets> {
    let fields = cx.fields(node, "targets", &["driver", "settings", "instances", "replacementInstances"]);
    let driver = match get(&fields, "driver") {
        Some(f) => cx.string(f.value, "targets.driver"),
        None => {
            let d = cx.error("E2040", "`targets` has no `driver`".into(), anchor(node));
            d.label = Some("`driver` is required".into());
            d.help = Some("name the driver that reaches the instances: `driver: local` (processes behind kiln's router) or `driver: ssh`".into());
            None
        }
    };
    let settings = get(&fields, "settings").map(|f| to_json(f.value)).unwrap_or(serde_json::Value::Null);
    let mut seen = HashSet::new();
    let instances = get(&fields, "instances").map(|f| instance_list(cx, f.value, "targets.instances", &mut seen)).unwrap_or_default();
    let replacement_instances = get(&fields, "replacementInstances").map(|f| instance_list(cx, f.value, "targets.replacementInstances", &mut seen)).unwrap_or_default();
    Some(Targets { driver: driver?.value, settings, instances, replacement_instances })
}

fn instance_list(cx: &mut Ctx, node: &Node, what: &str, seen: &mut HashSet<String>) -> Vec<InstanceDecl> {
    let mut out = Vec::new();
    for item in seq(cx, node, what) {
        let (id, settings) = match &item.kind {
            NodeKind::Scalar { .. } => (cx.string(item, &format!("{what}[]")), serde_json::Value::Null),
            NodeKind::Map(entries) => {
                let id = entries.iter().find(|(k, _)| k.as_scalar() == Some("id")).and_then(|(_, v)| cx.string(v, &format!("{what}[].id")));
                if !entries.iter().any(|(k, _)| k.as_scalar() == Some("id")) {
                    cx.error("E2040", format!("an entry of `{what}` has no `id`"), anchor(item)).help = Some("write `- id: web-1` (other keys are the driver's settings for it)".into());
                }
                let mut map = serde_json::Map::new();
                for (k, v) in entries {
                    if let Some(k) = k.as_scalar().filter(|k| *k != "id") {
                        map.insert(k.to_string(), to_json(v));
                    }
                }
                (id, serde_json::Value::Object(map))
            }
            _ => {
                cx.expected(&format!("{what}[]"), "an instance id or a mapping with `id`", item);
                (None, serde_json::Value::Null)
            }
        };
        let Some(id) = id else { continue };
        let ok = !id.value.is_empty() && id.value.len() <= 128 && id.value.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) && id.value != "." && id.value != "..";
        if !ok {
            cx.error("E2041", format!("instance id `{}` must be 1 to 128 letters, digits, `.`, `_` or `-`", crate::strategy::guard::printable(&id.value)), id.span).label = Some("invalid id".into());
            continue;
        }
        if !seen.insert(id.value.clone()) {
            cx.error("E2041", format!("instance `{}` is listed twice", id.value), id.span).label = Some("already listed".into());
            continue;
        }
        out.push(InstanceDecl { id: id.value, settings });
    }
    out
}

/// A YAML node as JSON (scalars as strings unless they read as numbers or booleans).
pub(super) fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match &node.kind {
        _ if node.is_null() => Value::Null,
        NodeKind::Scalar { value, plain } => {
            if *plain {
                if let Ok(i) = value.parse::<i64>() {
                    return Value::from(i);
                }
                if let Ok(f) = value.parse::<f64>()
                    && f.is_finite() {
                        return Value::from(f);
                    }
                match value.as_str() {
                    "true" => return Value::Bool(true),
                    "false" => return Value::Bool(false),
                    _ => {}
                }
            }
            Value::String(value.clone())
        }
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => Value::Object(entries.iter().filter_map(|(k, v)| k.as_scalar().map(|k| (k.to_string(), to_json(v)))).collect()),
    }
}
