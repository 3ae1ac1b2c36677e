//! cosign's encrypted private-key envelope: scrypt + NaCl secretbox around PKCS#8 DER.
//!
//! The PEM body (`ENCRYPTED SIGSTORE PRIVATE KEY`, or `ENCRYPTED COSIGN PRIVATE KEY` from older
//! cosign) is compact JSON with fields in this order:
//! `{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":".."},
//! "cipher":{"name":"nacl/secretbox","nonce":".."},"ciphertext":".."}`.
//!
//! The sigstore crate can read this, but it writes N = 32768 (cosign now writes 65536) and folds
//! a wrong password into a generic "unsupported key type" error, so the envelope is handled here
//! and the decrypted PKCS#8 is handed to the sigstore crate.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead, KeyInit};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::Password;
use crate::util::{b64, unb64};

/// scrypt cost cosign writes today.
const SCRYPT_N: u64 = 65536;
/// scrypt cost of keys written by older cosign releases.
const SCRYPT_N_LEGACY: u64 = 32768;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Envelope {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

fn derive_key(password: &Password, salt: &[u8], n: u64) -> Result<Zeroizing<[u8; 32]>> {
    let log_n = n.trailing_zeros() as u8;
    let params = scrypt::Params::new(log_n, SCRYPT_R, SCRYPT_P)
        .map_err(|e| Error::BadKey(format!("scrypt parameters: {e}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password.expose(), salt, &params, key.as_mut())
        .map_err(|e| Error::BadKey(format!("scrypt: {e}")))?;
    Ok(key)
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| Error::Signing("the system random number generator failed".into()))?;
    Ok(buf)
}

/// Encrypts PKCS#8 DER as cosign does, returning the JSON that goes inside the PEM.
pub(crate) fn encrypt(pkcs8_der: &[u8], password: &Password) -> Result<Vec<u8>> {
    let salt: [u8; 32] = random()?;
    let nonce: [u8; 24] = random()?;
    let key = derive_key(password, &salt, SCRYPT_N)?;
    let cipher = XSalsa20Poly1305::new(&(*key).into());
    let ciphertext = cipher
        .encrypt(&nonce.into(), pkcs8_der)
        .map_err(|_| Error::Signing("secretbox encryption failed".into()))?;
    let envelope = Envelope {
        kdf: Kdf {
            name: "scrypt".into(),
            params: ScryptParams {
                n: SCRYPT_N,
                r: SCRYPT_R,
                p: SCRYPT_P,
            },
            salt: b64(&salt),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: b64(&nonce),
        },
        ciphertext: b64(&ciphertext),
    };
    serde_json::to_vec(&envelope).map_err(|e| Error::Signing(e.to_string()))
}

/// Decrypts the JSON inside an encrypted cosign PEM, returning PKCS#8 DER.
///
/// Only the parameters cosign has ever written are accepted (scrypt N of 32768 or 65536, r = 8,
/// p = 1): a crafted file cannot make kiln spend minutes or gigabytes deriving a key.
pub(crate) fn decrypt(envelope_json: &[u8], password: &Password) -> Result<Zeroizing<Vec<u8>>> {
    let env: Envelope = serde_json::from_slice(envelope_json)
        .map_err(|e| Error::BadKey(format!("encrypted key envelope is not cosign's JSON: {e}")))?;
    if env.kdf.name != "scrypt" {
        return Err(Error::UnsupportedKey(format!(
            "key derivation {:?} (cosign uses scrypt)",
            env.kdf.name
        )));
    }
    if env.cipher.name != "nacl/secretbox" {
        return Err(Error::UnsupportedKey(format!(
            "cipher {:?} (cosign uses nacl/secretbox)",
            env.cipher.name
        )));
    }
    let ScryptParams { n, r, p } = env.kdf.params;
    if !(n == SCRYPT_N || n == SCRYPT_N_LEGACY) || r != SCRYPT_R || p != SCRYPT_P {
        return Err(Error::BadKey(format!(
            "scrypt parameters N={n} r={r} p={p} are not ones cosign writes (N 32768 or 65536, r 8, p 1)"
        )));
    }
    let salt =
        unb64("encrypted key salt", &env.kdf.salt).map_err(|e| Error::BadKey(e.to_string()))?;
    let nonce = unb64("encrypted key nonce", &env.cipher.nonce)
        .map_err(|e| Error::BadKey(e.to_string()))?;
    let ciphertext = unb64("encrypted key ciphertext", &env.ciphertext)
        .map_err(|e| Error::BadKey(e.to_string()))?;
    let nonce: [u8; 24] = nonce.try_into().map_err(|v: Vec<u8>| {
        Error::BadKey(format!("secretbox nonce is {} bytes, expected 24", v.len()))
    })?;
    if ciphertext.len() < 16 {
        return Err(Error::BadKey(
            "secretbox ciphertext is shorter than its 16-byte tag".into(),
        ));
    }
    let key = derive_key(password, &salt, n)?;
    let cipher = XSalsa20Poly1305::new(&(*key).into());
    cipher
        .decrypt(&nonce.into(), ciphertext.as_slice())
        .map(Zeroizing::new)
        .map_err(|_| Error::WrongPassword)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_field_order() {
        let pw = Password::from("pw");
        let json = encrypt(b"secret pkcs8", &pw).unwrap();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(
            text.starts_with(
                r#"{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":""#
            ),
            "{text}"
        );
        assert!(text.contains(r#""cipher":{"name":"nacl/secretbox","nonce":""#));
        assert_eq!(&*decrypt(&json, &pw).unwrap(), b"secret pkcs8");
        assert_eq!(
            decrypt(&json, &Password::from("nope"))
                .unwrap_err()
                .reason(),
            "decrypt"
        );
    }

    #[test]
    fn refuses_expensive_or_foreign_parameters() {
        let pw = Password::from("");
        let json = String::from_utf8(encrypt(b"k", &pw).unwrap()).unwrap();
        let costly = json.replace(r#""N":65536"#, r#""N":1073741824"#);
        assert_eq!(
            decrypt(costly.as_bytes(), &pw).unwrap_err().reason(),
            "bad-key"
        );
        let foreign = json.replace("nacl/secretbox", "aes-gcm");
        assert_eq!(
            decrypt(foreign.as_bytes(), &pw).unwrap_err().reason(),
            "unsupported-key"
        );
        assert_eq!(decrypt(b"{}", &pw).unwrap_err().reason(), "bad-key");
        assert_eq!(decrypt(b"\xff", &pw).unwrap_err().reason(), "bad-key");
    }
}
