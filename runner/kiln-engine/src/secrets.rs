//! Resolving `parameter-store` and `secrets-manager` for a build, and the masker for its output.

use std::path::{Path, PathBuf};

use kiln_secrets::{EnvProvider, FileProvider, Masker, Provider, Resolved, Resolver};
use kiln_spec::BuildSpec;

/// The secrets file used when none is given: `$XDG_CONFIG_HOME/kiln/secrets.yml` or `~/.config/kiln/secrets.yml`.
pub fn default_secrets_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("kiln/secrets.yml")).filter(|p| p.is_file())
}

/// Files and directories of kiln's user that no build may read, when they exist: kiln's own
/// configuration (the default secrets file lives there), and the usual homes of credentials
/// (SSH, GnuPG, cloud, container registry, Kubernetes, git and package-registry tokens), plus
/// the host's password hashes. Documented in the README's sandbox section.
pub fn credential_paths() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let config = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".config")));
    let mut out: Vec<PathBuf> = ["/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-"].iter().map(PathBuf::from).collect();
    if let Some(c) = &config {
        out.extend(["kiln", "gh", "hub", "gcloud", "containers/auth.json"].iter().map(|n| c.join(n)));
    }
    if let Some(h) = &home {
        let names = [".ssh", ".gnupg", ".aws", ".azure", ".docker", ".kube", ".netrc", ".git-credentials", ".pypirc", ".npmrc", ".gem/credentials", ".cargo/credentials", ".cargo/credentials.toml", ".config/kiln"];
        out.extend(names.iter().map(|n| h.join(n)));
    }
    out.retain(|p| p.symlink_metadata().is_ok());
    out
}

/// Resolve every secret the buildspec declares, from the secrets file (if any) and then kiln's
/// environment (`KILN_PARAM_*`, `KILN_SECRET_*`). The error text names what is missing and how to supply it.
pub fn resolve(spec: &BuildSpec, file: Option<&Path>) -> Result<Vec<Resolved>, String> {
    let params: Vec<(String, String)> = spec.env.parameter_store.iter().map(|e| (e.name.value.clone(), e.value.value.clone())).collect();
    let secrets: Vec<(String, String)> = spec.env.secrets_manager.iter().map(|e| (e.name.value.clone(), e.value.value.clone())).collect();
    if params.is_empty() && secrets.is_empty() {
        return Ok(Vec::new());
    }
    let mut providers: Vec<Box<dyn Provider>> = Vec::new();
    if let Some(path) = file.map(Path::to_path_buf).or_else(default_secrets_file) {
        providers.push(Box::new(FileProvider::open(&path).map_err(|e| e.to_string())?));
    }
    providers.push(Box::new(EnvProvider::new()));
    Resolver::new(providers).resolve(&params, &secrets).map_err(|e| e.to_string())
}

/// A masker for the resolved values (each line of a multi-line value is masked too).
pub fn masker(resolved: &[Resolved]) -> Result<Masker, String> {
    Masker::from_resolved(resolved).map_err(|e| format!("cannot build the secret masker: {e}"))
}
