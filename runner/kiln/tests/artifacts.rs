//! UPLOAD_ARTIFACTS on the real binary: file selection (base-directory, discard-paths,
//! exclude-paths), names evaluated by the shell, secondary artifacts, directory and zip packaging,
//! the digests in build.json, and symlinks that point out of the working copy.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

const MAKE_DIST: &str = r#"      - mkdir -p dist/js/lib dist/css dist/.hidden other
      - echo app > dist/js/app.js
      - echo lib > dist/js/lib/util.js
      - echo 'body{}' > dist/css/site.css
      - echo map > dist/js/app.js.map
      - echo hidden > dist/.hidden/x
      - echo other > other/o.txt
      - export VERSION=1.2.3
"#;

fn spec(artifacts: &str) -> String {
    format!("version: 0.2\nphases:\n  build:\n    commands:\n{MAKE_DIST}artifacts:\n{artifacts}")
}

/// `(path, sha256, size)` of each file in an artifact record.
fn record_files(a: &Value) -> Vec<(String, String, u64)> {
    a["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["sha256"].as_str().unwrap().to_string(), f["size"].as_u64().unwrap()))
        .collect()
}

/// The record's files must be exactly the files of the directory artifact, with their digests.
fn check_directory_artifact(a: &Value, want: &[&str]) -> PathBuf {
    let loc = PathBuf::from(a["location"].as_str().expect("location"));
    assert!(loc.is_dir(), "{} is a directory", loc.display());
    assert_eq!(rel_files(&loc), want, "files on disk in {}", loc.display());
    let files = record_files(a);
    assert_eq!(files.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), want, "files in the record");
    for (path, sha, size) in files {
        let on_disk = loc.join(&path);
        assert_eq!(sha, sha256sum(&on_disk), "sha256 of {path}");
        assert_eq!(size, std::fs::metadata(&on_disk).unwrap().len(), "size of {path}");
    }
    assert!(a["sha256sum"].is_null(), "a directory has no archive digest");
    loc
}

#[test]
fn base_directory_exclude_paths_and_shell_evaluated_name() {
    let p = Project::new(&spec(
        "  base-directory: dist\n  files:\n    - '**/*'\n  exclude-paths:\n    - '**/*.map'\n    - '.hidden/**/*'\n  name: web-$VERSION-$(echo abc | tr a-c x-z)\n",
    ));
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let a = &b.record["artifacts"];
    let loc = check_directory_artifact(a, &["css/site.css", "js/app.js", "js/lib/util.js"]);
    assert_eq!(loc, b.artifacts_dir().join("web-1.2.3-xyz"), "name uses the build's variables and command substitution");
    assert_eq!(std::fs::read_to_string(loc.join("js/app.js")).unwrap(), "app\n");
    assert!(a["artifactIdentifier"].is_null());
    assert_eq!(b.disk_record()["artifacts"], *a);
}

#[test]
fn discard_paths_and_secondary_artifacts() {
    let p = Project::new(&spec(
        r#"  files:
    - 'dist/**/*.js'
  discard-paths: yes
  secondary-artifacts:
    styles:
      base-directory: dist
      files: ['css/*']
    everything:
      files:
        - 'dist/**/*'
        - other/o.txt
      exclude-paths: ['**/.*/**/*']
"#,
    ));
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let primary = check_directory_artifact(&b.record["artifacts"], &["app.js", "util.js"]);
    assert_eq!(primary, b.artifacts_dir().join("app"), "the primary artifact is named after the project by default");
    let secondary = b.record["secondaryArtifacts"].as_array().unwrap();
    let ids: Vec<&str> = secondary.iter().map(|a| a["artifactIdentifier"].as_str().unwrap()).collect();
    assert_eq!(ids, ["styles", "everything"], "{}", b.describe());
    let styles = check_directory_artifact(&secondary[0], &["css/site.css"]);
    assert_eq!(styles, b.artifacts_dir().join("styles"), "a secondary artifact is named after its identifier by default");
    check_directory_artifact(&secondary[1], &["dist/css/site.css", "dist/js/app.js", "dist/js/app.js.map", "dist/js/lib/util.js", "other/o.txt"]);
}

