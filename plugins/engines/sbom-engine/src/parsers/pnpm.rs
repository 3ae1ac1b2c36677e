//! `pnpm-lock.yaml`, lockfile versions 5 (`/name/1.0.0_peer`), 6 (`/name@1.0.0(peer@1)`) and
//! 9 (`name@1.0.0` in `packages`, the graph in `snapshots`). Dev scope: the `dev` flag of v5/v6,
//! and for v9 reachability from the importers' `dependencies` versus `devDependencies`.

use std::collections::HashMap;

use serde_yaml::{Mapping, Value as Yaml};

use super::{Adder, scope_by_reachability};
use crate::util::{sri_hashes, yaml_err_line};
use crate::{Ecosystem, Lockfile, Package, Scope};

/// `(name, version)` of a package key in any lockfile generation; peer suffixes dropped.
pub(crate) fn split_key(key: &str) -> Option<(String, String)> {
    let k = key.strip_prefix('/').unwrap_or(key);
    let k = k.split('(').next().unwrap_or(k);
    if let Some((n, v)) = super::yarn::split_spec(k) {
        // a valid npm name has one segment, or two when scoped; otherwise this is a v5 key
        let segs = n.split('/').count();
        if segs == 1 + usize::from(n.starts_with('@')) {
            return Some((n.to_string(), v.to_string()));
        }
    }
    // v5: name/version[_peers]
    let (n, v) = k.rsplit_once('/')?;
    let v = v.split('_').next().unwrap_or(v);
    (!n.is_empty() && !v.is_empty()).then(|| (n.to_string(), v.to_string()))
}

/// Resolve a dependency reference (`1.0.0(peer)`, `name@1.0.0`, `/name@1.0.0`, `/name/1.0.0`,
/// `link:../x`) to a `(name, version)`.
fn dep_target(name: &str, value: &str) -> Option<(String, String)> {
    if value.starts_with("link:") || value.starts_with("file:") {
        return None;
    }
    let starts_digit = value.as_bytes().first().is_some_and(|b| b.is_ascii_digit());
    if !starts_digit && (value.starts_with('/') || value.contains('@')) {
        return split_key(value);
    }
    let v = value.split('(').next().unwrap_or(value);
    let v = v.split('_').next().unwrap_or(v);
    Some((name.to_string(), v.to_string()))
}

fn s(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn deps_of(v: &Yaml) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for k in ["dependencies", "optionalDependencies"] {
        if let Some(m) = v.get(k).and_then(Yaml::as_mapping) {
            for (a, b) in m {
                // importers (v6/v9): {specifier, version}; packages: a plain version
                let val = b.get("version").and_then(s).or_else(|| s(b));
                if let (Some(a), Some(val)) = (a.as_str(), val) {
                    out.push((a.to_string(), val));
                }
            }
        }
    }
    out
}

