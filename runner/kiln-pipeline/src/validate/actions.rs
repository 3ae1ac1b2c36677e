//! Per-action rules: action type, artifact counts, configuration, artifact names and order,
//! Regions and artifact stores, namespaces and variable references.

use std::collections::{BTreeSet, HashMap};

use kiln_spec::Span;

use super::{is_artifact_name, is_namespace, suggest, Check};
use crate::model::{Action, Category, Pipeline, PipelineType, OWNERS};
use crate::providers;
use crate::read::Definition;
use crate::vars::{references, EXECUTION_NAMESPACE, PIPELINE_NAMESPACE};

pub(super) fn check(c: &mut Check, def: &Definition) {
    let p = &def.pipeline;
    for (_, _, a) in p.actions() {
        action_type(c, p, a);
        configuration(c, a);
    }
    artifacts(c, p);
    regions(c, def);
    namespaces(c, p);
}

/// Category, owner, provider and version (API enums and patterns; actions-valid-providers).
fn action_type(c: &mut Check, p: &Pipeline, a: &Action) {
    let t = &a.action_type_id;
    let category = Check::known(&t.category).and_then(|s| Category::parse(s));
    if let Some(cat) = Check::known(&t.category)
        && category.is_none()
        && !cat.is_empty()
    {
        c.error("E2201", format!("`{cat}` is not an action category"), t.category.span, suggest(cat, &Category::ALL));
    }
    let owner = Check::known(&t.owner).map(String::as_str);
    if let Some(o) = owner
        && !OWNERS.contains(&o)
        && !o.is_empty()
    {
        c.error("E2202", format!("`{o}` is not an action owner"), t.owner.span, suggest(o, &OWNERS));
    }
    let provider = Check::known(&t.provider).map(String::as_str);
    if let Some(pr) = provider
        && !pr.is_empty()
        && !((1..=35).contains(&pr.len()) && pr.chars().all(|ch| ch.is_ascii_alphanumeric() || "_-".contains(ch)))
    {
        c.error("E2203", format!("the provider `{pr}` is not valid"), t.provider.span, "a provider is 1 to 35 letters, digits, _ or - (the API's pattern [0-9A-Za-z_-]+)");
    }
    if let Some(v) = Check::known(&t.version)
        && !v.is_empty()
        && !((1..=9).contains(&v.len()) && v.chars().all(|ch| ch.is_ascii_alphanumeric() || "_-".contains(ch)))
    {
        c.error("E2204", format!("the action version `{v}` is not valid"), t.version.span, "a version is 1 to 9 letters, digits, _ or - (for AWS actions it is \"1\")");
    }
    let (Some(cat), Some(owner), Some(provider)) = (category, owner, provider) else { return };
    if let Some(known) = providers::known(owner, cat)
        && !known.contains(&provider)
    {
        let (all_aws, all_third): (Vec<&str>, Vec<&str>) = (
            providers::AWS_PROVIDERS.iter().flat_map(|(_, p)| p.iter().copied()).collect(),
            providers::THIRD_PARTY_PROVIDERS.iter().flat_map(|(_, p)| p.iter().copied()).collect(),
        );
        // The provider exists, in another category or for another owner?
        let elsewhere = providers::AWS_PROVIDERS.iter().chain(providers::THIRD_PARTY_PROVIDERS).filter(|(_, ps)| ps.contains(&provider)).map(|(c, _)| c.name()).collect::<Vec<_>>();
        let help = if !elsewhere.is_empty() {
            format!("{provider} is a provider of the {} category; for {owner} {} actions, {}", elsewhere.join("/"), cat.name(), suggest(provider, known))
        } else if known.is_empty() {
            format!("CodePipeline has no {owner} provider in the {} category", cat.name())
        } else {
            suggest(provider, known)
        };
        let msg = format!("`{provider}` is not a known {owner} provider for {} actions", cat.name());
        if owner == "AWS" {
            c.error("E2205", msg, t.provider.span, help);
        } else if !all_third.contains(&provider) && !all_aws.contains(&provider) {
            c.warn("W2205", msg, t.provider.span, format!("{help}; partner (ThirdParty) action types change over time, so kiln only warns"));
        }
    }
    if providers::V2_ONLY_PROVIDERS.contains(&provider) && p.kind() == PipelineType::V1 {
        c.error("E2501", format!("the {provider} action is available only in V2 pipelines"), t.provider.span, "set pipelineType: V2 (actions-valid-providers: \"V2 only\")");
    }
    if let Some((min_in, max_in, min_out, max_out)) = providers::artifact_counts(owner, cat, provider) {
        let (ins, outs) = (a.input_artifacts.len(), a.output_artifacts.len());
        let range = |lo: usize, hi: usize| if lo == hi { lo.to_string() } else { format!("{lo} to {hi}") };
        if !(min_in..=max_in).contains(&ins) {
            c.error(
                "E2206",
                format!("the {provider} action `{}` has {ins} input artifact(s); a {owner} {} {provider} action takes {}", a.name.value, cat.name(), range(min_in, max_in)),
                a.input_artifacts.get(max_in).map_or(a.span, |t| t.span),
                "see \"Valid input and output artifacts for each action type\" in the CodePipeline user guide",
            );
        }
        if !(min_out..=max_out).contains(&outs) {
            c.error(
                "E2207",
                format!("the {provider} action `{}` has {outs} output artifact(s); a {owner} {} {provider} action produces {}", a.name.value, cat.name(), range(min_out, max_out)),
                a.output_artifacts.get(max_out).map_or(a.span, |o| o.name.span),
                "see \"Valid input and output artifacts for each action type\" in the CodePipeline user guide",
            );
        }
    }
    if let Some(t) = &a.timeout_in_minutes {
        if !(cat == Category::Approval && provider == "Manual") {
            c.error("E2208", "timeoutInMinutes is only for manual approval actions".into(), t.span, "remove it (the API model: \"only for the manual approval action type\")");
        } else if !(5..=86400).contains(&t.value) {
            c.error("E2209", format!("timeoutInMinutes {} is out of range", t.value), t.span, "an approval waits 5 to 86400 minutes (default 7 days)");
        }
    }
}

