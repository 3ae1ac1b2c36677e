//! Credentials in URLs: `scheme://user:password@host`, reported as
//! `database-url-with-password` for database and queue schemes and `basic-auth-in-url` for web
//! schemes. References, placeholders, default passwords and `password == user` are not reported.

use crate::decoy;

/// A credential in a URL (`scheme://user:password@host`): `(user, password, rule)` ranges.
pub fn url_credentials(
    line: &[u8],
    re: &regex::bytes::Regex,
) -> Vec<((usize, usize), &'static str)> {
    let mut out = Vec::new();
    for c in re.captures_iter(line) {
        let (Some(scheme), Some(user), Some(pass)) = (c.get(1), c.get(2), c.get(3)) else {
            continue;
        };
        let p = pass.as_bytes();
        let u = user.as_bytes();
        let odd = |x: &[u8]| {
            x.iter()
                .any(|b| matches!(b, b'\\' | b'[' | b']' | b'{' | b'}' | b'(' | b')'))
        };
        if p.len() < 4
            || odd(p)
            || odd(u)
            || p == u
            || decoy::is_reference(p)
            || decoy::is_reference(u)
            || decoy::is_weak_default(p)
            || decoy::is_placeholder(p)
            || decoy::is_known_public(p)
            || (p.starts_with(b"{") && p.ends_with(b"}"))
            || (p.starts_with(b"[") && p.ends_with(b"]"))
            || p.iter().all(|b| *b == b'*' || *b == b'x' || *b == b'X')
        {
            continue;
        }
        let s = scheme.as_bytes().to_ascii_lowercase();
        let web = matches!(
            s.as_slice(),
            b"http"
                | b"https"
                | b"ftp"
                | b"ftps"
                | b"git"
                | b"ssh"
                | b"svn"
                | b"sftp"
                | b"ws"
                | b"wss"
        );
        let rule = if web {
            "basic-auth-in-url"
        } else {
            "database-url-with-password"
        };
        out.push(((pass.start(), pass.end()), rule));
    }
    out
}

/// The regex for [`url_credentials`].
pub const URL_PATTERN: &str = r#"(?-u)\b([A-Za-z][A-Za-z0-9+.-]{1,30})://([^\s:/@"'<>`]{0,128}):([^\s/@"'<>`]{1,256})@[A-Za-z0-9\[\]_.-]"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_creds() {
        let re = regex::bytes::Regex::new(URL_PATTERN).unwrap();
        let hit = |s: &str| url_credentials(s.as_bytes(), &re).len();
        assert_eq!(hit("postgres://shop:fzjhcrwnGJo4wEkxt0f.@db:5432/shop"), 1);
        assert_eq!(hit("redis://:Pna2EFygOgeda9_neeMy@redis:6379/0"), 1);
        assert_eq!(hit("postgres://postgres:postgres@localhost:5432/shop"), 0);
        assert_eq!(hit("postgresql://{username}:{password}@{host}:5432/db"), 0);
        assert_eq!(
            hit("https://${PYPI_USER}:${PYPI_PASSWORD}@pypi.acme.internal/simple/"),
            0
        );
    }
}
