//! The resolved value tree every reader produces before the model is built: a YAML/JSON tree
//! with positions in which CloudFormation intrinsics have been evaluated (or left as `${NAME}`
//! placeholders that name the `--param` they need).

use kiln_yaml::{Node, NodeKind};

use crate::model::{Span, Text};

/// One value of the tree.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    /// A scalar (always text, as the API types every configuration value), possibly unresolved.
    Str(Text),
    /// `null`, `~` or an empty value.
    Null(Span),
    Seq(Vec<Val>, Span),
    Map(Vec<(Text, Val)>, Span),
}

impl Val {
    pub fn span(&self) -> Span {
        match self {
            Val::Str(t) => t.span,
            Val::Null(s) | Val::Seq(_, s) | Val::Map(_, s) => *s,
        }
    }

    /// "a string", "a list", … for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Null(_) => "an empty value",
            Val::Seq(..) => "a list",
            Val::Map(..) => "a mapping",
        }
    }

    /// The parameters an unresolved scalar waits for.
    pub fn needs(&self) -> &[String] {
        match self {
            Val::Str(t) => &t.needs,
            _ => &[],
        }
    }

    pub fn get(&self, key: &str) -> Option<&Val> {
        match self {
            Val::Map(entries, _) => entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// How scalars of a document become text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalars {
    /// As written (get-pipeline JSON, kiln YAML).
    AsWritten,
    /// CloudFormation YAML: the YAML 1.1 booleans CloudFormation reads (`true`, `True`, `TRUE`,
    /// and the same for false) become `"true"`/`"false"`, as CloudFormation passes them on
    /// (codepipeline.md §1: `PollForSourceChanges: false` reaches the API as the string).
    CloudFormation,
}

/// A scalar node's text, as the API would receive it.
pub(crate) fn scalar_text(value: &str, plain: bool, scalars: Scalars) -> String {
    if plain && scalars == Scalars::CloudFormation {
        match value {
            "true" | "True" | "TRUE" => return "true".into(),
            "false" | "False" | "FALSE" => return "false".into(),
            _ => {}
        }
    }
    value.to_string()
}

/// A YAML/JSON tree without intrinsics, as values (tags are the caller's to refuse first).
pub(crate) fn from_node(node: &Node, scalars: Scalars) -> Val {
    match &node.kind {
        _ if node.is_null() => Val::Null(node.span),
        NodeKind::Scalar { value, plain } => Val::Str(Text::new(scalar_text(value, *plain, scalars), node.span)),
        NodeKind::Seq(items) => Val::Seq(items.iter().map(|n| from_node(n, scalars)).collect(), node.span),
        NodeKind::Map(entries) => Val::Map(
            entries.iter().map(|(k, v)| (Text::new(k.as_scalar().unwrap_or_default().to_string(), k.span), from_node(v, scalars))).collect(),
            node.span,
        ),
    }
}

/// Where a tagged node's tag starts: yaml-rust2 marks the tagged value (after `!Ref `), a
/// message about the intrinsic should point at the `!Ref`. Found by looking back over the
/// whitespace before the value for the tag's text; the value's own span when it is not there.
pub(crate) fn tag_span(source: &str, node: &Node) -> Span {
    let Some(tag) = node.tag.as_deref() else { return node.span };
    let before = source.get(..node.span.offset).unwrap_or_default();
    let trimmed = before.trim_end();
    if !trimmed.ends_with(tag) {
        return node.span;
    }
    let start = trimmed.len() - tag.len();
    let between = &before[start..];
    let newlines = between.matches('\n').count() as u32;
    let line_start = before[..start].rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..start].chars().count() as u32 + 1;
    let line = node.span.line.saturating_sub(newlines).max(1);
    Span { offset: start, len: tag.len(), line, col }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_spans_point_at_the_tag() {
        let src = "a: !Ref Param\nb: !Sub\n  - x\n";
        let root = kiln_yaml::parse(src).unwrap().unwrap();
        let NodeKind::Map(entries) = &root.kind else { panic!() };
        let s = tag_span(src, &entries[0].1);
        assert_eq!((s.line, s.col, &src[s.offset..s.offset + s.len]), (1, 4, "!Ref"));
        let s = tag_span(src, &entries[1].1);
        assert_eq!((s.line, s.col, &src[s.offset..s.offset + s.len]), (2, 4, "!Sub"));
    }

    #[test]
    fn cloudformation_booleans_become_lowercase_strings() {
        assert_eq!(scalar_text("True", true, Scalars::CloudFormation), "true");
        assert_eq!(scalar_text("FALSE", true, Scalars::CloudFormation), "false");
        assert_eq!(scalar_text("True", false, Scalars::CloudFormation), "True");
        assert_eq!(scalar_text("True", true, Scalars::AsWritten), "True");
    }
}
