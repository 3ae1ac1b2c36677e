//! Conversion of the positioned YAML tree into a [`BuildSpec`]: top level, version and phases.

use crate::diag::{did_you_mean, Diagnostic};
use crate::model::*;
use crate::read::{Ctx, Field};
use crate::sections;
use crate::yaml::{self, Node, NodeKind};

const TOP_KEYS: &[&str] = &["version", "run-as", "env", "proxy", "batch", "phases", "reports", "artifacts", "cache", "kiln"];
const PHASE_KEYS: &[&str] = &["run-as", "on-failure", "runtime-versions", "commands", "finally"];

/// The result of reading a buildspec: the spec when there were no errors, and every diagnostic.
#[derive(Debug)]
pub struct Parsed {
    pub spec: Option<BuildSpec>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parse and validate buildspec text. Never panics; every problem becomes a located diagnostic.
pub fn parse_buildspec(source: &str) -> Parsed {
    let root = match yaml::parse(source) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Parsed {
                spec: None,
                diagnostics: vec![Diagnostic::error("E0005", "the buildspec is empty".into(), crate::Span { offset: 0, len: 0, line: 1, col: 1 })
                    .with_help("a buildspec needs at least `version: 0.2` and a `phases` section")],
            };
        }
        Err(diagnostics) => return Parsed { spec: None, diagnostics },
    };
    let mut cx = Ctx::default();
    let spec = convert(&mut cx, &root);
    let spec = if cx.diags.iter().any(Diagnostic::is_error) { None } else { spec };
    Parsed { spec, diagnostics: cx.diags }
}

fn convert(cx: &mut Ctx, root: &Node) -> Option<BuildSpec> {
    if !matches!(root.kind, NodeKind::Map(_)) {
        cx.error("E0010", format!("a buildspec must be a mapping of keys, found {}", root.describe()), root.span)
            .help = Some("start the file with `version: 0.2`".into());
        return None;
    }
    let fields = cx.fields(root, "buildspec", TOP_KEYS);
    let get = |k: &str| fields.iter().find(|f| f.key == k);

    let version = match get("version") {
        Some(f) => version(cx, f),
        None => {
            cx.error("E0100", "the buildspec has no `version`".into(), root.span).help =
                Some("add `version: 0.2` as the first line".into());
            None
        }
    };
    let run_as = get("run-as").and_then(|f| cx.string(f.value, "run-as"));
    let env = get("env").map(|f| sections::env(cx, f.value)).unwrap_or_default();
    let proxy = get("proxy").map(|f| sections::proxy(cx, f.value));
    let batch = get("batch").map(|f| crate::batch::batch(cx, f.key_node, f.value));
    let phases = get("phases").map(|f| phases(cx, f.value)).unwrap_or_default();
    let reports = get("reports").map(|f| sections::reports(cx, f.value)).unwrap_or_default();
    let artifacts = get("artifacts").map(|f| sections::artifacts(cx, f.value));
    let cache = get("cache").map(|f| sections::cache(cx, f.value));
    let kiln = get("kiln").map(|f| sections::kiln(cx, f.value)).unwrap_or_default();

    if get("phases").is_none() && batch.is_none() {
        cx.error("E0101", "the buildspec has no `phases`".into(), root.span).help =
            Some("add a `phases:` section with at least `build: commands: [...]`".into());
    }
    Some(BuildSpec { version: version?, run_as, env, proxy, batch, phases, reports, artifacts, cache, kiln })
}

fn version(cx: &mut Ctx, f: &Field) -> Option<Version> {
    match f.value.as_scalar().map(str::trim) {
        Some("0.2") => Some(Version::V0_2),
        Some("0.1") => Some(Version::V0_1),
        other => {
            let found = other.map(|s| format!("`{s}`")).unwrap_or_else(|| f.value.describe().to_string());
            cx.error("E0100", format!("unsupported buildspec version {found}"), f.value.span).label =
                Some("expected 0.1 or 0.2".into());
            cx.diags.last_mut().expect("pushed").help = Some("CodeBuild supports `version: 0.2` (recommended) and the legacy `0.1`".into());
            None
        }
    }
}

fn phases(cx: &mut Ctx, node: &Node) -> Vec<Phase> {
    let keys: Vec<&str> = PhaseName::ALL.iter().map(|p| p.key()).collect();
    let mut out: Vec<Phase> = cx.fields(node, "phases", &keys).into_iter().filter_map(|f| phase(cx, &f)).collect();
    out.sort_by_key(|p| p.name);
    out
}

