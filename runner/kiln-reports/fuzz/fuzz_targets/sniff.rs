#![no_main]
//! Format recognition on any head: never panics, and a recognised file is parsed as that format.

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    if let Some(format) = kiln_reports::sniff(data) {
        common::check(format, data);
    }
});
