//! Baseline files: accepted findings, one fingerprint per line.
//!
//! ```text
//! # kiln secrets-scan baseline
//! 3f1c0e4b9a7d2c11f0e9b8a7c6d5e4f3  test fixture, revoked 2025-10
//! ```
//!
//! Blank lines and lines starting with `#` are ignored; anything after the fingerprint (separated
//! by whitespace) is a free-form note. Fingerprints are 32 lower-case hex digits (see
//! [`crate::fingerprint`]).

use std::collections::HashSet;

/// A set of accepted fingerprints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    accepted: HashSet<String>,
}

/// A malformed baseline line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineError {
    /// 1-based line number in the baseline file.
    pub line: usize,
    /// What was wrong and what was expected.
    pub message: String,
}

impl std::fmt::Display for BaselineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for BaselineError {}

impl Baseline {
    /// Parses a baseline file.
    pub fn parse(text: &str) -> Result<Baseline, BaselineError> {
        let mut accepted = HashSet::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fp = line.split_whitespace().next().unwrap_or_default();
            if fp.len() != 32
                || !fp
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(BaselineError {
                    line: i + 1,
                    message: format!(
                        "expected a 32-digit lower-case hex fingerprint (as printed in the finding), found {:?}",
                        fp.chars().take(40).collect::<String>()
                    ),
                });
            }
            accepted.insert(fp.to_string());
        }
        Ok(Baseline { accepted })
    }

    /// True when the fingerprint is accepted.
    pub fn contains(&self, fingerprint: &str) -> bool {
        self.accepted.contains(fingerprint)
    }

    /// Number of accepted fingerprints.
    pub fn len(&self) -> usize {
        self.accepted.len()
    }

    /// True when nothing is accepted.
    pub fn is_empty(&self) -> bool {
        self.accepted.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let b = Baseline::parse("# c\n\n0123456789abcdef0123456789abcdef  note\n").unwrap();
        assert!(b.contains("0123456789abcdef0123456789abcdef"));
        assert_eq!(b.len(), 1);
        let e = Baseline::parse("ok\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.to_string().contains("32-digit"));
    }
}
