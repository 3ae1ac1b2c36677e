//! The `local` driver: instances as directories and sandboxed processes on this machine.
//!
//! Each instance has a loopback port chosen when it is made (a free one at that moment); its
//! service (`targets.settings.service`) is started by [`Target::start`] with that port in its
//! environment (`PORT` by default) and is up when it answers its health check (an HTTP GET of
//! `health-path`, any status below 400, or a TCP connect without one) within `start-timeout`.
//! ECS-style deployments (`computePlatform: ECS`) get replacement instances from
//! [`Target::provision`]; their "install" is the download of the revision, and the service runs
//! in the revision's directory.
//!
//! The fleet lives in this process: services are kiln's children and end with it.

pub mod files;
pub mod metrics;
pub mod process;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_deploy::record::{LifecycleErrorCode, RevisionRef};
use kiln_deploy::target::copyplan;
use kiln_deploy::target::{BoxFuture, HookRequest, HookResult, HookSpec, InstallRequest, InstallResult, InstanceInfo, ProvisionRequest, Target, TargetError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::settings::LocalSettings;
use process::{Confinement, Service, Spec};

/// One instance.
struct Instance {
    dir: PathBuf,
    port: u16,
    /// The revision directories downloaded, by revision name.
    bundles: BTreeMap<String, PathBuf>,
    /// The revision whose service runs (or ran last).
    current: Option<String>,
    service: Option<Service>,
}

struct State {
    instances: BTreeMap<String, Instance>,
    fleet: Vec<String>,
    next: u32,
}

/// The local fleet (`targets.driver: local`).
#[derive(Clone)]
pub struct LocalFleet {
    state: Arc<Mutex<State>>,
    settings: Arc<LocalSettings>,
    dir: PathBuf,
    conf: Confinement,
}

fn err(id: &str, what: impl std::fmt::Display) -> TargetError {
    TargetError::new(format!("local instance {id}: {what}"))
}

/// A loopback port free right now.
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("no free loopback port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Revision names become directory names: anything but `[A-Za-z0-9._-]` is replaced, and a
/// name of dots never reaches the file system as such.
fn dir_name(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).take(100).collect();
    if s.trim_matches('.').is_empty() { format!("rev_{s}") } else { s }
}

impl LocalFleet {
    /// A fleet of `ids` whose directories live under `dir` (created; each instance's directory
    /// is made fresh). `sandboxed: false` only with `--no-sandbox`.
    pub fn new(dir: &Path, ids: &[String], settings: LocalSettings, sandboxed: bool) -> Result<LocalFleet, TargetError> {
        std::fs::create_dir_all(dir).map_err(|e| TargetError::new(format!("creating {}: {e}", dir.display())))?;
        let conf = Confinement { writable: Vec::new(), hidden: Vec::new(), max_processes: settings.max_processes, sandboxed };
        let fleet = LocalFleet { state: Arc::new(Mutex::new(State { instances: BTreeMap::new(), fleet: Vec::new(), next: 0 })), settings: Arc::new(settings), dir: dir.to_path_buf(), conf };
        for id in ids {
            fleet.make(id)?;
            fleet.lock().fleet.push(id.clone());
        }
        Ok(fleet)
    }

    /// Make the instances `ids` that do not exist yet, outside the fleet (the replacement
    /// instances of a deployment taken over after a kill: `provision` made them in the process
    /// that died). Later `provision` calls never reuse their names.
    pub fn recreate(&self, ids: &[String]) -> Result<(), TargetError> {
        for id in ids {
            if self.lock().instances.contains_key(id) {
                continue;
            }
            self.make(id)?;
            if let Some(n) = id.strip_prefix("green-").and_then(|n| n.parse::<u32>().ok()) {
                let mut s = self.lock();
                s.next = s.next.max(n);
            }
        }
        Ok(())
    }

    /// Paths no process of an instance may read (signing keys, secrets files).
    pub fn hide(&mut self, paths: Vec<PathBuf>) {
        self.conf.hidden = paths;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn make(&self, id: &str) -> Result<(), TargetError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) || id.starts_with('.') {
            return Err(err(id, "an instance id of the local driver is letters, digits, `.`, `_` and `-`"));
        }
        let dir = self.dir.join(id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| err(id, format!("clearing {}: {e}", dir.display())))?;
        }
        for sub in ["root", "tmp", "bundles"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| err(id, format!("creating {}: {e}", dir.display())))?;
        }
        let port = free_port().map_err(|e| err(id, e))?;
        self.lock().instances.insert(id.to_string(), Instance { dir, port, bundles: BTreeMap::new(), current: None, service: None });
        Ok(())
    }

    /// The address an instance's service listens on.
    pub fn addr(&self, id: &str) -> Option<SocketAddr> {
        self.lock().instances.get(id).map(|i| SocketAddr::from(([127, 0, 0, 1], i.port)))
    }

    /// The instance's directory (its `root/`, `tmp/`, `bundles/`, `service.log`).
    pub fn instance_dir(&self, id: &str) -> Option<PathBuf> {
        self.lock().instances.get(id).map(|i| i.dir.clone())
    }

    /// Every instance whose service runs, with its address.
    pub fn serving(&self) -> Vec<(String, SocketAddr)> {
        self.lock().instances.iter().filter(|(_, i)| i.service.is_some()).map(|(id, i)| (id.clone(), SocketAddr::from(([127, 0, 0, 1], i.port)))).collect()
    }

    /// The settings the fleet was made with.
    pub fn settings(&self) -> &LocalSettings {
        &self.settings
    }

    /// The revision an instance's service runs.
    pub fn running(&self, id: &str) -> Option<String> {
        self.lock().instances.get(id).filter(|i| i.service.is_some()).and_then(|i| i.current.clone())
    }

    /// Stop every service (the end of a deployment session).
    pub async fn shutdown(&self) {
        let services: Vec<(Service, u64)> = {
            let mut s = self.lock();
            let grace = self.settings.service.as_ref().map_or(5, |s| s.stop_timeout);
            s.instances.values_mut().filter_map(|i| i.service.take().map(|svc| (svc, grace))).collect()
        };
        for (svc, grace) in services {
            svc.stop(Duration::from_secs(grace)).await;
        }
    }

    fn confinement(&self, dir: &Path) -> Confinement {
        Confinement { writable: vec![dir.to_path_buf()], ..self.conf.clone() }
    }

    fn base_env(&self, id: &str, inst_dir: &Path, port: u16) -> Vec<(String, String)> {
        let port_env = self.settings.service.as_ref().map_or("PORT".to_string(), |s| s.port_env.clone());
        vec![
            ("HOME".into(), inst_dir.join("tmp").display().to_string()),
            ("KILN_INSTANCE_ID".into(), id.to_string()),
            ("KILN_INSTANCE_ROOT".into(), inst_dir.join("root").display().to_string()),
            (port_env, port.to_string()),
        ]
    }

    /// Whether the service answers: `GET <health-path>` below 400, or a TCP connect.
    async fn probe(addr: SocketAddr, health_path: Option<&str>) -> bool {
        let Ok(Ok(mut conn)) = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await else {
            return false;
        };
        let Some(path) = health_path else { return true };
        let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: kiln-health-check\r\n\r\n");
        if conn.write_all(req.as_bytes()).await.is_err() {
            return false;
        }
        let mut head = [0u8; 32];
        let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut head)).await else {
            return false;
        };
        // `HTTP/1.x NNN`: the status code's first digit.
        let line = String::from_utf8_lossy(&head[..n]);
        line.starts_with("HTTP/1.") && line.as_bytes().get(9).is_some_and(|d| (b'1'..=b'3').contains(d))
    }
}

