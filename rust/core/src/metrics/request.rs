//! Timing one request and counting it in the table when it ends, and
//! handing it to the operation log when that is on.
//!
//! A remote request runs in a scope ([`remote`]) that the HTTP client sees
//! from inside ([`attempt`], [`answered`]: object_store retries by calling
//! the connector again, so every attempt passes there, over plain HTTP and
//! HTTPS alike): an attempt that repeats one already made for the same
//! request (same method, path, query and range) is a retry, a 503 or 429
//! answer is throttling, and the first answer that is not an error marks
//! the time to first byte. Parts of one request that run as tasks of their
//! own carry its scope ([`carry`]).
//!
//! `S3DLIO_METRICS=false` (read once per process) skips all of it while
//! the operation log is off: what the overhead benchmark measures against.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use super::busy;
use super::op::Op;
use super::table::{cell, kind, register_fork_handler, SCHEMES};
use crate::error::{Error, Result};
use crate::oplog;

/// Environment variable: `false` (`0`, `no`, `off`) stops the counting.
pub const METRICS_ENV: &str = "S3DLIO_METRICS";

/// Whether requests are timed and counted: unless `S3DLIO_METRICS` says
/// not to, and always while the operation log is on (it uses the timing).
fn counting() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    let on = *ON.get_or_init(|| {
        crate::options::Options::from_env()
            .bool(&METRICS_ENV.to_ascii_lowercase())
            .ok()
            .flatten()
            .unwrap_or(true)
    });
    on || oplog::on()
}

/// The table column of the scheme `uri` names (its text before `://`,
/// any case); unknown ones count as `file`.
fn scheme_index(uri: &str) -> usize {
    let name = uri.split_once("://").map_or("", |(s, _)| s);
    SCHEMES
        .iter()
        .position(|s| s.as_str().eq_ignore_ascii_case(name))
        .unwrap_or(0)
}

/// What the HTTP client saw of one remote request.
#[derive(Default)]
pub(crate) struct Attempts {
    retries: AtomicU64,
    throttled: AtomicU64,
    /// Keys of the attempts made (see [`attempt`]).
    seen: Mutex<Vec<u64>>,
    first_byte: OnceLock<Instant>,
    /// `scheme://host:port` of the first attempt (kept for the log only).
    endpoint: OnceLock<String>,
}

tokio::task_local! {
    static CURRENT: Arc<Attempts>;
}

/// One attempt of the current request, `key` telling it apart from the
/// request's other HTTP requests (method, path, query, range), to
/// `endpoint`. Returns the request's scope, for [`answered`]; `None`
/// outside one.
pub(crate) fn attempt(key: u64, endpoint: impl FnOnce() -> String) -> Option<Arc<Attempts>> {
    CURRENT
        .try_with(|a| {
            let mut seen = a.seen.lock().unwrap_or_else(|e| e.into_inner());
            match seen.contains(&key) {
                true => {
                    a.retries.fetch_add(1, Relaxed);
                }
                false => seen.push(key),
            }
            drop(seen);
            if oplog::on() {
                a.endpoint.get_or_init(endpoint);
            }
            a.clone()
        })
        .ok()
}

/// The answer to an attempt: its status, `None` when there was none.
pub(crate) fn answered(attempts: &Attempts, status: Option<u16>) {
    match status {
        Some(503 | 429) => {
            attempts.throttled.fetch_add(1, Relaxed);
        }
        Some(s) if s < 400 => {
            attempts.first_byte.get_or_init(Instant::now);
        }
        _ => {}
    }
}

/// `fut` in the scope of the current request, if any: for a part of it
/// that runs as a task of its own.
pub(crate) fn carry<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let current = CURRENT.try_with(Arc::clone).ok();
    async move {
        match current {
            Some(a) => CURRENT.scope(a, fut).await,
            None => fut.await,
        }
    }
}

/// A request under way: counted in flight until dropped.
struct Started {
    op: Op,
    scheme: usize,
    start: Instant,
}

impl Started {
    fn new(op: Op, uri: &str) -> Self {
        register_fork_handler();
        let scheme = scheme_index(uri);
        let c = cell(op, scheme);
        let now = c.in_flight.fetch_add(1, Relaxed) + 1;
        busy::enter();
        c.in_flight_peak.fetch_max(now, Relaxed);
        Started {
            op,
            scheme,
            start: Instant::now(),
        }
    }

