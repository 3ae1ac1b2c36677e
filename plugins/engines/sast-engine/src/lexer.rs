//! Light per-language lexers: classify every byte of a file as code, string literal or comment.
//!
//! Rules match on the comment-free text ([`Lexed::masked`]) and require their anchor to sit in
//! code, so a sink named in a comment or inside a string literal is not taken for a call.
//! Interpolations inside f-strings (`f"{x}"`) and template literals (`` `${x}` ``) are code.

use crate::Language;

/// What a byte of the source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Program text (identifiers, operators, interpolations).
    Code,
    /// Inside a string literal (quotes included).
    Str,
    /// Inside a comment (blanked in [`Lexed::masked`]).
    Comment,
}

/// A lexed file.
#[derive(Debug, Clone)]
pub struct Lexed {
    /// The text with every comment byte replaced by a space (newlines kept): same length, same lines.
    pub masked: String,
    /// The kind of every byte of `masked`.
    pub kinds: Vec<Kind>,
}

impl Lexed {
    /// Whether byte `pos` is code.
    pub fn is_code(&self, pos: usize) -> bool {
        self.kinds.get(pos) == Some(&Kind::Code)
    }
}

struct Lx<'a> {
    b: &'a [u8],
    kinds: Vec<Kind>,
    lang: Language,
}

/// Lex `text` as `lang`.
pub fn lex(lang: Language, text: &str) -> Lexed {
    let mut lx = Lx {
        b: text.as_bytes(),
        kinds: vec![Kind::Code; text.len()],
        lang,
    };
    lx.code(0, None);
    let mut masked = text.as_bytes().to_vec();
    for (i, k) in lx.kinds.iter().enumerate() {
        if *k == Kind::Comment && masked[i] != b'\n' {
            masked[i] = b' ';
        }
    }
    // Only whole UTF-8 sequences inside comments were replaced, so this cannot fail; fall back to
    // a lossy conversion rather than panic if it ever did.
    let masked = String::from_utf8(masked)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Lexed {
        masked,
        kinds: lx.kinds,
    }
}

