//! `customDeploymentConfigs`: deployment configurations defined in the group file, with the
//! fields of `CreateDeploymentConfig` (user guide "Create a deployment configuration"; API
//! `MinimumHealthyHosts`, `TrafficRoutingConfig`, `TimeBasedCanary`, `TimeBasedLinear`):
//!
//! * `deploymentConfigName`: CodeDeploy's name rule, and not starting with `CodeDeployDefault.`.
//! * `computePlatform`: `Server` (the API's default), `ECS` or `Lambda`.
//! * Server: `minimumHealthyHosts {type: HOST_COUNT | FLEET_PERCENT, value}` — HOST_COUNT any
//!   whole number, FLEET_PERCENT 0..=99; `MOST_CONCURRENCY` only exists in
//!   `CodeDeployDefault.OneAtATime`.
//! * ECS/Lambda: `trafficRoutingConfig {type: TimeBasedCanary | TimeBasedLinear | AllAtOnce, …}`
//!   with percentages 1..=99 ("CodeDeploy only supports … up to 99 percent per increment"), and
//!   intervals in minutes; for Lambda the whole shift must fit in 2880 minutes (limits page).
//! * `zonalConfig` (Availability Zones) has no meaning on one machine and is refused.
//! * kiln extension `kilnStrategy: {uses, with}`: a third-party strategy plugin.

use std::collections::HashSet;

use kiln_spec::model::Spanned;
use kiln_spec::read::{anchor, Ctx, Field};
use kiln_spec::yaml::{Node, NodeKind};

use super::sections::{to_json, uint_in};
use crate::config::{ComputePlatform, DeploymentConfig, MinimumHealthyHosts, Rule, StrategyOverride, TrafficRouting, PREDEFINED_PREFIX};

fn get<'a, 'n>(fields: &'a [Field<'n>], key: &str) -> Option<&'a Field<'n>> {
    fields.iter().find(|f| f.key == key)
}

const KEYS: [&str; 6] = ["deploymentConfigName", "computePlatform", "minimumHealthyHosts", "trafficRoutingConfig", "zonalConfig", "kilnStrategy"];

pub(super) fn custom_configs(cx: &mut Ctx, node: &Node) -> Vec<DeploymentConfig> {
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ if node.is_null() => Vec::new(),
        _ => {
            cx.expected("customDeploymentConfigs", "a list of deployment configurations", node);
            Vec::new()
        }
    };
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for item in items {
        if let Some(c) = custom_config(cx, item) {
            if !names.insert(c.deployment_config_name.clone()) {
                cx.error("E2014", format!("two custom configurations are named `{}`", c.deployment_config_name), anchor(item));
                continue;
            }
            out.push(c);
        }
    }
    out
}

