//! `Gemfile.lock`: the `specs:` of every `GEM`, `GIT` and `PATH` section (a platform-specific
//! gem such as `grpc (1.83.0-x86_64-linux-musl)` is its own component with
//! `?platform=x86_64-linux-musl`), their dependency lines, `DEPENDENCIES` as the roots and the
//! `CHECKSUMS` section (Bundler 2.5+) as SHA-256 hashes.

use std::collections::HashMap;

use super::Adder;
use crate::util::prefixed_hex;
use crate::{Ecosystem, Lockfile, Package};

/// `name (1.2.3-platform)` → (name, version, platform).
fn spec(body: &str) -> Option<(&str, &str, Option<&str>)> {
    let (name, rest) = body.split_once(" (")?;
    let ver = rest.strip_suffix(')')?;
    let ver = ver.split_whitespace().next()?;
    Some(match ver.split_once('-') {
        Some((v, plat)) if plat != "ruby" => (name, v, Some(plat)),
        Some((v, _)) => (name, v, None),
        None => (name, ver, None),
    })
}

/// Parse a Gemfile.lock into `lf`.
pub fn parse(text: &str, lf: &mut Lockfile) {
    let mut ad = Adder::new(lf, Ecosystem::Gem);
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    let mut pending: Vec<(usize, String)> = Vec::new();
    let mut roots: Vec<String> = Vec::new();
    let mut checksums: HashMap<String, (crate::HashAlg, String)> = HashMap::new();
    let mut section = String::new();
    let (mut remote, mut revision) = (String::new(), String::new());
    let mut in_specs = false;
    let mut current: Option<usize> = None;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n as u32 + 1;
        let line = raw.trim_end();
        if line.is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let body = line.trim_start();
        if indent == 0 {
            section = body.to_string();
            in_specs = false;
            remote.clear();
            revision.clear();
            continue;
        }
        match section.as_str() {
            "GEM" | "GIT" | "PATH" | "PLUGIN SOURCE" => {
                if indent == 2 {
                    in_specs = body == "specs:";
                    if let Some(r) = body.strip_prefix("remote: ") {
                        remote = r.to_string();
                    } else if let Some(r) = body.strip_prefix("revision: ") {
                        revision = r.to_string();
                    }
                } else if in_specs && indent == 4 {
                    let Some((name, version, plat)) = spec(body) else {
                        ad.lf.warn(Some(line_no), "malformed", format!("expected `name (version)` in specs, found {body:?}; skipped"));
                        current = None;
                        continue;
                    };
                    let mut p = Package { name: name.to_string(), version: Some(version.to_string()), ..Default::default() };
                    if let Some(pl) = plat {
                        p.qualifiers.push(("platform".into(), pl.to_string()));
                    }
                    match section.as_str() {
                        "GIT" => p.qualifiers.push(("vcs_url".into(), format!("git+{remote}@{revision}"))),
                        "PATH" => p.is_project = true,
                        _ => {}
                    }
                    let i = ad.add(p);
                    by_name.entry(name.to_string()).or_default().push(i);
                    current = Some(i);
                } else if in_specs
                    && indent == 6
                    && let Some(c) = current
                {
                    let dep = body.split(" (").next().unwrap_or(body);
                    pending.push((c, dep.to_string()));
                }
            }
            "DEPENDENCIES" => {
                let dep = body.split(" (").next().unwrap_or(body).trim_end_matches('!');
                roots.push(dep.to_string());
            }
            "CHECKSUMS" => {
                if let Some((head, sum)) = body.rsplit_once(") ")
                    && let Some(h) = prefixed_hex(sum.split(',').next().unwrap_or(""))
                {
                    checksums.insert(format!("{head})"), h);
                }
            }
            _ => {}
        }
    }
    for (from, dep) in pending {
        if let Some(tos) = by_name.get(&dep) {
            for &to in tos {
                ad.edge(from, to);
            }
        }
    }
    for r in roots {
        if let Some(tos) = by_name.get(&r) {
            for &to in tos.clone().iter() {
                ad.root(to);
            }
        }
    }
    if !checksums.is_empty() {
        for p in ad.lf.packages.iter_mut() {
            let v = p.version.clone().unwrap_or_default();
            let plat = p.qualifiers.iter().find(|q| q.0 == "platform").map(|q| format!("-{}", q.1)).unwrap_or_default();
            if let Some(h) = checksums.get(&format!("{} ({v}{plat})", p.name)) {
                p.hashes.push(h.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_platforms_checksums() {
        let h = "b".repeat(64);
        let text = format!("GIT\n  remote: https://g/x.git\n  revision: abc\n  specs:\n    x (0.1.0)\n\nGEM\n  remote: https://rubygems.org/\n  specs:\n    grpc (1.83.0-x86_64-linux-musl)\n      google-protobuf (>= 3)\n    google-protobuf (4.0.0)\n    broken\n\nDEPENDENCIES\n  grpc\n  x!\n\nCHECKSUMS\n  google-protobuf (4.0.0) sha256={h}\n");
        let mut lf = Lockfile::default();
        parse(&text, &mut lf);
        assert_eq!(lf.packages.len(), 3);
        assert_eq!(lf.packages[1].qualifiers, vec![("platform".to_string(), "x86_64-linux-musl".to_string())]);
        assert_eq!(lf.edges, vec![(1, 2)]);
        assert_eq!(lf.roots, vec![1, 0]);
        assert_eq!(lf.packages[2].hashes.len(), 1);
        assert_eq!(lf.warnings.len(), 1);
        assert_eq!(lf.warnings[0].line, Some(13));
    }
}
