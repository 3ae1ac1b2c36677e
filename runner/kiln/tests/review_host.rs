//! Issue 11, "a build step writes or changes host files": each attack of the security review, run
//! by a hostile buildspec against the real `kiln` binary. Every test checks the host side (the
//! file that must not change, the mode or xattr that must not appear), never only what the build
//! printed. Run as root and as an ordinary user (`scripts/test` runs this binary both ways).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// A host file the build must not change, with its content and metadata captured.
struct Canary {
    path: std::path::PathBuf,
    bytes: Vec<u8>,
    mode: u32,
    mtime: i64,
    uid: u32,
}

impl Canary {
    fn new(dir: &Path, name: &str, mode: u32) -> Canary {
        let path = dir.join(name);
        std::fs::write(&path, format!("canary {name}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        Canary::of(&path)
    }

    fn of(path: &Path) -> Canary {
        let m = std::fs::symlink_metadata(path).unwrap();
        Canary { path: path.to_path_buf(), bytes: std::fs::read(path).unwrap(), mode: m.mode(), mtime: m.mtime(), uid: m.uid() }
    }

    fn assert_untouched(&self, what: &str) {
        let now = Canary::of(&self.path);
        assert_eq!(now.bytes, self.bytes, "{what}: {} was rewritten", self.path.display());
        assert_eq!(format!("{:o}", now.mode), format!("{:o}", self.mode), "{what}: {} changed mode", self.path.display());
        assert_eq!(now.mtime, self.mtime, "{what}: {} changed mtime", self.path.display());
        assert_eq!(now.uid, self.uid, "{what}: {} changed owner", self.path.display());
        assert_eq!(xattr_names(&self.path), Vec::<String>::new(), "{what}: {} got xattrs", self.path.display());
    }
}

/// Extended attribute names on `path` (through python3's os.listxattr: no attr tools here).
fn xattr_names(path: &Path) -> Vec<String> {
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import os,sys; print('\\n'.join(os.listxattr(sys.argv[1], follow_symlinks=False)))"])
        .arg(path)
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// Item 1: kiln's per-command and state files used to be writable by the build, and kiln
/// followed symlinks there: the next command's text went into `~/.bashrc` or the signing key.
/// The build now points every file it can find of kiln's at a host file, and at a FIFO.
#[test]
fn kiln_control_files_cannot_be_pointed_at_host_files() {
    let p = Project::empty();
    let side = p.side_dir("host");
    let bashrc = Canary::new(&side, "bashrc", 0o644);
    let spec = format!(
        r#"version: 0.2
env:
  shell: bash
phases:
  build:
    commands:
      - for f in /dev/shm/kiln-*/* /dev/shm/kiln-*/*/* "$TMPDIR"/../* "$TMPDIR"/../shell/* "$HOME"/../*; do [ -e "$f" ] || [ -L "$f" ] || continue; case "$f" in "$CODEBUILD_SRC_DIR"*) continue;; esac; ln -sfn {target} "$f" 2>/dev/null && echo "linked $f"; done; true
      - echo "second command text"
      - for f in /dev/shm/kiln-*/cmd "$TMPDIR"/../shell/cmd; do rm -f "$f" 2>/dev/null && mkfifo "$f" 2>/dev/null && echo "fifo $f"; done; true
      - echo third
"#,
        target = bashrc.path.display()
    );
    p.write("buildspec.yml", &spec);
    let started = Instant::now();
    let b = p.build(&["--timeout", "1"]);
    assert!(started.elapsed() < Duration::from_secs(50), "a FIFO in kiln's files hung the build: {:?}", started.elapsed());
    bashrc.assert_untouched("control-file links");
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert_eq!(b.count_output("second command text"), 1, "{}", b.describe());
    assert_eq!(b.count_output("third"), 1, "{}", b.describe());
}

/// Item 2: a checked-out repository's `.kiln/build-number` linked to a host file was rewritten
/// to `1` before any step ran. Links in `.kiln/` are never followed: kiln refuses, naming it.
#[test]
fn a_linked_build_number_in_the_repository_is_refused_not_followed() {
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands: [echo ran]\n");
    let side = p.side_dir("host");
    let target = Canary::new(&side, "precious", 0o644);
    std::fs::create_dir_all(p.src.join(".kiln")).unwrap();
    std::os::unix::fs::symlink(&target.path, p.src.join(".kiln/build-number")).unwrap();
    let out = p.run(&["build", p.src.to_str().unwrap()]);
    target.assert_untouched(".kiln/build-number link");
    assert_eq!(out.code, 2, "kiln refuses to use the record directory\n{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("build-number") && out.stderr.contains("symbolic link"), "{}", out.stderr);
    assert!(!out.stdout.contains("ran"), "no step ran: {}", out.stdout);

    // `.kiln` itself a link to a host directory: refused the same way.
    std::fs::remove_dir_all(p.src.join(".kiln")).unwrap();
    let elsewhere = p.side_dir("elsewhere");
    std::os::unix::fs::symlink(&elsewhere, p.src.join(".kiln")).unwrap();
    let out = p.run(&["build", p.src.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains(".kiln") && out.stderr.contains("symbolic link"), "{}", out.stderr);
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "nothing was written through the link");
}

/// Item 3: an `--in-place` build's steps could link the record's log and artifact paths to host
/// files and rewrite the plugin outputs that are then signed. The record is out of their reach.
#[test]
fn in_place_steps_cannot_touch_the_build_record() {
    let p = Project::empty();
    let side = p.side_dir("host");
    let log_target = Canary::new(&side, "log-target", 0o644);
    let art_target = p.side_dir("art-target");
    p.write("src/config.py", format!("GITHUB_TOKEN = \"ghp_{}\"\n", "R8mK2pQx7LzT4vN9bW3cY6dF1gH5jA0sE2uI"));
    p.write(
        "buildspec.yml",
        format!(
            r#"version: 0.2
phases:
  build:
    commands:
      - uses: secrets-scan
      - for d in .kiln/builds/*/; do ln -sf {log} "$d/logs/build.log" 2>/dev/null && echo "relinked log"; ln -sfn {art} "$d/artifacts" 2>/dev/null && echo "relinked artifacts"; for s in "$d"/plugins/*/*.sarif; do truncate -s 0 "$s" 2>/dev/null && echo "emptied $s"; done; done; true
      - mkdir -p .kiln/builds/forged && echo forged > .kiln/builds/forged/x 2>/dev/null && echo "forged record"; true
artifacts:
  files: ['src/**/*']
"#,
            log = log_target.path.display(),
            art = art_target.display()
        ),
    );
    let b = p.build(&["--in-place"]);
    log_target.assert_untouched("in-place log link");
    assert_eq!(std::fs::read_dir(&art_target).unwrap().count(), 0, "artifacts went through a link the build made");
    for bad in ["relinked log", "relinked artifacts", "emptied", "forged record"] {
        assert_eq!(b.count_output(bad), 0, "the build could: {bad}\n{}", b.describe());
    }
    let sarif = files_under(&b.record_dir().join("plugins")).into_iter().find(|f| f.extension().is_some_and(|e| e == "sarif")).expect("a SARIF output");
    let text = std::fs::read_to_string(&sarif).unwrap();
    assert!(text.contains("\"results\"") && text.contains("config.py"), "the scanner's findings are intact: {text}");
    assert!(b.record_dir().join("artifacts").is_dir() && !b.record_dir().join("artifacts").is_symlink());
}

/// Item 4: Landlock does not cover chmod, chown, xattrs or utime, and a root build had real
/// capabilities over root-owned files: a set-user-ID copy of `id` and a file capability on a
/// copy of `cat` gave an ordinary user root. Files outside the working copy keep every bit of
/// their metadata, and no file the build makes anywhere gets set-ID bits or file capabilities.
#[test]
fn a_build_cannot_change_host_file_metadata_or_make_set_id_files() {
    let p = Project::empty();
    let side = p.side_dir("host");
    let id_copy = side.join("id");
    std::fs::copy("/usr/bin/id", &id_copy).unwrap();
    let id_canary = Canary::of(&id_copy);
    let cat_copy = side.join("cat");
    std::fs::copy("/usr/bin/cat", &cat_copy).unwrap();
    let cat_canary = Canary::of(&cat_copy);
    let plain = Canary::new(&side, "plain", 0o600);
    p.write(
        "buildspec.yml",
        format!(
            r#"version: 0.2
phases:
  build:
    commands:
      - chmod 4755 {id} && echo "chmod-outside=done"; true
      - chown 0:0 {plain} 2>/dev/null; chmod 0777 {plain} && echo "chmod-plain=done"; true
      - touch -d 2001-01-01 {plain} && echo "utime=done"; true
      - /usr/bin/python3 -c "import os; os.setxattr('{cat}', 'security.capability', bytes.fromhex('0100000200000000000000000000000000000000'))" && echo "setcap-outside=done"; true
      - /usr/bin/python3 -c "import os; os.setxattr('{cat}', 'user.kiln', b'x')" && echo "xattr-outside=done"; true
      - cp /usr/bin/id ./id-suid && chmod 4755 ./id-suid; chmod u+s ./id-suid; ls -l ./id-suid
      - cp /usr/bin/id ./id-sgid && chmod 2755 ./id-sgid; ls -l ./id-sgid
      - /usr/bin/python3 -c "import os; fd = os.open('made-suid', os.O_CREAT | os.O_WRONLY, 0o4755); os.close(fd)"; ls -l made-suid; true
      - cp /usr/bin/cat ./cat-cap && /usr/bin/python3 -c "import os; os.setxattr('cat-cap', 'security.capability', bytes.fromhex('0100000200000000000000000000000000000000'))" && echo "setcap-inside=done"; true
artifacts:
  files: ['id-suid', 'id-sgid', 'made-suid', 'cat-cap']
"#,
            id = id_copy.display(),
            plain = plain.path.display(),
            cat = cat_copy.display()
        ),
    );
    for args in [&[][..], &["--in-place"][..]] {
        let b = p.build(args);
        id_canary.assert_untouched("chmod 4755");
        cat_canary.assert_untouched("security.capability");
        plain.assert_untouched("chmod/chown/utime");
        for bad in ["chmod-outside=done", "chmod-plain=done", "utime=done", "setcap-outside=done", "xattr-outside=done", "setcap-inside=done"] {
            assert_eq!(b.count_output(bad), 0, "{args:?}: {bad}\n{}", b.describe());
        }
        // Wherever the build's files end up (in-place project, artifacts), no set-ID bit and
        // no file capability.
        let mut made: Vec<std::path::PathBuf> = files_under(&b.artifacts_dir());
        if args.contains(&"--in-place") {
            made.extend(["id-suid", "id-sgid", "made-suid", "cat-cap"].iter().map(|f| p.src.join(f)).filter(|f| f.exists()));
        }
        assert!(!made.is_empty(), "{args:?}: the build's files are somewhere to check\n{}", b.describe());
        for f in &made {
            let mode = std::fs::symlink_metadata(f).unwrap().mode();
            assert_eq!(mode & 0o6000, 0, "{args:?}: {} has mode {:o}", f.display(), mode);
            assert!(!xattr_names(f).iter().any(|x| x == "security.capability"), "{args:?}: {} has a file capability", f.display());
        }
        for f in ["id-suid", "id-sgid", "made-suid", "cat-cap"] {
            let _ = std::fs::remove_file(p.src.join(f));
        }
    }
}

/// Found while re-attacking: the buildspec comes with the repository, and its `cache` paths and
/// `kiln: writable-paths` made any host directory writable (`~`, `/etc`). Now they stay
/// read-only unless the operator passes `--writable DIR`.
#[test]
fn a_repository_cannot_make_host_directories_writable() {
    let p = Project::empty();
    // Not under /tmp (every build sees a fresh one): a host directory as `~` would be.
    let host = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let target = host.path().to_path_buf();
    let canary = Canary::new(&target, "rc", 0o644);
    p.write(
        "buildspec.yml",
        format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo owned >> {t}/rc && echo APPENDED; touch {t}/new && echo CREATED; true\ncache:\n  paths:\n    - '{t}/**/*'\nkiln:\n  writable-paths: [{t}]\n",
            t = target.display()
        ),
    );
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    canary.assert_untouched("a buildspec-declared writable path");
    assert!(!target.join("new").exists());
    assert_eq!(b.count_output("APPENDED") + b.count_output("CREATED"), 0, "{}", b.describe());
    let notices = b.record["kiln"]["notices"].to_string();
    assert!(notices.contains("--writable"), "the build says why and what to do: {notices}");
    // The operator can allow it.
    let b = p.build(&["--writable", target.to_str().unwrap()]);
    assert_eq!(b.count_output("CREATED"), 1, "{}", b.describe());
}

/// Found re-attacking after the review: kiln ran `git status` on the source directory as its
/// own user, outside the sandbox, and a repository's `.git/config` names programs git runs
/// (`core.fsmonitor`, a `filter.<driver>.clean` that `.gitattributes` selects). A repository
/// ran code on the host before any step was confined. Now the revision is read from the files
/// and `git status` runs confined: neither program reaches the host, the record still has the
/// revision and branch, and the uncommitted change is still noticed.
#[test]
fn a_repository_config_cannot_run_programs_outside_the_sandbox() {
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands: [echo ran]\n");
    let side = p.side_dir("host");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").arg("-C").arg(&p.src).args(args).env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q", "-b", "trunk"]);
    p.write(".gitattributes", "*.txt filter=evil\n");
    p.write("notes.txt", "one\n");
    git(&["add", "."]);
    git(&["-c", "user.email=k@x", "-c", "user.name=k", "commit", "-qm", "one"]);
    let head = git(&["rev-parse", "HEAD"]);
    let fsmonitor = side.join("fsmonitor-ran");
    let filter = side.join("filter-ran");
    git(&["config", "core.fsmonitor", &format!("touch {}; false", fsmonitor.display())]);
    git(&["config", "filter.evil.clean", &format!("touch {}; cat", filter.display())]);
    // A change git must look at (and filter) to answer `status`.
    p.write("notes.txt", "two\n");

    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert!(!fsmonitor.exists(), "core.fsmonitor ran on the host");
    assert!(!filter.exists(), "the clean filter ran on the host");
    assert_eq!(b.record["resolvedSourceVersion"].as_str(), Some(head.as_str()), "{}", b.describe());
    assert_eq!(b.record["sourceVersion"].as_str(), Some("trunk"), "{}", b.describe());
    let notices = b.record["kiln"]["notices"].to_string();
    assert!(notices.contains("uncommitted changes"), "the change is still noticed: {notices}");
}
