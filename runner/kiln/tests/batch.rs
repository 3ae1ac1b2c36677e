//! `kiln build --batch` through the real binary: the example graph runs in dependency order with
//! real work (C compiled, tested in two variants, packaged), builds overlap and `--parallel`
//! bounds them, fast-fail stops a sleeping sibling and kills its processes, ignore-failure,
//! per-build buildspec and env overrides, the batch record, combined artifacts, signed
//! provenance for each build and the batch statement checked by `kiln verify` (and a tampered
//! build provenance rejected), SIGTERM and SIGKILL to kiln, and what cannot run.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::Value;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_name() == ".kiln" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// The batch record's group of `id`, and kiln's view of it.
fn group<'a>(b: &'a Build, id: &str) -> (&'a Value, &'a Value) {
    let i = b.record["buildGroups"].as_array().unwrap().iter().position(|g| g["identifier"] == id).unwrap_or_else(|| panic!("no group {id}: {}", b.record));
    (&b.record["buildGroups"][i], &b.record["kiln"]["builds"][i])
}

fn status_of<'a>(b: &'a Build, id: &str) -> &'a str {
    group(b, id).0["currentBuildSummary"]["buildStatus"].as_str().unwrap_or("NOT_STARTED")
}

/// A build's own `build.json`.
fn child_record(b: &Build, id: &str) -> Value {
    let dir = group(b, id).1["recordDir"].as_str().unwrap_or_else(|| panic!("{id} has no record"));
    serde_json::from_slice(&std::fs::read(Path::new(dir).join("build.json")).unwrap()).unwrap()
}

/// A file of a build's primary artifact.
fn artifact_file(b: &Build, id: &str, rel: &str) -> String {
    let loc = group(b, id).0["currentBuildSummary"]["primaryArtifact"]["location"].as_str().unwrap_or_else(|| panic!("{id} has no artifact: {}", b.record));
    std::fs::read_to_string(Path::new(loc).join(rel)).unwrap_or_else(|e| panic!("{loc}/{rel}: {e}"))
}

/// `started <ns>` and `finished <ns>` from a report.
fn times(report: &str) -> (u128, u128) {
    let get = |k: &str| report.lines().find_map(|l| l.strip_prefix(k)?.trim().parse().ok()).unwrap_or_else(|| panic!("no `{k}` in {report}"));
    (get("started "), get("finished "))
}

fn batch_dir(b: &Build) -> PathBuf {
    PathBuf::from(b.record["kiln"]["recordDir"].as_str().unwrap())
}

