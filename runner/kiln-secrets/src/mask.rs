//! [`Masker`]: replaces every secret value, and its common encodings, with
//! `***`.
//!
//! See the [crate documentation](crate#masking) for the list of encodings.

use std::collections::BTreeSet;
use std::fmt;

use aho_corasick::{AhoCorasick, Input, MatchKind};

pub use crate::encodings::{CASE_MIN_LEN, base32, base32_middle, base64_middle, variants};
use crate::resolve::Resolved;

/// What every masked occurrence is replaced with.
pub const MASK: &str = "***";

/// Secrets shorter than this many bytes are not masked by default (see
/// [`MaskerBuilder::min_len`]).
pub const DEFAULT_MIN_LEN: usize = 4;

/// The masking automaton could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MaskerError {
    /// Aho-Corasick refused the pattern set (far too many or too long secrets).
    #[error("cannot build the secret-masking automaton: {0}")]
    Build(String),
}

/// Masks secret values in text and bytes.
///
/// Build one with [`Masker::new`], [`Masker::from_resolved`] or
/// [`Masker::builder`]. Cloning is cheap (the automaton is shared).
/// `Debug` shows only counts, never patterns.
#[derive(Clone)]
pub struct Masker {
    ac: Option<AhoCorasick>,
    max_len: usize,
    patterns: usize,
    skipped: Vec<String>,
}

/// Collects secrets and options for a [`Masker`].
#[derive(Clone)]
pub struct MaskerBuilder {
    min_len: usize,
    secrets: Vec<(String, String)>,
}

impl Default for MaskerBuilder {
    fn default() -> Self {
        MaskerBuilder {
            min_len: DEFAULT_MIN_LEN,
            secrets: Vec::new(),
        }
    }
}

impl fmt::Debug for MaskerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaskerBuilder")
            .field("min_len", &self.min_len)
            .field(
                "secrets",
                &self
                    .secrets
                    .iter()
                    .map(|(label, _)| label)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl MaskerBuilder {
    /// Values shorter than `min_len` bytes are not masked (and a warning
    /// naming their label is logged). Clamped to at least 1.
    pub fn min_len(mut self, min_len: usize) -> Self {
        self.min_len = min_len.max(1);
        self
    }

    /// Adds a secret. `label` (e.g. the variable name) is only used in
    /// warnings; `value` is what gets masked.
    pub fn secret(mut self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.secrets.push((label.into(), value.into()));
        self
    }

    /// Builds the masker.
    pub fn build(self) -> Result<Masker, MaskerError> {
        let mut patterns: BTreeSet<Vec<u8>> = BTreeSet::new();
        let mut skipped = Vec::new();
        for (label, value) in &self.secrets {
            if value.is_empty() {
                continue;
            }
            if value.len() < self.min_len {
                tracing::warn!(
                    secret = %label,
                    min_len = self.min_len,
                    "secret value is too short to mask safely; it will NOT be masked in output"
                );
                skipped.push(label.clone());
                continue;
            }
            patterns.extend(variants(value, self.min_len));
        }
        let max_len = patterns.iter().map(Vec::len).max().unwrap_or(0);
        let count = patterns.len();
        let ac = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&patterns)
                    .map_err(|e| MaskerError::Build(e.to_string()))?,
            )
        };
        Ok(Masker {
            ac,
            max_len,
            patterns: count,
            skipped,
        })
    }
}

impl Masker {
    /// A builder with the default minimum length ([`DEFAULT_MIN_LEN`]).
    pub fn builder() -> MaskerBuilder {
        MaskerBuilder::default()
    }

