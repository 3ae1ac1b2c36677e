//! The [`Provider`] trait that every secret store implements.

use std::path::PathBuf;

/// A store that can answer Parameter Store and Secrets Manager look-ups.
///
/// Providers are tried in order by the [`Resolver`](crate::Resolver). A
/// provider returns `Ok(None)` when it simply does not hold the value (the
/// next provider is then tried) and `Err` only when something is actually
/// broken (the resolution then stops with that error).
///
/// Implementations must never put secret values into errors, names or hints.
pub trait Provider: Send + Sync {
    /// A short human-readable name used in error messages (`env`,
    /// `file:/path/to/secrets.yml`, ...).
    fn name(&self) -> &str;

    /// Looks up a Parameter Store parameter by its full name
    /// (e.g. `/CodeBuild/dockerLoginPassword`).
    fn parameter(&self, name: &str) -> Result<Option<String>, ProviderError>;

    /// Looks up the secret string of a Secrets Manager secret.
    ///
    /// `id` is the secret name or full ARN. With neither `version_stage` nor
    /// `version_id` the `AWSCURRENT` version is meant. JSON-key extraction is
    /// done by the resolver, not the provider.
    fn secret(
        &self,
        id: &str,
        version_stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<Option<String>, ProviderError>;

    /// How a user would supply `name` through this provider, for error
    /// messages (e.g. "set KILN_PARAM__CODEBUILD_X"). `None` if the provider
    /// has no way to add values.
    fn parameter_hint(&self, name: &str) -> Option<String> {
        let _ = name;
        None
    }

    /// How a user would supply the given secret version through this
    /// provider, for error messages. `None` if the provider has no way to add
    /// values.
    fn secret_hint(
        &self,
        id: &str,
        version_stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Option<String> {
        let _ = (id, version_stage, version_id);
        None
    }
}

/// A failure inside a provider (as opposed to a value that is simply absent).
///
/// No variant ever contains a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The secrets file could not be opened or read.
    #[error("cannot read secrets file {}: {source}", path.display())]
    Io {
        /// The secrets file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The secrets file can be read or written by its group or by others.
    #[error(
        "secrets file {} has permissions {mode:04o}, which let its group or other users access it; \
         refusing to use it (run `chmod 600 {}`)",
        path.display(),
        path.display()
    )]
    InsecurePermissions {
        /// The secrets file.
        path: PathBuf,
        /// The permission bits found (`st_mode & 0o7777`).
        mode: u32,
    },
    /// The secrets file is not a regular file (a FIFO, a device, a directory, …): refused
    /// without waiting on it.
    #[error(
        "secrets file {} is {kind}, not a regular file; kiln reads secrets only from a regular file (owner-only, `chmod 600`)",
        path.display()
    )]
    NotAFile {
        /// The path that was given.
        path: PathBuf,
        /// What it is instead (`"a FIFO (named pipe)"`, `"a directory"`, …).
        kind: &'static str,
    },
    /// The secrets file is not valid YAML (or does not have the expected shape), or its aliases
    /// expand it past the bound every YAML file kiln reads gets (see `kiln-yaml`).
    #[error("{}{}: {message}", path.display(), location(*line, *column))]
    Yaml {
        /// The secrets file.
        path: PathBuf,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// 1-based column of the error, when known.
        column: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The secrets file has a top-level key other than `parameters` and `secrets` (such as the
    /// buildspec's `secrets-manager`); nothing in the file is used.
    #[error(
        "{}{}: unknown top-level key {}; {help}",
        path.display(),
        location(*line, *column),
        quoted(key)
    )]
    UnknownKey {
        /// The secrets file.
        path: PathBuf,
        /// The key as written (after YAML unescaping).
        key: String,
        /// 1-based line of the key, when known.
        line: Option<usize>,
        /// 1-based column of the key, when known.
        column: Option<usize>,
        /// What to write instead: a "did you mean" for a close or confusable name, otherwise
        /// the keys that are allowed.
        help: String,
    },
    /// The secrets file is valid YAML but an entry is not usable.
    #[error("{}: {key}: {message}", path.display())]
    Format {
        /// The secrets file.
        path: PathBuf,
        /// Where in the file (e.g. `secrets."prod/db".versions`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// An environment variable that should hold a value is not valid UTF-8.
    #[error("environment variable {var} is not valid UTF-8")]
    NotUnicode {
        /// The variable's name.
        var: String,
    },
    /// Any other provider failure.
    #[error("{0}")]
    Other(String),
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// A key for messages, as a JSON double-quoted string (control characters escaped).
fn quoted(key: &str) -> String {
    serde_json::to_string(key).unwrap_or_else(|_| format!("{key:?}"))
}
