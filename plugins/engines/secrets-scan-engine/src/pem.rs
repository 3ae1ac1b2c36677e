//! Private keys in PEM armour, on their own lines or inside strings with `\n` escapes (service
//! account JSON, Terraform state). Public keys, certificates, truncated examples (`...`) and
//! marker strings in code are not reported.

/// A private key block found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemHit {
    /// Offset of `-----BEGIN`.
    pub start: usize,
    /// Offset just past the `-----END …-----` marker (or the body when the end is missing).
    pub end: usize,
    /// The armour label, e.g. `RSA PRIVATE KEY`.
    pub label: String,
    /// Offset and length of the body (the secret).
    pub body: (usize, usize),
}

/// Checks the `-----BEGIN` at `at` in `text`.
pub fn private_key_at(text: &[u8], at: usize) -> Option<PemHit> {
    let rest = &text[at..];
    let head = rest.strip_prefix(b"-----BEGIN ")?;
    let close = memchr::memmem::find(&head[..head.len().min(64)], b"-----")?;
    let label = &head[..close];
    let is_private = label.ends_with(b"PRIVATE KEY") || label == b"PGP PRIVATE KEY BLOCK";
    if !is_private
        || !label
            .iter()
            .all(|b| b.is_ascii_uppercase() || *b == b' ' || b.is_ascii_digit())
    {
        return None;
    }
    let body_start = at + 11 + close + 5;
    let window_end = (body_start + 64 * 1024).min(text.len());
    let window = &text[body_start..window_end];
    let (body_len, end) = match memchr::memmem::find(window, b"-----END ") {
        Some(e) => {
            let after = &window[e + 9..];
            let close = memchr::memmem::find(&after[..after.len().min(64)], b"-----")
                .map(|c| c + 5)
                .unwrap_or(0);
            (e, body_start + e + 9 + close)
        }
        None => (window.len(), window_end),
    };
    let body = &text[body_start..body_start + body_len];
    if memchr::memmem::find(body, b"...").is_some()
        || memchr::memmem::find(body, "…".as_bytes()).is_some()
    {
        return None;
    }
    let (mut b64, mut other) = (0usize, 0usize);
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b == b'\\' && matches!(body.get(i + 1), Some(b'n' | b'r')) {
            i += 2;
            continue;
        }
        // PEM headers such as `Proc-Type: 4,ENCRYPTED` are allowed; skip the rest of that line
        if b == b':' {
            while i < body.len() && body[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=' => b64 += 1,
            b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'\'' | b',' => {}
            _ => other += 1,
        }
        i += 1;
    }
    let complete = end < window_end || memchr::memmem::find(window, b"-----END ").is_some();
    let needed = if complete { 64 } else { 200 };
    if b64 < needed || other * 10 > b64 {
        return None;
    }
    Some(PemHit {
        start: at,
        end,
        label: String::from_utf8_lossy(label).into_owned(),
        body: (body_start, body_len),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDLBM4yY3bYdfqW\nzZwhDmfrkBPsC79SGvuTBKUncV00snt794CKHigcrgB1RK1+JLnJ3DpUVc/B3Nhq\n";

    #[test]
    fn finds_private_keys() {
        let t = format!("-----BEGIN PRIVATE KEY-----\n{BODY}-----END PRIVATE KEY-----\n");
        let h = private_key_at(t.as_bytes(), 0).unwrap();
        assert_eq!(h.label, "PRIVATE KEY");
        assert_eq!(&t[h.end - 5..h.end], "-----");
        let escaped = format!(
            "\"-----BEGIN RSA PRIVATE KEY-----\\n{}-----END RSA PRIVATE KEY-----\\n\"",
            BODY.replace('\n', "\\n")
        );
        assert!(private_key_at(escaped.as_bytes(), 1).is_some());
    }

    #[test]
    fn ignores_public_and_placeholders() {
        let cert = format!("-----BEGIN CERTIFICATE-----\n{BODY}-----END CERTIFICATE-----\n");
        assert!(private_key_at(cert.as_bytes(), 0).is_none());
        let t = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC...\n-----END PRIVATE KEY-----\n";
        assert!(private_key_at(t.as_bytes(), 0).is_none());
        let t =
            "-----BEGIN RSA PRIVATE KEY-----\n    ...base64...\n    -----END RSA PRIVATE KEY-----";
        assert!(private_key_at(t.as_bytes(), 0).is_none());
    }
}
