//! What `kiln deploy` deploys: a build of the project (by id, its primary artifact, with the
//! build's provenance) or an artifact given by path (a directory or a zip), staged as a
//! content-addressed revision under `.kiln/deployments/revisions/<sha256>/` so that a record
//! names a revision that stays as it was deployed (a later build, or a pruned build record,
//! cannot change what a rollback reinstalls).
//!
//! The revision's digest: the zip file's SHA-256 for a zip; for a directory, the SHA-256 of its
//! manifest — one line per entry, sorted by path, `<sha256 of the file>  <path>\n` for a file and
//! `link:<target>  <path>\n` for a symbolic link (directories are implied by their entries), the
//! layout `sha256sum` prints, so it can be recomputed with standard tools.

use std::path::{Path, PathBuf};

use kiln_deploy::record::RevisionRef;
use kiln_record::{Kind, Records};
use sha2::{Digest, Sha256};

/// The provenance file name of a build record.
pub const PROVENANCE_FILE: &str = "provenance.intoto.jsonl";

/// A revision found, not yet staged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The name records give it: the build id, or the artifact's file name.
    pub name: String,
    /// The artifact: a directory or a zip file.
    pub location: PathBuf,
    /// The build's signed provenance, when the revision is a build's.
    pub provenance: Option<PathBuf>,
    /// The build id, when the revision is a build's.
    pub build_id: Option<String>,
}

/// Find what `given` names: an existing path is an artifact; anything else is a build id (or a
/// unique prefix of one) of the project at `project`.
pub fn find(project: &Path, given: &str, provenance: Option<&Path>) -> Result<Found, String> {
    let path = Path::new(given);
    if std::fs::symlink_metadata(path).is_ok() {
        let meta = std::fs::metadata(path).map_err(|e| format!("{given}: {e}"))?;
        if !meta.is_dir() && !given.ends_with(".zip") {
            return Err(format!("{given}: an artifact to deploy is a directory or a .zip file with an appspec at its root"));
        }
        let name = path.canonicalize().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_else(|| given.to_string());
        return Ok(Found { name, location: path.to_path_buf(), provenance: provenance.map(Path::to_path_buf), build_id: None });
    }
    let records = Records::of_project(project);
    let id = records.resolve_build(given).map_err(|e| format!("`{given}` is neither a file nor a build of this project: {e}"))?;
    let build = records.build(&id).map_err(|e| format!("build {given}: {e}"))?;
    if build.build_status != "SUCCEEDED" {
        return Err(format!("build {} ended {}: only a build that succeeded is deployed (its record: {})", build.id, build.build_status, records.dir(Kind::Build, &id).join("build.json").display()));
    }
    let Some(artifact) = build.artifacts.as_ref() else {
        return Err(format!("build {} has no primary artifact: give the buildspec an `artifacts:` section with the appspec and the files to deploy", build.id));
    };
    let dir = records.dir(Kind::Build, &id);
    let own = dir.join(PROVENANCE_FILE);
    let provenance = provenance.map(Path::to_path_buf).or_else(|| own.is_file().then_some(own));
    Ok(Found { name: build.id.clone(), location: PathBuf::from(&artifact.location), provenance, build_id: Some(build.id) })
}

/// The files of an artifact, for checking each against the provenance's subjects: a zip is one
/// file; a directory, every regular file in it.
pub fn files(found: &Found) -> Vec<PathBuf> {
    if found.location.is_dir() {
        let mut out = Vec::new();
        walk(&found.location, &mut out);
        out.sort();
        out
    } else {
        vec![found.location.clone()]
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&e.path(), out);
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
}

/// Hex SHA-256 of a file itself (a link is refused), streamed.
pub fn sha256_file(path: &Path) -> Result<String, String> {
    kiln_attest::util::sha256_file_nofollow(path).map_err(|e| e.to_string())
}

/// The manifest of a directory (see the module doc).
pub fn manifest(dir: &Path) -> Result<String, String> {
    let mut lines = Vec::new();
    manifest_into(dir, Path::new(""), &mut lines)?;
    lines.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(lines.into_iter().map(|(digest, path)| format!("{digest}  {path}\n")).collect())
}