fn verify(p: &Project, args: &[&Path]) -> Output {
    let mut all = vec!["verify".to_string()];
    all.extend(args.iter().map(|a| a.display().to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    p.run(&refs)
}

#[test]
fn the_example_graph_runs_in_order_combines_its_artifacts_and_verifies() {
    let p = Project::empty();
    copy_dir(&examples_dir().join("batch-graph"), &p.src);
    let b = p.build(&["--batch", "--combine-artifacts", "--parallel", "4"]);
    assert_eq!((b.code, b.record["buildBatchStatus"].as_str()), (0, Some("SUCCEEDED")), "{}\n{}", b.stderr, b.record);

    // Order, from the times each build wrote into its report (its artifact).
    let t = |id: &str| times(&artifact_file(&b, id, &format!("reports/{id}.txt")));
    let (lint, rel, dbg, pkg) = (t("lint"), t("test_release"), t("test_debug"), t("package"));
    assert!(rel.0 > lint.1 && dbg.0 > lint.1, "the tests waited for lint: {lint:?} {rel:?} {dbg:?}");
    assert!(pkg.0 > rel.1.max(dbg.1), "package waited for both tests: {rel:?} {dbg:?} {pkg:?}");
    assert!(rel.0 < dbg.1 && dbg.0 < rel.1, "the two test builds ran at the same time: {rel:?} {dbg:?}");
    // Real work: both variants were compiled and tested, the package holds a checksummed tarball.
    assert!(artifact_file(&b, "test_debug", "reports/test_debug.txt").contains("ok   case-folding"));
    assert!(artifact_file(&b, "test_release", "reports/test_release.txt").contains("-O2"));
    assert!(artifact_file(&b, "test_debug", "reports/test_debug.txt").contains("-O0 -g -DDEBUG"));

    // The record, as CodeBuild's BuildBatch.
    let r = &b.record;
    let on_disk: Value = serde_json::from_slice(&std::fs::read(batch_dir(&b).join("batch.json")).unwrap()).unwrap();
    assert_eq!(&on_disk, r, "batch.json says what --json printed");
    assert_eq!((r["complete"].as_bool(), r["currentPhase"].as_str(), r["buildBatchNumber"].as_u64()), (Some(true), Some("SUCCEEDED"), Some(1)));
    let phases: Vec<&str> = r["phases"].as_array().unwrap().iter().map(|p| p["phaseType"].as_str().unwrap()).collect();
    assert_eq!(phases, ["SUBMITTED", "DOWNLOAD_BATCHSPEC", "IN_PROGRESS", "COMBINE_ARTIFACTS", "SUCCEEDED"]);
    let id = r["id"].as_str().unwrap();
    assert!(id.starts_with("app:") && r["arn"] == format!("arn:aws:codebuild:us-east-1:000000000000:build-batch/{id}"), "{r}");
    assert_eq!(r["buildBatchConfig"]["combineArtifacts"], true);
    let (pkg_group, pkg_kiln) = group(&b, "package");
    assert_eq!(pkg_group["dependsOn"], serde_json::json!(["test_release", "test_debug"]));
    assert_eq!(pkg_kiln["buildspec"], "ci/package.yml");
    let summary = &pkg_group["currentBuildSummary"];
    assert!(summary["arn"].as_str().unwrap().contains(":build/app:") && summary["requestedOn"].is_string(), "{summary}");
    // Each build keeps its own record, naming the batch.
    for id in ["lint", "test_release", "test_debug", "package"] {
        let c = child_record(&b, id);
        assert_eq!(c["buildBatchArn"], r["arn"], "{id}");
        assert_eq!(c["kiln"]["batch"]["identifier"], id);
        assert_eq!(c["buildStatus"], "SUCCEEDED");
        let arn = group(&b, id).0["currentBuildSummary"]["arn"].as_str().unwrap().to_string();
        assert_eq!(arn, format!("arn:aws:codebuild:us-east-1:000000000000:build/{}", c["id"].as_str().unwrap()), "{id}");
    }

    // Combined: one folder per identifier, holding that build's primary artifact.
    let combined = PathBuf::from(r["artifacts"]["location"].as_str().unwrap());
    assert_eq!(combined, batch_dir(&b).join("artifacts/app"));
    let files = rel_files(&combined);
    for f in ["lint/reports/lint.txt", "test_release/build/release/wordfreq", "test_debug/build/debug/wordfreq", "package/dist/wordfreq-1.2.0.tar.gz", "package/dist/SHA256SUMS"] {
        assert!(files.contains(&f.to_string()), "{f} missing from {files:?}");
    }
    let sums = std::fs::read_to_string(combined.join("package/dist/SHA256SUMS")).unwrap();
    assert_eq!(sums.split_whitespace().next().unwrap(), sha256sum(&combined.join("package/dist/wordfreq-1.2.0.tar.gz")));

    // Provenance: every build's, and the batch statement naming them, one (ephemeral) key.
    let key = batch_dir(&b).join("provenance.pub");
    let statement = batch_dir(&b).join("batch.intoto.jsonl");
    let ok = verify(&p, &[Path::new("--key"), &key, Path::new("--provenance"), &statement, &combined]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("ok      build package: provenance signature") && ok.stdout.contains("Verified OK"), "{}", ok.stdout);
    // The same, checked independently (Python `cryptography`): the DSSE signature over the PAE,
    // the statement's type, and every build provenance it names matching its digest.
    let script = r#"
import base64, hashlib, json, os, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
env = json.loads(open(sys.argv[2]).read())
payload = base64.b64decode(env["payload"], validate=True)
t = env["payloadType"].encode()
key.verify(base64.b64decode(env["signatures"][0]["sig"]), b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload), ec.ECDSA(hashes.SHA256()))
st = json.loads(payload)
assert st["_type"] == "https://in-toto.io/Statement/v1" and st["predicateType"] == "https://kiln.dev/attestations/build-batch/v1", st["predicateType"]
named = [s for s in st["subject"] if s["name"].startswith("builds/")]
for s in named:
    assert hashlib.sha256(open(os.path.join(sys.argv[3], s["name"]), "rb").read()).hexdigest() == s["digest"]["sha256"], s
assert sorted(b["identifier"] for b in st["predicate"]["builds"]) == ["lint", "package", "test_debug", "test_release"]
assert st["predicate"]["batch"]["buildBatchStatus"] == "SUCCEEDED"
print("independent batch verification ok:", len(named), "build provenance files")
"#;
    let out = std::process::Command::new("python3").arg("-c").arg(script).arg(&key).arg(&statement).arg(p.src.join(".kiln")).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("independent batch verification ok: 4 build provenance files"));
    let pkg_dir = PathBuf::from(pkg_kiln["recordDir"].as_str().unwrap());
    let child = verify(&p, &[Path::new("--key"), &key, Path::new("--provenance"), &pkg_dir.join("provenance.intoto.jsonl"), &pkg_dir.join("artifacts/app")]);
    assert_eq!(child.code, 0, "{}", child.stdout);
    // A build's provenance changed after the batch was signed: the batch no longer verifies.
    let lint_prov = PathBuf::from(group(&b, "lint").1["recordDir"].as_str().unwrap()).join("provenance.intoto.jsonl");
    let text = std::fs::read_to_string(&lint_prov).unwrap();
    std::fs::write(&lint_prov, text.replacen("\"payload\":\"", "\"payload\":\"ey", 1)).unwrap();
    let bad = verify(&p, &[Path::new("--key"), &key, Path::new("--provenance"), &statement]);
    assert_eq!(bad.code, 1, "{}", bad.stdout);
    assert!(bad.stdout.contains("FAILED  build lint: provenance digest") && bad.stdout.contains("changed after the batch signed it"), "{}", bad.stdout);
    // An artifact that is not in the batch is not a subject.
    let stray = p.side_dir("stray").join("x.txt");
    std::fs::write(&stray, "not built").unwrap();
    let other = verify(&p, &[Path::new("--key"), &key, Path::new("--provenance"), &statement, &stray]);
    assert!(other.stdout.contains("is not a subject"), "{}", other.stdout);
}

