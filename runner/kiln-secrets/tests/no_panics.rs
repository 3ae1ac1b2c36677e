//! Arbitrary input never panics, and masking never lets a secret through.

mod common;

use common::{Rng, contains, stream_all};
use kiln_secrets::{FileProvider, Masker, Provider, SecretRef, extract_json_key};

#[test]
fn masking_random_secrets_and_text() {
    let alphabet = [
        'a', 'b', 'c', '1', ' ', '\n', '\r', '%', '+', '/', '=', '"', '\\', 'é', '😀', '\u{0}',
    ];
    let mut rng = Rng::new(11);
    for round in 0..600 {
        let count = 1 + rng.below(4);
        let secrets: Vec<String> = (0..count)
            .map(|_| {
                let len = rng.below(12);
                rng.string_from(&alphabet, len)
            })
            .collect();
        let masker = Masker::new(&secrets).unwrap();
        for _ in 0..5 {
            let mut text = Vec::new();
            for _ in 0..rng.below(8) {
                match rng.below(3) {
                    0 => text.extend_from_slice(rng.pick::<String>(&secrets).as_bytes()),
                    1 => {
                        let len = rng.below(6);
                        text.extend(rng.string_from(&alphabet, len).into_bytes());
                    }
                    _ => {
                        let len = rng.below(6);
                        text.extend(rng.bytes(len));
                    }
                }
            }
            let batch = masker.mask_bytes(&text);
            for s in &secrets {
                if s.len() >= kiln_secrets::DEFAULT_MIN_LEN {
                    assert!(
                        !contains(&batch, s.as_bytes()),
                        "round {round}: {s:?} survived in {batch:?}"
                    );
                }
            }
            let max_chunk = 1 + rng.below(9);
            let chunks = rng.chunks(&text, max_chunk);
            assert_eq!(stream_all(&masker, &chunks), batch, "round {round}");
            if let Ok(s) = std::str::from_utf8(&text) {
                assert_eq!(masker.mask_str(s).as_bytes(), batch.as_slice());
            }
        }
    }
}

#[test]
fn random_binary_secrets_as_lossy_strings() {
    let mut rng = Rng::new(12);
    for _ in 0..200 {
        let len = rng.below(40);
        let secret = String::from_utf8_lossy(&rng.bytes(len)).into_owned();
        let masker = Masker::new([&secret]).unwrap();
        let len = rng.below(200);
        let hay = rng.bytes(len);
        let _ = masker.mask_bytes(&hay);
        let chunks = rng.chunks(&hay, 13);
        let _ = stream_all(&masker, &chunks);
    }
}

#[test]
fn random_yaml_never_panics() {
    let fragments = [
        "parameters:",
        "secrets:",
        "\n",
        "  ",
        "/a: ",
        "x",
        "'",
        "\"",
        "{",
        "}",
        "[",
        "]",
        ":",
        "- ",
        "versions:",
        "AWSCURRENT: ",
        "&a ",
        "*a",
        "!tag ",
        "~",
        "1.5",
        "true",
        "#",
        "\t",
        "é",
        "? ",
        ",",
        "|\n",
        ">\n",
    ];
    let mut rng = Rng::new(13);
    for _ in 0..5_000 {
        let mut text = String::new();
        for _ in 0..rng.below(30) {
            text.push_str(rng.pick::<&str>(&fragments));
        }
        if let Ok(p) = FileProvider::parse("fuzz.yml", &text) {
            let _ = p.parameter("/a");
            let _ = p.secret("x", Some("AWSPREVIOUS"), None);
        }
    }
}

#[test]
fn random_references_and_json_never_panic() {
    let mut rng = Rng::new(14);
    let ref_alphabet = [':', 'a', 'r', 'n', '/', '-', '1', 'é', ' '];
    let json_alphabet = [
        '{', '}', '[', ']', '"', ':', ',', 'a', '1', 'n', 'u', 'l', ' ', '\\',
    ];
    for _ in 0..20_000 {
        let len = rng.below(40);
        let reference = rng.string_from(&ref_alphabet, len);
        let _ = SecretRef::parse(&reference);
        let len = rng.below(30);
        let json = rng.string_from(&json_alphabet, len);
        let _ = extract_json_key(&json, "a");
    }
}
