//! A 100 MB generated JUnit file (many suites, cases, failures with CDATA) parsed end to end
//! through `ReportBuilder` (default bounds: 100,000 kept cases, the 500-case record).
//!
//! Run: `cargo bench -p kiln-reports --bench junit` (release profile). For peak memory, see
//! `examples/report.rs` and the crate doc's Benchmarks section.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kiln_reports::{Format, ReportBuilder};
use std::hint::black_box;

mod junit_gen;

fn junit_100mb(c: &mut Criterion) {
    let (data, cases) = junit_gen::generate(100 << 20);
    let mut group = c.benchmark_group("junit");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function(format!("parse_100MB_{cases}_cases"), |b| {
        b.iter(|| {
            let mut builder = ReportBuilder::new("bench", Format::JunitXml);
            builder.add_file("bench.xml", black_box(&data[..]));
            let out = builder.finish();
            assert_eq!(out.report.test_summary.map(|t| t.total), Some(cases));
            black_box(out)
        })
    });
    group.finish();
}

criterion_group!(benches, junit_100mb);
criterion_main!(benches);
