//! JaCoCo XML (`JACOCOXML`): `<report>` → `group`* (nested, multi-module) → `package` →
//! `class` (→ `method`) and `sourcefile` (→ `line`), each with `counter`s.
//!
//! - Rows are per `sourcefile`: path = the package's `name` (slash-separated) + `/` + the
//!   sourcefile's `name`; counts from its own `LINE` and `BRANCH` counters (`covered`,
//!   `missed`). JaCoCo omits a counter whose total is zero (no branches) — that is 0/0.
//! - A package without `sourcefile` elements (classes compiled without source-file
//!   information) falls back to its classes' counters summed per `sourcefilename`.
//! - The DOCTYPE (`report.dtd`) is never fetched or read: quick-xml does not load DTDs.

use crate::builder::Sink;
use crate::model::CodeCoverage;
use crate::util::count;
use crate::xml::{Ev, Fatal, Xml, check_root};
use std::collections::BTreeMap;

/// LINE and BRANCH counters: [lines covered, lines missed, branches covered, branches missed].
type Counts = [u64; 4];

/// What is being read: the counters inside it go to it when they are its direct children.
enum Scope {
    Package { name: String, had_sourcefiles: bool, classes: BTreeMap<String, Counts> },
    Class { depth: usize, file: Option<String> },
    SourceFile { depth: usize, path: String, counts: Counts },
}

pub(crate) fn parse(xml: &mut Xml, sink: &mut Sink) -> Result<(), Fatal> {
    let mut seen_root = false;
    let mut package: Option<(usize, Scope)> = None;
    let mut inner: Option<Scope> = None;
    let (mut entries, budget) = (0usize, sink.limits().coverage_lines);
    loop {
        let empty = match xml.next()? {
            Ev::Eof => return Ok(()),
            Ev::End => {
                let d = xml.depth();
                match &inner {
                    Some(Scope::SourceFile { depth, .. }) if *depth > d => {
                        if let Some(Scope::SourceFile { path, counts, .. }) = inner.take() {
                            sink.coverage(CodeCoverage::new(path, counts[0], counts[1], counts[2], counts[3]));
                        }
                    }
                    Some(Scope::Class { depth, .. }) if *depth > d => inner = None,
                    _ => {}
                }
                if package.as_ref().is_some_and(|(pd, _)| *pd > d)
                    && let Some((_, Scope::Package { name, had_sourcefiles, classes })) = package.take()
                    && !had_sourcefiles
                {
                    for (file, c) in classes {
                        sink.coverage(CodeCoverage::new(join(&name, &file), c[0], c[1], c[2], c[3]));
                    }
                }
                continue;
            }
            Ev::Start => false,
            Ev::Empty => true,
            Ev::Text(_) | Ev::Other => continue,
        };
        if !seen_root {
            seen_root = true;
            check_root(xml, &["report"], "a JaCoCo")?;
            continue;
        }
        let d = xml.depth();
        match xml.name() {
            "package" if !empty => package = Some((d, Scope::Package { name: xml.attr("name").unwrap_or_default(), had_sourcefiles: false, classes: BTreeMap::new() })),
            "class" if !empty => {
                entries += 1;
                if entries > budget {
                    return Err(xml.fatal(format!("more than {budget} classes and source files; kiln's limit for one coverage file was reached and the rest was not read")));
                }
                inner = Some(Scope::Class { depth: d, file: xml.attr("sourcefilename") });
            }
            "sourcefile" => {
                let Some((_, Scope::Package { name, had_sourcefiles, .. })) = &mut package else { continue };
                *had_sourcefiles = true;
                let path = join(name, &xml.attr("name").unwrap_or_default());
                if empty {
                    sink.coverage(CodeCoverage::new(path, 0, 0, 0, 0));
                } else {
                    inner = Some(Scope::SourceFile { depth: d, path, counts: [0; 4] });
                }
            }
            "counter" => {
                let [kind, covered, missed] = xml.attrs(["type", "covered", "missed"]);
                let (covered, missed) = (covered.as_deref().and_then(count).unwrap_or(0), missed.as_deref().and_then(count).unwrap_or(0));
                let slot = match kind.as_deref() {
                    Some("LINE") => 0,
                    Some("BRANCH") => 2,
                    _ => continue,
                };
                // Only a direct child counts (a method's counters are inside its class).
                let parent = if empty { d } else { d - 1 };
                match &mut inner {
                    Some(Scope::SourceFile { depth, counts, .. }) if *depth == parent => {
                        counts[slot] = counts[slot].saturating_add(covered);
                        counts[slot + 1] = counts[slot + 1].saturating_add(missed);
                    }
                    Some(Scope::Class { depth, file: Some(file) }) if *depth == parent => {
                        if let Some((_, Scope::Package { classes, .. })) = &mut package {
                            let c = classes.entry(file.clone()).or_default();
                            c[slot] = c[slot].saturating_add(covered);
                            c[slot + 1] = c[slot + 1].saturating_add(missed);
                        }
                    }
                    _ => {}
                }
                if !empty {
                    xml.skip()?;
                }
            }
            "report" | "group" | "method" | "line" | "sessioninfo" | "package" | "class" => {}
            _ if !empty => xml.skip()?,
            _ => {}
        }
    }
}

fn join(package: &str, file: &str) -> String {
    let package = package.trim_end_matches('/');
    if package.is_empty() { file.to_string() } else { format!("{package}/{file}") }
}
