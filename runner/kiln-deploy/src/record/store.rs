//! Where deployments live: `.kiln/deployments/`.
//!
//! ```text
//! .kiln/deployments/
//!   d-XXXXXXXXX/deployment.json   the record (DeploymentInfo + targets + kiln), rewritten atomically
//!   d-XXXXXXXXX/lock              flock'd by the process running the deployment
//!   d-XXXXXXXXX/control.json      a request from another process (stop, continue), taken by the runner
//!   groups/<app>/<group>/state.json   last successful / attempted deployment, per-instance installs
//!   groups/<app>/<group>/lock     flock'd while a deployment of the group runs (one at a time)
//! ```
//!
//! **Crash safety.** Every write is a temp file in the same directory renamed over the old one,
//! so a `kill -9` at any moment leaves the previous complete file. A deployment whose status is
//! not final while nobody holds its `lock` was interrupted: [`Store::read`] says so
//! (`kiln.interrupted`), and `resume` or `rollback` takes it from there.
//!
//! **Links.** `.kiln`, `.kiln/deployments`, a deployment's directory and the group directories
//! must be real directories, and files are opened with `O_NOFOLLOW`: a project cannot make kiln
//! write its records somewhere else by planting a link.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::{DeploymentInfo, RevisionRef};

/// A store failure (kiln could not keep its records; never a deployment failure).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} is a symbolic link; kiln keeps deployment records only in a real directory", .0.display())]
    Link(PathBuf),
    #[error("there is no deployment `{0}`")]
    NotFound(String),
    #[error("{}: the record is not valid: {message}", .path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("a deployment of {application}/{group} is already running (one deployment per deployment group at a time)")]
    GroupBusy { application: String, group: String },
    #[error("`{0}` cannot name a directory")]
    BadName(String),
    #[error("deployment {0} is being run by another kiln process")]
    Running(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// The deployment records of one project.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// A request to a running deployment from another process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Control {
    /// `StopDeployment {autoRollbackEnabled}`.
    #[serde(rename_all = "camelCase")]
    Stop { auto_rollback_enabled: Option<bool> },
    /// `ContinueDeployment(READY_WAIT)`: reroute now.
    Continue,
    /// `SkipWaitTimeForInstanceTermination`.
    SkipTerminationWait,
}

/// Per deployment group: what CodeDeploy keeps on the service and the agents keep per instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_deployment: Option<LastDeployment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_deployment: Option<LastDeployment>,
    /// Per instance id.
    #[serde(default)]
    pub instances: std::collections::BTreeMap<String, InstanceState>,
}

/// `lastSuccessfulDeployment` / `lastAttemptedDeployment`, with the revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastDeployment {
    pub deployment_id: String,
    pub status: super::DeploymentStatus,
    pub end_time: String,
    pub create_time: String,
    pub revision: RevisionRef,
}

/// One instance, as the agent remembers it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceState {
    /// The revision of the last deployment whose Install succeeded here (the agent's
    /// `<dg-id>_last_successful_install`): ApplicationStop and the BlockTraffic hooks run its scripts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_install: Option<RevisionRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub most_recent_download: Option<RevisionRef>,
    /// What the last Install created (the `<dg-id>-cleanup` file).
    #[serde(default)]
    pub cleanup: Vec<String>,
    /// Whether the last deployment to it succeeded (CodeDeploy's instance health).
    #[serde(default)]
    pub healthy: bool,
}

/// An open deployment: its record file and the lock that says a process runs it.
pub struct Handle {
    pub id: String,
    path: PathBuf,
    _lock: File,
}

/// The lock of a deployment group, held while one of its deployments runs.
pub struct GroupLock {
    _lock: File,
}

impl Store {
    /// The store of the project at `project` (`<project>/.kiln/deployments`), created if missing.
    pub fn open(project: &Path) -> Result<Store, StoreError> {
        let kiln = project.join(".kiln");
        real_dir(&kiln)?;
        let root = kiln.join("deployments");
        real_dir(&root)?;
        Ok(Store { root })
    }

