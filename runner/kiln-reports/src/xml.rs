//! The one XML reader every XML format uses: quick-xml's streaming reader over a bounded,
//! position-tracking byte source.
//!
//! Bounds (so a hostile or huge file costs bounded memory, whatever its size):
//! - One text or CDATA section keeps at most [`Limits::xml_text`] bytes (1 MiB); the rest is
//!   skipped in the byte stream before quick-xml buffers it, and a warning says where. The
//!   cut is made at a character boundary and never inside a CDATA terminator.
//! - Any other markup (a tag with its attributes, a comment, a DOCTYPE, a processing
//!   instruction) longer than [`Limits::xml_markup`] (8 MiB) ends the file with a located error.
//! - Elements nest at most [`Limits::xml_depth`] (256) deep.
//! - Entities: quick-xml reports references as separate events; only the five predefined
//!   entities and character references are resolved. Anything a DTD declares is kept as written
//!   (`&name;`) with a warning: no entity is ever expanded (no billion laughs) and no external
//!   DTD or entity is ever fetched or read (quick-xml has no such capability).
//!
//! Positions: line and column (1-based, column in bytes) of the start of the event being read,
//! counted as bytes are consumed; errors are reported there.

use crate::clamp::Clamp;
use crate::input::Input;
use crate::limits::Limits;
use quick_xml::events::{BytesStart, Event};
use std::borrow::Cow;

/// Where something is in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: u64,
    pub column: u64,
    pub offset: Option<u64>,
}

/// A problem that stops reading a file (the report becomes INCOMPLETE).
#[derive(Debug)]
pub(crate) struct Fatal {
    pub pos: Option<Pos>,
    pub message: String,
    /// The file is not in the declared format at all (the caller may say which it looks like).
    pub not_format: bool,
}

impl Fatal {
    pub(crate) fn new(pos: Option<Pos>, message: impl Into<String>) -> Fatal {
        Fatal { pos, message: message.into(), not_format: false }
    }

    pub(crate) fn not_format(mut self) -> Fatal {
        self.not_format = true;
        self
    }
}

/// Check the root element (the tag just read) is one of `names`; `what` names the format.
pub(crate) fn check_root(xml: &Xml, names: &[&str], what: &str) -> Result<(), Fatal> {
    let found = xml.name();
    if names.contains(&found) {
        return Ok(());
    }
    let list: Vec<String> = names.iter().map(|n| format!("<{n}>")).collect();
    Err(xml.fatal(format!("expected {what} root element {}, found <{found}>", list.join(" or "))).not_format())
}

/// Note (once per file) text holding control characters XML 1.0 forbids; they are kept.
fn check_controls(warned: &mut bool, notes: &mut Vec<(Option<Pos>, String)>, pos: Pos, text: &str) {
    if *warned {
        return;
    }
    // Branch-free per 64-byte block (this runs over every text byte of clean files).
    let bad = |b: u8| b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r';
    if !text.as_bytes().chunks(64).any(|block| block.iter().fold(false, |acc, &b| acc | bad(b))) {
        return;
    }
    if let Some(b) = text.bytes().find(|&b| bad(b)) {
        *warned = true;
        notes.push((Some(pos), format!("this text holds control characters XML 1.0 does not allow (first U+{b:04X}); the file is not well-formed, but kiln read the text as written")));
    }
}

fn remember(tag: &mut String, name_len: &mut usize, e: &BytesStart<'_>) {
    tag.clear();
    tag.push_str(e.name().into_inner());
    *name_len = tag.len();
    tag.push_str(e.attributes_raw());
}

