//! `buffer_stats` and the `pool_*` counters a `PinnedPool` reports too:
//! what the process's buffers and recycling pools hold and have done.

use std::collections::HashMap;

use pyo3::prelude::*;

/// Payload buffers alive in this process (`buffers`, `bytes`), remote body
/// bytes taken in (`body_bytes`) and how many of them were received straight
/// into the buffer handed out (`body_bytes_in_place`), and what the
/// process-wide recycling pool has done (`pool_*`). A buffer lives until
/// the last view, array, tensor or capsule sharing it is gone.
#[pyfunction]
pub fn buffer_stats() -> HashMap<&'static str, usize> {
    let (buffers, bytes) = s3dlio_core::buffer::live_buffers();
    let (body_bytes, in_place) = s3dlio_core::buffer::body_bytes();
    let mut stats = HashMap::from([
        ("buffers", buffers),
        ("bytes", bytes),
        ("body_bytes", body_bytes),
        ("body_bytes_in_place", in_place),
    ]);
    stats.extend(pool_stats(s3dlio_core::pool::global()));
    stats
}

/// A pool's counters as `pool_*` entries.
pub fn pool_stats(pool: &s3dlio_core::pool::Pool) -> [(&'static str, usize); 6] {
    let s = pool.stats();
    [
        ("pool_made", s.made),
        ("pool_reused", s.reused),
        ("pool_freed", s.freed),
        ("pool_idle", s.idle),
        ("pool_idle_bytes", s.idle_bytes),
        ("pool_budget", pool.budget()),
    ]
}
