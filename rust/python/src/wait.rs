//! The one way a Python call blocks on I/O: the GIL is released for the
//! whole wait, and Ctrl-C (any pending signal) cancels it.
//!
//! It is also the seam where a panic stops: whatever runs with the GIL
//! released here (the runtime's tasks, local workers, the caller's-thread
//! fast path) unwinds into [`caught`], which raises an `S3dlioError` naming
//! the call, or `OutOfMemoryError` (a `MemoryError`) when a buffer could
//! not be had. A `pyo3_runtime.PanicException` (a `BaseException`, which
//! `except Exception` does not catch) never reaches Python from here.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use pyo3::prelude::*;
use s3dlio_core::runtime;

use crate::errors::{panic_to_pyerr, to_pyerr};

/// How often a waiting call checks for signals such as Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Run `fut` on the s3dlio runtime with the GIL released. A pending
/// signal (`KeyboardInterrupt`) drops the future, which cancels its I/O.
pub fn wait<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = s3dlio_core::Result<T>> + Send,
    T: Send,
{
    wait_for(py, "the s3dlio call", fut)
}

/// [`wait`], naming `what` (a URI, an operation) if it panics.
pub fn wait_for<T, F>(py: Python<'_>, what: &str, fut: F) -> PyResult<T>
where
    F: Future<Output = s3dlio_core::Result<T>> + Send,
    T: Send,
{
    detached(py, what, || {
        runtime::block_on(async {
            let mut fut = std::pin::pin!(fut);
            let start = tokio::time::Instant::now() + SIGNAL_POLL;
            let mut ticks = tokio::time::interval_at(start, SIGNAL_POLL);
            loop {
                tokio::select! {
                    result = &mut fut => return result.map_err(to_pyerr),
                    _ = ticks.tick() => Python::attach(|py| py.check_signals())?,
                }
            }
        })
    })
}

/// Run `f` with the GIL released; a panic in it becomes an exception
/// naming `what`.
pub fn detached<T, F>(py: Python<'_>, what: &str, f: F) -> PyResult<T>
where
    F: FnOnce() -> PyResult<T> + Send,
    T: Send,
{
    py.detach(|| caught(f))
        .unwrap_or_else(|panic| Err(panic_to_pyerr(what, panic.as_ref())))
}

/// `f()`, or the payload of its panic.
pub fn caught<T>(f: impl FnOnce() -> T) -> Result<T, Box<dyn Any + Send>> {
    // Nothing `f` leaves half-changed is used after its panic: the call
    // fails and its values are dropped.
    catch_unwind(AssertUnwindSafe(f))
}
