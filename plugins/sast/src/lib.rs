//! `sast`: kiln's built-in static analysis step, a `file-scanner` plugin.
//!
//! The host walks the read-only source tree and feeds each file to several instances in
//! parallel; each scans files of a covered language with [`kiln_sast_engine`] (built-in rules plus
//! an optional user rule file from the tree) and returns the findings as a partial result.
//! `finish` reports typed findings with stable fingerprints and writes the SARIF 2.1.0 report to
//! `/out/sast.sarif`. Binary, oversized and invalid-UTF-8 files get a per-file warning in the
//! build log (from the host) and are skipped. The `fail-on` gate is applied by the host.

use kiln_plugin_sdk::scanner::{FileFilter, FileOutcome, Partial, WalkStats};
use kiln_plugin_sdk::{Error, FileScanner, Finding, Location, Severity, Step, export_file_scanner, serde_json};
use kiln_sast_engine::{Engine, Language, Limits, parse_rules, sarif};

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

/// One instance's engine.
struct Sast {
    engine: Engine,
}

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

fn build_engine(cfg: &Config) -> Result<Engine, Error> {
    let mut extra = Vec::new();
    if let Some(rel) = &cfg.rules {
        if rel.starts_with('/') || rel.split('/').any(|c| c == "..") {
            return Err(Error::InvalidConfig(format!(
                "rules: {rel:?} must be a path relative to the source root, without `..`"
            )));
        }
        let full = format!("{}/{rel}", kiln_plugin_sdk::SOURCE_ROOT);
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

fn output_name(cfg: &Config) -> Result<String, Error> {
    let output = &cfg.output;
    if output.is_empty() || output.contains('/') || output.starts_with('.') {
        return Err(Error::InvalidConfig(format!(
            "output: {output:?} must be a plain file name such as sast.sarif"
        )));
    }
    Ok(output.clone())
}

impl FileScanner for Sast {
    type Config = Config;

    fn new(cfg: &Config) -> Result<Self, Error> {
        output_name(cfg)?;
        Ok(Sast {
            engine: build_engine(cfg)?,
        })
    }

    fn filter(cfg: &Config) -> FileFilter {
        FileFilter {
            exclude: DEFAULT_EXCLUDES
                .iter()
                .map(|s| s.to_string())
                .chain(cfg.exclude.iter().cloned())
                .collect(),
            only: Vec::new(),
            max_file_size: cfg.max_file_bytes,
        }
    }

    fn scan_file(&mut self, path: &str, bytes: &[u8]) -> FileOutcome {
        match self.engine.scan_bytes(path, bytes) {
            kiln_sast_engine::FileOutcome::Scanned(v) if v.is_empty() => FileOutcome::Scanned(Vec::new()),
            kiln_sast_engine::FileOutcome::Scanned(v) => {
                FileOutcome::Scanned(serde_json::to_vec(&v).expect("plain data serializes"))
            }
            kiln_sast_engine::FileOutcome::NotApplicable => FileOutcome::Scanned(Vec::new()),
            kiln_sast_engine::FileOutcome::Skipped(why) => FileOutcome::Skipped(why),
        }
    }

    fn finish(&mut self, partials: Vec<Partial>, stats: WalkStats, step: &mut Step<Config>) -> Result<(), Error> {
        let output = output_name(step.config())?;
        let mut found: Vec<kiln_sast_engine::Finding> = Vec::new();
        for p in partials {
            let v: Vec<kiln_sast_engine::Finding> = serde_json::from_slice(&p.data)
                .map_err(|e| Error::failed(format!("{}: corrupt partial result: {e}", p.path)))?;
            found.extend(v);
        }
        let report = sarif::to_sarif_string(&self.engine, &found);
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
            "{} files scanned, {} findings (critical {}, high {}, medium {}, low {}, note {})",
            stats.scanned_files,
            found.len(),
            by[4],
            by[3],
            by[2],
            by[1],
            by[0]
        );
        let skipped = stats.skipped + stats.oversized + stats.unreadable;
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

export_file_scanner!(Sast, manifest = "kiln-plugin.toml");
