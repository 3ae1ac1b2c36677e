#![no_main]
//! LCOV tracefiles on any bytes.

use kiln_reports::Format;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| common::check(Format::Lcov, data));
