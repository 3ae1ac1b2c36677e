//! The source's git state (revision, branch, remote, uncommitted changes), read without running
//! anything the repository controls outside the sandbox.
//!
//! A source directory is untrusted input: its `.git/config` can name programs that `git status`
//! runs (`core.fsmonitor`, the `clean` command of a `filter.<driver>` that `.gitattributes`
//! selects, ...), so running `git` on it as kiln's user would run the repository's code on the
//! host before any step is confined (the review of issue 11 found `core.fsmonitor` doing exactly
//! that). So:
//!
//! - the revision, branch and `origin` URL are read from the files themselves ([`read`]): `HEAD`,
//!   loose refs, `packed-refs` and `config`, in the git directory a `.git` directory or a
//!   `gitdir:` file names (worktrees and their `commondir` included). Every file is opened
//!   without following a link in its last component, only if it is a regular file, and read
//!   up to a bound ([`kiln_fs::read_input_nofollow`]); ref names must stay under `refs/`
//!   (no `..`), so a hostile `HEAD` cannot point kiln at a host file. Not read: `include` and
//!   `includeIf` files and `url.<base>.insteadOf` rewrites (a remote set only through them is
//!   not seen, and the record names the source directory instead);
//! - whether the work tree has uncommitted changes needs `git status` (the index, filters,
//!   submodules): [`status_command`] is run by the engine inside a sandbox of its own, with the
//!   repository visible read-only and nothing writable, so whatever the repository makes git run
//!   is confined as a build step is. Its answer is one bit ([`parse_dirty`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::context::SourceInfo;

/// The most kiln reads of `HEAD`, a loose ref or a `gitdir:`/`commondir` file.
const SMALL_FILE: u64 = 4096;
/// The most kiln reads of `packed-refs` (large monorepos have tens of MiB).
const PACKED_REFS: u64 = 64 * 1024 * 1024;
/// The most kiln reads of `config`.
const CONFIG: u64 = 1024 * 1024;
/// The most branches and tags [`Repo::branches_and_tags`] reads.
pub const MAX_REFS: usize = 100_000;
/// Symbolic refs followed at most this deep (git's own limit is 5).
const MAX_SYMREF_DEPTH: usize = 5;

/// Where a repository's parts are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repo {
    /// The top of the work tree (the directory holding `.git`).
    pub work_tree: PathBuf,
    /// The git directory of this work tree (`HEAD`, the index).
    pub git_dir: PathBuf,
    /// Where refs, objects and `config` live (the main git directory of a linked worktree).
    pub common_dir: PathBuf,
}

fn read_small(path: &Path, limit: u64) -> Option<String> {
    let bytes = kiln_fs::read_input_nofollow(path, limit, "git file").ok()?;
    String::from_utf8(bytes).ok()
}

/// The repository `dir` is in: the nearest ancestor (or `dir`) holding a `.git` directory or a
/// `.git` file (`gitdir: <path>`), as git finds it.
pub fn discover(dir: &Path) -> Option<Repo> {
    for top in dir.ancestors() {
        let dot_git = top.join(".git");
        let Ok(meta) = std::fs::symlink_metadata(&dot_git) else { continue };
        let git_dir = if meta.is_dir() {
            dot_git
        } else if meta.is_file() {
            let text = read_small(&dot_git, SMALL_FILE)?;
            let target = text.lines().next()?.strip_prefix("gitdir:")?.trim();
            let path = Path::new(target);
            if path.is_absolute() { path.to_path_buf() } else { top.join(path) }
        } else {
            return None;
        };
        let common_dir = match read_small(&git_dir.join("commondir"), SMALL_FILE) {
            Some(text) => {
                let c = Path::new(text.trim());
                if c.is_absolute() { c.to_path_buf() } else { git_dir.join(c) }
            }
            None => git_dir.clone(),
        };
        return Some(Repo { work_tree: top.to_path_buf(), git_dir, common_dir });
    }
    None
}

/// A full object id: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits.
fn is_oid(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A ref name kiln will look up: under `refs/`, no `..`, no empty or dot-led component, no
/// control characters or backslashes (a subset of `git check-ref-format`).
fn is_safe_ref(name: &str) -> bool {
    name.starts_with("refs/")
        && !name.contains("..")
        && !name.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'\\')
        && name.split('/').all(|c| !c.is_empty() && !c.starts_with('.') && !c.ends_with(".lock"))
}

