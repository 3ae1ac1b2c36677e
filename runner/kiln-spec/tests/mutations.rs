//! A deterministic stand-in for the fuzzer that runs in every test run: thousands of mutations of
//! the real corpus buildspecs (batch ones included) (byte flips, truncation, splices of YAML syntax) must never panic,
//! and every diagnostic must point inside its input. The libFuzzer target is in `fuzz/`.

use std::path::PathBuf;

const SPLICES: &[&str] = &[
    ":", "- ", "\n  ", "\t", "&a ", "*a", "<<: *a\n", "!!binary ", "{", "}", "[", "]", "'", "\"", "|\n", ">-\n", "? ", "%YAML 1.2\n---\n",
    "\u{feff}", "é", "\u{0}", "version: 0.3\n", "on-failure: RETRY-5-(\n", "---\n", "...\n", "#", "~", "null", "\r\n",
];

/// xorshift64*: a small deterministic PRNG, so failures reproduce.
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

fn mutate(src: &str, rng: &mut Rng) -> String {
    let mut s = src.to_string();
    for _ in 0..1 + rng.below(4) {
        let mut at = rng.below(s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        match rng.below(4) {
            0 => s.insert_str(at, SPLICES[rng.below(SPLICES.len())]),
            1 => s.truncate(at),
            2 => {
                let end = (at + rng.below(40)).min(s.len());
                let end = (end..=s.len()).find(|e| s.is_char_boundary(*e)).unwrap_or(s.len());
                s.replace_range(at..end, "");
            }
            _ => {
                let mut bytes = s.into_bytes();
                if !bytes.is_empty() {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(7);
                }
                s = String::from_utf8_lossy(&bytes).into_owned();
            }
        }
    }
    s
}

#[test]
fn mutated_corpus_never_panics() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus");
    let mut sources: Vec<String> = ["buildspecs", "batch-buildspecs"]
        .iter()
        .flat_map(|d| std::fs::read_dir(corpus.join(d)).expect("the corpus in the repository"))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    sources.sort();
    let mut rng = Rng(0x6b69_6c6e);
    let mut checked = 0;
    for src in &sources {
        for _ in 0..60 {
            let m = mutate(src, &mut rng);
            let parsed = kiln_spec::parse_buildspec(&m);
            for d in &parsed.diagnostics {
                assert!(d.span.offset <= m.len() && m.is_char_boundary(d.span.offset), "bad span {d:?} in:\n{m}");
            }
            assert_eq!(parsed.spec.is_some(), !parsed.has_errors());
            checked += 1;
        }
    }
    assert!(checked > 2000, "only {checked} inputs");
}

#[test]
fn pathological_inputs_are_rejected_not_crashed() {
    let deep = format!("{}x{}", "[".repeat(10_000), "]".repeat(10_000));
    let wide = format!("version: 0.2\nphases:\n  build:\n    commands:\n{}", "      - echo hi\n".repeat(50_000));
    for input in [deep.as_str(), wide.as_str(), "\u{0}", "version: !!binary AAAA", "? [a]\n: b", "- - - -"] {
        let _ = kiln_spec::parse_buildspec(input);
    }
}
