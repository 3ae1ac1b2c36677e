//! The per-call state a plugin works with: config, roots, collected findings and outputs.

use crate::bindings::exports::kiln::plugin::step_plugin::StepResult;
use crate::{Error, Finding, Location, ProducedFile, Severity, SourceFile};

/// One run of a step plugin: its typed config, the mounted roots, and what it has reported so far.
pub struct Step<C> {
    config: C,
    source_root: Option<String>,
    output_root: Option<String>,
    findings: Vec<Finding>,
    outputs: Vec<ProducedFile>,
    summary: String,
}

impl<C> Step<C> {
    /// Used by the export glue; plugins receive a ready `Step`.
    #[doc(hidden)]
    pub fn new(config: C, source_root: Option<String>, output_root: Option<String>) -> Self {
        Step {
            config,
            source_root,
            output_root,
            findings: Vec::new(),
            outputs: Vec::new(),
            summary: String::new(),
        }
    }

    /// The typed configuration.
    pub fn config(&self) -> &C {
        &self.config
    }

    /// The source root (`/src`) if the plugin was granted `read-source`.
    pub fn source_root(&self) -> Option<&str> {
        self.source_root.as_deref()
    }

    /// The output root (`/out`) if the plugin was granted `write-output`.
    pub fn output_root(&self) -> Option<&str> {
        self.output_root.as_deref()
    }

    /// Every regular file under the source root, sorted by path, paths relative to the root.
    /// Symlinks are not followed. Fails when `read-source` was not granted.
    pub fn source_files(&self) -> Result<Vec<SourceFile>, Error> {
        let root = self
            .source_root
            .as_deref()
            .ok_or_else(|| Error::failed("read-source was not granted"))?;
        crate::walk::walk(root)
    }

    /// Start building a finding; call [`FindingBuilder::report`] to add it.
    pub fn finding(
        &mut self,
        rule_id: &str,
        severity: Severity,
        message: impl Into<String>,
    ) -> FindingBuilder<'_, C> {
        FindingBuilder {
            step: self,
            finding: Finding {
                rule_id: rule_id.to_string(),
                severity,
                location: None,
                message: message.into(),
                fingerprint: String::new(),
            },
        }
    }

    /// Add a finding built elsewhere.
    pub fn report(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// The findings reported so far.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Write `bytes` to `path` (relative to the output root, `/` separated, parent directories
    /// created) and record it as a produced file with `media_type`.
    pub fn write_output(
        &mut self,
        path: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), Error> {
        let root = self
            .output_root
            .as_deref()
            .ok_or_else(|| Error::failed("write-output was not granted"))?;
        if path.is_empty()
            || path.starts_with('/')
            || path
                .split('/')
                .any(|c| c == ".." || c == "." || c.is_empty())
        {
            return Err(Error::failed(format!(
                "output path must be relative and normalized: {path:?}"
            )));
        }
        let full = format!("{root}/{path}");
        if let Some((parent, _)) = full.rsplit_once('/') {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&full, bytes)?;
        self.outputs.push(ProducedFile {
            path: path.to_string(),
            media_type: media_type.to_string(),
        });
        Ok(())
    }

    /// Record a file the plugin wrote itself (relative to the output root).
    pub fn add_output(&mut self, path: &str, media_type: &str) {
        self.outputs.push(ProducedFile {
            path: path.to_string(),
            media_type: media_type.to_string(),
        });
    }

    /// Set the one-line summary shown in the build log.
    pub fn set_summary(&mut self, summary: impl Into<String>) {
        self.summary = summary.into();
    }

    pub(crate) fn into_result(self) -> StepResult {
        StepResult {
            findings: self.findings,
            outputs: self.outputs,
            summary: self.summary,
        }
    }
}

/// Builds one finding; see [`Step::finding`].
pub struct FindingBuilder<'a, C> {
    step: &'a mut Step<C>,
    finding: Finding,
}

impl<C> FindingBuilder<'_, C> {
    /// A single position (1-based line and column).
    pub fn at(self, path: &str, line: u32, col: u32) -> Self {
        self.span(path, line, col, line, col)
    }

    /// A region (1-based, inclusive start, end column exclusive as in SARIF).
    pub fn span(
        mut self,
        path: &str,
        start_line: u32,
        start_col: u32,
        end_line: u32,
        end_col: u32,
    ) -> Self {
        self.finding.location = Some(Location {
            path: path.to_string(),
            start_line,
            start_col,
            end_line,
            end_col,
        });
        self
    }

    /// A stable fingerprint (e.g. a hash of the rule and the matched text); the host derives one
    /// from rule, path and message when none is given.
    pub fn fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.finding.fingerprint = fingerprint.into();
        self
    }

    /// Add the finding to the step's result.
    pub fn report(self) {
        self.step.findings.push(self.finding);
    }
}
