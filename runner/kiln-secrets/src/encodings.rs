//! The byte patterns a [`Masker`](crate::Masker) searches for: a secret value and the forms a
//! build is likely to print it in.
//!
//! The list, and what is deliberately not covered, is in the
//! [crate documentation](crate#masking).

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Values (or trimmed values) at least this many bytes long are also masked in all lower case
/// and all upper case. Shorter ones are not: re-cased, a short value such as `Admin` or
/// `Test1` is an ordinary word far more often than a leak.
pub const CASE_MIN_LEN: usize = 8;

/// RFC 3986 `unreserved` characters stay as they are; everything else is
/// percent-encoded (Python's `quote(s, safe="")`, Go's `url.QueryEscape`).
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// JavaScript's `encodeURIComponent` also leaves `!*'()` alone.
const JS_COMPONENT: &AsciiSet = &STRICT
    .remove(b'!')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// RFC 4648 base32 alphabet (`base32`, Python's `base64.b32encode`).
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Every byte pattern that masks `value`: the value, its trimmed form, its
/// lines (for multi-line values) and its CRLF form; for the value and its
/// trimmed form: the all-lower and all-upper case forms (from
/// [`CASE_MIN_LEN`] bytes), lower- and upper-case hex, base64, base32,
/// percent and JSON-string encodings. Patterns shorter than `min_len` are
/// dropped.
pub fn variants(value: &str, min_len: usize) -> BTreeSet<Vec<u8>> {
    let mut out = BTreeSet::new();
    let mut add = |p: Vec<u8>| {
        if p.len() >= min_len.max(1) {
            out.insert(p);
        }
    };
    let mut forms = vec![value];
    let trimmed = value.trim();
    if trimmed != value {
        forms.push(trimmed);
    }
    for form in forms {
        if form.len() < min_len {
            continue;
        }
        let bytes = form.as_bytes();
        add(bytes.to_vec());
        if bytes.len() >= CASE_MIN_LEN {
            for cased in case_forms(form) {
                add(cased.into_bytes());
            }
        }
        add(hex(bytes, b"0123456789abcdef"));
        add(hex(bytes, b"0123456789ABCDEF"));
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            add(engine.encode(bytes).into_bytes());
        }
        for unpadded in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            for offset in 0..3 {
                add(base64_middle(unpadded, bytes, offset));
            }
        }
        add(base32(bytes, true));
        add(base32(bytes, false));
        for offset in 0..5 {
            add(base32_middle(bytes, offset));
        }
        for p in percent_variants(form) {
            add(p.into_bytes());
        }
        for p in json_variants(form) {
            add(p.into_bytes());
        }
    }
    if value.contains('\n') {
        for line in value.split('\n') {
            add(line.trim().as_bytes().to_vec());
        }
        if !value.contains('\r') {
            add(value.replace('\n', "\r\n").into_bytes());
        }
    }
    out
}

/// All lower / all upper case, both the Unicode mapping (Python's `str.upper()`, `ß` → `SS`)
/// and the ASCII-only one (`tr a-z A-Z`, `${V^^}` in the C locale).
fn case_forms(form: &str) -> [String; 4] {
    [
        form.to_lowercase(),
        form.to_uppercase(),
        form.to_ascii_lowercase(),
        form.to_ascii_uppercase(),
    ]
}

fn hex(bytes: &[u8], digits: &[u8; 16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(digits[usize::from(b >> 4)]);
        out.push(digits[usize::from(b & 15)]);
    }
    out
}

