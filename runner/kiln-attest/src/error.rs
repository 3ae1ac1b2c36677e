//! The crate's error type.
//!
//! Every failure is a typed [`Error`] with a readable message; [`Error::reason`] gives a short,
//! stable code (`decrypt`, `signature`, `digest-mismatch`, ...) that callers (the CLI's exit codes,
//! `kiln verify`'s report, the corpus tests) can match on without parsing messages.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading keys, signing, or verifying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A user-given input file was refused or could not be read: not a regular file (a FIFO,
    /// a device, a directory), larger than the limit for its kind, or unreadable. The message
    /// names the file.
    #[error(transparent)]
    Input(#[from] kiln_fs::InputError),
    /// An input was larger than the limit for its kind (a defence against memory exhaustion).
    #[error("{what} is {size} bytes, larger than the {limit}-byte limit")]
    TooLarge {
        /// What was being read.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The input is not PEM (or not valid PEM/DER where one was expected).
    #[error("{0}")]
    Pem(String),
    /// A PEM block has a label this operation cannot use.
    #[error("PEM label {found:?} is not usable here (expected {expected})")]
    WrongLabel {
        /// The label found.
        found: String,
        /// What was acceptable.
        expected: &'static str,
    },
    /// An encrypted private key was given without a password.
    #[error("the private key is encrypted: a password is required")]
    PasswordRequired,
    /// Decrypting a private key failed: the password is wrong (or the ciphertext was altered).
    #[error("cannot decrypt the private key: wrong password, or the key file is corrupt")]
    WrongPassword,
    /// A key (encrypted envelope, PKCS#8, SPKI, certificate key) is malformed or invalid.
    #[error("invalid key: {0}")]
    BadKey(String),
    /// The key's algorithm is not supported.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// A private key and a public key that were expected to belong together do not.
    #[error("the private key does not match the public key {0}")]
    KeyMismatch(String),
    /// A base64 field could not be decoded.
    #[error("{what} is not valid base64: {detail}")]
    Base64 {
        /// Which field.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// A document is not JSON, or not the JSON shape expected.
    #[error("{what} is not valid JSON: {detail}")]
    Json {
        /// Which document.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// A document is well-formed JSON but breaks a rule of its format.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which document.
        what: &'static str,
        /// Which rule.
        detail: String,
    },
    /// A signature did not verify.
    #[error("signature verification failed: {0}")]
    Signature(String),
    /// A digest (artifact vs. bundle, artifact vs. subject, payload vs. log entry) did not match.
    #[error("digest mismatch: {0}")]
    DigestMismatch(String),
    /// A Sigstore bundle media type that this crate does not know.
    #[error("unsupported Sigstore bundle media type {0:?}")]
    UnknownMediaType(String),
    /// An in-toto Statement with a missing or unknown `_type`.
    #[error("in-toto statement: {0}")]
    StatementType(String),
    /// A certificate did not chain to a trusted root (or was invalid at the signing time).
    #[error("certificate chain: {0}")]
    Chain(String),
    /// A transparency-log entry contradicts the bundle it is attached to, or the log's signature
    /// over it (signed entry timestamp, checkpoint) does not verify.
    #[error("transparency log entry: {0}")]
    TlogMismatch(String),
    /// A verified transparency-log entry was required and the bundle has none that the trusted
    /// root vouches for (no entry, or entries of a log the trusted root does not know).
    #[error("transparency log: {0}")]
    TlogUnverified(String),
    /// A certificate's embedded signed certificate timestamp (SCT) is missing or does not verify
    /// with a certificate-transparency log key of the trusted root.
    #[error("certificate transparency (SCT): {0}")]
    Sct(String),
    /// A certificate chains to the trusted root but names another signer than the one required
    /// (`--certificate-identity`, `--certificate-oidc-issuer`).
    #[error("certificate {field}: expected {expected}, found {found}")]
    IdentityMismatch {
        /// `identity` (subject alternative name) or `OIDC issuer`.
        field: &'static str,
        /// What was required.
        expected: String,
        /// What the certificate says.
        found: String,
    },
    /// Verification needs trust material that was not given (a public key, or a trusted root for
    /// certificate-based signatures and transparency-log checks).
    #[error("{0}")]
    MissingTrust(String),
    /// Generating a key or producing a signature failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

impl Error {
    /// A short, stable code for this error, used in reports and by tests.
    ///
    /// The codes for verification failures are the `fails:<reason>` codes of the interop corpus.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Input(e) if e.is_too_large() => "too-large",
            Error::Input(_) => "io",
            Error::TooLarge { .. } => "too-large",
            Error::Pem(_) => "bad-pem",
            Error::WrongLabel { .. } => "wrong-label",
            Error::PasswordRequired => "password-required",
            Error::WrongPassword => "decrypt",
            Error::BadKey(_) => "bad-key",
            Error::UnsupportedKey(_) => "unsupported-key",
            Error::KeyMismatch(_) => "key-mismatch",
            Error::Base64 { .. } => "bad-base64",
            Error::Json { .. } => "not-json",
            Error::Malformed { .. } => "malformed",
            Error::Signature(_) => "signature",
            Error::DigestMismatch(_) => "digest-mismatch",
            Error::UnknownMediaType(_) => "unknown-media-type",
            Error::StatementType(_) => "statement-type",
            Error::Chain(_) => "chain",
            Error::TlogMismatch(_) => "tlog-mismatch",
            Error::TlogUnverified(_) => "tlog-unverified",
            Error::Sct(_) => "sct",
            Error::IdentityMismatch { .. } => "identity",
            Error::MissingTrust(_) => "missing-trust",
            Error::Signing(_) => "signing",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn json(what: &'static str, e: impl std::fmt::Display) -> Self {
        Error::Json {
            what,
            detail: e.to_string(),
        }
    }

    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        Error::Malformed {
            what,
            detail: detail.into(),
        }
    }
}