impl Lx<'_> {
    fn at(&self, i: usize, s: &str) -> bool {
        self.b.get(i..i + s.len()) == Some(s.as_bytes())
    }

    fn mark(&mut self, from: usize, to: usize, k: Kind) {
        let to = to.min(self.b.len());
        for x in &mut self.kinds[from.min(to)..to] {
            *x = k;
        }
    }

    /// Lex code from `i`; with `close = Some(depth0)` stop after the `}` that closes an
    /// interpolation. Returns the position after the stop.
    fn code(&mut self, mut i: usize, close: Option<()>) -> usize {
        let hash_comments = matches!(
            self.lang,
            Language::Python | Language::Shell | Language::Dockerfile | Language::Yaml
        );
        let slash_comments = matches!(
            self.lang,
            Language::JavaScript | Language::Go | Language::Java
        );
        let strings_are_data = self.lang.strings_are_data();
        let mut depth = 0usize;
        while i < self.b.len() {
            let c = self.b[i];
            if close.is_some() {
                if c == b'{' {
                    depth += 1;
                } else if c == b'}' {
                    if depth == 0 {
                        return i + 1;
                    }
                    depth -= 1;
                }
            }
            if hash_comments && c == b'#' {
                let word_start = i == 0 || matches!(self.b[i - 1], b' ' | b'\t' | b'\n' | b'\r');
                // In shell `$#` / `${#x}` are not comments; in Python any `#` in code is.
                if self.lang == Language::Python || word_start {
                    let end = self.line_end(i);
                    self.mark(i, end, Kind::Comment);
                    i = end;
                    continue;
                }
            }
            if slash_comments && self.at(i, "//") {
                let end = self.line_end(i);
                self.mark(i, end, Kind::Comment);
                i = end;
                continue;
            }
            if slash_comments && self.at(i, "/*") {
                let end = find(self.b, i + 2, b"*/").map_or(self.b.len(), |e| e + 2);
                self.mark(i, end, Kind::Comment);
                i = end;
                continue;
            }
            if matches!(c, b'"' | b'\'' | b'`') {
                let end = self.string(i);
                if !strings_are_data {
                    // Shell, Dockerfile, YAML: quoted text is still command text.
                    self.mark(i, end, Kind::Code);
                }
                i = end;
                continue;
            }
            i += 1;
        }
        i
    }

    fn line_end(&self, i: usize) -> usize {
        self.b[i..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(self.b.len(), |p| i + p)
    }

    /// A string literal starting at quote `i`; returns the position after it.
    fn string(&mut self, i: usize) -> usize {
        let q = self.b[i];
        match self.lang {
            Language::Python => self.py_string(i),
            Language::JavaScript if q == b'`' => self.template(i),
            Language::Go if q == b'`' => {
                let end = memchr(self.b, i + 1, b'`').map_or(self.b.len(), |e| e + 1);
                self.mark(i, end, Kind::Str);
                end
            }
            Language::Java if self.at(i, "\"\"\"") => {
                let end = find(self.b, i + 3, b"\"\"\"").map_or(self.b.len(), |e| e + 3);
                self.mark(i, end, Kind::Str);
                end
            }
            Language::Go | Language::Java | Language::JavaScript => self.simple(i, q, true),
            // Shell-like: single quotes have no escapes; a string may span lines.
            _ if q == b'`' => i + 1,
            _ => self.simple(i, q, q == b'"'),
        }
    }

    /// `q`-quoted literal with backslash escapes (`esc`); ends at the quote or (for code
    /// languages) the end of the line.
    fn simple(&mut self, i: usize, q: u8, esc: bool) -> usize {
        let multiline = !self.lang.strings_are_data();
        let mut j = i + 1;
        while j < self.b.len() {
            let c = self.b[j];
            if esc && c == b'\\' {
                j += 2;
                continue;
            }
            if c == q {
                j += 1;
                break;
            }
            if c == b'\n' && !multiline {
                break;
            }
            j += 1;
        }
        let j = j.min(self.b.len());
        self.mark(i, j, Kind::Str);
        j
    }

    fn template(&mut self, i: usize) -> usize {
        let mut j = i + 1;
        let mut seg = i;
        while j < self.b.len() {
            match self.b[j] {
                b'\\' => j += 2,
                b'`' => {
                    j += 1;
                    self.mark(seg, j, Kind::Str);
                    return j;
                }
                b'$' if self.b.get(j + 1) == Some(&b'{') => {
                    self.mark(seg, j + 2, Kind::Str);
                    j = self.code(j + 2, Some(()));
                    seg = j;
                    // the closing brace belongs to the string
                    if j > 0 {
                        self.mark(j - 1, j, Kind::Str);
                    }
                }
                _ => j += 1,
            }
        }
        self.mark(seg, self.b.len(), Kind::Str);
        self.b.len()
    }

    fn py_string(&mut self, i: usize) -> usize {
        // prefix letters before the quote (f, r, b, u, rb, fr ...)
        let mut p = i;
        while p > 0 && self.b[p - 1].is_ascii_alphabetic() && i - p < 2 {
            p -= 1;
        }
        let prefix: Vec<u8> = self.b[p..i]
            .iter()
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let is_prefix = p == i
            || prefix
                .iter()
                .all(|c| matches!(c, b'f' | b'r' | b'b' | b'u'));
        let fstr = is_prefix && prefix.contains(&b'f');
        let raw = is_prefix && prefix.contains(&b'r');
        if is_prefix && p < i {
            self.mark(p, i, Kind::Str);
        }
        let q = self.b[i];
        let triple = self.b.get(i + 1) == Some(&q) && self.b.get(i + 2) == Some(&q);
        let open = if triple { 3 } else { 1 };
        let mut j = i + open;
        let mut seg = i;
        while j < self.b.len() {
            let c = self.b[j];
            if c == b'\\' && !raw {
                j += 2;
                continue;
            }
            if c == b'\\' && raw {
                j += 2;
                continue;
            }
            if c == q
                && (!triple || (self.b.get(j + 1) == Some(&q) && self.b.get(j + 2) == Some(&q)))
            {
                let end = j + open;
                self.mark(seg, end, Kind::Str);
                return end;
            }
            if c == b'\n' && !triple {
                self.mark(seg, j, Kind::Str);
                return j;
            }
            if fstr && c == b'{' {
                if self.b.get(j + 1) == Some(&b'{') {
                    j += 2;
                    continue;
                }
                self.mark(seg, j + 1, Kind::Str);
                j = self.code(j + 1, Some(()));
                seg = j.saturating_sub(1);
                continue;
            }
            j += 1;
        }
        self.mark(seg, self.b.len(), Kind::Str);
        self.b.len()
    }
}

