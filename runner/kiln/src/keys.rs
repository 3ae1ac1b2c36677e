//! Key and blob commands that behave like cosign's: `generate-key-pair`, `public-key`,
//! `sign-blob`, `verify-blob`. Passwords come from `COSIGN_PASSWORD` (as cosign reads it), then
//! `KILN_SIGNING_PASSWORD` (or the older `KILN_PASSWORD`), then an interactive prompt — never from a flag, so they stay out of the
//! process list.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln_attest::{blob, bundle, KeyPair, Password, PublicKey};

use crate::exit;
use crate::keyless::{self, KeylessArgs, Trust};

/// Exit code of a verification that ran and failed (a bad signature, a mismatch).
const VERIFY_FAILED: u8 = 1;

fn password_from_env() -> Option<Password> {
    Password::from_env("COSIGN_PASSWORD").or_else(|| Password::from_env("KILN_SIGNING_PASSWORD")).or_else(|| Password::from_env("KILN_PASSWORD"))
}

fn prompt(text: &str) -> Result<Password, String> {
    if !std::io::stdin().is_terminal() {
        return Err("no password: set COSIGN_PASSWORD (or KILN_SIGNING_PASSWORD), or run on a terminal to be asked".into());
    }
    rpassword::prompt_password(text).map(Password::from).map_err(|e| format!("cannot read the password: {e}"))
}

/// Read a user-given file: a regular file of at most `limit` bytes (kiln_fs), or a message that
/// names it and says what is wrong.
fn read_file(path: &Path, what: &'static str, limit: u64) -> Result<Vec<u8>, String> {
    kiln_fs::read_input(path, limit, what).map_err(|e| e.to_string())
}

/// Load a private key, asking for its password only if it is encrypted. Any key is read: this is
/// for looking at a key (`public-key`); keys that sign go through [`load_signing_key`].
pub fn load_private_key(path: &Path) -> Result<KeyPair, String> {
    load(path).map(|(k, _)| k)
}

/// Load a key to sign with: like [`load_private_key`], but an unencrypted key is refused unless
/// `allow_unencrypted` (`--allow-unencrypted-key`). Anyone who can read a plaintext key can sign
/// with it, and a plaintext key swapped in by someone else would be used without a word (issue
/// 11: a build step replaced the signing key that way); an encrypted key swapped for another does
/// not decrypt with the owner's password.
pub fn load_signing_key(path: &Path, allow_unencrypted: bool) -> Result<KeyPair, String> {
    match load(path)? {
        (k, true) => Ok(k),
        (_, false) if !allow_unencrypted => Err(unencrypted_refusal(path)),
        (k, false) => {
            eprintln!("warning: signing with the unencrypted key {} (--allow-unencrypted-key)", path.display());
            Ok(k)
        }
    }
}

/// What to say about an unencrypted signing key.
fn unencrypted_refusal(path: &Path) -> String {
    format!(
        "the signing key {} is not encrypted: anyone who can read it can sign as you, and a key swapped in by someone else would go unnoticed; \
         kiln signs only with encrypted keys unless you pass --allow-unencrypted-key\n  \
         help: make an encrypted key with `kiln generate-key-pair`, or encrypt this one with `cosign import-key-pair --key {0}` \
         or `openssl pkcs8 -topk8 -v2 aes-256-cbc -in {0} -out {0}.enc`; the password then comes from COSIGN_PASSWORD or a prompt",
        path.display()
    )
}

