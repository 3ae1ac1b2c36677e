//! One build, start to finish: CodeBuild's phases in order, with its transitions, timeouts, the
//! sandbox around every command, and the record written after every phase.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_sandbox::{Policy, Sandbox};
use kiln_spec::{BuildSpec, OnFailure, Phase, Step};

use crate::context::{self, EnvInputs, Identity, Scratch};
use crate::output::{Pump, Reporter};
use crate::record::*;
use crate::secrets;
use crate::shell::{Exit, ShellKind, ShellSession};
use crate::transitions::{next_phase, FailureAction, PhaseStatus, PhaseType};
use crate::plugins::PluginRunner;
use crate::upload;

pub use crate::options::BuildOptions;

/// kiln's own failures (the build did not get to run properly), as opposed to a failed build.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Sandbox(#[from] kiln_sandbox::SandboxError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    Setup(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
    let what = what.into();
    move |source| EngineError::Io { what, source }
}

/// What a finished build produced.
pub struct BuildOutcome {
    pub record: BuildRecord,
    pub record_dir: PathBuf,
    /// The signed provenance, once the caller has written it.
    pub provenance: Option<PathBuf>,
    masker: kiln_secrets::Masker,
    /// The scratch space's removal, running on a side thread while the caller writes the
    /// provenance; dropping the outcome waits for it.
    _cleanup: Cleanup,
}

/// Waits, when dropped, for the thread that removes a build's scratch space (removing
/// directories costs ~0.4 ms each on a file system mounted with `discard`).
struct Cleanup(Option<std::thread::JoinHandle<()>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(removal) = self.0.take() {
            let _ = removal.join();
        }
    }
}

impl BuildOutcome {
    /// `text` with every secret value of this build masked: apply it to anything derived from the
    /// record before it is printed or written (the record in memory holds variable values as set).
    pub fn mask(&self, text: &str) -> String {
        self.masker.mask_str(text)
    }

    pub fn succeeded(&self) -> bool {
        self.record.build_status == "SUCCEEDED"
    }
}

struct Run<'a> {
    spec: &'a BuildSpec,
    opts: &'a BuildOptions,
    record: BuildRecord,
    record_dir: PathBuf,
    records: RecordWriter,
    pump: Pump,
    sandbox: Sandbox,
    shell: ShellSession,
    /// Taken (and removed on a side thread, `cleanup`) once the build's processes are gone.
    scratch: Option<Scratch>,
    /// Paths the build may not read (canonical): never copied into the working copy either.
    hidden: Vec<PathBuf>,
    /// Held for the whole build (see [`context::sweep_partial_records`]).
    _record_lock: nix::fcntl::Flock<std::fs::File>,
    cleanup: Option<std::thread::JoinHandle<()>>,
    work_dir: PathBuf,
    succeeding: bool,
    deadline: Instant,
    timed_out: bool,
    /// `opts.stop`: a request to stop (StopBuild).
    stop: Option<crate::Stop>,
    /// The build was stopped: the phase running then ended `STOPPED`, the rest were skipped.
    stopped: bool,
    masker: kiln_secrets::Masker,
    plugins: &'a dyn PluginRunner,
    dirty_check: Option<crate::git::DirtyCheck>,
    /// Who runs each phase (`runas.rs`), and the user of the shell running now.
    run_as: crate::runas::Plan,
    shell_user: Option<(u32, u32)>,
}


