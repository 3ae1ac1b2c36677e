//! Shared helpers for the integration tests.
#![allow(dead_code)]

/// A tiny deterministic PRNG (xorshift64*), so tests need no extra crates.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A string of `len` characters drawn from `alphabet`.
    pub fn string_from(&mut self, alphabet: &[char], len: usize) -> String {
        (0..len).map(|_| *self.pick(alphabet)).collect()
    }

    /// Splits `data` into random chunks (some empty).
    pub fn chunks<'a>(&mut self, data: &'a [u8], max_chunk: usize) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let n = self.below(max_chunk + 1).min(rest.len());
            let (a, b) = rest.split_at(n);
            out.push(a);
            rest = b;
        }
        out
    }
}

/// Feeds `chunks` through a stream masker and returns everything emitted.
pub fn stream_all(masker: &kiln_secrets::Masker, chunks: &[&[u8]]) -> Vec<u8> {
    let mut s = masker.stream();
    let mut out = Vec::new();
    for c in chunks {
        out.extend(s.push(c));
        assert!(
            s.pending() < masker.max_pattern_len().max(1),
            "held back {} bytes with max pattern length {}",
            s.pending(),
            masker.max_pattern_len()
        );
    }
    out.extend(s.finish());
    out
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
