//! Clover XML (`CLOVERXML`; OpenClover, PHPUnit, Istanbul): `<coverage>` → `<project>` →
//! `package`* → `file` (or `file` directly under `project`, as PHPUnit writes without
//! namespaces) → `line`*, `metrics`, `class`.
//!
//! - Rows are per `file`: its `path` attribute (Istanbul, OpenClover), else its `name`
//!   (PHPUnit writes the full path there).
//! - Lines: `line` elements of `type` `stmt` or `cond` (not `method`), one per line number
//!   (OpenClover writes one per statement, so numbers repeat), covered when `count` > 0.
//! - Branches: the file's own `metrics` `conditionals` / `coveredconditionals` (OpenClover and
//!   Istanbul agree on those, while their `truecount`/`falsecount` mean different things:
//!   true/false evaluations in OpenClover, covered/uncovered branches in Istanbul). Without
//!   file metrics, each `cond` line counts two branches, covered by `truecount` > 0 and
//!   `falsecount` > 0 (OpenClover's meaning).

use crate::builder::Sink;
use crate::cobertura::{LineRec, merge_lines};
use crate::util::count;
use crate::xml::{Ev, Fatal, Xml, check_root};

struct File {
    depth: usize,
    path: String,
    lines: Vec<LineRec>,
    /// (conditionals, covered conditionals) from the file's direct `metrics`.
    metrics: Option<(u64, u64)>,
}

pub(crate) fn parse(xml: &mut Xml, sink: &mut Sink) -> Result<(), Fatal> {
    let mut seen_root = false;
    let mut file: Option<File> = None;
    let mut entries = 0usize;
    let budget = sink.limits().coverage_lines;
    loop {
        let empty = match xml.next()? {
            Ev::Eof => return Ok(()),
            Ev::End => {
                if file.as_ref().is_some_and(|f| f.depth > xml.depth())
                    && let Some(f) = file.take()
                {
                    emit(sink, f);
                }
                continue;
            }
            Ev::Start => false,
            Ev::Empty => true,
            Ev::Text(_) | Ev::Other => continue,
        };
        if !seen_root {
            seen_root = true;
            check_root(xml, &["coverage"], "a Clover")?;
            continue;
        }
        let d = xml.depth();
        match xml.name() {
            "file" => {
                let [path, name] = xml.attrs_owned(["path", "name"]);
                let f = File { depth: d, path: path.or(name).unwrap_or_default(), lines: Vec::new(), metrics: None };
                if empty { emit(sink, f) } else { file = Some(f) }
            }
            "line" => {
                let Some(f) = &mut file else { continue };
                let [kind, num, cnt, tc, fc] = xml.attrs(["type", "num", "count", "truecount", "falsecount"]);
                let cond = kind.as_deref() == Some("cond");
                if !cond && kind.as_deref() != Some("stmt") {
                    continue;
                }
                let Some(line) = num.as_deref().and_then(count).and_then(|n| u32::try_from(n).ok()) else { continue };
                let positive = |v: &Option<std::borrow::Cow<'_, str>>| v.as_deref().and_then(count).is_some_and(|n| n > 0);
                let (br_covered, br_total) = if cond { (positive(&tc) as u32 + positive(&fc) as u32, 2) } else { (0, 0) };
                entries += 1;
                if entries > budget {
                    return Err(xml.fatal(format!("more than {budget} line entries; kiln's limit for one coverage file was reached and the rest was not read")));
                }
                f.lines.push(LineRec { line, covered: positive(&cnt), br_covered, br_total });
            }
            "metrics" => {
                // A direct child of the file (an empty tag does not deepen the depth).
                let parent = if empty { d } else { d - 1 };
                if let Some(f) = &mut file
                    && parent == f.depth
                {
                    let [all, covered] = xml.attrs(["conditionals", "coveredconditionals"]);
                    if let (Some(a), Some(c)) = (all.as_deref().and_then(count), covered.as_deref().and_then(count)) {
                        f.metrics = Some((a, c.min(a)));
                    }
                }
                if !empty {
                    xml.skip()?;
                }
            }
            "coverage" | "project" | "testproject" | "package" => {}
            _ if !empty => xml.skip()?,
            _ => {}
        }
    }
}

fn emit(sink: &mut Sink, f: File) {
    let mut row = merge_lines(f.path, f.lines);
    if let Some((all, covered)) = f.metrics {
        row = crate::model::CodeCoverage::new(row.file_path, row.lines_covered, row.lines_missed, covered, all - covered);
    }
    sink.coverage(row);
}
