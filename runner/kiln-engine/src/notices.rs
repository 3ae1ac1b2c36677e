//! What kiln tells the user it does not do, or does differently from CodeBuild, for a buildspec.

use kiln_spec::BuildSpec;

use crate::context::SourceInfo;

/// Said when the source repository has uncommitted changes (found while the build runs).
pub const DIRTY_SOURCE: &str = "the source has uncommitted changes; CODEBUILD_RESOLVED_SOURCE_VERSION names the commit they are based on";

/// Notices for `spec`, shown in PROVISIONING and kept in the build record. A build of a batch
/// (`in_batch`) gets the batch's notices from the batch instead of the one about `batch:`.
pub fn collect(spec: &BuildSpec, source: &SourceInfo, in_batch: bool) -> Vec<String> {
    let mut n = Vec::new();
    if spec.cache.as_ref().is_some_and(|c| c.paths.is_empty() && c.key.is_some()) {
        n.push("`cache` has a key but no paths: nothing is cached (CodeBuild's best-effort caching of common dependency directories when no paths are given is not done)".into());
    }
    if spec.batch.is_some() && !in_batch {
        n.push("this buildspec has a `batch` section, which a single build ignores (as CodeBuild's StartBuild does); `kiln build --batch` runs the batch".into());
    }
    if spec.env.git_credential_helper {
        n.push("`git-credential-helper` has no effect offline".into());
    }
    if spec.proxy.is_some() {
        n.push("`proxy` has no effect: kiln builds run without network unless granted".into());
    }
    if source.dirty {
        n.push(DIRTY_SOURCE.into());
    }
    n
}
