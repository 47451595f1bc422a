//! Counters of what this process has done, read by tests and by the
//! binding's `stats()`: relaxed atomics, one add per event, no lock.

use std::sync::atomic::{AtomicUsize, Ordering};

pub(crate) static LIVE_BUFFERS: AtomicUsize = AtomicUsize::new(0);
pub(crate) static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

static BODY_BYTES: AtomicUsize = AtomicUsize::new(0);
static BODY_BYTES_IN_PLACE: AtomicUsize = AtomicUsize::new(0);

/// Bytes of remote response bodies taken in by this process, and how many
/// of them were received straight into the buffer handed out (the rest
/// were copied there from the HTTP client's own buffers): `(all, in_place)`.
pub fn body_bytes() -> (usize, usize) {
    (
        BODY_BYTES.load(Ordering::Relaxed),
        BODY_BYTES_IN_PLACE.load(Ordering::Relaxed),
    )
}

/// Count `len` bytes of a remote body taken in.
pub(crate) fn count_body(len: usize) {
    BODY_BYTES.fetch_add(len, Ordering::Relaxed);
}

/// Count `len` bytes of a remote body kept where they were received.
pub(crate) fn count_body_in_place(len: usize) {
    BODY_BYTES_IN_PLACE.fetch_add(len, Ordering::Relaxed);
}

/// Payload buffers currently alive in this process: `(count, bytes)`. A
/// buffer lives until the last view, array, tensor or capsule sharing it
/// is gone, so this shows both zero-copy lifetimes and leaks.
pub fn live_buffers() -> (usize, usize) {
    (
        LIVE_BUFFERS.load(Ordering::Relaxed),
        LIVE_BYTES.load(Ordering::Relaxed),
    )
}

static SPLIT_READS: AtomicUsize = AtomicUsize::new(0);

/// Count a read that was split across threads.
pub(crate) fn count_split_read() {
    SPLIT_READS.fetch_add(1, Ordering::Relaxed);
}

/// Reads split across threads so far in this process (for tests).
#[doc(hidden)]
pub fn split_reads() -> usize {
    SPLIT_READS.load(Ordering::Relaxed)
}
