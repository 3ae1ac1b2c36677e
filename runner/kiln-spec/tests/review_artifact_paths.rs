//! Issue 11, item 15: `kiln validate` accepted artifact paths that the upload then refused.
//!
//! kiln-artifacts refuses a `files`, `exclude-paths` or `base-directory` pattern that is absolute
//! or has a `..` component, and an artifact `name` that is absolute or climbs with `..`. These are
//! now reported when the buildspec is read (so by `kiln validate`, and before a build runs), at
//! the value's line and column: `..` as an error (E0301), an absolute pattern as a warning
//! (W0301) because CodeBuild accepts those and real buildspecs use them. Real patterns (`**/*`,
//! `./dist`, globbed base directories, shell expansions, absolute `cache.paths`) stay clean.
//!
//! Every buildspec here is generated in the test; no file outside the repository is read.

use kiln_spec::{parse_buildspec, Diagnostic, Severity};

fn errors(d: &[Diagnostic]) -> Vec<&Diagnostic> {
    d.iter().filter(|d| d.is_error()).collect()
}

fn plain(d: &[Diagnostic]) -> String {
    d.iter().map(|d| d.to_plain("buildspec.yml")).collect::<Vec<_>>().join("\n")
}

fn spec_with_artifacts(artifacts: &str) -> String {
    format!("version: 0.2\nphases:\n  build:\n    commands:\n      - make\nartifacts:\n{artifacts}")
}

/// (code, line, col, message) of every diagnostic.
fn located(src: &str) -> Vec<(&'static str, Severity, u32, u32, String)> {
    parse_buildspec(src).diagnostics.into_iter().map(|d| (d.code, d.severity, d.span.line, d.span.col, d.message)).collect()
}

#[test]
fn dot_dot_in_artifact_files_is_an_error_at_the_pattern() {
    let src = spec_with_artifacts("  files:\n    - dist/**/*\n    - ../secrets/*\n");
    let parsed = parse_buildspec(&src);
    assert!(parsed.spec.is_none(), "{}", plain(&parsed.diagnostics));
    let errs = errors(&parsed.diagnostics);
    assert_eq!(errs.len(), 1, "{}", plain(&parsed.diagnostics));
    let e = errs[0];
    assert_eq!(e.code, "E0301");
    assert_eq!((e.span.line, e.span.col), (9, 7));
    assert!(e.message.contains("artifacts.files") && e.message.contains("../secrets/*"), "{}", e.message);
    assert!(e.message.contains("..") , "{}", e.message);
    assert!(e.help.as_deref().unwrap_or_default().contains("working copy"), "{:?}", e.help);
}

#[test]
fn absolute_artifact_files_and_exclude_paths_are_located_warnings() {
    // CodeBuild accepts absolute paths (AWS's own buildspecs package `/tmp/buildArtifacts/*`), so
    // the buildspec stays valid; kiln's upload refuses them, so validate says so, located.
    let src = spec_with_artifacts("  files:\n    - /etc/passwd\n  exclude-paths:\n    - '/tmp/**/*'\n");
    let parsed = parse_buildspec(&src);
    assert!(parsed.spec.is_some(), "{}", plain(&parsed.diagnostics));
    let d = located(&src);
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!((d[0].0, d[0].1, d[0].2, d[0].3), ("W0301", Severity::Warning, 8, 7));
    assert!(d[0].4.contains("artifacts.files") && d[0].4.contains("absolute"), "{}", d[0].4);
    assert_eq!((d[1].0, d[1].1, d[1].2, d[1].3), ("W0301", Severity::Warning, 10, 7));
    assert!(d[1].4.contains("artifacts.exclude-paths"), "{}", d[1].4);
}

#[test]
fn an_absolute_artifact_name_is_an_error() {
    let src = spec_with_artifacts("  files: ['**/*']\n  name: /home/me/out\n");
    let d = located(&src);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].0, d[0].1, d[0].2, d[0].3), ("E0301", Severity::Error, 8, 9));
}

