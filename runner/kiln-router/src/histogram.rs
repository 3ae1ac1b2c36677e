//! A fixed-bucket, log-linear latency histogram with lock-free recording.
//!
//! Values are microseconds. Below 64 µs every value has its own bucket; above, each power of two
//! is split into 32 equal sub-buckets, so a bucket's width is at most 1/32 (3.1 %) of its lower
//! bound: the same "two significant binary digits" idea as HdrHistogram, with a fixed layout so
//! that recording is one relaxed `fetch_add` on a pre-allocated array and two histograms (or a
//! histogram and an earlier copy of itself) subtract bucket by bucket. Values from 2^36 µs
//! (19 hours) up are clamped into the last bucket.
//!
//! Percentiles use the nearest-rank method (the smallest recorded value such that at least `q`
//! of all values are less than or equal to it) and report the highest value of that value's
//! bucket, so an estimate is never below the true percentile and at most 3.1 % above it.

use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two (2^SUB_BITS).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Values below this have a bucket each.
const LINEAR: u64 = 2 * SUB;
/// Largest exponent kept apart; larger values are clamped into the last bucket.
const MAX_EXP: u32 = 35;
/// Number of buckets: 64 exact ones, then 32 per exponent 6..=35.
pub(crate) const BUCKETS: usize = LINEAR as usize + (MAX_EXP as usize - SUB_BITS as usize) * SUB as usize;

/// The bucket a value (µs) falls into.
pub(crate) fn bucket_of(value: u64) -> usize {
    if value < LINEAR {
        return value as usize;
    }
    let exp = 63 - value.leading_zeros();
    if exp > MAX_EXP {
        return BUCKETS - 1;
    }
    let shift = exp - SUB_BITS;
    let sub = (value >> shift) - SUB;
    LINEAR as usize + (exp - SUB_BITS - 1) as usize * SUB as usize + sub as usize
}

/// The lowest and highest value (µs) of a bucket.
pub(crate) fn bucket_range(bucket: usize) -> (u64, u64) {
    let b = bucket as u64;
    if b < LINEAR {
        return (b, b);
    }
    let rel = b - LINEAR;
    let exp = (rel / SUB) as u32 + SUB_BITS + 1;
    let sub = rel % SUB;
    let shift = exp - SUB_BITS;
    let low = (SUB + sub) << shift;
    (low, low + (1u64 << shift) - 1)
}

/// The live histogram: recorded from any thread without locks.
pub(crate) struct AtomicHistogram {
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl AtomicHistogram {
    pub(crate) fn new() -> Self {
        AtomicHistogram { buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(), sum: AtomicU64::new(0) }
    }

    pub(crate) fn record(&self, micros: u64) {
        self.buckets[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(micros, Ordering::Relaxed);
    }

    /// Copies the current counts into `into` (dense, `BUCKETS` long) and returns the sum.
    pub(crate) fn read_into(&self, into: &mut [u64]) -> u64 {
        for (slot, bucket) in into.iter_mut().zip(self.buckets.iter()) {
            *slot = bucket.load(Ordering::Relaxed);
        }
        self.sum.load(Ordering::Relaxed)
    }
}

/// A histogram value: what a metrics window holds. Buckets are kept sparse (bucket index, count),
/// sorted by index, since a window usually touches a few dozen of the 1,024 buckets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    buckets: Vec<(u16, u64)>,
    count: u64,
    sum_micros: u64,
}

impl Histogram {
    /// Builds a histogram from values in microseconds (for tests and for callers that measure
    /// elsewhere and want the same percentile rules).
    pub fn from_micros(values: impl IntoIterator<Item = u64>) -> Self {
        let mut dense = vec![0u64; BUCKETS];
        let mut sum = 0u64;
        for v in values {
            dense[bucket_of(v)] += 1;
            sum = sum.saturating_add(v);
        }
        Self::from_dense(&dense, sum)
    }

    pub(crate) fn from_dense(dense: &[u64], sum_micros: u64) -> Self {
        let buckets: Vec<(u16, u64)> = dense.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| (i as u16, *c)).collect();
        let count = buckets.iter().map(|(_, c)| c).sum();
        Histogram { buckets, count, sum_micros }
    }

