//! `kiln pipeline watch` through the binary: refs read from a real repository's files, each
//! move decided by the V2 trigger filters.

mod pipeline_ws;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").output().expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn commit(repo: &Path, file: &str) -> String {
    std::fs::write(repo.join(file), file).unwrap();
    git(repo, &["add", file]);
    git(repo, &["-c", "user.email=k@x", "-c", "user.name=k", "commit", "-qm", file]);
    git(repo, &["rev-parse", "HEAD"])
}

const PIPELINE: &str = "pipeline:\n  name: app\n  pipelineType: V2\n  roleArn: arn:aws:iam::123456789012:role/p\n  artifactStore: {type: S3, location: b}\n  triggers:\n    - providerType: CodeStarSourceConnection\n      gitConfiguration:\n        sourceActionName: Source\n        push:\n          - branches: {includes: [main]}\n          - tags: {includes: ['v*']}\n  stages:\n    - name: Source\n      actions:\n        - name: Source\n          actionTypeId: {category: Source, owner: AWS, provider: CodeStarSourceConnection, version: '1'}\n          configuration: {BranchName: main, ConnectionArn: 'arn:aws:codestar-connections:us-east-1:123456789012:connection/x', FullRepositoryId: acme/app}\n          outputArtifacts: [{name: Src}]\n    - name: Build\n      actions:\n        - name: Build\n          actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: '1'}\n          configuration: {ProjectName: app}\n          inputArtifacts: [{name: Src}]\n";

fn setup() -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let head = commit(&repo, "a");
    git(&repo, &["branch", "feature"]);
    std::fs::write(d.path().join("pipeline.yml"), PIPELINE).unwrap();
    std::fs::write(d.path().join("workspace.yml"), "version: 1\nsources:\n  acme/app:\n    repository: repo\ncodebuild:\n  app:\n    path: repo\n").unwrap();
    (d, head)
}

