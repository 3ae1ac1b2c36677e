//! Any JSON as a release statement: `statement::facts` refuses or reads it, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(st) = kiln_attest::intoto::Statement::from_json(data) {
        let _ = kiln_release::statement::facts(&st);
    }
});
