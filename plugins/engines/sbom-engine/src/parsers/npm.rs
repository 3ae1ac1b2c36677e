//! `package-lock.json` / `npm-shrinkwrap.json`: lockfileVersion 2 and 3 (`packages`, keyed by
//! install path) and 1 (nested `dependencies`). Dependencies resolve the way Node does: from the
//! requiring package's own `node_modules` up through its ancestors to the root.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{Adder, Siblings, package_json_deps};
use crate::util::{json_err_line, sri_hashes};
use crate::{Ecosystem, Lockfile, Package, Scope};

/// Parse a package-lock into `lf`.
pub fn parse(text: &str, siblings: Siblings<'_>, lf: &mut Lockfile) {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return lf.malformed(json_err_line(&e), "package-lock.json (JSON)", e),
    };
    if let Some(pkgs) = v.get("packages").and_then(Value::as_object) {
        parse_v2(pkgs, lf);
    } else if let Some(deps) = v.get("dependencies").and_then(Value::as_object) {
        let manifest = siblings("package.json").and_then(|t| package_json_deps(&t));
        parse_v1(deps, manifest, lf);
    } else if v.is_object() {
        // An empty project: no packages at all is valid.
    } else {
        lf.malformed(Some(1), "package-lock.json", "the top level is not an object");
    }
}

/// Package name from an install path (`node_modules/@a/b/node_modules/c` → `c`).
fn name_from_path(path: &str) -> Option<&str> {
    path.rfind("node_modules/").map(|i| &path[i + "node_modules/".len()..])
}

fn license_of(v: &Value) -> Vec<String> {
    match v.get("license") {
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Object(o)) => o.get("type").and_then(Value::as_str).map(|s| vec![s.to_string()]).unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().or_else(|| x.get("type").and_then(Value::as_str)))
            .map(String::from)
            .collect(),
        _ => vec![],
    }
}

