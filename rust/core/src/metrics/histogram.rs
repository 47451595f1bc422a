//! A latency histogram recorded with one relaxed atomic add per value and
//! read as percentiles: fixed log-linear buckets over nanoseconds, four per
//! power of two, so a percentile is within 25 % of the true value (and
//! never above the exact maximum, which is kept too). 252 buckets of
//! `AtomicU64`: 2 KiB, no allocation, no lock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Sub-buckets per power of two.
const SUB: u64 = 4;
/// Buckets: 0..4 exactly, then 4 per power of two up to 2^64.
pub(crate) const BUCKETS: usize = 252;

/// Percentiles of one histogram, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest value.
    pub max: f64,
}

/// Counts of values by bucket, with their sum and maximum.
pub(crate) struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum: AtomicU64,
    max: AtomicU64,
}

/// The bucket of `ns`.
fn bucket(ns: u64) -> usize {
    if ns < SUB {
        return ns as usize;
    }
    let exp = 63 - u64::from(ns.leading_zeros()); // >= 2
    let sub = (ns >> (exp - 2)) & (SUB - 1);
    (SUB * (exp - 1) + sub) as usize
}

/// The largest value bucket `i` holds.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let (exp, sub) = (i / SUB + 1, i % SUB);
    ((SUB + sub + 1) << (exp - 2)).wrapping_sub(1)
}

impl Histogram {
    pub(crate) const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    /// Count one value of `ns` nanoseconds.
    pub(crate) fn record(&self, ns: u64) {
        self.buckets[bucket(ns)].fetch_add(1, Relaxed);
        self.sum.fetch_add(ns, Relaxed);
        self.max.fetch_max(ns, Relaxed);
    }

    /// Values counted so far and their sum in nanoseconds; with `reset`,
    /// also start again from zero (values counted meanwhile go to one of
    /// the two intervals).
    pub(crate) fn read(&self, reset: bool) -> Snapshot {
        let take = |a: &AtomicU64| match reset {
            true => a.swap(0, Relaxed),
            false => a.load(Relaxed),
        };
        let mut buckets = [0u64; BUCKETS];
        for (to, from) in buckets.iter_mut().zip(&self.buckets) {
            *to = take(from);
        }
        Snapshot {
            count: buckets.iter().sum(),
            sum_ns: take(&self.sum),
            max_ns: take(&self.max),
            buckets,
        }
    }

    /// Zero every counter (in a forked child: only atomic stores).
    pub(crate) fn clear(&self) {
        for b in &self.buckets {
            b.store(0, Relaxed);
        }
        for a in [&self.sum, &self.max] {
            a.store(0, Relaxed);
        }
    }
}

/// A histogram as read.
#[derive(Clone)]
pub(crate) struct Snapshot {
    /// Values counted (the sum of the buckets).
    pub count: u64,
    pub sum_ns: u64,
    pub max_ns: u64,
    buckets: [u64; BUCKETS],
}

impl Snapshot {
    /// The value below which a fraction `q` of the values lie (the upper
    /// end of its bucket, at most the maximum), in nanoseconds.
    pub(crate) fn quantile_ns(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return upper(i).min(self.max_ns);
            }
        }
        self.max_ns
    }

    /// p50, p90, p99 and the maximum, in seconds.
    pub(crate) fn quantiles(&self) -> Quantiles {
        let s = |ns: u64| ns as f64 / 1e9;
        Quantiles {
            p50: s(self.quantile_ns(0.5)),
            p90: s(self.quantile_ns(0.9)),
            p99: s(self.quantile_ns(0.99)),
            max: s(self.max_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_falls_in_a_bucket_that_holds_it() {
        for ns in (0..5000).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let i = bucket(ns);
            assert!(i < BUCKETS, "{ns}");
            assert!(ns <= upper(i), "{ns} above bucket {i}");
            assert!(i == 0 || ns > upper(i - 1), "{ns} below bucket {i}");
        }
        assert_eq!(upper(BUCKETS - 1), u64::MAX);
    }

    #[test]
    fn percentiles_are_monotone_within_a_quarter_and_at_most_the_max() {
        let h = Histogram::new();
        for ns in 1..=1000u64 {
            h.record(ns * 1000);
        }
        let s = h.read(false);
        assert_eq!((s.count, s.max_ns), (1000, 1_000_000));
        let (p50, p90, p99) = (s.quantile_ns(0.5), s.quantile_ns(0.9), s.quantile_ns(0.99));
        assert!(p50 <= p90 && p90 <= p99 && p99 <= s.max_ns);
        for (got, want) in [(p50, 500_000.0), (p90, 900_000.0), (p99, 990_000.0)] {
            assert!(
                (got as f64) >= want && (got as f64) <= want * 1.25,
                "{got} vs {want}"
            );
        }
        let taken = h.read(true);
        assert_eq!(taken.count, 1000);
        assert_eq!(h.read(false).count, 0);
    }
}
