//! AppSpec parsing speed for BENCHMARKS.md: parse + validate (`kiln_spec::parse_appspec`) of the
//! real corpus files, of a JSON file, and of large generated files (to show the cost grows
//! linearly). Prints a markdown table of medians and p90 per input.
//!
//! Run: `cargo bench -p kiln-spec --bench appspec_parse` (release profile). `KILN_BENCH_ITERS`
//! scales the iteration counts (default 1).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[(v.len() * 9 / 10).min(v.len() - 1)])
}

/// Time `runs` parses of `src`; print a row with the median, p90 and throughput.
fn row(what: &str, src: &str, runs: usize) {
    timed(what, src, runs, |s| drop(black_box(kiln_spec::parse_appspec(s))));
}

/// The same for the YAML tree alone (kiln-yaml, no AppSpec conversion), for comparison.
fn yaml_row(what: &str, src: &str, runs: usize) {
    timed(what, src, runs, |s| drop(black_box(kiln_spec::yaml::parse(s))));
}

fn timed(what: &str, src: &str, runs: usize, f: impl Fn(&str)) {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f(black_box(src));
        times.push(t.elapsed());
    }
    let (med, p90) = stats(times);
    let mb_s = src.len() as f64 / med.as_secs_f64() / 1e6;
    println!("| {what} | {} | {runs} | {:.1} µs | {:.1} µs | {mb_s:.1} |", src.len(), med.as_secs_f64() * 1e6, p90.as_secs_f64() * 1e6);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / `cargo test --benches` probes.
    }
    let scale: usize = std::env::var("KILN_BENCH_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/appspecs");
    let corpus = |name: &str| std::fs::read_to_string(dir.join(name)).expect("corpus file");
    println!("| input | bytes | runs | median | p90 | MB/s |");
    println!("|---|---|---|---|---|---|");
    row("EC2 (graphhopper: files, permissions, 3 hooks)", &corpus("graphhopper__graphhopper__codedeploy_appspec.yml"), 2000 * scale);
    yaml_row("the same, YAML tree only", &corpus("graphhopper__graphhopper__codedeploy_appspec.yml"), 2000 * scale);
    row("ECS (Snaketron: network, capacity, 5 hooks)", &corpus("lopatin__Snaketron__deploy_appspec.yml"), 2000 * scale);
    row("Lambda (TheCloudGuruSarp)", &corpus("TheCloudGuruSarp__Multi-Target-Canary-Rollout-Assessment__appspec-lambda.yml"), 2000 * scale);
    let json = "{\"version\": 0.0, \"Resources\": [{\"TargetService\": {\"Type\": \"AWS::ECS::Service\", \"Properties\": {\"TaskDefinition\": \"arn:aws:ecs:us-east-1:1:task-definition/web:3\", \"LoadBalancerInfo\": {\"ContainerName\": \"web\", \"ContainerPort\": 80}}}}], \"Hooks\": [{\"BeforeInstall\": \"pre\"}, {\"AfterAllowTraffic\": \"post\"}]}";
    row("ECS in JSON", json, 2000 * scale);
    let mut files: Vec<String> = std::fs::read_dir(&dir).expect("corpus").filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml")).filter_map(|p| std::fs::read_to_string(p).ok()).collect();
    files.sort();
    let t = Instant::now();
    let rounds = 200 * scale;
    for _ in 0..rounds {
        for f in &files {
            black_box(kiln_spec::parse_appspec(black_box(f)));
        }
    }
    let per = t.elapsed() / (rounds * files.len()) as u32;
    println!("| whole corpus ({} files), mean per file | {} | {rounds} rounds | {:.1} µs (mean) | | |", files.len(), files.iter().map(String::len).sum::<usize>(), per.as_secs_f64() * 1e6);
    for scripts in [1_000, 10_000] {
        let big = format!("version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv\nhooks:\n  AfterInstall:\n{}", "    - location: scripts/step.sh\n      timeout: 1\n      runas: app\n".repeat(scripts));
        row(&format!("EC2, {scripts} scripts in one event"), &big, 20 * scale);
        yaml_row("the same, YAML tree only", &big, 20 * scale);
    }
}
