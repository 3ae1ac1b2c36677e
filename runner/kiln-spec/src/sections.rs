//! Conversion of the buildspec sections other than `phases`: env, proxy, artifacts, reports, cache
//! and kiln's own `kiln:` settings (`batch` is `batch.rs`).

use crate::diag::Diagnostic;
use crate::model::*;
use crate::read::{is_var_name, Ctx};
use crate::yaml::Node;

const ENV_KEYS: &[&str] =
    &["shell", "variables", "parameter-store", "secrets-manager", "exported-variables", "git-credential-helper"];
/// Shells CodeBuild accepts in `env.shell` (Linux ones first).
pub const SHELLS: &[&str] = &["bash", "/bin/sh", "sh", "powershell.exe", "cmd.exe"];

pub(crate) fn env(cx: &mut Ctx, node: &Node) -> Env {
    let mut env = Env::default();
    for f in cx.fields(node, "env", ENV_KEYS) {
        let what = format!("env.{}", f.key);
        match f.key {
            "shell" => {
                if let Some(s) = cx.string(f.value, &what) {
                    if !SHELLS.contains(&s.value.as_str()) {
                        cx.error("E0200", format!("unsupported shell `{}`", s.value), s.span).help =
                            Some("on Linux CodeBuild accepts `bash` or `/bin/sh`".into());
                    }
                    env.shell = Some(s);
                }
            }
            "variables" => env.variables = cx.env_entries(f.value, &what, true),
            "parameter-store" => env.parameter_store = cx.env_entries(f.value, &what, true),
            "secrets-manager" => env.secrets_manager = cx.env_entries(f.value, &what, true),
            "exported-variables" => {
                env.exported_variables = cx.string_list(f.value, &what);
                for v in &env.exported_variables {
                    if !is_var_name(&v.value) {
                        cx.error("E0201", format!("`{}` is not a valid variable name to export", v.value), v.span);
                    }
                }
            }
            "git-credential-helper" => env.git_credential_helper = cx.boolean(f.value, &what).unwrap_or(false),
            _ => {}
        }
    }
    let declared: Vec<&EnvEntry> = env.variables.iter().chain(&env.parameter_store).chain(&env.secrets_manager).collect();
    for (i, a) in declared.iter().enumerate() {
        if let Some(b) = declared[..i].iter().find(|b| b.name.value == a.name.value) {
            cx.warn("W0200", format!("`{}` is set in more than one env section", a.name.value), a.name.span).help =
                Some(format!("the value from line {} is overridden by this one", b.name.span.line));
        }
    }
    env
}

pub(crate) fn proxy(cx: &mut Ctx, node: &Node) -> Proxy {
    let mut p = Proxy::default();
    for f in cx.fields(node, "proxy", &["upload-artifacts", "logs"]) {
        let v = cx.boolean(f.value, &format!("proxy.{}", f.key)).unwrap_or(false);
        match f.key {
            "upload-artifacts" => p.upload_artifacts = v,
            _ => p.logs = v,
        }
    }
    p
}

const ARTIFACT_KEYS: &[&str] =
    &["files", "name", "discard-paths", "base-directory", "exclude-paths", "enable-symlinks", "s3-prefix", "secondary-artifacts"];

fn artifact_set(cx: &mut Ctx, node: &Node, what: &str, allow_secondary: bool) -> (ArtifactSet, Option<&'static str>) {
    let keys: &[&str] = if allow_secondary { ARTIFACT_KEYS } else { &ARTIFACT_KEYS[..7] };
    let mut set = ArtifactSet { span: node.span, ..Default::default() };
    let mut has_files = false;
    for f in cx.fields(node, what, keys) {
        let sub = format!("{what}.{}", f.key);
        match f.key {
            "files" => {
                has_files = true;
                set.files = cx.string_list(f.value, &sub);
                set.files.iter().for_each(|p| check_artifact_path(cx, &sub, PathField::Pattern, p));
            }
            "name" => {
                set.name = cx.string(f.value, &sub);
                set.name.iter().for_each(|p| check_artifact_path(cx, &sub, PathField::Name, p));
            }
            "discard-paths" => set.discard_paths = cx.boolean(f.value, &sub).unwrap_or(false),
            "base-directory" => {
                set.base_directory = cx.string(f.value, &sub);
                set.base_directory.iter().for_each(|p| check_artifact_path(cx, &sub, PathField::BaseDirectory, p));
            }
            "exclude-paths" => {
                set.exclude_paths = cx.string_list(f.value, &sub);
                set.exclude_paths.iter().for_each(|p| check_artifact_path(cx, &sub, PathField::Pattern, p));
            }
            "enable-symlinks" => set.enable_symlinks = cx.boolean(f.value, &sub).unwrap_or(false),
            "s3-prefix" => set.s3_prefix = cx.string(f.value, &sub),
            _ => {}
        }
    }
    (set, (!has_files).then_some("files"))
}

