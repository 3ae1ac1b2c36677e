//! One build, start to finish: CodeBuild's phases in order, with its transitions, timeouts, the
//! sandbox around every command, and the record written after every phase.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_sandbox::{Policy, Sandbox};
use kiln_spec::{BuildSpec, Step};

use crate::context::{self, EnvInputs, Identity, Scratch};
use crate::output::{Pump, Reporter};
use crate::record::*;
use crate::secrets;
use crate::shell::{ShellKind, ShellSession};
use crate::transitions::{next_phase, FailureAction, PhaseStatus, PhaseType};
use crate::plugins::PluginRunner;

pub use crate::options::BuildOptions;

mod cache;
mod outputs;
mod steps;

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
    /// The buildspec's `cache:` (`None`: none, or `--no-cache`).
    cache: Option<crate::build_cache::BuildCache>,
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
    // The build cache store holds every project's cached files: out of the build's sight.
    let build_cache = crate::build_cache::BuildCache::new(spec, opts, &identity.project);
    if let Some(c) = &build_cache {
        use std::os::unix::fs::DirBuilderExt;
        let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(c.store_dir());
    }
    hidden.extend(opts.secrets_file.clone().filter(|p| p.exists()));
    hidden.extend(secrets::default_secrets_file());
    let inside_writable = |p: &Path| std::fs::canonicalize(p).is_ok_and(|c| writable.iter().filter_map(|w| std::fs::canonicalize(w).ok()).any(|w| c.starts_with(&w) || w.starts_with(&c)));
    hidden.extend(secrets::credential_paths().into_iter().chain(build_cache.as_ref().map(|c| c.store_dir().to_path_buf())).filter(|p| !inside_writable(p)));
    // The build records stay read-only where a step could otherwise write them (in place).
    let policy = Policy {
        writable,
        read_only: vec![record_root.clone()],
        private: private_dirs(&scratch_base, &scratch, &source_dir),
        allow_network: network,
        max_processes: Some(spec.kiln.max_processes.unwrap_or(4096)),
        hidden,
        // kiln's own executable runs inside as `codebuild-hash-files` (see below).
        visible: opts.helper_exe.iter().cloned().collect(),
        run_as_users: if opts.sandbox { run_as.users() } else { Vec::new() },
    };
    // The revision, branch and remote are read from the repository's files; whether it has
    // uncommitted changes is asked of `git status` in a sandbox of its own (git.rs says why),
    // answered while the build goes on.
    let (source, repo) = crate::git::source(&source_dir, opts.source_version.as_ref());
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
    // CodeBuild's images carry `codebuild-hash-files` and `codebuild-glob-search` (cache keys
    // use the first): kiln itself answers to those names, from a directory at the end of PATH.
    if let Some(exe) = &opts.helper_exe
        && let Ok(bin) = context::helper_commands(&scratch.home, exe)
    {
        context::append_path(&mut env, &bin);
    }
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
            cache: None,
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
        cache: build_cache,
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
                PhaseType::DownloadSource => {
                    let copied = self.download_source(source_dir);
                    if copied.0 == PhaseStatus::Succeeded {
                        self.restore_cache().await;
                    }
                    copied
                }
                PhaseType::UploadArtifacts => {
                    self.save_cache().await;
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
