//! One `kiln deploy` run: the store, the fleet, the strategies, and the engine's entry points.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_deploy::group::DeploymentGroup;
use kiln_deploy::record::{DeploymentInfo, RevisionRef, Store};
use kiln_deploy::report::{Progress, Reporter};
use kiln_deploy::strategy::InstanceSet;
use kiln_deploy::{Deployment, DeploymentOptions, Env, Revision, RunOptions, RunOutcome};
use kiln_deploy_plugins::{path_resolver, PluginStrategies, Resolver};
use kiln_host::Host;

use crate::fleet::{Confinement, Fleet, Layout};

/// What a session is made of.
pub struct SessionConfig {
    /// The project: records go to `<project>/.kiln/deployments/`.
    pub project: PathBuf,
    /// The group file (third-party strategy paths and ssh key paths are relative to its directory).
    pub group_file: PathBuf,
    pub group: DeploymentGroup,
    pub host: Arc<Host>,
    pub confinement: Confinement,
    pub options: RunOptions,
    pub reporter: Arc<dyn Reporter>,
    /// How a custom configuration's `kilnStrategy.uses` becomes a component (the CLI resolves
    /// paths, `path@sha256:…` and `name@sha256:…` through `kiln.lock` as for build steps);
    /// `None`: `.wasm` paths inside the group file's directory.
    pub resolver: Option<Resolver>,
}

/// An open deployment session.
pub struct Session {
    config: SessionConfig,
    store: Store,
    fleet: Fleet,
    strategies: PluginStrategies,
}

fn say(config: &SessionConfig, message: String) {
    config.reporter.progress(&Progress::Message(message));
}

