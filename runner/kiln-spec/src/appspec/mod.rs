//! CodeDeploy AppSpec files (`appspec.yml`, `appspec.yaml`, `appspec.json`) in their three
//! shapes, read with positions and validated like buildspecs.
//!
//! The text goes through the same bounded, positioned YAML reader as a buildspec (JSON is YAML,
//! so a JSON AppSpec gets lines and columns too), and is converted by the same `Ctx` helpers
//! into an [`AppSpec`] while every problem becomes a located [`Diagnostic`] with a stable code
//! (`E10xx` top level and version, `E11xx` files, `E12xx` permissions, `E13xx` hooks, `E14xx`
//! ECS and Lambda resources; unknown keys are the buildspec's `W0001` with a "did you mean").
//!
//! **Which shape.** The compute platform is detected from the content (`detect`): a `Resources`
//! key makes it ECS or Lambda, told apart by the resource's `Type` (then its properties, then
//! its hook events); anything else is EC2/on-premises. The first error says which shape kiln
//! read and why, so a wrong guess is visible.
//!
//! **What CodeDeploy accepts, and what kiln decided** (sources: the user guide's "AppSpec File
//! reference" pages; the agent, aws/aws-codedeploy-agent, Ruby `application_specification/*.rb`
//! and Rust `src/application_specification/parse.rs`; the project's fact sheet `shared/reference/codedeploy.md` §1–3):
//! * `version` must be the *number* 0.0. The guide says "specify with a string", but the Ruby
//!   agent checks `[0.0].include?(version)` and the Rust one reads an `f64`, so `"0.0"` quoted
//!   fails every EC2 deployment: an error (E1012) there. Whether the service accepts the string
//!   for ECS and Lambda is unknown, so it is a warning there (kiln proposal). Any number equal to
//!   0 (`0`, `0.0`) is what the agents accept.
//! * EC2/on-premises keys are case-sensitive: the agents look up `version`, `os`, `files`,
//!   `permissions`, `hooks`, `file_exists_behavior`, `source`, `location`, … by exact name and
//!   ignore anything else, so `Hooks:` would silently run nothing: an error (E1020). Unknown keys
//!   are ignored by the agents: a warning (W0001).
//! * ECS and Lambda keys are matched in any case: the user guide itself writes the Lambda
//!   resource as `resources`/`type`/`properties`/`name`/`currentversion` on its reference page
//!   and as `Resources`/`Type`/`Properties`/`Name`/`CurrentVersion` on its example page, and the
//!   Lambda hooks section as `hooks:` (kiln proposal: both spellings are documented, so both are
//!   read). Event names and enumerated values (`AWS::ECS::Service`, `ENABLED`) are exact.
//! * Hook event names are case-sensitive everywhere ("Names are case-sensitive", agent). An event
//!   the platform does not have, a reserved one, or a misspelt one is an error (E1301–E1304):
//!   CodeDeploy either fails Install on it or never runs it, and either way the hook is lost.
//! * A hook script's `timeout` is 1..=3600 s (E1306, E1307); a sum above 3600 s for one event is
//!   a warning (W1308: it fails only if the scripts really run that long).
//! * Paths from the file are not trusted: a `files` source or hook `location` with a `..`
//!   component leaves the revision and is refused (E1104, E1309).

mod hooks;
pub mod lifecycle;
pub mod model;
mod permissions;
mod resources;
mod server;

pub use lifecycle::{lifecycle, ComputePlatform, DeploymentType, Event, Fleet, LifecycleError};
pub use model::*;

use crate::diag::{Diagnostic, Span};
use crate::model::Spanned;
use crate::read::{anchor, Ctx, Field, KeyCase};
use crate::yaml::{self, Node, NodeKind};

/// The result of reading an AppSpec file: the spec when there were no errors, the platform when
/// it could be told, and every diagnostic.
#[derive(Debug)]
pub struct ParsedAppSpec {
    pub spec: Option<AppSpec>,
    pub platform: Option<ComputePlatform>,
    pub diagnostics: Vec<Diagnostic>,
}

