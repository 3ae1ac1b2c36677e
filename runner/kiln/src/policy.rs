//! The `kiln verify --policy` file: what a build's provenance must show beyond a valid signature.
//!
//! ```yaml
//! version: 1
//! builders: [https://kiln.dev/builders/local/v1]   # allowed builder ids (any if absent)
//! source:
//!   repository: https://github.com/acme/app.git   # required source repository
//!   revision: 0123abcd…                            # required commit (optional)
//! plugins:
//!   required: [{name: secrets-scan}]               # each entry: name, digest (sha256:…), or both
//!   forbidden: [{name: curl-fetch}, {digest: "sha256:…"}]
//! scanners:                                        # plugins that must have run, and the most
//!   - {name: secrets-scan, max-severity: low}      # severe finding they may have reported
//! allow-failed-builds: false
//! allow-cache: false                               # refuse builds that restored a build cache
//! ```
//! Unknown keys are errors, reported with their line and column. Aliases are bounded as in a
//! buildspec (`kiln-yaml`).

use std::path::Path;

use serde::Deserialize;

/// A parsed policy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Policy {
    pub version: u32,
    #[serde(default)]
    pub builders: Vec<String>,
    pub source: Option<SourceRule>,
    #[serde(default)]
    pub plugins: PluginRules,
    #[serde(default)]
    pub scanners: Vec<ScannerRule>,
    #[serde(default)]
    pub allow_failed_builds: bool,
    /// Whether a build may have restored a build cache entry (true when absent).
    #[serde(default = "yes")]
    pub allow_cache: bool,
}

fn yes() -> bool {
    true
}

/// `source:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRule {
    pub repository: Option<String>,
    pub revision: Option<String>,
}

/// `plugins:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginRules {
    #[serde(default)]
    pub required: Vec<PluginMatch>,
    #[serde(default)]
    pub forbidden: Vec<PluginMatch>,
}

/// A plugin named by name, digest or both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginMatch {
    pub name: Option<String>,
    pub digest: Option<String>,
}

/// `scanners:` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScannerRule {
    pub name: String,
    pub max_severity: Severity,
}

/// Finding severities, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    None,
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// A severity name as the provenance records it (`low`, `critical`, …).
    fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "none" => Severity::None,
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

/// A plugin run as the provenance records it.
pub struct PluginFact {
    pub name: String,
    pub sha256: String,
    /// (severity, count) pairs.
    pub findings: Vec<(String, u64)>,
}

/// What the provenance says, in the terms the policy checks.
pub struct Facts {
    pub builder: String,
    pub repository: Option<String>,
    pub revision: Option<String>,
    pub status: String,
    pub plugins: Vec<PluginFact>,
    /// The build cache entries the build restored (`resolvedDependencies`), described.
    pub cache: Vec<String>,
}

impl PluginMatch {
    fn matches(&self, p: &PluginFact) -> bool {
        let digest = self.digest.as_deref().map(|d| d.trim_start_matches("sha256:").to_ascii_lowercase());
        self.name.as_ref().is_none_or(|n| *n == p.name) && digest.is_none_or(|d| d == p.sha256) && (self.name.is_some() || self.digest.is_some())
    }
    fn describe(&self) -> String {
        match (&self.name, &self.digest) {
            (Some(n), Some(d)) => format!("{n} ({d})"),
            (Some(n), None) => n.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) => "(an empty entry)".into(),
        }
    }
}

/// Read a policy file; the error names the file, line and column.
///
/// serde_yaml expands aliases without a bound on bytes, so the text goes through kiln-yaml's
/// bounded reader (the buildspec's) first: a document whose aliases expand it past 16 times its
/// size is refused at the alias that crosses the bound, before anything is expanded.
pub fn load(path: &Path) -> Result<Policy, String> {
    let text = kiln_fs::read_input_to_string(path, kiln_fs::limits::CONFIG, "policy").map_err(|e| e.to_string())?;
    kiln_yaml::check(&text).map_err(|e| format!("{}:{}:{}: {e}", path.display(), e.span.line, e.span.col))?;
    let policy: Policy = serde_yaml::from_str(&text).map_err(|e| match e.location() {
        Some(l) => format!("{}:{}:{}: {e}", path.display(), l.line(), l.column()),
        None => format!("{}: {e}", path.display()),
    })?;
    if policy.version != 1 {
        return Err(format!("{}: policy version {} is not supported (use `version: 1`)", path.display(), policy.version));
    }
    Ok(policy)
}