/// Configuration keys and values: lengths (API: key 1–50, value 1–1000), required keys per
/// provider (action-reference pages), CodeBuild's PrimarySource, CloudFormation's modes.
fn configuration(c: &mut Check, a: &Action) {
    for (k, v) in &a.configuration {
        if k.value.is_empty() || k.value.len() > 50 {
            c.error("E2210", format!("the configuration key `{}` is {} characters long", k.value, k.value.len()), k.span, "configuration keys are 1 to 50 characters");
        }
        if Check::known(v).is_some_and(|v| v.len() > 1000) {
            c.error(
                "E2211",
                format!("the value of `{}` is {} characters long; CodePipeline takes at most 1000", k.value, v.value.len()),
                v.span,
                "shorten it (the limit counts `#{…}` variable references before they are resolved)",
            );
        }
    }
    let t = &a.action_type_id;
    let (Some(cat), Some(owner), Some(provider)) = (a.category(), Check::known(&t.owner).map(String::as_str), Check::known(&t.provider).map(String::as_str)) else { return };
    let keys: Vec<&str> = a.configuration.iter().map(|(k, _)| k.value.as_str()).collect();
    let mut required: Vec<&str> = providers::required_keys(owner, cat, provider).to_vec();
    if (cat, provider) == (Category::Deploy, "CloudFormation")
        && let Some(mode) = a.config("ActionMode").filter(|m| !m.is_unresolved())
    {
        match providers::CLOUDFORMATION_MODES.iter().find(|(m, _)| *m == mode.value) {
            Some((_, more)) => required.extend_from_slice(more),
            None => {
                let modes: Vec<&str> = providers::CLOUDFORMATION_MODES.iter().map(|(m, _)| *m).collect();
                c.error("E2212", format!("`{}` is not a CloudFormation ActionMode", mode.value), mode.span, suggest(&mode.value, &modes));
            }
        }
    }
    if (cat, provider) == (Category::Deploy, "S3") && a.config("Extract").is_some_and(|e| e.value == "false") {
        required.push("ObjectKey");
    }
    for key in required {
        if !keys.contains(&key) {
            let close = kiln_spec::diag::did_you_mean(key, &keys).map(|k| format!(" (is `{k}` a misspelling of it?)")).unwrap_or_default();
            c.error("E2213", format!("the {provider} action `{}` has no `{key}` in its configuration{close}", a.name.value), a.span, format!("{provider} actions require {key}"));
        }
    }
    if matches!(cat, Category::Build | Category::Test) && provider == "CodeBuild" {
        let primary = a.config("PrimarySource");
        if a.input_artifacts.len() > 1 && primary.is_none() {
            c.error("E2214", format!("the CodeBuild action `{}` has {} input artifacts and no PrimarySource", a.name.value, a.input_artifacts.len()), a.span, "set PrimarySource to the input artifact that holds the buildspec");
        }
        if let Some(ps) = primary.filter(|p| !p.is_unresolved())
            && !a.input_artifacts.iter().any(|i| i.value == ps.value)
        {
            let names: Vec<&str> = a.input_artifacts.iter().map(|i| i.value.as_str()).collect();
            c.error("E2215", format!("PrimarySource `{}` is not an input artifact of this action", ps.value), ps.span, suggest(&ps.value, &names));
        }
    }
}

