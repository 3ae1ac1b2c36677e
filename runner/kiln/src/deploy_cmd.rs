//! `kiln deploy`: deploy a build (or an artifact) as CodeDeploy would, after verifying its
//! provenance, and sign a deployment attestation. The deployment itself is `kiln-deploy`'s
//! engine over `kiln-deploy-session`'s fleet; this file parses flags, checks the provenance
//! (`verify::run_with`), signs the attestation with the build key through the signer plugin,
//! and prints the outcome. `deploy_status.rs` has status, list, stop and continue.
//!
//! Exit codes: 0 the deployment succeeded, 1 it failed or was stopped (rolled back or not), 2
//! kiln could not run it (flags, the group file, an unverified revision, an I/O problem).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use kiln_attest::{KeyPair, PublicKey};
use kiln_deploy::group::DeploymentGroup;
use kiln_deploy::record::{DeploymentInfo, DeploymentStatus, Store};
use kiln_deploy::{DeploymentOptions, RunOptions, RunOutcome};
use kiln_deploy_session::fleet::Confinement;
use kiln_deploy_session::progress::Terminal;
use kiln_deploy_session::revision;
use kiln_deploy_session::{Session, SessionConfig};
use kiln_host::{Host, HostConfig};

use crate::exit;
use crate::signing::ProvenanceSigner;

/// The file name of a deployment's signed attestation, in its record directory.
pub const ATTESTATION_FILE: &str = "attestation.intoto.jsonl";

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct DeployArgs {
    #[command(subcommand)]
    command: Option<DeployCommand>,
    #[command(flatten)]
    run: RunArgs,
}

/// What every command that runs a deployment takes.
#[derive(Args, Clone)]
pub struct Common {
    /// The deployment group file (application, group, configuration, alarms, rollback, targets).
    #[arg(long, default_value = "deployment-group.yml")]
    group: PathBuf,
    /// The project whose `.kiln/` holds the builds and the deployment records.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The build key (cosign format): signs the deployment attestation, and its public half
    /// verifies the build's provenance unless --verify-key is given.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Sign with an unencrypted private key (refused otherwise).
    #[arg(long)]
    allow_unencrypted_key: bool,
    /// Real seconds per nominal second (0.01 makes a 5-minute canary wait 3 s); hook timeouts stay real.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Print the deployment record(s) as JSON on stdout (progress stays on stderr).
    #[arg(long)]
    json: bool,
    /// Run hooks and services without kiln's sandbox.
    #[arg(long)]
    no_sandbox: bool,
}

#[derive(Args)]
struct RunArgs {
    /// A build of this project (its id, or 4+ characters of it: its primary artifact and signed
    /// provenance), or an artifact: a directory or .zip with an appspec at its root.
    #[arg(required = true)]
    source: Option<String>,
    #[command(flatten)]
    common: Common,
    /// Override the group's deploymentConfigName (e.g. CodeDeployDefault.OneAtATime).
    #[arg(long)]
    config: Option<String>,
    /// The public key that must have signed the provenance (default: --key's public half).
    #[arg(long)]
    verify_key: Option<PathBuf>,
    /// The provenance of an artifact given by path (a build's own is found in its record).
    #[arg(long)]
    provenance: Option<PathBuf>,
    /// A provenance policy the build must meet (as `kiln verify --policy`).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Deploy without verified provenance (recorded in the deployment's description).
    #[arg(long)]
    allow_unverified: bool,
    /// A description for the record.
    #[arg(long)]
    description: Option<String>,
    /// After the deployment, keep the fleet and its router serving until Ctrl-C or SIGTERM
    /// (local driver: the instances are kiln's processes).
    #[arg(long)]
    serve: bool,
}

#[derive(Subcommand)]
enum DeployCommand {
    /// One deployment's record: status, counts, error, rollback, each instance's lifecycle events.
    Status(crate::deploy_status::StatusArgs),
    /// Every deployment of the project, oldest first.
    List(crate::deploy_status::ListArgs),
    /// Stop a deployment in progress (the kiln running it rolls back as the group says), or mark
    /// an interrupted one stopped.
    Stop(crate::deploy_status::StopArgs),
    /// Continue a blue/green deployment waiting for rerouting (ContinueDeployment).
    Continue(crate::deploy_status::ContinueArgs),
    /// Roll back an interrupted deployment (kiln was killed), or a failed one not rolled back:
    /// traffic back first, then the last good revision redeployed.
    Rollback(Recover),
    /// Resume an interrupted deployment where its record says it stopped.
    Resume(Recover),
}

