//! [`FileProvider`]: secrets from a local, owner-only YAML file.
//!
//! See the [crate documentation](crate#the-secrets-file) for the format.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::provider::{Provider, ProviderError};
use crate::refs::{AWSCURRENT, secret_id_candidates};

/// Largest secrets file kiln agrees to read (16 MiB).
const MAX_FILE_LEN: u64 = kiln_fs::limits::SECRETS_FILE;

/// A refused or unreadable secrets file as a [`ProviderError`] naming it.
fn input_error(path: &Path, e: kiln_fs::InputError) -> ProviderError {
    let path = path.to_path_buf();
    match e.problem() {
        kiln_fs::Problem::NotRegular(kind) => ProviderError::NotAFile { path, kind },
        kiln_fs::Problem::TooLarge { .. } => ProviderError::Format {
            path,
            key: "(file)".into(),
            message: e.reason(),
        },
        kiln_fs::Problem::Open(io) | kiln_fs::Problem::Read(io) => ProviderError::Io {
            path,
            source: std::io::Error::new(io.kind(), io.to_string()),
        },
        _ => ProviderError::Io {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.reason()),
        },
    }
}

/// Secrets read from a local YAML file (see the
/// [crate documentation](crate#the-secrets-file) for its format).
///
/// The file is read and validated once, by [`FileProvider::open`]; look-ups
/// never touch the disk again.
#[derive(Clone)]
pub struct FileProvider {
    name: String,
    path: PathBuf,
    parameters: BTreeMap<String, String>,
    secrets: BTreeMap<String, SecretEntry>,
}

#[derive(Clone)]
enum SecretEntry {
    /// A secret with a single (`AWSCURRENT`) version.
    Plain(String),
    /// Versions keyed by staging label or version id.
    Versions(BTreeMap<String, String>),
}

