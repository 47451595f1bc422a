//! `s3dlio replay LOG... --target URI [--speed X] [--source PREFIX]`: a
//! job's logged I/O issued again against another store, on the logged
//! timeline, so the storage can be tested without the job.
//!
//! Every logged `file` URI is moved under `--target` by replacing the
//! source prefix (by default the longest prefix the logged URIs share, cut
//! back to a `/`). Each request starts at its logged offset from the first
//! one, divided by `--speed` (`0` or `max`: as soon as a slot is free);
//! up to `--jobs` are in flight. A request waits for the last earlier one
//! on the same object that had ended before it started in the log (a GET
//! after its PUT), so a faster-than-logged replay keeps the order the job
//! relied on. GET reads the whole object, GET_RANGE the logged number of
//! bytes from offset 0, PUT writes the logged number of bytes (a fixed
//! filler pattern), HEAD stats, DELETE deletes, LIST lists recursively;
//! PUT_PART lines are skipped (their PUT writes the whole object).
//!
//! A request that fails where the log has it succeed is a failure of the
//! replay (exit status 1); one that fails as it did in the log is not.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use s3dlio_core::{Error, Options, Result};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::oplog_read::{Op, Record};

/// How fast to replay: a factor of the logged pace, or as fast as possible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    Times(f64),
    Max,
}

/// `--speed`: a positive factor, or `0` / `max`.
pub fn parse_speed(s: &str) -> std::result::Result<Speed, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Speed::Max);
    }
    match s.parse::<f64>() {
        Ok(0.0) => Ok(Speed::Max),
        Ok(x) if x.is_finite() && x > 0.0 => Ok(Speed::Times(x)),
        _ => Err(format!(
            "{s:?} is not a speed (a positive factor, or 0 / max for as fast as possible)"
        )),
    }
}

/// The longest prefix every URI shares, cut back to just after a `/`.
pub fn common_prefix<'a>(uris: impl IntoIterator<Item = &'a str>) -> String {
    let mut uris = uris.into_iter();
    let Some(first) = uris.next() else {
        return String::new();
    };
    let mut len = first.len();
    for uri in uris {
        len = first
            .bytes()
            .zip(uri.bytes())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count();
    }
    let shared = &first[..len];
    match shared.rfind('/') {
        Some(i) => shared[..=i].to_owned(),
        None => String::new(),
    }
}

/// `uri` moved from under `source` to under `target`.
pub fn remap(uri: &str, source: &str, target: &str) -> Result<String> {
    let rest = uri.strip_prefix(source).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "replay: the logged URI {uri} is not under the source prefix {source}"
        ))
    })?;
    let rest = rest.trim_start_matches('/');
    Ok(format!("{}/{rest}", target.trim_end_matches('/')))
}

/// One request to replay.
struct Step {
    op: Op,
    uri: String,
    bytes: u64,
    /// Offset from the first logged start.
    at: Duration,
    /// The index of the step it waits for.
    after: Option<usize>,
    logged_error: bool,
}

/// The steps of `records` (sorted by start), and how many PUT_PART lines
/// were left out.
fn plan(records: &[Record], source: &str, target: &str) -> Result<(Vec<Step>, usize)> {
    let t0 = records.first().map_or(0, |r| r.start_ns);
    let mut steps: Vec<Step> = Vec::with_capacity(records.len());
    let mut ends: Vec<i128> = Vec::with_capacity(records.len());
    let mut on_object: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut parts = 0;
    for r in records {
        if r.op == Op::PutPart {
            parts += 1;
            continue;
        }
        let earlier = on_object.entry(&r.file).or_default();
        let after = earlier
            .iter()
            .rev()
            .copied()
            .filter(|&i| ends[i] <= r.start_ns)
            .max_by_key(|&i| ends[i]);
        earlier.push(steps.len());
        ends.push(r.end_ns);
        steps.push(Step {
            op: r.op,
            uri: remap(&r.file, source, target)?,
            bytes: r.bytes,
            at: Duration::from_nanos(u64::try_from(r.start_ns - t0).unwrap_or(0)),
            after,
            logged_error: !r.error.is_empty(),
        });
    }
    Ok((steps, parts))
}

