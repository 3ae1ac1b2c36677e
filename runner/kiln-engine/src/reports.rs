//! `reports:` (and CodeBuild's report auto-discovery), run in UPLOAD_ARTIFACTS: each report
//! group's files are selected as artifacts are (`kiln-artifacts`: globs, `base-directory`,
//! `discard-paths`, confined to the working copy), parsed by `kiln-reports` into CodeBuild's
//! report model, and recorded three ways:
//!
//! - in `build.json`'s `reports` array: CodeBuild's `Report` fields, the test cases CodeBuild
//!   keeps (500, failures first) or the per-file coverage or the findings, and kiln's notes;
//! - in the record directory, `reports/<n>-<group>/`: the raw files as read (secret values
//!   masked) and `report.json`, the normalized report; both are provenance byproducts;
//! - in the terminal summary (the CLI reads the record).
//!
//! As in CodeBuild a failing test never fails the build; `kiln: reports:` gates can
//! ([`gate_failures`]). A file that cannot be parsed is a warning naming it and the position,
//! and the report is INCOMPLETE; the build goes on.
//!
//! **Auto-discovery** (CodeBuild's report-auto-discover page): unless the build's final
//! environment sets `CODEBUILD_CONFIG_AUTO_DISCOVER=false`, every file under
//! `CODEBUILD_CONFIG_AUTO_DISCOVER_DIR` (default `**/*`) that no report group already read and
//! whose content is a supported format makes a report in the group
//! `<project>-<FORMAT>-AutoDiscovered`, one per format. How CodeBuild recognises a file is not
//! documented; kiln sniffs the first 4 KiB of files named `*.xml`, `*.json`, `*.trx`, `*.info`,
//! `*.lcov` and `*.sarif` ([`kiln_reports::sniff`]), skips `.git/`, never follows links, and looks
//! at no more than [`DISCOVER_MAX_FILES`] files (a warning says when it stopped).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use kiln_artifacts::{ArtifactSpec, Selection};
use kiln_reports::{Format, ReportBuilder, ReportOutput, ReportStatus, ReportType, Severity, TestStatus};
use kiln_sandbox::Sandbox;
use kiln_secrets::Masker;
use kiln_spec::{ReportGates, ReportGroup};
use serde::Serialize;

use crate::shell::ShellSession;

/// Kept in `build.json` per report, of each list (CodeBuild keeps 500 test cases per report).
pub const RECORD_ITEMS: usize = 500;
/// Files auto-discovery looks at, at most.
pub const DISCOVER_MAX_FILES: usize = 20_000;
const SNIFF_BYTES: usize = 4096;
const DISCOVER_EXTENSIONS: &[&str] = &["xml", "json", "trx", "info", "lcov", "sarif"];

/// What report collection needs from the build.
pub struct ReportsContext<'a> {
    pub shell: &'a ShellSession,
    pub sandbox: &'a Sandbox,
    pub work_dir: &'a Path,
    pub record_dir: &'a Path,
    pub masker: &'a Masker,
    pub project: &'a str,
    pub region: &'a str,
    pub build_arn: &'a str,
}

/// One report in `build.json`: CodeBuild's `Report` object, then what kiln keeps beside it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportRecord {
    #[serde(flatten)]
    pub report: kiln_reports::Report,
    /// Test cases (TestCase objects): at most [`RECORD_ITEMS`], FAILED and ERROR first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test_cases: Vec<kiln_reports::TestCase>,
    /// Per-file coverage (CodeCoverage objects): at most [`RECORD_ITEMS`], lowest line coverage
    /// first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub code_coverages: Vec<kiln_reports::CodeCoverage>,
    /// Findings of a security report: at most [`RECORD_ITEMS`], most severe first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<kiln_reports::Finding>,
    pub kiln: ReportKiln,
}

/// kiln's notes on one report.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportKiln {
    /// The group's `file-format`.
    pub file_format: String,
    /// Made by auto-discovery rather than a `reports:` group.
    pub auto_discovered: bool,
    /// The raw files read: path as recorded (after `discard-paths`), sha256, size.
    pub files: Vec<RawFile>,
    /// The normalized report, relative to the record directory.
    pub normalized: Option<String>,
    /// Problems met, each naming the file and position.
    pub warnings: Vec<String>,
}

/// One raw report file.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RawFile {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// One group to collect: its (expanded) name and file selection, and its format.
struct Group {
    name: String,
    format: Format,
    spec: Option<ArtifactSpec>,
    discovered: Vec<PathBuf>,
}