/// Parse a pnpm lockfile into `lf`.
pub fn parse(text: &str, lf: &mut Lockfile) {
    let doc: Yaml = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => return lf.malformed(yaml_err_line(&e), "pnpm-lock.yaml", e),
    };
    let Some(top) = doc.as_mapping() else {
        return lf.malformed(Some(1), "pnpm-lock.yaml", "the top level is not a mapping");
    };
    let empty = Mapping::new();
    let packages = top.get("packages").and_then(Yaml::as_mapping).unwrap_or(&empty);
    let snapshots = top.get("snapshots").and_then(Yaml::as_mapping);
    let mut ad = Adder::new(lf, Ecosystem::Npm);
    let mut idx: HashMap<(String, String), usize> = HashMap::new();
    let mut has_dev_flag = false;
    for (k, v) in packages {
        let Some(key) = k.as_str() else { continue };
        let Some((name, mut version)) = split_key(key) else {
            let line = crate::util::line_containing(text, key);
            ad.lf.warn(line, "malformed", format!("cannot read name and version from package key {key:?}; skipped"));
            continue;
        };
        let name = v.get("name").and_then(s).unwrap_or(name);
        if let Some(ver) = v.get("version").and_then(s) {
            version = ver;
        }
        let mut p = Package { name: name.clone(), version: Some(version.clone()), ..Default::default() };
        if let Some(i) = v.get("resolution").and_then(|r| r.get("integrity")).and_then(s) {
            p.hashes = sri_hashes(&i);
        }
        match v.get("dev").and_then(Yaml::as_bool) {
            Some(true) => {
                p.scope = Scope::Dev;
                has_dev_flag = true;
            }
            Some(false) => has_dev_flag = true,
            None => {}
        }
        if p.scope != Scope::Dev && v.get("optional").and_then(Yaml::as_bool) == Some(true) {
            p.scope = Scope::Optional;
        }
        let i = ad.add(p);
        if let Some((kn, kv)) = split_key(key) {
            idx.insert((kn, kv), i);
        }
        idx.insert((name, version), i);
    }
    let graph = snapshots.unwrap_or(packages);
    for (k, v) in graph {
        let Some(from) = k.as_str().and_then(split_key).and_then(|kv| idx.get(&kv).copied()) else { continue };
        for (n, val) in deps_of(v) {
            if let Some(to) = dep_target(&n, &val).and_then(|t| idx.get(&t).copied()) {
                ad.edge(from, to);
            }
        }
    }
    // Importers: workspaces (v6/v9, v5 with workspaces) or the top level of a v5 single project.
    let mut importers: Vec<&Yaml> = Vec::new();
    if let Some(m) = top.get("importers").and_then(Yaml::as_mapping) {
        importers.extend(m.values());
    } else {
        importers.push(&doc);
    }
    let (mut prod, mut dev) = (Vec::new(), Vec::new());
    for imp in importers {
        for (n, val) in deps_of(imp) {
            if let Some(to) = dep_target(&n, &val).and_then(|t| idx.get(&t).copied()) {
                ad.root(to);
                prod.push(to);
            }
        }
        if let Some(m) = imp.get("devDependencies").and_then(Yaml::as_mapping) {
            for (a, b) in m {
                let val = b.get("version").and_then(s).or_else(|| s(b));
                if let (Some(n), Some(val)) = (a.as_str(), val)
                    && let Some(to) = dep_target(n, &val).and_then(|t| idx.get(&t).copied())
                {
                    ad.root(to);
                    dev.push(to);
                }
            }
        }
    }
    if !has_dev_flag {
        scope_by_reachability(ad.lf, &prod, &dev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(split_key("/@a/b/1.0.0_c@1"), Some(("@a/b".into(), "1.0.0".into())));
        assert_eq!(split_key("/@a/b@1.0.0(c@1)"), Some(("@a/b".into(), "1.0.0".into())));
        assert_eq!(split_key("b@2.0.0"), Some(("b".into(), "2.0.0".into())));
        assert_eq!(dep_target("x", "1.0.0(y@2)"), Some(("x".into(), "1.0.0".into())));
        assert_eq!(dep_target("alias", "real@3.0.0"), Some(("real".into(), "3.0.0".into())));
        assert_eq!(dep_target("x", "link:../x"), None);
    }

    #[test]
    fn v9() {
        let text = "lockfileVersion: '9.0'\nimporters:\n  .:\n    dependencies:\n      a:\n        specifier: ^1\n        version: 1.0.0(b@2.0.0)\n    devDependencies:\n      d:\n        specifier: ^1\n        version: 1.0.0\npackages:\n  a@1.0.0:\n    resolution: {integrity: sha1-2jmbFmZhvSTQyqkdiqSdmjWhYy0=}\n  b@2.0.0:\n    resolution: {integrity: sha1-2jmbFmZhvSTQyqkdiqSdmjWhYy0=}\n  d@1.0.0:\n    resolution: {integrity: sha1-2jmbFmZhvSTQyqkdiqSdmjWhYy0=}\nsnapshots:\n  a@1.0.0(b@2.0.0):\n    dependencies:\n      b: 2.0.0\n  b@2.0.0: {}\n  d@1.0.0: {}\n";
        let mut lf = Lockfile::default();
        parse(text, &mut lf);
        assert!(lf.warnings.is_empty(), "{:?}", lf.warnings);
        assert_eq!(lf.packages.len(), 3);
        assert_eq!(lf.edges, vec![(0, 1)]);
        assert_eq!(lf.packages[2].scope, Scope::Dev);
        assert_eq!(lf.packages[1].scope, Scope::Required);
        assert_eq!(lf.packages[0].hashes.len(), 1);
    }
}
