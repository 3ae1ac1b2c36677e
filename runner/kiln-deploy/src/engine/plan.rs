//! A deployment before it runs: the appspec, the group and the configuration checked against
//! each other, the configuration resolved to a strategy, the lifecycle lists chosen — all of it
//! explainable ([`Plan::explain`]) before anything changes.

use std::path::Path;

use kiln_spec::appspec::{lifecycle, AppSpec, DeploymentType, Event, FileExistsBehavior, Fleet, Platform};

use crate::config::health::{HealthError, HealthPlan};
use crate::config::{self, ComputePlatform, DeploymentConfig, Rule, StrategySpec};
use crate::group::{AutoRollbackConfiguration, DeploymentGroup, DeploymentKind, GreenFleetAction};
use crate::record::RevisionRef;
use crate::strategy::guard::Flow;

/// A revision to deploy: where it is and its parsed appspec.
#[derive(Clone, Debug, PartialEq)]
pub struct Revision {
    pub reference: RevisionRef,
    pub appspec: AppSpec,
}

/// Why a revision's appspec cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    #[error("the revision {bundle} has no appspec.yml, appspec.yaml or appspec.json at its root")]
    NoAppSpec { bundle: String },
    #[error("{path}: {message}")]
    Unreadable { path: String, message: String },
    #[error("{path} is not a valid AppSpec file:\n{diagnostics}")]
    Invalid { path: String, diagnostics: String },
}

impl Revision {
    /// Read the appspec at the root of `reference.bundle` (`appspec.yml`, then `appspec.yaml`,
    /// then `appspec.json`; read only from inside the bundle, never through a link out of it).
    pub fn load(reference: RevisionRef) -> Result<Revision, RevisionError> {
        let bundle = Path::new(&reference.bundle);
        for name in ["appspec.yml", "appspec.yaml", "appspec.json"] {
            let path = bundle.join(name);
            if std::fs::symlink_metadata(&path).is_err() {
                continue;
            }
            let bytes = kiln_fs::read_input_within(bundle, &path, kiln_fs::limits::APPSPEC, "AppSpec file")
                .map_err(|e| RevisionError::Unreadable { path: path.display().to_string(), message: e.to_string() })?;
            let text = String::from_utf8(bytes).map_err(|_| RevisionError::Unreadable { path: path.display().to_string(), message: "not UTF-8 text".into() })?;
            let parsed = kiln_spec::parse_appspec(&text);
            return match parsed.spec {
                Some(appspec) => Ok(Revision { reference, appspec }),
                None => Err(RevisionError::Invalid {
                    path: path.display().to_string(),
                    diagnostics: parsed.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.to_plain(name)).collect::<Vec<_>>().join("\n"),
                }),
            };
        }
        Err(RevisionError::NoAppSpec { bundle: reference.bundle.clone() })
    }
}

/// Per-deployment settings (`CreateDeploymentInput`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeploymentOptions {
    pub description: Option<String>,
    /// `--config NAME`: overrides the group's `deploymentConfigName`.
    pub deployment_config_name: Option<String>,
    /// A failure in ApplicationStop, BeforeBlockTraffic or AfterBlockTraffic does not fail the
    /// instance (the documented way out of a broken script in the last successful revision).
    pub ignore_application_stop_failures: bool,
    /// The deployment's `fileExistsBehavior` (DISALLOW when absent); an appspec's own key wins.
    pub file_exists_behavior: Option<FileExistsBehavior>,
    /// Overrides the group's `autoRollbackConfiguration`.
    pub auto_rollback_configuration: Option<AutoRollbackConfiguration>,
}

/// The lifecycle lists of a deployment, from `kiln_spec::appspec::lifecycle`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifecycles {
    /// In-place: every instance's events. Blue/green: the replacement instances'. ECS/Lambda:
    /// the deployment's.
    pub main: &'static [Event],
    /// Blue/green: the original instances' events after the reroute.
    pub original: &'static [Event],
    /// Blue/green rollback: the original instances' and the replacement instances' events.
    pub rollback_original: &'static [Event],
    pub rollback_replacement: &'static [Event],
}

/// Why a deployment cannot be planned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    /// The error code CodeDeploy would record, when there is one (`HEALTH_CONSTRAINTS_INVALID`).
    pub code: Option<&'static str>,
    pub message: String,
    pub help: String,
}