/// Four builds that each sleep `secs` and record when they ran.
fn sleepers(secs: &str) -> String {
    format!(
        "version: 0.2\nbatch:\n  build-list:\n    - identifier: a\n    - identifier: b\n    - identifier: c\n    - identifier: d\nphases:\n  build:\n    commands:\n      - mkdir -p out && echo \"started $(date +%s%N)\" > out/t.txt\n      - sleep {secs}\n      - echo \"finished $(date +%s%N)\" >> out/t.txt\nartifacts:\n  files: [out/t.txt]\n"
    )
}

/// The most builds whose [start, end] intervals overlap at one instant.
fn most_at_once(spans: &[(u128, u128)]) -> usize {
    spans.iter().map(|&(s, _)| spans.iter().filter(|&&(a, z)| a <= s && s < z).count()).max().unwrap_or(0)
}

#[test]
fn builds_overlap_and_parallel_bounds_how_many_run_at_once() {
    let p = Project::new(&sleepers("1"));
    let b = p.build(&["--batch", "--parallel", "2"]);
    assert_eq!(b.code, 0, "{}", b.stderr);
    let spans: Vec<(u128, u128)> = ["a", "b", "c", "d"].iter().map(|id| times(&artifact_file(&b, id, "out/t.txt"))).collect();
    assert_eq!(most_at_once(&spans), 2, "{spans:?}");
    assert_eq!(b.record["kiln"]["parallel"], 2);
    let b = p.build(&["--batch", "--parallel", "4"]);
    let spans: Vec<(u128, u128)> = ["a", "b", "c", "d"].iter().map(|id| times(&artifact_file(&b, id, "out/t.txt"))).collect();
    assert_eq!(most_at_once(&spans), 4, "all four at once: {spans:?}");
    assert_eq!(b.record["buildBatchNumber"], 2, "batch numbers count up per project");
}