    /// A store directly in `dir` (created if missing).
    pub fn at(dir: &Path) -> Result<Store, StoreError> {
        real_dir(dir)?;
        Ok(Store { root: dir.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of deployment `id`.
    pub fn dir(&self, id: &str) -> Result<PathBuf, StoreError> {
        if !is_deployment_id(id) {
            return Err(StoreError::NotFound(id.to_string()));
        }
        Ok(self.root.join(id))
    }

    /// A new deployment: a fresh id (`d-` and nine of A–Z, 0–9, CodeDeploy's format), its
    /// directory, its lock taken, `info` written with that id.
    pub fn create(&self, info: &mut DeploymentInfo) -> Result<Handle, StoreError> {
        for _ in 0..100 {
            let id = new_id();
            let dir = self.root.join(&id);
            match fs::create_dir(&dir) {
                Ok(()) => {
                    let lock = lock_file(&dir.join("lock"), true)?.ok_or_else(|| StoreError::Corrupt { path: dir.clone(), message: "a fresh lock is held".into() })?;
                    info.deployment_id = id.clone();
                    for t in &mut info.deployment_targets {
                        t.core_mut().deployment_id = id.clone();
                    }
                    let handle = Handle { id, path: dir.join("deployment.json"), _lock: lock };
                    handle.write(info, true)?;
                    return Ok(handle);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(StoreError::Io { path: dir, source: e }),
            }
        }
        Err(StoreError::Corrupt { path: self.root.clone(), message: "could not pick an unused deployment id".into() })
    }

    /// Take over an interrupted deployment: its lock (refused while another process runs it).
    pub fn reopen(&self, id: &str) -> Result<Handle, StoreError> {
        let dir = self.dir(id)?;
        no_link(&dir)?;
        let lock = lock_file(&dir.join("lock"), true)?.ok_or_else(|| StoreError::Running(id.to_string()))?;
        Ok(Handle { id: id.to_string(), path: dir.join("deployment.json"), _lock: lock })
    }

    /// Read deployment `id`, marking it `interrupted` when it is not final and no process holds it.
    pub fn read(&self, id: &str) -> Result<DeploymentInfo, StoreError> {
        let dir = self.dir(id)?;
        match fs::symlink_metadata(&dir) {
            Err(_) => return Err(StoreError::NotFound(id.to_string())),
            Ok(m) if m.file_type().is_symlink() => return Err(StoreError::Link(dir)),
            Ok(_) => {}
        }
        let path = dir.join("deployment.json");
        // A directory without a record is a deployment being created (or one killed before its
        // first write, which changed nothing): not a deployment yet.
        let bytes = kiln_fs::read_input_nofollow(&path, kiln_fs::limits::DOCUMENT, "deployment record").map_err(|e| {
            if e.is_not_found() { StoreError::NotFound(id.to_string()) } else { StoreError::Corrupt { path: path.clone(), message: e.to_string() } }
        })?;
        let mut info: DeploymentInfo = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt { path: path.clone(), message: e.to_string() })?;
        info.kiln.interrupted = !info.status.is_final() && lock_file(&dir.join("lock"), false)?.is_some();
        Ok(info)
    }

    /// Every deployment, oldest first.
    pub fn list(&self) -> Result<Vec<DeploymentInfo>, StoreError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let entry = entry.map_err(io_err(&self.root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_deployment_id(&name) {
                match self.read(&name) {
                    Ok(info) => out.push(info),
                    Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        out.sort_by(|a, b| a.create_time.cmp(&b.create_time).then_with(|| a.deployment_id.cmp(&b.deployment_id)));
        Ok(out)
    }

    fn group_dir(&self, application: &str, group: &str) -> Result<PathBuf, StoreError> {
        for n in [application, group] {
            if n.is_empty() || n == "." || n == ".." || n.contains(['/', '\\', '\0']) {
                return Err(StoreError::BadName(n.to_string()));
            }
        }
        let groups = self.root.join("groups");
        real_dir(&groups)?;
        let app = groups.join(application);
        real_dir(&app)?;
        let dir = app.join(group);
        real_dir(&dir)?;
        Ok(dir)
    }

    /// Hold the deployment group (one deployment at a time), or say it is busy.
    pub fn lock_group(&self, application: &str, group: &str) -> Result<GroupLock, StoreError> {
        let dir = self.group_dir(application, group)?;
        match lock_file(&dir.join("lock"), true)? {
            Some(f) => Ok(GroupLock { _lock: f }),
            None => Err(StoreError::GroupBusy { application: application.to_string(), group: group.to_string() }),
        }
    }

    /// The group's state (empty before its first deployment).
    pub fn group_state(&self, application: &str, group: &str) -> Result<GroupState, StoreError> {
        let path = self.group_dir(application, group)?.join("state.json");
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(GroupState::default()),
            _ => {}
        }
        let bytes = kiln_fs::read_input_nofollow(&path, kiln_fs::limits::DOCUMENT, "deployment group state")
            .map_err(|e| StoreError::Corrupt { path: path.clone(), message: e.to_string() })?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt { path, message: e.to_string() })
    }

    pub fn save_group_state(&self, application: &str, group: &str, state: &GroupState) -> Result<(), StoreError> {
        let path = self.group_dir(application, group)?.join("state.json");
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| StoreError::Corrupt { path: path.clone(), message: e.to_string() })?;
        write_atomic(&path, &bytes, true)
    }

    /// Leave a request for the process running deployment `id`.
    pub fn request(&self, id: &str, control: &Control) -> Result<(), StoreError> {
        let dir = self.dir(id)?;
        no_link(&dir)?;
        let bytes = serde_json::to_vec(control).map_err(|e| StoreError::Corrupt { path: dir.clone(), message: e.to_string() })?;
        write_atomic(&dir.join("control.json"), &bytes, false)
    }

    /// Take the pending request for deployment `id`, if any.
    pub fn take_request(&self, id: &str) -> Option<Control> {
        let path = self.dir(id).ok()?.join("control.json");
        let bytes = kiln_fs::read_input_nofollow(&path, 4096, "deployment control request").ok()?;
        let _ = fs::remove_file(&path);
        serde_json::from_slice(&bytes).ok()
    }
}

impl Handle {
    /// Rewrite the record (temp file + rename; with `durable`, fsynced).
    pub fn write(&self, info: &DeploymentInfo, durable: bool) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(info).map_err(|e| StoreError::Corrupt { path: self.path.clone(), message: e.to_string() })?;
        write_atomic(&self.path, &bytes, durable)
    }
}

/// Whether `s` has the shape of a deployment id (`d-` and nine of A–Z, 0–9).
pub fn is_deployment_id(s: &str) -> bool {
    s.len() == 11 && s.starts_with("d-") && s[2..].bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn new_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = [0u8; 9];
    // SAFETY: getrandom writes at most `len` bytes into the buffer it is given.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        // No entropy syscall: time and pid are unique enough with the exclusive create above.
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0) ^ u128::from(std::process::id());
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> (i * 7)) as u8;
        }
    }
    let mut id = String::from("d-");
    id.extend(bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char));
    id
}

