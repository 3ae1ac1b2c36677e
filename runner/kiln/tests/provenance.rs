//! Signed provenance at the end of every build, and `kiln verify` against it: the happy path, each
//! tamper case rejected with its reason, the ephemeral-key path, secrets kept out, and an
//! independent check of the DSSE signature with Python's `cryptography`.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::Project;

const PASSWORD: &str = "provenance test password";
const SPEC: &str = "version: 0.2\nenv:\n  parameter-store:\n    TOKEN: /ci/token\nphases:\n  build:\n    commands:\n      - mkdir -p out && echo app > out/app.bin && echo lib > out/lib.so\n      - echo \"token is $TOKEN\"\nartifacts:\n  base-directory: out\n  files: ['**/*']\n  name: app\n";
const TOKEN: &str = "tok-3f9a1c7e5b2d";

struct Signed {
    p: Project,
    keys: tempfile::TempDir,
}

impl Signed {
    fn new(spec: &str) -> Signed {
        let keys = tempfile::tempdir().unwrap();
        Command::cargo_bin("kiln").unwrap().current_dir(keys.path()).env("COSIGN_PASSWORD", PASSWORD).arg("generate-key-pair").assert().success();
        Signed { p: Project::new(spec), keys }
    }
    fn key(&self, name: &str) -> PathBuf {
        self.keys.path().join(name)
    }
    fn build(&self, extra: &[&str]) -> common::Build {
        let key = self.key("cosign.key");
        let mut args = vec!["--key", key.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.p.build_with(&args, |c| {
            c.env("COSIGN_PASSWORD", PASSWORD).env("KILN_PARAM__CI_TOKEN", TOKEN);
        })
    }
    fn verify(&self, b: &common::Build, key: &Path, extra: &[&str]) -> std::process::Output {
        let mut c = Command::cargo_bin("kiln").unwrap();
        c.arg("verify").arg("--key").arg(key).arg("--provenance").arg(b.record_dir().join("provenance.intoto.jsonl")).args(extra);
        c.arg(b.record_dir().join("artifacts/app"));
        c.output().unwrap()
    }
}

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn provenance_verifies_and_every_tamper_is_rejected_with_its_reason() {
    let s = Signed::new(SPEC);
    let b = s.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let prov = b.record_dir().join("provenance.intoto.jsonl");
    let ok = s.verify(&b, &s.key("cosign.pub"), &[]);
    assert_eq!(code(&ok), 0, "{}", String::from_utf8_lossy(&ok.stdout));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("Verified OK"));

