//! `Cargo.lock`: format v1 (checksums in `[metadata]`), v2, v3 and v4. Workspace members
//! (packages without `source`) are components too and are the project's direct roots.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::Adder;
use crate::util::toml_err_line;
use crate::{Ecosystem, HashAlg, Lockfile, Package};

#[derive(Deserialize)]
struct CargoLock {
    #[serde(default)]
    package: Vec<Pkg>,
    #[serde(default)]
    metadata: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct Pkg {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
}

fn hex_sha256(s: &str) -> Option<(HashAlg, String)> {
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| (HashAlg::Sha256, s.to_ascii_lowercase()))
}

/// Parse a Cargo.lock into `lf`.
pub fn parse(text: &str, lf: &mut Lockfile) {
    let lock: CargoLock = match toml::from_str(text) {
        Ok(v) => v,
        Err(e) => return lf.malformed(toml_err_line(text, &e), "Cargo.lock (TOML)", e),
    };
    let mut ad = Adder::new(lf, Ecosystem::Cargo);
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_nv: HashMap<(&str, &str), usize> = HashMap::new();
    let mut ids = Vec::with_capacity(lock.package.len());
    for p in &lock.package {
        let mut pkg = Package { name: p.name.clone(), version: Some(p.version.clone()), ..Default::default() };
        let v1_key = format!("checksum {} {} ({})", p.name, p.version, p.source.as_deref().unwrap_or(""));
        let sum = p.checksum.clone().or_else(|| lock.metadata.get(&v1_key).and_then(|v| v.as_str()).map(String::from));
        if let Some(h) = sum.as_deref().and_then(hex_sha256) {
            pkg.hashes.push(h);
        }
        match p.source.as_deref() {
            None => pkg.is_project = true,
            Some(src) if src.starts_with("git+") => pkg.qualifiers.push(("vcs_url".into(), src.to_string())),
            Some(src) if src.starts_with("registry+") && !src.contains("github.com/rust-lang/crates.io-index") => {
                pkg.qualifiers.push(("repository_url".into(), src.trim_start_matches("registry+").to_string()))
            }
            Some(src) if src.starts_with("sparse+") && !src.contains("index.crates.io") => {
                pkg.qualifiers.push(("repository_url".into(), src.trim_start_matches("sparse+").to_string()))
            }
            _ => {}
        }
        let i = ad.add(pkg);
        if p.source.is_none() {
            ad.root(i);
        }
        by_name.entry(p.name.as_str()).or_default().push(i);
        by_nv.insert((p.name.as_str(), p.version.as_str()), i);
        ids.push(i);
    }
    for (p, &from) in lock.package.iter().zip(&ids) {
        for d in &p.dependencies {
            let mut parts = d.split_whitespace();
            let name = parts.next().unwrap_or("");
            let to = match parts.next() {
                Some(ver) => by_nv.get(&(name, ver)).copied(),
                None => by_name.get(name).and_then(|v| (v.len() == 1).then(|| v[0])),
            };
            match to {
                Some(to) => ad.edge(from, to),
                None => {
                    let line = crate::util::line_containing(text, &format!("name = \"{}\"", p.name));
                    ad.lf.warn(line, "malformed", format!("dependency {d:?} of {} {} is not a package of this lock", p.name, p.version));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_metadata_and_v3() {
        let text = "[[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\n \"a 1.0.0 (registry+https://github.com/rust-lang/crates.io-index)\",\n \"b\",\n]\n\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[[package]]\nname = \"b\"\nversion = \"2.0.0\"\nsource = \"git+https://github.com/x/b#abc\"\n\n[metadata]\n\"checksum a 1.0.0 (registry+https://github.com/rust-lang/crates.io-index)\" = \"0000000000000000000000000000000000000000000000000000000000000000\"\n";
        let mut lf = Lockfile::default();
        parse(text, &mut lf);
        assert!(lf.warnings.is_empty(), "{:?}", lf.warnings);
        assert_eq!(lf.packages.len(), 3);
        assert_eq!(lf.edges, vec![(0, 1), (0, 2)]);
        assert_eq!(lf.packages[1].hashes.len(), 1);
        assert!(lf.packages[0].is_project);
        assert_eq!(lf.packages[2].qualifiers[0].0, "vcs_url");
    }

    #[test]
    fn bad_toml_line() {
        let mut lf = Lockfile::default();
        parse("[[package]]\nname = \"a\"\nversion = \n", &mut lf);
        assert_eq!(lf.warnings[0].line, Some(3));
    }
}
