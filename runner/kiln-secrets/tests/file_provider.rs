//! `FileProvider`: format, versions, json-key, permissions, error locations.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use kiln_secrets::{FileProvider, Provider, ProviderError, Resolver};

const SAMPLE: &str = r#"
parameters:
  /CodeBuild/dockerLoginPassword: "d0cker-pa55"
  /app/port: 5432
  /app/debug: true
secrets:
  prod/api-token: "plain secret string"
  prod/db:
    username: admin
    password: "s3cr3t"
    port: 5432
    tls: true
  prod/legacy: '{"password": "legacy-pw"}'
  prod/rotating:
    versions:
      AWSCURRENT: "new-value"
      AWSPREVIOUS: "old-value"
      a1b2c3d4-5678: "by-id"
  prod/only-old:
    versions:
      AWSPREVIOUS: { password: "older" }
"#;

fn write_secrets(text: &str, mode: u32) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.yml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    (dir, path)
}

fn sample() -> FileProvider {
    FileProvider::parse("/etc/kiln/secrets.yml", SAMPLE).unwrap()
}

#[test]
fn parameters() {
    let p = sample();
    assert_eq!(p.name(), "file:/etc/kiln/secrets.yml");
    assert_eq!(
        p.parameter("/CodeBuild/dockerLoginPassword")
            .unwrap()
            .as_deref(),
        Some("d0cker-pa55")
    );
    assert_eq!(p.parameter("/app/port").unwrap().as_deref(), Some("5432"));
    assert_eq!(p.parameter("/app/debug").unwrap().as_deref(), Some("true"));
    assert_eq!(p.parameter("/missing").unwrap(), None);
    assert_eq!(
        p.parameter("/codebuild/dockerloginpassword").unwrap(),
        None,
        "names are exact"
    );
}

#[test]
fn secrets_and_versions() {
    let p = sample();
    let get = |id: &str, stage: Option<&str>, version: Option<&str>| {
        p.secret(id, stage, version).unwrap()
    };
    assert_eq!(
        get("prod/api-token", None, None).as_deref(),
        Some("plain secret string")
    );
    assert_eq!(
        get("prod/api-token", Some("AWSCURRENT"), None).as_deref(),
        Some("plain secret string")
    );
    assert_eq!(get("prod/api-token", Some("AWSPREVIOUS"), None), None);
    assert_eq!(get("prod/api-token", None, Some("v1")), None);
    let db: serde_json::Value = serde_json::from_str(&get("prod/db", None, None).unwrap()).unwrap();
    assert_eq!(db["username"], "admin");
    assert_eq!(db["port"], 5432);
    assert_eq!(
        get("prod/rotating", None, None).as_deref(),
        Some("new-value")
    );
    assert_eq!(
        get("prod/rotating", Some("AWSCURRENT"), None).as_deref(),
        Some("new-value")
    );
    assert_eq!(
        get("prod/rotating", Some("AWSPREVIOUS"), None).as_deref(),
        Some("old-value")
    );
    assert_eq!(
        get("prod/rotating", None, Some("a1b2c3d4-5678")).as_deref(),
        Some("by-id")
    );
    assert_eq!(get("prod/rotating", Some("AWSPENDING"), None), None);
    assert_eq!(get("prod/only-old", None, None), None);
    assert_eq!(get("nope", None, None), None);
}

#[test]
fn arn_references_find_secrets_stored_by_name() {
    let p = sample();
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/rotating-AbCdEf";
    assert_eq!(
        p.secret(arn, Some("AWSPREVIOUS"), None).unwrap().as_deref(),
        Some("old-value")
    );
    let exact = FileProvider::parse(
        "f",
        &format!("secrets:\n  \"{arn}\": by-arn\n  prod/rotating: by-name\n"),
    )
    .unwrap();
    assert_eq!(
        exact.secret(arn, None, None).unwrap().as_deref(),
        Some("by-arn")
    );
}

