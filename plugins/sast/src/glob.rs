//! Path globs for `exclude:`: `*` (within a path segment), `**` (any number of segments), `?`.
//! A pattern matches a path, or any of its parent directories (`vendor` excludes `vendor/x.go`).

use regex::Regex;

/// A set of compiled globs.
pub struct GlobSet(Vec<Regex>);

impl GlobSet {
    /// Compile `patterns`; the error names the pattern that failed.
    pub fn new(patterns: impl IntoIterator<Item = String>) -> Result<GlobSet, String> {
        let mut out = Vec::new();
        for p in patterns {
            let p = p.trim().trim_start_matches("./").trim_end_matches('/');
            if p.is_empty() {
                return Err("an exclude pattern is empty".into());
            }
            out.push(Regex::new(&to_regex(p)).map_err(|e| format!("{p:?}: {e}"))?);
        }
        Ok(GlobSet(out))
    }

    /// Whether `path` (relative, `/`-separated) or one of its parent directories matches.
    pub fn matches(&self, path: &str) -> bool {
        let mut prefixes = vec![path];
        let mut i = path.len();
        while let Some(p) = path[..i].rfind('/') {
            prefixes.push(&path[..p]);
            i = p;
        }
        self.0
            .iter()
            .any(|re| prefixes.iter().any(|p| re.is_match(p)))
    }
}

fn to_regex(glob: &str) -> String {
    let mut re = String::from("^");
    let b: Vec<char> = glob.chars().collect();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            '*' if b.get(i + 1) == Some(&'*') => {
                if b.get(i + 2) == Some(&'/') {
                    re.push_str("(?:.*/)?");
                    i += 3;
                } else {
                    re.push_str(".*");
                    i += 2;
                }
                continue;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    re
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(p: &[&str]) -> GlobSet {
        GlobSet::new(p.iter().map(|s| s.to_string())).unwrap()
    }

    #[test]
    fn globs() {
        let s = set(&["vendor", "**/node_modules", "tests/*.py", "**/*.min.js"]);
        assert!(s.matches("vendor/a/b.go"));
        assert!(s.matches("web/node_modules/x/index.js"));
        assert!(s.matches("node_modules/x.js"));
        assert!(s.matches("tests/a.py"));
        assert!(!s.matches("tests/sub/a.py"));
        assert!(s.matches("static/app.min.js"));
        assert!(!s.matches("src/vendor.go"));
        assert!(!s.matches("src/app.js"));
        assert!(GlobSet::new(["".to_string()]).is_err());
    }
}
