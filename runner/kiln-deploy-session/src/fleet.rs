//! The fleet a group file names, through its driver: `local` (instances as sandboxed processes
//! behind a kiln-router, `kiln-targets`) or `ssh` (hosts reached with OpenSSH).
//!
//! A local fleet lives in the kiln process that runs a deployment: its services are kiln's
//! children and end with it. So each `kiln deploy` first brings the fleet back to where the
//! records left it ([`Fleet::restore`]): every instance gets the revision it served — for a new
//! deployment the group's last successful revision, for a deployment taken over after a kill
//! (`kiln deploy resume|rollback`) what the deployment's own record says each instance had,
//! replacement instances included — installed from the staged revision and started. The router
//! starts with the original instances in service at 100 %; a resumed deployment's record then
//! sets the weights it last confirmed. An SSH fleet's hosts keep running between runs and need
//! no restore.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use kiln_deploy::group::DeploymentGroup;
use kiln_deploy::metrics::{MetricsSource, SampleStore};
use kiln_deploy::target::{InstallRequest, Target, TrafficControl};
use kiln_deploy::Revision;
use kiln_router::RouterConfig;
use kiln_spec::appspec::{FileExistsBehavior, Platform};
use kiln_targets::local::metrics::{InstanceMetrics, PREFIX as INSTANCE_PREFIX};
use kiln_targets::local::LocalFleet;
use kiln_targets::router::{RouterMetrics, RouterTraffic};
use kiln_targets::settings::{LocalSettings, SshHost, SshSettings};
use kiln_targets::ssh::SshFleet;

/// Which instances make the fleet when it is opened.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// The fleet's instances (the original set), registered with the router in service.
    pub originals: Vec<String>,
    /// Replacement instances that exist already (a deployment taken over after a kill).
    pub replacements: Vec<String>,
    /// The router starts empty: the deployment taken over registers every instance as its
    /// record says (set, in service or not).
    pub registered_by_record: bool,
}

/// How the fleet's processes are confined.
#[derive(Clone, Debug)]
pub struct Confinement {
    /// `false` only with `--no-sandbox`.
    pub sandboxed: bool,
    /// Paths no hook or service may read (the signing key, secrets files).
    pub hidden: Vec<PathBuf>,
}

/// The local driver's alarm metrics: the router's, and what the instances report
/// (`instance.<name>`, `targets.settings.metrics`).
struct LocalMetrics {
    router: RouterMetrics,
    instances: InstanceMetrics,
}

impl MetricsSource for LocalMetrics {
    fn datapoint(&self, metric: &str, from: std::time::Instant, to: std::time::Instant) -> Result<Option<kiln_deploy::metrics::Datapoint>, kiln_deploy::metrics::MetricsError> {
        if metric.starts_with(INSTANCE_PREFIX) { self.instances.datapoint(metric, from, to) } else { self.router.datapoint(metric, from, to) }
    }

    fn check(&self, metric: &str) -> Result<(), kiln_deploy::metrics::MetricsError> {
        if metric.starts_with(INSTANCE_PREFIX) { self.instances.check(metric) } else { self.router.check(metric) }
    }
}

// One per `kiln deploy` process: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum Driver {
    Local { fleet: LocalFleet, traffic: RouterTraffic, metrics: LocalMetrics, drain: std::time::Duration, poller: Option<tokio::task::JoinHandle<()>> },
    Ssh { fleet: SshFleet, metrics: SampleStore },
}

/// An open fleet.
pub struct Fleet {
    driver: Driver,
}

