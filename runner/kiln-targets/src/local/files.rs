//! An instance's files: downloading a bundle (a copy that never follows links) and applying an
//! Install's steps ([`kiln_deploy::target::copyplan`]) under the instance's `root/`.

use std::fs;
use std::path::{Component, Path, PathBuf};

use kiln_deploy::target::copyplan::{Existing, InstallSteps, Step};

/// The most entries one bundle copy makes (CodeDeploy's own bound on a revision's files is far
/// lower; this only stops a runaway tree).
pub const MAX_ENTRIES: usize = 100_000;

/// `instance_path` (absolute, as the appspec says it) under `root`, refusing `..` and any
/// existing ancestor that is a symbolic link (so nothing is ever written outside `root`).
pub fn under_root(root: &Path, instance_path: &Path) -> Result<PathBuf, String> {
    let mut out = root.to_path_buf();
    for c in instance_path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => {
                if let Ok(m) = fs::symlink_metadata(&out)
                    && m.file_type().is_symlink()
                {
                    return Err(format!("{} passes through a symbolic link on the instance ({}); kiln never writes through links", instance_path.display(), out.display()));
                }
                out.push(part);
            }
            Component::ParentDir | Component::Prefix(_) => return Err(format!("{} is not a plain absolute path on the instance (`..` is refused)", instance_path.display())),
        }
    }
    Ok(out)
}

/// What is at `instance_path` (links count as files: they are replaced or removed, never entered).
pub fn existing(root: &Path, instance_path: &Path) -> Existing {
    match under_root(root, instance_path).ok().and_then(|p| fs::symlink_metadata(p).ok()) {
        None => Existing::Missing,
        Some(m) if m.is_dir() => Existing::Dir,
        Some(_) => Existing::File,
    }
}

/// Copy the bundle directory `from` to `to` (which must not exist), links as links, modes kept.
pub fn copy_bundle(from: &Path, to: &Path) -> Result<(), String> {
    let top = fs::symlink_metadata(from).map_err(|e| format!("reading the revision at {}: {e}", from.display()))?;
    if !top.is_dir() {
        return Err(format!("the revision at {} is not a directory", from.display()));
    }
    let mut count = 0usize;
    copy_dir(from, to, &mut count)
}

fn copy_dir(from: &Path, to: &Path, count: &mut usize) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| format!("creating {}: {e}", to.display()))?;
    let entries = fs::read_dir(from).map_err(|e| format!("reading {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", from.display()))?;
        *count += 1;
        if *count > MAX_ENTRIES {
            return Err(format!("the revision at {} has more than {MAX_ENTRIES} entries", from.display()));
        }
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ft = entry.file_type().map_err(|e| format!("reading {}: {e}", src.display()))?;
        if ft.is_symlink() {
            let target = fs::read_link(&src).map_err(|e| format!("reading the link {}: {e}", src.display()))?;
            std::os::unix::fs::symlink(&target, &dst).map_err(|e| format!("creating the link {}: {e}", dst.display()))?;
        } else if ft.is_dir() {
            copy_dir(&src, &dst, count)?;
        } else if ft.is_file() {
            fs::copy(&src, &dst).map_err(|e| format!("copying {} to {}: {e}", src.display(), dst.display()))?;
        }
        // Sockets, fifos and devices are not part of a revision: skipped.
    }
    Ok(())
}

/// Apply an Install's steps under `root`. `bundle` is the instance's copy of the revision (the
/// steps' sources are paths in it).
pub fn apply(root: &Path, bundle: &Path, steps: &InstallSteps) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    for step in &steps.steps {
        match step {
            Step::Remove(p) => {
                let at = under_root(root, p)?;
                match fs::symlink_metadata(&at) {
                    Ok(m) if m.is_dir() => {
                        // Only when empty, as the agent's cleanup does.
                        let _ = fs::remove_dir(&at);
                    }
                    Ok(_) => fs::remove_file(&at).map_err(|e| format!("removing {}: {e}", p.display()))?,
                    Err(_) => {}
                }
            }
            Step::Mkdir(p) => {
                let at = under_root(root, p)?;
                if !at.is_dir() {
                    fs::create_dir_all(&at).map_err(|e| format!("creating {}: {e}", p.display()))?;
                }
            }
            Step::Copy { from, to, mode } => {
                let src = if from.is_absolute() { from.clone() } else { bundle.join(from) };
                let at = under_root(root, to)?;
                if fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                    fs::remove_file(&at).map_err(|e| format!("replacing the link {}: {e}", to.display()))?;
                }
                if let Some(parent) = at.parent() {
                    fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
                }
                fs::copy(&src, &at).map_err(|e| format!("copying {} to {}: {e}", src.display(), to.display()))?;
                fs::set_permissions(&at, fs::Permissions::from_mode(*mode & 0o7777)).map_err(|e| format!("setting the mode of {}: {e}", to.display()))?;
            }
            Step::Symlink { target, at } => {
                let path = under_root(root, at)?;
                std::os::unix::fs::symlink(target, &path).map_err(|e| format!("creating the link {}: {e}", at.display()))?;
            }
            Step::Retain(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(under_root(root, Path::new("/srv/web/a")).unwrap(), root.join("srv/web/a"));
        assert!(under_root(root, Path::new("/srv/../etc/passwd")).unwrap_err().contains("`..` is refused"));
        // A previous revision left /srv/evil -> /etc: nothing is written through it.
        fs::create_dir_all(root.join("srv")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("srv/evil")).unwrap();
        assert!(under_root(root, Path::new("/srv/evil/passwd")).unwrap_err().contains("symbolic link"));
        assert_eq!(existing(root, Path::new("/srv/evil")), Existing::File);
    }

    #[test]
    fn a_bundle_copy_keeps_links_as_links() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("b");
        fs::create_dir_all(src.join("app")).unwrap();
        fs::write(src.join("app/index.html"), "hi").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("app/pw")).unwrap();
        copy_bundle(&src, &dir.path().join("copy")).unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("copy/app/index.html")).unwrap(), "hi");
        assert_eq!(fs::read_link(dir.path().join("copy/app/pw")).unwrap(), Path::new("/etc/passwd"));
        assert!(copy_bundle(&src.join("app/index.html"), &dir.path().join("x")).is_err());
    }
}