/// Which kind of artifact path a value is, for [`check_artifact_path`].
#[derive(Clone, Copy, PartialEq)]
enum PathField {
    /// `files` and `exclude-paths`: globs relative to the working copy or `base-directory`.
    Pattern,
    /// `base-directory`: a directory (or glob of directories) of the working copy.
    BaseDirectory,
    /// `name`: the artifact's path under the build's artifacts directory.
    Name,
}

/// Report, at validate time, an artifact path that kiln's upload would refuse: an absolute path
/// or a `..` component (kiln-artifacts refuses both in `files`, `exclude-paths` and
/// `base-directory`, and in the artifact name). Only the literal text is judged: what `$VAR` or
/// `$(cmd)` expands to is known at upload, so a `..` inside a command substitution is left alone.
///
/// A `..` component, and an absolute artifact `name`, are errors (E0301): they leave the working copy
/// (or the artifacts directory), no real buildspec seen needs them, and kiln refuses them by design.
/// An absolute `files`, `exclude-paths` or `base-directory` is a warning (W0301): CodeBuild accepts it
/// (AWS's own buildspecs use `base-directory: /tmp/testArtifacts` and `files: [/tmp/buildArtifacts/*]`),
/// so the buildspec is valid, but a kiln build will fail at UPLOAD_ARTIFACTS and the user should
/// hear that before it runs.
fn check_artifact_path(cx: &mut Ctx, what: &str, field: PathField, path: &Spanned<String>) {
    let raw = path.value.as_str();
    // The literal part: up to the first command substitution. Its last piece runs into the
    // substitution, so only the components before it are whole.
    let (literal, cut) = match raw.find("$(").into_iter().chain(raw.find('`')).min() {
        Some(i) => (&raw[..i], true),
        None => (raw, false),
    };
    let mut parts: Vec<&str> = literal.split('/').collect();
    if cut {
        parts.pop();
    }
    let absolute = raw.starts_with('/') || raw.starts_with('\\');
    let dot_dot = parts.contains(&"..");
    if !absolute && !dot_dot {
        if let Some(rest) = under_src_dir(raw) {
            src_dir_prefix(cx, what, field, path, rest);
        }
        return;
    }
    let relative_to = match field {
        PathField::Pattern => "the working copy (or to `base-directory`)",
        PathField::BaseDirectory => "the working copy",
        PathField::Name => "the build's artifacts directory",
    };
    let inside = match field {
        PathField::Pattern => "the working copy (or `base-directory`)",
        PathField::BaseDirectory => "the working copy",
        PathField::Name => "the build's artifacts directory",
    };
    let copy_in = "copy the files into the working copy in a build command (e.g. in `post_build`) and name them relative to it";
    if dot_dot {
        let help = match field {
            PathField::Name => "drop the `..`: the name is a path under the artifacts directory (it may contain `/` for sub-directories)".to_string(),
            _ => format!("{copy_in}; kiln packages only the working copy"),
        };
        cx.diags.push(
            Diagnostic::error("E0301", format!("`{what}` `{raw}` has a `..` component; kiln's upload refuses paths that leave {inside}"), path.span)
                .with_label("refused at UPLOAD_ARTIFACTS")
                .with_help(help),
        );
        return;
    }
    if field == PathField::Name {
        cx.diags.push(
            Diagnostic::error("E0301", format!("`{what}` `{raw}` is an absolute path; the artifact name is a path under {relative_to}, and kiln's upload refuses it"), path.span)
                .with_label("refused at UPLOAD_ARTIFACTS")
                .with_help("drop the leading `/`: the name may contain `/` for sub-directories of the artifacts directory"),
        );
        return;
    }
    let help = match field {
        PathField::BaseDirectory => {
            let name = literal.trim_end_matches('/').rsplit('/').next().filter(|n| !cut && is_plain_name(n));
            match name {
                Some(n) => format!(
                    "copy the directory into the working copy at the end of the build (e.g. `cp -r {raw} {n}` in `post_build`) and set `base-directory: {n}`"
                ),
                None => format!("{copy_in}, e.g. with `cp -r`, and set `base-directory` to that directory"),
            }
        }
        _ => format!("write it relative to the working copy; for files outside it, {copy_in} (e.g. with `cp -r`)"),
    };
    cx.diags.push(
        Diagnostic::warning(
            "W0301",
            format!("`{what}` `{raw}` is an absolute path: CodeBuild accepts it, but kiln's upload takes paths relative to {relative_to} and will refuse it"),
            path.span,
        )
        .with_label("refused at UPLOAD_ARTIFACTS")
        .with_help(help),
    );
}

