//! The `ssh` driver: instances are hosts reached with the system's OpenSSH client.
//!
//! * **Never the user's ssh setup.** Every call is `ssh -F /dev/null` with the group file's
//!   `identity` (`IdentitiesOnly=yes`), its `known-hosts` file as the only known hosts, and
//!   `StrictHostKeyChecking=yes`: an unknown or changed host key is refused, never learnt.
//!   `BatchMode=yes` (no password prompt), `ConnectTimeout` from the settings.
//! * **Revisions** are copied as a tar stream (`tar -c` does not follow links; the remote `tar -x`
//!   writes into `<root>/<id>/bundles/<revision>/`), so a link in a bundle stays a link.
//! * **Install** applies kiln-deploy's copy plan on the host: the existing paths are asked for
//!   first (one call), the steps are sent as one shell script on stdin with every path
//!   single-quoted; the destinations are the appspec's, as the CodeDeploy agent writes them.
//! * **Hooks** run as `cd <bundle> && env -i … timeout <s> ./<script>`; their output comes back
//!   line by line. The remote `timeout` ends a script that outlives its limit.
//! * **Service**: the settings' `start`/`stop` commands (optional; scripts usually manage it);
//!   health is a TCP connect to the instance's `http` port when it has one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_deploy::record::{LifecycleErrorCode, RevisionRef};
use kiln_deploy::target::copyplan::{self, Existing, Step};
use kiln_deploy::target::{BoxFuture, HookRequest, HookResult, HookSpec, InstallRequest, InstallResult, InstanceInfo, OutputSink, ProvisionRequest, Stream, Target, TargetError};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::settings::{SshHost, SshSettings};

/// The longest output of one ssh call kept for an error message or an answer.
const MAX_OUTPUT: usize = 1 << 20;

/// A shell word: `'…'` with every `'` written as `'\''`.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The fleet of hosts (`targets.driver: ssh`).
#[derive(Clone)]
pub struct SshFleet {
    settings: Arc<SshSettings>,
    hosts: Arc<Mutex<BTreeMap<String, SshHost>>>,
    fleet: Arc<Mutex<Vec<String>>>,
    /// Revision name → bundle directory on the hosts, per instance.
    bundles: Arc<Mutex<BTreeMap<(String, String), String>>>,
}

fn err(id: &str, what: impl std::fmt::Display) -> TargetError {
    TargetError::new(format!("ssh instance {id}: {what}"))
}

fn dir_name(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).take(100).collect();
    if s.trim_matches('.').is_empty() { format!("rev_{s}") } else { s }
}

impl SshFleet {
    /// A fleet of `hosts` (id → its keys), with `settings` checked by [`SshSettings::from_json`].
    pub fn new(settings: SshSettings, hosts: Vec<(String, SshHost)>) -> Result<SshFleet, TargetError> {
        for path in [&settings.identity, &settings.known_hosts] {
            if !Path::new(path).is_file() {
                return Err(TargetError::new(format!("targets.settings: {path} is not a file (the ssh driver needs its identity and known-hosts files)")));
            }
        }
        let fleet = hosts.iter().map(|(id, _)| id.clone()).collect();
        Ok(SshFleet { settings: Arc::new(settings), hosts: Arc::new(Mutex::new(hosts.into_iter().collect())), fleet: Arc::new(Mutex::new(fleet)), bundles: Arc::default() })
    }

