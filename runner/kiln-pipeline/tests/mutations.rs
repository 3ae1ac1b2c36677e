//! Thousands of deterministic mutations of the corpus through the readers, the validation and
//! the workspace parser: nothing panics (the libFuzzer targets in `fuzz/` go further).

use std::path::PathBuf;

use kiln_pipeline::{parse, validate, ReadOptions};

fn corpus() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/pipelines");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "tsv"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    out
}

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &["!Ref ", "!Sub '${", "!If [", "!GetAtt ", "#{x.", "- ", ": ", "{", "}", "[", "]", "\n  ", "'", "\"", "&a ", "*a", "RunOrder: 0", "Fn::Join", "${!", "}}"];

#[test]
fn mutated_definitions_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let opts = ReadOptions { logical_id: Some("ProjectApplyPipeline".into()), ..Default::default() };
    let mut runs = 0;
    for (name, text) in corpus() {
        for _ in 0..150 {
            let mut s = text.clone();
            for _ in 0..=rng.below(3) {
                let mut at = rng.below(s.len());
                while !s.is_char_boundary(at) {
                    at -= 1;
                }
                match rng.below(3) {
                    0 => s.truncate(at),
                    1 => s.insert_str(at, PIECES[rng.below(PIECES.len())]),
                    _ => {
                        let mut end = (at + rng.below(40)).min(s.len());
                        while !s.is_char_boundary(end) {
                            end -= 1;
                        }
                        s.replace_range(at..end, "");
                    }
                }
            }
            if let Ok(read) = parse(&s, &name, &opts) {
                let _ = validate(&read.definition);
                let _ = kiln_pipeline::runnable(&read.definition, &Default::default());
            }
            let _ = kiln_pipeline::parse_workspace(&s, std::path::Path::new("/w"));
            runs += 1;
        }
    }
    assert!(runs > 1500);
}
