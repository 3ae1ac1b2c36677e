//! The one-pass file scanner: keyword prefilter, per-line rule dispatch, AWS key pairing,
//! suppression (allow comments, baseline) and finding assembly.

use crate::decoy::{Classes, entropy, is_known_public, is_placeholder};
use crate::rules::{TokenRule, token_rules};
use crate::{Baseline, Finding, RuleMeta, builtin_meta, fingerprint, generic, pem, redact};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::Regex;

/// Inline markers that silence a finding on their line (or, for `-next-line`, the line below).
pub const ALLOW_MARKERS: &[&str] = &[
    "kiln:allow-secret",
    "gitleaks:allow",
    "pragma: allowlist secret",
    "nosecret",
];
const ALLOW_NEXT: &str = "kiln:allow-secret-next-line";

#[derive(Clone, Copy)]
enum Target {
    Token(usize),
    Generic,
    Pem,
    Url,
}

struct Keyword {
    target: Target,
    /// Exact bytes to verify at the hit for case-sensitive keywords.
    exact: Option<&'static [u8]>,
    /// Offset of this keyword inside the matched (possibly longer, containing) keyword.
    offset: usize,
}

/// A compiled scanner; build once, scan many files (it is `Sync`).
pub struct Scanner {
    ac: AhoCorasick,
    keywords: Vec<Vec<Keyword>>,
    rules: Vec<(TokenRule, Regex)>,
    url: Regex,
    aws_secret: Regex,
    baseline: Baseline,
}

/// Per-line hits collected before the line is processed.
#[derive(Default)]
struct LineHits {
    start: usize,
    end: usize,
    mask: u64,
    token_hits: Vec<(usize, usize)>,
    generic: Vec<usize>,
    url: bool,
}

struct Ctx<'a> {
    path: &'a str,
    text: &'a [u8],
    out: Vec<Finding>,
    /// (line start offset, value start, value end) of every finding so far, for de-duplication.
    spans: Vec<(usize, usize)>,
    line_cursor: (usize, u32),
    suppressed: usize,
    /// The file is program source (unquoted assignment values are expressions there).
    code: bool,
}

/// Extensions of program source files.
const CODE_EXT: &[&str] = &[
    "py", "pyi", "js", "mjs", "cjs", "jsx", "ts", "tsx", "go", "java", "kt", "kts", "scala",
    "groovy", "rb", "php", "cs", "fs", "vb", "rs", "c", "h", "cc", "cpp", "hpp", "cxx", "m", "mm",
    "swift", "dart", "lua", "pl", "pm", "r", "jl", "ex", "exs", "erl", "clj", "hs", "ml", "vue",
    "svelte", "map",
];

fn is_code(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name == "Jenkinsfile" {
        return true;
    }
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| CODE_EXT.iter().any(|e| ext.eq_ignore_ascii_case(e)))
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

