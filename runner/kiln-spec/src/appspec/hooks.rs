//! `hooks`: scripts per lifecycle event (EC2/on-premises) or one Lambda function per event (ECS,
//! Lambda), and the check every event name goes through.
//!
//! Sources: user guide "AppSpec 'hooks' section" (event lists per platform; `location` required,
//! `timeout` default and maximum 3600 s for all scripts of an event, `runas` Linux only); the
//! agents' `ScriptInfo` (location required and trimmed, timeout > 0) and `RawScript` (`sudo`).

use std::collections::HashMap;

use super::lifecycle::{ComputePlatform, Event};
use super::model::{EventScripts, FunctionHook, Os, Script, MAX_SCRIPT_TIMEOUT};
use super::server::exact_fields;
use super::{inside_revision, missing, nonempty};
use crate::read::anchor;
use crate::diag::{did_you_mean, Span};
use crate::model::Spanned;
use crate::read::Ctx;
use crate::yaml::{Node, NodeKind};

/// Names in CodeDeploy's diagrams that are steps of the deployment, not events a hook can name.
const DIAGRAM_STEPS: [&str; 3] = ["Start", "End", "TestTraffic"];

/// Check a hook's event name for `platform`: it must be one of the platform's hookable events,
/// written exactly. Reports E1301 (unknown, with "did you mean"), E1302 (reserved), E1303 (an
/// event of another platform) or E1304 (wrong case).
pub(super) fn event(cx: &mut Ctx, name: &str, span: Span, platform: ComputePlatform) -> Option<Spanned<Event>> {
    let exact = Event::from_name(name);
    if let Some(e) = exact.filter(|e| e.is_hookable(platform)) {
        return Some(Spanned::new(e, span));
    }
    let p = platform.describe();
    let hookable = platform.hookable_events();
    let names: Vec<&str> = hookable.iter().map(|e| e.name()).collect();
    let list = format!("the events {} AppSpec file can hook are: {}", platform.a(), names.join(", "));
    if let Some(e) = exact.filter(|e| e.is_reserved() && platform.has_event(*e)) {
        let around: Vec<String> = ["Before", "After"]
            .iter()
            .map(|pre| format!("{pre}{}", e.name()))
            .filter(|n| Event::from_name(n).is_some_and(|x| x.is_hookable(platform)))
            .map(|n| format!("`{n}`"))
            .collect();
        let help = match (e, around.as_slice()) {
            (Event::DownloadBundle, _) => "run scripts before it in `ApplicationStop` or after it in `BeforeInstall`".to_string(),
            (_, []) => list,
            (_, a) => format!("run scripts around it in {}", a.join(" or ")),
        };
        let d = cx.error("E1302", format!("`{e}` is reserved: CodeDeploy runs it itself and it cannot be hooked"), span);
        d.label = Some("a reserved lifecycle event".into());
        d.help = Some(help);
        return None;
    }
    if DIAGRAM_STEPS.contains(&name) {
        let d = cx.error("E1302", format!("`{name}` is a step of the deployment that CodeDeploy runs itself; it cannot be hooked"), span);
        d.label = Some("not a hookable event".into());
        d.help = Some(if name == "TestTraffic" { "hook `AfterAllowTestTraffic` to run after test traffic reaches the replacement task set".into() } else { list });
        return None;
    }
    if let Some(e) = exact.or_else(|| Event::ALL.into_iter().find(|e| e.name().eq_ignore_ascii_case(name))) {
        if exact.is_none() && e.is_hookable(platform) {
            let d = cx.error("E1304", format!("`{name}` is not a lifecycle event: event names are case-sensitive"), span);
            d.label = Some(format!("write `{e}`"));
            d.help = Some(format!("did you mean `{e}`? CodeDeploy compares event names exactly"));
            return None;
        }
        let others: Vec<&str> = [ComputePlatform::Server, ComputePlatform::Ecs, ComputePlatform::Lambda]
            .into_iter()
            .filter(|q| e.is_hookable(*q))
            .map(ComputePlatform::describe)
            .collect();
        let d = cx.error("E1303", format!("`{e}` is not a lifecycle event of {p} deployments"), span);
        d.label = Some(format!("an event of {} deployments", others.join(" and ")));
        d.help = Some(list);
        return None;
    }
    let d = cx.error("E1301", format!("`{name}` is not a lifecycle event"), span);
    d.label = Some(format!("not {} lifecycle event", platform.a()));
    d.help = Some(match did_you_mean(name, &names) {
        Some(s) => format!("did you mean `{s}`? ({list})"),
        None => list,
    });
    None
}