#[test]
fn json_keys_through_the_resolver() {
    let resolver = Resolver::new(vec![Box::new(sample())]);
    let secrets: Vec<(String, String)> = [
        ("PW", "prod/db:password"),
        ("PORT", "prod/db:port"),
        ("TLS", "prod/db:tls"),
        ("LEGACY", "prod/legacy:password"),
        ("OLDER", "prod/only-old:password:AWSPREVIOUS"),
        ("WHOLE", "prod/api-token"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let got = resolver.resolve(&[], &secrets).unwrap();
    let values: Vec<&str> = got.iter().map(|r| r.value.as_str()).collect();
    assert_eq!(
        values,
        [
            "s3cr3t",
            "5432",
            "true",
            "legacy-pw",
            "older",
            "plain secret string"
        ]
    );
    assert!(
        got.iter()
            .all(|r| r.provider == "file:/etc/kiln/secrets.yml")
    );
}

#[test]
fn open_accepts_owner_only_files() {
    for mode in [0o600, 0o400, 0o700] {
        let (_dir, path) = write_secrets(SAMPLE, mode);
        let p = FileProvider::open(&path).unwrap();
        assert_eq!(p.path(), path);
        assert_eq!(p.name(), format!("file:{}", path.display()));
        assert_eq!(p.parameter("/app/port").unwrap().as_deref(), Some("5432"));
    }
}

#[test]
fn open_refuses_group_or_world_access() {
    for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o610, 0o666] {
        let (_dir, path) = write_secrets(SAMPLE, mode);
        let err = FileProvider::open(&path).unwrap_err();
        match &err {
            ProviderError::InsecurePermissions { path: p, mode: m } => {
                assert_eq!(p, &path);
                assert_eq!(*m, mode);
            }
            other => panic!("mode {mode:o}: unexpected {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(&format!("{mode:04o}")), "{msg}");
        assert!(msg.contains("chmod 600"), "{msg}");
    }
}

#[test]
fn open_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.yml");
    let err = FileProvider::open(&missing).unwrap_err();
    assert!(matches!(err, ProviderError::Io { .. }));
    assert!(err.to_string().contains("absent.yml"), "{err}");

    let err = FileProvider::open(dir.path()).unwrap_err();
    assert!(matches!(err, ProviderError::NotAFile { .. }), "{err:?}");
    assert!(err.to_string().contains("is a directory, not a regular file"), "{err}");

    let (_d, path) = write_secrets("", 0o600);
    std::fs::write(&path, [0xff, 0xfe, b'a']).unwrap();
    let err = FileProvider::open(&path).unwrap_err();
    assert!(err.to_string().contains("secrets.yml"), "{err}");
}

#[test]
fn yaml_syntax_errors_have_line_and_column() {
    let text = "parameters:\n  /a: ok\n  /b: [unclosed\n  /c: x\n";
    let (_dir, path) = write_secrets(text, 0o600);
    let err = FileProvider::open(&path).unwrap_err();
    let ProviderError::Yaml {
        path: p,
        line,
        column,
        message,
    } = &err
    else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(p, &path);
    assert!(line.is_some() && column.is_some(), "{err:?}");
    assert!(line.unwrap() >= 3, "{err:?}");
    assert!(!message.is_empty());
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!(
            "{}:{}:{}: ",
            path.display(),
            line.unwrap(),
            column.unwrap()
        )),
        "{shown}"
    );

    let err = FileProvider::parse("s.yml", "secrets:\n  a: 1\n   b: 2\n").unwrap_err();
    let ProviderError::Yaml { line, column, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(line, Some(3));
    assert!(column.is_some());
}

#[test]
fn shape_errors_name_the_key_and_never_the_value() {
    let cases = [
        ("parameters: \"hunter2-top-secret\"\n", "parameters"),
        (
            "parameters:\n  /x: [hunter2-top-secret]\n",
            "parameters.\"/x\"",
        ),
        ("parameters:\n  /x:\n", "parameters.\"/x\""),
        (
            "secrets:\n  x:\n    versions: hunter2-top-secret\n",
            "versions",
        ),
        ("secrets:\n  x:\n    versions: {}\n", "versions"),
        ("secret:\n  x: hunter2-top-secret\n", "\"secret\""),
        ("hunter2-top-secret\n", "top level"),
        ("- hunter2-top-secret\n", "top level"),
        (
            "secrets:\n  x: !tagged hunter2-top-secret\n",
            "secrets.\"x\"",
        ),
    ];
    for (text, key) in cases {
        let err = FileProvider::parse("s.yml", text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("s.yml"), "{msg}");
        assert!(msg.contains(key), "{text:?}: {msg}");
        assert!(!msg.contains("hunter2"), "{text:?} leaked a value: {msg}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    }
}

#[test]
fn duplicates_are_errors() {
    for text in [
        "parameters:\n  /a: one-value\n  /a: two-value\n",
        "secrets:\n  x: { versions: { AWSCURRENT: a-value, AWSCURRENT: b-value } }\n",
        "secrets:\n  x: one-value\nsecrets:\n  y: two-value\n",
    ] {
        let err = FileProvider::parse("s.yml", text).unwrap_err();
        assert!(!err.to_string().contains("-value"), "{err}");
    }
}

#[test]
fn empty_documents() {
    for text in [
        "",
        "\n  \n",
        "# only a comment\n",
        "~\n",
        "parameters:\nsecrets:\n",
    ] {
        let p = FileProvider::parse("s.yml", text).unwrap();
        assert_eq!(p.parameter("/x").unwrap(), None);
        assert_eq!(p.secret("x", None, None).unwrap(), None);
    }
}

#[test]
fn a_mapping_with_versions_and_other_keys_is_plain_json() {
    let p =
        FileProvider::parse("s.yml", "secrets:\n  x:\n    versions: 3\n    other: y\n").unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&p.secret("x", None, None).unwrap().unwrap()).unwrap();
    assert_eq!(v["versions"], 3);
}

#[test]
fn hints_and_debug() {
    let p = sample();
    let hint = p.parameter_hint("/CodeBuild/x").unwrap();
    assert!(
        hint.contains("parameters: { \"/CodeBuild/x\": <value> }"),
        "{hint}"
    );
    assert!(hint.contains("/etc/kiln/secrets.yml"), "{hint}");
    let hint = p.secret_hint("prod/db", None, None).unwrap();
    assert!(hint.contains("secrets: { \"prod/db\": <value> }"), "{hint}");
    let hint = p.secret_hint("prod/db", Some("AWSPREVIOUS"), None).unwrap();
    assert!(
        hint.contains("versions: { \"AWSPREVIOUS\": <value> }"),
        "{hint}"
    );
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf";
    let hint = p.secret_hint(arn, None, None).unwrap();
    assert!(hint.contains("secrets: { \"prod/db\": <value> }"), "{hint}");
    let debug = format!("{p:?}");
    assert!(
        !debug.contains("s3cr3t") && !debug.contains("d0cker"),
        "{debug}"
    );
    assert!(debug.contains("FileProvider"), "{debug}");
}

/// `FileProvider::open(path)` on a thread: an open that hangs fails the test instead.
fn open_within_10s(path: std::path::PathBuf) -> Result<FileProvider, ProviderError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(FileProvider::open(&path));
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("opening the secrets file hung")
}

#[test]
fn a_fifo_or_a_device_is_refused_without_waiting_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("secrets.yml");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let err = open_within_10s(fifo.clone()).unwrap_err();
    assert!(matches!(err, ProviderError::NotAFile { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&fifo.display().to_string()), "{msg}");
    assert!(msg.contains("is a FIFO (named pipe), not a regular file"), "{msg}");
    let err = open_within_10s("/dev/zero".into()).unwrap_err();
    assert!(err.to_string().contains("/dev/zero is a character device"), "{err}");
}

#[test]
fn an_oversized_secrets_file_is_refused_with_the_limit() {
    let (_d, path) = write_secrets("", 0o600);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(17 << 20).unwrap();
    let err = FileProvider::open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("secrets.yml") && msg.contains("16 MiB"), "{msg}");
}

