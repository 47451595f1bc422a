//! The one way a Python call blocks on I/O: the GIL is released for the
//! whole wait, and Ctrl-C (any pending signal) cancels it.

use std::future::Future;
use std::time::Duration;

use pyo3::prelude::*;
use s3dlio_core::runtime;

use crate::errors::to_pyerr;

/// How often a waiting call checks for signals such as Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Run `fut` on the s3dlio runtime with the GIL released. A pending
/// signal (`KeyboardInterrupt`) drops the future, which cancels its I/O.
pub fn wait<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = s3dlio_core::Result<T>> + Send,
    T: Send,
{
    py.detach(|| {
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