impl ParsedAppSpec {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parse and validate AppSpec text (YAML or JSON). Never panics; every problem becomes a located
/// diagnostic.
pub fn parse_appspec(source: &str) -> ParsedAppSpec {
    let root = match yaml::parse(source) {
        Ok(Some(root)) => root,
        Ok(None) => {
            let d = Diagnostic::error("E1000", "the AppSpec file is empty".into(), Span { offset: 0, len: 0, line: 1, col: 1 })
                .with_help("an EC2/on-premises AppSpec starts with `version: 0.0` and `os: linux`; an ECS or Lambda one with `version: 0.0` and `Resources:`");
            return ParsedAppSpec { spec: None, platform: None, diagnostics: vec![d] };
        }
        Err(mut diagnostics) => {
            // The YAML reader's help speaks of buildspecs and commands.
            for d in &mut diagnostics {
                if d.code == "E0001" {
                    d.help = Some("check indentation (spaces, not tabs) and quoting: a value containing `: ` or ` #`, or starting with `*`, `&`, `!`, `%`, `@` or a quote, must be quoted".into());
                } else if d.help.as_deref().is_some_and(|h| h.contains("buildspec")) {
                    d.help = Some("an AppSpec file this large is almost always generated by mistake; make it smaller".into());
                }
            }
            return ParsedAppSpec { spec: None, platform: None, diagnostics };
        }
    };
    let mut cx = Ctx { diags: Vec::new(), doc: "an appspec" };
    let (platform, spec) = match detect(&root) {
        Ok((platform, reason)) => {
            let spec = convert(&mut cx, &root, platform);
            cx.diags.sort_by_key(|d| d.span.offset);
            if let Some(first) = cx.diags.iter_mut().find(|d| d.is_error()) {
                first.notes.push(format!("kiln read this as {} AppSpec file: {reason}", platform.a()));
            }
            (Some(platform), spec)
        }
        Err(d) => {
            cx.diags.push(*d);
            (None, None)
        }
    };
    let spec = if cx.diags.iter().any(Diagnostic::is_error) { None } else { spec };
    ParsedAppSpec { spec, platform, diagnostics: cx.diags }
}

/// Whether a YAML/JSON text looks like an AppSpec rather than a buildspec: a mapping with
/// `Resources`, `os` or `hooks` (any case) and neither `phases` nor `batch`. For `kiln validate`
/// on a file whose name does not say.
pub fn looks_like_appspec(source: &str) -> bool {
    let Ok(Some(root)) = kiln_yaml::parse(source) else { return false };
    let has = |k: &str| entry(&root, k).is_some();
    !has("phases") && !has("batch") && (has("resources") || has("os") || has("hooks"))
}

/// The entry of `node` whose key is `key` in any case.
fn entry<'n>(node: &'n Node, key: &str) -> Option<(&'n Node, &'n Node)> {
    match &node.kind {
        NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.as_scalar().is_some_and(|s| s.eq_ignore_ascii_case(key))).map(|(k, v)| (k, v)),
        _ => None,
    }
}

const ECS_ONLY_EVENTS: [&str; 3] = ["BeforeInstall", "AfterInstall", "AfterAllowTestTraffic"];