/// The directory of a group file: what its relative paths (strategy plugins, ssh keys) are
/// relative to.
pub fn group_dir(group_file: &Path) -> PathBuf {
    group_file.parent().filter(|p| !p.as_os_str().is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
}

impl Session {
    async fn open(mut config: SessionConfig, store: Store, layout: &Layout, restore: &[(String, Revision)]) -> Result<Session, String> {
        let g = &config.group;
        let state_dir = store.root().join("fleet").join(&g.application_name).join(&g.deployment_group_name);
        let fleet = Fleet::open(g, &group_dir(&config.group_file), &state_dir, layout, &config.confinement, restore).await?;
        if let Some(d) = fleet.drain_timeout() {
            config.options.drain_timeout = d;
        }
        let resolver = config.resolver.take().unwrap_or_else(|| path_resolver(&group_dir(&config.group_file)));
        let strategies = PluginStrategies::new(config.host.clone(), resolver);
        Ok(Session { config, store, fleet, strategies })
    }

    /// A session for a new deployment: the group file's instances, serving the group's last
    /// successful revision.
    pub async fn for_new(config: SessionConfig) -> Result<Session, String> {
        let store = Store::open(&config.project).map_err(|e| e.to_string())?;
        let g = &config.group;
        let layout = Layout { originals: g.targets.instances.iter().map(|d| d.id.clone()).collect(), replacements: Vec::new(), registered_by_record: false };
        let state = store.group_state(&g.application_name, &g.deployment_group_name).map_err(|e| e.to_string())?;
        let mut restore = Vec::new();
        if let Some(last) = state.last_successful_deployment {
            match Revision::load(last.revision.clone()) {
                Ok(rev) => {
                    say(&config, format!("restoring {} instance(s) to the last successful revision {} ({})", layout.originals.len(), rev.reference.name, last.deployment_id));
                    restore = layout.originals.iter().map(|id| (id.clone(), rev.clone())).collect();
                }
                Err(e) => say(&config, format!("the last successful revision {} cannot be restored ({e}); the instances start empty", last.revision.name)),
            }
        }
        let local = g.targets.driver == "local";
        let session = Session::open(config, store, &layout, &restore).await?;
        if local {
            session.remember_restored(&restore);
        }
        Ok(session)
    }

    /// A local fleet's instances restored to a revision now have it installed: ApplicationStop
    /// and the BlockTraffic hooks of the next deployment run that revision's scripts (after a
    /// blue/green deployment the instance's own last install was the older revision). Written
    /// under the group's lock; when another kiln holds it, its deployment owns the state.
    fn remember_restored(&self, restored: &[(String, Revision)]) {
        let g = &self.config.group;
        if restored.is_empty() {
            return;
        }
        let Ok(_lock) = self.store.lock_group(&g.application_name, &g.deployment_group_name) else { return };
        let Ok(mut state) = self.store.group_state(&g.application_name, &g.deployment_group_name) else { return };
        for (id, rev) in restored {
            let i = state.instances.entry(id.clone()).or_default();
            i.last_successful_install = Some(rev.reference.clone());
            i.most_recent_download = Some(rev.reference.clone());
        }
        if let Err(e) = self.store.save_group_state(&g.application_name, &g.deployment_group_name, &state) {
            self.say(format!("the restored instances' revision could not be recorded ({e})"));
        }
    }

    /// A session for a recorded deployment (resume, rollback): the fleet as its record left it.
    pub async fn for_record(config: SessionConfig, info: &DeploymentInfo) -> Result<Session, String> {
        let store = Store::open(&config.project).map_err(|e| e.to_string())?;
        let fleet = &info.kiln.fleet;
        let layout = if fleet.is_empty() {
            Layout { originals: config.group.targets.instances.iter().map(|d| d.id.clone()).collect(), replacements: Vec::new(), registered_by_record: false }
        } else {
            let of = |set: InstanceSet| fleet.iter().filter(|f| f.set == set).map(|f| f.id.clone()).collect();
            Layout { originals: of(InstanceSet::Original), replacements: of(InstanceSet::Replacement), registered_by_record: true }
        };
        let known: Vec<RevisionRef> = std::iter::once(info.revision.local_revision.clone()).chain(info.previous_revision.as_ref().map(|p| p.local_revision.clone())).collect();
        let mut loaded: Vec<Revision> = Vec::new();
        let mut restore = Vec::new();
        for f in fleet {
            let Some(name) = &f.revision else { continue };
            let Some(r) = known.iter().find(|r| &r.name == name) else { continue };
            let rev = match loaded.iter().find(|l| &l.reference == r) {
                Some(l) => l.clone(),
                None => {
                    let l = Revision::load(r.clone()).map_err(|e| format!("the revision {name} that {} had: {e}", f.id))?;
                    loaded.push(l.clone());
                    l
                }
            };
            restore.push((f.id.clone(), rev));
        }
        say(&config, format!("restoring {} instance(s) as deployment {}'s record left them", restore.len(), info.deployment_id));
        Session::open(config, store, &layout, &restore).await
    }

    fn say(&self, message: String) {
        say(&self.config, message);
    }

    fn env(&self) -> Env<'_> {
        Env {
            store: &self.store,
            target: self.fleet.target(),
            traffic: self.fleet.traffic(),
            strategies: &self.strategies,
            metrics: self.fleet.metrics(),
            reporter: self.config.reporter.clone(),
            options: self.config.options.clone(),
        }
    }

    /// The deployment records.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The router clients use (local driver).
    pub fn router_addr(&self) -> Option<SocketAddr> {
        self.fleet.router_addr()
    }

    /// Plan and run a deployment of `revision`.
    pub async fn deploy(&self, revision: RevisionRef, options: DeploymentOptions) -> Result<RunOutcome, String> {
        let revision = Revision::load(revision).map_err(|e| e.to_string())?;
        let plan = Deployment::plan(&self.config.group, revision, options).map_err(|e| if e.help.is_empty() { e.message } else { format!("{}\n  help: {}", e.message, e.help) })?;
        self.say(plan.explain());
        Deployment::run(&plan, &self.env()).await.map_err(|e| e.to_string())
    }

    /// Resume an interrupted deployment.
    pub async fn resume(&self, id: &str) -> Result<RunOutcome, String> {
        Deployment::resume(id, &self.config.group, &self.env()).await.map_err(|e| e.to_string())
    }

    /// Roll back an interrupted deployment, or a failed or stopped one not rolled back yet.
    pub async fn rollback(&self, id: &str) -> Result<RunOutcome, String> {
        Deployment::rollback(id, &self.config.group, &self.env()).await.map_err(|e| e.to_string())
    }

    /// Stop the fleet's services and the router.
    pub async fn shutdown(&self) {
        self.fleet.shutdown().await;
    }
}