/// The rest of `raw` after a leading `$CODEBUILD_SRC_DIR` or `${CODEBUILD_SRC_DIR}` (and the `/`
/// after it), if it starts with one.
fn under_src_dir(raw: &str) -> Option<&str> {
    let rest = raw.strip_prefix("$CODEBUILD_SRC_DIR").or_else(|| raw.strip_prefix("${CODEBUILD_SRC_DIR}"))?;
    match rest {
        "" => Some(""),
        _ => rest.strip_prefix('/').map(|r| r.trim_start_matches('/')),
    }
}

/// `$CODEBUILD_SRC_DIR/…` is the working copy, but it expands to an absolute path, which kiln's
/// upload refuses (as it refuses any absolute path): a warning, with the relative spelling that
/// means the same.
fn src_dir_prefix(cx: &mut Ctx, what: &str, field: PathField, path: &Spanned<String>, rest: &str) {
    let raw = &path.value;
    let help = match (field, rest) {
        (PathField::BaseDirectory, "") => "leave `base-directory` out: paths are relative to the working copy already".to_string(),
        (PathField::Name, _) => return,
        (_, "") => "name the files relative to the working copy, e.g. `**/*`".to_string(),
        (_, r) => format!("write `{r}`: paths are relative to the working copy ($CODEBUILD_SRC_DIR) already"),
    };
    cx.diags.push(
        Diagnostic::warning(
            "W0302",
            format!("`{what}` `{raw}` expands to an absolute path (the working copy's), which kiln's upload refuses"),
            path.span,
        )
        .with_label("refused at UPLOAD_ARTIFACTS")
        .with_help(help),
    );
}

/// A path component without glob or shell characters, fit to suggest as a directory name.
fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub(crate) fn artifacts(cx: &mut Ctx, node: &Node) -> Artifacts {
    let (primary, missing) = artifact_set(cx, node, "artifacts", true);
    let mut secondary = Vec::new();
    for f in cx.fields(node, "artifacts", ARTIFACT_KEYS) {
        if f.key != "secondary-artifacts" {
            continue;
        }
        for s in cx.fields(f.value, "artifacts.secondary-artifacts", &[]) {
            let what = format!("artifacts.secondary-artifacts.{}", s.key);
            let (set, missing) = artifact_set(cx, s.value, &what, false);
            if missing.is_some() {
                cx.error("E0300", format!("secondary artifact `{}` has no `files`", s.key), s.key_node.span).help =
                    Some("list the files to package under `files:`".into());
            }
            secondary.push((Spanned::new(s.key.to_string(), s.key_node.span), set));
        }
    }
    if missing.is_some() && secondary.is_empty() {
        cx.error("E0300", "`artifacts` has no `files`".into(), node.span).help =
            Some("list the files to package, e.g. `files: ['**/*']`".into());
    }
    Artifacts { primary, secondary }
}

