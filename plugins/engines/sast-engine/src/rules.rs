//! The rule format (TOML) shared by the built-in rules and user rule files, and its compiler.
//!
//! ```toml
//! [[rules]]
//! id = "python.sql-injection"      # unique; dotted: language.family[.variant]
//! family = "sql-injection"         # findings of one family on one line are reported once
//! languages = ["python"]           # python, javascript (covers typescript), go, java, shell, dockerfile, yaml
//! severity = "high"                # note, low, medium, high, critical
//! cwe = ["CWE-89"]
//! message = "SQL built from dynamic text"
//! fix = "Use a parameterised query"
//! pattern = '\.execute\s*\('       # regex on comment-free text; must start in code, not in a string;
//!                                  # a named group `at` moves the reported location onto it
//! pattern-not = ['\?']             # any match in the statement drops the finding
//! args = "dynamic"                 # any | dynamic | dynamic-any | tainted | tainted-first
//! args-pattern = '(?i)select'      # must match one of: the arguments, the first argument resolved
//!                                  # through a variable, or the text after the first argument
//! inside = '(?i)token'             # the enclosing function's header or the statement must match
//! not-inside = 'startswith'        # the enclosing function must not match
//! paths = '\.github/workflows/'    # the file path must match
//! ```

use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;

use crate::{Language, Severity};

/// Which condition a rule puts on the arguments of the matched call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArgCondition {
    /// No condition.
    #[default]
    Any,
    /// The first argument is built at run time (interpolation, concatenation or formatting with a
    /// non-constant, or a variable assigned such a value in the same function).
    Dynamic,
    /// Any argument is built at run time (for calls whose payload is not the first argument).
    DynamicAny,
    /// An argument carries request-derived input (a source of the language, or a variable
    /// assigned from one in the same function, not through a sanitiser).
    Tainted,
    /// The first argument carries request-derived input (URL sinks: a request body is not a URL).
    TaintedFirst,
}

/// One rule as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique rule id.
    pub id: String,
    /// Weakness family (defaults to the id).
    #[serde(default)]
    pub family: Option<String>,
    /// Languages the rule applies to.
    pub languages: Vec<String>,
    /// note, low, medium, high or critical.
    pub severity: String,
    /// CWE ids (`CWE-89`).
    #[serde(default)]
    pub cwe: Vec<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// The sink regex.
    pub pattern: String,
    /// Regexes that drop the finding when they match the statement.
    #[serde(default)]
    pub pattern_not: Vec<String>,
    /// Condition on the call's arguments.
    #[serde(default)]
    pub args: ArgCondition,
    /// Regex the arguments must match.
    #[serde(default)]
    pub args_pattern: Option<String>,
    /// Regex the enclosing function header or the statement must match.
    #[serde(default)]
    pub inside: Option<String>,
    /// Regex the enclosing function must not match.
    #[serde(default)]
    pub not_inside: Option<String>,
    /// Regex the file path must match.
    #[serde(default)]
    pub paths: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rules: Vec<RuleSpec>,
}

/// Rule metadata, as reported in SARIF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// Unique id.
    pub id: String,
    /// Weakness family.
    pub family: String,
    /// Default severity.
    pub severity: Severity,
    /// CWE ids.
    pub cwe: Vec<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// Languages.
    pub languages: Vec<Language>,
}

/// A pattern rule: metadata, and its regexes compiled on first use (a scan of a tree with two
/// languages does not pay for compiling the others' rules; user rules are compiled when parsed,
/// so their errors are reported up front).
#[derive(Debug, Clone)]
pub struct Rule {
    /// Metadata.
    pub info: RuleInfo,
    origin: String,
    spec: RuleSpec,
    matcher: OnceLock<Option<Matcher>>,
}

impl Rule {
    /// The compiled regexes (`None` only if a built-in regex were invalid, which the unit tests
    /// rule out; user rules were compiled when parsed).
    pub(crate) fn matcher(&self) -> Option<&Matcher> {
        self.matcher
            .get_or_init(|| compile_matcher(&self.origin, &self.spec).ok())
            .as_ref()
    }
}

