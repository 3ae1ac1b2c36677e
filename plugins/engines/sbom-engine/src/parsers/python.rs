//! Python locks: `poetry.lock` (1.x `category` and `[metadata.files]`, 2.x `groups`),
//! `Pipfile.lock` (`default` / `develop`) and `uv.lock`. Names are matched PEP 503-normalised.
//! Every file hash the lock lists is kept (one per wheel/sdist), as pip would accept any of them.

use std::collections::HashMap;

use serde_json::Value as Json;
use toml::Value as Toml;

use super::{Adder, scope_by_reachability};
use crate::purl::pep503;
use crate::util::{json_err_line, prefixed_hex, toml_err_line};
use crate::{Ecosystem, Lockfile, Package, Scope};

fn tstr<'a>(v: &'a Toml, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Toml::as_str)
}

fn file_hashes(files: Option<&Toml>, out: &mut Package) {
    let Some(arr) = files.and_then(Toml::as_array) else { return };
    for f in arr {
        if let Some(h) = tstr(f, "hash").and_then(prefixed_hex)
            && !out.hashes.contains(&h)
        {
            out.hashes.push(h);
        }
    }
}

fn add_edges_by_name(ad: &mut Adder<'_>, by_name: &HashMap<String, Vec<usize>>, from: usize, names: &[String]) {
    for n in names {
        if let Some(tos) = by_name.get(&pep503(n)) {
            for &to in tos {
                ad.edge(from, to);
            }
        }
    }
}

fn toml_doc(text: &str, what: &str, lf: &mut Lockfile) -> Option<Toml> {
    match toml::from_str::<Toml>(text) {
        Ok(v) => Some(v),
        Err(e) => {
            lf.malformed(toml_err_line(text, &e), what, e);
            None
        }
    }
}

/// Parse a poetry.lock into `lf`.
pub fn parse_poetry(text: &str, lf: &mut Lockfile) {
    let Some(doc) = toml_doc(text, "poetry.lock (TOML)", lf) else { return };
    let empty = Vec::new();
    let pkgs = doc.get("package").and_then(Toml::as_array).unwrap_or(&empty);
    let meta_files = doc.get("metadata").and_then(|m| m.get("files")).and_then(Toml::as_table);
    let mut ad = Adder::new(lf, Ecosystem::Pypi);
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    let mut deps = Vec::new();
    for p in pkgs {
        let (Some(name), Some(version)) = (tstr(p, "name"), tstr(p, "version")) else {
            ad.lf.warn(None, "malformed", "a [[package]] without name or version was skipped");
            continue;
        };
        let mut pkg = Package { name: name.to_string(), version: Some(version.to_string()), ..Default::default() };
        let dev_category = tstr(p, "category") == Some("dev");
        let groups: Vec<&str> = p.get("groups").and_then(Toml::as_array).map(|a| a.iter().filter_map(Toml::as_str).collect()).unwrap_or_default();
        if dev_category || (!groups.is_empty() && !groups.contains(&"main")) {
            pkg.scope = Scope::Dev;
        } else if p.get("optional").and_then(Toml::as_bool) == Some(true) {
            pkg.scope = Scope::Optional;
        }
        file_hashes(p.get("files"), &mut pkg);
        if let Some(mf) = meta_files {
            let hit = mf.get(name).or_else(|| mf.iter().find(|(k, _)| pep503(k) == pep503(name)).map(|(_, v)| v));
            file_hashes(hit, &mut pkg);
        }
        if let Some(src) = p.get("source")
            && tstr(src, "type") == Some("git")
            && let Some(url) = tstr(src, "url")
        {
            let rev = tstr(src, "resolved_reference").or(tstr(src, "reference")).unwrap_or("");
            pkg.qualifiers.push(("vcs_url".into(), format!("git+{url}@{rev}")));
        }
        let i = ad.add(pkg);
        by_name.entry(pep503(name)).or_default().push(i);
        let names: Vec<String> = p.get("dependencies").and_then(Toml::as_table).map(|t| t.keys().cloned().collect()).unwrap_or_default();
        deps.push((i, names));
    }
    for (i, names) in &deps {
        add_edges_by_name(&mut ad, &by_name, *i, names);
    }
    roots_without_parents(&mut ad);
}