/// EC2/on-premises `hooks`: a mapping of event → list of scripts.
pub(super) fn server_hooks(cx: &mut Ctx, node: &Node, os: Option<Os>) -> Vec<EventScripts> {
    let entries = match &node.kind {
        _ if node.is_null() => return Vec::new(),
        NodeKind::Map(entries) => entries,
        NodeKind::Seq(_) => {
            let d = cx.error("E1300", "`hooks` of an EC2/on-premises AppSpec file must be a mapping of events to scripts, found a list".into(), node.span);
            d.label = Some("expected `Event:` keys".into());
            d.help = Some("write `hooks:` then `  AfterInstall:` then `    - location: scripts/after_install.sh`; a list of `- Event: function` is the ECS and Lambda form".into());
            return Vec::new();
        }
        NodeKind::Scalar { .. } => {
            cx.expected("hooks", "a mapping of lifecycle events to scripts", node);
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        let Some(name) = k.as_scalar() else {
            cx.expected("a key of hooks", "a lifecycle event name", k);
            continue;
        };
        let event = event(cx, name, k.span, ComputePlatform::Server);
        let scripts = scripts(cx, v, name, os);
        if let Some(event) = event {
            out.push(EventScripts { event, scripts });
        }
    }
    out
}

fn scripts(cx: &mut Ctx, node: &Node, event: &str, os: Option<Os>) -> Vec<Script> {
    let what = format!("hooks.{event}");
    let items = match &node.kind {
        _ if node.is_null() => return Vec::new(),
        NodeKind::Seq(items) => items,
        other => {
            let d = cx.error("E1305", format!("`{what}` must be a list of scripts, found {}", node.describe()), node.span);
            d.label = Some("expected a list".into());
            d.help = Some(match other {
                NodeKind::Scalar { value, .. } => format!("write the script as a list item: `- location: {value}`"),
                _ => "start each script with `- `: `- location: scripts/x.sh`".into(),
            });
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    let mut total: u64 = 0;
    for item in items.iter().filter(|i| !i.is_null()) {
        let NodeKind::Map(_) = item.kind else {
            let d = cx.error("E1305", format!("a script in `{what}` must be a mapping with `location`, found {}", item.describe()), item.span);
            d.label = Some("not a script entry".into());
            d.help = Some(match item.as_scalar() {
                Some(v) => format!("write `- location: {v}`"),
                None => "write each script as `- location: path/in/revision.sh` with optional `timeout` and `runas`".into(),
            });
            continue;
        };
        let mut s = Script { location: Spanned::default(), timeout: None, runas: None, sudo: None };
        let mut location = None;
        for f in exact_fields(cx, item, &what, &["location", "timeout", "runas", "sudo"]) {
            let sub = format!("{what}[].{}", f.key);
            match f.key {
                "location" => location = Some(nonempty(cx, f.value, &sub, "E1315").map(trimmed)),
                "timeout" => s.timeout = timeout(cx, f.value, &sub),
                "runas" => {
                    s.runas = cx.string(f.value, &sub).map(trimmed);
                    if os == Some(Os::Windows) {
                        let d = cx.warn("W1311", "`runas` applies to Linux instances only; on Windows CodeDeploy ignores it".into(), f.key_node.span);
                        d.help = Some("remove it; the script runs as the CodeDeploy agent's user".into());
                    }
                }
                _ => {
                    s.sudo = cx.boolean(f.value, &sub).map(|b| Spanned::new(b, f.value.span));
                    let d = cx.warn("W1312", "`sudo` is not documented by CodeDeploy (the agents accept it)".into(), f.key_node.span);
                    d.help = Some("prefer the documented `runas: root`".into());
                }
            }
        }
        match location {
            None => missing(cx, "E1315", item, &format!("{what}[]"), "location", "add `location:`: the script's path in the revision, relative to its root".into()),
            Some(None) => {}
            Some(Some(loc)) => {
                if inside_revision(cx, &loc, &format!("{what}[].location"), "E1309") && (loc.value.starts_with('/') || loc.value.starts_with('\\')) {
                    let d = cx.warn("W1310", format!("`location` `{}` is absolute, but hook scripts are found relative to the revision root", loc.value), loc.span);
                    d.label = Some(format!("read as `{}` inside the revision", loc.value.trim_start_matches(['/', '\\'])));
                    d.help = Some(format!("write `{}`; the agent joins the location onto the revision root, so an absolute path is not a path on the instance", loc.value.trim_start_matches(['/', '\\'])));
                }
                s.location = loc;
                total += s.timeout.as_ref().map_or(0, |t| u64::from(t.value));
                out.push(s);
            }
        }
    }
    if total > u64::from(MAX_SCRIPT_TIMEOUT) {
        let d = cx.warn("W1308", format!("the scripts of `{event}` have timeouts adding up to {total} s; CodeDeploy fails an event that runs longer than 3600 s"), node.span);
        d.label = Some("the timeouts of these scripts".into());
        d.help = Some("the limit is for all scripts of one event together: lower the timeouts, or move work to another event".into());
    }
    out
}

fn trimmed(s: Spanned<String>) -> Spanned<String> {
    Spanned::new(s.value.trim().to_string(), s.span)
}

/// A script timeout: whole seconds, 1..=3600.
fn timeout(cx: &mut Ctx, node: &Node, what: &str) -> Option<Spanned<u32>> {
    let NodeKind::Scalar { value, plain } = &node.kind else {
        cx.expected(what, "a whole number of seconds", node);
        return None;
    };
    let text = value.trim();
    let Some(n) = text.parse::<u64>().ok().filter(|n| *n > 0) else {
        let d = cx.error("E1306", format!("`{what}` must be a whole number of seconds greater than 0, found `{text}`"), node.span);
        d.label = Some("expected seconds, e.g. 300".into());
        d.help = Some("leave `timeout` out for the default, 3600 seconds".into());
        return None;
    };
    if n > u64::from(MAX_SCRIPT_TIMEOUT) {
        let d = cx.error("E1307", format!("`{what}` is {n} s; CodeDeploy allows at most 3600 s (1 hour)"), node.span);
        d.label = Some("over the maximum".into());
        d.help = Some("use at most 3600; a lifecycle event that runs longer than an hour fails the deployment".into());
        return None;
    }
    if !plain {
        cx.warn("W1313", format!("`{what}` is the string \"{text}\"; the Rust CodeDeploy agent accepts only a number"), node.span).help =
            Some(format!("remove the quotes: `timeout: {text}`"));
    }
    Some(Spanned::new(n as u32, node.span))
}

/// ECS and Lambda `Hooks`: a list of `- Event: function` entries.
pub(super) fn function_hooks(cx: &mut Ctx, node: &Node, platform: ComputePlatform, key: &str) -> Vec<FunctionHook> {
    let items = match &node.kind {
        _ if node.is_null() => return Vec::new(),
        NodeKind::Seq(items) => items,
        _ => {
            let d = cx.error("E1300", format!("`{key}` of {} AppSpec file must be a list of `- Event: function` entries, found {}", platform.a(), node.describe()), anchor(node));
            d.label = Some("expected a list".into());
            d.help = Some(format!("write `{key}:` then `  - BeforeAllowTraffic: \"MyValidationFunction\"`; one Lambda function per event"));
            return Vec::new();
        }
    };
    let mut out: Vec<FunctionHook> = Vec::new();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for item in items.iter().filter(|i| !i.is_null()) {
        let NodeKind::Map(entries) = &item.kind else {
            cx.expected(&format!("an entry of {key}"), "a mapping `Event: function`", item);
            continue;
        };
        for (k, v) in entries {
            let Some(name) = k.as_scalar() else {
                cx.expected(&format!("a key of {key}"), "a lifecycle event name", k);
                continue;
            };
            if let Some(first) = seen.get(name) {
                let d = cx.error("E1314", format!("`{name}` is hooked twice"), k.span);
                d.label = Some("a second hook for this event".into());
                d.notes.push(format!("first hooked at line {}, column {}", first.line, first.col));
                d.help = Some("CodeDeploy runs one function per event: keep one entry and do both checks in that function".into());
                continue;
            }
            seen.insert(name, k.span);
            let event = event(cx, name, k.span, platform);
            let function = if v.is_null() || v.as_scalar().is_some_and(|s| s.trim().is_empty()) {
                let d = cx.error("E1316", format!("the hook `{name}` names no function"), v.span);
                d.label = Some("a function name or ARN is required here".into());
                d.help = Some(format!("write the name or ARN of the Lambda function to run, e.g. `- {name}: \"Validate{name}\"`; remove the entry if there is none"));
                None
            } else {
                cx.string(v, &format!("{key}.{name}"))
            };
            if let (Some(event), Some(function)) = (event, function) {
                out.push(FunctionHook { event, function });
            }
        }
    }
    out
}