/// The part of the base64 encoding of `bytes` that is the same whatever
/// surrounds them, when they start `offset` (0..3) bytes into a 3-byte group
/// of a longer stream: only the characters whose 6 bits all come from
/// `bytes` are kept.
pub fn base64_middle(engine: &impl Engine, bytes: &[u8], offset: usize) -> Vec<u8> {
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(bytes);
    padded.extend_from_slice(&[0, 0]);
    let encoded = engine.encode(&padded).into_bytes();
    // Character j covers bits [6j, 6j + 6); the secret covers bits
    // [8 * offset, 8 * (offset + len)).
    let start = (8 * offset).div_ceil(6);
    let end = (8 * (offset + bytes.len())) / 6;
    if end <= start {
        return Vec::new();
    }
    encoded[start..end].to_vec()
}

/// RFC 4648 base32 of `bytes`, with or without `=` padding.
pub fn base32(bytes: &[u8], pad: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(5) * 8);
    for group in bytes.chunks(5) {
        let mut g = [0u8; 5];
        g[..group.len()].copy_from_slice(group);
        let v = g.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = (group.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(BASE32[((v >> (35 - 5 * i)) & 31) as usize]);
            } else if pad {
                out.push(b'=');
            }
        }
    }
    out
}

/// Like [`base64_middle`] for base32: the characters of the encoding of `bytes` that do not
/// depend on what surrounds them when they start `offset` (0..5) bytes into a 5-byte group.
pub fn base32_middle(bytes: &[u8], offset: usize) -> Vec<u8> {
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(bytes);
    let encoded = base32(&padded, false);
    // Character j covers bits [5j, 5j + 5).
    let start = (8 * offset).div_ceil(5);
    let end = ((8 * (offset + bytes.len())) / 5).min(encoded.len());
    if end <= start {
        return Vec::new();
    }
    encoded[start..end].to_vec()
}

fn percent_variants(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    for set in [STRICT, JS_COMPONENT] {
        let encoded = utf8_percent_encode(value, set).to_string();
        let lower = lowercase_escapes(&encoded);
        for e in [encoded, lower] {
            out.push(e.replace("%20", "+"));
            out.push(e);
        }
    }
    out
}

fn lowercase_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let (esc, tail) = rest[i..].split_at(rest.len().min(i + 3) - i);
        out.push_str(&esc.to_ascii_lowercase());
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// JSON string-body encodings: `serde_json`'s, with `/` escaped as `\/`,
/// and with every non-ASCII character as `\uXXXX` (Python's default).
fn json_variants(value: &str) -> Vec<String> {
    let Ok(quoted) = serde_json::to_string(value) else {
        return Vec::new();
    };
    let body = quoted[1..quoted.len() - 1].to_string();
    let mut ascii = String::with_capacity(body.len());
    for c in body.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    let slashes = body.replace('/', "\\/");
    vec![body, slashes, ascii.replace('/', "\\/"), ascii]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc_4648_test_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "MY======"),
            ("fo", "MZXQ===="),
            ("foo", "MZXW6==="),
            ("foob", "MZXW6YQ="),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI======"),
        ] {
            assert_eq!(base32(input.as_bytes(), true), want.as_bytes(), "{input}");
            assert_eq!(base32(input.as_bytes(), false), want.trim_end_matches('=').as_bytes());
        }
    }

    #[test]
    fn base32_middle_is_in_the_encoding_of_every_surrounding_stream() {
        let secret = b"s3cret-v4lue";
        for offset in 0..5 {
            let middle = base32_middle(secret, offset);
            assert!(middle.len() >= 17, "offset {offset}: {}", middle.len());
            for fill in [0u8, 0xff, 0x5a] {
                let mut stream = vec![fill; 5 + offset];
                stream.extend_from_slice(secret);
                stream.extend_from_slice(&[fill; 4]);
                let enc = base32(&stream, true);
                assert!(enc.windows(middle.len()).any(|w| w == middle.as_slice()), "offset {offset} fill {fill}");
            }
        }
    }

    #[test]
    fn hex_digits() {
        assert_eq!(hex(b"\x00\xffa", b"0123456789abcdef"), b"00ff61");
        assert_eq!(hex(b"\xab", b"0123456789ABCDEF"), b"AB");
    }
}
