//! [`Resolver`]: turns a buildspec's `parameter-store` / `secrets-manager`
//! entries into values by asking providers in order.

use std::fmt;

use crate::provider::{Provider, ProviderError};
use crate::refs::{RefError, SecretRef};

/// Which buildspec section a variable came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// `env.parameter-store`.
    ParameterStore,
    /// `env.secrets-manager`.
    SecretsManager,
}

impl Source {
    /// The buildspec key: `"parameter-store"` or `"secrets-manager"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::ParameterStore => "parameter-store",
            Source::SecretsManager => "secrets-manager",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One resolved environment variable.
///
/// `Debug` redacts the value; never format `value` yourself except to hand
/// it to the build.
#[derive(Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The environment variable name from the buildspec.
    pub var: String,
    /// The secret value.
    pub value: String,
    /// The buildspec section it came from.
    pub source: Source,
    /// [`Provider::name`] of the provider that supplied it.
    pub provider: String,
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolved")
            .field("var", &self.var)
            .field("value", &"<redacted>")
            .field("source", &self.source)
            .field("provider", &self.provider)
            .finish()
    }
}

/// What is wrong with a JSON-key extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonKeyProblem {
    /// The secret string is not JSON (1-based position of the syntax error).
    NotJson {
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
    /// The secret is JSON but not an object.
    NotObject,
    /// The object has no such key; `available` lists the keys it has.
    MissingKey {
        /// Keys present in the object (sorted, at most 20).
        available: Vec<String>,
    },
    /// The key's value is JSON `null`, which cannot become a variable.
    Null,
}

/// Why [`Resolver::resolve`] failed. No variant contains a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A `secrets-manager` reference could not be parsed.
    #[error("secrets-manager variable `{var}`: {error}")]
    InvalidReference {
        /// The buildspec variable.
        var: String,
        /// The reference as written.
        reference: String,
        /// The parse error.
        #[source]
        error: RefError,
    },
    /// No provider holds the value.
    #[error("{}", not_found_message(var, reference, *kind, tried, hints))]
    NotFound {
        /// The buildspec variable.
        var: String,
        /// The parameter name or secrets-manager reference as written.
        reference: String,
        /// The buildspec section.
        kind: Source,
        /// Names of the providers that were asked, in order.
        tried: Vec<String>,
        /// One hint per provider on how to supply the value there.
        hints: Vec<String>,
    },
    /// A provider failed.
    #[error("{kind} variable `{var}` (`{reference}`): provider {provider} failed: {error}")]
    Provider {
        /// The buildspec variable.
        var: String,
        /// The parameter name or secrets-manager reference as written.
        reference: String,
        /// The buildspec section.
        kind: Source,
        /// The failing provider.
        provider: String,
        /// What went wrong.
        #[source]
        error: Box<ProviderError>,
    },
    /// The secret was found but the reference's json-key could not be applied.
    #[error("{}", json_key_message(var, reference, json_key, provider, problem))]
    JsonKey {
        /// The buildspec variable.
        var: String,
        /// The reference as written.
        reference: String,
        /// The key that was asked for.
        json_key: String,
        /// The provider that supplied the secret.
        provider: String,
        /// What is wrong.
        problem: JsonKeyProblem,
    },
}

fn not_found_message(
    var: &str,
    reference: &str,
    kind: Source,
    tried: &[String],
    hints: &[String],
) -> String {
    let what = match kind {
        Source::ParameterStore => "parameter",
        Source::SecretsManager => "secret",
    };
    let mut msg = format!("{kind} variable `{var}`: {what} `{reference}` was not found");
    if tried.is_empty() {
        msg.push_str(
            "; no secret providers are configured (pass a secrets file or set KILN_* variables)",
        );
        return msg;
    }
    msg.push_str(&format!(" (tried: {})", tried.join(", ")));
    if !hints.is_empty() {
        msg.push_str("; to supply it, ");
        msg.push_str(&hints.join(", or "));
    }
    msg
}

fn json_key_message(
    var: &str,
    reference: &str,
    key: &str,
    provider: &str,
    problem: &JsonKeyProblem,
) -> String {
    let head = format!("secrets-manager variable `{var}` (`{reference}`, from {provider})");
    match problem {
        JsonKeyProblem::NotJson { line, column } => format!(
            "{head}: json-key `{key}` was requested but the secret is not valid JSON \
             (syntax error at line {line} column {column})"
        ),
        JsonKeyProblem::NotObject => {
            format!(
                "{head}: json-key `{key}` was requested but the secret is JSON that is not an object"
            )
        }
        JsonKeyProblem::MissingKey { available } if available.is_empty() => {
            format!("{head}: the secret's JSON object has no key `{key}` (it is empty)")
        }
        JsonKeyProblem::MissingKey { available } => format!(
            "{head}: the secret's JSON object has no key `{key}` (keys: {})",
            available.join(", ")
        ),
        JsonKeyProblem::Null => format!("{head}: the value of JSON key `{key}` is null"),
    }
}