fn memchr(b: &[u8], from: usize, c: u8) -> Option<usize> {
    b.get(from..)?
        .iter()
        .position(|&x| x == c)
        .map(|p| from + p)
}

fn find(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_of(lang: Language, text: &str, needle: &str) -> Kind {
        let l = lex(lang, text);
        l.kinds[text.find(needle).unwrap()]
    }

    #[test]
    fn python_comments_strings_and_fstrings() {
        let t = "x = eval(a)  # eval(b)\ns = 'eval(c)'\nf\"{eval(d)} eval(e)\"\n";
        let l = lex(Language::Python, t);
        assert!(!l.masked.contains("eval(b)"));
        assert_eq!(l.masked.len(), t.len());
        assert_eq!(kinds_of(Language::Python, t, "eval(c)"), Kind::Str);
        assert_eq!(kinds_of(Language::Python, t, "eval(d)"), Kind::Code);
        assert_eq!(kinds_of(Language::Python, t, "eval(e)"), Kind::Str);
        assert_eq!(kinds_of(Language::Python, t, "eval(a)"), Kind::Code);
    }

    #[test]
    fn python_triple_quoted_docstring_is_string() {
        let t = "\"\"\"run os.system(x)\nhere\"\"\"\nos.system(y)\n";
        assert_eq!(kinds_of(Language::Python, t, "os.system(x)"), Kind::Str);
        assert_eq!(kinds_of(Language::Python, t, "os.system(y)"), Kind::Code);
    }

    #[test]
    fn js_template_interpolation_is_code_and_comments_blanked() {
        let t = "/* eval(a) */ q(`SELECT ${req.query.q} x`); // eval(b)\n";
        let l = lex(Language::JavaScript, t);
        assert!(!l.masked.contains("eval"));
        assert_eq!(kinds_of(Language::JavaScript, t, "req.query"), Kind::Code);
        assert_eq!(kinds_of(Language::JavaScript, t, "SELECT"), Kind::Str);
        assert_eq!(kinds_of(Language::JavaScript, t, " x`"), Kind::Str);
    }

    #[test]
    fn go_raw_strings_and_java_text_blocks() {
        assert_eq!(
            kinds_of(Language::Go, "a := `md5.Sum(x)`\n", "md5"),
            Kind::Str
        );
        let j = "String s = \"\"\"\nRuntime.getRuntime().exec(x)\n\"\"\";\n";
        assert_eq!(kinds_of(Language::Java, j, "Runtime"), Kind::Str);
    }

    #[test]
    fn shell_hash_needs_word_start_and_quotes_stay_code() {
        let t = "echo ${#x} \"a # b\" # curl x | sh\n";
        let l = lex(Language::Shell, t);
        assert!(l.masked.contains("${#x}"));
        assert!(l.masked.contains("a # b"));
        assert!(!l.masked.contains("curl"));
        assert_eq!(kinds_of(Language::Shell, t, "a # b"), Kind::Code);
    }

    #[test]
    fn unterminated_literals_do_not_panic() {
        for lang in Language::ALL {
            for t in ["\"abc", "'", "`${", "f\"{", "/*", "\"\"\"x", "é\"é", "#é"] {
                let l = lex(*lang, t);
                assert_eq!(l.masked.len(), t.len());
            }
        }
    }
}