/// Packages nobody depends on are the project's direct dependencies (locks that do not name the
/// project's own requirements).
fn roots_without_parents(ad: &mut Adder<'_>) {
    let mut has_parent = vec![false; ad.lf.packages.len()];
    for &(_, b) in &ad.lf.edges {
        has_parent[b] = true;
    }
    for (i, hp) in has_parent.into_iter().enumerate() {
        if !hp {
            ad.root(i);
        }
    }
}

/// Parse a Pipfile.lock into `lf`.
pub fn parse_pipfile(text: &str, lf: &mut Lockfile) {
    let doc: Json = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return lf.malformed(json_err_line(&e), "Pipfile.lock (JSON)", e),
    };
    let mut ad = Adder::new(lf, Ecosystem::Pypi);
    for (section, scope) in [("default", Scope::Required), ("develop", Scope::Dev)] {
        let Some(map) = doc.get(section).and_then(Json::as_object) else { continue };
        for (name, v) in map {
            let mut pkg = Package { name: name.clone(), scope, ..Default::default() };
            match v.get("version").and_then(Json::as_str) {
                Some(ver) => pkg.version = Some(ver.trim_start_matches("==").trim().to_string()),
                None => {
                    if let Some(git) = v.get("git").and_then(Json::as_str) {
                        let r = v.get("ref").and_then(Json::as_str).unwrap_or("");
                        let url = if git.starts_with("git+") { git.to_string() } else { format!("git+{git}") };
                        pkg.qualifiers.push(("vcs_url".into(), format!("{url}@{r}")));
                    } else if v.get("path").is_some() || v.get("file").is_some() {
                        pkg.is_project = v.get("editable").and_then(Json::as_bool).unwrap_or(false);
                    }
                }
            }
            if let Some(hs) = v.get("hashes").and_then(Json::as_array) {
                pkg.hashes = hs.iter().filter_map(|h| h.as_str().and_then(prefixed_hex)).collect();
            }
            let i = ad.add(pkg);
            ad.root(i);
        }
    }
}