/// Collect every report group of the buildspec, then auto-discovered ones. Never fails: what
/// goes wrong is a warning on the report it concerns.
pub async fn collect(ctx: &ReportsContext<'_>, groups: &[ReportGroup]) -> Vec<ReportRecord> {
    let mut todo = Vec::new();
    let mut words = Vec::new();
    for g in groups {
        words.push(g.name.value.clone());
        words.push(g.base_directory.as_ref().map(|b| b.value.clone()).unwrap_or_default());
        words.extend(g.files.iter().map(|f| f.value.clone()));
    }
    words.push("${CODEBUILD_CONFIG_AUTO_DISCOVER-}".into());
    words.push("${CODEBUILD_CONFIG_AUTO_DISCOVER_DIR-}".into());
    // Names and paths may use the build's variables (`$REPORT_GROUP_NAME`), as artifacts do.
    let expanded = match crate::upload::expand(ctx.shell, ctx.sandbox, &words).await {
        Ok(e) => e,
        Err(_) => words.clone(),
    };
    let mut at = 0;
    for g in groups {
        let name = ctx.masker.mask_str(&expanded[at]);
        let base = Some(expanded[at + 1].clone()).filter(|b| !b.is_empty());
        let files = expanded[at + 2..at + 2 + g.files.len()].to_vec();
        at += 2 + g.files.len();
        let format = Format::from_name(&g.file_format).unwrap_or(Format::JunitXml);
        let spec = ArtifactSpec { identifier: Some(name.clone()), files, base_directory: base, discard_paths: g.discard_paths, ..Default::default() };
        todo.push(Group { name, format, spec: Some(spec), discovered: Vec::new() });
    }
    let (auto, dir) = (&expanded[at], &expanded[at + 1]);
    let mut out = Vec::new();
    let mut read: Vec<PathBuf> = Vec::new();
    for (i, g) in todo.into_iter().enumerate() {
        out.push(collect_group(ctx, i + 1, g, &mut read));
    }
    if !auto.eq_ignore_ascii_case("false") {
        let pattern = if dir.is_empty() { "**/*" } else { dir.as_str() };
        let (found, warning) = discover(ctx.work_dir, pattern, &read);
        let mut n = out.len();
        for (format, files) in found {
            n += 1;
            let name = format!("{}-{}-AutoDiscovered", ctx.project, format.name());
            let mut record = collect_group(ctx, n, Group { name, format, spec: None, discovered: files }, &mut read);
            record.kiln.warnings.extend(warning.clone());
            out.push(record);
        }
    }
    out
}

fn safe_name(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect();
    s.chars().take(100).collect()
}

/// Parse one group's files, copy them (masked) into the record, write the normalized report.
fn collect_group(ctx: &ReportsContext<'_>, index: usize, g: Group, read: &mut Vec<PathBuf>) -> ReportRecord {
    let dir_rel = format!("reports/{index:02}-{}", safe_name(&g.name));
    let dir = ctx.record_dir.join(&dir_rel);
    let mut builder = ReportBuilder::new(&g.name, g.format);
    let mut warnings = Vec::new();
    let mut raw = Vec::new();
    let files: Vec<(String, std::io::Result<std::fs::File>)> = match &g.spec {
        Some(spec) => match kiln_artifacts::select(ctx.work_dir, spec) {
            Ok(selection) => {
                warnings.extend(selection.warnings.iter().cloned());
                opened(&selection, read)
            }
            Err(e) => {
                warnings.push(format!("no report files: {e}"));
                Vec::new()
            }
        },
        None => g.discovered.iter().map(|rel| (rel.to_string_lossy().into_owned(), open_discovered(ctx.work_dir, rel))).collect(),
    };
    for (path, file) in files {
        let path = ctx.masker.mask_str(&path);
        let mut bytes = Vec::new();
        match file.and_then(|f| f.take(kiln_fs::limits::DOCUMENT + 1).read_to_end(&mut bytes)) {
            Ok(_) if bytes.len() as u64 > kiln_fs::limits::DOCUMENT => {
                warnings.push(format!("{path}: larger than {} MiB; not read", kiln_fs::limits::DOCUMENT >> 20));
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                warnings.push(format!("{path}: cannot read it: {e}"));
                continue;
            }
        }
        builder.add_file(&path, bytes.as_slice());
        let masked = ctx.masker.mask_bytes(&bytes);
        raw.push(RawFile { path: path.clone(), sha256: crate::sha256_hex(&masked), size: masked.len() as u64 });
        if let Err(e) = write_under(&dir.join("files"), &path, &masked) {
            warnings.push(format!("{path}: cannot keep a copy in the record: {e}"));
        }
    }
    let mut output = builder.finish();
    output.report.arn = Some(format!("arn:aws:codebuild:{}:{}:report/{}:{}", ctx.region, crate::context::ACCOUNT, g.name, uuid::Uuid::new_v4()));
    output.report.report_group_arn = Some(format!("arn:aws:codebuild:{}:{}:report-group/{}", ctx.region, crate::context::ACCOUNT, g.name));
    output.report.execution_id = Some(ctx.build_arn.to_string());
    output.report.created = Some(crate::record::now_rfc3339());
    warnings.extend(output.warnings.iter().map(|w| ctx.masker.mask_str(&w.to_string())));
    let normalized = ctx.masker.mask_bytes(&output.normalized_json());
    let normalized_path = match write_under(&dir, "report.json", &normalized) {
        Ok(()) => Some(format!("{dir_rel}/report.json")),
        Err(e) => {
            warnings.push(format!("cannot write the normalized report: {e}"));
            None
        }
    };
    record_of(&output, ReportKiln { file_format: g.format.name().to_string(), auto_discovered: g.spec.is_none(), files: raw, normalized: normalized_path, warnings })
}

