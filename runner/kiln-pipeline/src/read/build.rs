//! The resolved tree → the typed [`Pipeline`], for every source kind.
//!
//! get-pipeline JSON and kiln YAML use the API's camelCase names; CloudFormation the same names
//! with a capital first letter (`runOrder` → `RunOrder`, codepipeline.md §1–§2), plus two
//! differences: `ArtifactStores` is a list of `{Region, ArtifactStore}`, and `Configuration` may be
//! a JSON string. Unknown keys are errors with a "did you mean" (the API and CloudFormation both
//! refuse them). A value that still needs a `--param` is recorded in `structural` when the
//! validation or a run depends on it.

use std::collections::BTreeSet;

use kiln_spec::diag::did_you_mean;
use kiln_spec::Diagnostic;

use super::tree::Val;
use crate::model::*;

/// Which spelling of the property names a document uses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Api,
    CloudFormation,
}

impl Style {
    fn key(self, api: &str) -> String {
        match self {
            Style::Api => api.to_string(),
            Style::CloudFormation => {
                let mut c = api.chars();
                c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
            }
        }
    }
}

pub(crate) struct Builder {
    pub style: Style,
    pub diags: Vec<Diagnostic>,
    /// Parameters whose values the structure depends on (names, types, artifacts, run orders).
    pub structural: BTreeSet<String>,
}

/// A mapping's entries, checked against the allowed (API) names.
struct Obj<'v> {
    entries: &'v [(Text, Val)],
    style: Style,
}

impl<'v> Obj<'v> {
    fn get(&self, api: &str) -> Option<&'v Val> {
        let key = self.style.key(api);
        self.entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| v).filter(|v| !matches!(v, Val::Null(_)))
    }
}

impl Builder {
    pub fn new(style: Style) -> Self {
        Builder { style, diags: Vec::new(), structural: BTreeSet::new() }
    }

    fn expected(&mut self, what: &str, expected: &str, v: &Val) {
        self.diags.push(
            Diagnostic::error("E2001", format!("`{what}` must be {expected}, found {}", v.describe()), v.span())
                .with_label(format!("expected {expected}")),
        );
    }

    /// An unresolved value where the structure needs a literal: remember what it needs; the
    /// reader reports every unresolved intrinsic in one message.
    fn unresolved(&mut self, v: &Val) -> bool {
        if v.needs().is_empty() {
            return false;
        }
        self.structural.extend(v.needs().iter().cloned());
        true
    }

