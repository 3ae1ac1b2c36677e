//! Packaging: zip contents and reproducibility, directory artifacts, atomicity, SIGKILL.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::{Tree, entries, python, spec};
use kiln_artifacts::{ArtifactError, ArtifactSpec, Packaging, package, select};

fn sample() -> Tree {
    let t = Tree::new();
    t.file("bin/tool", "#!/bin/sh\necho hi\n")
        .mode("bin/tool", 0o755)
        .file("README.md", "readme\n")
        .file(".env", "A=1\n")
        .file("lib/z.txt", "z\n")
        .file("lib/a.txt", "a\n");
    t
}

fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(fs::read(path).unwrap()))
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn zip_has_sorted_entries_fixed_dates_and_unix_modes() {
    let t = sample();
    let sel = select(&t.root, &spec(&["**/*"])).unwrap();
    let out = t.out("out");
    let p = package(&sel, &out, "app.zip", Packaging::Zip).unwrap();
    assert_eq!(p.path, out.join("app.zip"));
    assert_eq!(p.sha256.as_deref(), Some(sha256_file(&p.path).as_str()));
    assert_eq!(p.files, sel.files);
    assert_eq!(entries(&out), ["app.zip"], "no temporary file left behind");
    assert_eq!(mode_of(&p.path), 0o644);

    let mut zip = zip::ZipArchive::new(fs::File::open(&p.path).unwrap()).unwrap();
    let names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().to_string())
        .collect();
    assert_eq!(
        names,
        [".env", "README.md", "bin/tool", "lib/a.txt", "lib/z.txt"]
    );
    for i in 0..zip.len() {
        let mut e = zip.by_index(i).unwrap();
        let dt = e.last_modified().unwrap();
        assert_eq!(
            (dt.year(), dt.month(), dt.day(), dt.hour(), dt.minute()),
            (1980, 1, 1, 0, 0)
        );
        let mode = e.unix_mode().unwrap() & 0o777;
        assert_eq!(
            mode,
            if e.name() == "bin/tool" { 0o755 } else { 0o644 },
            "{}",
            e.name()
        );
        let mut body = Vec::new();
        e.read_to_end(&mut body).unwrap();
        assert_eq!(body, fs::read(t.root.join(e.name())).unwrap());
    }
}

#[test]
fn same_input_gives_the_same_zip_bytes() {
    let t = sample();
    let sel = select(&t.root, &spec(&["**/*"])).unwrap();
    let first = package(&sel, &t.out("one"), "a.zip", Packaging::Zip).unwrap();
    // Touch every file: mtimes must not leak into the zip.
    let later = SystemTime::now() + Duration::from_secs(3600);
    for f in &sel.files {
        fs::File::options()
            .append(true)
            .open(&f.source)
            .unwrap()
            .set_modified(later)
            .unwrap();
    }
    let again = select(&t.root, &spec(&["**/*"])).unwrap();
    let second = package(&again, &t.out("two"), "a.zip", Packaging::Zip).unwrap();
    assert_eq!(first.sha256, second.sha256);
    assert_eq!(
        fs::read(&first.path).unwrap(),
        fs::read(&second.path).unwrap()
    );
    // And packaging over an existing artifact replaces it with identical bytes.
    let third = package(&again, &t.out("one"), "a.zip", Packaging::Zip).unwrap();
    assert_eq!(first.sha256, third.sha256);
}

#[test]
fn zip_opens_with_pythons_zipfile_including_symlinks() {
    let t = sample();
    t.link("bin/tool-link", "tool");
    let s = ArtifactSpec {
        enable_symlinks: true,
        ..spec(&["**/*"])
    };
    let sel = select(&t.root, &s).unwrap();
    let out = t.out("out");
    let p = package(&sel, &out, "py.zip", Packaging::Zip).unwrap();
    let script = r#"
import stat, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    assert z.testzip() is None
    for i in z.infolist():
        mode = i.external_attr >> 16
        kind = "link" if stat.S_ISLNK(mode) else "file"
        print(i.filename, kind, oct(mode & 0o777), z.read(i).decode())
"#;
    let Some(listing) = python(script, &[&p.path]) else {
        return;
    };
    let lines: Vec<&str> = listing.lines().filter(|l| l.starts_with("bin/")).collect();
    assert_eq!(
        lines,
        [
            "bin/tool file 0o755 #!/bin/sh",
            "bin/tool-link link 0o777 tool"
        ],
        "{listing}"
    );
    assert!(listing.contains("lib/a.txt file 0o644 a"), "{listing}");
}

#[test]
fn directory_artifact_keeps_layout_modes_and_symlinks_and_replaces_the_old_one() {
    let t = sample();
    t.link("lib/current", "a.txt");
    let s = ArtifactSpec {
        enable_symlinks: true,
        ..spec(&["**/*"])
    };
    let sel = select(&t.root, &s).unwrap();
    let out = t.out("out");
    fs::create_dir_all(out.join("site/stale")).unwrap();
    fs::write(out.join("site/stale/old.txt"), "old").unwrap();
    let p = package(&sel, &out, "site", Packaging::Directory).unwrap();
    assert_eq!(p.path, out.join("site"));
    assert_eq!(p.sha256, None);
    assert_eq!(mode_of(&p.path), 0o755);
    assert_eq!(
        entries(&out),
        ["site"],
        "no temporary or old directory left behind"
    );
    assert_eq!(entries(&p.path), [".env", "README.md", "bin", "lib"]);
    assert_eq!(fs::read_to_string(p.path.join("lib/z.txt")).unwrap(), "z\n");
    assert_eq!(mode_of(&p.path.join("bin/tool")), 0o755);
    assert_eq!(
        fs::read_link(p.path.join("lib/current")).unwrap(),
        Path::new("a.txt")
    );
}