/// Entry names of a zip, as Python's zipfile reads them.
fn zip_names(zip: &Path) -> Vec<String> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint('\\n'.join(sorted(z.namelist())))", zip.to_str().unwrap()])
        .output()
        .expect("python3");
    assert!(out.status.success(), "python3 zipfile: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// One member's bytes, read with Python's zipfile.
fn zip_read(zip: &Path, name: &str) -> Vec<u8> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys, zipfile\nsys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))", zip.to_str().unwrap(), name])
        .output()
        .expect("python3");
    assert!(out.status.success(), "read {name}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn zip_packaging() {
    let p = Project::new(&spec(
        "  base-directory: dist\n  files: ['**/*']\n  exclude-paths: ['**/*.map']\n  name: site-$VERSION\n  secondary-artifacts:\n    other:\n      files: [other/o.txt]\n",
    ));
    let b = p.build(&["--zip"]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let a = &b.record["artifacts"];
    let zip = PathBuf::from(a["location"].as_str().unwrap());
    assert_eq!(zip, b.artifacts_dir().join("site-1.2.3.zip"));
    let want = [".hidden/x", "css/site.css", "js/app.js", "js/lib/util.js"];
    assert_eq!(zip_names(&zip), want);
    assert_eq!(a["sha256sum"].as_str(), Some(sha256sum(&zip).as_str()), "the zip's digest");
    let files = record_files(a);
    assert_eq!(files.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), want);
    for (path, sha, size) in files {
        let bytes = zip_read(&zip, &path);
        let tmp = p.side_dir("unzipped").join(path.replace('/', "_"));
        std::fs::write(&tmp, &bytes).unwrap();
        assert_eq!((sha, size), (sha256sum(&tmp), bytes.len() as u64), "digest of {path} matches the zipped bytes");
    }
    let other = PathBuf::from(b.record["secondaryArtifacts"][0]["location"].as_str().unwrap());
    assert_eq!(other, b.artifacts_dir().join("other.zip"));
    assert_eq!(zip_names(&other), ["other/o.txt"]);
    assert_eq!(zip_read(&other, "other/o.txt"), b"other\n");
}

#[test]
fn symlinks_out_of_the_working_copy_are_not_packaged() {
    let p = Project::new(
        r#"version: 0.2
phases:
  build:
    commands:
      - ln -s /etc/passwd made-at-build-time
      - ln -s /etc etc-dir
artifacts:
  files: ['**/*']
  exclude-paths: [buildspec.yml]
"#,
    );
    p.write("ok.txt", "ok\n");
    std::os::unix::fs::symlink("/etc/passwd", p.src.join("passwd")).unwrap();
    std::fs::create_dir_all(p.src.join("sub")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../etc/passwd", p.src.join("sub/relative-passwd")).unwrap();
    std::os::unix::fs::symlink("ok.txt", p.src.join("inner-link")).unwrap();
    let passwd = std::fs::read("/etc/passwd").unwrap();
    for zip in [false, true] {
        let b = p.build(if zip { &["--zip"] } else { &[] });
        assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
        let a = &b.record["artifacts"];
        let names: Vec<String> = record_files(a).into_iter().map(|f| f.0).collect();
        assert_eq!(names, ["inner-link", "ok.txt"], "only files inside the working copy (zip: {zip})\n{}", b.describe());
        let loc = PathBuf::from(a["location"].as_str().unwrap());
        if zip {
            assert_eq!(zip_names(&loc), names);
            assert_eq!(zip_read(&loc, "inner-link"), b"ok\n", "an internal link is followed");
        } else {
            assert_eq!(rel_files(&loc), names);
            for f in files_under(&loc) {
                assert_ne!(std::fs::read(&f).unwrap(), passwd, "{} holds /etc/passwd", f.display());
            }
        }
        for leak in ["passwd", "relative-passwd", "made-at-build-time", "etc-dir"] {
            assert!(b.log().contains(leak), "the skipped link {leak} is reported\n{}", b.log());
        }
    }
}

#[test]
fn no_matching_files_fails_upload_artifacts() {
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - echo built\nartifacts:\n  files:\n    - dist/**/*\n");
    let b = p.build(&[]);
    assert_eq!((b.code, b.status()), (1, "FAILED"), "{}", b.describe());
    assert_eq!(b.phase_status("BUILD"), Some("SUCCEEDED"));
    assert_eq!(b.phase_status("UPLOAD_ARTIFACTS"), Some("FAILED"));
    let (code, msg) = b.context("UPLOAD_ARTIFACTS").unwrap();
    assert_eq!(code, "CLIENT_ERROR");
    assert!(msg.contains("no matching artifact paths found"), "{msg}");
    assert!(b.record["artifacts"].is_null());
}