    /// A masker for `values` with default options; warnings label them
    /// `secret #1`, `secret #2`, ...
    pub fn new<I, S>(values: I) -> Result<Masker, MaskerError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        values
            .into_iter()
            .enumerate()
            .fold(Masker::builder(), |b, (i, v)| {
                b.secret(format!("secret #{}", i + 1), v.as_ref())
            })
            .build()
    }

    /// A masker for every resolved value, labelled with its variable name.
    pub fn from_resolved(resolved: &[Resolved]) -> Result<Masker, MaskerError> {
        resolved
            .iter()
            .fold(Masker::builder(), |b, r| {
                b.secret(r.var.clone(), r.value.clone())
            })
            .build()
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.ac.is_none()
    }

    /// Number of distinct byte patterns searched for (values and encodings).
    pub fn pattern_count(&self) -> usize {
        self.patterns
    }

    /// Length in bytes of the longest pattern; a [`StreamMasker`](crate::StreamMasker)
    /// holds back at most one byte less than this.
    pub fn max_pattern_len(&self) -> usize {
        self.max_len
    }

    /// Labels of the secrets that were too short to be masked.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Masks `text`. Matches of UTF-8 patterns in UTF-8 text always fall on
    /// character boundaries, so the result is valid UTF-8.
    pub fn mask_str(&self, text: &str) -> String {
        match String::from_utf8(self.mask_bytes(text.as_bytes())) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    /// Masks arbitrary bytes.
    pub fn mask_bytes(&self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        self.mask_into(data, &mut out);
        out
    }

    /// Masks `data` and appends the result to `out`: [`Masker::mask_bytes`] without an
    /// allocation per call, for callers that mask many pieces (a build's output) into one
    /// reused buffer.
    pub fn mask_into(&self, data: &[u8], out: &mut Vec<u8>) {
        let mut state = ScanState::default();
        self.scan(data, &mut state, true, out);
    }

    /// A [`StreamMasker`](crate::StreamMasker) over this masker.
    pub fn stream(&self) -> crate::StreamMasker {
        crate::StreamMasker::new(self.clone())
    }

    /// Scans `buf` from the state's position, appending safe output to
    /// `out`.
    ///
    /// Overlapping and adjacent-overlapping matches are merged into one
    /// masked region: after a leftmost-longest match `[s, e)`, the search is
    /// repeated from `s + 1`, and any match starting before the region's end
    /// extends it. Unless `is_final`, only positions below
    /// `len - (max_len - 1)` are decided: every pattern starting there is
    /// complete in `buf`, so later bytes cannot change what matches there.
    pub(crate) fn scan(&self, buf: &[u8], st: &mut ScanState, is_final: bool, out: &mut Vec<u8>) {
        let len = buf.len();
        let Some(ac) = &self.ac else {
            out.extend_from_slice(&buf[st.emitted.min(len)..]);
            st.emitted = len;
            st.search_from = len;
            return;
        };
        let decided = if is_final {
            len
        } else {
            len.saturating_sub(self.max_len - 1)
        };
        let find = |from: usize| {
            if from >= len {
                return None;
            }
            ac.find(Input::new(buf).range(from..))
                .filter(|m| m.start() < decided)
        };
        loop {
            match st.active {
                Some(Active { end, probe }) => match find(probe) {
                    Some(m) if m.start() < end => {
                        st.active = Some(Active {
                            end: end.max(m.end()),
                            probe: m.start() + 1,
                        });
                    }
                    // The region cannot grow any more: either the next match
                    // starts after it, or nothing can start before its end.
                    found if found.is_some() || end <= decided => {
                        st.active = None;
                        st.emitted = end;
                        st.search_from = end;
                    }
                    _ => {
                        st.active = Some(Active {
                            end,
                            probe: probe.max(decided),
                        });
                        return;
                    }
                },
                None => match find(st.search_from) {
                    Some(m) => {
                        out.extend_from_slice(&buf[st.emitted..m.start()]);
                        out.extend_from_slice(MASK.as_bytes());
                        st.emitted = m.start();
                        st.active = Some(Active {
                            end: m.end(),
                            probe: m.start() + 1,
                        });
                    }
                    None => {
                        if decided > st.emitted {
                            out.extend_from_slice(&buf[st.emitted..decided]);
                            st.emitted = decided;
                        }
                        st.search_from = st.search_from.max(decided);
                        return;
                    }
                },
            }
        }
    }
}

/// Progress of a scan through a buffer (indices into that buffer).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ScanState {
    /// Bytes before this index have been emitted (raw or inside a mask).
    pub(crate) emitted: usize,
    /// Where the next search for a new region starts.
    pub(crate) search_from: usize,
    /// A masked region whose end is not decided yet.
    pub(crate) active: Option<Active>,
}

/// An open masked region; its `***` has already been emitted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Active {
    /// End of the region so far (exclusive).
    pub(crate) end: usize,
    /// Next position at which an overlapping match may start.
    pub(crate) probe: usize,
}

impl ScanState {
    /// Shifts every index down by `n` after the first `n` bytes of the
    /// buffer were dropped.
    pub(crate) fn shift(&mut self, n: usize) {
        self.emitted = self.emitted.saturating_sub(n);
        self.search_from = self.search_from.saturating_sub(n);
        if let Some(a) = &mut self.active {
            a.end -= n;
            a.probe -= n;
        }
    }

    /// How many leading buffer bytes are no longer needed.
    pub(crate) fn droppable(&self) -> usize {
        match self.active {
            Some(a) => a.probe,
            None => self.emitted.min(self.search_from),
        }
    }
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Masker")
            .field("patterns", &self.patterns)
            .field("max_pattern_len", &self.max_len)
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}