/// Copy `revision`'s bundle to `dir/bundles/<name>`, replacing what an earlier copy left there;
/// the copy's path.
async fn fresh_copy(dir: &Path, revision: &RevisionRef) -> Result<PathBuf, String> {
    let to = dir.join("bundles").join(dir_name(&revision.name));
    if to.exists() {
        std::fs::remove_dir_all(&to).map_err(|e| format!("clearing {}: {e}", to.display()))?;
    }
    let (from, to2) = (PathBuf::from(&revision.bundle), to.clone());
    tokio::task::spawn_blocking(move || files::copy_bundle(&from, &to2)).await.map_err(|e| e.to_string())??;
    Ok(to)
}

/// The tail of a service's log, for an error message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(400);
    String::from_utf8_lossy(&text[start..]).trim().to_string()
}

impl Target for LocalFleet {
    fn driver(&self) -> &str {
        "local"
    }

    fn list_instances(&self) -> BoxFuture<'_, Result<Vec<InstanceInfo>, TargetError>> {
        Box::pin(async move {
            let s = self.lock();
            Ok(s.fleet.iter().map(|id| InstanceInfo { id: id.clone(), address: s.instances.get(id).map(|i| format!("127.0.0.1:{}", i.port)) }).collect())
        })
    }

    fn provision<'a>(&'a self, request: &'a ProvisionRequest) -> BoxFuture<'a, Result<Vec<InstanceInfo>, TargetError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for id in &request.existing {
                let known = self.lock().instances.contains_key(id);
                if !known {
                    self.make(id)?;
                }
                out.push(InstanceInfo { id: id.clone(), address: self.addr(id).map(|a| a.to_string()) });
            }
            for _ in 0..request.count.saturating_sub(request.existing.len()) {
                let id = {
                    let mut s = self.lock();
                    s.next += 1;
                    format!("green-{}", s.next)
                };
                self.make(&id)?;
                out.push(InstanceInfo { id: id.clone(), address: self.addr(&id).map(|a| a.to_string()) });
            }
            Ok(out)
        })
    }

    fn terminate<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            for id in ids {
                let removed = {
                    let mut s = self.lock();
                    s.fleet.retain(|f| f != id);
                    s.instances.remove(id)
                };
                if let Some(mut inst) = removed {
                    if let Some(svc) = inst.service.take() {
                        svc.stop(Duration::from_secs(self.settings.service.as_ref().map_or(5, |s| s.stop_timeout))).await;
                    }
                    let _ = std::fs::remove_dir_all(&inst.dir);
                }
            }
            Ok(())
        })
    }

    fn adopt_fleet<'a>(&'a self, fleet: &'a [String], _released: &'a [String]) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            self.lock().fleet = fleet.to_vec();
            Ok(())
        })
    }

    fn download<'a>(&'a self, instance: &'a str, revision: &'a RevisionRef) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            let dir = self.instance_dir(instance).ok_or_else(|| err(instance, "no such instance"))?;
            let to = fresh_copy(&dir, revision).await.map_err(|e| err(instance, e))?;
            if let Some(i) = self.lock().instances.get_mut(instance) {
                i.bundles.insert(revision.name.clone(), to);
            }
            Ok(())
        })
    }

    fn install<'a>(&'a self, request: InstallRequest<'a>) -> BoxFuture<'a, Result<InstallResult, TargetError>> {
        Box::pin(async move {
            let id = request.instance;
            if !self.lock().instances.get(id).is_some_and(|i| i.bundles.contains_key(&request.revision.name)) {
                self.download(id, request.revision).await?;
            }
            let (dir, bundle) = {
                let s = self.lock();
                let i = s.instances.get(id).ok_or_else(|| err(id, "no such instance"))?;
                (i.dir.clone(), i.bundles.get(&request.revision.name).cloned().ok_or_else(|| err(id, "the revision was not downloaded"))?)
            };
            let Some(spec) = request.appspec else {
                // ECS-style: the task set's processes run in the revision's directory.
                return Ok(InstallResult::default());
            };
            let root = dir.join("root");
            let plan = copyplan::copy_plan(spec, &bundle).map_err(|e| err(id, e))?;
            let steps = copyplan::resolve(&plan, spec, request.previous_cleanup, request.file_exists_behavior, &|p| files::existing(&root, p)).map_err(|e| err(id, e))?;
            files::apply(&root, &bundle, &steps).map_err(|e| err(id, e))?;
            Ok(InstallResult { cleanup: steps.cleanup })
        })
    }

    fn run_hook<'a>(&'a self, request: HookRequest<'a>) -> BoxFuture<'a, HookResult> {
        Box::pin(async move {
            let id = request.instance;
            let known = self.lock().instances.get(id).map(|i| (i.dir.clone(), i.port, i.bundles.get(&request.revision.name).cloned()));
            let (dir, port, bundle) = match (known, &request.hook) {
                (Some(k), _) => k,
                // An ECS or Lambda hook function runs for the deployment's one target
                // (`group:service`, `function:alias`), not on an instance: in a directory of its
                // own, with the revision as its working directory.
                (None, HookSpec::Function { .. }) => {
                    let dir = self.dir.join(".functions");
                    for sub in ["root", "tmp"] {
                        if let Err(e) = std::fs::create_dir_all(dir.join(sub)) {
                            return HookResult { code: LifecycleErrorCode::UnknownError, message: format!("creating {}: {e}", dir.display()) };
                        }
                    }
                    // Its own copy of the revision, made anew like an instance's download (two
                    // revisions can share a name): the sandbox shows the function its
                    // directory, not where kiln keeps revisions.
                    match fresh_copy(&dir, request.revision).await {
                        Ok(copy) => (dir, 0, Some(copy)),
                        Err(e) => return HookResult { code: LifecycleErrorCode::UnknownError, message: format!("copying the revision for hook function {}: {e}", request.hook.name()) },
                    }
                }
                (None, HookSpec::Script { .. }) => return HookResult { code: LifecycleErrorCode::UnknownError, message: format!("local instance {id} does not exist") },
            };
            let mut env = request.env.clone();
            env.extend(self.base_env(id, &dir, port));
            let conf = self.confinement(&dir);
            match &request.hook {
                HookSpec::Script { location, bundle: engine_bundle, timeout, runas, .. } => {
                    let base = bundle.unwrap_or_else(|| engine_bundle.clone());
                    if Path::new(location).components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
                        return HookResult { code: LifecycleErrorCode::ScriptMissing, message: format!("Script does not exist at specified location: {location} (not a path inside the revision)") };
                    }
                    let script = base.join(location);
                    if !std::fs::symlink_metadata(&script).is_ok_and(|m| m.is_file()) {
                        return HookResult { code: LifecycleErrorCode::ScriptMissing, message: format!("Script does not exist at specified location: {}", script.display()) };
                    }
                    let user = match runas.as_deref() {
                        None => None,
                        Some(name) => match process::lookup_user(name) {
                            Ok(u) if u.0 == nix::unistd::geteuid().as_raw() => None,
                            Ok(u) if nix::unistd::geteuid().is_root() => Some(u),
                            Ok(_) => return HookResult { code: LifecycleErrorCode::UnknownError, message: format!("Script at specified location: {location} has runas: {name}, and only a kiln run as root can switch users") },
                            Err(e) => return HookResult { code: LifecycleErrorCode::UnknownError, message: format!("Script at specified location: {location}: {e}") },
                        },
                    };
                    let argv = vec![script.display().to_string()];
                    let spec = Spec { argv: &argv, cwd: &base, env: &env, user };
                    process::run_hook(spec, &conf, *timeout, location, runas.as_deref(), request.output.clone()).await
                }
                HookSpec::Function { name, timeout } => {
                    let Some(f) = self.settings.functions.get(name) else {
                        return HookResult { code: LifecycleErrorCode::ScriptMissing, message: format!("hook function `{name}` is not in targets.settings.functions (known: {})", self.settings.functions.keys().cloned().collect::<Vec<_>>().join(", ")) };
                    };
                    let cwd = bundle.unwrap_or_else(|| dir.join("tmp"));
                    let limit = f.timeout.map_or(*timeout, Duration::from_secs).min(*timeout);
                    let spec = Spec { argv: &f.command, cwd: &cwd, env: &env, user: None };
                    process::run_hook(spec, &conf, limit, name, None, request.output.clone()).await
                }
            }
        })
    }

    fn start<'a>(&'a self, instance: &'a str, revision: &'a RevisionRef) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            let Some(svc) = self.settings.service.clone() else { return Ok(()) };
            let (dir, port, bundle, old) = {
                let mut s = self.lock();
                let i = s.instances.get_mut(instance).ok_or_else(|| err(instance, "no such instance"))?;
                (i.dir.clone(), i.port, i.bundles.get(&revision.name).cloned(), i.service.take())
            };
            if let Some(old) = old {
                old.stop(Duration::from_secs(svc.stop_timeout)).await;
            }
            let cwd = match &svc.cwd {
                Some(c) => files::under_root(&dir.join("root"), Path::new(c)).map_err(|e| err(instance, e))?,
                None => bundle.clone().unwrap_or_else(|| dir.join("root")),
            };
            let mut env = self.base_env(instance, &dir, port);
            env.extend(svc.env.iter().map(|(k, v)| (k.clone(), v.clone())));
            env.push(("KILN_REVISION".into(), revision.name.clone()));
            let log_path = dir.join("service.log");
            let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(|e| err(instance, format!("opening {}: {e}", log_path.display())))?;
            let spec = Spec { argv: &svc.command, cwd: &cwd, env: &env, user: None };
            let mut service = Service::spawn(spec, &self.confinement(&dir), log).map_err(|e| err(instance, e))?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(svc.start_timeout);
            loop {
                if let Some(how) = service.exited() {
                    return Err(err(instance, format!("the service `{}` ended before it answered on {addr} ({how}); its log ends with: {}", svc.command.join(" "), log_tail(&log_path))));
                }
                if Self::probe(addr, svc.health_path.as_deref()).await {
                    break;
                }
                if Instant::now() > deadline {
                    service.stop(Duration::from_secs(svc.stop_timeout)).await;
                    return Err(err(instance, format!("the service `{}` did not answer on {addr} within {} s (start-timeout); its log ends with: {}", svc.command.join(" "), svc.start_timeout, log_tail(&log_path))));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let mut s = self.lock();
            if let Some(i) = s.instances.get_mut(instance) {
                i.service = Some(service);
                i.current = Some(revision.name.clone());
            }
            Ok(())
        })
    }

    fn stop<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            let svc = self.lock().instances.get_mut(instance).and_then(|i| i.service.take());
            if let Some(svc) = svc {
                svc.stop(Duration::from_secs(self.settings.service.as_ref().map_or(5, |s| s.stop_timeout))).await;
            }
            Ok(())
        })
    }

    fn health_check<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<bool, TargetError>> {
        Box::pin(async move {
            let addr = self.addr(instance).ok_or_else(|| err(instance, "no such instance"))?;
            let running = self.lock().instances.get_mut(instance).is_some_and(|i| i.service.as_mut().is_some_and(|s| s.exited().is_none()));
            if self.settings.service.is_some() && !running {
                return Ok(false);
            }
            Ok(Self::probe(addr, self.settings.service.as_ref().and_then(|s| s.health_path.as_deref())).await)
        })
    }
}
