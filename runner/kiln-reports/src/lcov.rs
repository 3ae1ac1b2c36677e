//! LCOV tracefiles (`LCOV`, a kiln extension: CodeBuild has no LCOV value). What geninfo/lcov,
//! jest/istanbul, c8, cargo-llvm-cov, Dart, solidity-coverage and others write: records
//! `TN:`, `SF:<path>`, `FN`/`FNDA`/`FNF`/`FNH` (functions, not used), `DA:<line>,<count>[,<md5>]`,
//! `LF`/`LH`, `BRDA:<line>,[e]<block>,<branch>,<taken>`, `BRF`/`BRH`, `end_of_record`.
//!
//! - Rows per `SF` path as written; a path in several records (one per test name `TN`) is
//!   merged: line hits and branch counts are added by line / by (line, block, branch).
//! - Lines from `DA`: covered when the count is > 0. Branches from `BRDA`: covered when
//!   `taken` > 0; `taken` `-` (the block never ran) and `0` (ran, branch not taken) are both
//!   missed, as lcov's own `BRH` counts them.
//! - A record without `DA`/`BRDA` lines but with `LF`/`LH` (`BRF`/`BRH`) uses those totals.
//! - A line longer than 64 KiB is cut (a path that long is not real); malformed records are
//!   skipped with a warning naming the tracefile line; a file with no LCOV record at all is
//!   not an LCOV file.

use crate::builder::Sink;
use crate::input::Input;
use crate::model::CodeCoverage;
use crate::util::shown;
use crate::xml::{Fatal, Pos};
use std::collections::HashMap;
use std::io::BufRead;

const MAX_LINE: usize = 64 * 1024;

#[derive(Default)]
struct Record {
    lines: Vec<(u32, u64)>,
    branches: Vec<(u32, u64, u64, u64)>,
    /// LF, LH, BRF, BRH as declared (summed over records).
    declared: [Option<u64>; 4],
}

