//! Syntax-light context around a match: the statement, the call's arguments, the enclosing
//! function, and taint-lite (request-derived input reaching a sink through local assignments).

use std::collections::HashSet;
use std::ops::Range;
use std::sync::OnceLock;

use regex::Regex;

use crate::Language;
use crate::lexer::{Kind, Lexed};

/// A file being scanned: text, lexing and line starts.
pub struct Source<'a> {
    /// The language.
    pub lang: Language,
    /// The lexed text.
    pub lx: &'a Lexed,
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    /// Index the lines of `lx`.
    pub fn new(lang: Language, lx: &'a Lexed) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            lx.masked
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Source {
            lang,
            lx,
            line_starts,
        }
    }

    /// The comment-free text.
    pub fn text(&self) -> &str {
        &self.lx.masked
    }

    /// 0-based line of byte `pos`.
    pub fn line_of(&self, pos: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= pos) - 1
    }

    /// Byte range of 0-based line `n` (without the newline).
    pub fn line_range(&self, n: usize) -> Range<usize> {
        let s = self.line_starts[n];
        let e = self
            .line_starts
            .get(n + 1)
            .map_or(self.text().len(), |&e| e - 1);
        s..e
    }

    /// Number of lines.
    pub fn lines(&self) -> usize {
        self.line_starts.len()
    }

    fn slice(&self, r: &Range<usize>) -> &str {
        self.text().get(r.clone()).unwrap_or("")
    }

    /// The statement holding `pos`: from the start of its line through the end of the line,
    /// extended while brackets opened in code are unclosed (at most 40 lines).
    pub fn statement(&self, pos: usize) -> Range<usize> {
        let line = self.line_of(pos);
        let start = self.line_range(line).start;
        let b = self.text().as_bytes();
        let mut depth: i32 = 0;
        let mut i = start;
        let limit = self.line_range((line + 40).min(self.lines() - 1)).end;
        while i < limit {
            let c = b[i];
            if self.lx.kinds[i] == Kind::Code {
                match c {
                    b'(' | b'[' | b'{' => depth += 1,
                    b')' | b']' | b'}' => depth -= 1,
                    b'\n' if depth <= 0 => {
                        let cont = self.lang == Language::Python && i > 0 && b[i - 1] == b'\\';
                        if !cont && i >= pos {
                            return start..i;
                        }
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        start..limit
    }

    /// The arguments after a match ending at `end`: the inside of the parenthesis the match ends
    /// with or that follows it, else the rest of the statement.
    pub fn args(&self, end: usize, stmt: &Range<usize>) -> Range<usize> {
        let b = self.text().as_bytes();
        let mut open = None;
        if end > 0 && b[end - 1] == b'(' {
            open = Some(end - 1);
        } else {
            let mut j = end;
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                j += 1;
            }
            if j < b.len() && b[j] == b'(' {
                open = Some(j);
            }
        }
        let Some(open) = open else {
            return end..stmt.end.max(end);
        };
        let mut depth = 0;
        for (i, &c) in b.iter().enumerate().skip(open) {
            if self.lx.kinds[i] != Kind::Code {
                continue;
            }
            match c {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return open + 1..i;
                    }
                }
                _ => {}
            }
        }
        open + 1..stmt.end.max(open + 1)
    }

    /// The first top-level argument of `args`.
    pub fn first_arg(&self, args: &Range<usize>) -> Range<usize> {
        let b = self.text().as_bytes();
        let mut depth = 0;
        for i in args.clone() {
            if self.lx.kinds[i] != Kind::Code {
                continue;
            }
            match b[i] {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth -= 1,
                b',' if depth == 0 => return args.start..i,
                _ => {}
            }
        }
        args.clone()
    }

    /// The enclosing function of `pos`: (header line range, whole body range). Falls back to the
    /// whole file for top-level code.
    pub fn function(&self, pos: usize) -> (Range<usize>, Range<usize>) {
        let line = self.line_of(pos);
        let re = func_re(self.lang);
        let lo = line.saturating_sub(400);
        for l in (lo..=line).rev() {
            let lr = self.line_range(l);
            let text = self.slice(&lr);
            if !re.is_match(text) || !self.lx.is_code(lr.start + first_non_space(text)) {
                continue;
            }
            let end = self.function_end(l);
            if end >= pos {
                return (lr.clone(), lr.start..end);
            }
        }
        (0..0, 0..self.text().len())
    }

    fn function_end(&self, header: usize) -> usize {
        let b = self.text().as_bytes();
        if self.lang == Language::Python {
            let indent = indent_of(self.slice(&self.line_range(header)));
            let hdr_end = self.statement(self.line_range(header).start).end;
            let mut last = hdr_end;
            for l in self.line_of(hdr_end) + 1..self.lines() {
                let lr = self.line_range(l);
                let t = self.slice(&lr);
                if t.trim().is_empty() {
                    continue;
                }
                if indent_of(t) <= indent && self.lx.is_code(lr.start + first_non_space(t)) {
                    break;
                }
                last = lr.end;
            }
            return last;
        }
        let start = self.line_range(header).start;
        let window = self.line_range((header + 2).min(self.lines() - 1)).end;
        let Some(open) = (start..window).find(|&i| b[i] == b'{' && self.lx.is_code(i)) else {
            return self.statement(start).end;
        };
        let mut depth = 0;
        for (i, &c) in b.iter().enumerate().skip(open) {
            if !self.lx.is_code(i) {
                continue;
            }
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => {}
            }
        }
        b.len()
    }

    /// The text of `r` with string literal bytes blanked (code only).
    pub fn code_only(&self, r: &Range<usize>) -> String {
        let s = self.slice(r).as_bytes();
        s.iter()
            .enumerate()
            .map(|(k, &c)| {
                if self.lx.kinds[r.start + k] == Kind::Code || c == b'\n' {
                    c
                } else {
                    b' '
                }
            })
            .map(|c| if c.is_ascii() { c as char } else { ' ' })
            .collect()
    }

    /// Variables assigned in `scope` before `before`: (name, right-hand side range).
    pub fn assignments(&self, scope: &Range<usize>, before: usize) -> Vec<(String, Range<usize>)> {
        let mut out = Vec::new();
        let first = self.line_of(scope.start);
        let last = self.line_of(before.max(scope.start));
        for l in first..last {
            let lr = self.line_range(l);
            let text = self.slice(&lr);
            if let Some(c) = assign_re().captures(text) {
                let rhs = c
                    .get(2)
                    .map_or(lr.end..lr.end, |m| lr.start + m.start()..lr.end);
                if !self
                    .lx
                    .is_code(lr.start + c.get(1).map_or(0, |m| m.start()))
                {
                    continue;
                }
                let rhs = rhs.start..self.statement(rhs.start).end.max(rhs.start);
                for name in c[1].split(',') {
                    let name = name.trim();
                    // destructuring `{ a, b: c }` binds `c`
                    let name = name.rsplit(':').next().unwrap_or(name).trim();
                    let name = name
                        .trim_start_matches(['{', '[', '('])
                        .trim_end_matches(['}', ']', ')'])
                        .trim();
                    if is_ident(name) {
                        out.push((name.to_string(), rhs.clone()));
                    }
                }
            }
        }
        out
    }

    /// Whether `r` (code only) mentions a taint source or a variable in `tainted`.
    pub fn mentions_taint(&self, r: &Range<usize>, tainted: &HashSet<String>) -> bool {
        let code = self.code_only(r);
        if source_re(self.lang).is_match(&code) {
            return true;
        }
        idents(&code).any(|(id, prev_dot)| !prev_dot && tainted.contains(id))
    }

    /// Variables of `scope` assigned (before `before`) from request-derived input, not through a sanitiser.
    pub fn tainted_vars(&self, scope: &Range<usize>, before: usize) -> HashSet<String> {
        let mut set = self.tainted_params(scope);
        for (name, rhs) in self.assignments(scope, before) {
            let rhs_text = self.slice(&rhs);
            if sanitizer_re().is_match(rhs_text) {
                set.remove(&name);
                continue;
            }
            if self.mentions_taint(&rhs, &set) {
                set.insert(name);
            } else {
                set.remove(&name);
            }
        }
        set
    }

    /// Parameters bound from the request by the framework: Spring/JAX-RS annotated parameters
    /// (`@RequestParam String url`) and Flask/FastAPI route placeholders (`@app.get("/<name>")`
    /// above `def f(name)`).
    fn tainted_params(&self, scope: &Range<usize>) -> HashSet<String> {
        static JAVA: OnceLock<Regex> = OnceLock::new();
        static ROUTE: OnceLock<Regex> = OnceLock::new();
        static PLACEHOLDER: OnceLock<Regex> = OnceLock::new();
        let mut set = HashSet::new();
        if scope.start == 0 && scope.end == self.text().len() {
            return set; // top-level code: no parameters
        }
        let header_end = self.statement(scope.start).end.min(scope.end);
        let header = self.slice(&(scope.start..header_end));
        match self.lang {
            Language::Java => {
                let re = JAVA.get_or_init(|| {
                    Regex::new(r"@(?:RequestParam|PathVariable|RequestBody|RequestHeader|CookieValue|QueryParam|PathParam|FormParam|HeaderParam)\b(?:\([^)]*\))?\s+(?:final\s+)?[\w<>\[\],.?]+\s+([A-Za-z_]\w*)").expect("built-in regex")
                });
                set.extend(re.captures_iter(header).map(|c| c[1].to_string()));
            }
            Language::Python => {
                // decorators directly above the def
                let route = ROUTE.get_or_init(|| {
                    Regex::new(
                        r"^\s*@\w+(?:\.\w+)*\.(?:route|get|post|put|delete|patch|api_route)\s*\(",
                    )
                    .expect("built-in regex")
                });
                let ph = PLACEHOLDER.get_or_init(|| {
                    Regex::new(r"[<{](?:\w+:)?([A-Za-z_]\w*)[>}]").expect("built-in regex")
                });
                let mut l = self.line_of(scope.start);
                while l > 0 {
                    l -= 1;
                    let lr = self.line_range(l);
                    let t = self.slice(&lr);
                    if !t.trim_start().starts_with('@') {
                        break;
                    }
                    if route.is_match(t) {
                        set.extend(ph.captures_iter(t).map(|c| c[1].to_string()));
                    }
                }
            }
            _ => {}
        }
        set
    }

    /// Whether expression `r` is built at run time from something that is not a constant.
    /// `depth` bounds resolution of a bare variable through its last assignment in `scope`.
    pub fn is_dynamic(&self, r: &Range<usize>, scope: &Range<usize>, depth: u8) -> bool {
        let code = self.code_only(r);
        let ids: Vec<_> = idents(&code).collect();
        let text = self.slice(r).trim();
        if ids.len() == 1 && is_ident(text) && depth > 0 {
            // a bare variable: look at what it was assigned
            let name = text;
            if let Some((_, rhs)) = self
                .assignments(scope, r.start)
                .into_iter()
                .rev()
                .find(|(n, _)| n == name)
            {
                return self.is_dynamic(&rhs, scope, depth - 1);
            }
            return false;
        }
        let candidates: Vec<&str> = ids
            .iter()
            .filter(|(id, prev_dot)| !prev_dot && !CONSTANT_WORDS.contains(id) && !is_all_caps(id))
            .map(|(id, _)| *id)
            .collect();
        if candidates.is_empty() {
            return false;
        }
        let validated = self.validated(scope);
        candidates.iter().any(|id| !validated.contains(*id))
    }

    /// A bare variable's right-hand side in `scope` (for `args-pattern` on `q` in `db.Query(q)`).
    pub fn resolve(&self, r: &Range<usize>, scope: &Range<usize>) -> Range<usize> {
        let text = self.slice(r).trim();
        if is_ident(text)
            && let Some((_, rhs)) = self
                .assignments(scope, r.start)
                .into_iter()
                .rev()
                .find(|(n, _)| n == text)
        {
            return rhs;
        }
        r.clone()
    }

    /// Identifiers checked against an allowlist or converted to a number in `scope`
    /// (`if x not in ALLOWED`, `ALLOWED.has(x)`, `x.isdigit()`, `x = int(...)`).
    fn validated(&self, scope: &Range<usize>) -> HashSet<String> {
        static RES: OnceLock<Vec<Regex>> = OnceLock::new();
        let res = RES.get_or_init(|| {
            [
                r"\b([A-Za-z_]\w*)\s+(?:not\s+)?in\s+[A-Za-z_]",
                r"\.(?:has|includes|contains|containsKey)\(\s*([A-Za-z_$][\w$]*)\s*\)",
                r"\b([A-Za-z_]\w*)\.(?:isdigit|isalnum|isidentifier)\(\)",
                r"\b([A-Za-z_$][\w$]*)\s*:?=\s*(?:int|float|parseInt|Number|Integer\.parseInt|Long\.parseLong|strconv\.Atoi)\s*\(",
            ]
            .iter()
            .map(|p| Regex::new(p).expect("built-in regex"))
            .collect()
        });
        let body = self.slice(scope);
        res.iter()
            .flat_map(|re| re.captures_iter(body).map(|c| c[1].to_string()))
            .collect()
    }
}

