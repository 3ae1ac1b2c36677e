//! Native driver of the engine (what the plugin does, without wasm): used by `bench/sbom.sh`.
//!
//! `cargo run --release -p kiln-sbom-engine --example sbom -- DIR OUT.cdx.json [NAME]`
//! prints one line: components, lockfiles, warnings and the time taken.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: sbom DIR OUT.cdx.json [NAME]");
        std::process::exit(2);
    }
    let t = Instant::now();
    let scan = kiln_sbom_engine::scan_dir(std::path::Path::new(&args[1]), &Default::default());
    let t_scan = t.elapsed();
    let opts = kiln_sbom_engine::BomOptions { name: args.get(3).cloned().unwrap_or_else(|| "build".into()), ..Default::default() };
    let (json, stats) = match kiln_sbom_engine::build(&scan.lockfiles, &opts) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = std::fs::write(&args[2], &json) {
        eprintln!("error: writing {}: {e}", args[2]);
        std::process::exit(1);
    }
    let warnings = scan.all_warnings();
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "components={} lockfiles={} warnings={} edges={} scan_ms={:.2} elapsed_ms={:.2}",
        stats.components,
        scan.lockfiles.len(),
        warnings.len(),
        stats.edges,
        t_scan.as_secs_f64() * 1000.0,
        t.elapsed().as_secs_f64() * 1000.0
    );
}
