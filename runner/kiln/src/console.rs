//! What a person sees while a build runs: each line prefixed with its phase; on a terminal, a
//! spinner naming the current phase (indicatif); plain lines otherwise. `NO_COLOR` turns colour off.
//! With `--json`, live output goes to stderr so stdout holds only the record. In a batch each
//! build has its own `Console` ([`Console::for_batch`]): every line starts with the build's
//! identifier, and its phase shows on the build's own bar of the batch display.
//!
//! Lines are collected and written out in blocks: when the output thread has handled everything
//! it read ([`Reporter::flush`]), at a phase change, or every 64 KiB, so a build printing
//! millions of lines costs a write per block, not per line.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use kiln_engine::{BuildOutcome, LineKind, PhaseStatus, PhaseType, Reporter};

/// The terminal reporter.
pub struct Console {
    bar: Option<ProgressBar>,
    color: bool,
    to_stderr: bool,
    /// Lines not written yet, each ending with `\n`.
    pending: String,
    /// The painted `[PHASE] ` prefix of output lines, for the phase it was made for.
    prefix: Option<(PhaseType, String)>,
    /// In a batch: the painted `[identifier] ` every line starts with.
    tag: String,
    /// The bar is this console's own (a single build): cleared when the console is dropped.
    owns_bar: bool,
}

/// Pending output is written once it is this long.
const FLUSH_AT: usize = 64 * 1024;

impl Console {
    pub fn new(json: bool) -> Console {
        let tty = std::io::stderr().is_terminal();
        let color = tty && std::env::var_os("NO_COLOR").is_none();
        let bar = tty.then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Console { bar, color, to_stderr: json, pending: String::new(), prefix: None, tag: String::new(), owns_bar: true }
    }

    /// The console of one build of a batch: lines tagged with `identifier`, the phase shown on
    /// `bar` (the batch display's, which the batch finishes), no bar without a terminal.
    pub fn for_batch(json: bool, identifier: &str, width: usize, bar: Option<ProgressBar>) -> Console {
        let color = bar.is_some() && std::env::var_os("NO_COLOR").is_none();
        let mut c = Console { bar, color, to_stderr: json, pending: String::new(), prefix: None, tag: String::new(), owns_bar: false };
        let tag = format!("[{identifier}]");
        let pad = (width + 2).saturating_sub(tag.len()) + 1;
        c.tag = format!("{}{}", c.paint("35", &tag), " ".repeat(pad));
        c
    }

    fn emit(&mut self, text: &str) {
        self.pending.push_str(&self.tag);
        self.emit_untagged(text);
    }

    fn emit_untagged(&mut self, text: &str) {
        self.pending.push_str(text);
        self.pending.push('\n');
        if self.pending.len() >= FLUSH_AT {
            self.write_pending();
        }
    }

    fn write_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        match &self.bar {
            Some(b) => b.println(self.pending.strip_suffix('\n').unwrap_or(&self.pending)),
            None if self.to_stderr => {
                let _ = std::io::stderr().lock().write_all(self.pending.as_bytes());
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(self.pending.as_bytes()).and_then(|()| out.flush());
            }
        }
        self.pending.clear();
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }
}

fn status_color(s: PhaseStatus) -> &'static str {
    if s == PhaseStatus::Succeeded { "32" } else { "31" }
}

impl Reporter for Console {
    fn phase_started(&mut self, phase: PhaseType) {
        self.write_pending();
        if let Some(b) = &self.bar {
            b.set_message(phase.as_str());
        }
    }

    fn phase_ended(&mut self, phase: PhaseType, status: PhaseStatus, duration: Duration) {
        let s = self.paint(status_color(status), status.as_str());
        let text = format!("[{}] {} {s} in {:.2}s", phase.as_str(), self.paint("1", "phase"), duration.as_secs_f64());
        self.emit(&text);
        self.write_pending();
    }

    fn line(&mut self, phase: PhaseType, kind: LineKind, text: &str) {
        if self.prefix.as_ref().is_none_or(|(p, _)| *p != phase) {
            self.prefix = Some((phase, format!("{} ", self.paint("2", &format!("[{}]", phase.as_str())))));
        }
        let prefix = self.prefix.as_ref().map(|(_, s)| s.as_str()).unwrap_or_default();
        self.pending.push_str(&self.tag);
        self.pending.push_str(prefix);
        if kind == LineKind::Kiln {
            let text = self.paint("36", &format!("kiln: {text}"));
            self.emit_untagged(&text);
        } else {
            self.emit_untagged(text);
        }
    }

