//! Running rules over a file.

use std::collections::{HashMap, HashSet};

use crate::lexer::lex;
use crate::rules::{ArgCondition, Matcher, Rule, RuleError, RuleInfo, builtin_rules};
use crate::scope::Source;
use crate::{Language, Severity, code_rules};

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    /// Rule id.
    pub rule_id: String,
    /// Weakness family of the rule.
    pub family: String,
    /// Severity.
    pub severity: Severity,
    /// Path relative to the scan root, `/`-separated.
    pub path: String,
    /// 1-based line.
    pub start_line: u32,
    /// 1-based column (Unicode code points).
    pub start_col: u32,
    /// 1-based end line.
    pub end_line: u32,
    /// 1-based end column (code points), exclusive.
    pub end_col: u32,
    /// Message (rule message).
    pub message: String,
    /// Stable fingerprint: rule, path and the normalised statement text (not its line number),
    /// with an occurrence counter for identical statements.
    pub fingerprint: String,
    /// The line, trimmed and cut to 200 characters.
    pub snippet: String,
}

/// Per-file limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Files larger than this are skipped with a warning.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 4 * 1024 * 1024,
        }
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    /// Scanned (possibly without findings).
    Scanned(Vec<Finding>),
    /// Not a language the engine (or the selection) covers.
    NotApplicable,
    /// Skipped; the reason says why (binary, too large, invalid UTF-8).
    Skipped(String),
}

/// The rule set and selection.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: Vec<Rule>,
    languages: Option<HashSet<Language>>,
    limits: Limits,
    disabled: HashSet<String>,
}

impl Engine {
    /// Built-in rules plus `extra` (user rules); ids must be unique.
    pub fn new(extra: Vec<Rule>) -> Result<Engine, RuleError> {
        let mut rules = builtin_rules()?;
        let mut ids: HashSet<String> = rules.iter().map(|r| r.info.id.clone()).collect();
        ids.extend(code_rules::infos().into_iter().map(|i| i.id));
        for r in extra {
            if !ids.insert(r.info.id.clone()) {
                return Err(RuleError(format!(
                    "rule id {:?} is already used by a built-in rule or an earlier user rule; pick another id",
                    r.info.id
                )));
            }
            rules.push(r);
        }
        Ok(Engine {
            rules,
            languages: None,
            limits: Limits::default(),
            disabled: HashSet::new(),
        })
    }

    /// Only scan these languages.
    pub fn with_languages(mut self, langs: &[Language]) -> Self {
        self.languages = Some(langs.iter().copied().collect());
        self
    }

    /// Turn rules off: each name is a rule id, a family (`sql-injection`) or an id prefix ending
    /// in `.` (`python.`). A name that selects no rule is an error (a typo would silently keep
    /// the rule on).
    pub fn disable(&mut self, names: &[String]) -> Result<(), RuleError> {
        let infos = self.rule_infos();
        for name in names {
            let hits: Vec<&RuleInfo> = infos
                .iter()
                .filter(|i| {
                    i.id == *name
                        || i.family == *name
                        || (name.ends_with('.') && i.id.starts_with(name.as_str()))
                })
                .collect();
            if hits.is_empty() {
                return Err(RuleError(format!(
                    "disable: {name:?} is not a rule id, family or id prefix ending in '.' (see the rule list in plugins/sast/README.md)"
                )));
            }
            self.disabled.extend(hits.iter().map(|i| i.id.clone()));
        }
        Ok(())
    }

