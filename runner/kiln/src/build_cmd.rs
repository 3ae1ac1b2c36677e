//! `kiln build`: one build of a buildspec (CodeBuild's start-build), or with `--batch` the
//! buildspec's batch (`batch_cmd.rs`). The flags and the options both share are here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use std::sync::Arc;

use kiln_attest::KeyPair;

use crate::{console, exit, plugins, provenance, signing, validate, warm};

#[derive(Args)]
pub struct BuildArgs {
    /// The project directory (default: the current directory).
    pub dir: Option<PathBuf>,
    /// The buildspec, relative to DIR (default: buildspec.yml, then buildspec.yaml).
    #[arg(short = 'b', long = "buildspec")]
    pub buildspec: Option<PathBuf>,
    /// Set or override an environment variable (like start-build's override), repeatable.
    #[arg(long = "env", short = 'e', value_name = "K=V", value_parser = parse_kv)]
    pub env: Vec<(String, String)>,
    /// Print the build record (build.json) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Run commands without confinement (the record says so).
    #[arg(long)]
    pub no_sandbox: bool,
    /// Let build commands use the network.
    #[arg(long)]
    pub network: bool,
    /// Build in DIR itself instead of a fresh working copy.
    #[arg(long)]
    pub in_place: bool,
    /// Let build commands write this host directory when the buildspec asks for it (a `cache`
    /// path or `kiln: writable-paths`); repeatable. A repository cannot grant itself that.
    #[arg(long = "writable", value_name = "DIR")]
    pub writable: Vec<PathBuf>,
    /// YAML file with parameter-store and secrets-manager values (default: ~/.config/kiln/secrets.yml).
    #[arg(long, value_name = "FILE")]
    pub secrets_file: Option<PathBuf>,
    /// Whole-build timeout in minutes (default 60).
    #[arg(long, value_name = "MINUTES")]
    pub timeout: Option<f64>,
    /// Per-phase timeout in minutes.
    #[arg(long, value_name = "MINUTES")]
    pub phase_timeout: Option<f64>,
    /// Package each artifact as a zip file instead of a directory.
    #[arg(long)]
    pub zip: bool,
    /// The AWS region builds see in AWS_REGION.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// The commit the source directory holds, when it is not a checkout of it (CodeBuild's
    /// source version; `kiln pipeline` passes a Source action's CommitId): recorded as the
    /// resolved source version and the provenance's source revision, the repository the
    /// directory is in is not read. `none`: no commit is recorded.
    #[arg(long, value_name = "COMMIT|none", value_parser = parse_source_version)]
    pub source_version: Option<kiln_engine::SourceVersion>,
    /// Sign the provenance with this cosign key (password from COSIGN_PASSWORD or
    /// KILN_SIGNING_PASSWORD; overrides the buildspec's `kiln: signing: key:`); without a key an
    /// ephemeral one is used and the provenance can be checked only against this build's record.
    #[arg(long, value_name = "cosign.key")]
    pub key: Option<PathBuf>,
    /// Sign with an unencrypted private key (refused otherwise).
    #[arg(long)]
    pub allow_unencrypted_key: bool,
    /// The builder id written into the provenance.
    #[arg(long, default_value = provenance::DEFAULT_BUILDER_ID)]
    pub builder_id: String,
    /// The build cache store for the buildspec's `cache:` (default: ~/.cache/kiln/build-cache).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Neither restore nor save the buildspec's `cache:`.
    #[arg(long)]
    pub no_cache: bool,
    /// Run the buildspec's `batch:` section as a batch build (CodeBuild's start-build-batch):
    /// every build of its list, graph or matrix, each in its own sandbox and record.
    #[arg(long)]
    pub batch: bool,
    /// With --batch: how many builds run at once (default: the number of CPUs).
    #[arg(long, value_name = "N", requires = "batch", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: Option<u16>,
    /// With --batch: combine the primary artifacts of every build into one artifact, a folder per
    /// build identifier (CodeBuild's combineArtifacts project setting).
    #[arg(long, requires = "batch")]
    pub combine_artifacts: bool,
    /// With --batch: the whole batch's timeout in minutes (default 480); at it every build is stopped.
    #[arg(long, value_name = "MINUTES", requires = "batch")]
    pub batch_timeout: Option<f64>,
    /// Where `builds/` and `batches/` records go (default DIR/.kiln); `kiln pipeline run` puts
    /// its builds' records in the project's .kiln while the source is an unpacked artifact.
    #[arg(long, value_name = "DIR", hide = true)]
    pub record_root: Option<PathBuf>,
    /// Add a variable resolved from parameter-store (as the buildspec's `env.parameter-store`),
    /// overriding any of that name: a CodePipeline action's PARAMETER_STORE variable.
    #[arg(long = "env-parameter-store", value_name = "K=NAME", value_parser = parse_kv, hide = true)]
    pub env_parameter_store: Vec<(String, String)>,
    /// Add a variable resolved from secrets-manager (as `env.secrets-manager`): a CodePipeline
    /// action's SECRETS_MANAGER variable.
    #[arg(long = "env-secrets-manager", value_name = "K=REF", value_parser = parse_kv, hide = true)]
    pub env_secrets_manager: Vec<(String, String)>,
}