/// A checked deployment, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub group: DeploymentGroup,
    pub revision: Revision,
    pub config: DeploymentConfig,
    pub flow: Flow,
    pub lifecycles: Lifecycles,
    pub options: DeploymentOptions,
    /// The automatic rollback settings in force (the deployment's override, else the group's).
    pub auto_rollback: AutoRollbackConfiguration,
    /// Minimum healthy hosts for the instances the group file lists (run re-checks against the
    /// driver's fleet).
    pub health: Option<HealthPlan>,
    /// Things worth saying that are not errors.
    pub notes: Vec<String>,
}

impl Plan {
    /// Check `revision` against `group` and resolve the configuration.
    pub fn new(group: &DeploymentGroup, revision: Revision, options: DeploymentOptions) -> Result<Plan, PlanError> {
        let platform = group.compute_platform;
        let spec_platform = revision.appspec.compute_platform();
        if spec_platform != platform {
            return Err(PlanError {
                code: Some("INVALID_REVISION"),
                message: format!("the revision's appspec is {} AppSpec file, but the deployment group deploys to {}", spec_platform.a(), platform.describe()),
                help: format!("deploy {} revision to this group, or set `computePlatform: {}` in the group file", platform.a(), spec_platform.api_name()),
            });
        }
        let name = options.deployment_config_name.clone().or_else(|| group.deployment_config_name.clone()).unwrap_or_else(|| config::default_config_name(platform).to_string());
        let config = config::resolve(&name, platform, &group.custom_deployment_configs).map_err(|e| PlanError { code: None, message: e.to_string(), help: e.help() })?;
        let blue_green = group.deployment_style.deployment_type == DeploymentKind::BlueGreen;
        let lb = group.with_traffic_control();
        let flow = match (platform, blue_green) {
            (ComputePlatform::Server, false) => Flow::InPlace,
            (ComputePlatform::Server, true) => Flow::BlueGreen,
            _ => Flow::TrafficOnly,
        };
        let lifecycles = lifecycles(platform, flow, lb)?;
        let mut notes = Vec::new();
        let health = match config.rule {
            Rule::MinimumHealthyHosts { minimum_healthy_hosts } => {
                let n = match (flow, group.blue_green_deployment_configuration.green_fleet_provisioning_option.action) {
                    (Flow::BlueGreen, GreenFleetAction::DiscoverExisting) => group.targets.replacement_instances.len(),
                    _ => group.targets.instances.len(),
                };
                if n == 0 {
                    notes.push("the group file lists no instances; the driver's fleet is counted when the deployment starts".into());
                    None
                } else {
                    match HealthPlan::new(minimum_healthy_hosts, n as u32) {
                        Ok(h) => Some(h),
                        Err(e @ HealthError::Invalid { .. }) => {
                            return Err(PlanError {
                                code: Some(e.code()),
                                message: format!("{}: {e}", config.deployment_config_name),
                                help: "lower the minimum (a custom configuration with a smaller HOST_COUNT or FLEET_PERCENT), or add instances; CodeDeploy fails such a deployment at once (HEALTH_CONSTRAINTS_INVALID)".into(),
                            })
                        }
                        Err(e) => return Err(PlanError { code: Some(e.code()), message: e.to_string(), help: "list the instances under `targets.instances`".into() }),
                    }
                }
            }
            Rule::TrafficRouting { .. } => None,
        };
        if let (Platform::Ecs(ecs), true) = (&revision.appspec.platform, lb) {
            let test_route = group.load_balancer_info.as_ref().is_some_and(|l| l.target_group_pair_info_list.iter().any(|p| p.test_traffic_route));
            if !test_route && kiln_spec::appspec::function_hook(&ecs.hooks, Event::AfterAllowTestTraffic).is_some() {
                notes.push("the appspec hooks AfterAllowTestTraffic but the group has no test listener (`testTrafficRoute`): CodeDeploy skips that event".into());
            }
        }
        let auto_rollback = options.auto_rollback_configuration.clone().unwrap_or_else(|| group.auto_rollback_configuration.clone());
        Ok(Plan { group: group.clone(), revision, config, flow, lifecycles, options, auto_rollback, health, notes })
    }

    /// The strategy plugin and its configuration.
    pub fn strategy(&self) -> StrategySpec {
        self.config.strategy(self.flow == Flow::BlueGreen)
    }

