//! pip requirement files (`requirements*.txt`): `name[extras]==version ; markers --hash=...`
//! with `\` continuations and comments. `-r other.txt` includes are followed (relative to the
//! file, at most 8 levels deep). A requirement that is not pinned with `==`/`===` becomes a
//! component without a version and an `unpinned` warning: kiln does not invent versions.
//! The file is flat (no graph): every requirement is a direct dependency.

use super::{Adder, Siblings};
use crate::util::prefixed_hex;
use crate::{Ecosystem, Lockfile, Package};

/// Parse a requirements file into `lf`.
pub fn parse(text: &str, siblings: Siblings<'_>, lf: &mut Lockfile) {
    let path = lf.path.clone();
    parse_into(text, &path, siblings, lf, 0);
}

fn parse_into(text: &str, file: &str, siblings: Siblings<'_>, lf: &mut Lockfile, depth: u32) {
    let mut logical = String::new();
    let mut start = 0u32;
    for (n, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start = n as u32 + 1;
        }
        let line = strip_comment(raw);
        if let Some(body) = line.trim_end().strip_suffix('\\') {
            logical.push_str(body);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let l = std::mem::take(&mut logical);
        one_line(l.trim(), file, start, siblings, lf, depth);
    }
    if !logical.trim().is_empty() {
        one_line(logical.trim(), file, start, siblings, lf, depth);
    }
}

fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    for i in 0..b.len() {
        if b[i] == b'#' && (i == 0 || b[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn warn_at(lf: &mut Lockfile, file: &str, line: u32, kind: &'static str, msg: String) {
    lf.warnings.push(crate::Warning { path: file.to_string(), line: Some(line), kind, message: msg });
}

fn one_line(l: &str, file: &str, line: u32, siblings: Siblings<'_>, lf: &mut Lockfile, depth: u32) {
    if l.is_empty() {
        return;
    }
    if l.starts_with('-') {
        let (opt, arg) = match l.split_once(['=', ' ']) {
            Some((o, a)) => (o, a.trim()),
            None => (l, ""),
        };
        if matches!(opt, "-r" | "--requirement") && !arg.is_empty() {
            if depth >= 8 {
                return warn_at(lf, file, line, "malformed", format!("`-r {arg}` nests more than 8 levels; not followed"));
            }
            let dir = file.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            let rel_to_lock = relative_to(&lf.path, dir, arg);
            match siblings(&rel_to_lock) {
                Some(t) => {
                    let inc = if dir.is_empty() { arg.to_string() } else { format!("{dir}/{arg}") };
                    parse_into(&t, &inc, siblings, lf, depth + 1)
                }
                None => warn_at(lf, file, line, "io", format!("included file {arg:?} was not found or not readable; its requirements are missing")),
            }
        }
        // Other options (-c, -e, -i, --hash on its own line, ...) name no pinned package.
        return;
    }
    let (req, hashes) = split_hashes(l);
    let req = req.split(';').next().unwrap_or("").trim();
    let name_end = req.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))).unwrap_or(req.len());
    let name = &req[..name_end];
    if name.is_empty() || req.contains("://") && !req.contains(" @ ") && !req.contains('@') {
        return warn_at(lf, file, line, "unsupported", format!("cannot read a package name from {:?}; skipped", short(req)));
    }
    let mut rest = req[name_end..].trim_start();
    if rest.starts_with('[') {
        rest = rest.find(']').map(|i| rest[i + 1..].trim_start()).unwrap_or("");
    }
    let mut pkg = Package { name: name.to_string(), ..Default::default() };
    if let Some(url) = rest.strip_prefix('@') {
        let url = url.trim();
        let key = if url.starts_with("git+") { "vcs_url" } else { "download_url" };
        pkg.qualifiers.push((key.into(), url.to_string()));
    } else if let Some(v) = rest.strip_prefix("===").or_else(|| rest.strip_prefix("==")) {
        let v = v.trim();
        if v.contains(',') || v.contains('*') {
            warn_at(lf, file, line, "unpinned", format!("{name} is not pinned to one version ({}); listed without a version — pin it with `==`", short(rest)));
        } else {
            pkg.version = Some(v.to_string());
        }
    } else {
        let how = if rest.is_empty() { "no version given".to_string() } else { short(rest) };
        warn_at(lf, file, line, "unpinned", format!("{name} is not pinned ({how}); listed without a version — pin it with `==` (pip-compile --generate-hashes)"));
    }
    pkg.hashes = hashes;
    let mut ad = Adder::new(lf, Ecosystem::Pypi);
    let i = ad.add(pkg);
    ad.root(i);
}

/// `arg` (relative to `dir`, the including file's directory) as a path relative to the
/// directory of `lock` (the top-level file), which is what [`Siblings`] resolves against.
fn relative_to(lock: &str, dir: &str, arg: &str) -> String {
    let lock_dir = lock.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let full = if dir.is_empty() { arg.to_string() } else { format!("{dir}/{arg}") };
    match full.strip_prefix(lock_dir).and_then(|r| r.strip_prefix('/')) {
        Some(r) if !lock_dir.is_empty() => r.to_string(),
        _ => full,
    }
}

fn split_hashes(l: &str) -> (&str, Vec<(crate::HashAlg, String)>) {
    match l.find("--hash") {
        Some(i) => {
            let hashes = l[i..]
                .split_whitespace()
                .filter_map(|t| t.strip_prefix("--hash=").or_else(|| t.strip_prefix("--hash:")))
                .filter_map(prefixed_hex)
                .collect();
            (l[..i].trim(), hashes)
        }
        None => (l, vec![]),
    }
}

fn short(s: &str) -> String {
    s.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Lockfile {
        let mut lf = Lockfile { path: "requirements.txt".into(), ..Default::default() };
        parse(text, &|n| (n == "base.txt").then(|| "b==2\n".to_string()), &mut lf);
        lf
    }

    #[test]
    fn pinned_hashes_markers_includes() {
        let h = "a".repeat(64);
        let lf = run(&format!("# c\nFoo_Bar[x]==1.0 ; python_version < \"3.9\" \\\n    --hash=sha256:{h}\n-r base.txt\ntriton>=2.0.0;platform_machine==\"x86_64\"\nnumba\n-e .\n"));
        let names: Vec<_> = lf.packages.iter().map(|p| (p.name.as_str(), p.version.as_deref())).collect();
        assert_eq!(names, vec![("Foo_Bar", Some("1.0")), ("b", Some("2")), ("triton", None), ("numba", None)]);
        assert_eq!(lf.packages[0].hashes.len(), 1);
        let unpinned: Vec<_> = lf.warnings.iter().filter(|w| w.kind == "unpinned").map(|w| w.line).collect();
        assert_eq!(unpinned, vec![Some(5), Some(6)]);
    }

    #[test]
    fn missing_include_warns() {
        let mut lf = Lockfile { path: "r/requirements.txt".into(), ..Default::default() };
        parse("-r nope.txt\n", &|_| None, &mut lf);
        assert_eq!(lf.warnings[0].kind, "io");
        assert_eq!(lf.warnings[0].line, Some(1));
    }
}
