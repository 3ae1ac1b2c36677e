//! `kiln pipeline run|resume|approve|reject|retry|stop|runs|status` through the real binary on
//! real projects: a git repository, CodeBuild projects run as sandboxed `kiln build`s, manual
//! approvals answered from another process, `kill -9` and resume, retries, SUPERSEDED.

mod pipeline_ws;

use std::path::Path;
use std::process::Command as Std;
use std::time::Duration;

use pipeline_ws::*;
use predicates::prelude::*;
use serde_json::Value;

/// Every attempt of an action, from `status --json`'s kiln section.
fn attempts<'a>(s: &'a Value, stage: &str, action: &str) -> Vec<&'a Value> {
    s["kiln"]["actionExecutions"].as_array().unwrap().iter().filter(|a| a["stageName"] == stage && a["actionName"] == action).collect()
}

fn last<'a>(s: &'a Value, stage: &str, action: &str) -> &'a Value {
    attempts(s, stage, action).into_iter().last().unwrap_or_else(|| panic!("no {stage}/{action} in {s}"))
}


fn whoami() -> String {
    String::from_utf8(Std::new("id").arg("-un").output().unwrap().stdout).unwrap().trim().to_string()
}

const COMPILE: &str = "version: 0.2\nenv:\n  exported-variables: [VERSION, CONTENT]\nphases:\n  build:\n    commands:\n      - sleep 1\n      - mkdir -p out && cat app.txt > out/app.txt && echo \"$COMMIT\" > out/commit.txt\n      - export VERSION=1.0.$CODEBUILD_BUILD_NUMBER\n      - export CONTENT=$(cat app.txt)\nartifacts:\n  files: ['out/**/*']\n";
const LINT: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 1\n      - test -f app.txt\n";
const PACKAGE: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - test \"$VERSION\" != ''\n      - cat out/app.txt\n      - mkdir -p rel && echo \"release $VERSION\" > rel/release.txt\nartifacts:\n  files: ['rel/*']\n";

