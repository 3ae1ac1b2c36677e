//! ECS and Lambda AppSpecs: `Resources` (one ECS service or one Lambda function) and `Hooks`.
//!
//! Sources: user guide "AppSpec 'resources' section (Amazon ECS and AWS Lambda deployments
//! only)": ECS `TaskDefinition`, `ContainerName`, `ContainerPort` required ("Each property is
//! specified with a string except for ContainerPort, which is a number"), `PlatformVersion`
//! optional (LATEST), `NetworkConfiguration.AwsvpcConfiguration` ("All or none of the settings
//! … must be specified"; AssignPublicIp "ENABLED and DISABLED"), `CapacityProviderStrategy`;
//! Lambda `name`, `alias`, `currentversion`, `targetversion` required ("The value must be a
//! valid positive integer" for the versions). The AppSpec Assistant
//! (aws-samples/aws-codedeploy-appspec-assistant, `validateEcs.go`, `validateLambda.go`) allows
//! one resource. The ECS API's CapacityProviderStrategyItem: at most 6 providers, `base`
//! 0..=100000 on at most one provider, `weight` 0..=1000, at least one weight above 0 when
//! there are several.
//!
//! kiln proposals: the resource's logical name is free-form for ECS as for Lambda (the user
//! guide writes `TargetService`, but says nothing requires it); `ContainerPort` written as a
//! quoted number (`"80"`, common in real files) is read as the number.

use super::hooks::function_hooks;
use super::lifecycle::ComputePlatform;
use super::model::{AwsvpcConfiguration, CapacityProviderItem, EcsAppSpec, EcsService, LambdaAppSpec, LambdaFunction, Platform};
use super::{anchor, missing, nonempty};
use crate::model::Spanned;
use crate::read::{Ctx, Field, KeyCase};
use crate::yaml::{Node, NodeKind};

pub(super) fn function_platform(cx: &mut Ctx, root: &Node, fields: &[Field], platform: ComputePlatform) -> Option<Platform> {
    let get = |k: &str| fields.iter().find(|f| f.key == k);
    let resource = match get("Resources") {
        Some(f) => resource(cx, f, platform),
        None => {
            let d = cx.error("E1400", format!("{} AppSpec file needs `Resources`", platform.a()), anchor(root));
            d.label = Some("`Resources` is missing".into());
            d.help = Some(match platform {
                ComputePlatform::Ecs => "add `Resources:` with `- TargetService: {Type: AWS::ECS::Service, Properties: {TaskDefinition, LoadBalancerInfo: {ContainerName, ContainerPort}}}`".into(),
                _ => "add `Resources:` with `- myFunction: {Type: AWS::Lambda::Function, Properties: {Name, Alias, CurrentVersion, TargetVersion}}`".into(),
            });
            None
        }
    };
    let hooks = get("Hooks").map(|f| function_hooks(cx, f.value, platform, f.key_node.as_scalar().unwrap_or("Hooks"))).unwrap_or_default();
    match resource? {
        Resource::Ecs(service) => Some(Platform::Ecs(EcsAppSpec { service, hooks })),
        Resource::Lambda(function) => Some(Platform::Lambda(LambdaAppSpec { function, hooks })),
    }
}

enum Resource {
    Ecs(EcsService),
    Lambda(LambdaFunction),
}