/// Asks a list of providers, in order, for each variable's value.
#[derive(Default)]
pub struct Resolver {
    /// Providers in priority order: the first one that has a value wins.
    pub providers: Vec<Box<dyn Provider>>,
}

impl Resolver {
    /// A resolver over `providers`, in priority order.
    pub fn new(providers: Vec<Box<dyn Provider>>) -> Resolver {
        Resolver { providers }
    }

    /// Resolves every `(VAR, parameter-name)` of `env.parameter-store` and
    /// every `(VAR, reference)` of `env.secrets-manager`.
    ///
    /// The result lists the parameters first, then the secrets, each in the
    /// given order. The first failure stops resolution and is returned.
    pub fn resolve(
        &self,
        params: &[(String, String)],
        secrets: &[(String, String)],
    ) -> Result<Vec<Resolved>, ResolveError> {
        let mut out = Vec::with_capacity(params.len() + secrets.len());
        for (var, name) in params {
            out.push(self.resolve_parameter(var, name)?);
        }
        for (var, reference) in secrets {
            out.push(self.resolve_secret(var, reference)?);
        }
        Ok(out)
    }

    /// Resolves one `env.parameter-store` entry.
    pub fn resolve_parameter(&self, var: &str, name: &str) -> Result<Resolved, ResolveError> {
        for p in &self.providers {
            let found = p.parameter(name).map_err(|error| ResolveError::Provider {
                var: var.to_string(),
                reference: name.to_string(),
                kind: Source::ParameterStore,
                provider: p.name().to_string(),
                error: Box::new(error),
            })?;
            if let Some(value) = found {
                return Ok(Resolved {
                    var: var.to_string(),
                    value,
                    source: Source::ParameterStore,
                    provider: p.name().to_string(),
                });
            }
        }
        Err(ResolveError::NotFound {
            var: var.to_string(),
            reference: name.to_string(),
            kind: Source::ParameterStore,
            tried: self
                .providers
                .iter()
                .map(|p| p.name().to_string())
                .collect(),
            hints: self
                .providers
                .iter()
                .filter_map(|p| p.parameter_hint(name))
                .collect(),
        })
    }

    /// Resolves one `env.secrets-manager` entry.
    pub fn resolve_secret(&self, var: &str, reference: &str) -> Result<Resolved, ResolveError> {
        let r = SecretRef::parse(reference).map_err(|error| ResolveError::InvalidReference {
            var: var.to_string(),
            reference: reference.to_string(),
            error,
        })?;
        let (stage, version) = (r.version_stage.as_deref(), r.version_id.as_deref());
        for p in &self.providers {
            let found =
                p.secret(&r.secret_id, stage, version)
                    .map_err(|error| ResolveError::Provider {
                        var: var.to_string(),
                        reference: reference.to_string(),
                        kind: Source::SecretsManager,
                        provider: p.name().to_string(),
                        error: Box::new(error),
                    })?;
            let Some(secret) = found else { continue };
            let value = match &r.json_key {
                None => secret,
                Some(key) => {
                    extract_json_key(&secret, key).map_err(|problem| ResolveError::JsonKey {
                        var: var.to_string(),
                        reference: reference.to_string(),
                        json_key: key.clone(),
                        provider: p.name().to_string(),
                        problem,
                    })?
                }
            };
            return Ok(Resolved {
                var: var.to_string(),
                value,
                source: Source::SecretsManager,
                provider: p.name().to_string(),
            });
        }
        Err(ResolveError::NotFound {
            var: var.to_string(),
            reference: reference.to_string(),
            kind: Source::SecretsManager,
            tried: self
                .providers
                .iter()
                .map(|p| p.name().to_string())
                .collect(),
            hints: self
                .providers
                .iter()
                .filter_map(|p| p.secret_hint(&r.secret_id, stage, version))
                .collect(),
        })
    }
}

/// Applies a reference's json-key to a secret string: a JSON string value is
/// returned as-is, numbers, booleans, arrays and objects as their compact
/// JSON text; `null` and a missing key are errors.
pub fn extract_json_key(secret: &str, key: &str) -> Result<String, JsonKeyProblem> {
    let json: serde_json::Value =
        serde_json::from_str(secret).map_err(|e| JsonKeyProblem::NotJson {
            line: e.line(),
            column: e.column(),
        })?;
    let serde_json::Value::Object(map) = json else {
        return Err(JsonKeyProblem::NotObject);
    };
    match map.get(key) {
        None => Err(JsonKeyProblem::MissingKey {
            available: map.keys().take(20).cloned().collect(),
        }),
        Some(serde_json::Value::Null) => Err(JsonKeyProblem::Null),
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field(
                "providers",
                &self.providers.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}
