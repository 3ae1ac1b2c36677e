//! Package URLs (purl-spec / ECMA-427) for the ecosystems the engine reads.
//!
//! Rules applied per type:
//! * `npm`: a scoped name `@scope/name` becomes namespace `%40scope` + name; the name keeps the
//!   registry's spelling (legacy mixed-case names exist and resolve only as written).
//! * `pypi`: the name is normalised per PEP 503 (lower case, runs of `-_.` → `-`).
//! * `golang`: the module path is split at its last `/` into namespace and name, case kept.
//! * `cargo`, `gem`: the name as written; gem platforms other than `ruby` become `?platform=`.
//! * `composer`: `vendor/name` → namespace + name, lower case (Composer names are).
//!
//! Every segment is percent-encoded except RFC 3986 unreserved characters (and `:` in the
//! version, which purl allows bare); qualifiers are sorted by key.

use crate::{Ecosystem, Package};

/// Percent-encode one purl segment.
pub fn encode(s: &str, keep_colon: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || (keep_colon && b == b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// PEP 503 name normalisation.
pub fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Namespace (possibly empty) and name of a package in purl terms, not yet encoded.
pub fn split_name(eco: Ecosystem, name: &str) -> (Vec<String>, String) {
    match eco {
        Ecosystem::Npm => match name.strip_prefix('@').and_then(|r| r.split_once('/')) {
            Some((scope, n)) => (vec![format!("@{scope}")], n.to_string()),
            None => (vec![], name.to_string()),
        },
        Ecosystem::Pypi => (vec![], pep503(name)),
        Ecosystem::Golang => {
            let mut segs: Vec<String> = name.split('/').filter(|s| !s.is_empty()).map(String::from).collect();
            let n = segs.pop().unwrap_or_default();
            (segs, n)
        }
        Ecosystem::Composer => {
            let lower = name.to_ascii_lowercase();
            match lower.split_once('/') {
                Some((v, n)) => (vec![v.to_string()], n.to_string()),
                None => (vec![], lower),
            }
        }
        Ecosystem::Cargo | Ecosystem::Gem => (vec![], name.to_string()),
    }
}

/// The purl of `pkg`.
pub fn of(pkg: &Package) -> String {
    let eco = pkg.ecosystem.unwrap_or(Ecosystem::Npm);
    let (ns, name) = split_name(eco, &pkg.name);
    let mut s = format!("pkg:{}/", eco.purl_type());
    for seg in &ns {
        s.push_str(&encode(seg, false));
        s.push('/');
    }
    s.push_str(&encode(&name, false));
    if let Some(v) = &pkg.version {
        s.push('@');
        s.push_str(&encode(v, true));
    }
    if !pkg.qualifiers.is_empty() {
        let mut q: Vec<_> = pkg.qualifiers.iter().filter(|(_, v)| !v.is_empty()).collect();
        q.sort();
        q.dedup_by(|a, b| a.0 == b.0);
        for (i, (k, v)) in q.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(&k.to_ascii_lowercase());
            s.push('=');
            s.push_str(&encode(v, true).replace("%2F", "/"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(eco: Ecosystem, name: &str, v: &str) -> String {
        of(&Package {
            ecosystem: Some(eco),
            name: name.into(),
            version: Some(v.into()),
            ..Default::default()
        })
    }

    #[test]
    fn per_type_rules() {
        assert_eq!(p(Ecosystem::Npm, "@babel/core", "7.1.0"), "pkg:npm/%40babel/core@7.1.0");
        assert_eq!(p(Ecosystem::Npm, "lodash", "4.17.21"), "pkg:npm/lodash@4.17.21");
        assert_eq!(p(Ecosystem::Pypi, "Zope.Interface_x", "5.0"), "pkg:pypi/zope-interface-x@5.0");
        assert_eq!(
            p(Ecosystem::Golang, "github.com/IBM/sarama", "v1.60.1"),
            "pkg:golang/github.com/IBM/sarama@v1.60.1"
        );
        assert_eq!(p(Ecosystem::Cargo, "serde", "1.0.0+x"), "pkg:cargo/serde@1.0.0%2Bx");
        assert_eq!(p(Ecosystem::Composer, "Symfony/Console", "v6.0.0"), "pkg:composer/symfony/console@v6.0.0");
        let gem = of(&Package {
            ecosystem: Some(Ecosystem::Gem),
            name: "grpc".into(),
            version: Some("1.83.0".into()),
            qualifiers: vec![("platform".into(), "x86_64-linux-musl".into())],
            ..Default::default()
        });
        assert_eq!(gem, "pkg:gem/grpc@1.83.0?platform=x86_64-linux-musl");
    }

    #[test]
    fn no_version() {
        let s = of(&Package { ecosystem: Some(Ecosystem::Pypi), name: "triton".into(), ..Default::default() });
        assert_eq!(s, "pkg:pypi/triton");
    }
}
