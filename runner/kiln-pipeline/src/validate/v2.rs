//! Pipeline type and execution mode, V2-only features on V1 pipelines (codepipeline.md §3 rule
//! 11), pipeline variables (§1, §4), triggers and their filters (§1, rule 10), stage conditions
//! (§2).

use std::collections::HashMap;

use kiln_spec::Span;

use super::{is_entity_name, is_namespace, suggest, Check};
use crate::model::{Category, Conditions, ExecutionMode, FilterCriteria, GitFilter, Pipeline, PipelineType, Text};

const RESULTS: [&str; 4] = ["ROLLBACK", "FAIL", "RETRY", "SKIP"];

pub(super) fn check(c: &mut Check, p: &Pipeline) {
    if let Some(t) = p.pipeline_type.as_ref().filter(|t| !t.is_unresolved())
        && !["V1", "V2"].contains(&t.value.as_str())
    {
        c.error("E2502", format!("`{}` is not a pipeline type", t.value), t.span, suggest(&t.value, &["V1", "V2"]));
    }
    let v1 = p.kind() == PipelineType::V1;
    let v1_only = |c: &mut Check, what: &str, span: Span| {
        c.error("E2503", format!("{what} only V2 pipelines have"), span, "set pipelineType: V2 (a V1 pipeline cannot have triggers, variables, QUEUED/PARALLEL execution modes, stage conditions or the Commands action)");
    };
    if let Some(m) = p.execution_mode.as_ref().filter(|m| !m.is_unresolved()) {
        match ExecutionMode::parse(&m.value) {
            None => c.error("E2504", format!("`{}` is not an execution mode", m.value), m.span, suggest(&m.value, &["SUPERSEDED", "QUEUED", "PARALLEL"])),
            Some(ExecutionMode::Queued | ExecutionMode::Parallel) if v1 => v1_only(c, &format!("the {} execution mode is one", m.value), m.span),
            _ => {}
        }
    }
    if v1 && let Some(t) = p.triggers.first() {
        v1_only(c, "triggers are something", t.span);
    }
    if v1 && let Some(v) = p.variables.first() {
        v1_only(c, "pipeline variables are something", v.name.span);
    }
    for (_, _, a) in p.actions() {
        if v1 && a.category() == Some(Category::Compute) {
            v1_only(c, "the Compute category is something", a.action_type_id.category.span);
        }
    }
    variables(c, p);
    triggers(c, p);
    for stage in &p.stages {
        let parallel = p.mode() == ExecutionMode::Parallel;
        if let Some(f) = &stage.on_failure {
            if v1 {
                v1_only(c, "stage onFailure conditions are something", f.span);
            }
            if let Some(r) = f.result.as_ref().filter(|r| !r.is_unresolved()) {
                result(c, r);
                if r.value == "ROLLBACK" && parallel {
                    c.error("E2505", "PARALLEL pipelines cannot roll a stage back".into(), r.span, "use SUPERSEDED or QUEUED, or another onFailure result (execution-modes: no stage rollback in PARALLEL mode)");
                }
                if r.value == "ROLLBACK" && p.stages.first().is_some_and(|s0| std::ptr::eq(s0, stage)) {
                    c.error("E2506", "the source stage cannot be rolled back".into(), r.span, "RollbackStage refuses source stages");
                }
            }
            if let Some(m) = f.retry_mode.as_ref().filter(|m| !m.is_unresolved())
                && !["FAILED_ACTIONS", "ALL_ACTIONS"].contains(&m.value.as_str())
            {
                c.error("E2507", format!("`{}` is not a retry mode", m.value), m.span, suggest(&m.value, &["FAILED_ACTIONS", "ALL_ACTIONS"]));
            }
            conditions(c, &f.conditions, f.span, true);
        }
        for (what, cond) in [("onSuccess", &stage.on_success), ("beforeEntry", &stage.before_entry)] {
            if let Some(cs) = cond {
                if v1 {
                    v1_only(c, &format!("stage {what} conditions are something"), cs.span);
                }
                conditions(c, &cs.conditions, cs.span, false);
                check_exactly_one(c, cs, what);
            }
        }
    }
}

