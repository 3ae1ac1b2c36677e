//! Signing the provenance through the built-in `dsse-signer` plugin (the `signer` world).
//!
//! The key stays here, in the host: the plugin gets a `signing-key` handle for the one name it
//! is granted ([`KEY_NAME`]) and asks the host to sign the DSSE PAE bytes. What it returns is
//! checked before it is trusted: one DSSE envelope, of the in-toto payload type, whose payload
//! is exactly the statement kiln built, with a signature that verifies under the key's public
//! half. Anything else is refused, so a broken or hostile signer cannot get a different
//! statement signed into the provenance.
//!
//! Which key: `kiln build --key FILE`, else the buildspec's `kiln: signing: key:` (relative to the
//! project), else an ephemeral key (see `provenance::write`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_attest::dsse::{self, Envelope};
use kiln_attest::intoto::PAYLOAD_TYPE;
use kiln_attest::{Algorithm, KeyPair, Signer};
use kiln_host::{
    builtin, Host, HostKey, KeyStore, SignSubject, SignerInvocation, SigningAlgorithm,
};

/// The one key name the provenance signer is granted.
pub const KEY_NAME: &str = "provenance";
/// The built-in signer plugin.
pub const SIGNER: &str = "dsse-signer";
/// The media type the signer must return.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// A [`KeyPair`] as a host key: signs and shows its public half, nothing else.
struct HostKeyPair(Arc<KeyPair>);

impl HostKey for HostKeyPair {
    fn algorithm(&self) -> Option<SigningAlgorithm> {
        match self.0.algorithm() {
            Algorithm::EcdsaP256 => Some(SigningAlgorithm::EcdsaP256Sha256),
            Algorithm::Ed25519 => Some(SigningAlgorithm::Ed25519),
            _ => None,
        }
    }

    fn public_key_pem(&self) -> String {
        self.0.public_key().to_pem()
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        Signer::sign(self.0.as_ref(), data).map_err(|e| e.to_string())
    }
}

/// One named key.
struct OneKey {
    name: &'static str,
    key: Arc<dyn HostKey>,
}

impl KeyStore for OneKey {
    fn key(&self, name: &str) -> Option<Arc<dyn HostKey>> {
        (name == self.name).then(|| self.key.clone())
    }
}

/// The signer plugin's identity, for the provenance's builder dependencies.
pub struct SignerInfo {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// Lower-case hex sha256 of the component.
    pub sha256: String,
}

/// The built-in signer, loaded (compiled on first use, then from the compile cache).
pub struct ProvenanceSigner {
    signer: kiln_host::LoadedSigner,
}

impl ProvenanceSigner {
    /// Load the built-in `dsse-signer` on `host` (compiled, or from the host's compile cache).
    pub fn load_on(host: &Host) -> Result<Self, String> {
        let source = builtin::get(SIGNER).ok_or("the built-in dsse-signer is missing from this kiln")?;
        let signer = host.load_signer(source).map_err(|e| e.to_string())?;
        Ok(ProvenanceSigner { signer })
    }

    /// Who signs.
    pub fn info(&self) -> SignerInfo {
        SignerInfo { name: self.signer.manifest.name.clone(), version: self.signer.manifest.version.clone(), sha256: self.signer.sha256.clone() }
    }

    /// Have the plugin wrap `payload` (an in-toto statement, compact JSON) in a DSSE envelope
    /// signed by `key`, and check what it returns.
    pub fn sign_statement(&self, payload: &[u8], key: Arc<KeyPair>) -> Result<Envelope, String> {
        let store = Arc::new(OneKey { name: KEY_NAME, key: Arc::new(HostKeyPair(key.clone())) });
        let mut inv = SignerInvocation::new(store, [KEY_NAME]);
        inv.config = serde_json::json!({ "key": KEY_NAME });
        let subject = SignSubject { name: crate::provenance::FILE_NAME.into(), sha256: kiln_engine::sha256_hex(payload), payload: payload.to_vec() };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let outcome = runtime.block_on(self.signer.sign(&inv, std::slice::from_ref(&subject))).map_err(|e| e.to_string())?;
        let [sig] = outcome.signatures.as_slice() else {
            return Err(format!("the signer plugin returned {} signatures for one statement", outcome.signatures.len()));
        };
        if sig.media_type != DSSE_MEDIA_TYPE {
            return Err(format!("the signer plugin returned {:?}, expected {DSSE_MEDIA_TYPE}", sig.media_type));
        }
        check_envelope(&sig.content, payload, &key)
    }
}

/// Accept `content` only if it is a DSSE envelope of `payload` (in-toto type) that verifies
/// under `key`'s public half.
pub fn check_envelope(content: &[u8], payload: &[u8], key: &KeyPair) -> Result<Envelope, String> {
    let env = Envelope::from_json(content).map_err(|e| format!("the signer plugin's envelope: {e}"))?;
    if env.payload_type != PAYLOAD_TYPE {
        return Err(format!("the signer plugin's envelope has payloadType {:?}, expected {PAYLOAD_TYPE}", env.payload_type));
    }
    if env.payload_bytes().map_err(|e| e.to_string())? != payload {
        return Err("the signer plugin's envelope holds a different payload from the statement kiln built".into());
    }
    if env.signatures.len() != 1 {
        return Err(format!("the signer plugin's envelope has {} signatures, expected 1", env.signatures.len()));
    }
    dsse::verify(&env, &[key.public_key()]).map_err(|e| format!("the signer plugin's envelope does not verify with the signing key: {e}"))?;
    Ok(env)
}