/// `dir` as a real directory: created when missing, refused when it is a link or not a directory.
fn real_dir(dir: &Path) -> Result<(), StoreError> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(StoreError::Link(dir.to_path_buf())),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(StoreError::Io { path: dir.to_path_buf(), source: io::Error::other("not a directory") }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => real_dir(dir),
            Err(e) => Err(StoreError::Io { path: dir.to_path_buf(), source: e }),
        },
        Err(e) => Err(StoreError::Io { path: dir.to_path_buf(), source: e }),
    }
}

fn no_link(dir: &Path) -> Result<(), StoreError> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(StoreError::Link(dir.to_path_buf())),
        Ok(_) => Ok(()),
        Err(e) => Err(StoreError::Io { path: dir.to_path_buf(), source: e }),
    }
}

/// Open `path` (no link followed) and try to lock it: exclusively, or shared to test whether
/// anyone holds it. `None` when another open file holds the lock.
fn lock_file(path: &Path, exclusive: bool) -> Result<Option<File>, StoreError> {
    let f = OpenOptions::new().read(true).write(true).create(true).truncate(false).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path).map_err(io_err(path))?;
    let op = if exclusive { libc::LOCK_EX } else { libc::LOCK_SH } | libc::LOCK_NB;
    // SAFETY: flock on a file descriptor this function owns.
    if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
        Ok(Some(f))
    } else {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) { Ok(None) } else { Err(StoreError::Io { path: path.to_path_buf(), source: e }) }
    }
}

/// [`kiln_fs::write_atomic`], its error naming the file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<(), StoreError> {
    kiln_fs::write_atomic(path, bytes, durable).map_err(|source| StoreError::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_codedeploys_shape() {
        for _ in 0..100 {
            let id = new_id();
            assert!(is_deployment_id(&id), "{id}");
        }
        assert!(!is_deployment_id("d-../../etc"));
        assert!(!is_deployment_id("d-abcdefghi"));
    }

    #[test]
    fn links_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), d.path().join(".kiln")).unwrap();
        assert!(matches!(Store::open(d.path()), Err(StoreError::Link(_))));
        let d2 = tempfile::tempdir().unwrap();
        let store = Store::open(d2.path()).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), store.root().join("groups")).unwrap();
        assert!(matches!(store.lock_group("app", "g"), Err(StoreError::Link(_))));
        assert!(matches!(store.group_dir("..", "g"), Err(StoreError::BadName(_))));
        assert!(matches!(store.read("d-../../x"), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn one_deployment_per_group_and_requests_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let held = store.lock_group("app", "prod").unwrap();
        assert!(matches!(store.lock_group("app", "prod"), Err(StoreError::GroupBusy { .. })));
        drop(held);
        assert!(store.lock_group("app", "prod").is_ok());
        fs::create_dir(store.root().join("d-AAAAAAAAA")).unwrap();
        store.request("d-AAAAAAAAA", &Control::Stop { auto_rollback_enabled: Some(true) }).unwrap();
        assert_eq!(store.take_request("d-AAAAAAAAA"), Some(Control::Stop { auto_rollback_enabled: Some(true) }));
        assert_eq!(store.take_request("d-AAAAAAAAA"), None);
    }
}