fn result(c: &mut Check, r: &Text) {
    if !RESULTS.contains(&r.value.as_str()) {
        c.error("E2508", format!("`{}` is not a condition result", r.value), r.span, suggest(&r.value, &RESULTS));
    }
}

fn check_exactly_one(c: &mut Check, cs: &Conditions, what: &str) {
    if cs.conditions.len() != 1 {
        c.error("E2509", format!("{what} holds {} conditions", cs.conditions.len()), cs.span, "a stage's conditions list holds exactly one condition (the API model)");
    }
}

fn conditions(c: &mut Check, list: &[crate::model::Condition], span: Span, optional: bool) {
    if optional && list.len() > 1 {
        c.error("E2509", format!("onFailure holds {} conditions", list.len()), span, "a stage's conditions list holds exactly one condition (the API model)");
    }
    for cond in list {
        if let Some(r) = cond.result.as_ref().filter(|r| !r.is_unresolved()) {
            result(c, r);
        }
        if !(1..=5).contains(&cond.rules.len()) {
            c.error("E2510", format!("a condition has {} rules", cond.rules.len()), cond.span, "a condition holds 1 to 5 rules");
        }
        for rule in &cond.rules {
            if !rule.name.is_unresolved() && !is_entity_name(&rule.name.value) {
                c.error("E2511", format!("the rule name `{}` is not valid", rule.name.value), rule.name.span, "rule names are 1 to 100 letters, digits and . @ - _");
            }
        }
    }
}

/// Pipeline-level variables: ≤50, names `[A-Za-z0-9@\-_]+` 1–128, unique.
fn variables(c: &mut Check, p: &Pipeline) {
    if p.variables.len() > 50 {
        c.error("E2512", format!("{} pipeline variables: at most 50", p.variables.len()), p.variables[50].name.span, "remove variables");
    }
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for v in &p.variables {
        if v.name.is_unresolved() {
            continue;
        }
        if !is_namespace(&v.name.value, 128) {
            c.error("E2513", format!("the variable name `{}` is not valid", v.name.value), v.name.span, "variable names are 1 to 128 letters, digits, @, - or _");
        }
        if let Some(first) = seen.insert(&v.name.value, v.name.span) {
            c.error("E2514", format!("two pipeline variables are named `{}`", v.name.value), v.name.span, format!("the first is at line {}, column {}", first.line, first.col));
        }
        if let Some(d) = &v.default_value
            && !(1..=1000).contains(&d.value.len())
        {
            c.error("E2515", format!("the default of `{}` is {} characters long", v.name.value, d.value.len()), d.span, "a variable's value is 1 to 1000 characters");
        }
    }
}

