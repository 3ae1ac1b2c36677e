//! `yarn.lock`: classic v1 (yarn's own indented format, parsed line by line so warnings carry
//! line numbers) and berry v2+ (YAML with `__metadata`). Dev scope comes from the
//! `package.json` beside the lock: packages reachable only from `devDependencies` are dev.

use std::collections::HashMap;

use serde_yaml::Value as Yaml;

use super::{Adder, Siblings, scope_by_reachability};
use crate::util::{sri_hashes, yaml_err_line};
use crate::{Ecosystem, Lockfile, Package};

/// Parse a yarn.lock (either generation) into `lf`.
pub fn parse(text: &str, siblings: Siblings<'_>, lf: &mut Lockfile) {
    let manifest = siblings("package.json").and_then(|t| manifest_deps(&t));
    if text.lines().any(|l| l.starts_with("__metadata:")) {
        parse_berry(text, manifest, lf);
    } else {
        parse_v1(text, manifest, lf);
    }
}

/// (name, range, is_dev) of a package.json's dependencies.
pub(crate) fn manifest_deps(text: &str) -> Option<Vec<(String, String, bool)>> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let mut out = Vec::new();
    for (k, dev) in [("dependencies", false), ("optionalDependencies", false), ("peerDependencies", false), ("devDependencies", true)] {
        if let Some(o) = v.get(k).and_then(|d| d.as_object()) {
            for (n, r) in o {
                out.push((n.clone(), r.as_str().unwrap_or("").to_string(), dev));
            }
        }
    }
    Some(out)
}

/// Split `name@range` (the name may start with `@`).
pub(crate) fn split_spec(spec: &str) -> Option<(&str, &str)> {
    let at = spec.get(1..)?.find('@')? + 1;
    Some((&spec[..at], &spec[at + 1..]))
}

/// The real package name of a spec: `alias@npm:real@^1` → `real`.
fn real_name<'a>(name: &'a str, range: &'a str) -> &'a str {
    match range.strip_prefix("npm:").and_then(split_spec) {
        Some((real, _)) if !real.is_empty() => real,
        _ => name,
    }
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(s)
}

fn apply_roots(ad: &mut Adder<'_>, manifest: Option<Vec<(String, String, bool)>>, lookup: impl Fn(&str, &str) -> Option<usize>) {
    let Some(deps) = manifest else { return };
    let (mut prod, mut dev) = (Vec::new(), Vec::new());
    for (n, r, is_dev) in deps {
        if let Some(i) = lookup(&n, &r) {
            ad.root(i);
            if is_dev { dev.push(i) } else { prod.push(i) }
        }
    }
    scope_by_reachability(ad.lf, &prod, &dev);
}

struct V1Entry {
    specs: Vec<String>,
    line: u32,
    version: Option<String>,
    integrity: Option<String>,
    deps: Vec<(String, String)>,
}