/// `FileProvider::parse("s.yml", text)`'s error text; the value `hunter2-top-secret` in `text`
/// must not be in it (nor in its `Debug` form).
fn unknown_key_error(text: &str) -> String {
    let err = FileProvider::parse("s.yml", text).unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains("hunter2"), "{text:?} leaked a value: {msg}");
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    msg
}

#[test]
fn an_unknown_top_level_key_is_located_and_the_buildspec_section_names_are_mapped() {
    // The buildspec's `env:` section names, which users copy into the secrets file.
    let cases = [
        (
            "parameters:\n  /a: fine-value\nsecrets-manager:\n  prod/db: hunter2-top-secret\n",
            "s.yml:3:1: unknown top-level key \"secrets-manager\"",
            "did you mean `secrets`?",
        ),
        (
            "parameter-store:\n  /CodeBuild/x: hunter2-top-secret\nsecrets:\n  a: b\n",
            "s.yml:1:1: unknown top-level key \"parameter-store\"",
            "did you mean `parameters`?",
        ),
        // spelled as in other tools, quoted, or in another case
        (
            "secrets:\n  a: b\n\"secrets_manager\": { x: hunter2-top-secret }\n",
            "s.yml:3:1: unknown top-level key \"secrets_manager\"",
            "did you mean `secrets`?",
        ),
        (
            "# comment\n  ParameterStore:\n    /x: hunter2-top-secret\n",
            "s.yml:2:3: unknown top-level key \"ParameterStore\"",
            "did you mean `parameters`?",
        ),
    ];
    for (text, head, help) in cases {
        let msg = unknown_key_error(text);
        assert!(msg.starts_with(head), "{text:?}: {msg}");
        assert!(msg.contains(help), "{text:?}: {msg}");
        assert!(msg.contains("buildspec"), "{text:?} says where the name comes from: {msg}");
    }
}

