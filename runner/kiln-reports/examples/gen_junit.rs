//! Write the benchmark's generated JUnit file: `gen_junit OUT.xml [MiB]` (default 100).

#[path = "../benches/junit_gen.rs"]
mod junit_gen;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: gen_junit OUT.xml [MiB]");
        std::process::exit(2);
    };
    let mib: usize = args.next().and_then(|m| m.parse().ok()).unwrap_or(100);
    let (data, cases) = junit_gen::generate(mib << 20);
    if let Err(e) = std::fs::write(&path, &data) {
        eprintln!("{path}: {e}");
        std::process::exit(1);
    }
    println!("{path}: {} bytes, {cases} test cases", data.len());
}
