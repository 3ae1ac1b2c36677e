//! The cloudformation reader (and validation and the runnable table) on arbitrary input: the input is
//! wrapped so that the reader of this kind is the one that reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let doc = format!("{}{text}{}", "AWSTemplateFormatVersion: 2010-09-09\n", "");
    let mut opts = kiln_pipeline::ReadOptions::default();
    opts.params.set("AWS::Region", "us-east-1");
    if let Ok(read) = kiln_pipeline::parse(&doc, "template.yml", &opts) {
        let _ = kiln_pipeline::validate(&read.definition);
        let _ = kiln_pipeline::runnable(&read.definition, &Default::default());
        let _ = kiln_pipeline::api::to_get_pipeline_json(&read.definition.pipeline);
    }
});
