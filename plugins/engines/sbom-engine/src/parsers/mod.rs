//! One parser per lockfile format. Each takes the file's text (and, through [`Siblings`],
//! manifests next to it) and returns a [`Lockfile`]; none of them panics on bad input.

use std::collections::HashMap;

use crate::{Ecosystem, LockKind, Lockfile, Package, Warning};

pub mod cargo;
pub mod composer;
pub mod golang;
pub mod npm;
pub mod pnpm;
pub mod python;
pub mod requirements;
pub mod ruby;
pub mod yarn;

/// Reads a file next to the lockfile by name (`package.json`, `go.sum`, ...); `None` if absent.
pub type Siblings<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Parse `text` (the contents of `path`) as `kind`.
pub fn parse(kind: LockKind, path: &str, text: &str, siblings: Siblings<'_>) -> Lockfile {
    let mut lf = Lockfile { path: path.to_string(), ..Default::default() };
    match kind {
        LockKind::NpmLock => npm::parse(text, siblings, &mut lf),
        LockKind::YarnLock => yarn::parse(text, siblings, &mut lf),
        LockKind::PnpmLock => pnpm::parse(text, &mut lf),
        LockKind::CargoLock => cargo::parse(text, &mut lf),
        LockKind::PoetryLock => python::parse_poetry(text, &mut lf),
        LockKind::PipfileLock => python::parse_pipfile(text, &mut lf),
        LockKind::UvLock => python::parse_uv(text, &mut lf),
        LockKind::Requirements => requirements::parse(text, siblings, &mut lf),
        LockKind::GoMod => golang::parse(text, siblings, &mut lf),
        LockKind::GemfileLock => ruby::parse(text, &mut lf),
        LockKind::ComposerLock => composer::parse(text, &mut lf),
    }
    lf
}

impl Lockfile {
    /// Record a warning about this file.
    pub fn warn(&mut self, line: Option<u32>, kind: &'static str, message: impl Into<String>) {
        self.warnings.push(Warning { path: self.path.clone(), line, kind, message: message.into() });
    }

    /// Record a parse failure of the whole file.
    pub(crate) fn malformed(&mut self, line: Option<u32>, what: &str, err: impl std::fmt::Display) {
        self.warn(
            line,
            "malformed",
            format!("not a valid {what}: {}; the file was skipped (regenerate it with the package manager)", crate::util::short(err)),
        );
    }
}

/// A package's identity: name, version, qualifiers.
type Identity = (String, Option<String>, Vec<(String, String)>);

/// Adds packages to a [`Lockfile`], merging repeats of the same identity.
pub(crate) struct Adder<'a> {
    pub lf: &'a mut Lockfile,
    eco: Ecosystem,
    index: HashMap<Identity, usize>,
}

impl<'a> Adder<'a> {
    pub fn new(lf: &'a mut Lockfile, eco: Ecosystem) -> Self {
        let mut index = HashMap::new();
        for (i, p) in lf.packages.iter().enumerate() {
            index.insert((p.name.clone(), p.version.clone(), p.qualifiers.clone()), i);
        }
        Adder { lf, eco, index }
    }

    /// Add (or merge into an existing) package; returns its index. The merged scope is the
    /// strongest of the two (required beats optional beats dev).
    pub fn add(&mut self, mut p: Package) -> usize {
        p.ecosystem = Some(self.eco);
        let key = (p.name.clone(), p.version.clone(), p.qualifiers.clone());
        if let Some(&i) = self.index.get(&key) {
            let e = &mut self.lf.packages[i];
            e.scope = e.scope.min(p.scope);
            for h in p.hashes {
                if !e.hashes.contains(&h) {
                    e.hashes.push(h);
                }
            }
            for l in p.licenses {
                if !e.licenses.contains(&l) {
                    e.licenses.push(l);
                }
            }
            e.is_project |= p.is_project;
            return i;
        }
        let i = self.lf.packages.len();
        self.lf.packages.push(p);
        self.index.insert(key, i);
        i
    }

    pub fn edge(&mut self, from: usize, to: usize) {
        if from != to {
            self.lf.edges.push((from, to));
        }
    }

    pub fn root(&mut self, i: usize) {
        if !self.lf.roots.contains(&i) {
            self.lf.roots.push(i);
        }
    }
}

/// Names in a package.json's `dependencies`/`optionalDependencies`/`peerDependencies`
/// (prod) and `devDependencies` (dev).
pub(crate) fn package_json_deps(text: &str) -> Option<(Vec<String>, Vec<String>)> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let names = |k: &str| -> Vec<String> {
        v.get(k).and_then(|d| d.as_object()).map(|o| o.keys().cloned().collect()).unwrap_or_default()
    };
    let mut prod = names("dependencies");
    prod.extend(names("optionalDependencies"));
    prod.extend(names("peerDependencies"));
    Some((prod, names("devDependencies")))
}

/// Mark every package not reachable from the given production roots as `Dev`, when the caller
/// knows which roots are dev-only. Packages reachable from a prod root keep their scope.
pub(crate) fn scope_by_reachability(lf: &mut Lockfile, prod_roots: &[usize], dev_roots: &[usize]) {
    if dev_roots.is_empty() {
        return;
    }
    let n = lf.packages.len();
    let mut adj = vec![Vec::new(); n];
    for &(a, b) in &lf.edges {
        adj[a].push(b);
    }
    let mut seen = vec![false; n];
    let mut stack: Vec<usize> = prod_roots.to_vec();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        stack.extend(adj[i].iter().copied());
    }
    let mut dev_seen = vec![false; n];
    let mut stack: Vec<usize> = dev_roots.to_vec();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut dev_seen[i], true) {
            continue;
        }
        stack.extend(adj[i].iter().copied());
    }
    for i in 0..n {
        if dev_seen[i] && !seen[i] && !lf.packages[i].is_project {
            lf.packages[i].scope = crate::Scope::Dev;
        }
    }
}
