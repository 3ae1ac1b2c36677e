//! kiln's pages, read from the records only: the self-contained HTML report of one build
//! (`kiln report BUILD_ID --html`, and `report.html` in the record with `kiln: report: html`)
//! and the `kiln ui` server.
//!
//! This crate never links the engine, the plugin host or wasmtime: it reads `kiln-record`'s types
//! from `.kiln/`, so a change to how builds run cannot break a page, and a page cannot show a
//! secret the record does not hold (the engine masks values before it writes; the shell state
//! and the secrets file are never read).
//!
//! - [`model`]: page models read from the records (logs, findings with their code, SBOMs,
//!   provenance verification, tests and coverage), testable without HTML;
//! - [`render`]: the pages, written with maud (every value escaped); [`svg`]: the charts;
//! - [`report_html`]: one build as one HTML file that needs nothing else (CSS inline, charts
//!   inline SVG, no script, a `<meta>` Content-Security-Policy that forbids scripts and requests);
//! - [`server`]: `kiln ui` (axum): token, session cookie and CSRF, security headers, the pages,
//!   a running build's log and a deployment in progress live, as server-sent events;
//! - [`sources`]: the seams for deployments and pipeline runs ([`sources::Deployments`],
//!   [`sources::Pipelines`], [`sources::Approver`]) with the file reader of
//!   `.kiln/deployments/`;
//! - [`dashboard`]: success rate, build-time percentiles, flaky tests and failure causes over
//!   the last builds.

pub mod dashboard;
pub mod fmt;
pub mod model;
pub mod render;
pub mod server;
pub mod sources;
pub mod svg;

use kiln_record::{ReadError, RecordId, Records};

/// How a standalone report links to the record's files (raw logs): `prefix` + the
/// record-relative path (`""` when the report is written inside the record, else the record
/// directory's `file://` URL with a trailing `/`).
pub struct FileLinks {
    pub prefix: String,
}

impl render::build::Links for FileLinks {
    fn raw(&self, rel: &str) -> String {
        format!("{}{rel}", self.prefix)
    }
    fn findings_page(&self, _from: usize) -> Option<String> {
        None
    }
    fn events(&self) -> Option<String> {
        None
    }
    fn batch(&self, _uuid: &str) -> Option<String> {
        None
    }
}

/// Limits of a standalone report: more than a served page's first screen (there is no next
/// page), still bounded.
pub fn report_limits() -> model::Limits {
    model::Limits { log_lines: 2000, findings: 1000, findings_from: 0, findings_with_code: 200, components: 5000 }
}

/// Build `id`'s report as one self-contained HTML document. `key`: a public key (its path, for
/// the page, and its bytes) to verify the provenance with, else the record's `provenance.pub`.
pub fn report_html(records: &Records, id: &RecordId, key: Option<(&str, &[u8])>, links: &FileLinks) -> Result<String, ReadError> {
    let page = model::BuildPage::load(records, id, report_limits(), key)?;
    let title = format!("{} #{}", page.build.project_name, page.build.build_number);
    Ok(render::layout::page(&title, render::layout::Mode::Standalone, render::layout::Nav::None, render::build::body(&page, links)).into_string())
}

/// The record a user means by `given`: a build uuid, `project:uuid`, or a unique prefix of a
/// uuid (at least 4 characters). The error says what matched.
pub fn resolve_build(records: &Records, given: &str) -> Result<RecordId, String> {
    records.resolve_build(given)
}
