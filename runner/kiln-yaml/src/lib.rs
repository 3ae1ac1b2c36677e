//! kiln-yaml: every YAML file kiln reads from a user goes through this bounded reader.
//!
//! YAML aliases repeat an anchored value, so a small file can stand for a huge document: a
//! "billion laughs" of nested lists, or one 1 MiB scalar referenced 6,000 times (a 1 MiB file,
//! 6 GB expanded). This crate reads a document with `yaml-rust2`'s event parser and counts what it
//! expands to (every alias expansion and every anchor's saved copy included) before anything is
//! copied, so neither can take more than a bounded amount of memory:
//!
//! * at most [`MAX_NODES`] nodes and [`MAX_DEPTH`] levels of nesting;
//! * at most [`text_budget`] bytes of text (scalars and tags): [`EXPANSION_FACTOR`] times the
//!   file's size, clamped to [`MIN_TEXT`]`..=`[`MAX_TEXT`].
//!
//! A document over a bound is refused with an [`Error`] located at the alias (or node) that
//! crosses it, naming the anchor it repeats and saying what to do; no error ever contains the
//! document's values.
//!
//! Two ways in:
//! * [`parse`] builds a [`Node`] tree in which every node keeps its position (kiln-spec reads
//!   buildspecs this way). Merge keys (`<<`) are applied; a UTF-8 byte-order mark at the start is
//!   skipped.
//! * [`check`] applies the same bounds without building the tree, for files that are then read
//!   with `serde_yaml` (the secrets file, the `kiln verify --policy` file): serde_yaml expands
//!   aliases without a bound on bytes, so it must only ever see a document `check` accepted.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Upper bound on the number of nodes a document may expand to (aliases included).
pub const MAX_NODES: usize = 1_000_000;
/// Upper bound on nesting depth.
pub const MAX_DEPTH: usize = 256;
/// The text a document may expand to (scalars and tags, every alias expansion and every anchor's
/// saved copy included) is `EXPANSION_FACTOR` times the file's size, clamped to
/// `MIN_TEXT..=MAX_TEXT`. A node bound alone lets one alias to a 1 MiB scalar count as one node.
pub const EXPANSION_FACTOR: usize = 16;
/// The least text budget, whatever the file's size (16 MiB).
pub const MIN_TEXT: usize = 16 << 20;
/// The greatest text budget, whatever the file's size (128 MiB).
pub const MAX_TEXT: usize = 128 << 20;

/// How much text (in bytes) a document of `source_len` bytes may expand to.
pub fn text_budget(source_len: usize) -> usize {
    source_len.saturating_mul(EXPANSION_FACTOR).clamp(MIN_TEXT, MAX_TEXT)
}

/// `n` bytes for people: `16 MiB`, `1.0 MiB`, `64.0 KiB`, `12 bytes`.
pub fn human_bytes(n: usize) -> String {
    const MIB: usize = 1 << 20;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else if n >= 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

/// The UTF-8 byte-order mark some Windows editors write at the start of a file.
const BOM: &str = "\u{feff}";

/// A position in a source file: byte offset and length, 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
    pub line: u32,
    pub col: u32,
}

/// One YAML node with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
    /// A local tag such as `!Ref`, if the node had one.
    pub tag: Option<String>,
}

/// What a node holds.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// A scalar, as written (after YAML unescaping); `plain` is false for quoted and block scalars.
    Scalar { value: String, plain: bool },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// True for `~`, `null`, `Null`, `NULL` and the empty plain scalar.
    pub fn is_null(&self) -> bool {
        match &self.kind {
            NodeKind::Scalar { value, plain: true } => matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"),
            _ => false,
        }
    }

    /// The scalar text, if this is a scalar.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// A short description of the node's type for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            _ if self.is_null() => "an empty value",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// Why a document was refused, and where ([`Error::span`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
    pub span: Span,
}

/// What was wrong with a document. None of these holds any of the document's text.
#[derive(Clone, Debug, PartialEq)]
pub enum ErrorKind {
    /// Not valid YAML: the parser's description of the problem.
    Syntax(String),
    /// More than [`MAX_NODES`] nodes (aliases expanded) or deeper than [`MAX_DEPTH`].
    TooManyNodes,
    /// The text (anchors' copies included) grew past `budget` at a node that is not an alias.
    TooMuchText { budget: usize, source_len: usize },
    /// An alias grew the text past `budget`: it repeats the value anchored at `anchor`, of
    /// `anchor_bytes`, and the document had expanded to `before` bytes before it.
    AliasTooMuchText { budget: usize, source_len: usize, anchor: Span, anchor_bytes: usize, before: usize },
    /// An alias to an anchor that was never defined.
    UnknownAnchor,
}

