//! Parsing of `env.secrets-manager` references.
//!
//! CodeBuild's buildspec reference documents the value of a
//! `secrets-manager` entry as
//!
//! ```text
//! <secret-id>:<json-key>:<version-stage>:<version-id>
//! ```
//!
//! * `secret-id` (required): the secret's name, or its full ARN
//!   (`arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`),
//!   which is needed for a secret in another account. An ARN contains six
//!   colons of its own, so a reference whose first field is `arn` and that
//!   has at least seven fields (or whose third field is `secretsmanager`) is
//!   parsed as an ARN: its seven fields form the id and are validated, and
//!   the optional fields follow. A secret named plainly `arn` still works
//!   (`arn`, `arn:json-key`).
//! * `json-key` (optional): the secret string is a JSON object and the value
//!   is that key's value. Without it the whole secret string is used.
//! * `version-stage` (optional): a staging label such as `AWSPREVIOUS`.
//! * `version-id` (optional): a version's unique identifier.
//!
//! Optional fields may be left empty (`prod/db::AWSPREVIOUS`) and trailing
//! colons are allowed (`prod/db:password::`). The guide says not to specify
//! both a stage and an id; kiln rejects that combination. With neither, the
//! `AWSCURRENT` version is used.

use std::fmt;

/// The staging label Secrets Manager uses when neither a version stage nor a
/// version id is requested.
pub const AWSCURRENT: &str = "AWSCURRENT";

/// A parsed `env.secrets-manager` reference.
///
/// `Display` gives back the canonical form: empty optional fields are written
/// as empty components and trailing empty components are dropped, so
/// `SecretRef::parse(&r.to_string()) == Ok(r)` for every parsed `r`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretRef {
    /// The secret's name or full ARN, exactly as written.
    pub secret_id: String,
    /// Key to extract from the JSON object stored in the secret.
    pub json_key: Option<String>,
    /// Staging label of the version to use (e.g. `AWSPREVIOUS`).
    pub version_stage: Option<String>,
    /// Unique identifier of the version to use.
    pub version_id: Option<String>,
}

/// Why a `secrets-manager` reference could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// The reference was empty (or only whitespace).
    #[error(
        "the secrets-manager reference is empty; expected `secret-id[:json-key[:version-stage[:version-id]]]`"
    )]
    Empty,
    /// The reference starts with `:`, so it names no secret.
    #[error("the secrets-manager reference `{0}` has no secret-id before the first `:`")]
    MissingSecretId(String),
    /// More than the four documented fields.
    #[error(
        "the secrets-manager reference `{0}` has too many `:`-separated fields; \
         expected `secret-id:json-key:version-stage:version-id` (a secret name cannot contain `:`; \
         use the full ARN `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME` for ARNs)"
    )]
    TooManyFields(String),
    /// The reference starts with `arn:` but is not a Secrets Manager secret ARN.
    #[error(
        "`{reference}` is not a valid Secrets Manager secret ARN ({reason}); expected \
         `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME`"
    )]
    InvalidArn {
        /// The whole reference.
        reference: String,
        /// What is wrong with the ARN.
        reason: String,
    },
    /// Both a version stage and a version id were given.
    #[error(
        "the secrets-manager reference `{0}` sets both a version-stage and a version-id; \
         CodeBuild accepts only one of them"
    )]
    StageAndId(String),
    /// The secret-id contains whitespace or control characters.
    #[error("the secret-id in `{0}` contains whitespace or control characters")]
    InvalidSecretId(String),
}

