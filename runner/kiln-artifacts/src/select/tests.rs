use super::*;

#[test]
fn normalize_strips_dot_and_refuses_escapes() {
    assert_eq!(normalize("files", "./a//b/").unwrap(), "a/b");
    assert_eq!(normalize("files", ".").unwrap(), "");
    assert!(matches!(
        normalize("files", "a/../../b"),
        Err(ArtifactError::PatternEscapes { .. })
    ));
    assert!(matches!(
        normalize("files", "/etc/*"),
        Err(ArtifactError::PatternEscapes { .. })
    ));
    assert!(matches!(
        normalize("files", " "),
        Err(ArtifactError::InvalidPattern { .. })
    ));
}

#[test]
fn star_does_not_cross_slash_but_double_star_does() {
    let m = |p: &str| glob("files", p, p).unwrap().compile_matcher();
    assert!(m("*").is_match("a.txt") && !m("*").is_match("d/a.txt"));
    assert!(m("**/*").is_match("a.txt") && m("**/*").is_match("d/e/.hidden"));
    assert!(m("d/*").is_match("d/a") && !m("d/*").is_match("d/e/a"));
    assert!(m("**/.*").is_match(".env") && m("**/.*").is_match("x/.env"));
}

#[test]
fn pattern_literal_prefix() {
    let p = |raw: &str| Pattern::new("files", raw).unwrap();
    assert_eq!(p("./node_modules/**/*").literal_prefix(), "node_modules");
    assert_eq!(p("**/*").literal_prefix(), "");
    assert_eq!(p("a/b/*.js").literal_prefix(), "a/b");
    assert_eq!(p("a/b/c.txt").literal_prefix(), "a/b");
    assert!(p("a/b/c.txt").is_literal() && !p("a/*").is_literal());
    assert!(p("node_modules/**/*").matcher.is_match("node_modules/x/y.js"));
    assert!(Pattern::new("paths", "../x").is_err());
}

#[test]
fn artifact_escape_is_lexical() {
    assert!(!escapes_artifact("a/link", Path::new("../b")));
    assert!(escapes_artifact("link", Path::new("../b")));
    assert!(escapes_artifact("a/link", Path::new("x/../../../b")));
    assert!(!escapes_artifact("link", Path::new("sub/file")));
}
