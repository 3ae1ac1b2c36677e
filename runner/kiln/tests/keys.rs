//! `kiln generate-key-pair`, `public-key`, `sign-blob`, `verify-blob` through the real binary, with
//! passwords only from the environment; tampering and wrong inputs are rejected with distinct exits.

use assert_cmd::Command;

fn kiln(dir: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("kiln").unwrap();
    c.current_dir(dir).env("COSIGN_PASSWORD", "correct horse").env_remove("KILN_PASSWORD");
    c
}

#[test]
fn keys_sign_and_verify_like_cosign() {
    let d = tempfile::tempdir().unwrap();
    kiln(d.path()).arg("generate-key-pair").assert().success().stderr(predicates::str::contains("Private key written to"));
    let key = std::fs::read_to_string(d.path().join("cosign.key")).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"), "{key}");
    assert!(!key.contains("correct horse"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(d.path().join("cosign.key")).unwrap().permissions().mode() & 0o777, 0o600);
    // A second run refuses to replace the key.
    kiln(d.path()).arg("generate-key-pair").assert().code(2);

    let public = kiln(d.path()).args(["public-key", "--key", "cosign.key"]).output().unwrap();
    assert_eq!(public.stdout, std::fs::read(d.path().join("cosign.pub")).unwrap());

    std::fs::write(d.path().join("a.txt"), "artifact\n").unwrap();
    let sig = kiln(d.path()).args(["sign-blob", "--key", "cosign.key", "--bundle", "a.bundle", "a.txt"]).output().unwrap();
    assert!(sig.status.success());
    std::fs::write(d.path().join("a.sig"), &sig.stdout).unwrap();
    kiln(d.path()).args(["verify-blob", "--key", "cosign.pub", "--signature", "a.sig", "a.txt"]).assert().success().stderr("Verified OK\n");
    kiln(d.path()).args(["verify-blob", "--key", "cosign.pub", "--bundle", "a.bundle", "a.txt"]).assert().success();
    let bundle: serde_json::Value = serde_json::from_slice(&std::fs::read(d.path().join("a.bundle")).unwrap()).unwrap();
    assert_eq!(bundle["mediaType"], "application/vnd.dev.sigstore.bundle.v0.3+json");

    // Tampered artifact, tampered signature, the wrong key: verification fails (exit 1).
    std::fs::write(d.path().join("b.txt"), "artifact!\n").unwrap();
    kiln(d.path()).args(["verify-blob", "--key", "cosign.pub", "--signature", "a.sig", "b.txt"]).assert().code(1);
    kiln(d.path()).args(["verify-blob", "--key", "cosign.pub", "--bundle", "a.bundle", "b.txt"]).assert().code(1);
    let mut bad = sig.stdout.clone();
    bad[10] = if bad[10] == b'A' { b'B' } else { b'A' };
    std::fs::write(d.path().join("bad.sig"), bad).unwrap();
    kiln(d.path()).args(["verify-blob", "--key", "cosign.pub", "--signature", "bad.sig", "a.txt"]).assert().code(1);
    let other = tempfile::tempdir().unwrap();
    kiln(other.path()).arg("generate-key-pair").assert().success();
    let other_pub = other.path().join("cosign.pub");
    kiln(d.path()).args(["verify-blob", "--key"]).arg(&other_pub).args(["--signature", "a.sig", "a.txt"]).assert().code(1);
    // Unreadable input is exit 2.
    kiln(d.path()).args(["verify-blob", "--key", "missing.pub", "--signature", "a.sig", "a.txt"]).assert().code(2);
}

#[test]
fn wrong_password_and_corrupt_keys_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    kiln(d.path()).arg("generate-key-pair").assert().success();
    kiln(d.path()).env("COSIGN_PASSWORD", "wrong").args(["public-key", "--key", "cosign.key"]).assert().code(2).stderr(predicates::str::contains("wrong password"));
    std::fs::write(d.path().join("junk.key"), "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nnot base64\n").unwrap();
    kiln(d.path()).args(["public-key", "--key", "junk.key"]).assert().code(2).stderr(predicates::str::contains("junk.key"));
    // Without a password in the environment and no terminal, kiln says how to give one.
    let mut c = Command::cargo_bin("kiln").unwrap();
    c.current_dir(d.path()).env_remove("COSIGN_PASSWORD").env_remove("KILN_PASSWORD");
    c.args(["public-key", "--key", "cosign.key"]).assert().code(2).stderr(predicates::str::contains("COSIGN_PASSWORD"));
}
