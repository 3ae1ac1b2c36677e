//! CodeDeploy actions in `kiln pipeline run` through the real binary: a build's artifact deployed
//! with `kiln deploy` to real loopback deployment groups (python3 services behind kiln-router),
//! its provenance found through the run's store and verified; the run's signed release record
//! checked by `kiln verify --release` with a release policy, and broken by a tampered
//! attestation; an artifact no signed build made, a run without a key, a failed deployment.

mod pipeline_ws;

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Std, Stdio};

use pipeline_ws::*;
use predicates::prelude::*;
use serde_json::Value;

const PASSWORD: &str = "pipeline-deploy-test";

/// The web service's build: the revision with the appspec at its root.
const WEB_BUILD: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p dist && cp web/* dist/ && echo \"$CODEBUILD_BUILD_NUMBER\" > dist/release.txt\nartifacts:\n  base-directory: dist\n  files: ['**/*']\n";

const SERVER: &str = "import http.server, os\nclass H(http.server.BaseHTTPRequestHandler):\n    protocol_version = 'HTTP/1.1'\n    def do_GET(self):\n        b = b'ok\\n'\n        self.send_response(200)\n        self.send_header('Content-Length', str(len(b)))\n        self.end_headers()\n        self.wfile.write(b)\n    def log_message(self, *a):\n        pass\nhttp.server.ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n";

/// A service that never answers: its deployment fails its health check.
const BROKEN_SERVER: &str = "import sys\nsys.exit(3)\n";

const APPSPEC: &str = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: web\n        LoadBalancerInfo: {ContainerName: web, ContainerPort: 8080}\n";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn group_file(name: &str, config: &str, port: u16) -> String {
    format!("applicationName: web\ndeploymentGroupName: {name}\ncomputePlatform: ECS\ndeploymentConfigName: {config}\nautoRollbackConfiguration: {{enabled: true, events: [DEPLOYMENT_FAILURE]}}\ntargets:\n  driver: local\n  settings:\n    service: {{command: [python3, server.py], health-path: /health, start-timeout: 5}}\n    router: {{listen: '127.0.0.1:{port}', drain-timeout: 1}}\n  instances: [task-1]\n")
}

fn deploy_action(name: &str, group: &str, input: &str) -> String {
    format!("        - name: {name}\n          actionTypeId: {{category: Deploy, owner: AWS, provider: CodeDeploy, version: '1'}}\n          configuration: {{ApplicationName: web, DeploymentGroupName: {group}}}\n          inputArtifacts: [{{name: {input}}}]\n")
}

/// Source → Build (the web revision) → Staging deploy → Approval → Production deploy.
fn seed_pipeline() -> String {
    source_stage()
        + "    - name: Build\n      actions:\n"
        + &build_action("Package", "package", 1, "Src", Some("Web"), "")
        + "    - name: Staging\n      actions:\n"
        + &deploy_action("DeployStaging", "staging", "Web")
        + &approval_stage("Approval")
        + "    - name: Production\n      actions:\n"
        + &deploy_action("DeployProduction", "production", "Web")
}

/// A workspace with the web service, its build, two deployment groups on free loopback ports
/// and a build key (outside the repository's commit).
fn web_ws(pipeline: &str, server: &str) -> Ws {
    let ws = Ws::new(&[("package", WEB_BUILD)], pipeline);
    let dir = ws.dir();
    std::fs::create_dir_all(dir.join("web")).unwrap();
    std::fs::write(dir.join("web/server.py"), server).unwrap();
    std::fs::write(dir.join("web/appspec.yml"), APPSPEC).unwrap();
    std::fs::create_dir_all(dir.join("deploy")).unwrap();
    std::fs::write(dir.join("deploy/staging.yml"), group_file("staging", "CodeDeployDefault.ECSAllAtOnce", free_port())).unwrap();
    std::fs::write(dir.join("deploy/production.yml"), group_file("production", "CodeDeployDefault.ECSCanary10Percent5Minutes", free_port())).unwrap();
    let mut w = std::fs::read_to_string(dir.join("kiln-workspace.yml")).unwrap();
    w.push_str("codedeploy:\n  web:\n    staging: deploy/staging.yml\n    production: {group: deploy/production.yml, time-scale: 0.01}\n");
    std::fs::write(dir.join("kiln-workspace.yml"), w).unwrap();
    std::fs::write(dir.join(".gitignore"), ".kiln/\ncosign.*\n").unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["-c", "user.email=dev@example.invalid", "-c", "user.name=Dev", "commit", "-qm", "the web service"]);
    ws.kiln().env("COSIGN_PASSWORD", PASSWORD).arg("generate-key-pair").assert().success();
    ws
}

