//! Install's copy plan: what an EC2/on-premises appspec's `files`, `file_exists_behavior` and
//! `permissions` mean for one instance, computed once here so every driver applies the same
//! rules (the local driver on this machine, the SSH driver on a remote one).
//!
//! The rules, as the CodeDeploy agents implement them (fact sheet §1; Ruby `installer.rb`,
//! `install_instruction.rb`; Rust `src/installer/core.rs`):
//!
//! * `source` is relative to the revision root; `/` (or empty) is the whole revision. A directory
//!   source copies its *contents*, recursively, into `destination`; a file source is copied to
//!   `destination/<file name>`. Missing ancestor directories are created and recorded. A symbolic
//!   link is recreated as a link, never followed. Two sources that map to one destination file
//!   are an error.
//! * Install first deletes what the previous Install in this deployment group created (the
//!   cleanup list), newest first: files and links are removed, directories only when empty. It
//!   then writes a new cleanup list.
//! * A file already at a destination, by `file_exists_behavior` (the appspec's beats the
//!   deployment's, which beats DISALLOW): DISALLOW fails with "The deployment failed because a
//!   specified file already exists at this location: `<path>`"; OVERWRITE copies over it; RETAIN
//!   keeps it, neither copied nor recorded (so no later Install deletes it).
//! * `permissions` apply only to what this Install copies or creates ([`permission_targets`]).
//!
//! Security: the bundle is walked without following links (a link inside it is copied as a link;
//! a `source` that passes *through* a link is refused), to a bounded depth and entry count;
//! `..` was already refused by the appspec parser and is refused again here.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use kiln_spec::appspec::{FileExistsBehavior, ObjectType, Permission, ServerAppSpec};

/// Deepest directory nesting walked in a bundle.
pub const MAX_DEPTH: usize = 256;
/// Most entries one Install copies.
pub const MAX_ENTRIES: usize = 1_000_000;

/// What a bundle entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// A link, recreated with this target.
    Symlink(PathBuf),
}

/// One bundle entry and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyEntry {
    /// The path in the bundle.
    pub source: PathBuf,
    pub destination: PathBuf,
    pub kind: EntryKind,
    /// Permission bits on the bundle (kept by the copy).
    pub mode: u32,
}

/// Every entry the appspec's `files` copy, parents before children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyPlan {
    pub entries: Vec<CopyEntry>,
}

/// Why a copy plan cannot be made or applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CopyPlanError {
    #[error("`files` source `{0}` does not exist in the revision")]
    MissingSource(String),
    #[error("`files` source `{0}` leaves the revision (a `..` component or an absolute path through a link)")]
    Outside(String),
    #[error("`files` source `{0}` passes through a symbolic link in the revision; kiln never follows links in a bundle")]
    ThroughLink(String),
    #[error("two `files` entries copy to {0}")]
    Collision(PathBuf),
    #[error("the revision is nested deeper than {MAX_DEPTH} directories at {0}")]
    TooDeep(PathBuf),
    #[error("the revision has more than {MAX_ENTRIES} files to copy")]
    TooMany,
    #[error("The deployment failed because a specified file already exists at this location: {}", .0.display())]
    FileExists(PathBuf),
    #[error("{} is a file, but the revision needs a directory there", .0.display())]
    NotADirectory(PathBuf),
    #[error("reading the revision failed at {}: {}", .0.display(), .1)]
    Io(PathBuf, String),
}

/// What is at a path on the instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    Missing,
    File,
    Dir,
}

/// One thing the driver does, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// From the previous cleanup list: unlink a file or link, or remove a directory if it is empty.
    Remove(PathBuf),
    /// Create a directory (and nothing if it exists by then).
    Mkdir(PathBuf),
    /// Copy a file, keeping its mode and timestamps; over an existing one with OVERWRITE.
    Copy { from: PathBuf, to: PathBuf, mode: u32 },
    /// Create a link.
    Symlink { target: PathBuf, at: PathBuf },
    /// RETAIN: an existing file is kept and not recorded.
    Retain(PathBuf),
}

/// The steps of one Install and the cleanup list it leaves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstallSteps {
    pub steps: Vec<Step>,
    /// What this Install creates, in creation order (the next Install removes it newest first).
    pub cleanup: Vec<String>,
}