fn resource(cx: &mut Ctx, f: &Field, platform: ComputePlatform) -> Option<Resource> {
    let key = f.key_node.as_scalar().unwrap_or("Resources");
    let (one, type_name) = match platform {
        ComputePlatform::Ecs => ("service", "AWS::ECS::Service"),
        _ => ("function", "AWS::Lambda::Function"),
    };
    let items = match &f.value.kind {
        NodeKind::Seq(items) => items,
        NodeKind::Map(_) => {
            let d = cx.error("E1401", format!("`{key}` must be a list with one resource, found a mapping"), f.value.span);
            d.label = Some("expected a list item `- Name:`".into());
            d.help = Some(format!("write `{key}:` then `  - TargetService:` then the resource indented under it (a mapping of resources is CloudFormation's form, not an AppSpec's)"));
            return None;
        }
        _ => {
            cx.expected(key, &format!("a list with one {type_name} resource"), f.value);
            return None;
        }
    };
    let Some(item) = items.first() else {
        cx.error("E1402", format!("`{key}` is empty; {} AppSpec file deploys one {one}", platform.a()), f.key_node.span).help =
            Some(format!("add the {one} as a list item with `Type: {type_name}`"));
        return None;
    };
    if let Some(extra) = items.get(1) {
        let d = cx.error("E1402", format!("a second resource: {} AppSpec file deploys exactly one {one}", platform.a()), anchor(extra));
        d.label = Some("only one resource is allowed".into());
        d.help = Some(format!("deploy each {one} with its own AppSpec file and deployment"));
    }
    let entries = match &item.kind {
        NodeKind::Map(entries) if entries.len() == 1 && !entries[0].0.as_scalar().is_some_and(|k| ["type", "properties"].contains(&k.to_ascii_lowercase().as_str())) => entries,
        NodeKind::Map(_) => {
            let d = cx.error("E1403", format!("a resource in `{key}` must be one `Name:` entry holding `Type` and `Properties`"), anchor(item));
            d.label = Some("expected `- TargetService:` with the resource under it".into());
            d.help = Some("indent `Type` and `Properties` under a name: `- TargetService:` (ECS) or `- myFunction:` (Lambda)".into());
            return None;
        }
        _ => {
            cx.expected(&format!("an item of {key}"), "a mapping `Name: {Type, Properties}`", item);
            return None;
        }
    };
    let (name_node, body) = (&entries[0].0, &entries[0].1);
    let name = cx.string(name_node, &format!("the name of a resource in {key}"))?;
    let what = format!("{key}.{}", name.value);
    let mut props = None;
    let mut has_type = false;
    for bf in cx.fields_cased(body, &what, &["Type", "Properties"], KeyCase::Insensitive) {
        if bf.key == "Type" {
            has_type = true;
            cx.one_of(bf.value, &format!("{what}.Type"), &[(type_name, ())], "E1404");
        } else {
            props = Some(bf.value);
        }
    }
    if !has_type {
        missing(cx, "E1404", body, &what, "Type", format!("add `Type: {type_name}`"));
    }
    let Some(props) = props else {
        missing(cx, "E1405", body, &what, "Properties", format!("add `Properties:` with the {one}'s settings"));
        return None;
    };
    let what = format!("{what}.Properties");
    match platform {
        ComputePlatform::Ecs => ecs(cx, props, &what, name).map(Resource::Ecs),
        _ => lambda(cx, props, &what, name).map(Resource::Lambda),
    }
}

/// A whole number in `range`; quoted digits are read as the number.
fn whole(cx: &mut Ctx, node: &Node, what: &str, range: std::ops::RangeInclusive<u64>, code: &'static str) -> Option<Spanned<u64>> {
    let text = node.as_scalar().map(str::trim);
    match text.and_then(|t| t.parse::<u64>().ok()).filter(|n| range.contains(n)) {
        Some(n) => Some(Spanned::new(n, node.span)),
        None => {
            let found = text.map_or_else(|| node.describe().to_string(), |t| format!("`{t}`"));
            let d = cx.error(code, format!("`{what}` must be a whole number from {} to {}, found {found}", range.start(), range.end()), node.span);
            d.label = Some("expected a number".into());
            None
        }
    }
}

const ECS_KEYS: [&str; 5] = ["TaskDefinition", "LoadBalancerInfo", "PlatformVersion", "NetworkConfiguration", "CapacityProviderStrategy"];

fn ecs(cx: &mut Ctx, props: &Node, what: &str, name: Spanned<String>) -> Option<EcsService> {
    let (mut task, mut lb, mut platform_version, mut network, mut strategy) = (None, None, None, None, Vec::new());
    let (mut has_task, mut has_lb) = (false, false);
    for f in cx.fields_cased(props, what, &ECS_KEYS, KeyCase::Insensitive) {
        let sub = format!("{what}.{}", f.key);
        match f.key {
            "TaskDefinition" => {
                has_task = true;
                task = nonempty(cx, f.value, &sub, "E1407");
            }
            "LoadBalancerInfo" => {
                has_lb = true;
                lb = load_balancer_info(cx, f.value, &sub);
            }
            "PlatformVersion" => platform_version = nonempty(cx, f.value, &sub, "E1407"),
            "NetworkConfiguration" => network = network_configuration(cx, f.value, &sub),
            _ => strategy = capacity_provider_strategy(cx, f.value, &sub),
        }
    }
    if !has_task {
        missing(cx, "E1406", props, what, "TaskDefinition", "add `TaskDefinition:` with the task definition's ARN (`arn:aws:ecs:region:account:task-definition/family:revision`)".into());
    }
    if !has_lb {
        missing(cx, "E1406", props, what, "LoadBalancerInfo", "add `LoadBalancerInfo:` with `ContainerName` and `ContainerPort`: the container and port the load balancer sends traffic to".into());
    }
    let (container_name, container_port) = lb?;
    Some(EcsService { name, task_definition: task?, container_name, container_port, platform_version, network: network.flatten(), capacity_provider_strategy: strategy })
}