const CONSTANT_WORDS: &[&str] = &[
    "True",
    "False",
    "None",
    "null",
    "undefined",
    "true",
    "false",
    "nil",
    "new",
    "String",
    "str",
    "return",
    "await",
    "typeof",
    "in",
    "not",
    "and",
    "or",
    "is",
    "instanceof",
    "as",
];

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == '$')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == '$')
}

fn is_all_caps(s: &str) -> bool {
    s.len() > 1
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn indent_of(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

fn first_non_space(s: &str) -> usize {
    indent_of(s)
}

/// Identifiers of code-only text that are not called (`foo(`), with whether a `.` precedes them.
fn idents(code: &str) -> impl Iterator<Item = (&str, bool)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"[A-Za-z_$][\w$]*").unwrap());
    let b = code.as_bytes();
    re.find_iter(code).filter_map(move |m| {
        let before = code[..m.start()].trim_end();
        let prev_dot = before.ends_with('.') && !before.ends_with("..");
        let prev_digit = m.start() > 0 && b[m.start() - 1].is_ascii_digit();
        let after = code[m.end()..].trim_start();
        if after.starts_with('(') || prev_digit {
            None
        } else {
            Some((m.as_str(), prev_dot))
        }
    })
}

fn assign_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^\s*(?:(?:const|let|var|final|val|static|private|public|protected)\s+)*(?:[A-Z][\w<>\[\],.?]*\s+|(?:int|long|byte|char|boolean|double|float|short|string)(?:\[\])?\s+)?(\{[^}]*\}|\[[^\]]*\]|[A-Za-z_$][\w$]*(?:\s*,\s*[A-Za-z_$][\w$]*)*)\s*(?::\s*[\w<>\[\]|. ]+)?\s*(?::=|=)\s*([^=>].*)$",
        )
        .unwrap()
    })
}

