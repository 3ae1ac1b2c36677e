//! `sbom-cyclonedx`: the built-in SBOM step, a `file-scanner` plugin. The host walks the source
//! tree and feeds it the lockfiles (nested projects included; `node_modules`, `vendor`, `target`,
//! virtualenvs and VCS folders skipped); each file's partial result is its bytes, and `finish`
//! parses them (reading `package.json`, `go.sum` … beside each from `/src`) and builds a
//! CycloneDX 1.5 JSON SBOM with `kiln-sbom-engine`, writes it to `/out/sbom.cdx.json`
//! (`application/vnd.cyclonedx+json`) and reports findings only for what makes the SBOM
//! incomplete: `sbom/unpinned` (a requirement without a pinned version: the SBOM cannot say
//! which version is built) and `sbom/malformed-lockfile` (a lockfile, or part of one, could not
//! be read). Everything else (too-large files, unreadable directories) is logged as a warning.

use kiln_plugin_sdk::scanner::{FileFilter, FileOutcome, Partial, WalkStats};
use kiln_plugin_sdk::{Error, FileScanner, Severity, Step, export_file_scanner, log};
use kiln_sbom_engine::{BomOptions, LockKind, SKIP_DIRS, ScanOptions, ScanResult};

/// Lockfile names (a superset of what `LockKind::detect` accepts; it decides per file).
const LOCKFILES: &[&str] = &[
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "Cargo.lock",
    "poetry.lock",
    "Pipfile.lock",
    "uv.lock",
    "go.mod",
    "Gemfile.lock",
    "gems.locked",
    "composer.lock",
    "*requirements*.txt",
    "**/requirements/*.txt",
];

/// `with:` keys.
#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    name: String,
    version: Option<String>,
    timestamp: Option<String>,
    serial_number: Option<String>,
    output: String,
    unpinned_severity: String,
    malformed_severity: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: "build".into(),
            version: None,
            timestamp: None,
            serial_number: None,
            output: "sbom.cdx.json".into(),
            unpinned_severity: "low".into(),
            malformed_severity: "medium".into(),
        }
    }
}

fn severity(key: &str, name: &str) -> Result<Severity, Error> {
    Ok(match name {
        "note" => Severity::Note,
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        other => return Err(Error::InvalidConfig(format!("{key}: unknown level {other:?}"))),
    })
}

struct SbomStep;

impl FileScanner for SbomStep {
    type Config = Config;

    fn new(cfg: &Config) -> Result<Self, Error> {
        severity("unpinned-severity", &cfg.unpinned_severity)?;
        severity("malformed-severity", &cfg.malformed_severity)?;
        if cfg.name.trim().is_empty() {
            return Err(Error::InvalidConfig("name: must not be empty".into()));
        }
        Ok(SbomStep)
    }

    fn filter(_: &Config) -> FileFilter {
        FileFilter {
            exclude: SKIP_DIRS.iter().map(|d| d.to_string()).collect(),
            only: LOCKFILES.iter().map(|n| n.to_string()).collect(),
            max_file_size: ScanOptions::default().max_file_bytes,
        }
    }

    /// A lockfile's partial result is the file itself: lockfiles are few, and parsing them
    /// needs the manifests beside them, which `finish` reads.
    fn scan_file(&mut self, path: &str, bytes: &[u8]) -> FileOutcome {
        match LockKind::detect(path) {
            Some(_) => FileOutcome::Scanned(bytes.to_vec()),
            None => FileOutcome::Scanned(Vec::new()),
        }
    }

    fn finish(&mut self, partials: Vec<Partial>, _stats: WalkStats, step: &mut Step<Config>) -> Result<(), Error> {
        let root = std::path::Path::new(kiln_plugin_sdk::SOURCE_ROOT);
        let opts = ScanOptions::default();
        let mut scan = ScanResult::default();
        for p in partials {
            scan.lockfiles.extend(kiln_sbom_engine::parse_lockfile(root, &p.path, p.data, &opts));
        }
        report(step, &scan)
    }
}

/// Builds the SBOM from the parsed lockfiles, writes it, reports findings and the summary.
fn report(step: &mut Step<Config>, scan: &ScanResult) -> Result<(), Error> {
    let cfg = step.config();
    let unpinned = severity("unpinned-severity", &cfg.unpinned_severity)?;
    let malformed = severity("malformed-severity", &cfg.malformed_severity)?;
    if cfg.name.trim().is_empty() {
        return Err(Error::InvalidConfig("name: must not be empty".into()));
    }
    let opts = BomOptions {
        name: cfg.name.clone(),
        version: cfg.version.clone(),
        timestamp: cfg.timestamp.clone(),
        serial_number: cfg.serial_number.clone(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
    };
    let output = cfg.output.clone();
    let (json, stats) = kiln_sbom_engine::build(&scan.lockfiles, &opts).map_err(|e| match e {
        e if e.starts_with("timestamp") || e.starts_with("serial number") => Error::InvalidConfig(e),
        e => Error::failed(format!("writing the SBOM: {e}")),
    })?;
    let mut counts = (0usize, 0usize);
    for w in scan.all_warnings() {
        let sev = match w.kind {
            "unpinned" => Some(unpinned),
            "malformed" => Some(malformed),
            _ => None,
        };
        log::warn(&w.to_string());
        if let Some(sev) = sev {
            let rule = if w.kind == "unpinned" { counts.0 += 1; "sbom/unpinned" } else { counts.1 += 1; "sbom/malformed-lockfile" };
            let f = step.finding(rule, sev, w.message.clone());
            match w.line {
                Some(l) => f.at(&w.path, l, 1).report(),
                None => f.at(&w.path, 1, 1).report(),
            }
        }
    }
    step.write_output(&output, "application/vnd.cyclonedx+json", &json)?;
    let types: Vec<String> = stats.by_type.iter().map(|(t, n)| format!("{n} {t}")).collect();
    let mut summary = format!(
        "{} components ({}) from {} lockfile{}, {} dependency edges",
        stats.components,
        if types.is_empty() { "none".to_string() } else { types.join(", ") },
        scan.lockfiles.len(),
        if scan.lockfiles.len() == 1 { "" } else { "s" },
        stats.edges
    );
    if counts.0 > 0 {
        summary.push_str(&format!(", {} unpinned", counts.0));
    }
    if counts.1 > 0 {
        summary.push_str(&format!(", {} unreadable lockfile entries", counts.1));
    }
    if scan.lockfiles.is_empty() {
        summary.push_str(" (no lockfile found under the source root)");
    }
    step.set_summary(summary);
    Ok(())
}

export_file_scanner!(SbomStep, manifest = "kiln-plugin.toml");
