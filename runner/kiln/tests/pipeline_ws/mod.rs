//! A pipeline workspace for the `kiln` integration tests that run pipelines (`pipeline_run.rs`,
//! `ui.rs`): a git repository in a tempdir with CodeBuild projects, a workspace file and a
//! definition, and the real binary run on it (`run` in the background, `runs`, `status`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Std, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

/// A workspace in a tempdir: `repo/` (a git repository on `main`), `kiln-workspace.yml`,
/// `pipeline.yml`; kiln runs with its own HOME so nothing of the developer's takes part.
pub struct Ws {
    pub tmp: tempfile::TempDir,
}

pub fn git(dir: &Path, args: &[&str]) {
    let out = Std::new("git").arg("-C").arg(dir).args(args).env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

pub const HEAD: &str = "pipeline:\n  name: demo\n  roleArn: arn:aws:iam::123456789012:role/p\n  artifactStore: {type: S3, location: bucket}\n  stages:\n";

pub fn source_stage() -> String {
    "    - name: Source\n      actions:\n        - name: Checkout\n          actionTypeId: {category: Source, owner: AWS, provider: CodeCommit, version: '1'}\n          configuration: {RepositoryName: app, BranchName: main}\n          outputArtifacts: [{name: Src}]\n          namespace: SourceVariables\n".into()
}

pub fn build_action(name: &str, project: &str, run_order: u32, input: &str, output: Option<&str>, extra: &str) -> String {
    let out = output.map(|o| format!("          outputArtifacts: [{{name: {o}}}]\n")).unwrap_or_default();
    format!("        - name: {name}\n          actionTypeId: {{category: Build, owner: AWS, provider: CodeBuild, version: '1'}}\n          runOrder: {run_order}\n          configuration: {{ProjectName: {project}{extra}}}\n          inputArtifacts: [{{name: {input}}}]\n{out}")
}

pub fn approval_stage(name: &str) -> String {
    format!("    - name: {name}\n      actions:\n        - name: Approve\n          actionTypeId: {{category: Approval, owner: AWS, provider: Manual, version: '1'}}\n          configuration: {{CustomData: 'ship #{{SourceVariables.CommitId}}?', ExternalEntityLink: 'https://example.invalid/review'}}\n")
}

impl Ws {
    /// `projects`: (name, buildspec) — each a directory `repo/<name>/` with its buildspec.
    pub fn new(projects: &[(&str, &str)], pipeline: &str) -> Ws {
        let tmp = tempfile::Builder::new().prefix("kiln-pipe-").tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(tmp.path().join("home")).unwrap();
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("app.txt"), "committed\n").unwrap();
        std::fs::write(repo.join(".gitignore"), ".kiln/\n").unwrap();
        let mut ws = String::from("version: 1\nsources:\n  app: {repository: .}\ncodebuild:\n");
        for (name, spec) in projects {
            std::fs::create_dir_all(repo.join(name)).unwrap();
            std::fs::write(repo.join(name).join("buildspec.yml"), spec).unwrap();
            ws.push_str(&format!("  {name}: {{path: {name}}}\n"));
        }
        std::fs::write(repo.join("kiln-workspace.yml"), ws).unwrap();
        std::fs::write(repo.join("pipeline.yml"), format!("{HEAD}{pipeline}")).unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["-c", "user.email=dev@example.invalid", "-c", "user.name=Dev", "commit", "-qm", "first commit"]);
        Ws { tmp }
    }

    /// The repository, which holds the workspace file, the definition and `.kiln/`.
    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("repo")
    }

    pub fn kiln(&self) -> Command {
        let mut c = Command::cargo_bin("kiln").unwrap();
        c.current_dir(self.dir()).env("HOME", self.tmp.path().join("home")).env("NO_COLOR", "1").timeout(Duration::from_secs(240));
        c
    }

    /// `kiln pipeline run` in the background (stdout and stderr into files).
    pub fn spawn_run(&self, tag: &str) -> Child {
        let bin = assert_cmd::cargo::cargo_bin("kiln");
        Std::new(bin)
            .args(["pipeline", "run", "pipeline.yml", "--workspace", "kiln-workspace.yml"])
            .current_dir(self.dir())
            .env("HOME", self.tmp.path().join("home"))
            .stdout(std::fs::File::create(self.tmp.path().join(format!("{tag}.out"))).unwrap())
            .stderr(std::fs::File::create(self.tmp.path().join(format!("{tag}.err"))).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    pub fn log(&self, tag: &str) -> String {
        std::fs::read_to_string(self.tmp.path().join(format!("{tag}.err"))).unwrap_or_default()
    }

    pub fn run_ids(&self) -> Vec<String> {
        let out = self.kiln().args(["pipeline", "runs", "--json"]).output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let mut ids: Vec<String> = v["pipelineExecutionSummaries"].as_array().map(|a| a.iter().filter_map(|s| s["pipelineExecutionId"].as_str().map(str::to_string)).collect()).unwrap_or_default();
        ids.reverse();
        ids
    }

    pub fn status(&self, id: &str) -> Value {
        let out = self.kiln().args(["pipeline", "status", "--json", id]).output().unwrap();
        assert!(out.status.success(), "status: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Wait until `f(status)` holds for run number `n` (in start order).
    pub fn wait_for(&self, n: usize, what: &str, f: impl Fn(&Value) -> bool) -> (String, Value) {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Some(id) = self.run_ids().get(n) {
                let s = self.status(id);
                if f(&s) {
                    return (id.clone(), s);
                }
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(150));
        }
    }
}

pub fn wait_exit(child: &mut Child, secs: u64) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the run did not end in {secs} s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether a run waits on an approval (from `status --json`).
pub fn approval_pending(s: &Value) -> bool {
    s["kiln"]["approvals"].as_array().is_some_and(|a| a.iter().any(|p| p["status"] == "Pending"))
}
