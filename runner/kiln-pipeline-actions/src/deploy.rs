//! CodeDeploy actions (Deploy category) as `kiln deploy` of the input artifact to the mapped
//! deployment group.
//!
//! What CodePipeline hands CodeDeploy (CodePipeline user guide, "CodeDeploy deploy action
//! reference"): one input artifact, the revision (a zip with the appspec at its root), and the
//! configuration `ApplicationName` and `DeploymentGroupName`; no output artifacts. The action
//! succeeds when the deployment succeeds; a deployment that fails (rolled back or not) or is
//! stopped fails the action with the deployment's error message.
//!
//! What kiln runs: `kiln deploy <artifact>.zip --dir <project> --group <group file> --json
//! --provenance <P> --key <K>` as a child process (`child.rs`: dies with the pipeline's kiln),
//! where
//!
//! - the group file is the workspace's `codedeploy.<ApplicationName>.<DeploymentGroupName>`
//!   (its `config`, `time-scale` and `allow-unverified` become `--config`, `--time-scale` and
//!   `--allow-unverified`); it must resolve inside the workspace's directory;
//! - `<project>` is the pipeline's project directory (the parent of the records directory
//!   `.kiln/`), so the deployment's record and signed attestation land in the same `.kiln/` as
//!   the builds and the pipeline store, where the run's release record names them;
//! - `P` is the signed provenance of the build action that produced the input artifact, found
//!   through the run's store: the artifact's row names its producing action (stage, action,
//!   attempt) and that action's details carry `provenance` (the file) and `provenanceDigest`.
//!   `kiln deploy` verifies it with the run's build key `K` (the `--key` of `kiln pipeline run`)
//!   and checks that the zip is one of its subjects before anything is deployed. A batch
//!   action's output named after one of its builds is vouched for by that build's provenance
//!   (`provenance.<identifier>`). An artifact no signed build made (a Source artifact, a
//!   batch's combined artifact, a build run without
//!   `--key`) fails the action with a message saying so, unless the workspace says
//!   `allow-unverified: true` (then `--allow-unverified`, which the deployment record states).
//!   A rollback execution (V2 `onFailure: ROLLBACK`) redeploys the artifacts of the execution
//!   it rolls back to: their producer is looked up in that execution.
//!
//! The action's details: `deploymentId`, `status`, `applicationName`, `deploymentGroupName`,
//! `deploymentConfigName`, `startTime`, `endTime`, `attestation` (the file) and
//! `attestationDigest` (`sha256:` of it), `revisionDigest`, `provenanceDigest` (the build's, when
//! verified), `rollbackDeploymentId` when the deployment was rolled back; kept also when the
//! deployment failed. The `externalExecutionId` is the deployment id.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_pipeline::exec::traits::{ActionContext, ActionFailure, ActionFuture, ActionOutput, DeployAction, InputArtifact};
use kiln_pipeline::store::Store;
use kiln_pipeline::workspace::{target, Target};
use kiln_record::DeploymentInfo;

use crate::codebuild::file_digest;
use crate::{child, inside_workspace, Settings};

/// The file name of a deployment's signed attestation in its record directory (`kiln deploy`'s).
pub const ATTESTATION_FILE: &str = "attestation.intoto.jsonl";

/// `kiln deploy`.
pub struct KilnDeploy {
    pub settings: Settings,
    /// The run's store: where the producer of an input artifact is looked up.
    pub store: Store,
}

fn job(msg: impl Into<String>) -> ActionFailure {
    ActionFailure::job_failed(msg)
}

/// The build provenance vouching for an input artifact: its file and `sha256:` digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vouched {
    pub provenance: PathBuf,
    pub digest: String,
    /// `Stage/Action` of the build that made the artifact.
    pub producer: String,
}

/// The value of `--flag=value` in a build's flags.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().find_map(|a| a.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