impl Repo {
    /// The commit `name` (a `refs/...` name) points at, following symbolic refs.
    fn resolve(&self, name: &str, depth: usize) -> Option<String> {
        if depth > MAX_SYMREF_DEPTH || !is_safe_ref(name) {
            return None;
        }
        // Per-worktree refs live in the worktree's git directory, the rest in the common one.
        for dir in [&self.git_dir, &self.common_dir] {
            if let Some(text) = read_small(&dir.join(name), SMALL_FILE) {
                let text = text.trim();
                if let Some(target) = text.strip_prefix("ref:") {
                    return self.resolve(target.trim(), depth + 1);
                }
                return is_oid(text).then(|| text.to_string());
            }
        }
        let packed = read_small(&self.common_dir.join("packed-refs"), PACKED_REFS)?;
        packed.lines().filter(|l| !l.starts_with('#') && !l.starts_with('^')).find_map(|l| {
            let (oid, refname) = l.split_once(' ')?;
            (refname.trim_end() == name && is_oid(oid)).then(|| oid.to_string())
        })
    }

    /// `(revision, branch)` from `HEAD`: the branch is `None` for a detached HEAD, the revision
    /// `None` on an unborn branch.
    pub fn head(&self) -> (Option<String>, Option<String>) {
        let Some(text) = read_small(&self.git_dir.join("HEAD"), SMALL_FILE) else { return (None, None) };
        let text = text.trim();
        match text.strip_prefix("ref:") {
            Some(target) => {
                let target = target.trim();
                let branch = target.strip_prefix("refs/heads/").map(str::to_string);
                (self.resolve(target, 1), branch)
            }
            None => (is_oid(text).then(|| text.to_string()), None),
        }
    }

    /// Every branch and tag, `(refs/heads/… | refs/tags/…, object id)`, sorted by name, read from
    /// the files (no process): loose refs win over `packed-refs`, as in git. A packed annotated
    /// tag gives its peeled commit (`^` line); a loose annotated tag gives the tag object's id
    /// (peeling it needs the object database, which kiln does not read). Links are not followed,
    /// names must pass the same checks as [`Repo::head`]'s, and at most [`MAX_REFS`] are read.
    pub fn branches_and_tags(&self) -> Vec<(String, String)> {
        let mut refs = std::collections::BTreeMap::new();
        if let Some(packed) = read_small(&self.common_dir.join("packed-refs"), PACKED_REFS) {
            let mut last: Option<String> = None;
            for line in packed.lines() {
                if let Some(peeled) = line.strip_prefix('^') {
                    if let Some(name) = &last
                        && is_oid(peeled.trim())
                    {
                        refs.insert(name.clone(), peeled.trim().to_string());
                    }
                    continue;
                }
                last = None;
                let Some((oid, name)) = line.split_once(' ') else { continue };
                let name = name.trim_end();
                if !line.starts_with('#') && is_oid(oid) && is_safe_ref(name) && (name.starts_with("refs/heads/") || name.starts_with("refs/tags/")) && refs.len() < MAX_REFS {
                    refs.insert(name.to_string(), oid.to_string());
                    last = Some(name.to_string());
                }
            }
        }
        for top in ["refs/heads", "refs/tags"] {
            let mut stack = vec![(self.common_dir.join(top), top.to_string(), 0usize)];
            while let Some((dir, name, depth)) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                for e in entries.flatten() {
                    let Some(file) = e.file_name().to_str().map(str::to_string) else { continue };
                    let full = format!("{name}/{file}");
                    let Ok(meta) = std::fs::symlink_metadata(e.path()) else { continue };
                    if meta.is_dir() && depth < 32 {
                        stack.push((e.path(), full, depth + 1));
                    } else if meta.is_file() && is_safe_ref(&full) && refs.len() < MAX_REFS
                        && let Some(text) = read_small(&e.path(), SMALL_FILE)
                        && is_oid(text.trim())
                    {
                        refs.insert(full, text.trim().to_string());
                    }
                }
            }
        }
        refs.into_iter().collect()
    }

    /// The first `url` of `[remote "origin"]` in the repository's `config`.
    pub fn origin_url(&self) -> Option<String> {
        let text = read_small(&self.common_dir.join("config"), CONFIG)?;
        remote_url(&text, "origin")
    }
}