fn custom_config(cx: &mut Ctx, node: &Node) -> Option<DeploymentConfig> {
    let fields = cx.fields(node, "customDeploymentConfigs[]", &KEYS);
    let name = match get(&fields, "deploymentConfigName") {
        Some(f) => {
            let s = cx.string(f.value, "deploymentConfigName")?;
            if !super::check_name(cx, &s, "deploymentConfigName", "E2010") {
                return None;
            }
            if s.value.starts_with(PREDEFINED_PREFIX) {
                cx.error("E2010", format!("`{}` starts with `{PREDEFINED_PREFIX}`, which only CodeDeploy's own configurations may", s.value), s.span).help =
                    Some("choose another name; a predefined configuration is used by naming it in `deploymentConfigName`".into());
                return None;
            }
            s
        }
        None => {
            cx.error("E2010", "a custom configuration has no `deploymentConfigName`".into(), anchor(node));
            return None;
        }
    };
    let platform = match get(&fields, "computePlatform") {
        Some(f) => cx.one_of(f.value, "computePlatform", &[("Server", ComputePlatform::Server), ("ECS", ComputePlatform::Ecs), ("Lambda", ComputePlatform::Lambda)], "E2003")?.value,
        None => ComputePlatform::Server,
    };
    if let Some(f) = get(&fields, "zonalConfig") {
        cx.error("E2013", "`zonalConfig` deploys one Availability Zone at a time; a local deployment has no zones".into(), f.key_node.span).help =
            Some("remove it; `minimumHealthyHosts` still bounds how many instances go at once".into());
        return None;
    }
    let mhh = get(&fields, "minimumHealthyHosts");
    let trc = get(&fields, "trafficRoutingConfig");
    let rule = match (platform, mhh, trc) {
        (ComputePlatform::Server, Some(f), None) => Rule::MinimumHealthyHosts { minimum_healthy_hosts: minimum_healthy_hosts(cx, f.value)? },
        (ComputePlatform::Server, None, None) => {
            cx.error("E2011", format!("the custom configuration `{}` has no `minimumHealthyHosts`", name.value), name.span).help =
                Some("add `minimumHealthyHosts: {type: HOST_COUNT, value: 1}` (or FLEET_PERCENT)".into());
            return None;
        }
        (ComputePlatform::Server, _, Some(f)) => {
            cx.error("E2011", "`trafficRoutingConfig` is for ECS and Lambda configurations".into(), f.key_node.span).help =
                Some("EC2/on-premises configurations say `minimumHealthyHosts`; set `computePlatform: ECS` or `Lambda` for traffic shifting".into());
            return None;
        }
        (_, Some(f), _) => {
            cx.error("E2011", "`minimumHealthyHosts` is for EC2/on-premises configurations".into(), f.key_node.span).help = Some("ECS and Lambda configurations say `trafficRoutingConfig`".into());
            return None;
        }
        (_, None, Some(f)) => Rule::TrafficRouting { traffic_routing_config: traffic_routing(cx, f.value, platform)? },
        (_, None, None) => Rule::TrafficRouting { traffic_routing_config: TrafficRouting::AllAtOnce },
    };
    let kiln_strategy = match get(&fields, "kilnStrategy") {
        Some(f) => Some(strategy_override(cx, f.value)?),
        None => None,
    };
    Some(DeploymentConfig { deployment_config_name: name.value, compute_platform: platform, rule, predefined: false, kiln_strategy })
}

fn minimum_healthy_hosts(cx: &mut Ctx, node: &Node) -> Option<MinimumHealthyHosts> {
    let fields = cx.fields(node, "minimumHealthyHosts", &["type", "value"]);
    #[derive(Clone, Copy)]
    enum T {
        Count,
        Percent,
        Most,
    }
    let t = match get(&fields, "type") {
        Some(f) => cx.one_of(f.value, "minimumHealthyHosts.type", &[("HOST_COUNT", T::Count), ("FLEET_PERCENT", T::Percent), ("MOST_CONCURRENCY", T::Most)], "E2012")?,
        None => {
            cx.error("E2012", "`minimumHealthyHosts` has no `type`".into(), anchor(node)).help = Some("write `type: HOST_COUNT` or `type: FLEET_PERCENT`".into());
            return None;
        }
    };
    let Some(v) = get(&fields, "value") else {
        cx.error("E2012", "`minimumHealthyHosts` has no `value`".into(), anchor(node));
        return None;
    };
    match t.value {
        T::Count => uint_in(cx, v.value, "minimumHealthyHosts.value", 0..=u64::from(u32::MAX), "E2012").map(MinimumHealthyHosts::HostCount),
        T::Percent => uint_in(cx, v.value, "minimumHealthyHosts.value", 0..=99, "E2012").map(MinimumHealthyHosts::FleetPercent),
        T::Most => {
            cx.error("E2015", "`MOST_CONCURRENCY` is the type of CodeDeployDefault.OneAtATime only; a custom configuration cannot use it".into(), t.span).help =
                Some("use `deploymentConfigName: CodeDeployDefault.OneAtATime`, or HOST_COUNT with the fleet size minus one".into());
            None
        }
    }
}