impl Error {
    /// The stable code kiln's diagnostics use: `E0001` syntax, `E0003` too large, `E0004` an
    /// unknown anchor.
    pub fn code(&self) -> &'static str {
        match self.kind {
            ErrorKind::Syntax(_) => "E0001",
            ErrorKind::TooManyNodes | ErrorKind::TooMuchText { .. } | ErrorKind::AliasTooMuchText { .. } => "E0003",
            ErrorKind::UnknownAnchor => "E0004",
        }
    }

    /// What is wrong, in one line.
    pub fn message(&self) -> String {
        match &self.kind {
            ErrorKind::Syntax(info) => format!("invalid YAML: {info}"),
            ErrorKind::TooManyNodes => "document too large or too deeply nested".to_string(),
            ErrorKind::TooMuchText { budget, .. } => format!("the document expands to more than {} of text", human_bytes(*budget)),
            ErrorKind::AliasTooMuchText { budget, .. } => format!("aliases expand the document to more than {} of text", human_bytes(*budget)),
            ErrorKind::UnknownAnchor => "alias to an unknown anchor".to_string(),
        }
    }

    /// What the position points at, for a source excerpt.
    pub fn label(&self) -> Option<&'static str> {
        match self.kind {
            ErrorKind::Syntax(_) => Some("YAML syntax error here"),
            ErrorKind::TooMuchText { .. } => Some("the limit is crossed here"),
            ErrorKind::AliasTooMuchText { .. } => Some("this alias crosses the limit"),
            ErrorKind::TooManyNodes | ErrorKind::UnknownAnchor => None,
        }
    }

    /// Details: which anchor an alias repeats, how the limit is computed.
    pub fn notes(&self) -> Vec<String> {
        match &self.kind {
            ErrorKind::TooMuchText { budget, source_len } => vec![limit_note(*budget, *source_len)],
            ErrorKind::AliasTooMuchText { budget, source_len, anchor, anchor_bytes, before } => vec![
                format!(
                    "the alias repeats the value anchored at line {}, column {} ({} of text); the document had already expanded to {} before it",
                    anchor.line,
                    anchor.col,
                    human_bytes(*anchor_bytes),
                    human_bytes(*before)
                ),
                limit_note(*budget, *source_len),
            ],
            ErrorKind::Syntax(_) | ErrorKind::TooManyNodes | ErrorKind::UnknownAnchor => Vec::new(),
        }
    }

    /// What to do about it, in terms that fit any YAML file kiln reads.
    pub fn help(&self) -> String {
        match &self.kind {
            ErrorKind::Syntax(_) => "check indentation and quoting".to_string(),
            ErrorKind::TooManyNodes => format!("kiln accepts at most {MAX_NODES} nodes (aliases expanded) and {MAX_DEPTH} levels of nesting"),
            ErrorKind::TooMuchText { .. } => "a file this large is almost always generated by mistake; make it smaller".to_string(),
            ErrorKind::AliasTooMuchText { .. } => {
                "reference the anchor fewer times or make it smaller (or write the values out); kiln refuses the file before expanding it".to_string()
            }
            ErrorKind::UnknownAnchor => "define the anchor (`&name`) before the aliases (`*name`) that repeat it".to_string(),
        }
    }
}

/// `message; note; note; help: help` (the position is the caller's to show, with the file name).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())?;
        for note in self.notes() {
            write!(f, "; {note}")?;
        }
        write!(f, "; help: {}", self.help())
    }
}

impl std::error::Error for Error {}

fn limit_note(budget: usize, source_len: usize) -> String {
    format!(
        "kiln lets a document expand (aliases and anchors included) to {EXPANSION_FACTOR} times its size, at least {} and at most {}: {} for this file of {}",
        human_bytes(MIN_TEXT),
        human_bytes(MAX_TEXT),
        human_bytes(budget),
        human_bytes(source_len)
    )
}

/// Parse `source` into a node tree. Returns `None` for an empty document (only the first
/// document of a stream is read). Duplicate keys are kept (the caller decides what they mean).
///
/// A leading byte-order mark is skipped (YAML allows it; the parser would read it as part of the
/// first key). Spans stay byte offsets into `source` as given, and line 1's columns count from
/// after the mark, as editors show them.
pub fn parse(source: &str) -> Result<Option<Node>, Error> {
    run(source, true)
}

/// Apply [`parse`]'s bounds (nodes, depth, text) and syntax check to `source` without keeping a
/// tree: memory stays about the file's size, whatever the aliases would expand to. For a file
/// that is then deserialized with another YAML reader.
pub fn check(source: &str) -> Result<(), Error> {
    run(source, false).map(|_| ())
}

