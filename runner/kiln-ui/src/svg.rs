//! Charts as inline SVG, drawn by hand with maud (so every label is escaped like the rest of the
//! page). Colours come from CSS classes (`f-ok`, `f-bad`, …), never from style attributes, which
//! the server's Content-Security-Policy forbids.
//!
//! Why not plotters: its SVG backend lays text out with font metrics, so it needs a font
//! backend (`ab_glyph` plus a bundled font, or `font-kit` and the system's fonts) to place a
//! label; its default features also pull in image codecs. The five charts kiln draws (a
//! timeline, bars, a line with a threshold, a stacked bar and a progress bar) are each a few
//! dozen lines here, let the browser lay out text, and cost no dependency (measurements in the
//! crate doc).

use maud::{html, Markup};

/// A status as a colour class suffix: `ok`, `bad`, `warn`, `run`, `idle`.
pub type Tone = &'static str;

/// One bar of a timeline: a label, where it starts and how long it lasts (seconds), its tone
/// and the text shown at its end.
pub struct Span {
    pub label: String,
    pub start: f64,
    pub length: f64,
    pub tone: Tone,
    pub text: String,
}

const W: f64 = 900.0;

fn fmt(v: f64) -> String {
    format!("{:.1}", v)
}

/// A Gantt-style timeline of `spans` over `total` seconds (phases of a build, builds of a batch).
pub fn timeline(spans: &[Span], total: f64) -> Markup {
    let label_w = 170.0;
    let row = 26.0;
    let h = row * spans.len() as f64 + 24.0;
    let total = if total > 0.0 { total } else { 1.0 };
    let scale = (W - label_w - 90.0) / total;
    let ticks = 5;
    html! {
        svg.chart viewBox=(format!("0 0 {W} {}", fmt(h))) role="img" aria-label="timeline" {
            @for i in 0..=ticks {
                @let x = label_w + (W - label_w - 90.0) * i as f64 / ticks as f64;
                line.s-grid x1=(fmt(x)) x2=(fmt(x)) y1="0" y2=(fmt(h - 18.0)) {}
                text.t-axis x=(fmt(x)) y=(fmt(h - 4.0)) text-anchor="middle" { (crate::fmt::seconds(total * i as f64 / ticks as f64)) }
            }
            @for (i, s) in spans.iter().enumerate() {
                @let y = i as f64 * row + 4.0;
                text.t-label x="0" y=(fmt(y + 14.0)) { (s.label) }
                rect class=(format!("f-{}", s.tone)) x=(fmt(label_w + s.start * scale)) y=(fmt(y)) width=(fmt((s.length * scale).max(2.0))) height="18" rx="3" {}
                text.t-axis x=(fmt(label_w + (s.start + s.length) * scale + 6.0)) y=(fmt(y + 13.0)) { (s.text) }
            }
        }
    }
}

/// A small horizontal bar: `pct` (0–100) of `width` pixels filled.
pub fn meter(pct: f64, width: u32, tone: Tone) -> Markup {
    let pct = pct.clamp(0.0, 100.0);
    html! {
        svg.bar width=(width) height="10" viewBox=(format!("0 0 {width} 10")) role="img" aria-label=(format!("{pct:.1}%")) {
            rect.f-track x="0" y="0" width=(width) height="10" rx="3" {}
            rect class=(format!("f-{tone}")) x="0" y="0" width=(fmt(width as f64 * pct / 100.0)) height="10" rx="3" {}
        }
    }
}

/// One bar of a bar chart.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub tone: Tone,
    /// Shown on hover (an SVG `<title>`).
    pub title: String,
}

/// Vertical bars (build durations, counts), with a y axis in `unit`.
pub fn bars(bars: &[Bar], unit: fn(f64) -> String) -> Markup {
    let (h, left, bottom) = (220.0, 56.0, 40.0);
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max).max(1e-9);
    let plot_w = W - left - 10.0;
    let slot = plot_w / bars.len().max(1) as f64;
    let bw = (slot * 0.7).min(38.0);
    let label_every = (bars.len() / 20).max(1);
    html! {
        svg.chart viewBox=(format!("0 0 {W} {h}")) role="img" aria-label="bar chart" {
            @for i in 0..=4 {
                @let y = 10.0 + (h - bottom - 10.0) * (1.0 - i as f64 / 4.0);
                line.s-grid x1=(left) x2=(W - 10.0) y1=(fmt(y)) y2=(fmt(y)) {}
                text.t-axis x=(left - 6.0) y=(fmt(y + 4.0)) text-anchor="end" { (unit(max * i as f64 / 4.0)) }
            }
            @for (i, b) in bars.iter().enumerate() {
                @let bh = (h - bottom - 10.0) * b.value / max;
                @let x = left + slot * i as f64 + (slot - bw) / 2.0;
                rect class=(format!("f-{}", b.tone)) x=(fmt(x)) y=(fmt(h - bottom - bh)) width=(fmt(bw)) height=(fmt(bh.max(1.0))) rx="2" {
                    title { (b.title) }
                }
                @if i % label_every == 0 {
                    text.t-axis x=(fmt(x + bw / 2.0)) y=(fmt(h - bottom + 14.0)) text-anchor="middle" { (b.label) }
                }
            }
        }
    }
}

