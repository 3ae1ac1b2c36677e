//! The deployment group file: a YAML file next to the appspec that says what CodeDeploy's
//! deployment group says (`CreateDeploymentGroupInput` / `DeploymentGroupInfo`, field names
//! camelCase as in the API's JSON) plus kiln's `targets`:
//!
//! ```yaml
//! applicationName: web
//! deploymentGroupName: prod
//! computePlatform: Server                  # Server | ECS | Lambda
//! deploymentConfigName: CodeDeployDefault.OneAtATime
//! deploymentStyle: {deploymentType: IN_PLACE, deploymentOption: WITH_TRAFFIC_CONTROL}
//! alarmConfiguration:
//!   enabled: true
//!   alarms:
//!     - name: errors
//!       metric: router.HTTPCode_Target_5XX_Count
//!       statistic: Sum
//!       period: 60
//!       evaluationPeriods: 3
//!       comparisonOperator: GreaterThanOrEqualToThreshold
//!       threshold: 20
//!       treatMissingData: notBreaching
//! autoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM]}
//! targets:
//!   driver: local
//!   settings: {command: ["./server", "--port", "{port}"]}
//!   instances: [web-1, web-2, web-3]
//! ```
//!
//! Read with kiln-spec's reader (bounded YAML, positions, duplicate keys refused), so every
//! problem is a located [`Diagnostic`] with a stable code (`E20xx`, `W20xx`) and unknown keys get
//! the buildspec's `W0001` with a "did you mean". CodeDeploy fields that mean nothing on one machine
//! (`serviceRoleArn`, tag filters, Auto Scaling groups, triggers) are accepted with a warning
//! (`W2001`) so a real group's JSON converted to YAML reads.
//!
//! Decisions (fact sheet §5–§9): names are 1–100 of letters, digits and `. _ + = , @ -` (as the
//! API), and not `.` or `..` (kiln keeps per-group state in directories named after them);
//! `deploymentGroupId` defaults to a UUID derived from the two names; `deploymentStyle` defaults
//! to `IN_PLACE`/`WITHOUT_TRAFFIC_CONTROL` on EC2/on-premises (what the agents assume) and is
//! `BLUE_GREEN`/`WITH_TRAFFIC_CONTROL` on ECS and Lambda, the only style they have; a blue/green
//! deployment always controls traffic. Alarm definitions sit inline in `alarmConfiguration.alarms`
//! (CodeDeploy names CloudWatch alarms; kiln has no CloudWatch, so the definition is here).

mod configs;
mod model;
mod sections;

use kiln_spec::diag::{Diagnostic, Span};
use kiln_spec::model::Spanned;
use kiln_spec::read::{anchor, Ctx, Field};
use kiln_spec::yaml::{self, Node, NodeKind};
use sha2::{Digest, Sha256};

pub use model::*;

use crate::config::{self, ComputePlatform};

/// The result of reading a deployment group file.
#[derive(Debug)]
pub struct ParsedGroup {
    pub group: Option<DeploymentGroup>,
    pub diagnostics: Vec<Diagnostic>,
}

