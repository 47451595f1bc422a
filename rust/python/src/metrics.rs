//! `metrics`, `metrics_prometheus`, `start_oplog` and `stop_oplog`: what
//! this process's requests did, and the log of every request.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::to_pyerr;

fn quantiles<'py>(
    py: Python<'py>,
    q: s3dlio_core::metrics::Quantiles,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("p50", q.p50)?;
    d.set_item("p90", q.p90)?;
    d.set_item("p99", q.p99)?;
    d.set_item("max", q.max)?;
    Ok(d)
}

/// `{op: {scheme: {...}}}` for every operation and scheme with requests,
/// `"oplog"`: what the operation log has written, `"cache"`: what the
/// local cache did (hits, misses, writes, read-throughs, validations,
/// evictions), and `"storage"`: the
/// seconds this process had a request in flight (`busy_s`) and the same
/// summed over it and the processes forked from it (`busy_tree_s`, never
/// reset). With `reset`, the counters start a new interval.
#[pyfunction]
#[pyo3(signature = (reset = false))]
pub fn metrics(py: Python<'_>, reset: bool) -> PyResult<Bound<'_, PyDict>> {
    let all = PyDict::new(py);
    for m in s3dlio_core::metrics::snapshot(reset) {
        let by_scheme = match all.get_item(m.op)? {
            Some(d) => d.cast_into::<PyDict>()?,
            None => {
                let d = PyDict::new(py);
                all.set_item(m.op, &d)?;
                d
            }
        };
        let d = PyDict::new(py);
        d.set_item("requests", m.requests)?;
        d.set_item("bytes", m.bytes)?;
        d.set_item("errors", m.errors)?;
        d.set_item("retries", m.retries)?;
        d.set_item("throttled", m.throttled)?;
        d.set_item("in_flight_peak", m.in_flight_peak)?;
        let kinds = PyDict::new(py);
        for (kind, n) in &m.errors_by_kind {
            kinds.set_item(kind, n)?;
        }
        d.set_item("errors_by_kind", kinds)?;
        d.set_item("latency_s", quantiles(py, m.latency_s)?)?;
        d.set_item("first_byte_s", quantiles(py, m.first_byte_s)?)?;
        by_scheme.set_item(m.scheme, d)?;
    }
    let log = PyDict::new(py);
    let stats = s3dlio_core::oplog::stats().unwrap_or_default();
    let path = (!stats.path.is_empty()).then_some(stats.path);
    log.set_item("path", path)?;
    log.set_item("lines", stats.lines)?;
    log.set_item("dropped", stats.dropped)?;
    log.set_item("active", stats.active)?;
    log.set_item("error", stats.error)?;
    all.set_item("oplog", log)?;
    let storage = PyDict::new(py);
    storage.set_item("busy_s", s3dlio_core::metrics::busy::process_busy_s(reset))?;
    storage.set_item("busy_tree_s", s3dlio_core::metrics::busy::tree_busy_s())?;
    all.set_item("storage", storage)?;
    all.set_item("endpoints", endpoints(py, reset)?)?;
    all.set_item("cache", cache(py, reset)?)?;
    Ok(all)
}

/// What the local cache of remote objects did (`S3DLIO_CACHE_DIR`).
fn cache(py: Python<'_>, reset: bool) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (name, value, _) in s3dlio_core::metrics::cache_snapshot(reset).fields() {
        d.set_item(name, value)?;
    }
    Ok(d)
}

/// `{endpoint: {bucket: {...}}}`: each lane's attempts and limiter.
fn endpoints(py: Python<'_>, reset: bool) -> PyResult<Bound<'_, PyDict>> {
    let all = PyDict::new(py);
    for lane in s3dlio_core::lane_metrics(reset) {
        let by_bucket = match all.get_item(&lane.endpoint)? {
            Some(d) => d.cast_into::<PyDict>()?,
            None => {
                let d = PyDict::new(py);
                all.set_item(&lane.endpoint, &d)?;
                d
            }
        };
        let d = PyDict::new(py);
        d.set_item("attempts", lane.attempts)?;
        d.set_item("throttled", lane.throttled)?;
        d.set_item("unreachable", lane.unreachable)?;
        let limiter = lane.limiter;
        d.set_item("limit", limiter.limit)?;
        d.set_item("in_flight", limiter.in_flight)?;
        d.set_item("in_flight_peak", limiter.in_flight_peak)?;
        d.set_item("limit_cuts", limiter.cuts)?;
        d.set_item("lowest_limit", limiter.lowest_limit)?;
        d.set_item("spacing_s", limiter.spacing_s)?;
        by_bucket.set_item(&lane.bucket, d)?;
    }
    Ok(all)
}

/// The metrics in the Prometheus text format.
#[pyfunction]
pub fn metrics_prometheus() -> String {
    s3dlio_core::metrics::prometheus_text()
        + &s3dlio_core::lane_prometheus_text()
        + &s3dlio_core::metrics::cache_prometheus_text()
}

/// Log every request of this process to `path` (`.zst`: compressed), and
/// of its child processes to `path.<pid>`.
#[pyfunction]
pub fn start_oplog(py: Python<'_>, path: &str) -> PyResult<()> {
    py.detach(|| s3dlio_core::oplog::start(path))
        .map_err(to_pyerr)
}

/// Stop the log: every line accepted is written and the file closed.
#[pyfunction]
pub fn stop_oplog(py: Python<'_>) {
    py.detach(|| {
        s3dlio_core::oplog::stop();
    });
}
