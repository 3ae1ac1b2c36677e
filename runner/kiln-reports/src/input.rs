//! Reading a report file as UTF-8 text, whatever it is: every parser reads through [`Input`].
//!
//! - A UTF-8 BOM is dropped; UTF-16 (BOM, or an XML file starting `<?` in UTF-16) is transcoded.
//! - An XML declaration's `encoding` (ISO-8859-1, windows-1252, Shift_JIS, ...) is honoured:
//!   the bytes are transcoded with `encoding_rs` (WHATWG labels; unknown labels are read as
//!   UTF-8 with a warning).
//! - Bytes that are not valid in the encoding are replaced with U+FFFD and the first one is
//!   reported as a warning; they never fail a file (quick-xml 0.42 and serde_json both reject
//!   invalid UTF-8, so they must never see any).
//! - A size limit (for the JSON formats, which are parsed whole per feature/run) ends the read
//!   with an error naming the limit; the XML and LCOV parsers stream and set none.
//!
//! Byte offsets reported to users count this UTF-8 text (identical to the file's bytes for a
//! valid UTF-8 file).

use encoding_rs::{Decoder, Encoding, UTF_8, UTF_16BE, UTF_16LE};
use std::io::{self, BufRead, Read};

const RAW_CAP: usize = 64 * 1024;
const HEAD: usize = 1024;
/// `fill_buf` returns at least this many bytes unless the input ends first (the XML clamp peeks
/// at `<![CDATA[`).
pub(crate) const LOOKAHEAD: usize = 16;
const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// What kind of text the file is expected to be (XML files may declare an encoding).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Xml,
    Text,
}

enum Mode {
    /// Pass-through of valid UTF-8: `raw[rpos..valid_end]` is validated; `bad` invalid bytes
    /// follow it; `repl` is the position inside the replacement character being delivered.
    Utf8 { valid_end: usize, bad: usize, repl: Option<usize> },
    /// Transcoding into `out`.
    Transcode { dec: Decoder, out: Vec<u8>, opos: usize, oend: usize, finished: bool },
}

/// A report file as valid UTF-8 (see the module doc).
pub(crate) struct Input<'a> {
    inner: Box<dyn Read + 'a>,
    raw: Vec<u8>,
    rpos: usize,
    rend: usize,
    eof: bool,
    limit: Option<u64>,
    read_total: u64,
    mode: Mode,
    head: Vec<u8>,
    delivered: u64,
    /// Offset (in the UTF-8 text) of the first byte sequence that was replaced.
    pub lossy_at: Option<u64>,
    /// A note about the encoding (unknown label) for the parser to report.
    pub encoding_note: Option<String>,
}

