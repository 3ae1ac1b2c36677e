//! Issue 11, item 10 for the secrets file: YAML alias expansion is bounded by bytes.
//!
//! The review's bomb was a 1 MiB anchor referenced 6,000 times (a 1 MiB file); as a secrets file
//! (`kiln build --secrets-file`) it took kiln to several GB and an abort. The file is now read
//! through the same bounded reader as buildspecs (`kiln-yaml`): a document may expand to 16 times
//! its size (16 MiB at least, 128 MiB at most), and the error names the file, the line and column
//! of the alias that crosses the bound, and what to do, without ever showing a value.
//!
//! The bombs here are small enough (tens of MiB expanded) that the old code parses them without
//! trouble and so fails these tests by accepting them; the 6,000-reference file itself is run
//! through the real binary, under a memory limit, in `runner/kiln/tests/review_yaml_inputs.rs`.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;

use kiln_secrets::{FileProvider, Provider, ProviderError};

/// A secret-looking text of `len` bytes: what must never appear in an error.
fn secret_value(len: usize) -> String {
    "hunter2-top-secret-".chars().cycle().take(len).collect()
}

/// A secrets file whose parameter `/big` (line 2) is anchored as `&a` and whose secret `many`
/// (line 4) is a flow list of `refs` aliases to it, the first at column 10.
fn anchored(anchor_len: usize, refs: usize) -> String {
    let aliases = vec!["*a"; refs].join(", ");
    format!(
        "parameters:\n  /big: &a \"{}\"\nsecrets:\n  many: [{aliases}]\n",
        secret_value(anchor_len)
    )
}

fn yaml_error(err: &ProviderError) -> (usize, usize, &str) {
    match err {
        ProviderError::Yaml {
            line: Some(l),
            column: Some(c),
            message,
            ..
        } => (*l, *c, message),
        other => panic!("expected a located YAML error, got {other}"),
    }
}

#[test]
fn a_big_anchor_referenced_many_times_is_refused_at_the_alias() {
    // 1 MiB referenced 40 times: 41 MiB of text from a 1 MiB file whose bound is 16 MiB.
    let text = anchored(1 << 20, 40);
    let err = FileProvider::parse("/home/me/secrets.yml", &text).unwrap_err();
    let (line, column, message) = yaml_error(&err);
    assert_eq!(line, 4, "{err}");
    assert!(column > 10, "at one of the aliases, not the first: {err}");
    let offset = text
        .split_inclusive('\n')
        .take(3)
        .map(str::len)
        .sum::<usize>();
    assert_eq!(
        &text[offset + column - 1..offset + column + 1],
        "*a",
        "{err}"
    );
    assert!(message.contains("MiB of text"), "{err}");
    assert!(
        message.contains("line 2, column 12"),
        "names the anchor: {err}"
    );
    assert!(
        message.contains("reference the anchor fewer times"),
        "says what to do: {err}"
    );
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("/home/me/secrets.yml:4:{column}: ")),
        "{shown}"
    );
    assert!(
        !shown.contains("hunter2") && !format!("{err:?}").contains("hunter2"),
        "no value in the error: {shown}"
    );
}

#[test]
fn many_aliases_of_a_medium_anchor_are_bounded_by_bytes_not_only_nodes() {
    // 64 KiB referenced 300 times: 301 nodes, 19 MiB of text.
    let text = anchored(64 << 10, 300);
    let err = FileProvider::parse("s.yml", &text).unwrap_err();
    let (line, _, message) = yaml_error(&err);
    assert_eq!(line, 4, "{err}");
    assert!(message.contains("16 MiB"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn open_refuses_the_file_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.yml");
    std::fs::write(&path, anchored(1 << 20, 40)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = FileProvider::open(&path).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:4:", path.display())),
        "{err}"
    );
}

#[test]
fn a_few_references_to_a_big_anchor_are_still_fine() {
    // 1 MiB referenced 3 times: 4 MiB of text, far below the bound.
    let p = FileProvider::parse("s.yml", &anchored(1 << 20, 3)).unwrap();
    assert_eq!(p.parameter("/big").unwrap().map(|v| v.len()), Some(1 << 20));
    let many = p.secret("many", None, None).unwrap().unwrap();
    let list: Vec<String> = serde_json::from_str(&many).unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|v| *v == secret_value(1 << 20)));
}

#[test]
fn ordinary_aliases_and_values_read_as_before() {
    let p = FileProvider::parse("s.yml", "parameters:\n  /a: &t tok-123\n  /b: *t\n  /n: 0x1F\nsecrets:\n  db: &db {user: admin, port: 5432}\n  db2: *db\n").unwrap();
    assert_eq!(p.parameter("/b").unwrap().as_deref(), Some("tok-123"));
    assert_eq!(
        p.parameter("/n").unwrap().as_deref(),
        Some("31"),
        "scalars resolve as they did (serde_yaml)"
    );
    assert_eq!(
        p.secret("db2", None, None).unwrap().as_deref(),
        Some(r#"{"port":5432,"user":"admin"}"#)
    );
}

#[test]
fn an_alias_to_an_unknown_anchor_is_a_located_error() {
    let err = FileProvider::parse("s.yml", "parameters:\n  /a: *nowhere\n").unwrap_err();
    let (line, _, _) = yaml_error(&err);
    assert_eq!(line, 2, "{err}");
}
