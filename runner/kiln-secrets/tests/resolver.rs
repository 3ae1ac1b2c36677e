//! `Resolver`: provider order, json-keys and error messages.

use std::sync::{Arc, Mutex};

use kiln_secrets::{
    EnvProvider, FileProvider, JsonKeyProblem, Provider, ProviderError, ResolveError, Resolver,
    Source,
};

/// A provider backed by fixed maps that records every call.
struct Fake {
    name: String,
    params: Vec<(&'static str, &'static str)>,
    secrets: Vec<(&'static str, &'static str)>,
    fail: bool,
    calls: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn new(name: &str, calls: &Arc<Mutex<Vec<String>>>) -> Fake {
        Fake {
            name: name.into(),
            params: vec![],
            secrets: vec![],
            fail: false,
            calls: calls.clone(),
        }
    }
}

impl Provider for Fake {
    fn name(&self) -> &str {
        &self.name
    }

    fn parameter(&self, name: &str) -> Result<Option<String>, ProviderError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("{}:param:{name}", self.name));
        if self.fail {
            return Err(ProviderError::Other("backend unavailable".into()));
        }
        Ok(self
            .params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string()))
    }

    fn secret(
        &self,
        id: &str,
        stage: Option<&str>,
        version: Option<&str>,
    ) -> Result<Option<String>, ProviderError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("{}:secret:{id}:{stage:?}:{version:?}", self.name));
        if self.fail {
            return Err(ProviderError::Other("backend unavailable".into()));
        }
        Ok(self
            .secrets
            .iter()
            .find(|(k, _)| *k == id)
            .map(|(_, v)| v.to_string()))
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn first_provider_with_a_value_wins() {
    let calls = Arc::new(Mutex::new(vec![]));
    let mut first = Fake::new("first", &calls);
    first.params = vec![("/both", "from-first")];
    let mut second = Fake::new("second", &calls);
    second.params = vec![("/both", "from-second"), ("/second-only", "only-second")];
    second.secrets = vec![("prod/db", r#"{"pw":"db-password"}"#)];
    let resolver = Resolver::new(vec![Box::new(first), Box::new(second)]);
    let got = resolver
        .resolve(
            &pairs(&[("A", "/both"), ("B", "/second-only")]),
            &pairs(&[("C", "prod/db:pw::v7")]),
        )
        .unwrap();
    let summary: Vec<(&str, &str, Source, &str)> = got
        .iter()
        .map(|r| {
            (
                r.var.as_str(),
                r.value.as_str(),
                r.source,
                r.provider.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("A", "from-first", Source::ParameterStore, "first"),
            ("B", "only-second", Source::ParameterStore, "second"),
            ("C", "db-password", Source::SecretsManager, "second"),
        ]
    );
    assert_eq!(
        *calls.lock().unwrap(),
        [
            "first:param:/both",
            "first:param:/second-only",
            "second:param:/second-only",
            "first:secret:prod/db:None:Some(\"v7\")",
            "second:secret:prod/db:None:Some(\"v7\")",
        ]
    );
    assert_eq!(Source::ParameterStore.as_str(), "parameter-store");
    assert_eq!(Source::SecretsManager.to_string(), "secrets-manager");
}

#[test]
fn provider_errors_stop_resolution() {
    let calls = Arc::new(Mutex::new(vec![]));
    let mut broken = Fake::new("broken", &calls);
    broken.fail = true;
    let mut good = Fake::new("good", &calls);
    good.params = vec![("/x", "value-x")];
    let resolver = Resolver::new(vec![Box::new(broken), Box::new(good)]);
    let err = resolver.resolve(&pairs(&[("X", "/x")]), &[]).unwrap_err();
    assert!(matches!(&err, ResolveError::Provider { provider, .. } if provider == "broken"));
    let msg = err.to_string();
    assert!(
        msg.contains("`X`") && msg.contains("/x") && msg.contains("backend unavailable"),
        "{msg}"
    );
    assert_eq!(
        calls.lock().unwrap().len(),
        1,
        "the next provider is not asked"
    );
}

#[test]
fn missing_values_explain_how_to_supply_them() {
    let file = FileProvider::parse("/home/me/.kiln/secrets.yml", "parameters: {}\n").unwrap();
    let env = EnvProvider::from_vars(Vec::<(String, String)>::new());
    let resolver = Resolver::new(vec![Box::new(file), Box::new(env)]);

    let err = resolver
        .resolve(
            &pairs(&[("DOCKER_PW", "/CodeBuild/dockerLoginPassword")]),
            &[],
        )
        .unwrap_err();
    let ResolveError::NotFound {
        var,
        reference,
        kind,
        tried,
        hints,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (var.as_str(), reference.as_str(), *kind),
        (
            "DOCKER_PW",
            "/CodeBuild/dockerLoginPassword",
            Source::ParameterStore
        )
    );
    assert_eq!(tried, &["file:/home/me/.kiln/secrets.yml", "env"]);
    assert_eq!(hints.len(), 2);
    let msg = err.to_string();
    for needle in [
        "parameter-store variable `DOCKER_PW`",
        "`/CodeBuild/dockerLoginPassword` was not found",
        "tried: file:/home/me/.kiln/secrets.yml, env",
        "parameters: { \"/CodeBuild/dockerLoginPassword\": <value> }",
        "set KILN_PARAM__CODEBUILD_DOCKERLOGINPASSWORD",
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in {msg}");
    }

    let err = resolver
        .resolve(&[], &pairs(&[("DB", "prod/db:password:AWSPREVIOUS")]))
        .unwrap_err();
    let msg = err.to_string();
    for needle in [
        "secrets-manager variable `DB`",
        "secret `prod/db:password:AWSPREVIOUS` was not found",
        "versions: { \"AWSPREVIOUS\": <value> }",
        "set KILN_SECRET_PROD_DB__STAGE_AWSPREVIOUS",
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in {msg}");
    }
}

#[test]
fn no_providers() {
    let err = Resolver::default()
        .resolve(&pairs(&[("X", "/x")]), &[])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no secret providers are configured"),
        "{err}"
    );
    assert!(Resolver::default().resolve(&[], &[]).unwrap().is_empty());
}

#[test]
fn invalid_references() {
    let resolver = Resolver::new(vec![Box::new(EnvProvider::from_vars([(
        "KILN_SECRET_A",
        "x",
    )]))]);
    let err = resolver
        .resolve(&[], &pairs(&[("V", "a:b:c:d:e")]))
        .unwrap_err();
    assert!(
        matches!(err, ResolveError::InvalidReference { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("secrets-manager variable `V`: "),
        "{err}"
    );
}

#[test]
fn json_key_rules_and_errors() {
    let env = EnvProvider::from_vars([
        (
            "KILN_SECRET_OBJ",
            r#"{"s":"text-value","n":12.5,"b":false,"o":{"k":[1,2]},"z":null,"e":""}"#,
        ),
        ("KILN_SECRET_ARR", r#"["secret-in-array"]"#),
        ("KILN_SECRET_TEXT", "not json secret-text"),
    ]);
    let resolver = Resolver::new(vec![Box::new(env)]);
    let ok = resolver
        .resolve(
            &[],
            &pairs(&[
                ("S", "obj:s"),
                ("N", "obj:n"),
                ("B", "obj:b"),
                ("O", "obj:o"),
                ("E", "obj:e"),
            ]),
        )
        .unwrap();
    let values: Vec<&str> = ok.iter().map(|r| r.value.as_str()).collect();
    assert_eq!(
        values,
        ["text-value", "12.5", "false", r#"{"k":[1,2]}"#, ""]
    );

    let problem = |reference: &str| match resolver
        .resolve(&[], &pairs(&[("V", reference)]))
        .unwrap_err()
    {
        e @ ResolveError::JsonKey { .. } => {
            let msg = e.to_string();
            for secret in ["text-value", "secret-in-array", "secret-text"] {
                assert!(!msg.contains(secret), "error leaks the secret: {msg}");
            }
            let ResolveError::JsonKey { problem, .. } = e else {
                unreachable!()
            };
            (problem, msg)
        }
        other => panic!("{other:?}"),
    };
    let (p, msg) = problem("obj:missing");
    assert_eq!(
        p,
        JsonKeyProblem::MissingKey {
            available: ["b", "e", "n", "o", "s", "z"].map(String::from).to_vec()
        }
    );
    assert!(
        msg.contains("no key `missing`") && msg.contains("keys: b, e, n, o, s, z"),
        "{msg}"
    );
    assert!(
        msg.contains("`V`") && msg.contains("obj:missing") && msg.contains("from env"),
        "{msg}"
    );
    assert_eq!(problem("obj:z").0, JsonKeyProblem::Null);
    assert_eq!(problem("arr:k").0, JsonKeyProblem::NotObject);
    let (p, msg) = problem("text:k");
    assert!(
        matches!(p, JsonKeyProblem::NotJson { line: 1, .. }),
        "{p:?}"
    );
    assert!(msg.contains("not valid JSON"), "{msg}");
}

#[test]
fn resolved_debug_redacts_the_value() {
    let resolver = Resolver::new(vec![Box::new(EnvProvider::from_vars([(
        "KILN_PARAM__P",
        "very-secret-value",
    )]))]);
    let got = resolver.resolve(&pairs(&[("P", "/p")]), &[]).unwrap();
    let debug = format!("{got:?} {resolver:?}");
    assert!(!debug.contains("very-secret-value"), "{debug}");
    assert!(
        debug.contains("<redacted>") && debug.contains("\"P\""),
        "{debug}"
    );
}
