//! The `kiln` command line: argument parsing, exit codes and dispatch to the subcommands.

mod batch_cmd;
mod batch_console;
mod batch_provenance;
mod build_cmd;
mod cache_cmd;
mod console;
mod deploy_cmd;
mod deploy_status;
mod exit;
mod keyless;
mod keys;
mod lockfile;
mod pipeline;
mod pipeline_run;
mod pipeline_status;
mod pipeline_ui;
mod pipeline_watch;
mod plugin_cmd;
mod plugins;
mod policy;
mod provenance;
mod report_cmd;
mod signing;
mod ui_cmd;
mod verify;
mod verify_release;
mod warm;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Build(build_cmd::BuildArgs),
    /// The build cache (`cache:` in buildspecs): list, remove and prune its entries.
    Cache(cache_cmd::CacheArgs),
    /// CodeBuild's `codebuild-hash-files GLOB...` (what a build's cache key runs).
    #[command(name = "codebuild-hash-files", hide = true)]
    CodebuildHashFiles { globs: Vec<String> },
    /// CodeBuild's `codebuild-glob-search GLOB...`.
    #[command(name = "codebuild-glob-search", hide = true)]
    CodebuildGlobSearch { globs: Vec<String> },
    /// Deploy a build (or an artifact) as CodeDeploy would: appspec hooks, in-place or
    /// blue/green, canary and linear traffic shifting, alarms and automatic rollback; its
    /// provenance is verified first and a signed deployment attestation written after.
    /// Also: status, list, stop, continue, rollback, resume.
    Deploy(deploy_cmd::DeployArgs),
    /// CodePipeline definitions: validate, run (with approvals, retries, resume after a kill), status.
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
        /// A policy file (YAML; see `kiln verify --help` and docs/policy.md); with --release, a
        /// release policy (docs/release-record.md).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Verify a pipeline run's signed release record instead (release.intoto.jsonl): its
        /// signature, every build provenance and deployment attestation it names, and --policy.
        #[arg(long, conflicts_with_all = ["provenance", "source_revision", "allow_failed", "builder_id"])]
        release: Option<PathBuf>,
        /// With --release: the records directory the documents it names are under (default ./.kiln).
        #[arg(long, requires = "release")]
        records: Option<PathBuf>,
        /// Artifact files or directories (every file inside is checked).
        artifacts: Vec<PathBuf>,
    },
    /// Write one build's record as a self-contained HTML report (phases, logs, tests, coverage,
    /// findings, SBOM, verified provenance).
    Report(report_cmd::ReportArgs),
    /// Serve the project's records as web pages: builds, batches, a dashboard, deployments and
    /// pipeline runs (127.0.0.1, behind a token it prints).
    Ui(ui_cmd::UiArgs),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { files, json, kind } => validate::run(&files, json, kind),
        Command::Build(args) => build_cmd::run(args),
        Command::Cache(args) => cache_cmd::run(args),
        Command::CodebuildHashFiles { globs } => cache_cmd::hash_files(&globs),
        Command::CodebuildGlobSearch { globs } => cache_cmd::glob_search(&globs),
        Command::GenerateKeyPair { output_key_prefix, force } => keys::generate(&output_key_prefix, force),
        Command::PublicKey { key } => keys::public_key(&key),
        Command::SignBlob { key, allow_unencrypted_key, output_signature, bundle, file } => {
            keys::sign_blob(&key, allow_unencrypted_key, &file, output_signature.as_ref(), bundle.as_ref())
        }
        Command::Verify { key, keyless, release: Some(release), records, policy, artifacts, .. } => {
            verify_release::run(&verify_release::ReleaseArgs { release, key, keyless, records, policy, artifacts })
        }
        Command::Verify { key, keyless, provenance, builder_id, source_revision, allow_failed, policy, artifacts, .. } => {
            verify::run(&verify::VerifyArgs { key, keyless, provenance, builder_id, source_revision, allow_failed, policy, artifacts })
        }
        Command::Plugin(cmd) => plugin_cmd::run(cmd),
        Command::Pipeline(cmd) => pipeline::run(cmd),
        Command::Deploy(args) => deploy_cmd::run(args),
        Command::Report(args) => report_cmd::run(args),
        Command::Ui(args) => ui_cmd::run(args),
        Command::VerifyBlob { key, keyless, signature, bundle, file } => keys::verify_blob(key.as_deref(), &keyless, signature.as_ref(), bundle.as_ref(), &file),
    }
}

