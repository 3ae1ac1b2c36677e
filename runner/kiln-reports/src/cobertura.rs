//! Cobertura XML (`COBERTURAXML`, coverage-03/04 DTD; gcovr, coverage.py, simplecov-cobertura,
//! MATLAB, Istanbul ...): `<coverage>` → `packages/package` → `classes/class` → `lines/line`
//! (and the same lines again under `methods/method/lines`).
//!
//! - Rows are per `class/@filename`, as written (it is relative to a `<source>`; kiln does not
//!   resolve it). Several classes may share one file (inner classes, one class per Ruby module):
//!   their lines are merged by line number, so a line counted twice is counted once.
//! - A line is covered when `hits` > 0. Branches come from `condition-coverage="50% (1/2)"`
//!   (covered/total) on lines with `branch="true"`; a line seen twice keeps the larger numbers.
//! - The counts are kiln's own, from the lines: the root's `line-rate`, `lines-covered` and
//!   `lines-valid` (absent in coverage-03, `NaN` in MATLAB's) are not used.
//! - Line entries held for the merge are bounded by [`crate::Limits::coverage_lines`].

use crate::builder::Sink;
use crate::model::CodeCoverage;
use crate::util::{count, shown};
use crate::xml::{Ev, Fatal, Xml, check_root};
use std::collections::HashMap;

/// One `<line>`: number, covered, branches covered, branches total.
#[derive(Clone, Copy)]
pub(crate) struct LineRec {
    pub line: u32,
    pub covered: bool,
    pub br_covered: u32,
    pub br_total: u32,
}

pub(crate) fn parse(xml: &mut Xml, sink: &mut Sink) -> Result<(), Fatal> {
    let mut files: HashMap<String, Vec<LineRec>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut entries = 0usize;
    let budget = sink.limits().coverage_lines;
    let mut seen_root = false;
    let mut bad_line_warned = false;
    let result = loop {
        let empty = match xml.next() {
            Err(e) => break Err(e),
            Ok(Ev::Eof) => break Ok(()),
            Ok(Ev::End) => {
                if current.as_ref().is_some_and(|(d, _)| *d > xml.depth()) {
                    current = None;
                }
                continue;
            }
            Ok(Ev::Start) => false,
            Ok(Ev::Empty) => true,
            Ok(_) => continue,
        };
        if !seen_root {
            seen_root = true;
            if let Err(e) = check_root(xml, &["coverage"], "a Cobertura") {
                break Err(e);
            }
            continue;
        }
        match xml.name() {
            "class" => {
                let file = xml.attr("filename").or_else(|| xml.attr("name")).unwrap_or_default();
                entries += 1;
                if entries > budget {
                    break Err(xml.fatal(format!("more than {budget} line and class entries; kiln's limit for one coverage file was reached and the rest was not read")));
                }
                if !files.contains_key(&file) {
                    order.push(file.clone());
                    files.insert(file.clone(), Vec::new());
                }
                if !empty {
                    current = Some((xml.depth(), file));
                }
            }
            "line" => {
                let Some((_, file)) = &current else { continue };
                let [number, hits, branch, cond] = xml.attrs(["number", "hits", "branch", "condition-coverage"]);
                let Some(line) = number.as_deref().and_then(count).and_then(|n| u32::try_from(n).ok()) else {
                    if !bad_line_warned {
                        bad_line_warned = true;
                        let pos = xml.pos();
                        sink.warn(Some(pos), format!("a <line> without a usable number (number=\"{}\") was ignored", shown(number.as_deref().unwrap_or(""))));
                    }
                    continue;
                };
                let covered = hits.as_deref().and_then(count).is_some_and(|h| h > 0) || hits.as_deref().is_some_and(|h| h.trim().parse::<f64>().is_ok_and(|f| f > 0.0));
                let (br_covered, br_total) = match (branch.as_deref().map(str::trim), cond.as_deref()) {
                    (Some("true"), Some(c)) => condition_coverage(c).unwrap_or((0, 0)),
                    _ => (0, 0),
                };
                entries += 1;
                if entries > budget {
                    break Err(xml.fatal(format!("more than {budget} line entries; kiln's limit for one coverage file was reached and the rest was not read")));
                }
                if let Some(v) = files.get_mut(file) {
                    v.push(LineRec { line, covered, br_covered, br_total });
                }
            }
            "coverage" | "packages" | "package" | "classes" | "lines" | "methods" | "method" | "conditions" | "condition" => {}
            _ if !empty => {
                if let Err(e) = xml.skip() {
                    break Err(e);
                }
            }
            _ => {}
        }
    };
    for file in order {
        if let Some(lines) = files.remove(&file) {
            sink.coverage(merge_lines(file, lines));
        }
    }
    result
}

/// `50% (1/2)` → (1, 2).
fn condition_coverage(s: &str) -> Option<(u32, u32)> {
    let inner = s.split_once('(')?.1.split_once(')')?.0;
    let (a, b) = inner.split_once('/')?;
    let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

/// One row from a file's line records: same line numbers merged (covered if any; branch
/// numbers the largest seen).
pub(crate) fn merge_lines(file: String, mut lines: Vec<LineRec>) -> CodeCoverage {
    lines.sort_unstable_by_key(|l| l.line);
    let (mut lc, mut lm, mut bc, mut bm) = (0u64, 0u64, 0u64, 0u64);
    let mut i = 0;
    while i < lines.len() {
        let mut rec = lines[i];
        let mut j = i + 1;
        while j < lines.len() && lines[j].line == rec.line {
            rec.covered |= lines[j].covered;
            rec.br_covered = rec.br_covered.max(lines[j].br_covered);
            rec.br_total = rec.br_total.max(lines[j].br_total);
            j += 1;
        }
        if rec.covered { lc += 1 } else { lm += 1 }
        bc += rec.br_covered as u64;
        bm += (rec.br_total - rec.br_covered.min(rec.br_total)) as u64;
        i = j;
    }
    CodeCoverage::new(file, lc, lm, bc, bm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_coverage_forms() {
        assert_eq!(condition_coverage("50% (1/2)"), Some((1, 2)));
        assert_eq!(condition_coverage("100% (4/4)"), Some((4, 4)));
        assert_eq!(condition_coverage("50%"), None);
        assert_eq!(condition_coverage("x (3/2)"), None);
    }

    #[test]
    fn duplicate_lines_merge() {
        let l = |line, covered, br_covered, br_total| LineRec { line, covered, br_covered, br_total };
        let row = merge_lines("a.py".into(), vec![l(3, false, 0, 2), l(1, true, 0, 0), l(3, true, 1, 2), l(2, false, 0, 0)]);
        assert_eq!((row.lines_covered, row.lines_missed, row.branches_covered, row.branches_missed), (2, 1, 1, 1));
        assert_eq!(row.line_coverage_percentage, Some(66.67));
    }
}
