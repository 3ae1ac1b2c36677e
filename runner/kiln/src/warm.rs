//! The build's plugin host, made on a background thread while the build starts.
//!
//! Creating the wasmtime engine and linkers and loading the built-in signer from the compile
//! cache costs tens of milliseconds. A build needs the host only when a `uses:` step runs and
//! at the end to sign the provenance, so `kiln build` starts [`WarmHost::spawn`] first thing and
//! the shell phases run meanwhile. A buildspec with neither plugin steps nor artifacts gets
//! [`WarmHost::on_demand`] instead: nothing is made unless something asks. The step runner and
//! the signer share the one host.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;

use kiln_host::{Host, HostConfig};

use crate::signing::ProvenanceSigner;

/// Where compiled plugins are cached, for builds and `kiln plugin` alike:
/// `$XDG_CACHE_HOME/kiln/plugin-cache`, else `~/.cache/kiln/plugin-cache`; `None` (compile on
/// every load) without either variable.
///
/// The cache holds native code that kiln maps and runs, so it must be somewhere build steps
/// cannot write: never under the project (an `--in-place` build's steps can write the whole
/// project). [`build_cache_dir`] applies that rule.
pub fn plugin_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()).map(PathBuf::from).or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("kiln").join("plugin-cache"))
}

/// The compile cache for a build of `project`: [`plugin_cache_dir`], unless that lies inside the
/// project and the build runs in place (its steps could plant compiled code there), then none.
pub fn build_cache_dir(project: &Path, in_place: bool) -> Option<PathBuf> {
    unless_inside(plugin_cache_dir()?, project, in_place)
}

/// `dir`, unless `in_place` and `dir` is (or would be created) inside `project`.
fn unless_inside(dir: PathBuf, project: &Path, in_place: bool) -> Option<PathBuf> {
    if in_place {
        let project = project.canonicalize().unwrap_or_else(|_| project.to_path_buf());
        let mut probe = dir.as_path();
        // The cache dir may not exist yet: compare its nearest existing ancestor.
        while !probe.exists() {
            probe = probe.parent()?;
        }
        if probe.canonicalize().is_ok_and(|p| p.starts_with(&project)) {
            return None;
        }
    }
    Some(dir)
}

/// What the background thread makes: one host and the provenance signer loaded on it.
pub struct Hosting {
    /// The wasmtime host every `uses:` step of this build runs on.
    pub host: Host,
    /// The built-in `dsse-signer`, pre-instantiated on `host`.
    pub signer: ProvenanceSigner,
}

/// How the [`Hosting`] is still to be made.
enum Making {
    /// On this thread.
    Thread(JoinHandle<Result<Hosting, String>>),
    /// Not started: made by the first [`WarmHost::get`], with this compile cache.
    OnDemand(Option<PathBuf>),
}

/// A [`Hosting`] being made on another thread, or to be made when first asked for;
/// [`WarmHost::get`] waits for it the first time.
pub struct WarmHost {
    made: OnceLock<Result<Hosting, String>>,
    making: Mutex<Option<Making>>,
}

fn make(cache_dir: Option<PathBuf>) -> Result<Hosting, String> {
    // The provenance is signed at the end: have the random generator seeded by then.
    kiln_attest::keys::warm_up_rng();
    let host = Host::new(HostConfig { cache_dir, ..Default::default() }).map_err(|e| format!("cannot start the plugin host: {e}"))?;
    let signer = ProvenanceSigner::load_on(&host).map_err(|e| format!("cannot load the provenance signer: {e}"))?;
    Ok(Hosting { host, signer })
}

impl WarmHost {
    /// Start making the host (compile cache in `cache_dir`, if any) and loading the signer.
    pub fn spawn(cache_dir: Option<PathBuf>) -> WarmHost {
        let making = std::thread::Builder::new().name("kiln-host-warm".into()).spawn(move || make(cache_dir));
        match making {
            Ok(handle) => WarmHost { made: OnceLock::new(), making: Mutex::new(Some(Making::Thread(handle))) },
            Err(e) => WarmHost::ready(Err(format!("cannot start the plugin host's thread: {e}"))),
        }
    }

    /// Make nothing until [`WarmHost::get`] is called.
    pub fn on_demand(cache_dir: Option<PathBuf>) -> WarmHost {
        WarmHost { made: OnceLock::new(), making: Mutex::new(Some(Making::OnDemand(cache_dir))) }
    }

    /// An already made (or failed) host.
    pub fn ready(made: Result<Hosting, String>) -> WarmHost {
        WarmHost { made: OnceLock::from(made), making: Mutex::new(None) }
    }

    /// A host being made by `thread` (tests: a host that takes long to make).
    #[cfg(test)]
    pub(crate) fn made_by(thread: JoinHandle<Result<Hosting, String>>) -> WarmHost {
        WarmHost { made: OnceLock::new(), making: Mutex::new(Some(Making::Thread(thread))) }
    }

    /// The host and signer, waiting for the background thread if it is still working.
    pub fn get(&self) -> Result<&Hosting, String> {
        let made = self.made.get_or_init(|| {
            let making = self.making.lock().unwrap_or_else(|p| p.into_inner()).take();
            match making {
                Some(Making::Thread(handle)) => handle.join().unwrap_or_else(|_| Err("the plugin host's thread panicked while starting".into())),
                Some(Making::OnDemand(cache_dir)) => make(cache_dir),
                None => Err("the plugin host was never started".into()),
            }
        });
        made.as_ref().map_err(Clone::clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_background_host_loads_the_builtin_signer() {
        let dir = tempfile::tempdir().unwrap();
        let warm = WarmHost::spawn(Some(dir.path().join("cache")));
        let made = warm.get().unwrap();
        assert_eq!(made.signer.info().name, crate::signing::SIGNER);
        // A second call returns the same host without waiting again.
        assert!(std::ptr::eq(made, warm.get().unwrap()));
    }

    #[test]
    fn an_on_demand_host_is_made_by_the_first_get() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let warm = WarmHost::on_demand(Some(cache.clone()));
        assert!(!cache.exists(), "nothing is made before it is asked for");
        assert_eq!(warm.get().unwrap().signer.info().name, crate::signing::SIGNER);
        assert!(cache.is_dir());
    }

    #[test]
    fn an_in_place_build_never_caches_under_its_project() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir(&project).unwrap();
        let inside = project.join(".cache/kiln/plugin-cache");
        assert_eq!(unless_inside(inside.clone(), &project, true), None, "steps of an in-place build can write the project");
        assert_eq!(unless_inside(inside.clone(), &project, false), Some(inside));
        let elsewhere = dir.path().join("elsewhere/kiln/plugin-cache");
        assert_eq!(unless_inside(elsewhere.clone(), &project, true), Some(elsewhere));
    }

    #[test]
    fn a_failed_start_is_an_error_every_time() {
        let warm = WarmHost::ready(Err("no".into()));
        assert_eq!(warm.get().err().as_deref(), Some("no"));
        assert_eq!(warm.get().err().as_deref(), Some("no"));
    }
}