/// Walk `bundle` for the appspec's `files`.
pub fn copy_plan(spec: &ServerAppSpec, bundle: &Path) -> Result<CopyPlan, CopyPlanError> {
    let mut plan = CopyPlan::default();
    let mut taken: HashMap<PathBuf, bool> = HashMap::new(); // destination → is a directory
    for mapping in &spec.files {
        let source = &mapping.source.value;
        let rel = relative_source(source)?;
        let path = resolve_in_bundle(bundle, &rel, source)?;
        let meta = fs::symlink_metadata(&path).map_err(|_| CopyPlanError::MissingSource(source.clone()))?;
        let destination = PathBuf::from(&mapping.destination.value);
        if meta.is_dir() {
            let mut entries = Vec::new();
            walk(&path, &destination, 0, &mut entries, plan.entries.len())?;
            for e in entries {
                claim(&mut taken, &e)?;
                plan.entries.push(e);
            }
        } else {
            let name = path.file_name().map(PathBuf::from).unwrap_or_default();
            let e = entry(&path, destination.join(name), &meta)?;
            claim(&mut taken, &e)?;
            plan.entries.push(e);
        }
    }
    Ok(plan)
}

/// The source as components inside the revision: leading separators stripped, `.` dropped.
fn relative_source(source: &str) -> Result<PathBuf, CopyPlanError> {
    let trimmed = source.trim_start_matches(['/', '\\']);
    let mut rel = PathBuf::new();
    for c in Path::new(trimmed).components() {
        match c {
            Component::Normal(n) => rel.push(n),
            Component::CurDir => {}
            _ => return Err(CopyPlanError::Outside(source.to_string())),
        }
    }
    Ok(rel)
}

/// `bundle/rel`, refusing a path whose intermediate components are links.
fn resolve_in_bundle(bundle: &Path, rel: &Path, source: &str) -> Result<PathBuf, CopyPlanError> {
    let mut path = bundle.to_path_buf();
    let count = rel.components().count();
    for (i, c) in rel.components().enumerate() {
        path.push(c);
        if i + 1 < count {
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => return Err(CopyPlanError::ThroughLink(source.to_string())),
                Ok(_) => {}
                Err(_) => return Err(CopyPlanError::MissingSource(source.to_string())),
            }
        }
    }
    Ok(path)
}

fn entry(path: &Path, destination: PathBuf, meta: &fs::Metadata) -> Result<CopyEntry, CopyPlanError> {
    use std::os::unix::fs::PermissionsExt;
    let kind = if meta.file_type().is_symlink() {
        EntryKind::Symlink(fs::read_link(path).map_err(|e| CopyPlanError::Io(path.to_path_buf(), e.to_string()))?)
    } else if meta.is_dir() {
        EntryKind::Dir
    } else {
        EntryKind::File
    };
    Ok(CopyEntry { source: path.to_path_buf(), destination, kind, mode: meta.permissions().mode() & 0o7777 })
}

fn walk(dir: &Path, dest: &Path, depth: usize, out: &mut Vec<CopyEntry>, already: usize) -> Result<(), CopyPlanError> {
    if depth > MAX_DEPTH {
        return Err(CopyPlanError::TooDeep(dir.to_path_buf()));
    }
    let io = |e: std::io::Error| CopyPlanError::Io(dir.to_path_buf(), e.to_string());
    let mut names: Vec<_> = fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>().map_err(io)?;
    names.sort();
    for name in names {
        if out.len() + already >= MAX_ENTRIES {
            return Err(CopyPlanError::TooMany);
        }
        let path = dir.join(&name);
        let meta = fs::symlink_metadata(&path).map_err(io)?;
        let e = entry(&path, dest.join(&name), &meta)?;
        let is_dir = e.kind == EntryKind::Dir;
        out.push(e);
        if is_dir {
            walk(&path, &dest.join(&name), depth + 1, out, already)?;
        }
    }
    Ok(())
}

fn claim(taken: &mut HashMap<PathBuf, bool>, e: &CopyEntry) -> Result<(), CopyPlanError> {
    let is_dir = e.kind == EntryKind::Dir;
    match taken.get(&e.destination) {
        Some(true) if is_dir => Ok(()),
        Some(_) => Err(CopyPlanError::Collision(e.destination.clone())),
        None => {
            taken.insert(e.destination.clone(), is_dir);
            Ok(())
        }
    }
}

