//! A YAML document as a tree in which every node keeps its position.
//!
//! `serde_yaml` forgets where a value came from; diagnostics need line and column, so the buildspec
//! is first read into this tree with `yaml-rust2`'s event parser. Aliases are expanded (with bounds
//! on the expanded node count and on the expanded text, so neither a "billion laughs" document nor a
//! 1 MiB anchor referenced thousands of times can take more than a bounded amount of memory), merge
//! keys (`<<`) are applied and duplicate keys are reported with both positions. A UTF-8 byte-order
//! mark at the start of the text is skipped.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diag::{Diagnostic, Span};

/// Upper bound on the number of nodes a document may expand to (aliases included).
const MAX_NODES: usize = 1_000_000;
/// Upper bound on nesting depth.
const MAX_DEPTH: usize = 256;
/// The text a document may expand to (scalars and tags, every alias expansion and every anchor's
/// saved copy included) is `EXPANSION_FACTOR` times the file's size, clamped to
/// `MIN_TEXT..=MAX_TEXT`. The node bound alone let one alias to a 1 MiB scalar count as one node.
const EXPANSION_FACTOR: usize = 16;
const MIN_TEXT: usize = 16 << 20;
const MAX_TEXT: usize = 128 << 20;

/// How much text (in bytes) a document of `source_len` bytes may expand to.
fn text_budget(source_len: usize) -> usize {
    source_len.saturating_mul(EXPANSION_FACTOR).clamp(MIN_TEXT, MAX_TEXT)
}

/// `n` bytes for people: `16 MiB`, `1.0 MiB`, `64.0 KiB`, `12 bytes`.
fn human(n: usize) -> String {
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

/// Parse `source` into a node tree. Returns `None` for an empty document. YAML syntax errors,
/// duplicate keys and oversized documents come back as diagnostics.
///
/// A leading byte-order mark is skipped (YAML allows it; the parser would read it as part of the
/// first key). Spans stay byte offsets into `source` as given, and line 1's columns count from
/// after the mark, as editors show them.
pub fn parse(source: &str) -> Result<Option<Node>, Vec<Diagnostic>> {
    let index = LineIndex::new(source);
    let text = &source[index.line_starts[0]..];
    let mut builder = Builder { index: Some(&index), budget: text_budget(source.len()), source_len: source.len(), ..Default::default() };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, false) {
        let span = index.span(e.marker());
        return Err(vec![
            Diagnostic::error("E0001", format!("invalid YAML: {}", e.info()), span)
                .with_label("YAML syntax error here")
                .with_help("check indentation and quoting; a command containing `: ` or starting with a special character must be quoted"),
        ]);
    }
    if let Some(d) = builder.fatal {
        return Err(vec![d]);
    }
    let mut diags = builder.diags;
    let root = builder.root;
    if let Some(root) = &root {
        check_duplicates(root, &mut diags);
    }
    if diags.iter().any(|d| d.is_error()) { Err(diags) } else { Ok(root) }
}

fn check_duplicates(node: &Node, diags: &mut Vec<Diagnostic>) {
    match &node.kind {
        NodeKind::Map(entries) => {
            let mut seen: HashMap<&str, Span> = HashMap::new();
            for (k, v) in entries {
                if let Some(key) = k.as_scalar() {
                    if let Some(first) = seen.get(key) {
                        diags.push(
                            Diagnostic::error("E0002", format!("duplicate key `{key}`"), k.span)
                                .with_label("this key was already set")
                                .with_note(format!("first set at line {}, column {}", first.line, first.col))
                                .with_help("remove one of the two entries; YAML keeps only one of them and which one differs between tools"),
                        );
                    } else {
                        seen.insert(key, k.span);
                    }
                }
                check_duplicates(v, diags);
            }
        }
        NodeKind::Seq(items) => items.iter().for_each(|i| check_duplicates(i, diags)),
        NodeKind::Scalar { .. } => {}
    }
}