/// `--source-version`: a full commit id, or `none`.
fn parse_source_version(v: &str) -> Result<kiln_engine::SourceVersion, String> {
    match v {
        "none" => Ok(kiln_engine::SourceVersion::Unknown),
        c if (c.len() == 40 || c.len() == 64) && c.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => Ok(kiln_engine::SourceVersion::Commit(c.to_string())),
        _ => Err(format!("`{v}` is not a full commit id (40 or 64 lowercase hex digits) nor `none`")),
    }
}

/// The start-build overrides of resolved variables: each replaces any variable of its name in the
/// buildspec's env, and is then resolved and masked as the buildspec's own would be.
fn add_resolved_variables(spec: &mut kiln_spec::BuildSpec, params: &[(String, String)], secrets: &[(String, String)]) {
    let entry = |(k, v): &(String, String)| kiln_spec::EnvEntry { name: kiln_spec::Spanned::new(k.clone(), Default::default()), value: kiln_spec::Spanned::new(v.clone(), Default::default()) };
    for (name, _) in params.iter().chain(secrets) {
        let keep = |e: &kiln_spec::EnvEntry| &e.name.value != name;
        spec.env.variables.retain(keep);
        spec.env.parameter_store.retain(keep);
        spec.env.secrets_manager.retain(keep);
    }
    spec.env.parameter_store.extend(params.iter().map(entry));
    spec.env.secrets_manager.extend(secrets.iter().map(entry));
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("`{s}` is not K=V"))?;
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || k.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("`{k}` is not a valid variable name"));
    }
    Ok((k.to_string(), v.to_string()))
}

pub fn minutes(m: Option<f64>) -> Result<Option<Duration>, String> {
    match m {
        Some(m) if !(m > 0.0 && m <= 2160.0) => Err(format!("a timeout of {m} minutes is out of range (0 < t <= 2160)")),
        Some(m) => Ok(Some(Duration::from_secs_f64(m * 60.0))),
        None => Ok(None),
    }
}

/// What a single build and a batch both start from: the buildspec, the options every build of
/// this run shares, and the signing key.
pub struct Prepared {
    pub spec: kiln_spec::BuildSpec,
    pub bytes: Vec<u8>,
    /// `--key` or the buildspec's `kiln: signing: key:`; `None`: an ephemeral key.
    pub signing_key: Option<Arc<KeyPair>>,
    /// Options from the flags; `exclusive_process` is left to the caller.
    pub opts: kiln_engine::BuildOptions,
}