/// `kiln pipeline run` in the background with extra flags.
fn spawn(ws: &Ws, tag: &str, extra: &[&str]) -> Child {
    Std::new(assert_cmd::cargo::cargo_bin("kiln"))
        .args(["pipeline", "run", "pipeline.yml", "--workspace", "kiln-workspace.yml"])
        .args(extra)
        .current_dir(ws.dir())
        .env("HOME", ws.tmp.path().join("home"))
        .env("COSIGN_PASSWORD", PASSWORD)
        .stdout(std::fs::File::create(ws.tmp.path().join(format!("{tag}.out"))).unwrap())
        .stderr(std::fs::File::create(ws.tmp.path().join(format!("{tag}.err"))).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

fn action<'a>(s: &'a Value, stage: &str, name: &str) -> &'a Value {
    s["kiln"]["actionExecutions"].as_array().unwrap().iter().rev().find(|a| a["stageName"] == stage && a["actionName"] == name).unwrap_or_else(|| panic!("no {stage}/{name} in {s}"))
}

fn release_path(ws: &Ws, id: &str) -> PathBuf {
    ws.dir().join(".kiln/pipelines/runs").join(id).join("release.intoto.jsonl")
}

/// The predicate (the facts) of run `id`'s release record, read without verifying.
fn release_facts(ws: &Ws, id: &str) -> Value {
    use base64::Engine;
    let envelope: Value = serde_json::from_str(std::fs::read_to_string(release_path(ws, id)).unwrap().lines().next().unwrap()).unwrap();
    let statement: Value = serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(envelope["payload"].as_str().unwrap()).unwrap()).unwrap();
    statement["predicate"].clone()
}

fn verify_release(ws: &Ws, id: &str, policy: Option<&Path>) -> std::process::Output {
    let mut c = ws.kiln();
    c.args(["verify", "--release"]).arg(release_path(ws, id)).args(["--key", "cosign.pub", "--records", ".kiln"]);
    if let Some(p) = policy {
        c.arg("--policy").arg(p);
    }
    c.output().unwrap()
}