/// Which AppSpec shape `root` is, and why (for the note on the first error).
fn detect(root: &Node) -> Result<(ComputePlatform, String), Box<Diagnostic>> {
    let NodeKind::Map(entries) = &root.kind else {
        return Err(Box::new(Diagnostic::error("E1001", format!("an AppSpec file must be a mapping of keys, found {}", root.describe()), root.span)
            .with_help("start the file with `version: 0.0`")));
    };
    if let Some((k, _)) = entries.iter().find(|(k, _)| matches!(k.as_scalar(), Some("AWSTemplateFormatVersion" | "Transform"))) {
        return Err(Box::new(Diagnostic::error("E1003", "this is a CloudFormation or SAM template, not an AppSpec file".into(), k.span)
            .with_label("a CloudFormation template key")
            .with_help("an AppSpec file for Lambda names the function to shift (`Resources: - myFunction: {Type: AWS::Lambda::Function, Properties: {Name, Alias, CurrentVersion, TargetVersion}}`); deploy the template itself with CloudFormation")));
    }
    let hook_events = || -> Vec<&str> {
        match entry(root, "hooks").map(|(_, v)| &v.kind) {
            Some(NodeKind::Seq(items)) => items
                .iter()
                .filter_map(|i| match &i.kind {
                    NodeKind::Map(e) => Some(e.iter().filter_map(|(k, _)| k.as_scalar())),
                    _ => None,
                })
                .flatten()
                .collect(),
            _ => Vec::new(),
        }
    };
    let by_hooks = |why: &str| -> Option<(ComputePlatform, String)> {
        hook_events()
            .into_iter()
            .find(|e| ECS_ONLY_EVENTS.contains(e))
            .map(|e| (ComputePlatform::Ecs, format!("{why}, and it hooks `{e}`, an ECS-only event")))
    };
    if let Some((key, resources)) = entry(root, "resources") {
        let key = key.as_scalar().unwrap_or("Resources");
        let body = match &resources.kind {
            // The resource is the value of the item's one entry; an item holding `Type` itself
            // (the name level left out) is read as the resource, to say what it is missing.
            NodeKind::Seq(items) => items.iter().find_map(|i| match &i.kind {
                NodeKind::Map(_) if entry(i, "type").is_some() => Some(i),
                NodeKind::Map(e) => e.first().map(|(_, v)| v),
                _ => None,
            }),
            // A mapping of resources (CloudFormation's form, refused later): its first one.
            NodeKind::Map(e) => e.first().map(|(_, v)| v),
            _ => None,
        };
        if let Some(body) = body {
            if let Some(t) = entry(body, "type").and_then(|(_, v)| v.as_scalar()) {
                if t.eq_ignore_ascii_case("AWS::ECS::Service") {
                    return Ok((ComputePlatform::Ecs, format!("its resource has `Type: {t}`")));
                }
                if t.eq_ignore_ascii_case("AWS::Lambda::Function") {
                    return Ok((ComputePlatform::Lambda, format!("its resource has `Type: {t}`")));
                }
            }
            if let Some(props) = entry(body, "properties").map(|(_, v)| v) {
                if let Some(p) = ["TaskDefinition", "LoadBalancerInfo"].into_iter().find(|p| entry(props, p).is_some()) {
                    return Ok((ComputePlatform::Ecs, format!("its resource has the ECS property `{p}`")));
                }
                if let Some(p) = ["Alias", "CurrentVersion", "TargetVersion"].into_iter().find(|p| entry(props, p).is_some()) {
                    return Ok((ComputePlatform::Lambda, format!("its resource has the Lambda property `{p}`")));
                }
            }
        }
        if let Some(found) = by_hooks(&format!("it has `{key}`")) {
            return Ok(found);
        }
        let span = entry(root, "resources").map_or(root.span, |(k, _)| k.span);
        return Err(Box::new(Diagnostic::error("E1002", "cannot tell whether this AppSpec file is for ECS or for Lambda".into(), span)
            .with_label("the resource's type is not known")
            .with_help("give the resource `Type: AWS::ECS::Service` (with `TaskDefinition` and `LoadBalancerInfo`) or `Type: AWS::Lambda::Function` (with `Name`, `Alias`, `CurrentVersion`, `TargetVersion`)")));
    }
    let server_key = ["os", "files", "permissions", "file_exists_behavior"].into_iter().find(|k| entry(root, k).is_some());
    if let Some(k) = server_key {
        return Ok((ComputePlatform::Server, format!("it has `{k}` and no `Resources`")));
    }
    if let Some((k, NodeKind::Seq(_))) = entry(root, "hooks").map(|(k, v)| (k, &v.kind)) {
        let why = format!("its `{}` is a list of event: function entries", k.as_scalar().unwrap_or("Hooks"));
        return Ok(by_hooks(&why).unwrap_or((ComputePlatform::Lambda, why)));
    }
    let why = if entry(root, "hooks").is_some() { "it has `hooks` and no `Resources`" } else { "it has no `Resources`" };
    Ok((ComputePlatform::Server, why.to_string()))
}

/// Top-level keys, by platform. The keys of the other shape are known too, to say they do not
/// belong rather than "unknown key".
const SERVER_KEYS: [&str; 6] = ["version", "os", "files", "permissions", "hooks", "file_exists_behavior"];
const FUNCTION_KEYS: [&str; 3] = ["version", "Resources", "Hooks"];
const SERVER_ONLY_KEYS: [&str; 4] = ["os", "files", "permissions", "file_exists_behavior"];

fn convert(cx: &mut Ctx, root: &Node, platform: ComputePlatform) -> Option<AppSpec> {
    let NodeKind::Map(entries) = &root.kind else { return None };
    // Keys that are lifecycle event names (a hook indented one level too little, or with a stray
    // character, as in `\   AfterInstall`) are errors of their own, not unknown keys.
    let stray: Vec<&str> = entries.iter().filter_map(|(k, _)| k.as_scalar()).filter(|k| stray_event(k).is_some()).collect();
    let own: &[&str] = if platform == ComputePlatform::Server { &SERVER_KEYS } else { &FUNCTION_KEYS };
    // (`Resources` is never in an EC2/on-premises file: it makes the file ECS or Lambda.)
    let other: &[&str] = if platform == ComputePlatform::Server { &[] } else { &SERVER_ONLY_KEYS };
    let mut allowed: Vec<&str> = own.iter().chain(other).copied().collect();
    allowed.extend(&stray);
    let hooks_key = if platform == ComputePlatform::Server { "hooks" } else { "Hooks" };
    let mut fields = Vec::new();
    for f in cx.fields_cased(root, "the AppSpec file", &allowed, KeyCase::Insensitive) {
        let written = f.key_node.as_scalar().unwrap_or(f.key);
        if stray.contains(&f.key) {
            let event = stray_event(f.key).map_or(Event::AfterInstall, |e| e);
            let d = cx.error("E1021", format!("the lifecycle event `{event}` is outside `{hooks_key}`"), f.key_node.span);
            d.label = Some(format!("a top-level key, not a hook of `{hooks_key}`"));
            d.help = Some(if written == event.name() {
                format!("indent it under `{hooks_key}:` like the other events; as it is, CodeDeploy never runs it")
            } else {
                format!("the key is written `{written}`: remove the stray characters and indent `{event}:` under `{hooks_key}:` like the other events; as it is, CodeDeploy never runs it")
            });
        } else if other.contains(&f.key) {
            let d = cx.warn("W1022", format!("`{written}` is not used by {} AppSpec file; kiln ignores it", platform.a()), f.key_node.span);
            d.label = Some("a key of EC2/on-premises AppSpec files".into());
        } else if platform == ComputePlatform::Server && written != f.key {
            let d = cx.error("E1020", format!("`{written}` is not read by CodeDeploy: EC2/on-premises AppSpec keys are case-sensitive"), f.key_node.span);
            d.label = Some(format!("write `{}`", f.key));
            d.help = Some(format!("rename it to `{}`; the CodeDeploy agent looks keys up by their exact name and silently ignores `{written}`", f.key));
        } else {
            fields.push(f);
        }
    }
    let version = version(cx, root, &fields, platform);
    let content = match platform {
        ComputePlatform::Server => server::server(cx, root, &fields).map(Platform::Server),
        ComputePlatform::Ecs | ComputePlatform::Lambda => resources::function_platform(cx, root, &fields, platform),
    };
    Some(AppSpec { version: version?, platform: content? })
}