impl FileProvider {
    /// Opens, checks and parses a secrets file.
    ///
    /// On Unix the file must be a regular file that neither its group nor
    /// other users can read, write or execute (`chmod 600`), the same rule
    /// ssh applies to private keys; otherwise
    /// [`ProviderError::InsecurePermissions`] is returned. Every error names
    /// the file; YAML errors also carry the 1-based line and column.
    pub fn open(path: impl AsRef<Path>) -> Result<FileProvider, ProviderError> {
        let path = path.as_ref();
        // kiln_fs checks the opened handle, not the path, so the file that is checked is the
        // file that is read; a FIFO or a device is refused without blocking on it.
        let file = kiln_fs::open_input(path, "secrets file").map_err(|e| input_error(path, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = file.metadata().permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(ProviderError::InsecurePermissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        let text = file
            .read_to_string(MAX_FILE_LEN)
            .map_err(|e| input_error(path, e))?;
        FileProvider::parse(path, &text)
    }

    /// Parses secrets-file content. `path` is only used in messages and in
    /// [`Provider::name`]; no permission check is made, so use
    /// [`FileProvider::open`] for files on disk.
    pub fn parse(path: impl Into<PathBuf>, yaml: &str) -> Result<FileProvider, ProviderError> {
        let path = path.into();
        // Parse into a generic value first: syntax errors carry a location,
        // and shape errors are reported by key path by this module, so no
        // serde "invalid type: string \"...\"" message can echo a value.
        // serde_yaml expands aliases without a bound on bytes (a 1 MiB anchor
        // referenced 6,000 times is 6 GB), so it only sees a document that
        // kiln-yaml's bounded reader (the buildspec's) has accepted.
        let doc: Value = if yaml.trim().is_empty() {
            Value::Null
        } else {
            kiln_yaml::check(yaml).map_err(|e| bounded_error(&path, &e))?;
            serde_yaml::from_str(yaml).map_err(|e| yaml_error(&path, &e))?
        };
        let (mut parameters_in, mut secrets_in) = (Mapping::new(), Mapping::new());
        match doc {
            Value::Null => {}
            Value::Mapping(top) => {
                for (key, value) in top {
                    let target = match key.as_str() {
                        Some("parameters") => &mut parameters_in,
                        Some("secrets") => &mut secrets_in,
                        Some(other) => return Err(unknown_key(&path, yaml, other)),
                        None => {
                            return Err(format_error(&path, "(top level)", "keys must be strings"));
                        }
                    };
                    match value {
                        Value::Mapping(m) => *target = m,
                        Value::Null => {}
                        _ => {
                            let section = key.as_str().unwrap_or_default();
                            return Err(format_error(
                                &path,
                                section,
                                "must be a mapping of names to values",
                            ));
                        }
                    }
                }
            }
            _ => {
                return Err(format_error(
                    &path,
                    "(top level)",
                    "the document must be a mapping with `parameters` and/or `secrets`",
                ));
            }
        }
        let mut parameters = BTreeMap::new();
        for (key, value) in parameters_in {
            let key = key_string(&path, "parameters", &key)?;
            let at = format!("parameters.{}", quote(&key));
            if parameters
                .insert(key, scalar_text(&path, &at, value, false)?)
                .is_some()
            {
                return Err(format_error(&path, &at, "the parameter is listed twice"));
            }
        }
        let mut secrets = BTreeMap::new();
        for (key, value) in secrets_in {
            let key = key_string(&path, "secrets", &key)?;
            let at = format!("secrets.{}", quote(&key));
            let entry = secret_entry(&path, &at, value)?;
            if secrets.insert(key, entry).is_some() {
                return Err(format_error(&path, &at, "the secret is listed twice"));
            }
        }
        Ok(FileProvider {
            name: format!("file:{}", path.display()),
            path,
            parameters,
            secrets,
        })
    }

    /// The file this provider was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A document kiln-yaml refused (syntax, or aliases expanding past the bound), located; the
/// message says what to do and, like every kiln-yaml error, holds none of the file's text.
fn bounded_error(path: &Path, e: &kiln_yaml::Error) -> ProviderError {
    ProviderError::Yaml {
        path: path.to_path_buf(),
        line: Some(e.span.line as usize),
        column: Some(e.span.col as usize),
        message: e.to_string(),
    }
}

fn yaml_error(path: &Path, e: &serde_yaml::Error) -> ProviderError {
    let loc = e.location();
    // serde_yaml appends " at line L column C" to its message; the location
    // is reported separately, so drop it from the message.
    let mut message = e.to_string();
    if let Some(l) = &loc {
        let suffix = format!(" at line {} column {}", l.line(), l.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_string();
        }
    }
    ProviderError::Yaml {
        path: path.to_path_buf(),
        line: loc.as_ref().map(|l| l.line()),
        column: loc.as_ref().map(|l| l.column()),
        message,
    }
}

/// The top-level keys of a secrets file.
const TOP_LEVEL_KEYS: [&str; 2] = ["parameters", "secrets"];

/// A top-level `key` other than [`TOP_LEVEL_KEYS`]: located (the key's own line and column) and
/// with what to write instead ([`top_level_help`]). The message holds the key, never a value.
fn unknown_key(path: &Path, yaml: &str, key: &str) -> ProviderError {
    let span = locate_top_level_key(yaml, key);
    ProviderError::UnknownKey {
        path: path.to_path_buf(),
        key: key.to_string(),
        line: span.map(|s| s.line as usize),
        column: span.map(|s| s.col as usize),
        help: top_level_help(key),
    }
}

/// Where the first top-level `key` is written. serde_yaml's values have no positions, so the
/// document (which `kiln_yaml::check` has already bounded) is read again by kiln-yaml; only on
/// this error path. `None` for a key kiln-yaml does not see as written (a merge key, `<<`).
fn locate_top_level_key(yaml: &str, key: &str) -> Option<kiln_yaml::Span> {
    let kiln_yaml::NodeKind::Map(entries) = kiln_yaml::parse(yaml).ok()??.kind else {
        return None;
    };
    entries
        .into_iter()
        .find(|(k, _)| k.as_scalar() == Some(key))
        .map(|(k, _)| k.span)
}

/// What to write instead of the unknown top-level key `key`. The buildspec's section names
/// (`parameter-store`, `secrets-manager`, written any way: `secrets_manager`, `SecretsManager`)
/// and its `env` map to this file's names; otherwise a close spelling is suggested as
/// `kiln validate` does for buildspecs (kiln-spec's `did_you_mean`: Jaro-Winkler >= 0.8 on the
/// lower-cased names without `-`/`_`), or the allowed keys are listed.
fn top_level_help(key: &str) -> String {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['-', '_'], "");
    let section = |ours: &str, theirs: &str, what: &str| {
        format!(
            "did you mean `{ours}`? `{theirs}` is the buildspec's name (under `env:`); \
             a secrets file lists {what} under `{ours}`"
        )
    };
    match norm(key).as_str() {
        "secretsmanager" | "secretmanager" => {
            section("secrets", "secrets-manager", "Secrets Manager secrets")
        }
        "parameterstore" | "parametersstore" => section(
            "parameters",
            "parameter-store",
            "Parameter Store parameters",
        ),
        "env" => "a secrets file has no `env` section (that is the buildspec's): write \
                  `parameters` and `secrets` at the top level, not indented"
            .to_string(),
        normed => match TOP_LEVEL_KEYS
            .iter()
            .map(|c| (c, strsim::jaro_winkler(normed, &norm(c))))
            .filter(|(_, score)| *score >= 0.8)
            .max_by(|a, b| a.1.total_cmp(&b.1))
        {
            Some((c, _)) => format!("did you mean `{c}`?"),
            None => "the top-level keys are `parameters` (Parameter Store: name -> value) and \
                     `secrets` (Secrets Manager: name -> secret); a parameter's or secret's name \
                     goes under one of them, indented"
                .to_string(),
        },
    }
}

fn format_error(path: &Path, key: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::Format {
        path: path.to_path_buf(),
        key: key.to_string(),
        message: message.into(),
    }
}

/// Quotes a key for messages and hints, as a YAML/JSON double-quoted string.
fn quote(key: &str) -> String {
    serde_json::to_string(key).unwrap_or_else(|_| format!("{key:?}"))
}

fn key_string(path: &Path, section: &str, key: &Value) -> Result<String, ProviderError> {
    match key {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(format_error(path, section, "every key must be a string")),
    }
}

/// Converts a scalar (or, for secrets, a mapping/sequence) into the secret
/// string. Error messages describe the type, never the value.
fn scalar_text(
    path: &Path,
    at: &str,
    value: Value,
    structured_ok: bool,
) -> Result<String, ProviderError> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err(format_error(
            path,
            at,
            "the value is empty (null); write a string, or remove the entry",
        )),
        Value::Tagged(_) => Err(format_error(path, at, "YAML tags are not supported here")),
        v @ (Value::Mapping(_) | Value::Sequence(_)) if structured_ok => {
            let json = serde_json::to_value(&v).map_err(|_| {
                format_error(
                    path,
                    at,
                    "cannot be converted to JSON (are all mapping keys strings?)",
                )
            })?;
            serde_json::to_string(&json)
                .map_err(|_| format_error(path, at, "cannot be converted to JSON"))
        }
        Value::Mapping(_) | Value::Sequence(_) => Err(format_error(
            path,
            at,
            "a parameter value must be a string, number or boolean",
        )),
    }
}

fn secret_entry(path: &Path, at: &str, value: Value) -> Result<SecretEntry, ProviderError> {
    let versions = match &value {
        Value::Mapping(m) if m.len() == 1 => match m.get("versions") {
            Some(Value::Mapping(v)) => Some(v.clone()),
            Some(_) => {
                return Err(format_error(
                    path,
                    &format!("{at}.versions"),
                    "`versions` must map staging labels or version ids to values",
                ));
            }
            None => None,
        },
        _ => None,
    };
    let Some(versions) = versions else {
        return scalar_text(path, at, value, true).map(SecretEntry::Plain);
    };
    if versions.is_empty() {
        return Err(format_error(
            path,
            &format!("{at}.versions"),
            "no versions are listed",
        ));
    }
    let mut out = BTreeMap::new();
    for (key, value) in versions {
        let key = key_string(path, &format!("{at}.versions"), &key)?;
        let inner = format!("{at}.versions.{}", quote(&key));
        if out
            .insert(key, scalar_text(path, &inner, value, true)?)
            .is_some()
        {
            return Err(format_error(path, &inner, "the version is listed twice"));
        }
    }
    Ok(SecretEntry::Versions(out))
}

impl SecretEntry {
    fn select(&self, version_stage: Option<&str>, version_id: Option<&str>) -> Option<&String> {
        match self {
            SecretEntry::Plain(v) => {
                (version_id.is_none() && version_stage.is_none_or(|s| s == AWSCURRENT)).then_some(v)
            }
            SecretEntry::Versions(map) => {
                map.get(version_id.or(version_stage).unwrap_or(AWSCURRENT))
            }
        }
    }
}

impl Provider for FileProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn parameter(&self, name: &str) -> Result<Option<String>, ProviderError> {
        Ok(self.parameters.get(name).cloned())
    }

