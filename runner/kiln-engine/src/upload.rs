//! UPLOAD_ARTIFACTS: expand the artifact settings in the build's shell, select and package the
//! files with `kiln-artifacts`, and describe them for the record.
//!
//! Secret values never become file names: the artifact's name, each entry's path in it and a
//! kept symlink's target are masked (`***`, as in the logs and build.json) before anything is
//! written, so `echo x > "out/$TOKEN.txt"` is packaged as `out/***.txt`. (CodeBuild uploads
//! such names as they are.) Two entries that mask to the same path, or a symlink that masking
//! would point outside the artifact, fail the phase with an error.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use kiln_artifacts::{ArtifactSpec, Packaging, Selection};
use kiln_secrets::Masker;
use sha2::{Digest, Sha256};
use kiln_sandbox::Sandbox;
use kiln_spec::{ArtifactSet, Artifacts};

use crate::record::{ArtifactFile, ArtifactRecord};
use crate::shell::ShellSession;

/// What upload needs from the build.
pub struct UploadContext<'a> {
    pub shell: &'a ShellSession,
    pub sandbox: &'a Sandbox,
    pub work_dir: &'a Path,
    pub dest: &'a Path,
    pub packaging: Packaging,
    pub project: &'a str,
    /// Secret values never become file names: the artifact's name and entry paths are masked.
    pub masker: &'a Masker,
}

/// The packaged artifacts.
pub struct Uploaded {
    pub primary: Option<ArtifactRecord>,
    pub secondary: Vec<ArtifactRecord>,
    pub warnings: Vec<String>,
}

/// Expand `$VAR`, `${VAR}` and `$(cmd)` in each word with the build's final shell state, as
/// CodeBuild evaluates artifact names "with the Shell Command Language".
pub(crate) async fn expand(shell: &ShellSession, sandbox: &Sandbox, words: &[String]) -> Result<Vec<String>, String> {
    if words.iter().all(|w| !w.contains('$') && !w.contains('`')) {
        return Ok(words.to_vec());
    }
    let mut cmd = shell.expand_command(words);
    sandbox.apply(&mut cmd);
    let out = tokio::process::Command::from(cmd).output().await.map_err(|e| format!("could not expand artifact settings: {e}"))?;
    let values: Vec<String> = out.stdout.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
    if !out.status.success() || values.len() < words.len() {
        return Err(format!("could not expand artifact settings {words:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(values[..words.len()].to_vec())
}

async fn one(ctx: &UploadContext<'_>, id: Option<&str>, set: &ArtifactSet, warnings: &mut Vec<String>) -> Result<ArtifactRecord, String> {
    let mut words: Vec<String> = set.files.iter().map(|f| f.value.clone()).collect();
    words.extend(set.exclude_paths.iter().map(|f| f.value.clone()));
    let (nf, ne) = (set.files.len(), set.exclude_paths.len());
    words.push(set.base_directory.as_ref().map(|b| b.value.clone()).unwrap_or_default());
    let default_name = id.unwrap_or(ctx.project).to_string();
    words.push(set.name.as_ref().map(|n| n.value.clone()).unwrap_or(default_name));
    let expanded = expand(ctx.shell, ctx.sandbox, &words).await?;
    let spec = ArtifactSpec {
        identifier: id.map(str::to_string),
        files: expanded[..nf].to_vec(),
        exclude_paths: expanded[nf..nf + ne].to_vec(),
        base_directory: Some(expanded[nf + ne].clone()).filter(|b| !b.is_empty()),
        discard_paths: set.discard_paths,
        enable_symlinks: set.enable_symlinks,
    };
    let mut name = ctx.masker.mask_str(&expanded[nf + ne + 1]);
    if ctx.packaging == Packaging::Zip && !name.ends_with(".zip") {
        name.push_str(".zip");
    }
    let mut selection = kiln_artifacts::select(ctx.work_dir, &spec).map_err(|e| e.to_string())?;
    warnings.extend(selection.warnings.iter().cloned());
    mask_entries(&mut selection, ctx.masker)?;
    let packaged = kiln_artifacts::package(&selection, ctx.dest, &name, ctx.packaging).map_err(|e| e.to_string())?;
    Ok(ArtifactRecord {
        artifact_identifier: id.map(str::to_string),
        location: packaged.path.display().to_string(),
        sha256sum: packaged.sha256.clone(),
        files: packaged.files.iter().map(|f| ArtifactFile { path: f.path.clone(), sha256: f.sha256.clone(), size: f.size }).collect(),
    })
}

/// Masks secret values in the artifact paths of `selection` and in kept symlinks' targets (the
/// recorded size and sha256 of a link are those of its target text, so they follow).
fn mask_entries(selection: &mut Selection, masker: &Masker) -> Result<(), String> {
    if masker.is_empty() {
        return Ok(());
    }
    for f in &mut selection.files {
        let path = masker.mask_str(&f.path);
        let target = f.symlink_target.as_ref().map(|t| PathBuf::from(OsString::from_vec(masker.mask_bytes(t.as_os_str().as_bytes()))));
        if path == f.path && target == f.symlink_target {
            continue;
        }
        if let Some(t) = &target {
            // A value holding `/` or `..` changes the path's depth when masked.
            if escapes(&path, t) {
                return Err(format!("symlink '{path}' -> '{}' would point outside the artifact once secret values in its names are masked", t.display()));
            }
            if Some(t) != f.symlink_target.as_ref() {
                let text = t.as_os_str().as_bytes();
                f.size = text.len() as u64;
                f.sha256 = hex::encode(Sha256::digest(text));
            }
        }
        f.path = path;
        f.symlink_target = target;
    }
    Ok(())
}

/// Whether a symlink at artifact path `path` with the relative `target` leads out of the
/// artifact (the same lexical rule `kiln-artifacts` applies when it selects symlinks).
fn escapes(path: &str, target: &Path) -> bool {
    if !target.is_relative() {
        return true;
    }
    let mut depth = path.split('/').count() as isize - 1;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// Package the primary and every secondary artifact.
pub async fn upload_all(ctx: &UploadContext<'_>, artifacts: &Artifacts) -> Result<Uploaded, String> {
    std::fs::create_dir_all(ctx.dest).map_err(|e| format!("cannot create {}: {e}", ctx.dest.display()))?;
    let mut warnings = Vec::new();
    let primary = if artifacts.primary.files.is_empty() { None } else { Some(one(ctx, None, &artifacts.primary, &mut warnings).await?) };
    let mut secondary = Vec::new();
    for (id, set) in &artifacts.secondary {
        secondary.push(one(ctx, Some(&id.value), set, &mut warnings).await?);
    }
    Ok(Uploaded { primary, secondary, warnings })
}
