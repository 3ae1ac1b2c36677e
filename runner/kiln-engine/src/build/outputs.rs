//! What a build leaves besides its logs, in the order CodeBuild makes it: the exported variables
//! (after the last build phase), then in UPLOAD_ARTIFACTS the artifacts and the reports.

use super::Run;
use crate::record::NameValue;
use crate::transitions::{FailureAction, PhaseStatus};
use crate::{context, upload};

impl Run<'_> {
    /// Capture `env.exported-variables` from the session (after post_build, or the last phase that ran).
    pub(super) async fn capture_exported(&mut self) {
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

    pub(super) async fn upload_artifacts(&mut self) -> (PhaseStatus, Option<(String, String)>, FailureAction) {
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
    pub(super) async fn collect_reports(&mut self) -> Option<String> {
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

}
