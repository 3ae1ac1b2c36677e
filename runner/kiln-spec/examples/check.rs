//! Print the diagnostics kiln-spec finds in each file given on the command line.
fn main() {
    for path in std::env::args().skip(1) {
        let src = std::fs::read_to_string(&path).expect("read");
        let parsed = kiln_spec::parse_buildspec(&src);
        let name = path.rsplit('/').next().unwrap_or(&path).to_string();
        println!("{} {}", if parsed.has_errors() { "ERR" } else { "ok " }, name);
        for d in &parsed.diagnostics {
            println!("    {}", d.to_plain(&name).replace('\n', "\n    "));
        }
    }
}
