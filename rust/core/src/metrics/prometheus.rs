//! The metrics in the Prometheus text exposition format (version 0.0.4):
//! counters `s3dlio_requests_total`, `s3dlio_bytes_total`,
//! `s3dlio_errors_total` (also by `kind`), `s3dlio_retries_total`,
//! `s3dlio_throttled_total`, a gauge `s3dlio_in_flight_peak`, and
//! summaries `s3dlio_request_seconds` and `s3dlio_first_byte_seconds`
//! with quantiles 0.5, 0.9 and 0.99, each labelled by `op` and `scheme`.

use std::fmt::Write;

use super::histogram::Quantiles;
use super::table::{snapshot, OpMetrics};

/// A metric's name, help and value.
type Metric<T> = (&'static str, &'static str, fn(&OpMetrics) -> T);

/// Every metric so far, as Prometheus text.
pub fn prometheus_text() -> String {
    render(&snapshot(false))
}

fn render(all: &[OpMetrics]) -> String {
    let mut out = String::new();
    let labels = |m: &OpMetrics| format!("op=\"{}\",scheme=\"{}\"", m.op, m.scheme);
    let counters: [Metric<u64>; 5] = [
        ("s3dlio_requests_total", "Requests finished.", |m| {
            m.requests
        }),
        ("s3dlio_bytes_total", "Payload bytes moved.", |m| m.bytes),
        ("s3dlio_errors_total", "Requests that failed.", |m| m.errors),
        ("s3dlio_retries_total", "HTTP attempts retried.", |m| {
            m.retries
        }),
        ("s3dlio_throttled_total", "HTTP answers 503 or 429.", |m| {
            m.throttled
        }),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for m in all {
            let _ = writeln!(out, "{name}{{{}}} {}", labels(m), value(m));
        }
    }
    let name = "s3dlio_errors_by_kind_total";
    let _ = writeln!(out, "# HELP {name} Requests that failed, by kind of error.");
    let _ = writeln!(out, "# TYPE {name} counter");
    for m in all {
        for (kind, n) in &m.errors_by_kind {
            let _ = writeln!(out, "{name}{{{},kind=\"{kind}\"}} {n}", labels(m));
        }
    }
    let name = "s3dlio_in_flight_peak";
    let _ = writeln!(out, "# HELP {name} Most requests in flight at once.");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for m in all {
        let _ = writeln!(out, "{name}{{{}}} {}", labels(m), m.in_flight_peak);
    }
    let summaries: [Metric<Quantiles>; 2] = [
        (
            "s3dlio_request_seconds",
            "Time from start to end of a request.",
            |m| m.latency_s,
        ),
        (
            "s3dlio_first_byte_seconds",
            "Time from start to the first response.",
            |m| m.first_byte_s,
        ),
    ];
    for (name, help, value) in summaries {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} summary");
        for m in all {
            let q = value(m);
            for (at, v) in [("0.5", q.p50), ("0.9", q.p90), ("0.99", q.p99)] {
                let _ = writeln!(out, "{name}{{{},quantile=\"{at}\"}} {v:e}", labels(m));
            }
            if name == "s3dlio_request_seconds" {
                let _ = writeln!(out, "{name}_sum{{{}}} {:e}", labels(m), m.latency_sum_s);
                let _ = writeln!(out, "{name}_count{{{}}} {}", labels(m), m.requests);
            }
        }
    }
    out
}