/// Check `facts` against `policy`: one `(check name, Ok | Err(expected vs found))` per rule.
pub fn evaluate(policy: &Policy, facts: &Facts) -> Vec<(String, Result<(), String>)> {
    let mut out = Vec::new();
    if !policy.builders.is_empty() {
        let ok = policy.builders.contains(&facts.builder);
        out.push(("policy: builder".into(), if ok { Ok(()) } else { Err(format!("expected one of {:?}, found {}", policy.builders, facts.builder)) }));
    }
    if let Some(src) = &policy.source {
        if let Some(repo) = &src.repository {
            let found = facts.repository.clone().unwrap_or_else(|| "none".into());
            out.push(("policy: source repository".into(), if &found == repo { Ok(()) } else { Err(format!("expected {repo}, found {found}")) }));
        }
        if let Some(rev) = &src.revision {
            let found = facts.revision.clone().unwrap_or_else(|| "none".into());
            out.push(("policy: source revision".into(), if &found == rev { Ok(()) } else { Err(format!("expected {rev}, found {found}")) }));
        }
    }
    if !policy.allow_failed_builds {
        let ok = facts.status == "SUCCEEDED";
        out.push(("policy: build status".into(), if ok { Ok(()) } else { Err(format!("expected SUCCEEDED, found {}", facts.status)) }));
    }
    if !policy.allow_cache {
        let result = if facts.cache.is_empty() { Ok(()) } else { Err(format!("the build restored a build cache entry: {}", facts.cache.join(", "))) };
        out.push(("policy: no build cache".into(), result));
    }
    for r in &policy.plugins.required {
        let ok = facts.plugins.iter().any(|p| r.matches(p));
        out.push((format!("policy: required plugin {}", r.describe()), if ok { Ok(()) } else { Err("it did not run in this build".into()) }));
    }
    for f in &policy.plugins.forbidden {
        let ran: Vec<&PluginFact> = facts.plugins.iter().filter(|p| f.matches(p)).collect();
        let result = if ran.is_empty() { Ok(()) } else { Err(format!("it ran: {} ({})", ran[0].name, ran[0].sha256)) };
        out.push((format!("policy: forbidden plugin {}", f.describe()), result));
    }
    for s in &policy.scanners {
        let runs: Vec<&PluginFact> = facts.plugins.iter().filter(|p| p.name == s.name).collect();
        let result = if runs.is_empty() {
            Err("the scanner did not run in this build".into())
        } else {
            let worst = runs
                .iter()
                .flat_map(|p| p.findings.iter())
                .filter(|(_, n)| *n > 0)
                .filter_map(|(sev, _)| Severity::parse(sev))
                .max()
                .unwrap_or(Severity::None);
            if worst <= s.max_severity { Ok(()) } else { Err(format!("expected findings of at most {:?}, found {:?}", s.max_severity, worst)) }
        };
        out.push((format!("policy: scanner {}", s.name), result));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(plugins: Vec<PluginFact>) -> Facts {
        Facts { builder: "b".into(), repository: Some("r".into()), revision: Some("c".into()), status: "SUCCEEDED".into(), plugins, cache: Vec::new() }
    }

    fn scan(findings: &[(&str, u64)]) -> PluginFact {
        PluginFact { name: "secrets-scan".into(), sha256: "ab".repeat(32), findings: findings.iter().map(|(s, n)| (s.to_string(), *n)).collect() }
    }

    fn failures(p: &str, f: &Facts) -> Vec<String> {
        let policy: Policy = serde_yaml::from_str(p).unwrap();
        evaluate(&policy, f).into_iter().filter_map(|(n, r)| r.err().map(|e| format!("{n}: {e}"))).collect()
    }

    #[test]
    fn rules() {
        let f = facts(vec![scan(&[("low", 2), ("high", 0)])]);
        assert!(failures("version: 1\nbuilders: [b]\nsource: {repository: r, revision: c}\n", &f).is_empty());
        assert_eq!(failures("version: 1\nbuilders: [x]\n", &f), vec!["policy: builder: expected one of [\"x\"], found b"]);
        assert!(failures("version: 1\nplugins: {forbidden: [{name: secrets-scan}]}\n", &f)[0].contains("it ran"));
        let digest = format!("version: 1\nplugins: {{forbidden: [{{digest: \"sha256:{}\"}}]}}\n", "ab".repeat(32));
        assert!(failures(&digest, &f)[0].contains("forbidden plugin"));
        assert!(failures("version: 1\nplugins: {required: [{name: sbom}]}\n", &f)[0].contains("did not run"));
        assert!(failures("version: 1\nscanners: [{name: secrets-scan, max-severity: low}]\n", &f).is_empty());
        let mut cached = facts(vec![]);
        cached.cache.push("kiln-cache:npm-1@v (sha256:ab)".into());
        assert!(failures("version: 1\n", &cached).is_empty(), "a cache is allowed unless the policy says so");
        assert!(failures("version: 1\nallow-cache: false\n", &cached)[0].contains("restored a build cache entry: kiln-cache:npm-1"));
        assert!(failures("version: 1\nallow-cache: false\n", &f).is_empty());
        let f2 = facts(vec![scan(&[("critical", 1)])]);
        assert!(failures("version: 1\nscanners: [{name: secrets-scan, max-severity: high}]\n", &f2)[0].contains("Critical"));
    }

    #[test]
    fn unknown_keys_are_located_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policy.yml");
        std::fs::write(&p, "version: 1\nbuilder: [x]\n").unwrap();
        let e = load(&p).unwrap_err();
        assert!(e.contains("policy.yml:2:1") && e.contains("unknown field `builder`"), "{e}");
        std::fs::write(&p, "version: 2\n").unwrap();
        assert!(load(&p).unwrap_err().contains("version 2"));
    }

    #[test]
    fn aliases_that_expand_past_the_bound_are_refused_at_the_alias() {
        // 512 KiB referenced 40 times: 20 MiB of text from a file whose bound is 16 MiB.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policy.yml");
        let aliases = vec!["*a"; 40].join(", ");
        std::fs::write(&p, format!("version: 1\nbuilders: [&a \"{}\", {aliases}]\n", "b".repeat(512 << 10))).unwrap();
        let e = load(&p).unwrap_err();
        assert!(e.starts_with(&format!("{}:2:", p.display())), "{e}");
        assert!(e.contains("MiB of text") && e.contains("reference the anchor fewer times"), "{e}");
        assert!(!e.contains("bbbb"), "{e}");
        // A few aliases are fine.
        std::fs::write(&p, "version: 1\nbuilders: [&b x, *b]\n").unwrap();
        assert_eq!(load(&p).unwrap().builders, ["x", "x"]);
    }

    #[test]
    fn severities_parse_by_name() {
        assert_eq!(Severity::parse("critical"), Some(Severity::Critical));
        assert_eq!(Severity::parse("none"), Some(Severity::None));
        assert_eq!(Severity::parse("bogus"), None);
    }
}
