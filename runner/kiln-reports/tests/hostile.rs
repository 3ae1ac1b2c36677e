//! Hostile inputs: each ends in a warning (located where the input allows), in bounded memory,
//! without a panic. The peak-memory checks read this test process's `VmHWM`: the tests here
//! hold little, so a parser that buffered a 2 GiB input would show.

use kiln_reports::{Format, Limits, ReportBuilder, ReportOutput, ReportStatus};
use std::io::Read;
use std::path::PathBuf;

fn parse(format: Format, input: impl Read) -> ReportOutput {
    let mut b = ReportBuilder::new("hostile", format);
    b.add_file("hostile", input);
    b.finish()
}

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()).map_or(0, |kb| kb / 1024)
}

/// `prefix`, then `len` copies of `fill`, then `suffix`, produced on the fly.
struct Generated {
    parts: Vec<(Vec<u8>, u64)>,
    part: usize,
    done: u64,
}

impl Generated {
    fn new(prefix: &str, fill: u8, len: u64, suffix: &str) -> Generated {
        Generated { parts: vec![(prefix.as_bytes().to_vec(), 1), (vec![fill; 1 << 16], len >> 16), (suffix.as_bytes().to_vec(), 1)], part: 0, done: 0 }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.part < self.parts.len() && self.done == self.parts[self.part].1 {
            self.part += 1;
            self.done = 0;
        }
        let Some((chunk, _)) = self.parts.get(self.part) else { return Ok(0) };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        if n == chunk.len() {
            self.done += 1;
        } else {
            // Keep the rest of this chunk for the next call.
            let rest = chunk[n..].to_vec();
            self.parts[self.part].1 -= 1;
            self.parts.insert(self.part, (rest, 1));
            self.done = 0;
        }
        Ok(n)
    }
}

fn fatal(out: &ReportOutput) -> &kiln_reports::Warning {
    assert_eq!(out.report.status, ReportStatus::Incomplete, "{:?}", out.warnings);
    out.warnings.iter().find(|w| w.incomplete).unwrap_or_else(|| panic!("no fatal warning: {:?}", out.warnings))
}

#[test]
fn billion_laughs_entities_are_never_expanded() {
    let mut dtd = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..=9 {
        let prev = if i == 1 { "lol".to_string() } else { format!("lol{}", i - 1) };
        dtd.push_str(&format!("<!ENTITY lol{i} \"{}\">\n", format!("&{prev};").repeat(10)));
    }
    dtd.push_str("]>\n<testsuite name=\"&lol9;\"><testcase name=\"&lol9;\"><failure message=\"&lol9;\">&lol9;&lol9;</failure></testcase></testsuite>");
    let out = parse(Format::JunitXml, dtd.as_bytes());
    let c = &out.test_cases[0];
    assert_eq!(c.name, "&lol9;");
    // The body starts with the message attribute, so it is not repeated.
    assert_eq!(c.message.as_deref(), Some("&lol9;&lol9;"));
    assert!(out.warnings.iter().any(|w| w.line == Some(2) && w.message.contains("entities")), "{:?}", out.warnings);
    assert!(out.warnings.iter().any(|w| w.line == Some(14) && w.message.contains("&lol9;")), "{:?}", out.warnings);
}

#[test]
fn deep_nesting_stops_at_the_depth_limit() {
    let deep = format!("{}{}", "<testsuite>\n".repeat(100_000), "</testsuite>".repeat(100_000));
    let out = parse(Format::JunitXml, deep.as_bytes());
    let w = fatal(&out);
    assert_eq!(w.line, Some(257));
    assert!(w.message.contains("deeper than 256"), "{w}");
    // JSON: serde_json's recursion limit.
    let out = parse(Format::CucumberJson, "[".repeat(100_000).as_bytes());
    assert!(fatal(&out).line.is_some());
    let out = parse(Format::Sarif, format!("{{\"runs\":[{{\"results\":[{}", "{\"a\":[".repeat(50_000)).as_bytes());
    assert!(fatal(&out).line.is_some());
}