/// Artifact names (pattern), unique outputs, and inputs produced before use (pipeline-structure
/// reference: "must exactly match the output artifact declared in a preceding action";
/// codepipeline.md §3 rule 4: an earlier stage, or the same stage at a lower runOrder).
fn artifacts(c: &mut Check, p: &Pipeline) {
    // Every output with where it is produced: (stage index, runOrder, span).
    let mut produced: HashMap<&str, (usize, i64, Span)> = HashMap::new();
    for (si, _, a) in p.actions() {
        for o in &a.output_artifacts {
            let Some(name) = Check::known(&o.name) else { continue };
            if !is_artifact_name(name) {
                c.error("E2301", format!("the artifact name `{name}` is not valid"), o.name.span, "artifact names are 1 to 100 letters, digits, _ or - (no `.` or `@`)");
            }
            if let Some((_, _, first)) = produced.get(name.as_str()) {
                c.error(
                    "E2302",
                    format!("two actions produce an artifact named `{name}`"),
                    o.name.span,
                    format!("output artifact names are unique in a pipeline; the first is at line {}, column {}", first.line, first.col),
                );
            } else {
                produced.insert(name, (si, a.run_order(), o.name.span));
            }
        }
    }
    let all: Vec<&str> = produced.keys().copied().collect();
    for (si, stage, a) in p.actions() {
        for i in &a.input_artifacts {
            let Some(name) = Check::known(i) else { continue };
            match produced.get(name.as_str()) {
                None => c.error(
                    "E2303",
                    format!("the input artifact `{name}` of `{}` is not produced by any action", a.name.value),
                    i.span,
                    match kiln_spec::diag::did_you_mean(name, &all) {
                        Some(s) => format!("did you mean `{s}`? an input must be the output artifact of an earlier action"),
                        None => "an input must be the output artifact of an earlier action (an earlier stage, or this stage at a lower runOrder)".into(),
                    },
                ),
                Some((ps, pr, span)) if *ps > si || (*ps == si && *pr >= a.run_order()) => c.error(
                    "E2304",
                    format!("the input artifact `{name}` of `{}` is produced by an action that does not run before it", a.name.value),
                    i.span,
                    format!(
                        "it is produced at line {}, column {} ({}); an input must come from an earlier stage or, in the stage `{}`, from a lower runOrder than {}",
                        span.line,
                        span.col,
                        if ps == &si { format!("same stage, runOrder {pr}") } else { format!("stage {}", ps + 1) },
                        stage.name.value,
                        a.run_order()
                    ),
                ),
                Some(_) => {}
            }
        }
    }
}