    fn flush(&mut self) {
        self.write_pending();
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.write_pending();
        if let Some(b) = self.bar.as_ref().filter(|_| self.owns_bar) {
            b.finish_and_clear();
        }
    }
}

/// The end-of-build summary: phases with status and duration, artifacts, where the record is.
pub fn summary(o: &BuildOutcome) {
    let r = &o.record;
    println!("\nBuild {} (#{}) {}", r.id, r.build_number, r.build_status);
    for p in r.phases.iter().filter(|p| p.phase_status.is_some()) {
        let status = p.phase_status.map(|s| s.as_str()).unwrap_or("");
        let ctx = p.contexts.first().map(|c| format!("  {}: {}", c.status_code, c.message)).unwrap_or_default();
        let secs = p.duration.map(|d| d.as_secs_f64()).unwrap_or(0.0);
        println!("  {:<17} {:<10} {secs:>7.2}s{ctx}", p.phase_type.as_str(), status);
    }
    for a in r.artifacts.iter().chain(&r.secondary_artifacts) {
        println!("  artifact {}: {} file(s) at {}", a.artifact_identifier.as_deref().unwrap_or("primary"), a.files.len(), a.location);
    }
    if !r.exported_environment_variables.is_empty() {
        let names: Vec<&str> = r.exported_environment_variables.iter().map(|v| v.name.as_str()).collect();
        println!("  exported: {}", names.join(", "));
    }
    report_summary(&r.reports);
    if !r.kiln.sandbox.sandboxed {
        println!("  WARNING: this build ran without a sandbox");
    }
    println!("  record: {}", o.record_dir.join("build.json").display());
    if let Some(p) = &o.provenance {
        println!("  provenance: {}", p.display());
    }
}

/// How many failing tests and findings the summary lists (the record has them all, up to
/// CodeBuild's 500 per report; `kiln report` and the UI show more).
const SUMMARY_CAP: usize = 10;

/// Reports: one line each, then the failing tests and the most severe findings, capped.
fn report_summary(reports: &[kiln_engine::reports::ReportRecord]) {
    for r in reports {
        println!("  report {}", kiln_engine::reports::summary_line(r));
    }
    let failing: Vec<_> = kiln_engine::reports::failing_cases(reports).collect();
    for (report, case) in failing.iter().take(SUMMARY_CAP) {
        let name = if case.prefix.is_empty() { case.name.clone() } else { format!("{}.{}", case.prefix, case.name) };
        let place = match (&case.source_file, case.source_line) {
            (Some(f), Some(l)) => format!(" ({f}:{l})"),
            (Some(f), None) => format!(" ({f})"),
            _ => String::new(),
        };
        println!("    FAILED [{report}] {name}{place}");
        if let Some(m) = &case.message {
            for l in m.lines().filter(|l| !l.trim().is_empty()).take(3) {
                println!("      {}", l.trim_end());
            }
        }
    }
    if failing.len() > SUMMARY_CAP {
        println!("    … and {} more failing test(s) in the record", failing.len() - SUMMARY_CAP);
    }
    let mut findings: Vec<_> = reports.iter().flat_map(|r| r.findings.iter().map(move |f| (r.report.name.as_str(), f))).collect();
    findings.sort_by_key(|(_, f)| std::cmp::Reverse(f.severity));
    for (report, f) in findings.iter().take(SUMMARY_CAP) {
        let place = f.file_path.as_ref().map(|p| format!(" {p}{}", f.start_line.map(|l| format!(":{l}")).unwrap_or_default())).unwrap_or_default();
        println!("    {} [{report}] {}{place}: {}", format!("{:?}", f.severity).to_uppercase(), f.rule_id, f.message.lines().next().unwrap_or_default());
    }
    if findings.len() > SUMMARY_CAP {
        println!("    … and {} more finding(s) in the record", findings.len() - SUMMARY_CAP);
    }
}
