//! The release policy parser: located errors for every kind of mistake.

use kiln_release::Policy;

fn err(text: &str) -> String {
    Policy::parse(text, "release-policy.yml").unwrap_err().to_string()
}

#[test]
fn errors_name_the_file_line_and_column() {
    let e = err("version: 1\nrequire: [approval-by-noncommitter]\n");
    assert!(e.starts_with("release-policy.yml:2:") && e.contains("unknown variant `approval-by-noncommitter`") && e.contains("approval-by-non-committer"), "{e}");
    let e = err("version: 1\nrules:\n  - deployment: {group: production, afterr: {group: staging}}\n");
    assert!(e.starts_with("release-policy.yml:3:") && e.contains("unknown field `afterr`"), "{e}");
    let e = err("version: 1\nrules:\n  - deploy: {group: production}\n");
    assert!(e.starts_with("release-policy.yml:3:") && e.contains("unknown field `deploy`, expected one of `deployment`"), "{e}");
    let e = err("version: 1\nrules:\n  - deployment: {group: production, after: {group: production}}\n");
    assert!(e.starts_with("release-policy.yml:3:") && e.contains("`after` names the same group `production`"), "{e}");
    let e = err("version: 1\nrules:\n  - approval: {count: 0}\n");
    assert!(e.starts_with("release-policy.yml:3:") && e.contains("count: 0"), "{e}");
    let e = err("version: 1\nrules:\n  - findings: {max-severity: severe}\n");
    assert!(e.starts_with("release-policy.yml:3:") && e.contains("unknown variant `severe`"), "{e}");
    let e = err("version: 1\nrules:\n  - approval: {before-group: production, by-other-than: [committer, comitter]}\n");
    assert!(e.starts_with("release-policy.yml:3:") && e.contains("`by-other-than: comitter` names no role"), "{e}");
    assert!(err("version: 2\nrequire: [run-succeeded]\n").contains("version 2 is not supported"));
    assert!(err("version: 1\n").contains("the policy has no rules"));
    let e = err("version: 1\nrules:\n  - {run: {status: Succeeded}, builds: {}}\n");
    assert!(e.starts_with("release-policy.yml:3:") && e.contains("a rule is a map with one key"), "{e}");
    assert!(err("rules: []\n").contains("missing field `version`"));
}

#[test]
fn an_alias_bomb_is_refused_before_expansion() {
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        text += &format!("{}: &{} [*{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}]\n", (b'a' + i) as char, (b'a' + i) as char, (b'a' + i - 1) as char, (b'a' + i - 1) as char, (b'a' + i - 1) as char, (b'a' + i - 1) as char, (b'a' + i - 1) as char, (b'a' + i - 1) as char, (b'a' + i - 1) as char, (b'a' + i - 1) as char, (b'a' + i - 1) as char, (b'a' + i - 1) as char);
    }
    let e = err(&text);
    assert!(e.starts_with("release-policy.yml:"), "{e}");
}

#[test]
fn forms_that_parse() {
    let p = Policy::parse("version: 1\nrules:\n  - approval: {before-group: production, by-other-than: [committer, author], by: [alice]}\n  - deployment: {group: production, status: Succeeded, after: {group: staging}}\n", "p").unwrap();
    assert_eq!(p.rules.len(), 2);
    assert_eq!(p.rules[0].describe(), "1 approval(s) before production by other than the committer or author");
    assert_eq!(p.rules[1].describe(), "deployment to production (Succeeded) after staging (Succeeded)");
}
