//! Report formats by their CodeBuild `file-format` names, and recognising a file's format from its
//! first bytes (for CodeBuild's report auto-discovery, whose recognition rule is undocumented:
//! kiln proposal, the root element or JSON shape).

use crate::model::ReportType;

/// A report file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// `JUNITXML` (CodeBuild's default).
    JunitXml,
    /// `CUCUMBERJSON`.
    CucumberJson,
    /// `NUNITXML` (NUnit 2).
    NunitXml,
    /// `NUNIT3XML`.
    Nunit3Xml,
    /// `TESTNGXML`.
    TestngXml,
    /// `VISUALSTUDIOTRX`.
    VisualStudioTrx,
    /// `CLOVERXML`.
    CloverXml,
    /// `COBERTURAXML`.
    CoberturaXml,
    /// `JACOCOXML`.
    JacocoXml,
    /// `SIMPLECOV` (the simplecov gem's `.resultset.json`, both shapes, or `coverage.json`).
    SimpleCov,
    /// `LCOV` tracefiles (kiln extension: not a CodeBuild value).
    Lcov,
    /// `SARIF` 2.1.0 as a security report (kiln extension: not a CodeBuild value).
    Sarif,
}

impl Format {
    /// Every format, CodeBuild's first.
    pub const ALL: [Format; 12] = [
        Format::JunitXml,
        Format::CucumberJson,
        Format::NunitXml,
        Format::Nunit3Xml,
        Format::TestngXml,
        Format::VisualStudioTrx,
        Format::CloverXml,
        Format::CoberturaXml,
        Format::JacocoXml,
        Format::SimpleCov,
        Format::Lcov,
        Format::Sarif,
    ];

    /// The format for a `file-format` value; case-insensitive, as CodeBuild reads it.
    pub fn from_name(name: &str) -> Option<Format> {
        let name = name.trim();
        Format::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The canonical (upper-case) `file-format` name.
    pub fn name(self) -> &'static str {
        match self {
            Format::JunitXml => "JUNITXML",
            Format::CucumberJson => "CUCUMBERJSON",
            Format::NunitXml => "NUNITXML",
            Format::Nunit3Xml => "NUNIT3XML",
            Format::TestngXml => "TESTNGXML",
            Format::VisualStudioTrx => "VISUALSTUDIOTRX",
            Format::CloverXml => "CLOVERXML",
            Format::CoberturaXml => "COBERTURAXML",
            Format::JacocoXml => "JACOCOXML",
            Format::SimpleCov => "SIMPLECOV",
            Format::Lcov => "LCOV",
            Format::Sarif => "SARIF",
        }
    }

    /// The report type a group of this format produces.
    pub fn report_type(self) -> ReportType {
        match self {
            Format::JunitXml | Format::CucumberJson | Format::NunitXml | Format::Nunit3Xml | Format::TestngXml | Format::VisualStudioTrx => ReportType::Test,
            Format::CloverXml | Format::CoberturaXml | Format::JacocoXml | Format::SimpleCov | Format::Lcov => ReportType::CodeCoverage,
            Format::Sarif => ReportType::Security,
        }
    }