pub(crate) fn reports(cx: &mut Ctx, node: &Node) -> Vec<ReportGroup> {
    let mut out = Vec::new();
    for f in cx.fields(node, "reports", &[]) {
        let what = format!("reports.{}", f.key);
        let mut r = ReportGroup {
            name: Spanned::new(f.key.to_string(), f.key_node.span),
            files: Vec::new(),
            base_directory: None,
            discard_paths: false,
            file_format: "JUNITXML".into(),
        };
        let mut has_files = false;
        for rf in cx.fields(f.value, &what, &["files", "base-directory", "discard-paths", "file-format"]) {
            let sub = format!("{what}.{}", rf.key);
            match rf.key {
                "files" => {
                    has_files = true;
                    r.files = cx.string_list(rf.value, &sub);
                }
                "base-directory" => r.base_directory = cx.string(rf.value, &sub),
                "discard-paths" => r.discard_paths = cx.boolean(rf.value, &sub).unwrap_or(false),
                "file-format" => {
                    if let Some(s) = cx.string(rf.value, &sub) {
                        // CodeBuild reads the value case-insensitively.
                        let upper = s.value.to_ascii_uppercase();
                        if let Some(known) = REPORT_FORMATS.iter().find(|f| **f == upper) {
                            r.file_format = known.to_string();
                            if KILN_REPORT_FORMATS.contains(known) {
                                cx.warn("W0401", format!("`file-format: {}` is a kiln extension; CodeBuild does not accept it", s.value), s.span).help =
                                    Some("keep it for kiln builds only, or convert the report to a format CodeBuild reads".into());
                            }
                        } else {
                            let near = crate::diag::did_you_mean(&upper, REPORT_FORMATS);
                            cx.error("E0400", format!("unknown report file-format `{}`", s.value), s.span).help = Some(match near {
                                Some(n) => format!("did you mean `{n}`? (one of {})", REPORT_FORMATS.join(", ")),
                                None => format!("use one of {}", REPORT_FORMATS.join(", ")),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        if !has_files {
            cx.error("E0401", format!("report group `{}` has no `files`", f.key), f.key_node.span).help =
                Some("list the report files, e.g. `files: ['**/*.xml']`".into());
        }
        out.push(r);
    }
    out
}

pub(crate) fn cache(cx: &mut Ctx, node: &Node) -> Cache {
    let mut c = Cache::default();
    for f in cx.fields(node, "cache", &["key", "fallback-keys", "action", "paths"]) {
        let what = format!("cache.{}", f.key);
        match f.key {
            "key" => c.key = cx.string(f.value, &what),
            "fallback-keys" => c.fallback_keys = cx.string_list(f.value, &what),
            "action" => {
                c.action = cx.string(f.value, &what);
                if let Some(a) = &c.action
                    && !["restore", "save"].contains(&a.value.as_str())
                {
                    cx.error("E0500", format!("unknown cache action `{}`", a.value), a.span).help =
                        Some("use `restore` or `save` (leave it out to do both)".into());
                }
            }
            "paths" => c.paths = cx.string_list(f.value, &what),
            _ => {}
        }
    }
    c
}

pub(crate) fn kiln(cx: &mut Ctx, node: &Node) -> KilnSettings {
    let mut k = KilnSettings::default();
    let keys = ["network", "timeout-minutes", "phase-timeout-minutes", "writable-paths", "max-processes", "signing", "plugins", "reports", "cache", "report"];
    for f in cx.fields(node, "kiln", &keys) {
        let what = format!("kiln.{}", f.key);
        match f.key {
            "network" => k.network = cx.boolean(f.value, &what).unwrap_or(false),
            "timeout-minutes" | "phase-timeout-minutes" => {
                let v = cx.uint(f.value, &what).and_then(|n| {
                    if (1..=2160).contains(&n) {
                        Some(n as u32)
                    } else {
                        cx.error("E0700", format!("`{what}` must be between 1 and 2160 minutes"), f.value.span);
                        None
                    }
                });
                if f.key == "timeout-minutes" {
                    k.timeout_minutes = v;
                } else {
                    k.phase_timeout_minutes = v;
                }
            }
            "writable-paths" => k.writable_paths = cx.string_list(f.value, &what),
            "signing" => k.signing = Some(kiln_signing(cx, f.value)),
            "plugins" => k.plugins = crate::plugin_policy::plugins(cx, f.value),
            "reports" => k.report_gates = report_gates(cx, f.value),
            "report" => {
                if let Some(v) = cx.string(f.value, &what) {
                    if v.value.eq_ignore_ascii_case("html") {
                        k.report_html = true;
                    } else {
                        cx.error("E0740", format!("`kiln.report` must be `html`, found `{}`", v.value), v.span).help =
                            Some("write `report: html` to get report.html in the build's record (the only format), or remove the key".into());
                    }
                }
            }
            "cache" => {
                for c in cx.fields(f.value, "kiln.cache", &["save-on-failure", "namespace"]) {
                    match c.key {
                        "save-on-failure" => k.cache.save_on_failure = cx.boolean(c.value, "kiln.cache.save-on-failure").unwrap_or(false),
                        _ => k.cache.namespace = cx.string(c.value, "kiln.cache.namespace"),
                    }
                }
            }
            _ => k.max_processes = cx.uint(f.value, &what),
        }
    }
    k
}

/// Severities a `fail-on-findings` gate may name, lowest first (the plugin scanners' scale).
pub const SEVERITIES: &[&str] = &["note", "low", "medium", "high", "critical"];

/// `kiln: reports:`: gates on the build's reports.
fn report_gates(cx: &mut Ctx, node: &Node) -> ReportGates {
    let mut g = ReportGates::default();
    for f in cx.fields(node, "kiln.reports", &["fail-on-test-failures", "min-line-coverage", "min-branch-coverage", "fail-on-findings"]) {
        let what = format!("kiln.reports.{}", f.key);
        match f.key {
            "fail-on-test-failures" => g.fail_on_test_failures = cx.boolean(f.value, &what).unwrap_or(false),
            "fail-on-findings" => {
                if let Some(v) = cx.string(f.value, &what) {
                    let lower = v.value.to_ascii_lowercase();
                    if SEVERITIES.contains(&lower.as_str()) {
                        g.fail_on_findings = Some(Spanned::new(lower, v.span));
                    } else {
                        cx.error("E0730", format!("`{what}` must be one of {}, found `{}`", SEVERITIES.join(", "), v.value), v.span).help =
                            crate::diag::did_you_mean(&lower, SEVERITIES).map(|s| format!("did you mean `{s}`?"));
                    }
                }
            }
            _ => {
                let pct = f.value.as_scalar().and_then(|s| s.trim().trim_end_matches('%').trim().parse::<f64>().ok()).filter(|p| (0.0..=100.0).contains(p));
                match pct {
                    Some(p) if f.key == "min-line-coverage" => g.min_line_coverage = Some(Spanned::new(p, f.value.span)),
                    Some(p) => g.min_branch_coverage = Some(Spanned::new(p, f.value.span)),
                    None => cx.expected(&what, "a percentage between 0 and 100", f.value),
                }
            }
        }
    }
    g
}

/// `kiln: signing:`: the key that signs the provenance. Only a path: the password comes from
/// `KILN_SIGNING_PASSWORD` / `COSIGN_PASSWORD`, never from the buildspec.
fn kiln_signing(cx: &mut Ctx, node: &Node) -> SigningSettings {
    let mut s = SigningSettings::default();
    for f in cx.fields(node, "kiln.signing", &["key", "password"]) {
        if f.key == "password" {
            cx.error("E0721", "a signing password does not belong in the buildspec".into(), f.value.span).help =
                Some("remove it (and change the password if it was ever committed); kiln reads it from COSIGN_PASSWORD or KILN_SIGNING_PASSWORD".into());
            continue;
        }
        if let Some(v) = cx.string(f.value, "kiln.signing.key") {
            if v.value.trim().is_empty() {
                cx.error("E0720", "`kiln.signing.key` is empty".into(), v.span).help =
                    Some("give the path of a cosign.key file, relative to the project (keep it outside the project, e.g. `../keys/cosign.key`) or absolute".into());
            } else {
                s.key = Some(v);
            }
        }
    }
    s
}