#[test]
fn names_may_nest_but_never_escape_the_destination() {
    let t = sample();
    let sel = select(&t.root, &spec(&["README.md"])).unwrap();
    let out = t.out("out");
    let p = package(&sel, &out, "builds/7/readme.zip", Packaging::Zip).unwrap();
    assert!(p.path.is_file());
    for bad in [
        "",
        "../evil.zip",
        "/tmp/evil.zip",
        "a/../b.zip",
        "a//b.zip",
        "dir/",
    ] {
        let err = package(&sel, &out, bad, Packaging::Zip).unwrap_err();
        assert!(
            matches!(err, ArtifactError::InvalidName { .. }),
            "{bad:?}: {err}"
        );
    }
    assert!(!t.tmp.path().join("evil.zip").exists());
}

#[test]
fn a_source_deleted_after_selection_leaves_nothing_at_the_final_name() {
    for packaging in [Packaging::Zip, Packaging::Directory] {
        let t = sample();
        let sel = select(&t.root, &spec(&["**/*"])).unwrap();
        fs::remove_file(t.root.join("lib/a.txt")).unwrap();
        let out = t.out("out");
        let err = package(&sel, &out, "art", packaging).unwrap_err();
        let ArtifactError::Io { path, .. } = &err else {
            panic!("{err}")
        };
        assert!(path.ends_with("lib/a.txt"), "{err}");
        assert!(
            entries(&out).is_empty(),
            "{packaging:?}: {:?}",
            entries(&out)
        );
    }
}

#[test]
fn a_source_changed_after_selection_fails_and_keeps_the_previous_artifact() {
    for packaging in [Packaging::Zip, Packaging::Directory] {
        let t = sample();
        let sel = select(&t.root, &spec(&["**/*"])).unwrap();
        let out = t.out("out");
        let old = package(&sel, &out, "art", packaging).unwrap();
        fs::write(t.root.join("lib/z.txt"), "tampered\n").unwrap();
        let err = package(&sel, &out, "art", packaging).unwrap_err();
        assert!(matches!(err, ArtifactError::SourceChanged { .. }), "{err}");
        assert!(err.to_string().contains("lib/z.txt"), "{err}");
        assert_eq!(entries(&out), ["art"]);
        if let Some(sha) = old.sha256 {
            assert_eq!(sha256_file(&old.path), sha);
        } else {
            assert_eq!(
                fs::read_to_string(old.path.join("lib/z.txt")).unwrap(),
                "z\n"
            );
        }
    }
}

#[test]
fn a_source_swapped_for_an_escaping_symlink_is_not_read() {
    let t = sample();
    let sel = select(&t.root, &spec(&["**/*"])).unwrap();
    fs::remove_file(t.root.join("README.md")).unwrap();
    std::os::unix::fs::symlink(t.outside.join("secret.txt"), t.root.join("README.md")).unwrap();
    let out = t.out("out");
    let err = package(&sel, &out, "a.zip", Packaging::Zip).unwrap_err();
    assert!(matches!(err, ArtifactError::Io { .. }), "{err}");
    assert!(entries(&out).is_empty());
}

#[test]
fn hand_made_selections_cannot_escape() {
    let t = sample();
    let sel = select(&t.root, &spec(&["README.md"])).unwrap();
    let out = t.out("out");
    let mut bad = sel.clone();
    bad.files[0].path = "../../evil".into();
    let err = package(&bad, &out, "d", Packaging::Directory).unwrap_err();
    assert!(matches!(err, ArtifactError::UnsafeEntry { .. }), "{err}");
    let mut bad = sel.clone();
    bad.files[0].source = t.outside.join("secret.txt");
    let err = package(&bad, &out, "d", Packaging::Directory).unwrap_err();
    assert!(matches!(err, ArtifactError::UnsafeEntry { .. }), "{err}");
    let mut bad = sel.clone();
    bad.files.push(bad.files[0].clone());
    assert!(matches!(
        package(&bad, &out, "d", Packaging::Zip),
        Err(ArtifactError::DuplicatePath { .. })
    ));
    assert!(entries(&out).is_empty());
}

const HELPER_ENV: &str = "KILN_ARTIFACTS_SIGKILL_HELPER";

/// Run only as a child of `sigkill_mid_write_leaves_no_file_at_the_final_name`: packages
/// the tree given in the environment, slowly enough to be killed mid-write.
#[test]
fn sigkill_helper() {
    let Ok(dir) = std::env::var(HELPER_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let sel = select(&dir.join("src"), &spec(&["**/*"])).unwrap();
    package(&sel, &dir.join("out"), "big.zip", Packaging::Zip).unwrap();
}

#[test]
fn sigkill_mid_write_leaves_no_file_at_the_final_name() {
    let t = Tree::new();
    // 48 MiB of incompressible data keeps deflate busy for a while.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..48 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    fs::write(t.root.join("big.bin"), data).unwrap();
    let out = t.out("out");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "sigkill_helper",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, t.tmp.path())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mid_write = loop {
        let tmp = fs::read_dir(&out)
            .unwrap()
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().ends_with(".kiln-tmp"));
        if tmp
            .and_then(|e| e.metadata().ok())
            .is_some_and(|m| m.len() > 0)
        {
            break true;
        }
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(
        mid_write,
        "the helper finished ({status}) before it could be killed mid-write"
    );
    assert!(
        !out.join("big.zip").exists(),
        "a killed write left a file at the final name"
    );
    // Only the hidden temporary file may remain.
    assert!(
        entries(&out)
            .iter()
            .all(|e| e.starts_with(".big.zip.") && e.ends_with(".kiln-tmp"))
    );
}