fn phase(cx: &mut Ctx, f: &Field) -> Option<Phase> {
    let name = PhaseName::from_key(f.key)?;
    let what = format!("phases.{}", f.key);
    let mut phase = Phase {
        name,
        span: f.key_node.span,
        run_as: None,
        on_failure: None,
        runtime_versions: Vec::new(),
        commands: Vec::new(),
        finally: Vec::new(),
    };
    for pf in cx.fields(f.value, &what, PHASE_KEYS) {
        let sub = format!("{what}.{}", pf.key);
        match pf.key {
            "run-as" => phase.run_as = cx.string(pf.value, &sub),
            "on-failure" => phase.on_failure = cx.string(pf.value, &sub).and_then(|s| on_failure(cx, s)),
            "runtime-versions" => {
                if name != PhaseName::Install {
                    cx.error("E0110", format!("`runtime-versions` is only allowed in the install phase, not in `{}`", f.key), pf.key_node.span)
                        .help = Some("move it to `phases.install.runtime-versions`".into());
                }
                phase.runtime_versions = cx.env_entries(pf.value, &sub, false);
            }
            "commands" => phase.commands = commands(cx, pf.value, &sub),
            "finally" => phase.finally = commands(cx, pf.value, &sub),
            _ => {}
        }
    }
    Some(phase)
}

fn commands(cx: &mut Ctx, node: &Node, what: &str) -> Vec<Step> {
    match &node.kind {
        _ if node.is_null() => Vec::new(),
        NodeKind::Seq(items) => items
            .iter()
            .filter(|i| !i.is_null())
            .filter_map(|i| match &i.kind {
                NodeKind::Scalar { value, .. } => Some(Step::Shell(Spanned::new(value.clone(), i.span))),
                NodeKind::Map(entries) if entries.iter().any(|(k, _)| k.as_scalar() == Some("uses")) => uses_step(cx, i, what).map(Step::Uses),
                _ => {
                    let d = cx.error("E0120", format!("a command in `{what}` must be a string, found {}", i.describe()), i.span);
                    d.label = Some("this list item is not a plain command".into());
                    d.help = Some(if matches!(i.kind, NodeKind::Map(_)) {
                        "the command contains `: ` so YAML read it as a mapping; quote the whole command, or use a block scalar (`- |`)".into()
                    } else {
                        "write each command as one string list item".into()
                    });
                    None
                }
            })
            .collect(),
        _ => {
            let d = cx.error("E0121", format!("`{what}` must be a list of commands, found {}", node.describe()), node.span);
            d.label = Some("expected a list".into());
            d.help = Some("write each command on its own line starting with `- `".into());
            Vec::new()
        }
    }
}

fn uses_step(cx: &mut Ctx, node: &Node, what: &str) -> Option<UsesStep> {
    let mut plugin = None;
    let mut with = serde_json::Value::Object(Default::default());
    let mut with_spans = Vec::new();
    for f in cx.fields(node, &format!("a plugin step in {what}"), &["uses", "with"]) {
        if f.key == "uses" {
            plugin = cx.string(f.value, "uses");
            if let Some(p) = &plugin
                && let Some(problem) = crate::plugin_ref::problem(&p.value)
            {
                cx.error("E0140", format!("invalid plugin reference `{}`: {problem}", p.value), p.span).help =
                    Some("use a built-in plugin name, a path to a .wasm component, or `name@sha256:<64 hex digits>`".into());
            }
        } else {
            for wf in cx.fields(f.value, "with", &[]) {
                with_spans.push((wf.key.to_string(), wf.key_node.span));
            }
            with = to_json(f.value);
            if !with.is_object() && !f.value.is_null() {
                cx.error("E0141", format!("`with` must be a mapping of settings, found {}", f.value.describe()), f.value.span);
            }
            if f.value.is_null() {
                with = serde_json::Value::Object(Default::default());
            }
        }
    }
    Some(UsesStep { plugin: plugin?, with, with_spans })
}

/// A YAML node as JSON: plain scalars that read as numbers, booleans or null become those.
fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match &node.kind {
        NodeKind::Scalar { value, plain: true } => {
            if node.is_null() {
                Value::Null
            } else if let Ok(b) = value.parse::<bool>() {
                Value::Bool(b)
            } else if let Ok(i) = value.parse::<i64>() {
                Value::from(i)
            } else if let Some(n) = value.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                Value::Number(n)
            } else {
                Value::String(value.clone())
            }
        }
        NodeKind::Scalar { value, .. } => Value::String(value.clone()),
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => {
            Value::Object(entries.iter().filter_map(|(k, v)| k.as_scalar().map(|k| (k.to_string(), to_json(v)))).collect())
        }
    }
}

