//! `kiln plugin …` as a new user runs it: `new` → `build` → `test` for a Rust plugin (the
//! scaffold builds with crates.io only), `inspect`, `run`, `lock` and `uses: NAME@sha256:…`
//! through kiln.lock (a changed component is refused naming both digests), `kiln validate`
//! checking `with:` against the schema, and the `kiln: plugins:` policy narrowing grants. The
//! same for a deploy strategy (`new --world deploy-strategy` → `build` → `test` on its scripted
//! scenarios → `inspect`) and for the third-party example `examples/strategy-canary-steps`.

mod common;
mod deploy_fx;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Project;

/// `kiln` with the real toolchain (the tests' HOME is a temp dir) and a long timeout for cargo.
fn kiln_tool(p: &Project, cwd: &Path) -> assert_cmd::Command {
    let mut c = p.kiln();
    let home = PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let cargo_home = std::env::var_os("CARGO_HOME").map(PathBuf::from).unwrap_or_else(|| home.join(".cargo"));
    let rustup_home = std::env::var_os("RUSTUP_HOME").map(PathBuf::from).unwrap_or_else(|| home.join(".rustup"));
    // One target dir for every run of this test, so the guest crates compile once.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-scaffold-target");
    c.env("CARGO_HOME", cargo_home).env("RUSTUP_HOME", rustup_home).env("CARGO_TARGET_DIR", target);
    c.current_dir(cwd).timeout(Duration::from_secs(900));
    c
}

