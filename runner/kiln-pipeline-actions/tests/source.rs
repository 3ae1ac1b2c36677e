//! The git source executor on real repositories: the commit's tree (not the work tree), the
//! variables per provider, refused branch names and repositories outside the workspace, and a
//! hostile `.git/config` whose programs never run on the host.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use kiln_pipeline::exec::traits::{ActionContext, SourceAction, SourceRevision};
use kiln_pipeline::workspace::parse_workspace;
use kiln_pipeline_actions::source::GitSource;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A workspace dir with `repo/` committed on `main` and a workspace file mapping `app` to it.
fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("src/a.txt"), "committed").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["-c", "user.email=a@example.invalid", "-c", "user.name=A", "commit", "-qm", "add a\n\nbody line"]);
    d
}

fn action(provider: &str, config: &str) -> kiln_pipeline::Action {
    let yaml = format!(
        "pipeline:\n  name: p\n  roleArn: r\n  artifactStore: {{type: S3, location: b}}\n  stages:\n    - name: Source\n      actions:\n        - name: Get\n          actionTypeId: {{category: Source, owner: AWS, provider: {provider}, version: '1'}}\n          configuration: {config}\n          outputArtifacts: [{{name: Src}}]\n    - name: B\n      actions:\n        - name: A\n          actionTypeId: {{category: Approval, owner: AWS, provider: Manual, version: '1'}}\n"
    );
    let read = kiln_pipeline::parse(&yaml, "p.yml", &Default::default()).unwrap();
    read.definition.pipeline.stages[0].actions[0].clone()
}

fn ctx(dir: &Path, a: kiln_pipeline::Action) -> ActionContext {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let configuration: BTreeMap<String, String> = a.configuration.iter().map(|(k, v)| (k.value.clone(), v.value.clone())).collect();
    ActionContext { pipeline: "p".into(), execution_id: "e".into(), stage: "Source".into(), action: a, attempt: 1, configuration, inputs: Vec::new(), output_dir: out, outputs: vec!["Src".into()], source_revision: None }
}

fn source(dir: &Path, ws: &str, sandbox: bool) -> GitSource {
    let (ws, diags) = parse_workspace(ws, dir);
    assert!(diags.is_empty(), "{diags:?}");
    GitSource { workspace: Arc::new(ws), sandbox }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn zip_names(path: &Path) -> Vec<String> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len()).map(|i| z.by_index(i).unwrap().name().to_string()).collect()
}

#[test]
fn the_commit_is_the_artifact_with_codecommit_variables_and_the_dirty_work_tree_is_not() {
    let d = setup();
    let repo = d.path().join("repo");
    std::fs::write(repo.join("src/a.txt"), "dirty").unwrap();
    std::fs::write(repo.join("untracked.txt"), "x").unwrap();
    let s = source(d.path(), "version: 1\nsources:\n  app: {repository: repo}\n", true);
    let c = ctx(d.path(), action("CodeCommit", "{RepositoryName: app, BranchName: main}"));
    let out = rt().block_on(s.fetch(&c)).unwrap();
    let head = git(&repo, &["rev-parse", "main"]);
    assert_eq!(out.variables["CommitId"], head);
    assert_eq!(out.variables["BranchName"], "main");
    assert_eq!(out.variables["RepositoryName"], "app");
    assert_eq!(out.variables["CommitMessage"], "add a\n\nbody line");
    assert!(out.variables["AuthorDate"].contains('T') && out.variables.contains_key("CommitterDate"));
    assert_eq!(out.external_id.as_deref(), Some(head.as_str()));
    let names = zip_names(&c.output_dir.join("Src"));
    assert!(names.contains(&"src/a.txt".to_string()) && !names.iter().any(|n| n.contains("untracked") || n.starts_with(".git/")), "{names:?}");
    let mut z = zip::ZipArchive::new(std::fs::File::open(c.output_dir.join("Src")).unwrap()).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut z.by_name("src/a.txt").unwrap(), &mut text).unwrap();
    assert_eq!(text, "committed");
}