/// Maps yaml-rust2 markers (char index, 1-based line, 0-based column) to byte offsets.
struct LineIndex<'a> {
    source: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(source: &'a str) -> Self {
        let mut line_starts = vec![if source.starts_with(BOM) { BOM.len() } else { 0 }];
        line_starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { source, line_starts }
    }

    fn span(&self, m: &Marker) -> Span {
        let line = m.line().max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(self.source.len());
        let text = &self.source[start..];
        let byte_col: usize = text.chars().take(m.col()).map(char::len_utf8).sum();
        Span { offset: (start + byte_col).min(self.source.len()), len: 0, line: line as u32, col: m.col() as u32 + 1 }
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

/// An anchored node, kept for its aliases, with its size and where it was defined.
struct Anchor {
    node: Node,
    size: Size,
}

#[derive(Default)]
struct Builder<'a> {
    index: Option<&'a LineIndex<'a>>,
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
    diags: Vec<Diagnostic>,
    fatal: Option<Diagnostic>,
}

impl<'a> Builder<'a> {
    /// Add `node` (of `size`) to the open collection or make it the root; keep a copy under
    /// `anchor` (counted: it is memory too) for later aliases.
    fn push_node(&mut self, node: Node, anchor: usize, size: Size) {
        if anchor > 0 {
            if !self.count(size, node.span) {
                return;
            }
            self.anchors.insert(anchor, Anchor { node: node.clone(), size });
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, size: s, .. }) => {
                items.push(node);
                s.add(size);
            }
            Some(Frame::Map { entries, pending_key, size: s, .. }) => {
                match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(k) => entries.push((k, node)),
                }
                s.add(size);
            }
        }
    }

    /// Count `size` more nodes and text; false (with the fatal diagnostic set at `span`) once a
    /// bound is exceeded.
    fn count(&mut self, size: Size, span: Span) -> bool {
        self.nodes = self.nodes.saturating_add(size.nodes);
        self.bytes = self.bytes.saturating_add(size.bytes);
        if self.nodes > MAX_NODES || self.stack.len() > MAX_DEPTH {
            self.fatal.get_or_insert_with(|| {
                Diagnostic::error("E0003", "document too large or too deeply nested".to_string(), span)
                    .with_help(format!("kiln accepts at most {MAX_NODES} nodes (aliases expanded) and {MAX_DEPTH} levels of nesting"))
            });
            return false;
        }
        if self.bytes > self.budget {
            let (budget, source_len) = (self.budget, self.source_len);
            self.fatal.get_or_insert_with(|| {
                Diagnostic::error("E0003", format!("the document expands to more than {} of text", human(budget)), span)
                    .with_label("the limit is crossed here")
                    .with_note(limit_note(budget, source_len))
                    .with_help("a buildspec this large is almost always generated by mistake; make it smaller")
            });
            return false;
        }
        true
    }

    /// Count an alias to `anchor` at `span`: like [`Builder::count`], with a message that names
    /// the alias and the anchor it repeats.
    fn count_alias(&mut self, anchor: &Anchor, span: Span) -> bool {
        let before = self.bytes;
        if self.count(anchor.size, span) {
            return true;
        }
        if self.bytes > self.budget && before <= self.budget {
            let a = anchor.node.span;
            self.fatal = Some(
                Diagnostic::error("E0003", format!("aliases expand the document to more than {} of text", human(self.budget)), span)
                    .with_label("this alias crosses the limit")
                    .with_note(format!(
                        "the alias repeats the value anchored at line {}, column {} ({} of text); the document had already expanded to {} before it",
                        a.line,
                        a.col,
                        human(anchor.size.bytes),
                        human(before)
                    ))
                    .with_note(limit_note(self.budget, self.source_len))
                    .with_help("reference the anchor fewer times or make it smaller (or write the values out); kiln refuses the file before expanding it"),
            );
        }
        false
    }
}