/// The selected files, opened through the working copy; each remembered as read.
fn opened(selection: &Selection, read: &mut Vec<PathBuf>) -> Vec<(String, std::io::Result<std::fs::File>)> {
    selection
        .files
        .iter()
        .map(|f| {
            read.push(f.source.clone());
            (f.path.clone(), kiln_artifacts::open_selected(selection, f).map_err(|e| std::io::Error::other(e.to_string())))
        })
        .collect()
}

/// Open `rel` under `root` without following links (a discovered file).
fn open_discovered(root: &Path, rel: &Path) -> std::io::Result<std::fs::File> {
    use cap_std::fs::OpenOptionsExt;
    let dir = cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority())?;
    let mut options = cap_std::fs::OpenOptions::new();
    options.read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    let file = dir.open_with(rel, &options)?.into_std();
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// Write `bytes` at `rel` under `dir` (created), refusing a path that would leave it.
fn write_under(dir: &Path, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
    let rel = Path::new(rel);
    if rel.is_absolute() || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
        return Err(std::io::Error::other("not a plain relative path"));
    }
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap_or(dir))?;
    kiln_fs::write_atomic(&path, bytes, false)
}

/// The record of one report: what CodeBuild would keep of each list.
fn record_of(output: &ReportOutput, kiln: ReportKiln) -> ReportRecord {
    let test_cases = output.record_test_cases().into_iter().cloned().collect();
    let mut code_coverages = output.coverages.clone();
    code_coverages.sort_by(|a, b| a.line_coverage_percentage.unwrap_or(100.0).total_cmp(&b.line_coverage_percentage.unwrap_or(100.0)).then_with(|| a.file_path.cmp(&b.file_path)));
    code_coverages.truncate(RECORD_ITEMS);
    let mut findings = output.findings.clone();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    findings.truncate(RECORD_ITEMS);
    ReportRecord { report: output.report.clone(), test_cases, code_coverages, findings, kiln }
}

/// Auto-discovery: the files under `pattern` (CodeBuild's glob rules) that no group read,
/// grouped by the format their content shows. Returns a warning when the walk stopped early.
fn discover(work_dir: &Path, pattern: &str, read: &[PathBuf]) -> (BTreeMap<Format, Vec<PathBuf>>, Option<String>) {
    let mut out: BTreeMap<Format, Vec<PathBuf>> = BTreeMap::new();
    let glob = globset::GlobBuilder::new(pattern.trim_start_matches("./")).literal_separator(true).build().map(|g| g.compile_matcher());
    let Ok(glob) = glob else { return (out, Some(format!("CODEBUILD_CONFIG_AUTO_DISCOVER_DIR `{pattern}` is not a valid glob; nothing was auto-discovered"))) };
    let mut seen = 0;
    let walker = walkdir::WalkDir::new(work_dir).follow_links(false).sort_by_file_name().into_iter();
    for entry in walker.filter_entry(|e| !(e.file_type().is_dir() && e.file_name() == ".git")).flatten() {
        if !entry.file_type().is_file() {
            continue;
        }
        let ext = entry.path().extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if !ext.is_some_and(|e| DISCOVER_EXTENSIONS.contains(&e.as_str())) {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(work_dir) else { continue };
        if !glob.is_match(rel) || read.iter().any(|r| r == entry.path()) {
            continue;
        }
        seen += 1;
        if seen > DISCOVER_MAX_FILES {
            return (out, Some(format!("auto-discovery stopped after {DISCOVER_MAX_FILES} candidate files; set CODEBUILD_CONFIG_AUTO_DISCOVER_DIR to where the reports are")));
        }
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let sniffed = open_discovered(work_dir, rel).and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head)).ok().and_then(|_| kiln_reports::sniff(&head));
        if let Some(format) = sniffed {
            out.entry(format).or_default().push(rel.to_path_buf());
        }
    }
    (out, None)
}

