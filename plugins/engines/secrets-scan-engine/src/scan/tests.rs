use super::*;

fn scan(text: &str) -> Vec<(u32, &'static str)> {
    Scanner::new()
        .scan("t.txt", text.as_bytes())
        .into_iter()
        .map(|f| (f.line, f.rule.id))
        .collect()
}

#[test]
fn vendor_tokens_and_lines() {
    let t = "x\nGITHUB_TOKEN=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\nSLACK=xoxb-979841030358-9877927489628-0WgnwZWeH3MAt8YaScMbv3Jx\n";
    assert_eq!(scan(t), vec![(2, "github-pat"), (3, "slack-token")]);
}

#[test]
fn bad_checksum_and_placeholders_are_quiet() {
    assert!(
        scan("t = 'ghp_DecdGUtKYWK0XA9l3KQ5PKgAZYKpqN2kCVpE'\n")
            .iter()
            .all(|f| f.1 != "github-pat")
    );
    assert!(scan("GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n").is_empty());
    assert!(scan("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n").is_empty());
}

#[test]
fn aws_pair_on_next_line() {
    let t = "new BasicAWSCredentials(\"AKIAUGJ7UJEYKVIFAVID\",\n    \"wffxyCBZNbR4x292nSygcb8ebr32VhbMpN8wH06i\");\n";
    assert_eq!(
        scan(t),
        vec![(1, "aws-access-key-id"), (2, "aws-secret-access-key")]
    );
}

#[test]
fn allow_comments_and_baseline() {
    let t = "token = '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' # kiln:allow-secret\n";
    let (f, suppressed) = Scanner::new().scan_counted("a", t.as_bytes());
    assert!(f.is_empty());
    assert_eq!(suppressed, 1);
    let t = "# kiln:allow-secret-next-line\ntoken = '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'\n";
    assert!(Scanner::new().scan("a", t.as_bytes()).is_empty());
    let t = "token = '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'\n";
    let f = Scanner::new().scan("a", t.as_bytes());
    assert_eq!(f.len(), 1);
    let b = Baseline::parse(&format!("{}  accepted\n", f[0].fingerprint)).unwrap();
    assert!(
        Scanner::new()
            .with_baseline(b)
            .scan("a", t.as_bytes())
            .is_empty()
    );
}

#[test]
fn never_prints_the_secret() {
    let secret = "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";
    let f = Scanner::new().scan("a", format!("token: {secret}\n").as_bytes());
    assert_eq!(f.len(), 1);
    for s in [&f[0].message, &f[0].snippet, &f[0].redacted] {
        assert!(!s.contains(&secret[4..]), "{s}");
    }
}

#[test]
fn pem_block_spans_lines() {
    let body = "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDLBM4yY3bYdfqW\nzZwhDmfrkBPsC79SGvuTBKUncV00snt794CKHigcrgB1RK1+JLnJ3DpUVc/B3Nhq\n";
    let t = format!("# key\n-----BEGIN PRIVATE KEY-----\n{body}-----END PRIVATE KEY-----\n");
    let f = Scanner::new().scan("k.pem", t.as_bytes());
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].line, f[0].end_line, f[0].rule.id),
        (2, 5, "private-key")
    );
}

#[test]
fn invalid_utf8_and_long_lines() {
    let mut t = vec![0xff, 0xfe, b'\n'];
    t.extend(std::iter::repeat_n(b'a', 100_000));
    t.extend_from_slice(b" password=\"Zq8!rT5#wLp2\" ");
    t.extend(std::iter::repeat_n(b'b', 100_000));
    let f = Scanner::new().scan("min.js", &t);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].line, 2);
}
