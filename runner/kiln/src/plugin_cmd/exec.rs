//! `kiln plugin test|run|inspect|lock`: run plugins outside a build under the same host, grants
//! and limits as `uses:` steps, and pin them in `kiln.lock`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln_host::{Finding, Grants, Host, HostConfig, Manifest, Policy, PluginSource, StepInvocation, StepOutcome};
use serde_json::{json, Value};

use super::build::{built_component, project_manifest};
use crate::lockfile::{source_text, Lock, LockEntry};

/// What one run produced, with the plugin's identity.
pub struct Ran {
    pub manifest: Manifest,
    pub sha256: String,
    pub grants: Grants,
    pub outcome: Result<StepOutcome, String>,
}

/// Load `source` and run it once on `src` with `out` as its output directory.
pub fn run_once(source: PluginSource, src: &Path, out: &Path, config: Value, policy: &Policy) -> Result<Ran, String> {
    let host = Host::new(HostConfig { cache_dir: crate::warm::plugin_cache_dir(), ..Default::default() }).map_err(|e| format!("cannot start the plugin host: {e}"))?;
    let plugin = host.load(source).map_err(|e| e.to_string())?;
    let problems = plugin.manifest.validate_config(&config);
    if !problems.is_empty() {
        return Err(format!("plugin {}: invalid settings: {}", plugin.manifest.name, problems.join("; ")));
    }
    let grants = Grants::intersect(&plugin.manifest.capabilities, policy);
    let mut inv = StepInvocation::new(src, out, grants.clone());
    inv.config = config;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let outcome = rt.block_on(plugin.run_step(&inv)).map_err(|e| e.to_string());
    Ok(Ran { manifest: (*plugin.manifest).clone(), sha256: plugin.sha256.clone(), grants, outcome })
}

fn sev(f: &Finding) -> String {
    format!("{:?}", f.severity).to_lowercase()
}

fn finding_line(f: &Finding) -> String {
    let at = match &f.location {
        Some(l) if l.start_line > 0 => format!("{}:{}:{}", l.path, l.start_line, l.start_col),
        Some(l) => l.path.clone(),
        None => "-".into(),
    };
    format!("{:<8} {} {} {}", sev(f), f.rule_id, at, f.message)
}

/// The comparable part of a finding: rule id, path, line, severity.
type Key = (String, String, u32, String);

fn key_line(k: &Key) -> String {
    let at = if k.1.is_empty() { "-".to_string() } else if k.2 == 0 { k.1.clone() } else { format!("{}:{}", k.1, k.2) };
    format!("{} {} {}", k.3, k.0, at)
}

fn expected_keys(v: &Value) -> Result<Vec<Key>, String> {
    let list = v["findings"].as_array().ok_or("expected-findings.json: `findings` must be a list")?;
    list.iter()
        .enumerate()
        .map(|(i, f)| {
            let s = |k: &str| f[k].as_str().map(str::to_string);
            let rule = s("ruleId").ok_or(format!("expected-findings.json: findings[{i}].ruleId is missing"))?;
            let sev = s("severity").ok_or(format!("expected-findings.json: findings[{i}].severity is missing"))?;
            Ok((rule, s("path").unwrap_or_default(), f["line"].as_u64().unwrap_or(0) as u32, sev))
        })
        .collect()
}

/// Lines of a diff between two multisets: `-` expected and not found, `+` found and not expected.
pub fn diff(expected: &[Key], found: &[Key]) -> Vec<String> {
    let mut count: BTreeMap<&Key, i64> = BTreeMap::new();
    for k in expected {
        *count.entry(k).or_default() += 1;
    }
    for k in found {
        *count.entry(k).or_default() -= 1;
    }
    let mut out = Vec::new();
    for (k, n) in count {
        for _ in 0..n.unsigned_abs() {
            out.push(format!("{} {}", if n > 0 { '-' } else { '+' }, key_line(k)));
        }
    }
    out
}

