//! Value heuristics shared by the rules: entropy, character classes, placeholders, references,
//! periodic/sequential strings and well-known public example values (documented decoys).

/// Shannon entropy of `s` in bits per byte.
pub fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Which character classes occur in a value.
#[derive(Debug, Default, Clone, Copy)]
pub struct Classes {
    /// `a-z`
    pub lower: bool,
    /// `A-Z`
    pub upper: bool,
    /// `0-9`
    pub digit: bool,
    /// Anything printable that is not alphanumeric or `_`.
    pub special: bool,
}

impl Classes {
    /// Classifies every byte of `s`.
    pub fn of(s: &[u8]) -> Classes {
        let mut c = Classes::default();
        for &b in s {
            match b {
                b'a'..=b'z' => c.lower = true,
                b'A'..=b'Z' => c.upper = true,
                b'0'..=b'9' => c.digit = true,
                b'_' => {}
                _ => c.special = true,
            }
        }
        c
    }

    /// How many classes occur.
    pub fn count(&self) -> usize {
        self.lower as usize + self.upper as usize + self.digit as usize + self.special as usize
    }
}

/// True when the string repeats a short period (`0b0b0b…`, `0123456789abcdef0123…`, `XXXX…`)
/// or is mostly an ascending/descending run (`abcdefgh…`, `123456789…`).
pub fn is_periodic_or_sequential(s: &[u8]) -> bool {
    let n = s.len();
    if n < 8 {
        return false;
    }
    for p in 1..=(n / 2).min(32) {
        if (p..n).all(|i| s[i] == s[i - p]) {
            return true;
        }
    }
    let steps = s
        .windows(2)
        .filter(|w| w[1].wrapping_sub(w[0]) == 1 || w[0].wrapping_sub(w[1]) == 1)
        .count();
    steps * 2 > n
}

/// Lower-cased words that mark a value as an example or placeholder rather than a credential.
const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "changeme",
    "change_me",
    "change-me",
    "placeholder",
    "your-",
    "your_",
    "yourpass",
    "<your",
    "xxxxxx",
    "******",
    "redacted",
    "dummy",
    "sample",
    "insecure",
    "not-for-production",
    "notreal",
    "not_real",
    "replace",
    "fixme",
    "todo",
    "fake",
    "mysecret",
    "secret-here",
    "token-here",
    "key-here",
    "password-here",
    "put your",
    "0000000000",
];

/// Passwords that are defaults or documentation conventions, never a leaked credential.
const WEAK_DEFAULTS: &[&str] = &[
    "password",
    "passw0rd",
    "p@ssw0rd",
    "postgres",
    "root",
    "admin",
    "guest",
    "test",
    "testing",
    "secret",
    "example",
    "changeme",
    "default",
    "mysql",
    "redis",
    "user",
    "pass",
    "123456",
    "12345678",
    "qwerty",
    "letmein",
    "anonymous",
    "anonymous@",
    "none",
    "null",
    "true",
    "false",
    "ftp",
    "demo",
    "sa",
    "toor",
    "password123",
    "admin123",
    "dev",
    "development",
    "local",
    "localhost",
    "undefined",
    "empty",
];

/// True when the value contains a placeholder word (case-insensitive) or is a run of one symbol.
pub fn is_placeholder(v: &[u8]) -> bool {
    let lower = v.to_ascii_lowercase();
    if PLACEHOLDER_WORDS
        .iter()
        .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
    {
        return true;
    }
    if v.len() >= 3 && v.first() == Some(&b'<') && v.last() == Some(&b'>') {
        return true;
    }
    // `...`, `…` truncations
    memchr::memmem::find(v, b"...").is_some() || memchr::memmem::find(v, "…".as_bytes()).is_some()
}

/// True when the password is a default/documentation value (`postgres`, `guest`, `anonymous@`).
pub fn is_weak_default(v: &[u8]) -> bool {
    let lower = v.to_ascii_lowercase();
    WEAK_DEFAULTS.iter().any(|w| lower == w.as_bytes())
}

