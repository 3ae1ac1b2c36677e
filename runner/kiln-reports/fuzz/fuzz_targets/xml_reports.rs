#![no_main]
//! Every XML format (JUnit, NUnit 2/3, TestNG, TRX, Cobertura, JaCoCo, Clover) on any bytes.

use kiln_reports::Format;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    for format in [Format::JunitXml, Format::NunitXml, Format::TestngXml, Format::VisualStudioTrx, Format::CoberturaXml, Format::JacocoXml, Format::CloverXml] {
        common::check(format, data);
    }
});
