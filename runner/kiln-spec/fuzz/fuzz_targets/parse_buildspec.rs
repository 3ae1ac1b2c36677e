#![no_main]
//! Any input: parsing must not panic, and every diagnostic must point inside the input.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let parsed = kiln_spec::parse_buildspec(text);
        for d in &parsed.diagnostics {
            assert!(d.span.offset <= text.len(), "span past the end: {d:?}");
            assert!(text.is_char_boundary(d.span.offset), "span inside a character: {d:?}");
            let _ = d.render("fuzz.yml", text, false);
        }
        assert_eq!(parsed.spec.is_some(), !parsed.has_errors());
    }
});
