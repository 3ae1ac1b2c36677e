//! Checking what a plugin returned and wrote before anyone trusts it.

use crate::bindings::v0_1_0::step::exports::kiln::plugin::step_plugin::StepResult;
use crate::bindings::v0_1_0::step::kiln::plugin::types as wit;
use crate::cache::sha256_hex;
use crate::error::PluginError;
use crate::limits::LimitKind;
use crate::types::{Finding, Location, OutputFile, Severity, StepInvocation};
use std::collections::BTreeSet;
use std::path::Path;

/// Longest `rule-id` / `fingerprint` / media type, bytes.
const MAX_ID_BYTES: usize = 256;

/// Checks a relative guest path: non-empty, `/`-separated, no `.`/`..`/empty components, no
/// backslash or NUL. Returns the reason when it is not acceptable.
pub fn check_relative_path(path: &str, max: usize) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path.len() > max {
        return Err(format!("path longer than {max} bytes"));
    }
    if path.starts_with('/') {
        return Err(format!(
            "{path:?} is absolute; paths are relative to the root"
        ));
    }
    if path.contains('\\') || path.contains('\0') {
        return Err(format!("{path:?} contains a backslash or NUL"));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!("{path:?} has an empty, `.` or `..` component"));
    }
    Ok(())
}

/// Walks the output directory (without following symlinks) and says which limit it is over, if
/// any. Stops counting as soon as a limit is passed.
pub fn output_over_limit(dir: &Path, max_bytes: u64, max_files: usize) -> Option<LimitKind> {
    let mut stack = vec![dir.to_path_buf()];
    let (mut bytes, mut files) = (0u64, 0usize);
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            files += 1;
            if files > max_files {
                return Some(LimitKind::OutputFiles { count: max_files });
            }
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                bytes = bytes.saturating_add(meta.len());
                if bytes > max_bytes {
                    return Some(LimitKind::OutputBytes { bytes: max_bytes });
                }
            }
        }
    }
    None
}

fn severity(s: wit::Severity) -> Severity {
    match s {
        wit::Severity::Note => Severity::Note,
        wit::Severity::Low => Severity::Low,
        wit::Severity::Medium => Severity::Medium,
        wit::Severity::High => Severity::High,
        wit::Severity::Critical => Severity::Critical,
    }
}

/// Validate and convert a step result: findings (count, strings, locations, fingerprints),
/// outputs (paths inside `/out`, regular files, no symlinks, hashed) and the summary.
pub fn result(
    plugin: &str,
    r: StepResult,
    inv: &StepInvocation,
) -> Result<(Vec<Finding>, Vec<OutputFile>, String), PluginError> {
    let lim = &inv.limits;
    let bad = |reason: String| PluginError::MalformedResult {
        plugin: plugin.to_string(),
        reason,
    };
    if r.findings.len() > lim.max_findings {
        return Err(PluginError::LimitExceeded {
            plugin: plugin.into(),
            limit: LimitKind::Findings {
                count: lim.max_findings,
            },
        });
    }
    let too_long = |what: &str, s: &str, max: usize| -> Result<(), PluginError> {
        if s.len() > max {
            return Err(PluginError::LimitExceeded {
                plugin: format!("{plugin} ({what})"),
                limit: LimitKind::StringBytes { bytes: max },
            });
        }
        Ok(())
    };
    too_long("summary", &r.summary, lim.max_string_bytes)?;
    let mut findings = Vec::with_capacity(r.findings.len());
    for (i, f) in r.findings.into_iter().enumerate() {
        if f.rule_id.is_empty()
            || f.rule_id.len() > MAX_ID_BYTES
            || f.rule_id.chars().any(char::is_control)
        {
            return Err(bad(format!(
                "finding {i}: rule-id must be 1-{MAX_ID_BYTES} bytes without control characters"
            )));
        }
        too_long("finding message", &f.message, lim.max_string_bytes)?;
        if f.fingerprint.len() > MAX_ID_BYTES {
            return Err(bad(format!(
                "finding {i}: fingerprint longer than {MAX_ID_BYTES} bytes"
            )));
        }
        let location = match f.location {
            None => None,
            Some(l) => {
                check_relative_path(&l.path, lim.max_string_bytes)
                    .map_err(|e| bad(format!("finding {i}: location: {e}")))?;
                if l.end_line != 0 && l.end_line < l.start_line {
                    return Err(bad(format!(
                        "finding {i}: location ends (line {}) before it starts (line {})",
                        l.end_line, l.start_line
                    )));
                }
                Some(Location {
                    path: l.path,
                    start_line: l.start_line,
                    start_col: l.start_col,
                    end_line: l.end_line,
                    end_col: l.end_col,
                })
            }
        };
        let fingerprint = if f.fingerprint.is_empty() {
            let path = location.as_ref().map(|l| l.path.as_str()).unwrap_or("");
            sha256_hex(format!("{}\0{path}\0{}", f.rule_id, f.message).as_bytes())[..32].to_string()
        } else {
            f.fingerprint
        };
        findings.push(Finding {
            rule_id: f.rule_id,
            severity: severity(f.severity),
            location,
            message: f.message,
            fingerprint,
        });
    }
    let mut outputs = Vec::with_capacity(r.outputs.len());
    let mut seen = BTreeSet::new();
    if !r.outputs.is_empty() && !inv.grants.write_output {
        return Err(bad(
            "reports output files but write-output was not granted".into()
        ));
    }
    for o in r.outputs {
        check_relative_path(&o.path, lim.max_string_bytes)
            .map_err(|e| bad(format!("output: {e}")))?;
        if o.media_type.is_empty()
            || o.media_type.len() > MAX_ID_BYTES
            || !o.media_type.contains('/')
        {
            return Err(bad(format!(
                "output /out/{}: media type {:?} is not a type/subtype",
                o.path, o.media_type
            )));
        }
        if !seen.insert(o.path.clone()) {
            return Err(bad(format!("output /out/{} is listed twice", o.path)));
        }
        let mut host_path = inv.out_dir.clone();
        for comp in o.path.split('/') {
            host_path.push(comp);
            let meta = host_path
                .symlink_metadata()
                .map_err(|_| bad(format!("output /out/{} does not exist", o.path)))?;
            if meta.file_type().is_symlink() {
                return Err(bad(format!(
                    "output /out/{} goes through a symlink",
                    o.path
                )));
            }
        }
        let content = std::fs::read(&host_path).map_err(|_| {
            bad(format!(
                "output /out/{} is not a readable regular file",
                o.path
            ))
        })?;
        outputs.push(OutputFile {
            sha256: sha256_hex(&content),
            size: content.len() as u64,
            path: o.path,
            media_type: o.media_type,
        });
    }
    Ok((findings, outputs, r.summary))
}

#[cfg(test)]
mod tests {
    use super::check_relative_path;

    #[test]
    fn relative_paths() {
        for ok in ["a", "a/b.txt", "dir/.hidden", "a..b"] {
            assert!(check_relative_path(ok, 100).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/",
            "a\\b",
            "a\0b",
        ] {
            assert!(check_relative_path(bad, 100).is_err(), "{bad:?}");
        }
        assert!(check_relative_path("abcdef", 3).is_err());
    }
}
