//! Print the diagnostics kiln-spec finds in each file given on the command line: an AppSpec when
//! the file name contains "appspec", else a buildspec.
fn main() {
    for path in std::env::args().skip(1) {
        let src = std::fs::read_to_string(&path).expect("read");
        let name = path.rsplit('/').next().unwrap_or(&path).to_string();
        let (errors, diagnostics) = if name.to_ascii_lowercase().contains("appspec") {
            let parsed = kiln_spec::parse_appspec(&src);
            (parsed.has_errors(), parsed.diagnostics)
        } else {
            let parsed = kiln_spec::parse_buildspec(&src);
            (parsed.has_errors(), parsed.diagnostics)
        };
        println!("{} {}", if errors { "ERR" } else { "ok " }, name);
        for d in &diagnostics {
            println!("    {}", d.to_plain(&name).replace('\n', "\n    "));
        }
    }
}
