//! The counters of every operation on every scheme: one fixed table of
//! relaxed atomics, zeroed in a forked child.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Once;

use super::histogram::{Histogram, Quantiles};
use super::op::Op;

use crate::error::Error;
use crate::uri::Scheme;

/// Schemes in table order.
pub(super) const SCHEMES: [Scheme; 5] = [
    Scheme::File,
    Scheme::Direct,
    Scheme::S3,
    Scheme::Azure,
    Scheme::Gcs,
];

/// Kinds of error, by the core's error type, in table order.
const KINDS: [&str; 16] = [
    "invalid_uri",
    "unsupported",
    "not_found",
    "permission_denied",
    "invalid_range",
    "invalid_argument",
    "memory",
    "size_mismatch",
    "truncated",
    "direct_io_unsupported",
    "checksum",
    "checkpoint",
    "format",
    "io",
    "backend",
    "other",
];

/// The kind of `err`, as an index into [`KINDS`].
pub(super) fn kind(err: &Error) -> usize {
    match err {
        Error::InvalidUri { .. } => 0,
        Error::Unsupported { .. } => 1,
        Error::NotFound { .. } => 2,
        Error::PermissionDenied { .. } => 3,
        Error::InvalidRange { .. } => 4,
        Error::InvalidArgument(_) => 5,
        Error::Memory { .. } => 6,
        Error::SizeMismatch { .. } => 7,
        Error::Truncated { .. } => 8,
        Error::DirectIoUnsupported { .. } => 9,
        Error::Checksum { .. } => 10,
        Error::Checkpoint { .. } => 11,
        Error::Format { .. } => 12,
        Error::Io { .. } => 13,
        Error::Backend { .. } => 14,
        #[allow(unreachable_patterns)]
        _ => 15,
    }
}

/// The counters of one operation on one scheme.
pub(super) struct Cell {
    pub(super) requests: AtomicU64,
    pub(super) bytes: AtomicU64,
    pub(super) errors: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) throttled: AtomicU64,
    pub(super) in_flight: AtomicU64,
    pub(super) in_flight_peak: AtomicU64,
    pub(super) by_kind: [AtomicU64; KINDS.len()],
    pub(super) latency: Histogram,
    pub(super) first_byte: Histogram,
}

impl Cell {
    const fn new() -> Self {
        Self {
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            in_flight_peak: AtomicU64::new(0),
            by_kind: [const { AtomicU64::new(0) }; KINDS.len()],
            latency: Histogram::new(),
            first_byte: Histogram::new(),
        }
    }

    fn clear(&self) {
        for a in [
            &self.requests,
            &self.bytes,
            &self.errors,
            &self.retries,
            &self.throttled,
            &self.in_flight,
            &self.in_flight_peak,
        ] {
            a.store(0, Relaxed);
        }
        for a in &self.by_kind {
            a.store(0, Relaxed);
        }
        self.latency.clear();
        self.first_byte.clear();
    }
}

static TABLE: [[Cell; SCHEMES.len()]; Op::ALL.len()] =
    [const { [const { Cell::new() }; SCHEMES.len()] }; Op::ALL.len()];

pub(super) fn cell(op: Op, scheme: usize) -> &'static Cell {
    &TABLE[op as usize][scheme]
}

/// Zeroes the table; registered to run in every forked child.
extern "C" fn clear_in_child() {
    for row in &TABLE {
        for cell in row {
            cell.clear();
        }
    }
}

/// Register [`clear_in_child`] (once, before anything is counted).
pub(super) fn register_fork_handler() {
    static ONCE: Once = Once::new();
    // SAFETY: registers a handler that only stores to atomics.
    ONCE.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(clear_in_child));
    });
}

/// What one operation on one scheme did (see [`snapshot`]).
#[derive(Clone, Debug)]
pub struct OpMetrics {
    /// `get`, `get_range`, `put`, `put_part`, `list`, `head` or `delete`.
    pub op: &'static str,
    /// `file`, `direct`, `s3`, `az` or `gs`.
    pub scheme: &'static str,
    /// Requests finished (with or without an error).
    pub requests: u64,
    /// Payload bytes moved by the requests that succeeded.
    pub bytes: u64,
    /// Requests that ended in an error.
    pub errors: u64,
    /// Those errors by kind (only kinds seen).
    pub errors_by_kind: Vec<(&'static str, u64)>,
    /// HTTP attempts that repeated one already made for the same request.
    pub retries: u64,
    /// HTTP answers 503 or 429.
    pub throttled: u64,
    /// The most requests of this kind in flight at once.
    pub in_flight_peak: u64,
    /// Time from start to end.
    pub latency_s: Quantiles,
    /// Time from start to the first response (remote requests only).
    pub first_byte_s: Quantiles,
    /// Sum of the latencies, seconds (for the Prometheus summary).
    pub latency_sum_s: f64,
}

/// What every (operation, scheme) with a request so far did; with `reset`,
/// the counters start again from zero (a new interval), except the
/// requests now in flight.
pub fn snapshot(reset: bool) -> Vec<OpMetrics> {
    let mut all = Vec::new();
    for op in Op::ALL {
        for (i, scheme) in SCHEMES.iter().enumerate() {
            let c = cell(op, i);
            let take = |a: &AtomicU64| match reset {
                true => a.swap(0, Relaxed),
                false => a.load(Relaxed),
            };
            let requests = take(&c.requests);
            let peak = match reset {
                true => c.in_flight_peak.swap(c.in_flight.load(Relaxed), Relaxed),
                false => c.in_flight_peak.load(Relaxed),
            };
            let latency = c.latency.read(reset);
            let first_byte = c.first_byte.read(reset);
            let (bytes, errors) = (take(&c.bytes), take(&c.errors));
            let (retries, throttled) = (take(&c.retries), take(&c.throttled));
            let errors_by_kind = KINDS
                .iter()
                .zip(&c.by_kind)
                .map(|(k, n)| (*k, take(n)))
                .filter(|(_, n)| *n > 0)
                .collect();
            if requests == 0 && peak == 0 {
                continue;
            }
            all.push(OpMetrics {
                op: op.name(),
                scheme: scheme.as_str(),
                requests,
                bytes,
                errors,
                errors_by_kind,
                retries,
                throttled,
                in_flight_peak: peak,
                latency_s: latency.quantiles(),
                first_byte_s: first_byte.quantiles(),
                latency_sum_s: latency.sum_ns as f64 / 1e9,
            });
        }
    }
    all
}