/// The seed's path end to end: the build's artifact deployed to staging, approved from another
/// process, deployed blue/green (canary traffic shift) to production; every deployment verified
/// the build's provenance first and is attested; the run's release record verifies with the
/// policy of docs/release-record.md, and fails once an attestation is tampered with.
#[test]
fn the_build_is_deployed_to_staging_then_production_and_the_release_record_verifies() {
    let ws = web_ws(&seed_pipeline(), SERVER);
    let mut run = spawn(&ws, "run", &["--key", "cosign.key"]);
    let (id, _) = ws.wait_for(0, "the approval", approval_pending);
    let s = ws.status(&id);
    assert_eq!(action(&s, "Staging", "DeployStaging")["status"], "Succeeded", "staging before the approval: {s}");
    ws.kiln().args(["pipeline", "approve", &id, "--comment", "staging looks good"]).assert().success();
    let code = wait_exit(&mut run, 240);
    let log = ws.log("run");
    assert_eq!(code, 0, "the run failed:\n{log}");
    let s = ws.status(&id);
    assert_eq!(s["pipelineExecution"]["status"], "Succeeded");
    let build = action(&s, "Build", "Package");
    for (stage, name, group) in [("Staging", "DeployStaging", "staging"), ("Production", "DeployProduction", "production")] {
        let a = action(&s, stage, name);
        let d = &a["details"];
        let dep = d["deploymentId"].as_str().unwrap();
        assert!(dep.starts_with("d-"), "{d}");
        assert_eq!(a["externalExecutionId"], dep, "{a}");
        assert_eq!((d["status"].as_str(), d["deploymentGroupName"].as_str()), (Some("Succeeded"), Some(group)));
        assert_eq!(d["provenanceDigest"], build["details"]["provenanceDigest"], "the deployment verified the build's provenance");
        let attestation = PathBuf::from(d["attestation"].as_str().unwrap());
        assert_eq!(attestation, ws.dir().join(".kiln/deployments").join(dep).join("attestation.intoto.jsonl"));
        let record: Value = serde_json::from_str(&std::fs::read_to_string(attestation.with_file_name("deployment.json")).unwrap()).unwrap();
        assert_eq!(record["status"], "Succeeded");
        assert!(record["description"].as_str().unwrap().contains(&format!("run {id} action {stage}/{name}")), "{record}");
        assert!(log.contains(&format!("[{stage}/{name}]")), "the deployment's progress was forwarded:\n{log}");
    }
    assert_eq!(action(&s, "Production", "DeployProduction")["details"]["deploymentConfigName"], "CodeDeployDefault.ECSCanary10Percent5Minutes");
    assert!(log.contains("release record"), "{log}");

    // The release record: the chain and the policy of docs/release-record.md.
    let policy = ws.tmp.path().join("policy.yml");
    std::fs::write(&policy, "version: 1\nrequire: [staging-deploy-succeeded-before-production, approval-by-non-committer, all-builds-verified, run-succeeded]\n").unwrap();
    let out = verify_release(&ws, &id, Some(&policy));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kiln verify --release failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for want in ["deployment d-", "(staging): attestation", "(production): revision", "approval-by-non-committer", "build Package: signature", "artifact Web: sha256", "Verified OK"] {
        assert!(text.contains(want), "`{want}` missing from:\n{text}");
    }
    // The facts: the commit's committer, the approval, both deployments in order.
    let p = &release_facts(&ws, &id);
    assert_eq!(p["sources"][0]["committer"], serde_json::json!({"name": "Dev", "email": "dev@example.invalid"}));
    assert_eq!(p["sources"][0]["commitId"], action(&s, "Source", "Checkout")["outputVariables"]["CommitId"]);
    assert_eq!(p["approvals"][0]["comment"], "staging looks good");
    let groups: Vec<&str> = p["deployments"].as_array().unwrap().iter().map(|d| d["group"].as_str().unwrap()).collect();
    assert_eq!(groups, ["staging", "production"]);
    assert_eq!(p["artifacts"][0]["name"], "Web");

    // A policy the run does not meet fails, naming the rule.
    std::fs::write(&policy, "version: 1\nrules:\n  - approval: {before-group: production, by: [someone-else@example.invalid]}\n").unwrap();
    let out = verify_release(&ws, &id, Some(&policy));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));

    // Tampering with the staging deployment's attestation breaks the chain.
    let staging = PathBuf::from(action(&s, "Staging", "DeployStaging")["details"]["attestation"].as_str().unwrap());
    let mut bytes = std::fs::read(&staging).unwrap();
    bytes.extend_from_slice(b"\n");
    std::fs::write(&staging, bytes).unwrap();
    let out = verify_release(&ws, &id, None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a tampered attestation verified:\n{text}");
    assert!(text.contains("FAILED") && text.contains("changed after the release was signed"), "{text}");
}

