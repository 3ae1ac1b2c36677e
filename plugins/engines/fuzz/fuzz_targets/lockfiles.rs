//! Every lockfile parser on arbitrary bytes, with an arbitrary sibling manifest, then the SBOM
//! built from what it returned: nothing may panic, and the SBOM must be valid JSON.
#![no_main]

use kiln_sbom_engine::{BomOptions, build, parse_file};
use libfuzzer_sys::fuzz_target;

/// File names the detector maps to each parser (the first byte of the input picks one).
const NAMES: &[&str] = &[
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "Cargo.lock",
    "poetry.lock",
    "Pipfile.lock",
    "uv.lock",
    "requirements.txt",
    "go.mod",
    "Gemfile.lock",
    "composer.lock",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let name = NAMES[pick as usize % NAMES.len()];
    // The part after the first NUL is every sibling file's text (package.json, go.sum, ...).
    let (main, sibling) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], Some(String::from_utf8_lossy(&rest[i + 1..]).into_owned())),
        None => (rest, None),
    };
    let text = String::from_utf8_lossy(main);
    let siblings = |_: &str| sibling.clone();
    let Some(lockfile) = parse_file(&format!("app/{name}"), &text, &siblings) else {
        panic!("{name} is not detected as a lockfile");
    };
    let opts = BomOptions {
        name: "fuzz".into(),
        version: None,
        timestamp: None,
        serial_number: None,
        tool_version: "0.0.0".into(),
    };
    if let Ok((json, _)) = build(&[lockfile], &opts) {
        assert!(std::str::from_utf8(&json).is_ok(), "SBOM is not UTF-8");
    }
});
