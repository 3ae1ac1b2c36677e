//! Source actions (CodeCommit, CodeStarSourceConnection, GitHub, S3) from a local git
//! repository: the tip of the mapped branch, as a zip of the tree at that commit (never the
//! work tree, dirty or not), with CodePipeline's source variables.
//!
//! Variables (CodePipeline user guide, "Variables reference"; the CDK's `*SourceVariables`):
//! CodeCommit `AuthorDate`, `BranchName`, `CommitId`, `CommitMessage`, `CommitterDate`,
//! `RepositoryName`; CodeStarSourceConnection `AuthorDate`, `BranchName`, `CommitId`,
//! `CommitMessage`, `ConnectionArn`, `FullRepositoryName`; GitHub (version 1) `AuthorDate`,
//! `BranchName`, `CommitId`, `CommitMessage`, `CommitterDate`, `RepositoryName` (`CommitUrl`, a
//! GitHub API URL, has no local meaning and is not set); S3 `VersionId` (kiln proposal: the
//! commit id, the version of the "object"; `ETag` is not set). Dates are ISO-8601 as git prints
//! them (`%aI`). `OutputArtifactFormat: CODEBUILD_CLONE_REF` gets the same tree (no `.git`), and
//! the action's summary says so.
//!
//! Security: a repository's `.git/config` can name programs git runs (`core.fsmonitor`, filter
//! drivers selected by `.gitattributes`, `core.sshCommand`, …). kiln therefore runs git on the
//! repository only inside a sandbox of its own (as `kiln_engine::git::DirtyCheck` does): the
//! repository visible read-only, nothing of the host writable, no network, an environment of
//! `PATH` only, no system or global config. Whatever the repository makes git run is confined;
//! the archive comes back over a pipe, bounded. The repository path from the workspace file must
//! stay inside the workspace's directory after links are resolved; the branch must be a plain
//! ref name (no `..`, no leading `-`).
//!
//! A run can pin the commit (`ActionContext::source_revision`: the push that started it, or
//! `kiln pipeline run --source-revision`): that commit runs, whatever the branch's tip is by
//! then. A push to a branch makes `BranchName` that branch (the user guide: with trigger
//! filters "the execution will use the commit from the branch that you're pushing to"); a tag
//! push keeps the configured `BranchName` (kiln proposal) and the summary names the tag.
//!
//! The action's details keep the repository, the commit id, the branch and the commit's author
//! and committer (`authorName`, `authorEmail`, `committerName`, `committerEmail`), read from the
//! commit object by the same confined git, for the run's release record.

use std::process::Stdio;
use std::sync::Arc;

use kiln_pipeline::exec::traits::{is_commit_id, ActionContext, ActionFailure, ActionFuture, ActionOutput, SourceAction};
use kiln_pipeline::workspace::{target, Target, Workspace};
use tokio::io::AsyncReadExt;

/// The most bytes a source archive may take (4 GiB).
const MAX_ARCHIVE: u64 = 4 * 1024 * 1024 * 1024;
/// The most bytes a push's list of changed files may take (16 MiB).
const MAX_LISTING: u64 = 16 * 1024 * 1024;

/// A git source read confined.
pub struct GitSource {
    pub workspace: Arc<Workspace>,
    /// Confine git (false only under `--no-sandbox`, where build steps are trusted too).
    pub sandbox: bool,
}

/// Whether `b` is a branch name kiln passes to git: git's ref rules, minus anything that could
/// read as an option or a range.
pub fn valid_branch(b: &str) -> bool {
    !b.is_empty()
        && b.len() <= 255
        && !b.starts_with(['-', '/', '.'])
        && !b.ends_with(['/', '.'])
        && !b.ends_with(".lock")
        && !b.contains("..")
        && !b.contains("//")
        && !b.contains("@{")
        && b.chars().all(|c| c.is_ascii_alphanumeric() || "._/-+".contains(c))
}

