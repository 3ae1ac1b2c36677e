//! CodePipeline's rules for a pipeline declaration, as located diagnostics.
//!
//! Each rule cites its source (codepipeline.md section, and through it the API model
//! `service-2.json`, the user guide's pipeline-structure reference, limits.md, and where the
//! service's behaviour is unconfirmed, what cfn-lint or the CDK enforce — those are warnings).
//! A value that still needs a `--param` is not checked (the reader reports it).
//!
//! Codes: `E21xx` structure and names, `E22xx` action types, artifact counts and configuration,
//! `E23xx` artifacts and Regions, `E24xx` namespaces and variables, `E25xx` V2-only features,
//! triggers and stage conditions; `W2xxx` the same families' warnings.

mod actions;
mod v2;

use std::collections::HashMap;

use kiln_spec::diag::did_you_mean;
use kiln_spec::{Diagnostic, Span};

use crate::model::{Category, Located, Pipeline, Text};
use crate::read::Definition;

/// The API's name pattern for pipelines, stages, actions and rules: `[A-Za-z0-9.@\-_]+`, 1–100.
pub(crate) fn is_entity_name(s: &str) -> bool {
    (1..=100).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || ".@-_".contains(c))
}

/// Artifact names: `[a-zA-Z0-9_\-]+`, 1–100 (no `.`, no `@`).
pub(crate) fn is_artifact_name(s: &str) -> bool {
    (1..=100).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
}

/// Namespaces and pipeline variable names: `[A-Za-z0-9@\-_]+` (1–100, variables 1–128).
pub(crate) fn is_namespace(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "@-_".contains(c))
}

/// Quotas (limits.md, codepipeline.md §3).
pub const MAX_STAGES: usize = 50;
pub const MAX_ACTIONS_PER_STAGE: usize = 50;
pub const MAX_ACTIONS: usize = 500;

pub(crate) struct Check {
    pub diags: Vec<Diagnostic>,
}

impl Check {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub(crate) fn error(&mut self, code: &'static str, msg: String, span: Span, help: impl Into<String>) {
        self.push(Diagnostic::error(code, msg, span).with_help(help));
    }

    pub(crate) fn warn(&mut self, code: &'static str, msg: String, span: Span, help: impl Into<String>) {
        self.push(Diagnostic::warning(code, msg, span).with_help(help));
    }

    /// A located value that is literal (not waiting for a `--param`).
    pub(crate) fn known<T>(v: &Located<T>) -> Option<&T> {
        (!v.is_unresolved()).then_some(&v.value)
    }

    fn name(&mut self, code: &'static str, what: &str, t: &Text) {
        if Check::known(t).is_some_and(|n| !is_entity_name(n)) {
            self.error(
                code,
                format!("the {what} name `{}` is not valid", t.value),
                t.span,
                format!("{what} names are 1 to 100 characters: letters, digits and . @ - _ (the API's pattern [A-Za-z0-9.@\\-_]+)"),
            );
        }
    }
}

/// Check a definition against CodePipeline's rules. Diagnostics come sorted by position.
pub fn validate(def: &Definition) -> Vec<Diagnostic> {
    let p = &def.pipeline;
    let mut c = Check { diags: Vec::new() };
    structure(&mut c, p);
    actions::check(&mut c, def);
    v2::check(&mut c, p);
    c.diags.sort_by_key(|d| d.span.offset);
    c.diags
}