/// One artifact store (or one per Region), Regions of cross-Region actions (pipeline-structure
/// reference; codepipeline.md §1 and §3 rule 5).
fn regions(c: &mut Check, def: &Definition) {
    let p = &def.pipeline;
    match (&p.artifact_store, p.artifact_stores.is_empty()) {
        (Some(s), false) => c.error("E2305", "the pipeline has both artifactStore and artifactStores".into(), s.span, "use artifactStore for a one-Region pipeline, artifactStores (one per Region) when actions run in other Regions"),
        (None, true) if !p.stages.is_empty() => c.error("E2306", "the pipeline has no artifactStore".into(), p.span, "add artifactStore {type: S3, location: BUCKET} (kiln keeps artifacts locally, but CodePipeline requires one)"),
        _ => {}
    }
    for store in p.artifact_store.iter().chain(p.artifact_stores.iter().map(|(_, s)| s)) {
        if let Some(t) = store.kind.as_ref().filter(|t| !t.is_unresolved())
            && t.value != "S3"
        {
            c.error("E2307", format!("artifact store type `{}` is not supported", t.value), t.span, "the only artifact store type is S3");
        }
    }
    let mut regions: BTreeSet<&str> = BTreeSet::new();
    for (_, _, a) in p.actions() {
        let Some(r) = a.region.as_ref().filter(|r| !r.is_unresolved()) else { continue };
        regions.insert(&r.value);
        if !p.artifact_stores.is_empty() && !p.artifact_stores.iter().any(|(region, _)| region.value == r.value) {
            c.error("E2308", format!("the action `{}` runs in {} but artifactStores has no store for that Region", a.name.value, r.value), r.span, "add an artifact store for every Region an action runs in");
        }
    }
    let home = def.metadata.as_ref().and_then(|m| m.pipeline_arn.as_ref()).and_then(|arn| arn.value.split(':').nth(3)).filter(|r| !r.is_empty());
    if p.artifact_store.is_some() {
        let foreign: Vec<&&str> = regions.iter().filter(|r| home.is_some_and(|h| h != **r)).collect();
        if regions.len() > 1 || !foreign.is_empty() {
            let span = p.artifact_store.as_ref().map_or(p.span, |s| s.span);
            c.error(
                "E2309",
                format!("actions run in {} Region(s) ({}), but the pipeline has a single artifactStore", regions.len(), regions.iter().copied().collect::<Vec<_>>().join(", ")),
                span,
                "a pipeline with cross-Region actions needs artifactStores, one store per Region",
            );
        }
    }
    // Only knowable with the pipeline's own Region (get-pipeline metadata's pipelineArn).
    let Some(home) = home else { return };
    for (_, _, a) in p.actions() {
        let Some(r) = a.region.as_ref().filter(|r| !r.is_unresolved() && r.value != home) else { continue };
        let owner = a.action_type_id.owner.value.as_str();
        if super::is(a, Category::Source) || owner == "ThirdParty" || owner == "Custom" {
            c.error("E2310", format!("the action `{}` runs in {}, not in the pipeline's Region {home}", a.name.value, r.value), r.span, "Source, ThirdParty and Custom actions cannot be cross-Region actions");
        }
    }
}