#[test]
fn codestar_and_s3_sources_have_their_own_variables() {
    let d = setup();
    let s = source(d.path(), "version: 1\nsources:\n  me/app: {repository: repo, branch: main}\n  bucket/key.zip: {repository: repo, branch: main}\n", true);
    let c = ctx(d.path(), action("CodeStarSourceConnection", "{FullRepositoryId: me/app, BranchName: main, ConnectionArn: 'arn:aws:codestar-connections:us-east-1:123456789012:connection/x'}"));
    let out = rt().block_on(s.fetch(&c)).unwrap();
    assert_eq!(out.variables["FullRepositoryName"], "me/app");
    assert!(out.variables["ConnectionArn"].ends_with("connection/x"));
    assert!(!out.variables.contains_key("RepositoryName"));
    let c = ctx(d.path(), action("S3", "{S3Bucket: bucket, S3ObjectKey: key.zip}"));
    let out = rt().block_on(s.fetch(&c)).unwrap();
    assert_eq!(out.variables.keys().collect::<Vec<_>>(), ["VersionId"]);
}

#[test]
fn bad_branches_missing_branches_and_repositories_outside_the_workspace_are_refused() {
    let d = setup();
    let s = source(d.path(), "version: 1\nsources:\n  app: {repository: repo}\n", true);
    let e = rt().block_on(s.fetch(&ctx(d.path(), action("CodeCommit", "{RepositoryName: app, BranchName: '--output=/tmp/x'}")))).unwrap_err();
    assert_eq!(e.code, "ConfigurationError");
    assert!(e.message.contains("not a branch name"), "{}", e.message);
    let e = rt().block_on(s.fetch(&ctx(d.path(), action("CodeCommit", "{RepositoryName: app, BranchName: nope}")))).unwrap_err();
    assert!(e.message.contains("the branch `nope`"), "{}", e.message);
    // A link out of the workspace.
    let outside = tempfile::tempdir().unwrap();
    git(outside.path(), &["init", "-q", "-b", "main"]);
    std::os::unix::fs::symlink(outside.path(), d.path().join("link")).unwrap();
    let s = source(d.path(), "version: 1\nsources:\n  app: {repository: link}\n", true);
    let e = rt().block_on(s.fetch(&ctx(d.path(), action("CodeCommit", "{RepositoryName: app, BranchName: main}")))).unwrap_err();
    assert!(e.message.contains("leads out of the workspace"), "{}", e.message);
}

#[test]
fn a_hostile_git_config_runs_nothing_on_the_host_and_the_unconfined_control_does() {
    let d = setup();
    let repo = d.path().join("repo");
    // `git archive` runs the smudge filter of every `*.txt`; confined, whatever it runs cannot
    // write the host's marker (here the script is not even visible: the sandbox's /tmp is its own).
    let marker = d.path().join("pwned");
    let script = d.path().join("evil.sh");
    std::fs::write(&script, format!("#!/bin/sh\ntouch {}\ncat\n", marker.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cfg = std::fs::read_to_string(repo.join(".git/config")).unwrap();
    cfg.push_str(&format!("[core]\n\tfsmonitor = {s}\n\tpager = {s}\n[filter \"evil\"]\n\tsmudge = {s}\n\tclean = cat\n", s = script.display()));
    std::fs::write(repo.join(".git/config"), cfg).unwrap();
    std::fs::write(repo.join(".gitattributes"), "*.txt filter=evil\n").unwrap();
    git(&repo, &["-c", "core.fsmonitor=false", "add", ".gitattributes"]);
    git(&repo, &["-c", "core.fsmonitor=false", "-c", "user.email=a@x", "-c", "user.name=A", "commit", "-qm", "attrs"]);
    let _ = std::fs::remove_file(&marker);
    let ws = "version: 1\nsources:\n  app: {repository: repo}\n";
    let confined = rt().block_on(source(d.path(), ws, true).fetch(&ctx(d.path(), action("CodeCommit", "{RepositoryName: app, BranchName: main}"))));
    assert!(!marker.exists(), "a program of .git/config ran on the host ({confined:?})");
    let unconfined = rt().block_on(source(d.path(), ws, false).fetch(&ctx(d.path(), action("CodeCommit", "{RepositoryName: app, BranchName: main}"))));
    assert!(marker.exists(), "the control (unconfined) did not run the filter, so the test proves nothing ({unconfined:?})");
}

fn commit_file(repo: &Path, file: &str, text: &str, msg: &str) -> String {
    if let Some(parent) = Path::new(file).parent() {
        std::fs::create_dir_all(repo.join(parent)).unwrap();
    }
    std::fs::write(repo.join(file), text).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["-c", "user.email=a@example.invalid", "-c", "user.name=A", "commit", "-qm", msg]);
    git(repo, &["rev-parse", "HEAD"])
}

fn read_zip(path: &Path, name: &str) -> String {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut z.by_name(name).unwrap(), &mut text).unwrap();
    text
}

