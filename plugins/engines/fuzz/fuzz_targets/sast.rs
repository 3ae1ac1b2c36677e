//! The SAST engine on arbitrary bytes for every language it detects: nothing may panic and every
//! finding's span lies inside the input.
#![no_main]

use kiln_sast_engine::{Engine, FileOutcome};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const PATHS: &[&str] = &[
    "app.py", "web.js", "web.ts", "main.go", "Main.java", "build.sh", "Dockerfile",
    "k8s/deploy.yaml", ".github/workflows/ci.yml", "docker-compose.yml",
];

fuzz_target!(|data: &[u8]| {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    let engine = ENGINE.get_or_init(|| Engine::new(Vec::new()).expect("built-in rules compile"));
    let Some((&pick, text)) = data.split_first() else { return };
    let path = PATHS[pick as usize % PATHS.len()];
    let lines = text.split(|&b| b == b'\n').count() as u32;
    if let FileOutcome::Scanned(findings) = engine.scan_bytes(path, text) {
        for f in findings {
            assert!(f.start_line >= 1 && f.start_line <= f.end_line && f.end_line <= lines, "span outside the input");
        }
    }
});
