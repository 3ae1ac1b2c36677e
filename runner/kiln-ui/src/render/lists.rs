//! The build history, the batch list and one batch's page, and the dashboard.

use maud::{html, Markup};

use super::layout::{badge, card, stat};
use crate::dashboard::{FailureCause, FlakyTest, RunStats};
use crate::fmt;
use crate::svg;
use kiln_record::{Build, BuildBatch};

/// The history's filters, as the query string gave them.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub status: String,
    pub project: String,
    pub q: String,
    pub page: usize,
}

impl Filters {
    /// Whether `b` passes.
    pub fn keep(&self, b: &Build) -> bool {
        let q = self.q.to_lowercase();
        (self.status.is_empty() || b.build_status == self.status)
            && (self.project.is_empty() || b.project_name == self.project)
            && (q.is_empty()
                || [b.id.as_str(), b.project_name.as_str(), b.initiator.as_str(), b.resolved_source_version.as_deref().unwrap_or(""), b.source_version.as_deref().unwrap_or(""), b.kiln.batch.as_ref().map(|k| k.identifier.as_str()).unwrap_or("")].iter().any(|s| s.to_lowercase().contains(&q))
                || b.phases.iter().flat_map(|p| &p.contexts).any(|c| c.message.to_lowercase().contains(&q)))
    }

    fn query(&self, page: usize) -> String {
        let e = crate::server::auth::enc;
        format!("/?status={}&project={}&q={}&page={page}", e(&self.status), e(&self.project), e(&self.q))
    }
}

/// Builds a page of the history holds.
pub const PER_PAGE: usize = 50;

/// Why a failed build failed: its first failed phase and that phase's message.
fn cause(b: &Build) -> Option<String> {
    let p = b.phases.iter().find(|p| p.phase_status.as_deref().is_some_and(|s| fmt::tone(s) == "bad"))?;
    let m = p.contexts.iter().map(|c| c.message.as_str()).find(|m| !m.is_empty()).unwrap_or("");
    Some(format!("{}: {}", p.phase_type, m))
}

/// The build history.
pub fn history(all: &[std::sync::Arc<Build>], unreadable: &[String], f: &Filters) -> Markup {
    let kept: Vec<&Build> = all.iter().map(|b| b.as_ref()).filter(|b| f.keep(b)).collect();
    let mut projects: Vec<&str> = all.iter().map(|b| b.project_name.as_str()).collect();
    projects.sort_unstable();
    projects.dedup();
    let pages = kept.len().div_ceil(PER_PAGE).max(1);
    let page = f.page.min(pages - 1);
    html! {
        h1 { "Builds" }
        div.sub { (plural(all.len(), "build")) " in " code { ".kiln/builds" } }
        form.filters method="get" action="/" {
            label { "Status" select name="status" {
                option value="" { "any" }
                @for s in ["SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED", "IN_PROGRESS"] { option value=(s) selected[f.status == s] { (s) } }
            } }
            label { "Project" select name="project" {
                option value="" { "any" }
                @for p in &projects { option value=(p) selected[f.project == *p] { (p) } }
            } }
            label { "Search" input type="search" name="q" value=(f.q) placeholder="id, commit, message…"; }
            button type="submit" { "Filter" }
        }
        @if !unreadable.is_empty() { div.warnbox { "Records that could not be read:" ul { @for e in unreadable { li { (e) } } } } }
        section.card {
            table {
                thead { tr { th { "Build" } th { "Status" } th { "Started" } th.num { "Duration" } th { "Tests" } th { "Source" } th { "Cause" } } }
                tbody {
                    @for b in kept.iter().skip(page * PER_PAGE).take(PER_PAGE) {
                        tr {
                            td { a href=(format!("/builds/{}", b.uuid())) { strong { (b.project_name) " #" (b.build_number) } } br; span.muted.mono { (fmt::short(b.uuid())) } @if let Some(k) = &b.kiln.batch { " · " span.muted { (k.identifier) } } }
                            td { (badge(&b.build_status)) }
                            td { (fmt::when(&b.start_time)) }
                            td.num { (fmt::between(&b.start_time, b.end_time.as_deref()).map(fmt::seconds).unwrap_or_else(|| "running".into())) }
                            td { (test_summary(b)) }
                            td.mono { (b.resolved_source_version.as_deref().map(fmt::short).unwrap_or("")) }
                            td.muted { (cause(b).unwrap_or_default()) }
                        }
                    }
                }
            }
            @if kept.is_empty() { p.muted { "No build matches." } }
            div.pager {
                span.muted { "page " (page + 1) " of " (pages) " · " (plural(kept.len(), "build")) }
                @if page > 0 { a.button href=(f.query(page - 1)) { "← newer" } }
                @if page + 1 < pages { a.button href=(f.query(page + 1)) { "older →" } }
            }
        }
    }
}

