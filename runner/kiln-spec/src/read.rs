//! Typed reads from the positioned YAML tree, collecting diagnostics instead of stopping at the first.
//!
//! Public so that other kiln files read the same way (the deployment group file of `kiln-deploy`):
//! the same unknown-key warning (`W0001`) with a "did you mean", the same "`x` must be …, found …"
//! error (`E0010`), the same positions. Build a [`Ctx`] with [`Ctx::new`], parse the text with
//! [`crate::yaml::parse`], and read the tree with its helpers.

use crate::diag::{did_you_mean, Diagnostic, Span};
use crate::model::{EnvEntry, Spanned};
use crate::yaml::{Node, NodeKind};

/// Collects diagnostics while a buildspec (or an appspec) is converted.
pub struct Ctx {
    pub diags: Vec<Diagnostic>,
    /// The kind of file, for messages: "a buildspec", "an appspec".
    pub doc: &'static str,
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx { diags: Vec::new(), doc: "a buildspec" }
    }
}

/// How [`Ctx::fields_cased`] matches a mapping's keys against the allowed names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyCase {
    /// Exactly; a key that differs only in case is an unknown key (a warning with "did you mean").
    Exact,
    /// In any case; the field's `key` is the allowed spelling, `key_node` keeps what was written.
    Insensitive,
}

/// An entry of a mapping: its key text and key/value nodes.
pub struct Field<'n> {
    pub key: &'n str,
    pub key_node: &'n Node,
    pub value: &'n Node,
}

impl Ctx {
    /// A context for a kind of file, named with its article for messages: "a deployment group file".
    pub fn new(doc: &'static str) -> Self {
        Ctx { diags: Vec::new(), doc }
    }

    pub fn error(&mut self, code: &'static str, msg: String, span: Span) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(code, msg, span));
        self.diags.last_mut().expect("just pushed")
    }

    pub fn warn(&mut self, code: &'static str, msg: String, span: Span) -> &mut Diagnostic {
        self.diags.push(Diagnostic::warning(code, msg, span));
        self.diags.last_mut().expect("just pushed")
    }

    /// An "`what` must be `expected`, found …" error (E0010) at `node`.
    pub fn expected(&mut self, what: &str, expected: &str, node: &Node) {
        let d = Diagnostic::error("E0010", format!("`{what}` must be {expected}, found {}", node.describe()), anchor(node))
            .with_label(format!("expected {expected}"));
        let d = match &node.kind {
            NodeKind::Map(_) if expected.contains("string") => d.with_help(
                "a `: ` inside an unquoted value starts a mapping; put the whole value in quotes",
            ),
            _ => d,
        };
        self.diags.push(d);
    }

