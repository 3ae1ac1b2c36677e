//! Unit tests for the assignment-context detector.

use super::*;

fn find(line: &str) -> Option<String> {
    let l = line.as_bytes();
    for kw in KEYWORDS {
        let lower = line.to_ascii_lowercase();
        if let Some(p) = lower.find(kw)
            && let Some(a) = assignment_at(l, p, b"", false)
        {
            return Some(line[a.value.0..a.value.1].to_string());
        }
    }
    None
}

#[test]
fn finds_assignments() {
    assert_eq!(
        find("  password: Q_Y!jwp*cNH^2K").as_deref(),
        Some("Q_Y!jwp*cNH^2K")
    );
    assert_eq!(
        find("define( 'DB_PASSWORD', 'm~c1S0xYidLgHjy' );").as_deref(),
        Some("m~c1S0xYidLgHjy")
    );
    assert_eq!(
        find(r#"<add key="SmtpPassword" value="OXK+*Hf=oz3uJTx1S~g8" />"#).as_deref(),
        Some("OXK+*Hf=oz3uJTx1S~g8")
    );
    assert_eq!(
        find("  password 0d97bdf8-5df3-5a3e-0cc6-c4ad99eb16e3").as_deref(),
        Some("0d97bdf8-5df3-5a3e-0cc6-c4ad99eb16e3")
    );
    assert_eq!(
        find("DD_API_KEY=58f89aad1c0070998a93a62bc3f3e0fe").as_deref(),
        Some("58f89aad1c0070998a93a62bc3f3e0fe")
    );
    assert_eq!(
        find("docker login r.example -u ci -p qIvvDO7OFRe8Z#6").as_deref(),
        Some("qIvvDO7OFRe8Z#6")
    );
}

#[test]
fn ignores_decoys() {
    for l in [
        "password = os.environ['X']",
        "    password: ${RABBIT_PASSWORD:guest}",
        "PASSWORD_RESET_TIMEOUT = 60 * 60 * 24",
        "const password = req => req.body.password;",
        "  password = var.db_password",
        "  key: DB_PASSWORD",
        "key=0e934a978d0699cd525f69ccb09f1fdd3dd7f1e79ce4cd0467fb7c40d3fd2399",
        "DD_APP_KEY_ID=ee7a1a4b-30b9-4124-9267-f8b26c6d6ef0",
        r#"<add key="PasswordMinLength" value="12" />"#,
        "  password: postgres",
        "mkdir -p build/out2",
        "SECRET_KEY=changeme",
        "As of Python 3.8, you may pass :func:`os.fspath` here",
        "key_or_pass = r'(?:[a-z0-9]{32}|[A-Z]{3})'",
    ] {
        assert_eq!(find(l), None, "{l}");
    }
}
