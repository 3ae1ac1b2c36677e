//! Issue 11, item 15: `--key` with an unencrypted private key was accepted silently.
//!
//! A plaintext key file is one anyone who can read it can sign with, and one an attacker can swap
//! for their own without kiln noticing (the review did exactly that through a symlink, item 1):
//! an encrypted key swapped for another does not decrypt with the owner's password. kiln now
//! refuses an unencrypted signing key, from `kiln build --key`, the buildspec's `kiln: signing:
//! key:` and `kiln sign-blob --key`, with a message that says how to encrypt it, unless
//! `--allow-unencrypted-key` is given. Encrypted keys (cosign's format, PBES2 PKCS#8) are unchanged.
//!
//! The unencrypted keys are made by `openssl`, independently of kiln.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Project;

const PASSWORD: &str = "a password for the review";

const SPEC: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p out && echo app > out/app.bin\nartifacts:\n  base-directory: out\n  files: ['**/*']\n  name: app\n";

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().expect("openssl (CI installs it)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// An unencrypted P-256 key (PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`) and its public key,
/// in `dir`.
fn plain_key(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("plain.key");
    let public = dir.join("plain.pub");
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key.to_str().unwrap()]);
    openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout", "-out", public.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&key).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    (key, public)
}

fn assert_refused(stderr: &str, key: &Path) {
    assert!(stderr.contains("not encrypted"), "{stderr}");
    assert!(stderr.contains(&key.display().to_string()), "names the key: {stderr}");
    assert!(stderr.contains("--allow-unencrypted-key"), "says how to accept it: {stderr}");
    assert!(stderr.contains("kiln generate-key-pair"), "says how to make an encrypted key: {stderr}");
}

#[test]
fn build_refuses_an_unencrypted_key_given_with_key() {
    let p = Project::new(SPEC);
    let (key, _) = plain_key(&p.side_dir("keys"));
    let out = p.run(&["build", p.src.to_str().unwrap(), "--key", key.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_refused(&out.stderr, &key);
    assert!(p.record_dirs().is_empty(), "no build ran");
}

#[test]
fn build_refuses_an_unencrypted_key_named_in_the_buildspec() {
    let p = Project::new(&format!("{SPEC}kiln:\n  signing:\n    key: ../keys/plain.key\n"));
    let (key, _) = plain_key(&p.side_dir("keys"));
    let out = p.run(&["build", p.src.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_refused(&out.stderr, &key.canonicalize().unwrap());
    assert!(p.record_dirs().is_empty(), "no build ran");
}

#[test]
fn allow_unencrypted_key_signs_with_it_and_the_provenance_verifies() {
    let p = Project::new(SPEC);
    let (key, public) = plain_key(&p.side_dir("keys"));
    let b = p.build(&["--key", key.to_str().unwrap(), "--allow-unencrypted-key"]);
    assert_eq!(b.code, 0, "{}", b.stderr);
    let record = b.record_dir();
    let out = p.run(&[
        "verify",
        "--key",
        public.to_str().unwrap(),
        "--provenance",
        record.join("provenance.intoto.jsonl").to_str().unwrap(),
        record.join("artifacts/app").to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
}

#[test]
fn sign_blob_refuses_an_unencrypted_key_unless_allowed() {
    let p = Project::empty();
    let (key, public) = plain_key(&p.side_dir("keys"));
    let file = p.write("a.txt", "hello\n");
    let k = key.to_str().unwrap();
    let out = p.run(&["sign-blob", "--key", k, "--output-signature", "a.sig", file.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_refused(&out.stderr, &key);

    // Raw DER is no different.
    let der = p.side_dir("keys").join("plain.der");
    openssl(&["pkey", "-in", k, "-outform", "DER", "-out", der.to_str().unwrap()]);
    let out = p.run(&["sign-blob", "--key", der.to_str().unwrap(), file.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_refused(&out.stderr, &der);

    let out = p.run(&["sign-blob", "--key", k, "--allow-unencrypted-key", "--output-signature", "a.sig", file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let sig = p.root().join("a.sig");
    let out = p.run(&["verify-blob", "--key", public.to_str().unwrap(), "--signature", sig.to_str().unwrap(), file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn a_key_encrypted_the_way_the_message_suggests_is_accepted() {
    // `openssl pkcs8 -topk8 -v2 aes-256-cbc`: the PBES2 `ENCRYPTED PRIVATE KEY` the help names.
    let p = Project::empty();
    let keys = p.side_dir("keys");
    let (key, public) = plain_key(&keys);
    let enc = keys.join("enc.key");
    openssl(&[
        "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", key.to_str().unwrap(), "-out", enc.to_str().unwrap(),
        "-passout", &format!("pass:{PASSWORD}"),
    ]);
    let file = p.write("a.txt", "hello\n");
    let mut c = p.kiln();
    c.env("COSIGN_PASSWORD", PASSWORD).args(["sign-blob", "--key"]).arg(&enc).args(["--output-signature", "a.sig"]).arg(&file);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sig = p.root().join("a.sig");
    let out = p.run(&["verify-blob", "--key", public.to_str().unwrap(), "--signature", sig.to_str().unwrap(), file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn public_key_still_reads_an_unencrypted_key() {
    // Printing the public half signs nothing; it stays a way to inspect any key.
    let p = Project::empty();
    let (key, public) = plain_key(&p.side_dir("keys"));
    let out = p.run(&["public-key", "--key", key.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected = std::fs::read_to_string(public).unwrap();
    assert_eq!(out.stdout.trim(), expected.trim());
}