/// The event a top-level key names once stripped of everything but letters, in any case.
fn stray_event(key: &str) -> Option<Event> {
    let letters: String = key.chars().filter(char::is_ascii_alphabetic).collect();
    Event::ALL.into_iter().find(|e| e.name().eq_ignore_ascii_case(&letters))
}

fn version(cx: &mut Ctx, root: &Node, fields: &[Field], platform: ComputePlatform) -> Option<Spanned<String>> {
    let Some(f) = fields.iter().find(|f| f.key == "version") else {
        cx.error("E1010", "the AppSpec file has no `version`".into(), anchor(root)).help =
            Some("add `version: 0.0` as the first line (0.0 is the only version CodeDeploy supports)".into());
        return None;
    };
    let NodeKind::Scalar { value, plain } = &f.value.kind else {
        cx.expected("version", "the number 0.0", f.value);
        return None;
    };
    let zero = value.trim().parse::<f64>().is_ok_and(|v| v == 0.0);
    if !zero {
        let d = cx.error("E1011", format!("unsupported AppSpec version `{value}`"), f.value.span);
        d.label = Some("expected 0.0".into());
        d.help = Some("CodeDeploy supports only `version: 0.0`".into());
        return None;
    }
    if !plain {
        let msg = format!("`version` is the string \"{value}\"; CodeDeploy expects the number 0.0");
        if platform == ComputePlatform::Server {
            let d = cx.error("E1012", msg, f.value.span);
            d.label = Some("a quoted string".into());
            d.help = Some("remove the quotes: both CodeDeploy agents read `version` as a number and refuse a string (although the user guide says \"string\")".into());
            return None;
        }
        cx.warn("W1012", msg, f.value.span).help = Some("remove the quotes: the EC2 agents refuse a quoted version, and the number is what every CodeDeploy example uses".into());
    }
    Some(Spanned::new(value.clone(), f.value.span))
}

/// A required, non-empty string (numbers keep their written form). Errors at `node` when it is
/// empty or not a scalar.
fn nonempty(cx: &mut Ctx, node: &Node, what: &str, code: &'static str) -> Option<Spanned<String>> {
    if node.is_null() || node.as_scalar().is_some_and(|s| s.trim().is_empty()) {
        cx.error(code, format!("`{what}` is empty"), node.span).label = Some("a value is required here".into());
        return None;
    }
    cx.string(node, what)
}

/// A path from the file that must stay inside the revision: refuse `..` components (and a NUL,
/// which no path can hold).
fn inside_revision(cx: &mut Ctx, path: &Spanned<String>, what: &str, code: &'static str) -> bool {
    if path.value.contains('\0') {
        cx.error(code, format!("`{what}` contains a NUL character, which no file name can hold"), path.span).label = Some("refused".into());
        return false;
    }
    if path.value.split(['/', '\\']).any(|c| c == "..") {
        let d = cx.error(code, format!("`{what}` `{}` has a `..` component: it leaves the revision", path.value), path.span);
        d.label = Some("refused: paths are relative to the revision root".into());
        d.help = Some("name the file by its path inside the revision (bundle), without `..`".into());
        return false;
    }
    true
}

/// A mapping that must hold `key` (written as given) but does not.
fn missing(cx: &mut Ctx, code: &'static str, parent: &Node, what: &str, key: &str, help: String) {
    let span = anchor(parent);
    let d = cx.error(code, format!("`{what}` has no `{key}`"), span);
    d.label = Some(format!("`{key}` is required here"));
    d.help = Some(help);
}

#[cfg(test)]
mod tests;