impl KilnDeploy {
    /// Which action of this run produced `input`, and the provenance its details name (`Err`:
    /// why there is none, for the message).
    pub async fn provenance_of(&self, ctx: &ActionContext, input: &InputArtifact) -> Result<Vouched, String> {
        let (producer, action) = crate::producer_of(&self.store, ctx, input).await?;
        let d = &action.output_details;
        // A batch's output named after one of its builds is that build's artifact, with that
        // build's provenance; a single build's, the build's.
        let keys = if d.contains_key("batchRecord") { (format!("provenance.{}", input.name), format!("provenanceDigest.{}", input.name)) } else { ("provenance".to_string(), "provenanceDigest".to_string()) };
        match (d.get(&keys.0), d.get(&keys.1)) {
            (Some(p), Some(dg)) => Ok(Vouched { provenance: PathBuf::from(p), digest: dg.clone(), producer }),
            _ if d.contains_key("batchRecord") => Err(format!("the artifact `{}` was made by the batch {producer} and is not one of its builds' own artifacts (a combined artifact has no build provenance of its own): deploy an output named after a build identifier", input.name)),
            _ => Err(format!("the artifact `{}` was made by {producer}, which recorded no signed build provenance (only a CodeBuild build's output artifact has one)", input.name)),
        }
    }

    async fn deploy_inner(&self, ctx: &ActionContext) -> Result<ActionOutput, ActionFailure> {
        let s = &self.settings;
        let (application, group, t) = match target(&ctx.action, &s.workspace) {
            Ok(Target::Deploy { application, group, target }) => (application, group, target),
            Ok(_) => return Err(ActionFailure::configuration("not a CodeDeploy action")),
            Err(why) => return Err(ActionFailure::configuration(why)),
        };
        let [input] = ctx.inputs.as_slice() else {
            return Err(ActionFailure::configuration(format!("a CodeDeploy action takes exactly one input artifact (the revision); this one has {}", ctx.inputs.len())));
        };
        let group_file = inside_workspace(&s.workspace, &t.group, "deployment group file").map_err(ActionFailure::configuration)?;
        let project = s.record_root.parent().map(Path::to_path_buf).ok_or_else(|| job(format!("the records directory {} has no parent", s.record_root.display())))?;
        // `kiln deploy` takes an artifact by path as a .zip; the stored object has no name.
        let work = ctx.output_dir.join(".kiln-work");
        std::fs::create_dir_all(&work).map_err(|e| job(format!("{}: {e}", work.display())))?;
        let zip = work.join(format!("{}.zip", input.name));
        std::fs::copy(&input.path, &zip).map_err(|e| job(format!("copying the artifact `{}` to {}: {e}", input.name, zip.display())))?;
        let zip = std::path::absolute(&zip).unwrap_or(zip);

        let key = flag(&s.build_args, "--key");
        let mut args: Vec<String> = vec!["deploy".into(), zip.display().to_string(), format!("--dir={}", project.display()), format!("--group={}", group_file.display()), "--json".into()];
        let vouched = match (self.provenance_of(ctx, input).await, key) {
            (Ok(v), Some(k)) => {
                args.push(format!("--provenance={}", v.provenance.display()));
                args.push(format!("--key={k}"));
                Some(v)
            }
            (_, k) if t.allow_unverified => {
                s.log.as_ref()(format!("[{}/{}] deploying `{}` without verified provenance (allow-unverified in the workspace)", ctx.stage, ctx.action.name.value, input.name));
                args.push("--allow-unverified".into());
                if let Some(k) = k {
                    args.push(format!("--key={k}"));
                }
                None
            }
            (Err(why), _) => return Err(job(format!("{why}; kiln deploys only what a signed build made: deploy a CodeBuild action's output artifact, or set `allow-unverified: true` for {application}/{group} in the workspace's codedeploy"))),
            (Ok(v), None) => return Err(ActionFailure::configuration(format!("the artifact `{}` (made by {}) has signed provenance, but this run has no build key to verify it with: run the pipeline with --key cosign.key, or set `allow-unverified: true` for {application}/{group} in the workspace's codedeploy", input.name, v.producer))),
        };
        if let Some(c) = &t.config {
            args.push(format!("--config={c}"));
        }
        if let Some(f) = t.time_scale {
            args.push(format!("--time-scale={f}"));
        }
        if s.build_args.iter().any(|a| a == "--no-sandbox") {
            args.push("--no-sandbox".into());
        }
        args.push(format!("--description=pipeline {} run {} action {}/{}", ctx.pipeline, ctx.execution_id, ctx.stage, ctx.action.name.value));
        let prefix = format!("[{}/{}]", ctx.stage, ctx.action.name.value);
        let ended = child::run(&s.kiln_exe, &args, &s.workspace.root, &[], &prefix, &s.log).await.map_err(job)?;
        let infos: Vec<DeploymentInfo> = match (ended.code, serde_json::from_slice(&ended.stdout)) {
            (Some(0 | 1), Ok(v)) => v,
            (code, _) => return Err(job(format!("kiln deploy could not deploy `{}` to {application}/{group}: {}", input.name, ended.tail.last().cloned().unwrap_or_else(|| format!("exit {code:?}"))))),
        };
        let Some(info) = infos.first() else { return Err(job("kiln deploy printed no deployment record")) };
        let details = details(info, infos.get(1), &project, input, vouched.as_ref());
        if info.status != "Succeeded" {
            return Err(job(failure_message(info, infos.get(1))).with_record(Some(info.deployment_id.clone()), details));
        }
        Ok(ActionOutput { summary: Some(format!("deployment {} to {application}/{group} Succeeded", info.deployment_id)), variables: BTreeMap::new(), external_id: Some(info.deployment_id.clone()), details })
    }
}

