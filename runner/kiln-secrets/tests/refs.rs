//! `SecretRef` parsing and display.

mod common;

use kiln_secrets::{RefError, SecretRef, secret_id_candidates};

const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf";

fn r(id: &str, key: Option<&str>, stage: Option<&str>, version: Option<&str>) -> SecretRef {
    SecretRef {
        secret_id: id.into(),
        json_key: key.map(Into::into),
        version_stage: stage.map(Into::into),
        version_id: version.map(Into::into),
    }
}

#[test]
fn plain_names_and_optional_fields() {
    let cases = [
        ("prod/db", r("prod/db", None, None, None)),
        (
            "prod/db:password",
            r("prod/db", Some("password"), None, None),
        ),
        (
            "prod/db:password:AWSPREVIOUS",
            r("prod/db", Some("password"), Some("AWSPREVIOUS"), None),
        ),
        (
            "prod/db:password::v-123",
            r("prod/db", Some("password"), None, Some("v-123")),
        ),
        (
            "prod/db::AWSPREVIOUS",
            r("prod/db", None, Some("AWSPREVIOUS"), None),
        ),
        ("prod/db:::v-123", r("prod/db", None, None, Some("v-123"))),
        (
            "TestSecret:MY_SECRET_VAR",
            r("TestSecret", Some("MY_SECRET_VAR"), None, None),
        ),
        ("a+b=c.d@e_f-g", r("a+b=c.d@e_f-g", None, None, None)),
        // A secret may be called `arn`; without ARN structure it is a name.
        ("arn", r("arn", None, None, None)),
        ("arn:", r("arn", None, None, None)),
        ("arn:password", r("arn", Some("password"), None, None)),
        (
            "arn:aws::AWSPREVIOUS",
            r("arn", Some("aws"), None, Some("AWSPREVIOUS")),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(SecretRef::parse(input).unwrap(), want, "{input}");
    }
}

#[test]
fn trailing_colons_are_empty_fields() {
    for input in ["prod/db:", "prod/db::", "prod/db:::"] {
        assert_eq!(
            SecretRef::parse(input).unwrap(),
            r("prod/db", None, None, None),
            "{input}"
        );
    }
    assert_eq!(
        SecretRef::parse("prod/db:key:").unwrap(),
        r("prod/db", Some("key"), None, None)
    );
    assert_eq!(
        SecretRef::parse("prod/db:key::").unwrap(),
        r("prod/db", Some("key"), None, None)
    );
    assert_eq!(
        SecretRef::parse("prod/db::AWSPENDING:").unwrap(),
        r("prod/db", None, Some("AWSPENDING"), None)
    );
}

#[test]
fn arns_keep_their_colons() {
    assert_eq!(SecretRef::parse(ARN).unwrap(), r(ARN, None, None, None));
    assert_eq!(
        SecretRef::parse(&format!("{ARN}:password")).unwrap(),
        r(ARN, Some("password"), None, None)
    );
    assert_eq!(
        SecretRef::parse(&format!("{ARN}:password:AWSPREVIOUS")).unwrap(),
        r(ARN, Some("password"), Some("AWSPREVIOUS"), None)
    );
    assert_eq!(
        SecretRef::parse(&format!("{ARN}:::0123-abcd")).unwrap(),
        r(ARN, None, None, Some("0123-abcd"))
    );
    assert_eq!(
        SecretRef::parse(&format!("{ARN}::AWSCURRENT")).unwrap(),
        r(ARN, None, Some("AWSCURRENT"), None)
    );
    for trailing in [":", "::", ":::"] {
        assert_eq!(
            SecretRef::parse(&format!("{ARN}{trailing}")).unwrap(),
            r(ARN, None, None, None)
        );
    }
    for arn in [
        "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x",
        "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:team/app/key",
    ] {
        let parsed = SecretRef::parse(&format!("{arn}:k")).unwrap();
        assert_eq!(parsed.secret_id, arn);
        assert_eq!(parsed.json_key.as_deref(), Some("k"));
        assert!(parsed.is_arn());
    }
    let parsed = SecretRef::parse(ARN).unwrap();
    assert_eq!(parsed.name(), "prod/db-AbCdEf");
    assert_eq!(SecretRef::parse("prod/db").unwrap().name(), "prod/db");
}

#[test]
fn invalid_arns() {
    for bad in [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:",
        "arn:aws:ssm:us-east-1:123456789012:parameter:x",
        "arn:aws:secretsmanager:us-east-1:12345678901x:secret:x",
        "arn:aws:secretsmanager::123456789012:secret:x",
        "arn::secretsmanager:us-east-1:123456789012:secret:x",
        "arn:aws:secretsmanager:us-east-1:123456789012:key:x",
        "arn:aws:secretsmanager",
        "arn:x:y:z:w:v:u",
    ] {
        let err = SecretRef::parse(bad).unwrap_err();
        assert!(matches!(err, RefError::InvalidArn { .. }), "{bad}: {err:?}");
        assert!(
            err.to_string().contains("arn:PARTITION:secretsmanager"),
            "{err}"
        );
    }
}

#[test]
fn other_errors() {
    assert_eq!(SecretRef::parse(""), Err(RefError::Empty));
    assert_eq!(SecretRef::parse("  "), Err(RefError::Empty));
    assert!(matches!(
        SecretRef::parse(":key"),
        Err(RefError::MissingSecretId(_))
    ));
    assert!(matches!(
        SecretRef::parse(":::"),
        Err(RefError::MissingSecretId(_))
    ));
    assert!(matches!(
        SecretRef::parse("a:b:c:d:e"),
        Err(RefError::TooManyFields(_))
    ));
    assert!(matches!(
        SecretRef::parse(&format!("{ARN}:a:b:c:d")),
        Err(RefError::TooManyFields(_))
    ));
    assert!(matches!(
        SecretRef::parse("a::AWSPREVIOUS:v1"),
        Err(RefError::StageAndId(_))
    ));
    assert!(matches!(
        SecretRef::parse("my secret:k"),
        Err(RefError::InvalidSecretId(_))
    ));
    let msg = SecretRef::parse("a::S:V").unwrap_err().to_string();
    assert!(msg.contains("a::S:V") && msg.contains("only one"), "{msg}");
}

#[test]
fn display_is_canonical_and_round_trips() {
    let cases = [
        ("prod/db", "prod/db"),
        ("prod/db:::", "prod/db"),
        ("prod/db:k::", "prod/db:k"),
        ("prod/db::AWSPREVIOUS", "prod/db::AWSPREVIOUS"),
        ("prod/db:::v1", "prod/db:::v1"),
        ("prod/db:k:S:", "prod/db:k:S"),
    ];
    for (input, canonical) in cases {
        let parsed = SecretRef::parse(input).unwrap();
        assert_eq!(parsed.to_string(), canonical);
        assert_eq!(SecretRef::parse(canonical).unwrap(), parsed);
        assert_eq!(canonical.parse::<SecretRef>().unwrap(), parsed);
    }
    let arn_ref = format!("{ARN}:password::");
    assert_eq!(
        SecretRef::parse(&arn_ref).unwrap().to_string(),
        format!("{ARN}:password")
    );
}

#[test]
fn candidates_for_lookup() {
    assert_eq!(secret_id_candidates("prod/db"), vec!["prod/db"]);
    assert_eq!(
        secret_id_candidates(ARN),
        vec![ARN, "prod/db-AbCdEf", "prod/db"]
    );
    let partial = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db";
    assert_eq!(secret_id_candidates(partial), vec![partial, "prod/db"]);
    // A name that merely looks like it has a suffix: only ARNs are stripped.
    assert_eq!(secret_id_candidates("my-secret"), vec!["my-secret"]);
}

#[test]
fn random_input_never_panics_and_round_trips() {
    let alphabet = [
        ':', ':', ':', 'a', 'r', 'n', 's', 'e', 'c', 't', '1', '2', '/', '-', ' ', '\n', 'é',
        '\u{0}',
    ];
    let mut rng = common::Rng::new(7);
    for i in 0..20_000 {
        let len = rng.below(24);
        let mut s = rng.string_from(&alphabet, len);
        if i % 3 == 0 {
            s = format!("arn:aws:secretsmanager:r:1:secret:{s}");
        }
        if let Ok(parsed) = SecretRef::parse(&s) {
            let again = SecretRef::parse(&parsed.to_string()).expect("canonical form parses");
            assert_eq!(again, parsed, "{s:?}");
            let _ = parsed.name();
        }
    }
}
