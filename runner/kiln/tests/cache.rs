//! `cache:` through the real binary (issue 13): restored before INSTALL and saved after a
//! successful build in a local store outside every working copy; keys from
//! `codebuild-hash-files`, fallback keys, home paths, failed builds, `--no-cache`; a tampered
//! entry is refused and never restored; the store is hidden from the build; the restored entry
//! is in the provenance and `kiln verify --policy` can refuse it; `kiln cache ls | rm | prune`.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A "dependency install" that is slow the first time and reuses the cache after: `deps/` and
/// `~/.tool-cache/` are cached under a key made from the lock file.
const SPEC: &str = r#"version: 0.2
phases:
  install:
    commands:
      - if [ -f deps/lib.txt ]; then echo "CACHE-HIT $(cat deps/lib.txt) $(cat ~/.tool-cache/t.txt)"; else echo CACHE-MISS; mkdir -p deps ~/.tool-cache; cat lock.txt > deps/lib.txt; echo tool > ~/.tool-cache/t.txt; fi
      - ls "$STORE" 2>&1 | head -3; test -z "$(ls -A "$STORE" 2>/dev/null)" && echo STORE-HIDDEN
  build:
    commands:
      - echo "$FAIL" | grep -qv yes
cache:
  key: deps-$(codebuild-hash-files lock.txt)
  fallback-keys:
    - deps-
  paths:
    - deps/**/*
    - ~/.tool-cache/**/*
artifacts:
  files: [lock.txt]
"#;

struct Env {
    p: Project,
    store: PathBuf,
    _store_dir: tempfile::TempDir,
}

impl Env {
    fn new(spec: &str) -> Env {
        let p = Project::new(spec);
        p.write("lock.txt", "left-pad@1.0.0\n");
        // Not under /tmp, which every build sees fresh and empty anyway: the store must be
        // hidden by kiln itself.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let store = dir.path().join("cache-store");
        std::fs::create_dir(&store).unwrap();
        Env { p, store, _store_dir: dir }
    }

    fn build(&self, extra: &[&str]) -> Build {
        let mut args = vec!["--cache-dir", self.store.to_str().unwrap(), "--env"];
        let store_env = format!("STORE={}", self.store.display());
        args.push(&store_env);
        args.extend_from_slice(extra);
        self.p.build(&args)
    }

    fn kiln(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--cache-dir", self.store.to_str().unwrap()]);
        self.p.run(&all)
    }
}

fn cache(b: &Build) -> &serde_json::Value {
    &b.record["kiln"]["cache"]
}

