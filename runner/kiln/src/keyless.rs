//! Certificate-signed ("keyless") verification for `kiln verify` and `kiln verify-blob`, offline:
//! the flags (`--trusted-root`, `--certificate-identity`, `--certificate-oidc-issuer`, cosign's
//! names and meaning), loading the trusted root, and naming what failed.
//!
//! A Sigstore bundle signed with a Fulcio certificate is checked against the trusted root the
//! user gives (`trusted_root.json`, e.g. from `sigstore/root-signing` or `cosign trusted-root
//! create`): the certificate chain to one of its CAs at the time the transparency log vouches
//! for, the certificate's embedded SCT against its CT logs, the Rekor entry (signed entry
//! timestamp or inclusion proof with a signed checkpoint) against its log keys, the signature,
//! and then that the certificate names the identity and OIDC issuer required. As cosign does,
//! kiln refuses a keyless verification without an identity policy: any certificate Fulcio ever
//! issued would do otherwise.

use std::path::{Path, PathBuf};

use clap::Args;
use kiln_attest::bundle::Bundle;
use kiln_attest::trust::{IdentityPolicy, Matcher, TrustedRoot};
use kiln_attest::Error;

/// The keyless flags, shared by `verify` and `verify-blob`.
#[derive(Args, Clone, Debug, Default)]
pub struct KeylessArgs {
    /// Verify certificate-signed (keyless) bundles offline against this Sigstore trusted root
    /// (trusted_root.json: Fulcio CAs, Rekor and certificate-transparency log keys).
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// The identity the signing certificate must name, exactly: one of its subject alternative
    /// names (an email, or a URI such as a GitHub workflow
    /// https://github.com/OWNER/REPO/.github/workflows/FILE.yml@refs/heads/main).
    #[arg(long, value_name = "IDENTITY", requires = "trusted_root")]
    pub certificate_identity: Option<String>,
    /// The OIDC issuer the signing certificate must name, exactly (e.g.
    /// https://token.actions.githubusercontent.com, https://accounts.google.com).
    #[arg(long, value_name = "URL", requires = "trusted_root")]
    pub certificate_oidc_issuer: Option<String>,
    /// Instead of --certificate-identity: a regular expression one of the certificate's
    /// identities must match (unanchored, as cosign's; write ^…$ to match it whole).
    #[arg(long, value_name = "REGEX", requires = "trusted_root", conflicts_with = "certificate_identity")]
    pub certificate_identity_regexp: Option<String>,
    /// Instead of --certificate-oidc-issuer: a regular expression the issuer must match.
    #[arg(long, value_name = "REGEX", requires = "trusted_root", conflicts_with = "certificate_oidc_issuer")]
    pub certificate_oidc_issuer_regexp: Option<String>,
}

/// The exact value or the regular expression given for one certificate field.
fn matcher(exact: &Option<String>, regexp: &Option<String>, flag: &str) -> Result<Option<Matcher>, String> {
    match (exact, regexp) {
        (Some(s), _) => Ok(Some(Matcher::Exact(s.clone()))),
        (None, Some(r)) => Matcher::regex(r).map(Some).map_err(|e| format!("--{flag}-regexp {r:?} is not a regular expression: {e}")),
        (None, None) => Ok(None),
    }
}

/// What certificate-signed signatures are checked against.
pub struct Trust {
    pub root: TrustedRoot,
    pub root_path: PathBuf,
    /// `None` only when `--key` is given too (then a certificate-signed attestation fails its
    /// identity check, saying which flags to add).
    pub policy: Option<IdentityPolicy>,
}