fn local(name: &str) -> &str {
    match memchr::memrchr(b':', name.as_bytes()) {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// Resolve the predefined entities and character references; keep anything else as written.
pub(crate) fn unescape(s: Cow<'_, str>) -> Cow<'_, str> {
    if !s.contains('&') {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest: &str = &s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match after.find(';').filter(|&semi| semi <= 32) {
            Some(semi) => {
                match resolve(&after[..semi]) {
                    Some(c) => out.push(c),
                    None => out.push_str(&rest[amp..amp + semi + 2]),
                }
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// A predefined entity or character reference (`amp`, `#38`, `#x26`).
fn resolve(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix('x').or_else(|| num.strip_prefix('X')) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// One event, as the format parsers see it.
pub(crate) enum Ev<'b> {
    /// A start tag: its name and attributes are `Xml::name` / `Xml::attrs` until the next tag.
    Start,
    /// A self-closing tag (same).
    Empty,
    End,
    Text(Cow<'b, str>),
    Other,
    Eof,
}

/// The XML reader (see the module doc).
pub(crate) struct Xml<'a> {
    reader: quick_xml::Reader<Clamp<'a>>,
    buf: Vec<u8>,
    depth: usize,
    max_depth: usize,
    /// Open elements' positions (for "the file ends inside <x> opened at ...").
    open: Vec<(Pos, usize)>,
    names: String,
    notes: Vec<(Option<Pos>, String)>,
    entity_warned: bool,
    ctrl_warned: bool,
    eof: bool,
    /// The last start tag's name and attributes (`BytesStart` content) and its name's length.
    tag: String,
    tag_name_len: usize,
}

impl<'a> Xml<'a> {
    pub(crate) fn new(mut input: Input<'a>, limits: &Limits) -> Xml<'a> {
        let mut notes = Vec::new();
        if let Some(n) = input.encoding_note.take() {
            notes.push((None, n));
        }
        let mut reader = quick_xml::Reader::from_reader(Clamp::new(input, limits));
        let config = reader.config_mut();
        config.check_end_names = true;
        config.allow_dangling_amp = true;
        config.trim_text(false);
        Xml { reader, buf: Vec::with_capacity(4096), depth: 0, max_depth: limits.xml_depth, open: Vec::new(), names: String::new(), notes, entity_warned: false, ctrl_warned: false, eof: false, tag: String::new(), tag_name_len: 0 }
    }

    /// The local name (any namespace prefix dropped) of the last start or empty tag read.
    pub(crate) fn name(&self) -> &str {
        local(&self.tag[..self.tag_name_len])
    }

    /// The values of several attributes (by local name) of the last tag read, in one pass,
    /// entity-decoded.
    pub(crate) fn attrs<const N: usize>(&self, keys: [&str; N]) -> [Option<Cow<'_, str>>; N] {
        let mut out: [Option<Cow<'_, str>>; N] = std::array::from_fn(|_| None);
        let mut attrs = quick_xml::events::attributes::Attributes::new(&self.tag, self.tag_name_len);
        attrs.with_checks(false);
        for a in attrs {
            let Ok(a) = a else { break };
            let key = local(a.key.into_inner());
            if let Some(i) = keys.iter().position(|k| *k == key)
                && out[i].is_none()
            {
                out[i] = Some(unescape(a.value));
            }
        }
        out
    }

    /// The same, owned.
    pub(crate) fn attrs_owned<const N: usize>(&self, keys: [&str; N]) -> [Option<String>; N] {
        self.attrs(keys).map(|v| v.map(Cow::into_owned))
    }

    /// One attribute of the last tag read, owned.
    pub(crate) fn attr(&self, key: &str) -> Option<String> {
        let [v] = self.attrs_owned([key]);
        v
    }

    /// The position of the event last read.
    pub(crate) fn pos(&self) -> Pos {
        self.reader.get_ref().event_start
    }

    /// Whether any element was read.
    pub(crate) fn saw_element(&self) -> bool {
        !self.tag.is_empty() || self.tag_name_len > 0
    }

    /// Current element depth (the root element is depth 1 while open).
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// A fatal error at the event last read.
    pub(crate) fn fatal(&self, message: impl Into<String>) -> Fatal {
        Fatal::new(Some(self.pos()), message)
    }

    /// Notes gathered while reading (encodings, cuts, entities), for the report's warnings.
    pub(crate) fn take_notes(&mut self) -> Vec<(Option<Pos>, String)> {
        let clamp = self.reader.get_mut();
        if let Some((pos, n)) = clamp.cut.take() {
            let kib = clamp.soft >> 10;
            let more = if n > 1 { format!(" (and {} more places)", n - 1) } else { String::new() };
            self.notes.push((Some(pos), format!("a text or CDATA section longer than {kib} KiB was cut here{more}; only its first {kib} KiB were read")));
        }
        if let Some(pos) = clamp.lossy.take() {
            self.notes.push((Some(pos), "the file has bytes that are not valid in its encoding (first near here); they were read as U+FFFD".into()));
        }
        std::mem::take(&mut self.notes)
    }

    /// The next event. Declarations, comments, processing instructions and DOCTYPEs are handled
    /// here and returned as `Other`.
    pub(crate) fn next(&mut self) -> Result<Ev<'_>, Fatal> {
        if self.eof {
            return Ok(Ev::Eof);
        }
        self.buf.clear();
        let begun = self.reader.get_mut().begin_event();
        let pos = self.pos();
        if let Err(e) = begun {
            return Err(Fatal::new(Some(pos), e.to_string()));
        }
        let event = match self.reader.read_event_into(&mut self.buf) {
            Ok(e) => e,
            Err(e) => return Err(Fatal::new(Some(pos), xml_error(&e))),
        };
        Ok(match event {
            Event::Start(e) => {
                self.depth += 1;
                if self.depth > self.max_depth {
                    return Err(Fatal::new(Some(pos), format!("elements nest deeper than {} levels, kiln's limit; the rest of the file was not read", self.max_depth)));
                }
                self.open.push((pos, self.names.len()));
                self.names.push_str(e.name().into_inner());
                remember(&mut self.tag, &mut self.tag_name_len, &e);
                Ev::Start
            }
            Event::Empty(e) => {
                remember(&mut self.tag, &mut self.tag_name_len, &e);
                Ev::Empty
            }
            Event::End(_) => {
                self.depth = self.depth.saturating_sub(1);
                if let Some((_, at)) = self.open.pop() {
                    self.names.truncate(at);
                }
                Ev::End
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                check_controls(&mut self.ctrl_warned, &mut self.notes, pos, &text);
                Ev::Text(text)
            }
            Event::CData(c) => {
                let text = c.into_inner();
                check_controls(&mut self.ctrl_warned, &mut self.notes, pos, &text);
                Ev::Text(text)
            }
            Event::GeneralRef(r) => {
                let name = r.into_inner();
                match resolve(&name) {
                    Some(c) => Ev::Text(Cow::Owned(c.to_string())),
                    None => {
                        let literal = format!("&{name};");
                        if !self.entity_warned {
                            self.entity_warned = true;
                            self.notes.push((Some(pos), format!("`{literal}` is not a predefined XML entity; kiln never expands entities a DTD declares, so it is kept as written")));
                        }
                        Ev::Text(Cow::Owned(literal))
                    }
                }
            }
            Event::DocType(d) => {
                if d.as_ref().as_bytes().windows(8).any(|w| w.eq_ignore_ascii_case(b"<!ENTITY")) {
                    self.notes.push((Some(pos), "the DOCTYPE declares entities; kiln ignores them (no entity is expanded, no external DTD or entity is read)".into()));
                }
                Ev::Other
            }
            Event::Eof => {
                self.eof = true;
                if let Some(&(opened, at)) = self.open.last() {
                    let name = self.names[at..].to_string();
                    return Err(Fatal::new(Some(self.reader.get_ref().pos()), format!("the file ends inside <{name}> (opened at line {}, column {}): it is truncated or not well-formed", opened.line, opened.column)));
                }
                Ev::Eof
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => Ev::Other,
        })
    }

    /// The text inside the element whose `Start` was just read, through its end tag (text of
    /// nested elements included), keeping at most `max_chars` characters.
    pub(crate) fn read_text(&mut self, max_chars: usize) -> Result<String, Fatal> {
        let target = self.depth.saturating_sub(1);
        let mut out = String::new();
        let mut chars = 0usize;
        loop {
            let end = match self.next()? {
                Ev::Text(t) => {
                    push_capped(&mut out, &mut chars, &t, max_chars);
                    false
                }
                Ev::End => true,
                Ev::Eof => return Ok(out),
                Ev::Start | Ev::Empty | Ev::Other => false,
            };
            if end && self.depth <= target {
                return Ok(out);
            }
        }
    }

    /// Skip the element whose `Start` was just read, through its end tag.
    pub(crate) fn skip(&mut self) -> Result<(), Fatal> {
        let target = self.depth.saturating_sub(1);
        loop {
            let end = match self.next()? {
                Ev::End => true,
                Ev::Eof => return Ok(()),
                _ => false,
            };
            if end && self.depth <= target {
                return Ok(());
            }
        }
    }
}

/// Append `text` to `out` while `out` has fewer than `max` characters (`chars` counts them).
pub(crate) fn push_capped(out: &mut String, chars: &mut usize, text: &str, max: usize) {
    if *chars >= max {
        return;
    }
    if *chars + text.len() <= max {
        out.push_str(text);
        *chars += text.chars().count();
        return;
    }
    for c in text.chars() {
        if *chars >= max {
            break;
        }
        out.push(c);
        *chars += 1;
    }
}

/// quick-xml's error in words.
fn xml_error(e: &quick_xml::Error) -> String {
    match e {
        quick_xml::Error::Io(io) => io.to_string(),
        other => format!("not well-formed XML: {other}"),
    }
}

#[cfg(test)]
mod tests;
