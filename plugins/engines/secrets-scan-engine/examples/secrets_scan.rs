//! Scans a directory with the engine and prints `path:line:col: rule-id redacted` per finding,
//! plus throughput on stderr. Used by `bench/scanners.sh` and for the accuracy loop:
//!
//!     cargo run --release -p kiln-secrets-scan-engine --example secrets_scan -- DIR [--root ROOT] [--sarif OUT]
//!
//! Paths are printed relative to ROOT (default: DIR's parent, so `files/...` for the corpus).
//! `--sarif OUT` also writes the SARIF 2.1.0 log the plugin would write.

use kiln_secrets_scan_engine::{Scanner, is_binary, sarif};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(ty) = e.file_type() else { continue };
        if ty.is_dir() {
            walk(&e.path(), out);
        } else if ty.is_file() {
            out.push(e.path());
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).expect("usage: secrets_scan DIR [--root ROOT]"));
    let root = match args.iter().position(|a| a == "--root") {
        Some(i) => PathBuf::from(&args[i + 1]),
        None => dir.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let show = std::env::var_os("SHOW_SNIPPET").is_some();
    let read_only = std::env::var_os("READ_ONLY").is_some();
    let t0 = Instant::now();
    let scanner = Scanner::new();
    let mut files = Vec::new();
    walk(&dir, &mut files);
    files.sort();
    let (mut bytes, mut findings) = (0u64, 0usize);
    let mut out = String::new();
    let sarif_out = args
        .iter()
        .position(|a| a == "--sarif")
        .map(|i| PathBuf::from(&args[i + 1]));
    let mut all = Vec::new();
    for f in &files {
        let Ok(data) = std::fs::read(f) else { continue };
        bytes += data.len() as u64;
        if read_only || is_binary(&data) {
            continue;
        }
        let rel = f
            .strip_prefix(&root)
            .unwrap_or(f)
            .to_string_lossy()
            .into_owned();
        for x in scanner.scan(&rel, &data) {
            findings += 1;
            if sarif_out.is_some() {
                all.push((rel.clone(), x.clone()));
            }
            out.push_str(&format!(
                "{rel}:{}:{}: {} {}\n",
                x.line,
                x.col,
                x.rule.id,
                if show { &x.snippet } else { &x.redacted }
            ));
        }
    }
    if let Some(p) = &sarif_out {
        std::fs::write(p, sarif::to_sarif_string(env!("CARGO_PKG_VERSION"), &all))
            .expect("write SARIF");
    }
    let secs = t0.elapsed().as_secs_f64();
    print!("{out}");
    eprintln!(
        "{} files, {:.1} MB, {findings} findings, {secs:.3} s, {:.1} MB/s",
        files.len(),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs
    );
}