fn parse_v1(text: &str, manifest: Option<Vec<(String, String, bool)>>, lf: &mut Lockfile) {
    let mut entries: Vec<V1Entry> = Vec::new();
    let mut in_deps = false;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n as u32 + 1;
        let line = raw.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            let Some(header) = line.strip_suffix(':') else {
                lf.warn(Some(line_no), "malformed", format!("expected an entry header `\"name@range\":`, found {:?}; line skipped", trunc(line)));
                continue;
            };
            let specs = header.split(", ").map(|s| unquote(s).to_string()).collect();
            entries.push(V1Entry { specs, line: line_no, version: None, integrity: None, deps: vec![] });
            in_deps = false;
            continue;
        }
        let Some(e) = entries.last_mut() else {
            lf.warn(Some(line_no), "malformed", "indented line before any entry header; line skipped");
            continue;
        };
        let body = line.trim_start();
        if indent <= 2 {
            in_deps = matches!(body, "dependencies:" | "optionalDependencies:");
            if let Some((k, v)) = body.split_once(' ') {
                match k {
                    "version" => e.version = Some(unquote(v).to_string()),
                    "integrity" => e.integrity = Some(unquote(v).to_string()),
                    "resolved" if e.integrity.is_none() => {
                        // Old locks carry only a sha1 in the URL fragment.
                        if let Some((_, frag)) = unquote(v).rsplit_once('#')
                            && frag.len() == 40
                            && frag.bytes().all(|b| b.is_ascii_hexdigit())
                        {
                            e.integrity = Some(format!("sha1:{frag}"));
                        }
                    }
                    _ => {}
                }
            }
        } else if in_deps {
            match body.split_once(' ') {
                Some((k, v)) => e.deps.push((unquote(k).to_string(), unquote(v).to_string())),
                None => lf.warn(Some(line_no), "malformed", format!("expected `name \"range\"` in a dependency list, found {:?}", trunc(body))),
            }
        }
    }
    let mut ad = Adder::new(lf, Ecosystem::Npm);
    let mut by_spec: HashMap<String, usize> = HashMap::new();
    let mut idx = Vec::with_capacity(entries.len());
    for e in &entries {
        let Some((name, range)) = e.specs.first().and_then(|s| split_spec(s)) else {
            ad.lf.warn(Some(e.line), "malformed", format!("cannot read a package name from {:?}", e.specs.first().map(String::as_str).unwrap_or("")));
            idx.push(None);
            continue;
        };
        let Some(version) = &e.version else {
            ad.lf.warn(Some(e.line), "malformed", format!("entry {name} has no `version`; skipped"));
            idx.push(None);
            continue;
        };
        let mut p = Package { name: real_name(name, range).to_string(), version: Some(version.clone()), ..Default::default() };
        if let Some(i) = &e.integrity {
            p.hashes = match i.strip_prefix("sha1:") {
                Some(h) => vec![(crate::HashAlg::Sha1, h.to_ascii_lowercase())],
                None => sri_hashes(i),
            };
        }
        let i = ad.add(p);
        for s in &e.specs {
            by_spec.insert(s.clone(), i);
        }
        idx.push(Some(i));
    }
    for (e, i) in entries.iter().zip(&idx) {
        let Some(i) = *i else { continue };
        for (n, r) in &e.deps {
            if let Some(&to) = by_spec.get(&format!("{n}@{r}")) {
                ad.edge(i, to);
            }
        }
    }
    apply_roots(&mut ad, manifest, |n, r| by_spec.get(&format!("{n}@{r}")).copied());
}

fn trunc(s: &str) -> String {
    s.chars().take(80).collect()
}

