//! The byte source under quick-xml: counts lines and columns as bytes are consumed, and keeps
//! any one XML event bounded (see `xml.rs`'s module doc): text and CDATA beyond the soft limit
//! are skipped before quick-xml buffers them; other markup beyond the hard limit is an error.
//! `Xml::next` calls `begin_event` before each event, which is how the clamp knows what kind of
//! event the next bytes start.

use crate::input::{Input, LOOKAHEAD};
use crate::limits::Limits;
use crate::xml::Pos;
use std::io::{self, BufRead};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Text,
    CData,
    Markup,
}

/// The byte source under quick-xml (see the module doc).
pub(crate) struct Clamp<'a> {
    input: Input<'a>,
    offset: u64,
    line: u64,
    line_start: u64,
    mode: Mode,
    count: usize,
    dropping: bool,
    tail: [u8; 2],
    pending: &'static [u8],
    pub(crate) soft: usize,
    hard: usize,
    pub(crate) event_start: Pos,
    pub(crate) cut: Option<(Pos, u64)>,
    pub(crate) lossy: Option<Pos>,
}

impl<'a> Clamp<'a> {
    pub(crate) fn new(input: Input<'a>, limits: &Limits) -> Clamp<'a> {
        let start = Pos { line: 1, column: 1, offset: Some(0) };
        Clamp {
            input,
            offset: 0,
            line: 1,
            line_start: 0,
            mode: Mode::Markup,
            count: 0,
            dropping: false,
            tail: [0; 2],
            pending: b"",
            soft: limits.xml_text.max(4 * LOOKAHEAD),
            hard: limits.xml_markup.max(4 * LOOKAHEAD),
            event_start: start,
            cut: None,
            lossy: None,
        }
    }

    pub(crate) fn pos(&self) -> Pos {
        Pos { line: self.line, column: self.offset - self.line_start + 1, offset: Some(self.offset) }
    }

    /// Called before quick-xml reads each event: the next bytes say what kind it is.
    pub(crate) fn begin_event(&mut self) -> io::Result<()> {
        self.event_start = self.pos();
        self.count = 0;
        self.dropping = false;
        self.tail = [0; 2];
        let next = self.input.fill_buf()?;
        self.mode = if next.starts_with(b"<![CDATA[") {
            Mode::CData
        } else if next.starts_with(b"<") {
            Mode::Markup
        } else {
            Mode::Text
        };
        Ok(())
    }

    /// Count lines over consumed (delivered or skipped) bytes.
    fn advance(&mut self, amt: usize) {
        let bytes = &self.input.buffered()[..amt];
        if let Some(last) = memchr::memrchr(b'\n', bytes) {
            self.line += memchr::memchr_iter(b'\n', &bytes[..last]).count() as u64 + 1;
            self.line_start = self.offset + last as u64 + 1;
        }
        self.offset += amt as u64;
        self.input.consume(amt);
        if self.lossy.is_none() && self.input.lossy_at.is_some() {
            self.lossy = Some(self.pos());
        }
    }

    fn note_cut(&mut self) {
        let here = self.pos();
        match &mut self.cut {
            Some((_, n)) => *n += 1,
            None => self.cut = Some((here, 1)),
        }
    }

    /// Skip text up to the next `<` (which is left to be read).
    fn drop_text(&mut self) -> io::Result<()> {
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            match memchr::memchr(b'<', buf) {
                Some(i) => {
                    self.advance(i);
                    self.mode = Mode::Markup;
                    self.dropping = false;
                    return Ok(());
                }
                None => {
                    let n = buf.len();
                    self.advance(n);
                }
            }
        }
    }

    /// Skip CDATA content through its `]]>`, which is then delivered from `pending`.
    fn drop_cdata(&mut self) -> io::Result<()> {
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            let mut found = None;
            for i in memchr::memchr_iter(b'>', buf) {
                let b1 = if i >= 1 { buf[i - 1] } else { self.tail[1] };
                let b2 = if i >= 2 { buf[i - 2] } else if i == 1 { self.tail[1] } else { self.tail[0] };
                if b1 == b']' && b2 == b']' {
                    found = Some(i);
                    break;
                }
            }
            match found {
                Some(i) => {
                    self.advance(i + 1);
                    self.pending = b"]]>";
                    self.mode = Mode::Markup;
                    self.dropping = false;
                    return Ok(());
                }
                None => {
                    let n = buf.len();
                    self.tail = match n {
                        1 => [self.tail[1], buf[0]],
                        _ => [buf[n - 2], buf[n - 1]],
                    };
                    self.advance(n);
                }
            }
        }
    }
}

/// The largest cut `<= room` that is a character boundary and (in CDATA) does not end in `]`.
fn cut_point(buf: &[u8], room: usize, cdata: bool) -> usize {
    let mut cut = room.min(buf.len());
    while cut > 0 && (buf[cut] & 0xC0 == 0x80 || (cdata && buf[cut - 1] == b']')) {
        cut -= 1;
    }
    cut
}

impl io::Read for Clamp<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Clamp<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if !self.pending.is_empty() {
            return Ok(self.pending);
        }
        match self.mode {
            Mode::Markup => {
                if self.count > self.hard {
                    return Err(io::Error::other(format!("this markup (a tag, comment or DOCTYPE) is longer than {} KiB, kiln's limit; the rest of the file was not read", self.hard >> 10)));
                }
                let room = (self.hard + 1 - self.count).max(1);
                let len = self.input.fill_buf()?.len().min(room);
                Ok(&self.input.buffered()[..len])
            }
            Mode::Text | Mode::CData => {
                let cdata = self.mode == Mode::CData;
                if !self.dropping {
                    let room = self.soft.saturating_sub(self.count);
                    let buf = self.input.fill_buf()?;
                    if buf.len() <= room {
                        return self.input.fill_buf();
                    }
                    let cut = cut_point(buf, room, cdata);
                    if cut > 0 {
                        return Ok(&self.input.buffered()[..cut]);
                    }
                    self.dropping = true;
                    self.note_cut();
                }
                if cdata { self.drop_cdata()? } else { self.drop_text()? }
                if !self.pending.is_empty() {
                    return Ok(self.pending);
                }
                self.input.fill_buf()
            }
        }
    }

    fn consume(&mut self, amt: usize) {
        if !self.pending.is_empty() {
            self.pending = &self.pending[amt.min(self.pending.len())..];
            return;
        }
        self.count += amt;
        self.advance(amt);
    }
}