#[test]
fn external_dtds_and_entities_are_never_fetched_or_read() {
    let dir = std::env::temp_dir().join(format!("kiln-reports-dtd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A FIFO: opening it for reading would block this test forever.
    let fifo = dir.join("trap.dtd");
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success());
    assert!(made, "mkfifo is needed for this test");
    // A listener: a fetch would connect to it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/report.dtd", listener.local_addr().unwrap());
    let jacoco = format!("<?xml version=\"1.0\"?><!DOCTYPE report SYSTEM \"{url}\"><report name=\"r\"><package name=\"p\"><sourcefile name=\"A.java\"><counter type=\"LINE\" missed=\"1\" covered=\"1\"/></sourcefile></package></report>");
    let out = parse(Format::JacocoXml, jacoco.as_bytes());
    assert_eq!(out.coverages.len(), 1, "{:?}", out.warnings);
    let xxe = format!("<?xml version=\"1.0\"?>\n<!DOCTYPE testsuite SYSTEM \"{}\" [\n<!ENTITY passwd SYSTEM \"file:///etc/passwd\">\n<!ENTITY remote SYSTEM \"{url}\">\n<!ENTITY % pe SYSTEM \"{}\"> %pe;\n]>\n<testsuite><testcase name=\"&passwd;\"><failure>&remote;</failure></testcase></testsuite>", fifo.display(), fifo.display());
    let out = parse(Format::JunitXml, xxe.as_bytes());
    assert_eq!(out.test_cases[0].name, "&passwd;");
    let json = String::from_utf8(out.normalized_json()).unwrap();
    assert!(!json.contains("root:"), "file contents leaked: {json}");
    assert!(out.warnings.iter().any(|w| w.message.contains("DOCTYPE declares entities") && w.line == Some(2)), "{:?}", out.warnings);
    assert!(out.warnings.iter().any(|w| w.message.contains("is not a predefined XML entity") && w.line == Some(7)), "{:?}", out.warnings);
    assert!(matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock), "something connected to the DTD's URL");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_two_gib_time_attribute_is_refused_in_bounded_memory() {
    let input = Generated::new("<testsuites>\n<testsuite name=\"s\">\n  <testcase name=\"t\" time=\"", b'9', 2 << 30, "\"/></testsuite></testsuites>");
    let started = std::time::Instant::now();
    let out = parse(Format::JunitXml, input);
    let w = fatal(&out);
    assert_eq!((w.line, w.column), (Some(3), Some(3)));
    assert!(w.message.contains("longer than"), "{w}");
    assert!(started.elapsed().as_secs() < 60);
    assert!(peak_rss_mib() < 512, "peak RSS {} MiB", peak_rss_mib());
}

#[test]
fn a_huge_text_is_cut_and_the_file_still_read() {
    let input = Generated::new("<testsuite>\n<testcase name=\"big\"><failure message=\"m\"><![CDATA[", b'x', 256 << 20, "]]></failure><system-out>log</system-out></testcase><testcase name=\"after\"/></testsuite>");
    let out = parse(Format::JunitXml, input);
    assert_eq!(out.report.status, ReportStatus::Failed, "{:?}", out.warnings);
    assert_eq!(out.test_cases.len(), 2);
    assert_eq!(out.test_cases[0].message.as_ref().unwrap().chars().count(), 5_000);
    assert!(out.warnings.iter().any(|w| w.line == Some(2) && w.message.contains("cut")), "{:?}", out.warnings);
    assert!(peak_rss_mib() < 512, "peak RSS {} MiB", peak_rss_mib());
}

#[test]
fn json_beyond_the_size_limit_is_refused() {
    let limits = Limits { json_bytes: 1 << 20, ..Limits::default() };
    for (format, start, end) in [(Format::CucumberJson, "[{\"name\":\"", "\"}]"), (Format::SimpleCov, "{\"coverage\":{\"", "\":[1]}}"), (Format::Sarif, "{\"runs\":[{\"results\":[{\"message\":{\"text\":\"", "\"}}]}]}")] {
        let mut b = ReportBuilder::with_limits("big", format, limits.clone());
        b.add_file("big.json", Generated::new(start, b'a', 8 << 20, end));
        let out = b.finish();
        assert!(fatal(&out).message.contains("larger than 1 MiB"), "{format}: {:?}", out.warnings);
    }
}

#[test]
fn invalid_utf8_is_read_lossily_with_a_warning() {
    let cucumber = b"[{\"name\":\"caf\xe9\",\"elements\":[{\"type\":\"scenario\",\"name\":\"s\xff\",\"steps\":[]}]}]";
    let out = parse(Format::CucumberJson, &cucumber[..]);
    assert_eq!(out.test_cases[0].prefix, "caf\u{FFFD}");
    assert!(out.warnings.iter().any(|w| !w.incomplete && w.message.contains("byte 13")), "{:?}", out.warnings);
    let lcov = b"SF:src/\xc3(.rs\nDA:1,1\nend_of_record\n";
    let out = parse(Format::Lcov, &lcov[..]);
    assert_eq!(out.coverages[0].file_path, "src/\u{FFFD}(.rs");
    assert_eq!(out.warnings.len(), 1);
    let sarif = b"{\"runs\":[{\"results\":[{\"ruleId\":\"\xfe\",\"message\":{\"text\":\"m\"}}]}]}";
    assert_eq!(parse(Format::Sarif, &sarif[..]).findings[0].rule_id, "\u{FFFD}");
}

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/reports")
}

