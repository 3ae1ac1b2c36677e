//! The `kiln` command line: argument parsing, exit codes and dispatch to the subcommands.

mod console;
mod exit;
mod keyless;
mod keys;
mod lockfile;
mod pipeline;
mod plugin_cmd;
mod plugins;
mod policy;
mod provenance;
mod signing;
mod verify;
mod warm;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Run AWS CodeBuild buildspecs locally, offline and sandboxed.
#[derive(Parser)]
#[command(name = "kiln", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check buildspec and CodeDeploy AppSpec files and report every problem with its line and column.
    Validate {
        /// Buildspec or AppSpec files (default: buildspec.yml).
        files: Vec<PathBuf>,
        /// Print diagnostics as JSON.
        #[arg(long)]
        json: bool,
        /// What the files are; `auto` reads a file whose name contains "appspec" (appspec.yml,
        /// appspec.yaml, appspec.json, …) or whose content looks like one as an AppSpec file.
        #[arg(long, value_enum, default_value = "auto")]
        kind: validate::Kind,
    },
    /// Run a build as CodeBuild would, in a sandbox, and write its record under .kiln/builds/.
    Build(BuildArgs),
    /// CodePipeline definitions: `kiln pipeline validate FILE`.
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCommand),
    /// Write a cosign key pair: PREFIX.key (encrypted; password from COSIGN_PASSWORD or a prompt) and PREFIX.pub.
    GenerateKeyPair {
        #[arg(long, default_value = "cosign")]
        output_key_prefix: String,
        /// Replace an existing key.
        #[arg(long)]
        force: bool,
    },
    /// Print the public key of a private key, as PEM.
    PublicKey {
        #[arg(long)]
        key: PathBuf,
    },
    /// Sign a file as `cosign sign-blob --key` does; prints the base64 signature.
    SignBlob {
        #[arg(long)]
        key: PathBuf,
        /// Sign with an unencrypted private key (refused otherwise).
        #[arg(long)]
        allow_unencrypted_key: bool,
        /// Write the signature to this file instead of stdout.
        #[arg(long)]
        output_signature: Option<PathBuf>,
        /// Also write a Sigstore bundle (v0.3 JSON) to this file.
        #[arg(long)]
        bundle: Option<PathBuf>,
        file: PathBuf,
    },
    /// Verify a build's signed provenance and that each ARTIFACT is one of its subjects:
    /// exit 0 verified, 1 a check failed, 2 unreadable input.
    ///
    /// Key-signed provenance (what kiln writes) needs --key; a certificate-signed ("keyless")
    /// Sigstore bundle needs --trusted-root with --certificate-identity and
    /// --certificate-oidc-issuer, and is verified offline.
    Verify {
        /// The public key (cosign.pub) for key-signed provenance.
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        keyless: keyless::KeylessArgs,
        /// The provenance: .intoto.jsonl or a Sigstore bundle (default: the newest under ./.kiln/builds/).
        #[arg(long)]
        provenance: Option<PathBuf>,
        /// The builder id to require.
        #[arg(long, default_value = provenance::DEFAULT_BUILDER_ID)]
        builder_id: String,
        /// The source commit to require.
        #[arg(long)]
        source_revision: Option<String>,
        /// Accept provenance of a failed build.
        #[arg(long)]
        allow_failed: bool,
        /// A policy file (YAML; see `kiln verify --help` and docs/policy.md).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Artifact files or directories (every file inside is checked).
        artifacts: Vec<PathBuf>,
    },
    /// Write, build, test, inspect and run WebAssembly plugins; pin them in kiln.lock.
    #[command(subcommand)]
    Plugin(plugin_cmd::PluginCommand),
    /// Verify a file's signature or bundle with a public key, or a certificate-signed
    /// ("keyless") bundle against a trusted root, offline: exit 0 verified, 1 not verified, 2
    /// unreadable input.
    VerifyBlob {
        /// The public key (cosign.pub) for a key-signed signature or bundle.
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        keyless: keyless::KeylessArgs,
        #[arg(long)]
        signature: Option<PathBuf>,
        #[arg(long)]
        bundle: Option<PathBuf>,
        file: PathBuf,
    },
}