#[test]
fn once_decides_for_every_branch_and_tag() {
    let (d, head) = setup();
    let o = assert_cmd::Command::cargo_bin("kiln").unwrap().current_dir(d.path()).args(["pipeline", "watch", "pipeline.yml", "--workspace", "workspace.yml", "--once", "--json", "--dry-run"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["ref"], "refs/heads/feature");
    assert_eq!(lines[0]["starts"], false);
    assert_eq!(lines[0]["reason"], "push filter 1: branch `feature` matches none of `main`; push filter 2: a branch push (`feature`) and the filter has no branches");
    assert_eq!(lines[1]["ref"], "refs/heads/main");
    assert_eq!(lines[1]["starts"], true);
    assert_eq!(lines[1]["commit"], head.as_str());
    assert_eq!(lines[1]["reason"], "push filter 1: branch `main` matches `main`");
}

#[test]
fn a_push_and_a_tag_are_seen_and_decided() {
    let (d, _) = setup();
    let repo = d.path().join("repo");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("kiln")).current_dir(d.path()).args(["pipeline", "watch", "pipeline.yml", "--workspace", "workspace.yml", "--interval", "0.2", "--dry-run"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(20)).expect("a line from kiln pipeline watch");
    assert!(next().starts_with("watching "), "first line");
    let two = commit(&repo, "b");
    assert_eq!(next(), format!("run would start: app from Source at refs/heads/main {two} (push filter 1: branch `main` matches `main`)"));
    git(&repo, &["tag", "v1.0"]);
    assert_eq!(next(), format!("run would start: app from Source at refs/tags/v1.0 {two} (push filter 2: tag `v1.0` matches `v*`)"));
    git(&repo, &["tag", "nightly"]);
    assert_eq!(next(), "no run: Source refs/tags/nightly: push filter 1: a tag push (`nightly`) and the filter has no tags; push filter 2: tag `nightly` matches none of `v*`");
    git(&repo, &["branch", "-D", "feature"]);
    assert_eq!(next(), "no run: Source refs/heads/feature: `refs/heads/feature` was deleted: nothing to run");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_bad_trigger_pattern_is_located() {
    let (d, _) = setup();
    std::fs::write(d.path().join("pipeline.yml"), PIPELINE.replace("includes: [main]", "includes: ['{a,{b}}']")).unwrap();
    let o = assert_cmd::Command::cargo_bin("kiln").unwrap().current_dir(d.path()).args(["pipeline", "watch", "pipeline.yml", "--workspace", "workspace.yml", "--once"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("pipeline.yml:11:") && err.contains("groups `{…}` cannot be nested"), "{err}");
}

/// Watching that starts runs: a pipeline workspace (`pipeline_ws`) whose `Checkout` action
/// follows the workspace's own repository through a V2 trigger.
mod runs {

    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::pipeline_ws::*;
    use serde_json::Value;

    const CONTENT: &str = "version: 0.2\nenv:\n  exported-variables: [CONTENT]\nphases:\n  build:\n    commands:\n      - sleep 2\n      - export CONTENT=$(cat app.txt)\nartifacts:\n  files: [app.txt]\n";
    const PASSWORD: &str = "pipeline-watch-test";

    /// V2 in `mode`: pushes to main that change more than Markdown, and tags `v*`.
    fn pipeline(mode: &str) -> String {
        format!(
            "pipeline:\n  name: demo\n  pipelineType: V2\n  executionMode: {mode}\n  roleArn: arn:aws:iam::123456789012:role/p\n  artifactStore: {{type: S3, location: bucket}}\n  triggers:\n    - providerType: CodeStarSourceConnection\n      gitConfiguration:\n        sourceActionName: Checkout\n        push:\n          - branches: {{includes: [main]}}\n            filePaths: {{excludes: ['**/*.md', '*.md']}}\n          - tags: {{includes: ['v*']}}\n  stages:\n    - name: Source\n      actions:\n        - name: Checkout\n          actionTypeId: {{category: Source, owner: AWS, provider: CodeStarSourceConnection, version: '1'}}\n          configuration: {{BranchName: main, ConnectionArn: 'arn:aws:codestar-connections:us-east-1:123456789012:connection/x', FullRepositoryId: acme/app}}\n          outputArtifacts: [{{name: Src}}]\n          namespace: SourceVariables\n    - name: Build\n      actions:\n{}",
            build_action("Content", "content", 1, "Src", Some("Built"), "")
        )
    }

    fn workspace() -> Ws {
        workspace_in("SUPERSEDED")
    }

    fn workspace_in(mode: &str) -> Ws {
        let ws = Ws::new(&[("content", CONTENT)], "");
        std::fs::write(ws.dir().join("pipeline.yml"), pipeline(mode)).unwrap();
        std::fs::write(ws.dir().join("kiln-workspace.yml"), "version: 1\nsources:\n  acme/app: {repository: .}\ncodebuild:\n  content: {path: content}\n").unwrap();
        ws
    }

    fn commit(ws: &Ws, file: &str, text: &str) -> String {
        std::fs::create_dir_all(ws.dir().join(file).parent().unwrap()).unwrap();
        std::fs::write(ws.dir().join(file), text).unwrap();
        git(&ws.dir(), &["add", file]);
        git(&ws.dir(), &["-c", "user.email=dev@example.invalid", "-c", "user.name=Dev", "commit", "-qm", &format!("{file}: {text}")]);
        rev(ws, "HEAD")
    }

    fn rev(ws: &Ws, what: &str) -> String {
        let out = Command::new("git").arg("-C").arg(ws.dir()).args(["rev-parse", what]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `kiln pipeline watch` in the background; its stdout lines through a channel.
    struct Watcher {
        child: Child,
        lines: mpsc::Receiver<String>,
    }

    impl Watcher {
        fn start(ws: &Ws, tag: &str, extra: &[&str]) -> Watcher {
            let mut child = Command::new(assert_cmd::cargo::cargo_bin("kiln"))
                .args(["pipeline", "watch", "pipeline.yml", "--workspace", "kiln-workspace.yml", "--interval", "0.2"])
                .args(extra)
                .current_dir(ws.dir())
                .env("HOME", ws.tmp.path().join("home"))
                .env("COSIGN_PASSWORD", PASSWORD)
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(ws.tmp.path().join(format!("{tag}.err"))).unwrap())
                .stdin(Stdio::null())
                .spawn()
                .unwrap();
            let (tx, lines) = mpsc::channel();
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            Watcher { child, lines }
        }

        fn next(&self, ws: &Ws, tag: &str) -> String {
            self.lines.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no line from kiln pipeline watch; its stderr:\n{}", ws.log(tag)))
        }

        fn kill(mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// The run id of a `run started: demo run <id> from …` line.
    fn started(line: &str, commit: &str, reference: &str) -> String {
        let rest = line.strip_prefix("run started: demo run ").unwrap_or_else(|| panic!("not a start: {line}"));
        let (id, rest) = rest.split_once(' ').unwrap();
        assert!(rest.starts_with(&format!("from Checkout at {reference} {commit} (")), "{line}");
        id.to_string()
    }

    fn wait_ended(ws: &Ws, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let s = ws.status(id);
            if !["InProgress", "Stopping"].contains(&s["pipelineExecution"]["status"].as_str().unwrap_or_default()) {
                return s;
            }
            assert!(Instant::now() < deadline, "run {id} did not end: {s}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn vars<'a>(s: &'a Value, action: &str) -> &'a Value {
        let a = s["kiln"]["actionExecutions"].as_array().unwrap().iter().rev().find(|a| a["actionName"] == action).unwrap_or_else(|| panic!("no {action} in {s}"));
        &a["outputVariables"]
    }

    #[test]
    fn pushes_start_runs_of_their_own_commits_and_filtered_pushes_start_none() {
        // QUEUED: every run started goes through (SUPERSEDED would supersede the one waiting).
        let ws = workspace_in("QUEUED");
        std::fs::write(ws.dir().join(".gitignore"), ".kiln/\ncosign.*\n").unwrap();
        ws.kiln().env("COSIGN_PASSWORD", PASSWORD).arg("generate-key-pair").assert().success();
        let w = Watcher::start(&ws, "watch", &["--key", "cosign.key"]);
        let first = w.next(&ws, "watch");
        assert!(first.starts_with("watching ") && first.contains("first watch"), "{first}");
        // Two pushes in a row: two runs, each of its own commit (the second push lands while
        // the first run builds).
        let two = commit(&ws, "app.txt", "two");
        let run2 = started(&w.next(&ws, "watch"), &two, "refs/heads/main");
        let three = commit(&ws, "app.txt", "three");
        let run3 = started(&w.next(&ws, "watch"), &three, "refs/heads/main");
        // A push that changes only Markdown starts nothing, and says why.
        commit(&ws, "docs/NOTES.md", "notes");
        let line = w.next(&ws, "watch");
        assert!(line.starts_with("no run: Checkout refs/heads/main: push filter 1: ") && line.contains("docs/NOTES.md"), "{line}");
        // An annotated tag starts a run of the commit it points at.
        git(&ws.dir(), &["-c", "user.email=dev@example.invalid", "-c", "user.name=Dev", "tag", "-a", "v1.0", "-m", "release", &three]);
        let run_tag = started(&w.next(&ws, "watch"), &three, "refs/tags/v1.0");
        git(&ws.dir(), &["tag", "nightly"]);
        assert!(w.next(&ws, "watch").starts_with("no run: Checkout refs/tags/nightly:"));
        for (id, commit, content) in [(&run2, &two, "two"), (&run3, &three, "three"), (&run_tag, &three, "three")] {
            let s = wait_ended(&ws, id);
            assert_eq!(s["pipelineExecution"]["status"], "Succeeded", "run {id}:\n{}", ws.log("watch"));
            assert_eq!(vars(&s, "Checkout")["CommitId"], commit.as_str());
            assert_eq!(vars(&s, "Content")["CONTENT"], content, "the build saw its own commit's file");
            assert_eq!(s["pipelineExecution"]["trigger"]["triggerType"], "WebhookV2");
        }
        let s = ws.status(&run_tag);
        assert!(s["pipelineExecution"]["trigger"]["triggerDetail"].as_str().unwrap().starts_with(&format!("refs/tags/v1.0 {three}: push filter 2: tag `v1.0` matches `v*`")), "{s}");
        assert_eq!(vars(&s, "Checkout")["BranchName"], "main", "a tag push keeps the configured branch");
        assert_eq!(ws.run_ids().len(), 3, "only the three matching pushes started runs");
        let runs = ws.kiln().args(["pipeline", "runs"]).output().unwrap();
        let text = String::from_utf8_lossy(&runs.stdout);
        assert!(text.lines().any(|l| l.starts_with(&run_tag) && l.contains(&format!("WebhookV2 refs/tags/v1.0@{}", &three[..12]))), "{text}");
        let log = ws.log("watch");
        assert!(log.contains(&format!("kiln: [run {}] Build/Content Succeeded", &run2[..8])), "progress lines name their run:\n{log}");
        // Each run's signed release record names how it started: a release policy that admits
        // only tag pushes passes the tag's run and refuses the branch push's.
        std::fs::write(ws.tmp.path().join("tags-only.yml"), "version: 1\nrules:\n  - source: {tags: ['v*']}\n").unwrap();
        let verify = |id: &str| {
            // Signed once the run has ended (after its status), by the watcher.
            let release = ws.dir().join(".kiln/pipelines/runs").join(id).join("release.intoto.jsonl");
            let deadline = Instant::now() + Duration::from_secs(60);
            while !release.exists() {
                assert!(Instant::now() < deadline, "no release record for run {id}:\n{}", ws.log("watch"));
                std::thread::sleep(Duration::from_millis(100));
            }
            ws.kiln().args(["verify", "--release"]).arg(&release).args(["--key", "cosign.pub", "--records", ".kiln", "--policy"]).arg(ws.tmp.path().join("tags-only.yml")).output().unwrap()
        };
        let out = verify(&run_tag);
        assert!(out.status.success(), "{}\n{}\n{log}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let out = verify(&run2);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("was not started by a tag push"), "{text}");
        // Only the policy: the chain holds (each build's provenance names the commit its run
        // built, not the workspace repository's HEAD, which has moved on since).
        assert_eq!(text.lines().filter(|l| l.starts_with("FAILED")).count(), 1, "{text}");
        w.kill();
    }

    #[test]
    fn a_killed_watcher_misses_no_push_starts_none_twice_and_resumes_its_run() {
        let ws = workspace();
        let w = Watcher::start(&ws, "w1", &[]);
        assert!(w.next(&ws, "w1").contains("first watch"));
        let two = commit(&ws, "app.txt", "two");
        let run2 = started(&w.next(&ws, "w1"), &two, "refs/heads/main");
        ws.wait_for(0, "the build to start", |s| s["kiln"]["actionExecutions"].as_array().is_some_and(|a| a.iter().any(|a| a["actionName"] == "Content")));
        // kill -9 mid-build, and a push while no watcher runs.
        w.kill();
        let three = commit(&ws, "app.txt", "three");
        let w = Watcher::start(&ws, "w2", &[]);
        let line = w.next(&ws, "w2");
        assert!(line.starts_with("watching ") && line.contains("pushes since the last watch"), "{line}");
        let run3 = started(&w.next(&ws, "w2"), &three, "refs/heads/main");
        let s = wait_ended(&ws, &run2);
        assert_eq!(s["pipelineExecution"]["status"], "Succeeded", "the interrupted run was resumed:\n{}", ws.log("w2"));
        assert_eq!(vars(&s, "Content")["CONTENT"], "two");
        assert!(ws.log("w2").contains(&format!("resuming run {run2}")), "{}", ws.log("w2"));
        let attempts: Vec<_> = s["kiln"]["actionExecutions"].as_array().unwrap().iter().filter(|a| a["actionName"] == "Content").map(|a| (a["attempt"].as_i64(), a["status"].as_str())).collect();
        assert_eq!(attempts.last(), Some(&(Some(2), Some("Succeeded"))), "the killed build's next attempt ran: {attempts:?}");
        assert_eq!(attempts.len(), 2, "{attempts:?}");
        let s = wait_ended(&ws, &run3);
        assert_eq!((s["pipelineExecution"]["status"].as_str(), vars(&s, "Content")["CONTENT"].as_str()), (Some("Succeeded"), Some("three")));
        w.kill();
        // Nothing moved since: a third look starts nothing.
        let o = ws.kiln().args(["pipeline", "watch", "pipeline.yml", "--workspace", "kiln-workspace.yml", "--once"]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).lines().all(|l| l.starts_with("watching ")), "{}", String::from_utf8_lossy(&o.stdout));
        assert_eq!(ws.run_ids().len(), 2);
    }

    #[test]
    fn two_watchers_on_one_store_start_a_push_once() {
        let ws = workspace();
        let o = ws.kiln().args(["pipeline", "watch", "pipeline.yml", "--workspace", "kiln-workspace.yml", "--once"]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "the baseline: {}", String::from_utf8_lossy(&o.stderr));
        assert!(ws.run_ids().is_empty(), "a baseline starts nothing");
        let two = commit(&ws, "app.txt", "two");
        let both: Vec<_> = (0..2)
            .map(|_| {
                Command::new(assert_cmd::cargo::cargo_bin("kiln"))
                    .args(["pipeline", "watch", "pipeline.yml", "--workspace", "kiln-workspace.yml", "--once", "--json"])
                    .current_dir(ws.dir())
                    .env("HOME", ws.tmp.path().join("home"))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut outcomes = Vec::new();
        for o in both {
            let o = o.wait_with_output().unwrap();
            assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
            for l in String::from_utf8_lossy(&o.stdout).lines() {
                let v: Value = serde_json::from_str(l).unwrap();
                outcomes.push(v["outcome"].as_str().unwrap().to_string());
                assert_eq!(v["commit"], two.as_str());
            }
        }
        assert_eq!(outcomes.iter().filter(|o| *o == "started").count(), 1, "{outcomes:?}");
        assert_eq!(ws.run_ids().len(), 1);
        let s = wait_ended(&ws, &ws.run_ids()[0]);
        assert_eq!(s["pipelineExecution"]["status"], "Succeeded");
    }

    #[test]
    fn a_run_can_be_pinned_to_an_older_commit_and_a_bad_pin_is_refused_before_it_starts() {
        let ws = workspace();
        let one = rev(&ws, "HEAD");
        commit(&ws, "app.txt", "two");
        ws.kiln().args(["pipeline", "run", "pipeline.yml", "--workspace", "kiln-workspace.yml", "--source-revision", &format!("Checkout={one}")]).assert().success();
        let s = ws.status(&ws.run_ids()[0]);
        assert_eq!(vars(&s, "Checkout")["CommitId"], one.as_str());
        assert_eq!(vars(&s, "Content")["CONTENT"], "committed");
        for (pin, says) in [("Nope=".to_string() + &one, "no action `Nope`"), ("Checkout=abc123".into(), "not a full commit id"), ("Content=".to_string() + &one, "not a source action"), ("Checkout".into(), "not ACTION=COMMIT")] {
            let o = ws.kiln().args(["pipeline", "run", "pipeline.yml", "--workspace", "kiln-workspace.yml", "--source-revision", &pin]).output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{pin}: {err}");
            assert!(err.contains(says), "{pin}: {err}");
        }
        assert_eq!(ws.run_ids().len(), 1, "no refused pin started a run");
    }
}