/// Where the signing key is: `--key` first, else the buildspec's `kiln: signing: key:` resolved
/// against the project directory (`~/` expands to `$HOME`).
pub fn key_path(cli: Option<&Path>, spec: &kiln_spec::BuildSpec, project: &Path) -> Option<PathBuf> {
    if let Some(p) = cli {
        return Some(p.to_path_buf());
    }
    let v = spec.kiln.signing.as_ref()?.key.as_ref()?.value.clone();
    Some(match v.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(rest),
        None => project.join(v),
    })
}

/// The configured signing key, loaded (password from `COSIGN_PASSWORD` /
/// `KILN_SIGNING_PASSWORD`), and its canonical path (to hide from build steps); `None` when no
/// key is configured. A key inside the project is refused: it would be copied into the
/// working copy (or, in place, be readable and writable by the build). So is an unencrypted key,
/// unless `allow_unencrypted` (`--allow-unencrypted-key`): see [`crate::keys::load_signing_key`].
pub fn configured_key(cli: Option<&Path>, spec: &kiln_spec::BuildSpec, project: &Path, allow_unencrypted: bool) -> Result<Option<(Arc<KeyPair>, PathBuf)>, String> {
    let Some(path) = key_path(cli, spec, project) else { return Ok(None) };
    let canonical = std::fs::canonicalize(&path).map_err(|e| format!("cannot read the signing key {}: {e}", path.display()))?;
    if std::fs::canonicalize(project).is_ok_and(|d| canonical.starts_with(d)) {
        return Err(format!(
            "the signing key {} is inside the project, where build steps could read it (and it would be copied into the working copy); keep it outside, e.g. `../keys/cosign.key`",
            path.display()
        ));
    }
    let key = crate::keys::load_signing_key(&canonical, allow_unencrypted)?;
    Ok(Some((Arc::new(key), canonical)))
}

/// Print the ephemeral-key warning so nobody misses it.
pub fn warn_ephemeral(pub_path: &Path) {
    warn_ephemeral_for(pub_path, crate::provenance::EPHEMERAL_WARNING, "this build only");
}

/// [`warn_ephemeral`] with its text and what the key is for (`this batch only`).
pub fn warn_ephemeral_for(pub_path: &Path, warning: &str, scope: &str) {
    let line = "=".repeat(78);
    eprintln!("{line}\nWARNING: UNVERIFIABLE PROVENANCE\n{warning}\npublic key ({scope}): {}\n{line}", pub_path.display());
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_host::HostConfig;
    use base64::Engine as _;
    fn b64(b: &[u8]) -> String { base64::engine::general_purpose::STANDARD.encode(b) }

    fn signed(key: &KeyPair, payload: &[u8]) -> Envelope {
        dsse::sign(PAYLOAD_TYPE, payload, key).unwrap()
    }

    #[test]
    fn accepts_only_the_statement_it_gave_signed_by_its_key() {
        let key = KeyPair::generate().unwrap();
        let other = KeyPair::generate().unwrap();
        let payload = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;
        let good = signed(&key, payload);
        assert!(check_envelope(&good.to_json(), payload, &key).is_ok());

        let e = check_envelope(&signed(&key, b"{\"other\":1}").to_json(), payload, &key).unwrap_err();
        assert!(e.contains("different payload"), "{e}");
        let e = check_envelope(&signed(&other, payload).to_json(), payload, &key).unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        let mut wrong_type = good.clone();
        wrong_type.payload_type = "text/plain".into();
        assert!(check_envelope(&wrong_type.to_json(), payload, &key).unwrap_err().contains("payloadType"));
        let mut two = good.clone();
        two.signatures.push(two.signatures[0].clone());
        assert!(check_envelope(&two.to_json(), payload, &key).unwrap_err().contains("2 signatures"));
        let mut bad_sig = good.clone();
        bad_sig.signatures[0].sig = b64(&[0u8; 70]);
        assert!(check_envelope(&bad_sig.to_json(), payload, &key).is_err());
        assert!(check_envelope(b"{not json", payload, &key).is_err());
    }

    #[test]
    fn the_builtin_signer_makes_the_same_envelope_as_kiln_attest() {
        let signer = ProvenanceSigner::load_on(&Host::new(HostConfig::default()).unwrap()).unwrap();
        let key = Arc::new(KeyPair::generate().unwrap());
        let payload = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[]}"#;
        let env = signer.sign_statement(payload, key.clone()).unwrap();
        let reference = signed(&key, payload);
        // ECDSA signatures are randomised: everything but `sig` is byte-identical.
        assert_eq!(env.payload, reference.payload);
        assert_eq!(env.payload_type, reference.payload_type);
        assert_eq!(env.signatures[0].keyid, reference.signatures[0].keyid);
        assert_eq!(env.signatures[0].cert, None);
        assert!(String::from_utf8(env.to_json()).unwrap().starts_with(r#"{"payload":""#));
    }
}
