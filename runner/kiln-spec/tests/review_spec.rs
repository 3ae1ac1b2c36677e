//! Issue 11, items 10 and 15: what the review found in the YAML reader.
//!
//! * Item 10: a 1 MiB anchor referenced 6,000 times (a 1 MiB file) expanded to gigabytes before
//!   anything said no. Alias expansion is now bounded by bytes as well as nodes, with the error at
//!   the offending alias. These tests finishing at all is the memory check: on the old code the
//!   first one needs more than 10 GB.
//! * Item 15: a UTF-8 byte-order mark before `version` is accepted (it was read as part of the
//!   key: "unknown key `\u{feff}version`", then "no `version`").
//!
//! The artifact-path checks of item 15 are in `review_artifact_paths.rs`.
//!
//! Every buildspec here is generated in the test; no file outside the repository is read.

use kiln_spec::{parse_buildspec, Diagnostic};

/// `version: 0.2` with a 1 MiB scalar anchored as `&a` and `refs` aliases to it in a flow list of
/// build commands (line 7).
fn big_anchor(refs: usize) -> String {
    let big = "x".repeat(1 << 20);
    let aliases = vec!["*a"; refs].join(", ");
    format!("version: 0.2\nenv:\n  variables:\n    BIG: &a \"{big}\"\nphases:\n  build:\n    commands: [{aliases}]\n")
}

fn errors(d: &[Diagnostic]) -> Vec<&Diagnostic> {
    d.iter().filter(|d| d.is_error()).collect()
}

fn plain(d: &[Diagnostic]) -> String {
    d.iter().map(|d| d.to_plain("buildspec.yml")).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_one_mib_anchor_referenced_6000_times_is_refused_at_the_alias() {
    let src = big_anchor(6000);
    assert!(src.len() < 1_100_000, "the file itself is about 1 MiB");
    let parsed = parse_buildspec(&src);
    assert!(parsed.spec.is_none());
    let errs = errors(&parsed.diagnostics);
    assert_eq!(errs.len(), 1, "{}", plain(&parsed.diagnostics));
    let e = errs[0];
    assert_eq!(e.code, "E0003", "{}", plain(&parsed.diagnostics));
    // Located at one of the aliases on line 7 (not at the anchor, not at 1:1).
    assert_eq!(e.span.line, 7, "{}", plain(&parsed.diagnostics));
    assert!(e.span.col > 16, "{}", plain(&parsed.diagnostics));
    assert_eq!(&src[e.span.offset..e.span.offset + 2], "*a", "the span points at the alias");
    // What was exceeded, and what to do.
    assert!(e.message.contains("MiB"), "{}", e.message);
    assert!(e.notes.iter().any(|n| n.contains("line 4")), "names the anchor's position: {:?}", e.notes);
    let help = e.help.as_deref().unwrap_or_default();
    assert!(help.contains("fewer times") || help.contains("smaller"), "{help}");
    assert!(e.to_plain("big.yml").starts_with("big.yml:7:"), "{}", e.to_plain("big.yml"));
}

#[test]
fn a_few_references_to_a_big_anchor_are_still_fine() {
    // 1 MiB referenced 3 times: 4 MiB of text, far below the bound. Nothing real is refused.
    let parsed = parse_buildspec(&big_anchor(3));
    assert!(errors(&parsed.diagnostics).is_empty(), "{}", plain(&parsed.diagnostics));
    let spec = parsed.spec.expect("valid");
    assert_eq!(spec.phases[0].commands.len(), 3);
}

#[test]
fn many_small_aliases_of_a_medium_anchor_are_bounded_by_bytes_not_only_nodes() {
    // 64 KiB anchor, 150,000 references: 150,001 nodes (well under the node bound) but 9.8 GB of
    // text when expanded. The file is about 1 MiB.
    let anchor = "y".repeat(64 << 10);
    let aliases = vec!["*m"; 150_000].join(",");
    let src = format!("version: 0.2\nphases:\n  build:\n    commands:\n      - &m \"{anchor}\"\n      - [{aliases}]\n");
    let parsed = parse_buildspec(&src);
    let errs = errors(&parsed.diagnostics);
    assert_eq!(errs.len(), 1, "{}", plain(&parsed.diagnostics));
    assert_eq!(errs[0].code, "E0003");
    assert_eq!(errs[0].span.line, 6);
    assert_eq!(&src[errs[0].span.offset..errs[0].span.offset + 2], "*m");
}

// ---- item 15: a byte-order mark before `version` -----------------------------------------------

#[test]
fn a_leading_byte_order_mark_is_accepted_silently() {
    let src = "\u{feff}version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n";
    let parsed = parse_buildspec(src);
    assert!(parsed.diagnostics.is_empty(), "{}", plain(&parsed.diagnostics));
    let spec = parsed.spec.expect("valid");
    assert_eq!(spec.phases[0].commands.len(), 1);
}

#[test]
fn positions_after_a_byte_order_mark_stay_right() {
    // Line 1 is counted from after the mark (as editors show it); byte offsets stay offsets into
    // the text as read, so excerpts render under the right characters.
    let src = "\u{feff}version: 0.3\nphases:\n  build:\n    commands:\n      - echo hi\n";
    let parsed = parse_buildspec(src);
    let errs = errors(&parsed.diagnostics);
    assert_eq!(errs.len(), 1, "{}", plain(&parsed.diagnostics));
    assert_eq!(errs[0].code, "E0100");
    assert_eq!((errs[0].span.line, errs[0].span.col), (1, 10));
    assert_eq!(&src[errs[0].span.offset..errs[0].span.offset + 3], "0.3");
    // And on a later line.
    let src = "\u{feff}version: 0.2\nphases:\n  build:\n    commandz:\n      - echo hi\n";
    let parsed = parse_buildspec(src);
    let w = parsed.diagnostics.iter().find(|d| d.code == "W0001").expect("unknown key warning");
    assert_eq!((w.span.line, w.span.col), (4, 5));
    assert_eq!(&src[w.span.offset..w.span.offset + 8], "commandz");
}
