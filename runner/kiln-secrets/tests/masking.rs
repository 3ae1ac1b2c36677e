//! `Masker`: plain values and their encodings.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use common::{Rng, contains};
use kiln_secrets::mask::{base64_middle, variants};
use kiln_secrets::{Masker, Resolved, Source};

fn masker(secrets: &[&str]) -> Masker {
    Masker::new(secrets).unwrap()
}

#[test]
fn plain_values() {
    let m = masker(&["hunter2-pass"]);
    assert_eq!(m.mask_str("pw=hunter2-pass"), "pw=***");
    assert_eq!(m.mask_str("hunter2-pass hunter2-pass"), "*** ***");
    assert_eq!(m.mask_str("hunter2-pas"), "hunter2-pas");
    assert_eq!(m.mask_str(""), "");
    assert_eq!(
        m.mask_bytes(b"\xff\xfehunter2-pass\x00"),
        b"\xff\xfe***\x00"
    );
    let m = masker(&["pässwörd-ü"]);
    assert_eq!(m.mask_str("ä pässwörd-ü ö"), "ä *** ö");
}

#[test]
fn trimmed_form_is_masked_too() {
    let m = masker(&["token-1234\n"]);
    assert_eq!(m.mask_str("auth: token-1234 ok"), "auth: *** ok");
}

#[test]
fn base64_standalone_both_alphabets_padded_and_unpadded() {
    // Bytes chosen so the standard and URL-safe alphabets differ (+/ vs -_).
    let secret = "s3cr3t>>>???~~~";
    let m = masker(&[secret]);
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        let encoded = engine.encode(secret);
        let masked = m.mask_str(&format!("echo {encoded} | base64 -d"));
        assert_eq!(masked, "echo *** | base64 -d", "{encoded}");
    }
    assert_ne!(STANDARD.encode(secret), URL_SAFE.encode(secret));
    for len in 4..12 {
        let s: String = "abcdefghijkl"[..len].to_string();
        let m = masker(&[&s]);
        let padded = STANDARD.encode(&s);
        assert_eq!(m.mask_str(&format!("<{padded}>")), "<***>", "len {len}");
    }
}

#[test]
fn base64_middle_matches_the_definition() {
    // offset 0 of "Man" is exactly its encoding.
    assert_eq!(base64_middle(&STANDARD_NO_PAD, b"Man", 0), b"TWFu");
    // For every offset and surrounding bytes, the middle is a substring of
    // the encoding of the whole stream.
    let mut rng = Rng::new(1);
    for _ in 0..500 {
        let len = 4 + rng.below(20);
        let secret = rng.bytes(len);
        for offset in 0..3 {
            let prefix_groups = rng.below(3);
            let mut stream = rng.bytes(prefix_groups * 3 + offset);
            stream.extend_from_slice(&secret);
            let tail = rng.below(5);
            stream.extend(rng.bytes(tail));
            for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                let middle = base64_middle(engine, &secret, offset);
                assert!(!middle.is_empty());
                assert!(contains(engine.encode(&stream).as_bytes(), &middle));
            }
        }
    }
}

#[test]
fn base64_embedded_in_a_longer_stream_at_every_offset() {
    let secret = "db-password-Zq9!+/~";
    let m = masker(&[secret]);
    let mut rng = Rng::new(2);
    for prefix_len in 0..9 {
        for suffix_len in 0..5 {
            let mut stream = rng.bytes(prefix_len);
            stream.extend_from_slice(secret.as_bytes());
            stream.extend(rng.bytes(suffix_len));
            for (padded, unpadded) in [(&STANDARD, &STANDARD_NO_PAD), (&URL_SAFE, &URL_SAFE_NO_PAD)]
            {
                let encoded = padded.encode(&stream);
                let out = m.mask_str(&format!("Authorization: Basic {encoded}\n"));
                assert!(out.contains("***"), "offset {prefix_len}: {out}");
                let middle = base64_middle(unpadded, secret.as_bytes(), prefix_len % 3);
                assert!(
                    !contains(out.as_bytes(), &middle),
                    "offset {prefix_len}: {out}"
                );
            }
        }
    }
}