impl<'a> Input<'a> {
    pub(crate) fn new(inner: impl Read + 'a, kind: Kind, limit: Option<u64>) -> io::Result<Input<'a>> {
        let mut input = Input {
            inner: Box::new(inner),
            raw: vec![0; RAW_CAP],
            rpos: 0,
            rend: 0,
            eof: false,
            limit,
            read_total: 0,
            mode: Mode::Utf8 { valid_end: 0, bad: 0, repl: None },
            head: Vec::new(),
            delivered: 0,
            lossy_at: None,
            encoding_note: None,
        };
        while input.rend < HEAD && !input.eof {
            input.read_more()?;
        }
        input.head = input.raw[..input.rend].to_vec();
        let (skip, encoding) = detect(&input.head, kind, &mut input.encoding_note);
        input.rpos = skip;
        input.mode = Mode::Utf8 { valid_end: skip, bad: 0, repl: None };
        if encoding != UTF_8 {
            input.mode = Mode::Transcode { dec: encoding.new_decoder_without_bom_handling(), out: vec![0; RAW_CAP], opos: 0, oend: 0, finished: false };
        }
        Ok(input)
    }

    /// The file's first bytes (up to 1 KiB, as read).
    pub(crate) fn head(&self) -> &[u8] {
        &self.head
    }

    /// What `fill_buf` last returned (no I/O): the bytes `consume` will take.
    pub(crate) fn buffered(&self) -> &[u8] {
        match &self.mode {
            Mode::Utf8 { repl: Some(i), .. } => &REPLACEMENT[*i..],
            Mode::Utf8 { valid_end, .. } => &self.raw[self.rpos..*valid_end],
            Mode::Transcode { out, opos, oend, .. } => &out[*opos..*oend],
        }
    }

    /// Compact the raw buffer and read once more from the inner reader.
    fn read_more(&mut self) -> io::Result<()> {
        if self.rpos > 0 {
            self.raw.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            if let Mode::Utf8 { valid_end, .. } = &mut self.mode {
                *valid_end -= self.rpos;
            }
            self.rpos = 0;
        }
        if self.rend == self.raw.len() {
            return Ok(());
        }
        loop {
            match self.inner.read(&mut self.raw[self.rend..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.rend += n;
                    self.read_total += n as u64;
                    if let Some(limit) = self.limit
                        && self.read_total > limit
                    {
                        return Err(io::Error::other(format!("the file is larger than {} MiB, kiln's limit for this format; it was not read", limit >> 20)));
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn note_lossy(&mut self) {
        if self.lossy_at.is_none() {
            self.lossy_at = Some(self.delivered);
        }
    }

    fn fill_utf8(&mut self) -> io::Result<(usize, usize)> {
        loop {
            let Mode::Utf8 { valid_end, bad, repl } = &mut self.mode else { unreachable!() };
            if let Some(i) = *repl {
                return Ok((usize::MAX, i));
            }
            let avail = *valid_end - self.rpos;
            if avail >= LOOKAHEAD || (avail > 0 && (*bad > 0 || self.eof)) {
                return Ok((self.rpos, *valid_end));
            }
            if avail == 0 && *bad > 0 {
                // Deliver U+FFFD in place of the invalid bytes.
                self.rpos += *bad;
                *valid_end = self.rpos;
                *bad = 0;
                *repl = Some(0);
                self.note_lossy();
                continue;
            }
            if self.eof && self.rpos == self.rend {
                return Ok((self.rpos, self.rpos));
            }
            if !self.eof {
                self.read_more()?;
            }
            let Mode::Utf8 { valid_end, bad, .. } = &mut self.mode else { unreachable!() };
            let unchecked = &self.raw[*valid_end..self.rend];
            match std::str::from_utf8(unchecked) {
                Ok(_) => *valid_end = self.rend,
                Err(e) => {
                    *valid_end += e.valid_up_to();
                    *bad = match e.error_len() {
                        Some(n) => n,
                        // A sequence cut by the buffer end: wait for more, unless the file ended.
                        None if self.eof => self.rend - *valid_end,
                        None => 0,
                    };
                }
            }
            if self.eof && *valid_end == self.rpos && *bad == 0 && self.rpos == self.rend {
                return Ok((self.rpos, self.rpos));
            }
        }
    }

    fn fill_transcode(&mut self) -> io::Result<()> {
        loop {
            let Mode::Transcode { opos, oend, finished, .. } = &self.mode else { unreachable!() };
            if *oend - *opos >= LOOKAHEAD || *finished {
                return Ok(());
            }
            if !self.eof && self.rend - self.rpos < 4 * LOOKAHEAD {
                self.read_more()?;
                continue;
            }
            let Mode::Transcode { dec, out, opos, oend, finished } = &mut self.mode else { unreachable!() };
            out.copy_within(*opos..*oend, 0);
            *oend -= *opos;
            *opos = 0;
            let last = self.eof;
            let (result, read, written, replaced) = dec.decode_to_utf8(&self.raw[self.rpos..self.rend], &mut out[*oend..], last);
            self.rpos += read;
            *oend += written;
            if last && result == encoding_rs::CoderResult::InputEmpty {
                *finished = true;
            }
            if replaced && self.lossy_at.is_none() {
                self.lossy_at = Some(self.delivered);
            }
        }
    }
}

impl BufRead for Input<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self.mode {
            Mode::Utf8 { .. } => {
                let (start, end) = self.fill_utf8()?;
                if start == usize::MAX {
                    return Ok(&REPLACEMENT[end..]);
                }
                Ok(&self.raw[start..end])
            }
            Mode::Transcode { .. } => {
                self.fill_transcode()?;
                let Mode::Transcode { out, opos, oend, .. } = &self.mode else { unreachable!() };
                Ok(&out[*opos..*oend])
            }
        }
    }

    fn consume(&mut self, amt: usize) {
        self.delivered += amt as u64;
        match &mut self.mode {
            Mode::Utf8 { valid_end, repl, .. } => {
                if let Some(i) = repl {
                    *i += amt;
                    if *i >= REPLACEMENT.len() {
                        *repl = None;
                    }
                } else {
                    self.rpos = (self.rpos + amt).min(*valid_end);
                }
            }
            Mode::Transcode { opos, oend, .. } => *opos = (*opos + amt).min(*oend),
        }
    }
}

impl Read for Input<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The encoding of a file from its head, and how many bytes (a BOM) to skip.
fn detect(head: &[u8], kind: Kind, note: &mut Option<String>) -> (usize, &'static Encoding) {
    if head.starts_with(b"\xEF\xBB\xBF") {
        return (3, UTF_8);
    }
    if head.starts_with(b"\xFF\xFE") {
        return (2, UTF_16LE);
    }
    if head.starts_with(b"\xFE\xFF") {
        return (2, UTF_16BE);
    }
    if kind == Kind::Text {
        return (0, UTF_8);
    }
    if head.starts_with(b"<\0?\0") {
        return (0, UTF_16LE);
    }
    if head.starts_with(b"\0<\0?") {
        return (0, UTF_16BE);
    }
    let Some(label) = declared_encoding(head) else { return (0, UTF_8) };
    match Encoding::for_label(label) {
        // A file declaring UTF-16 without being UTF-16 (its declaration is readable as ASCII).
        Some(e) if e == UTF_16LE || e == UTF_16BE || e == UTF_8 => (0, UTF_8),
        Some(e) => (0, e),
        None => {
            *note = Some(format!("the XML declaration names an unknown encoding `{}`; the file is read as UTF-8", String::from_utf8_lossy(label)));
            (0, UTF_8)
        }
    }
}

/// The `encoding` pseudo-attribute of an XML declaration at the start of `head`.
fn declared_encoding(head: &[u8]) -> Option<&[u8]> {
    let decl = head.strip_prefix(b"<?xml")?;
    let decl = &decl[..memchr::memmem::find(decl, b"?>")?];
    let at = memchr::memmem::find(decl, b"encoding")?;
    let rest = decl[at + 8..].trim_ascii_start().strip_prefix(b"=")?.trim_ascii_start();
    let quote = *rest.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let end = memchr::memchr(quote, &rest[1..])?;
    Some(&rest[1..1 + end])
}

/// A file head as text for sniffing: BOM dropped, UTF-16 decoded, invalid bytes replaced.
pub(crate) fn lossy_head(bytes: &[u8]) -> String {
    let mut note = None;
    let (skip, enc) = detect(bytes, Kind::Xml, &mut note);
    let (text, _) = enc.decode_without_bom_handling(&bytes[skip.min(bytes.len())..]);
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8], kind: Kind) -> (String, Option<u64>) {
        let mut input = Input::new(bytes, kind, None).unwrap();
        let mut out = Vec::new();
        input.read_to_end(&mut out).unwrap();
        (String::from_utf8(out).expect("always UTF-8"), input.lossy_at)
    }

    #[test]
    fn utf8_passes_through_and_bom_is_dropped() {
        assert_eq!(read_all(b"\xEF\xBB\xBF<a>\xC3\xA9</a>", Kind::Xml), ("<a>é</a>".into(), None));
        let big = "é".repeat(100_000);
        assert_eq!(read_all(big.as_bytes(), Kind::Text).0, big);
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let (text, at) = read_all(b"<a>x\xFFy\xC3</a>\xE2\x82", Kind::Xml);
        assert_eq!(text, "<a>x\u{FFFD}y\u{FFFD}</a>\u{FFFD}");
        assert_eq!(at, Some(4));
        // Invalid bytes straddling the internal buffer boundary.
        let mut v = vec![b'a'; RAW_CAP - 1];
        v.extend_from_slice(b"\xE2\x82\xAC\xFF!");
        let (text, _) = read_all(&v, Kind::Text);
        assert!(text.ends_with("a€\u{FFFD}!"), "{}", &text[text.len() - 10..]);
    }

    #[test]
    fn declared_and_bom_encodings_are_transcoded() {
        let latin1 = b"<?xml version='1.0' encoding='ISO-8859-1'?><a n='\xE9'>caf\xE9</a>";
        assert_eq!(read_all(latin1, Kind::Xml).0, "<?xml version='1.0' encoding='ISO-8859-1'?><a n='é'>café</a>");
        let utf16: Vec<u8> = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-16\"?><a>ü</a>".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        assert_eq!(read_all(&utf16, Kind::Xml).0, "<?xml version=\"1.0\" encoding=\"utf-16\"?><a>ü</a>");
        let be: Vec<u8> = "<?xml version=\"1.0\"?><a/>".encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        assert_eq!(read_all(&be, Kind::Xml).0, "<?xml version=\"1.0\"?><a/>");
        // Declared UTF-16 but written in ASCII: read as UTF-8.
        assert_eq!(read_all(b"<?xml version='1.0' encoding='UTF-16'?><a/>", Kind::Xml).0, "<?xml version='1.0' encoding='UTF-16'?><a/>");
        let mut input = Input::new(&b"<?xml version='1.0' encoding='klingon'?><a/>"[..], Kind::Xml, None).unwrap();
        assert!(input.encoding_note.take().unwrap().contains("klingon"));
    }

    #[test]
    fn the_limit_is_an_error() {
        let data = vec![b' '; 3 << 20];
        let mut input = Input::new(&data[..], Kind::Text, Some(1 << 20)).unwrap();
        let err = input.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
    }
}
