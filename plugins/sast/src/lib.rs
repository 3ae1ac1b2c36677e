//! `sast`: kiln's built-in static analysis step.
//!
//! Walks the read-only source tree (`/src`), scans every file of a covered language with
//! [`kiln_sast_engine`] (built-in rules plus an optional user rule file from the tree), reports
//! typed findings with stable fingerprints, and writes the SARIF 2.1.0 report to
//! `/out/sast.sarif`. Binary, oversized and invalid-UTF-8 files get a per-file warning in the
//! build log and are skipped. The `fail-on` gate is applied by the host.

mod glob;

use kiln_plugin_sdk::{
    Error, Finding, Location, Severity, Step, StepPlugin, export_step, log, progress,
};
use kiln_sast_engine::{Engine, FileOutcome, Language, Limits, parse_rules, sarif};

/// `with:` keys (see kiln-plugin.toml for the schema the host checks).
#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    /// Applied by the host (findings at or above it fail the step).
    fail_on: Option<String>,
    /// Extra rule file, relative to the source root.
    rules: Option<String>,
    /// Glob patterns of paths not to scan.
    exclude: Vec<String>,
    /// Languages to scan (default all).
    languages: Vec<String>,
    /// Rule ids / families / id prefixes to turn off.
    disable: Vec<String>,
    /// Per-file size limit.
    max_file_bytes: u64,
    /// SARIF file name in /out.
    output: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            fail_on: None,
            rules: None,
            exclude: Vec::new(),
            languages: Vec::new(),
            disable: Vec::new(),
            max_file_bytes: Limits::default().max_file_bytes,
            output: "sast.sarif".into(),
        }
    }
}

/// Directories never worth scanning (dependencies and VCS metadata).
const DEFAULT_EXCLUDES: &[&str] = &[
    ".git",
    "**/node_modules",
    "**/.venv",
    "**/__pycache__",
    ".kiln",
];

/// At most this many per-file warnings are logged; the rest are counted in the summary.
const MAX_WARNINGS: usize = 50;

struct Sast;

fn sdk_severity(s: kiln_sast_engine::Severity) -> Severity {
    use kiln_sast_engine::Severity as S;
    match s {
        S::Note => Severity::Note,
        S::Low => Severity::Low,
        S::Medium => Severity::Medium,
        S::High => Severity::High,
        S::Critical => Severity::Critical,
    }
}

fn build_engine(step: &Step<Config>) -> Result<Engine, Error> {
    let cfg = step.config();
    let mut extra = Vec::new();
    if let Some(rel) = &cfg.rules {
        if rel.starts_with('/') || rel.split('/').any(|c| c == "..") {
            return Err(Error::InvalidConfig(format!(
                "rules: {rel:?} must be a path relative to the source root, without `..`"
            )));
        }
        let root = step
            .source_root()
            .ok_or_else(|| Error::failed("read-source was not granted"))?;
        let full = format!("{root}/{rel}");
        let text = std::fs::read_to_string(&full)
            .map_err(|e| Error::InvalidConfig(format!("rules: cannot read {rel}: {e}")))?;
        extra = parse_rules(rel, &text).map_err(|e| Error::InvalidConfig(format!("rules: {e}")))?;
    }
    let mut engine = Engine::new(extra).map_err(|e| Error::InvalidConfig(format!("rules: {e}")))?;
    if !cfg.languages.is_empty() {
        let mut langs = Vec::new();
        for l in &cfg.languages {
            langs.push(Language::parse(l).ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "languages: unknown language {l:?} (python, javascript, typescript, go, java, shell, dockerfile, yaml)"
                ))
            })?);
        }
        engine = engine.with_languages(&langs);
    }
    engine
        .disable(&cfg.disable)
        .map_err(|e| Error::InvalidConfig(e.to_string()))?;
    if cfg.max_file_bytes == 0 {
        return Err(Error::InvalidConfig(
            "max-file-bytes: must be at least 1".into(),
        ));
    }
    Ok(engine.with_limits(Limits {
        max_file_bytes: cfg.max_file_bytes,
    }))
}

