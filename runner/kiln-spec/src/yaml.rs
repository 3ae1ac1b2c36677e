//! A YAML document as a tree in which every node keeps its position.
//!
//! `serde_yaml` forgets where a value came from; diagnostics need line and column, so the buildspec
//! is first read into this tree with `yaml-rust2`'s event parser. Aliases are expanded (with a bound
//! on the expanded size, so a "billion laughs" document is refused), merge keys (`<<`) are applied and
//! duplicate keys are reported with both positions.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diag::{Diagnostic, Span};

/// Upper bound on the number of nodes a document may expand to (aliases included).
const MAX_NODES: usize = 1_000_000;
/// Upper bound on nesting depth.
const MAX_DEPTH: usize = 256;

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
pub fn parse(source: &str) -> Result<Option<Node>, Vec<Diagnostic>> {
    let index = LineIndex::new(source);
    let mut builder = Builder { index: Some(&index), ..Default::default() };
    let mut parser = Parser::new_from_str(source);
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
        let mut line_starts = vec![0];
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

enum Frame {
    Seq { items: Vec<Node>, span: Span, tag: Option<String>, anchor: usize },
    Map { entries: Vec<(Node, Node)>, pending_key: Option<Node>, span: Span, tag: Option<String>, anchor: usize },
}

#[derive(Default)]
struct Builder<'a> {
    index: Option<&'a LineIndex<'a>>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    nodes: usize,
    diags: Vec<Diagnostic>,
    fatal: Option<Diagnostic>,
}

impl<'a> Builder<'a> {
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, pending_key, .. }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }

    fn count(&mut self, n: usize, span: Span) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES || self.stack.len() > MAX_DEPTH {
            self.fatal.get_or_insert_with(|| {
                Diagnostic::error("E0003", "document too large or too deeply nested".to_string(), span)
                    .with_help(format!("kiln accepts at most {MAX_NODES} nodes (aliases expanded) and {MAX_DEPTH} levels of nesting"))
            });
            return false;
        }
        true
    }
}

impl<'a> Builder<'a> {
    fn span(&self, m: &Marker) -> Span {
        self.index.map(|i| i.span(m)).unwrap_or_default()
    }
}

fn tag_text(tag: Option<Tag>) -> Option<String> {
    tag.map(|t| format!("{}{}", t.handle, t.suffix))
}

fn node_size(n: &Node) -> usize {
    match &n.kind {
        NodeKind::Scalar { .. } => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(node_size).sum::<usize>(),
        NodeKind::Map(entries) => 1 + entries.iter().map(|(k, v)| node_size(k) + node_size(v)).sum::<usize>(),
    }
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
                if !self.count(1, span) {
                    return;
                }
                let mut span = span;
                span.len = if matches!(style, TScalarStyle::Plain) { value.len() } else { 1 };
                let node = Node { kind: NodeKind::Scalar { value, plain: matches!(style, TScalarStyle::Plain) }, span, tag: tag_text(tag) };
                self.push_node(node, anchor);
            }
            Event::SequenceStart(anchor, tag) => {
                if self.count(1, span) {
                    self.stack.push(Frame::Seq { items: Vec::new(), span, tag: tag_text(tag), anchor });
                }
            }
            Event::MappingStart(anchor, tag) => {
                if self.count(1, span) {
                    self.stack.push(Frame::Map { entries: Vec::new(), pending_key: None, span, tag: tag_text(tag), anchor });
                }
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq { items, span, tag, anchor }) => {
                    self.push_node(Node { kind: NodeKind::Seq(items), span, tag }, anchor)
                }
                Some(Frame::Map { entries, span, tag, anchor, .. }) => {
                    let entries = apply_merge(entries);
                    self.push_node(Node { kind: NodeKind::Map(entries), span, tag }, anchor)
                }
                None => {}
            },
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut node) => {
                    if self.count(node_size(&node), span) {
                        node.span = span;
                        self.push_node(node, 0);
                    }
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