#[test]
fn url_encoded_forms() {
    let secret = "p@ss w/rd&x=1+2é";
    let m = masker(&[secret]);
    for encoded in [
        "p%40ss%20w%2Frd%26x%3D1%2B2%C3%A9",
        "p%40ss+w%2Frd%26x%3D1%2B2%C3%A9",
        "p%40ss%20w%2frd%26x%3d1%2b2%c3%a9",
        "p%40ss+w%2frd%26x%3d1%2b2%c3%a9",
    ] {
        assert_eq!(
            m.mask_str(&format!("GET /login?pw={encoded}&u=me")),
            "GET /login?pw=***&u=me",
            "{encoded}"
        );
    }
    let m = masker(&["it's (ok)!*"]);
    assert_eq!(m.mask_str("q=it's%20(ok)!*"), "q=***");
    assert_eq!(m.mask_str("q=it%27s%20%28ok%29%21%2A"), "q=***");
}

#[test]
fn json_escaped_forms() {
    let secret = "line1\n\"quoted\"\\tab\tslash/é😀";
    let m = masker(&[secret]);
    let serde_form = serde_json::to_string(secret).unwrap();
    assert_eq!(
        m.mask_str(&format!("{{\"pw\":{serde_form}}}")),
        "{\"pw\":\"***\"}"
    );
    let slash = serde_form.replace('/', "\\/");
    assert_eq!(
        m.mask_str(&format!("{{\"pw\":{slash}}}")),
        "{\"pw\":\"***\"}"
    );
    let python = r#""line1\n\"quoted\"\\tab\tslash/\u00e9\ud83d\ude00""#;
    assert_eq!(
        m.mask_str(&format!("{{\"pw\": {python}}}")),
        "{\"pw\": \"***\"}"
    );
}

#[test]
fn overlapping_and_nested_secrets() {
    let m = masker(&["abcdef", "defghi"]);
    assert_eq!(
        m.mask_str("xxabcdefghiyy"),
        "xx***yy",
        "no tail of the second secret leaks"
    );
    assert_eq!(m.mask_str("abcdef defghi"), "*** ***");
    assert_eq!(
        m.mask_str("abcdefdefghi"),
        "******",
        "adjacent, not overlapping"
    );
    let m = masker(&["secret", "my-secret-value", "value-2"]);
    assert_eq!(m.mask_str("a my-secret-value-2 b"), "a *** b");
    assert_eq!(m.mask_str("a secret b"), "a *** b");
    let m = masker(&["aaaa"]);
    assert_eq!(m.mask_str("baaaaaaaaab"), "b***b");
    assert_eq!(m.mask_str("aaa"), "aaa");
}

#[test]
fn multi_line_secrets() {
    let key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkq\nhkiG9w0BAQEFAASC\n-----END KEY-----";
    let m = masker(&[key]);
    assert_eq!(m.mask_str(&format!("key:\n{key}\nend")), "key:\n***\nend");
    assert_eq!(
        m.mask_str(&format!("tty:\r\n{}\r\n", key.replace('\n', "\r\n"))),
        "tty:\r\n***\r\n"
    );
    assert_eq!(m.mask_str("partial: hkiG9w0BAQEFAASC"), "partial: ***");
    let one_line = key.replace('\n', "\\n");
    assert_eq!(m.mask_str(&format!("\"{one_line}\"")), "\"***\"");
}

#[test]
fn short_values_are_skipped_and_reported() {
    let m = Masker::builder()
        .secret("PIN", "123")
        .secret("EMPTY", "")
        .secret("TOKEN", "abcd")
        .build()
        .unwrap();
    assert_eq!(m.skipped(), ["PIN"]);
    assert_eq!(m.mask_str("123 abcd"), "123 ***");
    let strict = Masker::builder()
        .min_len(8)
        .secret("TOKEN", "abcd")
        .build()
        .unwrap();
    assert!(strict.is_empty());
    assert_eq!(strict.skipped(), ["TOKEN"]);
    let loose = Masker::builder()
        .min_len(0)
        .secret("PIN", "1")
        .build()
        .unwrap();
    assert_eq!(loose.mask_str("a1b"), "a***b");
    // Derived forms shorter than the minimum are dropped too.
    assert!(variants("abcd", 4).iter().all(|p| p.len() >= 4));
}

#[test]
fn empty_masker_passes_everything_through() {
    let m = Masker::new(Vec::<String>::new()).unwrap();
    assert!(m.is_empty());
    assert_eq!(m.max_pattern_len(), 0);
    assert_eq!(m.mask_str("anything at all"), "anything at all");
    let mut s = m.stream();
    assert_eq!(s.push(b"abc"), b"abc");
    assert_eq!(s.finish(), b"");
}