fn ystr(v: &Yaml, k: &str) -> Option<String> {
    match v.get(k)? {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_berry(text: &str, manifest: Option<Vec<(String, String, bool)>>, lf: &mut Lockfile) {
    let doc: Yaml = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => return lf.malformed(yaml_err_line(&e), "yarn.lock (berry YAML)", e),
    };
    let Some(map) = doc.as_mapping() else {
        return lf.malformed(Some(1), "yarn.lock (berry YAML)", "the top level is not a mapping");
    };
    let mut ad = Adder::new(lf, Ecosystem::Npm);
    let mut by_spec: HashMap<String, usize> = HashMap::new();
    let mut entries = Vec::new();
    let mut root_deps: Vec<(String, String)> = Vec::new();
    for (k, v) in map {
        let Some(key) = k.as_str() else { continue };
        if key == "__metadata" {
            continue;
        }
        let resolution = ystr(v, "resolution").unwrap_or_default();
        let deps: Vec<(String, String)> = v
            .get("dependencies")
            .and_then(Yaml::as_mapping)
            .map(|m| m.iter().filter_map(|(a, b)| Some((a.as_str()?.to_string(), yaml_scalar(b)?))).collect())
            .unwrap_or_default();
        let Some((rname, rref)) = split_spec(&resolution) else {
            let line = crate::util::line_containing(text, key);
            ad.lf.warn(line, "malformed", format!("entry {key:?} has no readable `resolution`; skipped"));
            continue;
        };
        if rref == "workspace:." {
            root_deps = deps;
            continue;
        }
        let Some(version) = ystr(v, "version") else { continue };
        let is_project = rref.starts_with("workspace:");
        let i = ad.add(Package { name: rname.to_string(), version: Some(version), is_project, ..Default::default() });
        if is_project {
            ad.root(i);
        }
        for spec in key.split(", ") {
            by_spec.insert(spec.trim().to_string(), i);
        }
        entries.push((i, deps));
    }
    let lookup = |n: &str, r: &str| -> Option<usize> {
        by_spec.get(&format!("{n}@{r}")).or_else(|| by_spec.get(&format!("{n}@npm:{r}"))).copied()
    };
    for (i, deps) in &entries {
        for (n, r) in deps {
            if let Some(to) = lookup(n, r) {
                ad.edge(*i, to);
            }
        }
    }
    for (n, r) in &root_deps {
        if let Some(to) = lookup(n, r) {
            ad.root(to);
        }
    }
    apply_roots(&mut ad, manifest, lookup);
}

fn yaml_scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scope;

    fn run(text: &str, pj: Option<&str>) -> Lockfile {
        let mut lf = Lockfile { path: "yarn.lock".into(), ..Default::default() };
        let pj = pj.map(String::from);
        parse(text, &move |n| (n == "package.json").then(|| pj.clone()).flatten(), &mut lf);
        lf
    }

    #[test]
    fn v1_entries_edges_and_dev_scope() {
        let lf = run(
            "# yarn lockfile v1\n\n\"@a/b@^1.0.0\", \"@a/b@^1.1.0\":\n  version \"1.2.0\"\n  integrity sha1-2jmbFmZhvSTQyqkdiqSdmjWhYy0=\n  dependencies:\n    c \"^2\"\n\nc@^2:\n  version \"2.0.1\"\n\nd@^1:\n  version \"1.0.0\"\n\nalias@npm:real@^3:\n  version \"3.0.0\"\n",
            Some(r#"{"dependencies":{"@a/b":"^1.0.0"},"devDependencies":{"d":"^1"}}"#),
        );
        assert!(lf.warnings.is_empty(), "{:?}", lf.warnings);
        assert_eq!(lf.packages.len(), 4);
        assert_eq!(lf.packages[0].hashes.len(), 1);
        assert_eq!(lf.edges, vec![(0, 1)]);
        assert_eq!(lf.packages[2].scope, Scope::Dev);
        assert_eq!(lf.packages[1].scope, Scope::Required);
        assert_eq!(lf.packages[3].name, "real");
    }

    #[test]
    fn v1_garbage_warns_with_line() {
        let lf = run("a@1:\n  version \"1\"\nthis is not yarn\n", None);
        assert_eq!(lf.packages.len(), 1);
        assert_eq!(lf.warnings[0].line, Some(3));
    }

    #[test]
    fn berry() {
        let lf = run(
            "__metadata:\n  version: 6\n\n\"app@workspace:.\":\n  version: 0.0.0-use.local\n  resolution: \"app@workspace:.\"\n  dependencies:\n    x: ^1.0.0\n\n\"x@npm:^1.0.0\":\n  version: 1.0.4\n  resolution: \"x@npm:1.0.4\"\n  dependencies:\n    y: \"npm:^2\"\n\n\"y@npm:^2\":\n  version: 2.0.0\n  resolution: \"y@npm:2.0.0\"\n",
            None,
        );
        assert!(lf.warnings.is_empty(), "{:?}", lf.warnings);
        assert_eq!(lf.packages.len(), 2);
        assert_eq!(lf.roots, vec![0]);
        assert_eq!(lf.edges, vec![(0, 1)]);
    }
}