#[test]
fn fast_fail_stops_a_sleeping_sibling_and_kills_its_processes() {
    let marker = sleep_marker(300);
    let _guard = KillOnDrop(marker.clone());
    let p = Project::new(&format!(
        "version: 0.2\nbatch:\n  fast-fail: true\n  build-list:\n    - identifier: sleeper\n      env: {{variables: {{MODE: sleep}}}}\n    - identifier: breaker\n      env: {{variables: {{MODE: fail}}}}\n    - identifier: queued\n      env: {{variables: {{MODE: ok}}}}\nphases:\n  build:\n    commands:\n      - if [ \"$MODE\" = sleep ]; then setsid sleep {marker} & sleep {marker}; fi\n      - if [ \"$MODE\" = fail ]; then sleep 1; exit 3; fi\n"
    ));
    let b = p.build(&["--batch", "--parallel", "2"]);
    assert_eq!((b.code, b.record["buildBatchStatus"].as_str()), (1, Some("FAILED")), "{}", b.record);
    assert!(b.elapsed < Duration::from_secs(60), "{:?}", b.elapsed);
    assert_eq!(status_of(&b, "sleeper"), "STOPPED");
    assert_eq!(status_of(&b, "breaker"), "FAILED");
    assert_eq!(status_of(&b, "queued"), "NOT_STARTED");
    assert_eq!(group(&b, "queued").1["notStarted"], "fast-fail: `breaker` failed");
    assert!(b.record["kiln"]["reason"].as_str().unwrap().contains("fast-fail"), "{}", b.record);
    let sleeper = child_record(&b, "sleeper");
    let phase = sleeper["phases"].as_array().unwrap().iter().find(|p| p["phaseType"] == "BUILD").unwrap();
    assert_eq!((phase["phaseStatus"].as_str(), phase["contexts"][0]["statusCode"].as_str()), (Some("STOPPED"), Some("BUILD_STOPPED")));
    // Its processes (the command and one that left its session) are gone.
    assert_eq!(survivors_after(&marker, Duration::from_secs(3)), vec![], "the stopped build's processes live on");
}

#[test]
fn ignore_failure_builds_do_not_fail_the_batch_and_their_dependents_run() {
    let p = Project::new("version: 0.2\nbatch:\n  build-graph:\n    - identifier: flaky\n      ignore-failure: true\n      env: {variables: {FAIL: 'yes'}}\n    - identifier: after\n      depend-on: [flaky]\nphases:\n  build:\n    commands:\n      - test \"$FAIL\" != yes\n");
    let b = p.build(&["--batch"]);
    assert_eq!((b.code, b.record["buildBatchStatus"].as_str()), (0, Some("SUCCEEDED")), "{}", b.record);
    assert_eq!(status_of(&b, "flaky"), "FAILED");
    assert_eq!(group(&b, "flaky").0["ignoreFailure"], true);
    assert_eq!(status_of(&b, "after"), "SUCCEEDED");
    // Without ignore-failure the dependent never starts and the batch fails.
    p.write("buildspec.yml", "version: 0.2\nbatch:\n  build-graph:\n    - identifier: flaky\n      env: {variables: {FAIL: 'yes'}}\n    - identifier: after\n      depend-on: [flaky]\nphases:\n  build:\n    commands:\n      - test \"$FAIL\" != yes\n");
    let b = p.build(&["--batch"]);
    assert_eq!((b.code, b.record["buildBatchStatus"].as_str()), (1, Some("FAILED")));
    assert_eq!(group(&b, "after").1["notStarted"], "its dependency `flaky` ended FAILED");
}