/// The steps for one instance: remove `previous_cleanup`, then create and copy, deciding on
/// existing files by `behavior` (the appspec's `file_exists_behavior` when it has one).
/// `exists` tells what is on the instance now; a path on the previous cleanup list counts as gone.
pub fn resolve(plan: &CopyPlan, spec: &ServerAppSpec, previous_cleanup: &[String], behavior: FileExistsBehavior, exists: &dyn Fn(&Path) -> Existing) -> Result<InstallSteps, CopyPlanError> {
    let behavior = spec.file_exists_behavior.as_ref().map_or(behavior, |b| b.value);
    let mut out = InstallSteps::default();
    out.steps.extend(previous_cleanup.iter().rev().map(|p| Step::Remove(PathBuf::from(p))));
    let removed: HashSet<&Path> = previous_cleanup.iter().map(Path::new).collect();
    let state = |p: &Path| if removed.contains(p) { Existing::Missing } else { exists(p) };
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    for e in &plan.entries {
        // Ancestors first, from the root down.
        // (The root has no parent and always exists.)
        let mut ancestors: Vec<&Path> = e.destination.ancestors().skip(1).filter(|a| a.parent().is_some() && !a.as_os_str().is_empty()).collect();
        ancestors.reverse();
        for a in ancestors {
            ensure_dir(a, &state, &mut dirs, &mut out)?;
        }
        match &e.kind {
            EntryKind::Dir => ensure_dir(&e.destination, &state, &mut dirs, &mut out)?,
            kind => {
                let existing = state(&e.destination);
                if existing == Existing::Dir {
                    return Err(CopyPlanError::FileExists(e.destination.clone()));
                }
                if existing == Existing::File {
                    match behavior {
                        FileExistsBehavior::Disallow => return Err(CopyPlanError::FileExists(e.destination.clone())),
                        FileExistsBehavior::Retain => {
                            out.steps.push(Step::Retain(e.destination.clone()));
                            continue;
                        }
                        FileExistsBehavior::Overwrite => {}
                    }
                }
                out.steps.push(match kind {
                    EntryKind::Symlink(target) => Step::Symlink { target: target.clone(), at: e.destination.clone() },
                    _ => Step::Copy { from: e.source.clone(), to: e.destination.clone(), mode: e.mode },
                });
                out.cleanup.push(e.destination.to_string_lossy().into_owned());
            }
        }
    }
    Ok(out)
}

fn ensure_dir(dir: &Path, state: &dyn Fn(&Path) -> Existing, made: &mut HashSet<PathBuf>, out: &mut InstallSteps) -> Result<(), CopyPlanError> {
    if made.contains(dir) {
        return Ok(());
    }
    match state(dir) {
        Existing::Dir => {}
        Existing::File => return Err(CopyPlanError::NotADirectory(dir.to_path_buf())),
        Existing::Missing => {
            out.steps.push(Step::Mkdir(dir.to_path_buf()));
            out.cleanup.push(dir.to_string_lossy().into_owned());
        }
    }
    made.insert(dir.to_path_buf());
    Ok(())
}

/// The `permissions` entries that apply to one created or copied object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionTarget {
    pub path: PathBuf,
    pub is_dir: bool,
    /// Indexes into the appspec's `permissions`, in order (the driver applies chmod, then
    /// `setfacl --set`, then the SELinux context, then chown, for each).
    pub entries: Vec<usize>,
}

/// Which `permissions` entries apply to what `steps` create or copy: an entry whose `object` is a
/// copied file (and whose `type` includes `file`) applies to that file; an entry whose `object` is
/// a directory applies to matching copied files and created directories *under* it, never to the
/// directory itself. `pattern` `**` (the default) matches every descendant; any other pattern
/// matches only direct children, with `*` as the only wildcard; `except` names are left out
/// (the agents' behaviour, fact sheet §1).
pub fn permission_targets(steps: &InstallSteps, permissions: &[Permission]) -> Vec<PermissionTarget> {
    let mut out = Vec::new();
    let created: BTreeSet<(PathBuf, bool)> = steps
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Mkdir(p) => Some((p.clone(), true)),
            Step::Copy { to, .. } => Some((to.clone(), false)),
            _ => None,
        })
        .collect();
    for (path, is_dir) in created {
        let kind = if is_dir { ObjectType::Directory } else { ObjectType::File };
        let entries: Vec<usize> = permissions
            .iter()
            .enumerate()
            .filter(|(_, p)| p.types.is_empty() || p.types.contains(&kind))
            .filter(|(_, p)| applies(p, &path, is_dir))
            .map(|(i, _)| i)
            .collect();
        if !entries.is_empty() {
            out.push(PermissionTarget { path, is_dir, entries });
        }
    }
    out
}

fn applies(p: &Permission, path: &Path, is_dir: bool) -> bool {
    let object = Path::new(&p.object.value);
    if path == object {
        return !is_dir;
    }
    let Ok(rel) = path.strip_prefix(object) else { return false };
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    if p.except.iter().any(|e| glob_match(&e.value, &name)) {
        return false;
    }
    match p.pattern.as_ref().map(|s| s.value.as_str()) {
        None | Some("**") => true,
        Some(pattern) => rel.components().count() == 1 && glob_match(pattern, &name),
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests;
