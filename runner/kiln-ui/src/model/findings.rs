//! Security findings of a build, from both places a record keeps them: `SECURITY` reports in
//! `build.json` (SARIF files a `reports:` group named; when the record kept fewer than the
//! report counted, the report's normalized `report.json` holds the rest) and the SARIF files the
//! scanner plugins (`uses: sast`, `uses: secrets-scan`) wrote under `plugins/`, read with
//! kiln-reports' SARIF reader (the one the engine uses).
//!
//! **The code around a finding.** The working copy is gone once the build ends, so the lines
//! around a finding come from the one copy of the source the record may hold: an artifact of the
//! build (a directory or zip artifact inside the record) that contains the finding's file. A
//! finding in a file no artifact holds shows its location only. SARIF `snippet`s are not shown:
//! a secret scanner's snippet may be the credential it found.

use std::io::Read;

use kiln_record::{Build, Kind, RecordId, Records, RelPath};
use kiln_reports::{Finding, Format, ReportBuilder, Severity};

/// Most bytes of one plugin SARIF file read.
const SARIF_LIMIT: u64 = 64 * 1024 * 1024;
/// Most bytes of a source file read for its context lines.
const SOURCE_LIMIT: u64 = 2 * 1024 * 1024;
/// Lines shown before and after a finding's region.
pub const CONTEXT: u64 = 3;

/// Every finding of the build, most severe first, and where they came from.
#[derive(Clone, Debug, Default)]
pub struct Findings {
    pub items: Vec<Finding>,
    /// Where each group of findings was read from (report names, plugin output paths).
    pub sources: Vec<String>,
    /// Files that could not be read, with why.
    pub problems: Vec<String>,
}

impl Findings {
    /// Counts per severity, most severe first.
    pub fn by_severity(&self) -> Vec<(Severity, usize)> {
        [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Note]
            .into_iter()
            .map(|s| (s, self.items.iter().filter(|f| f.severity == s).count()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// Read every finding of build `id`.
pub fn load(records: &Records, id: &RecordId, build: &Build) -> Findings {
    let mut out = Findings::default();
    for r in build.readable_reports().filter(|r| r.report.report_type == kiln_reports::ReportType::Security) {
        let counted = r.report.security_summary.map(|s| s.total).unwrap_or(0);
        let mut items = r.findings.clone();
        if counted > items.len() as u64
            && let Some(rel) = r.kiln.normalized.as_deref().and_then(RelPath::parse)
        {
            match records.read(Kind::Build, id, &rel, SARIF_LIMIT).map_err(|e| e.to_string()).and_then(|b| serde_json::from_slice::<kiln_record::NormalizedReport>(&b).map_err(|e| format!("{}: {e}", rel.as_path().display()))) {
                Ok(n) => items = n.findings.unwrap_or(items),
                Err(e) => out.problems.push(e),
            }
        }
        out.sources.push(format!("report {}", r.report.name));
        out.items.extend(items);
    }
    for p in &build.kiln.plugins {
        for o in p.outputs.iter().filter(|o| o.media_type.as_deref() == Some("application/sarif+json") || o.path.ends_with(".sarif")) {
            let Some(rel) = RelPath::parse(&o.path) else {
                out.problems.push(format!("{}: not a path inside the record", o.path));
                continue;
            };
            match records.read(Kind::Build, id, &rel, SARIF_LIMIT) {
                Ok(bytes) => {
                    let mut b = ReportBuilder::new(&p.name, Format::Sarif);
                    b.add_file(&o.path, bytes.as_slice());
                    let report = b.finish();
                    out.problems.extend(report.warnings.iter().map(|w| w.to_string()));
                    out.items.extend(report.findings);
                    out.sources.push(o.path.clone());
                }
                Err(e) => out.problems.push(e.to_string()),
            }
        }
    }
    // Most severe first; then by file and line.
    out.items.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.file_path.cmp(&b.file_path)).then_with(|| a.start_line.cmp(&b.start_line)));
    out
}

/// Lines `(number, text)` around a finding's region, and the region's lines, when an artifact
/// in the record holds its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// Where the lines were read (`artifacts/<name>/<path>`).
    pub from: String,
    pub lines: Vec<(u64, String)>,
    pub hit: (u64, u64),
}

/// The code around `f`, from an artifact of the build that holds its file.
pub fn context(records: &Records, id: &RecordId, build: &Build, f: &Finding) -> Option<Context> {
    let path = f.file_path.as_deref()?.trim_start_matches("file://").trim_start_matches("./");
    let start = f.start_line?;
    let end = f.end_line.unwrap_or(start).max(start);
    let record_dir = records.dir(Kind::Build, id);
    for a in build.all_artifacts() {
        let Some(file) = a.files.iter().find(|x| x.path == path || (path.len() > x.path.len() && path.ends_with(&x.path) && path.as_bytes()[path.len() - x.path.len() - 1] == b'/') || x.path.ends_with(&format!("/{path}"))) else { continue };
        // Only artifacts inside this record are read: a location is a path from a file.
        let Some(inside) = inside_record(&record_dir, std::path::Path::new(&a.location)) else { continue };
        let text = if a.sha256sum.is_some() {
            read_zip_entry(records, id, &inside, &file.path)
        } else {
            RelPath::parse(&format!("{}/{}", inside.display(), file.path)).and_then(|rel| records.read(Kind::Build, id, &rel, SOURCE_LIMIT).ok()).map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let Some(text) = text else { continue };
        let first = start.saturating_sub(CONTEXT).max(1);
        let last = end.saturating_add(CONTEXT);
        let lines: Vec<(u64, String)> = text.lines().enumerate().map(|(i, l)| (i as u64 + 1, l)).filter(|(n, _)| (first..=last).contains(n)).map(|(n, l)| (n, crate::model::logs::clip(l))).collect();
        if lines.is_empty() {
            continue;
        }
        return Some(Context { from: format!("{}/{}", inside.display(), file.path), lines, hit: (start, end) });
    }
    None
}

/// `location` relative to the record directory, when it is inside it (as written, or after
/// resolving the record directory's own path).
fn inside_record(record_dir: &std::path::Path, location: &std::path::Path) -> Option<std::path::PathBuf> {
    if let Ok(p) = location.strip_prefix(record_dir) {
        return Some(p.to_path_buf());
    }
    let canon = std::fs::canonicalize(record_dir).ok()?;
    location.strip_prefix(canon).ok().map(|p| p.to_path_buf())
}

fn read_zip_entry(records: &Records, id: &RecordId, zip_rel: &std::path::Path, entry: &str) -> Option<String> {
    let rel = RelPath::parse(zip_rel.to_str()?)?;
    let file = records.open(Kind::Build, id, &rel).ok()?.into_file();
    let mut archive = zip::ZipArchive::new(file).ok()?;
    let e = archive.by_name(entry).ok()?;
    if e.size() > SOURCE_LIMIT {
        return None;
    }
    let mut bytes = Vec::new();
    e.take(SOURCE_LIMIT).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