#[derive(Args)]
struct BuildArgs {
    /// The project directory (default: the current directory).
    dir: Option<PathBuf>,
    /// The buildspec, relative to DIR (default: buildspec.yml, then buildspec.yaml).
    #[arg(short = 'b', long = "buildspec")]
    buildspec: Option<PathBuf>,
    /// Set or override an environment variable (like start-build's override), repeatable.
    #[arg(long = "env", short = 'e', value_name = "K=V", value_parser = parse_kv)]
    env: Vec<(String, String)>,
    /// Print the build record (build.json) as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Run commands without confinement (the record says so).
    #[arg(long)]
    no_sandbox: bool,
    /// Let build commands use the network.
    #[arg(long)]
    network: bool,
    /// Build in DIR itself instead of a fresh working copy.
    #[arg(long)]
    in_place: bool,
    /// Let build commands write this host directory when the buildspec asks for it (a `cache`
    /// path or `kiln: writable-paths`); repeatable. A repository cannot grant itself that.
    #[arg(long = "writable", value_name = "DIR")]
    writable: Vec<PathBuf>,
    /// YAML file with parameter-store and secrets-manager values (default: ~/.config/kiln/secrets.yml).
    #[arg(long, value_name = "FILE")]
    secrets_file: Option<PathBuf>,
    /// Whole-build timeout in minutes (default 60).
    #[arg(long, value_name = "MINUTES")]
    timeout: Option<f64>,
    /// Per-phase timeout in minutes.
    #[arg(long, value_name = "MINUTES")]
    phase_timeout: Option<f64>,
    /// Package each artifact as a zip file instead of a directory.
    #[arg(long)]
    zip: bool,
    /// The AWS region builds see in AWS_REGION.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Sign the provenance with this cosign key (password from COSIGN_PASSWORD or
    /// KILN_SIGNING_PASSWORD; overrides the buildspec's `kiln: signing: key:`); without a key an
    /// ephemeral one is used and the provenance can be checked only against this build's record.
    #[arg(long, value_name = "cosign.key")]
    key: Option<PathBuf>,
    /// Sign with an unencrypted private key (refused otherwise).
    #[arg(long)]
    allow_unencrypted_key: bool,
    /// The builder id written into the provenance.
    #[arg(long, default_value = provenance::DEFAULT_BUILDER_ID)]
    builder_id: String,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("`{s}` is not K=V"))?;
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || k.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("`{k}` is not a valid variable name"));
    }
    Ok((k.to_string(), v.to_string()))
}

fn minutes(m: Option<f64>) -> Result<Option<Duration>, String> {
    match m {
        Some(m) if !(m > 0.0 && m <= 2160.0) => Err(format!("a timeout of {m} minutes is out of range (0 < t <= 2160)")),
        Some(m) => Ok(Some(Duration::from_secs_f64(m * 60.0))),
        None => Ok(None),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { files, json, kind } => validate::run(&files, json, kind),
        Command::Build(args) => build(args),
        Command::GenerateKeyPair { output_key_prefix, force } => keys::generate(&output_key_prefix, force),
        Command::PublicKey { key } => keys::public_key(&key),
        Command::SignBlob { key, allow_unencrypted_key, output_signature, bundle, file } => {
            keys::sign_blob(&key, allow_unencrypted_key, &file, output_signature.as_ref(), bundle.as_ref())
        }
        Command::Verify { key, keyless, provenance, builder_id, source_revision, allow_failed, policy, artifacts } => {
            verify::run(&verify::VerifyArgs { key, keyless, provenance, builder_id, source_revision, allow_failed, policy, artifacts })
        }
        Command::Plugin(cmd) => plugin_cmd::run(cmd),
        Command::Pipeline(cmd) => pipeline::run(cmd),
        Command::VerifyBlob { key, keyless, signature, bundle, file } => keys::verify_blob(key.as_deref(), &keyless, signature.as_ref(), bundle.as_ref(), &file),
    }
}

fn build(args: BuildArgs) -> ExitCode {
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
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let spec_path = match args.buildspec.clone() {
        Some(p) if p.is_absolute() => p,
        Some(p) => dir.join(p),
        None => ["buildspec.yml", "buildspec.yaml"].iter().map(|n| dir.join(n)).find(|p| p.is_file()).unwrap_or_else(|| dir.join("buildspec.yml")),
    };
    let (timeout, phase_timeout) = match (minutes(args.timeout), minutes(args.phase_timeout)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return exit::usage(&e),
    };
    let Some((spec, bytes)) = validate::load_for_build(&spec_path, spec_path.starts_with(&dir).then_some(dir.as_path())) else { return exit::INVALID.into() };
    // The plugin host and the provenance signer are made while the build starts (warm.rs).
    let cache_dir = warm::build_cache_dir(&dir, args.in_place);
    let hosting = std::sync::Arc::new(if spec.uses_steps().next().is_some() || spec.artifacts.is_some() { warm::WarmHost::spawn(cache_dir) } else { warm::WarmHost::on_demand(cache_dir) });
    let (signing_key, key_file) = match signing::configured_key(args.key.as_deref(), &spec, &dir, args.allow_unencrypted_key) {
        Ok(Some((k, path))) => (Some(k), Some(path)),
        Ok(None) => (None, None),
        Err(e) => return exit::internal(&e),
    };
    let mut opts = kiln_engine::BuildOptions::new(dir, spec_path);
    opts.env_overrides = args.env;
    opts.sandbox = !args.no_sandbox;
    opts.network = args.network;
    opts.in_place = args.in_place;
    opts.writable_paths = args.writable;
    opts.secrets_file = args.secrets_file;
    opts.timeout = timeout;
    opts.phase_timeout = phase_timeout;
    opts.zip_artifacts = args.zip;
    opts.region = args.region;
    opts.exclusive_process = true;
    opts.hidden_paths.extend(key_file);
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
