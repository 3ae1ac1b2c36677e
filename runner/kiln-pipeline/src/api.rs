//! The model written back as `get-pipeline` JSON (`{"pipeline": {...}}`, the API's camelCase
//! shape): what an execution stores as the definition it runs, and what `--json` output can show.
//!
//! Secret configuration values are written as `****`, as get-pipeline prints them
//! (codepipeline.md §3 rule 8): kiln never stores a GitHub OAuth token it does not use.

use serde_json::{json, Map, Value};

use crate::model::*;

/// Configuration keys CodePipeline treats as secret (shown as `****`).
pub const SECRET_KEYS: &[&str] = &["OAuthToken"];

fn text(t: &Text) -> Value {
    Value::String(t.value.clone())
}

fn opt(map: &mut Map<String, Value>, key: &str, t: &Option<Text>) {
    if let Some(t) = t {
        map.insert(key.into(), text(t));
    }
}

fn pairs(list: &[(Text, Text)], mask: bool) -> Value {
    Value::Object(
        list.iter()
            .map(|(k, v)| {
                let value = if mask && SECRET_KEYS.contains(&k.value.as_str()) { "****".to_string() } else { v.value.clone() };
                (k.value.clone(), Value::String(value))
            })
            .collect(),
    )
}

fn store(s: &ArtifactStore) -> Value {
    let mut m = Map::new();
    opt(&mut m, "type", &s.kind);
    opt(&mut m, "location", &s.location);
    if let Some(k) = &s.encryption_key {
        let mut km = Map::new();
        opt(&mut km, "id", &k.id);
        opt(&mut km, "type", &k.kind);
        m.insert("encryptionKey".into(), Value::Object(km));
    }
    Value::Object(m)
}

fn criteria(c: &Option<FilterCriteria>) -> Option<Value> {
    c.as_ref().map(|c| json!({"includes": c.includes.iter().map(text).collect::<Vec<_>>(), "excludes": c.excludes.iter().map(text).collect::<Vec<_>>()}))
}

fn filter(f: &GitFilter) -> Value {
    let mut m = Map::new();
    for (k, c) in [("tags", &f.tags), ("branches", &f.branches), ("filePaths", &f.file_paths)] {
        if let Some(v) = criteria(c) {
            m.insert(k.into(), v);
        }
    }
    if !f.events.is_empty() {
        m.insert("events".into(), Value::Array(f.events.iter().map(text).collect()));
    }
    Value::Object(m)
}

fn conditions(list: &[Condition]) -> Value {
    Value::Array(
        list.iter()
            .map(|c| {
                let mut m = Map::new();
                opt(&mut m, "result", &c.result);
                let rules: Vec<Value> = c
                    .rules
                    .iter()
                    .map(|r| json!({"name": r.name.value, "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": r.provider.as_ref().map(|p| p.value.clone())}, "configuration": pairs(&r.configuration, false)}))
                    .collect();
                m.insert("rules".into(), Value::Array(rules));
                Value::Object(m)
            })
            .collect(),
    )
}

fn action(a: &Action) -> Value {
    let t = &a.action_type_id;
    let mut m = Map::new();
    m.insert("name".into(), text(&a.name));
    m.insert("actionTypeId".into(), json!({"category": t.category.value, "owner": t.owner.value, "provider": t.provider.value, "version": t.version.value}));
    m.insert("runOrder".into(), json!(a.run_order()));
    m.insert("configuration".into(), pairs(&a.configuration, true));
    if !a.commands.is_empty() {
        m.insert("commands".into(), Value::Array(a.commands.iter().map(text).collect()));
    }
    m.insert("outputArtifacts".into(), Value::Array(a.output_artifacts.iter().map(|o| if o.files.is_empty() { json!({"name": o.name.value}) } else { json!({"name": o.name.value, "files": o.files.iter().map(text).collect::<Vec<_>>()}) }).collect()));
    m.insert("inputArtifacts".into(), Value::Array(a.input_artifacts.iter().map(|i| json!({"name": i.value})).collect()));
    if !a.output_variables.is_empty() {
        m.insert("outputVariables".into(), Value::Array(a.output_variables.iter().map(text).collect()));
    }
    opt(&mut m, "namespace", &a.namespace);
    opt(&mut m, "region", &a.region);
    opt(&mut m, "roleArn", &a.role_arn);
    if let Some(t) = &a.timeout_in_minutes {
        m.insert("timeoutInMinutes".into(), json!(t.value));
    }
    if !a.environment_variables.is_empty() {
        m.insert("environmentVariables".into(), Value::Array(a.environment_variables.iter().map(|(n, v)| json!({"name": n.value, "value": v.value})).collect()));
    }
    Value::Object(m)
}

fn stage(s: &Stage) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), text(&s.name));
    m.insert("actions".into(), Value::Array(s.actions.iter().map(action).collect()));
    if let Some(f) = &s.on_failure {
        let mut fm = Map::new();
        opt(&mut fm, "result", &f.result);
        if let Some(r) = &f.retry_mode {
            fm.insert("retryConfiguration".into(), json!({"retryMode": r.value}));
        }
        if !f.conditions.is_empty() {
            fm.insert("conditions".into(), conditions(&f.conditions));
        }
        m.insert("onFailure".into(), Value::Object(fm));
    }
    for (k, c) in [("onSuccess", &s.on_success), ("beforeEntry", &s.before_entry)] {
        if let Some(c) = c {
            m.insert(k.into(), json!({"conditions": conditions(&c.conditions)}));
        }
    }
    Value::Object(m)
}

/// `{"pipeline": PipelineDeclaration}` as get-pipeline prints it (secrets as `****`).
pub fn to_get_pipeline_json(p: &Pipeline) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), text(&p.name));
    opt(&mut m, "roleArn", &p.role_arn);
    if let Some(s) = &p.artifact_store {
        m.insert("artifactStore".into(), store(s));
    }
    if !p.artifact_stores.is_empty() {
        m.insert("artifactStores".into(), Value::Object(p.artifact_stores.iter().map(|(r, s)| (r.value.clone(), store(s))).collect()));
    }
    m.insert("stages".into(), Value::Array(p.stages.iter().map(stage).collect()));
    if let Some(v) = &p.version {
        m.insert("version".into(), json!(v.value));
    }
    opt(&mut m, "pipelineType", &p.pipeline_type);
    opt(&mut m, "executionMode", &p.execution_mode);
    if !p.variables.is_empty() {
        m.insert(
            "variables".into(),
            Value::Array(
                p.variables
                    .iter()
                    .map(|v| {
                        let mut vm = Map::new();
                        vm.insert("name".into(), text(&v.name));
                        opt(&mut vm, "defaultValue", &v.default_value);
                        opt(&mut vm, "description", &v.description);
                        Value::Object(vm)
                    })
                    .collect(),
            ),
        );
    }
    if !p.triggers.is_empty() {
        m.insert(
            "triggers".into(),
            Value::Array(
                p.triggers
                    .iter()
                    .map(|t| {
                        let mut g = Map::new();
                        opt(&mut g, "sourceActionName", &t.source_action_name);
                        if !t.push.is_empty() {
                            g.insert("push".into(), Value::Array(t.push.iter().map(filter).collect()));
                        }
                        if !t.pull_request.is_empty() {
                            g.insert("pullRequest".into(), Value::Array(t.pull_request.iter().map(filter).collect()));
                        }
                        json!({"providerType": t.provider_type.as_ref().map(|p| p.value.clone()), "gitConfiguration": g})
                    })
                    .collect(),
            ),
        );
    }
    json!({ "pipeline": Value::Object(m) })
}
