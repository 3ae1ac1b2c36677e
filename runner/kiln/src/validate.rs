//! `kiln validate` (buildspecs and CodeDeploy AppSpec files) and the buildspec loading that
//! `kiln build` shares with it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln_spec::{parse_appspec, parse_buildspec, BuildSpec, Diagnostic, Span, UsesStep};

/// What `kiln validate` reads a file as (`--kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// By name (`appspec` in the file name makes an AppSpec), else by content.
    Auto,
    Buildspec,
    Appspec,
}

/// `--kind auto` by the file name alone: `Some(Appspec)` when it contains "appspec" (any case).
fn kind_by_name(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    name.contains("appspec").then_some(Kind::Appspec)
}

fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

pub(crate) fn print_diagnostics(path: &Path, source: &str, diags: &[Diagnostic]) {
    let name = path.display().to_string();
    let fancy = std::io::stderr().is_terminal();
    for d in diags {
        if fancy {
            eprintln!("{}", d.render(&name, source, color()));
        } else {
            eprintln!("{}", d.to_plain(&name));
        }
    }
}

/// A buildspec's bytes: a regular file (not a FIFO, which would hang kiln, nor a device) of at
/// most [`kiln_fs::limits::BUILDSPEC`] bytes. When the path lies in `project` (the default
/// `buildspec.yml`, a relative `-b`), it must also resolve inside it: a repository's buildspec
/// linked to `/etc/shadow` would otherwise have its lines printed as unknown keys.
fn read_buildspec(path: &Path, project: Option<&Path>) -> Result<Vec<u8>, kiln_fs::InputError> {
    match project {
        Some(project) => kiln_fs::read_input_within(project, path, kiln_fs::limits::BUILDSPEC, "buildspec"),
        None => kiln_fs::read_input(path, kiln_fs::limits::BUILDSPEC, "buildspec"),
    }
}

/// The directory a buildspec given to `kiln validate` belongs to: the current directory for a
/// relative path that stays in it, else the file's own directory.
fn project_of(path: &Path) -> &Path {
    let inside_cwd = path.is_relative() && !path.components().any(|c| matches!(c, std::path::Component::ParentDir));
    match path.parent() {
        Some(parent) if !inside_cwd && !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Read and check a buildspec for a build, printing diagnostics; `None` if it cannot run.
/// `project`: the project directory the buildspec must resolve inside, when it is one of the
/// project's files (see [`read_buildspec`]).
pub fn load_for_build(path: &Path, project: Option<&Path>) -> Option<(BuildSpec, Vec<u8>)> {
    let bytes = match read_buildspec(path, project) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            if e.is_not_found() {
                eprintln!("  help: pass the file with -b/--buildspec, or run kiln in the project directory");
            }
            return None;
        }
    };
    let Ok(source) = String::from_utf8(bytes.clone()) else {
        eprintln!("error: {} is not UTF-8 text", path.display());
        return None;
    };
    let parsed = parse_buildspec(&source);
    print_diagnostics(path, &source, &parsed.diagnostics);
    parsed.spec.map(|s| (s, bytes))
}

/// `kiln validate FILE…`: 0 when every file is valid (warnings allowed), 2 otherwise (an invalid
/// or unreadable file), as for `kiln build`'s refusal of an invalid buildspec.
pub fn run(files: &[PathBuf], json: bool, kind: Kind) -> ExitCode {
    let files: Vec<PathBuf> = if files.is_empty() { vec![PathBuf::from("buildspec.yml")] } else { files.to_vec() };
    let mut ok = true;
    let mut report = Vec::new();
    for path in &files {
        let kind = match kind {
            Kind::Auto => kind_by_name(path).unwrap_or(Kind::Auto),
            k => k,
        };
        // Read as what the name or flag says; a file of unknown kind is presumed a buildspec
        // until its content says otherwise (both limits are the same 4 MiB). Either is read
        // only from inside its project (see `read_buildspec`).
        let read = match kind {
            Kind::Appspec => kiln_fs::read_input_within(project_of(path), path, kiln_fs::limits::APPSPEC, "CodeDeploy AppSpec file"),
            _ => read_buildspec(path, Some(project_of(path))),
        };
        let source = match read.map(String::from_utf8) {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => {
                eprintln!("error: {} is not UTF-8 text", path.display());
                ok = false;
                continue;
            }
            Err(e) => {
                eprintln!("error: {e}");
                ok = false;
                continue;
            }
        };
        let kind = match kind {
            Kind::Auto if kiln_spec::looks_like_appspec(&source) => Kind::Appspec,
            Kind::Auto => Kind::Buildspec,
            k => k,
        };
        let mut batch = None;
        let (diagnostics, label, mut entry) = if kind == Kind::Appspec {
            let parsed = parse_appspec(&source);
            let platform = parsed.platform;
            let label = platform.map_or("AppSpec".to_string(), |p| format!("{} AppSpec", p.describe()));
            (parsed.diagnostics, Some(label), serde_json::json!({ "kind": "appspec", "computePlatform": platform.map(|p| p.api_name()) }))
        } else {
            let mut parsed = parse_buildspec(&source);
            if let Some(spec) = &parsed.spec {
                let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
                let mut more = check_plugins(spec, dir);
                parsed.diagnostics.append(&mut more);
                parsed.diagnostics.sort_by_key(|d| d.span.offset);
            }
            // A valid batch buildspec: the builds `kiln build --batch` would start.
            batch = parsed.spec.as_ref().filter(|s| s.batch.is_some()).map(|s| kiln_batch::plan(s.batch.as_ref()));
            let mut entry = serde_json::json!({ "kind": "buildspec" });
            match &batch {
                Some(Ok(plan)) => entry["batch"] = serde_json::to_value(plan).unwrap_or_default(),
                Some(Err(e)) => entry["batch"] = serde_json::json!({ "error": e.to_string() }),
                None => {}
            }
            (parsed.diagnostics, None, entry)
        };
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        ok &= errors == 0;
        if json {
            entry["file"] = serde_json::json!(path);
            entry["valid"] = serde_json::json!(errors == 0);
            entry["diagnostics"] = serde_json::json!(diagnostics);
            report.push(entry);
        } else {
            print_diagnostics(path, &source, &diagnostics);
            let warnings = diagnostics.len() - errors;
            let mut notes: Vec<String> = label.into_iter().collect();
            if warnings > 0 {
                notes.push(format!("{warnings} warning(s)"));
            }
            let notes = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join(", ")) };
            if errors > 0 {
                eprintln!("{}: invalid{notes}", path.display());
            } else {
                println!("{}: valid{notes}", path.display());
            }
            match &batch {
                Some(Ok(plan)) => {
                    let fast_fail = if plan.fast_fail { ", fast-fail" } else { "" };
                    println!("batch: {} build(s), {}{fast_fail} (kiln build --batch):", plan.builds.len(), plan.kind.as_str());
                    for line in plan.table().lines() {
                        println!("  {line}");
                    }
                }
                Some(Err(e)) => println!("batch: {e}"),
                None => {}
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::from(crate::exit::INVALID) }
}