/// The key and whether it was encrypted.
fn load(path: &Path) -> Result<(KeyPair, bool), String> {
    let bytes = read_file(path, "key", kiln_fs::limits::KEY)?;
    match KeyPair::read(&bytes, None) {
        Ok(k) => Ok((k, false)),
        Err(kiln_attest::Error::PasswordRequired) => {
            let pw = match password_from_env() {
                Some(p) => p,
                None => prompt(&format!("Enter password for private key {}: ", path.display()))?,
            };
            KeyPair::read(&bytes, Some(&pw)).map(|k| (k, true)).map_err(|e| format!("{}: {e}", path.display()))
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// `kiln generate-key-pair [--output-key-prefix P]`: write P.key (encrypted) and P.pub.
pub fn generate(prefix: &str, force: bool) -> ExitCode {
    let password = match password_from_env() {
        Some(p) => p,
        None => {
            let first = match prompt("Enter password for private key: ") {
                Ok(p) => p,
                Err(e) => return exit::internal(&e),
            };
            let again = match prompt("Enter password for private key again: ") {
                Ok(p) => p,
                Err(e) => return exit::internal(&e),
            };
            if !first.same_as(&again) {
                return exit::internal("the passwords do not match");
            }
            first
        }
    };
    let key = match KeyPair::generate() {
        Ok(k) => k,
        Err(e) => return exit::internal(&e.to_string()),
    };
    let dir = Path::new(prefix).parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let files = match key.write_cosign_files(dir, &password, force) {
        Ok(f) => f,
        Err(e) => return exit::internal(&format!("{e} (use --force to replace it)")),
    };
    let stem = Path::new(prefix).file_name().and_then(|s| s.to_str()).unwrap_or("cosign");
    let (key_path, pub_path) = (dir.join(format!("{stem}.key")), dir.join(format!("{stem}.pub")));
    if stem != "cosign" {
        for (from, to) in [(&files.private_key, &key_path), (&files.public_key, &pub_path)] {
            if let Err(e) = std::fs::rename(from, to) {
                return exit::internal(&format!("cannot name the key file {}: {e}", to.display()));
            }
        }
    }
    eprintln!("Private key written to {}", key_path.display());
    eprintln!("Public key written to {}", pub_path.display());
    ExitCode::SUCCESS
}

/// `kiln public-key --key cosign.key`: print the public key PEM.
pub fn public_key(key: &Path) -> ExitCode {
    match load_private_key(key) {
        Ok(k) => {
            print!("{}", k.public_key().to_pem());
            ExitCode::SUCCESS
        }
        Err(e) => exit::internal(&e),
    }
}

/// `kiln sign-blob --key cosign.key FILE [--output-signature F] [--bundle F]`.
pub fn sign_blob(key: &Path, allow_unencrypted: bool, file: &Path, output_signature: Option<&PathBuf>, bundle_out: Option<&PathBuf>) -> ExitCode {
    let key = match load_signing_key(key, allow_unencrypted) {
        Ok(k) => k,
        Err(e) => return exit::internal(&e),
    };
    let data = match read_file(file, "file to sign", kiln_fs::limits::BLOB) {
        Ok(d) => d,
        Err(e) => return exit::internal(&e),
    };
    let sig = match blob::sign(&key, &data) {
        Ok(s) => s,
        Err(e) => return exit::internal(&e.to_string()),
    };
    if let Some(path) = output_signature {
        if let Err(e) = kiln_fs::write_atomic(path, sig.as_bytes(), true) {
            return exit::internal(&format!("cannot write {}: {e}", path.display()));
        }
        eprintln!("Wrote signature to file {}", path.display());
    }
    if let Some(path) = bundle_out {
        let written = bundle::Bundle::sign_blob(&key, &data).and_then(|b| bundle::write(path, &b));
        if let Err(e) = written {
            return exit::internal(&format!("cannot write the bundle {}: {e}", path.display()));
        }
        eprintln!("Wrote bundle to file {}", path.display());
    }
    if output_signature.is_none() {
        println!("{sig}");
    }
    ExitCode::SUCCESS
}

/// `kiln verify-blob --key cosign.pub (--signature SIG | --bundle B) FILE`, or keyless
/// `kiln verify-blob --trusted-root trusted_root.json --certificate-identity ID
/// --certificate-oidc-issuer URL --bundle B FILE`: 0 verified, 1 not, 2 unreadable.
pub fn verify_blob(key: Option<&Path>, keyless: &KeylessArgs, signature: Option<&PathBuf>, bundle_in: Option<&PathBuf>, file: &Path) -> ExitCode {
    if key.is_none() && keyless.trusted_root.is_none() {
        return exit::usage("give --key cosign.pub, or --trusted-root trusted_root.json with --certificate-identity and --certificate-oidc-issuer for a certificate-signed (keyless) bundle");
    }
    let key = match key.map(|key| read_file(key, "public key", kiln_fs::limits::KEY).and_then(|b| PublicKey::read(&b).map_err(|e| format!("{}: {e}", key.display())))) {
        None => None,
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => return exit::internal(&e),
    };
    let trust = match keyless.load(key.is_some()) {
        Ok(t) => t,
        Err(e) => return exit::internal(&e),
    };
    let data = match read_file(file, "file", kiln_fs::limits::BLOB) {
        Ok(d) => d,
        Err(e) => return exit::internal(&e),
    };
    let result = match (signature, bundle_in) {
        (Some(sig_path), None) => {
            let Some(key) = &key else {
                return exit::usage("a detached signature carries neither a certificate nor a transparency-log entry, so it cannot be verified keyless offline: give --key, or verify the Sigstore bundle with --bundle");
            };
            let sig = match read_file(sig_path, "signature", kiln_fs::limits::KEY) {
                Ok(s) => String::from_utf8_lossy(&s).trim().to_string(),
                Err(e) => return exit::internal(&e),
            };
            blob::verify(key, &sig, &data)
        }
        (None, Some(b)) => {
            let parsed = match read_file(b, "Sigstore bundle", kiln_fs::limits::DOCUMENT).and_then(|bytes| bundle::Bundle::from_json(&bytes).map_err(|e| format!("{}: {e}", b.display()))) {
                Ok(p) => p,
                Err(e) => return exit::internal(&e),
            };
            return verify_bundle(&parsed, b, key.as_ref(), trust.as_ref(), &data);
        }
        _ => return exit::usage("give exactly one of --signature and --bundle"),
    };
    match result {
        Ok(()) => {
            eprintln!("Verified OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: verification failed ({}): {e}", e.reason());
            ExitCode::from(VERIFY_FAILED)
        }
    }
}

/// A bundle over `data`: key-signed with the key; certificate-signed against the trusted root
/// (log entry required) and the identity policy. A failure names the bundle and the check.
fn verify_bundle(b: &bundle::Bundle, path: &Path, key: Option<&PublicKey>, trust: Option<&Trust>, data: &[u8]) -> ExitCode {
    let certificate = keyless::is_certificate_signed(b);
    let fail = |reason: &str, msg: String| {
        eprintln!("error: verification failed ({reason}): {msg}");
        ExitCode::from(VERIFY_FAILED)
    };
    let trust = match (certificate, trust) {
        (true, None) => return fail("missing-trust", format!("{}: the bundle is signed with a certificate (keyless), not a key: verify it with --trusted-root FILE --certificate-identity IDENTITY --certificate-oidc-issuer URL", path.display())),
        (false, _) if key.is_none() => return fail("missing-trust", format!("{}: the bundle is signed with a key, not a certificate: give --key", path.display())),
        (_, t) => t,
    };
    let opts = bundle::VerifyOptions { key, trusted_root: trust.map(|t| &t.root), require_tlog: certificate };
    let verified = match bundle::verify(b, bundle::Artifact::Bytes(data), &opts) {
        Ok(v) => v,
        Err(e) => {
            let located = keyless::located(&e, path, trust.map(|t| t.root_path.as_path()));
            return fail(e.reason(), format!("{}: {located}", keyless::check_name(&e)));
        }
    };
    if let (bundle::SignerIdentity::Certificate(id), Some(trust)) = (&verified.signer, trust) {
        let checked = trust.policy().map_err(|m| ("identity", m)).and_then(|p| p.check(id).map_err(|e| (e.reason(), format!("{}: {}", keyless::check_name(&e), keyless::located(&e, path, None)))));
        if let Err((reason, msg)) = checked {
            return fail(reason, msg);
        }
    }
    eprintln!("Verified OK");
    ExitCode::SUCCESS
}