#[test]
fn each_build_gets_its_buildspec_its_variables_and_the_batch_variables() {
    let p = Project::new(
        "version: 0.2\nenv:\n  variables:\n    WHO: spec\n    KEPT: spec\nbatch:\n  build-list:\n    - identifier: own\n      env:\n        variables: {WHO: entry}\n        image: aws/codebuild/standard:7.0\n    - identifier: other\n      buildspec: ci/other.yml\n      env:\n        variables: {WHO: other-entry}\nphases:\n  build:\n    commands:\n      - mkdir -p out && printf '%s|%s|%s|%s|%s|%s' \"$WHO\" \"$KEPT\" \"$CLI\" \"$CODEBUILD_BATCH_BUILD_IDENTIFIER\" \"$CODEBUILD_BUILD_BATCH_TRIGGERED\" \"$CODEBUILD_INITIATOR\" > out/env.txt\nartifacts:\n  files: [out/env.txt]\n",
    );
    p.write(
        "ci/other.yml",
        "version: 0.2\nbatch:\n  build-list:\n    - identifier: nested\nphases:\n  build:\n    commands:\n      - mkdir -p out && printf 'other:%s|%s|%s' \"$WHO\" \"$CLI\" \"$CODEBUILD_BATCH_BUILD_IDENTIFIER\" > out/env.txt\nartifacts:\n  files: [out/env.txt]\n",
    );
    let b = p.build(&["--batch", "--env", "CLI=cli"]);
    assert_eq!(b.code, 0, "{}\n{}", b.stderr, b.record);
    let batch_uuid = b.record["id"].as_str().unwrap().split(':').nth(1).unwrap().to_string();
    assert_eq!(artifact_file(&b, "own", "out/env.txt"), format!("entry|spec|cli|own|true|kiln-batch/AWSCodeBuild-{batch_uuid}"));
    assert_eq!(artifact_file(&b, "other", "out/env.txt"), "other:other-entry|cli|other");
    // The nested batch is ignored, and said so; the image is recorded, not applied.
    let other = child_record(&b, "other");
    assert!(other["kiln"]["notices"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("batches do not nest")), "{}", other["kiln"]["notices"]);
    assert!(other["kiln"]["buildspec"]["path"].as_str().unwrap().ends_with("ci/other.yml"));
    let own = child_record(&b, "own");
    assert!(own["kiln"]["notices"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("image: aws/codebuild/standard:7.0")));
    assert_eq!(group(&b, "own").1["recorded"]["image"], "aws/codebuild/standard:7.0");
    assert!(b.stderr.contains("batch `env.image` is recorded but not applied"), "{}", b.stderr);
    // Lines of both builds are tagged, never cut.
    for l in b.stderr.lines().filter(|l| l.contains("[BUILD]")) {
        assert!(l.starts_with("[own]") || l.starts_with("[other]"), "{l}");
    }
}