/// `kiln plugin test DIR`.
pub fn test(dir: &Path) -> Result<ExitCode, String> {
    let component = built_component(dir)?;
    if project_manifest(dir)?.world == kiln_host::World::DeployStrategy {
        return super::strategy_test::test(dir, &component);
    }
    let exp_path = dir.join("expected-findings.json");
    let exp: Value = serde_json::from_str(&kiln_fs::read_input_to_string(&exp_path, kiln_fs::limits::DOCUMENT, "expected findings").map_err(|e| e.to_string())?)
        .map_err(|e| format!("{}: {e}", exp_path.display()))?;
    let expected = expected_keys(&exp)?;
    let fixture = dir.join("fixture");
    if !fixture.is_dir() {
        return Err(format!("{} is missing: the test runs the plugin on it", fixture.display()));
    }
    let out = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = exp.get("with").cloned().unwrap_or_else(|| json!({}));
    let ran = run_once(PluginSource::path(component), &fixture, out.path(), config, &Policy::default())?;
    let o = match ran.outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("FAILED: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let found: Vec<Key> = o.findings.iter().map(|f| {
        let (p, l) = f.location.as_ref().map(|l| (l.path.clone(), l.start_line)).unwrap_or_default();
        (f.rule_id.clone(), p, l, sev(f))
    }).collect();
    let d = diff(&expected, &found);
    if d.is_empty() {
        println!("ok: {} {} on fixture/: {} findings as expected ({})", ran.manifest.name, ran.manifest.version, found.len(), o.summary);
        Ok(ExitCode::SUCCESS)
    } else {
        println!("FAILED: findings differ from expected-findings.json (- expected, + found):");
        for l in d {
            println!("{l}");
        }
        Ok(ExitCode::from(1))
    }
}