/// A line over time-ordered points (`(label, value)`), with an optional dashed threshold.
pub fn line(points: &[(String, f64)], threshold: Option<f64>, unit: fn(f64) -> String) -> Markup {
    let (h, left, bottom) = (220.0, 56.0, 36.0);
    let max = points.iter().map(|p| p.1).chain(threshold).fold(0.0, f64::max).max(1e-9) * 1.1;
    let plot_w = W - left - 10.0;
    let x_of = |i: usize| left + if points.len() > 1 { plot_w * i as f64 / (points.len() - 1) as f64 } else { plot_w / 2.0 };
    let y_of = |v: f64| 10.0 + (h - bottom - 10.0) * (1.0 - v / max);
    let path: Vec<String> = points.iter().enumerate().map(|(i, p)| format!("{}{},{}", if i == 0 { "M" } else { "L" }, fmt(x_of(i)), fmt(y_of(p.1)))).collect();
    let label_every = (points.len() / 8).max(1);
    html! {
        svg.chart viewBox=(format!("0 0 {W} {h}")) role="img" aria-label="line chart" {
            @for i in 0..=4 {
                @let v = max * i as f64 / 4.0;
                line.s-grid x1=(left) x2=(W - 10.0) y1=(fmt(y_of(v))) y2=(fmt(y_of(v))) {}
                text.t-axis x=(left - 6.0) y=(fmt(y_of(v) + 4.0)) text-anchor="end" { (unit(v)) }
            }
            @if let Some(t) = threshold {
                line.s-threshold x1=(left) x2=(W - 10.0) y1=(fmt(y_of(t))) y2=(fmt(y_of(t))) {}
                text.t-axis x=(W - 12.0) y=(fmt(y_of(t) - 4.0)) text-anchor="end" { "threshold " (unit(t)) }
            }
            path.s-line d=(path.join(" ")) {}
            @for (i, p) in points.iter().enumerate() {
                circle.f-run cx=(fmt(x_of(i))) cy=(fmt(y_of(p.1))) r="3" { title { (p.0) ": " (unit(p.1)) } }
                @if i % label_every == 0 {
                    text.t-axis x=(fmt(x_of(i))) y=(fmt(h - bottom + 16.0)) text-anchor="middle" { (p.0) }
                }
            }
        }
    }
}

/// A 100 % stacked bar of named parts (traffic between the original and replacement sets).
pub fn stacked(parts: &[(String, f64, Tone)]) -> Markup {
    let total: f64 = parts.iter().map(|p| p.1).sum::<f64>().max(1e-9);
    let mut x = 0.0;
    let mut rects = Vec::new();
    for (label, v, tone) in parts {
        let w = W * v / total;
        rects.push((x, w, label.clone(), *v, *tone));
        x += w;
    }
    html! {
        svg.chart viewBox=(format!("0 0 {W} 34")) role="img" aria-label="stacked bar" {
            rect.f-track x="0" y="0" width=(W) height="34" rx="5" {}
            @for (x, w, label, v, tone) in &rects {
                rect class=(format!("f-{tone}")) x=(fmt(*x)) y="0" width=(fmt(*w)) height="34" {}
                @if *w > 90.0 {
                    text.t-in x=(fmt(x + 10.0)) y="22" { (label) " " (format!("{v:.0}%")) }
                }
            }
        }
    }
}

/// One point of a [`timeseries`]: seconds from the chart's start, the value (`None`: missing
/// data, drawn as a gap with a grey tick on the axis), its tone and its hover text.
pub struct TimePoint {
    pub t: f64,
    pub value: Option<f64>,
    pub tone: Tone,
    pub title: String,
}

/// A vertical line across a [`timeseries`] (a state change), labelled at its top.
pub struct Marker {
    pub t: f64,
    pub tone: Tone,
    pub label: String,
}