pub fn run(args: BuildArgs) -> ExitCode {
    // Scratch space of builds whose kiln was killed (their locks are free) goes first, also
    // when this start then fails.
    kiln_engine::context::sweep_stale(&std::env::temp_dir());
    // While the buildspec is read: make the sandbox's pids group and warm the kernel's cgroup
    // attach path (the shell's join then waits less of the ~8 ms grace period, or none), and
    // probe the sandbox capabilities (a forked namespace test, cached for the process;
    // `Sandbox::prepare` waits for it if it is still running).
    let _warm = (!args.no_sandbox).then(|| {
        let warm = kiln_sandbox::warm_up_attach();
        std::thread::spawn(kiln_sandbox::probe);
        warm
    });
    let prepared = match prepare(&args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if args.batch {
        return crate::batch_cmd::run(&args, prepared);
    }
    single(&args, prepared)
}

/// The buildspec path `-b` names, else `buildspec.yml` (or `.yaml`) in the project.
pub fn spec_path(dir: &Path, given: Option<&Path>) -> PathBuf {
    match given {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => dir.join(p),
        None => ["buildspec.yml", "buildspec.yaml"].iter().map(|n| dir.join(n)).find(|p| p.is_file()).unwrap_or_else(|| dir.join("buildspec.yml")),
    }
}

fn prepare(args: &BuildArgs) -> Result<Prepared, ExitCode> {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let spec_path = spec_path(&dir, args.buildspec.as_deref());
    let (timeout, phase_timeout) = match (minutes(args.timeout), minutes(args.phase_timeout)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Err(exit::usage(&e)),
    };
    let Some((mut spec, bytes)) = validate::load_for_build(&spec_path, spec_path.starts_with(&dir).then_some(dir.as_path())) else { return Err(exit::INVALID.into()) };
    add_resolved_variables(&mut spec, &args.env_parameter_store, &args.env_secrets_manager);
    let (signing_key, key_file) = match signing::configured_key(args.key.as_deref(), &spec, &dir, args.allow_unencrypted_key) {
        Ok(Some((k, path))) => (Some(k), Some(path)),
        Ok(None) => (None, None),
        Err(e) => return Err(exit::internal(&e)),
    };
    let mut opts = kiln_engine::BuildOptions::new(dir, spec_path);
    opts.env_overrides = args.env.clone();
    opts.sandbox = !args.no_sandbox;
    opts.network = args.network;
    opts.in_place = args.in_place;
    opts.writable_paths = args.writable.clone();
    opts.secrets_file = args.secrets_file.clone();
    opts.timeout = timeout;
    opts.phase_timeout = phase_timeout;
    opts.zip_artifacts = args.zip;
    opts.region = args.region.clone();
    opts.hidden_paths.extend(key_file);
    opts.cache_dir = args.cache_dir.clone();
    opts.no_cache = args.no_cache;
    opts.record_root = args.record_root.clone();
    opts.source_version = args.source_version.clone();
    // Inside the build, kiln itself answers to `codebuild-hash-files` / `codebuild-glob-search`.
    opts.helper_exe = std::env::current_exe().ok();
    Ok(Prepared { spec, bytes, signing_key, opts })
}

/// One build (CodeBuild's start-build).
fn single(args: &BuildArgs, p: Prepared) -> ExitCode {
    let Prepared { spec, bytes, signing_key, mut opts } = p;
    // The plugin host and the provenance signer are made while the build starts (warm.rs).
    let cache_dir = warm::build_cache_dir(&opts.source_dir, args.in_place);
    let hosting = Arc::new(if spec.uses_steps().next().is_some() || spec.artifacts.is_some() { warm::WarmHost::spawn(cache_dir) } else { warm::WarmHost::on_demand(cache_dir) });
    // This process runs this one build: at its end every orphan re-parented to kiln is its.
    opts.exclusive_process = true;
    let reporter = console::Console::new(args.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => return exit::internal(&format!("cannot start the async runtime: {e}")),
    };
    let runner = plugins::HostRunner::new(hosting.clone(), opts.source_dir.clone()).for_spec(&spec, &opts.buildspec_path);
    match runtime.block_on(kiln_engine::run_build(&spec, &bytes, &opts, Box::new(reporter), &runner)) {
        Ok(mut outcome) => {
            match provenance::write(&outcome, signing_key.clone(), &args.builder_id, &hosting) {
                Ok(None) => eprintln!("kiln: the build produced no artifacts, so no provenance was written"),
                Ok(Some(w)) => {
                    if signing_key.is_none() {
                        signing::warn_ephemeral(&outcome.record_dir.join("provenance.pub"));
                    }
                    eprintln!("kiln: provenance: {} subjects, signed in {:.1} ms, written in {:.1} ms: {}", w.subjects, w.sign_time.as_secs_f64() * 1e3, w.total_time.as_secs_f64() * 1e3, w.path.display());
                    outcome.provenance = Some(w.path);
                }
                Err(e) => return exit::internal(&format!("cannot write the provenance: {e}")),
            }
            // After the provenance, so that the report shows it verified.
            if spec.kiln.report_html {
                crate::report_cmd::byproduct(&outcome.record_dir);
            }
            if args.json {
                match serde_json::to_string_pretty(&outcome.record) {
                    Ok(j) => println!("{}", outcome.mask(&j)),
                    Err(e) => return exit::internal(&e.to_string()),
                }
            } else {
                console::summary(&outcome);
            }
            if outcome.succeeded() { ExitCode::SUCCESS } else { exit::BUILD_FAILED.into() }
        }
        Err(e) => exit::internal(&e.to_string()),
    }
}