impl Fleet {
    /// Open the fleet of `group` (read from the group file in `group_dir`) with `layout`; a local
    /// fleet's instance directories live under `state_dir`.
    /// A local fleet's instances in `restore` are brought back (installed and started) before
    /// the router starts, so no client ever reaches an instance that is not up yet.
    pub async fn open(group: &DeploymentGroup, group_dir: &Path, state_dir: &Path, layout: &Layout, conf: &Confinement, restore: &[(String, Revision)]) -> Result<Fleet, String> {
        let t = &group.targets;
        match t.driver.as_str() {
            "local" => {
                let settings = LocalSettings::from_json(&t.settings).map_err(|e| e.to_string())?;
                let drain = std::time::Duration::from_secs(settings.router.drain_timeout);
                let router = RouterConfig { listen: settings.router.listen_addr().map_err(|e| e.to_string())?, drain_timeout: drain, ..RouterConfig::default() };
                let mut fleet = LocalFleet::new(state_dir, &layout.originals, settings, conf.sandboxed).map_err(|e| e.to_string())?;
                fleet.hide(conf.hidden.clone());
                fleet.recreate(&layout.replacements).map_err(|e| e.to_string())?;
                restore_on(&fleet, restore, &group.deployment_group_id).await?;
                let registered: &[String] = if layout.registered_by_record { &[] } else { &layout.originals };
                let traffic = RouterTraffic::start(router, fleet.clone(), registered).await.map_err(|e| format!("starting the deployment's router: {e}"))?;
                let instances = InstanceMetrics::default();
                let poller = fleet.settings().metrics.as_ref().map(|m| instances.poll(fleet.clone(), m.path.clone(), std::time::Duration::from_millis(m.interval_ms)));
                let metrics = LocalMetrics { router: traffic.metrics(), instances };
                Ok(Fleet { driver: Driver::Local { fleet, traffic, metrics, drain, poller } })
            }
            "ssh" => {
                let settings = SshSettings::from_json(&t.settings, group_dir).map_err(|e| e.to_string())?;
                let hosts = t.instances.iter().map(|d| SshHost::from_json(&d.id, &d.settings).map(|h| (d.id.clone(), h))).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
                let fleet = SshFleet::new(settings, hosts).map_err(|e| e.to_string())?;
                Ok(Fleet { driver: Driver::Ssh { fleet, metrics: SampleStore::default() } })
            }
            other => Err(format!("targets.driver: kiln has the drivers `local` and `ssh`, not `{other}`")),
        }
    }

    pub fn target(&self) -> &dyn Target {
        match &self.driver {
            Driver::Local { fleet, .. } => fleet,
            Driver::Ssh { fleet, .. } => fleet,
        }
    }

    /// The load balancer, when the driver has one (local: kiln-router).
    pub fn traffic(&self) -> Option<&dyn TrafficControl> {
        match &self.driver {
            Driver::Local { traffic, .. } => Some(traffic),
            Driver::Ssh { .. } => None,
        }
    }

    /// Where alarms read their metrics.
    pub fn metrics(&self) -> &dyn MetricsSource {
        match &self.driver {
            Driver::Local { metrics, .. } => metrics,
            Driver::Ssh { metrics, .. } => metrics,
        }
    }

    /// The router's deregistration delay (`targets.settings.router.drain-timeout`), for a local fleet.
    pub fn drain_timeout(&self) -> Option<std::time::Duration> {
        match &self.driver {
            Driver::Local { drain, .. } => Some(*drain),
            Driver::Ssh { .. } => None,
        }
    }

    /// The router's address (what clients use), for a local fleet.
    pub fn router_addr(&self) -> Option<SocketAddr> {
        match &self.driver {
            Driver::Local { traffic, .. } => Some(traffic.local_addr()),
            Driver::Ssh { .. } => None,
        }
    }

    /// Stop the services and the router (requests in flight finish).
    pub async fn shutdown(&self) {
        if let Driver::Local { fleet, traffic, poller, .. } = &self.driver {
            if let Some(p) = poller {
                p.abort();
            }
            traffic.shutdown().await;
            fleet.shutdown().await;
        }
    }
}

/// Install and start each instance's revision (see the module doc).
async fn restore_on(t: &dyn Target, instances: &[(String, Revision)], deployment_group_id: &str) -> Result<(), String> {
    for (id, rev) in instances {
        let server = match &rev.appspec.platform {
            Platform::Server(s) => Some(s),
            _ => None,
        };
        let what = |e: kiln_deploy::target::TargetError| format!("bringing {id} back to {}: {e}", rev.reference.name);
        t.download(id, &rev.reference).await.map_err(what)?;
        t.install(InstallRequest { instance: id, revision: &rev.reference, appspec: server, previous_cleanup: &[], file_exists_behavior: FileExistsBehavior::Overwrite, deployment_group_id }).await.map_err(what)?;
        t.start(id, &rev.reference).await.map_err(what)?;
    }
    Ok(())
}
