//! `kiln validate` and the buildspec loading that `kiln build` shares with it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln_spec::{parse_buildspec, BuildSpec, Diagnostic};

fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

fn print_diagnostics(path: &Path, source: &str, diags: &[Diagnostic]) {
    let name = path.display().to_string();
    let fancy = std::io::stderr().is_terminal();
    for d in diags {
        if fancy {
            eprintln!("{}", d.render(&name, source, color()));
        } else {
            eprintln!("{}", d.to_plain(&name));
        }
    }
}

/// Read and check a buildspec for a build, printing diagnostics; `None` if it cannot run.
pub fn load_for_build(path: &Path) -> Option<(BuildSpec, Vec<u8>)> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read the buildspec {}: {e}", path.display());
            eprintln!("  help: pass the file with -b/--buildspec, or run kiln in the project directory");
            return None;
        }
    };
    let Ok(source) = String::from_utf8(bytes.clone()) else {
        eprintln!("error: {} is not UTF-8 text", path.display());
        return None;
    };
    let parsed = parse_buildspec(&source);
    print_diagnostics(path, &source, &parsed.diagnostics);
    parsed.spec.map(|s| (s, bytes))
}

/// `kiln validate FILE…`: 0 when every file is valid (warnings allowed), 2 otherwise.
pub fn run(files: &[PathBuf], json: bool) -> ExitCode {
    let files: Vec<PathBuf> = if files.is_empty() { vec![PathBuf::from("buildspec.yml")] } else { files.to_vec() };
    let mut ok = true;
    let mut report = Vec::new();
    for path in &files {
        let source = match std::fs::read(path).map(String::from_utf8) {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => {
                eprintln!("error: {} is not UTF-8 text", path.display());
                ok = false;
                continue;
            }
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                ok = false;
                continue;
            }
        };
        let parsed = parse_buildspec(&source);
        ok &= !parsed.has_errors();
        if json {
            report.push(serde_json::json!({ "file": path, "valid": !parsed.has_errors(), "diagnostics": parsed.diagnostics }));
        } else {
            print_diagnostics(path, &source, &parsed.diagnostics);
            let warnings = parsed.diagnostics.len() - parsed.diagnostics.iter().filter(|d| d.is_error()).count();
            if parsed.has_errors() {
                eprintln!("{}: invalid", path.display());
            } else {
                println!("{}: valid{}", path.display(), if warnings > 0 { format!(" ({warnings} warning(s))") } else { String::new() });
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::from(crate::exit::INVALID) }
}