/// Parse a uv.lock into `lf`.
pub fn parse_uv(text: &str, lf: &mut Lockfile) {
    let Some(doc) = toml_doc(text, "uv.lock (TOML)", lf) else { return };
    let empty = Vec::new();
    let pkgs = doc.get("package").and_then(Toml::as_array).unwrap_or(&empty);
    let mut ad = Adder::new(lf, Ecosystem::Pypi);
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_nv: HashMap<(String, String), usize> = HashMap::new();
    let mut pending: Vec<(Option<usize>, &Toml)> = Vec::new();
    for p in pkgs {
        let Some(name) = tstr(p, "name") else {
            ad.lf.warn(None, "malformed", "a [[package]] without a name was skipped");
            continue;
        };
        let src = p.get("source");
        let local = src.and_then(|s| tstr(s, "virtual").or(tstr(s, "editable")));
        if local == Some(".") {
            pending.push((None, p)); // the project itself: its dependencies are the roots
            continue;
        }
        let mut pkg = Package { name: name.to_string(), version: tstr(p, "version").map(String::from), is_project: local.is_some(), ..Default::default() };
        if let Some(sd) = p.get("sdist")
            && let Some(h) = tstr(sd, "hash").and_then(prefixed_hex)
        {
            pkg.hashes.push(h);
        }
        file_hashes(p.get("wheels"), &mut pkg);
        if let Some(git) = src.and_then(|s| tstr(s, "git")) {
            pkg.qualifiers.push(("vcs_url".into(), format!("git+{git}")));
        }
        let i = ad.add(pkg);
        if local.is_some() {
            ad.root(i);
        }
        by_name.entry(pep503(name)).or_default().push(i);
        if let Some(v) = tstr(p, "version") {
            by_nv.insert((pep503(name), v.to_string()), i);
        }
        pending.push((Some(i), p));
    }
    let resolve = |d: &Toml| -> Vec<usize> {
        let Some(n) = tstr(d, "name") else { return vec![] };
        let n = pep503(n);
        if let Some(v) = tstr(d, "version")
            && let Some(&i) = by_nv.get(&(n.clone(), v.to_string()))
        {
            return vec![i];
        }
        by_name.get(&n).cloned().unwrap_or_default()
    };
    let (mut prod, mut dev) = (Vec::new(), Vec::new());
    for (from, p) in &pending {
        let list = |k: &str| -> Vec<&Toml> { p.get(k).and_then(Toml::as_array).map(|a| a.iter().collect()).unwrap_or_default() };
        let grouped = |k: &str| -> Vec<&Toml> {
            p.get(k).and_then(Toml::as_table).map(|t| t.values().filter_map(Toml::as_array).flatten().collect()).unwrap_or_default()
        };
        let mut normal = list("dependencies");
        normal.extend(grouped("optional-dependencies"));
        for d in normal {
            for to in resolve(d) {
                match from {
                    Some(f) => ad.edge(*f, to),
                    None => {
                        ad.root(to);
                        prod.push(to);
                    }
                }
            }
        }
        for d in grouped("dev-dependencies") {
            for to in resolve(d) {
                match from {
                    Some(f) => ad.edge(*f, to),
                    None => {
                        ad.root(to);
                        dev.push(to);
                    }
                }
            }
        }
    }
    if prod.is_empty() && dev.is_empty() {
        roots_without_parents(&mut ad);
    }
    scope_by_reachability(ad.lf, &prod, &dev);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poetry_old_layout() {
        let h = "a".repeat(64);
        let text = format!("[[package]]\nname = \"A_b\"\nversion = \"1.0\"\ncategory = \"dev\"\noptional = false\n\n[package.dependencies]\nc = \">=1\"\n\n[[package]]\nname = \"c\"\nversion = \"2.0\"\ncategory = \"main\"\noptional = false\n\n[metadata]\nlock-version = \"1.1\"\n\n[metadata.files]\na-b = [\n    {{file = \"a.whl\", hash = \"sha256:{h}\"}},\n]\nc = []\n");
        let mut lf = Lockfile::default();
        parse_poetry(&text, &mut lf);
        assert!(lf.warnings.is_empty(), "{:?}", lf.warnings);
        assert_eq!(lf.packages.len(), 2);
        assert_eq!(lf.packages[0].scope, Scope::Dev);
        assert_eq!(lf.packages[0].hashes.len(), 1);
        assert_eq!(lf.edges, vec![(0, 1)]);
        assert_eq!(lf.roots, vec![0]);
    }

    #[test]
    fn pipfile_git_and_develop() {
        let text = r#"{"_meta":{},"default":{"a":{"version":"==1.0","hashes":["sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]},"g":{"git":"https://x/g.git","ref":"abc"}},"develop":{"t":{"version":"==2"}}}"#;
        let mut lf = Lockfile::default();
        parse_pipfile(text, &mut lf);
        assert_eq!(lf.packages.len(), 3);
        assert_eq!(lf.packages[0].version.as_deref(), Some("1.0"));
        assert_eq!(lf.packages[1].version, None);
        assert_eq!(lf.packages[1].qualifiers[0].1, "git+https://x/g.git@abc");
        assert_eq!(lf.packages[2].scope, Scope::Dev);
    }

    #[test]
    fn uv_project_excluded_dev_group() {
        let text = "version = 1\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = { virtual = \".\" }\ndependencies = [{ name = \"a\" }]\n\n[package.dev-dependencies]\ndev = [{ name = \"r\" }]\n\n[[package]]\nname = \"a\"\nversion = \"1.0\"\nsource = { registry = \"https://pypi.org/simple\" }\n\n[[package]]\nname = \"r\"\nversion = \"2.0\"\nsource = { registry = \"https://pypi.org/simple\" }\n";
        let mut lf = Lockfile::default();
        parse_uv(text, &mut lf);
        assert!(lf.warnings.is_empty(), "{:?}", lf.warnings);
        assert_eq!(lf.packages.len(), 2);
        assert_eq!(lf.packages[1].scope, Scope::Dev);
        assert_eq!(lf.roots, vec![0, 1]);
    }
}