    fn host(&self, id: &str) -> Result<SshHost, TargetError> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned().ok_or_else(|| err(id, "not a host of this deployment group"))
    }

    /// The instance's directory on its host.
    fn instance_root(&self, id: &str) -> String {
        format!("{}/{}", self.settings.root.trim_end_matches('/'), id)
    }

    /// `ssh … user@host -- <remote>`.
    fn ssh(&self, h: &SshHost, remote: &str) -> Command {
        let s = &self.settings;
        let mut cmd = Command::new(&s.ssh);
        cmd.args(["-F", "/dev/null", "-T", "-i", &s.identity])
            .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", s.known_hosts))
            .arg("-o")
            .arg(format!("ConnectTimeout={}", s.connect_timeout))
            .args(["-p", &h.port.to_string()])
            .arg(format!("{}@{}", h.user.as_deref().unwrap_or(&s.user), h.host))
            .arg("--")
            .arg(remote)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()))
            .kill_on_drop(true);
        cmd
    }

    /// Run `remote` on `id` with `stdin`, to its end: its stdout, or an error with its stderr.
    async fn call(&self, id: &str, remote: &str, stdin: Option<Vec<u8>>) -> Result<String, TargetError> {
        let h = self.host(id)?;
        let mut cmd = self.ssh(&h, remote);
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| err(id, format!("cannot run {}: {e}", self.settings.ssh)))?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(&data).await.map_err(|e| err(id, format!("writing to ssh: {e}")))?;
        }
        let out = child.wait_with_output().await.map_err(|e| err(id, e))?;
        let text = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(MAX_OUTPUT)]).trim().to_string();
        if !out.status.success() {
            return Err(err(id, format!("`{remote}` failed on {}:{} ({}): {}", h.host, h.port, out.status, text(&out.stderr))));
        }
        Ok(text(&out.stdout))
    }

    fn bundle_dir(&self, id: &str, revision: &str) -> String {
        format!("{}/bundles/{}", self.instance_root(id), dir_name(revision))
    }
}

/// Read `r` line by line into `output` (lines cut at 4 KiB).
async fn pump(r: impl tokio::io::AsyncRead + Unpin, stream: Stream, output: OutputSink) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(r).split(b'\n');
    while let Ok(Some(line)) = lines.next_segment().await {
        for chunk in line.chunks(4096) {
            output(stream, &String::from_utf8_lossy(chunk));
        }
    }
}

impl Target for SshFleet {
    fn driver(&self) -> &str {
        "ssh"
    }

