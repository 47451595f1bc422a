//! Lanes: the requests of this process to one endpoint (`scheme://host:port`)
//! for one bucket (or container), each lane with its attempts counted and
//! its own adaptive [`Limiter`]. The store throttles per bucket and front
//! end, so every client of the process that reaches the same lane shares
//! it. Per process: a forked child (a DataLoader worker) starts with none.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use super::limiter::{Limiter, LimiterState};
use crate::process::{per_process, Stamped};

/// One endpoint and bucket.
#[derive(Debug)]
pub struct Lane {
    endpoint: String,
    pub(super) limiter: Arc<Limiter>,
    attempts: AtomicU64,
    throttled: AtomicU64,
    unreachable: AtomicU64,
}

impl Lane {
    /// `scheme://host:port`.
    pub(super) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(super) fn attempted(&self) {
        self.attempts.fetch_add(1, Relaxed);
    }

    pub(super) fn throttled(&self) {
        self.throttled.fetch_add(1, Relaxed);
    }

    pub(super) fn unreachable(&self) {
        self.unreachable.fetch_add(1, Relaxed);
    }
}

/// What one lane did (see [`snapshot`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LaneMetrics {
    /// `scheme://host:port`.
    pub endpoint: String,
    /// The bucket or container (empty for a request of no bucket).
    pub bucket: String,
    /// HTTP attempts sent (retries included).
    pub attempts: u64,
    /// 503 and 429 answers.
    pub throttled: u64,
    /// Attempts that could not connect.
    pub unreachable: u64,
    /// Its limiter now.
    pub limiter: LimiterState,
}

type Lanes = Mutex<HashMap<(String, String), Arc<Lane>>>;

static LANES: AtomicPtr<Stamped<Lanes>> = AtomicPtr::new(std::ptr::null_mut());

fn lanes() -> &'static Lanes {
    per_process(&LANES, Lanes::default, drop)
}

/// The lane of `endpoint` and `bucket`, made on first use.
pub(super) fn lane(endpoint: String, bucket: &str) -> Arc<Lane> {
    let mut lanes = lanes().lock().unwrap_or_else(PoisonError::into_inner);
    let key = (endpoint, bucket.to_owned());
    let lane = Lane {
        endpoint: key.0.clone(),
        limiter: Arc::default(),
        attempts: AtomicU64::new(0),
        throttled: AtomicU64::new(0),
        unreachable: AtomicU64::new(0),
    };
    lanes.entry(key).or_insert_with(|| Arc::new(lane)).clone()
}

/// Every lane of this process, sorted; with `reset`, their counters start
/// again from zero (limits are kept: they describe the store, not an
/// interval).
pub fn snapshot(reset: bool) -> Vec<LaneMetrics> {
    let lanes = lanes().lock().unwrap_or_else(PoisonError::into_inner);
    let take = |n: &AtomicU64| match reset {
        true => n.swap(0, Relaxed),
        false => n.load(Relaxed),
    };
    let mut all: Vec<LaneMetrics> = lanes
        .iter()
        .map(|((endpoint, bucket), lane)| LaneMetrics {
            endpoint: endpoint.clone(),
            bucket: bucket.clone(),
            attempts: take(&lane.attempts),
            throttled: take(&lane.throttled),
            unreachable: take(&lane.unreachable),
            limiter: lane.limiter.state(),
        })
        .collect();
    all.sort_by(|a, b| (&a.endpoint, &a.bucket).cmp(&(&b.endpoint, &b.bucket)));
    all
}

/// The lanes in the Prometheus text format: counters
/// `s3dlio_endpoint_attempts_total`, `s3dlio_endpoint_throttled_total` and
/// `s3dlio_endpoint_unreachable_total`, gauges `s3dlio_endpoint_in_flight`
/// and `s3dlio_endpoint_limit` (only for a lane that is limited now), each
/// labelled by `endpoint` and `bucket`.
pub fn prometheus_text() -> String {
    let all = snapshot(false);
    let mut out = String::new();
    let escape = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let labels = |l: &LaneMetrics| {
        format!(
            "endpoint=\"{}\",bucket=\"{}\"",
            escape(&l.endpoint),
            escape(&l.bucket)
        )
    };
    type Value = fn(&LaneMetrics) -> Option<u64>;
    let metrics: [(&str, &str, &str, Value); 5] = [
        (
            "s3dlio_endpoint_attempts_total",
            "counter",
            "HTTP attempts sent.",
            |l| Some(l.attempts),
        ),
        (
            "s3dlio_endpoint_throttled_total",
            "counter",
            "Answers 503 or 429.",
            |l| Some(l.throttled),
        ),
        (
            "s3dlio_endpoint_unreachable_total",
            "counter",
            "Connects refused.",
            |l| Some(l.unreachable),
        ),
        (
            "s3dlio_endpoint_in_flight",
            "gauge",
            "Requests in flight now.",
            |l| Some(l.limiter.in_flight as u64),
        ),
        (
            "s3dlio_endpoint_limit",
            "gauge",
            "Requests allowed in flight (limited lanes).",
            |l| l.limiter.limit.map(|n| n as u64),
        ),
    ];
    for (name, kind, help, value) in metrics {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for lane in &all {
            if let Some(v) = value(lane) {
                let _ = writeln!(out, "{name}{{{}}} {v}", labels(lane));
            }
        }
    }
    out
}