impl SecretRef {
    /// Parses a `secrets-manager` reference (see the [module docs](self)).
    pub fn parse(reference: &str) -> Result<SecretRef, RefError> {
        if reference.trim().is_empty() {
            return Err(RefError::Empty);
        }
        let fields: Vec<&str> = reference.split(':').collect();
        // `arn:` starts an ARN when the reference is long enough to be one or
        // names the secretsmanager service; otherwise `arn` is a plain name
        // (a valid, if unlucky, secret name).
        let looks_like_arn =
            fields[0] == "arn" && (fields.len() >= 7 || fields.get(2) == Some(&"secretsmanager"));
        let (secret_id, rest) = if looks_like_arn {
            parse_arn(reference, &fields)?
        } else {
            (fields[0].to_string(), &fields[1..])
        };
        if secret_id.is_empty() {
            return Err(RefError::MissingSecretId(reference.to_string()));
        }
        if secret_id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(RefError::InvalidSecretId(reference.to_string()));
        }
        if rest.len() > 3 {
            return Err(RefError::TooManyFields(reference.to_string()));
        }
        let field = |i: usize| {
            rest.get(i)
                .filter(|s| !s.is_empty())
                .map(|s| (*s).to_string())
        };
        let parsed = SecretRef {
            secret_id,
            json_key: field(0),
            version_stage: field(1),
            version_id: field(2),
        };
        if parsed.version_stage.is_some() && parsed.version_id.is_some() {
            return Err(RefError::StageAndId(reference.to_string()));
        }
        Ok(parsed)
    }

    /// Whether the secret-id is a full ARN.
    pub fn is_arn(&self) -> bool {
        self.secret_id.starts_with("arn:")
    }

    /// The secret's name: the secret-id itself, or the resource name of an ARN.
    pub fn name(&self) -> &str {
        arn_secret_name(&self.secret_id).unwrap_or(&self.secret_id)
    }
}

/// Splits an ARN-form reference into its secret-id (the seven ARN fields)
/// and the remaining optional fields.
fn parse_arn<'a>(
    reference: &str,
    fields: &'a [&'a str],
) -> Result<(String, &'a [&'a str]), RefError> {
    let bad = |reason: &str| RefError::InvalidArn {
        reference: reference.to_string(),
        reason: reason.to_string(),
    };
    if fields.len() < 7 {
        return Err(bad("an ARN needs 7 `:`-separated fields"));
    }
    let [_, partition, service, region, account, kind, name] = [
        fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6],
    ];
    if partition.is_empty() {
        return Err(bad("the partition is empty"));
    }
    if service != "secretsmanager" {
        return Err(bad("the service is not `secretsmanager`"));
    }
    if region.is_empty() {
        return Err(bad("the region is empty"));
    }
    if account.is_empty() || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the account id must be digits"));
    }
    if kind != "secret" {
        return Err(bad("the resource type is not `secret`"));
    }
    if name.is_empty() {
        return Err(bad("the secret name is empty"));
    }
    Ok((fields[..7].join(":"), &fields[7..]))
}

/// The resource name of a Secrets Manager ARN, or `None` if `id` is not one.
fn arn_secret_name(id: &str) -> Option<&str> {
    let mut parts = id.splitn(7, ':');
    let head: Vec<&str> = parts.by_ref().take(6).collect();
    let name = parts.next()?;
    (head.len() == 6
        && head[0] == "arn"
        && head[2] == "secretsmanager"
        && head[5] == "secret"
        && !name.is_empty())
    .then_some(name)
}

/// The keys under which a secret with this id is looked up, most specific
/// first, without duplicates:
///
/// 1. the id exactly as written;
/// 2. for an ARN, the secret name inside it;
/// 3. for an ARN whose name ends in Secrets Manager's random suffix
///    (`-` and six ASCII letters/digits, e.g. `prod/db-AbCdEf`), the name
///    without that suffix.
///
/// Both offline providers use these candidates, so a secret stored under its
/// plain name also answers references that use its full ARN.
pub fn secret_id_candidates(id: &str) -> Vec<String> {
    let mut out = vec![id.to_string()];
    if let Some(name) = arn_secret_name(id) {
        out.push(name.to_string());
        if let Some(base) = strip_random_suffix(name) {
            out.push(base.to_string());
        }
    }
    out.dedup();
    out
}

fn strip_random_suffix(name: &str) -> Option<&str> {
    let bytes = name.as_bytes();
    if bytes.len() < 8 {
        return None;
    }
    let (base, suffix) = name.split_at(name.len() - 7);
    let suffix = suffix.as_bytes();
    (suffix[0] == b'-' && suffix[1..].iter().all(u8::is_ascii_alphanumeric)).then_some(base)
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.secret_id)?;
        let optional = [&self.json_key, &self.version_stage, &self.version_id];
        let last = optional.iter().rposition(|o| o.is_some());
        if let Some(last) = last {
            for field in &optional[..=last] {
                write!(f, ":{}", field.as_deref().unwrap_or(""))?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for SecretRef {
    type Err = RefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SecretRef::parse(s)
    }
}