#[test]
fn an_unknown_top_level_key_gets_a_close_spelling_suggested() {
    let cases = [
        ("secret:\n  x: hunter2-top-secret\n", "s.yml:1:1: unknown top-level key \"secret\"", "`secrets`"),
        ("parameters:\n  /a: b\nparamters:\n  /x: hunter2-top-secret\n", "s.yml:3:1: unknown top-level key \"paramters\"", "`parameters`"),
        ("Secrets:\n  x: hunter2-top-secret\n", "s.yml:1:1: unknown top-level key \"Secrets\"", "`secrets`"),
        ("{params: {x: hunter2-top-secret}}\n", "s.yml:1:2: unknown top-level key \"params\"", "`parameters`"),
    ];
    for (text, head, suggestion) in cases {
        let msg = unknown_key_error(text);
        assert!(msg.starts_with(head), "{text:?}: {msg}");
        assert!(msg.contains(&format!("did you mean {suggestion}?")), "{text:?}: {msg}");
    }
}

#[test]
fn an_unknown_top_level_key_without_a_close_name_lists_the_keys() {
    // A secret's name indented wrongly (at the top level), and the buildspec's `env:` wrapper.
    let msg = unknown_key_error("secrets:\n  a: b\nprod/db: hunter2-top-secret\n");
    assert!(msg.starts_with("s.yml:3:1: unknown top-level key \"prod/db\""), "{msg}");
    assert!(!msg.contains("did you mean"), "{msg}");
    assert!(msg.contains("`parameters`") && msg.contains("`secrets`"), "{msg}");
    assert!(msg.contains("indent"), "says how to fix a mis-indented name: {msg}");

    let msg = unknown_key_error("env:\n  secrets-manager:\n    x: hunter2-top-secret\n");
    assert!(msg.starts_with("s.yml:1:1: unknown top-level key \"env\""), "{msg}");
    assert!(msg.contains("`parameters`") && msg.contains("`secrets`"), "{msg}");
    assert!(msg.contains("top level"), "{msg}");
}

#[test]
fn an_unknown_top_level_key_in_a_file_on_disk_names_the_file() {
    let text = "parameters:\n  /app/x: fine-value\n\nsecrets-manager:\n  prod/api: hunter2-top-secret\n";
    let (_dir, path) = write_secrets(text, 0o600);
    let err = FileProvider::open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{}:4:1: unknown top-level key \"secrets-manager\"", path.display())), "{msg}");
    assert!(msg.contains("did you mean `secrets`?"), "{msg}");
    assert!(!msg.contains("hunter2") && !msg.contains("fine-value"), "{msg}");
}