/// The compiled regexes of a rule.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    pub(crate) pattern: Regex,
    pub(crate) pattern_not: Vec<Regex>,
    pub(crate) args: ArgCondition,
    pub(crate) args_pattern: Option<Regex>,
    pub(crate) inside: Option<Regex>,
    pub(crate) not_inside: Option<Regex>,
    pub(crate) paths: Option<Regex>,
    /// The pattern has a named group `at`: report the finding there instead of at the match.
    pub(crate) has_at: bool,
}

/// A rule file that could not be used; `Display` names the file, the rule and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError(pub String);

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RuleError {}

/// Parse and compile a TOML rule file; `origin` names it in errors.
pub fn parse_rules(origin: &str, text: &str) -> Result<Vec<Rule>, RuleError> {
    let rules = parse_lazy(origin, text)?;
    for r in &rules {
        let m = compile_matcher(origin, &r.spec)?;
        let _ = r.matcher.set(Some(m));
    }
    Ok(rules)
}

/// Parse a rule file and check its metadata; regexes are compiled on first use.
fn parse_lazy(origin: &str, text: &str) -> Result<Vec<Rule>, RuleError> {
    let file: RuleFile = toml::from_str(text).map_err(|e| {
        RuleError(format!(
            "{origin}: not a valid rule file: {}",
            e.to_string().trim_end()
        ))
    })?;
    let mut out = Vec::with_capacity(file.rules.len());
    for spec in file.rules {
        out.push(compile(origin, spec)?);
    }
    Ok(out)
}

fn compile(origin: &str, s: RuleSpec) -> Result<Rule, RuleError> {
    let at =
        |field: &str, msg: String| RuleError(format!("{origin}: rule {:?}: {field}: {msg}", s.id));
    if s.id.trim().is_empty() {
        return Err(RuleError(format!("{origin}: a rule has an empty id")));
    }
    let severity = s.severity.parse::<Severity>().map_err(|_| {
        at(
            "severity",
            format!(
                "{:?} is not one of note, low, medium, high, critical",
                s.severity
            ),
        )
    })?;
    let mut languages = Vec::new();
    for l in &s.languages {
        languages.push(Language::parse(l).ok_or_else(|| {
            at(
                "languages",
                format!("unknown language {l:?} (python, javascript, typescript, go, java, shell, dockerfile, yaml)"),
            )
        })?);
    }
    if languages.is_empty() {
        return Err(at("languages", "must name at least one language".into()));
    }
    for c in &s.cwe {
        let ok = c
            .strip_prefix("CWE-")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(at("cwe", format!("{c:?} is not of the form CWE-<number>")));
        }
    }
    Ok(Rule {
        origin: origin.to_string(),
        matcher: OnceLock::new(),
        info: RuleInfo {
            family: s.family.clone().unwrap_or_else(|| s.id.clone()),
            id: s.id.clone(),
            severity,
            cwe: s.cwe.clone(),
            message: s.message.clone(),
            fix: s.fix.clone(),
            languages,
        },
        spec: s,
    })
}

pub(crate) fn compile_matcher(origin: &str, s: &RuleSpec) -> Result<Matcher, RuleError> {
    let re = |field: &str, p: &str| {
        Regex::new(&format!("(?m){}", ascii_classes(p))).map_err(|e| {
            RuleError(format!(
                "{origin}: rule {:?}: {field}: invalid regex: {e}",
                s.id
            ))
        })
    };
    let pattern = re("pattern", &s.pattern)?;
    let has_at = pattern.capture_names().any(|n| n == Some("at"));
    Ok(Matcher {
        has_at,
        pattern,
        pattern_not: s
            .pattern_not
            .iter()
            .map(|p| re("pattern-not", p))
            .collect::<Result<_, _>>()?,
        args: s.args,
        args_pattern: s
            .args_pattern
            .as_deref()
            .map(|p| re("args-pattern", p))
            .transpose()?,
        inside: s.inside.as_deref().map(|p| re("inside", p)).transpose()?,
        not_inside: s
            .not_inside
            .as_deref()
            .map(|p| re("not-inside", p))
            .transpose()?,
        paths: s.paths.as_deref().map(|p| re("paths", p)).transpose()?,
    })
}