fn limit_note(budget: usize, source_len: usize) -> String {
    format!(
        "kiln lets a document expand (aliases and anchors included) to {EXPANSION_FACTOR} times its size, at least {} and at most {}: {} for this file of {}",
        human(MIN_TEXT),
        human(MAX_TEXT),
        human(budget),
        human(source_len)
    )
}

impl<'a> Builder<'a> {
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
                    let ok = self.count_alias(&a, span);
                    if ok {
                        let mut node = a.node.clone();
                        node.span = span;
                        self.push_node(node, 0, a.size);
                    }
                    self.anchors.insert(id, a);
                }
                None => {
                    self.fatal = Some(Diagnostic::error("E0004", "alias to an unknown anchor".to_string(), span));
                }
            },
            Event::DocumentEnd | Event::DocumentStart | Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar_at(root: &Node, key: &str) -> Node {
        let NodeKind::Map(entries) = &root.kind else { panic!("not a map") };
        entries.iter().find(|(k, _)| k.as_scalar() == Some(key)).map(|(_, v)| v.clone()).expect("key")
    }

    #[test]
    fn positions_are_one_based_and_byte_accurate() {
        let src = "a: 1\nbé: |\n  x\nc: [1, 2]\n";
        let root = parse(src).unwrap().unwrap();
        let c = scalar_at(&root, "c");
        assert_eq!((c.span.line, c.span.col), (4, 4));
        assert_eq!(&src[c.span.offset..c.span.offset + 1], "[");
        let NodeKind::Map(entries) = &root.kind else { panic!() };
        assert_eq!((entries[1].0.span.line, entries[1].0.span.col), (2, 1));
    }

    #[test]
    fn duplicate_keys_are_errors_with_both_positions() {
        let err = parse("env:\n  variables:\n    key: a\n    key: b\n").unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!((err[0].span.line, err[0].span.col), (4, 5));
        assert!(err[0].notes.iter().any(|n| n.contains("line 3")));
    }

    #[test]
    fn aliases_and_merge_keys_expand() {
        let root = parse("base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n").unwrap().unwrap();
        let d = scalar_at(&root, "derived");
        assert_eq!(scalar_at(&d, "x").as_scalar(), Some("1"));
        assert_eq!(scalar_at(&d, "y").as_scalar(), Some("3"));
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            src.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let err = parse(&src).unwrap_err();
        assert_eq!(err[0].code, "E0003");
    }

    #[test]
    fn the_text_budget_scales_with_the_file_within_bounds() {
        assert_eq!(text_budget(0), 16 << 20);
        assert_eq!(text_budget(2 << 20), 32 << 20);
        assert_eq!(text_budget(1 << 30), 128 << 20);
        assert_eq!(human(16 << 20), "16 MiB");
        assert_eq!(human(3 << 19), "1.5 MiB");
        assert_eq!(human(2048), "2.0 KiB");
    }

    #[test]
    fn anchor_copies_count_against_the_text_budget() {
        // No alias at all, but 40 nested anchors each keep a copy of the 1 MiB scalar inside.
        let mut src = String::new();
        for i in 0..40 {
            src.push_str(&format!("{}- &a{i}\n", "  ".repeat(i)));
        }
        src.push_str(&format!("{}- \"{}\"\n", "  ".repeat(40), "z".repeat(1 << 20)));
        let err = parse(&src).unwrap_err();
        assert_eq!(err[0].code, "E0003");
        assert!(err[0].message.contains("MiB of text"), "{}", err[0].message);
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let root = parse("\u{feff}a: 1\n").unwrap().unwrap();
        let NodeKind::Map(entries) = &root.kind else { panic!() };
        assert_eq!(entries[0].0.as_scalar(), Some("a"));
        assert_eq!((entries[0].0.span.offset, entries[0].0.span.line, entries[0].0.span.col), (3, 1, 1));
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse("phases:\n  build:\n    commands:\n      - \"unterminated\n").unwrap_err();
        assert_eq!(err[0].code, "E0001");
        assert!(err[0].span.line >= 4);
    }

    #[test]
    fn empty_document_is_none() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
    }
}