impl Scanner {
    /// Compiles every rule.
    pub fn new() -> Scanner {
        let rules: Vec<(TokenRule, Regex)> = token_rules()
            .into_iter()
            .map(|r| {
                let re = Regex::new(&format!("(?-u){}", r.pattern))
                    .expect("built-in rule regex compiles");
                (r, re)
            })
            .collect();
        assert!(rules.len() <= 64, "rule mask is a u64");
        let mut pats: Vec<String> = Vec::new();
        let mut keywords: Vec<Vec<Keyword>> = Vec::new();
        let mut add = |kw: &'static str, target: Target| {
            let lower = kw.to_ascii_lowercase();
            let exact = (lower != kw).then_some(kw.as_bytes());
            let idx = match pats.iter().position(|p| *p == lower) {
                Some(i) => i,
                None => {
                    pats.push(lower);
                    keywords.push(Vec::new());
                    pats.len() - 1
                }
            };
            keywords[idx].push(Keyword {
                target,
                exact,
                offset: 0,
            });
        };
        for (i, (r, _)) in rules.iter().enumerate() {
            for kw in r.keywords {
                add(kw, Target::Token(i));
            }
        }
        for kw in generic::KEYWORDS {
            add(kw, Target::Generic);
        }
        add("-----BEGIN ", Target::Pem);
        add("://", Target::Url);
        // Leftmost-longest matching hides keywords inside a longer match, so every keyword also
        // carries the targets of the keywords it contains (at their offsets).
        type Own = Vec<(Target, Option<&'static [u8]>)>;
        let own: Vec<Own> = keywords
            .iter()
            .map(|ks| ks.iter().map(|k| (k.target, k.exact)).collect())
            .collect();
        for (i, outer) in pats.iter().enumerate() {
            for (j, inner) in pats.iter().enumerate() {
                if i == j || inner.len() >= outer.len() {
                    continue;
                }
                let mut from = 0;
                while let Some(off) = outer[from..].find(inner.as_str()) {
                    for &(target, exact) in &own[j] {
                        keywords[i].push(Keyword {
                            target,
                            exact,
                            offset: from + off,
                        });
                    }
                    from += off + 1;
                }
            }
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .prefilter(std::env::var_os("KILN_AC_PREFILTER").is_some())
            .build(&pats)
            .expect("keyword automaton builds");
        Scanner {
            ac,
            keywords,
            rules,
            url: Regex::new(crate::url::URL_PATTERN).expect("url regex"),
            aws_secret: Regex::new(
                r"(?-u)(?:^|[^A-Za-z0-9/+=])([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)",
            )
            .expect("aws regex"),
            baseline: Baseline::default(),
        }
    }

    /// Suppresses findings whose fingerprint the baseline accepts.
    pub fn with_baseline(mut self, baseline: Baseline) -> Scanner {
        self.baseline = baseline;
        self
    }

    /// Scans one file. `path` is the path reported (and hashed into fingerprints).
    pub fn scan(&self, path: &str, text: &[u8]) -> Vec<Finding> {
        self.scan_counted(path, text).0
    }

    /// Scans one file; also returns how many findings were suppressed (allow comments, baseline).
    pub fn scan_counted(&self, path: &str, text: &[u8]) -> (Vec<Finding>, usize) {
        let mut ctx = Ctx {
            path,
            text,
            out: Vec::new(),
            spans: Vec::new(),
            line_cursor: (0, 1),
            suppressed: 0,
            code: is_code(path),
        };
        let mut cur: Option<LineHits> = None;
        let mut pems: Vec<usize> = Vec::new();
        for m in self.ac.find_iter(text) {
            for kw in &self.keywords[m.pattern().as_usize()] {
                let pos = m.start() + kw.offset;
                if let Some(exact) = kw.exact
                    && !text[pos..].starts_with(exact)
                {
                    continue;
                }
                if let Target::Pem = kw.target {
                    pems.push(pos);
                    continue;
                }
                if cur.as_ref().is_none_or(|c| pos >= c.end) {
                    if let Some(done) = cur.take() {
                        self.process_line(&mut ctx, done);
                    }
                    let start = memchr::memrchr(b'\n', &text[..pos]).map_or(0, |p| p + 1);
                    let end = memchr::memchr(b'\n', &text[pos..]).map_or(text.len(), |p| pos + p);
                    cur = Some(LineHits {
                        start,
                        end,
                        ..Default::default()
                    });
                }
                let line = cur.as_mut().expect("set above");
                match kw.target {
                    Target::Token(i) => {
                        line.mask |= 1 << i;
                        line.token_hits.push((i, pos));
                    }
                    Target::Generic => line.generic.push(pos),
                    Target::Url => line.url = true,
                    Target::Pem => {}
                }
            }
        }
        if let Some(done) = cur.take() {
            self.process_line(&mut ctx, done);
        }
        for at in pems {
            self.pem(&mut ctx, at);
        }
        ctx.out.sort_by_key(|f| (f.line, f.col));
        (ctx.out, ctx.suppressed)
    }

    fn process_line(&self, ctx: &mut Ctx<'_>, hits: LineHits) {
        let (ls, le) = (hits.start, hits.end);
        let line = &ctx.text[ls..le];
        const LONG: usize = 4096;
        for (i, (rule, re)) in self.rules.iter().enumerate() {
            if hits.mask & (1 << i) == 0 {
                continue;
            }
            let windows: Vec<(usize, usize)> = if line.len() <= LONG {
                vec![(ls, le)]
            } else {
                hits.token_hits
                    .iter()
                    .filter(|(r, _)| *r == i)
                    .map(|&(_, p)| (p.saturating_sub(400).max(ls), (p + 2048).min(le)))
                    .collect()
            };
            for (ws, we) in windows {
                for c in re.captures_iter(&ctx.text[ws..we]) {
                    let Some(g) = c.get(1) else { continue };
                    let (s, e) = (ws + g.start(), ws + g.end());
                    if (rule.check)(&ctx.text[s..e]) {
                        self.emit(ctx, rule.meta, s, e, ls, None);
                        if rule.meta.id == "aws-access-key-id" {
                            self.aws_pair(ctx, ls, e);
                        }
                    }
                }
            }
        }
        if hits.url {
            for ((s, e), rule) in crate::url::url_credentials(line, &self.url) {
                self.emit(ctx, builtin_meta(rule), ls + s, ls + e, ls, None);
            }
        }
        let mut last_key_end = 0;
        let mut generic_hits = hits.generic;
        generic_hits.sort_unstable();
        for &p in &generic_hits {
            let off = p - ls;
            if off < last_key_end {
                continue;
            }
            if let Some(a) = generic::assignment_at(line, off, &ctx.text[..ls], ctx.code) {
                last_key_end = a.key.1;
                self.emit(
                    ctx,
                    builtin_meta(a.rule),
                    ls + a.value.0,
                    ls + a.value.1,
                    ls,
                    None,
                );
            }
        }
    }

    /// After an AWS key id: a 40-character secret on the same or one of the next two lines.
    fn aws_pair(&self, ctx: &mut Ctx<'_>, line_start: usize, from: usize) {
        let mut ls = line_start;
        let mut s = from;
        for _ in 0..3 {
            let le = memchr::memchr(b'\n', &ctx.text[s..]).map_or(ctx.text.len(), |p| s + p);
            for c in self.aws_secret.captures_iter(&ctx.text[s..le]) {
                let g = c.get(1).expect("group 1");
                let v = g.as_bytes();
                let cl = Classes::of(v);
                if cl.upper
                    && cl.lower
                    && cl.digit
                    && entropy(v) >= 4.0
                    && !is_placeholder(v)
                    && !is_known_public(v)
                {
                    self.emit(
                        ctx,
                        builtin_meta("aws-secret-access-key"),
                        s + g.start(),
                        s + g.end(),
                        ls,
                        None,
                    );
                    return;
                }
            }
            if le >= ctx.text.len() {
                return;
            }
            ls = le + 1;
            s = ls;
        }
    }

    fn pem(&self, ctx: &mut Ctx<'_>, at: usize) {
        let Some(hit) = pem::private_key_at(ctx.text, at) else {
            return;
        };
        let ls = memchr::memrchr(b'\n', &ctx.text[..at]).map_or(0, |p| p + 1);
        let le = memchr::memchr(b'\n', &ctx.text[at..]).map_or(ctx.text.len(), |p| at + p);
        let line = &ctx.text[ls..le];
        let gcp = memchr::memmem::find(line, b"\"private_key\"").is_some()
            && memchr::memmem::find(ctx.text, b"\"service_account\"").is_some();
        let meta = builtin_meta(if gcp {
            "gcp-service-account"
        } else {
            "private-key"
        });
        let (bs, bl) = hit.body;
        let _ = hit.label;
        self.emit(ctx, meta, at, hit.end, ls, Some(&ctx.text[bs..bs + bl]));
    }

    /// Records a finding for the secret at `s..e` (line starting at `ls`) unless it duplicates
    /// one already reported or is suppressed. `secret` overrides the bytes hashed.
    fn emit(
        &self,
        ctx: &mut Ctx<'_>,
        meta: RuleMeta,
        s: usize,
        e: usize,
        ls: usize,
        secret: Option<&[u8]>,
    ) {
        if ctx.spans.iter().any(|&(a, b)| s < b && a < e) {
            return;
        }
        ctx.spans.push((s, e));
        let text = ctx.text;
        let value = &text[s..e];
        let le = memchr::memchr(b'\n', &text[ls..]).map_or(text.len(), |p| ls + p);
        let line_bytes = &text[ls..le];
        let prev = if ls == 0 {
            &b""[..]
        } else {
            let ps = memchr::memrchr(b'\n', &text[..ls - 1]).map_or(0, |p| p + 1);
            &text[ps..ls - 1]
        };
        let marker = |hay: &[u8], m: &str| memchr::memmem::find(hay, m.as_bytes()).is_some();
        let fp = fingerprint(meta.id, ctx.path, secret.unwrap_or(value));
        if ALLOW_MARKERS.iter().any(|m| marker(line_bytes, m))
            || marker(prev, ALLOW_NEXT)
            || self.baseline.contains(&fp)
        {
            ctx.suppressed += 1;
            return;
        }
        let line_no = line_number(ctx, ls);
        // SARIF columns count Unicode code points (invalid UTF-8 bytes count as one each)
        let chars = |b: &[u8]| String::from_utf8_lossy(b).chars().count() as u32;
        let (end_line, end_col) = if e <= le {
            (line_no, chars(&text[ls..e]) + 1)
        } else {
            let extra = memchr::memchr_iter(b'\n', &text[ls..e]).count() as u32;
            let last_start = memchr::memrchr(b'\n', &text[..e]).map_or(0, |p| p + 1);
            (line_no + extra, chars(&text[last_start..e]) + 1)
        };
        let redacted = redact(secret.unwrap_or(value));
        let shown_end = e.min(le);
        let mut snippet = String::from_utf8_lossy(&line_bytes[..s - ls]).into_owned();
        snippet.push_str(&redacted);
        snippet.push_str(&String::from_utf8_lossy(&line_bytes[shown_end - ls..]));
        let snippet: String = snippet.trim().chars().take(200).collect();
        ctx.out.push(Finding {
            rule: meta,
            line: line_no,
            col: chars(&text[ls..s]) + 1,
            end_line,
            end_col,
            message: format!("{} `{}` in {}:{}", meta.name, redacted, ctx.path, line_no),
            redacted,
            fingerprint: fp,
            snippet,
        });
    }
}

/// 1-based line number of the line starting at `ls` (findings arrive roughly in order, so the
/// cursor only moves forward except for PEM blocks, which recount from the start).
fn line_number(ctx: &mut Ctx<'_>, ls: usize) -> u32 {
    let (mut pos, mut line) = ctx.line_cursor;
    if ls < pos {
        pos = 0;
        line = 1;
    }
    line += memchr::memchr_iter(b'\n', &ctx.text[pos..ls]).count() as u32;
    ctx.line_cursor = (ls, line);
    line
}

#[cfg(test)]
mod tests;