#[test]
fn what_cannot_run_is_refused_clearly() {
    // A child buildspec that is a link out of the project.
    let p = Project::new("version: 0.2\nbatch:\n  build-list:\n    - identifier: evil\n      buildspec: ci/evil.yml\n");
    let outside = p.side_dir("outside").join("spec.yml");
    std::fs::write(&outside, "version: 0.2\nphases:\n  build:\n    commands: [echo SECRET-CONTENT]\n").unwrap();
    std::fs::create_dir_all(p.src.join("ci")).unwrap();
    std::os::unix::fs::symlink(&outside, p.src.join("ci/evil.yml")).unwrap();
    let o = p.run(&["build", p.src.to_str().unwrap(), "--batch"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("the buildspec of `evil`") && o.stderr.contains("leads outside the project"), "{}", o.stderr);
    assert!(p.record_dirs().is_empty(), "no build ran");
    let batches: Vec<_> = std::fs::read_dir(p.src.join(".kiln/batches")).unwrap().flatten().collect();
    let record: Value = serde_json::from_slice(&std::fs::read(batches[0].path().join("batch.json")).unwrap()).unwrap();
    assert_eq!((record["buildBatchStatus"].as_str(), record["complete"].as_bool()), (Some("FAILED"), Some(true)));
    assert_eq!(record["phases"][1]["phaseType"], "DOWNLOAD_BATCHSPEC");
    assert_eq!(record["phases"][1]["phaseStatus"], "FAILED");
    // No batch section, a fanout, --in-place.
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands: ['true']\n");
    let o = p.run(&["build", p.src.to_str().unwrap(), "--batch"]);
    assert!(o.code == 2 && o.stderr.contains("has no `batch` section"), "{}", o.stderr);
    p.write("buildspec.yml", "version: 0.2\nbatch:\n  build-fanout:\n    parallelism: 3\nphases:\n  build:\n    commands: ['true']\n");
    let o = p.run(&["build", p.src.to_str().unwrap(), "--batch"]);
    assert!(o.code == 2 && o.stderr.contains("codebuild-tests-run"), "{}", o.stderr);
    p.write("buildspec.yml", "version: 0.2\nbatch:\n  build-list:\n    - identifier: a\nphases:\n  build:\n    commands: ['true']\n");
    let o = p.run(&["build", p.src.to_str().unwrap(), "--batch", "--in-place"]);
    assert!(o.code == 2 && o.stderr.contains("--in-place cannot be used with --batch"), "{}", o.stderr);
    let o = p.run(&["build", p.src.to_str().unwrap(), "--parallel", "2"]);
    assert_eq!(o.code, 2, "--parallel needs --batch: {}", o.stderr);
}

#[test]
fn validate_lists_the_planned_builds() {
    let p = Project::empty();
    copy_dir(&examples_dir().join("batch-graph"), &p.src);
    let o = p.run(&["validate", p.src.join("buildspec.yml").to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("batch: 4 build(s), build-graph, fast-fail"), "{}", o.stdout);
    let row = o.stdout.lines().find(|l| l.trim_start().starts_with("package")).unwrap_or_else(|| panic!("{}", o.stdout));
    assert!(row.contains("ci/package.yml") && row.contains("test_release,test_debug"), "{row}");
    assert!(o.stdout.lines().any(|l| l.trim_start().starts_with("test_debug") && l.contains("VARIANT=debug")), "{}", o.stdout);
}

/// Three sleeping builds and the batch record's path, for the signal tests.
fn sleeping_batch(marker: &str) -> Project {
    Project::new(&format!(
        "version: 0.2\nbatch:\n  build-list:\n    - identifier: one\n    - identifier: two\n    - identifier: three\nphases:\n  build:\n    commands:\n      - setsid sleep {marker} &\n      - sleep {marker}\n"
    ))
}

fn the_batch_record(p: &Project) -> Value {
    let dir = std::fs::read_dir(p.src.join(".kiln/batches")).unwrap().flatten().next().unwrap().path();
    serde_json::from_slice(&std::fs::read(dir.join("batch.json")).unwrap()).expect("batch.json is whole JSON")
}

#[test]
fn sigterm_stops_every_build_and_kills_their_processes() {
    let marker = sleep_marker(300);
    let _guard = KillOnDrop(marker.clone());
    let p = sleeping_batch(&marker);
    let logs = p.side_dir("logs");
    let mut kiln = spawn_kiln(&p, &["--batch", "--parallel", "3"], &logs);
    assert!(wait_for(Duration::from_secs(60), || procs_with(&marker).len() >= 6), "every build started its sleepers: {:?}", procs_with(&marker));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(kiln.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(wait_for(Duration::from_secs(30), || kiln.try_wait().unwrap().is_some()), "kiln ended after SIGTERM");
    assert_eq!(kiln.wait().unwrap().code(), Some(1));
    assert_eq!(survivors_after(&marker, Duration::from_secs(3)), vec![]);
    let r = the_batch_record(&p);
    assert_eq!((r["buildBatchStatus"].as_str(), r["complete"].as_bool()), (Some("STOPPED"), Some(true)), "{r}");
    for g in r["buildGroups"].as_array().unwrap() {
        assert_eq!(g["currentBuildSummary"]["buildStatus"], "STOPPED", "{g}");
    }
    let err = std::fs::read_to_string(logs.join("err")).unwrap_or_default() + &std::fs::read_to_string(logs.join("out")).unwrap_or_default();
    assert!(err.contains("SIGTERM: stopping every build"), "{err}");
}

#[test]
fn a_batch_killed_with_sigkill_leaves_a_readable_incomplete_record_and_no_processes() {
    let marker = sleep_marker(300);
    let _guard = KillOnDrop(marker.clone());
    let p = sleeping_batch(&marker);
    let logs = p.side_dir("logs");
    let mut kiln = spawn_kiln(&p, &["--batch", "--parallel", "3"], &logs);
    assert!(wait_for(Duration::from_secs(60), || procs_with(&marker).len() >= 6), "{:?}", procs_with(&marker));
    kiln.kill().unwrap();
    kiln.wait().unwrap();
    assert_eq!(survivors_after(&marker, Duration::from_secs(5)), vec![], "the builds die with kiln");
    let r = the_batch_record(&p);
    assert_eq!((r["complete"].as_bool(), r["buildBatchStatus"].as_str(), r["currentPhase"].as_str()), (Some(false), Some("IN_PROGRESS"), Some("IN_PROGRESS")), "{r}");
    for g in r["buildGroups"].as_array().unwrap() {
        assert_eq!(g["currentBuildSummary"]["buildStatus"], "IN_PROGRESS", "{g}");
    }
}

#[test]
fn builds_running_plugin_steps_at_once_share_the_plugin_host() {
    let p = Project::new("version: 0.2\nbatch:\n  build-list:\n    - identifier: first\n    - identifier: second\n    - identifier: third\nphases:\n  build:\n    commands:\n      - \"mkdir -p out && printf '// TODO one\\\\n' > out/main.rs\"\n      - uses: hello-step\nartifacts:\n  files: ['out/**/*']\n");
    let b = p.build(&["--batch", "--parallel", "3"]);
    assert_eq!(b.code, 0, "{}\n{}", b.stderr, b.record);
    for id in ["first", "second", "third"] {
        let c = child_record(&b, id);
        assert_eq!(c["kiln"]["plugins"][0]["outcome"], "succeeded", "{id}: {}", c["kiln"]["plugins"]);
        assert!(c["kiln"]["plugins"][0]["findings"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn a_configured_key_signs_every_build_and_the_batch_and_stays_hidden_from_them() {
    let p = Project::new("version: 0.2\nbatch:\n  build-list:\n    - identifier: one\n    - identifier: two\nphases:\n  build:\n    commands:\n      - mkdir -p out && { wc -c < \"$KEY_FILE\" || echo unreadable; } > out/key-bytes.txt\nartifacts:\n  files: [out/key-bytes.txt]\n");
    let keys = p.side_dir("keys");
    assert_cmd::Command::cargo_bin("kiln").unwrap().current_dir(&keys).env("COSIGN_PASSWORD", "pw").arg("generate-key-pair").assert().success();
    let key = keys.join("cosign.key");
    let b = p.build_with(&["--batch", "--key", key.to_str().unwrap(), "--env", &format!("KEY_FILE={}", key.display())], |c| {
        c.env("COSIGN_PASSWORD", "pw");
    });
    assert_eq!(b.code, 0, "{}\n{}", b.stderr, b.record);
    assert!(!b.stderr.contains("UNVERIFIABLE"), "{}", b.stderr);
    for id in ["one", "two"] {
        let seen = artifact_file(&b, id, "out/key-bytes.txt");
        assert!(seen.trim() == "0" || seen.trim() == "unreadable", "{id} read the signing key: {seen}");
        let dir = PathBuf::from(group(&b, id).1["recordDir"].as_str().unwrap());
        assert!(!dir.join("provenance.pub").exists(), "no ephemeral key for {id}");
    }
    assert!(!batch_dir(&b).join("provenance.pub").exists());
    let statement = batch_dir(&b).join("batch.intoto.jsonl");
    let ok = verify(&p, &[Path::new("--key"), &keys.join("cosign.pub"), Path::new("--provenance"), &statement]);
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    let line = std::fs::read_to_string(&statement).unwrap();
    let env: Value = serde_json::from_str(line.trim()).unwrap();
    use base64::Engine as _;
    let payload: Value = serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(payload["predicate"]["signing"]["key"], "configured");
    // Another key does not verify it.
    let other = p.side_dir("other");
    assert_cmd::Command::cargo_bin("kiln").unwrap().current_dir(&other).env("COSIGN_PASSWORD", "x").arg("generate-key-pair").assert().success();
    let bad = verify(&p, &[Path::new("--key"), &other.join("cosign.pub"), Path::new("--provenance"), &statement]);
    assert_eq!(bad.code, 1, "{}", bad.stdout);
}

#[test]
fn the_batch_timeout_stops_every_build() {
    let marker = sleep_marker(300);
    let _guard = KillOnDrop(marker.clone());
    let p = sleeping_batch(&marker);
    // 0.05 minutes: 3 seconds.
    let b = p.build(&["--batch", "--parallel", "2", "--batch-timeout", "0.05"]);
    assert_eq!((b.code, b.record["buildBatchStatus"].as_str()), (1, Some("TIMED_OUT")), "{}", b.record);
    assert!(b.elapsed < Duration::from_secs(60), "{:?}", b.elapsed);
    assert_eq!(survivors_after(&marker, Duration::from_secs(3)), vec![]);
    assert_eq!((status_of(&b, "one"), status_of(&b, "two")), ("STOPPED", "STOPPED"));
    assert_eq!(group(&b, "three").1["notStarted"], "the batch timed out");
    let phases: Vec<(&str, Option<&str>)> = b.record["phases"].as_array().unwrap().iter().map(|p| (p["phaseType"].as_str().unwrap(), p["phaseStatus"].as_str())).collect();
    assert_eq!(phases[2], ("IN_PROGRESS", Some("TIMED_OUT")));
    assert_eq!(phases.last().unwrap().0, "FAILED");
    assert_eq!(b.record["buildBatchConfig"]["timeoutInMins"], 1, "whole minutes, rounded up");
}

#[test]
fn lines_of_builds_running_at_once_never_mix() {
    let p = Project::new("version: 0.2\nbatch:\n  build-list:\n    - identifier: a\n      env: {variables: {L: a}}\n    - identifier: bb\n      env: {variables: {L: bb}}\n    - identifier: ccc\n      env: {variables: {L: ccc}}\nphases:\n  build:\n    commands:\n      - \"awk -v l=$L 'BEGIN { pad = sprintf(\\\"%300s\\\", \\\"\\\"); gsub(/ /, \\\"x\\\", pad); for (i = 0; i < 4000; i++) print \\\"LINE-\\\" l \\\"-\\\" i \\\"-\\\" pad }'\"\n");
    let b = p.build(&["--batch", "--parallel", "3"]);
    assert_eq!(b.code, 0, "{}", b.stderr);
    let pad = "x".repeat(300);
    let mut seen = std::collections::HashMap::new();
    for line in b.stderr.lines().filter(|l| l.contains("LINE-") && !l.contains("Running command")) {
        let (tag, rest) = line.split_once(']').unwrap_or_else(|| panic!("untagged: {line:.80}"));
        let id = tag.trim_start_matches('[');
        let text = rest.trim_start().strip_prefix("[BUILD] ").unwrap_or_else(|| panic!("no phase: {line:.80}"));
        let parts: Vec<&str> = text.splitn(4, '-').collect();
        assert_eq!((parts[0], parts[1], parts[3]), ("LINE", id, pad.as_str()), "a line was cut or mixed: {line:.120}");
        *seen.entry(id.to_string()).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.values().all(|n| *n == 4000), "{seen:?}");
}
