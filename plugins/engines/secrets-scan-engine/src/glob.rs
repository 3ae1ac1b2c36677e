//! Minimal glob matching for the `exclude:` setting (no dependencies, so it costs nothing in the
//! wasm component): `*` matches within one path segment, `**` any number of segments, `?` one
//! character. A pattern without `/` matches the file or directory name at any depth (as in
//! `.gitignore`); a pattern ending in `/` or `/**` excludes a whole directory.

/// True when the `/`-separated relative `path` matches `pattern`.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let pattern = pattern.trim_start_matches("./");
    let pattern = pattern
        .strip_suffix('/')
        .map(|p| format!("{p}/**"))
        .unwrap_or_else(|| pattern.to_string());
    let pat: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if pat.len() == 1 && pat[0] != "**" {
        // basename pattern: any segment (a matching directory excludes what is below it)
        return segs
            .iter()
            .any(|s| seg_match(pat[0].as_bytes(), s.as_bytes()));
    }
    match_segments(&pat, &segs) || (pat.last() != Some(&"**") && match_prefix_dir(&pat, &segs))
}

/// `dir/sub` also excludes everything below `dir/sub`.
fn match_prefix_dir(pat: &[&str], segs: &[&str]) -> bool {
    (1..segs.len()).any(|n| match_segments(pat, &segs[..n]))
}

fn match_segments(pat: &[&str], segs: &[&str]) -> bool {
    match pat.split_first() {
        None => segs.is_empty(),
        Some((&"**", rest)) => (0..=segs.len()).any(|i| match_segments(rest, &segs[i..])),
        Some((p, rest)) => segs.split_first().is_some_and(|(s, srest)| {
            seg_match(p.as_bytes(), s.as_bytes()) && match_segments(rest, srest)
        }),
    }
}

fn seg_match(p: &[u8], s: &[u8]) -> bool {
    // iterative wildcard matching with backtracking to the last `*`
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("*.lock", "a/b/Cargo.lock"));
        assert!(glob_match("node_modules", "web/node_modules/x/index.js"));
        assert!(glob_match("docs/**", "docs/a/b.md"));
        assert!(glob_match("docs/", "docs/a.md"));
        assert!(glob_match("src/**/*.test.js", "src/a/b/c.test.js"));
        assert!(glob_match("src/**/*.test.js", "src/c.test.js"));
        assert!(glob_match("tests/fixtures", "tests/fixtures/keys/id_rsa"));
        assert!(!glob_match("docs/**", "src/docs.md"));
        assert!(!glob_match("*.lock", "a/lockfile.txt"));
        assert!(glob_match("file?.txt", "file1.txt"));
    }
}
