//! Parse report files into one report and print its normalized JSON (pretty) and warnings.
//!
//! `cargo run -p kiln-reports --release --example report -- FORMAT FILE...` (used by the
//! benchmark notes to measure peak RSS with `/usr/bin/time -v`; `--summary` prints only the
//! report object).

use kiln_reports::{Format, ReportBuilder};
use std::io::BufReader;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let summary = args.iter().any(|a| a == "--summary");
    args.retain(|a| a != "--summary");
    let Some(format) = args.first().and_then(|f| Format::from_name(f)) else {
        eprintln!("usage: report FORMAT FILE... [--summary]");
        std::process::exit(2);
    };
    let mut builder = ReportBuilder::new("example", format);
    for path in &args[1..] {
        match std::fs::File::open(path) {
            Ok(f) => builder.add_file(path, BufReader::new(f)),
            Err(e) => eprintln!("{path}: {e}"),
        }
    }
    let out = builder.finish();
    for w in &out.warnings {
        eprintln!("warning: {w}");
    }
    let json = if summary { serde_json::to_string_pretty(&out.report) } else { serde_json::to_string_pretty(&out.normalized()) };
    println!("{}", json.unwrap_or_default());
}