/// The first line of an extension-less file (for `#!` detection), reading at most 256 bytes.
fn head(full_path: &str) -> String {
    use std::io::Read;
    let mut buf = [0u8; 256];
    let n = std::fs::File::open(full_path)
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    let line = buf[..n].split(|&b| b == b'\n').next().unwrap_or(&[]);
    String::from_utf8_lossy(line).into_owned()
}

impl StepPlugin for Sast {
    type Config = Config;

    fn run(step: &mut Step<Config>) -> Result<(), Error> {
        let engine = build_engine(step)?;
        let output = step.config().output.clone();
        if output.is_empty() || output.contains('/') || output.starts_with('.') {
            return Err(Error::InvalidConfig(format!(
                "output: {output:?} must be a plain file name such as sast.sarif"
            )));
        }
        let excludes = glob::GlobSet::new(
            DEFAULT_EXCLUDES
                .iter()
                .map(|s| s.to_string())
                .chain(step.config().exclude.iter().cloned()),
        )
        .map_err(|e| Error::InvalidConfig(format!("exclude: {e}")))?;
        let max = step.config().max_file_bytes;

        let files = step.source_files()?;
        let total = files.len() as u64;
        let (mut scanned, mut skipped, mut warned) = (0usize, 0usize, 0usize);
        let mut found = Vec::new();
        let warn = |msg: String, warned: &mut usize| {
            if *warned < MAX_WARNINGS {
                log::warn(&msg);
            }
            *warned += 1;
        };
        for (i, file) in files.iter().enumerate() {
            if i % 256 == 0 {
                progress(i as u64, total, &file.path);
            }
            if excludes.matches(&file.path) {
                continue;
            }
            let name = file.path.rsplit('/').next().unwrap_or(&file.path);
            let first = if name.contains('.') {
                String::new()
            } else {
                head(&file.full_path)
            };
            if Language::detect(&file.path, &first).is_none() {
                continue;
            }
            // Check the size before reading: a 2 GB file must not be loaded.
            if file.len > max {
                skipped += 1;
                warn(
                    format!(
                        "{}: skipped: {} bytes is over the {max}-byte limit per file (max-file-bytes)",
                        file.path, file.len
                    ),
                    &mut warned,
                );
                continue;
            }
            let bytes = match file.read() {
                Ok(b) => b,
                Err(e) => {
                    skipped += 1;
                    warn(
                        format!("{}: skipped: cannot read: {e}", file.path),
                        &mut warned,
                    );
                    continue;
                }
            };
            match engine.scan_bytes(&file.path, &bytes) {
                FileOutcome::Scanned(v) => {
                    scanned += 1;
                    found.extend(v);
                }
                FileOutcome::NotApplicable => {}
                FileOutcome::Skipped(why) => {
                    skipped += 1;
                    warn(format!("{}: skipped: {why}", file.path), &mut warned);
                }
            }
        }
        if warned > MAX_WARNINGS {
            log::warn(&format!(
                "{} more files skipped (warnings not shown)",
                warned - MAX_WARNINGS
            ));
        }
        progress(total, total, "done");

        let report = sarif::to_sarif_string(&engine, &found);
        step.write_output(&output, "application/sarif+json", report.as_bytes())?;
        for f in &found {
            step.report(Finding {
                rule_id: f.rule_id.clone(),
                severity: sdk_severity(f.severity),
                location: Some(Location {
                    path: f.path.clone(),
                    start_line: f.start_line,
                    start_col: f.start_col,
                    end_line: f.end_line,
                    end_col: f.end_col,
                }),
                message: f.message.clone(),
                fingerprint: f.fingerprint.clone(),
            });
        }
        let mut by = [0usize; 5];
        for f in &found {
            by[f.severity as usize] += 1;
        }
        let mut summary = format!(
            "{scanned} files scanned, {} findings (critical {}, high {}, medium {}, low {}, note {})",
            found.len(),
            by[4],
            by[3],
            by[2],
            by[1],
            by[0]
        );
        if skipped > 0 {
            summary.push_str(&format!(", {skipped} files skipped"));
        }
        if let Some(first) = found.iter().max_by_key(|f| f.severity) {
            summary.push_str(&format!(
                "; worst: {}:{} {}",
                first.path, first.start_line, first.rule_id
            ));
        }
        step.set_summary(summary);
        Ok(())
    }
}

export_step!(Sast, manifest = "kiln-plugin.toml");
