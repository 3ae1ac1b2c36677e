//! `secrets-scan`: kiln's built-in secret scanner step. Walks `/src` (no symlinks followed, depth
//! limited), scans each text file once with `kiln-secrets-scan-engine`, reports typed findings
//! with fingerprints (messages carry a redaction, never the secret) and writes SARIF 2.1.0 to
//! `/out/secrets.sarif`. Binary and oversized files are skipped with a per-file warning. The
//! `fail-on` gate is applied by the host from the findings' severities.

use kiln_plugin_sdk::{Error, Step, StepPlugin, export_step, log, progress};
use kiln_secrets_scan_engine::{Baseline, Finding, Scanner, glob::glob_match, is_binary, sarif};

/// `with:` keys (see kiln-plugin.toml for the schema).
#[derive(serde::Deserialize)]
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
        Config { fail_on: None, baseline: None, exclude: Vec::new(), max_file_size: 10 << 20, sarif: "secrets.sarif".into() }
    }
}

/// Deepest directory level walked (deeper trees are reported and skipped, never recursed).
const MAX_DEPTH: usize = 256;
/// Findings returned to the host (SARIF keeps all of them).
const MAX_REPORTED: usize = 5000;
/// Per-file warnings logged before they are only counted.
const MAX_WARNINGS: usize = 200;

struct SecretsScan;

#[derive(Default)]
struct Stats {
    files: u64,
    bytes: u64,
    binary: u64,
    oversized: u64,
    unreadable: u64,
    excluded: u64,
    too_deep: u64,
    suppressed: usize,
    warnings: usize,
}

impl Stats {
    fn warn(&mut self, msg: String) {
        self.warnings += 1;
        if self.warnings <= MAX_WARNINGS {
            log::warn(&msg);
        }
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

/// Every regular file under `root` as (relative path, full path, size), sorted; symlinks are
/// never followed (so symlink loops cannot recurse), excluded directories are not entered.
fn walk(root: &str, exclude: &[String], stats: &mut Stats) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    let mut stack: Vec<(String, usize)> = vec![(String::new(), 0)];
    while let Some((rel, depth)) = stack.pop() {
        let dir = if rel.is_empty() { root.to_string() } else { format!("{root}/{rel}") };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                stats.unreadable += 1;
                stats.warn(format!("{}: cannot list directory: {e}", if rel.is_empty() { "." } else { &rel }));
                continue;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            if exclude.iter().any(|g| glob_match(g, &child)) {
                stats.excluded += 1;
                continue;
            }
            let Ok(ty) = entry.file_type() else { continue };
            if ty.is_dir() {
                if depth + 1 > MAX_DEPTH {
                    stats.too_deep += 1;
                    stats.warn(format!("{child}: deeper than {MAX_DEPTH} levels, not scanned"));
                } else {
                    stack.push((child, depth + 1));
                }
            } else if ty.is_file() {
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((child.clone(), format!("{root}/{child}"), len));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

impl StepPlugin for SecretsScan {
    type Config = Config;

    fn run(step: &mut Step<Config>) -> Result<(), Error> {
        let root = step.source_root().ok_or_else(|| Error::failed("read-source was not granted"))?.to_string();
        let cfg = step.config();
        let (exclude, max_size, sarif_name) = (cfg.exclude.clone(), cfg.max_file_size, cfg.sarif.clone());
        if sarif_name.is_empty() || sarif_name.contains('/') || sarif_name.starts_with('.') {
            return Err(Error::InvalidConfig(format!("sarif: expected a plain file name such as secrets.sarif, got {sarif_name:?}")));
        }
        let mut scanner = Scanner::new();
        if let Some(path) = cfg.baseline.clone() {
            let full = format!("{root}/{}", path.trim_start_matches("./"));
            let text = std::fs::read_to_string(&full)
                .map_err(|e| Error::InvalidConfig(format!("baseline: cannot read {path:?} in the source tree: {e}")))?;
            let b = Baseline::parse(&text).map_err(|e| Error::InvalidConfig(format!("baseline {path}: {e}")))?;
            log::info(&format!("baseline {path}: {} accepted fingerprints", b.len()));
            scanner = scanner.with_baseline(b);
        }
        let mut stats = Stats::default();
        let files = walk(&root, &exclude, &mut stats);
        let total = files.len() as u64;
        let mut found: Vec<(String, Finding)> = Vec::new();
        for (i, (rel, full, len)) in files.iter().enumerate() {
            if i % 256 == 0 {
                progress(i as u64, total, rel);
            }
            if *len > max_size {
                stats.oversized += 1;
                stats.warn(format!("{rel}: {len} bytes is over max-file-size {max_size}, skipped"));
                continue;
            }
            let data = match std::fs::read(full) {
                Ok(d) => d,
                Err(e) => {
                    stats.unreadable += 1;
                    stats.warn(format!("{rel}: cannot read: {e}"));
                    continue;
                }
            };
            if data.len() as u64 > max_size {
                stats.oversized += 1;
                stats.warn(format!("{rel}: {} bytes is over max-file-size {max_size}, skipped", data.len()));
                continue;
            }
            if is_binary(&data) {
                stats.binary += 1;
                stats.warn(format!("{rel}: binary file, skipped"));
                continue;
            }
            stats.files += 1;
            stats.bytes += data.len() as u64;
            let (fs, suppressed) = scanner.scan_counted(rel, &data);
            stats.suppressed += suppressed;
            found.extend(fs.into_iter().map(|f| (rel.clone(), f)));
        }
        if stats.warnings > MAX_WARNINGS {
            log::warn(&format!("{} more per-file warnings not shown", stats.warnings - MAX_WARNINGS));
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
            log::warn(&format!("{} findings; the first {MAX_REPORTED} are returned, all are in {sarif_name}", found.len()));
        }
        let first = found.first().map(|(p, f)| format!("; first: {p}:{} {}", f.line, f.rule.id)).unwrap_or_default();
        step.set_summary(format!(
            "{} secrets in {} files ({:.1} MB scanned; skipped {} binary, {} oversized, {} unreadable, {} excluded; {} suppressed){first}",
            found.len(),
            stats.files,
            stats.bytes as f64 / 1e6,
            stats.binary,
            stats.oversized,
            stats.unreadable,
            stats.excluded,
            stats.suppressed
        ));
        Ok(())
    }
}

export_step!(SecretsScan, manifest = "kiln-plugin.toml");