    // The wrong key.
    let other = tempfile::tempdir().unwrap();
    Command::cargo_bin("kiln").unwrap().current_dir(other.path()).env("COSIGN_PASSWORD", "x").arg("generate-key-pair").assert().success();
    let o = s.verify(&b, &other.path().join("cosign.pub"), &[]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAILED  signature"));

    // A different builder than required.
    let o = s.verify(&b, &s.key("cosign.pub"), &["--builder-id", "https://example.com/other"]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAILED  builder: expected https://example.com/other"));

    // A modified payload (a swapped subject digest) and a modified signature.
    let original = std::fs::read_to_string(&prov).unwrap();
    let mut env: serde_json::Value = serde_json::from_str(original.trim()).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = String::from_utf8(b64.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    let app_digest = kiln_engine::sha256_hex(b"app\n");
    assert!(payload.contains(&app_digest));
    env["payload"] = b64.encode(payload.replace(&app_digest, &kiln_engine::sha256_hex(b"evil\n"))).into();
    std::fs::write(&prov, format!("{env}\n")).unwrap();
    let o = s.verify(&b, &s.key("cosign.pub"), &[]);
    assert_eq!(code(&o), 1, "modified payload");
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAILED  signature"), "{}", String::from_utf8_lossy(&o.stdout));
    let mut env: serde_json::Value = serde_json::from_str(original.trim()).unwrap();
    let mut sig = b64.decode(env["signatures"][0]["sig"].as_str().unwrap()).unwrap();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    env["signatures"][0]["sig"] = b64.encode(sig).into();
    std::fs::write(&prov, format!("{env}\n")).unwrap();
    let o = s.verify(&b, &s.key("cosign.pub"), &[]);
    assert_eq!(code(&o), 1, "modified signature");
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAILED  signature"), "{}", String::from_utf8_lossy(&o.stdout));
    // A truncated file cannot be read: exit 2.
    std::fs::write(&prov, &original[..original.len() / 2]).unwrap();
    assert_eq!(code(&s.verify(&b, &s.key("cosign.pub"), &[])), 2, "truncated envelope");
    std::fs::write(&prov, &original).unwrap();

    // A modified artifact.
    std::fs::write(b.record_dir().join("artifacts/app/app.bin"), "app2\n").unwrap();
    let o = s.verify(&b, &s.key("cosign.pub"), &[]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stdout).contains("is not a subject"));
}

#[test]
fn no_secret_key_or_password_reaches_anything_the_build_wrote() {
    let s = Signed::new(SPEC);
    let b = s.build(&["--env", &format!("COPY={TOKEN}")]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let key_pem = std::fs::read_to_string(s.key("cosign.key")).unwrap();
    let key_body: String = key_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let payload_of = |path: &Path| -> String {
        let env: serde_json::Value = serde_json::from_str(std::fs::read_to_string(path).unwrap().trim()).unwrap();
        use base64::Engine as _;
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap()
    };
    let statement = payload_of(&b.record_dir().join("provenance.intoto.jsonl"));
    assert!(statement.contains("\"name\":\"COPY\"") && statement.contains("***"), "{statement}");
    for entry in walk(&s.p.src.join(".kiln")) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        for (what, needle) in [("the secret", TOKEN), ("the password", PASSWORD), ("the private key", &key_body[..40])] {
            assert!(!text.contains(needle), "{} contains {what}", entry.display());
        }
    }
    assert!(!statement.contains(TOKEN));
}

#[test]
fn without_a_key_the_provenance_is_signed_with_an_ephemeral_key_and_says_so() {
    let p = Project::new(SPEC);
    let b = p.build_with(&[], |c| {
        c.env("KILN_PARAM__CI_TOKEN", TOKEN);
    });
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert!(b.stderr.contains("WARNING: UNVERIFIABLE PROVENANCE"), "{}", b.stderr);
    assert!(b.stderr.contains("signed with an ephemeral key"), "{}", b.stderr);
    // Recorded in the signed statement too, not only printed.
    let env: serde_json::Value = serde_json::from_str(std::fs::read_to_string(b.record_dir().join("provenance.intoto.jsonl")).unwrap().trim()).unwrap();
    use base64::Engine as _;
    let st: serde_json::Value = serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    let signing = &st["predicate"]["buildDefinition"]["internalParameters"]["signing"];
    assert_eq!(signing["key"], "ephemeral", "{signing}");
    assert!(signing["warning"].as_str().unwrap().contains("proves nothing beyond this build"), "{signing}");
    let ephemeral = b.record_dir().join("provenance.pub");
    let mut c = Command::cargo_bin("kiln").unwrap();
    c.arg("verify").arg("--key").arg(&ephemeral).arg("--provenance").arg(b.record_dir().join("provenance.intoto.jsonl"));
    c.arg(b.record_dir().join("artifacts/app")).assert().success();
}

#[test]
fn a_failed_build_gets_provenance_marked_failed() {
    let s = Signed::new("version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p out && echo app > out/app.bin\n      - 'false'\nartifacts:\n  base-directory: out\n  files: ['**/*']\n  name: app\n");
    let b = s.build(&[]);
    assert_eq!(b.status(), "FAILED");
    let o = s.verify(&b, &s.key("cosign.pub"), &[]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAILED  build status: expected SUCCEEDED, found FAILED"));
    assert_eq!(code(&s.verify(&b, &s.key("cosign.pub"), &["--allow-failed"])), 0);
}

#[test]
fn python_cryptography_verifies_the_envelope_signature() {
    let s = Signed::new(SPEC);
    let b = s.build(&[]);
    let script = r#"
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
env = json.loads(open(sys.argv[2]).readline())
payload = base64.b64decode(env["payload"])
t = env["payloadType"].encode()
pae = b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)
key.verify(base64.b64decode(env["signatures"][0]["sig"]), pae, ec.ECDSA(hashes.SHA256()))
stmt = json.loads(payload)
assert stmt["_type"] == "https://in-toto.io/Statement/v1" and stmt["predicateType"] == "https://slsa.dev/provenance/v1"
print("python verified", len(stmt["subject"]), "subjects")
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(s.key("cosign.pub"))
        .arg(b.record_dir().join("provenance.intoto.jsonl"))
        .output()
        .expect("python3 (CI installs the `cryptography` package)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "python verified 2 subjects");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn a_policy_file_adds_named_checks() {
    let s = Signed::new(SPEC);
    let b = s.build(&[]);
    let policy = s.keys.path().join("policy.yml");
    std::fs::write(&policy, "version: 1\nbuilders: [https://kiln.dev/builders/local/v1]\nallow-failed-builds: false\n").unwrap();
    let o = s.verify(&b, &s.key("cosign.pub"), &["--policy", policy.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ok      policy: builder"));

    std::fs::write(&policy, "version: 1\nbuilders: [https://ci.example.com/builder]\nplugins:\n  required: [{name: secrets-scan}]\nscanners:\n  - {name: sast, max-severity: medium}\n").unwrap();
    let o = s.verify(&b, &s.key("cosign.pub"), &["--policy", policy.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 1, "{out}");
    assert!(out.contains("FAILED  policy: builder: expected one of [\"https://ci.example.com/builder\"]"), "{out}");
    assert!(out.contains("FAILED  policy: required plugin secrets-scan: it did not run in this build"), "{out}");
    assert!(out.contains("FAILED  policy: scanner sast: the scanner did not run in this build"), "{out}");

    // A broken policy is an unreadable input (exit 2) with its position.
    std::fs::write(&policy, "version: 1\nbuilderz: []\n").unwrap();
    let o = s.verify(&b, &s.key("cosign.pub"), &["--policy", policy.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("policy.yml:2:1"), "{}", String::from_utf8_lossy(&o.stderr));
}