impl DeployCommand {
    fn common(&mut self) -> Option<&mut Common> {
        match self {
            DeployCommand::Rollback(r) | DeployCommand::Resume(r) => Some(&mut r.common),
            _ => None,
        }
    }
}

#[derive(Args)]
struct Recover {
    /// The deployment id (d-…).
    id: String,
    #[command(flatten)]
    common: Common,
}

pub fn run(mut args: DeployArgs) -> ExitCode {
    // Records name paths absolutely (hooks and services run elsewhere).
    for c in [Some(&mut args.run.common), args.command.as_mut().and_then(DeployCommand::common)].into_iter().flatten() {
        match std::path::absolute(&c.dir) {
            Ok(d) => c.dir = d,
            Err(e) => return exit::internal(&format!("{}: {e}", c.dir.display())),
        }
    }
    match args.command {
        Some(DeployCommand::Status(a)) => crate::deploy_status::status(&a),
        Some(DeployCommand::List(a)) => crate::deploy_status::list(&a),
        Some(DeployCommand::Stop(a)) => crate::deploy_status::stop(&a),
        Some(DeployCommand::Continue(a)) => crate::deploy_status::continue_deployment(&a),
        Some(DeployCommand::Rollback(r)) => recover(&r, false),
        Some(DeployCommand::Resume(r)) => recover(&r, true),
        None => deploy(&args.run),
    }
}

/// The group file, read and checked; every problem printed with its line and column.
fn read_group(path: &Path) -> Result<DeploymentGroup, String> {
    let bytes = kiln_fs::read_input(path, kiln_fs::limits::CONFIG, "deployment group file").map_err(|e| format!("{e} (give the group file with --group)"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))?;
    let parsed = kiln_deploy::group::parse_group(&text);
    let name = path.display().to_string();
    for d in parsed.diagnostics.iter().filter(|d| !d.is_error()) {
        eprintln!("{}", d.to_plain(&name));
    }
    let errors: Vec<String> = parsed.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.to_plain(&name)).collect();
    match parsed.group {
        Some(g) if errors.is_empty() => Ok(g),
        _ => Err(format!("{name} is not a valid deployment group file:\n{}", errors.join("\n"))),
    }
}

/// The signing key: `--key`, or an ephemeral one (its public half is written beside each
/// attestation, and a warning says what that proves).
fn signing_key(c: &Common) -> Result<(Arc<KeyPair>, bool), String> {
    match &c.key {
        Some(p) => crate::keys::load_signing_key(p, c.allow_unencrypted_key).map(|k| (Arc::new(k), false)),
        None => KeyPair::generate().map(|k| (Arc::new(k), true)).map_err(|e| e.to_string()),
    }
}

fn host() -> Result<Arc<Host>, String> {
    Host::new(HostConfig { cache_dir: crate::warm::plugin_cache_dir(), ..Default::default() }).map(Arc::new).map_err(|e| format!("cannot start the plugin host: {e}"))
}

fn session_config(c: &Common, group: DeploymentGroup, host: Arc<Host>) -> SessionConfig {
    if !(c.time_scale > 0.0 && c.time_scale <= 1000.0) {
        eprintln!("warning: --time-scale {} is out of range; using 1", c.time_scale);
    }
    let time_scale = if c.time_scale > 0.0 && c.time_scale <= 1000.0 { c.time_scale } else { 1.0 };
    let hidden = c.key.iter().filter_map(|k| k.canonicalize().ok()).collect();
    // Strategy plugins (`kilnStrategy.uses`) resolve as build steps' `uses:` do, against the
    // group file's directory and its kiln.lock.
    let base = kiln_deploy_session::group_dir(&c.group);
    let base = std::path::absolute(&base).unwrap_or(base);
    SessionConfig {
        project: c.dir.clone(),
        group_file: c.group.clone(),
        group,
        host,
        confinement: Confinement { sandboxed: !c.no_sandbox, hidden },
        options: RunOptions { time_scale, ..RunOptions::default() },
        reporter: Arc::new(Terminal::stderr()),
        resolver: Some(Box::new(move |reference: &str| crate::plugins::resolve(reference, &base, &base))),
    }
}