#[test]
fn truncated_files_never_panic_and_say_where() {
    let rows = std::fs::read_to_string(corpus().join("SOURCES.tsv")).unwrap();
    for row in rows.lines().skip(1) {
        let file = row.split('\t').next().unwrap();
        let bytes = std::fs::read(corpus().join(file)).unwrap();
        let format = match kiln_reports::sniff(&bytes) {
            Some(f) => f,
            None => continue,
        };
        let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).unwrap_or(0);
        for cut in [1, 2, bytes.len() / 7, bytes.len() / 3, bytes.len() / 2, bytes.len() * 9 / 10, end] {
            let out = parse(format, &bytes[..cut.min(bytes.len())]);
            for w in &out.warnings {
                if w.incomplete && format != Format::Lcov {
                    assert!(w.line.is_some() || w.offset.is_some(), "{file} cut at {cut}: unlocated {w:?}");
                }
            }
            // Cut before the end of the document's last element (XML/JSON): incomplete.
            if format != Format::Lcov && cut < end {
                assert_eq!(out.report.status, ReportStatus::Incomplete, "{file} cut at {cut}: {:?}", out.warnings);
            }
        }
    }
}

#[test]
fn many_test_cases_keep_failures_within_the_bounds() {
    let limits = Limits { kept_items: 1_000, ..Limits::default() };
    let mut xml = String::from("<testsuite>");
    for i in 0..50_000 {
        if i % 100 == 7 {
            xml.push_str(&format!("<testcase name=\"t{i}\"><failure message=\"m\"/></testcase>"));
        } else {
            xml.push_str(&format!("<testcase name=\"t{i}\"/>"));
        }
    }
    xml.push_str("</testsuite>");
    let mut b = ReportBuilder::with_limits("many", Format::JunitXml, limits);
    b.add_file("many.xml", xml.as_bytes());
    let out = b.finish();
    let t = out.report.test_summary.unwrap();
    assert_eq!((t.total, t.status_counts.failed), (50_000, 500));
    assert!(out.report.truncated);
    assert_eq!(out.test_cases.len(), 1_000);
    assert_eq!(out.not_kept.test_cases, 49_000);
    assert_eq!(out.test_cases.iter().filter(|c| c.status.is_failure()).count(), 500);
    let record = out.record_test_cases();
    assert_eq!(record.len(), 500);
    assert!(record.iter().all(|c| c.status.is_failure()));
    // Input order is kept within each group.
    assert_eq!(record[0].name, "t7");
}