    /// Adds this histogram's counts into a dense array.
    pub(crate) fn add_to_dense(&self, dense: &mut [u64]) -> u64 {
        for (i, c) in &self.buckets {
            dense[*i as usize] += c;
        }
        self.sum_micros
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Mean in microseconds, `None` when empty.
    pub fn mean_micros(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_micros as f64 / self.count as f64)
    }

    /// The `q`-quantile (0.0..=1.0) in microseconds by nearest rank, reported as the highest
    /// value of its bucket; `None` when empty. `q` outside 0..=1 is clamped.
    pub fn quantile_micros(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, c) in &self.buckets {
            seen += c;
            if seen >= rank {
                return Some(bucket_range(*i as usize).1);
            }
        }
        self.buckets.last().map(|(i, _)| bucket_range(*i as usize).1)
    }

    /// The median (p50) in microseconds.
    pub fn p50_micros(&self) -> Option<u64> {
        self.quantile_micros(0.50)
    }

    /// The 90th percentile in microseconds.
    pub fn p90_micros(&self) -> Option<u64> {
        self.quantile_micros(0.90)
    }

    /// The 99th percentile in microseconds.
    pub fn p99_micros(&self) -> Option<u64> {
        self.quantile_micros(0.99)
    }

    /// The highest bucket's upper bound in microseconds (an upper bound of the maximum).
    pub fn max_micros(&self) -> Option<u64> {
        self.buckets.last().map(|(i, _)| bucket_range(*i as usize).1)
    }

    /// Non-empty buckets as (lowest µs, highest µs, count), in increasing order: for a caller that
    /// wants its own statistic (CloudWatch's `TM`, `PR`, ...).
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.buckets.iter().map(|(i, c)| {
            let (lo, hi) = bucket_range(*i as usize);
            (lo, hi, *c)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_once_and_in_order() {
        // Every bucket's range starts right after the previous one ends.
        let mut next = 0u64;
        for b in 0..BUCKETS {
            let (lo, hi) = bucket_range(b);
            assert_eq!(lo, next, "bucket {b}");
            assert!(hi >= lo);
            assert_eq!(bucket_of(lo), b);
            assert_eq!(bucket_of(hi), b);
            next = hi + 1;
        }
        assert_eq!(next, 1u64 << (MAX_EXP + 1));
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(BUCKETS, 1024);
    }

    #[test]
    fn relative_width_is_at_most_one_thirty_second() {
        for b in LINEAR as usize..BUCKETS {
            let (lo, hi) = bucket_range(b);
            assert!(((hi - lo + 1) as f64) / (lo as f64) <= 1.0 / 32.0 + 1e-12, "bucket {b}: {lo}..={hi}");
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        // 1..=100 µs: p50 is 50, p90 is 90, p99 is 99, all below 64 exact, above within 3.1 %.
        let h = Histogram::from_micros(1..=100);
        assert_eq!(h.count(), 100);
        assert_eq!(h.p50_micros(), Some(50));
        let p90 = h.p90_micros().unwrap();
        assert!((90..=92).contains(&p90), "{p90}");
        let p99 = h.p99_micros().unwrap();
        assert!((99..=101).contains(&p99), "{p99}");
        assert_eq!(h.quantile_micros(0.0), Some(1));
        assert_eq!(h.mean_micros(), Some(50.5));
        assert_eq!(Histogram::default().p50_micros(), None);
    }

    #[test]
    fn skewed_distribution() {
        // 900 fast (1 ms) and 100 slow (50 ms) requests: p50 and p90 are the fast value, p99 the slow one.
        let h = Histogram::from_micros(std::iter::repeat_n(1_000, 900).chain(std::iter::repeat_n(50_000, 100)));
        let p50 = h.p50_micros().unwrap();
        assert!((1_000..=1_032).contains(&p50), "{p50}");
        assert_eq!(h.p90_micros(), h.p50_micros());
        let p99 = h.p99_micros().unwrap();
        assert!((50_000..=51_600).contains(&p99), "{p99}");
    }

    #[test]
    fn atomic_histogram_reads_back_what_was_recorded() {
        let a = AtomicHistogram::new();
        for v in [3, 70, 70, 5_000] {
            a.record(v);
        }
        let mut dense = vec![0u64; BUCKETS];
        let sum = a.read_into(&mut dense);
        let h = Histogram::from_dense(&dense, sum);
        assert_eq!(h.count(), 4);
        assert_eq!(h, Histogram::from_micros([3, 70, 70, 5_000]));
    }
}
