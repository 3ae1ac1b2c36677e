//! `kiln report --html` on the fixture record: the parts of the page (snapshots), escaping of
//! hostile record text, the self-contained document, and the provenance verification with the
//! record's key, the wrong key and a tampered artifact digest.

mod common;

use common::*;
use kiln_ui::{report_html, FileLinks};

fn html(f: &Fixture, key: Option<(&str, &[u8])>) -> String {
    report_html(&f.records, &f.id, key, &FileLinks { prefix: String::new() }).unwrap()
}

#[test]
fn every_section_of_the_report_shows_the_record() {
    let f = fixture();
    let h = html(&f, None);
    insta::assert_snapshot!("phases", lines(section(&h, "phases")));
    insta::assert_snapshot!("tests", lines(section(&h, "tests")));
    insta::assert_snapshot!("coverage", lines(section(&h, "coverage")));
    insta::assert_snapshot!("findings", lines(section(&h, "findings")));
    insta::assert_snapshot!("sbom", lines(section(&h, "sbom")));
    insta::assert_snapshot!("logs", lines(section(&h, "logs")));
    // Kept with the test output, to look at (target/ui-screenshots/).
    let out = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("report-fixture.html"), &h).unwrap();
    // The report of an unknown type costs only itself, and says so.
    assert!(h.contains("report perf: not readable by this kiln"), "a warning names the unreadable report");
}

#[test]
fn hostile_record_text_is_shown_as_text() {
    let f = fixture();
    let h = html(&f, None);
    for needle in ["alert('ctx')", "alert(&quot;log&quot;)", "alert('msg')", "alert('finding')", "onerror=alert(1)", "evil"] {
        assert!(h.contains(needle), "{needle} is on the page (as text)");
    }
    for (i, _) in h.match_indices("<script") {
        panic!("a <script> element in the report at byte {i}: {}", &h[i.saturating_sub(80)..(i + 80).min(h.len())]);
    }
    assert!(!h.contains("<img"), "no element from a test name");
    assert!(!h.contains("<b>Custom"), "no element from an SBOM license");
    assert!(h.contains("&lt;script&gt;alert(&quot;log&quot;)&lt;/script&gt;"), "the log line escaped");
    assert!(h.contains("&lt;/pre&gt;&lt;script&gt;alert('msg')"), "the test message escaped");
}

#[test]
fn the_report_is_one_file_that_loads_nothing_and_runs_nothing() {
    let f = fixture();
    let h = html(&f, None);
    assert!(h.starts_with("<!DOCTYPE html>"));
    assert!(h.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:"));
    assert!(h.contains("<style>") && h.contains(".badge {"), "the stylesheet is inline");
    assert_eq!(h.matches("<link").count(), h.matches("<link rel=\"icon\" href=\"data:,\">").count(), "the only link is the empty data: icon");
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "url(", "@import"] {
        assert!(!h.contains(attr), "{attr} would make a request");
    }
    assert!(h.contains("<svg class=\"chart\""), "charts are inline SVG");
    assert!(!h.contains(" style=\""), "no style attributes");
    // Raw logs are linked relative to the record (the report is written inside it here).
    assert!(h.contains("href=\"logs/BUILD.log\""));
}

#[test]
fn the_provenance_is_verified_with_the_record_key_a_given_key_and_against_the_artifacts() {
    let f = fixture();
    let h = html(&f, None);
    let p = section(&h, "provenance");
    assert!(p.contains("Verified.") && p.contains("all 2 artifact files are subjects"), "{p}");
    assert!(p.contains("ephemeral key"), "says what the record's key proves: {p}");

    let pem = f.key.public_key().to_pem();
    let h = html(&f, Some(("keys/cosign.pub", pem.as_bytes())));
    let p = section(&h, "provenance");
    assert!(p.contains("Verified.") && p.contains("keys/cosign.pub") && !p.contains("ephemeral key"), "{p}");

    let other = kiln_attest::KeyPair::generate().unwrap().public_key().to_pem();
    let h = html(&f, Some(("other.pub", other.as_bytes())));
    let p = section(&h, "provenance");
    assert!(p.contains("Not verified: ") && p.contains("does not verify"), "{p}");

    // A record whose artifact digest was changed after signing.
    let bj = f.record_dir().join("build.json");
    let text = std::fs::read_to_string(&bj).unwrap();
    let db = kiln_attest::util::sha256_file(&f.record_dir().join("artifacts/dist/src/db.js")).unwrap();
    std::fs::write(&bj, text.replace(&db, &"0".repeat(64))).unwrap();
    let h = html(&f, None);
    let p = section(&h, "provenance");
    assert!(p.contains("Not verified: ") && p.contains("dist/src/db.js"), "{p}");
}

#[test]
fn a_finding_shows_the_code_around_it_from_the_artifact_that_holds_its_file() {
    let f = fixture();
    let h = html(&f, None);
    let s = section(&h, "findings");
    assert!(s.contains("<span class=\"cl hit\"><span class=\"ln\">5</span>  const sql = &quot;SELECT * FROM users WHERE id = &quot; + id;</span>"), "{s}");
    assert!(s.contains("src/auth.js:12"), "a finding in a file no artifact holds shows its place: {s}");
}

#[test]
fn resolving_a_build_id() {
    let f = fixture();
    assert_eq!(kiln_ui::resolve_build(&f.records, UUID).unwrap(), f.id);
    assert_eq!(kiln_ui::resolve_build(&f.records, &format!("web:{UUID}")).unwrap(), f.id);
    assert_eq!(kiln_ui::resolve_build(&f.records, "5f0c").unwrap(), f.id);
    assert!(kiln_ui::resolve_build(&f.records, "5f").unwrap_err().contains("at least 4"));
    assert!(kiln_ui::resolve_build(&f.records, "../../etc").is_err());
    assert!(kiln_ui::resolve_build(&f.records, "ffff").unwrap_err().contains("no build `ffff`"));
}