fn flag(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn scope_of(v: &Value) -> Scope {
    if flag(v, "dev") || flag(v, "devOptional") {
        Scope::Dev
    } else if flag(v, "optional") {
        Scope::Optional
    } else {
        Scope::Required
    }
}

/// `npm:real-name@1.2.3` aliases (v1 `version`) → (real name, version).
fn alias(version: &str) -> Option<(&str, &str)> {
    let rest = version.strip_prefix("npm:")?;
    let at = rest[1..].find('@')? + 1;
    Some((&rest[..at], &rest[at + 1..]))
}

fn dep_names(v: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    for k in ["dependencies", "optionalDependencies", "peerDependencies", "requires"] {
        if let Some(o) = v.get(k).and_then(Value::as_object) {
            out.extend(o.keys().map(String::as_str));
        }
    }
    out
}

fn parse_v2(pkgs: &Map<String, Value>, lf: &mut Lockfile) {
    let mut ad = Adder::new(lf, Ecosystem::Npm);
    let mut idx: HashMap<&str, usize> = HashMap::new();
    let mut links: HashMap<&str, &str> = HashMap::new();
    for (path, v) in pkgs {
        if path.is_empty() {
            continue;
        }
        if flag(v, "link") {
            if let Some(target) = v.get("resolved").and_then(Value::as_str) {
                links.insert(path.as_str(), target);
            }
            continue;
        }
        let in_node_modules = name_from_path(path).is_some();
        let name = match v.get("name").and_then(Value::as_str) {
            Some(n) => n,
            None => match name_from_path(path) {
                Some(n) => n,
                None => path.rsplit('/').next().unwrap_or(path),
            },
        };
        let Some(version) = v.get("version").and_then(Value::as_str) else {
            continue; // extraneous or unresolved entries carry no version: nothing to report
        };
        let mut p = Package {
            name: name.to_string(),
            version: Some(version.to_string()),
            scope: scope_of(v),
            licenses: license_of(v),
            is_project: !in_node_modules,
            ..Default::default()
        };
        if let Some(i) = v.get("integrity").and_then(Value::as_str) {
            p.hashes = sri_hashes(i);
        }
        if let Some(r) = v.get("resolved").and_then(Value::as_str)
            && (r.starts_with("git") || r.contains("://github.com/"))
        {
            p.qualifiers.push(("vcs_url".into(), r.to_string()));
        }
        idx.insert(path.as_str(), ad.add(p));
    }
    let resolve = |from: &str, dep: &str| -> Option<usize> {
        let mut base = from.to_string();
        loop {
            let cand = if base.is_empty() { format!("node_modules/{dep}") } else { format!("{base}/node_modules/{dep}") };
            let target = links.get(cand.as_str()).copied().unwrap_or(cand.as_str());
            if let Some(&i) = idx.get(target) {
                return Some(i);
            }
            if base.is_empty() {
                return None;
            }
            base = match base.rfind("/node_modules/") {
                Some(p) => base[..p].to_string(),
                None => String::new(),
            };
        }
    };
    for (path, v) in pkgs {
        let from = if path.is_empty() { None } else { idx.get(path.as_str()).copied() };
        if !path.is_empty() && from.is_none() {
            continue;
        }
        let mut deps = dep_names(v);
        if path.is_empty()
            && let Some(o) = v.get("devDependencies").and_then(Value::as_object)
        {
            deps.extend(o.keys().map(String::as_str));
        }
        for d in deps {
            if let Some(to) = resolve(path, d) {
                match from {
                    Some(f) => ad.edge(f, to),
                    None => ad.root(to),
                }
            }
        }
        // Workspace packages are direct parts of the project.
        if let Some(f) = from
            && ad.lf.packages[f].is_project
        {
            ad.root(f);
        }
    }
}

fn parse_v1(deps: &Map<String, Value>, manifest: Option<(Vec<String>, Vec<String>)>, lf: &mut Lockfile) {
    let mut ad = Adder::new(lf, Ecosystem::Npm);
    // (scope chain of maps, path) → index; walk recursively with an explicit stack.
    let mut nodes: Vec<(Vec<String>, &str, &Value, usize)> = Vec::new();
    let mut by_path: HashMap<Vec<String>, usize> = HashMap::new();
    let mut stack: Vec<(Vec<String>, &Map<String, Value>)> = vec![(vec![], deps)];
    while let Some((prefix, map)) = stack.pop() {
        for (name, v) in map {
            let Some(ver) = v.get("version").and_then(Value::as_str) else { continue };
            let (real, version) = alias(ver).unwrap_or((name, ver));
            let mut p = Package {
                name: real.to_string(),
                version: Some(version.to_string()),
                scope: scope_of(v),
                ..Default::default()
            };
            if let Some(i) = v.get("integrity").and_then(Value::as_str) {
                p.hashes = sri_hashes(i);
            }
            let i = ad.add(p);
            let mut path = prefix.clone();
            path.push(name.clone());
            by_path.insert(path.clone(), i);
            if let Some(sub) = v.get("dependencies").and_then(Value::as_object) {
                stack.push((path.clone(), sub));
            }
            nodes.push((path, name, v, i));
        }
    }
    let resolve = |from: &[String], dep: &str| -> Option<usize> {
        let mut base = from.to_vec();
        loop {
            let mut cand = base.clone();
            cand.push(dep.to_string());
            if let Some(&i) = by_path.get(&cand) {
                return Some(i);
            }
            base.pop()?;
        }
    };
    for (path, _, v, i) in &nodes {
        if let Some(req) = v.get("requires").and_then(Value::as_object) {
            for d in req.keys() {
                if let Some(to) = resolve(path, d) {
                    ad.edge(*i, to);
                }
            }
        }
    }
    match manifest {
        Some((prod, dev)) => {
            for n in prod.iter().chain(dev.iter()) {
                if let Some(&i) = by_path.get(&vec![n.clone()]) {
                    ad.root(i);
                }
            }
        }
        None => {
            // No package.json: the direct dependencies are the top-level entries nobody requires.
            let required: std::collections::HashSet<usize> = ad.lf.edges.iter().map(|e| e.1).collect();
            for (path, _, _, i) in &nodes {
                if path.len() == 1 && !required.contains(i) {
                    ad.root(*i);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Lockfile {
        let mut lf = Lockfile { path: "package-lock.json".into(), ..Default::default() };
        parse(text, &|_| None, &mut lf);
        lf
    }

    #[test]
    fn v3_nested_resolution_and_scopes() {
        let lf = run(r#"{"lockfileVersion":3,"packages":{
            "":{"name":"app","dependencies":{"a":"1"},"devDependencies":{"d":"1"}},
            "node_modules/a":{"version":"1.0.0","dependencies":{"b":"2"},"license":"MIT","integrity":"sha1-2jmbFmZhvSTQyqkdiqSdmjWhYy0="},
            "node_modules/a/node_modules/b":{"version":"2.0.0"},
            "node_modules/b":{"version":"1.0.0","optional":true},
            "node_modules/d":{"version":"3.0.0","dev":true},
            "node_modules/@s/x2":{"name":"@s/x","version":"4.0.0"}}}"#);
        assert!(lf.warnings.is_empty());
        assert_eq!(lf.packages.len(), 5);
        let find = |n: &str, v: &str| lf.packages.iter().position(|p| p.name == n && p.version.as_deref() == Some(v)).unwrap();
        let (a, b2) = (find("a", "1.0.0"), find("b", "2.0.0"));
        assert!(lf.edges.contains(&(a, b2)));
        assert_eq!(lf.packages[find("d", "3.0.0")].scope, Scope::Dev);
        assert_eq!(lf.packages[find("b", "1.0.0")].scope, Scope::Optional);
        assert_eq!(lf.packages[a].licenses, vec!["MIT"]);
        assert_eq!(lf.packages[a].hashes.len(), 1);
        find("@s/x", "4.0.0");
        assert_eq!(lf.roots.len(), 2);
    }

    #[test]
    fn v1_tree() {
        let lf = run(r#"{"lockfileVersion":1,"dependencies":{
            "a":{"version":"1.0.0","requires":{"b":"^2"},"dependencies":{"b":{"version":"2.0.0"}}},
            "b":{"version":"1.0.0","dev":true},
            "c":{"version":"npm:real@3.0.0"}}}"#);
        assert_eq!(lf.packages.len(), 4);
        assert!(lf.packages.iter().any(|p| p.name == "real"));
        let a = lf.packages.iter().position(|p| p.name == "a").unwrap();
        let b2 = lf.packages.iter().position(|p| p.version.as_deref() == Some("2.0.0")).unwrap();
        assert!(lf.edges.contains(&(a, b2)));
    }

    #[test]
    fn malformed_has_line() {
        let lf = run("{\n\"packages\": {\n  \"x\": [}\n");
        assert_eq!(lf.warnings.len(), 1);
        assert_eq!(lf.warnings[0].line, Some(3));
    }
}