/// The deployment record directory kiln deploy writes under `project`.
pub fn record_dir(project: &Path, deployment_id: &str) -> PathBuf {
    project.join(".kiln").join("deployments").join(deployment_id)
}

fn details(info: &DeploymentInfo, rollback: Option<&DeploymentInfo>, project: &Path, input: &InputArtifact, vouched: Option<&Vouched>) -> BTreeMap<String, String> {
    let mut d = BTreeMap::new();
    d.insert("deploymentId".to_string(), info.deployment_id.clone());
    d.insert("status".to_string(), info.status.clone());
    d.insert("applicationName".to_string(), info.application_name.clone());
    d.insert("deploymentGroupName".to_string(), info.deployment_group_name.clone());
    d.insert("deploymentConfigName".to_string(), info.deployment_config_name.clone());
    d.insert("startTime".to_string(), info.start_time.clone().unwrap_or_else(|| info.create_time.clone()));
    if let Some(t) = &info.complete_time {
        d.insert("endTime".to_string(), t.clone());
    }
    let attestation = record_dir(project, &info.deployment_id).join(ATTESTATION_FILE);
    if let Some(digest) = file_digest(&attestation) {
        d.insert("attestationDigest".to_string(), digest);
        d.insert("attestation".to_string(), attestation.display().to_string());
    }
    d.insert("revisionDigest".to_string(), input.digest.clone());
    if let Some(v) = vouched {
        d.insert("provenanceDigest".to_string(), v.digest.clone());
    }
    if let Some(r) = rollback {
        d.insert("rollbackDeploymentId".to_string(), r.deployment_id.clone());
    }
    d
}

/// A failed or stopped deployment as the action's error: its id, status and error message, and
/// the rollback when there was one.
fn failure_message(info: &DeploymentInfo, rollback: Option<&DeploymentInfo>) -> String {
    let why = info.error_information.as_ref().map(|e| e.message.clone()).filter(|m| !m.is_empty()).or_else(|| info.deployment_status_messages.last().cloned()).unwrap_or_else(|| "no error message recorded".into());
    let mut msg = format!("deployment {} {}: {why}", info.deployment_id, info.status);
    if let Some(r) = rollback {
        msg.push_str(&format!(" (rolled back by deployment {}: {})", r.deployment_id, r.status));
    }
    msg
}

impl DeployAction for KilnDeploy {
    fn deploy<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a> {
        Box::pin(self.deploy_inner(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_read_from_the_build_arguments() {
        let args = vec!["--no-sandbox".to_string(), "--secrets-file=/s".into(), "--key=/k/cosign.key".into()];
        assert_eq!(flag(&args, "--key"), Some("/k/cosign.key"));
        assert_eq!(flag(&args, "--secrets-file"), Some("/s"));
        assert_eq!(flag(&args, "--ke"), None);
    }

    #[test]
    fn a_failed_deployment_says_why_and_names_its_rollback() {
        let mut info = DeploymentInfo { deployment_id: "d-ABC".into(), status: "Failed".into(), ..Default::default() };
        info.error_information = Some(kiln_record::deploy::ErrorInformation { code: "ALARM_ACTIVE".into(), message: "the alarm canary-5xx fired".into() });
        let rb = DeploymentInfo { deployment_id: "d-RB".into(), status: "Succeeded".into(), ..Default::default() };
        assert_eq!(failure_message(&info, Some(&rb)), "deployment d-ABC Failed: the alarm canary-5xx fired (rolled back by deployment d-RB: Succeeded)");
        info.error_information = None;
        info.deployment_status_messages = vec!["stopped by the user".into()];
        assert_eq!(failure_message(&info, None), "deployment d-ABC Failed: stopped by the user");
    }
}