impl ParsedGroup {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

const KEYS: [&str; 12] = [
    "applicationName",
    "deploymentGroupName",
    "deploymentGroupId",
    "computePlatform",
    "deploymentConfigName",
    "customDeploymentConfigs",
    "deploymentStyle",
    "loadBalancerInfo",
    "blueGreenDeploymentConfiguration",
    "alarmConfiguration",
    "autoRollbackConfiguration",
    "targets",
];

/// CodeDeploy fields kiln accepts and does not use.
const IGNORED: [&str; 13] = [
    "serviceRoleArn",
    "ec2TagFilters",
    "onPremisesInstanceTagFilters",
    "ec2TagSet",
    "onPremisesTagSet",
    "autoScalingGroups",
    "triggerConfigurations",
    "outdatedInstancesStrategy",
    "ecsServices",
    "tags",
    "terminationHookEnabled",
    "deploymentGroupInfo",
    "lastSuccessfulDeployment",
];

/// Parse and validate a deployment group file. Never panics.
pub fn parse_group(source: &str) -> ParsedGroup {
    let root = match yaml::parse(source) {
        Ok(Some(root)) => root,
        Ok(None) => {
            let d = Diagnostic::error("E2000", "the deployment group file is empty".into(), Span { offset: 0, len: 0, line: 1, col: 1 })
                .with_help("start with `applicationName:`, `deploymentGroupName:` and `targets:`");
            return ParsedGroup { group: None, diagnostics: vec![d] };
        }
        Err(diagnostics) => return ParsedGroup { group: None, diagnostics: rehelp(diagnostics) },
    };
    let mut cx = Ctx::new("a deployment group file");
    if !matches!(root.kind, NodeKind::Map(_)) {
        cx.error("E2000", format!("a deployment group file must be a mapping of keys, found {}", root.describe()), root.span).help =
            Some("start with `applicationName:`, `deploymentGroupName:` and `targets:`".into());
        return ParsedGroup { group: None, diagnostics: cx.diags };
    }
    let mut allowed: Vec<&str> = KEYS.to_vec();
    allowed.extend(IGNORED);
    let fields = cx.fields(&root, "the deployment group file", &allowed);
    for f in fields.iter().filter(|f| IGNORED.contains(&f.key)) {
        cx.warn("W2001", format!("`{}` means nothing to a local deployment; kiln ignores it", f.key), f.key_node.span).help =
            Some("kiln reaches instances through `targets`; this CodeDeploy field can stay for reference".into());
    }
    let group = convert(&mut cx, &root, &fields);
    cx.diags.sort_by_key(|d| d.span.offset);
    let group = if cx.diags.iter().any(Diagnostic::is_error) { None } else { group };
    ParsedGroup { group, diagnostics: cx.diags }
}

/// The YAML reader's help speaks of buildspecs; say it for this file.
fn rehelp(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    for d in &mut diagnostics {
        if d.code == "E0001" {
            d.help = Some("check indentation (spaces, not tabs) and quoting".into());
        } else if d.help.as_deref().is_some_and(|h| h.contains("buildspec")) {
            d.help = Some("a deployment group file this large is almost always generated by mistake; make it smaller".into());
        }
    }
    diagnostics
}

fn get<'a, 'n>(fields: &'a [Field<'n>], key: &str) -> Option<&'a Field<'n>> {
    fields.iter().find(|f| f.key == key)
}

fn convert(cx: &mut Ctx, root: &Node, fields: &[Field]) -> Option<DeploymentGroup> {
    let application_name = required_name(cx, root, fields, "applicationName");
    let deployment_group_name = required_name(cx, root, fields, "deploymentGroupName");
    let compute_platform = match get(fields, "computePlatform") {
        Some(f) => cx.one_of(f.value, "computePlatform", &[("Server", ComputePlatform::Server), ("ECS", ComputePlatform::Ecs), ("Lambda", ComputePlatform::Lambda)], "E2003").map(|s| s.value),
        None => Some(ComputePlatform::Server),
    };
    let platform = compute_platform.unwrap_or(ComputePlatform::Server);
    let deployment_group_id = match get(fields, "deploymentGroupId") {
        Some(f) => cx.string(f.value, "deploymentGroupId").map(|s| s.value),
        None => match (&application_name, &deployment_group_name) {
            (Some(a), Some(g)) => Some(derived_group_id(&a.value, &g.value)),
            _ => None,
        },
    };
    let custom = get(fields, "customDeploymentConfigs").map(|f| configs::custom_configs(cx, f.value)).unwrap_or_default();
    let deployment_config_name = get(fields, "deploymentConfigName").and_then(|f| config_name(cx, f.value, platform, &custom));
    let deployment_style = sections::deployment_style(cx, get(fields, "deploymentStyle"), platform);
    let load_balancer_info = get(fields, "loadBalancerInfo").map(|f| sections::load_balancer_info(cx, f.value));
    let blue_green = match get(fields, "blueGreenDeploymentConfiguration") {
        Some(f) => {
            if deployment_style.as_ref().is_some_and(|s| s.deployment_type == DeploymentKind::InPlace) {
                cx.warn("W2051", "`blueGreenDeploymentConfiguration` applies to blue/green deployments; this group deploys in place".into(), f.key_node.span).help =
                    Some("set `deploymentStyle: {deploymentType: BLUE_GREEN, deploymentOption: WITH_TRAFFIC_CONTROL}` or remove it".into());
            }
            sections::blue_green(cx, f.value)
        }
        None => BlueGreenConfiguration::default(),
    };
    let alarm_configuration = get(fields, "alarmConfiguration").map(|f| sections::alarm_configuration(cx, f.value)).unwrap_or_default();
    let auto_rollback_configuration = get(fields, "autoRollbackConfiguration").map(|f| sections::auto_rollback(cx, f.value)).unwrap_or_default();
    let targets = match get(fields, "targets") {
        Some(f) => sections::targets(cx, f.value),
        None => {
            let d = cx.error("E2001", "the deployment group file has no `targets`".into(), anchor(root));
            d.label = Some("`targets` is required".into());
            d.help = Some("add `targets: {driver: local, instances: [web-1, web-2]}`: the driver that reaches the instances, and the instances".into());
            None
        }
    };
    if let (Some(t), Some(style)) = (&targets, &deployment_style) {
        let replacement = style.deployment_type == DeploymentKind::BlueGreen && blue_green.green_fleet_provisioning_option.action == GreenFleetAction::DiscoverExisting;
        if replacement && t.replacement_instances.is_empty() {
            let span = get(fields, "targets").map_or(root.span, |f| f.key_node.span);
            cx.error("E2042", "blue/green with `DISCOVER_EXISTING` needs `targets.replacementInstances`".into(), span).help =
                Some("list the replacement instances, or use `greenFleetProvisioningOption: {action: COPY_AUTO_SCALING_GROUP}` to have the driver make them".into());
        }
    }
    Some(DeploymentGroup {
        application_name: application_name?.value,
        deployment_group_name: deployment_group_name?.value,
        deployment_group_id: deployment_group_id?,
        compute_platform: compute_platform?,
        deployment_config_name: deployment_config_name.map(|s| s.value),
        custom_deployment_configs: custom,
        deployment_style: deployment_style?,
        load_balancer_info,
        blue_green_deployment_configuration: blue_green,
        alarm_configuration,
        auto_rollback_configuration,
        targets: targets?,
    })
}