/// A chart over real time (x: seconds from the start): points, an optional dashed threshold and
/// vertical markers.
pub struct TimeChart<'a> {
    pub points: &'a [TimePoint],
    pub threshold: Option<f64>,
    pub markers: &'a [Marker],
    /// Seconds the x axis spans (at least the last point's).
    pub span: f64,
    /// A step line (a value holds until the next point), as traffic weights do; else straight
    /// segments with a dot per point.
    pub step: bool,
    /// The y axis' top (percentages: 100); else the data's and the threshold's maximum.
    pub max: Option<f64>,
    pub unit: fn(f64) -> String,
    /// An x tick's label from its seconds (a clock time).
    pub tick: &'a dyn Fn(f64) -> String,
}

/// Draw a [`TimeChart`].
pub fn timeseries(c: &TimeChart) -> Markup {
    let (h, left, right, top, bottom) = (230.0, 56.0, 14.0, 22.0, 34.0);
    let span = c.points.iter().map(|p| p.t).chain(c.markers.iter().map(|m| m.t)).fold(c.span, f64::max).max(1e-9);
    let max = c.max.unwrap_or_else(|| c.points.iter().filter_map(|p| p.value).chain(c.threshold).fold(0.0, f64::max).max(1e-9) * 1.15);
    let plot_w = W - left - right;
    let x_of = |t: f64| left + plot_w * (t / span).clamp(0.0, 1.0);
    let y_of = |v: f64| top + (h - bottom - top) * (1.0 - (v / max).clamp(0.0, 1.0));
    // The line: broken at missing values.
    let mut d = String::new();
    let mut pen = false;
    let mut last_y = 0.0;
    for p in c.points {
        match p.value {
            Some(v) => {
                let (x, y) = (x_of(p.t), y_of(v));
                if !pen {
                    d.push_str(&format!("M{},{} ", fmt(x), fmt(y)));
                } else if c.step {
                    d.push_str(&format!("H{} V{} ", fmt(x), fmt(y)));
                } else {
                    d.push_str(&format!("L{},{} ", fmt(x), fmt(y)));
                }
                pen = true;
                last_y = y;
            }
            None => pen = false,
        }
    }
    if c.step && pen {
        d.push_str(&format!("H{} V{}", fmt(x_of(span)), fmt(last_y)));
    }
    let ticks = 6;
    html! {
        svg.chart viewBox=(format!("0 0 {W} {h}")) role="img" aria-label="chart over time" {
            @for i in 0..=4 {
                @let v = max * i as f64 / 4.0;
                line.s-grid x1=(left) x2=(W - right) y1=(fmt(y_of(v))) y2=(fmt(y_of(v))) {}
                text.t-axis x=(left - 6.0) y=(fmt(y_of(v) + 4.0)) text-anchor="end" { ((c.unit)(v)) }
            }
            @for i in 0..=ticks {
                @let t = span * i as f64 / ticks as f64;
                text.t-axis x=(fmt(x_of(t))) y=(fmt(h - bottom + 18.0)) text-anchor=(if i == 0 { "start" } else if i == ticks { "end" } else { "middle" }) { ((c.tick)(t)) }
            }
            @if let Some(t) = c.threshold {
                line.s-threshold x1=(left) x2=(W - right) y1=(fmt(y_of(t))) y2=(fmt(y_of(t))) {}
                text.t-axis x=(W - right - 2.0) y=(fmt(y_of(t) - 4.0)) text-anchor="end" { "threshold " ((c.unit)(t)) }
            }
            @for m in c.markers {
                line class=(format!("s-mark s-{}", m.tone)) x1=(fmt(x_of(m.t))) x2=(fmt(x_of(m.t))) y1=(fmt(top - 6.0)) y2=(fmt(h - bottom)) {}
                // Labels right of their line, or left of it in the chart's right third.
                @let right = x_of(m.t) > left + plot_w * 0.67;
                text class=(format!("t-mark t-{}", m.tone)) x=(fmt(x_of(m.t) + if right { -3.0 } else { 3.0 })) y=(fmt(top - 9.0)) text-anchor=(if right { "end" } else { "start" }) { (m.label) }
            }
            path.s-line d=(d.trim_end()) {}
            @for p in c.points {
                @match p.value {
                    Some(v) => { @if !c.step { circle class=(format!("f-{}", p.tone)) cx=(fmt(x_of(p.t))) cy=(fmt(y_of(v))) r="2.5" { title { (p.title) } } } }
                    None => { rect.f-idle x=(fmt(x_of(p.t) - 1.0)) y=(fmt(h - bottom - 6.0)) width="2" height="6" { title { (p.title) } } }
                }
            }
        }
    }
}