    /// What will happen, in a few lines.
    pub fn explain(&self) -> String {
        let g = &self.group;
        let mut out = vec![format!(
            "Deploy {} ({}) to {}/{} ({}, {})",
            self.revision.reference.name,
            short(&self.revision.reference.sha256),
            g.application_name,
            g.deployment_group_name,
            g.compute_platform.describe(),
            match self.flow {
                Flow::InPlace if g.with_traffic_control() => "in place, with traffic control",
                Flow::InPlace => "in place, without traffic control",
                Flow::BlueGreen => "blue/green",
                Flow::TrafficOnly => "blue/green traffic shifting",
            }
        )];
        out.push(format!("  configuration {}: {}", self.config.deployment_config_name, describe_rule(&self.config)));
        if let Some(h) = &self.health {
            out.push(format!("  minimum healthy hosts: {}", h.describe()));
        }
        let s = self.strategy();
        out.push(format!("  strategy plugin `{}` with {}", s.plugin, s.config));
        out.push(format!("  lifecycle: {}", names(self.lifecycles.main)));
        if !self.lifecycles.original.is_empty() {
            out.push(format!("  original instances after the reroute: {}", names(self.lifecycles.original)));
        }
        let alarms = &g.alarm_configuration;
        if alarms.enabled && !alarms.alarms.is_empty() {
            for a in &alarms.alarms {
                out.push(format!("  alarm {}: {}", a.name, a.describe()));
            }
        }
        out.push(if self.auto_rollback.enabled && !self.auto_rollback.events.is_empty() {
            format!("  automatic rollback on {:?}", self.auto_rollback.events)
        } else {
            "  no automatic rollback".to_string()
        });
        out.extend(self.notes.iter().map(|n| format!("  note: {n}")));
        out.join("\n")
    }
}

fn lifecycles(platform: ComputePlatform, flow: Flow, lb: bool) -> Result<Lifecycles, PlanError> {
    let err = |e: kiln_spec::appspec::LifecycleError| PlanError { code: None, message: e.to_string(), help: "check `deploymentStyle` in the group file".into() };
    Ok(match flow {
        Flow::InPlace => Lifecycles { main: lifecycle(platform, DeploymentType::InPlace, lb).map_err(err)?, original: &[], rollback_original: &[], rollback_replacement: &[] },
        Flow::BlueGreen => Lifecycles {
            main: lifecycle(platform, DeploymentType::BlueGreen(Fleet::Replacement), true).map_err(err)?,
            original: lifecycle(platform, DeploymentType::BlueGreen(Fleet::Original), true).map_err(err)?,
            rollback_original: lifecycle(platform, DeploymentType::BlueGreenRollback(Fleet::Original), true).map_err(err)?,
            rollback_replacement: lifecycle(platform, DeploymentType::BlueGreenRollback(Fleet::Replacement), true).map_err(err)?,
        },
        Flow::TrafficOnly => Lifecycles { main: lifecycle(platform, DeploymentType::BlueGreen(Fleet::Replacement), true).map_err(err)?, original: &[], rollback_original: &[], rollback_replacement: &[] },
    })
}

fn describe_rule(c: &DeploymentConfig) -> String {
    use crate::config::{MinimumHealthyHosts as M, TrafficRouting as T};
    match c.rule {
        Rule::MinimumHealthyHosts { minimum_healthy_hosts: M::HostCount(n) } => format!("minimum healthy hosts {n} (HOST_COUNT)"),
        Rule::MinimumHealthyHosts { minimum_healthy_hosts: M::FleetPercent(p) } => format!("minimum healthy hosts {p} % of the fleet, rounded up (FLEET_PERCENT)"),
        Rule::MinimumHealthyHosts { minimum_healthy_hosts: M::MostConcurrency(n) } => format!("{n} instance(s) at a time (MOST_CONCURRENCY)"),
        Rule::TrafficRouting { traffic_routing_config: T::AllAtOnce } => "all traffic at once".into(),
        Rule::TrafficRouting { traffic_routing_config: T::TimeBasedCanary { canary_percentage, canary_interval } } => {
            format!("{canary_percentage} % of traffic, the rest {canary_interval} minute(s) later")
        }
        Rule::TrafficRouting { traffic_routing_config: T::TimeBasedLinear { linear_percentage, linear_interval } } => {
            format!("{linear_percentage} % more traffic every {linear_interval} minute(s)")
        }
    }
}

fn names(events: &[Event]) -> String {
    events.iter().map(|e| if e.is_reserved() { format!("({e})") } else { e.to_string() }).collect::<Vec<_>>().join(" → ")
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}
