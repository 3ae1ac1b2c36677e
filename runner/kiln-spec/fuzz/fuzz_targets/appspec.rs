#![no_main]
//! Any input as an AppSpec file (YAML or JSON): parsing must not panic, every diagnostic must
//! point inside the input (and render), and a spec comes back exactly when there is no error.
//! The lifecycle lists of the detected platform must exist for some deployment type.

use kiln_spec::appspec::{lifecycle, DeploymentType, Fleet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let parsed = kiln_spec::parse_appspec(text);
        for d in &parsed.diagnostics {
            assert!(d.span.offset <= text.len(), "span past the end: {d:?}");
            assert!(text.is_char_boundary(d.span.offset), "span inside a character: {d:?}");
            assert!(d.span.line >= 1 && d.span.col >= 1, "unlocated: {d:?}");
            let _ = d.render("appspec.yml", text, false);
        }
        assert_eq!(parsed.spec.is_some(), !parsed.has_errors());
        if let Some(spec) = &parsed.spec {
            let events = lifecycle(spec.compute_platform(), DeploymentType::BlueGreen(Fleet::Replacement), true).expect("every platform has a blue/green lifecycle");
            assert!(!events.is_empty());
        }
    }
});
