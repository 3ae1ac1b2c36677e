//! Count words, lines and bytes like `wc`.

/// Counts of a text.
#[derive(Debug, PartialEq, Eq)]
pub struct Counts {
    pub lines: usize,
    pub words: usize,
    pub bytes: usize,
}

/// Count lines, words and bytes of `text`.
pub fn count(text: &str) -> Counts {
    Counts { lines: text.lines().count(), words: text.split_whitespace().count(), bytes: text.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(count("a b\nc\n"), Counts { lines: 2, words: 3, bytes: 6 });
        assert_eq!(count(""), Counts { lines: 0, words: 0, bytes: 0 });
    }
}
