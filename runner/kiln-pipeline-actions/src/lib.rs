//! kiln-pipeline-actions: the real executors behind `kiln pipeline run` — what each CodePipeline
//! action kind does on one machine — and the pipeline store seen in CodePipeline's read shapes.
//!
//! The scheduler (`kiln_pipeline::exec`) decides what runs when and keeps every state change in
//! its SQLite store; this crate implements its executor traits:
//!
//! | action | executor | what runs |
//! |---|---|---|
//! | Source: CodeCommit, CodeStarSourceConnection, GitHub, S3 | [`source::GitSource`] | the mapped branch's commit of a local git repository, read by git confined in kiln's sandbox, as a zip of the tree |
//! | Build, Test: CodeBuild | [`codebuild::KilnBuild`] | `kiln build` (or `--batch`) of the mapped project on the input artifacts |
//! | Invoke: Lambda | [`invoke::PluginInvoke`] | `kiln plugin run` of the mapped plugin, `UserParameters` as its settings |
//! | Approval: Manual | [`approval::PrintApproval`] | nothing runs: the request is printed; the answer comes through the store (`kiln pipeline approve`, `kiln ui`) |
//! | Deploy: CodeDeploy | [`deploy::KilnDeploy`] | `kiln deploy` of the input artifact to the mapped deployment group, its build's signed provenance verified first |
//!
//! Builds, deployments and plugins run as child `kiln` processes (the same executable): each gets the exact
//! behaviour of the command a user would type (sandbox, plugin host, signed provenance, records
//! under the workspace's `.kiln/`), its own process (a build kills the orphans re-parented to
//! it), and dies with the pipeline's kiln (`PR_SET_PDEATHSIG`), so `kill -9` of a run leaves no
//! build behind and `kiln pipeline resume` starts that action's next attempt.
//!
//! [`watch`] follows the source actions' repositories and starts the runs pushes start
//! (`kiln pipeline watch`), each pinned to its pushed commit.
//!
//! [`view`] turns the store's snapshots into kiln-record's `PipelineRun` (GetPipelineState's
//! shapes) for `kiln pipeline status` and the `kiln ui` pages.
//!
//! Security: see each executor's module (git confined; artifact archives unpacked inside their
//! directory, links last; workspace paths may not lead out through links; secret environment
//! variables are resolved by the build, never passed on a command line).

pub mod approval;
/// Artifacts as CodePipeline moves them (one zip per artifact): kiln-artifacts' `archive`.
pub use kiln_artifacts::archive;
pub mod child;
pub mod codebuild;
pub mod deploy;
pub mod invoke;
pub mod release;
pub mod source;
pub mod view;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_pipeline::exec::traits::{kind_of, Executors};
use kiln_pipeline::workspace::{target, Workspace};
use kiln_pipeline::store::Store;
use kiln_pipeline::Pipeline;

pub use child::Log;

/// What every executor shares.
#[derive(Clone)]
pub struct Settings {
    pub workspace: Arc<Workspace>,
    /// The `kiln` executable run for builds and plugins.
    pub kiln_exe: PathBuf,
    /// Where build and batch records go (`<workspace>/.kiln`).
    pub record_root: PathBuf,
    /// Flags every `kiln build` gets (`--no-sandbox`, `--secrets-file F`, `--key K`, …).
    pub build_args: Vec<String>,
    /// Confine git for sources (off only with `--no-sandbox`).
    pub sandbox: bool,
    /// Progress lines.
    pub log: Log,
}

/// The executors for a workspace; `store` is the run's (a deployment finds the provenance of
/// its input artifact there).
pub fn executors(settings: &Settings, store: &Store) -> Executors {
    Executors {
        source: Some(Arc::new(source::GitSource { workspace: settings.workspace.clone(), sandbox: settings.sandbox })),
        build: Some(Arc::new(codebuild::KilnBuild { settings: settings.clone(), store: store.clone() })),
        deploy: Some(Arc::new(deploy::KilnDeploy { settings: settings.clone(), store: store.clone() })),
        invoke: Some(Arc::new(invoke::PluginInvoke { settings: settings.clone() })),
        approval: Some(Arc::new(approval::PrintApproval { log: settings.log.clone() })),
    }
}

/// The action attempt of this run that produced `input` (`Stage/Action` and its row). A
/// rollback execution's artifacts were made in the execution it rolls back to (their rows are
/// copied into it), so its producers are looked up there too.
pub async fn producer_of(store: &Store, ctx: &kiln_pipeline::exec::traits::ActionContext, input: &kiln_pipeline::exec::traits::InputArtifact) -> Result<(String, kiln_pipeline::store::ActionRow), String> {
    let snap = store.snapshot(&ctx.execution_id).await.map_err(|e| format!("the run's store: {e}"))?;
    let target = match &snap.execution.rollback_target {
        Some(t) => Some(store.snapshot(t).await.map_err(|e| format!("the run's store: {e}"))?),
        None => None,
    };
    let runs = [Some(&snap), target.as_ref()];
    let row = runs.into_iter().flatten().find_map(|sn| sn.artifacts.iter().filter(|a| a.name == input.name && a.digest == input.digest).max_by_key(|a| a.attempt)).ok_or_else(|| format!("no action of this run produced the artifact `{}` with digest {}", input.name, input.digest))?;
    let producer = format!("{}/{}", row.stage, row.action);
    let action = runs.into_iter().flatten().find_map(|sn| sn.actions.iter().find(|a| a.stage == row.stage && a.action == row.action && a.attempt == row.attempt)).ok_or_else(|| format!("the store has no record of {producer}, which produced `{}`", input.name))?;
    Ok((producer, action.clone()))
}

