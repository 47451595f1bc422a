//! What this process's requests did, per operation and scheme: requests,
//! payload bytes, errors (and of which kind), retries, throttling answers
//! (503/429), the most in flight at once, and histograms of the time to
//! the first byte and to the end. Kept at a cost the benchmarks cannot
//! see: a request is two `Instant::now()` and a dozen relaxed atomic adds
//! on a fixed table (no allocation, no lock); percentiles are computed
//! when read. Counted per process: a forked child starts from zero.
//!
//! One concern per file: `cache` (what the local cache did), [`busy`] (the time with requests in flight, for
//! this process and its forked children), [`histogram`] (the buckets), `op` (the
//! operations), `request` (timing
//! one request, and the retries the HTTP client reports for it),
//! `table` (the counters of every operation and scheme), `prometheus`
//! (the text format).

pub mod busy;
pub(crate) mod cache;
pub(crate) mod histogram;
mod op;
mod prometheus;
mod request;
mod table;

pub use cache::{cache_prometheus_text, cache_snapshot, CacheMetrics};
pub use histogram::Quantiles;
pub use op::Op;
pub use prometheus::prometheus_text;
pub use request::METRICS_ENV;
pub(crate) use request::{answered, attempt, carry, local, remote};
pub use table::{snapshot, OpMetrics};