fn out(c: &mut assert_cmd::Command) -> (i32, String, String) {
    let o = c.output().expect("run kiln");
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn new_build_test_inspect_lock_and_use_a_rust_plugin() {
    let p = Project::empty();
    let work = p.side_dir("work");
    let (code, so, se) = out(kiln_tool(&p, &work).args(["plugin", "new", "demo"]));
    assert_eq!(code, 0, "{so}{se}");
    let demo = work.join("demo");
    for f in ["Cargo.toml", "Cargo.lock", "kiln-plugin.toml", "expected-findings.json", "fixture/notes.txt", "vendor/kiln-plugin-sdk/src/lib.rs", "vendor/wit/kiln-plugin/v0.1.0/step.wit"] {
        assert!(demo.join(f).is_file(), "{f} missing");
    }
    let (code, so, se) = out(kiln_tool(&p, &work).args(["plugin", "build", "demo"]));
    assert_eq!(code, 0, "{so}{se}");
    let wasm = demo.join("dist/demo.wasm");
    assert!(so.contains(&wasm.display().to_string()) || so.contains("dist/demo.wasm"), "{so}");
    let sha = so.lines().find_map(|l| l.strip_prefix("sha256:")).expect("sha256 line").to_string();
    assert_eq!(sha.len(), 64);

    let (code, so, se) = out(kiln_tool(&p, &work).args(["plugin", "test", "demo"]));
    assert_eq!(code, 0, "{so}{se}");
    assert!(so.contains("2 findings as expected"), "{so}");

    // A wrong expectation fails with a diff.
    let exp = demo.join("expected-findings.json");
    let text = std::fs::read_to_string(&exp).unwrap();
    std::fs::write(&exp, text.replace("\"line\": 3", "\"line\": 4")).unwrap();
    let (code, so, _) = out(kiln_tool(&p, &work).args(["plugin", "test", "demo"]));
    assert_eq!(code, 1, "{so}");
    assert!(so.contains("- low demo/marker notes.txt:4") && so.contains("+ low demo/marker notes.txt:3"), "{so}");
    std::fs::write(&exp, text).unwrap();

    let (code, so, se) = out(kiln_tool(&p, &work).args(["plugin", "inspect", "demo"]));
    assert_eq!(code, 0, "{se}");
    for needle in ["name:         demo", "world:        step", &format!("sha256:       {sha}"), "wit:          kiln:plugin@0.1.0", "read-source = true", "\"marker\"", "granted: read-source=true write-output=true"] {
        assert!(so.contains(needle), "{needle} missing from\n{so}");
    }

    // Pin it in a project's kiln.lock and use it by name.
    std::fs::create_dir_all(p.src.join("plugins")).unwrap();
    std::fs::copy(&wasm, p.src.join("plugins/demo.wasm")).unwrap();
    let (code, so, se) = out(kiln_tool(&p, &p.src).args(["plugin", "lock", "plugins/demo.wasm"]));
    assert_eq!(code, 0, "{so}{se}");
    assert!(so.contains(&format!("uses: demo@sha256:{sha}")), "{so}");
    let lock = std::fs::read_to_string(p.src.join("kiln.lock")).unwrap();
    assert!(lock.contains("source = \"plugins/demo.wasm\"") && lock.contains(&sha), "{lock}");

    let spec = format!("version: 0.2\nphases:\n  build:\n    commands:\n      - printf 'x\\nFIXME here\\n' > a.txt\n      - uses: demo@sha256:{sha}\n        with: {{marker: FIXME}}\n");
    p.write("buildspec.yml", &spec);
    let v = p.run(&["validate", p.src.join("buildspec.yml").to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let run = &b.record["kiln"]["plugins"][0];
    assert_eq!(run["name"], "demo");
    assert_eq!(run["sha256"], sha.as_str());
    // The marker the build wrote into a.txt, plus those in the scaffold's own fixture (the
    // whole working copy is the plugin's /src).
    assert!(run["findings"].as_u64().unwrap() >= 1, "{run}");
    assert!(run["message"].as_str().unwrap().contains("FIXME markers"), "{run}");

    // `with:` that does not fit the schema: a located error on the key.
    p.write("buildspec.yml", spec.replace("{marker: FIXME}", "\n          marker: FIXME\n          colour: red"));
    let v = p.run(&["validate", p.src.join("buildspec.yml").to_str().unwrap()]);
    assert_eq!(v.code, 2, "{}", v.stderr);
    assert!(v.stderr.contains("buildspec.yml:9:11: error[E0802]") && v.stderr.contains("unknown key `colour`"), "{}", v.stderr);

    // A changed component is refused, naming both digests; `kiln plugin lock` alone re-checks.
    std::fs::write(p.src.join("plugins/demo.wasm"), b"\0asm\x0d\0\x01\0").unwrap();
    p.write("buildspec.yml", &spec);
    let b = p.build(&[]);
    assert_eq!(b.status(), "FAILED", "{}", b.describe());
    let msg = b.record["kiln"]["plugins"][0]["message"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("sha256 mismatch") && msg.contains(&sha), "{msg}");
    let (code, so, _) = out(kiln_tool(&p, &p.src).args(["plugin", "lock"]));
    assert_eq!(code, 1);
    assert!(so.contains("MISMATCH demo") && so.contains(&sha), "{so}");
    // The buildspec pinning a digest the lock does not have is refused before reading anything.
    p.write("buildspec.yml", spec.replace(&sha, &"1".repeat(64)));
    let v = p.run(&["validate", p.src.join("buildspec.yml").to_str().unwrap()]);
    assert!(v.stderr.contains("E0801") && v.stderr.contains("digest mismatch") && v.stderr.contains(&sha), "{}", v.stderr);
}

#[test]
fn run_writes_outputs_and_a_findings_summary() {
    let p = Project::empty();
    p.write("tree/a.rs", "fn a() {}\n// FIXME one\n");
    let outdir = p.root().join("report");
    let o = p.run(&["plugin", "run", "hello-step", p.src.join("tree").to_str().unwrap(), "--with", "pattern=FIXME", "--with", "severity=high", "--out", outdir.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("high     hello/todo a.rs:2:4"), "{}", o.stdout);
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(outdir.join("kiln-findings.json")).unwrap()).unwrap();
    assert_eq!(summary["plugin"], "hello-step");
    assert_eq!(summary["findings"].as_array().unwrap().len(), 1);
    assert!(outdir.join("summary.json").is_file());
    // Settings are checked against the schema, and a used --out is refused.
    let o = p.run(&["plugin", "run", "hello-step", p.src.to_str().unwrap(), "--with", "colour=red", "--out", p.root().join("r2").to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("unknown key `colour`"), "{}", o.stderr);
    let o = p.run(&["plugin", "run", "hello-step", p.src.to_str().unwrap(), "--out", outdir.to_str().unwrap()]);
    assert!(o.code == 2 && o.stderr.contains("not empty"), "{}", o.stderr);
}

#[test]
fn the_buildspec_policy_narrows_what_a_plugin_gets() {
    let spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo 'TODO x' > t.txt\n      - uses: hello-step\nkiln:\n  plugins:\n    allow:\n      max-memory: 16MiB\n    per-plugin:\n      hello-step:\n        write-output: false\n";
    let p = Project::new(spec);
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let run = &b.record["kiln"]["plugins"][0];
    let denied = run["denied"].to_string();
    assert!(denied.contains("write-output: not allowed") && denied.contains("granted 16 MiB"), "{run}");
    assert_eq!(run["outputs"].as_array().map(Vec::len), Some(0), "no /out, so no summary.json: {run}");
    let o = p.run(&["plugin", "inspect", "hello-step", "-b", p.src.join("buildspec.yml").to_str().unwrap()]);
    assert!(o.stdout.contains("write-output=false") && o.stdout.contains("max-memory=16 MiB"), "{}", o.stdout);
}

#[test]
fn new_build_test_and_inspect_a_rust_deploy_strategy() {
    let p = Project::empty();
    let work = p.side_dir("work");
    let (code, so, se) = out(kiln_tool(&p, &work).args(["plugin", "new", "canary", "--world", "deploy-strategy"]));
    assert_eq!(code, 0, "{so}{se}");
    assert!(so.contains("(Rust deploy strategy)"), "{so}");
    let dir = work.join("canary");
    for f in ["Cargo.toml", "Cargo.lock", "kiln-plugin.toml", "expected-actions.json", "src/lib.rs", "vendor/kiln-plugin-sdk/src/deploy.rs", "vendor/wit/kiln-plugin/v0.1.0/deploy.wit"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let (code, so, se) = out(kiln_tool(&p, &work).args(["plugin", "new", "other", "--world", "deploy-strategy", "--lang", "python"]));
    assert_eq!(code, 2, "{so}{se}");
    assert!(se.contains("Rust only"), "{se}");

    let (code, so, se) = out(kiln_tool(&p, &work).args(["plugin", "build", "canary"]));
    assert_eq!(code, 0, "{so}{se}");
    assert!(dir.join("dist/canary.wasm").is_file());
    let (code, so, se) = out(kiln_tool(&p, &work).args(["plugin", "test", "canary"]));
    assert_eq!(code, 0, "{so}{se}");
    assert!(so.contains("ok: canary 0.1.0: 2 scenarios, 6 steps as expected"), "{so}");

    // A wrong expectation fails, naming the scenario, the step, and both actions.
    let fixture = dir.join("expected-actions.json");
    let text = std::fs::read_to_string(&fixture).unwrap();
    std::fs::write(&fixture, text.replacen(r#""wait": 1000"#, r#""wait": 999"#, 1)).unwrap();
    let (code, so, _) = out(kiln_tool(&p, &work).args(["plugin", "test", "canary"]));
    assert_eq!(code, 1, "{so}");
    assert!(so.contains("FAILED  in place: deploy everywhere, bake, succeed: step 2: expected wait 999 ms\n    got      wait 1000 ms"), "{so}");
    assert!(so.contains("FAILED: 1 of 2 scenarios"), "{so}");
    // A broken observation is a located error, not a crash.
    std::fs::write(&fixture, text.replace(r#""deploymentType": "in-place""#, r#""deploymentType": "rolling""#)).unwrap();
    let (code, so, _) = out(kiln_tool(&p, &work).args(["plugin", "test", "canary"]));
    assert_eq!(code, 1, "{so}");
    assert!(so.contains("step 1: the observation is not valid: unknown variant `rolling`"), "{so}");
    std::fs::write(&fixture, text).unwrap();

    let (code, so, se) = out(kiln_tool(&p, &work).args(["plugin", "inspect", "canary"]));
    assert_eq!(code, 0, "{se}");
    for needle in ["world:        deploy-strategy", "wit:          kiln:plugin@0.1.0", "kiln:plugin/deploy-strategy-plugin@0.1.0", "resource strategy", "[method]strategy.next", "\"bake-ms\"", "granted: read-source=false write-output=false env=[] network=false"] {
        assert!(so.contains(needle), "{needle} missing from\n{so}");
    }
    assert!(!so.contains("NOT LINKED") && !so.contains("not checked"), "{so}");
    // A strategy is not a build step.
    let (code, _, se) = out(kiln_tool(&p, &work).args(["plugin", "run", "canary", "."]));
    assert_ne!(code, 0);
    assert!(se.contains("is a `deploy-strategy` plugin, which cannot run here"), "{se}");
}

#[test]
fn the_canary_steps_example_builds_tests_and_inspects_by_path() {
    let p = Project::empty();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // The example depends on ../../plugin-sdk, which binds ../wit: copy the three, keeping their
    // places, so the build writes nothing into the repository.
    let work = p.side_dir("repo");
    for (from, to) in [("examples/strategy-canary-steps", "examples/strategy-canary-steps"), ("plugin-sdk", "plugin-sdk"), ("wit", "wit")] {
        copy(&root.join(from), &work.join(to));
    }
    let dir = work.join("examples/strategy-canary-steps");
    let d = dir.to_str().unwrap();
    let (code, so, se) = out(kiln_tool(&p, &work).args(["plugin", "build", d]));
    assert_eq!(code, 0, "{so}{se}");
    let (code, so, se) = out(kiln_tool(&p, &work).args(["plugin", "test", d]));
    assert_eq!(code, 0, "{so}{se}");
    assert!(so.contains("ok: canary-steps 0.1.0: 4 scenarios, 21 steps as expected"), "{so}");
    let (code, so, se) = out(kiln_tool(&p, &work).args(["plugin", "inspect", d]));
    assert_eq!(code, 0, "{se}");
    assert!(so.contains("name:         canary-steps") && so.contains("world:        deploy-strategy") && so.contains("\"clean-ms\""), "{so}");
    // It logs each step, so it imports `log` (linked: nothing is marked).
    assert!(so.contains("kiln:plugin/log@0.1.0") && !so.contains("NOT LINKED"), "{so}");
    // Loadable by path like any plugin: the built .wasm itself.
    let wasm = dir.join("dist/canary-steps.wasm");
    let (code, so, se) = out(kiln_tool(&p, &work).args(["plugin", "inspect", wasm.to_str().unwrap()]));
    assert_eq!(code, 0, "{so}{se}");
    assert!(so.contains("name:         canary-steps"), "{so}");
    deploys_with_the_canary_steps_plugin(&wasm);
}

/// The built third-party strategy decides a real `kiln deploy`, pinned in the group's kiln.lock
/// and named `canary-steps@sha256:…` as a build step would name it.
fn deploys_with_the_canary_steps_plugin(wasm: &Path) {
    if deploy_fx::python().is_none() {
        eprintln!("SKIPPED (the deployment part): python3 is not installed");
        return;
    }
    let fx = deploy_fx::Fx::new();
    std::fs::copy(wasm, fx.tmp.path().join("canary-steps.wasm")).unwrap();
    let lock = fx.kiln().args(["plugin", "lock", "canary-steps.wasm"]).output().unwrap();
    assert!(lock.status.success(), "{}", String::from_utf8_lossy(&lock.stderr));
    let text = std::fs::read_to_string(fx.tmp.path().join("kiln.lock")).unwrap();
    let sha = text.lines().find_map(|l| l.strip_prefix("sha256 = \"")).map(|r| r.trim_end_matches('"').to_string()).unwrap_or_else(|| panic!("no digest in kiln.lock: {text}"));
    let head = format!("applicationName: shop\ndeploymentGroupName: ecs\ncomputePlatform: ECS\ndeploymentConfigName: CodeDeployDefault.ECSAllAtOnce\ncustomDeploymentConfigs:\n  - deploymentConfigName: Steps\n    computePlatform: ECS\n    trafficRoutingConfig: {{type: AllAtOnce}}\n    kilnStrategy: {{uses: 'canary-steps@sha256:{sha}', with: {{steps: [10, 50, 100], clean-ms: 200}}}}\n");
    let group = fx.group(&head, true, "", &["task-1"]);
    let v1 = fx.revision("v1", &deploy_fx::ecs_appspec(&[]), true, &[]);
    let v2 = fx.revision("v2", &deploy_fx::ecs_appspec(&[]), true, &[]);
    assert_eq!(fx.deploy(&v1, &group, 1.0, &[]).status.code(), Some(0));
    let out = fx.deploy(&v2, &group, 1.0, &["--config", "Steps"]);
    assert_eq!(out.status.code(), Some(0), "{}", deploy_fx::stderr(&out));
    let d = &deploy_fx::outcome(&out)[0];
    assert_eq!(d["kiln"]["strategy"]["sha256"], sha.as_str(), "{:#}", d["kiln"]["strategy"]);
    let history: Vec<u64> = d["kiln"]["traffic"]["history"].as_array().unwrap().iter().map(|c| c["weights"]["replacement"].as_u64().unwrap()).collect();
    assert!(history.starts_with(&[10, 50, 100]), "the plugin's steps: {history:?}");
}

/// Copies a tree (files and directories), leaving out build output.
fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name();
        if name == "target" || name == "dist" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

#[test]
fn a_deploy_strategy_is_not_a_build_step() {
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - uses: codedeploy-in-place\n");
    let v = p.run(&["validate", p.src.join("buildspec.yml").to_str().unwrap()]);
    assert_eq!(v.code, 2, "{}{}", v.stdout, v.stderr);
    assert!(v.stderr.contains("E0801") && v.stderr.contains("`codedeploy-in-place` is a `deploy-strategy` plugin, not a build step"), "{}", v.stderr);
    let b = p.build(&[]);
    assert_eq!(b.status(), "FAILED", "{}", b.describe());
}