    /// Whether CodeBuild itself accepts this `file-format` (false for the kiln extensions).
    pub fn is_codebuild(self) -> bool {
        !matches!(self, Format::Lcov | Format::Sarif)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Recognise a report file from its first bytes (4 KiB is plenty; fewer works when the decisive
/// part is there). `None` when nothing matches, including an empty JSON array (which any JSON
/// format could be).
///
/// XML: the root element (`testsuites`/`testsuite` JUnit, `test-results` NUnit 2, `test-run`
/// NUnit 3, `testng-results`, `TestRun` TRX, `report` JaCoCo, `coverage` with Cobertura's
/// `line-rate`/`lines-valid` or Clover's `generated`/`clover` attributes, else by the first child:
/// `sources`/`packages` Cobertura, `project` Clover). JSON: an array of objects with `elements`
/// or `keyword` (Cucumber); an object with `runs` and a SARIF `$schema`/`version` (SARIF); an
/// object with `simplecov_version`, or a `coverage` object, or a top-level command whose value
/// has one (SimpleCov). Text: an LCOV record (`TN:`, `SF:`) on the first line.
pub fn sniff(first_bytes: &[u8]) -> Option<Format> {
    let text = crate::input::lossy_head(first_bytes);
    let t = text.trim_start();
    if t.starts_with('<') {
        sniff_xml(t)
    } else if t.starts_with('[') || t.starts_with('{') {
        sniff_json(t)
    } else if t.starts_with("TN:") || t.starts_with("SF:") {
        Some(Format::Lcov)
    } else {
        None
    }
}

fn sniff_xml(t: &str) -> Option<Format> {
    let (root, attrs, rest) = next_tag(t)?;
    let root = local(root);
    let format = match root {
        "testsuites" | "testsuite" => Format::JunitXml,
        "test-results" => Format::NunitXml,
        "test-run" => Format::Nunit3Xml,
        "testng-results" => Format::TestngXml,
        "TestRun" => Format::VisualStudioTrx,
        "report" => Format::JacocoXml,
        "coverage" => {
            let has = |a: &str| attrs.split(|c: char| c.is_whitespace() || c == '=').any(|x| x == a);
            if has("line-rate") || has("lines-valid") || has("branch-rate") {
                Format::CoberturaXml
            } else if has("generated") || has("clover") {
                Format::CloverXml
            } else {
                match next_tag(rest).map(|(n, _, _)| local(n)) {
                    Some("sources" | "packages" | "source" | "package") => Format::CoberturaXml,
                    Some("project" | "testproject") => Format::CloverXml,
                    _ => return None,
                }
            }
        }
        _ => return None,
    };
    Some(format)
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// The next start tag's name, its attribute text (possibly cut off) and the text after it,
/// skipping the XML declaration, processing instructions, comments, a DOCTYPE and end tags.
fn next_tag(mut s: &str) -> Option<(&str, &str, &str)> {
    loop {
        s = &s[s.find('<')?..];
        if let Some(r) = s.strip_prefix("<?") {
            s = &r[r.find("?>")? + 2..];
        } else if let Some(r) = s.strip_prefix("<!--") {
            s = &r[r.find("-->")? + 3..];
        } else if s.starts_with("<!") || s.starts_with("</") {
            // A DOCTYPE may hold an internal subset in brackets, with `>` inside it.
            let mut depth = 0i32;
            let end = s.char_indices().find(|&(_, c)| {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    '>' if depth <= 0 => return true,
                    _ => {}
                }
                false
            })?;
            s = &s[end.0 + 1..];
        } else {
            let body = &s[1..];
            let name_end = body.find(|c: char| c.is_whitespace() || c == '/' || c == '>').unwrap_or(body.len());
            let name = &body[..name_end];
            if name.is_empty() {
                return None;
            }
            let tag_end = body.find('>').unwrap_or(body.len());
            let attrs = &body[name_end..tag_end.max(name_end)];
            let rest = body.get(tag_end + 1..).unwrap_or("");
            return Some((name, attrs, rest));
        }
    }
}

fn sniff_json(t: &str) -> Option<Format> {
    // The head may be cut anywhere, so this looks at tokens, not a parse.
    let compact: String = t.chars().filter(|c| !c.is_whitespace()).take(4096).collect();
    if compact.starts_with('[') {
        if compact.starts_with("[{") && (compact.contains("\"elements\":") || compact.contains("\"keyword\":")) {
            return Some(Format::CucumberJson);
        }
        return None;
    }
    if compact.contains("\"runs\":") && (compact.contains("sarif") || compact.contains("\"version\":\"2.1.0\"")) {
        return Some(Format::Sarif);
    }
    if compact.contains("\"simplecov_version\"") {
        return Some(Format::SimpleCov);
    }
    // Dart's look-alike: {"type":"CodeCoverage","coverage":[...]}.
    if compact.contains("\"coverage\":{") && !compact.contains("\"type\":\"CodeCoverage\"") {
        return Some(Format::SimpleCov);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.name()), Some(f));
            assert_eq!(Format::from_name(&f.name().to_lowercase()), Some(f));
        }
        assert_eq!(Format::from_name(" JunitXml "), Some(Format::JunitXml));
        assert_eq!(Format::from_name("JUNIT"), None);
        assert_eq!(Format::Sarif.report_type(), ReportType::Security);
        assert_eq!(Format::Lcov.report_type(), ReportType::CodeCoverage);
        assert!(!Format::Lcov.is_codebuild() && Format::JacocoXml.is_codebuild());
    }

    #[test]
    fn sniffs_roots_and_shapes() {
        let cases: &[(&str, Option<Format>)] = &[
            ("\u{feff}<?xml version=\"1.0\"?>\n<!-- x --><testsuites>", Some(Format::JunitXml)),
            ("<testsuite name='a'", Some(Format::JunitXml)),
            ("<test-results total='1'>", Some(Format::NunitXml)),
            ("<test-run id='2'>", Some(Format::Nunit3Xml)),
            ("<testng-results>", Some(Format::TestngXml)),
            ("<TestRun xmlns=\"http://microsoft.com/schemas/VisualStudio/TeamTest/2010\">", Some(Format::VisualStudioTrx)),
            ("<?xml version=\"1.0\"?><!DOCTYPE report PUBLIC \"-//JACOCO//DTD Report 1.1//EN\" \"report.dtd\"><report name=\"x\">", Some(Format::JacocoXml)),
            ("<coverage line-rate=\"0.5\">", Some(Format::CoberturaXml)),
            ("<coverage version='1'><sources>", Some(Format::CoberturaXml)),
            ("<coverage generated=\"1\" clover=\"4\">", Some(Format::CloverXml)),
            ("<coverage><project>", Some(Format::CloverXml)),
            ("<suites><suite>", None),
            ("[{\"uri\":\"a.feature\",\"elements\":[]}]", Some(Format::CucumberJson)),
            ("[]", None),
            ("{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\",\"runs\":[]}", Some(Format::Sarif)),
            ("{\"RSpec\":{\"coverage\":{\"/a.rb\":[1,null]}}}", Some(Format::SimpleCov)),
            ("{\"meta\":{\"simplecov_version\":\"0.22\"}}", Some(Format::SimpleCov)),
            ("{\"type\":\"CodeCoverage\",\"coverage\":[{\"hits\":[]}]}", None),
            ("TN:\nSF:/a.js\n", Some(Format::Lcov)),
            ("hello", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(sniff(text.as_bytes()), *want, "{text}");
        }
        // Non-UTF-8 and cut-off heads do not panic.
        assert_eq!(sniff(b"<testsuites name=\"\xff\xfe"), Some(Format::JunitXml));
        assert_eq!(sniff(b"\xff\xfe<\0t\0"), None);
    }
}