    fn obj<'v>(&mut self, v: &'v Val, what: &str, allowed: &[&str]) -> Option<Obj<'v>> {
        let Val::Map(entries, _) = v else {
            if !self.unresolved(v) {
                self.expected(what, "a mapping", v);
            }
            return None;
        };
        let names: Vec<String> = allowed.iter().map(|a| self.style.key(a)).collect();
        for (k, _) in entries {
            if !names.contains(&k.value) {
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let mut d = Diagnostic::error("E2002", format!("unknown key `{}` in {what}", k.value), k.span).with_label("not a field of this object");
                d = match did_you_mean(&k.value, &refs) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!("the fields of {what} are: {}", refs.join(", "))),
                };
                self.diags.push(d);
            }
        }
        Some(Obj { entries, style: self.style })
    }

    fn require<'v>(&mut self, o: &Obj<'v>, api: &str, what: &str, span: kiln_spec::Span) -> Option<&'v Val> {
        let v = o.get(api);
        if v.is_none() {
            self.diags.push(
                Diagnostic::error("E2003", format!("{what} has no `{}`", self.style.key(api)), span)
                    .with_label(format!("`{}` is required here", self.style.key(api))),
            );
        }
        v
    }

    fn text(&mut self, v: &Val, what: &str) -> Option<Text> {
        match v {
            Val::Str(t) => Some(t.clone()),
            Val::Null(_) => None,
            _ => {
                self.expected(what, "a string", v);
                None
            }
        }
    }

    /// A text the structure depends on (a name, a type, an artifact).
    fn key_text(&mut self, v: &Val, what: &str) -> Option<Text> {
        self.unresolved(v);
        self.text(v, what)
    }

    fn opt_text(&mut self, o: &Obj, api: &str, what: &str) -> Option<Text> {
        o.get(api).and_then(|v| self.text(v, what))
    }

    fn int(&mut self, v: &Val, what: &str) -> Option<Located<i64>> {
        if self.unresolved(v) {
            return None;
        }
        let t = self.text(v, what)?;
        match t.value.trim().parse::<i64>() {
            Ok(n) => Some(Located::new(n, t.span)),
            Err(_) => {
                self.diags.push(
                    Diagnostic::error("E2004", format!("`{what}` must be a whole number, found `{}`", t.value), t.span)
                        .with_label("expected an integer"),
                );
                None
            }
        }
    }

    fn list<'v>(&mut self, v: Option<&'v Val>, what: &str) -> &'v [Val] {
        match v {
            None => &[],
            Some(Val::Seq(items, _)) => items,
            Some(v) => {
                if !self.unresolved(v) {
                    self.expected(what, "a list", v);
                }
                &[]
            }
        }
    }

    fn texts(&mut self, v: Option<&Val>, what: &str) -> Vec<Text> {
        let items = self.list(v, what);
        items.iter().filter_map(|i| self.text(i, what)).collect()
    }

    /// `{name: X}` items (`inputArtifacts`).
    fn named(&mut self, v: Option<&Val>, what: &str) -> Vec<Text> {
        let items = self.list(v, what);
        let mut out = Vec::new();
        for item in items {
            if let Some(o) = self.obj(item, what, &["name"])
                && let Some(n) = self.require(&o, "name", what, item.span())
                && let Some(t) = self.key_text(n, what)
            {
                out.push(t);
            }
        }
        out
    }

    /// A string → string map (`configuration`); CloudFormation also takes it as a JSON string.
    fn string_map(&mut self, v: Option<&Val>, what: &str) -> Vec<(Text, Text)> {
        let Some(v) = v else { return Vec::new() };
        if let (Style::CloudFormation, Val::Str(t)) = (self.style, v)
            && t.needs.is_empty()
        {
            return self.json_string_map(t, what);
        }
        let Val::Map(entries, _) = v else {
            if !self.unresolved(v) {
                self.expected(what, "a mapping of names to strings", v);
            }
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, val) in entries {
            match val {
                Val::Str(t) => out.push((k.clone(), t.clone())),
                Val::Null(s) => out.push((k.clone(), Text::new(String::new(), *s))),
                _ => self.diags.push(
                    Diagnostic::error("E2005", format!("the value of `{}` in {what} must be a string, found {}", k.value, val.describe()), val.span())
                        .with_help("CodePipeline takes every configuration value as a string: write structured values (such as ParameterOverrides) as a JSON string"),
                ),
            }
        }
        out
    }

    fn json_string_map(&mut self, t: &Text, what: &str) -> Vec<(Text, Text)> {
        let parsed: Result<serde_json::Map<String, serde_json::Value>, _> = serde_json::from_str(&t.value);
        match parsed {
            Ok(map) => map
                .into_iter()
                .map(|(k, v)| {
                    let s = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (Text::new(k, t.span), Text::new(s, t.span))
                })
                .collect(),
            Err(e) => {
                self.diags.push(
                    Diagnostic::error("E2006", format!("{what} is a string but not a JSON object: {e}"), t.span)
                        .with_help("CloudFormation takes `Configuration` as a mapping or as a JSON object in a string"),
                );
                Vec::new()
            }
        }
    }

    /// `PipelineDeclaration` from its mapping.
    pub fn pipeline(&mut self, v: &Val) -> Option<Pipeline> {
        let api = self.style == Style::Api;
        let mut allowed = vec!["name", "roleArn", "artifactStore", "artifactStores", "stages", "version", "pipelineType", "executionMode", "variables", "triggers"];
        if !api {
            allowed.extend(["disableInboundStageTransitions", "restartExecutionOnUpdate", "tags"]);
        }
        let o = self.obj(v, "the pipeline", &allowed)?;
        let mut p = Pipeline { span: v.span(), ..Default::default() };
        if let Some(n) = o.get("name") {
            p.name = self.text(n, "name").unwrap_or_default();
            p.span = p.name.span;
        } else if api {
            self.require(&o, "name", "the pipeline", v.span());
        }
        p.role_arn = self.opt_text(&o, "roleArn", "roleArn");
        if p.role_arn.is_none() {
            self.require(&o, "roleArn", "the pipeline", v.span());
        }
        p.artifact_store = o.get("artifactStore").and_then(|s| self.artifact_store(s));
        if let Some(stores) = o.get("artifactStores") {
            p.artifact_stores = self.artifact_stores(stores);
        }
        p.version = o.get("version").and_then(|x| self.int(x, "version"));
        p.pipeline_type = o.get("pipelineType").and_then(|x| self.key_text(x, "pipelineType"));
        p.execution_mode = o.get("executionMode").and_then(|x| self.key_text(x, "executionMode"));
        for item in self.list(o.get("variables"), "variables") {
            if let Some(vo) = self.obj(item, "a pipeline variable", &["name", "defaultValue", "description"]) {
                let name = self.require(&vo, "name", "a pipeline variable", item.span()).and_then(|n| self.key_text(n, "name"));
                p.variables.push(VariableDeclaration {
                    name: name.unwrap_or_default(),
                    default_value: self.opt_text(&vo, "defaultValue", "defaultValue"),
                    description: self.opt_text(&vo, "description", "description"),
                });
            }
        }
        for item in self.list(o.get("triggers"), "triggers") {
            if let Some(t) = self.trigger(item) {
                p.triggers.push(t);
            }
        }
        match o.get("stages") {
            Some(stages) => {
                for item in self.list(Some(stages), "stages") {
                    if let Some(s) = self.stage(item) {
                        p.stages.push(s);
                    }
                }
            }
            None => {
                self.require(&o, "stages", "the pipeline", v.span());
            }
        }
        Some(p)
    }

    fn artifact_store(&mut self, v: &Val) -> Option<ArtifactStore> {
        let o = self.obj(v, "artifactStore", &["type", "location", "encryptionKey"])?;
        let mut s = ArtifactStore { span: v.span(), ..Default::default() };
        s.kind = self.opt_text(&o, "type", "type");
        s.location = self.opt_text(&o, "location", "location");
        if let Some(k) = o.get("encryptionKey")
            && let Some(ko) = self.obj(k, "encryptionKey", &["id", "type"])
        {
            s.encryption_key = Some(EncryptionKey { id: self.opt_text(&ko, "id", "id"), kind: self.opt_text(&ko, "type", "type") });
        }
        Some(s)
    }

    fn artifact_stores(&mut self, v: &Val) -> Vec<(Text, ArtifactStore)> {
        let mut out = Vec::new();
        match (self.style, v) {
            (Style::Api, Val::Map(entries, _)) => {
                for (region, store) in entries {
                    if let Some(s) = self.artifact_store(store) {
                        out.push((region.clone(), s));
                    }
                }
            }
            (Style::CloudFormation, Val::Seq(items, _)) => {
                for item in items {
                    if let Some(o) = self.obj(item, "an ArtifactStores entry", &["region", "artifactStore"]) {
                        let region = self.require(&o, "region", "an ArtifactStores entry", item.span()).and_then(|r| self.text(r, "Region"));
                        let store = self.require(&o, "artifactStore", "an ArtifactStores entry", item.span()).and_then(|s| self.artifact_store(s));
                        if let (Some(r), Some(s)) = (region, store) {
                            out.push((r, s));
                        }
                    }
                }
            }
            (Style::Api, _) => self.expected("artifactStores", "a mapping of Regions to artifact stores", v),
            (Style::CloudFormation, _) => self.expected("ArtifactStores", "a list of {Region, ArtifactStore}", v),
        }
        out
    }

    fn trigger(&mut self, v: &Val) -> Option<Trigger> {
        let o = self.obj(v, "a trigger", &["providerType", "gitConfiguration"])?;
        let mut t = Trigger { span: v.span(), ..Default::default() };
        t.provider_type = o.get("providerType").and_then(|x| self.key_text(x, "providerType"));
        if let Some(g) = o.get("gitConfiguration") {
            t.has_git_configuration = true;
            if let Some(go) = self.obj(g, "gitConfiguration", &["sourceActionName", "push", "pullRequest"]) {
                t.source_action_name = go.get("sourceActionName").and_then(|x| self.key_text(x, "sourceActionName"));
                for f in self.list(go.get("push"), "push") {
                    if let Some(f) = self.filter(f, "a push filter", false) {
                        t.push.push(f);
                    }
                }
                for f in self.list(go.get("pullRequest"), "pullRequest") {
                    if let Some(f) = self.filter(f, "a pull request filter", true) {
                        t.pull_request.push(f);
                    }
                }
            }
        }
        Some(t)
    }

    fn filter(&mut self, v: &Val, what: &str, pull_request: bool) -> Option<GitFilter> {
        let allowed: &[&str] = if pull_request { &["events", "branches", "filePaths"] } else { &["tags", "branches", "filePaths"] };
        let o = self.obj(v, what, allowed)?;
        let mut f = GitFilter { span: v.span(), ..Default::default() };
        f.tags = o.get("tags").and_then(|c| self.criteria(c, "tags"));
        f.branches = o.get("branches").and_then(|c| self.criteria(c, "branches"));
        f.file_paths = o.get("filePaths").and_then(|c| self.criteria(c, "filePaths"));
        f.events = self.texts(o.get("events"), "events");
        Some(f)
    }

    fn criteria(&mut self, v: &Val, what: &str) -> Option<FilterCriteria> {
        let o = self.obj(v, what, &["includes", "excludes"])?;
        Some(FilterCriteria { includes: self.texts(o.get("includes"), "includes"), excludes: self.texts(o.get("excludes"), "excludes"), span: v.span() })
    }

    fn stage(&mut self, v: &Val) -> Option<Stage> {
        let o = self.obj(v, "a stage", &["name", "actions", "blockers", "onFailure", "onSuccess", "beforeEntry"])?;
        let mut s = Stage { span: v.span(), ..Default::default() };
        s.name = self.require(&o, "name", "a stage", v.span()).and_then(|n| self.key_text(n, "name")).unwrap_or_default();
        if !s.name.value.is_empty() {
            s.span = s.name.span;
        }
        match o.get("actions") {
            Some(actions) => {
                for item in self.list(Some(actions), "actions") {
                    if let Some(a) = self.action(item) {
                        s.actions.push(a);
                    }
                }
            }
            None => {
                self.require(&o, "actions", "a stage", s.span);
            }
        }
        for b in self.list(o.get("blockers"), "blockers") {
            if let Some(bo) = self.obj(b, "a blocker", &["name", "type"])
                && let Some(n) = bo.get("name").and_then(|n| self.text(n, "name"))
            {
                s.blockers.push(n);
            }
        }
        if let Some(f) = o.get("onFailure")
            && let Some(fo) = self.obj(f, "onFailure", &["result", "retryConfiguration", "conditions"])
        {
            let mut fc = FailureConditions { span: f.span(), ..Default::default() };
            fc.result = fo.get("result").and_then(|r| self.key_text(r, "result"));
            if let Some(rc) = fo.get("retryConfiguration")
                && let Some(ro) = self.obj(rc, "retryConfiguration", &["retryMode"])
            {
                fc.retry_mode = ro.get("retryMode").and_then(|m| self.key_text(m, "retryMode"));
            }
            fc.conditions = self.conditions(fo.get("conditions"));
            s.on_failure = Some(fc);
        }
        for (api, slot) in [("onSuccess", &mut s.on_success), ("beforeEntry", &mut s.before_entry)] {
            if let Some(c) = o.get(api)
                && let Some(co) = self.obj(c, api, &["conditions"])
            {
                *slot = Some(Conditions { conditions: self.conditions(co.get("conditions")), span: c.span() });
            }
        }
        Some(s)
    }

    fn conditions(&mut self, v: Option<&Val>) -> Vec<Condition> {
        let mut out = Vec::new();
        for c in self.list(v, "conditions") {
            let Some(co) = self.obj(c, "a condition", &["result", "rules"]) else { continue };
            let mut cond = Condition { span: c.span(), result: co.get("result").and_then(|r| self.key_text(r, "result")), rules: Vec::new() };
            let allowed = ["name", "ruleTypeId", "configuration", "commands", "inputArtifacts", "roleArn", "region", "timeoutInMinutes"];
            for r in self.list(co.get("rules"), "rules") {
                let Some(ro) = self.obj(r, "a rule", &allowed) else { continue };
                let name = self.require(&ro, "name", "a rule", r.span()).and_then(|n| self.key_text(n, "name")).unwrap_or_default();
                let provider = ro.get("ruleTypeId").and_then(|t| match t {
                    Val::Map(..) => t.get(&self.style.key("provider")).and_then(|p| self.text(p, "provider")),
                    _ => None,
                });
                let configuration = self.string_map(ro.get("configuration"), "the rule's configuration");
                cond.rules.push(Rule { name, provider, configuration });
            }
            out.push(cond);
        }
        out
    }

    fn action(&mut self, v: &Val) -> Option<Action> {
        let allowed = [
            "name", "actionTypeId", "runOrder", "configuration", "commands", "outputArtifacts", "inputArtifacts", "outputVariables", "roleArn", "region", "namespace",
            "timeoutInMinutes", "environmentVariables",
        ];
        let o = self.obj(v, "an action", &allowed)?;
        let mut a = Action { span: v.span(), ..Default::default() };
        a.name = self.require(&o, "name", "an action", v.span()).and_then(|n| self.key_text(n, "name")).unwrap_or_default();
        // Problems of the whole action point at its name (a block mapping's own position is
        // where its first key ends).
        if !a.name.value.is_empty() {
            a.span = a.name.span;
        }
        if let Some(t) = self.require(&o, "actionTypeId", "an action", a.span)
            && let Some(to) = self.obj(t, "actionTypeId", &["category", "owner", "provider", "version"])
        {
            a.action_type_id.span = t.span();
            for (api, slot) in [
                ("category", &mut a.action_type_id.category),
                ("owner", &mut a.action_type_id.owner),
                ("provider", &mut a.action_type_id.provider),
                ("version", &mut a.action_type_id.version),
            ] {
                let what = format!("actionTypeId.{api}");
                let val = self.require(&to, api, "actionTypeId", t.span());
                *slot = val.and_then(|x| self.key_text(x, &what)).unwrap_or_else(|| Text::new(String::new(), t.span()));
            }
        }
        a.run_order = o.get("runOrder").and_then(|r| self.int(r, "runOrder"));
        a.configuration = self.string_map(o.get("configuration"), "the action's configuration");
        a.commands = self.texts(o.get("commands"), "commands");
        a.input_artifacts = self.named(o.get("inputArtifacts"), "inputArtifacts");
        for item in self.list(o.get("outputArtifacts"), "outputArtifacts") {
            if let Some(oo) = self.obj(item, "an output artifact", &["name", "files"])
                && let Some(n) = self.require(&oo, "name", "an output artifact", item.span())
                && let Some(name) = self.key_text(n, "name")
            {
                let files = self.texts(oo.get("files"), "files");
                a.output_artifacts.push(OutputArtifact { name, files });
            }
        }
        a.output_variables = self.texts(o.get("outputVariables"), "outputVariables");
        a.namespace = o.get("namespace").and_then(|n| self.key_text(n, "namespace"));
        a.region = self.opt_text(&o, "region", "region");
        a.role_arn = self.opt_text(&o, "roleArn", "roleArn");
        a.timeout_in_minutes = o.get("timeoutInMinutes").and_then(|t| self.int(t, "timeoutInMinutes"));
        for e in self.list(o.get("environmentVariables"), "environmentVariables") {
            if let Some(eo) = self.obj(e, "an environment variable", &["name", "value", "type"])
                && let (Some(n), Some(val)) = (eo.get("name").and_then(|n| self.text(n, "name")), eo.get("value").and_then(|x| self.text(x, "value")))
            {
                a.environment_variables.push((n, val));
            }
        }
        Some(a)
    }
}