fn manifest_into(root: &Path, rel: &Path, out: &mut Vec<(String, String)>) -> Result<(), String> {
    let dir = root.join(rel);
    for e in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let e = e.map_err(|e| format!("{}: {e}", dir.display()))?;
        let rel = rel.join(e.file_name());
        let path = root.join(&rel);
        let ft = e.file_type().map_err(|e| format!("{}: {e}", path.display()))?;
        let shown = rel.to_string_lossy().into_owned();
        if ft.is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            out.push((format!("link:{}", target.display()), shown));
        } else if ft.is_dir() {
            manifest_into(root, &rel, out)?;
        } else if ft.is_file() {
            out.push((sha256_file(&path)?, shown));
        }
        if out.len() > 1_000_000 {
            return Err(format!("{}: more than a million entries", root.display()));
        }
    }
    Ok(())
}

/// Stage `found` under `deployments/revisions/<sha256>/` (reused when already there) and name it.
pub fn stage(deployments: &Path, found: &Found) -> Result<RevisionRef, String> {
    let is_zip = found.location.is_file();
    let sha256 = if is_zip { sha256_file(&found.location)? } else { hex::encode(Sha256::digest(manifest(&found.location)?.as_bytes())) };
    let revisions = deployments.join("revisions");
    std::fs::create_dir_all(&revisions).map_err(|e| format!("{}: {e}", revisions.display()))?;
    let dest = revisions.join(&sha256);
    if !dest.is_dir() {
        let tmp = revisions.join(format!(".{sha256}.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let made = if is_zip { kiln_artifacts::archive::unzip_into(&found.location, &tmp) } else { kiln_targets::local::files::copy_bundle(&found.location, &tmp) };
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        if let Err(e) = std::fs::rename(&tmp, &dest) {
            let _ = std::fs::remove_dir_all(&tmp);
            // Another kiln staged the same revision first: theirs is the same content.
            if !dest.is_dir() {
                return Err(format!("staging the revision at {}: {e}", dest.display()));
            }
        }
    }
    // Records name the revision by an absolute path: hooks run with other working directories.
    let dest = dest.canonicalize().map_err(|e| format!("{}: {e}", dest.display()))?;
    let provenance_sha256 = found.provenance.as_deref().map(sha256_file).transpose()?;
    Ok(RevisionRef { name: found.name.clone(), bundle: dest.display().to_string(), sha256, provenance_sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_staged_once_by_its_manifest_digest() {
        let t = tempfile::tempdir().unwrap();
        let art = t.path().join("art");
        std::fs::create_dir_all(art.join("scripts")).unwrap();
        std::fs::write(art.join("appspec.yml"), "version: 0.0\nos: linux\n").unwrap();
        std::fs::write(art.join("scripts/a.sh"), "echo a\n").unwrap();
        std::os::unix::fs::symlink("scripts/a.sh", art.join("run")).unwrap();
        let m = manifest(&art).unwrap();
        let lines: Vec<&str> = m.lines().collect();
        assert_eq!(lines.len(), 3, "{m}");
        assert!(lines[0].ends_with("  appspec.yml") && lines[1] == "link:scripts/a.sh  run" && lines[2].ends_with("  scripts/a.sh"), "{m}");
        let found = Found { name: "art".into(), location: art.clone(), provenance: None, build_id: None };
        let deployments = t.path().join("deployments");
        let r = stage(&deployments, &found).unwrap();
        assert_eq!(r.sha256, hex::encode(Sha256::digest(m.as_bytes())));
        assert!(Path::new(&r.bundle).join("scripts/a.sh").is_file());
        assert!(std::fs::symlink_metadata(Path::new(&r.bundle).join("run")).unwrap().file_type().is_symlink());
        // A change is a new revision; the staged one stays as it was.
        std::fs::write(art.join("scripts/a.sh"), "echo b\n").unwrap();
        let r2 = stage(&deployments, &found).unwrap();
        assert_ne!(r2.sha256, r.sha256);
        assert_eq!(std::fs::read_to_string(Path::new(&r.bundle).join("scripts/a.sh")).unwrap(), "echo a\n");
    }

    #[test]
    fn a_name_that_is_neither_a_file_nor_a_build_says_so() {
        let t = tempfile::tempdir().unwrap();
        let e = find(t.path(), "no-such-build-or-file", None).unwrap_err();
        assert!(e.contains("neither a file nor a build"), "{e}");
        std::fs::write(t.path().join("x.tar"), "x").unwrap();
        let e = find(t.path(), &t.path().join("x.tar").display().to_string(), None).unwrap_err();
        assert!(e.contains("a directory or a .zip file"), "{e}");
    }
}
