//! What the local cache of remote objects did in this process: hits and
//! misses (and their bytes), entries written, reads that went through
//! uncached (an object over the budget, a full or failing disk), HEADs
//! made to validate a copy, and evictions. Relaxed atomics, zeroed in a
//! forked child like the rest of the metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// The counters, in the order of [`CacheMetrics`]'s fields.
static COUNTERS: [AtomicU64; 10] = [const { AtomicU64::new(0) }; 10];

const HITS: usize = 0;
const HIT_BYTES: usize = 1;
const MISSES: usize = 2;
const WRITES: usize = 3;
const WRITTEN_BYTES: usize = 4;
const READ_THROUGH: usize = 5;
const VALIDATIONS: usize = 6;
const STALE: usize = 7;
const EVICTIONS: usize = 8;
const EVICTED_BYTES: usize = 9;

fn add(counter: usize, n: u64) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: registers a handler that only stores to atomics.
    ONCE.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(clear_in_child));
    });
    COUNTERS[counter].fetch_add(n, Ordering::Relaxed);
}

/// A read served from the cache: `bytes` of it.
pub(crate) fn hit(bytes: u64) {
    add(HITS, 1);
    add(HIT_BYTES, bytes);
}

/// A read the cache could not serve (fetched from the store).
pub(crate) fn miss() {
    add(MISSES, 1);
}

/// An entry of `bytes` written.
pub(crate) fn written(bytes: u64) {
    add(WRITES, 1);
    add(WRITTEN_BYTES, bytes);
}

/// A miss that was not kept (over the budget, or the disk failed).
pub(crate) fn read_through() {
    add(READ_THROUGH, 1);
}

/// A HEAD made to check a cached copy; `stale` when it had changed.
pub(crate) fn validated(stale: bool) {
    add(VALIDATIONS, 1);
    if stale {
        add(STALE, 1);
    }
}

/// An entry of `bytes` evicted.
pub(crate) fn evicted(bytes: u64) {
    add(EVICTIONS, 1);
    add(EVICTED_BYTES, bytes);
}

/// Zero the counters: a forked child's start.
extern "C" fn clear_in_child() {
    for c in &COUNTERS {
        c.store(0, Ordering::Relaxed);
    }
}

/// What the cache did (see the module).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheMetrics {
    /// Reads served from the cache.
    pub hits: u64,
    /// Their bytes.
    pub hit_bytes: u64,
    /// Reads fetched from the store.
    pub misses: u64,
    /// Entries written.
    pub writes: u64,
    /// Their bytes.
    pub written_bytes: u64,
    /// Misses not kept: the object was over the budget or the disk failed.
    pub read_through: u64,
    /// HEADs made to check a copy.
    pub validations: u64,
    /// Checks that found the copy changed upstream.
    pub stale: u64,
    /// Entries evicted by this process.
    pub evictions: u64,
    /// Their bytes.
    pub evicted_bytes: u64,
}

impl CacheMetrics {
    /// Every counter by its name (the keys of `metrics()["cache"]`), with
    /// what it counts (the Prometheus help text).
    pub fn fields(&self) -> [(&'static str, u64, &'static str); 10] {
        [
            ("hits", self.hits, "reads served from the local cache"),
            (
                "hit_bytes",
                self.hit_bytes,
                "bytes served from the local cache",
            ),
            (
                "misses",
                self.misses,
                "reads the local cache fetched from the store",
            ),
            ("writes", self.writes, "objects kept in the local cache"),
            (
                "written_bytes",
                self.written_bytes,
                "bytes kept in the local cache",
            ),
            (
                "read_through",
                self.read_through,
                "misses not kept (over budget, disk failing)",
            ),
            (
                "validations",
                self.validations,
                "HEADs made to check a cached copy",
            ),
            ("stale", self.stale, "cached copies found changed upstream"),
            (
                "evictions",
                self.evictions,
                "entries evicted from the local cache",
            ),
            (
                "evicted_bytes",
                self.evicted_bytes,
                "bytes evicted from the local cache",
            ),
        ]
    }
}

/// The counters; with `reset`, zeroed after reading.
pub fn cache_snapshot(reset: bool) -> CacheMetrics {
    let read = |i: usize| match reset {
        true => COUNTERS[i].swap(0, Ordering::Relaxed),
        false => COUNTERS[i].load(Ordering::Relaxed),
    };
    CacheMetrics {
        hits: read(HITS),
        hit_bytes: read(HIT_BYTES),
        misses: read(MISSES),
        writes: read(WRITES),
        written_bytes: read(WRITTEN_BYTES),
        read_through: read(READ_THROUGH),
        validations: read(VALIDATIONS),
        stale: read(STALE),
        evictions: read(EVICTIONS),
        evicted_bytes: read(EVICTED_BYTES),
    }
}

/// The counters in the Prometheus text format (`s3dlio_cache_hits_total`, ...).
pub fn cache_prometheus_text() -> String {
    let mut out = String::new();
    for (name, value, help) in cache_snapshot(false).fields() {
        out.push_str(&format!(
            "# HELP s3dlio_cache_{name}_total {help}\n# TYPE s3dlio_cache_{name}_total counter\n\
             s3dlio_cache_{name}_total {value}\n"
        ));
    }
    out
}