/// A required `applicationName` / `deploymentGroupName`.
fn required_name(cx: &mut Ctx, root: &Node, fields: &[Field], key: &str) -> Option<Spanned<String>> {
    let Some(f) = get(fields, key) else {
        let d = cx.error("E2001", format!("the deployment group file has no `{key}`"), anchor(root));
        d.label = Some(format!("`{key}` is required"));
        d.help = Some(format!("add `{key}: <name>` (1 to 100 letters, digits or . _ + = , @ -)"));
        return None;
    };
    let s = cx.string(f.value, key)?;
    check_name(cx, &s, key, "E2002").then_some(s)
}

/// CodeDeploy's name rule (applications, groups, configurations): 1–100 characters of
/// `[A-Za-z0-9._+=,@-]`; and not `.`/`..`.
pub(crate) fn check_name(cx: &mut Ctx, s: &Spanned<String>, what: &str, code: &'static str) -> bool {
    let v = &s.value;
    let bad = v.chars().find(|c| !(c.is_ascii_alphanumeric() || "._+=,@-".contains(*c)));
    let problem = if v.is_empty() || v.chars().count() > 100 {
        Some(format!("is {} characters long; CodeDeploy allows 1 to 100", v.chars().count()))
    } else if let Some(c) = bad {
        Some(format!("contains `{}`; CodeDeploy allows letters, digits and . _ + = , @ -", c.escape_default()))
    } else if v == "." || v == ".." {
        Some("cannot be `.` or `..` (kiln keeps the group's state in a directory named after it)".into())
    } else {
        None
    };
    match problem {
        Some(p) => {
            cx.error(code, format!("`{what}` `{}` {p}", crate::strategy::guard::printable(v)), s.span).label = Some("invalid name".into());
            false
        }
        None => true,
    }
}

/// `deploymentConfigName`: a predefined or custom configuration for this platform.
fn config_name(cx: &mut Ctx, node: &Node, platform: ComputePlatform, custom: &[crate::config::DeploymentConfig]) -> Option<Spanned<String>> {
    let s = cx.string(node, "deploymentConfigName")?;
    match config::resolve(&s.value, platform, custom) {
        Ok(_) => Some(s),
        Err(e) => {
            let d = cx.error("E2005", e.to_string(), s.span);
            d.label = Some("not a deployment configuration for this group".into());
            d.help = Some(e.help());
            None
        }
    }
}

/// A UUID (RFC 9562 version 8, "custom") from SHA-256 of the two names: the same names give the
/// same `DEPLOYMENT_GROUP_ID` on every run and every machine.
pub fn derived_group_id(application: &str, group: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"kiln deployment group\0");
    h.update(application.as_bytes());
    h.update(b"\0");
    h.update(group.as_bytes());
    let mut b: [u8; 16] = h.finalize()[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

#[cfg(test)]
mod tests;