impl KeylessArgs {
    /// The identity policy from the flags; an error naming the missing flag(s) when `required`
    /// and either is missing.
    fn policy(&self, required: bool) -> Result<Option<IdentityPolicy>, String> {
        let identity = matcher(&self.certificate_identity, &self.certificate_identity_regexp, "certificate-identity")?;
        let issuer = matcher(&self.certificate_oidc_issuer, &self.certificate_oidc_issuer_regexp, "certificate-oidc-issuer")?;
        match (identity, issuer) {
            (Some(identity), Some(issuer)) => Ok(Some(IdentityPolicy { identity, issuer })),
            (None, None) if !required => Ok(None),
            (identity, issuer) => {
                let mut missing = Vec::new();
                if identity.is_none() {
                    missing.push("--certificate-identity IDENTITY or --certificate-identity-regexp REGEX (the email or URI the signing certificate must name, e.g. https://github.com/OWNER/REPO/.github/workflows/release.yml@refs/heads/main)");
                }
                if issuer.is_none() {
                    missing.push("--certificate-oidc-issuer URL or --certificate-oidc-issuer-regexp REGEX (the OIDC issuer it must name, e.g. https://token.actions.githubusercontent.com)");
                }
                Err(format!(
                    "keyless verification needs an identity policy, as cosign's does: without one, any certificate the CA ever issued would be accepted; add {}",
                    missing.join(" and ")
                ))
            }
        }
    }

    /// Loads the trusted root (a regular file, up to the document limit) and the identity
    /// policy; `Ok(None)` without `--trusted-root`. `key_given`: `--key` was given as well, so
    /// the identity flags are optional (they are needed only if a certificate signed).
    pub fn load(&self, key_given: bool) -> Result<Option<Trust>, String> {
        let Some(path) = &self.trusted_root else { return Ok(None) };
        let policy = self.policy(!key_given)?;
        let bytes = kiln_fs::read_input(path, kiln_fs::limits::DOCUMENT, "trusted root").map_err(|e| e.to_string())?;
        let root = TrustedRoot::from_json(&bytes).map_err(|e| format!("cannot read the trusted root {}: {e}", path.display()))?;
        if root.ca_chains.is_empty() && root.logs.is_empty() {
            return Err(format!(
                "the trusted root {} has no certificate authority and no transparency log: is it a Sigstore trusted_root.json (application/vnd.dev.sigstore.trustedroot+json)?",
                path.display()
            ));
        }
        Ok(Some(Trust { root, root_path: path.clone(), policy }))
    }
}

impl Trust {
    /// The identity policy, or the failure to report when none was given.
    pub fn policy(&self) -> Result<&IdentityPolicy, String> {
        self.policy.as_ref().ok_or_else(|| {
            "the signature is certificate-signed (keyless): add --certificate-identity and --certificate-oidc-issuer to say whose signature to accept".to_string()
        })
    }
}

/// True when the bundle's signer is a certificate (keyless), not a key hint.
pub fn is_certificate_signed(bundle: &Bundle) -> bool {
    let vm = &bundle.verification_material;
    vm.certificate.is_some() || vm.x509_certificate_chain.is_some()
}

/// Which check an error of bundle verification is, as `kiln verify` names its checks.
pub fn check_name(e: &Error) -> &'static str {
    match e {
        Error::Chain(_) => "certificate chain",
        Error::Sct(_) => "certificate transparency (SCT)",
        Error::TlogMismatch(_) | Error::TlogUnverified(_) => "transparency log",
        Error::IdentityMismatch { field: "OIDC issuer", .. } => "certificate OIDC issuer",
        Error::IdentityMismatch { .. } => "certificate identity",
        Error::Signature(_) | Error::DigestMismatch(_) | Error::Base64 { .. } => "signature",
        Error::StatementType(_) => "statement",
        _ => "bundle",
    }
}

/// The error's message without the check name [`check_name`] already says.
pub fn detail(e: &Error) -> String {
    match e {
        Error::Chain(d) | Error::Sct(d) | Error::TlogMismatch(d) | Error::TlogUnverified(d) | Error::Signature(d) => d.clone(),
        Error::IdentityMismatch { expected, found, .. } => format!("expected {expected}, found {found}"),
        other => other.to_string(),
    }
}

/// `<file>: <detail>`, plus the trusted root for the checks that use it: what to print after
/// the check's name.
pub fn located(e: &Error, file: &Path, root: Option<&Path>) -> String {
    let uses_root = matches!(e, Error::Chain(_) | Error::Sct(_) | Error::TlogMismatch(_) | Error::TlogUnverified(_));
    let root = match root {
        Some(r) if uses_root => format!(" (trusted root {})", r.display()),
        _ => String::new(),
    };
    format!("{}: {}{root}", file.display(), detail(e))
}