/// `kiln plugin run PLUGIN DIR --with … --out OUTDIR`.
pub fn run(plugin: &str, dir: &Path, with: Vec<(String, Value)>, out: Option<PathBuf>, as_json: bool) -> Result<ExitCode, String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let source = super::source_arg(plugin)?;
    let config = Value::Object(with.into_iter().collect());
    let label = Path::new(plugin).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".into());
    let out = out.unwrap_or_else(|| PathBuf::from("kiln-plugin-out").join(label.split('@').next().unwrap_or("plugin")));
    if out.exists() && std::fs::read_dir(&out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(format!("{} is not empty; give an empty or new --out directory", out.display()));
    }
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let ran = run_once(source, dir, &out, config, &Policy::default())?;
    let o = match &ran.outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    if o.outputs.iter().any(|f| f.path == "kiln-findings.json") {
        return Err("the plugin wrote kiln-findings.json itself, where kiln puts the findings summary".into());
    }
    let summary = json!({
        "plugin": ran.manifest.name, "version": ran.manifest.version, "sha256": ran.sha256,
        "summary": o.summary, "findings": o.findings, "outputs": o.outputs,
        "grants": ran.grants, "durationMs": o.duration.as_millis() as u64,
    });
    let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
    std::fs::write(out.join("kiln-findings.json"), format!("{text}\n")).map_err(|e| format!("cannot write into {}: {e}", out.display()))?;
    if as_json {
        println!("{text}");
    } else {
        for f in &o.findings {
            println!("{}", finding_line(f));
        }
        for l in &o.logs {
            eprintln!("[{}] {:?}: {}", ran.manifest.name, l.level, l.message);
        }
        println!("{} {}: {} ({} findings); wrote {} file(s) and kiln-findings.json to {}", ran.manifest.name, ran.manifest.version, o.summary, o.findings.len(), o.outputs.len(), out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The `kiln:plugin` version a component was built against, from its export names.
fn wit_version(bytes: &[u8]) -> Option<String> {
    // The exported interface of each world carries the package version in its name.
    ["step-plugin", "file-scanner-plugin", "signer-plugin", "deploy-strategy-plugin"].iter().find_map(|export| {
        let needle = format!("kiln:plugin/{export}@");
        let at = bytes.windows(needle.len()).position(|w| w == needle.as_bytes())? + needle.len();
        let v: Vec<u8> = bytes[at..].iter().take_while(|b| b.is_ascii_digit() || **b == b'.').copied().collect();
        (!v.is_empty()).then(|| String::from_utf8_lossy(&v).into_owned())
    })
}

/// `kiln plugin inspect PLUGIN`.
pub fn inspect(plugin: &str, buildspec: Option<&Path>) -> Result<ExitCode, String> {
    let info = kiln_host::read_source(super::source_arg(plugin)?).map_err(|e| e.to_string())?;
    let m = &info.manifest;
    let (policy, from) = match buildspec {
        Some(p) => {
            let (spec, _) = crate::validate::load_for_build(p, None).ok_or_else(|| format!("{} is not a valid buildspec", p.display()))?;
            (crate::plugins::policy_for(&spec.kiln.plugins.for_plugin(&m.name)), format!("the `kiln: plugins:` policy of {}", p.display()))
        }
        None => (Policy::default(), "kiln's default policy".to_string()),
    };
    println!("name:         {}", m.name);
    println!("version:      {}", m.version);
    println!("world:        {}", m.world.as_str());
    if let Some(d) = &m.description {
        println!("description:  {d}");
    }
    println!("sha256:       {}", info.sha256);
    println!("wit:          kiln:plugin@{}", wit_version(&info.bytes).unwrap_or_else(|| "? (no kiln:plugin export found)".into()));
    println!("uses:         {}@sha256:{}", m.name, info.sha256);
    let caps = toml::to_string(&m.capabilities).unwrap_or_default();
    println!("requested capabilities:");
    for l in caps.lines() {
        println!("  {l}");
    }
    println!("config schema:");
    match &m.config_schema {
        Some(s) => println!("{}", serde_json::to_string_pretty(s).unwrap_or_default().lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")),
        None => println!("  (none: any with: map is accepted)"),
    }
    println!("grants under {from}:");
    for l in Grants::intersect(&m.capabilities, &policy).explain().lines() {
        println!("  {l}");
    }
    let host = Host::new(HostConfig { cache_dir: crate::warm::plugin_cache_dir(), ..Default::default() }).map_err(|e| format!("cannot start the plugin host: {e}"))?;
    let iface = host.interface(&info).map_err(|e| e.to_string())?;
    print_interface(&iface);
    Ok(ExitCode::SUCCESS)
}

/// The component's imports (each marked when kiln does not link it) and exports.
fn print_interface(i: &kiln_host::ComponentInterface) {
    let line = |x: &kiln_host::InterfaceItem| {
        let mut members: Vec<String> = x.resources.iter().map(|r| format!("resource {r}")).collect();
        members.extend(x.functions.iter().cloned());
        let what = if members.is_empty() { x.kind.to_string() } else { format!("{}: {}", x.kind, members.join(", ")) };
        match &x.unlinked {
            Some(why) => format!("  {}  NOT LINKED by kiln: {why}\n      ({what})", x.name),
            None => format!("  {}  ({what})", x.name),
        }
    };
    let checked = if i.checked { "" } else { " (not checked against kiln's linker)" };
    println!("imports{checked}:");
    for x in &i.imports {
        println!("{}", line(x));
    }
    println!("exports:");
    for x in &i.exports {
        println!("{}", line(x));
    }
    let unlinked = i.unlinked().count();
    if unlinked > 0 {
        println!("cannot run under kiln: {unlinked} import(s) above are not linked; `kiln plugin run` shows what to do about them");
    }
}

/// `kiln plugin lock [COMPONENT…] --file kiln.lock`.
pub fn lock(components: &[PathBuf], file: &Path) -> Result<ExitCode, String> {
    let mut lock = Lock::read(file)?;
    if components.is_empty() {
        let mut bad = 0;
        for e in &lock.plugins {
            let found = e.source_path(file).and_then(|p| kiln_fs::read_input(&p, kiln_fs::limits::PLUGIN, "plugin component").map_err(|err| err.to_string()));
            match found.map(|b| kiln_host::sha256_hex(&b)) {
                Ok(d) if d == e.sha256 => println!("ok       {} {} sha256:{}", e.name, e.version, e.sha256),
                Ok(d) => {
                    bad += 1;
                    println!("MISMATCH {}: {} expects sha256:{}, {} has sha256:{d}; re-lock it with `kiln plugin lock {}` if the change is intended", e.name, file.display(), e.sha256, e.source, e.source);
                }
                Err(err) => {
                    bad += 1;
                    println!("MISSING  {}: {err}", e.name);
                }
            }
        }
        return Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    for c in components {
        let path = if c.is_dir() && project_manifest(c).is_ok() { built_component(c)? } else { c.clone() };
        let info = kiln_host::read_source(PluginSource::path(&path)).map_err(|e| e.to_string())?;
        let entry = LockEntry { name: info.manifest.name.clone(), version: info.manifest.version.clone(), source: source_text(&path, file), sha256: info.sha256.clone() };
        match lock.upsert(entry) {
            Some(old) if old.sha256 != info.sha256 => println!("updated {} (sha256:{} -> sha256:{})", info.manifest.name, old.sha256, info.sha256),
            Some(_) => println!("unchanged {}", info.manifest.name),
            None => println!("added {}", info.manifest.name),
        }
        println!("  uses: {}@sha256:{}", info.manifest.name, info.sha256);
    }
    lock.write(file)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_is_a_multiset_difference() {
        let k = |r: &str, l: u32| (r.to_string(), "a.rs".to_string(), l, "low".to_string());
        assert!(diff(&[k("x", 1), k("x", 1)], &[k("x", 1), k("x", 1)]).is_empty());
        let d = diff(&[k("x", 1), k("y", 2)], &[k("x", 1), k("x", 1)]);
        assert_eq!(d, vec!["+ low x a.rs:1".to_string(), "- low y a.rs:2".to_string()]);
    }

    #[test]
    fn wit_version_from_export_name() {
        assert_eq!(wit_version(b"\0\0kiln:plugin/step-plugin@0.1.0\x05"), Some("0.1.0".into()));
        assert_eq!(wit_version(b"kiln:plugin/file-scanner-plugin@0.1.0\0"), Some("0.1.0".into()));
        assert_eq!(wit_version(b"nothing"), None);
    }
}