/// Check the provenance of what is to be deployed; `Ok(None)` when verified, `Ok(Some(note))`
/// when deployed unverified on request.
fn verify(r: &RunArgs, found: &revision::Found, signing: Option<&KeyPair>) -> Result<Option<String>, ExitCode> {
    if r.allow_unverified {
        eprintln!("warning: deploying {} without verifying its provenance (--allow-unverified); the record says so", found.name);
        return Ok(Some("deployed with --allow-unverified: the revision's provenance was not verified".into()));
    }
    let Some(provenance) = found.provenance.clone() else {
        return Err(exit::internal(&format!("{} has no provenance to verify: deploy a build of this project, give --provenance FILE, or pass --allow-unverified", found.name)));
    };
    let (key, key_path): (PublicKey, PathBuf) = match (&r.verify_key, signing, &r.common.key) {
        (Some(p), _, _) => match kiln_fs::read_input(p, kiln_fs::limits::KEY, "public key").map_err(|e| e.to_string()).and_then(|b| PublicKey::read(&b).map_err(|e| format!("cannot read the public key {}: {e}", p.display()))) {
            Ok(k) => (k, p.clone()),
            Err(e) => return Err(exit::internal(&e)),
        },
        (None, Some(k), Some(p)) => (k.public_key().clone(), p.clone()),
        _ => return Err(exit::usage("the provenance is verified with a public key: give --key (the build key) or --verify-key cosign.pub, or pass --allow-unverified")),
    };
    // With --json, stdout is the deployment records only: the verification report goes to stderr.
    crate::verify::lines_to_stderr(r.common.json);
    if r.common.json {
        eprintln!("== verifying {} before deploying it", found.name);
    } else {
        println!("== verifying {} before deploying it", found.name);
    }
    let args = crate::verify::VerifyArgs {
        key: Some(key_path.clone()),
        keyless: Default::default(),
        provenance: Some(provenance),
        builder_id: crate::provenance::DEFAULT_BUILDER_ID.into(),
        source_revision: None,
        allow_failed: false,
        policy: r.policy.clone(),
        artifacts: revision::files(found),
    };
    if crate::verify::run_with(&args, Some(key), Some(&key_path)) != ExitCode::SUCCESS {
        return Err(exit::internal(&format!("{}: its provenance did not verify (above); nothing was deployed", found.name)));
    }
    Ok(None)
}

fn deploy(r: &RunArgs) -> ExitCode {
    let c = &r.common;
    let source = r.source.as_deref().unwrap_or_default();
    let group = match read_group(&c.group) {
        Ok(g) => g,
        Err(e) => return exit::internal(&e),
    };
    let found = match revision::find(&c.dir, source, r.provenance.as_deref()) {
        Ok(f) => f,
        Err(e) => return exit::internal(&e),
    };
    let (key, ephemeral) = match signing_key(c) {
        Ok(k) => k,
        Err(e) => return exit::internal(&e),
    };
    let unverified = match verify(r, &found, (!ephemeral).then_some(&*key)) {
        Ok(u) => u,
        Err(code) => return code,
    };
    let deployments = c.dir.join(".kiln").join("deployments");
    if let Err(e) = std::fs::create_dir_all(&deployments) {
        return exit::internal(&format!("{}: {e}", deployments.display()));
    }
    let revision = match revision::stage(&deployments, &found) {
        Ok(r) => r,
        Err(e) => return exit::internal(&e),
    };
    let description = match (&r.description, &unverified) {
        (Some(d), Some(u)) => Some(format!("{d} ({u})")),
        (d, u) => d.clone().or(u.clone()),
    };
    let options = DeploymentOptions { description, deployment_config_name: r.config.clone(), ..DeploymentOptions::default() };
    let host = match host() {
        Ok(h) => h,
        Err(e) => return exit::internal(&e),
    };
    let config = session_config(c, group, host.clone());
    let outcome = run_session(config, None, r.serve, |s| Box::pin(async move { s.deploy(revision, options).await }));
    finish(c, &host, outcome, &key, ephemeral)
}