/// Read one line (without its newline) into `buf`, keeping at most `MAX_LINE` bytes.
fn read_line(input: &mut Input, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    buf.clear();
    let mut any = false;
    loop {
        let avail = input.fill_buf()?;
        if avail.is_empty() {
            return Ok(any);
        }
        any = true;
        let (chunk, used, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (&avail[..i], i + 1, true),
            None => (avail, avail.len(), false),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        input.consume(used);
        if done {
            return Ok(true);
        }
    }
}

pub(crate) fn parse(input: &mut Input, sink: &mut Sink) -> Result<(), Fatal> {
    let budget = sink.limits().coverage_lines;
    let mut records: HashMap<String, Record> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut entries = 0usize;
    let mut any_record = false;
    let mut bad_warned = 0;
    let result = loop {
        match read_line(input, &mut buf) {
            Err(e) => break Err(Fatal::new(Some(pos(line_no + 1)), format!("could not read the file: {e}"))),
            Ok(false) => break Ok(()),
            Ok(true) => {}
        }
        line_no += 1;
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end_matches('\r').trim();
        if line.is_empty() {
            continue;
        }
        let (key, value) = line.split_once(':').unwrap_or((line, ""));
        let known = matches!(key, "TN" | "SF" | "FN" | "FNDA" | "FNF" | "FNH" | "FNL" | "FNA" | "DA" | "LF" | "LH" | "BRDA" | "BRF" | "BRH" | "VER" | "end_of_record");
        if !known {
            if !any_record {
                break Err(Fatal::new(Some(pos(line_no)), format!("expected an LCOV record (TN:, SF:, DA:, ...), found `{}`", shown(line))).not_format());
            }
            continue;
        }
        any_record = true;
        let mut bad = |sink: &mut Sink, what: &str| {
            bad_warned += 1;
            if bad_warned <= 5 {
                sink.warn(Some(pos(line_no)), format!("malformed {what} record `{}` was skipped", shown(line)));
            }
        };
        match key {
            "SF" => {
                entries += 1;
                if entries > budget {
                    break Err(Fatal::new(Some(pos(line_no)), format!("more than {budget} line and file entries; kiln's limit for one coverage file was reached and the rest was not read")));
                }
                let path = value.trim().to_string();
                if !records.contains_key(&path) {
                    order.push(path.clone());
                    records.insert(path.clone(), Record::default());
                }
                current = Some(path);
            }
            "end_of_record" => current = None,
            "DA" | "BRDA" | "LF" | "LH" | "BRF" | "BRH" => {
                let Some(rec) = current.as_ref().and_then(|p| records.get_mut(p)) else {
                    bad(sink, &format!("{key} (outside an SF record)"));
                    continue;
                };
                entries += 1;
                if entries > budget {
                    break Err(Fatal::new(Some(pos(line_no)), format!("more than {budget} line entries; kiln's limit for one coverage file was reached and the rest was not read")));
                }
                let fields: Vec<&str> = value.split(',').map(str::trim).collect();
                let num = |s: &str| s.parse::<u64>().ok();
                match key {
                    "DA" => match (fields.first().and_then(|s| s.parse::<u32>().ok()), fields.get(1).and_then(|s| s.parse::<f64>().ok())) {
                        (Some(l), Some(c)) if c.is_finite() => rec.lines.push((l, if c > 0.0 { (c as u64).max(1) } else { 0 })),
                        _ => bad(sink, "DA"),
                    },
                    "BRDA" => {
                        let block = fields.get(1).map(|b| b.trim_start_matches('e'));
                        match (fields.first().and_then(|s| s.parse::<u32>().ok()), block.and_then(num), fields.get(2).and_then(|s| num(s)), fields.get(3)) {
                            (Some(l), Some(b), Some(br), Some(&taken)) => {
                                let t = if taken == "-" { Some(0) } else { num(taken) };
                                match t {
                                    Some(t) => rec.branches.push((l, b, br, t)),
                                    None => bad(sink, "BRDA"),
                                }
                            }
                            _ => bad(sink, "BRDA"),
                        }
                    }
                    _ => {
                        let slot = match key {
                            "LF" => 0,
                            "LH" => 1,
                            "BRF" => 2,
                            _ => 3,
                        };
                        match num(value.trim()) {
                            Some(n) => rec.declared[slot] = Some(rec.declared[slot].unwrap_or(0).saturating_add(n)),
                            None => bad(sink, key),
                        }
                    }
                }
            }
            _ => {}
        }
    };
    if result.is_ok() && !any_record && line_no > 0 {
        return Err(Fatal::new(Some(pos(1)), "the file has no LCOV records").not_format());
    }
    for path in order {
        if let Some(rec) = records.remove(&path) {
            sink.coverage(row(path, rec));
        }
    }
    result
}

fn pos(line: u64) -> Pos {
    Pos { line, column: 1, offset: None }
}

fn row(path: String, mut rec: Record) -> CodeCoverage {
    let (mut lc, mut lm) = (0, 0);
    if rec.lines.is_empty() {
        if let (Some(found), Some(hit)) = (rec.declared[0], rec.declared[1]) {
            lc = hit.min(found);
            lm = found - lc;
        }
    } else {
        rec.lines.sort_unstable_by_key(|l| l.0);
        let mut i = 0;
        while i < rec.lines.len() {
            let (line, mut hits) = rec.lines[i];
            i += 1;
            while i < rec.lines.len() && rec.lines[i].0 == line {
                hits = hits.saturating_add(rec.lines[i].1);
                i += 1;
            }
            if hits > 0 { lc += 1 } else { lm += 1 }
        }
    }
    let (mut bc, mut bm) = (0, 0);
    if rec.branches.is_empty() {
        if let (Some(found), Some(hit)) = (rec.declared[2], rec.declared[3]) {
            bc = hit.min(found);
            bm = found - bc;
        }
    } else {
        rec.branches.sort_unstable_by_key(|b| (b.0, b.1, b.2));
        let mut i = 0;
        while i < rec.branches.len() {
            let key = (rec.branches[i].0, rec.branches[i].1, rec.branches[i].2);
            let mut taken = rec.branches[i].3;
            i += 1;
            while i < rec.branches.len() && (rec.branches[i].0, rec.branches[i].1, rec.branches[i].2) == key {
                taken = taken.saturating_add(rec.branches[i].3);
                i += 1;
            }
            if taken > 0 { bc += 1 } else { bm += 1 }
        }
    }
    CodeCoverage::new(path, lc, lm, bc, bm)
}