fn run(source: &str, keep: bool) -> Result<Option<Node>, Error> {
    let index = LineIndex::new(source);
    let text = &source[index.line_starts[0]..];
    let mut builder = Builder { index: Some(&index), keep, budget: text_budget(source.len()), source_len: source.len(), ..Default::default() };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, false) {
        return Err(Error { kind: ErrorKind::Syntax(e.info().to_string()), span: index.span(e.marker()) });
    }
    if let Some(e) = builder.fatal {
        return Err(e);
    }
    Ok(builder.root)
}

/// Maps yaml-rust2 markers (char index, 1-based line, 0-based column) to byte offsets.
struct LineIndex<'a> {
    source: &'a str,
    line_starts: Vec<usize>,
    /// The last marker converted: (line, column, byte offset). Markers mostly come in order, so
    /// the next one on the same line is found by walking on from here, not from the line's start:
    /// from the start, a one-line flow list of n items costs n² steps (a 40 KB line of 20,000
    /// items took seconds).
    last: Cell<(usize, usize, usize)>,
}

impl<'a> LineIndex<'a> {
    fn new(source: &'a str) -> Self {
        let mut line_starts = vec![if source.starts_with(BOM) { BOM.len() } else { 0 }];
        line_starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { source, line_starts, last: Cell::new((0, 0, 0)) }
    }

    fn span(&self, m: &Marker) -> Span {
        let line = m.line().max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(self.source.len());
        let (last_line, last_col, last_offset) = self.last.get();
        let (from_col, from) = if last_line == line && last_col <= m.col() { (last_col, last_offset) } else { (0, start) };
        let text = &self.source[from..];
        let byte_col: usize = text.chars().take(m.col() - from_col).map(char::len_utf8).sum();
        let offset = (from + byte_col).min(self.source.len());
        self.last.set((line, m.col(), offset));
        Span { offset, len: 0, line: line as u32, col: m.col() as u32 + 1 }
    }
}

/// How big a subtree is: its nodes and its text (scalar and tag bytes).
#[derive(Clone, Copy, Default)]
struct Size {
    nodes: usize,
    bytes: usize,
}

impl Size {
    fn add(&mut self, other: Size) {
        self.nodes = self.nodes.saturating_add(other.nodes);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

enum Frame {
    Seq { items: Vec<Node>, span: Span, tag: Option<String>, anchor: usize, size: Size },
    Map { entries: Vec<(Node, Node)>, pending_key: Option<Node>, span: Span, tag: Option<String>, anchor: usize, size: Size },
}

/// An anchored node, kept for its aliases (only when the tree is kept), with its size and where
/// it was defined.
struct Anchor {
    node: Option<Node>,
    span: Span,
    size: Size,
}

#[derive(Default)]
struct Builder<'a> {
    index: Option<&'a LineIndex<'a>>,
    /// Build the tree ([`parse`]) or only count ([`check`]).
    keep: bool,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchor>,
    root: Option<Node>,
    /// Nodes so far, alias expansions and anchor copies included.
    nodes: usize,
    /// Text so far (bytes), alias expansions and anchor copies included.
    bytes: usize,
    /// The most text the document may expand to ([`text_budget`]).
    budget: usize,
    /// The source's size, for the message when the budget is exceeded.
    source_len: usize,
    fatal: Option<Error>,
}

impl<'a> Builder<'a> {
    /// Add `node` (of `size`) to the open collection or make it the root; keep a copy under
    /// `anchor` (counted: it is memory too) for later aliases. Without `keep`, only the sizes
    /// travel up.
    fn push_node(&mut self, node: Node, anchor: usize, size: Size) {
        if anchor > 0 {
            if !self.count(size, node.span) {
                return;
            }
            let copy = self.keep.then(|| node.clone());
            self.anchors.insert(anchor, Anchor { node: copy, span: node.span, size });
        }
        let keep = self.keep;
        match self.stack.last_mut() {
            None => {
                if keep && self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, size: s, .. }) => {
                if keep {
                    items.push(node);
                }
                s.add(size);
            }
            Some(Frame::Map { entries, pending_key, size: s, .. }) => {
                if keep {
                    match pending_key.take() {
                        None => *pending_key = Some(node),
                        Some(k) => entries.push((k, node)),
                    }
                }
                s.add(size);
            }
        }
    }

