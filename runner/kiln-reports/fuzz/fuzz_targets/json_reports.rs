#![no_main]
//! The JSON formats (Cucumber, SimpleCov, SARIF) on any bytes.

use kiln_reports::Format;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    for format in [Format::CucumberJson, Format::SimpleCov, Format::Sarif] {
        common::check(format, data);
    }
});