/// Check every `uses:` step: the plugin exists (built-in, path, or kiln.lock entry beside the
/// buildspec, digest matching), and its `with:` keys fit the plugin's config schema. Errors point
/// at the `uses:` value or at the offending `with:` key. Reads manifests without compiling.
pub fn check_plugins(spec: &BuildSpec, dir: &Path) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for u in spec.uses_steps() {
        check_uses(u, dir, &mut diags);
    }
    diags
}

fn with_key_span(u: &UsesStep, key: &str) -> Span {
    u.with_spans.iter().find(|(k, _)| k == key).map(|(_, s)| *s).unwrap_or(u.plugin.span)
}

fn check_uses(u: &UsesStep, dir: &Path, diags: &mut Vec<Diagnostic>) {
    let uses = &u.plugin.value;
    let info = match crate::plugins::resolve(uses, dir, dir).and_then(|s| kiln_host::read_source(s).map_err(|e| e.to_string())) {
        Ok(i) => i,
        Err(e) => {
            diags.push(
                Diagnostic::error("E0801", format!("`uses: {uses}`: {e}"), u.plugin.span)
                    .with_label("this plugin cannot be loaded")
                    .with_help("name a built-in plugin, a .wasm path relative to the buildspec, or NAME@sha256:<digest> with a kiln.lock entry (`kiln plugin lock`)"),
            );
            return;
        }
    };
    if !matches!(info.manifest.world, kiln_host::World::Step | kiln_host::World::FileScanner) {
        diags.push(
            Diagnostic::error("E0801", format!("`uses: {uses}`: `{}` is a `{}` plugin, not a build step", info.manifest.name, info.manifest.world.as_str()), u.plugin.span)
                .with_label("a `uses:` step runs `step` and `file-scanner` plugins")
                .with_help("deploy strategies run in deployments and signers sign provenance; name a step plugin here"),
        );
        return;
    }
    let config = match crate::plugins::split_with(&u.with) {
        Ok((c, _)) => c,
        Err(e) => {
            diags.push(Diagnostic::error("E0802", format!("`uses: {uses}`: {e}"), with_key_span(u, "fail-on")));
            return;
        }
    };
    let known: Vec<String> = info
        .manifest
        .config_schema
        .as_ref()
        .and_then(|s| s.get("properties"))
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for problem in info.manifest.validate_config(&config) {
        let key = problem
            .strip_prefix("with.")
            .map(|rest| rest.split(['.', '[', ':']).next().unwrap_or_default().to_string())
            .or_else(|| problem.split("unknown key `").nth(1).and_then(|r| r.split('`').next()).map(str::to_string));
        let span = key.as_deref().map(|k| with_key_span(u, k)).unwrap_or(u.plugin.span);
        let mut d = Diagnostic::error("E0802", format!("`with:` of `{}` {}: {problem}", info.manifest.name, info.manifest.version), span)
            .with_label("does not match the plugin's config schema");
        if !known.is_empty() {
            d = d.with_help(format!("the plugin's settings are: {} (and kiln's own `fail-on`); see `kiln plugin inspect {uses}`", known.join(", ")));
        }
        diags.push(d);
    }
}
