//! Private keys as cosign users know them: generate a pair, write `cosign.key` / `cosign.pub`,
//! read encrypted and plain private keys in every encoding seen next to cosign, and sign.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretSlice};
use sigstore::crypto::SigningScheme;
use sigstore::crypto::signing_key::ecdsa::{ECDSAKeys, EllipticCurve};
use sigstore::crypto::signing_key::ed25519::Ed25519Keys;
use sigstore::crypto::signing_key::rsa::keypair::RSAKeys;
use sigstore::crypto::signing_key::{SigStoreKeyPair, SigStoreSigner};
use x509_cert::der::Decode;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::kdf;
use crate::pem;
use crate::pubkey::{Algorithm, PublicKey, pem_encode};
use crate::util::{MAX_KEY_BYTES, check_size, write_atomic};

/// PEM label kiln writes for encrypted keys (current cosign's).
pub const SIGSTORE_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// PEM label of encrypted keys written by older cosign releases (read, never written).
pub const COSIGN_KEY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

const EC_OID: &str = "1.2.840.10045.2.1";
const ED25519_OID: &str = "1.3.101.112";
const RSA_OID: &str = "1.2.840.113549.1.1.1";

/// A key password. The bytes live in a [`secrecy`] box and are zeroized when it is dropped;
/// `Debug` never prints them.
pub struct Password(SecretSlice<u8>);

impl Password {
    /// Takes ownership of `bytes` (zeroizing the caller's buffer as it moves in).
    pub fn new(mut bytes: Vec<u8>) -> Self {
        let boxed: Box<[u8]> = bytes.as_slice().into();
        bytes.zeroize();
        Password(SecretSlice::from(boxed))
    }

    /// The empty password (`COSIGN_PASSWORD=""`), which cosign allows.
    pub fn empty() -> Self {
        Password::new(Vec::new())
    }

    /// Reads a password from the environment variable `name` (for example `COSIGN_PASSWORD`),
    /// byte for byte. `None` when the variable is not set; an empty value is the empty password.
    pub fn from_env(name: &str) -> Option<Self> {
        let value = std::env::var_os(name)?;
        #[cfg(unix)]
        let bytes = std::os::unix::ffi::OsStringExt::into_vec(value);
        #[cfg(not(unix))]
        let bytes = value.to_string_lossy().into_owned().into_bytes();
        Some(Password::new(bytes))
    }

    /// Whether two passwords are the same (for "enter it again" prompts).
    pub fn same_as(&self, other: &Password) -> bool {
        self.expose() == other.expose()
    }