#[test]
fn a_second_build_restores_what_the_first_saved_and_the_provenance_says_so() {
    let e = Env::new(SPEC);
    let b1 = e.build(&[]);
    assert_eq!(b1.status(), "SUCCEEDED", "{}", b1.describe());
    assert_eq!(b1.count_output("CACHE-MISS"), 1, "{}", b1.describe());
    assert_eq!(b1.count_output("STORE-HIDDEN"), 1, "the build cannot see the store: {}", b1.describe());
    assert_eq!(cache(&b1)["saved"]["outcome"], "saved", "{}", b1.describe());
    assert!(cache(&b1)["key"].as_str().unwrap().starts_with("deps-") && cache(&b1)["key"].as_str().unwrap().len() == 5 + 64, "key from codebuild-hash-files: {}", cache(&b1));
    assert!(cache(&b1)["restored"].is_null());

    let b2 = e.build(&[]);
    assert_eq!(b2.status(), "SUCCEEDED", "{}", b2.describe());
    assert_eq!(b2.count_output("CACHE-HIT left-pad@1.0.0 tool"), 1, "the working copy and the home are restored: {}", b2.describe());
    let restored = &cache(&b2)["restored"];
    assert_eq!(restored["matched"], "exact", "{restored}");
    assert_eq!(cache(&b2)["saved"]["outcome"], "exists", "a keyed entry is written once: {}", cache(&b2));
    let manifest = restored["manifestSha256"].as_str().unwrap().to_string();

    // The provenance names the restored entry by its manifest digest.
    let statement = statement_of(&b2);
    let deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"].as_array().unwrap();
    let dep = deps.iter().find(|d| d["uri"].as_str().is_some_and(|u| u.starts_with("kiln-cache:deps-"))).unwrap_or_else(|| panic!("{deps:?}"));
    assert_eq!(dep["digest"]["sha256"], manifest.as_str());

    // kiln verify with a policy: allowed by default, refused with allow-cache: false.
    let policy = e.p.side_dir("policy").join("policy.yml");
    std::fs::write(&policy, "version: 1\nallow-cache: false\n").unwrap();
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", "--key"];
        let key = b2.record_dir().join("provenance.pub");
        let prov = b2.record_dir().join("provenance.intoto.jsonl");
        let art = b2.artifacts_dir().join("app");
        let (key, prov, art) = (key.to_str().unwrap().to_string(), prov.to_str().unwrap().to_string(), art.to_str().unwrap().to_string());
        args.push(&key);
        args.extend(["--provenance", &prov]);
        args.extend_from_slice(extra);
        args.push(&art);
        e.p.run(&args)
    };
    let ok = verify(&[]);
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    let refused = verify(&["--policy", policy.to_str().unwrap()]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(format!("{}{}", refused.stdout, refused.stderr).contains("restored a build cache entry"), "{}\n{}", refused.stdout, refused.stderr);

    // A changed lock file: the exact key misses, the fallback prefix restores the old entry.
    e.p.write("lock.txt", "left-pad@1.0.1\n");
    let b3 = e.build(&[]);
    assert!(cache(&b3)["restored"]["matched"].as_str().unwrap().starts_with("fallback:deps-"), "{}", cache(&b3));
    assert_eq!(cache(&b3)["saved"]["outcome"], "saved", "the new key is saved");

    // kiln cache ls / rm / prune.
    let ls = e.kiln(&["cache", "ls", "--json"]);
    assert_eq!(ls.code, 0, "{}", ls.stderr);
    let rows: serde_json::Value = serde_json::from_str(&ls.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    let key = cache(&b1)["key"].as_str().unwrap().to_string();
    let rm = e.kiln(&["cache", "rm", &key]);
    assert_eq!(rm.code, 0, "{}", rm.stderr);
    assert!(rm.stdout.contains("removed 1 entry"), "{}", rm.stdout);
    let prune = e.kiln(&["cache", "prune", "--max-size", "0"]);
    assert_eq!(prune.code, 0, "{}", prune.stderr);
    let ls = e.kiln(&["cache", "ls"]);
    assert!(ls.stdout.contains("the cache is empty"), "{}", ls.stdout);
}

fn statement_of(b: &Build) -> serde_json::Value {
    let text = std::fs::read_to_string(b.record_dir().join("provenance.intoto.jsonl")).unwrap();
    let env: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let out = std::process::Command::new("python3").args(["-c", "import base64,sys; sys.stdout.buffer.write(base64.b64decode(sys.argv[1]))"]).arg(env["payload"].as_str().unwrap()).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn failed_builds_do_not_save_unless_asked_and_no_cache_turns_it_off() {
    let e = Env::new(SPEC);
    let b = e.build(&["--env", "FAIL=yes"]);
    assert_eq!(b.status(), "FAILED");
    assert!(cache(&b)["saved"].is_null(), "a failed build saves nothing: {}", cache(&b));
    assert!(b.stderr.contains("cache not saved: the build failed"), "{}", b.describe());

    let e = Env::new(&format!("{SPEC}kiln:\n  cache:\n    save-on-failure: yes\n"));
    let b = e.build(&["--env", "FAIL=yes"]);
    assert_eq!(cache(&b)["saved"]["outcome"], "saved", "{}", b.describe());

    let b = e.build(&["--no-cache"]);
    assert_eq!(b.count_output("CACHE-MISS"), 1, "--no-cache restores nothing: {}", b.describe());
    assert!(b.record["kiln"]["cache"].is_null());
}

/// Every blob file of the store.
fn blobs(store: &Path) -> Vec<PathBuf> {
    files_under(&store.join("cas"))
}

#[test]
fn a_tampered_entry_is_refused_and_never_restored() {
    let e = Env::new(SPEC);
    assert_eq!(e.build(&[]).status(), "SUCCEEDED");
    // Change every stored blob (as an attacker with write access to the store would).
    for b in blobs(&e.store) {
        let mut perms = std::fs::metadata(&b).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
        std::fs::set_permissions(&b, perms).unwrap();
        std::fs::write(&b, "evil-payload\n").unwrap();
    }
    let b = e.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert_eq!(b.count_output("CACHE-MISS"), 1, "nothing was restored: {}", b.describe());
    assert!(!b.stdout.contains("evil-payload") && !b.stderr.contains("evil-payload"), "{}", b.describe());
    let warnings = cache(&b)["warnings"].to_string();
    assert!(warnings.contains("refused and not restored"), "{warnings}");
    assert!(cache(&b)["restored"].is_null());
}
