//! `kiln-secrets-scan-engine`: the detection logic of kiln's built-in `secrets-scan` plugin, as a
//! plain Rust library (no wasm or WIT dependencies) so it is tested and benchmarked natively and
//! compiled into the wasm component unchanged.
//!
//! One [`Scanner`] is built once (rules compiled, Aho-Corasick keyword automaton) and then scans
//! each file in one pass: the keyword automaton finds candidate lines, and only the rules whose
//! keywords occur on a line run there (vendor-format regexes with validators, assignment-context
//! rules, private-key blocks, URL credentials). Findings carry a redacted preview (the secret is
//! never returned in full), a stable fingerprint, and can be suppressed by inline allow comments
//! or a [`Baseline`].

pub mod baseline;
pub mod decoy;
pub mod generic;
pub mod glob;
pub mod pem;
pub mod rules;
pub mod sarif;
mod scan;
pub mod url;

pub use baseline::{Baseline, BaselineError};
pub use scan::Scanner;

pub use kiln_sarif::Severity;

/// What a rule reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleMeta {
    /// Stable rule id (also the rule family), e.g. `github-pat`.
    pub id: &'static str,
    /// Human name, e.g. `GitHub token`.
    pub name: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// How to fix a finding.
    pub help: &'static str,
}

/// One detected secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule that matched.
    pub rule: RuleMeta,
    /// 1-based line of the secret's first byte.
    pub line: u32,
    /// 1-based byte column of the secret's first byte.
    pub col: u32,
    /// 1-based last line (a PEM block spans several).
    pub end_line: u32,
    /// 1-based column just past the secret on `end_line`.
    pub end_col: u32,
    /// The secret with everything but a short prefix masked, e.g. `ghp_****…(40 chars)`.
    pub redacted: String,
    /// Stable fingerprint: hex SHA-256 over rule id, path and secret, first 32 digits.
    pub fingerprint: String,
    /// One-line message (never contains the secret).
    pub message: String,
    /// The line with the secret replaced by its redaction (at most 200 characters).
    pub snippet: String,
}

/// Rule metadata for the assignment/URL/PEM rules (vendor rules carry their own).
pub fn builtin_meta(id: &str) -> RuleMeta {
    const ROT: &str = "Move the value to a secret store or CI secret and reference it (environment variable, secret mount); rotate the exposed value.";
    match id {
        "generic-password" => RuleMeta {
            id: "generic-password",
            name: "Hard-coded password",
            severity: Severity::High,
            help: ROT,
        },
        "generic-api-key" => RuleMeta {
            id: "generic-api-key",
            name: "Hard-coded API key or token",
            severity: Severity::High,
            help: ROT,
        },
        "high-entropy-secret" => RuleMeta {
            id: "high-entropy-secret",
            name: "Hard-coded secret key (high entropy)",
            severity: Severity::High,
            help: ROT,
        },
        "aws-secret-access-key" => RuleMeta {
            id: "aws-secret-access-key",
            name: "AWS secret access key",
            severity: Severity::Critical,
            help: ROT,
        },
        "database-url-with-password" => RuleMeta {
            id: "database-url-with-password",
            name: "Database URL with password",
            severity: Severity::High,
            help: ROT,
        },
        "basic-auth-in-url" => RuleMeta {
            id: "basic-auth-in-url",
            name: "Credentials in URL",
            severity: Severity::High,
            help: ROT,
        },
        "gcp-service-account" => RuleMeta {
            id: "gcp-service-account",
            name: "Google Cloud service-account key",
            severity: Severity::Critical,
            help: ROT,
        },
        _ => RuleMeta {
            id: "private-key",
            name: "Private key",
            severity: Severity::Critical,
            help: "Revoke the key pair, issue a new one, and keep private keys out of the source tree (secret store, KMS).",
        },
    }
}

/// Every rule the scanner can report (for SARIF `tool.driver.rules`), vendor rules first.
pub fn all_rules() -> Vec<RuleMeta> {
    let mut out: Vec<RuleMeta> = Vec::new();
    for r in rules::token_rules() {
        if !out.iter().any(|m| m.id == r.meta.id) {
            out.push(r.meta);
        }
    }
    for id in [
        "aws-secret-access-key",
        "generic-password",
        "generic-api-key",
        "high-entropy-secret",
        "database-url-with-password",
        "basic-auth-in-url",
        "gcp-service-account",
        "private-key",
    ] {
        if !out.iter().any(|m| m.id == id) {
            out.push(builtin_meta(id));
        }
    }
    out
}

/// Masks a secret: keeps a vendor prefix (up to the first `_`/`-`/`.` within 12 bytes) or the
/// first 3 characters of longer values, then `****`, then the length. Never the whole secret.
pub fn redact(secret: &[u8]) -> String {
    let n = secret.len();
    let keep = secret
        .iter()
        .take(12)
        .rposition(|b| matches!(b, b'_' | b'-' | b'.'))
        .map(|p| p + 1)
        .filter(|&p| p * 2 <= n)
        .unwrap_or(if n >= 16 { 3 } else { 0 });
    let prefix: String = secret[..keep]
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect();
    format!("{prefix}****({n} chars)")
}

/// Stable fingerprint of a finding: SHA-256 over `rule \0 path \0 secret`, first 32 hex digits.
/// It does not change when lines move, and differs per file and per rule.
pub fn fingerprint(rule_id: &str, path: &str, secret: &[u8]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(rule_id.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(secret);
    let d = h.finalize();
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// True when `data` looks binary (a NUL byte in the first 8 KiB), as git and ripgrep decide.
pub fn is_binary(data: &[u8]) -> bool {
    memchr::memchr(0, &data[..data.len().min(8192)]).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_never_shows_the_secret() {
        let r = redact(b"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");
        assert_eq!(r, "ghp_****(40 chars)");
        assert_eq!(redact(b"hunter22"), "****(8 chars)");
        let r = redact(b"a5c9fd48780fa801e59b7f5d57e3fd8d");
        assert_eq!(r, "a5c****(32 chars)");
    }

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        let a = fingerprint("github-pat", "a.txt", b"x");
        assert_eq!(a, fingerprint("github-pat", "a.txt", b"x"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, fingerprint("github-pat", "b.txt", b"x"));
        assert_ne!(a, fingerprint("npm-token", "a.txt", b"x"));
    }

    #[test]
    fn binary_detection() {
        assert!(is_binary(b"abc\0def"));
        assert!(!is_binary("plain text é".as_bytes()));
    }
}