/// True when the value refers to a secret kept elsewhere instead of containing it:
/// `${VAR}`, `$VAR`, `{{ var }}`, `<%= ENV[...] %>`, `%(name)s`, `#{...}`, `!Ref`, `ENC[...]`
/// (SOPS), `vault:`/`arn:` references, `process.env.X`, `os.environ[...]`.
pub fn is_reference(v: &[u8]) -> bool {
    const STARTS: &[&[u8]] = &[
        b"$",
        b"<%",
        b"%(",
        b"#{",
        b"!Ref",
        b"!Sub",
        b"!GetAtt",
        b"ENC[",
        b"vault:",
        b"arn:",
        b"@Microsoft.KeyVault",
        b"process.env",
        b"os.environ",
        b"os.getenv",
        b"ENV[",
        b"ENV.",
        b"System.getenv",
        b"env(",
        b"secrets.",
        b"var.",
        b"local.",
        b"data.",
        b"module.",
        b"{{",
        b"%{",
        b"@@",
    ];
    const CONTAINS: &[&[u8]] = &[
        b"${",
        b"{{",
        b"}}",
        b"%(",
        b"resolve:",
        b"secretsmanager",
        b"keyvault",
    ];
    STARTS.iter().any(|s| v.starts_with(s))
        || CONTAINS
            .iter()
            .any(|s| memchr::memmem::find(v, s).is_some())
}

/// True when the value is a regular expression or format pattern, not a literal.
pub fn is_regexish(v: &[u8]) -> bool {
    const MARKS: &[&[u8]] = &[
        b"(?", b"[a-z", b"[A-Z", b"[0-9", b"\\d", b"\\s", b"\\w", b"]{", b"]+", b"]*", b")+",
        b")?", b"{0,", b"{1,", b"%s", b"%d",
    ];
    MARKS.iter().any(|m| memchr::memmem::find(v, m).is_some())
}

/// True for `8-4-4-4-12` hex UUIDs.
pub fn is_uuid(v: &[u8]) -> bool {
    if v.len() != 36 {
        return false;
    }
    v.iter().enumerate().all(|(i, &b)| match i {
        8 | 13 | 18 | 23 => b == b'-',
        _ => b.is_ascii_hexdigit(),
    })
}

/// True when every byte is a hex digit.
pub fn is_hex(v: &[u8]) -> bool {
    !v.is_empty() && v.iter().all(|b| b.is_ascii_hexdigit())
}

/// True when the value reads as words or a code path rather than random text: `acme.auth.token`,
/// `django-insecure-test-key`, `X-Api-Key`, `com.example.Foo`, `put your unique phrase here`.
pub fn is_wordlike(v: &[u8]) -> bool {
    let parts: Vec<&[u8]> = v
        .split(|b| matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b' '))
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return true;
    }
    let alpha_parts = parts
        .iter()
        .filter(|p| p.iter().all(|b| b.is_ascii_alphabetic()))
        .count();
    // every part alphabetic (words), or almost all of a multi-part value
    alpha_parts == parts.len() || (parts.len() >= 3 && alpha_parts + 1 >= parts.len())
}

/// True for a name written as an identifier: `DB_PASSWORD`, `apiKey`, `MAIL_PASSWORD`.
pub fn is_identifier(v: &[u8]) -> bool {
    !v.is_empty()
        && (v[0].is_ascii_alphabetic() || v[0] == b'_')
        && v.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        && !Classes::of(v).digit
}

/// Publicly documented credentials that appear in docs, SDKs and emulators. Matching them is
/// always a false positive.
const KNOWN_PUBLIC: &[&str] = &[
    // AWS documentation keys
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AKIAI44QH8DHBEXAMPLE",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    // Azurite / Azure Storage emulator account key (devstoreaccount1)
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
    // jwt.io's sample token signature (signed with "your-256-bit-secret")
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    // well-known digests of empty input
    "d41d8cd98f00b204e9800998ecf8427e",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
];

/// True when `v` contains a publicly documented example credential.
pub fn is_known_public(v: &[u8]) -> bool {
    KNOWN_PUBLIC
        .iter()
        .any(|k| memchr::memmem::find(v, k.as_bytes()).is_some())
}