impl GitSource {
    fn command(&self, repo: &kiln_engine::git::Repo, args: &[&str]) -> Result<tokio::process::Command, String> {
        let mut cmd = std::process::Command::new("git");
        cmd.current_dir(&repo.work_tree)
            .args(["-c", "core.fsmonitor=false", "-c", "safe.directory=*", "-c", "core.hooksPath=/dev/null", "--no-optional-locks"])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_DIR", &repo.git_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.sandbox {
            let policy = kiln_sandbox::Policy { visible: kiln_engine::git::visible_paths(repo), max_processes: Some(64), ..kiln_sandbox::Policy::default() };
            let sandbox = kiln_sandbox::Sandbox::prepare(&policy).map_err(|e| format!("kiln cannot confine git for this source ({e}); use --no-sandbox only for repositories you trust"))?;
            sandbox.apply(&mut cmd);
        }
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(true);
        Ok(cmd)
    }

    /// Run git confined; its stdout (bounded) into `sink`.
    async fn git(&self, repo: &kiln_engine::git::Repo, args: &[&str], sink: &mut (dyn tokio::io::AsyncWrite + Unpin + Send), limit: u64) -> Result<(), String> {
        let mut child = self.command(repo, args)?.spawn().map_err(|e| format!("kiln could not run git: {e}"))?;
        let mut stdout = child.stdout.take().ok_or("git's output is missing")?;
        let mut stderr = child.stderr.take().ok_or("git's error output is missing")?;
        let copy = async {
            let n = tokio::io::copy(&mut (&mut stdout).take(limit + 1), sink).await.map_err(|e| format!("reading git's output: {e}"))?;
            if n > limit {
                return Err(format!("git's output is larger than {limit} bytes"));
            }
            Ok(())
        };
        let mut err = Vec::new();
        let mut stderr = (&mut stderr).take(16 * 1024);
        let errs = stderr.read_to_end(&mut err);
        let (copied, _) = tokio::join!(copy, errs);
        let status = child.wait().await.map_err(|e| format!("waiting for git: {e}"))?;
        copied?;
        if !status.success() {
            return Err(format!("git {} failed: {}", args.first().copied().unwrap_or_default(), String::from_utf8_lossy(&err).trim()));
        }
        Ok(())
    }

    /// The files a push changed, repository-relative: between `old` and `new`, or (a new ref)
    /// between `new` and its first parent (kiln proposal; the user guide does not say what a
    /// new branch's "changed files" are). Renames count as both paths. Read by the confined git.
    pub async fn changed_files(&self, repo: &kiln_engine::git::Repo, old: Option<&str>, new: &str) -> Result<Vec<String>, String> {
        for c in old.iter().chain([&new]) {
            if !is_commit_id(c) {
                return Err(format!("`{c}` is not a commit id"));
            }
        }
        let from = old.map_or_else(|| format!("{new}^1"), str::to_string);
        let mut out = Vec::new();
        let first = self.git(repo, &["diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", &from, new, "--"], &mut out, MAX_LISTING).await;
        if let Err(e) = first {
            // A root commit has no parent; an old commit that is gone (a force push after gc)
            // leaves only the new commit's own changes.
            out.clear();
            self.git(repo, &["diff-tree", "-r", "--root", "--name-only", "-z", "--no-renames", "--no-commit-id", new, "--"], &mut out, MAX_LISTING).await.map_err(|e2| format!("{e}; {e2}"))?;
        }
        Ok(out.split(|b| *b == 0).filter(|p| !p.is_empty()).map(|p| String::from_utf8_lossy(p).into_owned()).collect())
    }

    /// The commit `oid` (a commit, or an annotated tag object) points at, read by the confined git.
    pub async fn peel(&self, repo: &kiln_engine::git::Repo, oid: &str) -> Result<String, String> {
        if !is_commit_id(oid) {
            return Err(format!("`{oid}` is not an object id"));
        }
        let mut out = Vec::new();
        self.git(repo, &["rev-parse", "--verify", "--quiet", &format!("{oid}^{{commit}}")], &mut out, 1024).await?;
        let commit = String::from_utf8_lossy(&out).trim().to_string();
        if is_commit_id(&commit) { Ok(commit) } else { Err(format!("`{oid}` does not name a commit")) }
    }

    async fn fetch_inner(&self, ctx: &ActionContext) -> Result<ActionOutput, ActionFailure> {
        let Ok(Target::Source { key, target: t }) = target(&ctx.action, &self.workspace) else {
            let why = target(&ctx.action, &self.workspace).err().unwrap_or_else(|| "it is not a source action".into());
            return Err(ActionFailure::configuration(why));
        };
        // A pinned revision (a push that started the run, or `--source-revision`) names the
        // commit and, for a push, the ref; otherwise the tip of the configured branch runs.
        let pinned = ctx.source_revision.as_ref();
        let pushed = pinned.and_then(|r| r.reference.as_deref());
        let (pushed_branch, tag) = (pushed.and_then(|r| r.strip_prefix("refs/heads/")), pushed.and_then(|r| r.strip_prefix("refs/tags/")));
        let branch = pushed_branch.map(str::to_string).or_else(|| t.branch.clone());
        let wanted = match pinned {
            Some(r) if is_commit_id(&r.revision_value) => format!("{}^{{commit}}", r.revision_value),
            Some(r) => return Err(ActionFailure::configuration(format!("`{}` is not a full commit id (40 or 64 lowercase hex digits)", r.revision_value))),
            None => match &branch {
                Some(b) => format!("refs/heads/{b}"),
                None => return Err(ActionFailure::configuration(format!("no branch for `{key}`: give BranchName in the action or `branch:` in the workspace's sources"))),
            },
        };
        if let Some(b) = branch.as_deref().filter(|b| !valid_branch(b)) {
            return Err(ActionFailure::configuration(format!("`{b}` is not a branch name kiln accepts (letters, digits, `._/-+`, no `..`, not starting with `-`)")));
        }
        let what = match (pinned, tag, &branch) {
            (Some(r), Some(tag), _) => format!("the tag `{tag}` at {}", r.revision_value),
            (Some(r), None, _) => format!("the commit {}", r.revision_value),
            (None, _, b) => format!("the branch `{}`", b.as_deref().unwrap_or_default()),
        };
        let dir = crate::inside_workspace(&self.workspace, &t.repository, "repository").map_err(ActionFailure::configuration)?;
        let repo = kiln_engine::git::discover(&dir).filter(|r| r.work_tree == dir).ok_or_else(|| ActionFailure::configuration(format!("{} is not the top of a git repository", dir.display())))?;
        let mut meta = Vec::new();
        self.git(&repo, &["log", "-1", "--format=%H%x00%aI%x00%cI%x00%an%x00%ae%x00%cn%x00%ce%x00%B", &wanted, "--"], &mut meta, 1024 * 1024)
            .await
            .map_err(|e| ActionFailure::job_failed(format!("{what} of {}: {e}", dir.display())))?;
        let meta = String::from_utf8_lossy(&meta).to_string();
        let mut parts = meta.splitn(8, '\0');
        let mut next = || parts.next().unwrap_or_default().to_string();
        let (commit, author_date, committer_date) = (next().trim().to_string(), next(), next());
        let people = [("authorName", next()), ("authorEmail", next()), ("committerName", next()), ("committerEmail", next())];
        let message = next().trim_end().to_string();
        if !is_commit_id(&commit) || pinned.is_some_and(|r| r.revision_value != commit) {
            return Err(ActionFailure::job_failed(format!("git gave no commit for {what} in {}", dir.display())));
        }
        let branch = branch.unwrap_or_default();
        let title = message.lines().next().unwrap_or_default();
        let mut summary = match tag {
            Some(tag) => format!("tag {tag} at {commit}: {title}"),
            None => format!("{branch} at {commit}: {title}"),
        };
        for name in &ctx.outputs {
            let path = ctx.output_dir.join(name);
            let mut file = tokio::fs::File::create(&path).await.map_err(|e| ActionFailure::job_failed(format!("{}: {e}", path.display())))?;
            self.git(&repo, &["archive", "--format=zip", &commit], &mut file, MAX_ARCHIVE).await.map_err(|e| ActionFailure::job_failed(format!("archiving {commit} of {}: {e}", dir.display())))?;
            file.sync_all().await.map_err(|e| ActionFailure::job_failed(format!("{}: {e}", path.display())))?;
        }
        if ctx.configuration.get("OutputArtifactFormat").map(String::as_str) == Some("CODEBUILD_CLONE_REF") {
            summary.push_str(" (CODEBUILD_CLONE_REF: kiln hands on the tree at the commit, without .git)");
        }
        let mut v = std::collections::BTreeMap::new();
        let provider = ctx.action.provider();
        if provider == "S3" {
            v.insert("VersionId".to_string(), commit.clone());
        } else {
            v.insert("AuthorDate".into(), author_date);
            if !branch.is_empty() {
                v.insert("BranchName".into(), branch.clone());
            }
            v.insert("CommitId".into(), commit.clone());
            v.insert("CommitMessage".into(), message);
            match provider {
                "CodeStarSourceConnection" => {
                    v.insert("FullRepositoryName".into(), key.clone());
                    if let Some(arn) = ctx.configuration.get("ConnectionArn") {
                        v.insert("ConnectionArn".into(), arn.clone());
                    }
                }
                _ => {
                    v.insert("CommitterDate".into(), committer_date);
                    v.insert("RepositoryName".into(), ctx.configuration.get("RepositoryName").or_else(|| ctx.configuration.get("Repo")).cloned().unwrap_or(key.clone()));
                }
            }
        }
        let mut details = std::collections::BTreeMap::new();
        details.insert("repository".to_string(), dir.display().to_string());
        details.insert("commitId".to_string(), commit.clone());
        details.insert("branch".to_string(), branch.clone());
        if let Some(r) = pushed {
            details.insert("reference".to_string(), r.to_string());
        }
        // Who wrote and who committed the commit, from its object (the release record's
        // `sources[].author`/`committer`, which an approval policy compares approvers with).
        for (k, v) in people {
            details.insert(k.to_string(), v);
        }
        Ok(ActionOutput { summary: Some(summary), variables: v, external_id: Some(commit), details })
    }
}

impl SourceAction for GitSource {
    fn fetch<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a> {
        Box::pin(self.fetch_inner(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::valid_branch;

    #[test]
    fn branch_names_that_could_be_options_or_ranges_are_refused() {
        for ok in ["main", "release/1.2", "feature-x", "v1+b"] {
            assert!(valid_branch(ok), "{ok}");
        }
        for bad in ["", "-c", "--upload-pack=x", "a..b", "/abs", "a//b", "x.lock", "a@{1}", "a b", "a;b", ".hidden", "end/"] {
            assert!(!valid_branch(bad), "{bad}");
        }
    }
}
