//! `kiln report BUILD_ID --html [-o FILE] [--key cosign.pub]`: one build's record as one
//! self-contained HTML file (kiln-ui renders it), and the same file as a build byproduct
//! (`kiln: report: html` writes `report.html` into the record after the build).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use kiln_record::{Kind, RecordId, Records};

use crate::exit;

/// `kiln report`.
#[derive(Args)]
pub struct ReportArgs {
    /// The build: its id as `kiln build` prints it (`project:uuid`), its uuid, or the start of it.
    pub build_id: String,
    /// Write HTML (the only format; required so that a later one can be chosen).
    #[arg(long, required = true)]
    pub html: bool,
    /// Write the report here (atomically) instead of to standard output.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Verify the provenance with this public key (cosign.pub) instead of the record's
    /// ephemeral provenance.pub.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The project whose .kiln/ holds the build.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

/// How the report links to the record's raw files: relative when it is written inside the
/// record, else by the record's `file://` URL.
fn links_for(record_dir: &Path, output: Option<&Path>) -> kiln_ui::FileLinks {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    let inside = output.and_then(|o| o.parent()).map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p }).and_then(canon) == canon(record_dir) && output.is_some();
    if inside {
        return kiln_ui::FileLinks { prefix: String::new() };
    }
    let abs = canon(record_dir).unwrap_or_else(|| record_dir.to_path_buf());
    kiln_ui::FileLinks { prefix: format!("file://{}/", abs.display()) }
}

/// Render build `id` of `records` and write it to `output` (atomically) or return it.
pub fn render(records: &Records, id: &RecordId, key: Option<(&str, &[u8])>, output: Option<&Path>) -> Result<String, String> {
    let links = links_for(&records.dir(Kind::Build, id), output);
    let html = kiln_ui::report_html(records, id, key, &links).map_err(|e| e.to_string())?;
    if let Some(out) = output {
        kiln_fs::write_atomic(out, html.as_bytes(), true).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    }
    Ok(html)
}

pub fn run(args: ReportArgs) -> ExitCode {
    let records = Records::of_project(&args.dir);
    let id = match kiln_ui::resolve_build(&records, &args.build_id) {
        Ok(id) => id,
        Err(e) => return exit::usage(&e),
    };
    let key = match &args.key {
        Some(p) => match kiln_fs::read_input(p, kiln_fs::limits::KEY, "public key") {
            Ok(bytes) => Some((p.display().to_string(), bytes)),
            Err(e) => return exit::internal(&e.to_string()),
        },
        None => None,
    };
    match render(&records, &id, key.as_ref().map(|(p, b)| (p.as_str(), b.as_slice())), args.output.as_deref()) {
        Ok(html) => {
            match &args.output {
                Some(o) => eprintln!("kiln: report: {}", o.display()),
                None => print!("{html}"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => exit::internal(&e),
    }
}

/// `kiln: report: html`: after a build, `report.html` in its record. A failure is a warning:
/// the build's outcome stands.
pub fn byproduct(record_dir: &Path) {
    let (Some(builds), Some(uuid)) = (record_dir.parent(), record_dir.file_name().and_then(|n| n.to_str()).and_then(RecordId::parse)) else { return };
    let Some(kiln_dir) = builds.parent() else { return };
    let out = record_dir.join("report.html");
    match render(&Records::new(kiln_dir), &uuid, None, Some(&out)) {
        Ok(_) => eprintln!("kiln: report: {}", out.display()),
        Err(e) => eprintln!("kiln: warning: the HTML report (kiln: report: html) was not written: {e}"),
    }
}
