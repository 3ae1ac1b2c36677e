//! Assignment-context rules: `NAME = value`, `"name": "value"`, `name: value`, `define('NAME',
//! 'value')`, `<add key="Name" value="…"/>`, `--password value`, netrc `password value`, and
//! credentials in URLs. The name decides what kind of secret the value would be; the value must
//! then look like one (password shape or machine randomness) and not like a reference,
//! placeholder, identifier, hash or well-known example.

use crate::decoy::{self, Classes, entropy, is_hex, looks_like_password, looks_random};
use base64::Engine;

/// Keywords (lower case) that start an assignment check.
pub const KEYWORDS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "salt",
    "credential",
    "value",
    "result",
    "-p",
];

/// What the assignment's name says the value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// password, passwd, pwd, requirepass …
    Password,
    /// secret, client_secret, signing secret, salt, hmac key …
    Secret,
    /// token, api key, access key …
    Token,
    /// a bare `value` (JSON/HCL key-value lists): only machine-random values count
    Value,
    /// a bare `result` right after a `random_password`/`random_string` resource (Terraform state)
    Result,
}

/// A value found in assignment context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Byte range of the name within the line.
    pub key: (usize, usize),
    /// Byte range of the value within the line.
    pub value: (usize, usize),
    /// The rule id to report.
    pub rule: &'static str,
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Splits `apiKey`, `DB_PASSWORD`, `spring.datasource.password` into lower-case words.
fn segments(key: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for &b in key {
        if !b.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if b.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = b.is_ascii_lowercase() || b.is_ascii_digit();
        cur.push(b.to_ascii_lowercase() as char);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

const EXCLUDE: &[&str] = &[
    "id",
    "ids",
    "name",
    "names",
    "alias",
    "path",
    "file",
    "filename",
    "dir",
    "length",
    "len",
    "size",
    "header",
    "headers",
    "type",
    "ref",
    "arn",
    "prefix",
    "format",
    "url",
    "uri",
    "endpoint",
    "field",
    "env",
    "var",
    "variable",
    "param",
    "hash",
    "hashed",
    "public",
    "pub",
    "publishable",
    "fingerprint",
    "version",
    "count",
    "policy",
    "rotation",
    "checksum",
    "sha",
    "sha1",
    "sha256",
    "sha512",
    "md5",
    "digest",
    "stdin",
    "prompt",
    "min",
    "max",
    "timeout",
    "ttl",
    "expiry",
    "expires",
    "expiration",
    "reset",
    "validator",
    "validators",
    "hasher",
    "hashers",
    "mode",
    "enabled",
    "required",
    "label",
    "description",
    "hint",
    "placeholder",
    "template",
    "regex",
    "pattern",
    "csrf",
    "xsrf",
    "storage",
    "class",
    "provider",
    "source",
    "helper",
    "index",
    "column",
    "table",
    "event",
    "events",
    "method",
    "kind",
    "next",
    "page",
    "continuation",
    "pagination",
    "cursor",
    "request",
    "idempotency",
    "dest",
    "s3",
    "object",
    "bucket",
    "cache",
    "sort",
    "partition",
    "primary",
    "foreign",
    "sequence",
    "resume",
    "verifier",
    "canonical",
    "package",
    "lookup",
];

/// Classifies an assignment name.
pub fn classify(key: &[u8]) -> Option<Kind> {
    let segs = segments(key);
    if segs.is_empty() || segs.iter().any(|s| EXCLUDE.contains(&s.as_str())) {
        return None;
    }
    let has = |f: &dyn Fn(&str) -> bool| segs.iter().any(|s| f(s));
    // AWS-style `ClientToken` is an idempotency token, not a credential
    if has(&|s| s == "client") && has(&|s| s == "token") {
        return None;
    }
    if has(&|s| {
        s.contains("password")
            || s.contains("passwd")
            || s.contains("passphrase")
            || s == "requirepass"
    }) || has(&|s| matches!(s, "pass" | "pwd" | "pw" | "pswd"))
    {
        return Some(Kind::Password);
    }
    if has(&|s| {
        s.contains("secret")
            || matches!(
                s,
                "salt"
                    | "hmac"
                    | "signing"
                    | "encryption"
                    | "credential"
                    | "credentials"
                    | "privatekey"
            )
    }) {
        return Some(Kind::Secret);
    }
    if has(&|s| s.contains("token")) {
        return Some(Kind::Token);
    }
    let is_key = |s: &str| {
        matches!(
            s,
            "key" | "keys" | "apikey" | "accesskey" | "secretkey" | "authkey" | "privatekey"
        )
    };
    if has(&|s| is_key(s)) {
        // a bare `key` names dictionary entries, cache keys, i18n keys …: not enough context
        if segs.len() == 1 && matches!(segs[0].as_str(), "key" | "keys") {
            return None;
        }
        return Some(Kind::Token);
    }
    match segs.as_slice() {
        [v] if v == "value" => Some(Kind::Value),
        [v] if v == "result" => Some(Kind::Result),
        _ => None,
    }
}

/// Finds the assignment whose name contains the keyword hit at `hit` (offset in `line`).
/// `before` is the file text before the line (for multi-line context such as Terraform state).
pub fn assignment_at(line: &[u8], hit: usize, before: &[u8], code: bool) -> Option<Assignment> {
    let mut ks = hit;
    while ks > 0 && is_key_char(line[ks - 1]) {
        ks -= 1;
    }
    let mut ke = hit;
    while ke < line.len() && is_key_char(line[ke]) {
        ke += 1;
    }
    // cheap pre-check before classifying: an operator, quote or blank must follow the name
    let after = line.get(ke).copied();
    if !matches!(
        after,
        Some(b'=' | b':' | b',' | b'"' | b'\'' | b' ' | b'\t' | b'?' | b'|' | b'+')
    ) {
        return None;
    }
    let raw_key = &line[ks..ke];
    let flag = raw_key.starts_with(b"-");
    let key = trim_dashes(raw_key);
    if flag && raw_key == b"-p" {
        return cli_short_p(line, ke).map(|value| Assignment {
            key: (ks, ke),
            value,
            rule: "generic-password",
        });
    }
    let kind = classify(key)?;
    let quote = (ks > 0
        && ke < line.len()
        && matches!(line[ks - 1], b'"' | b'\'')
        && line[ke] == line[ks - 1])
        .then(|| line[ke]);
    let mut i = if quote.is_some() { ke + 1 } else { ke };
    // <add key="SmtpPassword" value="…"/>
    if quote.is_some() && ends_with_attr(&line[..ks - 1], &[b"key=", b"name="]) {
        let rest = &line[i..];
        let at = memchr::memmem::find(rest, b"value=")?;
        let v = quoted_value(line, i + at + 6)?;
        return judge(line, kind, (ks, ke), v, before, true);
    }
    let ws = skip_ws(line, i);
    // `define('NAME', 'value')`, `setenv("NAME", "value")`: a quoted name right after `(`
    let in_call = quote.is_some() && line[..ks - 1].trim_ascii_end().ends_with(b"(");
    let op = operator(&line[ws..], in_call, flag);
    // `name : value` with an unquoted name is prose or a type annotation, not YAML/JSON
    if ws > i && quote.is_none() && line.get(ws) == Some(&b':') {
        return None;
    }
    let Some(op_len) = op else {
        // netrc `password VALUE`, CLI `--password VALUE`
        let netrc =
            kind == Kind::Password && ws > i && (line[..ks].trim_ascii().is_empty() || flag);
        if !netrc {
            return None;
        }
        if code && !flag {
            return None;
        }
        let v = value_at(line, ws)?;
        let quoted = matches!(line.get(ws), Some(b'"' | b'\''));
        return judge(line, kind, (ks, ke), v, before, quoted);
    };
    let spaced = ws > i || matches!(line.get(ws + op_len), Some(b' ' | b'\t'));
    i = skip_ws(line, ws + op_len);
    let v = value_at(line, i)?;
    let quoted = v.0 > 0 && matches!(line[v.0 - 1], b'"' | b'\'' | b'`');
    // in source code an unquoted value is an expression (`password: str`, `key = obj[k]`),
    // except `name=value` inside strings (DSNs, query strings)
    if code && !quoted && (spaced || line[ws] != b'=') {
        return None;
    }
    judge(line, kind, (ks, ke), v, before, quoted)
}

fn trim_dashes(k: &[u8]) -> &[u8] {
    let mut k = k;
    while let [b'-', rest @ ..] = k {
        k = rest;
    }
    k
}

fn ends_with_attr(s: &[u8], names: &[&[u8]]) -> bool {
    let t = s.trim_ascii_end().to_ascii_lowercase();
    names.iter().any(|n| t.ends_with(n))
}

fn skip_ws(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && matches!(line[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// Length of the assignment operator at the start of `s`.
fn operator(s: &[u8], call_arg: bool, flag: bool) -> Option<usize> {
    for op in [&b"=>"[..], b":=", b"?=", b"||=", b"+="] {
        if s.starts_with(op) {
            return Some(op.len());
        }
    }
    match s.first()? {
        b'=' if s.get(1) != Some(&b'=') => Some(1),
        b':' if s.get(1) != Some(&b':') => Some(1),
        b',' if flag || call_arg => Some(1),
        _ => None,
    }
}

/// `-p'secret'`, `-p secret` (only next to a `-u`/`--user`/`login`, as for mysql or docker login).
fn cli_short_p(line: &[u8], ke: usize) -> Option<(usize, usize)> {
    let lower = line.to_ascii_lowercase();
    let has_user = memchr::memmem::find(&lower, b" -u").is_some()
        || memchr::memmem::find(&lower, b"--user").is_some()
        || memchr::memmem::find(&lower, b"login").is_some();
    if !has_user || ke < 2 || (ke > 2 && !line[ke - 3].is_ascii_whitespace()) {
        return None;
    }
    let i = skip_ws(line, ke);
    let (s, e) = value_at(line, i)?;
    looks_like_password(&line[s..e]).then_some((s, e))
}

fn quoted_value(line: &[u8], i: usize) -> Option<(usize, usize)> {
    let q = *line.get(i)?;
    if !matches!(q, b'"' | b'\'' | b'`') {
        return None;
    }
    let mut j = i + 1;
    while j < line.len() && line[j] != q {
        if line[j] == b'\\' {
            j += 1;
        }
        j += 1;
    }
    (j <= line.len()).then_some((i + 1, j.min(line.len())))
}

/// The value starting at `i`: a quoted string or an unquoted run. Unquoted code (identifiers,
/// dotted paths, calls) yields `None`.
fn value_at(line: &[u8], mut i: usize) -> Option<(usize, usize)> {
    // python byte/raw/f-string prefixes, C# verbatim strings
    if i + 1 < line.len()
        && matches!(line[i], b'b' | b'r' | b'f' | b'u' | b'@')
        && matches!(line[i + 1], b'"' | b'\'')
    {
        i += 1;
    }
    if let Some(v) = quoted_value(line, i) {
        return Some(v);
    }
    let start = i;
    let mut j = i;
    while j < line.len()
        && !matches!(
            line[j],
            b' ' | b'\t'
                | b';'
                | b','
                | b'('
                | b'['
                | b')'
                | b']'
                | b'}'
                | b'"'
                | b'\''
                | b'<'
                | b'>'
                | b'&'
                | b'\r'
        )
    {
        j += 1;
    }
    if j == start {
        return None;
    }
    let v = &line[start..j];
    // code, not a literal: `req`, `var.db_password`, `mustEnv(`, `process.env.X`, `x[`
    let next = line.get(j).copied();
    let dotted_ident = v
        .split(|&b| b == b'.')
        .all(|p| decoy::is_identifier(p) || p.is_empty());
    if matches!(next, Some(b'(' | b'['))
        || matches!(v.last(), Some(b'(' | b'[' | b'{'))
        || dotted_ident
        || v.contains(&b'(')
    {
        return None;
    }
    Some((start, j))
}

fn judge(
    line: &[u8],
    kind: Kind,
    key: (usize, usize),
    (vs, ve0): (usize, usize),
    before: &[u8],
    quoted: bool,
) -> Option<Assignment> {
    let mut v = &line[vs..ve0];
    let mut vs = vs;
    // `Bearer xyz`, `token xyz`
    for p in [&b"Bearer "[..], b"bearer ", b"Basic ", b"token "] {
        if v.starts_with(p) {
            v = &v[p.len()..];
            vs += p.len();
        }
    }
    let v = v.trim_ascii();
    let ve = vs + v.len();
    if v.is_empty()
        || v.starts_with(b"@")
        || decoy::is_reference(v)
        || decoy::is_known_public(v)
        || decoy::is_regexish(v)
    {
        return None;
    }
    // brackets, braces and parentheses: only in long, very random quoted values (salts)
    if v.iter().any(|b| {
        matches!(
            b,
            b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'<' | b'>' | b'\\' | b',' | b';'
        )
    }) && !(quoted && v.len() >= 32 && entropy(v) >= 4.3 && Classes::of(v).count() >= 3)
    {
        return None;
    }
    // base64 values in Kubernetes Secret `data:` and similar: judge what they decode to
    let decoded = decode_b64_text(v);
    let judged: &[u8] = decoded.as_deref().unwrap_or(v);
    let keyname = &line[key.0..key.1];
    let ok = match kind {
        Kind::Password => looks_like_password(judged),
        Kind::Secret | Kind::Token => {
            looks_random(judged, 12) || (decoded.is_some() && looks_like_password(judged))
        }
        Kind::Value => {
            v.iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'/' | b'='))
                && v.len() >= 24
                && v.len() <= 200
                && {
                    let c = Classes::of(v);
                    c.upper && c.lower && c.digit && entropy(v) >= 4.3 && !decoy::is_wordlike(v)
                }
        }
        Kind::Result => {
            let tail = &before[before.len().saturating_sub(800)..];
            (memchr::memmem::find(tail, b"random_password").is_some()
                || memchr::memmem::find(tail, b"random_string").is_some())
                && looks_like_password(v)
        }
    };
    if !ok {
        return None;
    }
    let rule = rule_for(kind, keyname, v);
    Some(Assignment {
        key,
        value: (vs, ve),
        rule,
    })
}

fn decode_b64_text(v: &[u8]) -> Option<Vec<u8>> {
    if v.len() < 12 || !v.len().is_multiple_of(4) || !v.ends_with(b"=") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
    (raw.len() >= 6 && raw.iter().all(|b| b.is_ascii_graphic())).then_some(raw)
}

fn rule_for(kind: Kind, key: &[u8], v: &[u8]) -> &'static str {
    let segs = segments(key);
    let has = |w: &str| segs.iter().any(|s| s.contains(w));
    match kind {
        Kind::Password | Kind::Result => "generic-password",
        _ if v.len() == 40 && (has("aws") || has("access")) && has("secret") && !is_hex(v) => {
            "aws-secret-access-key"
        }
        Kind::Secret if v.len() >= 32 => "high-entropy-secret",
        _ if has("salt")
            || has("signing")
            || has("hmac")
            || has("encryption")
            || has("validation")
            || has("decryption") =>
        {
            "high-entropy-secret"
        }
        _ => "generic-api-key",
    }
}

#[cfg(test)]
mod tests;
