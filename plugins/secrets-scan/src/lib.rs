//! `secrets-scan`: kiln's built-in secret scanner, a `file-scanner` plugin. The host walks the
//! source tree and feeds each file to several instances in parallel; each scans the bytes once
//! with `kiln-secrets-scan-engine` and returns its findings as a partial result. `finish` reports
//! typed findings with fingerprints (messages carry a redaction, never the secret) and writes
//! SARIF 2.1.0 to `/out/secrets.sarif`. Binary files are skipped (the host warns per file). The
//! `fail-on` gate is applied by the host from the findings' severities.

use kiln_plugin_sdk::scanner::{FileFilter, FileOutcome, Partial, WalkStats};
use kiln_plugin_sdk::{Error, FileScanner, Step, export_file_scanner, log, serde_json};
use kiln_secrets_scan_engine::{Baseline, Finding, RuleMeta, Scanner, all_rules, is_binary, sarif};
use serde::{Deserialize, Serialize};

/// `with:` keys (see kiln-plugin.toml for the schema).
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    /// Read by the host's gate; accepted here so the config deserialises.
    #[allow(dead_code)]
    fail_on: Option<String>,
    baseline: Option<String>,
    exclude: Vec<String>,
    max_file_size: u64,
    sarif: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            fail_on: None,
            baseline: None,
            exclude: Vec::new(),
            max_file_size: 10 << 20,
            sarif: "secrets.sarif".into(),
        }
    }
}

/// Findings returned to the host (SARIF keeps all of them).
const MAX_REPORTED: usize = 5000;

/// One instance's scanner.
struct SecretsScan {
    scanner: Scanner,
}

/// A file's partial result: its findings (redacted, as the engine reports them) and how many
/// were suppressed.
#[derive(Serialize, Deserialize)]
struct FilePartial {
    suppressed: usize,
    findings: Vec<WireFinding>,
}

/// [`Finding`] without its static rule metadata (looked up again by id in `finish`).
#[derive(Serialize, Deserialize)]
struct WireFinding {
    rule: String,
    line: u32,
    col: u32,
    end_line: u32,
    end_col: u32,
    redacted: String,
    fingerprint: String,
    message: String,
    snippet: String,
}

impl WireFinding {
    fn from_finding(f: Finding) -> WireFinding {
        WireFinding {
            rule: f.rule.id.to_string(),
            line: f.line,
            col: f.col,
            end_line: f.end_line,
            end_col: f.end_col,
            redacted: f.redacted,
            fingerprint: f.fingerprint,
            message: f.message,
            snippet: f.snippet,
        }
    }

    fn into_finding(self, rules: &[RuleMeta]) -> Option<Finding> {
        let rule = *rules.iter().find(|r| r.id == self.rule)?;
        Some(Finding {
            rule,
            line: self.line,
            col: self.col,
            end_line: self.end_line,
            end_col: self.end_col,
            redacted: self.redacted,
            fingerprint: self.fingerprint,
            message: self.message,
            snippet: self.snippet,
        })
    }
}

fn severity(s: kiln_secrets_scan_engine::Severity) -> kiln_plugin_sdk::Severity {
    use kiln_plugin_sdk::Severity as S;
    use kiln_secrets_scan_engine::Severity as E;
    match s {
        E::Note => S::Note,
        E::Low => S::Low,
        E::Medium => S::Medium,
        E::High => S::High,
        E::Critical => S::Critical,
    }
}

fn sarif_name(cfg: &Config) -> Result<String, Error> {
    let name = &cfg.sarif;
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(Error::InvalidConfig(format!(
            "sarif: expected a plain file name such as secrets.sarif, got {name:?}"
        )));
    }
    Ok(name.clone())
}

impl FileScanner for SecretsScan {
    type Config = Config;

    fn new(cfg: &Config) -> Result<Self, Error> {
        sarif_name(cfg)?;
        let mut scanner = Scanner::new();
        if let Some(path) = &cfg.baseline {
            let full = format!("{}/{}", kiln_plugin_sdk::SOURCE_ROOT, path.trim_start_matches("./"));
            let text = std::fs::read_to_string(&full).map_err(|e| {
                Error::InvalidConfig(format!(
                    "baseline: cannot read {path:?} in the source tree: {e}"
                ))
            })?;
            let b = Baseline::parse(&text)
                .map_err(|e| Error::InvalidConfig(format!("baseline {path}: {e}")))?;
            log::debug(&format!("baseline {path}: {} accepted fingerprints", b.len()));
            scanner = scanner.with_baseline(b);
        }
        Ok(SecretsScan { scanner })
    }

    fn filter(cfg: &Config) -> FileFilter {
        FileFilter {
            exclude: cfg.exclude.clone(),
            only: Vec::new(),
            max_file_size: cfg.max_file_size,
        }
    }

    fn scan_file(&mut self, path: &str, data: &[u8]) -> FileOutcome {
        if is_binary(data) {
            return FileOutcome::Skipped("binary file".into());
        }
        let (findings, suppressed) = self.scanner.scan_counted(path, data);
        if findings.is_empty() && suppressed == 0 {
            return FileOutcome::Scanned(Vec::new());
        }
        let partial = FilePartial {
            suppressed,
            findings: findings.into_iter().map(WireFinding::from_finding).collect(),
        };
        FileOutcome::Scanned(serde_json::to_vec(&partial).expect("plain data serializes"))
    }

    fn finish(
        &mut self,
        partials: Vec<Partial>,
        stats: WalkStats,
        step: &mut Step<Config>,
    ) -> Result<(), Error> {
        let sarif_name = sarif_name(step.config())?;
        let rules = all_rules();
        let mut found: Vec<(String, Finding)> = Vec::new();
        let mut suppressed = 0;
        for p in partials {
            let part: FilePartial = serde_json::from_slice(&p.data)
                .map_err(|e| Error::failed(format!("{}: corrupt partial result: {e}", p.path)))?;
            suppressed += part.suppressed;
            for w in part.findings {
                let f = w
                    .into_finding(&rules)
                    .ok_or_else(|| Error::failed(format!("{}: unknown rule in partial", p.path)))?;
                found.push((p.path.clone(), f));
            }
        }
        let sarif = sarif::to_sarif_string(env!("CARGO_PKG_VERSION"), &found);
        step.write_output(&sarif_name, "application/sarif+json", sarif.as_bytes())?;
        for (path, f) in found.iter().take(MAX_REPORTED) {
            step.finding(f.rule.id, severity(f.rule.severity), f.message.clone())
                .span(path, f.line, f.col, f.end_line, f.end_col)
                .fingerprint(f.fingerprint.clone())
                .report();
        }
        if found.len() > MAX_REPORTED {
            log::warn(&format!(
                "{} findings; the first {MAX_REPORTED} are returned, all are in {sarif_name}",
                found.len()
            ));
        }
        let first = found
            .first()
            .map(|(p, f)| format!("; first: {p}:{} {}", f.line, f.rule.id))
            .unwrap_or_default();
        step.set_summary(format!(
            "{} secrets in {} files ({:.1} MB scanned; skipped {} binary, {} oversized, {} unreadable, {} excluded; {} suppressed){first}",
            found.len(),
            stats.scanned_files,
            stats.scanned_bytes as f64 / 1e6,
            stats.skipped,
            stats.oversized,
            stats.unreadable,
            stats.excluded,
            suppressed
        ));
        Ok(())
    }
}

export_file_scanner!(SecretsScan, manifest = "kiln-plugin.toml");