fn traffic_routing(cx: &mut Ctx, node: &Node, platform: ComputePlatform) -> Option<TrafficRouting> {
    let fields = cx.fields(node, "trafficRoutingConfig", &["type", "timeBasedCanary", "timeBasedLinear"]);
    #[derive(Clone, Copy, PartialEq)]
    enum T {
        Canary,
        Linear,
        All,
    }
    let t: Spanned<T> = match get(&fields, "type") {
        Some(f) => cx.one_of(f.value, "trafficRoutingConfig.type", &[("TimeBasedCanary", T::Canary), ("TimeBasedLinear", T::Linear), ("AllAtOnce", T::All)], "E2012")?,
        None => {
            cx.error("E2012", "`trafficRoutingConfig` has no `type`".into(), anchor(node)).help = Some("write `type: TimeBasedCanary`, `TimeBasedLinear` or `AllAtOnce`".into());
            return None;
        }
    };
    let (key, pct_key, int_key) = match t.value {
        T::All => return Some(TrafficRouting::AllAtOnce),
        T::Canary => ("timeBasedCanary", "canaryPercentage", "canaryInterval"),
        T::Linear => ("timeBasedLinear", "linearPercentage", "linearInterval"),
    };
    let Some(section) = get(&fields, key) else {
        cx.error("E2012", format!("`trafficRoutingConfig` of type {} needs `{key}`", if t.value == T::Canary { "TimeBasedCanary" } else { "TimeBasedLinear" }), t.span).help =
            Some(format!("add `{key}: {{{pct_key}: 10, {int_key}: 5}}`"));
        return None;
    };
    let sf = cx.fields(section.value, key, &[pct_key, int_key]);
    let pct = match get(&sf, pct_key) {
        Some(f) => uint_in(cx, f.value, pct_key, 1..=99, "E2012"),
        None => {
            cx.error("E2012", format!("`{key}` has no `{pct_key}`"), anchor(section.value));
            None
        }
    };
    let interval = match get(&sf, int_key) {
        Some(f) => uint_in(cx, f.value, int_key, 1..=2880, "E2012").map(|v| (v, f.value.span)),
        None => {
            cx.error("E2012", format!("`{key}` has no `{int_key}`"), anchor(section.value));
            None
        }
    };
    let (pct, (interval, span)) = (pct?, interval?);
    if t.value == T::Linear && platform == ComputePlatform::Lambda {
        let shifts = 100u32.div_ceil(pct);
        let total = (shifts - 1) * interval;
        if total > 2880 {
            cx.error("E2012", format!("{shifts} shifts {interval} minutes apart take {total} minutes; a Lambda deployment shifts for at most 2880"), span).help =
                Some(format!("use an interval of at most {} minutes, or a larger percentage", 2880 / (shifts - 1).max(1)));
            return None;
        }
    }
    Some(match t.value {
        T::Canary => TrafficRouting::TimeBasedCanary { canary_percentage: pct, canary_interval: interval },
        _ => TrafficRouting::TimeBasedLinear { linear_percentage: pct, linear_interval: interval },
    })
}

fn strategy_override(cx: &mut Ctx, node: &Node) -> Option<StrategyOverride> {
    let fields = cx.fields(node, "kilnStrategy", &["uses", "with"]);
    let Some(u) = get(&fields, "uses") else {
        cx.error("E2016", "`kilnStrategy` has no `uses`".into(), anchor(node)).help = Some("name the strategy plugin: a path to its component or `name@sha256:…`".into());
        return None;
    };
    let uses = cx.string(u.value, "kilnStrategy.uses")?;
    let with = get(&fields, "with").map(|w| to_json(w.value)).unwrap_or(serde_json::Value::Null);
    if !(with.is_null() || with.is_object()) {
        let span = get(&fields, "with").map_or(anchor(node), |w| w.value.span);
        cx.error("E2016", "`kilnStrategy.with` must be a mapping (the plugin's configuration)".into(), span);
        return None;
    }
    Some(StrategyOverride { uses: uses.value, with })
}