/// Triggers (API: providerType CodeStarSourceConnection, 1–3 filters, 1–8 patterns of 1–255
/// characters, events OPEN|UPDATED|CLOSED); one trigger per source action (user guide). The CDK's
/// further checks, unconfirmed for the service, are warnings.
fn triggers(c: &mut Check, p: &Pipeline) {
    if p.triggers.len() > 50 {
        c.error("E2516", format!("{} triggers: at most 50", p.triggers.len()), p.triggers[50].span, "remove triggers");
    }
    let mut per_source: HashMap<&str, Span> = HashMap::new();
    for t in &p.triggers {
        if let Some(pt) = t.provider_type.as_ref().filter(|x| !x.is_unresolved())
            && pt.value != "CodeStarSourceConnection"
        {
            c.error("E2517", format!("`{}` is not a trigger provider type", pt.value), pt.span, "the only trigger provider type is CodeStarSourceConnection");
        }
        if t.provider_type.is_none() {
            c.error("E2517", "a trigger has no providerType".into(), t.span, "set providerType: CodeStarSourceConnection");
        }
        let Some(name) = t.source_action_name.as_ref().filter(|n| !n.is_unresolved()) else {
            c.error("E2518", "a trigger has no gitConfiguration.sourceActionName".into(), t.span, "name the source action the trigger starts the pipeline for");
            continue;
        };
        let source = p.stages.first().and_then(|s| s.actions.iter().find(|a| a.name.value == name.value));
        match source {
            None => {
                let names: Vec<&str> = p.stages.first().map(|s| s.actions.iter().map(|a| a.name.value.as_str()).collect()).unwrap_or_default();
                c.error("E2519", format!("the trigger's source action `{}` is not a source action of this pipeline", name.value), name.span, suggest(&name.value, &names));
            }
            Some(a) if a.provider() != "CodeStarSourceConnection" => c.warn(
                "W2520",
                format!("the trigger's source action `{}` is a {} action", name.value, a.provider()),
                name.span,
                "triggers filter CodeStarSourceConnection sources (the CDK refuses others; the service's behaviour is unconfirmed)",
            ),
            Some(_) => {}
        }
        if let Some(first) = per_source.insert(&name.value, name.span) {
            c.error("E2521", format!("two triggers for the source action `{}`", name.value), name.span, format!("one trigger per source action; the first is at line {}, column {}", first.line, first.col));
        }
        for (list, what) in [(&t.push, "push"), (&t.pull_request, "pullRequest")] {
            if list.len() > 3 {
                c.error("E2522", format!("{} {what} filters: at most 3", list.len()), list[3].span, "merge filters");
            }
            for f in list {
                filter(c, f, what == "pullRequest");
            }
        }
        let cdk = "(the CDK refuses this; the service's behaviour is unconfirmed)";
        match (t.push.is_empty(), t.pull_request.is_empty()) {
            (false, false) => c.warn("W2523", "a trigger with both push and pullRequest filters".into(), t.span, format!("use one trigger per kind of event {cdk}")),
            (true, true) if t.has_git_configuration => c.warn("W2523", "a trigger with neither push nor pullRequest filters".into(), t.span, format!("add a filter {cdk}")),
            _ => {}
        }
    }
}

fn filter(c: &mut Check, f: &GitFilter, pull_request: bool) {
    for crit in [&f.tags, &f.branches, &f.file_paths].into_iter().flatten() {
        criteria(c, crit);
    }
    for e in &f.events {
        if !["OPEN", "UPDATED", "CLOSED"].contains(&e.value.as_str()) {
            c.error("E2524", format!("`{}` is not a pull request event", e.value), e.span, suggest(&e.value, &["OPEN", "UPDATED", "CLOSED"]));
        }
    }
    let cdk = "(the CDK refuses this; the service's behaviour is unconfirmed)";
    if !pull_request && f.tags.is_none() && f.branches.is_none() {
        c.warn("W2525", "a push filter with neither tags nor branches".into(), f.span, format!("add tags or branches {cdk}"));
    }
    if f.file_paths.is_some() && f.branches.is_none() {
        c.warn("W2525", "filePaths without branches".into(), f.span, format!("add branches {cdk}"));
    }
    if pull_request && f.branches.is_none() {
        c.warn("W2525", "a pull request filter without branches".into(), f.span, format!("add branches {cdk}"));
    }
}

fn criteria(c: &mut Check, crit: &FilterCriteria) {
    for (list, what) in [(&crit.includes, "includes"), (&crit.excludes, "excludes")] {
        if list.len() > 8 {
            c.error("E2526", format!("{} {what} patterns: at most 8", list.len()), list[8].span, "merge patterns");
        }
        for pat in list {
            if !(1..=255).contains(&pat.value.len()) {
                c.error("E2527", format!("a filter pattern of {} characters", pat.value.len()), pat.span, "patterns are 1 to 255 characters");
            } else if let Err(why) = crate::triggers::Glob::new(&pat.value) {
                // The glob syntax the triggers use (the guide's, Java's), so that what validates is what runs.
                c.error("E2528", why, pat.span, "check brackets and braces (see the user guide's \"Working with glob patterns in syntax\")");
            }
        }
    }
}