/// The first `url` of `[remote "<name>"]` in git config text. Section names and keys are
/// case-insensitive, subsection names are not; values may be quoted; `#` and `;` start comments
/// outside quotes.
fn remote_url(config: &str, name: &str) -> Option<String> {
    let mut in_section = false;
    for raw in config.lines() {
        let line = raw.trim();
        if let Some(rest) = line.strip_prefix('[') {
            let header = rest.split(']').next().unwrap_or("");
            in_section = match header.split_once(char::is_whitespace) {
                Some((section, sub)) => section.eq_ignore_ascii_case("remote") && sub.trim() == format!("\"{name}\""),
                None => false,
            };
            continue;
        }
        if !in_section {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        if key.trim().eq_ignore_ascii_case("url") {
            let v = config_value(value.trim());
            if !v.is_empty() {
                return Some(v);
            }
        }
    }
    None
}

/// A config value: quotes removed, `\"` and `\\` unescaped, a comment outside quotes dropped.
fn config_value(raw: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            },
            '#' | ';' if !quoted => break,
            c => out.push(c),
        }
    }
    out.trim_end().to_string()
}

/// The source of a build: what the caller says it is ([`crate::SourceVersion`]), else [`read`].
pub fn source(source_dir: &Path, given: Option<&crate::SourceVersion>) -> (SourceInfo, Option<Repo>) {
    match given {
        Some(crate::SourceVersion::Commit(c)) => (SourceInfo { revision: Some(c.clone()), ..SourceInfo::default() }, None),
        Some(crate::SourceVersion::Unknown) => (SourceInfo::default(), None),
        None => read(source_dir),
    }
}

/// The revision, branch and remote of the repository `source_dir` is in, read from its files
/// (no process). `dirty` is left false: see [`status_command`].
pub fn read(source_dir: &Path) -> (SourceInfo, Option<Repo>) {
    let Some(repo) = discover(source_dir) else { return (SourceInfo::default(), None) };
    let (revision, branch) = repo.head();
    if revision.is_none() {
        return (SourceInfo::default(), None);
    }
    let repo_url = repo.origin_url().map(|u| crate::context::strip_credentials(&u));
    (SourceInfo { revision, branch, repo_url, dirty: false }, Some(repo))
}