/// Names, uniqueness, stage and action counts, where Source actions may be, run orders
/// (user guide pipeline-structure reference; codepipeline.md §3 rules 1–3 and quotas).
fn structure(c: &mut Check, p: &Pipeline) {
    if !p.name.value.is_empty() {
        c.name("E2101", "pipeline", &p.name);
    }
    if p.stages.len() < 2 {
        c.error(
            "E2102",
            format!("a pipeline needs at least two stages, this one has {}", p.stages.len()),
            p.span,
            "add a stage after the source stage (a build, test or deploy stage)",
        );
    }
    if p.stages.len() > MAX_STAGES {
        c.error("E2103", format!("{} stages: CodePipeline allows at most {MAX_STAGES}", p.stages.len()), p.stages[MAX_STAGES].span, "merge or remove stages");
    }
    let total: usize = p.stages.iter().map(|s| s.actions.len()).sum();
    if total > MAX_ACTIONS {
        c.error("E2104", format!("{total} actions: CodePipeline allows at most {MAX_ACTIONS} in a pipeline"), p.span, "split the pipeline");
    }
    let mut stage_names: HashMap<&str, Span> = HashMap::new();
    for (i, stage) in p.stages.iter().enumerate() {
        c.name("E2105", "stage", &stage.name);
        if let Some(name) = Check::known(&stage.name)
            && !name.is_empty()
            && let Some(first) = stage_names.insert(name, stage.name.span)
        {
            c.error(
                "E2106",
                format!("two stages are named `{name}`"),
                stage.name.span,
                format!("stage names are unique in a pipeline; the first `{name}` is at line {}, column {}", first.line, first.col),
            );
        }
        if stage.actions.is_empty() {
            c.error("E2107", format!("the stage `{}` has no actions", stage.name.value), stage.span, "a stage holds 1 to 50 actions");
        }
        if stage.actions.len() > MAX_ACTIONS_PER_STAGE {
            c.error(
                "E2108",
                format!("the stage `{}` has {} actions: CodePipeline allows at most {MAX_ACTIONS_PER_STAGE}", stage.name.value, stage.actions.len()),
                stage.actions[MAX_ACTIONS_PER_STAGE].span,
                "move actions to another stage",
            );
        }
        let mut action_names: HashMap<&str, Span> = HashMap::new();
        for a in &stage.actions {
            c.name("E2109", "action", &a.name);
            if let Some(name) = Check::known(&a.name)
                && !name.is_empty()
                && let Some(first) = action_names.insert(name, a.name.span)
            {
                c.error(
                    "E2110",
                    format!("two actions of the stage `{}` are named `{name}`", stage.name.value),
                    a.name.span,
                    format!("action names are unique within a stage; the first `{name}` is at line {}, column {}", first.line, first.col),
                );
            }
            if let Some(r) = &a.run_order
                && !(1..=999).contains(&r.value)
            {
                c.error(
                    "E2111",
                    format!("runOrder {} is out of range", r.value),
                    r.span,
                    "runOrder is a whole number from 1 to 999 (default 1); actions with the same runOrder run in parallel",
                );
            }
            let is_source = Check::known(&a.action_type_id.category).map(|cat| cat == "Source");
            match (i, is_source) {
                (0, Some(false)) => c.error(
                    "E2112",
                    format!("the first stage may hold only Source actions, and `{}` is a {} action", a.name.value, a.action_type_id.category.value),
                    a.action_type_id.category.span,
                    "move this action to a later stage; the first stage is where the pipeline gets its sources",
                ),
                (1.., Some(true)) => c.error(
                    "E2113",
                    format!("the Source action `{}` is in the stage `{}`, but only the first stage may hold Source actions", a.name.value, stage.name.value),
                    a.action_type_id.category.span,
                    "move this source to the first stage",
                ),
                _ => {}
            }
        }
    }
}

/// "did you mean" help for a value that should be one of `candidates`.
pub(crate) fn suggest(word: &str, candidates: &[&str]) -> String {
    match did_you_mean(word, candidates) {
        Some(s) => format!("did you mean `{s}`? (one of: {})", candidates.join(", ")),
        None => format!("one of: {}", candidates.join(", ")),
    }
}

/// Is this action of `category`?
pub(crate) fn is(a: &crate::model::Action, category: Category) -> bool {
    a.category() == Some(category)
}

#[cfg(test)]
mod tests;