    fn secret(
        &self,
        id: &str,
        version_stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<Option<String>, ProviderError> {
        for candidate in secret_id_candidates(id) {
            if let Some(entry) = self.secrets.get(&candidate) {
                return Ok(entry.select(version_stage, version_id).cloned());
            }
        }
        Ok(None)
    }

    fn parameter_hint(&self, name: &str) -> Option<String> {
        Some(format!(
            "add `parameters: {{ {}: <value> }}` to {}",
            quote(name),
            self.path.display()
        ))
    }

    fn secret_hint(
        &self,
        id: &str,
        version_stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Option<String> {
        // For an ARN, suggest the bare secret name, which the look-up accepts.
        let candidates = secret_id_candidates(id);
        let key = quote(candidates.last().map_or(id, String::as_str));
        let entry = match version_id.or(version_stage) {
            Some(version) if version != AWSCURRENT || version_id.is_some() => {
                format!(
                    "{{ {key}: {{ versions: {{ {}: <value> }} }} }}",
                    quote(version)
                )
            }
            _ => format!("{{ {key}: <value> }}"),
        };
        Some(format!("add `secrets: {entry}` to {}", self.path.display()))
    }
}

impl fmt::Debug for FileProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileProvider")
            .field("path", &self.path)
            .field("parameters", &self.parameters.len())
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildspec_section_names_map_to_the_file_s_keys() {
        for key in [
            "secrets-manager",
            "secrets_manager",
            "SecretsManager",
            "secret-manager",
        ] {
            let help = top_level_help(key);
            assert!(
                help.starts_with("did you mean `secrets`? `secrets-manager` is the buildspec's"),
                "{key}: {help}"
            );
        }
        for key in [
            "parameter-store",
            "parameter_store",
            "ParameterStore",
            "parameters-store",
        ] {
            let help = top_level_help(key);
            assert!(
                help.starts_with("did you mean `parameters`? `parameter-store` is the buildspec's"),
                "{key}: {help}"
            );
        }
        assert!(top_level_help("env").contains("no `env` section"));
    }

    #[test]
    fn close_spellings_are_suggested() {
        for (key, want) in [
            ("secret", "secrets"),
            ("Secrets", "secrets"),
            ("secrest", "secrets"),
            ("parameter", "parameters"),
            ("paramters", "parameters"),
            ("params", "parameters"),
            ("PARAMETERS", "parameters"),
        ] {
            assert_eq!(
                top_level_help(key),
                format!("did you mean `{want}`?"),
                "{key}"
            );
        }
        for key in ["prod/db", "/CodeBuild/x", "zzz", "versions", "values"] {
            let help = top_level_help(key);
            assert!(
                help.starts_with("the top-level keys are `parameters`"),
                "{key}: {help}"
            );
        }
    }

    #[test]
    fn the_key_is_located_where_it_is_written() {
        let at = |yaml: &str, key: &str| locate_top_level_key(yaml, key).map(|s| (s.line, s.col));
        assert_eq!(
            at(
                "parameters: {}\n\nsecrets-manager:\n  a: b\n",
                "secrets-manager"
            ),
            Some((3, 1))
        );
        assert_eq!(at("\u{feff}secret: x\n", "secret"), Some((1, 1)));
        assert_eq!(
            at("{ a: 1, \"s\\u0065cret\": 2 }\n", "secret"),
            Some((1, 9))
        );
        // the first of two (serde_yaml refuses duplicates before this is asked), and none at all
        assert_eq!(at("x: 1\nx: 2\n", "x"), Some((1, 1)));
        assert_eq!(at("a: 1\n", "x"), None);
        assert_eq!(at("- a\n", "a"), None);
    }

    #[test]
    fn the_error_names_the_key_and_its_position_never_a_value() {
        let err = FileProvider::parse(
            "s.yml",
            "secrets:\n  a: b\n\"secret\\tmanager\": { x: hunter2-value }\n",
        )
        .unwrap_err();
        let ProviderError::UnknownKey {
            key,
            line,
            column,
            help,
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            (key.as_str(), *line, *column),
            ("secret\tmanager", Some(3), Some(1))
        );
        assert!(help.starts_with("did you mean `secrets`?"), "{help}");
        let msg = err.to_string();
        assert!(
            msg.starts_with("s.yml:3:1: unknown top-level key \"secret\\tmanager\"; did you mean"),
            "{msg}"
        );
        assert!(
            !msg.contains("hunter2") && !format!("{err:?}").contains("hunter2"),
            "{msg}"
        );
    }
}