    fn list_instances(&self) -> BoxFuture<'_, Result<Vec<InstanceInfo>, TargetError>> {
        Box::pin(async move {
            let fleet = self.fleet.lock().unwrap_or_else(|e| e.into_inner()).clone();
            Ok(fleet.into_iter().map(|id| InstanceInfo { address: self.host(&id).ok().map(|h| format!("{}:{}", h.host, h.port)), id }).collect())
        })
    }

    fn provision<'a>(&'a self, request: &'a ProvisionRequest) -> BoxFuture<'a, Result<Vec<InstanceInfo>, TargetError>> {
        Box::pin(async move {
            // Hosts cannot be made: only DISCOVER_EXISTING (replacementInstances in the group file).
            if request.count > request.existing.len() {
                return Err(TargetError::new(format!("the ssh driver cannot make hosts: list the {} replacement host(s) under targets.replacementInstances (greenFleetProvisioningOption: DISCOVER_EXISTING)", request.count)));
            }
            request.existing.iter().map(|id| self.host(id).map(|h| InstanceInfo { id: id.clone(), address: Some(format!("{}:{}", h.host, h.port)) })).collect()
        })
    }

    fn terminate<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            // Hosts are not kiln's to destroy: they leave the group.
            self.fleet.lock().unwrap_or_else(|e| e.into_inner()).retain(|f| !ids.contains(f));
            Ok(())
        })
    }

    fn adopt_fleet<'a>(&'a self, fleet: &'a [String], _released: &'a [String]) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            *self.fleet.lock().unwrap_or_else(|e| e.into_inner()) = fleet.to_vec();
            Ok(())
        })
    }

    fn download<'a>(&'a self, instance: &'a str, revision: &'a RevisionRef) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            let dir = self.bundle_dir(instance, &revision.name);
            // tar -c keeps links as links (it never follows them without -h).
            let tar = Command::new("tar").arg("-C").arg(&revision.bundle).args(["-cf", "-", "."]).stdout(Stdio::piped()).stderr(Stdio::piped()).output().await.map_err(|e| err(instance, format!("tar: {e}")))?;
            if !tar.status.success() {
                return Err(err(instance, format!("packing {}: {}", revision.bundle, String::from_utf8_lossy(&tar.stderr).trim())));
            }
            let q = quote(&dir);
            self.call(instance, &format!("rm -rf {q} && mkdir -p {q} && tar -C {q} -xf -"), Some(tar.stdout)).await?;
            self.bundles.lock().unwrap_or_else(|e| e.into_inner()).insert((instance.to_string(), revision.name.clone()), dir);
            Ok(())
        })
    }

    fn install<'a>(&'a self, request: InstallRequest<'a>) -> BoxFuture<'a, Result<InstallResult, TargetError>> {
        Box::pin(async move {
            let id = request.instance;
            let Some(spec) = request.appspec else { return Ok(InstallResult::default()) };
            let remote_bundle = self.bundle_dir(id, &request.revision.name);
            let plan = copyplan::copy_plan(spec, Path::new(&request.revision.bundle)).map_err(|e| err(id, e))?;
            // What exists on the host, for every destination and cleanup path, in one call.
            let mut paths: Vec<PathBuf> = plan.entries.iter().map(|e| e.destination.clone()).collect();
            paths.extend(request.previous_cleanup.iter().map(PathBuf::from));
            let probe: String = paths.iter().map(|p| format!("if [ -L {q} ]; then echo f; elif [ -d {q} ]; then echo d; elif [ -e {q} ]; then echo f; else echo m; fi\n", q = quote(&p.display().to_string()))).collect();
            let answer = self.call(id, "sh -s", Some(probe.into_bytes())).await?;
            let kinds: BTreeMap<PathBuf, Existing> = paths
                .iter()
                .cloned()
                .zip(answer.lines().map(|l| match l.trim() {
                    "d" => Existing::Dir,
                    "f" => Existing::File,
                    _ => Existing::Missing,
                }))
                .collect();
            let steps = copyplan::resolve(&plan, spec, request.previous_cleanup, request.file_exists_behavior, &|p| kinds.get(p).copied().unwrap_or(Existing::Missing)).map_err(|e| err(id, e))?;
            let bundle_root = Path::new(&request.revision.bundle);
            let mut script = String::from("set -e\n");
            for step in &steps.steps {
                let q = |p: &Path| quote(&p.display().to_string());
                match step {
                    Step::Remove(p) => script.push_str(&format!("if [ -d {0} ] && [ ! -L {0} ]; then rmdir {0} 2>/dev/null || true; else rm -f {0}; fi\n", q(p))),
                    Step::Mkdir(p) => script.push_str(&format!("mkdir -p {}\n", q(p))),
                    Step::Copy { from, to, mode } => {
                        let rel = from.strip_prefix(bundle_root).unwrap_or(from);
                        let src = format!("{remote_bundle}/{}", rel.display());
                        script.push_str(&format!("rm -f {1}; cp {0} {1}; chmod {2:o} {1}\n", quote(&src), q(to), mode & 0o7777));
                    }
                    Step::Symlink { target, at } => script.push_str(&format!("ln -s {} {}\n", q(target), q(at))),
                    Step::Retain(_) => {}
                }
            }
            self.call(id, "sh -s", Some(script.into_bytes())).await?;
            Ok(InstallResult { cleanup: steps.cleanup })
        })
    }

    fn run_hook<'a>(&'a self, request: HookRequest<'a>) -> BoxFuture<'a, HookResult> {
        Box::pin(async move {
            let id = request.instance;
            let HookSpec::Script { location, timeout, .. } = &request.hook else {
                return HookResult { code: LifecycleErrorCode::ScriptMissing, message: format!("the ssh driver runs EC2/on-premises scripts, not the hook function `{}`", request.hook.name()) };
            };
            if Path::new(location).components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
                return HookResult { code: LifecycleErrorCode::ScriptMissing, message: format!("Script does not exist at specified location: {location} (not a path inside the revision)") };
            }
            let host = match self.host(id) {
                Ok(h) => h,
                Err(e) => return HookResult { code: LifecycleErrorCode::UnknownError, message: e.message },
            };
            let dir = self.bundle_dir(id, &request.revision.name);
            let env: String = request.env.iter().filter(|(k, _)| k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')).map(|(k, v)| format!(" {}", quote(&format!("{k}={v}")))).collect();
            let remote = format!("cd {} || exit 97; test -f {loc} || exit 98; exec env -i PATH=/usr/local/bin:/usr/bin:/bin{env} timeout -k 5 {} ./{loc}", quote(&dir), timeout.as_secs().max(1), loc = quote(location));
            let mut cmd = self.ssh(&host, &remote);
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => return HookResult { code: LifecycleErrorCode::UnknownError, message: format!("Script at specified location: {location} could not be started: ssh: {e}") },
            };
            let (o, e) = (child.stdout.take(), child.stderr.take());
            let (o1, o2) = (request.output.clone(), request.output.clone());
            let reading = async {
                tokio::join!(
                    async {
                        if let Some(o) = o {
                            pump(o, Stream::Stdout, o1).await
                        }
                    },
                    async {
                        if let Some(e) = e {
                            pump(e, Stream::Stderr, o2).await
                        }
                    }
                );
            };
            let limit = *timeout + Duration::from_secs(self.settings.connect_timeout + 10);
            let status = match tokio::time::timeout(limit, async {
                reading.await;
                child.wait().await
            })
            .await
            {
                Err(_) => return HookResult::timed_out(location, *timeout),
                Ok(Err(e)) => return HookResult { code: LifecycleErrorCode::UnknownError, message: format!("Script at specified location: {location}: {e}") },
                Ok(Ok(s)) => s,
            };
            match status.code() {
                Some(0) => HookResult::success(),
                Some(124) | Some(137) => HookResult::timed_out(location, *timeout),
                Some(98) => HookResult { code: LifecycleErrorCode::ScriptMissing, message: format!("Script does not exist at specified location: {dir}/{location}") },
                Some(126) => HookResult { code: LifecycleErrorCode::ScriptNotExecutable, message: format!("Script at specified location: {location} is not executable") },
                Some(255) => HookResult { code: LifecycleErrorCode::UnknownError, message: format!("Script at specified location: {location}: ssh to {}:{} failed", host.host, host.port) },
                Some(c) => HookResult { code: LifecycleErrorCode::ScriptFailed, message: format!("Script at specified location: {location} failed with exit code {c}") },
                None => HookResult { code: LifecycleErrorCode::ScriptFailed, message: format!("Script at specified location: {location}: ssh was killed") },
            }
        })
    }

    fn start<'a>(&'a self, instance: &'a str, revision: &'a RevisionRef) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            if let Some(start) = &self.settings.start {
                self.call(instance, &format!("cd {} && {start}", quote(&self.bundle_dir(instance, &revision.name))), None).await?;
            }
            Ok(())
        })
    }

    fn stop<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            if let Some(stop) = &self.settings.stop {
                self.call(instance, stop, None).await?;
            }
            Ok(())
        })
    }

    fn health_check<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<bool, TargetError>> {
        Box::pin(async move {
            let h = self.host(instance)?;
            match h.http {
                Some(port) => Ok(matches!(tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect((h.host.as_str(), port))).await, Ok(Ok(_)))),
                // Without an HTTP port: the host answers ssh.
                None => Ok(self.call(instance, "true", None).await.is_ok()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(super::quote("a'b"), "'a'\\''b'");
        assert_eq!(super::quote("$(reboot)"), "'$(reboot)'");
    }
}