    /// The entries of a mapping. An empty value counts as an empty mapping; anything else is an error.
    pub fn fields<'n>(&mut self, node: &'n Node, what: &str, allowed: &[&'n str]) -> Vec<Field<'n>> {
        self.fields_cased(node, what, allowed, KeyCase::Exact)
    }

    /// [`Ctx::fields`], matching keys as `case` says. Keys not in `allowed` (when it is not empty)
    /// are warned about (W0001, with a "did you mean") and left out.
    pub fn fields_cased<'n>(&mut self, node: &'n Node, what: &str, allowed: &[&'n str], case: KeyCase) -> Vec<Field<'n>> {
        let entries = match &node.kind {
            NodeKind::Map(entries) => entries,
            _ if node.is_null() => return Vec::new(),
            _ => {
                self.expected(what, "a mapping", node);
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let Some(key) = k.as_scalar() else {
                self.expected(&format!("a key of {what}"), "a string", k);
                continue;
            };
            let known = match case {
                KeyCase::Exact => allowed.iter().find(|a| **a == key),
                KeyCase::Insensitive => allowed.iter().find(|a| a.eq_ignore_ascii_case(key)),
            };
            let key = match known {
                Some(a) => *a,
                None if allowed.is_empty() => key,
                None => {
                    let doc = self.doc;
                    let d = self.warn("W0001", format!("unknown key `{key}` in `{what}`; kiln ignores it"), k.span);
                    d.label = Some(format!("not {doc} key here"));
                    d.help = Some(match did_you_mean(key, allowed) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("the keys allowed here are: {}", allowed.join(", ")),
                    });
                    continue;
                }
            };
            out.push(Field { key, key_node: k, value: v });
        }
        out
    }

    /// A scalar as a string (numbers and booleans keep their written form).
    pub fn string(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match &node.kind {
            NodeKind::Scalar { value, .. } if !node.is_null() => Some(Spanned::new(value.clone(), node.span)),
            _ => {
                self.expected(what, "a string", node);
                None
            }
        }
    }

    /// A scalar string that may be empty (`KEY:` with no value reads as "").
    pub fn string_or_empty(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        if node.is_null() {
            return Some(Spanned::new(String::new(), node.span));
        }
        self.string(node, what)
    }

    /// A scalar that must be one of `allowed` (compared exactly, case included); otherwise an
    /// error with code `code` that lists the values and suggests the closest.
    pub fn one_of<T: Copy>(&mut self, node: &Node, what: &str, allowed: &[(&str, T)], code: &'static str) -> Option<Spanned<T>> {
        let s = self.string(node, what)?;
        if let Some((_, v)) = allowed.iter().find(|(name, _)| *name == s.value) {
            return Some(Spanned::new(*v, s.span));
        }
        let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
        let d = self.error(code, format!("`{what}` `{}` is not one of {}", s.value, names.join(", ")), s.span);
        d.label = Some(format!("expected {}", names.join(" or ")));
        d.help = Some(match names.iter().find(|n| n.eq_ignore_ascii_case(&s.value)) {
            Some(n) => format!("write `{n}`: CodeDeploy compares the value exactly, case included"),
            None => match did_you_mean(&s.value, &names) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("use one of {}", names.join(", ")),
            },
        });
        None
    }

    /// A YAML 1.1 boolean (`true/false/yes/no/on/off`, any case, quoted or not).
    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.as_scalar().map(str::to_ascii_lowercase).as_deref() {
            Some("true" | "yes" | "on" | "y") => Some(true),
            Some("false" | "no" | "off" | "n") => Some(false),
            _ => {
                self.expected(what, "a boolean (yes/no, true/false)", node);
                None
            }
        }
    }

    /// A non-negative integer.
    pub fn uint(&mut self, node: &Node, what: &str) -> Option<u64> {
        match node.as_scalar().and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(n) => Some(n),
            None => {
                self.expected(what, "a whole number", node);
                None
            }
        }
    }

    /// A list of strings. A single scalar is accepted as a one-item list (with a warning), an empty
    /// value as an empty list; empty items are skipped.
    pub fn string_list(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        match &node.kind {
            _ if node.is_null() => Vec::new(),
            NodeKind::Seq(items) => items
                .iter()
                .filter(|i| !i.is_null())
                .filter_map(|i| self.string(i, &format!("an item of {what}")))
                .collect(),
            NodeKind::Scalar { value, .. } => {
                self.warn("W0002", format!("`{what}` should be a list; reading it as a list of one item"), node.span)
                    .help = Some(format!("write it as a list item: `- {value}`"));
                vec![Spanned::new(value.clone(), node.span)]
            }
            NodeKind::Map(_) => {
                self.expected(what, "a list of strings", node);
                Vec::new()
            }
        }
    }

    /// A `NAME: value` mapping of environment-style entries. Names must be valid variable names
    /// when `names_are_vars`.
    pub fn env_entries(&mut self, node: &Node, what: &str, names_are_vars: bool) -> Vec<EnvEntry> {
        let mut out = Vec::new();
        for f in self.fields(node, what, &[]) {
            if names_are_vars && !is_var_name(f.key) {
                self.error("E0011", format!("`{}` is not a valid environment variable name", f.key), f.key_node.span)
                    .help = Some("names start with a letter or `_` and hold only letters, digits and `_`".into());
                continue;
            }
            if let Some(value) = self.string_or_empty(f.value, &format!("{what}.{}", f.key)) {
                out.push(EnvEntry { name: Spanned::new(f.key.to_string(), f.key_node.span), value });
            }
        }
        out
    }
}

/// Where to point at a node: a block mapping's own position (from the YAML parser) is where its
/// first *value* starts, so point at its first key instead; a flow mapping keeps its `{`.
pub fn anchor(node: &Node) -> Span {
    match &node.kind {
        NodeKind::Map(entries) => match entries.first() {
            Some((k, _)) if k.span.offset < node.span.offset => k.span,
            _ => node.span,
        },
        _ => node.span,
    }
}

/// Whether `s` is a POSIX shell variable name.
pub fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