#[test]
fn a_pinned_commit_runs_whatever_the_branch_tip_is_and_a_push_names_its_branch_or_tag() {
    let d = setup();
    let repo = d.path().join("repo");
    let first = git(&repo, &["rev-parse", "main"]);
    let second = commit_file(&repo, "src/a.txt", "second", "second");
    let s = source(d.path(), "version: 1\nsources:\n  app: {repository: repo}\n", true);
    let a = action("CodeCommit", "{RepositoryName: app, BranchName: main}");
    // Pinned to the older commit: that commit's tree and variables, not the tip's.
    let mut c = ctx(d.path(), a.clone());
    c.source_revision = Some(SourceRevision::commit("Get", &first));
    let out = rt().block_on(s.fetch(&c)).unwrap();
    assert_eq!((out.variables["CommitId"].as_str(), out.variables["BranchName"].as_str()), (first.as_str(), "main"));
    assert_eq!(read_zip(&c.output_dir.join("Src"), "src/a.txt"), "committed");
    // A push to another branch: BranchName is the pushed branch.
    git(&repo, &["branch", "release/2", &second]);
    let mut c = ctx(&d.path().join("b"), a.clone());
    c.source_revision = Some(SourceRevision { reference: Some("refs/heads/release/2".into()), ..SourceRevision::commit("Get", &second) });
    let out = rt().block_on(s.fetch(&c)).unwrap();
    assert_eq!((out.variables["CommitId"].as_str(), out.variables["BranchName"].as_str()), (second.as_str(), "release/2"));
    assert_eq!(out.details["reference"], "refs/heads/release/2");
    assert_eq!(read_zip(&c.output_dir.join("Src"), "src/a.txt"), "second");
    // A tag push: the configured branch stays, the summary names the tag.
    let mut c = ctx(&d.path().join("t"), a.clone());
    c.source_revision = Some(SourceRevision { reference: Some("refs/tags/v1.0".into()), ..SourceRevision::commit("Get", &first) });
    let out = rt().block_on(s.fetch(&c)).unwrap();
    assert_eq!(out.variables["BranchName"], "main");
    assert!(out.summary.as_deref().unwrap().starts_with(&format!("tag v1.0 at {first}: add a")), "{:?}", out.summary);
    // A commit the repository does not have, and a tree's id, fail naming what was asked for.
    for bad in ["0".repeat(40), git(&repo, &["rev-parse", "HEAD^{tree}"])] {
        let mut c = ctx(&d.path().join("x"), a.clone());
        c.source_revision = Some(SourceRevision::commit("Get", &bad));
        let e = rt().block_on(s.fetch(&c)).unwrap_err();
        assert_eq!(e.code, "JobFailed");
        assert!(e.message.contains(&format!("the commit {bad}")), "{}", e.message);
    }
    // Something that is not a commit id never reaches git as an argument.
    let mut c = ctx(&d.path().join("y"), a);
    c.source_revision = Some(SourceRevision::commit("Get", "--output=/tmp/x"));
    let e = rt().block_on(s.fetch(&c)).unwrap_err();
    assert_eq!(e.code, "ConfigurationError", "{}", e.message);
}

#[test]
fn the_files_a_push_changed_are_read_by_the_confined_git() {
    let d = setup();
    let repo = d.path().join("repo");
    let root = git(&repo, &["rev-parse", "main"]);
    let two = commit_file(&repo, "docs/README.md", "r", "docs");
    git(&repo, &["mv", "src/a.txt", "src/b.txt"]);
    git(&repo, &["-c", "user.email=a@example.invalid", "-c", "user.name=A", "commit", "-qm", "mv"]);
    let three = git(&repo, &["rev-parse", "HEAD"]);
    let r = kiln_engine::git::discover(&repo).unwrap();
    let s = source(d.path(), "version: 1\nsources:\n  app: {repository: repo}\n", true);
    let changed = |old: Option<&str>, new: &str| rt().block_on(s.changed_files(&r, old, new));
    assert_eq!(changed(Some(&root), &three).unwrap(), ["docs/README.md", "src/a.txt", "src/b.txt"], "a rename is both paths");
    assert_eq!(changed(None, &two).unwrap(), ["docs/README.md"], "a new ref: against its first parent");
    assert_eq!(changed(None, &root).unwrap(), ["src/a.txt"], "the root commit: everything in it");
    assert_eq!(changed(Some(&"1".repeat(40)), &two).unwrap(), ["docs/README.md"], "an old commit that is gone: the new commit's own changes");
    assert!(changed(Some("--output=/tmp/x"), &two).unwrap_err().contains("not a commit id"));
}