    /// Set the per-file limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Metadata of every enabled rule (pattern and code rules), sorted by id.
    pub fn rule_infos(&self) -> Vec<RuleInfo> {
        let mut v: Vec<RuleInfo> = self.rules.iter().map(|r| r.info.clone()).collect();
        v.extend(code_rules::infos());
        v.retain(|i| !self.disabled.contains(&i.id));
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Scan one file given its bytes; never panics on bad input.
    pub fn scan_bytes(&self, path: &str, bytes: &[u8]) -> FileOutcome {
        let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
        let first_line = String::from_utf8_lossy(&first_line[..first_line.len().min(200)]);
        let Some(lang) = Language::detect(path, &first_line) else {
            return FileOutcome::NotApplicable;
        };
        if self.languages.as_ref().is_some_and(|l| !l.contains(&lang)) {
            return FileOutcome::NotApplicable;
        }
        if bytes.len() as u64 > self.limits.max_file_bytes {
            return FileOutcome::Skipped(format!(
                "{} bytes is over the {}-byte limit per file",
                bytes.len(),
                self.limits.max_file_bytes
            ));
        }
        if bytes[..bytes.len().min(8192)].contains(&0) {
            return FileOutcome::Skipped("binary file (NUL byte in the first 8 KiB)".into());
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => FileOutcome::Scanned(self.scan_text(path, lang, text)),
            Err(e) => FileOutcome::Skipped(format!(
                "not valid UTF-8 (first bad byte at offset {})",
                e.valid_up_to()
            )),
        }
    }

    /// Scan `text` as `lang`.
    pub fn scan_text(&self, path: &str, lang: Language, text: &str) -> Vec<Finding> {
        let lx = lex(lang, text);
        let src = Source::new(lang, &lx);
        let mut raw: Vec<(RuleInfo, usize, usize)> = Vec::new();
        for rule in &self.rules {
            if !rule.info.languages.contains(&lang) || self.disabled.contains(&rule.info.id) {
                continue;
            }
            let Some(m) = rule.matcher() else { continue };
            if m.paths.as_ref().is_some_and(|p| !p.is_match(path)) {
                continue;
            }
            if m.has_at {
                for c in m.pattern.captures_iter(src.text()) {
                    let (Some(hit), Some(at)) = (c.get(0), c.name("at")) else {
                        continue;
                    };
                    if self.accept(m, &src, hit.start(), hit.end()).is_some() {
                        raw.push((rule.info.clone(), at.start(), at.end()));
                    }
                }
            } else {
                for hit in m.pattern.find_iter(src.text()) {
                    if let Some(anchor) = self.accept(m, &src, hit.start(), hit.end()) {
                        raw.push((rule.info.clone(), anchor, hit.end()));
                    }
                }
            }
        }
        code_rules::scan(&src, path, &mut |info, start, end| {
            if !self.disabled.contains(&info.id) {
                raw.push((info, start, end));
            }
        });
        self.finish(path, &src, text, raw)
    }

    /// Whether the match `start..end` of `rule` is a finding; returns its anchor (first
    /// non-blank byte of the match).
    fn accept(&self, rule: &Matcher, src: &Source, start: usize, end: usize) -> Option<usize> {
        let text = src.text();
        // The anchor: first non-blank byte of the match must be code (not in a string literal).
        let anchor = text[start..end]
            .find(|c: char| !c.is_whitespace())
            .map_or(start, |o| start + o);
        if !src.lx.is_code(anchor) {
            return None;
        }
        let stmt = src.statement(anchor);
        let stmt_text = &text[stmt.clone()];
        if rule.pattern_not.iter().any(|r| r.is_match(stmt_text)) {
            return None;
        }
        let need_fn = rule.args != ArgCondition::Any
            || rule.inside.is_some()
            || rule.not_inside.is_some()
            || rule.args_pattern.is_some();
        if !need_fn {
            return Some(anchor);
        }
        let (hdr, func) = src.function(anchor);
        let args = src.args(end, &stmt);
        let first = src.first_arg(&args);
        match rule.args {
            ArgCondition::Any => {}
            ArgCondition::Dynamic => {
                if !src.is_dynamic(&first, &func, 2) {
                    return None;
                }
            }
            ArgCondition::DynamicAny => {
                if !src.is_dynamic(&args, &func, 0) {
                    return None;
                }
            }
            ArgCondition::Tainted | ArgCondition::TaintedFirst => {
                let tainted = src.tainted_vars(&func, stmt.start);
                let r = if rule.args == ArgCondition::Tainted {
                    &args
                } else {
                    &first
                };
                if !src.mentions_taint(r, &tainted) {
                    return None;
                }
            }
        }
        if let Some(p) = &rule.args_pattern {
            let resolved = src.resolve(&first, &func);
            let rest = first.end.min(args.end)..args.end;
            let hay = format!(
                "{}\n{}\n{}",
                &text[args.clone()],
                &text[resolved],
                &text[rest]
            );
            if !p.is_match(&hay) {
                return None;
            }
        }
        if let Some(p) = &rule.inside
            && !p.is_match(&text[hdr])
            && !p.is_match(stmt_text)
        {
            return None;
        }
        if let Some(p) = &rule.not_inside
            && p.is_match(&text[func])
        {
            return None;
        }
        Some(anchor)
    }

    fn finish(
        &self,
        path: &str,
        src: &Source,
        orig: &str,
        mut raw: Vec<(RuleInfo, usize, usize)>,
    ) -> Vec<Finding> {
        // One finding per family and line: the most severe rule wins, then the earliest match.
        raw.sort_by(|a, b| {
            src.line_of(a.1)
                .cmp(&src.line_of(b.1))
                .then(b.0.severity.cmp(&a.0.severity))
                .then(a.1.cmp(&b.1))
        });
        let mut seen = HashSet::new();
        let mut occurrences: HashMap<String, u32> = HashMap::new();
        let mut out = Vec::new();
        for (info, start, end) in raw {
            let line = src.line_of(start);
            if !seen.insert((info.family.clone(), line)) {
                continue;
            }
            let lr = src.line_range(line);
            let end = end.min(lr.end).max(start);
            let snippet_src = orig.get(lr.clone()).unwrap_or("").trim();
            let snippet: String = snippet_src.chars().take(200).collect();
            let norm: String = snippet_src.split_whitespace().collect::<Vec<_>>().join(" ");
            let key = format!("{}\0{}\0{}", info.id, path, norm);
            let n = occurrences.entry(key.clone()).or_insert(0);
            *n += 1;
            let fingerprint = kiln_sarif::fingerprint(&[&info.id, path, &norm, &n.to_string()]);
            out.push(Finding {
                rule_id: info.id.clone(),
                family: info.family.clone(),
                severity: info.severity,
                path: path.to_string(),
                start_line: line as u32 + 1,
                start_col: col(orig, lr.start, start),
                end_line: line as u32 + 1,
                end_col: col(orig, lr.start, end),
                message: format!("{} ({})", info.message, info.cwe.join(", ")),
                fingerprint,
                snippet,
            });
        }
        out
    }
}

/// 1-based code-point column of byte `pos` on the line starting at `line_start`.
fn col(text: &str, line_start: usize, pos: usize) -> u32 {
    text.get(line_start..pos)
        .map_or(pos - line_start, |s| s.chars().count()) as u32
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_rules;

    #[test]
    fn bad_files_are_skipped_with_a_reason_not_a_panic() {
        let e = Engine::new(Vec::new())
            .unwrap()
            .with_limits(Limits { max_file_bytes: 64 });
        assert!(
            matches!(e.scan_bytes("a.py", b"x = 1\0\0"), FileOutcome::Skipped(w) if w.contains("binary"))
        );
        assert!(
            matches!(e.scan_bytes("a.py", b"x = '\xff'"), FileOutcome::Skipped(w) if w.contains("UTF-8"))
        );
        assert!(
            matches!(e.scan_bytes("a.py", &[b'#'; 65]), FileOutcome::Skipped(w) if w.contains("limit"))
        );
        assert_eq!(e.scan_bytes("a.bin", b"\0\0"), FileOutcome::NotApplicable);
        assert_eq!(e.scan_bytes("a.py", b""), FileOutcome::Scanned(Vec::new()));
    }

    #[test]
    fn user_rules_extend_and_disable_selects() {
        let user = parse_rules(
            "team.toml",
            r#"[[rules]]
id = "team.no-print"
languages = ["python"]
severity = "low"
cwe = ["CWE-532"]
message = "print of a secret"
fix = "use logging with redaction"
pattern = '\bprint\s*\('
inside = '(?i)secret'
"#,
        )
        .unwrap();
        let mut e = Engine::new(user).unwrap();
        let src = b"def show_secret(s):\n    print(s)\n\ndef hello():\n    print('hi')\n";
        let FileOutcome::Scanned(v) = e.scan_bytes("a.py", src) else {
            panic!()
        };
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].rule_id.as_str(), v[0].start_line, v[0].start_col),
            ("team.no-print", 2, 5)
        );
        assert!(v[0].message.contains("CWE-532"));
        e.disable(&["team.".to_string()]).unwrap();
        assert_eq!(e.scan_bytes("a.py", src), FileOutcome::Scanned(Vec::new()));
        assert!(
            e.disable(&["no-such-rule".to_string()])
                .unwrap_err()
                .to_string()
                .contains("no-such-rule")
        );
        let dup = parse_rules("d.toml", "[[rules]]\nid = \"python.weak-hash\"\nlanguages = [\"python\"]\nseverity = \"low\"\nmessage = \"m\"\nfix = \"f\"\npattern = \"x\"\n").unwrap();
        assert!(
            Engine::new(dup)
                .unwrap_err()
                .to_string()
                .contains("already used")
        );
    }

    #[test]
    fn one_finding_per_family_and_line_and_fingerprints_survive_line_moves() {
        let e = Engine::new(Vec::new()).unwrap();
        let a = b"c = DES.new(k, DES.MODE_ECB)\n";
        let FileOutcome::Scanned(v1) = e.scan_bytes("a.py", a) else {
            panic!()
        };
        assert_eq!(v1.len(), 1, "{v1:?}");
        let b = b"\n\n# moved\nc = DES.new(k, DES.MODE_ECB)\n";
        let FileOutcome::Scanned(v2) = e.scan_bytes("a.py", b) else {
            panic!()
        };
        assert_eq!(v2[0].start_line, 4);
        assert_eq!(v1[0].fingerprint, v2[0].fingerprint);
    }
}
