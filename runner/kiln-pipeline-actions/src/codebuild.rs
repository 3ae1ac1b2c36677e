//! CodeBuild actions (Build and Test categories) as `kiln build` of the mapped project.
//!
//! What CodePipeline hands CodeBuild, and what kiln does (CodePipeline user guide, "CodeBuild
//! build and test action reference"; CodeBuild user guide, "CodePipeline integration with
//! CodeBuild and multiple input sources and output artifacts"):
//!
//! - **Sources**: the input artifact named by `PrimarySource` (default: the first input) is the
//!   build's source (`CODEBUILD_SRC_DIR`); every other input is unpacked beside it and named to
//!   the build as `CODEBUILD_SRC_DIR_<artifact name>` (readable, as the rest of the host view,
//!   not writable). kiln proposal: the build runs on the whole primary artifact (as CodeBuild's
//!   `CODEBUILD_SRC_DIR` is the artifact's root) with the buildspec `<path>/<buildspec>` of
//!   the workspace's project read from the artifact (the buildspec at the commit, as CodeBuild
//!   reads the source's own buildspec); when the artifact has no such file (a build's output as
//!   input), the workspace's copy `<workspace>/<path>/<buildspec>` is used. With no input
//!   artifact, the build runs on `<workspace>/<path>` itself.
//! - **Source version**: an unpacked artifact is not a checkout (and it sits in the store, often
//!   inside the workspace's own repository, whose HEAD is not what the artifact holds), so the
//!   build gets `--source-version`: the `commitId` of the Source action that produced the
//!   primary input, or the `sourceVersion` the producing build was given; `none` when nothing
//!   says (an Invoke action's output). It becomes `CODEBUILD_RESOLVED_SOURCE_VERSION` and the
//!   provenance's source revision, which the release record checks against the run's commits.
//! - **Environment**: the workspace's `env`, then `EnvironmentVariables` (a JSON list of
//!   `{name, value, type}`): `PLAINTEXT` as start-build overrides, `PARAMETER_STORE` and
//!   `SECRETS_MANAGER` as entries of the buildspec's `env.parameter-store` / `secrets-manager`,
//!   resolved by the build from its secrets providers and masked as the build masks them (their
//!   values never pass through this process or a command line).
//! - **Batches**: `BatchEnabled: true` runs `kiln build --batch`, `CombineArtifacts: true`
//!   `--combine-artifacts`.
//! - **Outputs**: an output artifact named after a `secondary-artifacts` identifier gets that
//!   artifact; otherwise the primary artifact (one output only); a batch without combined
//!   artifacts hands each build's primary artifact to the output named after its identifier.
//!   The build's `exported-variables` become the action's output variables
//!   (`#{BuildVariables.X}`). A failed build fails the action (the build record stays).
//! - **Record**: the action's `externalExecutionId` is the build id (batch id); its details keep
//!   `buildRecord` (the build.json path) and `provenanceDigest` (`sha256:` of the signed
//!   provenance, `provenance.intoto.jsonl`), and in a batch, per build,
//!   `provenanceDigest.<identifier>`, `provenance.<identifier>` (its path) and
//!   `buildId.<identifier>` (`batchBuilds`: the identifiers in order), for the release record; a failed build's action keeps them too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_pipeline::exec::traits::{ActionContext, ActionFailure, ActionFuture, ActionOutput, BuildAction};
use kiln_pipeline::workspace::{target, Target};
use serde::Deserialize;

use crate::archive;
use crate::child;
use crate::Settings;

