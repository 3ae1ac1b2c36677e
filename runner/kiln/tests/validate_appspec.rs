//! `kiln validate` on CodeDeploy AppSpec files, through the real binary: a valid and an invalid
//! file (file:line:column, code, "did you mean", exit codes as for buildspecs), JSON AppSpecs,
//! choosing the kind by name, content or `--kind`, the `--json` report, and an input that is not
//! a regular file. The parser's side is tested in kiln-spec (`src/appspec/tests.rs`,
//! `tests/appspec_*.rs`).

mod common;

use std::time::Duration;

use common::Project;

const VALID_EC2: &str = "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv/app\nhooks:\n  AfterInstall:\n    - location: scripts/configure.sh\n      timeout: 300\n      runas: app\n";

const INVALID_EC2: &str = "version: 0.0\nos: linux\nhooks:\n  AfterInstal:\n    - location: scripts/configure.sh\n      timeout: 7200\n";

const VALID_ECS_JSON: &str = "{\n  \"version\": 0.0,\n  \"Resources\": [{\"TargetService\": {\"Type\": \"AWS::ECS::Service\", \"Properties\": {\n    \"TaskDefinition\": \"arn:aws:ecs:us-east-1:111122223333:task-definition/web:7\",\n    \"LoadBalancerInfo\": {\"ContainerName\": \"web\", \"ContainerPort\": 8080}}}}],\n  \"Hooks\": [{\"AfterAllowTestTraffic\": \"CheckTestTraffic\"}]\n}\n";

#[test]
fn a_valid_appspec_is_valid_and_says_which_shape() {
    let p = Project::empty();
    p.write("appspec.yml", VALID_EC2);
    let file = p.src.join("appspec.yml");
    let out = p.run(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "");
    assert_eq!(out.stdout.trim(), format!("{}: valid (EC2/on-premises AppSpec)", file.display()));

    // JSON is YAML: an appspec.json is read the same way, with its own shape.
    p.write("appspec.json", VALID_ECS_JSON);
    let json = p.src.join("appspec.json");
    let out = p.run(&["validate", json.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), format!("{}: valid (ECS AppSpec)", json.display()));
}

#[test]
fn an_invalid_appspec_is_reported_at_its_line_and_column() {
    let p = Project::empty();
    p.write("appspec.yml", INVALID_EC2);
    let file = p.src.join("appspec.yml");
    let name = file.display().to_string();
    let out = p.run(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.code, 2, "invalid files exit 2, as invalid buildspecs do: {}", out.stderr);
    assert_eq!(out.stdout, "");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines[0], format!("{name}:4:3: error[E1301]: `AfterInstal` is not a lifecycle event"), "{}", out.stderr);
    assert!(out.stderr.contains("help: did you mean `AfterInstall`?"), "{}", out.stderr);
    assert!(out.stderr.contains("note: kiln read this as an EC2/on-premises AppSpec file"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("{name}:6:16: error[E1307]: `hooks.AfterInstal[].timeout` is 7200 s; CodeDeploy allows at most 3600 s")), "{}", out.stderr);
    assert_eq!(lines.last().copied(), Some(format!("{name}: invalid (EC2/on-premises AppSpec)").as_str()));

    // One invalid file among valid ones still fails the run, and each file is reported.
    p.write("buildspec.yml", "version: 0.2\nphases:\n  build:\n    commands: [make]\n");
    let build = p.src.join("buildspec.yml");
    let out = p.run(&["validate", build.to_str().unwrap(), file.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.contains(&format!("{}: valid", build.display())), "{}", out.stdout);
}

#[test]
fn the_kind_comes_from_the_name_the_content_or_the_flag() {
    let p = Project::empty();
    // Not named appspec, but its content is one.
    p.write("deploy.yml", INVALID_EC2);
    let deploy = p.src.join("deploy.yml");
    let out = p.run(&["validate", deploy.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("error[E1301]"), "{}", out.stderr);

    // --kind buildspec reads an appspec as a buildspec (and finds it wrong as one).
    p.write("appspec.yml", VALID_EC2);
    let file = p.src.join("appspec.yml");
    let out = p.run(&["validate", "--kind", "buildspec", file.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("error[E0100]: unsupported buildspec version `0.0`"), "{}", out.stderr);

    // --kind appspec on a buildspec says what is wrong with it as an AppSpec file.
    p.write("buildspec.yml", "version: 0.2\nphases:\n  build:\n    commands: [make]\n");
    let out = p.run(&["validate", "--kind", "appspec", p.src.join("buildspec.yml").to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("error[E1011]: unsupported AppSpec version `0.2`"), "{}", out.stderr);
}

#[test]
fn json_report_names_the_kind_and_platform() {
    let p = Project::empty();
    p.write("appspec.yml", INVALID_EC2);
    p.write("appspec.json", VALID_ECS_JSON);
    let out = p.run(&["validate", "--json", p.src.join("appspec.yml").to_str().unwrap(), p.src.join("appspec.json").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON report");
    assert_eq!(report[0]["kind"], "appspec");
    assert_eq!(report[0]["computePlatform"], "Server");
    assert_eq!(report[0]["valid"], false);
    let first = &report[0]["diagnostics"][0];
    assert_eq!((first["code"].as_str(), first["span"]["line"].as_u64(), first["span"]["col"].as_u64()), (Some("E1301"), Some(4), Some(3)));
    assert_eq!(first["help"].as_str().map(|h| h.starts_with("did you mean `AfterInstall`?")), Some(true));
    assert_eq!(report[1]["computePlatform"], "ECS");
    assert_eq!(report[1]["valid"], true);
}

#[test]
fn an_appspec_that_is_not_a_regular_file_is_refused_without_hanging() {
    let p = Project::empty();
    let fifo = p.src.join("appspec.yml");
    let ok = std::process::Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo").success();
    assert!(ok);
    let out = p.kiln().arg("validate").arg(&fifo).timeout(Duration::from_secs(30)).output().expect("run kiln");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot read the CodeDeploy AppSpec file {}", fifo.display())), "{stderr}");
    assert!(stderr.contains("a FIFO (named pipe), not a regular file"), "{stderr}");
}