#[test]
fn dot_dot_in_base_directory_and_secondary_artifacts_is_an_error() {
    let src = spec_with_artifacts(concat!(
        "  files: ['**/*']\n",
        "  base-directory: build/../../out\n",
        "  secondary-artifacts:\n",
        "    docs:\n",
        "      files:\n",
        "        - site/../../../home/*\n",
        "      name: ../escape\n",
    ));
    let d = located(&src);
    let errs: Vec<_> = d.iter().filter(|d| d.1 == Severity::Error).collect();
    assert_eq!(errs.len(), 3, "{d:?}");
    assert_eq!((errs[0].2, errs[0].3), (8, 19));
    assert!(errs[0].4.contains("artifacts.base-directory"), "{}", errs[0].4);
    assert_eq!((errs[1].2, errs[1].3), (12, 11));
    assert!(errs[1].4.contains("artifacts.secondary-artifacts.docs.files"), "{}", errs[1].4);
    assert_eq!((errs[2].2, errs[2].3), (13, 13));
    assert!(errs[2].4.contains("artifacts.secondary-artifacts.docs.name"), "{}", errs[2].4);
}

#[test]
fn an_absolute_base_directory_is_a_warning_because_codebuild_accepts_it() {
    // AWS's own buildspecs use `base-directory: /tmp/testArtifacts`; kiln packages only the
    // working copy, so it says so before the build instead of failing at UPLOAD_ARTIFACTS.
    let src = spec_with_artifacts("  files: ['**/*']\n  base-directory: /tmp/testArtifacts\n");
    let parsed = parse_buildspec(&src);
    assert!(parsed.spec.is_some(), "{}", plain(&parsed.diagnostics));
    let w: Vec<_> = parsed.diagnostics.iter().filter(|d| d.code == "W0301").collect();
    assert_eq!(w.len(), 1, "{}", plain(&parsed.diagnostics));
    assert_eq!((w[0].span.line, w[0].span.col), (8, 19));
    assert!(w[0].help.as_deref().unwrap_or_default().contains("cp "), "{:?}", w[0].help);
}

#[test]
fn a_pattern_under_codebuild_src_dir_is_a_warning_with_the_relative_spelling() {
    // A real buildspec's `$CODEBUILD_SRC_DIR/packages/.../*`: it names the working copy, but it
    // expands to an absolute path, which kiln's upload refuses.
    let src = spec_with_artifacts("  files:\n    - $CODEBUILD_SRC_DIR/packages/reports/*\n  base-directory: ${CODEBUILD_SRC_DIR}\n");
    let parsed = parse_buildspec(&src);
    assert!(parsed.spec.is_some(), "{}", plain(&parsed.diagnostics));
    let w: Vec<_> = parsed.diagnostics.iter().filter(|d| d.code == "W0302").collect();
    assert_eq!(w.len(), 2, "{}", plain(&parsed.diagnostics));
    assert_eq!((w[0].span.line, w[0].span.col), (8, 7));
    assert!(w[0].help.as_deref().unwrap_or_default().contains("`packages/reports/*`"), "{:?}", w[0].help);
    assert_eq!((w[1].span.line, w[1].span.col), (9, 19));
    assert!(w[1].help.as_deref().unwrap_or_default().contains("leave `base-directory` out"), "{:?}", w[1].help);
}

#[test]
fn real_artifact_patterns_stay_valid() {
    let src = concat!(
        "version: 0.2\n",
        "phases:\n  build:\n    commands:\n      - make\n",
        "artifacts:\n",
        "  files:\n",
        "    - '**/*'\n",
        "    - ./dist/**/*\n",
        "    - target/*.jar\n",
        "    - ..hidden/file\n",
        "    - 'a..b/c...'\n",
        "    - $CODEBUILD_SRC_DIR_other/out/*\n",
        "    - test_vector_handlers/$CODEBUILD_RESOLVED_SOURCE_VERSION/x.zip\n",
        "    - $(basename /a/../b)/*\n",
        "  base-directory: 'my-build*'\n",
        "  exclude-paths: ['**/.*/**/*', '**/.*']\n",
        "  name: build-$(date +%Y-%m-%d)/app\n",
        "  discard-paths: yes\n",
        "  secondary-artifacts:\n",
        "    second:\n",
        "      files: [out/**/*]\n",
        "      base-directory: location\n",
        "cache:\n  paths:\n    - '/root/.m2/**/*'\n",
        "reports:\n  unit:\n    files: ['**/*.xml']\n    base-directory: build/test-results\n",
    );
    let parsed = parse_buildspec(src);
    assert!(parsed.diagnostics.is_empty(), "{}", plain(&parsed.diagnostics));
    assert!(parsed.spec.is_some());
}

