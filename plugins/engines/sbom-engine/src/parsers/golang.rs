//! `go.mod` (+ `go.sum` beside it): the module's `require` list (direct and `// indirect`), with
//! `replace` directives applied and `exclude`d versions dropped; go.sum's `h1:` dirhash (a
//! base64 SHA-256) is attached as the component's SHA-256. go.mod's requires are the main
//! module's build list, so all of them are direct edges of the project. go.sum-only entries are
//! not components: go.sum also lists modules that are not in the build (what `go mod graph`
//! would prune), and kiln cannot run `go` offline.

use std::collections::{HashMap, HashSet};

use super::{Adder, Siblings};
use crate::util::{base64_decode, hex};
use crate::{Ecosystem, HashAlg, Lockfile, Package};

struct Req {
    path: String,
    version: String,
    line: u32,
}

/// Parse go.mod text into `lf`.
pub fn parse(text: &str, siblings: Siblings<'_>, lf: &mut Lockfile) {
    let mut reqs: Vec<Req> = Vec::new();
    let mut replaces: HashMap<(String, Option<String>), (String, Option<String>)> = HashMap::new();
    let mut excludes: HashSet<(String, String)> = HashSet::new();
    let mut block: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n as u32 + 1;
        let line = raw.split("//").next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (verb, args) = match &block {
            Some(b) if line == ")" => {
                let _ = b;
                block = None;
                continue;
            }
            Some(b) => (b.clone(), line.to_string()),
            None => {
                let (v, a) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
                let a = a.trim();
                if a == "(" {
                    block = Some(v.to_string());
                    continue;
                }
                (v.to_string(), a.to_string())
            }
        };
        let toks: Vec<String> = args.split_whitespace().map(|t| t.trim_matches('"').to_string()).collect();
        match verb.as_str() {
            "require" => match toks.as_slice() {
                [p, v] => reqs.push(Req { path: p.clone(), version: v.clone(), line: line_no }),
                _ => lf.warn(Some(line_no), "malformed", format!("expected `module/path vX.Y.Z` in require, found {args:?}")),
            },
            "exclude" => {
                if let [p, v] = toks.as_slice() {
                    excludes.insert((p.clone(), v.clone()));
                }
            }
            "replace" => {
                let Some(arrow) = toks.iter().position(|t| t == "=>") else {
                    lf.warn(Some(line_no), "malformed", format!("replace without `=>`: {args:?}"));
                    continue;
                };
                let (l, r) = toks.split_at(arrow);
                let r = &r[1..];
                if l.is_empty() || r.is_empty() {
                    lf.warn(Some(line_no), "malformed", format!("incomplete replace: {args:?}"));
                    continue;
                }
                replaces.insert((l[0].clone(), l.get(1).cloned()), (r[0].clone(), r.get(1).cloned()));
            }
            _ => {}
        }
    }
    let sums = siblings("go.sum").map(|t| go_sum(&t)).unwrap_or_default();
    let mut ad = Adder::new(lf, Ecosystem::Golang);
    for r in reqs {
        if excludes.contains(&(r.path.clone(), r.version.clone())) {
            continue;
        }
        let rep = replaces.get(&(r.path.clone(), Some(r.version.clone()))).or_else(|| replaces.get(&(r.path.clone(), None)));
        let (path, version, local) = match rep {
            Some((np, nv)) if np.starts_with("./") || np.starts_with("../") || np.starts_with('/') => (r.path.clone(), None, true),
            Some((np, nv)) => (np.clone(), nv.clone().or(Some(r.version.clone())), false),
            None => (r.path.clone(), Some(r.version.clone()), false),
        };
        let _ = r.line;
        let mut pkg = Package { name: path.clone(), version: version.clone(), is_project: local, ..Default::default() };
        if let Some(v) = &version
            && let Some(h) = sums.get(&(path.clone(), v.clone()))
        {
            pkg.hashes.push((HashAlg::Sha256, h.clone()));
        }
        let i = ad.add(pkg);
        ad.root(i);
    }
}

/// `module version h1:BASE64` lines of go.sum (not the `/go.mod` ones) → hex SHA-256.
fn go_sum(text: &str) -> HashMap<(String, String), String> {
    let mut out = HashMap::new();
    for l in text.lines() {
        let mut t = l.split_whitespace();
        let (Some(m), Some(v), Some(h)) = (t.next(), t.next(), t.next()) else { continue };
        if v.ends_with("/go.mod") {
            continue;
        }
        if let Some(bytes) = h.strip_prefix("h1:").and_then(base64_decode)
            && bytes.len() == 32
        {
            out.insert((m.to_string(), v.to_string()), hex(&bytes));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_replace_exclude_sum() {
        let gomod = "module example.com/app\n\ngo 1.22\n\nrequire (\n\tgithub.com/a/b v1.0.0\n\tgithub.com/c/d v0.1.0 // indirect\n\tgithub.com/x/y v2.0.0\n)\nrequire github.com/e/f v1.2.3\nexclude github.com/x/y v2.0.0\nreplace github.com/c/d => github.com/fork/d v0.1.1\nreplace github.com/e/f => ../f\nrequire broken\n";
        let sum = "github.com/a/b v1.0.0 h1:n2DShwj5AfzieZKN2tid3gFt/HCZo/UUn4qMbUJ4H7M=\ngithub.com/a/b v1.0.0/go.mod h1:NRDpVnsDW1gkVfxKOXVpUkW9Tx5SIUPXgqCUq3dftew=\n";
        let mut lf = Lockfile::default();
        parse(gomod, &|n| (n == "go.sum").then(|| sum.to_string()), &mut lf);
        let got: Vec<_> = lf.packages.iter().map(|p| (p.name.as_str(), p.version.as_deref())).collect();
        assert_eq!(got, vec![("github.com/a/b", Some("v1.0.0")), ("github.com/fork/d", Some("v0.1.1")), ("github.com/e/f", None)]);
        assert_eq!(lf.packages[0].hashes[0].1, "9f60d28708f901fce279928ddad89dde016dfc7099a3f5149f8a8c6d42781fb3");
        assert_eq!(lf.warnings.len(), 1);
        assert_eq!(lf.warnings[0].line, Some(14));
    }
}
