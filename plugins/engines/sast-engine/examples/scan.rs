//! Scan a directory natively and print `path:line:col: rule-id message` lines (paths relative to
//! the current directory). Used by the accuracy test and `bench/sast.sh`.
//!
//!     cargo run --release -p kiln-sast-engine --example scan -- DIR [RULES.toml]
//!     cargo run --release -p kiln-sast-engine --example scan -- --list-rules   (markdown table)

use std::path::Path;

use kiln_sast_engine::{Engine, FileOutcome, parse_rules};

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&e.path(), out);
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--list-rules") {
        let engine = Engine::new(Vec::new()).expect("built-in rules");
        println!("| id | languages | CWE | severity | finding |");
        println!("|---|---|---|---|---|");
        for r in engine.rule_infos() {
            let langs: Vec<&str> = r.languages.iter().map(|l| l.name()).collect();
            println!(
                "| `{}` | {} | {} | {} | {} |",
                r.id,
                langs.join(", "),
                r.cwe.join(", "),
                r.severity,
                r.message.replace('|', "\\|")
            );
        }
        return;
    }
    let Some(dir) = args.get(1) else {
        eprintln!("usage: scan DIR [RULES.toml]");
        std::process::exit(2);
    };
    let extra = match args.get(2) {
        Some(p) => {
            let text = std::fs::read_to_string(p).unwrap_or_else(|e| {
                eprintln!("{p}: {e}");
                std::process::exit(2)
            });
            parse_rules(p, &text).unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(2)
            })
        }
        None => Vec::new(),
    };
    let engine = Engine::new(extra).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let mut files = Vec::new();
    walk(Path::new(dir), &mut files);
    files.sort();
    for f in files {
        let path = f.to_string_lossy().replace('\\', "/");
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        match engine.scan_bytes(&path, &bytes) {
            FileOutcome::Scanned(findings) => {
                for x in findings {
                    println!(
                        "{}:{}:{}: {} {}",
                        x.path, x.start_line, x.start_col, x.rule_id, x.snippet
                    );
                }
            }
            FileOutcome::Skipped(why) => eprintln!("warning: {path}: skipped: {why}"),
            FileOutcome::NotApplicable => {}
        }
    }
}
