//! UPLOAD_ARTIFACTS: expand the artifact settings in the build's shell, select and package the
//! files with `kiln-artifacts`, and describe them for the record.

use std::path::Path;

use kiln_artifacts::{ArtifactSpec, Packaging};
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
    /// Secret values never become file names: an expanded artifact name is masked.
    pub masker: &'a kiln_secrets::Masker,
}

/// The packaged artifacts.
pub struct Uploaded {
    pub primary: Option<ArtifactRecord>,
    pub secondary: Vec<ArtifactRecord>,
    pub warnings: Vec<String>,
}

/// Expand `$VAR`, `${VAR}` and `$(cmd)` in each word with the build's final shell state, as
/// CodeBuild evaluates artifact names "with the Shell Command Language".
async fn expand(ctx: &UploadContext<'_>, words: &[String]) -> Result<Vec<String>, String> {
    if words.iter().all(|w| !w.contains('$') && !w.contains('`')) {
        return Ok(words.to_vec());
    }
    let mut cmd = ctx.shell.expand_command(words);
    ctx.sandbox.apply(&mut cmd);
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
    let expanded = expand(ctx, &words).await?;
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
    let selection = kiln_artifacts::select(ctx.work_dir, &spec).map_err(|e| e.to_string())?;
    warnings.extend(selection.warnings.iter().cloned());
    let packaged = kiln_artifacts::package(&selection, ctx.dest, &name, ctx.packaging).map_err(|e| e.to_string())?;
    Ok(ArtifactRecord {
        artifact_identifier: id.map(str::to_string),
        location: packaged.path.display().to_string(),
        sha256sum: packaged.sha256.clone(),
        files: packaged.files.iter().map(|f| ArtifactFile { path: f.path.clone(), sha256: f.sha256.clone(), size: f.size }).collect(),
    })
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