    /// Count `size` more nodes and text; false (with the fatal error set at `span`) once a bound
    /// is exceeded.
    fn count(&mut self, size: Size, span: Span) -> bool {
        self.nodes = self.nodes.saturating_add(size.nodes);
        self.bytes = self.bytes.saturating_add(size.bytes);
        if self.nodes > MAX_NODES || self.stack.len() > MAX_DEPTH {
            self.fatal.get_or_insert(Error { kind: ErrorKind::TooManyNodes, span });
            return false;
        }
        if self.bytes > self.budget {
            let (budget, source_len) = (self.budget, self.source_len);
            self.fatal.get_or_insert(Error { kind: ErrorKind::TooMuchText { budget, source_len }, span });
            return false;
        }
        true
    }

    /// Count an alias to `anchor` at `span`: like [`Builder::count`], with an error that names
    /// the alias and the anchor it repeats.
    fn count_alias(&mut self, anchor: &Anchor, span: Span) -> bool {
        let before = self.bytes;
        if self.count(anchor.size, span) {
            return true;
        }
        if self.bytes > self.budget && before <= self.budget {
            let kind = ErrorKind::AliasTooMuchText {
                budget: self.budget,
                source_len: self.source_len,
                anchor: anchor.span,
                anchor_bytes: anchor.size.bytes,
                before,
            };
            self.fatal = Some(Error { kind, span });
        }
        false
    }

    fn span(&self, m: &Marker) -> Span {
        self.index.map(|i| i.span(m)).unwrap_or_default()
    }
}

fn tag_text(tag: Option<Tag>) -> Option<String> {
    tag.map(|t| format!("{}{}", t.handle, t.suffix))
}

/// Apply YAML merge keys (`<<: *anchor` or `<<: [*a, *b]`): explicit keys win over merged ones.
fn apply_merge(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    if !entries.iter().any(|(k, _)| k.as_scalar() == Some("<<")) {
        return entries;
    }
    let mut own = Vec::new();
    let mut merged = Vec::new();
    for (k, v) in entries {
        if k.as_scalar() == Some("<<") {
            let sources = match v.kind {
                NodeKind::Seq(items) => items,
                _ => vec![v],
            };
            for s in sources {
                if let NodeKind::Map(e) = s.kind {
                    merged.extend(e);
                }
            }
        } else {
            own.push((k, v));
        }
    }
    for (k, v) in merged {
        if !own.iter().any(|(ok, _)| ok.as_scalar() == k.as_scalar()) {
            own.push((k, v));
        }
    }
    own
}

impl<'a> MarkedEventReceiver for Builder<'a> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.fatal.is_some() {
            return;
        }
        let span = self.span(&mark);
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let tag = tag_text(tag);
                let size = Size { nodes: 1, bytes: value.len() + tag.as_ref().map_or(0, String::len) };
                if !self.count(size, span) {
                    return;
                }
                let mut span = span;
                span.len = if matches!(style, TScalarStyle::Plain) { value.len() } else { 1 };
                let node = Node { kind: NodeKind::Scalar { value, plain: matches!(style, TScalarStyle::Plain) }, span, tag };
                self.push_node(node, anchor, size);
            }
            Event::SequenceStart(anchor, tag) => {
                let tag = tag_text(tag);
                let size = Size { nodes: 1, bytes: tag.as_ref().map_or(0, String::len) };
                if self.count(size, span) {
                    self.stack.push(Frame::Seq { items: Vec::new(), span, tag, anchor, size });
                }
            }
            Event::MappingStart(anchor, tag) => {
                let tag = tag_text(tag);
                let size = Size { nodes: 1, bytes: tag.as_ref().map_or(0, String::len) };
                if self.count(size, span) {
                    self.stack.push(Frame::Map { entries: Vec::new(), pending_key: None, span, tag, anchor, size });
                }
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq { items, span, tag, anchor, size }) => {
                    self.push_node(Node { kind: NodeKind::Seq(items), span, tag }, anchor, size)
                }
                Some(Frame::Map { entries, span, tag, anchor, size, .. }) => {
                    let entries = apply_merge(entries);
                    self.push_node(Node { kind: NodeKind::Map(entries), span, tag }, anchor, size)
                }
                None => {}
            },
            Event::Alias(id) => match self.anchors.remove(&id) {
                // Counted before anything is copied: an alias over the bound costs nothing.
                Some(a) => {
                    if self.count_alias(&a, span) {
                        // Without a kept tree, an empty list stands in (it does not allocate).
                        let node = match &a.node {
                            Some(n) => Node { span, ..n.clone() },
                            None => Node { kind: NodeKind::Seq(Vec::new()), span, tag: None },
                        };
                        self.push_node(node, 0, a.size);
                    }
                    self.anchors.insert(id, a);
                }
                None => {
                    self.fatal = Some(Error { kind: ErrorKind::UnknownAnchor, span });
                }
            },
            Event::DocumentEnd | Event::DocumentStart | Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests;