/// `kiln build`.
pub struct KilnBuild {
    pub settings: Settings,
    /// The run's store: which commit an input artifact holds.
    pub store: kiln_pipeline::store::Store,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvVar {
    name: String,
    #[serde(default)]
    value: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Artifact {
    artifact_identifier: Option<String>,
    location: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct NameValue {
    name: String,
    value: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct BuildKiln {
    record_dir: String,
}

/// The parts of `build.json` the action needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BuildJson {
    id: String,
    build_status: String,
    #[serde(default)]
    exported_environment_variables: Vec<NameValue>,
    artifacts: Option<Artifact>,
    #[serde(default)]
    secondary_artifacts: Vec<Artifact>,
    kiln: BuildKiln,
}

/// The parts of `batch.json` the action needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchJson {
    id: String,
    build_batch_status: String,
    artifacts: Option<Artifact>,
    #[serde(default)]
    build_groups: Vec<Group>,
    kiln: BatchKiln,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Group {
    identifier: String,
    current_build_summary: Option<Summary>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    build_status: String,
    primary_artifact: Option<Resolved>,
}

#[derive(Deserialize)]
struct Resolved {
    location: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct BatchKiln {
    record_dir: String,
    #[serde(default)]
    builds: Vec<serde_json::Value>,
    provenance: Option<String>,
}

fn job(msg: impl Into<String>) -> ActionFailure {
    ActionFailure::job_failed(msg)
}

/// `sha256:<hex>` of a file itself (None when it is not there, or is a link).
pub fn file_digest(path: &Path) -> Option<String> {
    kiln_attest::util::sha256_file_nofollow(path).ok().map(|h| format!("sha256:{h}"))
}

/// The `--env`-style arguments for the action's `EnvironmentVariables`.
fn environment(config: &BTreeMap<String, String>) -> Result<Vec<String>, ActionFailure> {
    let Some(text) = config.get("EnvironmentVariables") else { return Ok(Vec::new()) };
    let vars: Vec<EnvVar> = serde_json::from_str(text).map_err(|e| ActionFailure::configuration(format!("EnvironmentVariables is not a JSON list of {{name, value, type}}: {e}")))?;
    let mut args = Vec::new();
    for v in vars {
        if v.name.is_empty() || !v.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || v.name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(ActionFailure::configuration(format!("EnvironmentVariables: `{}` is not a valid variable name", v.name)));
        }
        let flag = match v.kind.as_deref().unwrap_or("PLAINTEXT") {
            "PLAINTEXT" => "--env",
            "PARAMETER_STORE" => "--env-parameter-store",
            "SECRETS_MANAGER" => "--env-secrets-manager",
            other => return Err(ActionFailure::configuration(format!("EnvironmentVariables: `{other}` is not a type (PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER)"))),
        };
        args.push(format!("{flag}={}={}", v.name, v.value));
    }
    Ok(args)
}

impl KilnBuild {
    async fn build_inner(&self, ctx: &ActionContext) -> Result<ActionOutput, ActionFailure> {
        let s = &self.settings;
        let (project, t) = match target(&ctx.action, &s.workspace) {
            Ok(Target::Build { project, target }) => (project, target),
            Ok(_) => return Err(ActionFailure::configuration("not a CodeBuild action")),
            Err(why) => return Err(ActionFailure::configuration(why)),
        };
        let scratch = ctx.output_dir.join(".kiln-work");
        let mut env_args = Vec::new();
        for (k, v) in &t.env {
            env_args.push(format!("--env={k}={v}"));
        }
        // Sources.
        let primary_name = ctx.configuration.get("PrimarySource").cloned().or_else(|| ctx.inputs.first().map(|i| i.name.clone()));
        let mut primary_dir = None;
        for input in &ctx.inputs {
            // The primary source's directory is named after the project: kiln build names the
            // build (`<project>:<uuid>`, CODEBUILD_BUILD_ID) after its source directory, as
            // CodeBuild names it after the project.
            let dir = if Some(&input.name) == primary_name.as_ref() { scratch.join("primary").join(dir_name(&project)) } else { scratch.join("src").join(&input.name) };
            let (zip, d) = (input.path.clone(), dir.clone());
            tokio::task::spawn_blocking(move || archive::unzip_into(&zip, &d)).await.map_err(|e| job(e.to_string()))?.map_err(job)?;
            if Some(&input.name) == primary_name.as_ref() {
                primary_dir = Some(dir);
            } else {
                let abs = std::path::absolute(&dir).unwrap_or(dir);
                env_args.push(format!("--env=CODEBUILD_SRC_DIR_{}={}", input.name, abs.display()));
            }
        }
        if primary_name.is_some() && primary_dir.is_none() {
            return Err(ActionFailure::configuration(format!("PrimarySource `{}` is not one of the action's input artifacts", primary_name.unwrap_or_default())));
        }
        let source_dir = match &primary_dir {
            Some(d) => d.clone(),
            None => s.workspace.root.join(&t.path),
        };
        let source_dir = std::path::absolute(&source_dir).unwrap_or(source_dir);
        // An unpacked artifact is not a checkout (and may sit inside the workspace's own
        // repository, whose HEAD is not what it holds): the build is told the commit.
        let source_version = match ctx.inputs.iter().find(|i| Some(&i.name) == primary_name.as_ref()) {
            Some(input) => Some(self.source_version(ctx, input).await),
            None => None,
        };
        let in_source = source_dir.join(&t.path).join(&t.buildspec);
        let buildspec = match &primary_dir {
            Some(_) if std::fs::symlink_metadata(&in_source).is_ok_and(|m| m.is_file()) => in_source,
            _ => s.workspace.root.join(&t.path).join(&t.buildspec),
        };
        if !buildspec.is_file() {
            return Err(ActionFailure::configuration(format!("the project `{project}` has no buildspec: neither {} in its source nor {}", t.path.join(&t.buildspec).display(), buildspec.display())));
        }
        env_args.extend(environment(&ctx.configuration)?);
        let batch = ctx.configuration.get("BatchEnabled").map(String::as_str) == Some("true") || t.batch;
        let mut args: Vec<String> = vec!["build".into(), source_dir.display().to_string(), "-b".into(), std::path::absolute(&buildspec).unwrap_or(buildspec).display().to_string(), "--json".into(), "--zip".into()];
        args.push(format!("--record-root={}", s.record_root.display()));
        if let Some(v) = &source_version {
            args.push(format!("--source-version={}", v.as_deref().unwrap_or("none")));
        }
        if batch {
            args.push("--batch".into());
            if ctx.configuration.get("CombineArtifacts").map(String::as_str) == Some("true") {
                args.push("--combine-artifacts".into());
            }
        }
        args.extend(env_args);
        args.extend(s.build_args.iter().cloned());
        let prefix = format!("[{}/{}]", ctx.stage, ctx.action.name.value);
        let ended = child::run(&s.kiln_exe, &args, &s.workspace.root, &[], &prefix, &s.log).await.map_err(job)?;
        if !matches!(ended.code, Some(0 | 1)) {
            return Err(job(format!("kiln build could not run the project `{project}`: {}", ended.tail.last().cloned().unwrap_or_else(|| format!("exit {:?}", ended.code)))));
        }
        let mut out = if batch { self.finish_batch(ctx, &project, &ended.stdout) } else { self.finish_single(ctx, &project, &ended.stdout) };
        // What the build was told it built, for the builds downstream of its artifacts.
        if let Some(Some(v)) = source_version {
            match &mut out {
                Ok(o) => o.details.insert("sourceVersion".to_string(), v),
                Err(f) => f.details.insert("sourceVersion".to_string(), v),
            };
        }
        out
    }

    /// The commit `input` holds: the Source action's `commitId` that produced it, or the
    /// `sourceVersion` of the build whose output it is; `None` when nothing says (an Invoke
    /// action's output): the build then records no source revision.
    async fn source_version(&self, ctx: &ActionContext, input: &kiln_pipeline::exec::traits::InputArtifact) -> Option<String> {
        let (_, producer) = crate::producer_of(&self.store, ctx, input).await.ok()?;
        let d = &producer.output_details;
        d.get("commitId").or_else(|| d.get("sourceVersion")).filter(|c| kiln_pipeline::exec::traits::is_commit_id(c)).cloned()
    }

    fn finish_single(&self, ctx: &ActionContext, project: &str, stdout: &[u8]) -> Result<ActionOutput, ActionFailure> {
        let record: BuildJson = serde_json::from_slice(stdout).map_err(|e| job(format!("kiln build printed no build record for `{project}`: {e}")))?;
        let record_dir = PathBuf::from(&record.kiln.record_dir);
        let mut details = BTreeMap::new();
        details.insert("buildRecord".to_string(), record_dir.join("build.json").display().to_string());
        if let Some(d) = file_digest(&record_dir.join("provenance.intoto.jsonl")) {
            details.insert("provenanceDigest".to_string(), d);
            details.insert("provenance".to_string(), record_dir.join("provenance.intoto.jsonl").display().to_string());
        }
        if record.build_status != "SUCCEEDED" {
            return Err(job(format!("the build {} ended {} (record: {})", record.id, record.build_status, record_dir.join("build.json").display())).with_record(Some(record.id), details));
        }
        let mut used_primary = false;
        for name in &ctx.outputs {
            let chosen = if let Some(a) = record.secondary_artifacts.iter().find(|a| a.artifact_identifier.as_deref() == Some(name.as_str())) {
                a
            } else if let (false, Some(primary)) = (used_primary, record.artifacts.as_ref()) {
                used_primary = true;
                primary
            } else {
                return Err(job(format!("the build produced no artifact for the output `{name}`: name a `secondary-artifacts` entry `{name}` in the buildspec")));
            };
            archive::artifact_as_zip(Path::new(&chosen.location), &ctx.output_dir.join(name)).map_err(job)?;
        }
        let variables = record.exported_environment_variables.into_iter().map(|v| (v.name, v.value)).collect();
        Ok(ActionOutput { summary: Some(format!("build {} SUCCEEDED", record.id)), variables, external_id: Some(record.id), details })
    }

    fn finish_batch(&self, ctx: &ActionContext, project: &str, stdout: &[u8]) -> Result<ActionOutput, ActionFailure> {
        let record: BatchJson = serde_json::from_slice(stdout).map_err(|e| job(format!("kiln build --batch printed no batch record for `{project}`: {e}")))?;
        let mut details = BTreeMap::new();
        details.insert("batchRecord".to_string(), Path::new(&record.kiln.record_dir).join("batch.json").display().to_string());
        if let Some(p) = &record.kiln.provenance {
            let path = Path::new(&record.kiln.record_dir).join(p);
            let path = if path.is_file() { path } else { self.settings.record_root.join(p) };
            if let Some(d) = file_digest(&path) {
                details.insert("provenanceDigest".to_string(), d);
            }
        }
        // The builds in the buildspec's order (identifiers are letters, digits and `_`).
        let order: Vec<&str> = record.kiln.builds.iter().filter_map(|b| b.get("identifier").and_then(|v| v.as_str())).collect();
        details.insert("batchBuilds".to_string(), order.join(","));
        for b in &record.kiln.builds {
            let (Some(id), Some(sha)) = (b.get("identifier").and_then(|v| v.as_str()), b.pointer("/provenance/sha256").and_then(|v| v.as_str())) else { continue };
            details.insert(format!("provenanceDigest.{id}"), format!("sha256:{}", sha.trim_start_matches("sha256:")));
            // The path is relative to the record root (docs/batch-statement.md).
            if let Some(rel) = b.pointer("/provenance/path").and_then(|v| v.as_str()) {
                details.insert(format!("provenance.{id}"), self.settings.record_root.join(rel).display().to_string());
            }
            if let Some(build_id) = b.get("buildId").and_then(|v| v.as_str()) {
                details.insert(format!("buildId.{id}"), build_id.to_string());
            }
        }
        if record.build_batch_status != "SUCCEEDED" {
            return Err(job(format!("the batch {} ended {}", record.id, record.build_batch_status)).with_record(Some(record.id), details));
        }
        for name in &ctx.outputs {
            let location = match (&record.artifacts, record.build_groups.iter().find(|g| &g.identifier == name)) {
                (_, Some(g)) => g.current_build_summary.as_ref().filter(|s| s.build_status == "SUCCEEDED").and_then(|s| s.primary_artifact.as_ref()).map(|a| a.location.clone()),
                (Some(combined), None) => Some(combined.location.clone()),
                (None, None) => None,
            };
            let location = location.ok_or_else(|| job(format!("the batch produced no artifact for the output `{name}`: name it after a build identifier, or set CombineArtifacts")))?;
            archive::artifact_as_zip(Path::new(&location), &ctx.output_dir.join(name)).map_err(job)?;
        }
        Ok(ActionOutput { summary: Some(format!("batch {} SUCCEEDED", record.id)), variables: BTreeMap::new(), external_id: Some(record.id), details })
    }
}

impl BuildAction for KilnBuild {
    fn build<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a> {
        Box::pin(self.build_inner(ctx))
    }
}

/// A project name as one safe path component (CodeBuild's own names are `[A-Za-z0-9][A-Za-z0-9_-]*`).
fn dir_name(project: &str) -> String {
    let name: String = project.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    if name.trim_matches('-').is_empty() { "project".into() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_variables_become_flags_by_type_and_bad_ones_are_configuration_errors() {
        let mut c = BTreeMap::new();
        c.insert("EnvironmentVariables".into(), r#"[{"name":"STAGE","value":"prod","type":"PLAINTEXT"},{"name":"DB","value":"/app/db","type":"PARAMETER_STORE"},{"name":"TOKEN","value":"app/token","type":"SECRETS_MANAGER"},{"name":"N","value":"1"}]"#.into());
        assert_eq!(environment(&c).unwrap(), ["--env=STAGE=prod", "--env-parameter-store=DB=/app/db", "--env-secrets-manager=TOKEN=app/token", "--env=N=1"]);
        c.insert("EnvironmentVariables".into(), r#"[{"name":"A","value":"x","type":"VAULT"}]"#.into());
        assert_eq!(environment(&c).unwrap_err().code, "ConfigurationError");
        c.insert("EnvironmentVariables".into(), r#"[{"name":"A B","value":"x"}]"#.into());
        assert!(environment(&c).unwrap_err().message.contains("not a valid variable name"));
        c.insert("EnvironmentVariables".into(), "nope".into());
        assert!(environment(&c).unwrap_err().message.contains("JSON list"));
    }
}