fn sanitizer_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)\b(basename|safe_join|secure_filename|escape\w*|sanitize\w*|shlex\.quote|quote|encodeURIComponent|encodeURI|Encode\.for\w+|htmlEscape|parseInt|parseFloat|Number|int|float|Integer\.parseInt|Long\.parseLong|strconv\.Atoi|filepath\.Base|path\.Base|bleach\.clean|DOMPurify\.sanitize)\s*\(")
            .unwrap()
    })
}

fn source_re(lang: Language) -> &'static Regex {
    static RES: OnceLock<Vec<Regex>> = OnceLock::new();
    let all = RES.get_or_init(|| {
        [
            // python
            r"\brequest\.(args|form|values|json|data|files|cookies|headers|get_json|GET|POST|body|query_params|path_params|params|match_info|url|full_path|stream)\b",
            // javascript / typescript
            r"\breq(uest)?\.(query|params|body|cookies|headers|url|originalUrl|path|hostname|get)\b|\blocation\.(hash|search|href|pathname)\b|\bdocument\.(URL|location|cookie|referrer)\b|\bwindow\.name\b|\bctx\.(query|params|request)\b",
            // go
            r"\b(r|req|request)\.(URL|Form|PostForm|FormValue|PostFormValue|Header|Body|Cookie|Cookies|MultipartForm|Referer|UserAgent)\b|\bmux\.Vars\b|\b(c|ctx)\.(Query|Param|PostForm|GetHeader|DefaultQuery|FormValue|QueryParam)\b",
            // java
            r"\.(getParameter|getParameterValues|getParameterMap|getHeader|getHeaders|getQueryString|getCookies|getInputStream|getReader|getRequestURI|getPathInfo)\s*\(|@(RequestParam|PathVariable|RequestBody|RequestHeader|QueryParam|PathParam)\b",
            // shell-like: positional parameters and CI-provided untrusted text
            r#"\$\{?[1-9@*]\b|\$\{\{\s*github\.(event\.|head_ref)"#,
        ]
        .iter()
        .map(|p| Regex::new(p).unwrap())
        .collect()
    });
    &all[match lang {
        Language::Python => 0,
        Language::JavaScript => 1,
        Language::Go => 2,
        Language::Java => 3,
        _ => 4,
    }]
}

