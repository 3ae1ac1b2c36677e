//! The workspace file parser on arbitrary input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = kiln_pipeline::parse_workspace(text, std::path::Path::new("/w"));
    }
});
