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
        Config {
            fail_on: None,
            baseline: None,
            exclude: Vec::new(),
            max_file_size: 10 << 20,
            sarif: "secrets.sarif".into(),
        }
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

/// Every regular file under `root` as (relative path, full path), sorted; symlinks are never
/// followed (so symlink loops cannot recurse), excluded directories are not entered. No per-file
/// `stat` here: every host call costs, and the size is checked on the open file instead.
fn walk(root: &str, exclude: &[String], stats: &mut Stats) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<(String, usize)> = vec![(String::new(), 0)];
    while let Some((rel, depth)) = stack.pop() {
        let dir = if rel.is_empty() {
            root.to_string()
        } else {
            format!("{root}/{rel}")
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                stats.unreadable += 1;
                stats.warn(format!(
                    "{}: cannot list directory: {e}",
                    if rel.is_empty() { "." } else { &rel }
                ));
                continue;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if exclude.iter().any(|g| glob_match(g, &child)) {
                stats.excluded += 1;
                continue;
            }
            let Ok(ty) = entry.file_type() else { continue };
            if ty.is_dir() {
                if depth + 1 > MAX_DEPTH {
                    stats.too_deep += 1;
                    stats.warn(format!(
                        "{child}: deeper than {MAX_DEPTH} levels, not scanned"
                    ));
                } else {
                    stack.push((child, depth + 1));
                }
            } else if ty.is_file() {
                out.push((child.clone(), format!("{root}/{child}")));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Reads a file unless it is larger than `max` (then `Ok(Err(size))`, without reading it): one
/// open, one stat on the handle, and an exact-size read (no extra end-of-file probe).
fn read_limited(path: &str, max: u64) -> std::io::Result<Result<Vec<u8>, u64>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len > max {
        return Ok(Err(len));
    }
    let mut buf = vec![0u8; len as usize];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    buf.truncate(n);
    Ok(Ok(buf))
}

impl StepPlugin for SecretsScan {
    type Config = Config;

    fn run(step: &mut Step<Config>) -> Result<(), Error> {
        let root = step
            .source_root()
            .ok_or_else(|| Error::failed("read-source was not granted"))?
            .to_string();
        let cfg = step.config();
        let (exclude, max_size, sarif_name) =
            (cfg.exclude.clone(), cfg.max_file_size, cfg.sarif.clone());
        if sarif_name.is_empty() || sarif_name.contains('/') || sarif_name.starts_with('.') {
            return Err(Error::InvalidConfig(format!(
                "sarif: expected a plain file name such as secrets.sarif, got {sarif_name:?}"
            )));
        }
        let mut scanner = Scanner::new();
        if let Some(path) = cfg.baseline.clone() {
            let full = format!("{root}/{}", path.trim_start_matches("./"));
            let text = std::fs::read_to_string(&full).map_err(|e| {
                Error::InvalidConfig(format!(
                    "baseline: cannot read {path:?} in the source tree: {e}"
                ))
            })?;
            let b = Baseline::parse(&text)
                .map_err(|e| Error::InvalidConfig(format!("baseline {path}: {e}")))?;
            log::info(&format!(
                "baseline {path}: {} accepted fingerprints",
                b.len()
            ));
            scanner = scanner.with_baseline(b);
        }
        let mut stats = Stats::default();
        let t0 = std::time::Instant::now();
        let files = walk(&root, &exclude, &mut stats);
        let walk_time = t0.elapsed();
        let (mut read_time, mut scan_time) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
        let total = files.len() as u64;
        let mut found: Vec<(String, Finding)> = Vec::new();
        for (i, (rel, full)) in files.iter().enumerate() {
            if i % 256 == 0 {
                progress(i as u64, total, rel);
            }
            let tr = std::time::Instant::now();
            let read = read_limited(full, max_size);
            read_time += tr.elapsed();
            let data = match read {
                Ok(Ok(d)) => d,
                Ok(Err(len)) => {
                    stats.oversized += 1;
                    stats.warn(format!(
                        "{rel}: {len} bytes is over max-file-size {max_size}, skipped"
                    ));
                    continue;
                }
                Err(e) => {
                    stats.unreadable += 1;
                    stats.warn(format!("{rel}: cannot read: {e}"));
                    continue;
                }
            };
            if is_binary(&data) {
                stats.binary += 1;
                stats.warn(format!("{rel}: binary file, skipped"));
                continue;
            }
            stats.files += 1;
            stats.bytes += data.len() as u64;
            let ts = std::time::Instant::now();
            let (fs, suppressed) = scanner.scan_counted(rel, &data);
            scan_time += ts.elapsed();
            stats.suppressed += suppressed;
            found.extend(fs.into_iter().map(|f| (rel.clone(), f)));
        }
        log::info(&format!(
            "walk {:.2} s, read {:.2} s, scan {:.2} s ({:.1} MB/s scanning)",
            walk_time.as_secs_f64(),
            read_time.as_secs_f64(),
            scan_time.as_secs_f64(),
            stats.bytes as f64 / 1e6 / scan_time.as_secs_f64().max(1e-9)
        ));
        if stats.warnings > MAX_WARNINGS {
            log::warn(&format!(
                "{} more per-file warnings not shown",
                stats.warnings - MAX_WARNINGS
            ));
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