/// Source → Build (two parallel builds) → Approval → Build, end to end, with the approval given
/// from another process.
#[test]
fn source_build_approval_build_runs_end_to_end_with_an_approval_from_another_process() {
    let pipeline = source_stage()
        + "    - name: Build\n      actions:\n"
        + &build_action("Compile", "compile", 1, "Src", Some("Built"), ", EnvironmentVariables: '[{\"name\":\"COMMIT\",\"value\":\"#{SourceVariables.CommitId}\",\"type\":\"PLAINTEXT\"}]'")
        + "          namespace: BuildVariables\n"
        + &build_action("Lint", "lint", 1, "Src", None, "")
        + &approval_stage("Gate")
        + "    - name: Release\n      actions:\n"
        + &build_action("Package", "package", 1, "Built", Some("Release"), ", EnvironmentVariables: '[{\"name\":\"VERSION\",\"value\":\"#{BuildVariables.VERSION}\"}]'");
    let ws = Ws::new(&[("compile", COMPILE), ("lint", LINT), ("package", PACKAGE)], &pipeline);
    // An uncommitted change: the source is the commit, not the work tree.
    std::fs::write(ws.dir().join("app.txt"), "dirty work tree\n").unwrap();
    let mut run = ws.spawn_run("run");
    let (id, s) = ws.wait_for(0, "the approval", approval_pending);
    assert_eq!(s["kiln"]["approvals"][0]["customData"].as_str().unwrap().len(), "ship ?".len() + 40, "CustomData resolved: {}", s["kiln"]["approvals"][0]);
    assert_eq!(s["kiln"]["approvals"][0]["externalEntityLink"], "https://example.invalid/review");
    ws.kiln().args(["pipeline", "approve", &id, "--action", "Gate/Approve", "--comment", "looks good"]).assert().success().stdout(predicate::str::contains("approved Gate/Approve"));
    let code = wait_exit(&mut run, 240);
    assert_eq!(code, 0, "the run failed:\n{}", ws.log("run"));
    let s = ws.status(&id);
    assert_eq!(s["pipelineExecution"]["status"], "Succeeded");
    // Source variables, from the commit.
    let src = last(&s, "Source", "Checkout");
    let commit = src["outputVariables"]["CommitId"].as_str().unwrap();
    assert_eq!(commit.len(), 40);
    assert_eq!(src["outputVariables"]["BranchName"], "main");
    assert_eq!(src["outputVariables"]["CommitMessage"], "first commit");
    assert_eq!(src["outputVariables"]["RepositoryName"], "app");
    assert!(src["outputVariables"]["AuthorDate"].as_str().unwrap().contains('T'));
    // The build saw the committed file and the resolved variable; its exported variables and
    // its provenance digest are on the action.
    let compile = last(&s, "Build", "Compile");
    assert_eq!(compile["outputVariables"]["CONTENT"], "committed");
    assert!(compile["outputVariables"]["VERSION"].as_str().unwrap().starts_with("1.0."));
    let digest = compile["details"]["provenanceDigest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    let record: Value = serde_json::from_str(&std::fs::read_to_string(compile["details"]["buildRecord"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(record["projectName"], "compile", "the build is named after its CodeBuild project");
    assert!(record["id"].as_str().unwrap().starts_with("compile:"), "{}", record["id"]);
    assert!(record["kiln"]["environmentOverrides"].as_array().unwrap().iter().any(|v| v["name"] == "COMMIT" && v["value"] == commit));
    assert!(record["kiln"]["recordDir"].as_str().unwrap().starts_with(ws.dir().join(".kiln/builds").to_str().unwrap()));
    // The two builds of one runOrder overlapped.
    let lint = last(&s, "Build", "Lint");
    let (a0, a1, b0, b1) = (compile["startTime"].as_i64().unwrap(), compile["endTime"].as_i64().unwrap(), lint["startTime"].as_i64().unwrap(), lint["endTime"].as_i64().unwrap());
    assert!(a0 < b1 && b0 < a1, "Compile {a0}..{a1} and Lint {b0}..{b1} did not overlap");
    // The approval: who, when, the comment.
    let ap = &s["kiln"]["approvals"][0];
    assert_eq!((ap["status"].as_str(), ap["summary"].as_str(), ap["answeredBy"].as_str()), (Some("Approved"), Some("looks good"), Some(whoami().as_str())));
    assert!(ap["answeredAt"].as_i64().unwrap() >= ap["requestedAt"].as_i64().unwrap());
    // The last build got the first one's artifact and variable.
    let package = last(&s, "Release", "Package");
    assert_eq!(package["status"], "Succeeded");
    let arts: Vec<&str> = s["kiln"]["artifacts"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert!(["Src", "Built", "Release"].iter().all(|n| arts.contains(n)), "{arts:?}");
    // The human-readable status.
    ws.kiln().args(["pipeline", "status", &id]).assert().success().stdout(predicate::str::contains("Succeeded")).stdout(predicate::str::contains("[Approved by"));
    // Progress lines were printed as actions ran.
    let log = ws.log("run");
    assert!(log.contains("kiln: Build/Compile started") && log.contains("kiln: Build/Compile Succeeded in"), "{log}");
    assert!(log.contains("waiting for approval"), "{log}");
}

#[test]
fn a_rejected_approval_fails_the_run_and_later_stages_never_run() {
    let pipeline = source_stage() + &approval_stage("Gate") + "    - name: Release\n      actions:\n" + &build_action("Package", "lint", 1, "Src", None, "");
    let ws = Ws::new(&[("lint", LINT)], &pipeline);
    let mut run = ws.spawn_run("run");
    let (id, _) = ws.wait_for(0, "the approval", approval_pending);
    ws.kiln().args(["pipeline", "reject", &id, "--comment", "not today"]).assert().success().stdout(predicate::str::contains("rejected Gate/Approve"));
    assert_eq!(wait_exit(&mut run, 60), 1);
    let s = ws.status(&id);
    assert_eq!(s["pipelineExecution"]["status"], "Failed");
    let ap = &s["kiln"]["approvals"][0];
    assert_eq!((ap["status"].as_str(), ap["summary"].as_str()), (Some("Rejected"), Some("not today")));
    assert!(attempts(&s, "Release", "Package").is_empty(), "the stage after a rejection never runs");
    // A second answer is refused.
    ws.kiln().args(["pipeline", "approve", &id]).assert().code(2).stderr(predicate::str::contains("no approval waiting"));
}

#[test]
fn kill_9_during_a_build_then_resume_continues_without_redoing_completed_actions() {
    let slow = "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 4\n      - echo done > done.txt\nartifacts:\n  files: [done.txt]\n";
    let pipeline = source_stage() + "    - name: Build\n      actions:\n" + &build_action("Slow", "slow", 1, "Src", Some("Out"), "") + "    - name: After\n      actions:\n" + &build_action("Check", "lint", 1, "Src", None, "");
    let ws = Ws::new(&[("slow", slow), ("lint", LINT)], &pipeline);
    let mut run = ws.spawn_run("run");
    let (id, _) = ws.wait_for(0, "the build to start", |s| attempts(s, "Build", "Slow").first().is_some_and(|a| a["status"] == "InProgress"));
    std::thread::sleep(Duration::from_millis(1500));
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();
    let s = ws.status(&id);
    assert_eq!(s["pipelineExecution"]["status"], "InProgress");
    let out = ws.kiln().args(["pipeline", "resume", &id]).output().unwrap();
    assert!(out.status.success(), "resume failed: {}", String::from_utf8_lossy(&out.stderr));
    let s = ws.status(&id);
    assert_eq!(s["pipelineExecution"]["status"], "Succeeded");
    assert_eq!(attempts(&s, "Source", "Checkout").len(), 1, "the completed source action was not run again");
    let slow = attempts(&s, "Build", "Slow");
    assert_eq!(slow.len(), 2, "the interrupted build ran once more");
    assert_eq!(slow[1]["status"], "Succeeded");
    assert_eq!(last(&s, "After", "Check")["status"], "Succeeded");
}

#[test]
fn retry_stage_after_a_failed_stage_runs_the_failed_action_again() {
    // The workspace's env decides; `retry` reads the workspace file again, as a resumed run does.
    let flag = "version: 0.2\nphases:\n  build:\n    commands:\n      - test \"$SHOULD_PASS\" = yes\n";
    let pipeline = source_stage() + "    - name: Build\n      actions:\n" + &build_action("Gate", "flag", 1, "Src", None, "") + &build_action("Lint", "lint", 1, "Src", None, "");
    let ws = Ws::new(&[("flag", flag), ("lint", LINT)], &pipeline);
    let wsfile = ws.dir().join("kiln-workspace.yml");
    let text = std::fs::read_to_string(&wsfile).unwrap();
    std::fs::write(&wsfile, text.replace("  flag: {path: flag}", "  flag: {path: flag, env: {SHOULD_PASS: 'no'}}")).unwrap();
    ws.kiln().args(["pipeline", "run", "pipeline.yml", "-q"]).assert().code(1).stdout(predicate::str::contains("Failed"));
    let id = ws.run_ids().remove(0);
    std::fs::write(&wsfile, text.replace("  flag: {path: flag}", "  flag: {path: flag, env: {SHOULD_PASS: 'yes'}}")).unwrap();
    ws.kiln().args(["pipeline", "retry", &id, "--stage", "Build", "-q"]).assert().success();
    let s = ws.status(&id);
    assert_eq!(s["pipelineExecution"]["status"], "Succeeded");
    assert_eq!(attempts(&s, "Build", "Gate").len(), 2);
    assert_eq!(attempts(&s, "Build", "Lint").len(), 1, "FAILED_ACTIONS retries only the failed action");
    assert_eq!(attempts(&s, "Source", "Checkout").len(), 1);
}

#[test]
fn superseded_a_newer_run_replaces_the_one_waiting_to_enter_a_stage() {
    let pipeline = source_stage() + &approval_stage("Gate") + "    - name: Release\n      actions:\n" + &build_action("Package", "lint", 1, "Src", None, "");
    let ws = Ws::new(&[("lint", LINT)], &pipeline);
    let mut first = ws.spawn_run("first");
    let (a, _) = ws.wait_for(0, "the first run's approval", approval_pending);
    let mut second = ws.spawn_run("second");
    let (b, _) = ws.wait_for(1, "the second run to wait for Gate", |s| s["stageStates"][0]["latestExecution"]["status"] == "Succeeded");
    std::thread::sleep(Duration::from_millis(500));
    let mut third = ws.spawn_run("third");
    assert_eq!(wait_exit(&mut second, 60), 1, "the superseded run ends");
    assert_eq!(ws.status(&b)["pipelineExecution"]["status"], "Superseded");
    let (c, _) = ws.wait_for(2, "the third run to pass its source", |s| s["stageStates"][0]["latestExecution"]["status"] == "Succeeded");
    ws.kiln().args(["pipeline", "approve", &a, "--comment", "go"]).assert().success();
    assert_eq!(wait_exit(&mut first, 120), 0, "{}", ws.log("first"));
    ws.wait_for(2, "the third run's approval", approval_pending);
    ws.kiln().args(["pipeline", "stop", &c, "--abandon", "--reason", "test over"]).assert().success();
    assert_eq!(wait_exit(&mut third, 60), 1);
    assert_eq!(ws.status(&c)["pipelineExecution"]["status"], "Stopped");
    assert!(attempts(&ws.status(&b), "Release", "Package").is_empty(), "the superseded run never released");
}

#[test]
fn actions_kiln_cannot_run_are_reported_before_the_run_starts() {
    let pipeline = source_stage()
        + "    - name: Deploy\n      actions:\n        - name: ToStaging\n          actionTypeId: {category: Deploy, owner: AWS, provider: CodeDeploy, version: '1'}\n          configuration: {ApplicationName: app, DeploymentGroupName: staging}\n          inputArtifacts: [{name: Src}]\n"
        + "        - name: Beanstalk\n          actionTypeId: {category: Deploy, owner: AWS, provider: ElasticBeanstalk, version: '1'}\n          configuration: {ApplicationName: app, EnvironmentName: prod}\n          inputArtifacts: [{name: Src}]\n"
        + "    - name: Build\n      actions:\n" + &build_action("Unmapped", "nowhere", 1, "Src", None, "");
    let ws = Ws::new(&[], &pipeline);
    ws.kiln()
        .args(["pipeline", "run", "pipeline.yml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the run does not start"))
        .stderr(predicate::str::contains("Deploy/ToStaging (line 15, column 17): `app/staging` is not in the workspace's `codedeploy` (add it to map it to a local deployment group file)"))
        .stderr(predicate::str::contains("Deploy/Beanstalk (line 19, column 17): kiln does not run ElasticBeanstalk Deploy actions"))
        .stderr(predicate::str::contains("Build/Unmapped (line 25, column 17): `nowhere` is not in the workspace's `codebuild`"));
    assert!(ws.run_ids().is_empty(), "nothing was started");
}

#[test]
fn a_hostile_repository_config_runs_nothing_on_the_host() {
    let ws = Ws::new(&[("lint", LINT)], &(source_stage() + "    - name: Build\n      actions:\n" + &build_action("Lint", "lint", 1, "Src", None, "")));
    let marker = ws.tmp.path().join("pwned");
    let script = ws.tmp.path().join("evil.sh");
    std::fs::write(&script, format!("#!/bin/sh\ntouch {}\ncat\n", marker.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let repo = ws.dir();
    // Every hook git could run while kiln reads the repository names the script.
    let cfg = format!("[core]\n\tfsmonitor = {s}\n\thooksPath = {h}\n\tpager = {s}\n[filter \"evil\"]\n\tsmudge = {s}\n\tclean = {s}\n\trequired = true\n[diff]\n\texternal = {s}\n", s = script.display(), h = ws.tmp.path().display());
    let mut text = std::fs::read_to_string(repo.join(".git/config")).unwrap();
    text.push_str(&cfg);
    std::fs::write(repo.join(".git/config"), text).unwrap();
    std::fs::write(repo.join(".gitattributes"), "* filter=evil\n").unwrap();
    git(&repo, &["-c", "filter.evil.clean=cat", "-c", "filter.evil.smudge=cat", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "add", ".gitattributes"]);
    git(&repo, &["-c", "filter.evil.clean=cat", "-c", "filter.evil.smudge=cat", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "user.email=e@x", "-c", "user.name=E", "commit", "-qm", "attrs"]);
    let _ = std::fs::remove_file(&marker);
    let out = ws.kiln().args(["pipeline", "run", "pipeline.yml", "-q"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!marker.exists(), "a program named by .git/config ran on the host:\n{err}");
    // Confined, the filter cannot reach the host (here it is not even found: the sandbox's /tmp
    // is its own), so git reports the required filter's failure and the action fails, named.
    assert!(out.status.code() == Some(0) || err.contains("archiving"), "{err}");
    // The control: unconfined (--no-sandbox, for trusted repositories only), git archive does run
    // the smudge filter on the host, so the assertion above can fail.
    let out = ws.kiln().args(["pipeline", "run", "pipeline.yml", "-q", "--no-sandbox"]).output().unwrap();
    assert!(marker.exists(), "the control run did not run the filter: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn pipeline_runs_and_status_of_an_unknown_run_are_clear() {
    let ws = Ws::new(&[], &source_stage());
    ws.kiln().args(["pipeline", "runs"]).assert().success().stdout(predicate::str::contains("no pipeline runs"));
    ws.kiln().args(["pipeline", "status", "0000"]).assert().code(2).stderr(predicate::str::contains("no pipeline execution `0000`"));
    ws.kiln().args(["pipeline", "resume", "../x"]).assert().code(2).stderr(predicate::str::contains("is not a run id"));
}

/// The bundled example, as the README runs it (the seed's path): Source → parallel test and
/// package builds → a plugin in place of a Lambda → deploy to staging → manual approval
/// (answered by the script) → blue/green deploy to production, on free loopback ports; its
/// release record verified with the example's release policy.
#[test]
fn the_pipeline_example_runs_with_its_approval() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("home")).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pipeline/run.sh");
    let port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let out = Std::new("sh")
        .arg(&script)
        .env("KILN", assert_cmd::cargo::cargo_bin("kiln"))
        .env("TMPDIR", tmp.path())
        .env("HOME", tmp.path().join("home"))
        .env("NO_COLOR", "1")
        .env("STAGING_PORT", port())
        .env("PRODUCTION_PORT", port())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "run.sh failed:\n{stdout}\n{stderr}");
    for want in ["Succeeded", "UnitTests", "Package", "ScanTodos", "DeployStaging", "DeployProduction", "[Approved by", "ship it", "policy", "Verified OK"] {
        assert!(stdout.contains(want), "`{want}` missing from:\n{stdout}");
    }
    assert!(stderr.contains("waiting for approval") && stderr.contains("release record"), "{stderr}");
}
