//! [`BuildOptions`]: what the caller decides about one build (the CLI's flags), apart from the
//! buildspec.

use std::path::PathBuf;
use std::time::Duration;

/// How to run a build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The project directory (source).
    pub source_dir: PathBuf,
    /// The buildspec file, for the record.
    pub buildspec_path: PathBuf,
    /// `--env K=V`: start-build style overrides, highest precedence.
    pub env_overrides: Vec<(String, String)>,
    /// Confine commands (`false` = `--no-sandbox`).
    pub sandbox: bool,
    /// Allow network access (`--network`, or `kiln: network: true`).
    pub network: bool,
    /// Build in the source directory instead of a fresh working copy.
    pub in_place: bool,
    /// A secrets file for parameter-store / secrets-manager values.
    pub secrets_file: Option<PathBuf>,
    /// Whole-build timeout (default: the buildspec's `kiln.timeout-minutes`, else 60 minutes).
    pub timeout: Option<Duration>,
    /// Per-phase timeout.
    pub phase_timeout: Option<Duration>,
    /// Where `builds/<id>/` records go (default `<source>/.kiln`).
    pub record_root: Option<PathBuf>,
    /// Where scratch directories go (default the system temp dir).
    pub scratch_base: Option<PathBuf>,
    /// Package artifacts as zip files instead of directories.
    pub zip_artifacts: bool,
    pub region: String,
    pub initiator: String,
    /// This process runs nothing but this build, so at the end every orphan re-parented to it may
    /// be killed (catches processes that escaped the session where no cgroup is available). The
    /// CLI sets it; a library embedding several builds in one process must not.
    pub exclusive_process: bool,
    /// Files the build's commands may not read (the signing key); the secrets file in use is
    /// always added. See `kiln_sandbox::Policy::hidden`.
    pub hidden_paths: Vec<PathBuf>,
    /// Host directories the operator lets the build write when the buildspec asks for them
    /// (`cache` paths, `kiln: writable-paths`); asked-for paths not under one stay read-only.
    pub writable_paths: Vec<PathBuf>,
    /// The uuid of the build's id (`project:uuid`) and record directory, when the caller picks it
    /// (a batch names its builds before they start); a fresh one otherwise.
    pub uuid: Option<String>,
    /// Stops the build when asked (CodeBuild's StopBuild); see [`crate::Stop`].
    pub stop: Option<crate::Stop>,
    /// This build is one build of a batch (`kiln build --batch`).
    pub batch: Option<BatchMember>,
    /// The build cache store (`--cache-dir`); `None`: `~/.cache/kiln/build-cache` of kiln's
    /// user. The build never sees it (hidden).
    pub cache_dir: Option<PathBuf>,
    /// `--no-cache`: neither restore nor save the buildspec's `cache`.
    pub no_cache: bool,
    /// The `kiln` executable, run inside the build as `codebuild-hash-files` and
    /// `codebuild-glob-search` (CodeBuild's image has both); `None`: they are not provided.
    pub helper_exe: Option<PathBuf>,
    /// What the source directory holds when it is not a checkout of it (an input artifact a
    /// pipeline unpacked, maybe inside another repository): `None` reads the repository the
    /// directory is in, as for a project.
    pub source_version: Option<SourceVersion>,
}

/// The source's version given by the caller (CodeBuild start-build's `sourceVersion`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceVersion {
    /// This commit (`CODEBUILD_RESOLVED_SOURCE_VERSION`, the provenance's source revision).
    Commit(String),
    /// No known commit: nothing is recorded (the enclosing repository is not the source's).
    Unknown,
}

/// What a build of a batch knows about its batch (CodeBuild `start-build-batch`).
#[derive(Clone, Debug)]
pub struct BatchMember {
    /// The batch's ARN, recorded as the build's `buildBatchArn`.
    pub batch_arn: String,
    /// The build's identifier in the batch: `CODEBUILD_BATCH_BUILD_IDENTIFIER`.
    pub identifier: String,
    /// The batch entry's `env.variables`. They override the buildspec's variables and its
    /// parameter-store / secrets-manager ones, as a start-build environment override does;
    /// `--env` overrides them in turn.
    pub variables: Vec<(String, String)>,
    /// Notices about the batch that concern this build (its own `batch:` ignored, the `env`
    /// keys kiln records but does not apply), kept in its record.
    pub notices: Vec<String>,
}

impl BuildOptions {
    /// Defaults for a build of `source_dir` with `buildspec_path`.
    pub fn new(source_dir: PathBuf, buildspec_path: PathBuf) -> Self {
        BuildOptions {
            source_dir,
            buildspec_path,
            env_overrides: Vec::new(),
            sandbox: true,
            network: false,
            in_place: false,
            secrets_file: None,
            timeout: None,
            phase_timeout: None,
            record_root: None,
            scratch_base: None,
            zip_artifacts: false,
            region: "us-east-1".into(),
            initiator: format!("kiln/{}", std::env::var("USER").unwrap_or_else(|_| "local".into())),
            exclusive_process: false,
            hidden_paths: Vec::new(),
            writable_paths: Vec::new(),
            uuid: None,
            stop: None,
            batch: None,
            cache_dir: None,
            no_cache: false,
            helper_exe: None,
            source_version: None,
        }
    }
}