/// A path from the workspace file, resolved (links included) and checked to stay inside the
/// workspace's directory; `what` names it in the message.
pub fn inside_workspace(ws: &Workspace, rel: &Path, what: &str) -> Result<PathBuf, String> {
    let root = ws.root.canonicalize().map_err(|e| format!("the workspace directory {}: {e}", ws.root.display()))?;
    let path = ws.root.join(rel).canonicalize().map_err(|e| format!("the {what} {}: {e}", ws.root.join(rel).display()))?;
    if !path.starts_with(&root) {
        return Err(format!("the {what} {} leads out of the workspace directory {} (through a link); kiln reads only files inside it", ws.root.join(rel).display(), root.display()));
    }
    Ok(path)
}

/// Every action this workspace cannot run, as `Stage/Action: why`, before a run starts (never
/// skipped at run time).
pub fn preflight(p: &Pipeline, ws: &Workspace) -> Vec<String> {
    let mut out = Vec::new();
    for (_, stage, a) in p.actions() {
        let at = format!("{}/{}", stage.name.value, a.name.value);
        let why = match kind_of(a) {
            Err(why) => Some(why),
            Ok(_) => target(a, ws).err(),
        };
        if let Some(why) = why {
            let pos = a.name.span;
            out.push(format!("{at} (line {}, column {}): {why}", pos.line, pos.col));
        }
    }
    out
}

/// The OS user running this process (who answered an approval), from the password database;
/// `uid <n>` when the uid has no entry.
pub fn os_user() -> String {
    // SAFETY: getuid cannot fail; getpwuid_r writes only into the buffers given.
    unsafe {
        let uid = libc::getuid();
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut out) == 0 && !out.is_null() && !pwd.pw_name.is_null() {
            return std::ffi::CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned();
        }
        format!("uid {uid}")
    }
}

/// What a run needs again to be resumed or retried by another `kiln` process: the workspace and
/// the flags its builds got (paths only; never a secret value). Kept as
/// `<store>/runs/<execution id>.json`, written atomically.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunConfig {
    /// The workspace file (absolute).
    pub workspace: PathBuf,
    pub build_args: Vec<String>,
    pub sandbox: bool,
    /// The approval timeout in minutes when an approval action sets none.
    pub approval_timeout_minutes: Option<f64>,
}

impl RunConfig {
    fn path(store: &std::path::Path, id: &str) -> PathBuf {
        store.join("runs").join(format!("{id}.json"))
    }

    pub fn save(&self, store: &std::path::Path, id: &str) -> Result<(), String> {
        let path = Self::path(store, id);
        let dir = store.join("runs");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        kiln_fs::write_atomic(&path, &bytes, true).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn load(store: &std::path::Path, id: &str) -> Result<RunConfig, String> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(format!("`{id}` is not a run id"));
        }
        let path = Self::path(store, id);
        let bytes = kiln_fs::read_input_nofollow(&path, kiln_fs::limits::CONFIG, "run settings").map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workspace_path_that_links_out_of_the_workspace_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("ws");
        std::fs::create_dir_all(root.join("deploy")).unwrap();
        std::fs::write(root.join("deploy/staging.yml"), "applicationName: a\n").unwrap();
        std::fs::write(tmp.path().join("outside.yml"), "secret\n").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("outside.yml"), root.join("deploy/prod.yml")).unwrap();
        std::os::unix::fs::symlink("staging.yml", root.join("deploy/alias.yml")).unwrap();
        let ws = Workspace { root: root.clone(), ..Default::default() };
        assert_eq!(inside_workspace(&ws, Path::new("deploy/staging.yml"), "deployment group file").unwrap(), root.canonicalize().unwrap().join("deploy/staging.yml"));
        assert!(inside_workspace(&ws, Path::new("deploy/alias.yml"), "deployment group file").is_ok(), "a link inside the workspace is fine");
        let e = inside_workspace(&ws, Path::new("deploy/prod.yml"), "deployment group file").unwrap_err();
        assert!(e.contains("deployment group file") && e.contains("leads out of the workspace directory"), "{e}");
        let e = inside_workspace(&ws, Path::new("deploy/missing.yml"), "deployment group file").unwrap_err();
        assert!(e.contains("deploy/missing.yml"), "{e}");
    }
}
