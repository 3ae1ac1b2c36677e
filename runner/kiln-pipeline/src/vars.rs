//! CodePipeline variable references, `#{Namespace.Key}` (codepipeline.md §4), shared by the
//! validation (which namespaces exist, and before which actions) and the scheduler (resolving
//! an action's configuration just before it starts).
//!
//! Three kinds: `#{codepipeline.PipelineExecutionId}` (the execution), `#{variables.NAME}`
//! (pipeline-level, V2), `#{ActionNamespace.KEY}` (an earlier action's output variables). Names
//! and keys are case-sensitive; namespace and key use the output-variable key pattern
//! `[A-Za-z0-9@\-_]+`. kiln proposal (escaping a literal `#{` is undocumented): text that does
//! not have that exact form (`#{` without a `.`, a closing `}` or with other characters) is left
//! as written. Resolution is one pass: a resolved value is not scanned again.

use std::collections::BTreeMap;

/// The reserved namespace of execution variables.
pub const EXECUTION_NAMESPACE: &str = "codepipeline";
/// The namespace of pipeline-level variables (V2).
pub const PIPELINE_NAMESPACE: &str = "variables";

/// One `#{ns.key}` in a text, with its byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarRef<'a> {
    pub namespace: &'a str,
    pub key: &'a str,
    pub start: usize,
    pub end: usize,
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '@' || c == '-' || c == '_'
}

/// Every well-formed reference in `text`, in order.
pub fn references(text: &str) -> Vec<VarRef<'_>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("#{") {
        let start = from + i;
        let body_start = start + 2;
        let Some(close) = text[body_start..].find('}') else { break };
        let body = &text[body_start..body_start + close];
        from = body_start;
        if let Some((ns, key)) = body.split_once('.')
            && !ns.is_empty()
            && !key.is_empty()
            && ns.chars().all(name_char)
            && key.chars().all(|c| name_char(c) || c == '.')
        {
            out.push(VarRef { namespace: ns, key, start, end: body_start + close + 1 });
            from = body_start + close + 1;
        }
    }
    out
}

/// The variables visible to an action when it starts: namespace → key → value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub values: BTreeMap<String, BTreeMap<String, String>>,
}

impl Scope {
    pub fn insert(&mut self, namespace: &str, key: &str, value: &str) {
        self.values.entry(namespace.to_string()).or_default().insert(key.to_string(), value.to_string());
    }

    pub fn get(&self, namespace: &str, key: &str) -> Option<&str> {
        self.values.get(namespace)?.get(key).map(String::as_str)
    }

    /// `text` with every reference replaced, or the references that have no value.
    pub fn resolve(&self, text: &str) -> Result<String, Vec<String>> {
        let refs = references(text);
        let mut out = String::with_capacity(text.len());
        let mut missing = Vec::new();
        let mut last = 0;
        for r in refs {
            out.push_str(&text[last..r.start]);
            match self.get(r.namespace, r.key) {
                Some(v) => out.push_str(v),
                None => missing.push(format!("#{{{}.{}}}", r.namespace, r.key)),
            }
            last = r.end;
        }
        out.push_str(&text[last..]);
        if missing.is_empty() { Ok(out) } else { Err(missing) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_and_malformed_ones_left_alone() {
        let refs = references("a #{SourceVariables.CommitId} b #{nodot} #{x.y} #{bad ns.k} #{");
        let got: Vec<(&str, &str)> = refs.iter().map(|r| (r.namespace, r.key)).collect();
        assert_eq!(got, vec![("SourceVariables", "CommitId"), ("x", "y")]);
    }

    #[test]
    fn resolution_is_one_pass_and_reports_what_is_missing() {
        let mut s = Scope::default();
        s.insert("codepipeline", "PipelineExecutionId", "e-1");
        s.insert("Build", "OUT", "#{codepipeline.PipelineExecutionId}");
        assert_eq!(s.resolve("id=#{codepipeline.PipelineExecutionId}/#{Build.OUT}").unwrap(), "id=e-1/#{codepipeline.PipelineExecutionId}");
        assert_eq!(s.resolve("#{Nope.X} #{Build.Y}").unwrap_err(), vec!["#{Nope.X}", "#{Build.Y}"]);
        assert_eq!(s.resolve("no refs, #{ not one").unwrap(), "no refs, #{ not one");
    }
}
