//! [`EnvProvider`]: secrets from kiln's own process environment.
//!
//! # Variable names
//!
//! A name is *normalised* by replacing every character that is not an ASCII
//! letter or digit with `_` (one `_` per character, so nothing is merged or
//! trimmed) and upper-casing ASCII letters:
//!
//! | reference                                           | variable                                   |
//! |-----------------------------------------------------|--------------------------------------------|
//! | parameter `/CodeBuild/x-y`                          | `KILN_PARAM__CODEBUILD_X_Y`                |
//! | secret `prod/db`                                    | `KILN_SECRET_PROD_DB`                      |
//! | secret `prod/db`, stage `AWSPREVIOUS`               | `KILN_SECRET_PROD_DB__STAGE_AWSPREVIOUS`   |
//! | secret `prod/db`, version id `a1b2-c3`              | `KILN_SECRET_PROD_DB__VERSION_A1B2_C3`     |
//! | secret `arn:aws:secretsmanager:…:secret:prod/db-AbCdEf` | `KILN_SECRET_ARN_AWS_…_PROD_DB_ABCDEF`, then `KILN_SECRET_PROD_DB_ABCDEF`, then `KILN_SECRET_PROD_DB` |
//!
//! Parameters use `KILN_PARAM_` + normalised name; secrets use
//! `KILN_SECRET_` + normalised id, plus `__STAGE_` + normalised stage or
//! `__VERSION_` + normalised version id when one is requested (the stage
//! `AWSCURRENT`, being the default, uses the plain variable). For an ARN the
//! variables for each of [`secret_id_candidates`] are tried in order.
//!
//! Normalisation is many-to-one: `/a/b`, `/a-b` and `/A_B` all read
//! `KILN_PARAM__A_B`. That is deterministic (the variable depends only on the
//! name, never on look-up order), so names that collide simply share one
//! value; give such secrets distinct values through a
//! [`FileProvider`](crate::FileProvider), which uses exact names.
//!
//! These variables are kiln's input and must not be forwarded into the build
//! environment.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;

use crate::provider::{Provider, ProviderError};
use crate::refs::{AWSCURRENT, secret_id_candidates};

/// Prefix of the variables holding Parameter Store parameters.
pub const PARAM_PREFIX: &str = "KILN_PARAM_";
/// Prefix of the variables holding Secrets Manager secrets.
pub const SECRET_PREFIX: &str = "KILN_SECRET_";

/// Secrets taken from `KILN_PARAM_*` / `KILN_SECRET_*` environment variables
/// (see the [module documentation](self) for the naming rules).
///
/// The relevant variables are copied when the provider is created.
#[derive(Clone)]
pub struct EnvProvider {
    /// Variable name -> value (`None` when the value is not valid UTF-8).
    vars: BTreeMap<String, Option<String>>,
}

impl EnvProvider {
    /// Snapshots the `KILN_PARAM_*` and `KILN_SECRET_*` variables of the
    /// current process.
    pub fn new() -> EnvProvider {
        EnvProvider::from_os_vars(std::env::vars_os())
    }

    /// Builds a provider from explicit `(name, value)` pairs instead of the
    /// process environment (useful for tests and embedding). Pairs whose
    /// name lacks both prefixes are ignored.
    pub fn from_vars<I, K, V>(vars: I) -> EnvProvider
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars = vars
            .into_iter()
            .map(|(k, v)| (k.into(), Some(v.into())))
            .filter(|(k, _)| is_ours(k))
            .collect();
        EnvProvider { vars }
    }

    fn from_os_vars(vars: impl Iterator<Item = (OsString, OsString)>) -> EnvProvider {
        let vars = vars
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok())))
            .filter(|(k, _)| is_ours(k))
            .collect();
        EnvProvider { vars }
    }

    /// Normalises a name: ASCII letters upper-cased, ASCII digits kept, every
    /// other character (including each non-ASCII character) replaced by `_`.
    pub fn normalise(name: &str) -> String {
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// The variable that holds parameter `name`
    /// (`/CodeBuild/x-y` -> `KILN_PARAM__CODEBUILD_X_Y`).
    pub fn parameter_var(name: &str) -> String {
        format!("{PARAM_PREFIX}{}", EnvProvider::normalise(name))
    }

    /// The variable that holds the given version of secret `id`, taking `id`
    /// literally (`prod/db` -> `KILN_SECRET_PROD_DB`). A version id wins over
    /// a stage; the stage `AWSCURRENT` uses the plain variable.
    pub fn secret_var(id: &str, version_stage: Option<&str>, version_id: Option<&str>) -> String {
        let base = format!("{SECRET_PREFIX}{}", EnvProvider::normalise(id));
        match (version_id, version_stage) {
            (Some(v), _) => format!("{base}__VERSION_{}", EnvProvider::normalise(v)),
            (None, Some(s)) if s != AWSCURRENT => {
                format!("{base}__STAGE_{}", EnvProvider::normalise(s))
            }
            _ => base,
        }
    }

    /// Every variable consulted for a secret, in look-up order (one per
    /// entry of [`secret_id_candidates`]).
    pub fn secret_vars(
        id: &str,
        version_stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Vec<String> {
        let mut vars: Vec<String> = secret_id_candidates(id)
            .iter()
            .map(|c| EnvProvider::secret_var(c, version_stage, version_id))
            .collect();
        vars.dedup();
        vars
    }

    fn get(&self, var: &str) -> Result<Option<String>, ProviderError> {
        match self.vars.get(var) {
            None => Ok(None),
            Some(Some(v)) => Ok(Some(v.clone())),
            Some(None) => Err(ProviderError::NotUnicode {
                var: var.to_string(),
            }),
        }
    }
}

impl Default for EnvProvider {
    /// Same as [`EnvProvider::new`]: a snapshot of the process environment.
    fn default() -> Self {
        EnvProvider::new()
    }
}

fn is_ours(name: &str) -> bool {
    name.starts_with(PARAM_PREFIX) || name.starts_with(SECRET_PREFIX)
}

impl Provider for EnvProvider {
    fn name(&self) -> &str {
        "env"
    }

    fn parameter(&self, name: &str) -> Result<Option<String>, ProviderError> {
        self.get(&EnvProvider::parameter_var(name))
    }

    fn secret(
        &self,
        id: &str,
        version_stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<Option<String>, ProviderError> {
        for var in EnvProvider::secret_vars(id, version_stage, version_id) {
            if let Some(value) = self.get(&var)? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    fn parameter_hint(&self, name: &str) -> Option<String> {
        Some(format!("set {}", EnvProvider::parameter_var(name)))
    }

    fn secret_hint(
        &self,
        id: &str,
        version_stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Option<String> {
        // Simplest name first (for an ARN: the bare secret name).
        let mut vars = EnvProvider::secret_vars(id, version_stage, version_id);
        vars.reverse();
        Some(format!("set {}", vars.join(" or ")))
    }
}

impl fmt::Debug for EnvProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Variable names may be listed; values never are.
        f.debug_struct("EnvProvider")
            .field("variables", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}