/// `1 build`, `2 builds`.
pub fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

fn test_summary(b: &Build) -> Markup {
    let (mut total, mut bad) = (0, 0);
    for r in b.readable_reports() {
        if let Some(s) = r.report.test_summary {
            total += s.total;
            bad += s.status_counts.failed + s.status_counts.error;
        }
    }
    html! {
        @if total == 0 { span.muted { "–" } }
        @else if bad == 0 { span.ok { (total) " passed" } }
        @else { span.bad { (bad) " failed" } span.muted { " of " (total) } }
    }
}

/// The batch list.
pub fn batches(list: &[BuildBatch], unreadable: &[String]) -> Markup {
    html! {
        h1 { "Batches" }
        div.sub { (plural(list.len(), "batch build")) " in " code { ".kiln/batches" } }
        @if !unreadable.is_empty() { div.warnbox { ul { @for e in unreadable { li { (e) } } } } }
        section.card {
            table {
                thead { tr { th { "Batch" } th { "Status" } th { "Kind" } th { "Started" } th.num { "Duration" } th.num { "Builds" } } }
                tbody {
                    @for b in list {
                        tr {
                            td { a href=(format!("/batches/{}", b.uuid())) { strong { (b.project_name) " batch #" (b.build_batch_number) } } }
                            td { (badge(&b.build_batch_status)) }
                            td { (b.kiln.kind) }
                            td { (fmt::when(&b.start_time)) }
                            td.num { (fmt::between(&b.start_time, b.end_time.as_deref()).map(fmt::seconds).unwrap_or_else(|| "running".into())) }
                            td.num { (b.build_groups.len()) }
                        }
                    }
                }
            }
            @if list.is_empty() { p.muted { "No batch builds yet (kiln build --batch)." } }
        }
    }
}

/// One batch: its builds as a timeline and a table.
pub fn batch(b: &BuildBatch, builds: &[(String, Option<std::sync::Arc<Build>>)]) -> Markup {
    let t0 = fmt::parse_time(&b.start_time);
    let spans: Vec<svg::Span> = builds
        .iter()
        .filter_map(|(ident, build)| {
            let build = build.as_ref()?;
            let start = (fmt::parse_time(&build.start_time)? - t0?).as_seconds_f64().max(0.0);
            let length = fmt::between(&build.start_time, build.end_time.as_deref()).unwrap_or(0.0);
            Some(svg::Span { label: ident.clone(), start, length, tone: fmt::tone(&build.build_status), text: fmt::seconds(length) })
        })
        .collect();
    let total = spans.iter().map(|s| s.start + s.length).fold(0.0, f64::max);
    html! {
        h1 { (b.project_name) " batch #" (b.build_batch_number) " " (badge(&b.build_batch_status)) }
        div.sub { code { (b.id) } " · " (b.kiln.kind) " · started " (fmt::when(&b.start_time))
            @if let Some(d) = fmt::between(&b.start_time, b.end_time.as_deref()) { " · took " (fmt::seconds(d)) }
            " · at most " (b.kiln.parallel) " at once" @if b.kiln.fast_fail { " · fast-fail" } }
        @if let Some(r) = &b.kiln.reason { div.warnbox { (r) } }
        (card("Builds", "builds", html! {
            @if !spans.is_empty() { (svg::timeline(&spans, total)) }
            table {
                thead { tr { th { "Identifier" } th { "Status" } th { "Depends on" } th.num { "Duration" } th { "Note" } } }
                tbody {
                    @for g in &b.build_groups {
                        @let kb = b.kiln.builds.iter().find(|k| k.identifier == g.identifier);
                        @let build = builds.iter().find(|(i, _)| *i == g.identifier).and_then(|(_, b)| b.clone());
                        tr {
                            td { @match kb.and_then(|k| k.build_uuid()) { Some(u) => { a href=(format!("/builds/{u}")) { (g.identifier) } }, None => { (g.identifier) } } }
                            td { (badge(g.current_build_summary.as_ref().map(|s| s.build_status.as_str()).unwrap_or("NOT_STARTED"))) }
                            td { (g.depends_on.join(", ")) }
                            td.num { (build.as_ref().and_then(|x| fmt::between(&x.start_time, x.end_time.as_deref())).map(fmt::seconds).unwrap_or_default()) }
                            td.muted { (kb.and_then(|k| k.not_started.clone().or(k.fault.clone())).unwrap_or_default()) @if g.ignore_failure { " (ignore-failure)" } }
                        }
                    }
                }
            }
        }))
        @if let Some(a) = &b.artifacts { (card("Combined artifact", "artifact", html! { p.mono { (a.location) } p { (a.files.len()) " files" } })) }
    }
}

