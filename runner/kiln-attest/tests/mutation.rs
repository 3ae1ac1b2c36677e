//! A deterministic mutation loop over every interop-corpus file, fed to every parser and
//! verifier of the crate: malformed input must give an error, never a panic. This is what CI runs
//! of the fuzz targets in `fuzz/` (same calls, seeded mutations instead of libFuzzer).

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use kiln_attest::bundle::{self, Artifact, Bundle, VerifyOptions};
use kiln_attest::dsse::{self, Envelope};
use kiln_attest::intoto::Statement;
use kiln_attest::trust::{self, TrustedRoot};
use kiln_attest::{KeyPair, Password, PublicKey, blob};

/// xorshift64*: a fixed, dependency-free generator, so every run mutates the same way.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(3) {
        let len = out.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => out.truncate(rng.below(len)),
            2 => {
                let i = rng.below(len + 1);
                let b = [b'"', b'{', b'}', b'[', b'=', b'\n', b'-', 0, 0xff, b'9'][rng.below(10)];
                out.insert(i, b);
            }
            3 if len > 0 => {
                out.remove(rng.below(len));
            }
            4 if len > 1 => {
                let (a, b) = (rng.below(len), rng.below(len));
                let (a, b) = (a.min(b), a.max(b));
                let chunk = out[a..b].to_vec();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, chunk);
            }
            5 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next() as u8;
            }
            _ => out.extend_from_slice(b"\x00"),
        }
    }
    out
}

/// Every parser and verifier, on one input. Results are ignored: only panics matter.
fn exercise(data: &[u8], key: &PublicKey, root: &TrustedRoot, password: &Password) {
    let _ = PublicKey::read(data);
    let _ = KeyPair::read(data, None);
    let _ = KeyPair::read(data, Some(password));
    let text = String::from_utf8_lossy(data);
    let _ = blob::decode_signature(&text);
    let _ = blob::verify(key, &text, data);
    if let Ok(env) = Envelope::from_json(data) {
        let _ = dsse::verify(&env, &[key]);
        let _ = env.statement_unverified();
    }
    let _ = dsse::parse_jsonl(data);
    if let Ok(b) = Bundle::from_json(data) {
        let options = VerifyOptions {
            key: Some(key),
            trusted_root: Some(root),
            require_tlog: false,
        };
        let _ = bundle::verify(&b, Artifact::None, &options);
        let _ = bundle::verify(&b, Artifact::Bytes(data), &options);
    }
    if let Ok(st) = Statement::from_json(data) {
        let _ = kiln_attest::slsa::Provenance::from_statement(&st);
    }
    if let Ok(v) = serde_json::from_slice(data) {
        let _ = kiln_attest::slsa::Provenance::from_value(v);
    }
    let _ = TrustedRoot::from_json(data);
    if let Ok(certs) = trust::certificates_from_pem(data) {
        let _ = trust::certificate_identity(&certs[0]);
        let _ = trust::verify_certificate(&certs[0], &certs[1..], root, 1_700_000_000);
    }
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![
        common::corpus_root().join("cosign"),
        common::corpus_root().join("provenance"),
    ];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::metadata(&path).unwrap().len() <= 256 * 1024 {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn mutated_corpus_files_never_panic() {
    let pair = KeyPair::generate().unwrap();
    let root = common::public_good_root();
    let password = Password::from("123");
    let files = corpus_files();
    assert!(
        files.len() > 80,
        "corpus looks incomplete: {} files",
        files.len()
    );
    let mut rng = Rng(0x6b69_6c6e_6174_7465);
    let mut runs = 0;
    for path in &files {
        let original = std::fs::read(path).unwrap();
        // Encrypted keys cost a scrypt derivation whenever a mutant still parses: fewer of those.
        let rounds = if original.windows(9).any(|w| w == b"ENCRYPTED") {
            6
        } else {
            40
        };
        for round in 0..rounds {
            let input = if round == 0 {
                original.clone()
            } else {
                mutate(&mut rng, &original)
            };
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                exercise(&input, pair.public_key(), &root, &password)
            }));
            if outcome.is_err() {
                let dump = std::env::temp_dir().join("kiln-attest-mutation-crash.bin");
                std::fs::write(&dump, &input).unwrap();
                panic!(
                    "a parser panicked on a mutation of {} (round {round}); input saved to {}",
                    path.display(),
                    dump.display()
                );
            }
            runs += 1;
        }
    }
    println!("{runs} inputs from {} corpus files, no panic", files.len());
}

#[test]
fn huge_inputs_are_refused_quickly() {
    let huge = vec![b' '; 65 * 1024 * 1024];
    for reason in [
        Envelope::from_json(&huge).unwrap_err().reason(),
        Bundle::from_json(&huge).unwrap_err().reason(),
        Statement::from_json(&huge).unwrap_err().reason(),
        dsse::parse_jsonl(&huge).map(|_| ()).unwrap_err().reason(),
        PublicKey::read(&huge).unwrap_err().reason(),
        KeyPair::read(&huge, None).unwrap_err().reason(),
    ] {
        assert_eq!(reason, "too-large");
    }
    // Deep nesting is a parse error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        Envelope::from_json(deep.as_bytes()).unwrap_err().reason(),
        "not-json"
    );
    assert!(dsse::parse_jsonl(deep.as_bytes()).is_err());
}