/// Parse an `on-failure` value: ABORT, CONTINUE, RETRY, RETRY-count, RETRY-regex or RETRY-count-regex.
pub fn parse_on_failure(text: &str) -> Result<OnFailure, String> {
    const DEFAULT_RETRIES: u32 = 3;
    match text {
        "ABORT" => return Ok(OnFailure::Abort),
        "CONTINUE" => return Ok(OnFailure::Continue),
        "RETRY" => return Ok(OnFailure::Retry { count: DEFAULT_RETRIES, regex: None }),
        _ => {}
    }
    let Some(rest) = text.strip_prefix("RETRY-") else {
        return Err(match did_you_mean(text, &["ABORT", "CONTINUE", "RETRY"]) {
            Some(s) if !text.is_empty() => format!("did you mean `{s}`? (values are upper case)"),
            _ => "use ABORT, CONTINUE, RETRY, RETRY-<count>, RETRY-<regex> or RETRY-<count>-<regex>".into(),
        });
    };
    let (count, regex) = match rest.split_once('-') {
        Some((n, re)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => (Some(n), Some(re)),
        _ if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) => (Some(rest), None),
        _ => (None, Some(rest)),
    };
    let count = match count {
        Some(n) => match n.parse::<u32>() {
            Ok(n) if n <= 100 => n,
            _ => return Err(format!("retry count `{n}` must be between 0 and 100")),
        },
        None => DEFAULT_RETRIES,
    };
    if let Some(re) = regex {
        if re.is_empty() {
            return Err("the retry regular expression after `-` is empty".into());
        }
        if let Err(e) = regex::Regex::new(re) {
            return Err(format!("invalid retry regular expression: {e}"));
        }
    }
    Ok(OnFailure::Retry { count, regex: regex.map(str::to_string) })
}

fn on_failure(cx: &mut Ctx, s: Spanned<String>) -> Option<Spanned<OnFailure>> {
    match parse_on_failure(&s.value) {
        Ok(v) => Some(Spanned::new(v, s.span)),
        Err(help) => {
            let d = cx.error("E0130", format!("invalid `on-failure` value `{}`", s.value), s.span);
            d.label = Some("expected ABORT, CONTINUE or a RETRY form".into());
            d.help = Some(help);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_failure_forms() {
        assert_eq!(parse_on_failure("ABORT"), Ok(OnFailure::Abort));
        assert_eq!(parse_on_failure("CONTINUE"), Ok(OnFailure::Continue));
        assert_eq!(parse_on_failure("RETRY"), Ok(OnFailure::Retry { count: 3, regex: None }));
        assert_eq!(parse_on_failure("RETRY-5"), Ok(OnFailure::Retry { count: 5, regex: None }));
        assert_eq!(parse_on_failure("RETRY-timeout.*"), Ok(OnFailure::Retry { count: 3, regex: Some("timeout.*".into()) }));
        assert_eq!(parse_on_failure("RETRY-2-Connection reset"), Ok(OnFailure::Retry { count: 2, regex: Some("Connection reset".into()) }));
        assert_eq!(parse_on_failure("RETRY-2-a-b"), Ok(OnFailure::Retry { count: 2, regex: Some("a-b".into()) }));
        assert!(parse_on_failure("RETRY-101").is_err());
        assert!(parse_on_failure("RETRY-2-(").is_err());
        assert!(parse_on_failure("abort").unwrap_err().contains("ABORT"));
        assert!(parse_on_failure("").is_err());
    }

    #[test]
    fn uses_steps_lists_plugin_steps_in_phase_order() {
        let src = "version: 0.2\nphases:\n  pre_build:\n    commands:\n      - echo a\n      - uses: secrets-scan\n    finally:\n      - uses: ./b.wasm\n  build:\n    commands:\n      - uses: sast\n";
        let spec = parse_buildspec(src).spec.expect("valid");
        let names: Vec<&str> = spec.uses_steps().map(|u| u.plugin.value.as_str()).collect();
        assert_eq!(names, ["secrets-scan", "./b.wasm", "sast"]);
        let plain = parse_buildspec("version: 0.2\nphases:\n  build:\n    commands:\n      - echo a\n").spec.expect("valid");
        assert_eq!(plain.uses_steps().count(), 0);
    }
}
