//! One build's page: the same body for `kiln report --html` and `kiln ui`'s build page.

use maud::{html, Markup};

use super::layout::{badge, card, digest, stat};
use crate::fmt;
use crate::model::{BuildPage, Coverage, Tests};
use crate::svg;

/// Where a build page's links point.
pub trait Links {
    /// A file of the record (`logs/BUILD.log`), for its raw contents.
    fn raw(&self, rel: &str) -> String;
    /// Another page of findings (`from` = first index), or `None` when the page has no pages.
    fn findings_page(&self, from: usize) -> Option<String>;
    /// The live event stream of a running build, if the page is served.
    fn events(&self) -> Option<String>;
    /// A batch's page.
    fn batch(&self, uuid: &str) -> Option<String>;
}

/// The page's body.
pub fn body(p: &BuildPage, links: &dyn Links) -> Markup {
    let b = &p.build;
    let duration = fmt::between(&b.start_time, b.end_time.as_deref());
    let running = !b.build_complete;
    html! {
        h1 { (b.project_name) " #" (b.build_number) " " (badge(&b.build_status))
            @if running { @if let Some(ev) = links.events() { span.live data-events=(ev) { "live · " span #live-phase { (b.current_phase) } } } }
        }
        div.sub {
            code { (b.id) } " · started " (fmt::when(&b.start_time))
            @if let Some(d) = duration { " · took " (fmt::seconds(d)) }
            " · by " (b.initiator)
            @if let Some(v) = &b.resolved_source_version { " · source " code { (fmt::short(v)) } }
            @if let (Some(k), Some(href)) = (&b.kiln.batch, b.build_batch_arn.as_deref().and_then(|a| a.rsplit(':').next()).and_then(|u| links.batch(u))) {
                " · batch build " a href=(href) { (k.identifier) }
            }
        }
        div.grid {
            (stat("Status", html! { span class=(fmt::tone(&b.build_status)) { (b.build_status) } }))
            (stat("Duration", html! { (duration.map(fmt::seconds).unwrap_or_else(|| "running".into())) }))
            @if p.tests.total > 0 { (stat("Tests passed", html! { (p.tests.passed) " / " (p.tests.total) })) }
            @for c in p.coverage.iter().take(1) { @if let Some(l) = c.summary.line_coverage_percentage { (stat("Line coverage", html! { (format!("{l:.1}%")) })) } }
            (stat("Findings", html! { (p.findings.items.len()) }))
            (stat("Artifact files", html! { (b.all_artifacts().map(|a| a.files.len()).sum::<usize>()) }))
        }
        @if !p.problems.is_empty() {
            div.warnbox { strong { "Some parts of the record could not be read:" } ul { @for e in &p.problems { li { (e) } } } }
        }
        (phases(p))
        @if !p.tests.reports.is_empty() { (tests(&p.tests)) }
        @if !p.coverage.is_empty() { (coverage(&p.coverage)) }
        @if !p.findings.items.is_empty() || !p.findings.sources.is_empty() { (findings(p, links)) }
        @if !p.sboms.is_empty() { (sboms(p)) }
        (artifacts(p))
        @if let Some(pr) = &p.provenance { (provenance(pr)) }
        (logs(p, links))
        (details(p))
    }
}

fn phases(p: &BuildPage) -> Markup {
    let spans: Vec<svg::Span> = p.phase_spans().into_iter().map(|(label, start, length, status)| svg::Span { text: fmt::seconds(length), label, start, length, tone: fmt::tone(&status) }).collect();
    let total = spans.iter().map(|s| s.start + s.length).fold(0.0, f64::max);
    card("Phases", "phases", html! {
        (svg::timeline(&spans, total))
        table {
            thead { tr { th { "Phase" } th { "Status" } th.num { "Duration" } th { "Context" } } }
            tbody {
                @for ph in p.build.phases.iter().filter(|ph| ph.phase_type != "COMPLETED") {
                    tr {
                        td { code { (ph.phase_type) } }
                        td { (badge(ph.phase_status.as_deref().unwrap_or("IN_PROGRESS"))) }
                        td.num { (fmt::between(&ph.start_time, ph.end_time.as_deref()).map(fmt::seconds).unwrap_or_else(|| "–".into())) }
                        td { @for c in &ph.contexts { @if !c.message.is_empty() || !c.status_code.is_empty() { div { code { (c.status_code) } " " (c.message) } } } }
                    }
                }
            }
        }
    })
}

fn tests(t: &Tests) -> Markup {
    card("Tests", "tests", html! {
        div.grid {
            (stat("Total", html! { (t.total) }))
            (stat("Passed", html! { span.ok { (t.passed) } }))
            (stat("Failed", html! { span class=(if t.failed > 0 { "bad" } else { "" }) { (t.failed) } }))
            (stat("Errors", html! { span class=(if t.errors > 0 { "bad" } else { "" }) { (t.errors) } }))
            (stat("Skipped", html! { (t.skipped) }))
            (stat("Time", html! { (fmt::seconds(t.duration_ns as f64 / 1e9)) }))
        }
        @if t.failing.is_empty() {
            @if t.failed + t.errors == 0 { div.okbox { "Every test passed (" (t.reports.join(", ")) ")." } }
        } @else {
            h3 { "Failing tests" }
            @for (report, c) in &t.failing {
                div.failure {
                    div.name { (badge(c.status.as_str())) " " (c.prefix) @if !c.prefix.is_empty() { " › " } (c.name) }
                    div.muted {
                        "report " (report)
                        @if let Some(f) = &c.source_file { " · " code { (f) @if let Some(l) = c.source_line { ":" (l) } } }
                        @if c.duration_in_nano_seconds > 0 { " · " (fmt::seconds(c.duration_in_nano_seconds as f64 / 1e9)) }
                    }
                    @if let Some(m) = &c.message { pre { (m) } }
                }
            }
        }
        @if t.failing_not_kept > 0 { p.note { (t.failing_not_kept) " more failures were counted than the record keeps (CodeBuild keeps 500 cases per report); see the report's report.json." } }
    })
}

fn coverage(list: &[Coverage]) -> Markup {
    card("Coverage", "coverage", html! {
        @for c in list {
            h3 { (c.name) " · "
                @if let Some(l) = c.summary.line_coverage_percentage { (format!("{l:.1}% of lines")) } @else { "no lines" }
                @if let Some(br) = c.summary.branch_coverage_percentage { ", " (format!("{br:.1}% of branches")) }
            }
            table {
                thead { tr { th { "File" } th { "Lines" } th.num { "Covered" } th.num { "Missed" } th.num { "Branches" } } }
                tbody {
                    @for f in &c.files {
                        @let pct = f.line_coverage_percentage.unwrap_or(0.0);
                        tr {
                            td.mono { (f.file_path) }
                            td { (svg::meter(pct, 160, if pct >= 80.0 { "ok" } else if pct >= 50.0 { "warn" } else { "bad" })) " " (f.line_coverage_percentage.map(|l| format!("{l:.1}%")).unwrap_or_else(|| "–".into())) }
                            td.num { (f.lines_covered) }
                            td.num { (f.lines_missed) }
                            td.num { (f.branch_coverage_percentage.map(|l| format!("{l:.1}%")).unwrap_or_else(|| "–".into())) }
                        }
                    }
                }
            }
        }
    })
}

fn findings(p: &BuildPage, links: &dyn Links) -> Markup {
    let f = &p.findings;
    let (from, n) = (p.limits.findings_from, p.limits.findings);
    let shown: Vec<_> = f.items.iter().enumerate().skip(from).take(n).collect();
    card("Security findings", "findings", html! {
        div.sub {
            @for (s, count) in f.by_severity() { span class=(format!("badge sev-{}", sev(s))) { (count) " " (sev(s)) } " " }
            " from " (f.sources.join(", "))
        }
        @for (i, x) in &shown {
            div.finding {
                div.head {
                    span class=(format!("badge sev-{}", sev(x.severity))) { (sev(x.severity)) }
                    strong { (x.rule_id) }
                    span.muted { (x.tool) }
                    @if let Some(file) = &x.file_path { code { (file) @if let Some(l) = x.start_line { ":" (l) } } }
                }
                p.msg { (x.message) }
                @if let Some(Some(ctx)) = p.finding_code.get(i - from) {
                    pre.code title=(format!("from {}", ctx.from)) {
                        @for (no, text) in &ctx.lines {
                            span class=(if (ctx.hit.0..=ctx.hit.1).contains(no) { "cl hit" } else { "cl" }) { span.ln { (no) } (text) }
                        }
                    }
                }
            }
        }
        @if f.items.is_empty() { div.okbox { "No findings." } }
        @if from + n < f.items.len() || from > 0 {
            div.pager {
                span.muted { "findings " (from + 1) "–" ((from + n).min(f.items.len())) " of " (f.items.len()) }
                @if from > 0 { @if let Some(h) = links.findings_page(from.saturating_sub(n)) { a.button href=(h) { "← previous" } } }
                @if from + n < f.items.len() {
                    @if let Some(h) = links.findings_page(from + n) { a.button href=(h) { "next →" } }
                    @else { span.muted { " — the rest are in the SARIF files of the record (" (f.sources.join(", ")) ")" } }
                }
            }
        }
        p.note { "The code around a finding is shown when an artifact of the build holds its file (the working copy is gone after the build)." }
    })
}

fn sev(s: kiln_reports::Severity) -> &'static str {
    match s {
        kiln_reports::Severity::Critical => "critical",
        kiln_reports::Severity::High => "high",
        kiln_reports::Severity::Medium => "medium",
        kiln_reports::Severity::Low => "low",
        kiln_reports::Severity::Note => "note",
    }
}

fn sboms(p: &BuildPage) -> Markup {
    card("Software bill of materials", "sbom", html! {
        @for s in &p.sboms {
            h3 { code { (s.path) } " · CycloneDX " (s.spec_version) " · " (s.components.len()) " components" }
            table {
                thead { tr { th { "Component" } th { "Version" } th { "Licenses" } th { "purl" } } }
                tbody {
                    @for c in s.components.iter().take(p.limits.components) {
                        tr { td { (c.name) } td.mono { (c.version) } td { (c.licenses.join(", ")) } td.mono.muted { (c.purl.as_deref().unwrap_or("")) } }
                    }
                }
            }
            @if s.components.len() > p.limits.components { p.note { (s.components.len() - p.limits.components) " more components in " (s.path) } }
        }
    })
}

fn artifacts(p: &BuildPage) -> Markup {
    let list: Vec<_> = p.build.all_artifacts().collect();
    card("Artifacts", "artifacts", html! {
        @if list.is_empty() { p.muted { "This build published no artifacts." } }
        @for a in &list {
            h3 { (a.artifact_identifier.as_deref().unwrap_or("primary")) " " span.muted.mono { (a.location) }
                @if let Some(z) = &a.sha256sum { " zip sha256 " (digest(z)) } }
            table {
                thead { tr { th { "File" } th.num { "Size" } th { "sha256" } } }
                tbody { @for f in &a.files { tr { td.mono { (f.path) } td.num { (fmt::bytes(f.size)) } td { (digest(&f.sha256)) } } } }
            }
        }
    })
}

fn provenance(pr: &crate::model::provenance::Provenance) -> Markup {
    use crate::model::provenance::KeySource;
    card("Provenance", "provenance", html! {
        @match &pr.signature {
            Ok(key_id) => {
                @if pr.mismatches.is_empty() {
                    div.okbox { strong { "Verified. " } "The signature of provenance.intoto.jsonl verifies with "
                        @match &pr.key { Some(KeySource::Given(path)) => { "the key " code { (path) } }, _ => { "the record's provenance.pub" } }
                        " (key id " (digest(key_id)) "), and all " (pr.checked) " artifact files are subjects with the same sha256." }
                } @else {
                    div.badbox { strong { "Not verified: " } (pr.mismatches.len()) " artifact files of the record are not subjects with the same digest: " (pr.mismatches.join(", ")) }
                }
                @if pr.key == Some(KeySource::Record) {
                    p.note { "provenance.pub is the ephemeral key the build generated and kept beside its provenance: this shows the record is whole and unchanged since it was signed, not who made it. Give your key with kiln report --key." }
                }
            }
            Err(e) => { div.badbox { strong { "Not verified: " } (e) } }
        }
        table {
            tbody {
                tr { th { "Predicate" } td.mono { (pr.predicate_type) } }
                @if let Some(b) = &pr.builder_id { tr { th { "Builder" } td.mono { (b) } } }
                @if let Some(b) = &pr.build_type { tr { th { "Build type" } td.mono { (b) } } }
                tr { th { "Subjects" } td { (pr.subjects.len()) } }
                @for (name, d) in &pr.dependencies { tr { th { "Dependency" } td.mono { (name) " " span.muted { (fmt::short(d)) } } } }
            }
        }
    })
}

fn logs(p: &BuildPage, links: &dyn Links) -> Markup {
    card("Logs", "logs", html! {
        div #logs-list {
            @for l in &p.logs {
                @let failed = p.build.phases.iter().any(|ph| ph.phase_type == l.phase && fmt::tone(ph.phase_status.as_deref().unwrap_or("")) == "bad");
                details.log open[failed || (!p.build.build_complete && Some(l.phase.as_str()) == p.build.phases.last().map(|x| x.phase_type.as_str()))] {
                    summary {
                        span.grow { (l.phase) }
                        span.muted { (l.total_lines.map(|n| format!("{n} lines")).unwrap_or_default()) " · " (fmt::bytes(l.bytes)) }
                        a href=(links.raw(&l.rel)) { "raw" }
                    }
                    pre.log data-phase=(l.phase) {
                        @if l.truncated {
                            span.more { @if let Some(e) = l.earlier() { (e) " earlier lines" } @else { "earlier lines" } " not shown: open the raw log" }
                        }
                        @for line in &l.lines { span class=(if line.starts_with("[kiln] ") { "l k" } else { "l" }) { (line) } }
                    }
                }
            }
            @if p.logs.is_empty() { p.muted { "No logs in the record." } }
        }
    })
}

fn details(p: &BuildPage) -> Markup {
    let k = &p.build.kiln;
    card("Build details", "details", html! {
        table {
            tbody {
                tr { th { "Buildspec" } td.mono { (k.buildspec.path) " " span.muted { (fmt::short(&k.buildspec.sha256)) } } }
                tr { th { "Source" } td.mono { (k.source_dir) @if let Some(r) = &k.source_repository { " (" (r) ")" } } }
                tr { th { "Sandbox" } td { @if k.sandbox.sandboxed { (k.sandbox.mechanisms.join(", ")) } @else { span.badge.s-bad { "NOT SANDBOXED" } } @if k.sandbox.network { " · network on" } } }
                @if !k.sandbox.missing.is_empty() { tr { th { "Not available" } td { (k.sandbox.missing.join("; ")) } } }
                tr { th { "Shell" } td.mono { (k.shell) } }
                @if !k.secret_variables.is_empty() { tr { th { "Secret variables" } td.mono { (k.secret_variables.join(", ")) " " span.muted { "(names only; values are masked everywhere)" } } } }
                @for v in &p.build.exported_environment_variables { tr { th { "Exported" } td.mono { (v.name) "=" (v.value) } } }
                @if let Some(c) = &k.cache { tr { th { "Cache" } td { @if let Some(r) = &c.restored { "restored (" (r.matched) ", " (r.files) " files) " } @if let Some(s) = &c.saved { "saved: " (s.outcome) } } } }
                tr { th { "kiln" } td { (k.version) } }
            }
        }
        @if !k.plugins.is_empty() {
            h3 { "Plugin steps" }
            table {
                thead { tr { th { "Step" } th { "Outcome" } th.num { "Time" } th.num { "Findings" } th { "Message" } } }
                tbody { @for pl in &k.plugins { tr { td { code { (pl.uses) } } td { (badge(&pl.outcome.to_uppercase())) } td.num { (fmt::seconds(pl.duration_ms as f64 / 1000.0)) } td.num { (pl.findings) } td { (pl.message.as_deref().unwrap_or("")) } } } }
            }
        }
        @if !k.notices.is_empty() { h3 { "Notices" } ul { @for n in &k.notices { li { (n) } } } }
    })
}