/// The dashboard.
pub struct Dashboard<'a> {
    pub n: usize,
    pub builds: &'a [std::sync::Arc<Build>],
    pub stats: RunStats,
    pub deploy_stats: Option<RunStats>,
    pub flaky: Vec<FlakyTest>,
    pub causes: Vec<FailureCause>,
}

fn stats_grid(what: &str, s: &RunStats) -> Markup {
    html! {
        div.grid {
            (stat(&format!("{what} (last {})", s.runs), html! { (s.runs) }))
            (stat("Success rate", html! { @match s.success_rate { Some(r) => { span class=(if r >= 90.0 { "ok" } else if r < 60.0 { "bad" } else { "" }) { (format!("{r:.0}%")) } }, None => { "–" } } }))
            (stat("Median time", html! { (s.median_s.map(fmt::seconds).unwrap_or_else(|| "–".into())) }))
            (stat("p90 time", html! { (s.p90_s.map(fmt::seconds).unwrap_or_else(|| "–".into())) }))
        }
    }
}

/// The dashboard page.
pub fn dashboard(d: &Dashboard) -> Markup {
    let chron: Vec<&Build> = d.builds.iter().rev().map(|b| b.as_ref()).collect();
    let bars: Vec<svg::Bar> = chron
        .iter()
        .map(|b| {
            let secs = fmt::between(&b.start_time, b.end_time.as_deref()).unwrap_or(0.0);
            svg::Bar { label: format!("#{}", b.build_number), value: secs, tone: fmt::tone(&b.build_status), title: format!("{} #{} {} {}", b.project_name, b.build_number, b.build_status, fmt::seconds(secs)) }
        })
        .collect();
    html! {
        h1 { "Dashboard" }
        div.sub { "The last " (d.n) " builds (" a href="/dashboard?n=20" { "20" } " · " a href="/dashboard?n=50" { "50" } " · " a href="/dashboard?n=200" { "200" } ")" }
        (stats_grid("Builds", &d.stats))
        @if let Some(s) = &d.deploy_stats { (stats_grid("Deployments", s)) }
        (card("Build time", "times", html! {
            @if bars.is_empty() { p.muted { "No builds yet." } } @else { (svg::bars(&bars, fmt::seconds)) }
            div.legend { span { i.i-ok {} "succeeded" } span { i.i-bad {} "failed" } span { i.i-run {} "running" } span { i.i-idle {} "other" } }
        }))
        div.two {
            (card("Flakiest tests", "flaky", html! {
                @if d.flaky.is_empty() { p.muted { "No test both passed and failed in these builds." } }
                @else {
                    table {
                        thead { tr { th { "Test" } th.num { "Passed" } th.num { "Failed" } } }
                        tbody { @for t in d.flaky.iter().take(15) { tr { td { (t.name) @if let Some(m) = &t.last_message { br; span.muted { (m) } } } td.num { (t.passed) } td.num.bad { (t.failed) } } } }
                    }
                }
                p.note { "From the test cases the records keep (500 per report, failures first)." }
            }))
            (card("Top failure causes", "causes", html! {
                @if d.causes.is_empty() { p.muted { "No failed builds." } }
                @else {
                    table {
                        thead { tr { th { "Phase" } th { "Cause" } th.num { "Builds" } } }
                        tbody { @for c in d.causes.iter().take(15) { tr { td { code { (c.phase) } } td { code { (c.status_code) } " " (c.message) br; a href=(format!("/builds/{}", c.latest)) { "latest" } } td.num { (c.count) } } } }
                    }
                }
            }))
        }
    }
}
