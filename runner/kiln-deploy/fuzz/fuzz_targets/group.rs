#![no_main]
//! Any input as a deployment group file: parsing must not panic, every diagnostic must point
//! inside the input (and render), a group comes back exactly when there is no error, and a group
//! that parsed has a valid id and names kiln can use as directory names.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let parsed = kiln_deploy::group::parse_group(text);
        for d in &parsed.diagnostics {
            assert!(d.span.offset <= text.len(), "span past the end: {d:?}");
            assert!(text.is_char_boundary(d.span.offset), "span inside a character: {d:?}");
            assert!(d.span.line >= 1 && d.span.col >= 1, "unlocated: {d:?}");
            let _ = d.render("deploy.yml", text, false);
        }
        assert_eq!(parsed.group.is_some(), !parsed.has_errors());
        if let Some(g) = &parsed.group {
            for n in [&g.application_name, &g.deployment_group_name] {
                assert!(!n.is_empty() && n != "." && n != ".." && !n.contains('/'), "{n:?}");
            }
            for a in &g.alarm_configuration.alarms {
                assert!(a.datapoints_to_alarm >= 1 && a.datapoints_to_alarm <= a.evaluation_periods);
                assert!(a.threshold.is_finite());
            }
        }
    }
});