/// Rewrite `\\w`, `\\s`, `\\d` and `\\b` to their ASCII forms: the Unicode tables behind them make
/// each regex several times slower to compile (noticeable in the wasm plugin, which compiles its
/// rules on every run), and source-code tokens these rules look at are ASCII.
fn ascii_classes(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 16);
    let mut chars = p.chars().peekable();
    let mut class_depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push(c);
                    break;
                };
                let inside = class_depth > 0;
                match (n, inside) {
                    ('w', false) => out.push_str("(?-u:\\w)"),
                    ('s', false) => out.push_str("(?-u:\\s)"),
                    ('d', false) => out.push_str("[0-9]"),
                    ('b', false) => out.push_str("(?-u:\\b)"),
                    ('w', true) => out.push_str("[:word:]"),
                    ('s', true) => out.push_str("[:space:]"),
                    ('d', true) => out.push_str("0-9"),
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' => {
                // `[:name:]` inside a class is a POSIX class, not a nested class
                if class_depth > 0 && chars.peek() == Some(&':') {
                    out.push(c);
                    for d in chars.by_ref() {
                        out.push(d);
                        if d == ']' {
                            break;
                        }
                    }
                    continue;
                }
                class_depth += 1;
                out.push(c);
                // a `]` or `^]` right after the opening bracket is a literal
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                if chars.peek() == Some(&']') {
                    out.push(chars.next().unwrap_or(']'));
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The built-in rule files, embedded at compile time.
pub const BUILTIN: &[(&str, &str)] = &[
    ("builtin:python.toml", include_str!("../rules/python.toml")),
    (
        "builtin:javascript.toml",
        include_str!("../rules/javascript.toml"),
    ),
    ("builtin:go.toml", include_str!("../rules/go.toml")),
    ("builtin:java.toml", include_str!("../rules/java.toml")),
    ("builtin:infra.toml", include_str!("../rules/infra.toml")),
    ("builtin:common.toml", include_str!("../rules/common.toml")),
];

/// Every built-in pattern rule.
pub fn builtin_rules() -> Result<Vec<Rule>, RuleError> {
    let mut out = Vec::new();
    for (origin, text) in BUILTIN {
        out.extend(parse_lazy(origin, text)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_compile_and_ids_are_unique() {
        let rules = builtin_rules().unwrap();
        for r in &rules {
            compile_matcher("builtin", &r.spec).unwrap();
        }
        assert!(rules.len() > 40, "{}", rules.len());
        let mut ids: Vec<_> = rules.iter().map(|r| r.info.id.clone()).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(n, ids.len(), "duplicate rule ids");
        assert!(rules.iter().all(|r| !r.info.cwe.is_empty()));
    }

    #[test]
    fn ascii_class_rewrite() {
        assert_eq!(
            ascii_classes(r"\bx\s*[\w.]+\d"),
            r"(?-u:\b)x(?-u:\s)*[[:word:].]+[0-9]"
        );
        assert_eq!(ascii_classes(r"[^\]]\\w"), r"[^\]]\\w");
        let re = Regex::new(&ascii_classes(r"\bfoo\s*\(")).unwrap();
        assert!(re.is_match("x = foo (1)") && !re.is_match("xfoo("));
    }

    #[test]
    fn errors_name_origin_rule_and_field() {
        let bad = r#"[[rules]]
id = "x"
languages = ["cobol"]
severity = "high"
message = "m"
fix = "f"
pattern = "a"
"#;
        let e = parse_rules("my.toml", bad).unwrap_err().to_string();
        assert!(
            e.contains("my.toml") && e.contains("\"x\"") && e.contains("languages"),
            "{e}"
        );
        let e = parse_rules(
            "my.toml",
            &bad.replace("cobol", "go").replace("\"a\"", "\"(\""),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("pattern: invalid regex"), "{e}");
        let e = parse_rules(
            "my.toml",
            &bad.replace("cobol", "go").replace("high", "urgent"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("severity"), "{e}");
        let e = parse_rules("my.toml", "rules = 3").unwrap_err().to_string();
        assert!(e.starts_with("my.toml: not a valid rule file"), "{e}");
        let e = parse_rules(
            "my.toml",
            &bad.replace("cobol", "go")
                .replace("fix = \"f\"", "fix = \"f\"\nbogus = 1"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("bogus"), "{e}");
    }
}