    pub(crate) fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Password::new(s.as_bytes().to_vec())
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Password::new(s.into_bytes())
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Something that signs bytes with a private key it does not reveal.
///
/// [`KeyPair`] implements it; the host implements signing on behalf of plugins with it, so a
/// plugin holds a handle, never the key.
pub trait Signer: Send + Sync {
    /// Signs `message`, returning the raw signature (ASN.1 DER for ECDSA over SHA-256 of the
    /// message; raw for Ed25519; PKCS#1 v1.5 with SHA-256 for RSA).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
    /// The public half, for key hints, DSSE key ids and self-checks.
    fn public_key(&self) -> &PublicKey;
}

/// A private key with its public key. Key material is held by the sigstore crate in zeroizing
/// buffers; intermediate copies made here are zeroized too.
pub struct KeyPair {
    keys: SigStoreKeyPair,
    signer: SigStoreSigner,
    public: PublicKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Paths written by [`KeyPair::write_cosign_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFiles {
    /// The encrypted private key (`cosign.key`, mode 0600).
    pub private_key: PathBuf,
    /// The public key (`cosign.pub`).
    pub public_key: PathBuf,
}

impl KeyPair {
    /// Generates a new ECDSA P-256 key pair, as `cosign generate-key-pair` does.
    pub fn generate() -> Result<Self> {
        let keys = ECDSAKeys::new(EllipticCurve::P256)
            .map_err(|e| Error::Signing(format!("key generation: {e}")))?;
        Self::from_sigstore(SigStoreKeyPair::ECDSA(keys))
    }

    /// Reads an encrypted cosign private key (`ENCRYPTED SIGSTORE PRIVATE KEY` or
    /// `ENCRYPTED COSIGN PRIVATE KEY`), or a PBES2 `ENCRYPTED PRIVATE KEY`.
    pub fn from_encrypted_pem(pem_bytes: &[u8], password: &Password) -> Result<Self> {
        let block = first_key_block(pem_bytes)?;
        match block.label.as_str() {
            SIGSTORE_KEY_LABEL | COSIGN_KEY_LABEL | "ENCRYPTED PRIVATE KEY" => {
                Self::from_block(&block, Some(password))
            }
            other => Err(Error::WrongLabel {
                found: other.to_string(),
                expected: "ENCRYPTED SIGSTORE PRIVATE KEY, ENCRYPTED COSIGN PRIVATE KEY or ENCRYPTED PRIVATE KEY",
            }),
        }
    }

    /// Reads a private key in any encoding seen next to cosign: the encrypted PEMs of
    /// [`KeyPair::from_encrypted_pem`] (which need `password`), PKCS#8 `PRIVATE KEY` (v1 or v2),
    /// SEC1 `EC PRIVATE KEY` (an `EC PARAMETERS` block before it is skipped), PKCS#1
    /// `RSA PRIVATE KEY`, or the same as raw DER.
    pub fn read(bytes: &[u8], password: Option<&Password>) -> Result<Self> {
        check_size("private key", bytes.len(), MAX_KEY_BYTES)?;
        if pem::is_pem(bytes) {
            let block = first_key_block(bytes)?;
            return Self::from_block(&block, password);
        }
        Self::from_der(bytes)
    }

    /// Reads an unencrypted private key from DER: PKCS#8, SEC1 or PKCS#1.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        check_size("private key", der.len(), MAX_KEY_BYTES)?;
        if pkcs8::PrivateKeyInfoRef::from_der(der).is_ok() {
            return Self::from_pkcs8(der);
        }
        if let Ok(pkcs8) = sec1_to_pkcs8(der) {
            return Self::from_pkcs8(&pkcs8);
        }
        if let Ok(pkcs8) = pkcs1_to_pkcs8(der) {
            return Self::from_pkcs8(&pkcs8);
        }
        Err(Error::BadKey(
            "not a PKCS#8, SEC1 or PKCS#1 private key (DER)".into(),
        ))
    }

    fn from_block(block: &pem::Block, password: Option<&Password>) -> Result<Self> {
        let contents = block.contents.as_slice();
        match block.label.as_str() {
            SIGSTORE_KEY_LABEL | COSIGN_KEY_LABEL => {
                let password = password.ok_or(Error::PasswordRequired)?;
                let der = kdf::decrypt(contents, password)?;
                Self::from_pkcs8(&der)
            }
            "ENCRYPTED PRIVATE KEY" => {
                let password = password.ok_or(Error::PasswordRequired)?;
                let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(contents)
                    .map_err(|e| Error::BadKey(format!("encrypted PKCS#8: {e}")))?;
                check_pbes2_cost(&info.encryption_algorithm)?;
                let doc = info
                    .decrypt(password.expose())
                    .map_err(|_| Error::WrongPassword)?;
                Self::from_pkcs8(doc.as_bytes())
            }
            "PRIVATE KEY" => Self::from_pkcs8(contents),
            "EC PRIVATE KEY" => Self::from_pkcs8(&sec1_to_pkcs8(contents)?),
            "RSA PRIVATE KEY" => Self::from_pkcs8(&pkcs1_to_pkcs8(contents)?),
            other => Err(Error::WrongLabel {
                found: other.to_string(),
                expected: "a private key (ENCRYPTED SIGSTORE PRIVATE KEY, PRIVATE KEY, EC PRIVATE KEY, RSA PRIVATE KEY, ...)",
            }),
        }
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self> {
        let info = pkcs8::PrivateKeyInfoRef::from_der(der)
            .map_err(|e| Error::BadKey(format!("PKCS#8: {e}")))?;
        let oid = info.algorithm.oid.to_string();
        let bad = |e: sigstore::errors::SigstoreError| Error::BadKey(e.to_string());
        let keys = match oid.as_str() {
            EC_OID => SigStoreKeyPair::ECDSA(ECDSAKeys::from_der(der).map_err(bad)?),
            ED25519_OID => SigStoreKeyPair::ED25519(Ed25519Keys::from_der(der).map_err(bad)?),
            RSA_OID => SigStoreKeyPair::RSA(RSAKeys::from_der(der).map_err(bad)?),
            other => {
                return Err(Error::UnsupportedKey(format!(
                    "private key algorithm OID {other}"
                )));
            }
        };
        Self::from_sigstore(keys)
    }

    fn from_sigstore(keys: SigStoreKeyPair) -> Result<Self> {
        let spki = keys
            .public_key_to_der()
            .map_err(|e| Error::BadKey(e.to_string()))?;
        let public = PublicKey::from_spki_der(&spki)?;
        let scheme = match public.algorithm() {
            Algorithm::EcdsaP256 => SigningScheme::ECDSA_P256_SHA256_ASN1,
            Algorithm::EcdsaP384 => SigningScheme::ECDSA_P384_SHA384_ASN1,
            Algorithm::EcdsaP521 => SigningScheme::ECDSA_P521_SHA512_ASN1,
            Algorithm::Ed25519 => SigningScheme::ED25519,
            Algorithm::Rsa => SigningScheme::RSA_PKCS1_SHA256(0),
        };
        let signer = keys
            .to_sigstore_signer(&scheme)
            .map_err(|e| Error::BadKey(e.to_string()))?;
        Ok(KeyPair {
            keys,
            signer,
            public,
        })
    }

    /// The encrypted PEM cosign writes: label `ENCRYPTED SIGSTORE PRIVATE KEY`, scrypt
    /// (N = 65536, r = 8, p = 1) + NaCl secretbox around the PKCS#8 key.
    pub fn to_encrypted_pem(&self, password: &Password) -> Result<Zeroizing<String>> {
        let der = self
            .keys
            .private_key_to_der()
            .map_err(|e| Error::Signing(e.to_string()))?;
        let json = Zeroizing::new(kdf::encrypt(&der, password)?);
        Ok(Zeroizing::new(pem_encode(SIGSTORE_KEY_LABEL, &json)))
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.public.algorithm()
    }

    /// Fails with [`Error::KeyMismatch`] unless `public` is this key's public half.
    pub fn check_public_key(&self, public: &PublicKey) -> Result<()> {
        if &self.public == public {
            Ok(())
        } else {
            Err(Error::KeyMismatch(format!(
                "(hint {} vs {})",
                self.public.hint(),
                public.hint()
            )))
        }
    }

    /// Writes `cosign.key` (encrypted, mode 0600) and `cosign.pub` into `dir`, each atomically.
    /// Refuses to replace an existing `cosign.key` unless `overwrite` is set.
    pub fn write_cosign_files(
        &self,
        dir: &Path,
        password: &Password,
        overwrite: bool,
    ) -> Result<KeyFiles> {
        let files = KeyFiles {
            private_key: dir.join("cosign.key"),
            public_key: dir.join("cosign.pub"),
        };
        if !overwrite && files.private_key.exists() {
            return Err(Error::io(
                &files.private_key,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "refusing to overwrite an existing key",
                ),
            ));
        }
        let pem = self.to_encrypted_pem(password)?;
        write_atomic(&files.private_key, pem.as_bytes(), 0o600)?;
        write_atomic(&files.public_key, self.public.to_pem().as_bytes(), 0o644)?;
        Ok(files)
    }
}

/// Seed aws-lc's random generator now, on the calling thread's time. Its first use gathers
/// CPU-jitter entropy, which took ~50 ms on this project's CI VMs; a signature made with a
/// loaded key (ECDSA needs a random nonce) pays that unless something drew randomness first.
pub fn warm_up_rng() {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let _ = SystemRandom::new().fill(&mut [0u8; 16]);
}

impl Signer for KeyPair {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.signer
            .sign(message)
            .map_err(|e| Error::Signing(e.to_string()))
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }
}

fn first_key_block(bytes: &[u8]) -> Result<pem::Block> {
    check_size("private key", bytes.len(), MAX_KEY_BYTES)?;
    pem::parse(bytes)?
        .into_iter()
        .find(|b| b.label != "EC PARAMETERS")
        .ok_or_else(|| Error::Pem("only an EC PARAMETERS block, no key".into()))
}

/// Refuses PBES2 parameters that would make decryption a denial of service (PBKDF2 beyond ten
/// million iterations, scrypt beyond N = 2^20, r = 8, p = 16).
fn check_pbes2_cost(scheme: &pkcs8::pkcs5::EncryptionScheme) -> Result<()> {
    use pkcs8::pkcs5::EncryptionScheme;
    use pkcs8::pkcs5::pbes2::Kdf;
    let EncryptionScheme::Pbes2(params) = scheme else {
        return Ok(());
    };
    let too_costly = match &params.kdf {
        Kdf::Pbkdf2(p) => p.iteration_count > 10_000_000,
        Kdf::Scrypt(s) => s.cost_parameter > 1 << 20 || s.block_size > 8 || s.parallelization > 16,
        _ => true,
    };
    if too_costly {
        return Err(Error::BadKey(
            "the encrypted PKCS#8 key's derivation parameters are too costly".into(),
        ));
    }
    Ok(())
}

/// SEC1 `ECPrivateKey` to PKCS#8, trying each curve sigstore supports.
fn sec1_to_pkcs8(der: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
        ECDSA_P521_SHA512_ASN1_SIGNING, EcdsaKeyPair,
    };
    for alg in [
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &ECDSA_P384_SHA384_ASN1_SIGNING,
        &ECDSA_P521_SHA512_ASN1_SIGNING,
    ] {
        if let Ok(kp) = EcdsaKeyPair::from_private_key_der(alg, der) {
            let doc = kp
                .to_pkcs8v1()
                .map_err(|_| Error::BadKey("cannot re-encode EC key".into()))?;
            return Ok(Zeroizing::new(doc.as_ref().to_vec()));
        }
    }
    Err(Error::BadKey(
        "not a SEC1 EC private key on P-256, P-384 or P-521".into(),
    ))
}

/// PKCS#1 `RSAPrivateKey` to PKCS#8.
fn pkcs1_to_pkcs8(der: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
    let kp = aws_lc_rs::rsa::KeyPair::from_der(der)
        .map_err(|e| Error::BadKey(format!("PKCS#1 RSA key: {e}")))?;
    let doc: Pkcs8V1Der<'static> = kp
        .as_der()
        .map_err(|_| Error::BadKey("cannot re-encode RSA key".into()))?;
    Ok(Zeroizing::new(doc.as_ref().to_vec()))
}
