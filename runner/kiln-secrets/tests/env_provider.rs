//! `EnvProvider`: name normalisation and look-ups.

use kiln_secrets::{EnvProvider, Provider, Resolver};

#[test]
fn normalisation() {
    assert_eq!(EnvProvider::normalise("/CodeBuild/x-y"), "_CODEBUILD_X_Y");
    assert_eq!(EnvProvider::normalise("prod/db"), "PROD_DB");
    assert_eq!(
        EnvProvider::normalise("a..b"),
        "A__B",
        "one `_` per character, nothing merged"
    );
    assert_eq!(
        EnvProvider::normalise("héllo"),
        "H_LLO",
        "one `_` per non-ASCII character"
    );
    assert_eq!(EnvProvider::normalise("a+b=c@d 9"), "A_B_C_D_9");
    assert_eq!(EnvProvider::normalise(""), "");
}

#[test]
fn variable_names() {
    assert_eq!(
        EnvProvider::parameter_var("/CodeBuild/x-y"),
        "KILN_PARAM__CODEBUILD_X_Y"
    );
    assert_eq!(
        EnvProvider::parameter_var("/CodeBuild/dockerLoginPassword"),
        "KILN_PARAM__CODEBUILD_DOCKERLOGINPASSWORD"
    );
    assert_eq!(
        EnvProvider::secret_var("prod/db", None, None),
        "KILN_SECRET_PROD_DB"
    );
    assert_eq!(
        EnvProvider::secret_var("prod/db", Some("AWSCURRENT"), None),
        "KILN_SECRET_PROD_DB"
    );
    assert_eq!(
        EnvProvider::secret_var("prod/db", Some("AWSPREVIOUS"), None),
        "KILN_SECRET_PROD_DB__STAGE_AWSPREVIOUS"
    );
    assert_eq!(
        EnvProvider::secret_var("prod/db", None, Some("a1b2-c3")),
        "KILN_SECRET_PROD_DB__VERSION_A1B2_C3"
    );
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf";
    assert_eq!(
        EnvProvider::secret_vars(arn, None, None),
        [
            "KILN_SECRET_ARN_AWS_SECRETSMANAGER_US_EAST_1_123456789012_SECRET_PROD_DB_ABCDEF",
            "KILN_SECRET_PROD_DB_ABCDEF",
            "KILN_SECRET_PROD_DB",
        ]
    );
}

fn provider() -> EnvProvider {
    EnvProvider::from_vars([
        ("KILN_PARAM__CODEBUILD_X_Y", "param-value"),
        ("KILN_SECRET_PROD_DB", r#"{"password":"pw-current"}"#),
        (
            "KILN_SECRET_PROD_DB__STAGE_AWSPREVIOUS",
            r#"{"password":"pw-previous"}"#,
        ),
        ("KILN_SECRET_PROD_DB__VERSION_V_1", "by-version"),
        ("KILN_SECRET_EMPTY", ""),
        ("PATH", "/usr/bin"),
        ("HOME", "/root"),
    ])
}

#[test]
fn lookups() {
    let p = provider();
    assert_eq!(p.name(), "env");
    assert_eq!(
        p.parameter("/CodeBuild/x-y").unwrap().as_deref(),
        Some("param-value")
    );
    assert_eq!(
        p.parameter("/codebuild/X_Y").unwrap().as_deref(),
        Some("param-value")
    );
    assert_eq!(p.parameter("/CodeBuild/other").unwrap(), None);
    assert_eq!(
        p.secret("prod/db", None, None).unwrap().as_deref(),
        Some(r#"{"password":"pw-current"}"#)
    );
    assert_eq!(
        p.secret("prod/db", Some("AWSPREVIOUS"), None)
            .unwrap()
            .as_deref(),
        Some(r#"{"password":"pw-previous"}"#)
    );
    assert_eq!(
        p.secret("prod/db", None, Some("v-1")).unwrap().as_deref(),
        Some("by-version")
    );
    assert_eq!(p.secret("prod/db", Some("AWSPENDING"), None).unwrap(), None);
    assert_eq!(
        p.secret("empty", None, None).unwrap().as_deref(),
        Some(""),
        "empty values are values"
    );
    let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-XyZ123";
    assert_eq!(
        p.secret(arn, Some("AWSPREVIOUS"), None).unwrap().as_deref(),
        Some(r#"{"password":"pw-previous"}"#)
    );
    // Only prefixed variables are kept.
    let debug = format!("{p:?}");
    assert!(
        !debug.contains("PATH") && !debug.contains("HOME"),
        "{debug}"
    );
    assert!(
        !debug.contains("pw-current") && !debug.contains("param-value"),
        "{debug}"
    );
}

#[test]
fn colliding_names_share_one_variable_deterministically() {
    let p = provider();
    for name in [
        "/CodeBuild/x-y",
        "/codebuild/x_y",
        "-CODEBUILD.X.Y",
        "/CodeBuild/x/y",
    ] {
        assert_eq!(
            p.parameter(name).unwrap().as_deref(),
            Some("param-value"),
            "{name}"
        );
    }
    // The same answer whatever order the variables were given in.
    let a = EnvProvider::from_vars([("KILN_SECRET_A_B", "1234"), ("KILN_SECRET_A_B_C", "5678")]);
    let b = EnvProvider::from_vars([("KILN_SECRET_A_B_C", "5678"), ("KILN_SECRET_A_B", "1234")]);
    for id in ["a/b", "a-b", "a/b/c", "a.b-c"] {
        assert_eq!(
            a.secret(id, None, None).unwrap(),
            b.secret(id, None, None).unwrap(),
            "{id}"
        );
    }
    // A later duplicate of the same variable name replaces the earlier one, as in a real environment.
    let dup = EnvProvider::from_vars([("KILN_SECRET_X", "first"), ("KILN_SECRET_X", "second")]);
    assert_eq!(
        dup.secret("x", None, None).unwrap().as_deref(),
        Some("second")
    );
}

#[test]
fn hints_name_the_variable() {
    let p = provider();
    assert_eq!(
        p.parameter_hint("/CodeBuild/pw").unwrap(),
        "set KILN_PARAM__CODEBUILD_PW"
    );
    assert_eq!(
        p.secret_hint("prod/x", Some("AWSPREVIOUS"), None).unwrap(),
        "set KILN_SECRET_PROD_X__STAGE_AWSPREVIOUS"
    );
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/x";
    let hint = p.secret_hint(arn, None, None).unwrap();
    assert!(
        hint.starts_with("set KILN_SECRET_PROD_X or KILN_SECRET_ARN_AWS_"),
        "{hint}"
    );
}

#[test]
fn process_environment_snapshot() {
    // The test process has no KILN_* secrets of its own; the point is that
    // reading the real environment works and finds nothing unexpected.
    let p = EnvProvider::new();
    assert_eq!(
        p.parameter("/kiln-secrets-test/definitely-unset").unwrap(),
        None
    );
    let resolver = Resolver::new(vec![Box::new(p)]);
    let err = resolver
        .resolve(
            &[("X".into(), "/kiln-secrets-test/definitely-unset".into())],
            &[],
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("KILN_PARAM__KILN_SECRETS_TEST_DEFINITELY_UNSET"),
        "{err}"
    );
}
