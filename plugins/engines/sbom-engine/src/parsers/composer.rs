//! `composer.lock`: `packages` (required) and `packages-dev` (dev), with `dist.shasum` (SHA-1)
//! when set, `license`, and `require` edges (platform requirements such as `php` and `ext-*`
//! are not packages and are skipped).

use std::collections::HashMap;

use serde_json::Value;

use super::Adder;
use crate::util::json_err_line;
use crate::{Ecosystem, HashAlg, Lockfile, Package, Scope};

/// Parse a composer.lock into `lf`.
pub fn parse(text: &str, lf: &mut Lockfile) {
    let doc: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return lf.malformed(json_err_line(&e), "composer.lock (JSON)", e),
    };
    let mut ad = Adder::new(lf, Ecosystem::Composer);
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut pending = Vec::new();
    for (section, scope) in [("packages", Scope::Required), ("packages-dev", Scope::Dev)] {
        let Some(arr) = doc.get(section).and_then(Value::as_array) else { continue };
        for p in arr {
            let (Some(name), Some(version)) = (p.get("name").and_then(Value::as_str), p.get("version").and_then(Value::as_str)) else {
                ad.lf.warn(None, "malformed", format!("an entry of `{section}` without name or version was skipped"));
                continue;
            };
            let mut pkg = Package { name: name.to_string(), version: Some(version.to_string()), scope, ..Default::default() };
            if let Some(sum) = p.get("dist").and_then(|d| d.get("shasum")).and_then(Value::as_str)
                && sum.len() == 40
                && sum.bytes().all(|b| b.is_ascii_hexdigit())
            {
                pkg.hashes.push((HashAlg::Sha1, sum.to_ascii_lowercase()));
            }
            if let Some(ls) = p.get("license").and_then(Value::as_array) {
                pkg.licenses = ls.iter().filter_map(Value::as_str).map(String::from).collect();
            }
            let i = ad.add(pkg);
            ad.root(i);
            by_name.insert(name.to_ascii_lowercase(), i);
            let reqs: Vec<String> = p.get("require").and_then(Value::as_object).map(|o| o.keys().cloned().collect()).unwrap_or_default();
            pending.push((i, reqs));
        }
    }
    let mut has_parent = vec![false; ad.lf.packages.len()];
    for (from, reqs) in pending {
        for r in reqs {
            if let Some(&to) = by_name.get(&r.to_ascii_lowercase()) {
                ad.edge(from, to);
                has_parent[to] = true;
            }
        }
    }
    // Direct dependencies: packages nothing else requires.
    ad.lf.roots.retain(|&i| !has_parent[i]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_and_dev() {
        let text = r#"{"packages":[{"name":"monolog/monolog","version":"2.9.1","license":["MIT"],"require":{"php":">=7.2","psr/log":"^1"},"dist":{"shasum":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}},{"name":"psr/log","version":"1.1.4"}],"packages-dev":[{"name":"phpunit/phpunit","version":"9.6.0"}]}"#;
        let mut lf = Lockfile::default();
        parse(text, &mut lf);
        assert_eq!(lf.packages.len(), 3);
        assert_eq!(lf.edges, vec![(0, 1)]);
        assert_eq!(lf.roots, vec![0, 2]);
        assert_eq!(lf.packages[2].scope, Scope::Dev);
        assert_eq!(lf.packages[0].licenses, vec!["MIT"]);
    }
}
