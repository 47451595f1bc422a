//! `s3dlio stats LOG...`: a summary of op-logs per operation and overall:
//! requests, errors, bytes, the wall span (first start to last end), the
//! throughput over that span, and percentiles of the latency (duration)
//! and of the time to the first byte where the log has it.

use std::collections::BTreeMap;

use crate::oplog_read::{Op, Record};

/// Percentiles of a set of durations, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `ns` (sorted here); `None` when empty.
    fn of(mut ns: Vec<i128>) -> Option<Percentiles> {
        if ns.is_empty() {
            return None;
        }
        ns.sort_unstable();
        let at = |p: f64| {
            let rank = ((p / 100.0) * ns.len() as f64).ceil() as usize;
            ns[rank.clamp(1, ns.len()) - 1] as f64 / 1e9
        };
        Some(Percentiles {
            p50: at(50.0),
            p90: at(90.0),
            p99: at(99.0),
            max: *ns.last().expect("not empty") as f64 / 1e9,
        })
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({"p50": self.p50, "p90": self.p90, "p99": self.p99, "max": self.max})
    }
}

/// The summary of one operation (or of all).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub requests: u64,
    pub errors: u64,
    pub objects: u64,
    pub bytes: u64,
    pub span_s: f64,
    pub gb_per_s: f64,
    pub latency_s: Percentiles,
    pub first_byte_s: Option<Percentiles>,
}

impl Summary {
    /// The summary of `records` (not empty).
    pub fn of(records: &[&Record]) -> Summary {
        let first = records.iter().map(|r| r.start_ns).min().unwrap_or(0);
        let last = records.iter().map(|r| r.end_ns).max().unwrap_or(0);
        let span_s = (last - first) as f64 / 1e9;
        let bytes = records.iter().map(|r| r.bytes).sum::<u64>();
        let latency = records.iter().map(|r| i128::from(r.duration_ns)).collect();
        let first_byte = records
            .iter()
            .filter_map(|r| r.first_byte_ns.map(|t| t - r.start_ns))
            .collect();
        Summary {
            requests: records.len() as u64,
            errors: records.iter().filter(|r| !r.error.is_empty()).count() as u64,
            objects: records.iter().map(|r| r.n_objects).sum(),
            bytes,
            span_s,
            gb_per_s: if span_s > 0.0 {
                bytes as f64 / span_s / 1e9
            } else {
                0.0
            },
            latency_s: Percentiles::of(latency).expect("records are not empty"),
            first_byte_s: Percentiles::of(first_byte),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests,
            "errors": self.errors,
            "objects": self.objects,
            "bytes": self.bytes,
            "span_s": self.span_s,
            "gb_per_s": self.gb_per_s,
            "latency_s": self.latency_s.json(),
            "first_byte_s": self.first_byte_s.as_ref().map(Percentiles::json),
        })
    }
}

/// The summaries per operation (in [`Op::ALL`] order, only those logged)
/// and of all requests (`None` for an empty log).
pub fn summarize(records: &[Record]) -> (Vec<(Op, Summary)>, Option<Summary>) {
    let mut by_op: BTreeMap<Op, Vec<&Record>> = BTreeMap::new();
    for r in records {
        by_op.entry(r.op).or_default().push(r);
    }
    let per_op = by_op
        .iter()
        .map(|(op, rs)| (*op, Summary::of(rs)))
        .collect();
    let all: Vec<&Record> = records.iter().collect();
    let total = (!all.is_empty()).then(|| Summary::of(&all));
    (per_op, total)
}

/// The `--json` document.
pub fn json(records: &[Record], files: &[String]) -> serde_json::Value {
    let (per_op, total) = summarize(records);
    let ops: serde_json::Map<String, serde_json::Value> = per_op
        .iter()
        .map(|(op, s)| (op.log_name().to_owned(), s.json()))
        .collect();
    serde_json::json!({
        "files": files,
        "ops": ops,
        "total": total.as_ref().map(Summary::json),
    })
}

fn ms(s: f64) -> String {
    format!("{:.3}", s * 1e3)
}

/// The table `stats` prints: one row per operation, then `ALL`.
pub fn table(records: &[Record]) -> String {
    let (per_op, total) = summarize(records);
    let mut out = format!(
        "{:<10} {:>9} {:>7} {:>14} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
        "op",
        "requests",
        "errors",
        "bytes",
        "span_s",
        "GB/s",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
        "fb50_ms",
        "fb99_ms"
    );
    let rows = per_op
        .iter()
        .map(|(op, s)| (op.log_name(), s))
        .chain(total.iter().map(|s| ("ALL", s)));
    for (name, s) in rows {
        let (fb50, fb99) = match &s.first_byte_s {
            Some(p) => (ms(p.p50), ms(p.p99)),
            None => ("-".to_owned(), "-".to_owned()),
        };
        out += &format!(
            "{:<10} {:>9} {:>7} {:>14} {:>9.3} {:>8.3} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
            name,
            s.requests,
            s.errors,
            s.bytes,
            s.span_s,
            s.gb_per_s,
            ms(s.latency_s.p50),
            ms(s.latency_s.p90),
            ms(s.latency_s.p99),
            ms(s.latency_s.max),
            fb50,
            fb99
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(op: Op, start_ms: i128, dur_ms: u64, bytes: u64, error: &str) -> Record {
        Record {
            idx: 0,
            thread: 0,
            op,
            client_id: "s3dlio-1".to_owned(),
            n_objects: 1,
            bytes,
            endpoint: "file://".to_owned(),
            file: "file:///x".to_owned(),
            error: error.to_owned(),
            start_ns: start_ms * 1_000_000,
            first_byte_ns: (op == Op::Get).then_some(start_ms * 1_000_000 + 1_000_000),
            end_ns: (start_ms + i128::from(dur_ms)) * 1_000_000,
            duration_ns: dur_ms * 1_000_000,
        }
    }

    #[test]
    fn summaries_count_bytes_spans_and_percentiles() {
        // 100 GETs of 10 MB, 1..=100 ms long, started 10 ms apart: the
        // last ends at 990 + 100 ms.
        let mut records: Vec<Record> = (0..100)
            .map(|i| record(Op::Get, i * 10, i as u64 + 1, 10_000_000, ""))
            .collect();
        records.push(record(Op::Head, 0, 5, 0, "not found"));
        let (per_op, total) = summarize(&records);
        assert_eq!(per_op.len(), 2);
        let (op, get) = &per_op[0];
        assert_eq!(*op, Op::Get);
        assert_eq!(
            (get.requests, get.errors, get.bytes),
            (100, 0, 1_000_000_000)
        );
        assert!((get.span_s - 1.09).abs() < 1e-9, "{}", get.span_s);
        assert!((get.gb_per_s - 1.0 / 1.09).abs() < 1e-9);
        let l = &get.latency_s;
        assert_eq!((l.p50, l.p90, l.p99, l.max), (0.05, 0.09, 0.099, 0.1));
        assert_eq!(get.first_byte_s.as_ref().unwrap().p99, 0.001);
        let (_, head) = &per_op[1];
        assert_eq!(
            (head.errors, head.bytes, head.first_byte_s.clone()),
            (1, 0, None)
        );
        let total = total.unwrap();
        assert_eq!((total.requests, total.errors), (101, 1));
        let text = table(&records);
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.lines().nth(3).unwrap().starts_with("ALL "));
        let doc = json(&records, &["ops.tsv".to_owned()]);
        assert_eq!(doc["ops"]["GET"]["latency_s"]["p90"], 0.09);
        assert_eq!(doc["total"]["requests"], 101);
        assert_eq!(summarize(&[]).1, None);
    }
}