/// A generic "does this look like a machine-generated secret" test for token-like values.
/// `min_len` is the shortest accepted value.
pub fn looks_random(v: &[u8], min_len: usize) -> bool {
    if v.len() < min_len || v.len() > 512 {
        return false;
    }
    if v.iter()
        .any(|b| b.is_ascii_whitespace() || !b.is_ascii_graphic())
    {
        return false;
    }
    if is_placeholder(v) || is_reference(v) || is_known_public(v) || is_periodic_or_sequential(v) {
        return false;
    }
    let c = Classes::of(v);
    if is_hex(v) {
        // hex keys: enough distinct digits and letters
        let distinct = distinct_count(v);
        return v.len() >= 16
            && distinct >= 10
            && c.digit
            && (c.lower || c.upper)
            && entropy(v) >= 3.0;
    }
    if is_uuid(v) {
        return true;
    }
    if is_wordlike(v) {
        return false;
    }
    let e = entropy(v);
    c.count() >= 3 && e >= 3.5 || (c.count() >= 2 && e >= 4.0 && v.len() >= 20)
}

/// Number of distinct bytes.
pub fn distinct_count(v: &[u8]) -> usize {
    let mut seen = [false; 256];
    v.iter()
        .filter(|&&b| !std::mem::replace(&mut seen[b as usize], true))
        .count()
}

/// A password-like value: not empty, not a default, not an identifier/number/path.
pub fn looks_like_password(v: &[u8]) -> bool {
    if v.len() < 6 || v.len() > 128 {
        return false;
    }
    if v.iter().any(|b| !b.is_ascii_graphic()) {
        return false;
    }
    if is_weak_default(v) || is_placeholder(v) || is_reference(v) || is_known_public(v) {
        return false;
    }
    if is_identifier(v)
        || v.iter()
            .all(|b| b.is_ascii_digit() || *b == b'.' || *b == b'-')
    {
        return false;
    }
    if v.starts_with(b"/") || v.starts_with(b"./") || v.starts_with(b"http") {
        return false;
    }
    if is_periodic_or_sequential(v) {
        return false;
    }
    let c = Classes::of(v);
    c.count() >= 2 && (c.digit || !is_wordlike(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_bounds() {
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"abcd") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn periodic_and_sequential() {
        assert!(is_periodic_or_sequential(b"0b0b0b0b0b0b0b0b"));
        assert!(is_periodic_or_sequential(
            b"0123456789abcdef0123456789abcdef"
        ));
        assert!(is_periodic_or_sequential(b"XXXXXXXXXXXXXXXX"));
        assert!(!is_periodic_or_sequential(
            b"a5c9fd48780fa801e59b7f5d57e3fd8d"
        ));
    }

    #[test]
    fn placeholders_and_references() {
        assert!(is_placeholder(b"<your-token>"));
        assert!(is_placeholder(b"sk-..."));
        assert!(is_placeholder(
            b"django-insecure-test-key-not-for-production"
        ));
        assert!(is_reference(b"${DB_PASSWORD}"));
        assert!(is_reference(b"{{ vault_ansible_password }}"));
        assert!(is_reference(b"ENC[AES256_GCM,data:abc]"));
        assert!(!is_reference(b"UIWEZff~xa5DTKnG.KsT5"));
    }

    #[test]
    fn password_shapes() {
        assert!(looks_like_password(b"M!ULiAVvrl-0lU"));
        assert!(looks_like_password(b"0d97bdf8-5df3-5a3e-0cc6-c4ad99eb16e3"));
        assert!(!looks_like_password(b"postgres"));
        assert!(!looks_like_password(b"DB_PASSWORD"));
        assert!(!looks_like_password(b"anonymous@"));
        assert!(!looks_like_password(b"12"));
        assert!(!looks_like_password(b"shop-db"));
    }

    #[test]
    fn random_shapes() {
        assert!(looks_random(b"a5c9fd48780fa801e59b7f5d57e3fd8d", 16));
        assert!(looks_random(
            b"rmSGndu71WiwuP0ZlR9hkUQmaUVMSrN8XV8hgJTg",
            16
        ));
        assert!(!looks_random(b"acme.auth.token", 8));
        assert!(!looks_random(b"X-Api-Key", 8));
        assert!(!looks_random(b"3.0.0.0", 4));
        assert!(!looks_random(b"0123456789abcdef0123456789abcdef", 16));
    }
}
