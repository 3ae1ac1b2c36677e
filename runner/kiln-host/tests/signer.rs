//! The `signer` world: the built-in dsse-signer signs through a host key it never sees, and a
//! hostile signer cannot open keys it was not granted, forge handles, or reach key files or the
//! environment.

use kiln_host::builtin::{self, test_components};
use kiln_host::{
    Host, HostConfig, HostKey, KeyStore, LoadedSigner, PluginError, PluginSource, SignSubject,
    SignerInvocation, SigningAlgorithm,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A test key: "signs" by recording what it was asked to sign and returning a tag.
struct FakeKey {
    signed: Mutex<Vec<Vec<u8>>>,
}

/// What a key file on the host holds; no signer can read it.
const SECRET: &str = "fake-private-key-material-7c1e";
const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAAAA\n-----END PUBLIC KEY-----\n";

impl HostKey for FakeKey {
    fn algorithm(&self) -> Option<SigningAlgorithm> {
        Some(SigningAlgorithm::EcdsaP256Sha256)
    }
    fn public_key_pem(&self) -> String {
        PEM.into()
    }
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        self.signed.lock().unwrap().push(data.to_vec());
        Ok(format!("sig({} bytes)", data.len()).into_bytes())
    }
}

struct Store(BTreeMap<String, Arc<FakeKey>>);

impl KeyStore for Store {
    fn key(&self, name: &str) -> Option<Arc<dyn HostKey>> {
        self.0.get(name).map(|k| k.clone() as Arc<dyn HostKey>)
    }
}

fn store() -> (Arc<Store>, Arc<FakeKey>) {
    let k = Arc::new(FakeKey { signed: Mutex::new(Vec::new()) });
    let other = Arc::new(FakeKey { signed: Mutex::new(Vec::new()) });
    let map = BTreeMap::from([("provenance".to_string(), k.clone()), ("release".to_string(), other)]);
    (Arc::new(Store(map)), k)
}

fn host() -> &'static Host {
    static H: OnceLock<Host> = OnceLock::new();
    H.get_or_init(|| {
        // SAFETY: set once before any plugin runs.
        unsafe { std::env::set_var("COSIGN_PASSWORD", "host-password-never-leaks") };
        Host::new(HostConfig::default()).unwrap()
    })
}

fn hostile() -> &'static LoadedSigner {
    static P: OnceLock<LoadedSigner> = OnceLock::new();
    P.get_or_init(|| host().load_signer(PluginSource::bytes("test-hostile-signer", test_components::TEST_HOSTILE_SIGNER)).unwrap())
}

fn subject() -> SignSubject {
    SignSubject { name: "provenance.intoto.jsonl".into(), sha256: "00".repeat(32), payload: br#"{"_type":"x"}"#.to_vec() }
}

async fn attack(config: serde_json::Value) -> Result<String, PluginError> {
    let (store, _) = store();
    let mut inv = SignerInvocation::new(store, ["provenance"]);
    inv.config = config;
    let out = hostile().sign(&inv, &[subject()]).await?;
    Ok(String::from_utf8(out.signatures[0].content.clone()).unwrap())
}

#[tokio::test]
async fn dsse_signer_signs_the_pae_through_the_host_key() {
    let signer = host().load_signer(builtin::get("dsse-signer").unwrap()).unwrap();
    let (keys, key) = store();
    let inv = SignerInvocation::new(keys, ["provenance"]);
    let out = signer.sign(&inv, &[subject()]).await.unwrap();
    assert_eq!(out.host_signatures, 1);
    assert_eq!(out.signatures.len(), 1);
    assert_eq!(out.signatures[0].media_type, "application/vnd.dsse.envelope.v1+json");
    let signed = key.signed.lock().unwrap().clone();
    assert_eq!(signed, vec![b"DSSEv1 28 application/vnd.in-toto+json 13 {\"_type\":\"x\"}".to_vec()]);
    let env: serde_json::Value = serde_json::from_slice(&out.signatures[0].content).unwrap();
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
    assert_eq!(env["payload"], "eyJfdHlwZSI6IngifQ==");
    // sha256 of the DER in PEM, lower-case hex.
    assert_eq!(env["signatures"][0]["keyid"].as_str().unwrap().len(), 64);
    // "sig(55 bytes)", base64: what the host key returned, unchanged.
    assert_eq!(env["signatures"][0]["sig"], "c2lnKDU1IGJ5dGVzKQ==");

    // Not granted: the same plugin cannot sign at all.
    let (other, _) = store();
    let e = signer.sign(&SignerInvocation::new(other, ["release"]), &[subject()]).await.unwrap_err();
    assert!(e.to_string().contains("unknown key: no key \"provenance\" is granted"), "{e}");
}

#[tokio::test]
async fn an_ungranted_or_forged_key_name_is_unknown_key() {
    // Exists in the store but not granted.
    let r = attack(serde_json::json!({"attack": "open", "name": "release"})).await.unwrap();
    assert_eq!(r, "blocked: \"release\": unknown-key(no key \"release\" is granted to this plugin)");
    // Does not exist at all: the same answer, so names cannot be probed.
    let r = attack(serde_json::json!({"attack": "open", "name": "nope"})).await.unwrap();
    assert_eq!(r, "blocked: \"nope\": unknown-key(no key \"nope\" is granted to this plugin)");
    let r = attack(serde_json::json!({"attack": "guess"})).await.unwrap();
    assert_eq!(r, "blocked: every guessed name");
    // The granted one works and gives signatures and the public key only.
    let r = attack(serde_json::json!({"attack": "granted", "name": "provenance"})).await.unwrap();
    assert!(r.starts_with("signed: "), "{r}");
}

#[tokio::test]
async fn a_forged_resource_handle_traps() {
    for handle in ["0", "1", "2", "7", "4294967295"] {
        let e = attack(serde_json::json!({"attack": "forge-handle", "handle": handle})).await.unwrap_err();
        assert!(matches!(e, PluginError::Trap { .. }), "handle {handle}: {e}");
    }
    // The host is still usable afterwards.
    assert!(attack(serde_json::json!({"attack": "granted", "name": "provenance"})).await.unwrap().starts_with("signed"));
}

#[tokio::test]
async fn a_signer_sees_no_files_and_no_environment() {
    let key_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key_file.path(), SECRET).unwrap();
    for path in [key_file.path().to_str().unwrap(), "/etc/passwd", "/proc/self/environ", "/src/x", "/out/x", "cosign.key", "../cosign.key"] {
        let r = attack(serde_json::json!({"attack": "read", "path": path})).await.unwrap();
        assert!(r.starts_with("blocked:"), "{path}: {r}");
    }
    let r = attack(serde_json::json!({"attack": "list-root"})).await.unwrap();
    assert!(r.starts_with("blocked:"), "{r}");
    let r = attack(serde_json::json!({"attack": "env"})).await.unwrap();
    assert_eq!(r, "blocked: empty environment");
}

#[tokio::test]
async fn worlds_do_not_mix() {
    let e = host().load_signer(builtin::get("hello-step").unwrap()).unwrap_err();
    assert!(matches!(e, PluginError::UnsupportedWorld { .. }), "{e}");
    let e = host().load(builtin::get("dsse-signer").unwrap()).unwrap_err();
    assert!(matches!(e, PluginError::UnsupportedWorld { .. }), "{e}");
}
