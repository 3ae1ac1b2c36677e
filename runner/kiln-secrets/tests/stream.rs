//! `StreamMasker`: secrets split across chunks at every possible point.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Rng, contains, stream_all};
use kiln_secrets::Masker;

const SECRETS: [&str; 3] = ["hunter2-password", "line one\nline two", "abcdef"];

fn sample_masker() -> Masker {
    Masker::new(SECRETS.iter().chain(&["defghi"])).unwrap()
}

fn sample_inputs() -> Vec<Vec<u8>> {
    let b64 = STANDARD.encode("xyhunter2-passwordz");
    vec![
        b"hunter2-password".to_vec(),
        b"login: hunter2-password; again hunter2-password!".to_vec(),
        b"key:\nline one\nline two\nend".to_vec(),
        b"xxabcdefghiyy abcdef defghi".to_vec(),
        format!("Basic {b64}\n").into_bytes(),
        b"hunter2-passwor hunter2-password".to_vec(),
        b"no secrets in here at all".to_vec(),
        Vec::new(),
    ]
}

#[test]
fn one_chunk_equals_batch() {
    let m = sample_masker();
    for input in sample_inputs() {
        assert_eq!(stream_all(&m, &[&input]), m.mask_bytes(&input));
    }
}

#[test]
fn every_single_split_point() {
    let m = sample_masker();
    for input in sample_inputs() {
        let want = m.mask_bytes(&input);
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(
                stream_all(&m, &[a, b]),
                want,
                "split at {i} of {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}

#[test]
fn every_pair_of_split_points() {
    let m = sample_masker();
    let input = b"<abcdefghi|hunter2-password|line one\nline two>".to_vec();
    let want = m.mask_bytes(&input);
    assert_eq!(want, b"<***|***|***>");
    for i in 0..=input.len() {
        for j in i..=input.len() {
            let got = stream_all(&m, &[&input[..i], &input[i..j], &input[j..]]);
            assert_eq!(got, want, "splits {i},{j}");
        }
    }
}

#[test]
fn byte_at_a_time() {
    let m = sample_masker();
    for input in sample_inputs() {
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(stream_all(&m, &chunks), m.mask_bytes(&input));
    }
}

#[test]
fn random_chunkings() {
    let m = sample_masker();
    let mut rng = Rng::new(3);
    let pieces: Vec<Vec<u8>> = SECRETS
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .chain([
            b" ".to_vec(),
            b"hunter".to_vec(),
            b"def".to_vec(),
            b"ghi".to_vec(),
            b"\n".to_vec(),
        ])
        .collect();
    for _ in 0..2_000 {
        let mut input = Vec::new();
        for _ in 0..rng.below(12) {
            input.extend_from_slice(rng.pick::<Vec<u8>>(&pieces));
        }
        let want = m.mask_bytes(&input);
        for secret in SECRETS {
            assert!(!contains(&want, secret.as_bytes()));
        }
        let max_chunk = 1 + rng.below(20);
        let chunks = rng.chunks(&input, max_chunk);
        assert_eq!(stream_all(&m, &chunks), want);
    }
}

#[test]
fn hold_back_is_bounded() {
    let m = sample_masker();
    let limit = m.max_pattern_len() - 1;
    let mut s = m.stream();
    let mut emitted = 0;
    let mut received = 0;
    for chunk in b"plain text without any secret in it, repeated "
        .repeat(20)
        .chunks(7)
    {
        received += chunk.len();
        emitted += s.push(chunk).len();
        assert!(
            received - emitted <= limit,
            "held {} > {limit}",
            received - emitted
        );
        assert!(s.pending() <= limit);
    }
    emitted += s.finish().len();
    assert_eq!(emitted, received);
}

#[test]
fn long_chains_of_overlaps_stay_bounded() {
    let m = Masker::new(["aaaa"]).unwrap();
    let mut s = m.stream();
    let mut out = Vec::new();
    out.extend(s.push(b"x"));
    for _ in 0..10_000 {
        out.extend(s.push(&[b'a'; 100]));
        assert!(s.pending() < m.max_pattern_len());
        assert!(format!("{s:?}").len() < 400);
    }
    out.extend(s.push(b"y"));
    out.extend(s.finish());
    assert_eq!(out, b"x***y");
}

#[test]
fn finish_resets_for_a_new_stream() {
    let m = sample_masker();
    let mut s = m.stream();
    let mut out = s.push(b"start hunter2-pa");
    out.extend(s.finish());
    assert_eq!(out, b"start hunter2-pa");
    let mut out = s.push(b"hunter2-pass");
    out.extend(s.push(b"word end"));
    out.extend(s.finish());
    assert_eq!(out, b"*** end");
    assert_eq!(s.masker().pattern_count(), m.pattern_count());
}