fn func_re(lang: Language) -> &'static Regex {
    static RES: OnceLock<Vec<Regex>> = OnceLock::new();
    let all = RES.get_or_init(|| {
        [
            r"^\s*(?:async\s+)?def\s+\w+",
            r"\bfunction\b[\s\w$]*\(|=>\s*\{\s*$|=>\s*\{|^\s*(?:async\s+|static\s+|public\s+|private\s+|protected\s+|export\s+)*(?:[A-Za-z_$][\w$]*)\s*\([^;]*\)\s*(?::\s*[^{;=]+)?\{\s*$",
            r"^func\b",
            r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|protected|static|final|synchronized|abstract|default)\s+)*(?:<[^>]+>\s+)?[\w<>\[\],.?]+\s+\w+\s*\([^;]*\)\s*(?:throws\s+[\w.,\s]+)?\{",
            r"^\s*(?:function\s+)?[\w-]+\s*\(\)\s*\{",
        ]
        .iter()
        .map(|p| Regex::new(p).unwrap())
        .collect()
    });
    &all[match lang {
        Language::Python => 0,
        Language::JavaScript => 1,
        Language::Go => 2,
        Language::Java => 3,
        _ => 4,
    }]
}

#[cfg(test)]
#[path = "scope_tests.rs"]
mod tests;