/// Namespaces unique, not clashing with artifacts (codepipeline.md §3 rule 6); every
/// `#{ns.key}` names a namespace of an action that runs before (rule 7, §4), or
/// `codepipeline`, or `variables` with a declared variable (V2).
fn namespaces(c: &mut Check, p: &Pipeline) {
    let mut declared: HashMap<&str, (usize, i64, Span)> = HashMap::new();
    let outputs: BTreeSet<&str> = p.actions().flat_map(|(_, _, a)| a.output_artifacts.iter().map(|o| o.name.value.as_str())).collect();
    for (si, _, a) in p.actions() {
        let Some(ns) = a.namespace.as_ref().filter(|n| !n.is_unresolved()) else { continue };
        if !is_namespace(&ns.value, 100) {
            c.error("E2401", format!("the namespace `{}` is not valid", ns.value), ns.span, "namespaces are 1 to 100 letters, digits, @, - or _ (no `.`)");
        }
        if let Some((_, _, first)) = declared.get(ns.value.as_str()) {
            c.error("E2402", format!("two actions declare the namespace `{}`", ns.value), ns.span, format!("namespaces are unique in a pipeline; the first is at line {}, column {}", first.line, first.col));
        } else {
            declared.insert(&ns.value, (si, a.run_order(), ns.span));
        }
        if outputs.contains(ns.value.as_str()) {
            c.error("E2403", format!("the namespace `{}` has the name of an artifact", ns.value), ns.span, "a namespace may not have the same name as an artifact; rename one of them");
        }
        if [EXECUTION_NAMESPACE, PIPELINE_NAMESPACE].contains(&ns.value.as_str()) {
            c.error("E2404", format!("`{}` is a reserved namespace", ns.value), ns.span, "choose another namespace name");
        }
    }
    let variables: Vec<&str> = p.variables.iter().map(|v| v.name.value.as_str()).collect();
    let known_ns: Vec<&str> = declared.keys().copied().collect();
    for (si, _, a) in p.actions() {
        for (k, v) in &a.configuration {
            for r in references(&v.value) {
                let at = v.span;
                match r.namespace {
                    EXECUTION_NAMESPACE => {
                        if r.key != "PipelineExecutionId" {
                            c.warn("W2405", format!("`#{{codepipeline.{}}}` is not a documented execution variable", r.key), at, "the documented one is #{codepipeline.PipelineExecutionId}");
                        }
                    }
                    PIPELINE_NAMESPACE => {
                        if p.kind() == PipelineType::V1 {
                            c.error("E2406", format!("`#{{variables.{}}}` in `{}`: pipeline-level variables exist only in V2 pipelines", r.key, k.value), at, "set pipelineType: V2 and declare the variable under variables");
                        } else if !variables.contains(&r.key) {
                            c.error("E2407", format!("`#{{variables.{}}}` in `{}`: the pipeline declares no variable `{}`", r.key, k.value, r.key), at, suggest(r.key, &variables));
                        }
                    }
                    ns => match declared.get(ns) {
                        None => c.error(
                            "E2408",
                            format!("`#{{{ns}.{}}}` in `{}` refers to a namespace no action declares", r.key, k.value),
                            at,
                            match kiln_spec::diag::did_you_mean(ns, &known_ns) {
                                Some(s) => format!("did you mean `{s}`? CodePipeline refuses the pipeline: \"The following pipeline execution variables are referencing a namespace that does not exist.\""),
                                None => "set `namespace` on the action whose variables you want (an action's variables can be referenced only through its namespace)".into(),
                            },
                        ),
                        Some((ps, pr, span)) if *ps > si || (*ps == si && *pr >= a.run_order()) => c.error(
                            "E2409",
                            format!("`#{{{ns}.{}}}` in `{}` refers to an action that does not run before `{}`", r.key, k.value, a.name.value),
                            at,
                            format!("the namespace is declared at line {}, column {}; variables are resolved just before an action starts, from actions of earlier stages or lower runOrders", span.line, span.col),
                        ),
                        Some(_) => {}
                    },
                }
            }
        }
    }
}