/// Run `spec` as CodeBuild would. Returns the record of a finished build (successful or not);
/// `Err` only when kiln itself could not run it (no sandbox, unwritable directories).
pub async fn run_build(
    spec: &BuildSpec,
    buildspec_bytes: &[u8],
    opts: &BuildOptions,
    reporter: Box<dyn Reporter>,
    plugins: &dyn PluginRunner,
) -> Result<BuildOutcome, EngineError> {
    let source_dir = std::fs::canonicalize(&opts.source_dir).map_err(io_err(format!("cannot open the source directory {}", opts.source_dir.display())))?;
    let record_root = opts.record_root.clone().unwrap_or_else(|| source_dir.join(".kiln"));
    let project = context::project_name(&source_dir);
    let uuid = match &opts.uuid {
        // It names directories: only what a uuid is made of.
        Some(u) if u.is_empty() || u.len() > 64 || !u.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') => {
            return Err(EngineError::Setup(format!("`{u}` is not a build uuid (hex digits and `-`)")));
        }
        Some(u) => u.clone(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let number = context::next_build_number(&record_root).map_err(io_err(format!("cannot update {}", record_root.display())))?;
    let start_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let identity = Identity { id: format!("{project}:{uuid}"), project, uuid: uuid.clone(), number, start_ms };

    let scratch_base = opts.scratch_base.clone().unwrap_or_else(std::env::temp_dir);
    let scratch = Scratch::create(&scratch_base, &uuid, !opts.in_place).map_err(io_err("cannot create the build's scratch directory"))?;
    let work_dir = if opts.in_place { source_dir.clone() } else { scratch.work.clone() };

    // Secrets first: their values must be masked from the first line of output on.
    let resolved = secrets::resolve(spec, opts.secrets_file.as_deref());
    let (run_as, run_as_error) = match crate::runas::plan(spec) {
        Ok(p) => (p, None),
        Err(e) => (crate::runas::Plan::default(), Some(e)),
    };
    let masker = secrets::masker(resolved.as_ref().map(|r| r.as_slice()).unwrap_or(&[])).map_err(EngineError::Setup)?;

    let network = opts.network || spec.kiln.network;
    let mut writable = vec![work_dir.clone(), scratch.tmp.clone(), scratch.home.clone(), scratch.shell.clone()];
    // Host paths the buildspec asks to write: only where the operator allowed it (`--writable`),
    // since the buildspec comes with the repository, and a repository must not be able to grant
    // itself write access to e.g. `~` or `/etc`.
    let asked = spec.cache.iter().flat_map(|c| &c.paths).filter(|p| p.value.starts_with('/')).map(|p| cache_root(&p.value)).chain(spec.kiln.writable_paths.iter().map(|p| PathBuf::from(&p.value)));
    let allowed: Vec<PathBuf> = opts.writable_paths.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect();
    let mut refused = Vec::new();
    for path in asked {
        match std::fs::canonicalize(&path) {
            Ok(c) if allowed.iter().any(|a| c.starts_with(a)) => writable.push(c),
            _ => refused.push(path),
        }
    }
    // The signing key and the secrets files (the one given and the default one) stay out of the
    // build's reach; so do the usual credential stores of kiln's user, unless the build may
    // write there anyway (an in-place build of the home directory).
    let mut hidden = opts.hidden_paths.clone();
    hidden.extend(opts.secrets_file.clone().filter(|p| p.exists()));
    hidden.extend(secrets::default_secrets_file());
    let inside_writable = |p: &Path| std::fs::canonicalize(p).is_ok_and(|c| writable.iter().filter_map(|w| std::fs::canonicalize(w).ok()).any(|w| c.starts_with(&w) || w.starts_with(&c)));
    hidden.extend(secrets::credential_paths().into_iter().filter(|p| !inside_writable(p)));
    // The build records stay read-only where a step could otherwise write them (in place).
    let policy = Policy {
        writable,
        read_only: vec![record_root.clone()],
        private: private_dirs(&scratch_base, &scratch, &source_dir),
        allow_network: network,
        max_processes: Some(spec.kiln.max_processes.unwrap_or(4096)),
        hidden,
        visible: Vec::new(),
        run_as_users: if opts.sandbox { run_as.users() } else { Vec::new() },
    };
    // The revision, branch and remote are read from the repository's files; whether it has
    // uncommitted changes is asked of `git status` in a sandbox of its own (git.rs says why),
    // answered while the build goes on.
    let (source, repo) = crate::git::read(&source_dir);
    let sandbox = if opts.sandbox { Sandbox::prepare(&policy)? } else { Sandbox::disabled() };
    // The run-as user's files: the scratch directories now, the working copy once copied.
    if let Some(owner) = run_as.owner() {
        for d in [&scratch.tmp, &scratch.home, &scratch.shell] {
            crate::runas::chown_tree(d, owner).map_err(io_err(format!("cannot hand {} to the run-as user", d.display())))?;
        }
        if !opts.in_place {
            crate::runas::chown_tree(&scratch.work, owner).map_err(io_err("cannot hand the working copy to the run-as user"))?;
        }
    }
    let dirty_check = repo.map(|repo| crate::git::DirtyCheck::start(&repo, opts.sandbox, &policy));
    if opts.exclusive_process {
        let _ = kiln_sandbox::become_subreaper();
    }

    let kind = ShellKind::from_spec(spec.env.shell.as_ref().map(|s| s.value.as_str())).map_err(EngineError::Setup)?;
    let mut env = context::standard_env(&EnvInputs { identity: &identity, source: &source, region: &opts.region, initiator: &opts.initiator, work_dir: &work_dir, scratch: &scratch });
    context::merge_env(&mut env, spec.env.variables.iter().map(|e| (e.name.value.clone(), e.value.value.clone())));
    if let Ok(r) = &resolved {
        context::merge_env(&mut env, r.iter().map(|s| (s.var.clone(), s.value.clone())));
    }
    if let Some(b) = &opts.batch {
        context::merge_env(&mut env, b.variables.iter().cloned());
    }
    context::merge_env(&mut env, opts.env_overrides.iter().cloned());
    if let Some(b) = &opts.batch {
        context::merge_env(&mut env, context::batch_env(b));
    }
    let shell = ShellSession::new(kind, spec.version, &scratch.shell, &work_dir, context::to_os_env(&env)).map_err(io_err("cannot prepare the shell session"))?;

    let builds = record_root.join("builds");
    let record_dir = builds.join(&uuid);
    context::ensure_record_dir(&builds).map_err(io_err(format!("cannot use {}", builds.display())))?;
    std::fs::create_dir(&record_dir).and_then(|_| std::fs::create_dir(record_dir.join("logs"))).map_err(io_err(format!("cannot create {}", record_dir.display())))?;
    // Held while the build runs: a later kiln removes partial files only from unlocked records.
    let record_lock = context::lock_record(&record_dir).map_err(io_err(format!("cannot lock {}", record_dir.display())))?;
    context::sweep_partial_records(&builds);
    let pump = Pump::start(&record_dir.join("logs"), masker.clone(), reporter).map_err(io_err("cannot start the output thread"))?;
    let records = RecordWriter::start(record_dir.join("build.json")).map_err(io_err("cannot start the record thread"))?;
    let timeout = opts.timeout.or(spec.kiln.timeout_minutes.map(|m| Duration::from_secs(u64::from(m) * 60))).unwrap_or(Duration::from_secs(3600));

    let record = BuildRecord {
        id: identity.id.clone(),
        build_number: number,
        project_name: identity.project.clone(),
        start_time: now_rfc3339(),
        end_time: None,
        current_phase: "SUBMITTED".into(),
        build_status: "IN_PROGRESS".into(),
        build_complete: false,
        initiator: opts.initiator.clone(),
        build_batch_arn: opts.batch.as_ref().map(|b| b.batch_arn.clone()),
        source_version: source.branch.clone().or(source.revision.clone()),
        resolved_source_version: source.revision.clone(),
        phases: Vec::new(),
        exported_environment_variables: Vec::new(),
        artifacts: None,
        secondary_artifacts: Vec::new(),
        report_arns: Vec::new(),
        reports: Vec::new(),
        logs: LogsRecord { path: record_dir.join("logs").display().to_string() },
        kiln: KilnRecord {
            version: env!("CARGO_PKG_VERSION").into(),
            buildspec: BuildspecRef { path: opts.buildspec_path.display().to_string(), sha256: crate::sha256_hex(buildspec_bytes) },
            source_dir: source_dir.display().to_string(),
            source_repository: source.repo_url.clone(),
            work_dir: work_dir.display().to_string(),
            record_dir: record_dir.display().to_string(),
            shell: kind.program().into(),
            sandbox: sandbox.report(),
            notices: {
                let mut n = crate::notices::collect(spec, &source, opts.batch.is_some());
                n.extend(run_as.not_applied.clone());
                n.extend(opts.batch.iter().flat_map(|b| b.notices.iter().cloned()));
                n.extend(refused.iter().map(|p| format!("the buildspec asks to write {}; it stays read-only in the build (a repository cannot grant itself write access to the host; `kiln build --writable {}` allows it)", p.display(), p.display())));
                n
            },
            secret_variables: resolved.as_ref().map(|r| r.iter().map(|s| s.var.clone()).collect()).unwrap_or_default(),
            environment_overrides: opts.env_overrides.iter().map(|(k, v)| NameValue { name: k.clone(), value: v.clone() }).collect(),
            plugins: Vec::new(),
            run_as: run_as.describe(),
            batch: opts.batch.as_ref().map(|b| BatchRef {
                identifier: b.identifier.clone(),
                environment_variables: b.variables.iter().map(|(k, v)| NameValue { name: k.clone(), value: v.clone() }).collect(),
            }),
        },
    };
    let mut run = Run {
        spec,
        opts,
        record,
        record_dir,
        records,
        pump,
        sandbox,
        shell,
        scratch: Some(scratch),
        hidden: policy.hidden.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect(),
        _record_lock: record_lock,
        cleanup: None,
        work_dir,
        succeeding: true,
        deadline: Instant::now() + timeout,
        timed_out: false,
        stop: opts.stop.clone(),
        stopped: false,
        masker,
        plugins,
        dirty_check,
        shell_user: None,
        run_as,
    };
    // The shell starts while kiln goes through the first phases (and copies the source).
    if spec.phases.iter().any(|ph| ph.commands.iter().chain(&ph.finally).any(|s| matches!(s, Step::Shell(_)))) {
        run.prestart_shell();
    }
    let provisioning_error = resolved.err().map(|e| ("Secrets Error".to_string(), e)).or(run_as_error.map(|e| ("CLIENT_ERROR".to_string(), e)));
    run.execute(provisioning_error, &source_dir).await;
    run.finish()
}

/// Queue `build.json`'s new content, with every secret value masked.
fn save_record(records: &RecordWriter, masker: &kiln_secrets::Masker, record: &BuildRecord) {
    if let Ok(json) = serde_json::to_string_pretty(record) {
        records.save(masker.mask_str(&json).into_bytes());
    }
}

/// How the build's shell process is set up: confined by the sandbox, as `user` (run-as), its
/// output into the pump.
fn shell_process<'a>(sandbox: &'a Sandbox, pump: &'a Pump, user: Option<(u32, u32)>) -> impl FnMut(&mut std::process::Command) -> std::io::Result<()> + 'a {
    move |cmd| {
        sandbox.apply_as(cmd, user);
        let (out, err) = pump.child_stdio()?;
        cmd.stdout(out).stderr(err);
        Ok(())
    }
}

/// The directory a cache path pattern lives under (`/root/.m2/**/*` → `/root/.m2`).
/// The directories a build sees empty: kiln's whole temp directory (other programs' temp files
/// and sockets, e.g. ssh-agent's, live there too) unless it holds the source or kiln's home
/// (or is `/`); else only the `kiln-<uid>` directories of every build's scratch space.
fn private_dirs(base: &Path, scratch: &Scratch, source: &Path) -> Vec<PathBuf> {
    let mut out = scratch.private_dirs().to_vec();
    let home = std::env::var_os("HOME").map(PathBuf::from).and_then(|h| std::fs::canonicalize(h).ok());
    if let Ok(base) = std::fs::canonicalize(base) {
        let holds = |p: &Path| p.starts_with(&base);
        if base != Path::new("/") && !holds(source) && !home.as_deref().is_some_and(holds) {
            out.push(base);
        }
    }
    out
}


fn cache_root(pattern: &str) -> PathBuf {
    let fixed: Vec<&str> = pattern.split('/').take_while(|c| !c.contains(['*', '?', '[', '{'])).collect();
    PathBuf::from(fixed.join("/"))
}

impl Run<'_> {
    fn save(&self) {
        save_record(&self.records, &self.masker, &self.record);
    }

    fn begin(&mut self, phase: PhaseType) -> Instant {
        self.pump.phase_started(phase);
        self.record.current_phase = phase.as_str().into();
        self.record.phases.push(PhaseRecord { phase_type: phase, phase_status: None, start_time: now_rfc3339(), end_time: None, duration_in_seconds: None, contexts: Vec::new(), duration: None });
        // The record is saved when a phase that runs commands starts (so a killed build shows
        // where it was) and at every phase end; each save replaces the file atomically.
        if self.has_work(phase) || phase == PhaseType::Submitted {
            self.save();
        }
        Instant::now()
    }

    /// Whether `phase` runs something of the user's (commands, plugins, artifact upload): the
    /// record is saved around those; bookkeeping phases are saved with the next one.
    fn has_work(&self, phase: PhaseType) -> bool {
        match phase.buildspec_phase() {
            Some(name) => self.spec.phases.iter().any(|ph| ph.name == name),
            // Reports are collected in UPLOAD_ARTIFACTS too (auto-discovery in every build).
            None => phase == PhaseType::UploadArtifacts,
        }
    }

    /// Close `phase`. Commands' output is already through the output thread (`run_phase` syncs
    /// after its commands), and kiln's own records are ordered in the same pipe, so no round trip.
    fn end(&mut self, phase: PhaseType, started: Instant, status: PhaseStatus, context: Option<(String, String)>) {
        let elapsed = started.elapsed();
        self.pump.phase_ended(phase, status, elapsed);
        if let Some((code, message)) = &context {
            // As CodeBuild's log does, say why the phase failed (masked by the output thread).
            self.pump.note(&format!("Phase context status code: {code} Message: {message}"));
        }
        if let Some(p) = self.record.phases.last_mut() {
            p.phase_status = Some(status);
            p.end_time = Some(now_rfc3339());
            p.duration_in_seconds = Some(elapsed.as_secs());
            p.duration = Some(elapsed);
            if let Some((code, message)) = context {
                p.contexts.push(PhaseContext { status_code: code, message: self.masker.mask_str(&message) });
            }
        }
        if status != PhaseStatus::Succeeded {
            self.succeeding = false;
        }
        if status != PhaseStatus::Succeeded || self.has_work(phase) {
            self.save();
        }
    }

    async fn execute(&mut self, provisioning_error: Option<(String, String)>, source_dir: &Path) {
        let mut phase = PhaseType::Submitted;
        while phase != PhaseType::Completed {
            if phase < PhaseType::Finalizing && self.stop.as_ref().is_some_and(crate::Stop::is_stopped) {
                // Asked to stop between phases: what has not started never does.
                self.stopped = true;
                phase = PhaseType::Finalizing;
            }
            let started = self.begin(phase);
            let (status, context, action) = match phase {
                PhaseType::Provisioning => {
                    for n in self.record.kiln.notices.clone() {
                        self.pump.note(&format!("notice: {n}"));
                    }
                    match &provisioning_error {
                        Some(e) => (PhaseStatus::Failed, Some(e.clone()), FailureAction::Default),
                        None => (PhaseStatus::Succeeded, None, FailureAction::Default),
                    }
                }
                PhaseType::DownloadSource => self.download_source(source_dir),
                PhaseType::UploadArtifacts => {
                    let uploaded = self.upload_artifacts().await;
                    let gates = self.collect_reports().await;
                    match (uploaded, gates) {
                        ((PhaseStatus::Succeeded, _, action), Some(why)) => (PhaseStatus::Failed, Some(("REPORT_GATE".into(), why)), action),
                        (other, _) => other,
                    }
                }
                PhaseType::Finalizing => {
                    self.note_dirty_source().await;
                    // In the build's own PID namespace what the build left running dies with the
                    // namespace's PID 1 (the shell) and never reaches the sweep: count it first,
                    // and wait for PID 1 itself, which the keeper's death re-parents to kiln.
                    let (inner, in_namespace) = match self.shell.pid() {
                        Some(keeper) if self.sandbox.pid_namespace() => {
                            let inner = kiln_sandbox::children_of(keeper);
                            let left = inner.iter().map(|&p| kiln_sandbox::descendants_of(p).len()).sum();
                            (inner, left)
                        }
                        _ => (Vec::new(), 0),
                    };
                    self.shell.kill().await;
                    for pid1 in inner {
                        kiln_sandbox::reap(pid1);
                    }
                    let swept = if self.opts.exclusive_process { kiln_sandbox::sweep_orphans(&[]) } else { 0 };
                    let killed = self.sandbox.kill_all() + swept + in_namespace;
                    if killed > 0 {
                        self.pump.note(&format!("stopped {killed} process(es) the build left running"));
                    }
                    // Nothing of the build runs any more: remove its scratch space while the
                    // record and the logs are finished.
                    if let Some(scratch) = self.scratch.take() {
                        self.cleanup = std::thread::Builder::new().name("kiln-cleanup".into()).spawn(move || drop(scratch)).ok();
                    }
                    (PhaseStatus::Succeeded, None, FailureAction::Default)
                }
                p => match p.buildspec_phase() {
                    Some(name) => match self.spec.phases.iter().find(|ph| ph.name == name) {
                        Some(ph) => self.run_phase(p, ph).await,
                        None => (PhaseStatus::Succeeded, None, FailureAction::Default),
                    },
                    None => (PhaseStatus::Succeeded, None, FailureAction::Default),
                },
            };
            self.end(phase, started, status, context);
            if !self.stopped && (phase == PhaseType::PostBuild || (status != PhaseStatus::Succeeded && phase.buildspec_phase().is_some() && next_phase(phase, status, action) == PhaseType::Finalizing)) {
                self.capture_exported().await;
            }
            phase = if (self.timed_out || self.stopped) && phase < PhaseType::Finalizing { PhaseType::Finalizing } else { next_phase(phase, status, action) };
        }
        self.record.current_phase = "COMPLETED".into();
        self.record.phases.push(PhaseRecord { phase_type: PhaseType::Completed, phase_status: None, start_time: now_rfc3339(), end_time: None, duration_in_seconds: None, contexts: Vec::new(), duration: None });
    }

    /// Add the notice that the source had uncommitted changes, once the confined `git status`
    /// has answered (it has had the whole build; it gets 10 s more at most).
    async fn note_dirty_source(&mut self) {
        let Some(check) = self.dirty_check.take() else { return };
        if check.finish(Duration::from_secs(10)).await == Some(true) {
            let n = crate::notices::DIRTY_SOURCE.to_string();
            self.pump.note(&format!("notice: {n}"));
            self.record.kiln.notices.push(n);
        }
    }

    fn download_source(&mut self, source_dir: &Path) -> (PhaseStatus, Option<(String, String)>, FailureAction) {
        if self.opts.in_place {
            self.pump.note(&format!("building in place in {}", source_dir.display()));
            return (PhaseStatus::Succeeded, None, FailureAction::Default);
        }
        // Never copy kiln's own directories, even when they sit inside the project (a TMPDIR or
        // record root under the source would otherwise copy the copy into itself).
        let mut skip = self.opts.record_root.iter().cloned().collect::<Vec<_>>();
        skip.extend(self.scratch.as_ref().map(|s| s.root.clone()));
        // A signing key or secrets file kept in the project stays out of the copy too.
        skip.extend(self.hidden.iter().filter(|h| h.starts_with(source_dir)).cloned());
        match context::copy_source(source_dir, &self.work_dir, &skip, self.deadline) {
            Ok(n) => {
                self.pump.note(&format!("copied {n} files into the working copy {}", self.work_dir.display()));
                if let Some(owner) = self.run_as.owner()
                    && let Err(e) = crate::runas::chown_tree(&self.work_dir, owner)
                {
                    return (PhaseStatus::Failed, Some(("CLIENT_ERROR".into(), format!("could not hand the working copy to the run-as user: {e}"))), FailureAction::Default);
                }
                (PhaseStatus::Succeeded, None, FailureAction::Default)
            }
            Err(e @ context::CopyError::Deadline { .. }) => {
                self.timed_out = true;
                (PhaseStatus::TimedOut, Some(("BUILD_TIMED_OUT".into(), e.to_string())), FailureAction::Default)
            }
            Err(e) => (PhaseStatus::Failed, Some(("CLIENT_ERROR".into(), format!("could not copy the source: {e}"))), FailureAction::Default),
        }
    }

    async fn run_phase(&mut self, phase: PhaseType, ph: &Phase) -> (PhaseStatus, Option<(String, String)>, FailureAction) {
        let on_failure = ph.on_failure();
        let action = match ph.on_failure.as_ref().map(|o| &o.value) {
            Some(OnFailure::Continue) => FailureAction::Continue,
            Some(OnFailure::Abort) => FailureAction::Abort,
            _ => FailureAction::Default,
        };
        let phase_deadline = self.opts.phase_timeout.or(self.spec.kiln.phase_timeout_minutes.map(|m| Duration::from_secs(u64::from(m) * 60))).map(|d| Instant::now() + d);
        let deadline = phase_deadline.map_or(self.deadline, |d| d.min(self.deadline));
        self.switch_user(ph.name).await;
        for (name, version) in ph.runtime_versions.iter().map(|e| (&e.name.value, &e.value.value)) {
            self.pump.note(&format!("runtime-versions: {name} {version} requested; kiln uses the host's toolchain on PATH"));
        }
        let mut attempt = 0;
        loop {
            self.pump.capture_start();
            let result = self.run_commands(&ph.commands, &ph.finally, deadline).await;
            // Keep the session's state for a restart or a helper; the shell saves while kiln
            // closes the phase (the reply is read before the next request).
            self.shell.save();
            self.pump.sync();
            let output = self.pump.capture_take();
            let Err((status, message)) = result else { return (PhaseStatus::Succeeded, None, action) };
            if let (OnFailure::Retry { count, regex }, PhaseStatus::Failed) = (&on_failure, status) {
                let matches = regex.as_ref().is_none_or(|r| regex::Regex::new(r).is_ok_and(|re| re.is_match(&output)));
                if attempt < *count && matches {
                    attempt += 1;
                    self.pump.note(&format!("{message}; retrying {} (retry {attempt} of {count})", phase.as_str()));
                    continue;
                }
            }
            let code = match status {
                PhaseStatus::TimedOut => "BUILD_TIMED_OUT",
                PhaseStatus::Stopped => "BUILD_STOPPED",
                _ => "COMMAND_EXECUTION_ERROR",
            };
            return (status, Some((code.into(), message)), action);
        }
    }

    /// Run `commands` until one fails, then `finally` (stopping at its first failure).
    async fn run_commands(&mut self, commands: &[Step], finally: &[Step], deadline: Instant) -> Result<(), (PhaseStatus, String)> {
        let mut result = Ok(());
        for c in commands {
            if let Err(e) = self.run_step(c, deadline).await {
                result = Err(e);
                break;
            }
        }
        if result.as_ref().is_err_and(|(s, _)| matches!(s, PhaseStatus::TimedOut | PhaseStatus::Stopped)) {
            return result;
        }
        for c in finally {
            if let Err(e) = self.run_step(c, deadline).await {
                return result.and(Err(e));
            }
        }
        result
    }

    async fn run_step(&mut self, step: &Step, deadline: Instant) -> Result<(), (PhaseStatus, String)> {
        match step {
            Step::Shell(c) => self.run_one(&c.value, deadline).await,
            Step::Uses(u) => self.run_plugin(&u.plugin.value, &u.with, deadline).await,
        }
    }

    /// Run a `uses:` step through the plugin runner; its findings summary and logs go to the output.
    async fn run_plugin(&mut self, plugin: &str, with: &serde_json::Value, deadline: Instant) -> Result<(), (PhaseStatus, String)> {
        self.pump.note(&format!("Running plugin {plugin}"));
        let index = self.record.kiln.plugins.len() + 1;
        let safe: String = plugin.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        let out_dir = self.record_dir.join("plugins").join(format!("{index:02}-{safe}"));
        if let Err(e) = std::fs::create_dir_all(&out_dir) {
            return Err((PhaseStatus::Failed, format!("could not create {}: {e}", out_dir.display())));
        }
        let req = crate::plugins::PluginRequest { plugin, with, src_dir: &self.work_dir, out_dir: &out_dir, deadline };
        // The deadline bounds the whole step, kiln's own work included (reading and compiling
        // the plugin), not only the plugin's call: past it kiln stops waiting for the runner.
        let started = Instant::now();
        let stop = self.stop.clone();
        let running = tokio::select! {
            run = tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), self.plugins.run(req)) => run,
            () = crate::stop::requested(stop.as_ref()) => return Err(self.stopped_during(&format!("plugin {plugin}")).await),
        };
        let mut run = match running {
            Ok(run) => run,
            Err(_) => crate::plugins::PluginRun {
                uses: plugin.to_string(),
                outcome: "error".into(),
                duration_ms: started.elapsed().as_millis() as u64,
                message: Some("it did not finish before the timeout; kiln stopped waiting for it".into()),
                ..Default::default()
            },
        };
        let expired = Instant::now() >= deadline;
        for line in &run.logs {
            self.pump.note(&format!("{}: {line}", if run.name.is_empty() { plugin } else { &run.name }));
        }
        let summary = format!(
            "plugin {} {}: {} in {} ms, {} finding(s){}",
            if run.name.is_empty() { plugin } else { &run.name },
            run.version,
            run.outcome,
            run.duration_ms,
            run.findings,
            run.message.as_ref().map(|m| format!(" — {m}")).unwrap_or_default()
        );
        self.pump.note(&summary);
        run.message = run.message.map(|m| self.masker.mask_str(&m));
        let failed = run.failed();
        self.record.kiln.plugins.push(run);
        if failed && expired {
            // It failed because the phase or build deadline passed (the runner's limits are cut
            // to the deadline): a timeout, as for a command.
            let build_expired = Instant::now() >= self.deadline;
            self.timed_out |= build_expired;
            let what = if build_expired { "build" } else { "phase" };
            return Err((PhaseStatus::TimedOut, format!("the {what} timed out while running plugin {plugin}: {summary}")));
        }
        if failed { Err((PhaseStatus::Failed, summary)) } else { Ok(()) }
    }

    /// Before `phase`'s commands: when they run as another user than the running shell, end the
    /// shell (its state saved by its EXIT trap) and hand the state files to that user; the next
    /// command starts the shell as them from that state.
    async fn switch_user(&mut self, phase: kiln_spec::PhaseName) {
        let want = self.run_as.user_for(phase);
        if want == self.shell_user {
            return;
        }
        self.shell.stop().await;
        if let (Some(user), Some(scratch)) = (want, &self.scratch)
            && let Err(e) = crate::runas::chown_tree(&scratch.shell, user)
        {
            self.pump.note(&format!("warning: cannot hand the shell's state to the run-as user: {e}"));
        }
        self.shell_user = want;
    }

    /// Start the build's shell ahead of its first command. A failure is not reported here: the
    /// first command starts the shell again and reports why it could not.
    fn prestart_shell(&mut self) {
        self.shell_user = self.spec.phases.first().and_then(|p| self.run_as.user_for(p.name));
        let mut prepare = shell_process(&self.sandbox, &self.pump, self.shell_user);
        let _ = self.shell.prestart(&mut prepare);
    }

    async fn run_one(&mut self, text: &str, deadline: Instant) -> Result<(), (PhaseStatus, String)> {
        self.pump.note(&format!("Running command {text}"));
        let mut prepare = shell_process(&self.sandbox, &self.pump, self.shell_user);
        let stop = self.stop.clone();
        let exit = tokio::select! {
            exit = self.shell.run(text, self.succeeding, deadline, &mut prepare) => exit,
            () = crate::stop::requested(stop.as_ref()) => {
                drop(prepare);
                return Err(self.stopped_during(&format!("command {text}")).await);
            }
        };
        match exit {
            Ok(Exit::Code(0)) => Ok(()),
            Ok(Exit::Code(code)) => Err((PhaseStatus::Failed, format!("Error while executing command: {text}. Reason: exit status {code}"))),
            Ok(Exit::TimedOut) => {
                self.sandbox.kill_all();
                let build_expired = Instant::now() >= self.deadline;
                self.timed_out |= build_expired;
                let what = if build_expired { "build" } else { "phase" };
                Err((PhaseStatus::TimedOut, format!("the {what} timed out while running command {text}; all its processes were killed")))
            }
            Err(e) => Err((PhaseStatus::Failed, format!("could not run command {text}: {e}"))),
        }
    }

    /// The build was asked to stop while `what` ran: kill the session's whole process tree (as at
    /// a timeout) and end the phase `STOPPED`.
    async fn stopped_during(&mut self, what: &str) -> (PhaseStatus, String) {
        self.stopped = true;
        self.shell.kill().await;
        self.sandbox.kill_all();
        let why = self.stop.as_ref().and_then(crate::Stop::reason).unwrap_or_else(|| "asked to stop".into());
        (PhaseStatus::Stopped, format!("the build was stopped ({why}) while running {what}; all its processes were killed"))
    }

    /// Capture `env.exported-variables` from the session (after post_build, or the last phase that ran).
    async fn capture_exported(&mut self) {
        if self.spec.env.exported_variables.is_empty() || !self.record.exported_environment_variables.is_empty() {
            return;
        }
        let names: Vec<String> = self.spec.env.exported_variables.iter().map(|v| v.value.clone()).collect();
        self.shell.sync_state(self.deadline).await;
        let mut cmd = self.shell.query_command(&names);
        self.sandbox.apply(&mut cmd);
        let out = tokio::process::Command::from(cmd).output().await;
        let values = out.map(|o| crate::shell::parse_query_output(&o.stdout)).unwrap_or_default();
        self.record.exported_environment_variables = names
            .iter()
            .map(|n| NameValue { name: n.clone(), value: values.iter().find(|(k, _)| k == n).map(|(_, v)| self.masker.mask_str(v)).unwrap_or_default() })
            .collect();
    }

    async fn upload_artifacts(&mut self) -> (PhaseStatus, Option<(String, String)>, FailureAction) {
        let Some(artifacts) = &self.spec.artifacts else { return (PhaseStatus::Succeeded, None, FailureAction::Default) };
        self.shell.sync_state(self.deadline).await;
        let packaging = if self.opts.zip_artifacts { kiln_artifacts::Packaging::Zip } else { kiln_artifacts::Packaging::Directory };
        let ctx = upload::UploadContext { shell: &self.shell, sandbox: &self.sandbox, work_dir: &self.work_dir, dest: &self.record_dir.join("artifacts"), packaging, project: &self.record.project_name, masker: &self.masker };
        match upload::upload_all(&ctx, artifacts).await {
            Ok(mut done) => {
                // Names and paths come from the build (`name: $VAR`): mask them here as well, so
                // the record returned to the caller (`--json`) says what build.json says.
                for a in done.primary.iter_mut().chain(done.secondary.iter_mut()) {
                    a.location = self.masker.mask_str(&a.location);
                    for f in &mut a.files {
                        f.path = self.masker.mask_str(&f.path);
                    }
                }
                for w in &done.warnings {
                    self.pump.note(&format!("warning: {w}"));
                }
                for a in done.primary.iter().chain(&done.secondary) {
                    self.pump.note(&format!("artifact {} ({} files) -> {}", a.artifact_identifier.as_deref().unwrap_or("primary"), a.files.len(), a.location));
                }
                self.record.artifacts = done.primary;
                self.record.secondary_artifacts = done.secondary;
                (PhaseStatus::Succeeded, None, FailureAction::Default)
            }
            Err(e) => (PhaseStatus::Failed, Some(("CLIENT_ERROR".into(), e)), FailureAction::Default),
        }
    }

    /// Collect the build's reports into the record (see `reports.rs`); `Some(why)` when they
    /// fail a `kiln: reports:` gate.
    async fn collect_reports(&mut self) -> Option<String> {
        self.shell.sync_state(self.deadline).await;
        let build_arn = context::build_arn(&self.opts.region, &self.record.id);
        let ctx = crate::reports::ReportsContext {
            shell: &self.shell,
            sandbox: &self.sandbox,
            work_dir: &self.work_dir,
            record_dir: &self.record_dir,
            masker: &self.masker,
            project: &self.record.project_name,
            region: &self.opts.region,
            build_arn: &build_arn,
        };
        let reports = crate::reports::collect(&ctx, &self.spec.reports).await;
        for r in &reports {
            self.pump.note(&format!("report {}", crate::reports::summary_line(r)));
            for w in &r.kiln.warnings {
                self.pump.note(&format!("warning: report {}: {w}", r.report.name));
            }
        }
        let failures = crate::reports::gate_failures(&reports, &self.spec.kiln.report_gates);
        self.record.report_arns = reports.iter().filter_map(|r| r.report.arn.clone()).collect();
        self.record.reports = reports;
        (!failures.is_empty()).then(|| failures.join("; "))
    }

    fn finish(mut self) -> Result<BuildOutcome, EngineError> {
        let failed = self.record.phases.iter().any(|p| matches!(p.phase_status, Some(s) if s != PhaseStatus::Succeeded));
        self.record.build_status = if self.timed_out {
            "TIMED_OUT"
        } else if self.stopped {
            "STOPPED"
        } else if failed {
            "FAILED"
        } else {
            "SUCCEEDED"
        }
        .into();
        self.record.build_complete = true;
        self.record.end_time = Some(now_rfc3339());
        let Run { record, record_dir, records, pump, masker, scratch, cleanup, .. } = self;
        // The record is written while the logs are flushed and the scratch space removed.
        save_record(&records, &masker, &record);
        let logs = pump.finish();
        drop(scratch);
        records.finish();
        logs.map_err(io_err("writing the build logs"))?;
        Ok(BuildOutcome { record, record_dir, provenance: None, masker, _cleanup: Cleanup(cleanup) })
    }
}
