//! Dispatch: a file in a format to the parser for it.

use crate::builder::Sink;
use crate::format::{Format, sniff};
use crate::input::{Input, Kind};
use crate::xml::{Fatal, Xml};
use crate::{clover, cobertura, cucumber, jacoco, junit, lcov, nunit, sarif, simplecov, testng, trx};
use std::io::Read;

/// A parser of one XML format.
type XmlParser = fn(&mut Xml, &mut Sink) -> Result<(), Fatal>;

pub(crate) fn parse_file(format: Format, reader: impl Read, sink: &mut Sink) -> Result<(), Fatal> {
    let limits = sink.limits().clone();
    let xml_parser: Option<XmlParser> = match format {
        Format::JunitXml => Some(junit::parse),
        Format::NunitXml | Format::Nunit3Xml => Some(nunit::parse),
        Format::TestngXml => Some(testng::parse),
        Format::VisualStudioTrx => Some(trx::parse),
        Format::CloverXml => Some(clover::parse),
        Format::CoberturaXml => Some(cobertura::parse),
        Format::JacocoXml => Some(jacoco::parse),
        Format::CucumberJson | Format::SimpleCov | Format::Sarif | Format::Lcov => None,
    };
    let kind = if xml_parser.is_some() { Kind::Xml } else { Kind::Text };
    let limit = match format {
        Format::CucumberJson | Format::SimpleCov | Format::Sarif => Some(limits.json_bytes),
        _ => None,
    };
    let mut input = Input::new(reader, kind, limit).map_err(|e| Fatal::new(None, format!("could not read the file: {e}")))?;
    let head = input.head().to_vec();
    let result = match xml_parser {
        Some(parser) => {
            let mut xml = Xml::new(input, &limits);
            let mut result = parser(&mut xml, sink);
            if result.is_ok() && !xml.saw_element() {
                result = Err(Fatal::new(Some(xml.pos()), format!("expected the root element of a {format} file, found none: the file is empty, truncated or not XML")));
            }
            for (pos, note) in xml.take_notes() {
                sink.warn(pos, note);
            }
            result
        }
        None => {
            let lossy = |input: &Input, sink: &mut Sink| {
                if let Some(at) = input.lossy_at {
                    sink.warn(None, format!("the file has bytes that are not valid UTF-8 (first at byte {at}); they were read as U+FFFD"));
                }
            };
            let result = match format {
                Format::CucumberJson => cucumber::parse(&mut input, sink),
                Format::SimpleCov => simplecov::parse(&mut input, sink),
                Format::Sarif => sarif::parse(&mut input, sink),
                _ => lcov::parse(&mut input, sink),
            };
            lossy(&input, sink);
            result
        }
    };
    result.map_err(|mut f| {
        if f.not_format {
            if let Some(other) = sniff(&head).filter(|&o| o != format) {
                f.message.push_str(&format!("; the file looks like {other}: is the report group's file-format right?"));
            } else {
                f.message.push_str(&format!("; this is not a {format} file"));
            }
        }
        f
    })
}