    /// Count the request: `Ok((bytes, objects))` or its error.
    fn end(self, uri: &str, outcome: Result<(u64, u64), &Error>, attempts: Option<&Attempts>) {
        let end = Instant::now();
        let c = cell(self.op, self.scheme);
        c.requests.fetch_add(1, Relaxed);
        let (bytes, objects) = match outcome {
            Ok(moved) => moved,
            Err(e) => {
                c.errors.fetch_add(1, Relaxed);
                c.by_kind[kind(e)].fetch_add(1, Relaxed);
                (0, 0)
            }
        };
        c.bytes.fetch_add(bytes, Relaxed);
        let first_byte = attempts.and_then(|a| a.first_byte.get().copied());
        if let Some(a) = attempts {
            let retries = a.retries.load(Relaxed);
            let throttled = a.throttled.load(Relaxed);
            if retries > 0 {
                c.retries.fetch_add(retries, Relaxed);
            }
            if throttled > 0 {
                c.throttled.fetch_add(throttled, Relaxed);
            }
        }
        let ns = |at: Instant| at.saturating_duration_since(self.start).as_nanos() as u64;
        c.latency.record(ns(end));
        if let Some(at) = first_byte {
            c.first_byte.record(ns(at));
        }
        if oplog::on() {
            let endpoint = attempts.and_then(|a| a.endpoint.get().cloned());
            oplog::submit(oplog::Line {
                op: self.op.log_name(),
                objects: match self.op {
                    Op::List => objects,
                    _ => 1,
                },
                bytes,
                endpoint,
                uri: uri.to_owned(),
                error: outcome.err().map(|e| e.to_string()),
                start: self.start,
                first_byte,
                end,
            });
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        cell(self.op, self.scheme).in_flight.fetch_sub(1, Relaxed);
        busy::leave();
    }
}

/// Run the local request `f` (`op` on `uri`) on this thread, counting it;
/// `size` tells the bytes moved and objects returned of a success.
pub(crate) fn local<T>(
    op: Op,
    uri: &str,
    f: impl FnOnce() -> Result<T>,
    size: impl FnOnce(&T) -> (u64, u64),
) -> Result<T> {
    if !counting() {
        return f();
    }
    let started = Started::new(op, uri);
    let result = f();
    started.end(uri, result.as_ref().map(size), None);
    result
}

/// Run the remote request `fut` (`op` on `uri`) in a scope of its own,
/// counting it with what the HTTP client saw of it; a request abandoned
/// before its end is not counted.
pub(crate) async fn remote<T>(
    op: Op,
    uri: &str,
    fut: impl Future<Output = Result<T>>,
    size: impl FnOnce(&T) -> (u64, u64),
) -> Result<T> {
    if !counting() {
        return fut.await;
    }
    let started = Started::new(op, uri);
    let attempts = Arc::new(Attempts::default());
    let result = CURRENT.scope(attempts.clone(), fut).await;
    started.end(uri, result.as_ref().map(size), Some(&attempts));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What counting costs a request, with the log off: printed (about
    /// 90 ns on one thread of the 2-core build machine), and checked to be
    /// far below what the cheapest request (a `get` of a small cached
    /// file, a few microseconds) takes.
    #[test]
    fn counting_a_request_costs_well_under_a_microsecond() {
        let uri = "file:///metrics-cost-test";
        let n = 200_000u32;
        let timed = |count: bool| {
            let t0 = Instant::now();
            for i in 0..n {
                let work = || Ok::<u32, Error>(std::hint::black_box(i));
                let got = match count {
                    true => local(Op::Delete, uri, work, |_| (0, 1)),
                    false => work(),
                };
                std::hint::black_box(got.ok());
            }
            t0.elapsed().as_nanos() as f64 / f64::from(n)
        };
        let (bare, counted) = (timed(false), timed(true));
        let cost = counted - bare;
        eprintln!("counting a request: {cost:.0} ns ({counted:.0} ns counted, {bare:.0} ns bare)");
        assert!(cost < 1000.0, "{cost} ns per request");
        let row = cell(Op::Delete, 0);
        assert!(row.requests.load(Relaxed) >= u64::from(n));
    }
}