/// A filler of `n` bytes: a fixed pattern, so replays write the same bytes.
fn filler(n: u64) -> Bytes {
    (0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into()
}

async fn issue(step: &Step, fill: &Bytes, options: &Options) -> Result<u64> {
    match step.op {
        Op::Get => s3dlio_core::get(&step.uri, options)
            .await
            .map(|b| b.len() as u64),
        Op::GetRange => s3dlio_core::get_range(&step.uri, 0, Some(step.bytes), options)
            .await
            .map(|b| b.len() as u64),
        Op::Put => {
            let len = usize::try_from(step.bytes).unwrap_or(usize::MAX);
            s3dlio_core::put(&step.uri, fill.slice(..len), options).await?;
            Ok(step.bytes)
        }
        Op::Head => s3dlio_core::stat(&step.uri, options).await.map(|_| 0),
        Op::Delete => s3dlio_core::delete(&step.uri, options).await.map(|_| 0),
        Op::List => s3dlio_core::list(&step.uri, true, options).await.map(|_| 0),
        Op::PutPart => Ok(0),
    }
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub requests: usize,
    pub skipped_parts: usize,
    /// Requests that failed where the log has them succeed.
    pub new_errors: usize,
    /// Requests that failed as they did in the log.
    pub logged_errors_repeated: usize,
    pub bytes: u64,
    pub logged_s: f64,
    pub replayed_s: f64,
    /// The most a request started after its scheduled time.
    pub late_max_s: f64,
    pub first_errors: Vec<String>,
}

impl Outcome {
    pub fn json(&self, source: &str, target: &str) -> serde_json::Value {
        serde_json::json!({
            "source": source,
            "target": target,
            "requests": self.requests,
            "skipped_put_parts": self.skipped_parts,
            "errors": self.new_errors,
            "logged_errors_repeated": self.logged_errors_repeated,
            "bytes": self.bytes,
            "logged_s": self.logged_s,
            "replayed_s": self.replayed_s,
            "late_max_s": self.late_max_s,
        })
    }

    pub fn line(&self) -> String {
        format!(
            "replayed {} requests ({} bytes) in {:.3} s (logged {:.3} s); {} errors, \
             {} logged errors repeated, {} PUT_PART lines skipped; at most {:.3} s late",
            self.requests,
            self.bytes,
            self.replayed_s,
            self.logged_s,
            self.new_errors,
            self.logged_errors_repeated,
            self.skipped_parts,
            self.late_max_s
        )
    }
}

/// Errors shown one per line; the rest are counted.
const ERRORS_SHOWN: usize = 10;

/// Replay `records` (sorted by start) from under `source` to under `target`.
pub async fn replay(
    records: &[Record],
    source: &str,
    target: &str,
    speed: Speed,
    jobs: usize,
    quiet: bool,
    options: &Options,
) -> Result<Outcome> {
    let (steps, skipped_parts) = plan(records, source, target)?;
    let logged_s = match (records.first(), records.iter().map(|r| r.end_ns).max()) {
        (Some(first), Some(last)) => (last - first.start_ns) as f64 / 1e9,
        _ => 0.0,
    };
    let fill = filler(
        steps
            .iter()
            .filter(|s| s.op == Op::Put)
            .map(|s| s.bytes)
            .max()
            .unwrap_or(0),
    );
    let bar = crate::output::count_progress(steps.len() as u64, "requests", quiet);
    // A completion signal only for the steps another one waits for.
    let mut waited = vec![false; steps.len()];
    for before in steps.iter().filter_map(|s| s.after) {
        waited[before] = true;
    }
    let done: Vec<Option<watch::Sender<bool>>> = waited
        .iter()
        .map(|&w| w.then(|| watch::channel(false).0))
        .collect();
    let mut outcome = Outcome {
        requests: steps.len(),
        skipped_parts,
        logged_s,
        ..Outcome::default()
    };
    let start = Instant::now();
    let mut results = futures::stream::iter(steps.iter().enumerate().map(|(i, step)| {
        let (done, fill, bar) = (&done, &fill, &bar);
        async move {
            if let Some(before) = step.after.and_then(|b| done[b].as_ref()) {
                let _ = before.subscribe().wait_for(|finished| *finished).await;
            }
            let due = match speed {
                Speed::Max => start,
                Speed::Times(x) => start + step.at.div_f64(x),
            };
            tokio::time::sleep_until(due).await;
            let late = Instant::now().saturating_duration_since(due);
            let result = issue(step, fill, options).await;
            if let Some(sender) = &done[i] {
                sender.send_replace(true);
            }
            bar.inc(1);
            (step, late, result)
        }
    }))
    .buffer_unordered(jobs.max(1));
    while let Some((step, late, result)) = results.next().await {
        outcome.late_max_s = outcome.late_max_s.max(late.as_secs_f64());
        match result {
            Ok(n) => outcome.bytes += n,
            Err(_) if step.logged_error => outcome.logged_errors_repeated += 1,
            Err(e) => {
                outcome.new_errors += 1;
                if outcome.first_errors.len() < ERRORS_SHOWN {
                    outcome.first_errors.push(format!(
                        "{} {}: {}",
                        step.op.log_name(),
                        step.uri,
                        e.full_message()
                    ));
                }
            }
        }
    }
    drop(results);
    outcome.replayed_s = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_parse() {
        assert_eq!(parse_speed("2"), Ok(Speed::Times(2.0)));
        assert_eq!(parse_speed("0.5"), Ok(Speed::Times(0.5)));
        assert_eq!(parse_speed("0"), Ok(Speed::Max));
        assert_eq!(parse_speed("MAX"), Ok(Speed::Max));
        for bad in ["-1", "nan", "inf", "fast", ""] {
            assert!(parse_speed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_source_prefix_is_cut_back_to_a_slash_and_remapped() {
        let uris = [
            "s3://b/train/a-1.bin",
            "s3://b/train/a-2.bin",
            "s3://b/train/sub/c",
        ];
        assert_eq!(common_prefix(uris), "s3://b/train/");
        assert_eq!(common_prefix(["s3://b/x"]), "s3://b/");
        assert_eq!(common_prefix(["s3://b/x", "az://c/x"]), "");
        let to = remap("s3://b/train/sub/c", "s3://b/train/", "file:///tmp/t/").unwrap();
        assert_eq!(to, "file:///tmp/t/sub/c");
        let err = remap("s3://other/x", "s3://b/train/", "file:///t").unwrap_err();
        assert!(err.to_string().contains("s3://other/x"), "{err}");
    }

    fn record(op: Op, file: &str, start: i128, end: i128) -> Record {
        Record {
            idx: 0,
            thread: 0,
            op,
            client_id: "s3dlio-1".to_owned(),
            n_objects: 1,
            bytes: 10,
            endpoint: "s3://b".to_owned(),
            file: file.to_owned(),
            error: String::new(),
            start_ns: start,
            first_byte_ns: None,
            end_ns: end,
            duration_ns: u64::try_from(end - start).unwrap(),
        }
    }

    #[test]
    fn a_request_waits_for_the_one_on_its_object_that_ended_before_it() {
        let records = [
            record(Op::Put, "s3://b/p/x", 100, 200),
            record(Op::PutPart, "s3://b/p/x", 110, 150),
            record(Op::Put, "s3://b/p/y", 120, 400),
            record(Op::Get, "s3://b/p/x", 250, 300),
            record(Op::Get, "s3://b/p/y", 300, 350), // overlaps its PUT in the log
            record(Op::Head, "s3://b/p/x", 500, 510),
        ];
        let (steps, parts) = plan(&records, "s3://b/p/", "file:///t").unwrap();
        assert_eq!(parts, 1);
        let after: Vec<_> = steps.iter().map(|s| s.after).collect();
        assert_eq!(after, [None, None, Some(0), None, Some(2)]);
        assert_eq!(steps[2].at, Duration::from_nanos(150));
        assert_eq!(steps[1].uri, "file:///t/y");
    }
}