/// `git status` for the work tree of `repo`, to be run confined: porcelain output, tracked files
/// only, no submodules, no fsmonitor, no optional index writes, no system or global config.
pub fn status_command(repo: &Repo) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(&repo.work_tree)
        .args(["-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false", "--no-optional-locks"])
        .args(["status", "--porcelain=v2", "--untracked-files=no", "--ignore-submodules=all"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    cmd
}

/// Whether `git status --porcelain=v2` output names a changed file.
pub fn parse_dirty(stdout: &[u8]) -> bool {
    stdout.split(|&b| b == b'\n').any(|l| !l.is_empty() && !l.starts_with(b"#"))
}

/// The host paths the confined `git status` must see: the work tree and the git directories
/// (a worktree's may live elsewhere).
pub fn visible_paths(repo: &Repo) -> Vec<PathBuf> {
    let mut out = vec![repo.work_tree.clone()];
    for d in [&repo.git_dir, &repo.common_dir] {
        if !out.iter().any(|o| d.starts_with(o)) {
            out.push(d.clone());
        }
    }
    out
}

/// `git status` on the source repository, confined (see `git.rs`), running while the build does.
pub struct DirtyCheck {
    child: Result<tokio::process::Child, String>,
}

impl DirtyCheck {
    /// Start it in a sandbox that sees the repository read-only and can write nothing of the
    /// host's (or unconfined under `--no-sandbox`, where build steps are trusted as well).
    pub fn start(repo: &Repo, sandboxed: bool, build: &kiln_sandbox::Policy) -> DirtyCheck {
        let mut cmd = status_command(repo);
        if sandboxed {
            let policy = kiln_sandbox::Policy {
                visible: visible_paths(repo),
                hidden: build.hidden.clone(),
                private: build.private.clone(),
                max_processes: Some(64),
                ..kiln_sandbox::Policy::default()
            };
            match kiln_sandbox::Sandbox::prepare(&policy) {
                Ok(sandbox) => sandbox.apply(&mut cmd),
                Err(e) => return DirtyCheck { child: Err(e.to_string()) },
            }
        }
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(true);
        DirtyCheck { child: cmd.spawn().map_err(|e| e.to_string()) }
    }

    /// The answer: `Some(true)` when the work tree has uncommitted changes, `None` when git
    /// could not tell within `wait` (the check is then stopped).
    pub async fn finish(self, wait: std::time::Duration) -> Option<bool> {
        let child = self.child.ok()?;
        match tokio::time::timeout(wait, child.wait_with_output()).await {
            Ok(Ok(out)) if out.status.success() => Some(parse_dirty(&out.stdout)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git").arg("-C").arg(dir).args(args).env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").output().expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn repo_with_commit() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        git(d.path(), &["init", "-q", "-b", "main"]);
        std::fs::write(d.path().join("a"), "a").unwrap();
        git(d.path(), &["add", "a"]);
        git(d.path(), &["-c", "user.email=k@x", "-c", "user.name=k", "commit", "-qm", "one"]);
        d
    }

    #[test]
    fn lists_branches_and_tags_as_git_does() {
        let d = repo_with_commit();
        let one = git(d.path(), &["rev-parse", "HEAD"]);
        git(d.path(), &["branch", "feature/login"]);
        git(d.path(), &["tag", "v1"]);
        git(d.path(), &["-c", "user.email=k@x", "-c", "user.name=k", "tag", "-a", "-m", "annotated", "v2"]);
        git(d.path(), &["pack-refs", "--all"]);
        std::fs::write(d.path().join("b"), "b").unwrap();
        git(d.path(), &["add", "b"]);
        git(d.path(), &["-c", "user.email=k@x", "-c", "user.name=k", "commit", "-qm", "two"]);
        let two = git(d.path(), &["rev-parse", "HEAD"]);
        // A link and a hostile name are not read.
        std::os::unix::fs::symlink("/etc/hostname", d.path().join(".git/refs/heads/link")).unwrap();
        std::fs::write(d.path().join(".git/refs/heads/x.lock"), format!("{two}\n")).unwrap();
        let repo = discover(d.path()).unwrap();
        let got = repo.branches_and_tags();
        let want: Vec<(String, String)> = git(d.path(), &["for-each-ref", "--format=%(refname) %(*objectname) %(objectname)", "refs/heads", "refs/tags"])
            .lines()
            .map(|l| {
                let parts: Vec<&str> = l.split_whitespace().collect();
                (parts[0].to_string(), parts[parts.len().min(2) - 1].to_string())
            })
            .collect();
        assert_eq!(got, want);
        assert!(got.contains(&("refs/heads/main".to_string(), two)) && got.contains(&("refs/tags/v2".to_string(), one)), "{got:?}");
    }

    #[test]
    fn reads_what_git_says_for_a_branch_a_detached_head_packed_refs_and_a_worktree() {
        let d = repo_with_commit();
        let oid = git(d.path(), &["rev-parse", "HEAD"]);
        git(d.path(), &["remote", "add", "origin", "https://user:tok@example.com/a/b.git"]);
        let sub = d.path().join("sub/dir");
        std::fs::create_dir_all(&sub).unwrap();
        let (info, repo) = read(&sub);
        assert_eq!(info.revision.as_deref(), Some(oid.as_str()));
        assert_eq!(info.branch.as_deref(), Some("main"));
        assert_eq!(info.repo_url.as_deref(), Some("https://example.com/a/b.git"));
        assert_eq!(repo.unwrap().work_tree, d.path());

        git(d.path(), &["pack-refs", "--all"]);
        assert!(!d.path().join(".git/refs/heads/main").exists());
        assert_eq!(read(d.path()).0.revision.as_deref(), Some(oid.as_str()));

        git(d.path(), &["checkout", "-q", "--detach"]);
        let (info, _) = read(d.path());
        assert_eq!((info.revision.as_deref(), info.branch), (Some(oid.as_str()), None));

        let wt = tempfile::tempdir().unwrap();
        let wt_path = wt.path().join("wt");
        git(d.path(), &["worktree", "add", "-q", "-b", "feature", wt_path.to_str().unwrap()]);
        let (info, repo) = read(&wt_path);
        assert_eq!((info.revision.as_deref(), info.branch.as_deref()), (Some(oid.as_str()), Some("feature")));
        let repo = repo.unwrap();
        assert_eq!(repo.common_dir.canonicalize().unwrap(), d.path().join(".git").canonicalize().unwrap());
        assert_eq!(info.repo_url.as_deref(), Some("https://example.com/a/b.git"));
    }

    #[test]
    fn an_unborn_branch_and_no_repository_give_nothing() {
        let d = tempfile::tempdir().unwrap();
        assert!(read(d.path()).0.revision.is_none());
        git(d.path(), &["init", "-q"]);
        assert!(read(d.path()).1.is_none());
    }

    #[test]
    fn a_hostile_head_cannot_point_kiln_outside_the_repository() {
        let d = repo_with_commit();
        let outside = tempfile::tempdir().unwrap();
        let oid = git(d.path(), &["rev-parse", "HEAD"]);
        std::fs::write(outside.path().join("secret"), &oid).unwrap();
        let rel = format!("ref: refs/heads/../../../../../../../..{}/secret\n", outside.path().display());
        std::fs::write(d.path().join(".git/HEAD"), rel).unwrap();
        assert!(read(d.path()).0.revision.is_none(), "a `..` ref is refused");
        // A loose ref that is a link to a host file is not followed.
        std::fs::write(d.path().join(".git/HEAD"), "ref: refs/heads/linked\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), d.path().join(".git/refs/heads/linked")).unwrap();
        assert!(read(d.path()).0.revision.is_none(), "a linked ref is not followed");
        // HEAD itself a link, or a FIFO: refused without waiting.
        std::fs::remove_file(d.path().join(".git/HEAD")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), d.path().join(".git/HEAD")).unwrap();
        assert!(read(d.path()).0.revision.is_none());
        std::fs::remove_file(d.path().join(".git/HEAD")).unwrap();
        let c = std::ffi::CString::new(d.path().join(".git/HEAD").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(read(d.path()).0.revision.is_none());
        // Symbolic refs that loop end.
        std::fs::remove_file(d.path().join(".git/HEAD")).unwrap();
        std::fs::write(d.path().join(".git/HEAD"), "ref: refs/heads/a\n").unwrap();
        std::fs::write(d.path().join(".git/refs/heads/a"), "ref: refs/heads/b\n").unwrap();
        std::fs::write(d.path().join(".git/refs/heads/b"), "ref: refs/heads/a\n").unwrap();
        assert!(read(d.path()).0.revision.is_none());
    }

    #[test]
    fn config_values_are_read_as_git_reads_them() {
        let text = "[core]\n\turl = no\n[remote \"upstream\"]\n\turl = wrong\n[REMOTE \"origin\"]\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n\tURL = \"git@h:a/b.git\" ; comment\n\turl = second\n";
        assert_eq!(remote_url(text, "origin").as_deref(), Some("git@h:a/b.git"));
        assert_eq!(remote_url("[remote \"Origin\"]\nurl=x\n", "origin"), None, "subsections are case-sensitive");
        assert_eq!(config_value(r#""a \"q\" b" # c"#), "a \"q\" b");
    }

    #[test]
    fn status_output_is_one_bit() {
        assert!(!parse_dirty(b""));
        assert!(!parse_dirty(b"# branch.oid abc\n"));
        assert!(parse_dirty(b"1 .M N... 100644 100644 100644 a b file\n"));
    }

    #[test]
    fn ref_names_are_checked() {
        for ok in ["refs/heads/main", "refs/heads/feature/x", "refs/remotes/origin/HEAD"] {
            assert!(is_safe_ref(ok), "{ok}");
        }
        for bad in ["HEAD", "refs/heads/../x", "refs/heads/.x", "refs//x", "refs/heads/x.lock", "refs/heads/a\\b", "/etc/passwd", "refs/heads/a\nb"] {
            assert!(!is_safe_ref(bad), "{bad}");
        }
    }
}
