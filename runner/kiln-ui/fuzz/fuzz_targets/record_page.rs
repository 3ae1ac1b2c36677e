#![no_main]
//! Any bytes as a record's `build.json`, as a scanner plugin's SARIF output, as an SBOM and as a
//! phase log: reading and rendering the build page must not panic, and no `<script` element may
//! come out of the record's text (kiln's own pages have none in a standalone report).

use libfuzzer_sys::fuzz_target;

const UUID: &str = "f0000000-0000-4000-8000-000000000001";

fuzz_target!(|data: &[u8]| {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".kiln/builds").join(UUID);
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::create_dir_all(dir.join("plugins/01-p")).unwrap();
    std::fs::write(dir.join("logs/BUILD.log"), data).unwrap();
    std::fs::write(dir.join("plugins/01-p/out.sarif"), data).unwrap();
    std::fs::write(dir.join("plugins/01-p/sbom.cdx.json"), data).unwrap();
    // The input itself as the record, and the input inside a record that names those outputs.
    let wrapped = format!(
        r#"{{"id":"p:{UUID}","buildComplete":true,"phases":[{{"phaseType":"BUILD","phaseStatus":"FAILED","startTime":"2024-01-01T00:00:00Z","contexts":[{{"statusCode":"X","message":{msg}}}]}}],
        "kiln":{{"plugins":[{{"uses":"p","outputs":[{{"path":"plugins/01-p/out.sarif","media_type":"application/sarif+json"}},{{"path":"plugins/01-p/sbom.cdx.json","media_type":"application/vnd.cyclonedx+json"}}]}}]}}}}"#,
        msg = kiln_record_json_string(data)
    );
    let records = kiln_record::Records::of_project(tmp.path());
    let id = kiln_record::RecordId::parse(UUID).unwrap();
    for json in [data.to_vec(), wrapped.into_bytes()] {
        std::fs::write(dir.join("build.json"), &json).unwrap();
        if let Ok(html) = kiln_ui::report_html(&records, &id, None, &kiln_ui::FileLinks { prefix: String::new() }) {
            assert!(!html.contains("<script"), "a script element in the page");
        }
    }
});

fn kiln_record_json_string(data: &[u8]) -> String {
    let s = String::from_utf8_lossy(data);
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