fn recover(r: &Recover, resume: bool) -> ExitCode {
    let c = &r.common;
    let group = match read_group(&c.group) {
        Ok(g) => g,
        Err(e) => return exit::internal(&e),
    };
    let info = match Store::open(&c.dir).and_then(|s| s.read(&r.id)) {
        Ok(i) => i,
        Err(e) => return exit::internal(&e.to_string()),
    };
    let (key, ephemeral) = match signing_key(c) {
        Ok(k) => k,
        Err(e) => return exit::internal(&e),
    };
    let host = match host() {
        Ok(h) => h,
        Err(e) => return exit::internal(&e),
    };
    let config = session_config(c, group, host.clone());
    let id = r.id.clone();
    let outcome = run_session(config, Some(&info), false, |s| Box::pin(async move { if resume { s.resume(&id).await } else { s.rollback(&id).await } }));
    finish(c, &host, outcome, &key, ephemeral)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn announce(session: &Session) {
    if let Some(a) = session.router_addr() {
        eprintln!("router: http://{a}/ (the deployment group's load balancer)");
    }
}

type SessionFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<RunOutcome, String>> + 'a>>;

/// Open a session — for a new deployment, or for the recorded one `record` (resume, rollback) —
/// run `work` in it (Ctrl-C stops the deployment), serve on if asked, shut down.
fn run_session(config: SessionConfig, record: Option<&DeploymentInfo>, serve: bool, work: impl for<'a> FnOnce(&'a Session) -> SessionFuture<'a>) -> Result<RunOutcome, String> {
    let rt = runtime()?;
    rt.block_on(async move {
        let project = config.project.clone();
        let session = match record {
            Some(info) => Session::for_record(config, info).await?,
            None => Session::for_new(config).await?,
        };
        announce(&session);
        let watcher = tokio::spawn(stop_on_interrupt(project));
        let out = work(&session).await;
        watcher.abort();
        if serve
            && out.is_ok()
            && let Some(a) = session.router_addr()
        {
            eprintln!("serving on http://{a}/ until Ctrl-C or SIGTERM");
            wait_for_signal().await;
        }
        session.shutdown().await;
        out
    })
}

/// Ctrl-C while this kiln runs a deployment: stop it as `kiln deploy stop` would (rolling back as
/// the group says), so a deployment is not left half-shifted; a second Ctrl-C leaves at once (the
/// deployment is then interrupted: `kiln deploy rollback` or `resume`).
async fn stop_on_interrupt(project: PathBuf) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    eprintln!("interrupted: stopping the deployment (as `kiln deploy stop`); Ctrl-C again to leave it interrupted");
    if let Ok(store) = Store::open(&project) {
        let mine = kiln_deploy::Deployment::list(&store).unwrap_or_default().into_iter().filter(|d| d.kiln.pid == std::process::id() && !d.status.is_final());
        for d in mine {
            if let Err(e) = kiln_deploy::Deployment::stop(&store, &d.deployment_id, None) {
                eprintln!("error: stopping {}: {e}", d.deployment_id);
            }
        }
    }
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("interrupted again: leaving; `kiln deploy status` shows the deployment as interrupted");
        std::process::exit(130);
    }
}

async fn wait_for_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Sign an attestation for each deployment of the outcome, print it, choose the exit code.
fn finish(c: &Common, host: &Host, outcome: Result<RunOutcome, String>, key: &Arc<KeyPair>, ephemeral: bool) -> ExitCode {
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return exit::internal(&e),
    };
    let store = match Store::open(&c.dir) {
        Ok(s) => s,
        Err(e) => return exit::internal(&e.to_string()),
    };
    let signer = match ProvenanceSigner::load_on(host) {
        Ok(s) => s,
        Err(e) => return exit::internal(&e),
    };
    if ephemeral {
        eprintln!("warning: no --key: the deployment attestation is signed with an ephemeral key (its public key is written beside it), which proves nothing beyond this record; give the build key with --key");
    }
    let mut infos = vec![outcome.deployment.clone()];
    infos.extend(outcome.rollback.clone());
    for info in &infos {
        match attest(&store, &signer, info, key, ephemeral) {
            Ok(p) => eprintln!("attestation: {}", p.display()),
            Err(e) => return exit::internal(&format!("deployment {}: the attestation could not be written: {e}", info.deployment_id)),
        }
    }
    if c.json {
        let all: Vec<&DeploymentInfo> = infos.iter().collect();
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
    } else {
        for info in &infos {
            crate::deploy_status::summary(info);
        }
    }
    if outcome.deployment.status == DeploymentStatus::Succeeded { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// Sign `info`'s attestation and write it (atomically) into its record directory.
fn attest(store: &Store, signer: &ProvenanceSigner, info: &DeploymentInfo, key: &Arc<KeyPair>, ephemeral: bool) -> Result<PathBuf, String> {
    let statement = kiln_deploy::record::attest::statement(info);
    let payload = serde_json::to_vec(&statement).map_err(|e| e.to_string())?;
    let envelope = signer.sign_statement(&payload, key.clone())?;
    let dir = store.dir(&info.deployment_id).map_err(|e| e.to_string())?;
    if ephemeral {
        let p = dir.join("attestation.pub");
        kiln_fs::write_atomic(&p, key.public_key().to_pem().as_bytes(), true).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let path = dir.join(ATTESTATION_FILE);
    kiln_attest::dsse::write_jsonl(&path, &[envelope]).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