fn load_balancer_info(cx: &mut Ctx, node: &Node, what: &str) -> Option<(Spanned<String>, Spanned<u16>)> {
    let (mut container, mut port) = (None, None);
    let (mut has_container, mut has_port) = (false, false);
    for f in cx.fields_cased(node, what, &["ContainerName", "ContainerPort"], KeyCase::Insensitive) {
        let sub = format!("{what}.{}", f.key);
        if f.key == "ContainerName" {
            has_container = true;
            container = nonempty(cx, f.value, &sub, "E1407");
        } else {
            has_port = true;
            port = whole(cx, f.value, &sub, 1..=65535, "E1408").map(|p| Spanned::new(p.value as u16, p.span));
        }
    }
    if !has_container {
        missing(cx, "E1406", node, what, "ContainerName", "add `ContainerName:`: the container of the task definition that receives traffic".into());
    }
    if !has_port {
        missing(cx, "E1406", node, what, "ContainerPort", "add `ContainerPort:`: the container's port that receives traffic, e.g. 80".into());
    }
    Some((container?, port?))
}

/// `NetworkConfiguration`: `Some(None)` when it is empty, `None` after an error.
fn network_configuration(cx: &mut Ctx, node: &Node, what: &str) -> Option<Option<AwsvpcConfiguration>> {
    let mut vpc = None;
    for f in cx.fields_cased(node, what, &["AwsvpcConfiguration"], KeyCase::Insensitive) {
        vpc = Some(f.value);
    }
    let Some(vpc) = vpc else { return Some(None) };
    let what = format!("{what}.AwsvpcConfiguration");
    let (mut subnets, mut groups, mut public) = (None, None, None);
    let mut ok = true;
    for f in cx.fields_cased(vpc, &what, &["Subnets", "SecurityGroups", "AssignPublicIp"], KeyCase::Insensitive) {
        let sub = format!("{what}.{}", f.key);
        match f.key {
            "Subnets" | "SecurityGroups" => {
                let items = strings(cx, f.value, &sub);
                ok &= items.is_some();
                let items = items.unwrap_or_default();
                if f.key == "Subnets" { subnets = Some(items) } else { groups = Some(items) }
            }
            _ => {
                public = cx.one_of(f.value, &sub, &[("ENABLED", true), ("DISABLED", false)], "E1410");
                ok &= public.is_some();
            }
        }
    }
    if !ok {
        return None;
    }
    let given = [("Subnets", subnets.is_some()), ("SecurityGroups", groups.is_some()), ("AssignPublicIp", public.is_some())];
    match (subnets, groups, public) {
        (None, None, None) => Some(None),
        (Some(subnets), Some(security_groups), Some(assign_public_ip)) => Some(Some(AwsvpcConfiguration { subnets, security_groups, assign_public_ip })),
        _ => {
            let absent: Vec<&str> = given.iter().filter(|(_, g)| !g).map(|(k, _)| *k).collect();
            let d = cx.error("E1409", format!("`{what}` has no {}: all or none of Subnets, SecurityGroups and AssignPublicIp must be given", absent.join(" or ")), anchor(vpc));
            d.label = Some("incomplete network configuration".into());
            d.help = Some(format!("add {}, or remove `NetworkConfiguration` to keep the service's current network settings", absent.join(" and ")));
            None
        }
    }
}

/// A non-empty list of non-empty strings (a single string is an error: the property is a list).
fn strings(cx: &mut Ctx, node: &Node, what: &str) -> Option<Vec<Spanned<String>>> {
    let NodeKind::Seq(items) = &node.kind else {
        cx.expected(what, "a list of strings", node);
        return None;
    };
    if items.is_empty() {
        cx.error("E1409", format!("`{what}` is empty"), node.span).help = Some("list at least one, or leave out the whole `NetworkConfiguration`".into());
        return None;
    }
    let out: Vec<Option<Spanned<String>>> = items.iter().map(|i| nonempty(cx, i, &format!("an item of {what}"), "E1407")).collect();
    out.into_iter().collect()
}

