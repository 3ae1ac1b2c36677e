//! Located diagnostics: what went wrong, where (file, line, column), and what to do about it.
//!
//! Rendered in the rustc/miette style on a terminal and as one `file:line:col: severity: message`
//! line otherwise (or as JSON by the CLI).

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;

/// A position in a source file: byte offset and length, 1-based line and column (in characters).
/// (Defined in kiln-yaml, whose tree carries it.)
pub use kiln_yaml::Span;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a buildspec.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable code (`E…` for errors, `W…` for warnings) that tests and users can match on.
    pub code: &'static str,
    pub message: String,
    pub span: Span,
    /// Text shown under the source excerpt.
    pub label: Option<String>,
    pub notes: Vec<String>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(code: &'static str, message: String, span: Span) -> Self {
        Diagnostic { severity: Severity::Error, code, message, span, label: None, notes: Vec::new(), help: None }
    }
    /// A warning at `span`.
    pub fn warning(code: &'static str, message: String, span: Span) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message, span) }
    }
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col: error[E0100]: message` followed by help, for logs and non-terminals.
    pub fn to_plain(&self, file: &str) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut s = format!("{file}:{}:{}: {sev}[{}]: {}", self.span.line, self.span.col, self.code, self.message);
        for n in &self.notes {
            s.push_str(&format!("\n  note: {n}"));
        }
        if let Some(h) = &self.help {
            s.push_str(&format!("\n  help: {h}"));
        }
        s
    }

    /// Render with a source excerpt, in colour when `color` is set.
    pub fn render(&self, file: &str, source: &str, color: bool) -> String {
        let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
        let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1);
        let report = Rendered { diag: self, src: NamedSource::new(file, source.to_string()) };
        let mut out = String::new();
        if handler.render_report(&mut out, &report).is_err() {
            return self.to_plain(file);
        }
        out
    }
}

struct Rendered<'a> {
    diag: &'a Diagnostic,
    src: NamedSource<String>,
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.diag.message)
    }
}
impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.diag.message)
    }
}
impl std::error::Error for Rendered<'_> {}

impl miette::Diagnostic for Rendered<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        let mut parts: Vec<String> = self.diag.notes.iter().map(|n| format!("note: {n}")).collect();
        if let Some(h) = &self.diag.help {
            parts.push(h.clone());
        }
        (!parts.is_empty()).then(|| Box::new(parts.join("\n")) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = SourceSpan::new(self.diag.span.offset.into(), self.diag.span.len.max(1));
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(self.diag.label.clone(), span))))
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['-', '_'], "");
    candidates
        .iter()
        .map(|c| (c, strsim::jaro_winkler(&norm(word), &norm(c))))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("pre-build", &["install", "pre_build", "build", "post_build"]), Some("pre_build"));
        assert_eq!(did_you_mean("artifact", &["artifacts", "reports"]), Some("artifacts"));
        assert_eq!(did_you_mean("zzzz", &["artifacts", "reports"]), None);
    }

    #[test]
    fn render_contains_location_and_help() {
        let src = "version: 0.3\n";
        let d = Diagnostic::error("E0100", "unsupported version".into(), Span { offset: 9, len: 3, line: 1, col: 10 })
            .with_label("here")
            .with_help("use 0.2");
        let out = d.render("buildspec.yml", src, false);
        assert!(out.contains("buildspec.yml:1:10"), "{out}");
        assert!(out.contains("use 0.2"));
        assert_eq!(d.to_plain("b.yml"), "b.yml:1:10: error[E0100]: unsupported version\n  help: use 0.2");
    }
}
