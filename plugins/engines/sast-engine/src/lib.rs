//! `kiln-sast-engine`: the static analysis engine behind kiln's built-in `sast` plugin.
//!
//! Pure Rust, no I/O: the plugin (or a test) hands it file paths and bytes, it returns findings.
//! Each file is lexed with a light lexer for its language ([`lexer`]) so matches inside comments
//! and string literals are not taken for code; rules ([`rules`], a documented TOML format also used
//! for user rules) match sinks and check their context with taint-lite ([`scope`]): request-derived
//! input reaching a sink through local assignments, SQL/commands built by concatenation or
//! formatting versus parameterised calls, sanitisers and allowlist checks in the same function.
//! A few checks that need more structure than a regex (Dockerfile stages, Go import aliases,
//! GitHub Actions `run:` blocks) are code ([`code_rules`]).

pub mod code_rules;
pub mod lexer;
pub mod rules;
pub mod scope;

mod engine;
pub mod sarif;

#[cfg(test)]
mod rule_tests;

pub use engine::{Engine, FileOutcome, Finding, Limits};
pub use rules::{Rule, RuleError, RuleInfo, parse_rules};

/// Languages the engine understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    /// Python.
    Python,
    /// JavaScript and TypeScript (incl. JSX/TSX).
    JavaScript,
    /// Go.
    Go,
    /// Java.
    Java,
    /// POSIX shell / bash scripts.
    Shell,
    /// Dockerfiles / Containerfiles.
    Dockerfile,
    /// YAML: CI workflows (GitHub, GitLab), buildspecs, docker-compose, Kubernetes.
    Yaml,
}

impl Language {
    /// Every language.
    pub const ALL: &'static [Language] = &[
        Language::Python,
        Language::JavaScript,
        Language::Go,
        Language::Java,
        Language::Shell,
        Language::Dockerfile,
        Language::Yaml,
    ];

    /// The name used in rule files and config.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::Go => "go",
            Language::Java => "java",
            Language::Shell => "shell",
            Language::Dockerfile => "dockerfile",
            Language::Yaml => "yaml",
        }
    }

    /// Parse a language name (`typescript`, `ts`, `js`, `bash`, `sh` are accepted aliases).
    pub fn parse(s: &str) -> Option<Language> {
        Some(match s.to_ascii_lowercase().as_str() {
            "python" | "py" => Language::Python,
            "javascript" | "js" | "typescript" | "ts" => Language::JavaScript,
            "go" | "golang" => Language::Go,
            "java" => Language::Java,
            "shell" | "sh" | "bash" => Language::Shell,
            "dockerfile" | "docker" => Language::Dockerfile,
            "yaml" | "yml" => Language::Yaml,
            _ => return None,
        })
    }

    /// Whether string literals are data (not command text) in this language.
    pub fn strings_are_data(self) -> bool {
        matches!(
            self,
            Language::Python | Language::JavaScript | Language::Go | Language::Java
        )
    }

    /// The language of a file, from its path (relative, `/`-separated) and first line.
    pub fn detect(path: &str, first_line: &str) -> Option<Language> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let lower = name.to_ascii_lowercase();
        let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        if lower == "dockerfile"
            || lower == "containerfile"
            || lower.starts_with("dockerfile.")
            || ext == "dockerfile"
        {
            return Some(Language::Dockerfile);
        }
        if lower.ends_with(".d.ts") || lower.ends_with(".d.mts") || lower.ends_with(".d.cts") {
            // TypeScript declarations hold no code to analyse
            return None;
        }
        match ext {
            "py" | "pyw" => return Some(Language::Python),
            "js" | "mjs" | "cjs" | "jsx" | "ts" | "mts" | "cts" | "tsx" => {
                return Some(Language::JavaScript);
            }
            "go" => return Some(Language::Go),
            "java" => return Some(Language::Java),
            "sh" | "bash" | "ksh" | "zsh" => return Some(Language::Shell),
            "yml" | "yaml" => return Some(Language::Yaml),
            _ => {}
        }
        if ext.is_empty() || !name.contains('.') {
            let l = first_line.trim();
            if l.starts_with("#!") {
                if l.contains("python") {
                    return Some(Language::Python);
                }
                if l.contains("node") {
                    return Some(Language::JavaScript);
                }
                if ["/sh", "bash", "zsh", "ksh", "dash"]
                    .iter()
                    .any(|s| l.contains(s))
                {
                    return Some(Language::Shell);
                }
            }
        }
        None
    }
}

/// Finding severity (the five kiln levels), shared with the SARIF writer.
pub use kiln_sarif::Severity;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_languages() {
        assert_eq!(Language::detect("a/b.py", ""), Some(Language::Python));
        assert_eq!(
            Language::detect("src/x.tsx", ""),
            Some(Language::JavaScript)
        );
        assert_eq!(
            Language::detect("docker/api/Dockerfile", ""),
            Some(Language::Dockerfile)
        );
        assert_eq!(
            Language::detect("build.Dockerfile", ""),
            Some(Language::Dockerfile)
        );
        assert_eq!(
            Language::detect(".github/workflows/ci.yml", ""),
            Some(Language::Yaml)
        );
        assert_eq!(
            Language::detect("bin/run", "#!/usr/bin/env bash"),
            Some(Language::Shell)
        );
        assert_eq!(
            Language::detect("bin/tool", "#!/usr/bin/python3"),
            Some(Language::Python)
        );
        assert_eq!(Language::detect("README.md", "#!/bin/sh"), None);
        assert_eq!(Language::detect("x.rs", ""), None);
        assert_eq!(Language::detect("types/index.d.ts", ""), None);
    }
}