fn capacity_provider_strategy(cx: &mut Ctx, node: &Node, what: &str) -> Vec<CapacityProviderItem> {
    let items = match &node.kind {
        _ if node.is_null() => return Vec::new(),
        NodeKind::Seq(items) => items,
        _ => {
            cx.expected(what, "a list of `- CapacityProvider: …` items", node);
            return Vec::new();
        }
    };
    if let Some(seventh) = items.get(6) {
        cx.error("E1411", format!("`{what}` has {} capacity providers; ECS allows at most 6", items.len()), seventh.span).label = Some("one too many".into());
    }
    let mut out = Vec::new();
    for item in items {
        let (mut provider, mut base, mut weight, mut has_provider) = (None, Some(0), Some(0), false);
        for f in cx.fields_cased(item, what, &["Base", "CapacityProvider", "Weight"], KeyCase::Insensitive) {
            let sub = format!("{what}[].{}", f.key);
            match f.key {
                "CapacityProvider" => {
                    has_provider = true;
                    provider = nonempty(cx, f.value, &sub, "E1407");
                }
                "Base" => base = whole(cx, f.value, &sub, 0..=100_000, "E1411").map(|n| n.value as u32),
                _ => weight = whole(cx, f.value, &sub, 0..=1000, "E1411").map(|n| n.value as u32),
            }
        }
        if !has_provider && matches!(item.kind, NodeKind::Map(_)) {
            missing(cx, "E1406", item, &format!("an item of {what}"), "CapacityProvider", "add `CapacityProvider:`, e.g. `FARGATE` or `FARGATE_SPOT`".into());
        }
        if let (Some(capacity_provider), Some(base), Some(weight)) = (provider, base, weight) {
            out.push(CapacityProviderItem { capacity_provider, base, weight });
        }
    }
    if out.iter().filter(|i| i.base > 0).count() > 1 {
        let second = out.iter().filter(|i| i.base > 0).nth(1).map_or(node.span, |i| i.capacity_provider.span);
        cx.error("E1411", format!("more than one provider of `{what}` sets `Base`; ECS allows a base on one provider only"), second).help =
            Some("keep `Base` on one provider and give the others `Weight` only".into());
    }
    if out.len() > 1 && out.iter().all(|i| i.weight == 0) {
        cx.error("E1411", format!("every provider of `{what}` has weight 0; with several providers at least one needs a weight above 0"), anchor(node)).help =
            Some("give the providers that should run tasks a `Weight`, e.g. `Weight: 1`".into());
    }
    out
}

const LAMBDA_KEYS: [&str; 4] = ["Name", "Alias", "CurrentVersion", "TargetVersion"];

fn lambda(cx: &mut Ctx, props: &Node, what: &str, resource_name: Spanned<String>) -> Option<LambdaFunction> {
    let (mut name, mut alias, mut current, mut target) = (None, None, None, None);
    let mut seen = Vec::new();
    for f in cx.fields_cased(props, what, &LAMBDA_KEYS, KeyCase::Insensitive) {
        let sub = format!("{what}.{}", f.key);
        seen.push(f.key);
        match f.key {
            "Name" => name = nonempty(cx, f.value, &sub, "E1407"),
            "Alias" => alias = nonempty(cx, f.value, &sub, "E1407"),
            "CurrentVersion" => current = version(cx, f.value, &sub),
            _ => target = version(cx, f.value, &sub),
        }
    }
    for key in LAMBDA_KEYS.iter().filter(|k| !seen.contains(k)) {
        let help = match *key {
            "Name" => "add `Name:`: the Lambda function to deploy",
            "Alias" => "add `Alias:`: the alias whose traffic shifts between the versions",
            "CurrentVersion" => "add `CurrentVersion:`: the version the alias points at now",
            _ => "add `TargetVersion:`: the version to shift the alias's traffic to",
        };
        missing(cx, "E1406", props, what, key, help.into());
    }
    let (current, target) = (current?, target?);
    if current.value == target.value {
        let d = cx.warn("W1413", format!("`CurrentVersion` and `TargetVersion` are both {}: there is no traffic to shift", current.value), target.span);
        d.label = Some("the same version as CurrentVersion".into());
        d.help = Some("set `TargetVersion` to the newly published version".into());
    }
    Some(LambdaFunction { resource_name, name: name?, alias: alias?, current_version: current, target_version: target })
}

/// A Lambda version: a positive whole number ("The value must be a valid positive integer").
fn version(cx: &mut Ctx, node: &Node, what: &str) -> Option<Spanned<u64>> {
    let text = node.as_scalar().map(str::trim).unwrap_or_default();
    if let Some(n) = text.parse::<u64>().ok().filter(|n| *n > 0) {
        return Some(Spanned::new(n, node.span));
    }
    let found = if node.is_null() || text.is_empty() { "an empty value".to_string() } else { format!("`{text}`") };
    let d = cx.error("E1412", format!("`{what}` must be a published version number (a whole number from 1), found {found}"), node.span);
    d.label = Some("expected a version such as \"2\"".into());
    d.help = Some(if text == "$LATEST" {
        "an alias shifts traffic between published versions; publish one (`aws lambda publish-version`) and give its number".into()
    } else {
        "give the number of a published version, e.g. \"2\"; if a script fills this in before the deployment, validate the filled-in file".into()
    });
    None
}