#[test]
fn from_resolved_labels_and_debug_redaction() {
    let resolved = vec![
        Resolved {
            var: "DB_PW".into(),
            value: "database-pw-42".into(),
            source: Source::SecretsManager,
            provider: "env".into(),
        },
        Resolved {
            var: "PIN".into(),
            value: "7".into(),
            source: Source::ParameterStore,
            provider: "env".into(),
        },
    ];
    let m = Masker::from_resolved(&resolved).unwrap();
    assert_eq!(m.skipped(), ["PIN"]);
    assert_eq!(m.mask_str("connect database-pw-42"), "connect ***");
    assert!(m.pattern_count() > 5, "{}", m.pattern_count());
    let mut stream = m.stream();
    stream.push(b"partial databa");
    let debug = format!(
        "{m:?} {stream:?} {:?}",
        Masker::builder().secret("L", "database-pw-42")
    );
    assert!(
        !debug.contains("database-pw-42") && !debug.contains("databa"),
        "{debug}"
    );
    let b64 = STANDARD.encode("database-pw-42");
    assert!(!debug.contains(&b64[..8]), "{debug}");
}

#[test]
fn maskers_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Masker>();
    assert_send_sync::<kiln_secrets::StreamMasker>();
    fn assert_shareable<T: Send + Sync>() {}
    assert_shareable::<kiln_secrets::Resolver>();
    let m = masker(&["thread-secret"]);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || m.mask_str("x thread-secret y"))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), "x *** y");
    }
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn hex_lower_and_upper_case() {
    let secret = "db-Pa55/wörd";
    let m = masker(&[secret]);
    let lower = hex_lower(secret.as_bytes());
    for encoded in [lower.clone(), lower.to_uppercase()] {
        assert_eq!(m.mask_str(&format!("dump: {encoded}\n")), "dump: ***\n", "{encoded}");
        // Inside a longer hex dump (any byte offset is an even hex offset).
        let out = m.mask_str(&format!("00ff{encoded}a1"));
        assert_eq!(out, "00ff***a1", "{encoded}");
    }
    // `xxd -p`-style mixed-case hex is not a form anyone writes; only all-lower / all-upper.
    let trimmed = masker(&["  token-hex-1  "]);
    assert_eq!(trimmed.mask_str(&hex_lower(b"token-hex-1")), "***");
}

#[test]
fn upper_and_lower_case_forms_of_long_values() {
    let m = masker(&["Hunter2-Passw0rd"]);
    assert_eq!(m.mask_str("x HUNTER2-PASSW0RD y"), "x *** y");
    assert_eq!(m.mask_str("x hunter2-passw0rd y"), "x *** y");
    // Arbitrary re-casing is not covered (documented).
    assert_eq!(m.mask_str("hUNTER2-pASSW0RD"), "hUNTER2-pASSW0RD");
    let m = masker(&["Straße-geheim"]);
    assert_eq!(m.mask_str("STRASSE-GEHEIM"), "***", "Unicode upper-casing");
    assert_eq!(m.mask_str("STRAßE-GEHEIM"), "***", "ASCII-only upper-casing (tr a-z A-Z)");
}

#[test]
fn case_forms_are_not_added_for_short_values() {
    // A 4..7 byte value is masked as written, but its re-cased forms would hit ordinary words.
    let m = masker(&["Test1", "Admin"]);
    assert_eq!(m.mask_str("Test1 Admin"), "*** ***");
    assert_eq!(m.mask_str("test1 TEST1 admin ADMIN"), "test1 TEST1 admin ADMIN");
}

/// RFC 4648 base32, padded.
fn base32(b: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    for group in b.chunks(5) {
        let mut g = [0u8; 5];
        g[..group.len()].copy_from_slice(group);
        let v = g.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
        let chars = (group.len() * 8).div_ceil(5);
        for i in 0..8 {
            out.push(if i < chars { A[((v >> (35 - 5 * i)) & 31) as usize] as char } else { '=' });
        }
    }
    out
}

#[test]
fn base32_standalone_and_embedded() {
    let secret = "totp-seed-value-9";
    let m = masker(&[secret]);
    let padded = base32(secret.as_bytes());
    assert_eq!(m.mask_str(&format!("<{padded}>")), "<***>");
    let unpadded = padded.trim_end_matches('=');
    assert_eq!(m.mask_str(&format!("<{unpadded}>")), "<***>");
    let mut rng = Rng::new(3);
    for prefix_len in 0..10 {
        let mut stream = rng.bytes(prefix_len);
        stream.extend_from_slice(secret.as_bytes());
        stream.extend(rng.bytes(3));
        let out = m.mask_str(&base32(&stream));
        assert!(out.contains("***"), "offset {prefix_len}: {out}");
        assert!(out.len() < base32(&stream).len(), "offset {prefix_len}");
    }
}

