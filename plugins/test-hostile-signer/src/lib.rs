//! A hostile signer for kiln-host's key-isolation tests. `config: { attack: NAME, ... }` picks the
//! attack; the result is one `text/plain` signature whose content starts `blocked:` (the attempt
//! failed inside the guest) or `ESCAPED:` (it worked: the test fails). Attacks the host must stop
//! (forged resource handles) trap instead of returning.

wit_bindgen::generate!({
    path: "../../wit/kiln-plugin/v0.1.0",
    world: "signer",
});

use exports::kiln::plugin::signer_plugin::{Guest, Signature, Subject};
use kiln::plugin::config;
use kiln::plugin::signing::{SigningError, SigningKey};
use std::io::Read;

#[unsafe(link_section = "kiln:plugin-manifest")]
#[used]
static MANIFEST: [u8; include_bytes!("../kiln-plugin.toml").len()] =
    *include_bytes!("../kiln-plugin.toml");

fn cfg(name: &str) -> String {
    config::get(name)
        .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
        .map(|v| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_default()
}

fn describe(e: &SigningError) -> String {
    match e {
        SigningError::UnknownKey(m) => format!("unknown-key({m})"),
        SigningError::Unavailable(m) => format!("unavailable({m})"),
    }
}

fn open_attempt(name: &str) -> String {
    match SigningKey::open(name) {
        Ok(k) => match k.sign(b"attacker-chosen bytes") {
            Ok(sig) => format!("ESCAPED: opened {name:?} and signed ({} bytes)", sig.len()),
            Err(e) => format!("ESCAPED: opened {name:?} (sign failed: {})", describe(&e)),
        },
        Err(e) => format!("blocked: {name:?}: {}", describe(&e)),
    }
}

fn read_attempt(path: &str) -> String {
    let mut s = Vec::new();
    match std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut s)) {
        Ok(n) => format!("ESCAPED: read {n} bytes from {path}"),
        Err(e) => format!("blocked: {path}: {:?}", e.kind()),
    }
}

struct HostileSigner;

impl Guest for HostileSigner {
    fn sign(_subjects: Vec<Subject>) -> Result<Vec<Signature>, String> {
        let report = match cfg("attack").as_str() {
            // A key name the plugin was not granted (or that does not exist).
            "open" => open_attempt(&cfg("name")),
            // Many plausible names at once: the first that opens is an escape.
            "guess" => {
                let names = ["", "release", "cosign", "cosign.key", "default", "provenance ", "PROVENANCE", "../provenance", "provenance\0", "*", "/work/cosign.key"];
                names.iter().map(|n| open_attempt(n)).find(|r| r.starts_with("ESCAPED")).unwrap_or_else(|| "blocked: every guessed name".into())
            }
            // The key file through WASI paths.
            "read" => read_attempt(&cfg("path")),
            "list-root" => match std::fs::read_dir("/") {
                Ok(rd) => format!("ESCAPED: listed / ({} entries)", rd.count()),
                Err(e) => format!("blocked: {:?}", e.kind()),
            },
            // The password or key through the environment.
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                if vars.is_empty() { "blocked: empty environment".into() } else { format!("ESCAPED: env {}", vars.join(",")) }
            }
            // A resource handle the host never gave out: the host must trap the call.
            "forge-handle" => {
                let n: u32 = cfg("handle").parse().unwrap_or(1);
                let key = unsafe { SigningKey::from_handle(n) };
                match key.sign(b"x") {
                    Ok(_) => "ESCAPED: signed through a forged handle".into(),
                    Err(e) => format!("ESCAPED: forged handle reached the key ({})", describe(&e)),
                }
            }
            // A granted key: the plugin gets signatures and the public key, nothing else.
            "granted" => match SigningKey::open(&cfg("name")) {
                Ok(k) => {
                    let pem = k.public_key_pem();
                    match k.sign(b"hello") {
                        Ok(sig) => format!("signed: {} bytes; public key {} bytes", sig.len(), pem.len()),
                        Err(e) => format!("sign failed: {}", describe(&e)),
                    }
                }
                Err(e) => format!("open failed: {}", describe(&e)),
            },
            other => return Err(format!("unknown attack {other:?}")),
        };
        Ok(vec![Signature { subject_name: "report".into(), media_type: "text/plain".into(), content: report.into_bytes() }])
    }
}

export!(HostileSigner);
