//! CodeBuild's phase transitions as a pure function, so the rules can be read and tested as a table.
//!
//! Sources (see `docs/codebuild-semantics.md` §2): "The UPLOAD_ARTIFACTS phase is always attempted,
//! even if the BUILD phase fails"; a failed `build` moves on to `post_build` with
//! `CODEBUILD_BUILD_SUCCEEDING=0`; a failed `post_build` still attempts artifact upload; a failed
//! `install` or `pre_build` skips the remaining build phases; `on-failure: CONTINUE` goes on to the
//! next phase; RETRY runs the phase again while retries remain and the failure output matches.

use serde::Serialize;

/// The phases of a CodeBuild build, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PhaseType {
    Submitted,
    Queued,
    Provisioning,
    DownloadSource,
    Install,
    PreBuild,
    Build,
    PostBuild,
    UploadArtifacts,
    Finalizing,
    Completed,
}

impl PhaseType {
    /// The phase type as the CodeBuild API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseType::Submitted => "SUBMITTED",
            PhaseType::Queued => "QUEUED",
            PhaseType::Provisioning => "PROVISIONING",
            PhaseType::DownloadSource => "DOWNLOAD_SOURCE",
            PhaseType::Install => "INSTALL",
            PhaseType::PreBuild => "PRE_BUILD",
            PhaseType::Build => "BUILD",
            PhaseType::PostBuild => "POST_BUILD",
            PhaseType::UploadArtifacts => "UPLOAD_ARTIFACTS",
            PhaseType::Finalizing => "FINALIZING",
            PhaseType::Completed => "COMPLETED",
        }
    }

    /// The buildspec phase this phase type runs, if any.
    pub fn buildspec_phase(self) -> Option<kiln_spec::PhaseName> {
        use kiln_spec::PhaseName;
        Some(match self {
            PhaseType::Install => PhaseName::Install,
            PhaseType::PreBuild => PhaseName::PreBuild,
            PhaseType::Build => PhaseName::Build,
            PhaseType::PostBuild => PhaseName::PostBuild,
            _ => return None,
        })
    }

    fn next_in_order(self) -> PhaseType {
        use PhaseType::*;
        match self {
            Submitted => Queued,
            Queued => Provisioning,
            Provisioning => DownloadSource,
            DownloadSource => Install,
            Install => PreBuild,
            PreBuild => Build,
            Build => PostBuild,
            PostBuild => UploadArtifacts,
            UploadArtifacts => Finalizing,
            Finalizing | Completed => Completed,
        }
    }
}

/// How a phase ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PhaseStatus {
    Succeeded,
    Failed,
    Fault,
    TimedOut,
    Stopped,
}

impl PhaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Succeeded => "SUCCEEDED",
            PhaseStatus::Failed => "FAILED",
            PhaseStatus::Fault => "FAULT",
            PhaseStatus::TimedOut => "TIMED_OUT",
            PhaseStatus::Stopped => "STOPPED",
        }
    }
}

/// The `on-failure` action as it matters for transitions (RETRY is resolved before this point:
/// once retries are spent, the phase ends as failed and the default applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureAction {
    /// `on-failure` not set (or RETRY exhausted): CodeBuild's default transitions.
    Default,
    /// `on-failure: ABORT`: "Abort the build." — no further buildspec phase, no artifact upload.
    Abort,
    /// `on-failure: CONTINUE`: "Continue to the next phase."
    Continue,
}

/// The phase that runs after `phase` ended with `status`.
pub fn next_phase(phase: PhaseType, status: PhaseStatus, action: FailureAction) -> PhaseType {
    use PhaseType::*;
    if status == PhaseStatus::Succeeded {
        return phase.next_in_order();
    }
    if matches!(status, PhaseStatus::Stopped) {
        return Finalizing;
    }
    match phase {
        // Before the buildspec runs, nothing can continue.
        Submitted | Queued | Provisioning | DownloadSource => Finalizing,
        Install | PreBuild => match action {
            FailureAction::Continue => phase.next_in_order(),
            FailureAction::Default | FailureAction::Abort => Finalizing,
        },
        // An explicit ABORT ends the build (docs §2.3: skip the remaining phases and the upload).
        Build | PostBuild if action == FailureAction::Abort => Finalizing,
        // A failed build still runs post_build; a failed post_build still uploads artifacts.
        Build | PostBuild => phase.next_in_order(),
        UploadArtifacts => Finalizing,
        Finalizing | Completed => Completed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FailureAction::*;
    use PhaseStatus::*;
    use PhaseType::*;

    /// One row per documented rule: (phase, how it ended, on-failure, next phase).
    const TABLE: &[(PhaseType, PhaseStatus, FailureAction, PhaseType)] = &[
        // Success always moves to the next phase in order.
        (Submitted, Succeeded, Abort, Queued),
        (Queued, Succeeded, Abort, Provisioning),
        (Provisioning, Succeeded, Abort, DownloadSource),
        (DownloadSource, Succeeded, Abort, Install),
        (Install, Succeeded, Abort, PreBuild),
        (PreBuild, Succeeded, Abort, Build),
        (Build, Succeeded, Abort, PostBuild),
        (PostBuild, Succeeded, Abort, UploadArtifacts),
        (UploadArtifacts, Succeeded, Abort, Finalizing),
        (Finalizing, Succeeded, Abort, Completed),
        // Failures before the buildspec's phases end the build.
        (Provisioning, Failed, Default, Finalizing),
        (DownloadSource, Failed, Default, Finalizing),
        (DownloadSource, Failed, Continue, Finalizing),
        // install / pre_build: "none of the commands in the pre_build, build, and post_build phases are run".
        (Install, Failed, Default, Finalizing),
        (PreBuild, Failed, Default, Finalizing),
        (Install, TimedOut, Default, Finalizing),
        (Install, Failed, Abort, Finalizing),
        (PreBuild, Failed, Abort, Finalizing),
        // on-failure: CONTINUE — "Continue to the next phase."
        (Install, Failed, Continue, PreBuild),
        (PreBuild, Failed, Continue, Build),
        // A failed build moves to post_build ("executes all remaining phases").
        (Build, Failed, Default, PostBuild),
        (Build, Failed, Continue, PostBuild),
        (Build, TimedOut, Default, PostBuild),
        // "The UPLOAD_ARTIFACTS phase is always attempted, even if the BUILD phase fails" — and after a failed post_build.
        (PostBuild, Failed, Default, UploadArtifacts),
        (PostBuild, Failed, Continue, UploadArtifacts),
        // on-failure: ABORT — "Abort the build.": no post_build, no upload.
        (Build, Failed, Abort, Finalizing),
        (PostBuild, Failed, Abort, Finalizing),
        // A failed upload ends the build.
        (UploadArtifacts, Failed, Default, Finalizing),
        // A stopped build goes straight to finalizing.
        (Build, Stopped, Continue, Finalizing),
    ];

    #[test]
    fn transition_table() {
        for &(phase, status, action, want) in TABLE {
            assert_eq!(next_phase(phase, status, action), want, "{phase:?} {status:?} {action:?}");
        }
    }
}