/// An artifact no signed build made is not deployed (the action says why and what to do), nor is
/// a build's artifact when the run has no key to verify its provenance with.
#[test]
fn a_deploy_action_refuses_what_no_verified_build_provenance_vouches_for() {
    let pipeline = source_stage() + "    - name: Staging\n      actions:\n" + &deploy_action("DeploySource", "staging", "Src");
    let ws = web_ws(&pipeline, SERVER);
    let out = ws.kiln().env("COSIGN_PASSWORD", PASSWORD).args(["pipeline", "run", "pipeline.yml", "--key", "cosign.key", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let id = ws.run_ids()[0].clone();
    let a = action(&ws.status(&id), "Staging", "DeploySource").clone();
    let why = a["summary"].as_str().unwrap_or_default();
    assert!(why.contains("was made by Source/Checkout, which recorded no signed build provenance") && why.contains("allow-unverified: true"), "{a}");
    assert!(!ws.dir().join(".kiln/deployments").exists() || std::fs::read_dir(ws.dir().join(".kiln/deployments")).unwrap().filter_map(|e| e.ok()).all(|e| !e.file_name().to_string_lossy().starts_with("d-")), "nothing was deployed");

    // A build's artifact, but the run has no key: refused before deploying.
    std::fs::write(ws.dir().join("pipeline.yml"), format!("{HEAD}{}", seed_pipeline())).unwrap();
    let out = ws.kiln().args(["pipeline", "run", "pipeline.yml", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no release record: the run has no build key"), "{}", String::from_utf8_lossy(&out.stderr));
    let id = ws.run_ids()[1].clone();
    let a = action(&ws.status(&id), "Staging", "DeployStaging").clone();
    assert!(a["summary"].as_str().unwrap_or_default().contains("this run has no build key to verify it with: run the pipeline with --key cosign.key"), "{a}");
}

/// A deployment that fails (the service never becomes healthy) fails its action with the
/// deployment's own error; the failed deployment is attested and named by the run's release
/// record, whose chain verifies while a `run-succeeded` policy does not.
#[test]
fn a_failed_deployment_fails_the_action_with_its_error_and_is_in_the_release_record() {
    let pipeline = source_stage() + "    - name: Build\n      actions:\n" + &build_action("Package", "package", 1, "Src", Some("Web"), "") + "    - name: Staging\n      actions:\n" + &deploy_action("DeployStaging", "staging", "Web");
    let ws = web_ws(&pipeline, BROKEN_SERVER);
    let out = ws.kiln().env("COSIGN_PASSWORD", PASSWORD).args(["pipeline", "run", "pipeline.yml", "--key", "cosign.key", "-q"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let id = ws.run_ids()[0].clone();
    let s = ws.status(&id);
    let a = action(&s, "Staging", "DeployStaging");
    assert_eq!(a["status"], "Failed");
    let dep = a["details"]["deploymentId"].as_str().unwrap_or_else(|| panic!("no deployment id kept: {a}"));
    let record: Value = serde_json::from_str(&std::fs::read_to_string(ws.dir().join(".kiln/deployments").join(dep).join("deployment.json")).unwrap()).unwrap();
    assert_eq!(record["status"], "Failed");
    let message = record["errorInformation"]["message"].as_str().unwrap();
    let summary = a["summary"].as_str().unwrap();
    assert!(summary.starts_with(&format!("deployment {dep} Failed: ")) && summary.contains(message), "the action's error is the deployment's: {summary} / {message}");
    assert_eq!(a["externalExecutionId"], dep);
    // The release record names the failed deployment; its chain verifies, a run-succeeded policy fails.
    let out = verify_release(&ws, &id, None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{err}");
    assert!(text.contains(&format!("deployment {dep} (staging): status")), "{text}");
    let policy = ws.tmp.path().join("policy.yml");
    std::fs::write(&policy, "version: 1\nrequire: [run-succeeded]\n").unwrap();
    ws.kiln().args(["verify", "--release"]).arg(release_path(&ws, &id)).args(["--key", "cosign.pub", "--records", ".kiln", "--policy"]).arg(&policy).assert().code(1).stdout(predicate::str::contains("FAILED"));
}

/// `kill -9` of the pipeline's kiln in the middle of a deployment (its canary wait): the
/// `kiln deploy` child and its fleet die with it; `kiln pipeline resume` runs the Deploy action's
/// next attempt, a new deployment of the same revision, which succeeds; the build is not redone.
#[test]
fn kill_9_during_a_deployment_then_resume_deploys_again_without_rebuilding() {
    let pipeline = source_stage() + "    - name: Build\n      actions:\n" + &build_action("Package", "package", 1, "Src", Some("Web"), "") + "    - name: Production\n      actions:\n" + &deploy_action("DeployProduction", "production", "Web");
    let ws = web_ws(&pipeline, SERVER);
    // A 5-minute canary at 1/20: 15 s, time enough to kill the run inside it.
    let w = std::fs::read_to_string(ws.dir().join("kiln-workspace.yml")).unwrap().replace("time-scale: 0.01", "time-scale: 0.05");
    std::fs::write(ws.dir().join("kiln-workspace.yml"), w).unwrap();
    let mut run = spawn(&ws, "run", &["--key", "cosign.key"]);
    let deployments = ws.dir().join(".kiln/deployments");
    let started = |s: &Value| {
        let a = s["kiln"]["actionExecutions"].as_array().unwrap().iter().any(|a| a["actionName"] == "DeployProduction" && a["status"] == "InProgress");
        a && std::fs::read_dir(&deployments).is_ok_and(|d| d.filter_map(|e| e.ok()).any(|e| e.file_name().to_string_lossy().starts_with("d-")))
    };
    let (id, _) = ws.wait_for(0, "the deployment to start", started);
    std::thread::sleep(std::time::Duration::from_secs(4));
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();
    assert_eq!(ws.status(&id)["pipelineExecution"]["status"], "InProgress");
    let out = ws.kiln().env("COSIGN_PASSWORD", PASSWORD).args(["pipeline", "resume", &id, "-q"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "resume failed:\n{}\n{err}", ws.log("run"));
    let s = ws.status(&id);
    assert_eq!(s["pipelineExecution"]["status"], "Succeeded");
    let attempts: Vec<&Value> = s["kiln"]["actionExecutions"].as_array().unwrap().iter().filter(|a| a["actionName"] == "DeployProduction").collect();
    assert_eq!(attempts.len(), 2, "the interrupted deployment's action ran once more");
    let first = attempts[0]["details"]["deploymentId"].as_str();
    let second = attempts[1]["details"]["deploymentId"].as_str().unwrap();
    assert_ne!(first, Some(second), "a new deployment");
    assert_eq!(s["kiln"]["actionExecutions"].as_array().unwrap().iter().filter(|a| a["actionName"] == "Package").count(), 1, "the build was not redone");
    // The deployment kiln was killed during is not left running: the new one replaced it.
    let list = ws.kiln().args(["deploy", "list", "--json"]).output().unwrap();
    let all: Vec<Value> = serde_json::from_slice(&list.stdout).unwrap();
    let production: Vec<&Value> = all.iter().filter(|d| d["deploymentGroupName"] == "production").collect();
    assert_eq!(production.len(), 2, "{all:#?}");
    assert_eq!((production[0]["status"].as_str(), production[0]["kiln"]["interrupted"].as_bool()), (Some("Stopped"), Some(false)), "{:#}", production[0]);
    assert!(production[1]["deploymentStatusMessages"].to_string().contains(&format!("replaces deployment {}", production[0]["deploymentId"].as_str().unwrap())), "{:#}", production[1]);
    // The release record names the deployment that succeeded.
    let out = verify_release(&ws, &id, None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(&format!("deployment {second} (production): status")), "{text}\n{err}");
}

/// V2 stage-failure rollback with real deployments: the first run deploys a good release; the
/// second commit's release never becomes healthy, its deployment fails, the Production stage asks
/// for a rollback (`onFailure: ROLLBACK`), and the rollback execution runs at once, redeploying
/// the first run's artifact, its provenance found in the first run and verified.
#[test]
fn a_failed_production_stage_rolls_back_to_the_last_good_release_with_a_verified_deployment() {
    let pipeline = "    - name: Source\n      actions:\n        - name: Checkout\n          actionTypeId: {category: Source, owner: AWS, provider: CodeCommit, version: '1'}\n          configuration: {RepositoryName: app, BranchName: main}\n          outputArtifacts: [{name: Src}]\n".to_string()
        + "    - name: Build\n      actions:\n"
        + &build_action("Package", "package", 1, "Src", Some("Web"), "")
        + "    - name: Production\n      onFailure: {result: ROLLBACK}\n      actions:\n"
        + &deploy_action("DeployProduction", "staging", "Web");
    let ws = web_ws(&pipeline, SERVER);
    let v2 = std::fs::read_to_string(ws.dir().join("pipeline.yml")).unwrap().replace("  artifactStore:", "  pipelineType: V2\n  artifactStore:");
    std::fs::write(ws.dir().join("pipeline.yml"), v2).unwrap();
    let run = |tag: &str| ws.kiln().env("COSIGN_PASSWORD", PASSWORD).args(["pipeline", "run", "pipeline.yml", "--key", "cosign.key", "-q"]).output().unwrap_or_else(|e| panic!("{tag}: {e}"));
    let out = run("good");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let good = ws.run_ids()[0].clone();
    let good_build = action(&ws.status(&good), "Build", "Package")["details"]["provenanceDigest"].clone();
    // A release that never answers.
    std::fs::write(ws.dir().join("web/server.py"), BROKEN_SERVER).unwrap();
    git(&ws.dir(), &["-c", "user.email=dev@example.invalid", "-c", "user.name=Dev", "commit", "-qam", "broken release"]);
    let out = run("bad");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("asks for a rollback"), "{err}");
    let ids = ws.run_ids();
    assert_eq!(ids.len(), 3, "the good run, the bad run and its rollback: {ids:?}\n{err}");
    let bad = action(&ws.status(&ids[1]), "Production", "DeployProduction").clone();
    assert_eq!(bad["status"], "Failed", "{bad}");
    let s = ws.status(&ids[2]);
    assert_eq!(s["pipelineExecution"]["status"], "Succeeded", "the rollback: {s}\n{err}");
    let rb = action(&s, "Production", "DeployProduction");
    assert_eq!(rb["details"]["status"], "Succeeded", "{rb}");
    assert_eq!(rb["details"]["provenanceDigest"], good_build, "the rollback redeployed the good run's build, verified");
    // The rollback run has its own release record: the good run's build and source, the
    // rollback's deployment; its chain verifies.
    let out = verify_release(&ws, &ids[2], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the rollback's release record:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let facts = &release_facts(&ws, &ids[2]);
    assert_eq!(facts["run"]["trigger"], "AutomatedRollback", "{facts}");
    assert_eq!(facts["builds"].as_array().unwrap().len(), 1, "{facts}");
    assert_eq!(format!("sha256:{}", facts["builds"][0]["provenance"]["sha256"].as_str().unwrap()), good_build.as_str().unwrap(), "the release is the good run's build");
    assert_eq!(facts["deployments"][0]["deploymentId"], rb["details"]["deploymentId"], "{facts}");
}

/// A batch CodeBuild action (`BatchEnabled: true`) in a signed run: each build of the batch runs
/// with its own signed provenance, the output named after a build identifier is that build's
/// artifact, and the release record lists every build of the batch; its chain verifies.
#[test]
fn a_batch_build_action_hands_on_each_builds_artifact_and_the_release_names_every_build() {
    const BATCH: &str = "version: 0.2\nbatch:\n  build-list:\n    - identifier: linux\n      env: {variables: {TARGET: linux}}\n    - identifier: darwin\n      env: {variables: {TARGET: darwin}}\nphases:\n  build:\n    commands:\n      - mkdir -p out && echo \"app for $TARGET\" > out/app-$TARGET.txt\nartifacts:\n  files: ['out/*']\n";
    const CHECK: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - grep -q 'app for linux' out/app-linux.txt\n";
    let pipeline = source_stage()
        + "    - name: Build\n      actions:\n"
        + &build_action("Binaries", "binaries", 1, "Src", None, ", BatchEnabled: 'true'")
        + "          outputArtifacts: [{name: linux}, {name: darwin}]\n"
        + "    - name: Check\n      actions:\n"
        + &build_action("CheckLinux", "check", 1, "linux", None, "");
    let ws = Ws::new(&[("binaries", BATCH), ("check", CHECK)], &pipeline);
    std::fs::write(ws.dir().join(".gitignore"), ".kiln/\ncosign.*\n").unwrap();
    ws.kiln().env("COSIGN_PASSWORD", PASSWORD).arg("generate-key-pair").assert().success();
    let out = ws.kiln().env("COSIGN_PASSWORD", PASSWORD).args(["pipeline", "run", "pipeline.yml", "--key", "cosign.key", "-q"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let id = ws.run_ids()[0].clone();
    let s = ws.status(&id);
    let batch = action(&s, "Build", "Binaries");
    assert_eq!(batch["status"], "Succeeded", "{batch}");
    assert!(batch["externalExecutionId"].as_str().unwrap().starts_with("binaries:"), "{batch}");
    let facts = release_facts(&ws, &id);
    let builds: Vec<&str> = facts["builds"].as_array().unwrap().iter().map(|b| b["action"].as_str().unwrap()).collect();
    assert_eq!(builds, ["Binaries/linux", "Binaries/darwin"], "in the buildspec's order (CheckLinux made no artifact, so it has no provenance): {facts}");
    assert_eq!(action(&s, "Check", "CheckLinux")["status"], "Succeeded", "the linux build's artifact was handed on");
    let made: Vec<(&str, &str)> = facts["artifacts"].as_array().unwrap().iter().map(|a| (a["name"].as_str().unwrap(), a["build"].as_str().unwrap())).collect();
    assert_eq!(made, [("linux", "Binaries/linux"), ("darwin", "Binaries/darwin")], "{facts}");
    let out = verify_release(&ws, &id, None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kiln verify --release:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("artifact linux") && text.contains("made by build Binaries/linux"), "{text}");
}

/// A batch build's own artifact is deployable: its build's signed provenance vouches for it (the
/// output named after the build identifier); the deployment attestation names that provenance and
/// the release record's chain verifies. A combined artifact would be refused with the reason.
#[test]
fn a_batch_builds_artifact_is_deployed_with_that_builds_provenance_verified() {
    const BATCH_WEB: &str = "version: 0.2\nbatch:\n  build-list:\n    - identifier: web\n    - identifier: docs\nphases:\n  build:\n    commands:\n      - mkdir -p dist && cp web/* dist/ && echo \"$CODEBUILD_BATCH_BUILD_IDENTIFIER\" > dist/release.txt\nartifacts:\n  base-directory: dist\n  files: ['**/*']\n";
    let pipeline = source_stage()
        + "    - name: Build\n      actions:\n"
        + &build_action("Package", "package", 1, "Src", None, ", BatchEnabled: 'true'")
        + "          outputArtifacts: [{name: web}, {name: docs}]\n"
        + "    - name: Staging\n      actions:\n"
        + &deploy_action("DeployStaging", "staging", "web");
    let ws = web_ws(&pipeline, SERVER);
    std::fs::write(ws.dir().join("package/buildspec.yml"), BATCH_WEB).unwrap();
    git(&ws.dir(), &["-c", "user.email=dev@example.invalid", "-c", "user.name=Dev", "commit", "-qam", "a batch"]);
    let out = ws.kiln().env("COSIGN_PASSWORD", PASSWORD).args(["pipeline", "run", "pipeline.yml", "--key", "cosign.key", "-q"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let id = ws.run_ids()[0].clone();
    let s = ws.status(&id);
    let batch = action(&s, "Build", "Package");
    let deploy = action(&s, "Staging", "DeployStaging");
    assert_eq!(deploy["details"]["status"], "Succeeded", "{deploy}");
    assert_eq!(deploy["details"]["provenanceDigest"], batch["details"]["provenanceDigest.web"], "the web build's provenance vouched for it: {deploy}\n{batch}");
    let out = verify_release(&ws, &id, None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("made by build Package/web"), "{text}");
}
