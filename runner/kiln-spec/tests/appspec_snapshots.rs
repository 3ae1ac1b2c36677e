//! Snapshots of the typed AppSpec model (one real file per compute platform), of where its values
//! point in the file, and of what `kiln validate` says about typical AppSpec mistakes.

use std::path::PathBuf;

use kiln_spec::appspec::{AppSpec, Platform};
use kiln_spec::Span;

fn corpus(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/appspecs").join(name);
    std::fs::read_to_string(path).expect("corpus file")
}

fn spec(name: &str) -> AppSpec {
    let parsed = kiln_spec::parse_appspec(&corpus(name));
    assert!(!parsed.has_errors(), "{name}: {:#?}", parsed.diagnostics);
    parsed.spec.expect("valid")
}

#[test]
fn ec2_model() {
    // files, permissions (pattern, owner, mode, type) and hooks with runas/timeout.
    insta::assert_yaml_snapshot!(spec("graphhopper__graphhopper__codedeploy_appspec.yml"));
}

#[test]
fn ecs_model() {
    // Every ECS property: PlatformVersion, NetworkConfiguration, CapacityProviderStrategy, all five hooks.
    insta::assert_yaml_snapshot!(spec("lopatin__Snaketron__deploy_appspec.yml"));
}

#[test]
fn lambda_model() {
    insta::assert_yaml_snapshot!(spec("TheCloudGuruSarp__Multi-Target-Canary-Rollout-Assessment__appspec-lambda.yml"));
}

/// `what @line:col "text at the span"` for the values a run-time error points at.
fn spans(name: &str) -> String {
    let src = corpus(name);
    let spec = spec(name);
    let mut out = vec![format!("# {name}")];
    let mut push = |what: String, span: Span| {
        let text: String = src[span.offset..].chars().take_while(|c| *c != '\n' && *c != '\r').collect();
        out.push(format!("{what} @{}:{} {text:?}", span.line, span.col));
    };
    push("version".into(), spec.version.span);
    match &spec.platform {
        Platform::Server(s) => {
            push("os".into(), s.os.span);
            for f in &s.files {
                push(format!("files {}", f.source.value), f.source.span);
                push(format!("files {} destination", f.source.value), f.destination.span);
            }
            for p in &s.permissions {
                push("permissions object".into(), p.object.span);
                if let Some(m) = &p.mode {
                    push("permissions mode".into(), m.span);
                }
            }
            for h in &s.hooks {
                push(format!("hook {}", h.event.value), h.event.span);
                for script in &h.scripts {
                    push(format!("  script {}", script.location.value), script.location.span);
                    if let Some(t) = &script.timeout {
                        push(format!("  timeout {}", t.value), t.span);
                    }
                }
            }
        }
        Platform::Ecs(e) => {
            push("service".into(), e.service.name.span);
            push("TaskDefinition".into(), e.service.task_definition.span);
            push("ContainerName".into(), e.service.container_name.span);
            push("ContainerPort".into(), e.service.container_port.span);
            for h in &e.hooks {
                push(format!("hook {}", h.event.value), h.event.span);
                push(format!("  function {}", h.function.value), h.function.span);
            }
        }
        Platform::Lambda(l) => {
            push("function".into(), l.function.resource_name.span);
            push("Name".into(), l.function.name.span);
            push("Alias".into(), l.function.alias.span);
            push("CurrentVersion".into(), l.function.current_version.span);
            push("TargetVersion".into(), l.function.target_version.span);
        }
    }
    out.join("\n")
}

#[test]
fn model_spans_point_at_the_values() {
    let all = [
        spans("graphhopper__graphhopper__codedeploy_appspec.yml"),
        spans("lopatin__Snaketron__deploy_appspec.yml"),
        spans("TheCloudGuruSarp__Multi-Target-Canary-Rollout-Assessment__appspec-lambda.yml"),
    ];
    insta::assert_snapshot!(all.join("\n\n"));
}

fn report(src: &str) -> String {
    let parsed = kiln_spec::parse_appspec(src);
    let mut out: Vec<String> = parsed.diagnostics.iter().map(|d| d.to_plain("appspec.yml")).collect();
    out.push(format!("valid: {}", !parsed.has_errors()));
    out.join("\n")
}

#[test]
fn typical_mistakes() {
    let ec2 = "version: 0.0\nos: linux\n";
    let cases = [
        ("misspelt event", format!("{ec2}hooks:\n  AfterInstal:\n    - location: scripts/a.sh\n")),
        ("reserved event", format!("{ec2}hooks:\n  Install:\n    - location: scripts/a.sh\n")),
        ("timeout over the maximum", format!("{ec2}hooks:\n  ValidateService:\n    - location: scripts/check.sh\n      timeout: 7200\n")),
        ("capitalised key on EC2", format!("{ec2}Files:\n  - source: /\n    destination: /srv\n")),
        ("quoted version on EC2", "version: \"0.0\"\nos: linux\n".to_string()),
        ("mode that is not octal", format!("{ec2}permissions:\n  - object: /srv\n    mode: 0789\n")),
        ("script without location", format!("{ec2}hooks:\n  BeforeInstall:\n    - timeout: 30\n")),
        ("ECS event in a Lambda file", "version: 0.0\nResources:\n  - fn:\n      Type: AWS::Lambda::Function\n      Properties: {Name: api, Alias: live, CurrentVersion: 1, TargetVersion: 2}\nHooks:\n  - AfterInstall: check\n".to_string()),
        ("ECS without LoadBalancerInfo", "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: arn:aws:ecs:us-east-1:1:task-definition/web:1\n".to_string()),
        ("JSON with a wrong-case event", "{\n  \"version\": 0.0,\n  \"os\": \"linux\",\n  \"hooks\": {\"applicationStart\": [{\"location\": \"start.sh\"}]}\n}\n".to_string()),
    ];
    let text: Vec<String> = cases.iter().map(|(name, src)| format!("## {name}\n{}", report(src))).collect();
    insta::assert_snapshot!(text.join("\n\n"));
}