/// Why the build's reports fail its `kiln: reports:` gates (empty: they pass).
pub fn gate_failures(reports: &[ReportRecord], gates: &ReportGates) -> Vec<String> {
    let mut out = Vec::new();
    for r in reports {
        let name = &r.report.name;
        match r.report.report_type {
            ReportType::Test if gates.fail_on_test_failures => {
                if let Some(s) = &r.report.test_summary {
                    let bad = s.status_counts.failed + s.status_counts.error;
                    if bad > 0 {
                        out.push(format!("report `{name}`: {bad} test(s) failed or errored (kiln: reports: fail-on-test-failures)"));
                    }
                }
                if r.report.status == ReportStatus::Incomplete {
                    out.push(format!("report `{name}` is INCOMPLETE, so its tests cannot be shown to pass (kiln: reports: fail-on-test-failures)"));
                }
            }
            ReportType::CodeCoverage => {
                let s = r.report.code_coverage_summary.as_ref();
                if let Some(min) = &gates.min_line_coverage {
                    match s.and_then(|s| s.line_coverage_percentage) {
                        Some(p) if p + 1e-9 >= min.value => {}
                        Some(p) => out.push(format!("report `{name}`: line coverage {p:.2} % is under the minimum {} % (kiln: reports: min-line-coverage)", min.value)),
                        None => out.push(format!("report `{name}` has no line coverage to check against {} % (kiln: reports: min-line-coverage)", min.value)),
                    }
                }
                if let (Some(min), Some(p)) = (&gates.min_branch_coverage, s.and_then(|s| s.branch_coverage_percentage))
                    && p + 1e-9 < min.value
                {
                    out.push(format!("report `{name}`: branch coverage {p:.2} % is under the minimum {} % (kiln: reports: min-branch-coverage)", min.value));
                }
            }
            ReportType::Security => {
                if let (Some(level), Some(s)) = (&gates.fail_on_findings, &r.report.security_summary) {
                    let c = &s.severity_counts;
                    let counts = [(Severity::Note, c.note), (Severity::Low, c.low), (Severity::Medium, c.medium), (Severity::High, c.high), (Severity::Critical, c.critical)];
                    let min = kiln_spec::SEVERITIES.iter().position(|s| *s == level.value).unwrap_or(0);
                    let n: u64 = counts.iter().skip(min).map(|(_, n)| n).sum();
                    if n > 0 {
                        out.push(format!("report `{name}`: {n} finding(s) of severity {} or above (kiln: reports: fail-on-findings)", level.value));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// What a report holds, in one line: `NAME (FORMAT): STATUS — totals` (the build's output and
/// the terminal summary).
pub fn summary_line(r: &ReportRecord) -> String {
    let rep = &r.report;
    let what = if let Some(t) = &rep.test_summary {
        let c = &t.status_counts;
        format!("{} tests, {} passed, {} failed, {} error, {} skipped", t.total, c.succeeded, c.failed, c.error, c.skipped)
    } else if let Some(c) = &rep.code_coverage_summary {
        let pct = |p: Option<f64>| p.map(|p| format!("{p:.2} %")).unwrap_or_else(|| "n/a".into());
        format!("lines {} ({}/{}), branches {}", pct(c.line_coverage_percentage), c.lines_covered, c.lines_covered + c.lines_missed, pct(c.branch_coverage_percentage))
    } else if let Some(f) = &rep.security_summary {
        let c = &f.severity_counts;
        format!("{} finding(s): {} critical, {} high, {} medium, {} low, {} note", f.total, c.critical, c.high, c.medium, c.low, c.note)
    } else {
        "no data".into()
    };
    let status = serde_json::to_value(rep.status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let auto = if r.kiln.auto_discovered { ", auto-discovered" } else { "" };
    format!("{} ({}{auto}): {status}  {what}", rep.name, r.kiln.file_format)
}

/// Failing test cases of `reports` for a summary: `(report, case)` pairs, failures first.
pub fn failing_cases(reports: &[ReportRecord]) -> impl Iterator<Item = (&str, &kiln_reports::TestCase)> {
    reports.iter().flat_map(|r| r.test_cases.iter().filter(|c| matches!(c.status, TestStatus::Failed | TestStatus::Error)).map(move |c| (r.report.name.as_str(), c)))
}
