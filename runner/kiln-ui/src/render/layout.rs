//! The page around every page: head, stylesheet, top bar, and the shared bits (status badges,
//! digests).

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::fmt;

/// The stylesheet (inlined in a standalone report, served at `/static/kiln.css`).
pub const CSS: &str = include_str!("../../assets/kiln.css");
/// The one script of `kiln ui` (live logs and nothing else), served at `/static/kiln.js`.
pub const JS: &str = include_str!("../../assets/kiln.js");

/// Where a page is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One file to open from disk: CSS inline, no script, a CSP in a `<meta>` that forbids any
    /// script and any request.
    Standalone,
    /// Served by `kiln ui`: CSS and the script from `/static/` (the response's CSP allows only
    /// those).
    Server,
}

/// The top bar's sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    Builds,
    Dashboard,
    Batches,
    Deployments,
    Pipelines,
    None,
}

/// A whole page.
pub fn page(title: &str, mode: Mode, here: Nav, body: Markup) -> Markup {
    page_refreshing(title, mode, here, body, None)
}

/// A whole page that reloads itself every `refresh` seconds (a deployment or a pipeline run in
/// progress: no script needed).
pub fn page_refreshing(title: &str, mode: Mode, here: Nav, body: Markup, refresh: Option<u32>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if mode == Mode::Standalone {
                    meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'";
                }
                meta name="referrer" content="no-referrer";
                @if let Some(n) = refresh { meta http-equiv="refresh" content=(n); }
                // No favicon request (it would be a 404 in the console, and a request from a file).
                link rel="icon" href="data:,";
                title { (title) " · kiln" }
                @match mode {
                    Mode::Standalone => style { (PreEscaped(CSS)) },
                    Mode::Server => {
                        link rel="stylesheet" href="/static/kiln.css";
                        script src="/static/kiln.js" defer {}
                    }
                }
            }
            body {
                header.top {
                    @if mode == Mode::Server { a.brand href="/" { "kiln" span { "." } } } @else { span.brand { "kiln" span { "." } } }
                    @if mode == Mode::Server {
                        nav {
                            @for (n, href, label) in [(Nav::Builds, "/", "Builds"), (Nav::Dashboard, "/dashboard", "Dashboard"), (Nav::Batches, "/batches", "Batches"), (Nav::Deployments, "/deployments", "Deployments"), (Nav::Pipelines, "/pipelines", "Pipelines")] {
                                a class=[(n == here).then_some("here")] href=(href) { (label) }
                            }
                        }
                    }
                }
                main { (body) }
                footer { "kiln " (env!("CARGO_PKG_VERSION")) " · read from the build records; secret values were masked when they were written" }
            }
        }
    }
}

/// A status pill coloured by its tone.
pub fn badge(status: &str) -> Markup {
    html! { span class=(format!("badge s-{}", fmt::tone(status))) { (status) } }
}

/// A digest: its first 12 characters, the whole one in a title.
pub fn digest(d: &str) -> Markup {
    html! { code.mono title=(d) { (fmt::short(d)) } }
}

/// A card with a heading.
pub fn card(title: &str, id: &str, body: Markup) -> Markup {
    html! { section.card id=(id) { h2 { (title) } (body) } }
}

/// One statistic of a stat grid.
pub fn stat(k: &str, v: Markup) -> Markup {
    html! { div.stat { div.k { (k) } div.v { (v) } } }
}
